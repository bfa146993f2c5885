//! The canonical byte string a relay's franking stamp covers.
//!
//! It is defined once, here, so that the relay that makes a stamp and the
//! moderation tool that checks it can never frame the fields differently.

use crate::{DeviceAddress, FrankingCommitment, MessageId, StampKeyId};

/// Domain-separation label, the first field of every stamp input.
pub const FRANKING_STAMP_LABEL: &[u8] = b"fuin/v1/franking-stamp";

/// Builds the input of `HMAC-SHA256(relay_franking_key[key_id], input)`.
///
/// Every field is written as a 4-byte big-endian length followed by its bytes
/// (integers as big-endian fixed-width bytes), in this order: the label, the
/// commitment, the sender's user id and device id, the recipient's user id
/// and device id, the server time, the server message id, the key id. Because
/// every field carries its length, no two different field tuples give the same
/// string.
pub fn franking_stamp_input(
    commitment: &FrankingCommitment,
    sender: &DeviceAddress<'_>,
    recipient: &DeviceAddress<'_>,
    server_time_ms: u64,
    message_id: &MessageId,
    key_id: StampKeyId,
) -> Vec<u8> {
    let fields: [&[u8]; 9] = [
        FRANKING_STAMP_LABEL,
        commitment.as_bytes(),
        sender.user.as_str().as_bytes(),
        &sender.device.0.to_be_bytes(),
        recipient.user.as_str().as_bytes(),
        &recipient.device.0.to_be_bytes(),
        &server_time_ms.to_be_bytes(),
        message_id.as_bytes(),
        &key_id.0.to_be_bytes(),
    ];
    let total = fields.iter().map(|field| 4 + field.len()).sum();
    let mut out = Vec::with_capacity(total);
    for field in fields {
        // Fields are bounded by the wire limits (user ids are at most 64 bytes),
        // so every length fits in four bytes.
        out.extend_from_slice(&(field.len() as u32).to_be_bytes());
        out.extend_from_slice(field);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DeviceId, UserId};

    fn address(user: &str, device: u32) -> DeviceAddress<'static> {
        DeviceAddress::new(UserId::new(user.to_owned()).unwrap(), DeviceId(device))
    }

    fn input_for(sender: &str, recipient: &str) -> Vec<u8> {
        franking_stamp_input(
            &FrankingCommitment([1; 32]),
            &address(sender, 1),
            &address(recipient, 1),
            7,
            &MessageId([2; 16]),
            StampKeyId(3),
        )
    }

    #[test]
    fn shifting_a_boundary_between_sender_and_recipient_changes_the_input() {
        // Same concatenated text "ab" + "c" versus "a" + "bc".
        assert_ne!(input_for("ab", "c"), input_for("a", "bc"));
    }

    #[test]
    fn swapping_sender_and_recipient_changes_the_input() {
        assert_ne!(input_for("alice", "bob"), input_for("bob", "alice"));
    }
}
