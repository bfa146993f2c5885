//! The Double Ratchet: a Diffie-Hellman ratchet that renews the root key
//! whenever the peer's ratchet key changes, and symmetric chains that give
//! every message its own key.
//!
//! Receiving is planned first and applied only after the message decrypted,
//! so a forged or corrupt message leaves the state exactly as it was.
//!
//! Our new ratchet key is drawn when we next send, not when a new peer key
//! arrives, so opening a message needs no randomness.

mod keys;
mod skipped;

use std::collections::VecDeque;

use rand_core::CryptoRng;
use serde::{Deserialize, Serialize};

pub use keys::{ChainKey, MessageKey, RootKey};
pub use skipped::{MAX_SKIPPED_KEYS, SKIPPED_KEY_LIFETIME_MS};
use skipped::{SavedSkippedKey, SkippedKeys};

use crate::SealError;
use crate::primitives::x25519::AgreementSecret;
use fuin_wire::{MessageSalt, RatchetHeader, X25519PublicKey};

/// The most message keys one received message may make the session skip in
/// one chain (messages that were dropped or are still on their way).
pub const MAX_SKIP: u32 = 1000;

/// How many of the peer's past ratchet keys are remembered, so that a replay
/// of an old chain's message is recognised as a duplicate.
const RETIRED_KEYS_KEPT: usize = 32;

#[derive(Clone)]
struct SendingChain {
    chain: ChainKey,
    counter: u32,
}

#[derive(Clone)]
struct ReceivingChain {
    ratchet_key: X25519PublicKey,
    chain: ChainKey,
    counter: u32,
}

/// One side's ratchet state.
#[derive(Clone)]
pub struct Ratchet {
    root: RootKey,
    own_ratchet: AgreementSecret,
    /// `None` until we next send after the peer's ratchet key changed.
    sending: Option<SendingChain>,
    previous_sending_length: u32,
    receiving: Option<ReceivingChain>,
    /// The peer's newest ratchet key.
    remote_ratchet: Option<X25519PublicKey>,
    retired_remote_keys: VecDeque<X25519PublicKey>,
    skipped: SkippedKeys,
}

/// What sealing one message would change, computed without changing it.
pub struct SendPlan {
    /// The message's header.
    pub header: RatchetHeader,
    /// The message's key.
    pub message_key: MessageKey,
    new_ratchet: Option<(RootKey, AgreementSecret)>,
    next_chain: ChainKey,
    next_counter: u32,
}

/// What opening one message would change, computed without changing it.
pub struct ReceivePlan {
    /// The message's key.
    pub message_key: MessageKey,
    /// Whether the message came from a kept skipped key (it arrived late).
    pub late: bool,
    change: Change,
}

enum Change {
    UseSkipped {
        ratchet_key: X25519PublicKey,
        counter: u32,
    },
    Advance {
        skipped: Vec<(u32, MessageKey)>,
        chain: ChainKey,
        counter: u32,
    },
    NewChain {
        old_chain_skipped: Vec<(X25519PublicKey, u32, MessageKey)>,
        root: RootKey,
        receiving: ReceivingChain,
        skipped: Vec<(u32, MessageKey)>,
    },
}

/// Where a chain walk ends: the keys of the positions passed over, the key at
/// the target position, and the chain key after it.
type Walk = (Vec<(u32, MessageKey)>, MessageKey, ChainKey);

/// Steps `chain` (now at position `from`) to position `to`. The chain keeps
/// at most [`MAX_SKIP`] skipped keys: `already` it holds, plus the new ones.
fn walk_chain(chain: &ChainKey, from: u32, to: u32, already: usize) -> Result<Walk, SealError> {
    let skip = u64::from(to) - u64::from(from) + already as u64;
    if skip > u64::from(MAX_SKIP) {
        return Err(SealError::TooFarAhead {
            skip,
            max: MAX_SKIP,
        });
    }
    let mut skipped = Vec::with_capacity(skip as usize);
    let mut chain = chain.clone();
    for counter in from..to {
        let (key, next) = chain.step();
        skipped.push((counter, key));
        chain = next;
    }
    let (key, next) = chain.step();
    Ok((skipped, key, next))
}

impl Ratchet {
    /// The initiator's state after the handshake: it draws its first ratchet
    /// key and can send at once, towards the responder's signed prekey.
    pub fn initiator<R: CryptoRng + ?Sized>(
        rng: &mut R,
        shared: RootKey,
        responder_ratchet: X25519PublicKey,
    ) -> Result<Self, SealError> {
        let own_ratchet = AgreementSecret::generate(rng);
        let (root, chain) = shared.step(&own_ratchet.agree(&responder_ratchet)?);
        Ok(Self {
            root,
            own_ratchet,
            sending: Some(SendingChain { chain, counter: 0 }),
            previous_sending_length: 0,
            receiving: None,
            remote_ratchet: Some(responder_ratchet),
            retired_remote_keys: VecDeque::new(),
            skipped: SkippedKeys::default(),
        })
    }

