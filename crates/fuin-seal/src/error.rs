//! The one error type of the protocol crate.

use std::fmt;

use fuin_wire::WireError;

/// Why a protocol operation failed. Variants say what went wrong in terms a
/// caller can act on. None carries key bytes or plaintext, so every error is
/// safe to log. An operation that fails leaves the session unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SealError {
    /// A peer's X25519 key has small order: agreeing with it would give a
    /// secret everyone knows.
    WeakPublicKey,
    /// A signature (on an identity or a signed prekey) does not verify.
    BadSignature,
    /// The identity presented for an address is not the one already trusted
    /// for it. The caller must surface this to the user (the safety number
    /// changed) and decide; it is never accepted silently.
    IdentityMismatch,
    /// A prekey bundle is for another device than the one asked for.
    AddressMismatch,
    /// A ciphertext did not open: wrong key, tampered bytes or truncation.
    /// Deliberately one error for every such cause.
    DecryptionFailed,
    /// The message's key is gone: it was opened before (a replay), its
    /// skipped key expired (older than
    /// [`SKIPPED_KEY_LIFETIME_MS`](crate::SKIPPED_KEY_LIFETIME_MS)), or it was
    /// evicted to keep within [`MAX_SKIPPED_KEYS`](crate::MAX_SKIPPED_KEYS).
    DuplicateMessage,
    /// The message is further ahead in its chain than the session will skip.
    TooFarAhead {
        /// Messages that would have to be skipped.
        skip: u64,
        /// The most the session skips in one chain.
        max: u32,
    },
    /// A franking key is not 32 bytes long.
    InvalidFrankingKey {
        /// Its length.
        len: usize,
    },
    /// The franking key in a message does not open the commitment the relay
    /// saw: the message is dropped, never shown.
    FrankingMismatch,
    /// A message names a signed prekey this device does not have (any more).
    UnknownSignedPrekey {
        /// The id named.
        id: u32,
    },
    /// A message names a one-time prekey this device does not have: it was
    /// used already (a replayed first message) or never existed.
    UnknownOneTimePrekey {
        /// The id named.
        id: u32,
    },
    /// An ML-KEM encapsulation key that fails FIPS 203's check (a
    /// coefficient not below q).
    InvalidKemKey,
    /// A prekey bundle without a KEM prekey. Version 3 devices always
    /// publish one, so it was stripped (a downgrade to a session that a
    /// quantum computer could open later) or the device must upgrade.
    MissingKemPrekey,
    /// A prekey message without a KEM ciphertext: stripped, or from an
    /// initiator that must upgrade. Refused rather than answered without the
    /// post-quantum term.
    MissingKemCiphertext,
    /// A prekey message names a KEM prekey this device does not have: a
    /// one-time one used already (a replayed first message), a last-resort
    /// one rotated out, or one that never existed.
    UnknownKemPrekey {
        /// The id named.
        id: u32,
    },
    /// A prekey message that starts a different session than this one; the
    /// caller should answer it with a new responder session.
    SessionMismatch,
    /// The envelope is addressed to another device than this session's.
    WrongRecipient,
    /// The relay says another device sent this than the session's peer.
    WrongSender,
    /// The message names a conversation its sender may not send to this
    /// device (a re-labelled message).
    ConversationMismatch,
    /// An inner frame is malformed.
    Wire(WireError),
    /// [`Session::respond`](crate::Session::respond) was given an envelope that
    /// is not a prekey message, or an envelope has a content kind sessions do
    /// not open. (An inner frame of the wrong kind is a
    /// [`WireError::UnexpectedFrame`] inside [`SealError::Wire`].)
    UnexpectedFrame,
    /// The caller used the API in a way it does not allow.
    ApiMisuse {
        /// What was wrong.
        reason: &'static str,
    },
    /// Saved state was written by a version of fuin this one cannot read.
    UnsupportedStateVersion {
        /// The version found.
        version: u8,
    },
    /// Saved state is corrupt.
    InvalidState,
    /// A KDF was asked for more output than HKDF-SHA256 can give.
    KdfOutputTooLong {
        /// The length asked for.
        len: usize,
    },
    /// A group frame names another group than the state it was given to.
    WrongGroup,
    /// A group frame is for an epoch this device has not reached yet: hold it
    /// and try again once the control message that starts the epoch applied.
    FutureEpoch {
        /// The epoch named.
        epoch: u64,
    },
    /// A group frame is for an epoch this device does not hold: one from
    /// before it joined, or one it has left behind.
    UnknownEpoch {
        /// The epoch named.
        epoch: u64,
    },
    /// The sender or actor is not a member of the group in that epoch (never
    /// was, or was removed), or this device itself is no longer a member.
    NotAMember,
    /// No sender chain is held yet for the sender in that epoch: hold the
    /// message and try again once its distribution arrived.
    MissingSenderKey,
    /// A member distributed a second, different sender chain for the same
    /// epoch: it gives different members different keys.
    EquivocatedSenderKey,
    /// Members hold different sender chains for the same epoch: the group's
    /// views are split. The message is not shown.
    SplitView,
    /// A group frame names another membership than the one this device holds
    /// (or computes) for that epoch.
    MembershipMismatch,
    /// A control message asks for a change that cannot be made (adding a
    /// member twice, removing a non-member, a group over its size limit).
    InvalidChange {
        /// What was wrong.
        reason: &'static str,
    },
    /// A control message for an epoch that another change has already ended.
    ConflictingChange,
    /// A welcome's pages do not make a member list this device can join.
    InvalidWelcome {
        /// What was wrong.
        reason: &'static str,
    },
    /// An attachment could not be sealed or opened; the inner error says why.
    Attachment(crate::attachment::AttachmentError),
    /// A device list is signed by another account key than the one trusted
    /// for its user: the user's account key changed, or someone forged the
    /// list. The caller must show the user the new safety number and wait
    /// for a decision; it is never accepted silently.
    AccountKeyMismatch,
    /// A device list is older than the newest one already seen of its user
    /// (a rollback, which could bring back a removed device).
    DeviceListRollback {
        /// The version offered.
        version: u64,
        /// The newest version seen.
        newest: u64,
    },
    /// A device list cannot be a user's list of devices.
    InvalidDeviceList {
        /// What was wrong.
        reason: &'static str,
    },
}

