//! The frames of group conversations: what a member sends its group through
//! the relay's fan-out, what travels to one member over a one-to-one session
//! (sender keys, welcomes), and the signed control messages that change a
//! group's membership.
//!
//! How the keys are made, what is signed and what a receiver checks is in
//! `spec/groups.md`; the byte layout of every frame is in `spec/wire.md`.

use serde::{Deserialize, Serialize};

use crate::bounded::BoundedVec;
use crate::bytes::{SecretBytes, fixed_bytes, secret_field};
use crate::limits::{MAX_CONTENT_BODY_LEN, MAX_SEALED_BODY_LEN};
use crate::{
    ClientMessageId, ContentType, DeviceAddress, Ed25519PublicKey, Ed25519Signature,
    FrankingCommitment, FrankingKey, MessageSalt, Opaque, PublicIdentity, WireError,
};

/// Most member devices a group may have, and so recipients of one fan-out.
pub const MAX_GROUP_MEMBERS: usize = 1000;
/// Most member devices one control message adds or removes.
pub const MAX_CHANGE_MEMBERS: usize = 64;
/// Most members one welcome page lists: a page of members with the longest
/// addresses still fits in one message body.
pub const MAX_WELCOME_MEMBERS: usize = 256;
/// Most pages one welcome has: enough for [`MAX_GROUP_MEMBERS`] at
/// [`MAX_WELCOME_MEMBERS`] a page.
pub const MAX_WELCOME_PAGES: u32 = MAX_GROUP_MEMBERS.div_ceil(MAX_WELCOME_MEMBERS) as u32;

fixed_bytes!(
    /// A group's id: 32 random bytes drawn by its creator, the same for the
    /// group's whole life.
    GroupId,
    32
);

fixed_bytes!(
    /// The SHA-256 over one epoch of a group: its id, its epoch number and
    /// its member list (`spec/groups.md`).
    MembershipHash,
    32
);

fixed_bytes!(
    /// The SHA-256 over the sender chains one member holds for one epoch
    /// (`spec/groups.md`): two members with the same view hold the same keys.
    ViewHash,
    32
);

secret_field!(
    /// The key of a sender chain at the iteration a distribution names: whoever
    /// holds it can read the chain's messages from there on.
    SenderChainKey
);

secret_field!(
    /// A group's audience consent: a random value one member creates and
    /// shares with the group, from which every holder derives the same
    /// identifier for the group towards an outside audience.
    GroupConsent
);

/// One member device of a group: its address and the identity the group
/// knows it by.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupMember<'a> {
    /// The device.
    #[serde(borrow)]
    pub address: DeviceAddress<'a>,
    /// Its public identity.
    pub identity: PublicIdentity,
}

impl GroupMember<'_> {
    /// Copies borrowed parts.
    pub fn into_owned(self) -> GroupMember<'static> {
        GroupMember {
            address: self.address.into_owned(),
            identity: self.identity,
        }
    }

    pub(crate) fn validate(&self) -> Result<(), WireError> {
        self.address.validate()
    }
}

/// Tag 26: one member's sender chain for one epoch, sealed to each other
/// member over a one-to-one session (the body of a message of content type
/// [`ContentType::SenderKeyDistribution`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SenderKeyDistribution<'a> {
    /// The group.
    pub group_id: GroupId,
    /// The epoch the chain sends in.
    pub epoch: u64,
    /// The membership of that epoch, as the sender holds it.
    pub membership_hash: MembershipHash,
    /// The sending device; it must be the one-to-one session's peer.
    #[serde(borrow)]
    pub sender: DeviceAddress<'a>,
    /// The chain iteration `chain_key` is at.
    pub iteration: u32,
    /// The chain key at `iteration`.
    pub chain_key: SenderChainKey,
    /// The Ed25519 key that signs every message of the chain.
    pub signing_key: Ed25519PublicKey,
}

impl SenderKeyDistribution<'_> {
    /// Copies borrowed parts.
    pub fn into_owned(self) -> SenderKeyDistribution<'static> {
        SenderKeyDistribution {
            group_id: self.group_id,
            epoch: self.epoch,
            membership_hash: self.membership_hash,
            sender: self.sender.into_owned(),
            iteration: self.iteration,
            chain_key: self.chain_key,
            signing_key: self.signing_key,
        }
    }

    pub(crate) fn validate(&self) -> Result<(), WireError> {
        self.sender.validate()
    }
}

