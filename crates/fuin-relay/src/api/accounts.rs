//! Accounts and their signed device lists (`spec/accounts.md` §6,
//! `spec/relay-api.md` §4.1-4.1a, §4.7a-4.7b): creating an account, publishing
//! a newer list, serving the newest one, and the device registration that
//! only confirms what a list says.
//!
//! The relay registers exactly the devices the newest list it accepted
//! names. It checks each list's signature itself (strict Ed25519 under the
//! list's own account key); it cannot make a list, so it cannot add a
//! device that the user's account key did not sign for.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ed25519_dalek::{Signature, VerifyingKey};
use sha2::{Digest, Sha256};

use super::{Relay, Session, body_bytes, frame_response, path_user};
use crate::config::RegistrationPolicy;
use crate::error::ApiError;
use crate::store::{NewDeviceList, Store, StoredAccount};
use fuin_wire::account::{AccountRegistration, SignedDeviceList};
use fuin_wire::relay::DeviceRegistration;
use fuin_wire::{DeviceAddress, FrameBody};

fn bad_device_list(why: &str) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "bad_device_list", why)
}

fn not_in_device_list() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "not_in_device_list",
        "the user's device list does not name this device",
    )
}

/// The list is well formed (the decoder checked its form), names at least
/// one device, and its signature verifies strictly under its own account
/// key. Whether that key is the user's is for the caller to say.
fn check_signed(list: &SignedDeviceList<'_>) -> Result<(), ApiError> {
    let signed = list
        .content
        .signed_string()
        .map_err(|_| bad_device_list("the device list cannot be encoded"))?;
    let key = VerifyingKey::from_bytes(&list.content.account_key.0)
        .map_err(|_| bad_device_list("the account key is not a valid Ed25519 key"))?;
    key.verify_strict(&signed, &Signature::from_bytes(&list.signature.0))
        .map_err(|_| bad_device_list("the device list's signature does not verify"))?;
    if list.content.devices.is_empty() {
        return Err(bad_device_list("the device list names no device"));
    }
    Ok(())
}

/// What the store keeps of an accepted list: `frame` is the list's frame
/// bytes as accepted, served byte for byte.
fn new_device_list(list: &SignedDeviceList<'_>, frame: Vec<u8>) -> NewDeviceList {
    NewDeviceList {
        user: list.content.user.clone().into_owned(),
        account_key: list.content.account_key.0,
        version: list.content.version,
        list: frame,
        devices: list
            .content
            .devices
            .as_slice()
            .iter()
            .map(|entry| (entry.device, entry.identity.clone()))
            .collect(),
    }
}

/// The list the store holds for an account. The relay accepted these bytes
/// itself, so failing to read them back is the server's fault.
fn held_list(account: &StoredAccount) -> Result<SignedDeviceList<'_>, ApiError> {
    SignedDeviceList::from_bytes(&account.list).map_err(|_| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "a stored device list could not be read",
        )
    })
}

/// `POST /v1/accounts`: creates an account with its first signed list and
/// registers every device it names, under the registration policy.
pub(super) async fn create<S: Store>(
    State(relay): State<Arc<Relay<S>>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body_bytes(body)?;
    let registration = AccountRegistration::from_bytes(&body)?;
    let invite_hash = match relay.config.registration {
        RegistrationPolicy::Open => None,
        RegistrationPolicy::Invite => {
            let Some(code) = &registration.invite else {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "invite_required",
                    "this relay creates accounts by invitation only",
                ));
            };
            // Looked up by its hash: the store holds no code to compare.
            let hash: [u8; 32] = Sha256::digest(code.0).into();
            if !relay.store.invite_unspent(hash).await? {
                return Err(invalid_invite());
            }
            Some(hash)
        }
    };
    let list = &registration.device_list;
    check_signed(list)?;
    let user = &list.content.user;
    if relay.store.account(user).await?.is_some()
        || !relay.store.user_devices(user).await?.is_empty()
    {
        return Err(crate::store::StoreError::AccountExists.into());
    }
    let frame = list.to_bytes()?;
    relay
        .store
        .create_account(new_device_list(list, frame), invite_hash, relay.now())
        .await?;
    Ok(StatusCode::CREATED.into_response())
}

fn invalid_invite() -> ApiError {
    crate::store::StoreError::InvalidInvite.into()
}

/// `PUT /v1/account/devices`: a newer list of the token's own user. The
/// devices it adds are registered; those it drops lose their identity,
/// tokens, challenges, prekeys and mailbox, and their streams and long
/// polls end.
pub(super) async fn publish<S: Store>(
    State(relay): State<Arc<Relay<S>>>,
    Extension(session): Extension<Session>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let device = session.device;
    let body = body_bytes(body)?;
    let list = SignedDeviceList::from_bytes(&body)?;
    if list.content.user != device.user {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "wrong_user",
            "a device publishes its own user's device list only",
        ));
    }
    let current = relay.store.account(&device.user).await?;
    match &current {
        Some(account) => {
            if held_list(account)?.content.device(device.device).is_none() {
                return Err(not_in_device_list());
            }
            if account.account_key != list.content.account_key.0 {
                return Err(crate::store::StoreError::AccountKeyMismatch.into());
            }
        }
        None => {
            // A user registered before accounts existed: its first list
            // must name the publishing device with the identity it has.
            let registered = relay.store.device_identity(&device).await?;
            let named = list
                .content
                .device(device.device)
                .map(|entry| entry.identity.clone());
            if registered.is_none() || named != registered {
                return Err(not_in_device_list());
            }
        }
    }
    check_signed(&list)?;
    if let Some(account) = &current
        && list.content.version <= account.version
    {
        return Err(crate::store::StoreError::StaleDeviceList.into());
    }
    let removed = relay
        .store
        .replace_device_list(new_device_list(&list, body.to_vec()), relay.now())
        .await?;
    for removed in removed {
        relay.evict(&DeviceAddress::new(device.user.clone(), removed));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /v1/users/{user}/devices`: the newest list accepted for the user,
/// byte for byte.
pub(super) async fn list<S: Store>(
    State(relay): State<Arc<Relay<S>>>,
    Path(user): Path<String>,
) -> Result<Response, ApiError> {
    let user = path_user(user)?;
    let Some(account) = relay.store.account(&user).await? else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_user",
            "the user has no device list",
        ));
    };
    Ok(frame_response(StatusCode::OK, account.list))
}

/// `POST /v1/devices`: succeeds, writing nothing, for a device the user's
/// current list names with this identity; any other device is refused.
/// Devices join an account only through a signed list.
pub(super) async fn register<S: Store>(
    State(relay): State<Arc<Relay<S>>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body_bytes(body)?;
    let registration = DeviceRegistration::from_bytes(&body)?;
    let address = &registration.address;
    let named = match relay.store.account(&address.user).await? {
        Some(account) => held_list(&account)?
            .content
            .device(address.device)
            .is_some_and(|entry| entry.identity == registration.identity),
        None => {
            // A user registered before accounts existed keeps its devices.
            if relay.store.user_devices(&address.user).await?.is_empty() {
                return Err(ApiError::new(
                    StatusCode::NOT_FOUND,
                    "no_account",
                    "the user has no account; create one with POST /v1/accounts",
                ));
            }
            relay.store.device_identity(address).await? == Some(registration.identity)
        }
    };
    if !named {
        return Err(not_in_device_list());
    }
    Ok(StatusCode::OK.into_response())
}
