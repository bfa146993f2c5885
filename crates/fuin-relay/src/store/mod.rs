//! What the relay keeps, behind one trait so that every backend passes the
//! same test suite.
//!
//! The relay stores the least it can: registered device identities, prekeys
//! until they are handed out, short-lived authentication challenges and
//! hashed tokens, and each undelivered envelope until it is acknowledged or
//! expires. Delivered records are stored as the encoded `Delivered` frame the
//! recipient will fetch; the store never looks inside. Sealed attachment
//! blobs are kept by their hash ([`crate::blobs::blob_hash`]) with hashed
//! read capabilities until they expire, and sealed reports until the
//! moderation tool acknowledges them or they expire.

use std::future::Future;

use fuin_wire::relay::ReportId;
use fuin_wire::{
    BlobId, DeviceAddress, DeviceId, KemPrekey, MessageId, OneTimePrekey, PublicIdentity,
    SignedPrekey, UserId,
};

pub mod integrity;
mod open_failure;
pub mod postgres;
pub mod sqlite;
pub mod wake;

pub use open_failure::OpenFailure;

pub use wake::{MailboxTag, RemoteWaker, Wakeup};

/// Why a store operation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreError {
    /// The device is registered with another identity.
    IdentityConflict,
    /// The device is not registered.
    UnknownDevice,
    /// A recipient's mailbox holds as many envelopes as it may.
    MailboxFull,
    /// The device's pool holds as many one-time prekeys as it may.
    PrekeyPoolFull,
    /// The device's pool holds as many one-time KEM prekeys as it may.
    KemPrekeyPoolFull,
    /// The user has an account (or devices from before accounts).
    AccountExists,
    /// The invite code is unknown or spent.
    InvalidInvite,
    /// The list's account key is not the one on record.
    AccountKeyMismatch,
    /// The list's version is not above the current one.
    StaleDeviceList,
    /// A link message already waits in the slot.
    LinkSlotTaken,
    /// The rendezvous holds as many link messages as it may.
    LinkCapacity,
    /// A recipient's mailbox holds as many bytes as it may.
    MailboxBytesFull,
    /// A stored record that cannot be set aside (a device's identity)
    /// failed its integrity check (see [`integrity`]); it is not used.
    CorruptRecord,
    /// The database cannot be opened or used, for the reason given.
    Open(OpenFailure),
    /// The backend failed; the message names the operation, never data.
    Backend(String),
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::IdentityConflict => f.write_str("device is registered with another identity"),
            Self::UnknownDevice => f.write_str("device is not registered"),
            Self::MailboxFull => f.write_str("a recipient's mailbox is full"),
            Self::PrekeyPoolFull => f.write_str("the one-time prekey pool is full"),
            Self::KemPrekeyPoolFull => f.write_str("the one-time KEM prekey pool is full"),
            Self::AccountExists => f.write_str("the user has an account"),
            Self::InvalidInvite => f.write_str("the invite code is unknown or spent"),
            Self::AccountKeyMismatch => f.write_str("another account key is on record"),
            Self::StaleDeviceList => f.write_str("the device list is not newer"),
            Self::LinkSlotTaken => f.write_str("the link slot holds a message"),
            Self::LinkCapacity => f.write_str("the link rendezvous is full"),
            Self::MailboxBytesFull => {
                f.write_str("a recipient's mailbox holds as many bytes as it may")
            }
            Self::CorruptRecord => f.write_str("a stored record failed its integrity check"),
            Self::Open(why) => write!(f, "{why}"),
            Self::Backend(what) => write!(f, "storage failed: {what}"),
        }
    }
}

impl std::error::Error for StoreError {}

/// The outcome of registering a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registration {
    /// The device is new.
    Created,
    /// The device was registered before with the same identity.
    AlreadyRegistered,
}