/// Tag 39 (tag 27 in protocol version 1, now retired): a group message, sealed once for every member: the sealed body of
/// a [`ContentKind::GroupMessage`](crate::ContentKind::GroupMessage)
/// envelope. The relay sees it as opaque bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupMessage<'a> {
    /// The group.
    pub group_id: GroupId,
    /// The epoch the sender's chain belongs to.
    pub epoch: u64,
    /// The message's iteration in the sender's chain, from the distribution's
    /// iteration on.
    pub iteration: u32,
    /// The sender's view of the epoch, once it holds every member's chain.
    pub view: Option<ViewHash>,
    /// Fresh random bytes for this message alone: the HKDF salt of its key
    /// derivation, signed with the rest (protocol version 2).
    pub salt: MessageSalt,
    /// The key commitment (32 bytes), then the AES-256-GCM ciphertext and tag
    /// of a [`GroupContent`] frame.
    #[serde(borrow)]
    pub ciphertext: Opaque<'a>,
    /// The sender chain's Ed25519 signature over the associated data and the
    /// ciphertext.
    pub signature: Ed25519Signature,
}

impl GroupMessage<'_> {
    /// Copies borrowed parts.
    pub fn into_owned(self) -> GroupMessage<'static> {
        GroupMessage {
            group_id: self.group_id,
            epoch: self.epoch,
            iteration: self.iteration,
            view: self.view,
            salt: self.salt,
            ciphertext: self.ciphertext.into_owned(),
            signature: self.signature,
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

/// Tag 28: the plaintext of a group message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupContent<'a> {
    /// What the body is.
    pub content_type: ContentType,
    /// The sender's id for the message.
    pub message_id: ClientMessageId,
    /// The sender's clock when it sealed the message, ms since the Unix epoch.
    pub sent_at_ms: u64,
    /// The franking key the envelope's commitment was made with.
    pub franking_key: FrankingKey,
    /// The body, at most [`MAX_CONTENT_BODY_LEN`] bytes: plaintext, wiped
    /// on drop and never shown by `Debug`.
    #[serde(borrow)]
    pub body: SecretBytes<'a>,
}

impl GroupContent<'_> {
    /// Copies borrowed parts.
    pub fn into_owned(self) -> GroupContent<'static> {
        GroupContent {
            content_type: self.content_type,
            message_id: self.message_id,
            sent_at_ms: self.sent_at_ms,
            franking_key: self.franking_key,
            body: self.body.into_owned(),
        }
    }

    pub(crate) fn validate(&self) -> Result<(), WireError> {
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

/// What a control message does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum GroupAction<'a> {
    /// Adds member devices; starts a new epoch.
    Add {
        /// At most [`MAX_CHANGE_MEMBERS`], none of them a member already.
        #[serde(borrow)]
        members: BoundedVec<GroupMember<'a>, MAX_CHANGE_MEMBERS>,
    },
    /// Removes member devices other than the actor; starts a new epoch.
    Remove {
        /// At most [`MAX_CHANGE_MEMBERS`], each a member.
        #[serde(borrow)]
        members: BoundedVec<DeviceAddress<'a>, MAX_CHANGE_MEMBERS>,
    },
    /// The actor leaves; starts a new epoch without it.
    Leave,
    /// Shares a new audience consent with the group; starts a new epoch with
    /// the same members.
    ShareConsent {
        /// The consent value.
        consent: GroupConsent,
    },
}

impl GroupAction<'_> {
    /// The action's number, as signed (`spec/groups.md`).
    pub fn code(&self) -> u32 {
        match self {
            Self::Add { .. } => 0,
            Self::Remove { .. } => 1,
            Self::Leave => 2,
            Self::ShareConsent { .. } => 3,
        }
    }

    /// Copies borrowed parts.
    pub fn into_owned(self) -> GroupAction<'static> {
        match self {
            Self::Add { members } => GroupAction::Add {
                members: members.map(GroupMember::into_owned),
            },
            Self::Remove { members } => GroupAction::Remove {
                members: members.map(DeviceAddress::into_owned),
            },
            Self::Leave => GroupAction::Leave,
            Self::ShareConsent { consent } => GroupAction::ShareConsent { consent },
        }
    }

    pub(crate) fn validate(&self) -> Result<(), WireError> {
        match self {
            Self::Add { members } => {
                members.check_len("members")?;
                members
                    .as_slice()
                    .iter()
                    .try_for_each(GroupMember::validate)
            }
            Self::Remove { members } => {
                members.check_len("members")?;
                members
                    .as_slice()
                    .iter()
                    .try_for_each(DeviceAddress::validate)
            }
            Self::Leave | Self::ShareConsent { .. } => Ok(()),
        }
    }
}

/// Tag 29: a control message, signed by the acting member's sender chain of
/// the epoch it names. It travels as the body of a group message of content
/// type [`ContentType::GroupControl`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupControl<'a> {
    /// The group.
    pub group_id: GroupId,
    /// The epoch the actor acts in (its current one).
    pub epoch: u64,
    /// The membership of that epoch.
    pub membership_hash: MembershipHash,
    /// The acting member device.
    #[serde(borrow)]
    pub actor: DeviceAddress<'a>,
    /// What it does.
    #[serde(borrow)]
    pub action: GroupAction<'a>,
    /// The membership of epoch `epoch + 1`, which the action starts (a
    /// shared consent keeps the members and renews every chain).
    pub new_membership_hash: MembershipHash,
    /// The actor's sender chain of `epoch` signs everything above.
    pub signature: Ed25519Signature,
}

