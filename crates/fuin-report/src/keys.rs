//! The keys of moderation: its hybrid key pair (X25519 + ML-KEM-768;
//! reports are sealed to the public half), and its copy of the relay's
//! franking stamp keys, each with the time after which reports may no
//! longer rely on it.
//!
//! Only encodings live here (bytes and text); reading and writing key files
//! is the caller's (the `fuin moderate` commands).

use std::collections::BTreeMap;
use std::fmt;

use fuin_seal::primitives::hybrid_kem::{HybridPublicKey, HybridSecretKey};
use fuin_seal::primitives::kem::{self, SEED_LEN};
use fuin_seal::primitives::x25519::{self, AgreementSecret};
use fuin_wire::{MlKemPublicKey, StampKeyId, X25519PublicKey};
use rand_core::CryptoRng;
use zeroize::Zeroizing;

use crate::{Rejection, ReportError};

/// The first word of a public key's text form, naming its format.
const PUBLIC_KEY_TAG: &str = "fuin-moderation-public-key/v2";
/// The first word of an X25519-only public key, from before protocol
/// version 3: recognised only to say that it is outdated.
const OUTDATED_PUBLIC_KEY_TAG: &str = "fuin-moderation-public-key/v1";
/// The first bytes of a hybrid secret key's stored form.
const SECRET_KEY_MAGIC: &[u8; 8] = b"FUINMSK2";
/// The first bytes of an X25519-only secret key's stored form (before
/// protocol version 3).
const OUTDATED_SECRET_KEY_MAGIC: &[u8; 8] = b"FUINMSK1";
/// The length of a hybrid secret key's stored form: magic, key id, X25519
/// secret, ML-KEM seed.
pub const SECRET_KEY_FILE_LEN: usize = 8 + 4 + 32 + SEED_LEN;
/// The length of an X25519-only secret key's stored form: magic, key id,
/// secret.
pub const OUTDATED_SECRET_KEY_FILE_LEN: usize = 8 + 4 + 32;

/// The public key reports are sealed to, with the id the sealed report
/// names it by. Apps get it from the moderation service (a file, a config).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModerationPublicKey {
    /// The key's id, chosen when the key was made; a new key gets a new id.
    pub key_id: u32,
    /// The hybrid public key: an X25519 and an ML-KEM-768 half.
    pub key: HybridPublicKey,
}

impl ModerationPublicKey {
    /// The text form: one line, `fuin-moderation-public-key/v2 ID X25519_HEX
    /// ML_KEM_HEX`.
    pub fn to_text(&self) -> String {
        format!(
            "{PUBLIC_KEY_TAG} {} {} {}\n",
            self.key_id,
            hex::encode(self.key.x25519.0),
            hex::encode(self.key.ml_kem.as_bytes())
        )
    }

    /// Reads the text form (surrounding whitespace ignored), in the order of
    /// `spec/report.md` §9: an X25519-only key of before protocol version 3
    /// is [`ReportError::OutdatedModerationKey`]; an X25519 half of small
    /// order is [`ReportError::WeakPublicKey`]; an ML-KEM half that fails
    /// FIPS 203's check is [`ReportError::InvalidKey`].
    pub fn from_text(text: &str) -> Result<Self, ReportError> {
        let bad = |reason| ReportError::InvalidKey { reason };
        let mut parts = text.split_ascii_whitespace();
        match parts.next() {
            Some(PUBLIC_KEY_TAG) => {}
            Some(OUTDATED_PUBLIC_KEY_TAG) => return Err(ReportError::OutdatedModerationKey),
            _ => return Err(bad("it is not a fuin moderation public key")),
        }
        let key_id = parts
            .next()
            .filter(|id| id.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|id| id.parse::<u32>().ok())
            .ok_or(bad("its key id is not a number"))?;
        let mut x25519_key = [0u8; 32];
        parts
            .next()
            .filter(|hex| hex.len() == 64)
            .and_then(|hex| hex::decode_to_slice(hex, &mut x25519_key).ok())
            .ok_or(bad("its X25519 key is not 64 hex digits"))?;
        let mut ml_kem = [0u8; MlKemPublicKey::LEN];
        parts
            .next()
            .filter(|hex| hex.len() == 2 * MlKemPublicKey::LEN)
            .and_then(|hex| hex::decode_to_slice(hex, &mut ml_kem).ok())
            .ok_or(bad("its ML-KEM key is not 2,368 hex digits"))?;
        if parts.next().is_some() {
            return Err(bad("something follows the key"));
        }
        let key = HybridPublicKey {
            x25519: X25519PublicKey(x25519_key),
            ml_kem: MlKemPublicKey(ml_kem),
        };
        x25519::check_public_key(&key.x25519).map_err(|_| ReportError::WeakPublicKey)?;
        kem::check_public_key(&key.ml_kem)
            .map_err(|_| bad("its ML-KEM key fails the FIPS 203 check"))?;
        Ok(Self { key_id, key })
    }
}