/// A verified signed device list to keep as a user's newest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDeviceList {
    /// Whose list it is.
    pub user: UserId<'static>,
    /// The account key that signed it.
    pub account_key: [u8; 32],
    /// Its version.
    pub version: u64,
    /// The `SignedDeviceList` frame, as accepted; served byte for byte.
    pub list: Vec<u8>,
    /// The devices it names, with their identities.
    pub devices: Vec<(DeviceId, PublicIdentity)>,
}

/// A user's account as stored: the newest accepted list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAccount {
    /// The account key on record.
    pub account_key: [u8; 32],
    /// The newest list's version.
    pub version: u64,
    /// The newest list's `SignedDeviceList` frame, as accepted.
    pub list: Vec<u8>,
}

/// The two slots of a link channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LinkSlot {
    /// The new device's request.
    Request,
    /// The existing device's grant.
    Grant,
}

impl LinkSlot {
    /// The slot as stored: 0 for the request, 1 for the grant.
    pub fn as_u8(self) -> u8 {
        match self {
            Self::Request => 0,
            Self::Grant => 1,
        }
    }
}

/// One envelope to store for its recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDelivery {
    /// The relay's id for it.
    pub message_id: MessageId,
    /// The mailbox it goes to.
    pub recipient: DeviceAddress<'static>,
    /// The encoded `Delivered` frame the recipient will fetch.
    pub record: Vec<u8>,
    /// When it expires if not acknowledged, ms since the Unix epoch.
    pub expires_at_ms: u64,
}

/// The bounds on one mailbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MailboxQuota {
    /// The most envelopes it may hold.
    pub max_envelopes: u64,
    /// The most bytes of records it may hold.
    pub max_bytes: u64,
}

impl MailboxQuota {
    /// No bound at all.
    pub const UNBOUNDED: Self = Self {
        max_envelopes: u64::MAX,
        max_bytes: u64::MAX,
    };
}

/// One stored envelope, as fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredDelivery {
    /// The relay's id for it.
    pub message_id: MessageId,
    /// The encoded `Delivered` frame.
    pub record: Vec<u8>,
}

/// A signed prekey and, while the pool lasts, one one-time prekey.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TakenBundle {
    /// The device's identity.
    pub identity: PublicIdentity,
    /// Its current signed prekey.
    pub signed_prekey: SignedPrekey,
    /// A one-time prekey, now removed from the pool; `None` when it is empty.
    pub one_time_prekey: Option<OneTimePrekey>,
    /// A one-time KEM prekey, now removed from the pool, or else the
    /// device's last-resort KEM prekey (kept); `None` for a device that
    /// never published a KEM prekey.
    pub kem_prekey: Option<KemPrekey>,
}

/// What one prekey upload adds, all of it in one atomic step.
#[derive(Debug, Clone, Copy, Default)]
pub struct NewPrekeys<'a> {
    /// Replaces the device's signed prekey.
    pub signed_prekey: Option<&'a SignedPrekey>,
    /// Added to the one-time prekey pool (an id already there is replaced).
    pub one_time_prekeys: &'a [OneTimePrekey],
    /// Replaces the device's last-resort KEM prekey.
    pub last_resort_kem_prekey: Option<&'a KemPrekey>,
    /// Added to the one-time KEM prekey pool (an id already there is
    /// replaced).
    pub one_time_kem_prekeys: &'a [KemPrekey],
}

/// How many prekeys a device has at the relay.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PrekeyCounts {
    /// One-time X25519 prekeys in the pool.
    pub one_time: u32,
    /// One-time KEM prekeys in the pool.
    pub one_time_kem: u32,
    /// Whether the device has a last-resort KEM prekey.
    pub last_resort_kem: bool,
}

/// The record of one blob upload; its bytes are in the blob store
/// ([`crate::blobs`]) already.
#[derive(Clone, PartialEq, Eq)]
pub struct NewBlob {
    /// SHA-256 of the bytes (the caller has checked it).
    pub blob_id: BlobId,
    /// How many bytes it has.
    pub len: u64,
    /// SHA-256 of the new read capability.
    pub capability_hash: [u8; 32],
    /// When the capability expires, ms since the Unix epoch.
    pub expires_at_ms: u64,
}