impl GroupControl<'_> {
    /// Copies borrowed parts.
    pub fn into_owned(self) -> GroupControl<'static> {
        GroupControl {
            group_id: self.group_id,
            epoch: self.epoch,
            membership_hash: self.membership_hash,
            actor: self.actor.into_owned(),
            action: self.action.into_owned(),
            new_membership_hash: self.new_membership_hash,
            signature: self.signature,
        }
    }

    pub(crate) fn validate(&self) -> Result<(), WireError> {
        self.actor.validate()?;
        self.action.validate()
    }
}

/// Tag 30: one page of a group's member list, sent by a member over a
/// one-to-one session to a device that joins the group (the body of a
/// message of content type [`ContentType::GroupWelcome`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupWelcome<'a> {
    /// The group.
    pub group_id: GroupId,
    /// The epoch the joiner enters.
    pub epoch: u64,
    /// The membership of that epoch.
    pub membership_hash: MembershipHash,
    /// This page's number, from 0.
    pub page: u32,
    /// How many pages the member list takes.
    pub page_count: u32,
    /// This page's members, in the canonical order, at most
    /// [`MAX_WELCOME_MEMBERS`].
    #[serde(borrow)]
    pub members: BoundedVec<GroupMember<'a>, MAX_WELCOME_MEMBERS>,
    /// The group's audience consent, if it has one (the same on every page).
    pub consent: Option<GroupConsent>,
}

impl GroupWelcome<'_> {
    /// Copies borrowed parts.
    pub fn into_owned(self) -> GroupWelcome<'static> {
        GroupWelcome {
            group_id: self.group_id,
            epoch: self.epoch,
            membership_hash: self.membership_hash,
            page: self.page,
            page_count: self.page_count,
            members: self.members.map(GroupMember::into_owned),
            consent: self.consent,
        }
    }

    pub(crate) fn validate(&self) -> Result<(), WireError> {
        // In field order: `page`, then `page_count`, then the members.
        if self.page >= self.page_count {
            return Err(WireError::InvalidField {
                field: "page",
                reason: "not below page_count",
            });
        }
        if self.page_count > MAX_WELCOME_PAGES {
            return Err(WireError::LimitExceeded {
                field: "page_count",
                len: self.page_count as usize,
                max: MAX_WELCOME_PAGES as usize,
            });
        }
        self.members.check_len("members")?;
        self.members
            .as_slice()
            .iter()
            .try_for_each(GroupMember::validate)
    }
}

/// Tag 31: one group message for the relay to fan out, device to relay. The
/// relay hands each recipient the envelope `(recipient, GroupMessage,
/// franking_commitment, sealed_body)` with its own franking stamp.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupSend<'a> {
    /// The member devices to deliver to, at most [`MAX_GROUP_MEMBERS`].
    #[serde(borrow)]
    pub recipients: BoundedVec<DeviceAddress<'a>, MAX_GROUP_MEMBERS>,
    /// The message's franking commitment, the same for every recipient.
    pub franking_commitment: FrankingCommitment,
    /// The [`GroupMessage`] frame, at most [`MAX_SEALED_BODY_LEN`] bytes.
    #[serde(borrow)]
    pub sealed_body: Opaque<'a>,
}

impl GroupSend<'_> {
    /// Copies borrowed parts.
    pub fn into_owned(self) -> GroupSend<'static> {
        GroupSend {
            recipients: self.recipients.map(DeviceAddress::into_owned),
            franking_commitment: self.franking_commitment,
            sealed_body: self.sealed_body.into_owned(),
        }
    }

    /// The envelope the relay stores for one recipient: what the recipient
    /// receives, stamped, in a `Delivered` record.
    pub fn envelope_for<'b>(&'b self, recipient: &DeviceAddress<'b>) -> crate::RoutingEnvelope<'b> {
        crate::RoutingEnvelope {
            recipient: recipient.clone(),
            content_kind: crate::ContentKind::GroupMessage,
            franking_commitment: self.franking_commitment,
            sealed_body: Opaque::borrowed(self.sealed_body.as_bytes()),
        }
    }

    pub(crate) fn validate(&self) -> Result<(), WireError> {
        self.recipients.check_len("recipients")?;
        self.recipients
            .as_slice()
            .iter()
            .try_for_each(DeviceAddress::validate)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted_and_compared_by_value() {
        let key = SenderChainKey([0xab; 32]);
        assert_eq!(format!("{key:?}"), "SenderChainKey(<redacted>)");
        assert_eq!(key, SenderChainKey([0xab; 32]));
        assert_ne!(key, SenderChainKey([0xac; 32]));
        let consent = GroupConsent([0xcd; 32]);
        assert_eq!(format!("{consent:?}"), "GroupConsent(<redacted>)");
    }
}