impl fmt::Display for SealError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::WeakPublicKey => f.write_str("peer public key has small order"),
            Self::BadSignature => f.write_str("signature does not verify"),
            Self::IdentityMismatch => {
                f.write_str("identity differs from the one trusted for this address")
            }
            Self::AddressMismatch => f.write_str("prekey bundle is for another device"),
            Self::DecryptionFailed => f.write_str("message could not be decrypted"),
            Self::DuplicateMessage => f.write_str("message was already opened or its key expired"),
            Self::TooFarAhead { skip, max } => {
                write!(
                    f,
                    "message would skip {skip} keys, more than the limit of {max}"
                )
            }
            Self::InvalidFrankingKey { len } => {
                write!(f, "franking key has {len} bytes instead of 32")
            }
            Self::FrankingMismatch => f.write_str("franking commitment does not match the message"),
            Self::UnknownSignedPrekey { id } => write!(f, "no signed prekey with id {id}"),
            Self::UnknownOneTimePrekey { id } => {
                write!(f, "no one-time prekey with id {id} (used or unknown)")
            }
            Self::InvalidKemKey => f.write_str("ML-KEM encapsulation key is not valid"),
            Self::MissingKemPrekey => {
                f.write_str("prekey bundle has no KEM prekey: refused, the session would not be post-quantum")
            }
            Self::MissingKemCiphertext => f.write_str(
                "prekey message has no KEM ciphertext: refused, the session would not be post-quantum",
            ),
            Self::UnknownKemPrekey { id } => {
                write!(f, "no KEM prekey with id {id} (used, rotated out or unknown)")
            }
            Self::SessionMismatch => f.write_str("prekey message belongs to another session"),
            Self::WrongRecipient => f.write_str("message is addressed to another device"),
            Self::WrongSender => f.write_str("message comes from another device than the peer"),
            Self::ConversationMismatch => {
                f.write_str("message names a conversation its sender cannot send here")
            }
            Self::Wire(err) => write!(f, "malformed inner frame: {err}"),
            Self::UnexpectedFrame => f.write_str("envelope is of a kind this call does not open"),
            Self::ApiMisuse { reason } => write!(f, "API misuse: {reason}"),
            Self::UnsupportedStateVersion { version } => {
                write!(f, "saved state version {version} is not supported")
            }
            Self::InvalidState => f.write_str("saved state is corrupt"),
            Self::KdfOutputTooLong { len } => {
                write!(f, "{len} bytes asked of HKDF-SHA256, more than it can give")
            }
            Self::WrongGroup => f.write_str("frame belongs to another group"),
            Self::FutureEpoch { epoch } => write!(f, "group epoch {epoch} is not reached yet"),
            Self::UnknownEpoch { epoch } => write!(f, "group epoch {epoch} is not held"),
            Self::NotAMember => f.write_str("device is not a member of the group in that epoch"),
            Self::MissingSenderKey => f.write_str("no sender chain held for the sender yet"),
            Self::EquivocatedSenderKey => {
                f.write_str("a member distributed two different chains for one epoch")
            }
            Self::SplitView => f.write_str("members hold different sender chains: views are split"),
            Self::MembershipMismatch => f.write_str("frame names another group membership"),
            Self::InvalidChange { reason } => write!(f, "invalid group change: {reason}"),
            Self::ConflictingChange => {
                f.write_str("another change has already ended the epoch this one names")
            }
            Self::InvalidWelcome { reason } => write!(f, "invalid group welcome: {reason}"),
            Self::Attachment(err) => write!(f, "attachment: {err}"),
            Self::AccountKeyMismatch => {
                f.write_str("device list is signed by another account key than the trusted one")
            }
            Self::DeviceListRollback { version, newest } => write!(
                f,
                "device list version {version} is older than version {newest}, already seen"
            ),
            Self::InvalidDeviceList { reason } => write!(f, "invalid device list: {reason}"),
        }
    }
}

impl std::error::Error for SealError {}

impl From<WireError> for SealError {
    fn from(err: WireError) -> Self {
        Self::Wire(err)
    }
}

impl From<crate::attachment::AttachmentError> for SealError {
    fn from(err: crate::attachment::AttachmentError) -> Self {
        Self::Attachment(err)
    }
}
