//! Saving and restoring a group's state: `version byte || postcard body`, as
//! for sessions (`crate::state`), held on load to every bound a live state
//! keeps.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use fuin_wire::{
    DeviceAddress, Ed25519PublicKey, GroupConsent, GroupId, GroupMember, PublicIdentity, UserId,
    ViewHash,
};

use super::chain::{GroupChainKey, GroupMessageKey};
use super::membership::Membership;
use super::sender_chain::{ReceivingChain, SendingChain};
use super::skipped::{GroupSkippedKeys, MAX_GROUP_SKIP, MAX_GROUP_SKIPPED_KEYS};
use super::state::{Epoch, GroupState, MemberStatus};
use crate::SealError;
use crate::primitives::signing::{SigningSecret, VerifyingSigningKey};
use crate::state::STATE_VERSION;

#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
struct SavedGroup<'a> {
    #[zeroize(skip)]
    #[serde(borrow)]
    local: DeviceAddress<'a>,
    #[zeroize(skip)]
    local_identity: PublicIdentity,
    status: u8,
    #[serde(borrow)]
    current: SavedEpoch<'a>,
    #[serde(borrow)]
    previous: Option<SavedEpoch<'a>>,
    #[serde(borrow)]
    skipped: Vec<SavedKept<'a>>,
    consent: Option<[u8; 32]>,
}

#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
struct SavedEpoch<'a> {
    group_id: [u8; 32],
    epoch: u64,
    #[zeroize(skip)]
    #[serde(borrow)]
    members: Vec<GroupMember<'a>>,
    sending: Option<SavedSending>,
    own_fingerprint: Option<[u8; 32]>,
    #[serde(borrow)]
    receiving: Vec<SavedReceiving<'a>>,
    claimed_view: Option<[u8; 32]>,
}

#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
struct SavedSending {
    chain: [u8; 32],
    iteration: u32,
    signing_seed: [u8; 32],
}

#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
struct SavedReceiving<'a> {
    #[zeroize(skip)]
    #[serde(borrow)]
    sender: DeviceAddress<'a>,
    chain: [u8; 32],
    next: u32,
    start: u32,
    highest: Option<u32>,
    signing_key: [u8; 32],
    fingerprint: [u8; 32],
}

#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
struct SavedKept<'a> {
    epoch: u64,
    #[zeroize(skip)]
    #[serde(borrow)]
    sender: DeviceAddress<'a>,
    iteration: u32,
    key: [u8; 32],
    stored_at_ms: u64,
}

fn status_code(status: MemberStatus) -> u8 {
    match status {
        MemberStatus::Member => 0,
        MemberStatus::Removed => 1,
        MemberStatus::Left => 2,
    }
}

/// An address from saved state, held to the wire rules (serde bypasses them).
fn checked(address: &DeviceAddress<'_>) -> Result<DeviceAddress<'static>, SealError> {
    let user =
        UserId::new(address.user.as_str().to_owned()).map_err(|_| SealError::InvalidState)?;
    Ok(DeviceAddress::new(user, address.device))
}

fn save_epoch(epoch: &Epoch) -> SavedEpoch<'_> {
    SavedEpoch {
        group_id: epoch.membership.group_id().0,
        epoch: epoch.membership.epoch(),
        members: epoch.membership.members().to_vec(),
        sending: epoch.sending.as_ref().map(|sending| SavedSending {
            chain: *sending.chain.expose(),
            iteration: sending.iteration,
            signing_seed: *sending.signing.to_bytes(),
        }),
        own_fingerprint: epoch.own_fingerprint,
        receiving: epoch
            .receiving
            .iter()
            .map(|(sender, chain)| SavedReceiving {
                sender: sender.clone(),
                chain: *chain.chain.expose(),
                next: chain.next,
                start: chain.start,
                highest: chain.highest,
                signing_key: chain.signing_key.public_key().0,
                fingerprint: chain.fingerprint,
            })
            .collect(),
        claimed_view: epoch.claimed_view.map(|view| view.0),
    }
}

