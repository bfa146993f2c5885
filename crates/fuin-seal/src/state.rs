//! Saving and restoring state, and encrypting it at rest.
//!
//! State serializes to `version byte || postcard body`. The body holds secret
//! keys, so the bytes come back in a wiping buffer and the client stores them
//! only after [`seal_with_storage_key`].
//!
//! Version 1 is the only version so far; a state saved by it is pinned in
//! `test-vectors/seal/saved-state-v1.json` and must keep loading.

use rand_core::CryptoRng;
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::SealError;
use crate::identity::DeviceIdentity;
use crate::prekeys::PrekeyStore;
use crate::primitives::aead;
use crate::primitives::kdf::Label;
use crate::primitives::secret::secret_bytes;
use crate::primitives::signing::SigningSecret;
use crate::primitives::x25519::AgreementSecret;
use crate::ratchet::{Ratchet, SavedRatchet};
use crate::session::{PendingPrekey, Session};
use fuin_wire::{DeviceAddress, PrekeyId, PublicIdentity, SignedPrekey, UserId, X25519PublicKey};

/// The state format this version writes.
pub const STATE_VERSION: u8 = 1;

/// Encodes secret state as `version byte || postcard body` into one buffer
/// that is wiped on drop. Its size is computed first and the buffer is
/// allocated once at exactly that size, so no growing vector leaves a copy
/// of a secret behind in freed memory. Every saved state (identity, prekeys,
/// session, group) is encoded by this one function.
pub(crate) fn encode<T: Serialize>(value: &T) -> Result<Zeroizing<Vec<u8>>, SealError> {
    let body_len =
        postcard::experimental::serialized_size(value).map_err(|_| SealError::InvalidState)?;
    let total = body_len.checked_add(1).ok_or(SealError::InvalidState)?;
    let mut out = Zeroizing::new(vec![0u8; total]);
    let (version, body) = out.split_at_mut(1);
    version[0] = STATE_VERSION;
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
    match postcard::take_from_bytes(body) {
        Ok((value, [])) => Ok(value),
        _ => Err(SealError::InvalidState),
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

#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
struct SavedPrekeys {
    #[zeroize(skip)]
    signed: Vec<SignedPrekey>,
    signed_secrets: Vec<[u8; 32]>,
    one_time: Vec<(u32, [u8; 32])>,
    next_id: u32,
}

impl PrekeyStore {
    /// Serializes the store, secrets included.
    pub fn to_bytes(&self) -> Result<Zeroizing<Vec<u8>>, SealError> {
        encode(&SavedPrekeys {
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
            next_id: self.next_id,
        })
    }

    /// Restores a store saved by [`PrekeyStore::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SealError> {
        let saved: SavedPrekeys = decode(bytes)?;
        if saved.signed.len() != saved.signed_secrets.len() {
            return Err(SealError::InvalidState);
        }
        Ok(Self {
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
    pending_prekey: Option<(X25519PublicKey, PrekeyId, Option<PrekeyId>)>,
    #[zeroize(skip)]
    initiator_base_key: Option<X25519PublicKey>,
    next_sequence: u64,
    highest_received_sequence: Option<u64>,
}

impl Session {
    /// Serializes the session, keys included.
    pub fn to_bytes(&self) -> Result<Zeroizing<Vec<u8>>, SealError> {
        encode(&SavedSession {
            local_address: self.local_address.clone(),
            local_identity: self.local_identity.clone(),
            peer_address: self.peer_address.clone(),
            peer_identity: self.peer_identity.clone(),
            ratchet: self.ratchet.to_saved(),
            pending_prekey: self
                .pending_prekey
                .map(|p| (p.base_key, p.signed_prekey_id, p.one_time_prekey_id)),
            initiator_base_key: self.initiator_base_key,
            next_sequence: self.next_sequence,
            highest_received_sequence: self.highest_received_sequence,
        })
    }

    /// Restores a session saved by [`Session::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SealError> {
        let saved: SavedSession<'_> = decode(bytes)?;
        Ok(Self {
            local_address: checked_address(&saved.local_address)?,
            local_identity: saved.local_identity.clone(),
            peer_address: checked_address(&saved.peer_address)?,
            peer_identity: saved.peer_identity.clone(),
            ratchet: Ratchet::from_saved(&saved.ratchet)?,
            pending_prekey: saved.pending_prekey.map(
                |(base_key, signed_prekey_id, one_time_prekey_id)| PendingPrekey {
                    base_key,
                    signed_prekey_id,
                    one_time_prekey_id,
                },
            ),
            initiator_base_key: saved.initiator_base_key,
            next_sequence: saved.next_sequence,
            highest_received_sequence: saved.highest_received_sequence,
        })
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
