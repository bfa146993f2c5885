//! Linking a new device to an account (`spec/accounts.md` §5): the link
//! code the new device shows, the keys derived from it, and the sealing of
//! the two messages of the exchange that travel through the relay.
//!
//! The code carries a one-time secret and the new device's identity
//! fingerprint. The grant, which carries the account secret, is sealed
//! under the code's grant key and a hybrid KEM (X25519 + ML-KEM-768) to a
//! key the new device sent in its request, so a recorded exchange stays
//! closed to someone who later learns the code or breaks X25519. Only someone who saw the code can open the new device's
//! request or seal the grant it accepts, and the existing device checks
//! that the identity it is asked to link is the one whose fingerprint the
//! code shows, so a relay that sees every byte of the exchange can neither
//! read the account key nor get a device of its own linked.

use rand_core::CryptoRng;
use zeroize::{Zeroize, Zeroizing};

use crate::SealError;
use crate::primitives::aead;
use crate::primitives::framing::Framer;
use crate::primitives::hybrid_kem::{
    self, ENCAPSULATION_LEN, HybridEncapsulation, HybridPublicKey, HybridSecretKey,
    KEY_MATERIAL_LEN,
};
use crate::primitives::kdf::{self, Label};
use crate::primitives::sha256;
use crate::primitives::x25519;
use fuin_wire::{MlKemCiphertext, PublicIdentity, X25519PublicKey};

/// Bytes of the one-time secret in a link code.
pub const LINK_SECRET_LEN: usize = 16;
/// Bytes of the identity fingerprint in a link code.
pub const LINK_FINGERPRINT_LEN: usize = 8;
/// Bytes of the rendezvous channel id derived from a code.
pub const LINK_CHANNEL_LEN: usize = 16;
/// How long a link code may be used after it was made.
pub const LINK_CODE_LIFETIME_MS: u64 = 10 * 60 * 1000;
/// Bytes of the random salt in front of every sealed link message.
pub const LINK_SALT_LEN: usize = 32;
/// Prefix of a link code written as text (for a QR code).
pub const LINK_TEXT_PREFIX: &str = "fuin-link:";
/// Bytes of a sealed grant before its AEAD output: the ephemeral X25519 key
/// and the ML-KEM-768 ciphertext.
pub const GRANT_ENCAPSULATION_LEN: usize = ENCAPSULATION_LEN;
/// Bytes of a grant's key material: `k_grant`, then the hybrid KEM's.
pub const GRANT_KEY_MATERIAL_LEN: usize = 32 + KEY_MATERIAL_LEN;

const CODE_LEN: usize = LINK_SECRET_LEN + LINK_FINGERPRINT_LEN;
const DIGIT_GROUPS: usize = CODE_LEN / 2;

/// A link code: a one-time secret and the fingerprint of the new device's
/// identity. It is a secret until the exchange is over: `Debug` shows no
/// bytes and they are wiped on drop.
#[derive(Clone, PartialEq, Eq, Zeroize, zeroize::ZeroizeOnDrop)]
pub struct LinkCode {
    secret: [u8; LINK_SECRET_LEN],
    fingerprint: [u8; LINK_FINGERPRINT_LEN],
}

impl std::fmt::Debug for LinkCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinkCode(<redacted>)")
    }
}

/// Why a link code could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkCodeError {
    /// Not 60 digits (spaces allowed) nor `fuin-link:` and 48 hex digits.
    Malformed,
    /// A five-digit group above 65535: a digit was mistyped.
    GroupOutOfRange,
}

impl std::fmt::Display for LinkCodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Malformed => f.write_str(
                "a link code is 60 digits (as the new device shows them) or fuin-link: and 48 hex digits",
            ),
            Self::GroupOutOfRange => {
                f.write_str("a group of five digits is above 65535: check the code for a typo")
            }
        }
    }
}

impl std::error::Error for LinkCodeError {}

