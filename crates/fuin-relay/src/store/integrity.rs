//! Per-record integrity: every mailbox envelope, report and registered
//! device identity is stored with a checksum over its content and the
//! columns that say whose it is, checked whenever it is read.
//!
//! The checksum is SHA-256 (truncated to [`CHECKSUM_LEN`] bytes) of a label
//! naming the kind of record and its length-prefixed fields. It is not
//! keyed: its job is to catch storage corruption (a flipped bit on disk, a
//! damaged page, a row edited by hand), which it does whatever key the relay
//! runs with, so a stamp-key rotation never invalidates stored rows. A keyed
//! MAC would also catch deliberate edits by someone with write access to the
//! database but not the key; the relay gains little from that, because what
//! it stores is sealed and signed end to end (a forged envelope fails on the
//! recipient's device) and such a person can delete rows anyway.
//!
//! A record that fails the check is never served. Mailbox envelopes and
//! reports that fail are moved, in one write, into the `quarantine` table
//! (kind, key, stored bytes, when) where an operator can look at them, and
//! are counted ([`crate::store::Store::quarantined_records`]); the rest of
//! the mailbox or inbox is still served, so one bad row cannot jam it.
//! Quarantined rows are deleted when the record would have expired.
//!
//! A device whose identity fails the check cannot be set aside (its address
//! would become free to claim): every operation that reads it fails with
//! [`crate::store::StoreError::CorruptRecord`] (500 `corrupt_record`) until
//! the user's next device list replaces the row or an operator removes the
//! device.

use sha2::{Digest, Sha256};

/// How many bytes of the SHA-256 are kept.
pub const CHECKSUM_LEN: usize = 16;

/// The kind label of a mailbox envelope, as stored in the quarantine.
pub const MAILBOX: &str = "mailbox";
/// The kind label of a report, as stored in the quarantine.
pub const REPORT: &str = "report";
/// The kind label of a registered device's identity.
pub const DEVICE: &str = "device";

/// The checksum of a record of `kind` made of `fields`, in order.
pub fn checksum(kind: &str, fields: &[&[u8]]) -> [u8; CHECKSUM_LEN] {
    let mut hash = Sha256::new();
    hash.update(b"fuin-relay record checksum v1\0");
    hash.update(kind.as_bytes());
    hash.update([0]);
    for field in fields {
        // Length prefixes keep field boundaries unambiguous.
        hash.update(u64::try_from(field.len()).unwrap_or(u64::MAX).to_be_bytes());
        hash.update(field);
    }
    let digest = hash.finalize();
    let mut out = [0u8; CHECKSUM_LEN];
    out.copy_from_slice(&digest[..CHECKSUM_LEN]);
    out
}

/// The checksum of a mailbox envelope: its id, recipient and record.
pub fn mailbox_checksum(
    message_id: &[u8],
    user: &str,
    device: i64,
    record: &[u8],
) -> [u8; CHECKSUM_LEN] {
    checksum(
        MAILBOX,
        &[message_id, user.as_bytes(), &device.to_be_bytes(), record],
    )
}

/// The checksum of a report: its id, reporter, time of receipt and bytes.
pub fn report_checksum(
    report_id: &[u8],
    user: &str,
    device: i64,
    received_at: i64,
    report: &[u8],
) -> [u8; CHECKSUM_LEN] {
    checksum(
        REPORT,
        &[
            report_id,
            user.as_bytes(),
            &device.to_be_bytes(),
            &received_at.to_be_bytes(),
            report,
        ],
    )
}

/// The checksum of a registered device: its address and stored identity.
pub fn device_checksum(user: &str, device: i64, identity: &[u8]) -> [u8; CHECKSUM_LEN] {
    checksum(DEVICE, &[user.as_bytes(), &device.to_be_bytes(), identity])
}

/// Whether `stored` (the checksum column, `None` if it is NULL) is `expected`,
/// compared in constant time.
pub fn matches(stored: Option<&[u8]>, expected: &[u8; CHECKSUM_LEN]) -> bool {
    use subtle::ConstantTimeEq;
    stored.is_some_and(|stored| stored.ct_eq(expected).into())
}