impl std::fmt::Debug for NewBlob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Lengths only: neither content nor capability reaches a log.
        f.debug_struct("NewBlob")
            .field("blob_id", &self.blob_id)
            .field("len", &self.len)
            .field("expires_at_ms", &self.expires_at_ms)
            .finish_non_exhaustive()
    }
}

/// One report to keep in the inbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewReport {
    /// The relay's id for it.
    pub report_id: ReportId,
    /// The device that submitted it.
    pub reporter: DeviceAddress<'static>,
    /// When the relay received it, ms since the Unix epoch.
    pub received_at_ms: u64,
    /// When it expires if not acknowledged, ms since the Unix epoch.
    pub expires_at_ms: u64,
    /// The encoded `SealedReport` frame, as submitted.
    pub report: Vec<u8>,
}

/// One report of the inbox, as fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredReport {
    /// The relay's id for it.
    pub report_id: ReportId,
    /// The device that submitted it.
    pub reporter: DeviceAddress<'static>,
    /// When the relay received it, ms since the Unix epoch.
    pub received_at_ms: u64,
    /// The encoded `SealedReport` frame.
    pub report: Vec<u8>,
}

/// What the relay holds, counted for the operator (`fuin-relay admin
/// stats`). Every count is of what is stored, expired rows the next sweep
/// deletes included; byte counts are of the stored payloads (envelope
/// records, blob contents), not of the database file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct StoreStats {
    /// Users with an account or a registered device.
    pub accounts: u64,
    /// Registered devices.
    pub devices: u64,
    /// Envelopes waiting in mailboxes.
    pub envelopes: u64,
    /// Their records' bytes.
    pub envelope_bytes: u64,
    /// Reports waiting for the moderation tool.
    pub reports: u64,
    /// Stored blobs.
    pub blobs: u64,
    /// Their contents' bytes.
    pub blob_bytes: u64,
    /// Bearer tokens.
    pub tokens: u64,
    /// Suspended users.
    pub suspended_users: u64,
    /// Unspent invite codes.
    pub invites: u64,
}

/// One line of the audit log of admin actions (`fuin-relay admin`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AdminRecord {
    /// When the relay did it, ms since the Unix epoch.
    pub at_ms: u64,
    /// What was done: `suspend`, `restore`, `remove_device`,
    /// `revoke_tokens`, `invite` or `purge`.
    pub action: String,
    /// To whom: a user id, `user/device`, or empty.
    pub target: String,
    /// What came of it, as a short JSON text (never a secret).
    pub outcome: String,
}

/// A bearer token as the store keeps it (see [`Store::token_grant`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenGrant {
    /// The device it authenticates.
    pub owner: DeviceAddress<'static>,
    /// When it expires, ms since the Unix epoch.
    pub expires_at_ms: u64,
    /// Whether the operator has suspended the owner's user
    /// ([`Store::user_suspended`]), read with the token: every authenticated
    /// request asks.
    pub suspended: bool,
}

