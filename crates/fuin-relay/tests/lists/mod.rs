//! Signed device lists for tests, made as a client makes them: an account
//! key (ed25519-dalek) signs `DeviceListContent::signed_string`. Included by
//! the test harnesses with `#[path]`.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ed25519_dalek::{Signer, SigningKey};
use fuin_wire::account::{
    AccountDevice, AccountRegistration, DeviceListContent, DeviceName, InviteCode, SignedDeviceList,
};
use fuin_wire::{
    DeviceId, Ed25519PublicKey, Ed25519Signature, FrameBody, PublicIdentity, UserId,
    X25519PublicKey,
};

/// The identity of a test device whose signing key is made from `seed`
/// (the relay does not check identities' own signatures).
pub fn identity(key: &SigningKey, seed: u8) -> PublicIdentity {
    PublicIdentity {
        signing_key: Ed25519PublicKey(key.verifying_key().to_bytes()),
        agreement_key: X25519PublicKey([seed; 32]),
        signature: Ed25519Signature([0; 64]),
    }
}

/// The account key of a test user, from `seed`.
pub fn account_key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed ^ 0xa5; 32])
}

/// `user`'s list at `version` naming `devices` (any order), signed by
/// `account`.
pub fn signed_list(
    account: &SigningKey,
    user: &str,
    version: u64,
    devices: &[(u32, PublicIdentity)],
) -> SignedDeviceList<'static> {
    let mut devices = devices.to_vec();
    devices.sort_by_key(|(device, _)| *device);
    let content = DeviceListContent {
        user: UserId::new(user.to_owned()).unwrap(),
        account_key: Ed25519PublicKey(account.verifying_key().to_bytes()),
        version,
        created_at_ms: 1_795_000_000_000,
        devices: devices
            .iter()
            .map(|(device, identity)| AccountDevice {
                device: DeviceId(*device),
                identity: identity.clone(),
                name: DeviceName::new(format!("device {device}")).unwrap(),
                added_at_ms: 1_795_000_000_000,
            })
            .collect::<Vec<_>>()
            .into(),
    };
    let signature = account.sign(&content.signed_string().unwrap()).to_bytes();
    SignedDeviceList {
        content,
        signature: Ed25519Signature(signature),
    }
}

/// The body of `POST /v1/accounts` for `list`.
pub fn registration(list: &SignedDeviceList<'static>, invite: Option<[u8; 32]>) -> Vec<u8> {
    AccountRegistration {
        device_list: list.clone(),
        invite: invite.map(InviteCode),
    }
    .to_bytes()
    .unwrap()
}

/// The origin the in-process test relays are configured with.
pub const TEST_ORIGIN: &str = "http://relay.test";