    /// The responder's state after the handshake: its signed prekey is its
    /// first ratchet key; it sends only after its first receive.
    pub fn responder(shared: RootKey, signed_prekey: AgreementSecret) -> Self {
        Self {
            root: shared,
            own_ratchet: signed_prekey,
            sending: None,
            previous_sending_length: 0,
            receiving: None,
            remote_ratchet: None,
            retired_remote_keys: VecDeque::new(),
            skipped: SkippedKeys::default(),
        }
    }

    /// Whether the session can send (the responder cannot before it received).
    pub fn can_send(&self) -> bool {
        self.sending.is_some() || self.remote_ratchet.is_some()
    }

    /// Works out the next message's header and key, and the state after
    /// it, without changing anything. A new sending ratchet key is drawn
    /// here if the peer's key changed since we last sent.
    pub fn plan_send<R: CryptoRng + ?Sized>(&self, rng: &mut R) -> Result<SendPlan, SealError> {
        let (new_ratchet, chain, counter) = match &self.sending {
            Some(sending) => (None, sending.chain.clone(), sending.counter),
            None => {
                let remote = self.remote_ratchet.ok_or(SealError::InvalidState)?;
                let own_ratchet = AgreementSecret::generate(rng);
                let (root, chain) = self.root.step(&own_ratchet.agree(&remote)?);
                (Some((root, own_ratchet)), chain, 0)
            }
        };
        let next_counter = counter.checked_add(1).ok_or(SealError::InvalidState)?;
        let ratchet_key = match &new_ratchet {
            Some((_, own_ratchet)) => own_ratchet.public_key(),
            None => self.own_ratchet.public_key(),
        };
        // Fresh for every message, whatever the state: a state restored from
        // a backup or cloned takes the same message key again, and the salt
        // still gives that message its own AEAD key and nonce.
        let mut salt = [0u8; MessageSalt::LEN];
        rng.fill_bytes(&mut salt);
        let (message_key, next_chain) = chain.step();
        Ok(SendPlan {
            header: RatchetHeader {
                ratchet_key,
                previous_chain_length: self.previous_sending_length,
                counter,
                salt: MessageSalt(salt),
            },
            message_key,
            new_ratchet,
            next_chain,
            next_counter,
        })
    }

    /// Applies a plan whose message was sealed.
    pub fn apply_send(&mut self, plan: SendPlan) {
        if let Some((root, own_ratchet)) = plan.new_ratchet {
            self.root = root;
            self.own_ratchet = own_ratchet;
        }
        self.sending = Some(SendingChain {
            chain: plan.next_chain,
            counter: plan.next_counter,
        });
    }

    /// Works out the key for a received header and what using it would
    /// change, without changing anything.
    pub fn plan_receive(
        &self,
        header: &RatchetHeader,
        now_ms: u64,
    ) -> Result<ReceivePlan, SealError> {
        // No sender uses the last counter (its chain would have no next one),
        // so a header claiming it is not a message.
        let next_counter = header
            .counter
            .checked_add(1)
            .ok_or(SealError::DecryptionFailed)?;
        if let Some(key) = self
            .skipped
            .get_unexpired(&header.ratchet_key, header.counter, now_ms)
        {
            return Ok(ReceivePlan {
                message_key: key.clone(),
                late: true,
                change: Change::UseSkipped {
                    ratchet_key: header.ratchet_key,
                    counter: header.counter,
                },
            });
        }
        if let Some(receiving) = &self.receiving
            && receiving.ratchet_key == header.ratchet_key
        {
            if header.counter < receiving.counter {
                return Err(SealError::DuplicateMessage);
            }
            let already = self.skipped.count_for_chain(&receiving.ratchet_key);
            let (skipped, message_key, chain) =
                walk_chain(&receiving.chain, receiving.counter, header.counter, already)?;
            return Ok(ReceivePlan {
                message_key,
                late: false,
                change: Change::Advance {
                    skipped,
                    chain,
                    counter: next_counter,
                },
            });
        }
        if self.retired_remote_keys.contains(&header.ratchet_key) {
            return Err(SealError::DuplicateMessage);
        }
        // A new ratchet key from the peer: keep the keys of the current
        // receiving chain's messages that did not arrive, then step the root.
        let mut old_chain_skipped = Vec::new();
        if let Some(receiving) = &self.receiving
            && header.previous_chain_length > receiving.counter
        {
            let already = self.skipped.count_for_chain(&receiving.ratchet_key);
            let (skipped, last, _) = walk_chain(
                &receiving.chain,
                receiving.counter,
                header.previous_chain_length - 1,
                already + 1,
            )?;
            old_chain_skipped = skipped
                .into_iter()
                .chain(std::iter::once((header.previous_chain_length - 1, last)))
                .map(|(counter, key)| (receiving.ratchet_key, counter, key))
                .collect();
        }
        let (root, chain) = self
            .root
            .step(&self.own_ratchet.agree(&header.ratchet_key)?);
        let (skipped, message_key, chain) = walk_chain(&chain, 0, header.counter, 0)?;
        Ok(ReceivePlan {
            message_key,
            late: false,
            change: Change::NewChain {
                old_chain_skipped,
                root,
                receiving: ReceivingChain {
                    ratchet_key: header.ratchet_key,
                    chain,
                    counter: next_counter,
                },
                skipped,
            },
        })
    }