fn load_epoch(saved: &SavedEpoch<'_>, local: &DeviceAddress<'static>) -> Result<Epoch, SealError> {
    let members = saved
        .members
        .iter()
        .map(|member| {
            Ok(GroupMember {
                address: checked(&member.address)?,
                identity: member.identity.clone(),
            })
        })
        .collect::<Result<Vec<_>, SealError>>()?;
    let membership = Membership::from_sorted(GroupId(saved.group_id), saved.epoch, members)
        .map_err(|_| SealError::InvalidState)?;
    let mut receiving = BTreeMap::new();
    for chain in &saved.receiving {
        let sender = checked(&chain.sender)?;
        let consistent = chain.next >= chain.start
            && chain
                .highest
                .is_none_or(|highest| highest >= chain.start && highest < chain.next);
        if sender == *local || !membership.contains(&sender) || !consistent {
            return Err(SealError::InvalidState);
        }
        let restored = ReceivingChain {
            chain: GroupChainKey::from_bytes(chain.chain),
            next: chain.next,
            start: chain.start,
            highest: chain.highest,
            signing_key: VerifyingSigningKey::decode(&Ed25519PublicKey(chain.signing_key))
                .map_err(|_| SealError::InvalidState)?,
            fingerprint: chain.fingerprint,
        };
        if receiving.insert(sender, restored).is_some() {
            return Err(SealError::InvalidState);
        }
    }
    if saved.sending.is_some() && (saved.own_fingerprint.is_none() || !membership.contains(local)) {
        return Err(SealError::InvalidState);
    }
    let mut epoch = Epoch {
        membership,
        sending: saved.sending.as_ref().map(|sending| SendingChain {
            chain: GroupChainKey::from_bytes(sending.chain),
            iteration: sending.iteration,
            signing: SigningSecret::from_bytes(sending.signing_seed),
        }),
        own_fingerprint: saved.own_fingerprint,
        receiving,
        view: None,
        claimed_view: saved.claimed_view.map(ViewHash),
    };
    epoch.refresh_view(local);
    Ok(epoch)
}

impl GroupState {
    /// Serializes the state, keys included (store it only encrypted, with
    /// [`crate::state::seal_with_storage_key`]).
    pub fn to_bytes(&self) -> Result<Zeroizing<Vec<u8>>, SealError> {
        let saved = SavedGroup {
            local: self.local.clone(),
            local_identity: self.local_identity.clone(),
            status: status_code(self.status),
            current: save_epoch(&self.current),
            previous: self.previous.as_ref().map(save_epoch),
            skipped: self
                .skipped
                .iter()
                .map(|((epoch, sender, iteration), key, stored)| SavedKept {
                    epoch: *epoch,
                    sender: sender.clone(),
                    iteration: *iteration,
                    key: *key.expose(),
                    stored_at_ms: stored,
                })
                .collect(),
            consent: self.consent.as_ref().map(|consent| consent.0),
        };
        crate::state::encode(&saved)
    }

    /// Restores a state saved by [`GroupState::to_bytes`], refusing one that
    /// breaks any bound a live state keeps.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SealError> {
        let (&version, body) = bytes.split_first().ok_or(SealError::InvalidState)?;
        if version != STATE_VERSION {
            return Err(SealError::UnsupportedStateVersion { version });
        }
        let saved: SavedGroup<'_> = match postcard::take_from_bytes(body) {
            Ok((saved, [])) => saved,
            _ => return Err(SealError::InvalidState),
        };
        let local = checked(&saved.local)?;
        let status = match saved.status {
            0 => MemberStatus::Member,
            1 => MemberStatus::Removed,
            2 => MemberStatus::Left,
            _ => return Err(SealError::InvalidState),
        };
        let current = load_epoch(&saved.current, &local)?;
        let previous = saved
            .previous
            .as_ref()
            .map(|epoch| load_epoch(epoch, &local))
            .transpose()?;
        let local_known = current.membership.identity_of(&local) == Some(&saved.local_identity);
        let sends = current.sending.is_some() && current.own_fingerprint.is_some();
        let previous_fits = previous.as_ref().is_none_or(|previous| {
            previous.membership.group_id() == current.membership.group_id()
                && previous.membership.epoch() < current.membership.epoch()
                && previous.sending.is_none()
        });
        let status_fits = match status {
            MemberStatus::Member => sends,
            MemberStatus::Removed | MemberStatus::Left => current.sending.is_none(),
        };
        if !local_known || !previous_fits || !status_fits {
            return Err(SealError::InvalidState);
        }
        if saved.skipped.len() > MAX_GROUP_SKIPPED_KEYS {
            return Err(SealError::InvalidState);
        }
        let mut entries = Vec::with_capacity(saved.skipped.len());
        let mut per_chain: BTreeMap<(u64, DeviceAddress<'static>), u32> = BTreeMap::new();
        for kept in &saved.skipped {
            let sender = checked(&kept.sender)?;
            let epoch = if kept.epoch == current.membership.epoch() {
                Some(&current)
            } else {
                previous
                    .as_ref()
                    .filter(|previous| previous.membership.epoch() == kept.epoch)
            };
            let chain = epoch
                .and_then(|epoch| epoch.receiving.get(&sender))
                .ok_or(SealError::InvalidState)?;
            let count = per_chain.entry((kept.epoch, sender.clone())).or_default();
            *count += 1;
            if kept.iteration >= chain.next || *count > MAX_GROUP_SKIP {
                return Err(SealError::InvalidState);
            }
            entries.push((
                (kept.epoch, sender, kept.iteration),
                GroupMessageKey::from_bytes(kept.key),
                kept.stored_at_ms,
            ));
        }
        let skipped = GroupSkippedKeys::from_entries(entries);
        if skipped.len() != saved.skipped.len() {
            return Err(SealError::InvalidState);
        }
        Ok(Self {
            local,
            local_identity: saved.local_identity.clone(),
            status,
            current,
            previous,
            skipped,
            consent: saved.consent.map(GroupConsent),
        })
    }
}
