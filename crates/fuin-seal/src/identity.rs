//! A device's long-term identity: an Ed25519 signing key and an X25519
//! agreement key signed by it.

use rand_core::CryptoRng;

use crate::SealError;
use crate::primitives::kdf::Label;
use crate::primitives::signing::{self, SigningSecret};
use crate::primitives::x25519::{self, AgreementSecret};
use fuin_wire::PublicIdentity;

/// A device's secret identity. `Debug` shows only the public half.
#[derive(Clone)]
pub struct DeviceIdentity {
    signing: SigningSecret,
    agreement: AgreementSecret,
    public: PublicIdentity,
}

impl DeviceIdentity {
    /// Draws a new identity and signs its agreement key.
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        Self::from_secrets(SigningSecret::generate(rng), AgreementSecret::generate(rng))
    }

    pub(crate) fn from_secrets(signing: SigningSecret, agreement: AgreementSecret) -> Self {
        let agreement_key = agreement.public_key();
        let signature = signing.sign(Label::IdentitySignature, agreement_key.as_bytes());
        let public = PublicIdentity {
            signing_key: signing.public_key(),
            agreement_key,
            signature,
        };
        Self {
            signing,
            agreement,
            public,
        }
    }

    /// The public identity, as published in the directory.
    pub fn public(&self) -> &PublicIdentity {
        &self.public
    }

    /// Signs a relay's login challenge for this device at `address`
    /// (`spec/relay-api.md` §2.2). The signed input names the relay
    /// authentication label, the relay's origin (as the device was set up
    /// with it, `fuin_wire::relay::relay_origin`), the address and the
    /// nonce, so the signature serves no other purpose, no other device and
    /// no other relay.
    pub fn sign_relay_challenge(
        &self,
        origin: &str,
        address: &fuin_wire::DeviceAddress<'_>,
        nonce: &fuin_wire::relay::Nonce,
    ) -> fuin_wire::Ed25519Signature {
        self.signing.sign_relay_auth(origin, address, nonce)
    }

    pub(crate) fn signing(&self) -> &SigningSecret {
        &self.signing
    }

    pub(crate) fn agreement(&self) -> &AgreementSecret {
        &self.agreement
    }
}

impl std::fmt::Debug for DeviceIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceIdentity")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

/// A public identity whose signature verified and whose agreement key has no
/// small order. Only this type is used to derive keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedIdentity(PublicIdentity);

impl TrustedIdentity {
    /// Checks `identity`: its signing key signed its agreement key, and the
    /// agreement key is not of small order.
    pub fn verify(identity: &PublicIdentity) -> Result<Self, SealError> {
        x25519::check_public_key(&identity.agreement_key)?;
        signing::verify(
            &identity.signing_key,
            Label::IdentitySignature,
            identity.agreement_key.as_bytes(),
            &identity.signature,
        )?;
        Ok(Self(identity.clone()))
    }

    /// The identity.
    pub fn public(&self) -> &PublicIdentity {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity() -> DeviceIdentity {
        DeviceIdentity::from_secrets(
            SigningSecret::from_bytes([1; 32]),
            AgreementSecret::from_bytes([2; 32]),
        )
    }

    #[test]
    fn a_generated_identity_verifies() {
        assert!(TrustedIdentity::verify(identity().public()).is_ok());
    }

    #[test]
    fn a_swapped_agreement_key_fails_the_signature() {
        let mut public = identity().public().clone();
        public.agreement_key = AgreementSecret::from_bytes([3; 32]).public_key();
        assert_eq!(
            TrustedIdentity::verify(&public),
            Err(SealError::BadSignature)
        );
    }

    #[test]
    fn a_small_order_agreement_key_is_weak_even_if_signed() {
        let signing = SigningSecret::from_bytes([1; 32]);
        let weak = fuin_wire::X25519PublicKey([0; 32]);
        let public = PublicIdentity {
            signing_key: signing.public_key(),
            agreement_key: weak,
            signature: signing.sign(Label::IdentitySignature, weak.as_bytes()),
        };
        assert_eq!(
            TrustedIdentity::verify(&public),
            Err(SealError::WeakPublicKey)
        );
    }

    #[test]
    fn debug_shows_no_secret() {
        let shown = format!("{:?}", identity());
        assert!(shown.contains("DeviceIdentity"));
        assert!(!shown.contains(&"01".repeat(32)));
        assert!(!shown.contains(&"02".repeat(32)));
    }
}
