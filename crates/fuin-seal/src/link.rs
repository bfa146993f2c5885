//! Linking a new device to an account (`spec/accounts.md` §5): the link
//! code the new device shows, the keys derived from it, and the sealing of
//! the two messages of the exchange that travel through the relay.
//!
//! The code carries a one-time secret and the new device's identity
//! fingerprint. Only someone who saw the code can open the new device's
//! request or seal the grant it accepts, and the existing device checks
//! that the identity it is asked to link is the one whose fingerprint the
//! code shows, so a relay that sees every byte of the exchange can neither
//! read the account key nor get a device of its own linked.

use rand_core::CryptoRng;
use zeroize::{Zeroize, Zeroizing};

use crate::SealError;
use crate::primitives::aead;
use crate::primitives::framing::Framer;
use crate::primitives::kdf::{self, Label};
use crate::primitives::sha256;
use fuin_wire::PublicIdentity;

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

    /// Seals one message of the exchange: a fresh 32-byte salt, then the
    /// key-committing AEAD of `plaintext` (an encoded frame) under this
    /// direction's key material and the salt.
    pub fn seal<R: CryptoRng + ?Sized>(
        &self,
        rng: &mut R,
        direction: LinkDirection,
        plaintext: &[u8],
    ) -> Vec<u8> {
        let mut salt = [0u8; LINK_SALT_LEN];
        rng.fill_bytes(&mut salt);
        self.seal_with_salt(&salt, direction, plaintext)
    }

    /// [`Self::seal`] with a given salt (test vectors).
    pub fn seal_with_salt(
        &self,
        salt: &[u8; LINK_SALT_LEN],
        direction: LinkDirection,
        plaintext: &[u8],
    ) -> Vec<u8> {
        let sealed = aead::seal(
            Label::LinkSeal,
            Some(salt),
            self.key_material(direction),
            &self.associated_data(direction),
            plaintext,
        );
        let mut out = Vec::with_capacity(LINK_SALT_LEN + sealed.len());
        out.extend_from_slice(salt);
        out.extend_from_slice(&sealed);
        out
    }

    /// Opens one message of the exchange. Any failure (a wrong code, a
    /// message of the other direction, altered bytes) is
    /// [`SealError::DecryptionFailed`].
    pub fn open(
        &self,
        direction: LinkDirection,
        sealed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, SealError> {
        if sealed.len() < LINK_SALT_LEN {
            return Err(SealError::DecryptionFailed);
        }
        let (salt, sealed) = sealed.split_at(LINK_SALT_LEN);
        aead::open(
            Label::LinkSeal,
            Some(salt),
            self.key_material(direction),
            &self.associated_data(direction),
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
    fn only_the_right_code_and_direction_open_a_message() {
        let laptop = DeviceIdentity::generate(&mut rng(1));
        let code = LinkCode::generate(&mut rng(2), laptop.public());
        let keys = code.keys();
        let sealed = keys.seal(&mut rng(4), LinkDirection::Request, b"request");
        assert_eq!(
            keys.open(LinkDirection::Request, &sealed)
                .unwrap()
                .as_slice(),
            b"request"
        );
        assert_eq!(
            keys.open(LinkDirection::Grant, &sealed),
            Err(SealError::DecryptionFailed)
        );
        let wrong = LinkCode::generate(&mut rng(5), laptop.public()).keys();
        assert_ne!(wrong.channel(), keys.channel());
        assert_eq!(
            wrong.open(LinkDirection::Request, &sealed),
            Err(SealError::DecryptionFailed)
        );
        let mut altered = sealed.clone();
        *altered.last_mut().unwrap() ^= 1;
        assert_eq!(
            keys.open(LinkDirection::Request, &altered),
            Err(SealError::DecryptionFailed)
        );
        assert_eq!(
            keys.open(LinkDirection::Request, &sealed[..10]),
            Err(SealError::DecryptionFailed)
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
