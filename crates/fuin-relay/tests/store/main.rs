//! The storage test suite.
//!
//! [`suite`] is written against the [`Store`](fuin_relay::store::Store)
//! trait only, so that every backend runs the same tests: one file per
//! domain of the trait (devices, auth, prekeys, KEM prekeys, mailbox, blobs, reports,
//! links, admin). Each backend instantiates it with a macro (see
//! [`sqlite`]). Tests that need several tasks at once take the store in an
//! `Arc`. Tests of what only one backend can show (the bytes of the SQLite
//! file, several nodes on one PostgreSQL database) live beside that
//! backend's instantiation, in [`sqlite`] and [`postgres`].
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../common/eventually.rs"]
mod eventually;

use fuin_relay::store::{
    NewBlob, NewDelivery, NewDeviceList, NewReport, StoredDelivery, StoredReport,
};
use fuin_wire::relay::ReportId;
use fuin_wire::{
    BlobId, DeviceAddress, DeviceId, Ed25519PublicKey, Ed25519Signature, KemPrekey, MessageId,
    MlKemPublicKey, OneTimePrekey, PrekeyId, PublicIdentity, SignedPrekey, UserId, X25519PublicKey,
};
use sha2::{Digest, Sha256};

/// A fixed "now" for the tests, in ms since the Unix epoch.
const NOW: u64 = 1_700_000_000_000;
/// An expiry far enough away not to matter.
const LATER: u64 = NOW + 86_400_000;

fn address(user: &str, device: u32) -> DeviceAddress<'static> {
    DeviceAddress::new(UserId::new(user.to_owned()).unwrap(), DeviceId(device))
}

fn identity(seed: u8) -> PublicIdentity {
    PublicIdentity {
        signing_key: Ed25519PublicKey([seed; 32]),
        agreement_key: X25519PublicKey([seed ^ 0xff; 32]),
        signature: Ed25519Signature([seed.wrapping_add(1); 64]),
    }
}

fn signed_prekey(id: u32) -> SignedPrekey {
    SignedPrekey {
        id: PrekeyId(id),
        public_key: X25519PublicKey([id.to_le_bytes()[0]; 32]),
        signature: Ed25519Signature([0x5e; 64]),
    }
}

fn one_time_prekey(id: u32, fill: u8) -> OneTimePrekey {
    OneTimePrekey {
        id: PrekeyId(id),
        public_key: X25519PublicKey([fill; 32]),
    }
}

/// A KEM prekey as the store sees it: bytes it keeps and hands back (the
/// store checks neither the key nor the signature; the API does).
fn kem_prekey(id: u32, fill: u8) -> KemPrekey {
    let mut public_key = [fill; MlKemPublicKey::LEN];
    public_key[..4].copy_from_slice(&id.to_be_bytes());
    KemPrekey {
        id: PrekeyId(id),
        public_key: MlKemPublicKey(public_key),
        signature: Ed25519Signature([fill ^ 0x5a; 64]),
    }
}

fn message_id() -> MessageId {
    MessageId(rand::random())
}

fn delivery(
    message_id: MessageId,
    recipient: &DeviceAddress<'static>,
    record: &[u8],
    expires_at_ms: u64,
) -> NewDelivery {
    NewDelivery {
        message_id,
        recipient: recipient.clone(),
        record: record.to_vec(),
        expires_at_ms,
    }
}

fn ids(deliveries: &[StoredDelivery]) -> Vec<MessageId> {
    deliveries.iter().map(|d| d.message_id).collect()
}

/// The id of a blob with `content`: its SHA-256.
fn blob_id(content: &[u8]) -> BlobId {
    BlobId(Sha256::digest(content).into())
}

fn new_blob(content: &[u8], capability_hash: [u8; 32], expires_at_ms: u64) -> NewBlob {
    NewBlob {
        blob_id: blob_id(content),
        len: content.len() as u64,
        capability_hash,
        expires_at_ms,
    }
}

fn new_report(
    reporter: &DeviceAddress<'static>,
    received_at_ms: u64,
    expires_at_ms: u64,
    report: &[u8],
) -> NewReport {
    NewReport {
        report_id: ReportId(rand::random()),
        reporter: reporter.clone(),
        received_at_ms,
        expires_at_ms,
        report: report.to_vec(),
    }
}

fn report_ids(reports: &[StoredReport]) -> Vec<ReportId> {
    reports.iter().map(|r| r.report_id).collect()
}

/// A device list of `user`'s account under account key `[key; 32]`, of
/// `(device id, identity seed)` pairs.
fn device_list(user: &str, key: u8, version: u64, devices: &[(u32, u8)]) -> NewDeviceList {
    NewDeviceList {
        user: UserId::new(user.to_owned()).unwrap(),
        account_key: [key; 32],
        version,
        list: format!("{user} list {version}").into_bytes(),
        devices: devices
            .iter()
            .map(|(device, seed)| (DeviceId(*device), identity(*seed)))
            .collect(),
    }
}

pub mod suite;

/// Declares one `#[tokio::test]` per suite test, each on a fresh store made
/// by `$open` (which returns a guard to keep alive and an `Arc` of the store).
macro_rules! instantiate_suite {
    ($open:path; by_ref: [$($by_ref:ident),* $(,)?]; shared: [$($shared:ident),* $(,)?]) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $by_ref() {
                let (_guard, store) = $open();
                crate::suite::$by_ref(&*store).await;
            }
        )*
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $shared() {
                let (_guard, store) = $open();
                crate::suite::$shared(&store).await;
            }
        )*
    };
}

mod sqlite;

mod postgres;