/// The relay's storage. Every method is atomic; a method that returns `Ok`
/// after a write has made it durable.
pub trait Store: Send + Sync + 'static {
    /// Registers `address` with `identity`. Registering again with the same
    /// identity is harmless; with another one it is
    /// [`StoreError::IdentityConflict`].
    fn register_device(
        &self,
        address: &DeviceAddress<'_>,
        identity: &PublicIdentity,
        now_ms: u64,
    ) -> impl Future<Output = Result<Registration, StoreError>> + Send;

    /// The identity `address` registered, if any.
    fn device_identity(
        &self,
        address: &DeviceAddress<'_>,
    ) -> impl Future<Output = Result<Option<PublicIdentity>, StoreError>> + Send;

    /// The registered devices of `user`, in ascending order.
    fn user_devices(
        &self,
        user: &UserId<'_>,
    ) -> impl Future<Output = Result<Vec<DeviceId>, StoreError>> + Send;

    /// Keeps an authentication challenge for `address` until `expires_at_ms`.
    fn put_challenge(
        &self,
        address: &DeviceAddress<'_>,
        nonce: [u8; 32],
        expires_at_ms: u64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Removes the challenge and says whether it existed for `address` and
    /// had not expired at `now_ms`. A challenge can be taken once.
    fn take_challenge(
        &self,
        address: &DeviceAddress<'_>,
        nonce: [u8; 32],
        now_ms: u64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Keeps a bearer token, by its SHA-256 only, for `address`.
    fn put_token(
        &self,
        token_hash: [u8; 32],
        address: &DeviceAddress<'_>,
        expires_at_ms: u64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The device a token (by hash) belongs to, if it exists and has not
    /// expired at `now_ms`.
    fn token_owner(
        &self,
        token_hash: [u8; 32],
        now_ms: u64,
    ) -> impl Future<Output = Result<Option<DeviceAddress<'static>>, StoreError>> + Send;

    /// The token (by hash) as kept: its owner and when it expires, if it
    /// exists and has not expired at `now_ms`. What a request's
    /// authentication reads, so that a stream opened with the token can end
    /// when it expires.
    fn token_grant(
        &self,
        token_hash: [u8; 32],
        now_ms: u64,
    ) -> impl Future<Output = Result<Option<TokenGrant>, StoreError>> + Send;

    /// Revokes every token of `address`; returns how many there were.
    fn revoke_tokens(
        &self,
        address: &DeviceAddress<'_>,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// Replaces the signed prekey (if given) and adds one-time prekeys (ids
    /// already present are replaced). Returns how many one-time prekeys the
    /// device now has. Fails with [`StoreError::UnknownDevice`] for an
    /// unregistered device.
    fn publish_prekeys(
        &self,
        address: &DeviceAddress<'_>,
        signed_prekey: Option<&SignedPrekey>,
        one_time_prekeys: &[OneTimePrekey],
    ) -> impl Future<Output = Result<u32, StoreError>> + Send;

    /// The device's bundle parts, taking one one-time prekey out of the pool:
    /// no one-time prekey is ever handed out twice, however many callers
    /// race. `None` if the device has no signed prekey yet.
    fn take_bundle(
        &self,
        address: &DeviceAddress<'_>,
    ) -> impl Future<Output = Result<Option<TakenBundle>, StoreError>> + Send;

    /// How many one-time prekeys the device has left.
    fn one_time_remaining(
        &self,
        address: &DeviceAddress<'_>,
    ) -> impl Future<Output = Result<u32, StoreError>> + Send;

    /// How many one-time X25519 and KEM prekeys the device has left, and
    /// whether it has a last-resort KEM prekey (all zero for an unknown
    /// device).
    fn prekey_counts(
        &self,
        address: &DeviceAddress<'_>,
    ) -> impl Future<Output = Result<PrekeyCounts, StoreError>> + Send;

    /// Publishes an upload in one atomic step: the signed prekey and the
    /// last-resort KEM prekey (each if given) replace the current ones, and
    /// the one-time prekeys of each kind join their pool. Each pool has its
    /// own quota of `max_pool`: if the upload would leave a pool over it,
    /// and fuller than before, nothing changes and the answer is
    /// [`StoreError::PrekeyPoolFull`] (X25519) or
    /// [`StoreError::KemPrekeyPoolFull`]. Returns the counts after the
    /// upload; [`StoreError::UnknownDevice`] for an unregistered device.
    fn publish_prekey_upload(
        &self,
        address: &DeviceAddress<'_>,
        prekeys: NewPrekeys<'_>,
        max_pool: u32,
    ) -> impl Future<Output = Result<PrekeyCounts, StoreError>> + Send;

    /// Stores the envelopes of one send in one transaction; returns once it
    /// is durable.
    fn deliver(
        &self,
        deliveries: Vec<NewDelivery>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Up to `limit` unexpired envelopes of `recipient`'s mailbox, oldest
    /// first, without removing them.
    fn fetch(
        &self,
        recipient: &DeviceAddress<'_>,
        limit: usize,
        now_ms: u64,
    ) -> impl Future<Output = Result<Vec<StoredDelivery>, StoreError>> + Send;

    /// Deletes the named envelopes from `recipient`'s mailbox (ids of other
    /// mailboxes are ignored); returns how many were deleted. Nothing of a
    /// deleted envelope remains.
    fn acknowledge(
        &self,
        recipient: &DeviceAddress<'_>,
        message_ids: &[MessageId],
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// Deletes expired envelopes, challenges, tokens, blob capabilities,
    /// blobs, reports and link messages; returns how many envelopes went.
    fn expire(&self, now_ms: u64) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// Makes deletions final on disk: a backend that keeps old page images
    /// (SQLite's write-ahead log) overwrites them here. The relay calls it
    /// after every expiry sweep and on shutdown. Backends without such
    /// copies need not do anything.
    fn checkpoint(&self) -> impl Future<Output = Result<(), StoreError>> + Send {
        async { Ok(()) }
    }

    /// [`Store::deliver`] under a quota: if any recipient's mailbox would
    /// then hold more than `max_waiting` envelopes (counting every stored
    /// one, including expired ones the sweep has not deleted yet), nothing
    /// is stored and the answer is [`StoreError::MailboxFull`]. The count
    /// and the insert are one atomic step, also across relay nodes.
    fn deliver_within_quota(
        &self,
        deliveries: Vec<NewDelivery>,
        max_waiting: u64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// [`Store::deliver`] under both mailbox quotas: if any recipient's
    /// mailbox would then hold more than `quota.max_envelopes` envelopes
    /// ([`StoreError::MailboxFull`]) or more than `quota.max_bytes` bytes of
    /// records ([`StoreError::MailboxBytesFull`]), counting every stored one
    /// including expired ones the sweep has not deleted yet, nothing is
    /// stored. The counts and the insert are one atomic step, also across
    /// relay nodes.
    fn deliver_within_quotas(
        &self,
        deliveries: Vec<NewDelivery>,
        quota: MailboxQuota,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// How many records have failed their integrity check and been set
    /// aside in the quarantine (see [`integrity`]), still kept there.
    fn quarantined_records(&self) -> impl Future<Output = Result<u64, StoreError>> + Send {
        async { Ok(0) }
    }

    /// Whether the database was new (held no relay schema) when this store
    /// opened it.
    fn was_new(&self) -> bool {
        false
    }

    /// Whether any device is registered: a database without one has
    /// nothing a relay that ran would have lost.
    fn has_devices(&self) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// The stamp key check value the database records (see
    /// `spec/relay-api.md`, storage integrity), if any.
    fn stamp_key_check(&self) -> impl Future<Output = Result<Option<Vec<u8>>, StoreError>> + Send;

    /// Records `check` as the database's stamp key check value.
    fn set_stamp_key_check(
        &self,
        check: [u8; 16],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// [`Store::publish_prekeys`] under a quota: if the upload would leave
    /// the device with more than `max_pool` one-time prekeys, and more than
    /// it had before, nothing changes (not the signed prekey either) and
    /// the answer is [`StoreError::PrekeyPoolFull`]. An upload that adds no
    /// new one-time prekey is never refused for the pool's size.
    fn publish_prekeys_within_quota(
        &self,
        address: &DeviceAddress<'_>,
        signed_prekey: Option<&SignedPrekey>,
        one_time_prekeys: &[OneTimePrekey],
        max_pool: u32,
    ) -> impl Future<Output = Result<u32, StoreError>> + Send;

    /// [`Store::put_challenge`], keeping at most `keep` (at least one)
    /// challenges for `address`: the new one and the latest-expiring others;
    /// older ones are deleted in the same atomic step.
    fn put_challenge_bounded(
        &self,
        address: &DeviceAddress<'_>,
        nonce: [u8; 32],
        expires_at_ms: u64,
        keep: u32,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Records a blob under its id with a new read capability. A blob
    /// already recorded under the id gains the capability; it is kept until
    /// its latest capability expires. The bytes are not the store's: they
    /// are in the blob store, written before this is called.
    fn put_blob(&self, blob: NewBlob) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The length of blob `blob_id` if `capability_hash` is an unexpired
    /// capability of that blob at `now_ms`; `None` otherwise, whether the
    /// blob exists or not.
    fn blob(
        &self,
        blob_id: &BlobId,
        capability_hash: [u8; 32],
        now_ms: u64,
    ) -> impl Future<Output = Result<Option<u64>, StoreError>> + Send;

    /// Which of `blob_ids` have a record, expired or not (the blob sweep
    /// deletes the objects of the others).
    fn recorded_blobs(
        &self,
        blob_ids: &[BlobId],
    ) -> impl Future<Output = Result<Vec<BlobId>, StoreError>> + Send;

    /// The blobs whose bytes are still in the database, as relays before
    /// the blob store kept them.
    fn blobs_in_database(&self) -> impl Future<Output = Result<Vec<BlobId>, StoreError>> + Send;

    /// Gives the space that deleted data held back to the system (SQLite:
    /// `VACUUM`), once blob bytes have moved out. Backends that reclaim it
    /// on their own need not do anything.
    fn reclaim_space(&self) -> impl Future<Output = Result<(), StoreError>> + Send {
        async { Ok(()) }
    }

    /// The bytes of blob `blob_id` if they are still in the database.
    fn blob_bytes_in_database(
        &self,
        blob_id: &BlobId,
    ) -> impl Future<Output = Result<Option<Vec<u8>>, StoreError>> + Send;

    /// Drops the bytes of blob `blob_id` from the database, now that the
    /// blob store holds them, and records their length.
    fn blob_bytes_moved(
        &self,
        blob_id: &BlobId,
        len: u64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Keeps a report in the inbox.
    fn put_report(&self, report: NewReport) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Up to `limit` unexpired reports of the inbox, oldest first (by time of
    /// receipt, then id), without removing them. The reports' lengths add up
    /// to at most `max_bytes`, except that the oldest is returned whatever
    /// its length.
    fn fetch_reports(
        &self,
        limit: usize,
        max_bytes: usize,
        now_ms: u64,
    ) -> impl Future<Output = Result<Vec<StoredReport>, StoreError>> + Send;

    /// Deletes the named reports (unknown ids are ignored); returns how many
    /// were deleted. Nothing of a deleted report remains.
    fn ack_reports(
        &self,
        report_ids: &[ReportId],
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// Creates `list.user`'s account with its first list and registers
    /// every device it names, spending the invite `invite_hash` names (by
    /// SHA-256) if given, all in one transaction.
    /// [`StoreError::AccountExists`] if the user has an account or any
    /// registered device; [`StoreError::InvalidInvite`] if the invite is
    /// unknown or spent.
    fn create_account(
        &self,
        list: NewDeviceList,
        invite_hash: Option<[u8; 32]>,
        now_ms: u64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// `user`'s account, if it has one.
    fn account(
        &self,
        user: &UserId<'_>,
    ) -> impl Future<Output = Result<Option<StoredAccount>, StoreError>> + Send;

    /// Replaces `list.user`'s list, in one transaction: registers the devices
    /// it adds; for each registered device it does not name (or names with
    /// another identity) deletes its identity, tokens, challenges, prekeys
    /// and mailbox; keeps the list. Returns the removed devices. Refused
    /// with [`StoreError::AccountKeyMismatch`] or
    /// [`StoreError::StaleDeviceList`] if an account exists with another key
    /// or a version at least `list.version`. A user without an account (a
    /// database from before accounts) gets one.
    fn replace_device_list(
        &self,
        list: NewDeviceList,
        now_ms: u64,
    ) -> impl Future<Output = Result<Vec<DeviceId>, StoreError>> + Send;

    /// Keeps invite codes by their SHA-256, each usable once.
    fn add_invites(
        &self,
        code_hashes: &[[u8; 32]],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Whether an invite with this SHA-256 exists and is unspent.
    fn invite_unspent(
        &self,
        code_hash: [u8; 32],
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Leaves a link message (the frame's bytes) in `channel`'s `slot` until
    /// `expires_at_ms`. [`StoreError::LinkSlotTaken`] if an unexpired one
    /// is there; [`StoreError::LinkCapacity`] if `max_waiting` unexpired
    /// messages are stored (the count and the insert are one atomic step).
    fn put_link_message(
        &self,
        channel: [u8; 16],
        slot: LinkSlot,
        message: Vec<u8>,
        expires_at_ms: u64,
        max_waiting: u64,
        now_ms: u64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Takes (deletes and returns) the unexpired message in `channel`'s
    /// `slot`: however many callers race, at most one gets it.
    fn take_link_message(
        &self,
        channel: [u8; 16],
        slot: LinkSlot,
        now_ms: u64,
    ) -> impl Future<Output = Result<Option<Vec<u8>>, StoreError>> + Send;

    /// Answers a trivial query, to show that the store is usable (the
    /// relay's `/readyz`). An SQLite store also checks that its writer runs.
    fn ping(&self) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// How many envelopes the mailboxes hold (stored ones, including expired
    /// ones the sweep has not deleted yet), in how many mailboxes, and in the
    /// fullest one: the mailbox gauges of `/metrics`, counted at each scrape.
    fn mailbox_depths(
        &self,
    ) -> impl Future<Output = Result<crate::metrics::MailboxDepths, StoreError>> + Send;

    /// The tag the relay files `address`'s waiters under (see [`wake`]). A
    /// backend that sends tags to other nodes returns the tag it sends; the
    /// default is the unkeyed [`MailboxTag::of`].
    fn mailbox_tag(&self, address: &DeviceAddress<'_>) -> MailboxTag {
        MailboxTag::of(address)
    }

    /// Gives the store what to call when another relay node has stored
    /// envelopes (see [`wake`]); a later call replaces the earlier waker.
    /// Backends that serve one process only have nothing to report and
    /// ignore it (the default).
    fn set_remote_waker(&self, waker: RemoteWaker) {
        drop(waker);
    }

    /// Suspends `user` (`suspended`) or lifts the suspension; returns
    /// whether that changed anything. A suspension is kept by user id, so
    /// it also holds for devices the user adds later. The user's devices,
    /// tokens and mailbox are left as they are.
    fn set_suspended(
        &self,
        user: &UserId<'_>,
        suspended: bool,
        now_ms: u64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Whether `user` is suspended.
    fn user_suspended(
        &self,
        user: &UserId<'_>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Deregisters one device at the operator's request, in one
    /// transaction: its identity, tokens, challenges, prekeys and mailbox
    /// go, as for a device a newer list drops, but the user's list is left
    /// as the user signed it. Returns whether the device was registered.
    fn remove_device(
        &self,
        address: &DeviceAddress<'_>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Revokes every token of every device of `user`; returns how many
    /// there were.
    fn revoke_user_tokens(
        &self,
        user: &UserId<'_>,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// What the store holds, counted in one consistent read.
    fn stats(&self) -> impl Future<Output = Result<StoreStats, StoreError>> + Send;

    /// Appends `record` to the audit log of admin actions.
    fn record_admin_action(
        &self,
        record: AdminRecord,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The newest `limit` records of the audit log, newest first.
    fn admin_actions(
        &self,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<AdminRecord>, StoreError>> + Send;
}
