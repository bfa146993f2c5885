//! Authentication: login challenges, bearer tokens and their revocation.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Extension, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ed25519_dalek::{Signature, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::store::Store;
use fuin_wire::FrameBody;
use fuin_wire::relay::{
    AuthChallenge, AuthToken, BearerToken, ChallengeRequest, ChallengeResponse, Nonce,
    relay_auth_input,
};

use super::*;

/// 403: the operator suspended the device's user (`fuin-relay admin
/// suspend`).
pub(crate) fn account_suspended() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "account_suspended",
        "the relay's operator has suspended this account",
    )
}

pub(crate) async fn challenge<S: Store>(
    State(relay): State<Arc<Relay<S>>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body_bytes(body)?;
    let request = ChallengeRequest::from_bytes(&body)?;
    if relay
        .store
        .device_identity(&request.address)
        .await?
        .is_none()
    {
        return Err(crate::store::StoreError::UnknownDevice.into());
    }
    let nonce = Nonce(random());
    let expires_at_ms = later(relay.now(), relay.config.challenge_lifetime);
    relay
        .store
        .put_challenge_bounded(
            &request.address,
            nonce.0,
            expires_at_ms,
            relay.config.max_outstanding_challenges,
        )
        .await?;
    encode(&AuthChallenge {
        nonce,
        expires_at_ms,
    })
}

pub(crate) async fn token<S: Store>(
    State(relay): State<Arc<Relay<S>>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body_bytes(body)?;
    let response = ChallengeResponse::from_bytes(&body)?;
    let refused = || {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "challenge_failed",
            "the challenge is unknown, used, expired, or not signed by the device",
        )
    };
    // Taken first: a challenge is spent whether or not the signature holds.
    let fresh = relay
        .store
        .take_challenge(&response.address, response.nonce.0, relay.now())
        .await?;
    let identity = relay.store.device_identity(&response.address).await?;
    let (true, Some(identity)) = (fresh, identity) else {
        return Err(refused());
    };
    let key = VerifyingKey::from_bytes(&identity.signing_key.0).map_err(|_| refused())?;
    let signature = Signature::from_bytes(&response.signature.0);
    // The input binds the relay's origin, so an answer to a challenge that
    // another relay passed on (signed for that relay's origin) fails here.
    let signed_for_this_relay = relay.origins().iter().any(|origin| {
        key.verify_strict(
            &relay_auth_input(origin, &response.address, &response.nonce),
            &signature,
        )
        .is_ok()
    });
    if !signed_for_this_relay {
        return Err(refused());
    }
    // Said only to the device itself, once its signature holds.
    if relay.store.user_suspended(&response.address.user).await? {
        return Err(account_suspended());
    }
    let token = BearerToken(random());
    let expires_at_ms = later(relay.now(), relay.config.token_lifetime);
    relay
        .store
        .put_token(
            Sha256::digest(token.0).into(),
            &response.address,
            expires_at_ms,
        )
        .await?;
    encode(&AuthToken {
        token,
        expires_at_ms,
    })
}

/// `DELETE /v1/auth/token`: revokes every token of the device, and ends
/// the streams and long polls opened with them.
pub(crate) async fn revoke<S: Store>(
    State(relay): State<Arc<Relay<S>>>,
    Extension(session): Extension<Session>,
) -> Result<Response, ApiError> {
    relay.revoke_tokens(&session.device).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
