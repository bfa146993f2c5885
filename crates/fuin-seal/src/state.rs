//! Saving and restoring state, and encrypting it at rest.
//!
//! State serializes to `version byte || postcard body`. The body holds secret
//! keys, so the bytes come back in a wiping buffer and the client stores them
//! only after [`seal_with_storage_key`].
//!
//! Identities and group states are written as version 1. Sessions and
//! prekey stores are written as version 2 (protocol version 3 added the KEM
//! prekeys and the post-quantum flag) and still load from version 1; a state
//! saved by version 1 is pinned in `test-vectors/seal/saved-state-v1.json`
//! and must keep loading.

use rand_core::CryptoRng;
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::SealError;
use crate::identity::DeviceIdentity;
use crate::prekeys::PrekeyStore;
use crate::primitives::aead;
use crate::primitives::kdf::Label;
use crate::primitives::kem::{self, KemSecret};
use crate::primitives::secret::secret_bytes;
use crate::primitives::signing::SigningSecret;
use crate::primitives::x25519::AgreementSecret;
use crate::ratchet::{Ratchet, SavedRatchet};
use crate::session::{PendingPrekey, Session};
use fuin_wire::{
    DeviceAddress, KemEncapsulation, KemPrekey, PrekeyId, PublicIdentity, SignedPrekey, UserId,
    X25519PublicKey,
};

/// The state format identities and group states are written in.
pub const STATE_VERSION: u8 = 1;

/// The state format sessions and prekey stores are written in (they load
/// from [`STATE_VERSION`] 1 too).
pub const SESSION_STATE_VERSION: u8 = 2;

/// Encodes secret state as `version byte || postcard body` into one buffer
/// that is wiped on drop. Its size is computed first and the buffer is
/// allocated once at exactly that size, so no growing vector leaves a copy
/// of a secret behind in freed memory. Every saved state (identity, prekeys,
/// session, group) is encoded by this one function.
pub(crate) fn encode<T: Serialize>(value: &T) -> Result<Zeroizing<Vec<u8>>, SealError> {
    encode_version(STATE_VERSION, value)
}

/// [`encode`] with another version byte.
fn encode_version<T: Serialize>(
    state_version: u8,
    value: &T,
) -> Result<Zeroizing<Vec<u8>>, SealError> {
    let body_len =
        postcard::experimental::serialized_size(value).map_err(|_| SealError::InvalidState)?;
    let total = body_len.checked_add(1).ok_or(SealError::InvalidState)?;
    let mut out = Zeroizing::new(vec![0u8; total]);
    let (version, body) = out.split_at_mut(1);
    version[0] = state_version;
    let written = postcard::to_slice(value, body)
        .map_err(|_| SealError::InvalidState)?
        .len();
    if written != body_len {
        return Err(SealError::InvalidState);
    }
    Ok(out)
}

fn decode<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, SealError> {
    let (&version, body) = bytes.split_first().ok_or(SealError::InvalidState)?;
    if version != STATE_VERSION {
        return Err(SealError::UnsupportedStateVersion { version });
    }
    decode_body(body)
}

fn decode_body<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, SealError> {
    match postcard::take_from_bytes(body) {
        Ok((value, [])) => Ok(value),
        _ => Err(SealError::InvalidState),
    }
}

/// The version byte of a session or prekey store, and its body.
fn split_session_state(bytes: &[u8]) -> Result<(u8, &[u8]), SealError> {
    let (&version, body) = bytes.split_first().ok_or(SealError::InvalidState)?;
    match version {
        STATE_VERSION | SESSION_STATE_VERSION => Ok((version, body)),
        _ => Err(SealError::UnsupportedStateVersion { version }),
    }
}

#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
struct SavedIdentity {
    signing_seed: [u8; 32],
    agreement_secret: [u8; 32],
}

impl DeviceIdentity {
    /// Serializes the identity, secrets included.
    pub fn to_bytes(&self) -> Result<Zeroizing<Vec<u8>>, SealError> {
        encode(&SavedIdentity {
            signing_seed: *self.signing().to_bytes(),
            agreement_secret: *self.agreement().to_bytes(),
        })
    }

    /// Restores an identity saved by [`DeviceIdentity::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SealError> {
        let saved: SavedIdentity = decode(bytes)?;
        Ok(Self::from_secrets(
            SigningSecret::from_bytes(saved.signing_seed),
            AgreementSecret::from_bytes(saved.agreement_secret),
        ))
    }
}

/// A prekey store as state version 1 wrote it (no KEM prekeys).
#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
struct SavedPrekeysV1 {
    #[zeroize(skip)]
    signed: Vec<SignedPrekey>,
    signed_secrets: Vec<[u8; 32]>,
    one_time: Vec<(u32, [u8; 32])>,
    next_id: u32,
}