impl LinkCode {
    /// Draws a new code for the device whose identity is `identity`.
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R, identity: &PublicIdentity) -> Self {
        let mut secret = [0u8; LINK_SECRET_LEN];
        rng.fill_bytes(&mut secret);
        Self {
            secret,
            fingerprint: fingerprint(identity),
        }
    }

    /// Builds a code from its parts (test vectors).
    pub fn from_parts(
        secret: [u8; LINK_SECRET_LEN],
        fingerprint: [u8; LINK_FINGERPRINT_LEN],
    ) -> Self {
        Self {
            secret,
            fingerprint,
        }
    }

    /// The fingerprint of the identity the code was made for.
    pub fn fingerprint(&self) -> &[u8; LINK_FINGERPRINT_LEN] {
        &self.fingerprint
    }

    /// Whether `identity` is the one the code was made for (compared in
    /// constant time).
    pub fn matches(&self, identity: &PublicIdentity) -> bool {
        use subtle::ConstantTimeEq;
        bool::from(fingerprint(identity).ct_eq(&self.fingerprint))
    }

    fn bytes(&self) -> Zeroizing<[u8; CODE_LEN]> {
        let mut out = Zeroizing::new([0u8; CODE_LEN]);
        out[..LINK_SECRET_LEN].copy_from_slice(&self.secret);
        out[LINK_SECRET_LEN..].copy_from_slice(&self.fingerprint);
        out
    }

    /// The code as 60 digits in twelve groups of five, each group one
    /// big-endian pair of bytes (00000 to 65535).
    pub fn digits(&self) -> Zeroizing<String> {
        let bytes = self.bytes();
        let groups: Vec<String> = bytes
            .chunks(2)
            .map(|pair| format!("{:05}", u16::from_be_bytes([pair[0], pair[1]])))
            .collect();
        Zeroizing::new(groups.join(" "))
    }

    /// The code as `fuin-link:` and 48 lowercase hex digits, for a QR code.
    pub fn text(&self) -> Zeroizing<String> {
        Zeroizing::new(format!("{LINK_TEXT_PREFIX}{}", hex::encode(*self.bytes())))
    }

    /// Reads a code in either form ([`Self::digits`] with any spaces, or
    /// [`Self::text`]).
    pub fn parse(input: &str) -> Result<Self, LinkCodeError> {
        let input = input.trim();
        let mut bytes = Zeroizing::new([0u8; CODE_LEN]);
        if let Some(hex_digits) = input.strip_prefix(LINK_TEXT_PREFIX) {
            hex::decode_to_slice(hex_digits, bytes.as_mut_slice())
                .map_err(|_| LinkCodeError::Malformed)?;
        } else {
            let digits: Zeroizing<Vec<u8>> = Zeroizing::new(
                input
                    .bytes()
                    .filter(|byte| !matches!(byte, b' ' | b'-'))
                    .collect(),
            );
            if digits.len() != DIGIT_GROUPS * 5 || !digits.iter().all(u8::is_ascii_digit) {
                return Err(LinkCodeError::Malformed);
            }
            for (index, group) in digits.chunks(5).enumerate() {
                let value = group
                    .iter()
                    .fold(0u32, |acc, digit| acc * 10 + u32::from(digit - b'0'));
                let value = u16::try_from(value).map_err(|_| LinkCodeError::GroupOutOfRange)?;
                bytes[index * 2..index * 2 + 2].copy_from_slice(&value.to_be_bytes());
            }
        }
        let mut secret = [0u8; LINK_SECRET_LEN];
        let mut fingerprint = [0u8; LINK_FINGERPRINT_LEN];
        secret.copy_from_slice(&bytes[..LINK_SECRET_LEN]);
        fingerprint.copy_from_slice(&bytes[LINK_SECRET_LEN..]);
        Ok(Self {
            secret,
            fingerprint,
        })
    }

    /// The keys of the exchange this code starts.
    pub fn keys(&self) -> LinkKeys {
        let okm: Zeroizing<[u8; LINK_CHANNEL_LEN + 64]> =
            kdf::derive(Label::LinkKeys, None, &self.secret, &self.fingerprint);
        let mut channel = [0u8; LINK_CHANNEL_LEN];
        channel.copy_from_slice(&okm[..LINK_CHANNEL_LEN]);
        let mut request = [0u8; 32];
        request.copy_from_slice(&okm[LINK_CHANNEL_LEN..LINK_CHANNEL_LEN + 32]);
        let mut grant = [0u8; 32];
        grant.copy_from_slice(&okm[LINK_CHANNEL_LEN + 32..]);
        LinkKeys {
            channel,
            request,
            grant,
        }
    }
}

