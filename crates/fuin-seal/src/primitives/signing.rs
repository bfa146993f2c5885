//! Ed25519 signatures, always under a protocol label and verified strictly.

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
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
        let mut signed = Vec::with_capacity(label.as_bytes().len() + message.len());
        signed.extend_from_slice(label.as_bytes());
        signed.extend_from_slice(message);
        Ed25519Signature(self.0.sign(&signed).to_bytes())
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
        Ed25519Signature(self.0.sign(&input).to_bytes())
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
        let mut signed = Vec::with_capacity(label.as_bytes().len() + message.len());
        signed.extend_from_slice(label.as_bytes());
        signed.extend_from_slice(message);
        self.0
            .verify_strict(&signed, &Signature::from_bytes(&signature.0))
            .map_err(|_| SealError::BadSignature)
    }
}

/// Verifies a signature over `label || message`, rejecting non-canonical and
/// small-order keys and signatures (`verify_strict`).
pub fn verify(
    key: &Ed25519PublicKey,
    label: Label,
    message: &[u8],
    signature: &Ed25519Signature,
) -> Result<(), SealError> {
    let key = VerifyingKey::from_bytes(&key.0).map_err(|_| SealError::BadSignature)?;
    let mut signed = Vec::with_capacity(label.as_bytes().len() + message.len());
    signed.extend_from_slice(label.as_bytes());
    signed.extend_from_slice(message);
    key.verify_strict(&signed, &Signature::from_bytes(&signature.0))
        .map_err(|_| SealError::BadSignature)
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
}
