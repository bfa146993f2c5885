//! The protocol's own frames: what travels inside a routing envelope's sealed
//! body, and the plaintext inside a ratchet message's ciphertext.
//!
//! The relay never decodes these; devices do, so they obey the same rules as
//! every other frame (limits, canonical form, no trailing bytes).

use std::fmt;

use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::bytes::{SecretBytes, fixed_bytes};
use crate::limits::{MAX_CONTENT_BODY_LEN, MAX_SEALED_BODY_LEN};
use crate::{
    MlKemCiphertext, Opaque, PrekeyId, PublicIdentity, UserId, WireError, X25519PublicKey,
};

/// The protocol version of the messages this crate's frames carry: the
/// version byte `fuin-seal` binds into every message's associated data.
/// Version 1 messages travelled in tags that are now retired
/// ([`WireError::RetiredFrame`]).
pub const MESSAGE_PROTOCOL_VERSION: u8 = 3;

fixed_bytes!(
    /// A message's salt: 16 bytes drawn fresh from the sender's CSPRNG for
    /// every message, the HKDF salt of its key derivation. It makes two
    /// messages sealed with one message key (from a restored or cloned state)
    /// use different AEAD keys and nonces. Not secret.
    MessageSalt,
    16
);

/// The clear header of a Double Ratchet message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RatchetHeader {
    /// The sender's current ratchet public key.
    pub ratchet_key: X25519PublicKey,
    /// How many messages the sender sent in its previous sending chain.
    pub previous_chain_length: u32,
    /// This message's number in the current sending chain, from 0.
    pub counter: u32,
    /// Fresh random bytes for this message alone (protocol version 2).
    pub salt: MessageSalt,
}

/// A message of an established session: the sealed body of a
/// [`ContentKind::Message`](crate::ContentKind::Message) envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RatchetMessage<'a> {
    /// The ratchet header, authenticated as associated data.
    pub header: RatchetHeader,
    /// The key commitment (32 bytes) followed by the AES-256-GCM ciphertext
    /// and tag of a [`MessageContent`] frame.
    #[serde(borrow)]
    pub ciphertext: Opaque<'a>,
}

impl RatchetMessage<'_> {
    /// Copies borrowed parts, detaching the message from the input.
    pub fn into_owned(self) -> RatchetMessage<'static> {
        RatchetMessage {
            header: self.header,
            ciphertext: self.ciphertext.into_owned(),
        }
    }

    pub(crate) fn validate(&self) -> Result<(), WireError> {
        if self.ciphertext.len() > MAX_SEALED_BODY_LEN {
            return Err(WireError::LimitExceeded {
                field: "ciphertext",
                len: self.ciphertext.len(),
                max: MAX_SEALED_BODY_LEN,
            });
        }
        Ok(())
    }
}

/// Which KEM prekey an initiator encapsulated to, and the ciphertext.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KemEncapsulation {
    /// The responder's KEM prekey (one-time or last-resort).
    pub kem_prekey_id: PrekeyId,
    /// The ML-KEM-768 ciphertext.
    pub ciphertext: MlKemCiphertext,
}

/// The first message(s) of a session, sent until the responder answers: what
/// the responder needs to complete the handshake, plus a ratchet message. The
/// sealed body of a [`ContentKind::PrekeyMessage`](crate::ContentKind::PrekeyMessage)
/// envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrekeyMessage<'a> {
    /// The initiating device's identity.
    pub initiator: PublicIdentity,
    /// The initiator's ephemeral handshake key.
    pub base_key: X25519PublicKey,
    /// Which of the responder's signed prekeys was used.
    pub signed_prekey_id: PrekeyId,
    /// Which one-time prekey was used, if any.
    pub one_time_prekey_id: Option<PrekeyId>,
    /// The ML-KEM encapsulation to the responder's KEM prekey. The protocol
    /// refuses a prekey message without one (`spec/protocol.md` §6.5).
    pub kem: Option<KemEncapsulation>,
    /// The first ratchet message.
    #[serde(borrow)]
    pub message: RatchetMessage<'a>,
}

impl PrekeyMessage<'_> {
    /// Copies borrowed parts, detaching the message from the input.
    pub fn into_owned(self) -> PrekeyMessage<'static> {
        PrekeyMessage {
            initiator: self.initiator,
            base_key: self.base_key,
            signed_prekey_id: self.signed_prekey_id,
            one_time_prekey_id: self.one_time_prekey_id,
            kem: self.kem,
            message: self.message.into_owned(),
        }
    }

    pub(crate) fn validate(&self) -> Result<(), WireError> {
        self.message.validate()
    }
}