/// The fingerprint of an identity in a link code: the first 8 bytes of
/// SHA-256 over the framed label, signing key and agreement key.
pub fn fingerprint(identity: &PublicIdentity) -> [u8; LINK_FINGERPRINT_LEN] {
    let framed = Framer::new(Label::LinkFingerprint.as_bytes())
        .identity(identity)
        .finish();
    let hash = sha256(&[&framed]);
    let mut out = [0u8; LINK_FINGERPRINT_LEN];
    out.copy_from_slice(&hash[..LINK_FINGERPRINT_LEN]);
    out
}

/// Which message of the exchange: the new device's request, or the existing
/// device's grant. Each has its own key and associated data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkDirection {
    /// New device to existing device: a `LinkRequest` frame.
    Request,
    /// Existing device to new device: a `LinkGrant` frame.
    Grant,
}

/// The keys derived from a link code. Wiped on drop.
#[derive(Zeroize, zeroize::ZeroizeOnDrop)]
pub struct LinkKeys {
    channel: [u8; LINK_CHANNEL_LEN],
    request: [u8; 32],
    grant: [u8; 32],
}

impl std::fmt::Debug for LinkKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinkKeys(<redacted>)")
    }
}

impl LinkKeys {
    /// The rendezvous channel at the relay. Not secret from the relay (it
    /// names the place), but unguessable to anyone without the code.
    pub fn channel(&self) -> &[u8; LINK_CHANNEL_LEN] {
        &self.channel
    }

    /// The key material of one direction (test vectors).
    pub fn key_material(&self, direction: LinkDirection) -> &[u8; 32] {
        match direction {
            LinkDirection::Request => &self.request,
            LinkDirection::Grant => &self.grant,
        }
    }

    fn associated_data(&self, direction: LinkDirection) -> Vec<u8> {
        let label = match direction {
            LinkDirection::Request => Label::LinkRequestAssociatedData,
            LinkDirection::Grant => Label::LinkGrantAssociatedData,
        };
        Framer::new(label.as_bytes()).field(&self.channel).finish()
    }

    /// Seals the new device's request: a fresh 32-byte salt, then the
    /// key-committing AEAD of `plaintext` (an encoded `LinkRequest` frame)
    /// under `k_request` and the salt.
    pub fn seal_request<R: CryptoRng + ?Sized>(&self, rng: &mut R, plaintext: &[u8]) -> Vec<u8> {
        let mut salt = [0u8; LINK_SALT_LEN];
        rng.fill_bytes(&mut salt);
        self.seal_request_with_salt(&salt, plaintext)
    }

    /// [`Self::seal_request`] with a given salt (test vectors).
    pub fn seal_request_with_salt(&self, salt: &[u8; LINK_SALT_LEN], plaintext: &[u8]) -> Vec<u8> {
        let sealed = aead::seal(
            Label::LinkSeal,
            Some(salt),
            &self.request,
            &self.associated_data(LinkDirection::Request),
            plaintext,
        );
        let mut out = Vec::with_capacity(LINK_SALT_LEN + sealed.len());
        out.extend_from_slice(salt);
        out.extend_from_slice(&sealed);
        out
    }

