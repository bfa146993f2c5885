//! Control messages: what an actor signs to change its group, and what the
//! change makes of the membership.

use fuin_wire::{DeviceAddress, Ed25519Signature, GroupAction, GroupControl};

use super::membership::Membership;
use crate::SealError;
use crate::primitives::framing::Framer;
use crate::primitives::kdf::Label;
use crate::primitives::signing::{SigningSecret, VerifyingSigningKey};

/// `framed(group id, BE64(epoch), membership hash, actor user, BE32(actor
/// device), BE32(action code), action fields, new membership hash)`, signed
/// under the raw prefix `"fuin/v1/group-control-signature"`. The action
/// fields: for `Add`, `BE32(k)` then per member user id, `BE32(device)`,
/// signing key, agreement key; for `Remove`, `BE32(k)` then per device user
/// id, `BE32(device)`; nothing for `Leave`; the 32 consent bytes for
/// `ShareConsent`.
fn signed_string(control: &GroupControl<'_>) -> zeroize::Zeroizing<Vec<u8>> {
    let mut framer = Framer::unlabelled();
    framer
        .field(control.group_id.as_bytes())
        .u64(control.epoch)
        .field(control.membership_hash.as_bytes())
        .address(&control.actor)
        .u32(control.action.code());
    match &control.action {
        GroupAction::Add { members } => {
            framer.u32(members.len() as u32);
            for member in members.as_slice() {
                framer.address(&member.address).identity(&member.identity);
            }
        }
        GroupAction::Remove { members } => {
            framer.u32(members.len() as u32);
            for address in members.as_slice() {
                framer.address(address);
            }
        }
        GroupAction::Leave => {}
        GroupAction::ShareConsent { consent } => {
            framer.field(&consent.0);
        }
    }
    framer.field(control.new_membership_hash.as_bytes());
    zeroize::Zeroizing::new(framer.finish())
}

/// Signs `control` (its signature field is ignored) with the actor's chain.
pub(crate) fn sign(signing: &SigningSecret, control: &GroupControl<'_>) -> Ed25519Signature {
    signing.sign(Label::GroupControlSignature, &signed_string(control))
}

/// Checks `control`'s signature under the actor's chain signing key.
pub(crate) fn verify(
    key: &VerifyingSigningKey,
    control: &GroupControl<'_>,
) -> Result<(), SealError> {
    key.verify(
        Label::GroupControlSignature,
        &signed_string(control),
        &control.signature,
    )
}

/// The membership of the epoch an action starts: every action starts one
/// (a shared consent keeps the members, with new keys). The actor must be a
/// member; it cannot remove itself (that is `Leave`).
pub(crate) fn next_membership(
    current: &Membership,
    actor: &DeviceAddress<'_>,
    action: &GroupAction<'_>,
) -> Result<Membership, SealError> {
    match action {
        GroupAction::Add { members } => current.with_added(members.as_slice()),
        GroupAction::Remove { members } => {
            if members.as_slice().iter().any(|member| member == actor) {
                return Err(SealError::InvalidChange {
                    reason: "an actor leaves, it does not remove itself",
                });
            }
            current.without(members.as_slice())
        }
        GroupAction::Leave => current.without(std::slice::from_ref(actor)),
        GroupAction::ShareConsent { .. } => current.with_same_members(),
    }
}