/// A prekey store as state version 2 writes it. KEM secrets are their
/// 64-byte seeds.
#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
struct SavedPrekeys {
    #[zeroize(skip)]
    signed: Vec<SignedPrekey>,
    signed_secrets: Vec<[u8; 32]>,
    one_time: Vec<(u32, [u8; 32])>,
    #[zeroize(skip)]
    last_resort_kem: Vec<KemPrekey>,
    #[serde(with = "seeds")]
    last_resort_kem_secrets: Vec<[u8; kem::SEED_LEN]>,
    #[serde(with = "numbered_seeds")]
    one_time_kem: Vec<(u32, [u8; kem::SEED_LEN])>,
    next_id: u32,
}

/// serde for lists of 64-byte seeds (serde's arrays stop at 32): each seed
/// travels as its two 32-byte halves.
mod seeds {
    use super::kem::SEED_LEN;

    /// A seed's two halves.
    pub(super) type Halves = ([u8; 32], [u8; 32]);
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub(super) fn serialize<S: Serializer>(
        seeds: &[[u8; SEED_LEN]],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        let halves: Vec<Halves> = seeds.iter().map(split).collect();
        let out = halves.serialize(serializer);
        wipe(halves);
        out
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<[u8; SEED_LEN]>, D::Error> {
        let halves = Vec::<Halves>::deserialize(deserializer)?;
        let seeds = halves.iter().map(join).collect();
        wipe(halves);
        Ok(seeds)
    }

    pub(super) fn split(seed: &[u8; SEED_LEN]) -> Halves {
        let mut first = [0u8; 32];
        let mut second = [0u8; 32];
        first.copy_from_slice(&seed[..32]);
        second.copy_from_slice(&seed[32..]);
        (first, second)
    }

    pub(super) fn join(halves: &Halves) -> [u8; SEED_LEN] {
        let mut seed = [0u8; SEED_LEN];
        seed[..32].copy_from_slice(&halves.0);
        seed[32..].copy_from_slice(&halves.1);
        seed
    }

    pub(super) fn wipe<T: zeroize::Zeroize>(mut value: Vec<T>) {
        value.iter_mut().for_each(zeroize::Zeroize::zeroize);
    }
}

/// serde for `(id, seed)` lists.
mod numbered_seeds {
    use super::kem::SEED_LEN;
    use super::seeds::{Halves, join, split, wipe};
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub(super) fn serialize<S: Serializer>(
        seeds: &[(u32, [u8; SEED_LEN])],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        let halves: Vec<(u32, Halves)> =
            seeds.iter().map(|(id, seed)| (*id, split(seed))).collect();
        let out = halves.serialize(serializer);
        wipe(halves.into_iter().map(|(_, halves)| halves).collect());
        out
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<(u32, [u8; SEED_LEN])>, D::Error> {
        let halves = Vec::<(u32, Halves)>::deserialize(deserializer)?;
        let seeds = halves
            .iter()
            .map(|(id, halves)| (*id, join(halves)))
            .collect();
        wipe(halves.into_iter().map(|(_, halves)| halves).collect());
        Ok(seeds)
    }
}

impl PrekeyStore {
    /// Serializes the store, secrets included.
    pub fn to_bytes(&self) -> Result<Zeroizing<Vec<u8>>, SealError> {
        encode_version(
            SESSION_STATE_VERSION,
            &SavedPrekeys {
                signed: self
                    .signed
                    .iter()
                    .map(|(public, _)| public.clone())
                    .collect(),
                signed_secrets: self
                    .signed
                    .iter()
                    .map(|(_, secret)| *secret.to_bytes())
                    .collect(),
                one_time: self
                    .one_time
                    .iter()
                    .map(|(id, secret)| (*id, *secret.to_bytes()))
                    .collect(),
                last_resort_kem: self
                    .last_resort_kem
                    .iter()
                    .map(|(public, _)| public.clone())
                    .collect(),
                last_resort_kem_secrets: self
                    .last_resort_kem
                    .iter()
                    .map(|(_, secret)| *secret.seed())
                    .collect(),
                one_time_kem: self
                    .one_time_kem
                    .iter()
                    .map(|(id, secret)| (*id, *secret.seed()))
                    .collect(),
                next_id: self.next_id,
            },
        )
    }