    /// Opens the new device's request. Any failure (a wrong code, a grant,
    /// altered bytes) is [`SealError::DecryptionFailed`].
    pub fn open_request(&self, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, SealError> {
        if sealed.len() < LINK_SALT_LEN {
            return Err(SealError::DecryptionFailed);
        }
        let (salt, sealed) = sealed.split_at(LINK_SALT_LEN);
        aead::open(
            Label::LinkSeal,
            Some(salt),
            &self.request,
            &self.associated_data(LinkDirection::Request),
            sealed,
        )
        .map_err(|_| SealError::DecryptionFailed)
    }

    /// The grant's HKDF salt: `framed("fuin/v1/link-grant-transcript",
    /// channel, G.x25519, G.ml_kem, E, ct)`, binding the key to the channel,
    /// both halves of the new device's grant key and the encapsulation.
    pub fn grant_transcript(
        &self,
        grant_key: &HybridPublicKey,
        encapsulation: &HybridEncapsulation,
    ) -> Vec<u8> {
        Framer::new(Label::LinkGrantTranscript.as_bytes())
            .field(&self.channel)
            .field(grant_key.x25519.as_bytes())
            .field(grant_key.ml_kem.as_bytes())
            .field(encapsulation.ephemeral.as_bytes())
            .field(encapsulation.ciphertext.as_bytes())
            .finish()
    }

    /// The grant's key material: `k_grant || km` (96 bytes), so that the
    /// grant needs both the code and the grant key's secret.
    pub fn grant_key_material(
        &self,
        km: &[u8; KEY_MATERIAL_LEN],
    ) -> Zeroizing<[u8; GRANT_KEY_MATERIAL_LEN]> {
        let mut out = Zeroizing::new([0u8; GRANT_KEY_MATERIAL_LEN]);
        out[..32].copy_from_slice(&self.grant);
        out[32..].copy_from_slice(km);
        out
    }

    /// Seals the existing device's grant (an encoded `LinkGrant` frame) to
    /// the new device's grant key: encapsulates to it (checking both halves
    /// first: `WeakPublicKey`, `InvalidKemKey`), then returns
    /// `E || ct || AEAD(...)` (`spec/accounts.md` §5.3).
    pub fn seal_grant<R: CryptoRng + ?Sized>(
        &self,
        rng: &mut R,
        grant_key: &HybridPublicKey,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, SealError> {
        let (encapsulation, km) = hybrid_kem::encapsulate(rng, grant_key)?;
        Ok(self.seal_grant_with(grant_key, &encapsulation, &km, plaintext))
    }

    /// [`Self::seal_grant`] with a given encapsulation and its key material
    /// (test vectors, from [`hybrid_kem::encapsulate_with`]).
    pub fn seal_grant_with(
        &self,
        grant_key: &HybridPublicKey,
        encapsulation: &HybridEncapsulation,
        km: &[u8; KEY_MATERIAL_LEN],
        plaintext: &[u8],
    ) -> Vec<u8> {
        let sealed = aead::seal(
            Label::LinkGrantKeys,
            Some(&self.grant_transcript(grant_key, encapsulation)),
            self.grant_key_material(km).as_slice(),
            &self.associated_data(LinkDirection::Grant),
            plaintext,
        );
        let mut out = Vec::with_capacity(GRANT_ENCAPSULATION_LEN + sealed.len());
        out.extend_from_slice(encapsulation.ephemeral.as_bytes());
        out.extend_from_slice(encapsulation.ciphertext.as_bytes());
        out.extend_from_slice(&sealed);
        out
    }

    /// Opens a grant with the grant key's secret, in the order of
    /// `spec/accounts.md` §5.3: too short is `DecryptionFailed`; an
    /// ephemeral key of small order (or an all-zero agreement) is
    /// `WeakPublicKey`; then decapsulation (an altered KEM ciphertext gives
    /// other key material) and the AEAD, whose every failure is
    /// `DecryptionFailed`.
    pub fn open_grant(
        &self,
        grant_secret: &HybridSecretKey,
        sealed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, SealError> {
        if sealed.len() < GRANT_ENCAPSULATION_LEN + aead::OVERHEAD {
            return Err(SealError::DecryptionFailed);
        }
        let (ephemeral, rest) = sealed.split_at(32);
        let (ciphertext, sealed) = rest.split_at(MlKemCiphertext::LEN);
        let mut ephemeral_bytes = [0u8; 32];
        ephemeral_bytes.copy_from_slice(ephemeral);
        let mut ciphertext_bytes = [0u8; MlKemCiphertext::LEN];
        ciphertext_bytes.copy_from_slice(ciphertext);
        let encapsulation = HybridEncapsulation {
            ephemeral: X25519PublicKey(ephemeral_bytes),
            ciphertext: MlKemCiphertext(ciphertext_bytes),
        };
        x25519::check_public_key(&encapsulation.ephemeral)?;
        let km = grant_secret.decapsulate(&encapsulation)?;
        aead::open(
            Label::LinkGrantKeys,
            Some(&self.grant_transcript(&grant_secret.public_key(), &encapsulation)),
            self.grant_key_material(&km).as_slice(),
            &self.associated_data(LinkDirection::Grant),
            sealed,
        )
        .map_err(|_| SealError::DecryptionFailed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DeviceIdentity;
    use rand_core::SeedableRng;

    fn rng(seed: u64) -> rand_chacha::ChaCha20Rng {
        rand_chacha::ChaCha20Rng::seed_from_u64(seed)
    }

    #[test]
    fn a_code_reads_back_from_digits_and_text() {
        let laptop = DeviceIdentity::generate(&mut rng(1));
        let code = LinkCode::generate(&mut rng(2), laptop.public());
        let digits = code.digits();
        assert_eq!(digits.len(), 12 * 5 + 11);
        assert_eq!(LinkCode::parse(&digits).unwrap(), code);
        assert_eq!(LinkCode::parse(&digits.replace(' ', "")).unwrap(), code);
        assert_eq!(LinkCode::parse(&code.text()).unwrap(), code);
        assert!(code.matches(laptop.public()));
        let other = DeviceIdentity::generate(&mut rng(3));
        assert!(!code.matches(other.public()));
    }

    #[test]
    fn mistyped_codes_are_refused_with_a_reason() {
        assert_eq!(LinkCode::parse("12345"), Err(LinkCodeError::Malformed));
        assert_eq!(
            LinkCode::parse(&"99999".repeat(12)),
            Err(LinkCodeError::GroupOutOfRange)
        );
        assert_eq!(
            LinkCode::parse("fuin-link:zz"),
            Err(LinkCodeError::Malformed)
        );
        assert_eq!(
            LinkCode::parse(&"1234a".repeat(12)),
            Err(LinkCodeError::Malformed)
        );
    }

    #[test]
    fn only_the_right_code_opens_a_request() {
        let laptop = DeviceIdentity::generate(&mut rng(1));
        let code = LinkCode::generate(&mut rng(2), laptop.public());
        let keys = code.keys();
        let sealed = keys.seal_request(&mut rng(4), b"request");
        assert_eq!(keys.open_request(&sealed).unwrap().as_slice(), b"request");
        let wrong = LinkCode::generate(&mut rng(5), laptop.public()).keys();
        assert_ne!(wrong.channel(), keys.channel());
        assert_eq!(
            wrong.open_request(&sealed),
            Err(SealError::DecryptionFailed)
        );
        let mut altered = sealed.clone();
        *altered.last_mut().unwrap() ^= 1;
        assert_eq!(
            keys.open_request(&altered),
            Err(SealError::DecryptionFailed)
        );
        assert_eq!(
            keys.open_request(&sealed[..10]),
            Err(SealError::DecryptionFailed)
        );
    }

    fn sealed_grant() -> (LinkKeys, HybridSecretKey, Vec<u8>) {
        let laptop = DeviceIdentity::generate(&mut rng(1));
        let keys = LinkCode::generate(&mut rng(2), laptop.public()).keys();
        let grant_key = HybridSecretKey::generate(&mut rng(3));
        let sealed = keys
            .seal_grant(&mut rng(4), &grant_key.public_key(), b"grant")
            .unwrap();
        (keys, grant_key, sealed)
    }

    #[test]
    fn a_grant_opens_with_the_code_and_the_grant_key() {
        let (keys, grant_key, sealed) = sealed_grant();
        assert_eq!(
            keys.open_grant(&grant_key, &sealed).unwrap().as_slice(),
            b"grant"
        );
        assert_eq!(sealed.len(), GRANT_ENCAPSULATION_LEN + aead::OVERHEAD + 5);
    }

    #[test]
    fn a_grant_with_an_altered_kem_ciphertext_or_ephemeral_key_is_refused() {
        let (keys, grant_key, sealed) = sealed_grant();
        for index in [32, 32 + 544, GRANT_ENCAPSULATION_LEN - 1, 0, 17, 31] {
            let mut altered = sealed.clone();
            altered[index] ^= 1;
            assert_eq!(
                keys.open_grant(&grant_key, &altered),
                Err(SealError::DecryptionFailed),
                "byte {index}"
            );
        }
        let mut small_order = sealed.clone();
        small_order[..32].fill(0);
        assert_eq!(
            keys.open_grant(&grant_key, &small_order),
            Err(SealError::WeakPublicKey)
        );
        assert_eq!(
            keys.open_grant(&grant_key, &sealed[..GRANT_ENCAPSULATION_LEN + 47]),
            Err(SealError::DecryptionFailed)
        );
    }

    #[test]
    fn a_grant_sealed_to_another_requests_key_is_refused() {
        let (keys, _, sealed) = sealed_grant();
        let other = HybridSecretKey::generate(&mut rng(9));
        assert_eq!(
            keys.open_grant(&other, &sealed),
            Err(SealError::DecryptionFailed)
        );
    }

    #[test]
    fn the_code_alone_does_not_open_a_recorded_grant() {
        // Someone who recorded the exchange and learns the code has k_grant,
        // the request (so the grant key's public halves), E and ct: the
        // whole transcript, but not the grant key's secret.
        let (keys, grant_secret, sealed) = sealed_grant();
        let grant_key = grant_secret.public_key();
        let (_, aead_part) = sealed.split_at(GRANT_ENCAPSULATION_LEN);
        let mut ephemeral = [0u8; 32];
        ephemeral.copy_from_slice(&sealed[..32]);
        let mut ciphertext = [0u8; MlKemCiphertext::LEN];
        ciphertext.copy_from_slice(&sealed[32..GRANT_ENCAPSULATION_LEN]);
        let recorded = HybridEncapsulation {
            ephemeral: X25519PublicKey(ephemeral),
            ciphertext: MlKemCiphertext(ciphertext),
        };
        let transcript = keys.grant_transcript(&grant_key, &recorded);
        let ad = keys.associated_data(LinkDirection::Grant);
        // k_grant alone, as a grant of protocol version 2 was keyed.
        for label in [Label::LinkGrantKeys, Label::LinkSeal] {
            assert_eq!(
                aead::open(
                    label,
                    Some(&transcript),
                    keys.key_material(LinkDirection::Grant),
                    &ad,
                    aead_part
                ),
                Err(aead::OpenFailed)
            );
        }
        // k_grant with the KEM half guessed as zeros.
        let guessed = keys.grant_key_material(&[0; KEY_MATERIAL_LEN]);
        assert_eq!(
            aead::open(
                Label::LinkGrantKeys,
                Some(&transcript),
                guessed.as_slice(),
                &ad,
                aead_part
            ),
            Err(aead::OpenFailed)
        );
        // The real key material opens it: the attempt above was well formed.
        let km = grant_secret.decapsulate(&recorded).unwrap();
        assert!(
            aead::open(
                Label::LinkGrantKeys,
                Some(&transcript),
                keys.grant_key_material(&km).as_slice(),
                &ad,
                aead_part
            )
            .is_ok()
        );
    }

    #[test]
    fn a_grant_key_of_small_order_is_refused_before_sealing() {
        let laptop = DeviceIdentity::generate(&mut rng(1));
        let keys = LinkCode::generate(&mut rng(2), laptop.public()).keys();
        let mut grant_key = HybridSecretKey::generate(&mut rng(3)).public_key();
        grant_key.x25519 = X25519PublicKey([0; 32]);
        assert_eq!(
            keys.seal_grant(&mut rng(4), &grant_key, b"grant"),
            Err(SealError::WeakPublicKey)
        );
    }

    #[test]
    fn the_fingerprint_is_bound_into_the_keys() {
        let laptop = DeviceIdentity::generate(&mut rng(1));
        let code = LinkCode::generate(&mut rng(2), laptop.public());
        let mut fingerprint = *code.fingerprint();
        fingerprint[0] ^= 1;
        let swapped = LinkCode::from_parts(code.secret, fingerprint);
        assert_ne!(swapped.keys().channel(), code.keys().channel());
    }

    #[test]
    fn debug_shows_no_secret() {
        let laptop = DeviceIdentity::generate(&mut rng(1));
        let code = LinkCode::generate(&mut rng(2), laptop.public());
        let shown = format!("{code:?} {:?}", code.keys());
        assert_eq!(shown, "LinkCode(<redacted>) LinkKeys(<redacted>)");
    }
}