/// Moderation's secret key: a hybrid key, or an X25519-only key of before
/// protocol version 3 (which opens only reports sealed then). Wiped on
/// drop; `Debug` shows its id and public key only.
pub struct ModerationSecretKey {
    key_id: u32,
    x25519_bytes: Zeroizing<[u8; 32]>,
    x25519: AgreementSecret,
    hybrid: Option<HybridSecretKey>,
}

impl ModerationSecretKey {
    /// Draws a new hybrid key with id `key_id`: the X25519 private key (32
    /// bytes), then the ML-KEM seed (64 bytes).
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R, key_id: u32) -> Self {
        let mut x25519 = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(x25519.as_mut());
        let mut seed = Zeroizing::new([0u8; SEED_LEN]);
        rng.fill_bytes(seed.as_mut());
        Self::from_parts(key_id, x25519, Some(seed))
    }

    /// A hybrid key that keeps this key's id and X25519 secret and draws a
    /// fresh ML-KEM seed: what `fuin moderate keygen --upgrade` makes of a
    /// key of before protocol version 3, so that reports sealed to the old
    /// key still open with the new one.
    pub fn upgrade<R: CryptoRng + ?Sized>(&self, rng: &mut R) -> Self {
        let mut seed = Zeroizing::new([0u8; SEED_LEN]);
        rng.fill_bytes(seed.as_mut());
        Self::from_parts(self.key_id, self.x25519_bytes.clone(), Some(seed))
    }

    /// A key from its secrets (as recorded for test vectors): the X25519
    /// private key, and the ML-KEM seed `d || z` for a hybrid key.
    pub fn from_parts(
        key_id: u32,
        x25519: Zeroizing<[u8; 32]>,
        ml_kem_seed: Option<Zeroizing<[u8; SEED_LEN]>>,
    ) -> Self {
        let hybrid = ml_kem_seed.map(|seed| HybridSecretKey::from_parts(*x25519, *seed));
        Self {
            key_id,
            x25519: AgreementSecret::from_bytes(*x25519),
            x25519_bytes: x25519,
            hybrid,
        }
    }

    /// The key's id.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// Whether this is a hybrid key (else an X25519-only key of before
    /// protocol version 3).
    pub fn is_hybrid(&self) -> bool {
        self.hybrid.is_some()
    }

    /// The public half, to hand to apps; `None` for a key of before protocol
    /// version 3, to which nothing may be sealed any more.
    pub fn public_key(&self) -> Option<ModerationPublicKey> {
        self.hybrid.as_ref().map(|hybrid| ModerationPublicKey {
            key_id: self.key_id,
            key: hybrid.public_key(),
        })
    }

    /// The X25519 public half (the whole public key of a key of before
    /// protocol version 3).
    pub fn x25519_public_key(&self) -> X25519PublicKey {
        self.x25519.public_key()
    }

    /// The stored form: [`SECRET_KEY_FILE_LEN`] bytes (`FUINMSK2`, the key id
    /// as 4 bytes big-endian, the X25519 secret, the ML-KEM seed) for a
    /// hybrid key, [`OUTDATED_SECRET_KEY_FILE_LEN`] (`FUINMSK1`, id, X25519
    /// secret) for a key of before protocol version 3. Keep it in a file
    /// only its owner can read.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::with_capacity(SECRET_KEY_FILE_LEN));
        match &self.hybrid {
            Some(hybrid) => {
                out.extend_from_slice(SECRET_KEY_MAGIC);
                out.extend_from_slice(&self.key_id.to_be_bytes());
                let (x25519, seed) = hybrid.to_parts();
                out.extend_from_slice(x25519.as_ref());
                out.extend_from_slice(seed.as_ref());
            }
            None => {
                out.extend_from_slice(OUTDATED_SECRET_KEY_MAGIC);
                out.extend_from_slice(&self.key_id.to_be_bytes());
                out.extend_from_slice(self.x25519_bytes.as_ref());
            }
        }
        out
    }

    /// Reads the stored form, hybrid or of before protocol version 3.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ReportError> {
        let bad = |reason| ReportError::InvalidKey { reason };
        if bytes.len() < 12 {
            return Err(bad("a moderation secret key file is 108 bytes"));
        }
        let (magic, rest) = bytes.split_at(8);
        let hybrid = if magic == SECRET_KEY_MAGIC {
            true
        } else if magic == OUTDATED_SECRET_KEY_MAGIC {
            false
        } else {
            return Err(bad("it is not a fuin moderation secret key"));
        };
        let expected = if hybrid {
            SECRET_KEY_FILE_LEN
        } else {
            OUTDATED_SECRET_KEY_FILE_LEN
        };
        if bytes.len() != expected {
            return Err(bad(if hybrid {
                "a moderation secret key file is 108 bytes"
            } else {
                "a moderation secret key file of before protocol version 3 is 44 bytes"
            }));
        }
        let (id, rest) = rest.split_at(4);
        let (x25519_part, seed_part) = rest.split_at(32);
        let mut id_bytes = [0u8; 4];
        id_bytes.copy_from_slice(id);
        let mut x25519 = Zeroizing::new([0u8; 32]);
        x25519.copy_from_slice(x25519_part);
        let seed = hybrid.then(|| {
            let mut seed = Zeroizing::new([0u8; SEED_LEN]);
            seed.copy_from_slice(seed_part);
            seed
        });
        Ok(Self::from_parts(u32::from_be_bytes(id_bytes), x25519, seed))
    }

    pub(crate) fn agreement(&self) -> &AgreementSecret {
        &self.x25519
    }

    pub(crate) fn hybrid(&self) -> Option<&HybridSecretKey> {
        self.hybrid.as_ref()
    }
}

