//! Ed25519 signatures, always under a protocol label and verified strictly.
//!
//! Strict verification (spec/protocol.md §1) is checked as: the key is not
//! of small order; `R` is not the encoding of a point of small order; and
//! `ed25519-dalek`'s ordinary verification, which refuses a non-canonical
//! `S` and compares the canonical encoding of `[S]B − [k]A` with the 32
//! bytes of `R`. This accepts exactly what `verify_strict` accepts: an `R`
//! that does not decode, or decodes only through a non-canonical encoding,
//! can never equal a canonical encoding, so the comparison refuses it; and a
//! canonical `R` of small order is one of the eight encodings listed here.
//! It spares every verification the decompression of `R` and two cofactor
//! multiplications, and the key's check is made once, when it is decoded.

use ed25519_dalek::ed25519::signature::{MultipartSigner, MultipartVerifier};
use ed25519_dalek::{Signature, SigningKey, VerifyingKey};
use rand_core::CryptoRng;

use super::kdf::Label;
use crate::SealError;
use fuin_wire::{Ed25519PublicKey, Ed25519Signature};

/// An Ed25519 signing key. Wiped on drop; `Debug` shows only the public key.
#[derive(Clone)]
pub struct SigningSecret(SigningKey);

impl SigningSecret {
    /// Draws a fresh signing key.
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        Self(SigningKey::generate(rng))
    }

    /// Restores a signing key from its 32-byte seed.
    pub fn from_bytes(seed: [u8; 32]) -> Self {
        Self(SigningKey::from_bytes(&seed))
    }

    /// The 32-byte seed, for serializing state (which is then encrypted).
    pub(crate) fn to_bytes(&self) -> zeroize::Zeroizing<[u8; 32]> {
        zeroize::Zeroizing::new(self.0.to_bytes())
    }

    /// The public key.
    pub fn public_key(&self) -> Ed25519PublicKey {
        Ed25519PublicKey(self.0.verifying_key().to_bytes())
    }

    /// Signs `label || message`.
    pub fn sign(&self, label: Label, message: &[u8]) -> Ed25519Signature {
        self.sign_parts(label, &[message])
    }

    /// Signs `label || parts[0] || parts[1] || ...`, without joining them.
    pub fn sign_parts(&self, label: Label, parts: &[&[u8]]) -> Ed25519Signature {
        Ed25519Signature(self.0.multipart_sign(&with_label(label, parts)).to_bytes())
    }

    /// Signs the relay authentication input, which carries its own label as
    /// its first length-prefixed field (`spec/relay-api.md` §2.2). It starts
    /// with a length, never with a label's ASCII, so it cannot be mistaken
    /// for any `label || message` this key signs.
    pub fn sign_relay_auth(
        &self,
        origin: &str,
        address: &fuin_wire::DeviceAddress<'_>,
        nonce: &fuin_wire::relay::Nonce,
    ) -> Ed25519Signature {
        let input = fuin_wire::relay::relay_auth_input(origin, address, nonce);
        Ed25519Signature(self.0.multipart_sign(&[&input]).to_bytes())
    }
}

impl std::fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningSecret(public: {:?})", self.public_key())
    }
}

/// An Ed25519 public key decoded once, for keys that verify many signatures
/// (a group sender chain's): decoding the point is a good part of a
/// verification's cost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VerifyingSigningKey(VerifyingKey);

impl VerifyingSigningKey {
    /// Decodes `key`: a valid point ([`SealError::BadSignature`] otherwise)
    /// of more than small order ([`SealError::WeakPublicKey`] otherwise),
    /// which strict verification would refuse anyway.
    pub fn decode(key: &Ed25519PublicKey) -> Result<Self, SealError> {
        let key = VerifyingKey::from_bytes(&key.0).map_err(|_| SealError::BadSignature)?;
        if key.is_weak() {
            return Err(SealError::WeakPublicKey);
        }
        Ok(Self(key))
    }

    /// The key's 32 bytes.
    pub fn public_key(&self) -> Ed25519PublicKey {
        Ed25519PublicKey(self.0.to_bytes())
    }

    /// Verifies a signature over `label || message` strictly, as [`verify`].
    pub fn verify(
        &self,
        label: Label,
        message: &[u8],
        signature: &Ed25519Signature,
    ) -> Result<(), SealError> {
        self.verify_parts(label, &[message], signature)
    }

