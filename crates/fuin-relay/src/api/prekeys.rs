//! The prekey directory: publishing, counting and handing out bundles.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Extension, Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;

use crate::error::ApiError;
use crate::store::{NewPrekeys, PrekeyCounts, Store};
use fuin_wire::relay::{BundleSet, PrekeyCount, PrekeyUpload};
use fuin_wire::{DeviceAddress, FrameBody, PrekeyBundle};

use super::*;

/// The counts as the device sees them: each pool is low under the low
/// watermark, and the KEM side also when there is no last-resort KEM prekey.
pub(crate) fn prekey_count<S: Store>(relay: &Relay<S>, counts: PrekeyCounts) -> PrekeyCount {
    let watermark = relay.config.prekey_low_watermark;
    PrekeyCount {
        one_time_prekeys: counts.one_time,
        low: counts.one_time < watermark,
        one_time_kem_prekeys: counts.one_time_kem,
        kem_low: counts.one_time_kem < watermark || !counts.last_resort_kem,
    }
}

/// The `prekeys_low` flag of a mailbox batch: either kind of prekey is low
/// (the batch has one flag; the device reads the count to see which).
pub(crate) fn any_prekeys_low<S: Store>(relay: &Relay<S>, counts: PrekeyCounts) -> bool {
    let count = prekey_count(relay, counts);
    count.low || count.kem_low
}

pub(crate) async fn publish_prekeys<S: Store>(
    State(relay): State<Arc<Relay<S>>>,
    Extension(session): Extension<Session>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let device = session.device;
    let body = body_bytes(body)?;
    let upload = PrekeyUpload::from_bytes(&body)?;
    let has_kem =
        upload.last_resort_kem_prekey.is_some() || !upload.one_time_kem_prekeys.is_empty();
    if has_kem {
        // The identity as registered: a bearer token's device is registered,
        // unless it was removed since.
        let identity = relay
            .store
            .device_identity(&device)
            .await?
            .ok_or(crate::store::StoreError::UnknownDevice)?;
        let kem_prekeys: Vec<_> = upload
            .last_resort_kem_prekey
            .iter()
            .chain(upload.one_time_kem_prekeys.as_slice())
            .cloned()
            .collect();
        // Up to 101 signature checks: off the async workers.
        tokio::task::spawn_blocking(move || {
            kem_prekey_check::check_kem_prekeys(&identity, &kem_prekeys)
        })
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "the KEM prekey check did not finish",
            )
        })??;
    }
    let prekeys = NewPrekeys {
        signed_prekey: upload.signed_prekey.as_ref(),
        one_time_prekeys: upload.one_time_prekeys.as_slice(),
        last_resort_kem_prekey: upload.last_resort_kem_prekey.as_ref(),
        one_time_kem_prekeys: upload.one_time_kem_prekeys.as_slice(),
    };
    let counts = relay
        .store
        .publish_prekey_upload(&device, prekeys, relay.config.max_prekey_pool)
        .await?;
    encode(&prekey_count(&relay, counts))
}

pub(crate) async fn get_prekey_count<S: Store>(
    State(relay): State<Arc<Relay<S>>>,
    Extension(session): Extension<Session>,
) -> Result<Response, ApiError> {
    let device = session.device;
    let counts = relay.store.prekey_counts(&device).await?;
    encode(&prekey_count(&relay, counts))
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
                kem_prekey: taken.kem_prekey,
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