    /// Restores a store saved by [`PrekeyStore::to_bytes`].
    ///
    /// A store saved by state version 1 loads without KEM prekeys: the
    /// caller makes a last-resort KEM prekey and one-time ones and publishes
    /// them.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SealError> {
        let saved: SavedPrekeys = match split_session_state(bytes)? {
            (STATE_VERSION, body) => {
                let old: SavedPrekeysV1 = decode_body(body)?;
                SavedPrekeys {
                    signed: old.signed.clone(),
                    signed_secrets: old.signed_secrets.clone(),
                    one_time: old.one_time.clone(),
                    last_resort_kem: Vec::new(),
                    last_resort_kem_secrets: Vec::new(),
                    one_time_kem: Vec::new(),
                    next_id: old.next_id,
                }
            }
            (_, body) => decode_body(body)?,
        };
        if saved.signed.len() != saved.signed_secrets.len()
            || saved.last_resort_kem.len() != saved.last_resort_kem_secrets.len()
            || saved.signed.len() > crate::SIGNED_PREKEYS_KEPT
            || saved.last_resort_kem.len() > crate::prekeys::LAST_RESORT_KEM_PREKEYS_KEPT
        {
            return Err(SealError::InvalidState);
        }
        let last_resort_kem = saved
            .last_resort_kem
            .iter()
            .cloned()
            .zip(
                saved
                    .last_resort_kem_secrets
                    .iter()
                    .map(|seed| KemSecret::from_seed(*seed)),
            )
            .collect();
        let one_time_kem = saved
            .one_time_kem
            .iter()
            .map(|(id, seed)| (*id, KemSecret::from_seed(*seed)))
            .collect();
        Ok(Self {
            last_resort_kem,
            one_time_kem,
            signed: saved
                .signed
                .iter()
                .cloned()
                .zip(
                    saved
                        .signed_secrets
                        .iter()
                        .map(|s| AgreementSecret::from_bytes(*s)),
                )
                .collect(),
            one_time: saved
                .one_time
                .iter()
                .map(|(id, secret)| (*id, AgreementSecret::from_bytes(*secret)))
                .collect(),
            next_id: saved.next_id,
        })
    }
}

/// A session as state version 1 wrote it (protocol version 2: no KEM).
#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
struct SavedSessionV1<'a> {
    #[zeroize(skip)]
    #[serde(borrow)]
    local_address: DeviceAddress<'a>,
    #[zeroize(skip)]
    local_identity: PublicIdentity,
    #[zeroize(skip)]
    #[serde(borrow)]
    peer_address: DeviceAddress<'a>,
    #[zeroize(skip)]
    peer_identity: PublicIdentity,
    ratchet: SavedRatchet,
    #[zeroize(skip)]
    pending_prekey: Option<(X25519PublicKey, PrekeyId, Option<PrekeyId>)>,
    #[zeroize(skip)]
    initiator_base_key: Option<X25519PublicKey>,
    next_sequence: u64,
    highest_received_sequence: Option<u64>,
}

/// A session as state version 2 writes it.
#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
struct SavedSession<'a> {
    #[zeroize(skip)]
    #[serde(borrow)]
    local_address: DeviceAddress<'a>,
    #[zeroize(skip)]
    local_identity: PublicIdentity,
    #[zeroize(skip)]
    #[serde(borrow)]
    peer_address: DeviceAddress<'a>,
    #[zeroize(skip)]
    peer_identity: PublicIdentity,
    ratchet: SavedRatchet,
    #[zeroize(skip)]
    pending_prekey: Option<(
        X25519PublicKey,
        PrekeyId,
        Option<PrekeyId>,
        Option<KemEncapsulation>,
    )>,
    #[zeroize(skip)]
    initiator_base_key: Option<X25519PublicKey>,
    next_sequence: u64,
    highest_received_sequence: Option<u64>,
    post_quantum: bool,
}

impl Session {
    /// Serializes the session, keys included.
    pub fn to_bytes(&self) -> Result<Zeroizing<Vec<u8>>, SealError> {
        encode_version(
            SESSION_STATE_VERSION,
            &SavedSession {
                local_address: self.local_address.clone(),
                local_identity: self.local_identity.clone(),
                peer_address: self.peer_address.clone(),
                peer_identity: self.peer_identity.clone(),
                ratchet: self.ratchet.to_saved(),
                pending_prekey: self.pending_prekey.as_ref().map(|p| {
                    (
                        p.base_key,
                        p.signed_prekey_id,
                        p.one_time_prekey_id,
                        p.kem.clone(),
                    )
                }),
                initiator_base_key: self.initiator_base_key,
                next_sequence: self.next_sequence,
                highest_received_sequence: self.highest_received_sequence,
                post_quantum: self.post_quantum,
            },
        )
    }