    /// Applies a plan whose message opened, at time `now_ms`.
    pub fn apply(&mut self, plan: ReceivePlan, now_ms: u64) {
        match plan.change {
            Change::UseSkipped {
                ratchet_key,
                counter,
            } => self.skipped.remove(&ratchet_key, counter),
            Change::Advance {
                skipped,
                chain,
                counter,
            } => {
                if let Some(receiving) = self.receiving.as_mut() {
                    for (position, key) in skipped {
                        self.skipped
                            .insert((receiving.ratchet_key.0, position), key, now_ms);
                    }
                    receiving.chain = chain;
                    receiving.counter = counter;
                }
            }
            Change::NewChain {
                old_chain_skipped,
                root,
                receiving,
                skipped,
            } => {
                for (ratchet_key, position, key) in old_chain_skipped {
                    self.skipped.insert((ratchet_key.0, position), key, now_ms);
                }
                for (position, key) in skipped {
                    self.skipped
                        .insert((receiving.ratchet_key.0, position), key, now_ms);
                }
                if let Some(old) = self.remote_ratchet.replace(receiving.ratchet_key)
                    && old != receiving.ratchet_key
                {
                    self.retired_remote_keys.push_back(old);
                    if self.retired_remote_keys.len() > RETIRED_KEYS_KEPT {
                        self.retired_remote_keys.pop_front();
                    }
                }
                self.root = root;
                self.receiving = Some(receiving);
                if let Some(sending) = self.sending.take() {
                    self.previous_sending_length = sending.counter;
                }
            }
        }
        self.skipped.expire(now_ms);
    }

    /// Number of skipped keys kept.
    pub fn skipped_len(&self) -> usize {
        self.skipped.len()
    }

    pub(crate) fn to_saved(&self) -> SavedRatchet {
        SavedRatchet {
            root: *self.root.expose(),
            own_ratchet: *self.own_ratchet.to_bytes(),
            sending: self
                .sending
                .as_ref()
                .map(|s| (*s.chain.expose(), s.counter)),
            previous_sending_length: self.previous_sending_length,
            receiving: self
                .receiving
                .as_ref()
                .map(|r| (r.ratchet_key.0, *r.chain.expose(), r.counter)),
            remote_ratchet: self.remote_ratchet.map(|key| key.0),
            retired_remote_keys: self.retired_remote_keys.iter().map(|key| key.0).collect(),
            skipped: self.skipped.to_saved(),
        }
    }

    pub(crate) fn from_saved(saved: &SavedRatchet) -> Result<Self, SealError> {
        // Saved state is ours, but it crosses a storage boundary: hold it to
        // the same bounds as a live session.
        if saved.skipped.len() > MAX_SKIPPED_KEYS
            || saved.retired_remote_keys.len() > RETIRED_KEYS_KEPT
        {
            return Err(SealError::InvalidState);
        }
        Ok(Self {
            root: RootKey::from_bytes(saved.root),
            own_ratchet: AgreementSecret::from_bytes(saved.own_ratchet),
            sending: saved.sending.map(|(chain, counter)| SendingChain {
                chain: ChainKey::from_bytes(chain),
                counter,
            }),
            previous_sending_length: saved.previous_sending_length,
            receiving: saved
                .receiving
                .map(|(ratchet_key, chain, counter)| ReceivingChain {
                    ratchet_key: X25519PublicKey(ratchet_key),
                    chain: ChainKey::from_bytes(chain),
                    counter,
                }),
            remote_ratchet: saved.remote_ratchet.map(X25519PublicKey),
            retired_remote_keys: saved
                .retired_remote_keys
                .iter()
                .copied()
                .map(X25519PublicKey)
                .collect(),
            skipped: SkippedKeys::from_saved(&saved.skipped),
        })
    }
}

/// The ratchet as saved in session state.
#[derive(Serialize, Deserialize, zeroize::Zeroize, zeroize::ZeroizeOnDrop)]
pub(crate) struct SavedRatchet {
    root: [u8; 32],
    own_ratchet: [u8; 32],
    sending: Option<([u8; 32], u32)>,
    previous_sending_length: u32,
    receiving: Option<([u8; 32], [u8; 32], u32)>,
    remote_ratchet: Option<[u8; 32]>,
    retired_remote_keys: Vec<[u8; 32]>,
    skipped: Vec<SavedSkippedKey>,
}

#[cfg(test)]
mod tests;
