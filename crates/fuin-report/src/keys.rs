//! The keys of moderation: its X25519 key pair (reports are sealed to the
//! public half), and its copy of the relay's franking stamp keys, each with
//! the time after which reports may no longer rely on it.
//!
//! Only encodings live here (bytes and text); reading and writing key files
//! is the caller's (the `fuin moderate` commands).

use std::collections::BTreeMap;
use std::fmt;

use fuin_seal::primitives::x25519::{AgreementSecret, check_public_key};
use fuin_wire::{StampKeyId, X25519PublicKey};
use rand_core::CryptoRng;
use zeroize::Zeroizing;

use crate::{Rejection, ReportError};

/// The first line of a public key's text form, naming its format.
const PUBLIC_KEY_TAG: &str = "fuin-moderation-public-key/v1";
/// The first bytes of a secret key's stored form.
const SECRET_KEY_MAGIC: &[u8; 8] = b"FUINMSK1";
/// The length of a secret key's stored form: magic, key id, secret.
pub const SECRET_KEY_FILE_LEN: usize = 8 + 4 + 32;

/// The public key reports are sealed to, with the id the sealed report
/// names it by. Apps get it from the moderation service (a file, a config).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModerationPublicKey {
    /// The key's id, chosen when the key was made; a new key gets a new id.
    pub key_id: u32,
    /// The X25519 public key.
    pub key: X25519PublicKey,
}

impl ModerationPublicKey {
    /// The text form: one line, `fuin-moderation-public-key/v1 ID HEX`.
    pub fn to_text(&self) -> String {
        format!(
            "{PUBLIC_KEY_TAG} {} {}\n",
            self.key_id,
            hex::encode(self.key.0)
        )
    }

    /// Reads the text form (surrounding whitespace ignored). A key of small
    /// order is [`ReportError::WeakPublicKey`]: nothing sealed to it would
    /// be secret.
    pub fn from_text(text: &str) -> Result<Self, ReportError> {
        let bad = |reason| ReportError::InvalidKey { reason };
        let mut parts = text.split_ascii_whitespace();
        if parts.next() != Some(PUBLIC_KEY_TAG) {
            return Err(bad("it is not a fuin moderation public key"));
        }
        let key_id = parts
            .next()
            .filter(|id| id.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|id| id.parse::<u32>().ok())
            .ok_or(bad("its key id is not a number"))?;
        let mut key = [0u8; 32];
        parts
            .next()
            .filter(|hex| hex.len() == 64)
            .and_then(|hex| hex::decode_to_slice(hex, &mut key).ok())
            .ok_or(bad("its key is not 64 hex digits"))?;
        if parts.next().is_some() {
            return Err(bad("something follows the key"));
        }
        let key = X25519PublicKey(key);
        check_public_key(&key).map_err(|_| ReportError::WeakPublicKey)?;
        Ok(Self { key_id, key })
    }
}

/// Moderation's secret key: wiped on drop; `Debug` shows its id and
/// public key only.
pub struct ModerationSecretKey {
    key_id: u32,
    bytes: Zeroizing<[u8; 32]>,
    secret: AgreementSecret,
}

impl ModerationSecretKey {
    /// Draws a new key with id `key_id`.
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R, key_id: u32) -> Self {
        let mut bytes = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(bytes.as_mut());
        Self::from_secret(key_id, bytes)
    }

    fn from_secret(key_id: u32, bytes: Zeroizing<[u8; 32]>) -> Self {
        let secret = AgreementSecret::from_bytes(*bytes);
        Self {
            key_id,
            bytes,
            secret,
        }
    }

    /// The key's id.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// The public half, to hand to apps.
    pub fn public_key(&self) -> ModerationPublicKey {
        ModerationPublicKey {
            key_id: self.key_id,
            key: self.secret.public_key(),
        }
    }

    /// The stored form ([`SECRET_KEY_FILE_LEN`] bytes: `FUINMSK1`, the key
    /// id as 4 bytes big-endian, the 32 secret bytes). Keep it in a file
    /// only its owner can read.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::with_capacity(SECRET_KEY_FILE_LEN));
        out.extend_from_slice(SECRET_KEY_MAGIC);
        out.extend_from_slice(&self.key_id.to_be_bytes());
        out.extend_from_slice(self.bytes.as_ref());
        out
    }

    /// Reads the stored form.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ReportError> {
        let bad = |reason| ReportError::InvalidKey { reason };
        if bytes.len() != SECRET_KEY_FILE_LEN {
            return Err(bad("a moderation secret key file is 44 bytes"));
        }
        let (magic, rest) = bytes.split_at(8);
        if magic != SECRET_KEY_MAGIC {
            return Err(bad("it is not a fuin moderation secret key"));
        }
        let (id, secret) = rest.split_at(4);
        let mut id_bytes = [0u8; 4];
        id_bytes.copy_from_slice(id);
        let mut key = Zeroizing::new([0u8; 32]);
        key.copy_from_slice(secret);
        Ok(Self::from_secret(u32::from_be_bytes(id_bytes), key))
    }

    pub(crate) fn agreement(&self) -> &AgreementSecret {
        &self.secret
    }
}

