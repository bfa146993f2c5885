//! Sender chains: the one a device sends a group epoch's messages from, and
//! the ones it holds to open the other members' messages. Receiving is
//! planned first and applied only after the message opened, as in the
//! Double Ratchet.

use rand_core::CryptoRng;

use fuin_wire::{DeviceAddress, GroupId, MembershipHash, SenderChainKey, SenderKeyDistribution};

use super::chain::{ChainIdentity, GroupChainKey, GroupMessageKey};
use super::skipped::{GroupSkippedKeys, MAX_GROUP_SKIP};
use crate::SealError;
use crate::primitives::signing::{SigningSecret, VerifyingSigningKey};

/// The chain this device sends from in one epoch, with its signing key.
#[derive(Clone)]
pub(crate) struct SendingChain {
    pub(crate) chain: GroupChainKey,
    pub(crate) iteration: u32,
    pub(crate) signing: SigningSecret,
}

impl SendingChain {
    /// A fresh chain: a random chain key at iteration 0 and a new signing key.
    pub(crate) fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut bytes = [0u8; 32];
        rng.fill_bytes(&mut bytes);
        let chain = GroupChainKey::from_bytes(bytes);
        zeroize::Zeroize::zeroize(&mut bytes);
        Self {
            chain,
            iteration: 0,
            signing: SigningSecret::generate(rng),
        }
    }

    /// The chain's distribution, the same for every member it goes to.
    pub(crate) fn distribution(
        &self,
        group_id: GroupId,
        epoch: u64,
        membership_hash: MembershipHash,
        sender: &DeviceAddress<'static>,
    ) -> SenderKeyDistribution<'static> {
        SenderKeyDistribution {
            group_id,
            epoch,
            membership_hash,
            sender: sender.clone(),
            iteration: self.iteration,
            chain_key: SenderChainKey(*self.chain.expose()),
            signing_key: self.signing.public_key(),
        }
    }

    /// The chain's fingerprint as it is now (call it before the first
    /// message, when it equals the distributed one).
    pub(crate) fn fingerprint(
        &self,
        group_id: &GroupId,
        epoch: u64,
        sender: &DeviceAddress<'static>,
    ) -> [u8; 32] {
        ChainIdentity {
            group_id,
            epoch,
            sender,
            iteration: self.iteration,
            chain_key: &self.chain,
            signing_key: &self.signing.public_key(),
        }
        .fingerprint()
    }

    /// The next message's iteration and key, and the chain key after it. A
    /// chain never uses iteration 2^32 − 1 (it would have no next key).
    pub(crate) fn plan(&self) -> Result<(u32, GroupMessageKey, GroupChainKey), SealError> {
        if self.iteration == u32::MAX {
            return Err(SealError::InvalidState);
        }
        let (key, next) = self.chain.step();
        Ok((self.iteration, key, next))
    }

    /// Commits a planned step whose message was sealed.
    pub(crate) fn advance(&mut self, next: GroupChainKey) {
        self.chain = next;
        self.iteration += 1;
    }
}

/// Another member's chain, as received: the key of the next iteration
/// expected, and what the gap and the view need.
#[derive(Clone)]
pub(crate) struct ReceivingChain {
    pub(crate) chain: GroupChainKey,
    pub(crate) next: u32,
    /// The iteration the distribution started at.
    pub(crate) start: u32,
    /// The highest iteration opened so far.
    pub(crate) highest: Option<u32>,
    pub(crate) signing_key: VerifyingSigningKey,
    pub(crate) fingerprint: [u8; 32],
}

/// What opening one message would change in its chain.
pub(crate) struct ReceivePlan {
    pub(crate) key: GroupMessageKey,
    /// The key was a kept one: the message arrived after later ones.
    pub(crate) kept: bool,
    pub(crate) change: ChainChange,
}

pub(crate) enum ChainChange {
    UseKept,
    Advance {
        skipped: Vec<(u32, GroupMessageKey)>,
        chain: GroupChainKey,
        next: u32,
    },
}

impl ReceivingChain {
    /// A chain from a checked distribution and its decoded signing key.
    pub(crate) fn from_distribution(
        distribution: &SenderKeyDistribution<'_>,
        signing_key: VerifyingSigningKey,
        fingerprint: [u8; 32],
    ) -> Self {
        Self {
            chain: GroupChainKey::from_bytes(distribution.chain_key.0),
            next: distribution.iteration,
            start: distribution.iteration,
            highest: None,
            signing_key,
            fingerprint,
        }
    }

    /// The key for `iteration` and what using it changes, without changing
    /// anything: a kept key (late message), or a walk of the chain that keeps
    /// the keys passed over. `kept_for_chain` is how many keys the group
    /// keeps for this chain already.
    pub(crate) fn plan(
        &self,
        iteration: u32,
        kept: Option<&GroupMessageKey>,
        kept_for_chain: usize,
    ) -> Result<ReceivePlan, SealError> {
        if let Some(key) = kept {
            return Ok(ReceivePlan {
                key: key.clone(),
                kept: true,
                change: ChainChange::UseKept,
            });
        }
        // No sender uses the last iteration, so a header claiming it is not
        // a message of the chain.
        let next = iteration
            .checked_add(1)
            .ok_or(SealError::DecryptionFailed)?;
        if iteration < self.next {
            return Err(SealError::DuplicateMessage);
        }
        let skip = u64::from(iteration - self.next) + kept_for_chain as u64;
        if skip > u64::from(MAX_GROUP_SKIP) {
            return Err(SealError::TooFarAhead {
                skip,
                max: MAX_GROUP_SKIP,
            });
        }
        let mut skipped = Vec::with_capacity((iteration - self.next) as usize);
        let mut chain = self.chain.clone();
        for passed in self.next..iteration {
            let (key, after) = chain.step();
            skipped.push((passed, key));
            chain = after;
        }
        let (key, chain) = chain.step();
        Ok(ReceivePlan {
            key,
            kept: false,
            change: ChainChange::Advance {
                skipped,
                chain,
                next,
            },
        })
    }

    /// Applies a plan whose message opened: kept keys go to `skipped` under
    /// `epoch` and `sender`, stored at `now_ms`.
    pub(crate) fn apply(
        &mut self,
        plan: ReceivePlan,
        iteration: u32,
        epoch: u64,
        sender: &DeviceAddress<'static>,
        skipped: &mut GroupSkippedKeys,
        now_ms: u64,
    ) {
        match plan.change {
            ChainChange::UseKept => skipped.remove(&(epoch, sender.clone(), iteration)),
            ChainChange::Advance {
                skipped: passed,
                chain,
                next,
            } => {
                for (position, key) in passed {
                    skipped.insert((epoch, sender.clone(), position), key, now_ms);
                }
                self.chain = chain;
                self.next = next;
            }
        }
        if self.highest.is_none_or(|highest| iteration > highest) {
            self.highest = Some(iteration);
        }
    }
}
