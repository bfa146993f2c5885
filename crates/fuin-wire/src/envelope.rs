//! What a sender hands the relay ([`RoutingEnvelope`]) and what the relay hands
//! the recipient ([`DeliveredRecord`]).

use serde::{Deserialize, Serialize};

use crate::bytes::fixed_bytes;
use crate::limits::MAX_SEALED_BODY_LEN;
use crate::{DeviceAddress, Opaque, WireError};

fixed_bytes!(
    /// The sender's franking commitment `HMAC-SHA256(nf, framed message)`.
    FrankingCommitment,
    32
);

fixed_bytes!(
    /// The relay's franking stamp over [`franking_stamp_input`](crate::franking_stamp_input).
    FrankingStamp,
    32
);

fixed_bytes!(
    /// The relay-assigned id of one delivered envelope (random, so it reveals
    /// no count).
    MessageId,
    16
);

/// Which of the relay's franking keys made a stamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct StampKeyId(pub u32);

/// The coarse kind of a sealed body, visible to the relay. The content type
/// the user sees (text, receipt, ...) is inside the sealed body.
///
/// New kinds are appended; a decoder that meets a kind it does not know
/// reports [`WireError::Malformed`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum ContentKind {
    /// A message of an established session.
    Message,
    /// The first message of a session: carries what the recipient needs to
    /// complete the handshake.
    PrekeyMessage,
    /// A group message: sealed once for every member of a group, fanned out
    /// by the relay, opened with the sender's chain (`spec/groups.md`).
    GroupMessage,
}

/// What a sender hands the relay for one recipient device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoutingEnvelope<'a> {
    /// The device whose mailbox receives the envelope.
    #[serde(borrow)]
    pub recipient: DeviceAddress<'a>,
    /// The kind of sealed body.
    pub content_kind: ContentKind,
    /// The sender's franking commitment, which the relay stamps.
    pub franking_commitment: FrankingCommitment,
    /// The sealed body: opaque to the relay, at most
    /// [`MAX_SEALED_BODY_LEN`] bytes.
    #[serde(borrow)]
    pub sealed_body: Opaque<'a>,
}

impl RoutingEnvelope<'_> {
    /// Copies borrowed parts, detaching the envelope from the input.
    pub fn into_owned(self) -> RoutingEnvelope<'static> {
        RoutingEnvelope {
            recipient: self.recipient.into_owned(),
            content_kind: self.content_kind,
            franking_commitment: self.franking_commitment,
            sealed_body: self.sealed_body.into_owned(),
        }
    }

    pub(crate) fn validate(&self) -> Result<(), WireError> {
        self.recipient.validate()?;
        if self.sealed_body.len() > MAX_SEALED_BODY_LEN {
            return Err(WireError::LimitExceeded {
                field: "sealed_body",
                len: self.sealed_body.len(),
                max: MAX_SEALED_BODY_LEN,
            });
        }
        Ok(())
    }
}

/// What the relay hands a recipient: the envelope as sent, plus what the
/// relay vouches for with its franking stamp.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveredRecord<'a> {
    /// The envelope exactly as the sender handed it over.
    #[serde(borrow)]
    pub envelope: RoutingEnvelope<'a>,
    /// The authenticated device that sent it.
    #[serde(borrow)]
    pub sender: DeviceAddress<'a>,
    /// When the relay accepted it, in milliseconds since the Unix epoch.
    pub server_time_ms: u64,
    /// The relay's id for it; the recipient acknowledges by this id.
    pub server_message_id: MessageId,
    /// The relay's stamp over [`DeliveredRecord::stamp_input`].
    pub franking_stamp: FrankingStamp,
    /// Which relay franking key made the stamp.
    pub stamp_key_id: StampKeyId,
}

impl DeliveredRecord<'_> {
    /// The byte string the stamp is computed over; see
    /// [`franking_stamp_input`](crate::franking_stamp_input).
    pub fn stamp_input(&self) -> Vec<u8> {
        crate::franking_stamp_input(
            &self.envelope.franking_commitment,
            &self.sender,
            &self.envelope.recipient,
            self.server_time_ms,
            &self.server_message_id,
            self.stamp_key_id,
        )
    }

    /// Copies borrowed parts, detaching the record from the input.
    pub fn into_owned(self) -> DeliveredRecord<'static> {
        DeliveredRecord {
            envelope: self.envelope.into_owned(),
            sender: self.sender.into_owned(),
            server_time_ms: self.server_time_ms,
            server_message_id: self.server_message_id,
            franking_stamp: self.franking_stamp,
            stamp_key_id: self.stamp_key_id,
        }
    }

    pub(crate) fn validate(&self) -> Result<(), WireError> {
        self.envelope.validate()?;
        self.sender.validate()
    }
}