impl fmt::Debug for ModerationSecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ModerationSecretKey")
            .field("key_id", &self.key_id)
            .field("public", &self.secret.public_key())
            .finish_non_exhaustive()
    }
}

/// One stamp key as moderation holds it.
struct StampKeyEntry {
    key: Zeroizing<[u8; 32]>,
    not_after_ms: Option<u64>,
}

/// Moderation's copy of the relay's franking stamp keys, by key id, each
/// with an optional expiry: a report received by the relay after a key's
/// `not_after_ms` cannot rely on stamps made with it. `Debug` shows ids and
/// expiries only.
#[derive(Default)]
pub struct StampKeySet {
    keys: BTreeMap<u32, StampKeyEntry>,
}

impl StampKeySet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the relay's key `id`. `not_after_ms` (ms since the Unix epoch,
    /// inclusive) is when it stops being accepted; `None` for a key still
    /// in use. An id already in the set is [`ReportError::DuplicateStampKeyId`].
    pub fn insert(
        &mut self,
        id: StampKeyId,
        key: &[u8; 32],
        not_after_ms: Option<u64>,
    ) -> Result<(), ReportError> {
        match self.keys.entry(id.0) {
            std::collections::btree_map::Entry::Occupied(_) => {
                Err(ReportError::DuplicateStampKeyId { id: id.0 })
            }
            std::collections::btree_map::Entry::Vacant(slot) => {
                slot.insert(StampKeyEntry {
                    key: Zeroizing::new(*key),
                    not_after_ms,
                });
                Ok(())
            }
        }
    }

    /// The ids held, ascending, with their expiry.
    pub fn ids(&self) -> Vec<(StampKeyId, Option<u64>)> {
        self.keys
            .iter()
            .map(|(id, entry)| (StampKeyId(*id), entry.not_after_ms))
            .collect()
    }

    /// The key `id`, if it is held and has not expired at `at_ms`.
    pub(crate) fn usable(&self, id: StampKeyId, at_ms: u64) -> Result<&[u8; 32], Rejection> {
        let entry = self
            .keys
            .get(&id.0)
            .ok_or(Rejection::UnknownStampKey { id: id.0 })?;
        match entry.not_after_ms {
            Some(not_after) if at_ms > not_after => Err(Rejection::ExpiredStampKey { id: id.0 }),
            _ => Ok(&entry.key),
        }
    }
}

impl fmt::Debug for StampKeySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StampKeySet")
            .field("keys", &self.ids())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use rand_core::SeedableRng;

    #[test]
    fn keys_round_trip_through_their_stored_forms() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
        let secret = ModerationSecretKey::generate(&mut rng, 7);
        let again = ModerationSecretKey::from_bytes(&secret.to_bytes()).unwrap();
        assert_eq!(again.public_key(), secret.public_key());
        assert_eq!(again.key_id(), 7);
        let public = secret.public_key();
        assert_eq!(
            ModerationPublicKey::from_text(&public.to_text()).unwrap(),
            public
        );
    }

    #[test]
    fn malformed_and_weak_keys_are_refused() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(2);
        let secret = ModerationSecretKey::generate(&mut rng, 1);
        let bytes = secret.to_bytes();
        assert!(ModerationSecretKey::from_bytes(&bytes[..43]).is_err());
        let mut wrong_magic = bytes.to_vec();
        wrong_magic[0] ^= 1;
        assert!(ModerationSecretKey::from_bytes(&wrong_magic).is_err());
        let text = secret.public_key().to_text();
        for bad in [
            "",
            "fuin-moderation-public-key/v1 1",
            "fuin-moderation-public-key/v1 x 00",
            &text.replace("/v1", "/v2"),
            &format!("{} extra", text.trim()),
        ] {
            assert!(
                matches!(
                    ModerationPublicKey::from_text(bad),
                    Err(ReportError::InvalidKey { .. })
                ),
                "{bad:?}"
            );
        }
        let zero = format!("{PUBLIC_KEY_TAG} 1 {}", "00".repeat(32));
        assert_eq!(
            ModerationPublicKey::from_text(&zero),
            Err(ReportError::WeakPublicKey)
        );
    }

    #[test]
    fn debug_shows_no_secret_bytes() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(3);
        let secret = ModerationSecretKey::generate(&mut rng, 1);
        let shown = format!("{secret:?}");
        let secret_hex = hex::encode(&secret.to_bytes()[12..]);
        assert!(shown.starts_with("ModerationSecretKey { key_id: 1, public: "));
        assert!(!shown.contains(&secret_hex[..16]));
        let mut set = StampKeySet::new();
        set.insert(StampKeyId(1), &[0xab; 32], Some(5)).unwrap();
        assert_eq!(
            format!("{set:?}"),
            "StampKeySet { keys: [(StampKeyId(1), Some(5))] }"
        );
        assert_eq!(
            set.insert(StampKeyId(1), &[0; 32], None),
            Err(ReportError::DuplicateStampKeyId { id: 1 })
        );
    }
}
