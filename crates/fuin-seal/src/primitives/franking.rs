//! Franking commitments: `c = HMAC-SHA256(nf, framed(sender, conversation,
//! message id, content type, body))`, with a 32-byte franking key `nf`.
//!
//! The key length is checked: HMAC pads short keys with zeros, so without the
//! check `nf` and `nf || 0x00` would give the same commitment, and a reporter
//! could present a different key for the same message.

use subtle::ConstantTimeEq;

use super::kdf::Label;
use super::mac::{HmacKey, HmacRun};
use crate::{ConversationId, SealError};
use fuin_wire::{ClientMessageId, ContentType, DeviceAddress, FrankingCommitment};

/// Required length of a franking key.
pub const FRANKING_KEY_LEN: usize = 32;

/// What a franking commitment covers.
#[derive(Debug, Clone, Copy)]
pub struct FrankedMessage<'r> {
    /// The device that sent the message.
    pub sender: &'r DeviceAddress<'r>,
    /// The conversation it was sent in.
    pub conversation: &'r ConversationId,
    /// The sender's id for the message.
    pub message_id: &'r ClientMessageId,
    /// What the body is.
    pub content_type: ContentType,
    /// The message body.
    pub body: &'r [u8],
}

impl FrankedMessage<'_> {
    /// Feeds `framed("fuin/v1/franking-commitment", sender user, BE32(sender
    /// device), conversation, message id, BE32(content type), body)` to the
    /// MAC, field by field, without building the string.
    fn frame_into(&self, run: &mut HmacRun<'_>) {
        run.field(Label::FrankingCommitment.as_bytes());
        run.field(self.sender.user.as_str().as_bytes());
        run.field(&self.sender.device.0.to_be_bytes());
        run.field(&self.conversation.0);
        run.field(self.message_id.as_bytes());
        run.field(&self.content_type.code().to_be_bytes());
        run.field(self.body);
    }

    #[cfg(test)]
    fn framed(&self) -> Vec<u8> {
        super::framing::Framer::new(Label::FrankingCommitment.as_bytes())
            .address(self.sender)
            .field(&self.conversation.0)
            .field(self.message_id.as_bytes())
            .u32(self.content_type.code())
            .field(self.body)
            .finish()
    }
}

/// Computes the commitment. Fails with [`SealError::InvalidFrankingKey`] for
/// a key of any length other than 32 bytes.
pub fn commit(key: &[u8], message: &FrankedMessage<'_>) -> Result<FrankingCommitment, SealError> {
    if key.len() != FRANKING_KEY_LEN {
        return Err(SealError::InvalidFrankingKey { len: key.len() });
    }
    let key = HmacKey::new(key);
    let mut run = key.start();
    message.frame_into(&mut run);
    Ok(FrankingCommitment(run.finish()))
}

/// Checks, in constant time, that `key` opens `commitment` for `message`.
pub fn verify(
    key: &[u8],
    message: &FrankedMessage<'_>,
    commitment: &FrankingCommitment,
) -> Result<(), SealError> {
    let expected = commit(key, message)?;
    if bool::from(expected.0.ct_eq(&commitment.0)) {
        Ok(())
    } else {
        Err(SealError::FrankingMismatch)
    }
}

/// HMAC-SHA256 of `data` under `key`, for the ratchet's chain steps and for
/// checking the wrapper against outside test vectors.
pub fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    HmacKey::new(key).mac(parts)
}

/// Verifies an HMAC-SHA256 tag, possibly truncated to `tag.len()` bytes (at
/// least 16), in constant time.
pub fn verify_hmac_sha256(key: &[u8], data: &[u8], tag: &[u8]) -> bool {
    if tag.len() < 16 || tag.len() > 32 {
        return false;
    }
    let full = hmac_sha256(key, &[data]);
    bool::from(full[..tag.len()].ct_eq(tag))
}

#[cfg(test)]
mod tests {
    use super::*;
    use fuin_wire::{DeviceId, UserId};

    #[test]
    fn keys_of_other_lengths_are_rejected_even_when_hmac_would_agree() {
        let sender = DeviceAddress::new(UserId::new("alice").unwrap(), DeviceId(1));
        let message = FrankedMessage {
            sender: &sender,
            conversation: &ConversationId([1; 32]),
            message_id: &ClientMessageId([2; 16]),
            content_type: ContentType::Text,
            body: b"hi",
        };
        let key = [9u8; 32];
        let commitment = commit(&key, &message).unwrap();
        // The streamed commitment is the MAC of the framed string.
        assert_eq!(commitment.0, hmac_sha256(&key, &[&message.framed()]));
        let mut padded = key.to_vec();
        padded.push(0);
        // Plain HMAC gives the same tag for the zero-padded key...
        assert_eq!(
            hmac_sha256(&padded, &[&message.framed()]),
            hmac_sha256(&key, &[&message.framed()])
        );
        // ...which is exactly why the commitment refuses it.
        assert_eq!(
            verify(&padded, &message, &commitment),
            Err(SealError::InvalidFrankingKey { len: 33 })
        );
        for len in [0, 31, 64] {
            assert_eq!(
                commit(&vec![9; len], &message),
                Err(SealError::InvalidFrankingKey { len })
            );
        }
        assert_eq!(verify(&key, &message, &commitment), Ok(()));
    }
}
