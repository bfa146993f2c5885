//! A group message's associated data and signature: what binds one sealed
//! message to its group, epoch, membership, sender, iteration, view and
//! franking commitment.

use fuin_wire::{
    ContentKind, DeviceAddress, Ed25519PublicKey, Ed25519Signature, FrameBody, FrankingCommitment,
    GroupId, GroupMessage, MembershipHash, MessageSalt, ViewHash,
};

use crate::primitives::framing::Framer;
use crate::primitives::kdf::Label;
use crate::primitives::signing::{SigningSecret, VerifyingSigningKey};
use crate::{GROUP_PROTOCOL_VERSION, SealError};

/// The envelope content kind of every group message, as bound in its
/// associated data.
const GROUP_CONTENT_KIND: u32 = 2;

/// Everything a group message's associated data binds besides the header
/// fields the message itself carries.
pub(crate) struct MessageContext<'r> {
    pub(crate) membership_hash: &'r MembershipHash,
    pub(crate) sender: &'r DeviceAddress<'r>,
    pub(crate) commitment: &'r FrankingCommitment,
}

/// `framed("fuin/v1/group-message-ad", [0x02], group id, BE64(epoch),
/// membership hash, sender user, BE32(sender device), BE32(iteration), view
/// hash or empty, salt, BE32(content kind 2), franking commitment)`.
pub(crate) fn associated_data(
    group_id: &GroupId,
    epoch: u64,
    iteration: u32,
    view: Option<&ViewHash>,
    salt: &MessageSalt,
    context: &MessageContext<'_>,
) -> Vec<u8> {
    let view: &[u8] = match view {
        Some(view) => view.as_bytes(),
        None => &[],
    };
    Framer::new(Label::GroupMessageAssociatedData.as_bytes())
        .field(&[GROUP_PROTOCOL_VERSION])
        .field(group_id.as_bytes())
        .u64(epoch)
        .field(context.membership_hash.as_bytes())
        .address(context.sender)
        .u32(iteration)
        .field(view)
        .field(salt.as_bytes())
        .u32(GROUP_CONTENT_KIND)
        .field(context.commitment.as_bytes())
        .finish()
}

/// The string a sender chain signs is `framed(associated data,
/// ciphertext)` (under the raw prefix `"fuin/v1/group-message-signature"`):
/// here as its four pieces, so that neither is copied.
fn signed_pieces<'a>(
    lengths: &'a [[u8; 4]; 2],
    ad: &'a [u8],
    ciphertext: &'a [u8],
) -> [&'a [u8]; 4] {
    [&lengths[0], ad, &lengths[1], ciphertext]
}

/// The two length prefixes of the signed string. Both lengths are bounded
/// by wire limits far below 4 GiB, as in `Framer::field`.
fn lengths(ad: &[u8], ciphertext: &[u8]) -> [[u8; 4]; 2] {
    [
        (ad.len() as u32).to_be_bytes(),
        (ciphertext.len() as u32).to_be_bytes(),
    ]
}

pub(crate) fn sign(signing: &SigningSecret, ad: &[u8], ciphertext: &[u8]) -> Ed25519Signature {
    let lengths = lengths(ad, ciphertext);
    signing.sign_parts(
        Label::GroupMessageSignature,
        &signed_pieces(&lengths, ad, ciphertext),
    )
}

pub(crate) fn verify(
    key: &VerifyingSigningKey,
    ad: &[u8],
    ciphertext: &[u8],
    signature: &Ed25519Signature,
) -> Result<(), SealError> {
    let lengths = lengths(ad, ciphertext);
    key.verify_parts(
        Label::GroupMessageSignature,
        &signed_pieces(&lengths, ad, ciphertext),
        signature,
    )
}

/// Checks a group message's signature from public values only: what a
/// moderation tool does with a reported group message. `sealed_body` is the
/// envelope's sealed body (a `GroupMessage` frame), `sender` the sending
/// device named by the relay's stamp, `commitment` the envelope's franking
/// commitment, `membership_hash` the epoch's membership hash and
/// `chain_signing_key` the sender chain's signing key, both as the reporter
/// held them (`GroupOpened` carries them). Content kind must be
/// `GroupMessage`; that is the caller's to check.
pub fn verify_group_message_signature(
    sealed_body: &[u8],
    sender: &DeviceAddress<'_>,
    commitment: &FrankingCommitment,
    membership_hash: &MembershipHash,
    chain_signing_key: &Ed25519PublicKey,
) -> Result<(), SealError> {
    let message = GroupMessage::from_bytes(sealed_body)?;
    let ad = associated_data(
        &message.group_id,
        message.epoch,
        message.iteration,
        message.view.as_ref(),
        &message.salt,
        &MessageContext {
            membership_hash,
            sender,
            commitment,
        },
    );
    verify(
        &VerifyingSigningKey::decode(chain_signing_key)?,
        &ad,
        message.ciphertext.as_bytes(),
        &message.signature,
    )
}

/// The content kind group messages travel as; anything else is not a group
/// message.
pub(crate) fn is_group_kind(kind: ContentKind) -> bool {
    kind == ContentKind::GroupMessage
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The pieces signed are exactly `framed(associated data, ciphertext)`:
    /// a signature over the joined string verifies, and the reverse.
    #[test]
    fn the_signed_pieces_are_the_framed_string() {
        let signing = SigningSecret::from_bytes([5; 32]);
        let key = VerifyingSigningKey::decode(&signing.public_key()).unwrap();
        let (ad, ciphertext) = (&b"associated data"[..], &[9u8; 70][..]);
        let joined = Framer::unlabelled().field(ad).field(ciphertext).finish();
        let over_joined = signing.sign(Label::GroupMessageSignature, &joined);
        assert_eq!(verify(&key, ad, ciphertext, &over_joined), Ok(()));
        let over_pieces = sign(&signing, ad, ciphertext);
        assert_eq!(
            key.verify(Label::GroupMessageSignature, &joined, &over_pieces),
            Ok(())
        );
        // Moving a byte between the two fields changes the signed string.
        let longer_ad = [ad, &ciphertext[..1]].concat();
        assert_eq!(
            verify(&key, &longer_ad, &ciphertext[1..], &over_pieces),
            Err(SealError::BadSignature)
        );
    }
}