impl fmt::Debug for ModerationSecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ModerationSecretKey")
            .field("key_id", &self.key_id)
            .field("hybrid", &self.hybrid.is_some())
            .field("x25519_public", &self.x25519.public_key())
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
        let stored = secret.to_bytes();
        assert_eq!(stored.len(), 108);
        assert_eq!(&stored[..8], b"FUINMSK2");
        let again = ModerationSecretKey::from_bytes(&stored).unwrap();
        assert_eq!(again.public_key(), secret.public_key());
        assert_eq!(again.key_id(), 7);
        let public = secret.public_key().unwrap();
        assert_eq!(
            ModerationPublicKey::from_text(&public.to_text()).unwrap(),
            public
        );
    }

    #[test]
    fn an_old_secret_key_file_still_reads_and_upgrades_keeping_its_x25519_half() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(4);
        let mut old = b"FUINMSK1".to_vec();
        old.extend_from_slice(&9u32.to_be_bytes());
        old.extend_from_slice(&[0x42; 32]);
        let key = ModerationSecretKey::from_bytes(&old).unwrap();
        assert!(!key.is_hybrid());
        assert_eq!(key.public_key(), None);
        assert_eq!(key.to_bytes().as_slice(), old.as_slice());
        let upgraded = key.upgrade(&mut rng);
        assert!(upgraded.is_hybrid());
        assert_eq!(upgraded.key_id(), 9);
        assert_eq!(upgraded.x25519_public_key(), key.x25519_public_key());
        assert_eq!(
            upgraded.public_key().unwrap().key.x25519,
            key.x25519_public_key()
        );
    }

    #[test]
    fn an_old_public_key_is_refused_as_outdated() {
        let old = format!("fuin-moderation-public-key/v1 1 {}", "09".repeat(32));
        assert_eq!(
            ModerationPublicKey::from_text(&old),
            Err(ReportError::OutdatedModerationKey)
        );
        assert!(
            ReportError::OutdatedModerationKey
                .to_string()
                .contains("publish a new hybrid key")
        );
    }

    #[test]
    fn malformed_and_weak_keys_are_refused() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(2);
        let secret = ModerationSecretKey::generate(&mut rng, 1);
        let bytes = secret.to_bytes();
        assert!(ModerationSecretKey::from_bytes(&bytes[..107]).is_err());
        assert!(ModerationSecretKey::from_bytes(&bytes[..44]).is_err());
        let mut wrong_magic = bytes.to_vec();
        wrong_magic[0] ^= 1;
        assert!(ModerationSecretKey::from_bytes(&wrong_magic).is_err());
        let text = secret.public_key().unwrap().to_text();
        let mut words: Vec<String> = text.split_whitespace().map(str::to_owned).collect();
        let x25519_hex = words[2].clone();
        let ml_kem_hex = words[3].clone();
        for bad in [
            "".to_owned(),
            "fuin-moderation-public-key/v2 1".to_owned(),
            format!("fuin-moderation-public-key/v2 x {x25519_hex} {ml_kem_hex}"),
            format!("fuin-moderation-public-key/v2 1 {x25519_hex}"),
            format!("fuin-moderation-public-key/v2 1 {ml_kem_hex} {x25519_hex}"),
            text.replace("/v2", "/v3"),
            format!("{} extra", text.trim()),
        ] {
            assert!(
                matches!(
                    ModerationPublicKey::from_text(&bad),
                    Err(ReportError::InvalidKey { .. })
                ),
                "{bad:?}"
            );
        }
        words[2] = "00".repeat(32);
        assert_eq!(
            ModerationPublicKey::from_text(&words.join(" ")),
            Err(ReportError::WeakPublicKey)
        );
        // An ML-KEM key whose first coefficient is q = 3329 (0xd01): FIPS
        // 203's modulus check refuses it.
        words[2] = x25519_hex;
        let mut ml_kem = hex::decode(&ml_kem_hex).unwrap();
        ml_kem[0] = 0x01;
        ml_kem[1] = (ml_kem[1] & 0xf0) | 0x0d;
        words[3] = hex::encode(ml_kem);
        assert!(matches!(
            ModerationPublicKey::from_text(&words.join(" ")),
            Err(ReportError::InvalidKey { .. })
        ));
    }

    #[test]
    fn debug_shows_no_secret_bytes() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(3);
        let secret = ModerationSecretKey::generate(&mut rng, 1);
        let shown = format!("{secret:?}");
        let stored = secret.to_bytes();
        assert!(
            shown.starts_with("ModerationSecretKey { key_id: 1, hybrid: true, x25519_public: ")
        );
        assert!(!shown.contains(&hex::encode(&stored[12..20])));
        assert!(!shown.contains(&hex::encode(&stored[44..52])));
        assert!(!shown.contains(&format!("{:?}", &stored[44..48])));
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
