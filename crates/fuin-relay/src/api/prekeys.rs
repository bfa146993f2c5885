//! The prekey directory: publishing, counting and handing out bundles.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Extension, Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;

use crate::error::ApiError;
use crate::store::Store;
use fuin_wire::relay::{BundleSet, PrekeyCount, PrekeyUpload};
use fuin_wire::{DeviceAddress, FrameBody, PrekeyBundle};

use super::*;

pub(crate) fn prekey_count<S: Store>(relay: &Relay<S>, remaining: u32) -> PrekeyCount {
    PrekeyCount {
        one_time_prekeys: remaining,
        low: remaining < relay.config.prekey_low_watermark,
        // KEM prekeys: stored and counted by the next commit.
        one_time_kem_prekeys: 0,
        kem_low: true,
    }
}

pub(crate) async fn publish_prekeys<S: Store>(
    State(relay): State<Arc<Relay<S>>>,
    Extension(session): Extension<Session>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let device = session.device;
    let body = body_bytes(body)?;
    let upload = PrekeyUpload::from_bytes(&body)?;
    let remaining = relay
        .store
        .publish_prekeys_within_quota(
            &device,
            upload.signed_prekey.as_ref(),
            upload.one_time_prekeys.as_slice(),
            relay.config.max_prekey_pool,
        )
        .await?;
    encode(&prekey_count(&relay, remaining))
}

pub(crate) async fn get_prekey_count<S: Store>(
    State(relay): State<Arc<Relay<S>>>,
    Extension(session): Extension<Session>,
) -> Result<Response, ApiError> {
    let device = session.device;
    let remaining = relay.store.one_time_remaining(&device).await?;
    encode(&prekey_count(&relay, remaining))
}

#[derive(serde::Deserialize)]
pub(crate) struct BundleParams {
    /// Only this device's bundle.
    device: Option<u32>,
}

pub(crate) async fn bundles<S: Store>(
    State(relay): State<Arc<Relay<S>>>,
    Path(user): Path<String>,
    params: Result<Query<BundleParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let user = path_user(user)?;
    let Query(params) = params.map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_query",
            "device must be a device id (a u32)",
        )
    })?;
    let mut bundles = Vec::new();
    let devices = relay.store.user_devices(&user).await?;
    let devices = devices
        .into_iter()
        .filter(|device| params.device.is_none_or(|only| device.0 == only));
    for device in devices {
        let address = DeviceAddress::new(user.clone(), device);
        if let Some(taken) = relay.store.take_bundle(&address).await? {
            bundles.push(PrekeyBundle {
                address,
                identity: taken.identity,
                signed_prekey: taken.signed_prekey,
                one_time_prekey: taken.one_time_prekey,
                kem_prekey: None,
            });
        }
    }
    if bundles.is_empty() {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "no_bundles",
            "the user has no device with published prekeys",
        ));
    }
    encode(&BundleSet {
        bundles: bundles.into(),
    })
}