    /// Verifies a signature over `label || parts[0] || parts[1] || ...`
    /// strictly, without joining them.
    pub fn verify_parts(
        &self,
        label: Label,
        parts: &[&[u8]],
        signature: &Ed25519Signature,
    ) -> Result<(), SealError> {
        // The key's order was checked when it was decoded.
        verify_checked_key(&self.0, label, parts, signature)
    }
}

/// The canonical encodings of the eight points of small order (the
/// identity, the point of order 2, the two of order 4 and the four of order
/// 8). A test checks each against `ed25519-dalek`.
const SMALL_ORDER_ENCODINGS: [[u8; 32]; 8] = [
    // The identity, (0, 1).
    [
        0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00,
    ],
    // Order 2, (0, −1).
    [
        0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0x7f,
    ],
    // Order 4, (±√−1, 0).
    [0x00; 32],
    [
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x80,
    ],
    // Order 8.
    [
        0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67,
        0x0f, 0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac,
        0x03, 0x7a,
    ],
    [
        0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67,
        0x0f, 0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac,
        0x03, 0xfa,
    ],
    [
        0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef, 0x98,
        0xf0, 0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53,
        0xfc, 0x05,
    ],
    [
        0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef, 0x98,
        0xf0, 0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53,
        0xfc, 0x85,
    ],
];

/// `label` followed by `parts`: the signed message, in pieces.
fn with_label<'a>(label: Label, parts: &[&'a [u8]]) -> Vec<&'a [u8]> {
    let mut pieces = Vec::with_capacity(parts.len() + 1);
    pieces.push(label.as_bytes());
    pieces.extend_from_slice(parts);
    pieces
}

/// Strict verification under a key already checked not to be of small
/// order; see the module's documentation.
fn verify_checked_key(
    key: &VerifyingKey,
    label: Label,
    parts: &[&[u8]],
    signature: &Ed25519Signature,
) -> Result<(), SealError> {
    let mut r = [0u8; 32];
    r.copy_from_slice(&signature.0[..32]);
    if SMALL_ORDER_ENCODINGS.contains(&r) {
        return Err(SealError::BadSignature);
    }
    key.multipart_verify(
        &with_label(label, parts),
        &Signature::from_bytes(&signature.0),
    )
    .map_err(|_| SealError::BadSignature)
}