/// What a message says, as the user sees it. New types are appended; a
/// decoder that meets one it does not know reports
/// [`WireError::Malformed`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum ContentType {
    /// UTF-8 text.
    Text,
    /// A delivery or read receipt. The protocol carries its body as opaque
    /// bytes; the client layer fixes what it says.
    Receipt,
    /// A group member's sender chain, over a one-to-one session: the body is
    /// a [`SenderKeyDistribution`](crate::SenderKeyDistribution) frame.
    SenderKeyDistribution,
    /// A page of a group's member list for a joining device, over a
    /// one-to-one session: the body is a
    /// [`GroupWelcome`](crate::GroupWelcome) frame.
    GroupWelcome,
    /// A signed control message, in a group message: the body is a
    /// [`GroupControl`](crate::GroupControl) frame.
    GroupControl,
    /// A shared attachment: the body is an
    /// [`AttachmentShare`](crate::attachment::AttachmentShare) (the
    /// reference to a sealed object and the capabilities to download it).
    Attachment,
    /// The user's identifier secret, from one of the user's devices to
    /// another, over a one-to-one session: the body is an
    /// [`IdentifierSecretShare`](crate::identifier::IdentifierSecretShare).
    /// Never shown, never stored in a history, never reportable.
    IdentifierSecret,
    /// A group member asks another for its sender chain again, over a
    /// one-to-one session: the body is a
    /// [`SenderKeyRequest`](crate::key_request::SenderKeyRequest). Never
    /// shown, never stored in a history, never reportable.
    SenderKeyRequest,
    /// Typed content: the body is a
    /// [`TypedContent`](crate::content::TypedContent), a reverse-DNS type
    /// name and its payload. Apps define their own types; the built-in ones
    /// (edit, delete, reaction, reply, typing, disappearing timer) are in
    /// [`content`](crate::content). Sealed, franked and reportable like
    /// text.
    Typed,
}

impl ContentType {
    /// The type's number on the wire, also used in franking and associated data.
    pub fn code(self) -> u32 {
        match self {
            Self::Text => 0,
            Self::Receipt => 1,
            Self::SenderKeyDistribution => 2,
            Self::GroupWelcome => 3,
            Self::GroupControl => 4,
            Self::Attachment => 5,
            Self::IdentifierSecret => 6,
            Self::SenderKeyRequest => 7,
            Self::Typed => 8,
        }
    }
}

fixed_bytes!(
    /// The sender-chosen id of one message, the same on every device it is
    /// sent to (random, 16 bytes).
    ClientMessageId,
    16
);

/// Which conversation a message belongs to, named by its sender. New kinds
/// (groups) are appended.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum ConversationRef<'a> {
    /// The one-to-one conversation between the sender's user and `peer`.
    /// A recipient of another user accepts only its own user as `peer`; the
    /// sender's own other devices learn from it whom the message was for.
    Direct {
        /// The other user of the conversation, seen from the sender.
        #[serde(borrow)]
        peer: UserId<'a>,
    },
}

impl ConversationRef<'_> {
    /// Copies borrowed parts.
    pub fn into_owned(self) -> ConversationRef<'static> {
        match self {
            Self::Direct { peer } => ConversationRef::Direct {
                peer: peer.into_owned(),
            },
        }
    }

    pub(crate) fn validate(&self) -> Result<(), WireError> {
        match self {
            Self::Direct { peer } => peer.validate(),
        }
    }
}

/// The per-message franking key `nf` (32 bytes). Secret until its message is
/// reported: `Debug` shows no bytes, the bytes are wiped on drop, and
/// equality is decided without an early exit.
#[derive(Clone, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub struct FrankingKey(#[serde(with = "franking_key_bytes")] pub [u8; 32]);

impl PartialEq for FrankingKey {
    fn eq(&self, other: &Self) -> bool {
        let difference = self
            .0
            .iter()
            .zip(other.0.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        std::hint::black_box(difference) == 0
    }
}

impl Eq for FrankingKey {}

impl fmt::Debug for FrankingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FrankingKey(<redacted>)")
    }
}

mod franking_key_bytes {
    use serde::{Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(bytes: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        crate::bytes::serialize_fixed(bytes, s)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        crate::bytes::deserialize_fixed(d)
    }
}

/// The plaintext of one message, encrypted inside a [`RatchetMessage`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageContent<'a> {
    /// What the body is.
    pub content_type: ContentType,
    /// The sender's id for this message, shared by all its copies.
    pub message_id: ClientMessageId,
    /// The sender's running number for messages in this session, from 0; the
    /// recipient orders and finds gaps by it.
    pub sequence: u64,
    /// The sender's clock when it sealed the message, ms since the Unix epoch.
    pub sent_at_ms: u64,
    /// The conversation the message belongs to.
    #[serde(borrow)]
    pub conversation: ConversationRef<'a>,
    /// The franking key the envelope's commitment was made with.
    pub franking_key: FrankingKey,
    /// The body, at most [`MAX_CONTENT_BODY_LEN`] bytes: plaintext, wiped
    /// on drop and never shown by `Debug`.
    #[serde(borrow)]
    pub body: SecretBytes<'a>,
}

impl MessageContent<'_> {
    /// Copies borrowed parts, detaching the content from the input.
    pub fn into_owned(self) -> MessageContent<'static> {
        MessageContent {
            content_type: self.content_type,
            message_id: self.message_id,
            sequence: self.sequence,
            sent_at_ms: self.sent_at_ms,
            conversation: self.conversation.into_owned(),
            franking_key: self.franking_key,
            body: self.body.into_owned(),
        }
    }

    pub(crate) fn validate(&self) -> Result<(), WireError> {
        self.conversation.validate()?;
        if self.body.len() > MAX_CONTENT_BODY_LEN {
            return Err(WireError::LimitExceeded {
                field: "body",
                len: self.body.len(),
                max: MAX_CONTENT_BODY_LEN,
            });
        }
        Ok(())
    }
}
