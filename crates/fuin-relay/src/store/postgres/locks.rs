//! The PostgreSQL store's advisory lock keys.

use fuin_wire::DeviceAddress;
use sha2::{Digest, Sha256};

/// The advisory lock key that serializes schema creation ("fuinschm").
pub(super) const SCHEMA_LOCK: i64 = 0x6675_696e_7363_686d;
/// What the mailbox lock keys are derived from, before the address.
const MAILBOX_LOCK_DOMAIN: &[u8] = b"fuin-relay mailbox lock\0";
/// The same for the lock that serializes a device's prekey uploads.
pub(super) const PREKEY_LOCK_DOMAIN: &[u8] = b"fuin-relay prekey lock\0";
/// The same for the lock that serializes a device's challenges.
pub(super) const CHALLENGE_LOCK_DOMAIN: &[u8] = b"fuin-relay challenge lock\0";

/// The advisory lock key that serializes leaving link messages, so that
/// their count and the insert are one step across nodes ("fuinlink").
pub(super) const LINK_LOCK: i64 = 0x6675_696e_6c69_6e6b;
/// What the account lock keys are derived from, before the user id.
const ACCOUNT_LOCK_DOMAIN: &[u8] = b"fuin-relay account lock\0";

/// The advisory lock key that serializes changes to `user`'s account and
/// devices.
pub(super) fn account_lock(user: &str) -> i64 {
    let digest = Sha256::new()
        .chain_update(ACCOUNT_LOCK_DOMAIN)
        .chain_update(user.as_bytes())
        .finalize();
    let mut first = [0; 8];
    first.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(first)
}

/// The advisory lock key of a mailbox: the first 8 bytes of a SHA-256 of the
/// address, the same on every node whatever its build.
pub(super) fn mailbox_lock(address: &DeviceAddress<'_>) -> i64 {
    device_lock(MAILBOX_LOCK_DOMAIN, address)
}

/// An advisory lock key for `address` in `domain`: the first 8 bytes of a
/// SHA-256 of both.
pub(super) fn device_lock(domain: &[u8], address: &DeviceAddress<'_>) -> i64 {
    let digest = Sha256::new()
        .chain_update(domain)
        .chain_update(address.device.0.to_be_bytes())
        .chain_update(address.user.as_str().as_bytes())
        .finalize();
    let mut first = [0; 8];
    first.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(first)
}