    /// Restores a session saved by [`Session::to_bytes`].
    ///
    /// A session saved by state version 1 (protocol version 2) loads as not
    /// post-quantum ([`Session::post_quantum`] is false).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SealError> {
        match split_session_state(bytes)? {
            (STATE_VERSION, body) => {
                let old: SavedSessionV1<'_> = decode_body(body)?;
                Ok(Self {
                    local_address: checked_address(&old.local_address)?,
                    local_identity: old.local_identity.clone(),
                    peer_address: checked_address(&old.peer_address)?,
                    peer_identity: old.peer_identity.clone(),
                    ratchet: Ratchet::from_saved(&old.ratchet)?,
                    pending_prekey: old.pending_prekey.map(
                        |(base_key, signed_prekey_id, one_time_prekey_id)| PendingPrekey {
                            base_key,
                            signed_prekey_id,
                            one_time_prekey_id,
                            kem: None,
                        },
                    ),
                    initiator_base_key: old.initiator_base_key,
                    next_sequence: old.next_sequence,
                    highest_received_sequence: old.highest_received_sequence,
                    post_quantum: false,
                })
            }
            (_, body) => {
                let saved: SavedSession<'_> = decode_body(body)?;
                // A hybrid session's prekey messages always carry the KEM
                // ciphertext; one without is corrupt state.
                if saved.post_quantum
                    && saved
                        .pending_prekey
                        .as_ref()
                        .is_some_and(|pending| pending.3.is_none())
                {
                    return Err(SealError::InvalidState);
                }
                Ok(Self {
                    local_address: checked_address(&saved.local_address)?,
                    local_identity: saved.local_identity.clone(),
                    peer_address: checked_address(&saved.peer_address)?,
                    peer_identity: saved.peer_identity.clone(),
                    ratchet: Ratchet::from_saved(&saved.ratchet)?,
                    pending_prekey: saved.pending_prekey.as_ref().map(
                        |(base_key, signed_prekey_id, one_time_prekey_id, kem)| PendingPrekey {
                            base_key: *base_key,
                            signed_prekey_id: *signed_prekey_id,
                            one_time_prekey_id: *one_time_prekey_id,
                            kem: kem.clone(),
                        },
                    ),
                    initiator_base_key: saved.initiator_base_key,
                    next_sequence: saved.next_sequence,
                    highest_received_sequence: saved.highest_received_sequence,
                    post_quantum: saved.post_quantum,
                })
            }
        }
    }
}

/// An address from saved state, held to the wire rules (serde bypasses them).
fn checked_address(address: &DeviceAddress<'_>) -> Result<DeviceAddress<'static>, SealError> {
    let user =
        UserId::new(address.user.as_str().to_owned()).map_err(|_| SealError::InvalidState)?;
    Ok(DeviceAddress::new(user, address.device))
}

secret_bytes!(
    /// A device's storage key: encrypts its state at rest. The client keeps
    /// it apart from the data (a 0600 key file, or the platform keystore).
    pub StorageKey
);

impl StorageKey {
    /// Draws a new storage key.
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut bytes = [0u8; 32];
        rng.fill_bytes(&mut bytes);
        let key = Self::from_bytes(bytes);
        bytes.zeroize();
        key
    }

    /// Restores a storage key from its 32 bytes.
    pub fn from_secret_bytes(bytes: [u8; 32]) -> Self {
        Self::from_bytes(bytes)
    }

    /// The key's bytes, for writing the key file.
    pub fn to_secret_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(*self.expose())
    }
}

const STORAGE_VERSION: u8 = 1;
const SALT_LEN: usize = 32;

/// Encrypts `plaintext` with the storage key. `context` names what the value
/// is (for example `"session:alice/1"`); it must be given again to open, so a
/// stored value cannot be swapped for another.
///
/// Layout: `version (1) || salt (32) || commitment (32) || ciphertext || tag (16)`;
/// a fresh random salt makes every encryption use its own key and nonce.
pub fn seal_with_storage_key<R: CryptoRng + ?Sized>(
    rng: &mut R,
    key: &StorageKey,
    context: &[u8],
    plaintext: &[u8],
) -> Vec<u8> {
    let mut salt = [0u8; SALT_LEN];
    rng.fill_bytes(&mut salt);
    let sealed = aead::seal(
        Label::StateEncryption,
        Some(&salt),
        key.expose(),
        context,
        plaintext,
    );
    let mut out = Vec::with_capacity(1 + SALT_LEN + sealed.len());
    out.push(STORAGE_VERSION);
    out.extend_from_slice(&salt);
    out.extend_from_slice(&sealed);
    out
}

/// Opens a value made by [`seal_with_storage_key`].
pub fn open_with_storage_key(
    key: &StorageKey,
    context: &[u8],
    sealed: &[u8],
) -> Result<Zeroizing<Vec<u8>>, SealError> {
    let (&version, rest) = sealed.split_first().ok_or(SealError::DecryptionFailed)?;
    if version != STORAGE_VERSION {
        return Err(SealError::UnsupportedStateVersion { version });
    }
    if rest.len() < SALT_LEN {
        return Err(SealError::DecryptionFailed);
    }
    let (salt, sealed) = rest.split_at(SALT_LEN);
    aead::open(
        Label::StateEncryption,
        Some(salt),
        key.expose(),
        context,
        sealed,
    )
    .map_err(|_| SealError::DecryptionFailed)
}
