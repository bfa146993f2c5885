//! One epoch's member list, in canonical order, and its hash.

use fuin_wire::group::MAX_GROUP_MEMBERS;
use fuin_wire::{DeviceAddress, GroupId, GroupMember, MembershipHash, PublicIdentity};

use crate::SealError;
use crate::primitives::framing::Framer;
use crate::primitives::kdf::Label;
use crate::primitives::sha256;

/// The member devices of one epoch of a group: at least one, at most
/// [`MAX_GROUP_MEMBERS`], each address once, ordered by address (user id
/// bytes, then device id). Its hash names the group, the epoch and every
/// member's address and identity keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    group_id: GroupId,
    epoch: u64,
    members: Vec<GroupMember<'static>>,
    hash: MembershipHash,
}

/// `SHA-256(framed("fuin/v1/group-membership", group id, BE64(epoch),
/// BE32(n), then per member: user id, BE32(device), signing key, agreement
/// key))` over members in canonical order.
pub fn membership_hash(
    group_id: &GroupId,
    epoch: u64,
    members: &[GroupMember<'_>],
) -> MembershipHash {
    let mut framer = Framer::new(Label::GroupMembership.as_bytes());
    framer
        .field(group_id.as_bytes())
        .u64(epoch)
        // At most MAX_GROUP_MEMBERS, far below 2^32.
        .u32(members.len() as u32);
    for member in members {
        framer.address(&member.address).identity(&member.identity);
    }
    MembershipHash(sha256(&[&framer.finish()]))
}

impl Membership {
    /// Builds the membership of `epoch` from members in any order. Refuses
    /// an empty list, more than [`MAX_GROUP_MEMBERS`], and an address listed
    /// twice.
    pub fn new(
        group_id: GroupId,
        epoch: u64,
        mut members: Vec<GroupMember<'static>>,
    ) -> Result<Self, SealError> {
        members.sort_by(|a, b| a.address.cmp(&b.address));
        Self::from_sorted(group_id, epoch, members)
            .map_err(|reason| SealError::InvalidChange { reason })
    }

    /// Builds a membership from members that must already be in canonical
    /// order (a welcome's pages, saved state).
    pub(crate) fn from_sorted(
        group_id: GroupId,
        epoch: u64,
        members: Vec<GroupMember<'static>>,
    ) -> Result<Self, &'static str> {
        if members.is_empty() {
            return Err("a group has at least one member");
        }
        if members.len() > MAX_GROUP_MEMBERS {
            return Err("more member devices than a group may have");
        }
        if members
            .windows(2)
            .any(|pair| pair[0].address >= pair[1].address)
        {
            return Err("members out of order or listed twice");
        }
        let hash = membership_hash(&group_id, epoch, &members);
        Ok(Self {
            group_id,
            epoch,
            members,
            hash,
        })
    }

    /// The group.
    pub fn group_id(&self) -> &GroupId {
        &self.group_id
    }

    /// The epoch.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The members, in canonical order.
    pub fn members(&self) -> &[GroupMember<'static>] {
        &self.members
    }

    /// The number of member devices.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Always false: a membership has at least one member.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// The membership hash.
    pub fn hash(&self) -> &MembershipHash {
        &self.hash
    }

    /// Whether `address` is a member.
    pub fn contains(&self, address: &DeviceAddress<'_>) -> bool {
        self.position(address).is_some()
    }

    /// The identity the group knows `address` by, if it is a member.
    pub fn identity_of(&self, address: &DeviceAddress<'_>) -> Option<&PublicIdentity> {
        self.position(address)
            .map(|index| &self.members[index].identity)
    }

    fn position(&self, address: &DeviceAddress<'_>) -> Option<usize> {
        self.members
            .binary_search_by(|member| member.address.cmp(address))
            .ok()
    }

    /// The membership of the next epoch after adding `added`: each must not
    /// be a member already, nor listed twice.
    pub fn with_added(&self, added: &[GroupMember<'_>]) -> Result<Self, SealError> {
        if added.is_empty() {
            return Err(SealError::InvalidChange {
                reason: "an addition names no member",
            });
        }
        let mut members = self.members.clone();
        for member in added {
            if self.contains(&member.address) {
                return Err(SealError::InvalidChange {
                    reason: "an added device is a member already",
                });
            }
            members.push(member.clone().into_owned());
        }
        Self::new(self.group_id, self.next_epoch()?, members)
    }

    /// The membership of the next epoch without `removed`: each must be a
    /// member, listed once.
    pub fn without(&self, removed: &[DeviceAddress<'_>]) -> Result<Self, SealError> {
        if removed.is_empty() {
            return Err(SealError::InvalidChange {
                reason: "a removal names no member",
            });
        }
        let mut members = self.members.clone();
        for address in removed {
            let before = members.len();
            members.retain(|member| member.address != *address);
            if members.len() == before {
                return Err(SealError::InvalidChange {
                    reason: "a removed device is not a member (or is named twice)",
                });
            }
        }
        let next = self.next_epoch()?;
        Self::from_sorted(self.group_id, next, members)
            .map_err(|reason| SealError::InvalidChange { reason })
    }

    /// The same members in the next epoch.
    pub fn with_same_members(&self) -> Result<Self, SealError> {
        let next = self.next_epoch()?;
        Self::from_sorted(self.group_id, next, self.members.clone())
            .map_err(|reason| SealError::InvalidChange { reason })
    }

    fn next_epoch(&self) -> Result<u64, SealError> {
        self.epoch.checked_add(1).ok_or(SealError::InvalidChange {
            reason: "the epoch counter is exhausted",
        })
    }
}