/// Verifies a signature over `label || message`, rejecting non-canonical and
/// small-order keys and signatures (the rule of `verify_strict`).
pub fn verify(
    key: &Ed25519PublicKey,
    label: Label,
    message: &[u8],
    signature: &Ed25519Signature,
) -> Result<(), SealError> {
    let key = VerifyingKey::from_bytes(&key.0).map_err(|_| SealError::BadSignature)?;
    if key.is_weak() {
        return Err(SealError::BadSignature);
    }
    verify_checked_key(&key, label, &[message], signature)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_bound_to_its_label() {
        let key = SigningSecret::from_bytes([1; 32]);
        let signature = key.sign(Label::IdentitySignature, b"message");
        assert_eq!(
            verify(
                &key.public_key(),
                Label::IdentitySignature,
                b"message",
                &signature
            ),
            Ok(())
        );
        assert_eq!(
            verify(
                &key.public_key(),
                Label::SignedPrekeySignature,
                b"message",
                &signature
            ),
            Err(SealError::BadSignature)
        );
        assert_eq!(
            verify(
                &key.public_key(),
                Label::IdentitySignature,
                b"messagf",
                &signature
            ),
            Err(SealError::BadSignature)
        );
    }

    fn signature_bytes(r: &[u8; 32], s: &[u8; 32]) -> Ed25519Signature {
        let mut bytes = [0u8; 64];
        bytes[..32].copy_from_slice(r);
        bytes[32..].copy_from_slice(s);
        Ed25519Signature(bytes)
    }

    /// The list is the eight points of small order, each by its canonical
    /// encoding: each is a valid point, `ed25519-dalek` calls it weak,
    /// re-encoding it gives the same bytes, and no two are the same point.
    #[test]
    fn the_small_order_list_is_every_point_of_small_order() {
        let mut seen = std::collections::HashSet::new();
        for encoding in SMALL_ORDER_ENCODINGS {
            let key = VerifyingKey::from_bytes(&encoding).unwrap();
            assert!(key.is_weak(), "{encoding:02x?}");
            assert_eq!(key.to_edwards().compress().to_bytes(), encoding);
            assert!(seen.insert(encoding));
        }
        assert_eq!(seen.len(), 8);
    }

    /// `[S]B − [k]A = R` holds with `R` the identity and `S = k·a`: ordinary
    /// verification accepts such a signature for any message, strict
    /// verification must not (SPEC-QUESTIONS: R = identity).
    #[test]
    fn a_signature_whose_r_is_the_identity_is_refused_although_its_equation_holds() {
        use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
        use curve25519_dalek::scalar::Scalar;
        use sha2::{Digest, Sha512};

        let secret = Scalar::from_bytes_mod_order([7; 32]);
        let public = (ED25519_BASEPOINT_POINT * secret).compress().to_bytes();
        let identity = SMALL_ORDER_ENCODINGS[0];
        let label = Label::GroupMessageSignature;
        let message = b"any message at all";
        let k = Scalar::from_hash(
            Sha512::new()
                .chain_update(identity)
                .chain_update(public)
                .chain_update(label.as_bytes())
                .chain_update(message),
        );
        let signature = signature_bytes(&identity, &(k * secret).to_bytes());
        let key = VerifyingKey::from_bytes(&public).unwrap();
        assert!(
            key.multipart_verify(
                &[label.as_bytes(), message],
                &Signature::from_bytes(&signature.0)
            )
            .is_ok(),
            "the equation holds"
        );
        let public = Ed25519PublicKey(public);
        assert_eq!(
            verify(&public, label, message, &signature),
            Err(SealError::BadSignature)
        );
        assert_eq!(
            VerifyingSigningKey::decode(&public)
                .unwrap()
                .verify(label, message, &signature),
            Err(SealError::BadSignature)
        );
        // And the one SPEC-QUESTIONS names: R = identity, S = 1.
        let mut one = [0u8; 32];
        one[0] = 1;
        assert_eq!(
            verify(&public, label, message, &signature_bytes(&identity, &one)),
            Err(SealError::BadSignature)
        );
    }

    /// On honest and on altered signatures (each small-order `R`, an `R`
    /// and an `S` that are not canonical, flipped bits) and on keys of
    /// small order, the check here and `verify_strict` agree.
    #[test]
    fn verification_agrees_with_verify_strict() {
        let signer = SigningSecret::from_bytes([3; 32]);
        let label = Label::IdentitySignature;
        let message = b"message";
        let honest = signer.sign(label, message);
        let mut r = [0u8; 32];
        r.copy_from_slice(&honest.0[..32]);
        let mut s = [0u8; 32];
        s.copy_from_slice(&honest.0[32..]);
        let mut signatures = vec![honest];
        for encoding in SMALL_ORDER_ENCODINGS {
            signatures.push(signature_bytes(&encoding, &s));
        }
        // The identity's encoding with y = 1 + p, not reduced.
        let mut unreduced_identity = [0xff; 32];
        unreduced_identity[0] = 0xee;
        unreduced_identity[31] = 0x7f;
        signatures.push(signature_bytes(&unreduced_identity, &s));
        // S + L, the same scalar not reduced.
        let order: [u8; 32] = [
            0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9,
            0xde, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x10,
        ];
        let mut unreduced = [0u8; 32];
        let mut carry = 0u16;
        for i in 0..32 {
            let sum = u16::from(s[i]) + u16::from(order[i]) + carry;
            unreduced[i] = sum as u8;
            carry = sum >> 8;
        }
        signatures.push(signature_bytes(&r, &unreduced));
        for bit in [0, 7, 100, 255, 256, 300, 511] {
            let mut flipped = honest;
            flipped.0[bit / 8] ^= 1 << (bit % 8);
            signatures.push(flipped);
        }
        let mut keys = vec![signer.public_key()];
        keys.extend(SMALL_ORDER_ENCODINGS.map(Ed25519PublicKey));
        for key in &keys {
            for signature in &signatures {
                let strict = VerifyingKey::from_bytes(&key.0).is_ok_and(|decoded| {
                    let mut signed = label.as_bytes().to_vec();
                    signed.extend_from_slice(message);
                    decoded
                        .verify_strict(&signed, &Signature::from_bytes(&signature.0))
                        .is_ok()
                });
                assert_eq!(
                    verify(key, label, message, signature).is_ok(),
                    strict,
                    "{key:?} {signature:?}"
                );
            }
        }
    }
}
