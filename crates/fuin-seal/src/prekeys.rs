//! A device's prekeys (signed and one-time) and the checks on a peer's bundle.

use std::collections::BTreeMap;

use rand_core::CryptoRng;

use crate::SealError;
use crate::identity::{DeviceIdentity, TrustedIdentity};
use crate::primitives::framing::Framer;
use crate::primitives::kdf::Label;
use crate::primitives::signing;
use crate::primitives::x25519::{self, AgreementSecret};
use fuin_wire::{
    DeviceAddress, OneTimePrekey, PrekeyBundle, PrekeyId, PublicIdentity, SignedPrekey,
};

/// How many signed prekeys a device keeps: the current one and those before
/// it, so that a first message sealed to a just-rotated prekey still opens.
pub const SIGNED_PREKEYS_KEPT: usize = 3;

/// The string an identity signs to vouch for a signed prekey.
pub(crate) fn signed_prekey_message(id: PrekeyId, key: &fuin_wire::X25519PublicKey) -> Vec<u8> {
    Framer::unlabelled()
        .u32(id.0)
        .field(key.as_bytes())
        .finish()
}

/// A device's secret prekeys. The device publishes their public halves and
/// keeps this store with its state.
#[derive(Clone, Default)]
pub struct PrekeyStore {
    /// Newest last.
    pub(crate) signed: Vec<(SignedPrekey, AgreementSecret)>,
    pub(crate) one_time: BTreeMap<u32, AgreementSecret>,
    pub(crate) next_id: u32,
}

impl PrekeyStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn take_id(&mut self) -> PrekeyId {
        let id = PrekeyId(self.next_id);
        self.next_id = self.next_id.wrapping_add(1);
        id
    }

    /// Makes a new signed prekey, signed by `identity`, and makes it current.
    /// The oldest is forgotten once more than [`SIGNED_PREKEYS_KEPT`] exist.
    pub fn rotate_signed_prekey<R: CryptoRng + ?Sized>(
        &mut self,
        identity: &DeviceIdentity,
        rng: &mut R,
    ) -> SignedPrekey {
        let secret = AgreementSecret::generate(rng);
        let id = self.take_id();
        let public_key = secret.public_key();
        let signature = identity.signing().sign(
            Label::SignedPrekeySignature,
            &signed_prekey_message(id, &public_key),
        );
        let signed = SignedPrekey {
            id,
            public_key,
            signature,
        };
        self.signed.push((signed.clone(), secret));
        if self.signed.len() > SIGNED_PREKEYS_KEPT {
            self.signed.remove(0);
        }
        signed
    }

    /// The current signed prekey, if one was made.
    pub fn current_signed_prekey(&self) -> Option<&SignedPrekey> {
        self.signed.last().map(|(public, _)| public)
    }

    /// Makes `count` one-time prekeys and returns their public halves for
    /// publishing.
    pub fn generate_one_time_prekeys<R: CryptoRng + ?Sized>(
        &mut self,
        count: usize,
        rng: &mut R,
    ) -> Vec<OneTimePrekey> {
        (0..count)
            .map(|_| {
                let secret = AgreementSecret::generate(rng);
                let id = self.take_id();
                let public = OneTimePrekey {
                    id,
                    public_key: secret.public_key(),
                };
                self.one_time.insert(id.0, secret);
                public
            })
            .collect()
    }

    /// How many one-time prekeys are still unused.
    pub fn one_time_count(&self) -> usize {
        self.one_time.len()
    }

    pub(crate) fn signed_secret(&self, id: PrekeyId) -> Result<&AgreementSecret, SealError> {
        self.signed
            .iter()
            .find(|(public, _)| public.id == id)
            .map(|(_, secret)| secret)
            .ok_or(SealError::UnknownSignedPrekey { id: id.0 })
    }

    pub(crate) fn one_time_secret(&self, id: PrekeyId) -> Result<&AgreementSecret, SealError> {
        self.one_time
            .get(&id.0)
            .ok_or(SealError::UnknownOneTimePrekey { id: id.0 })
    }

    /// Forgets a one-time prekey once a session was made with it.
    pub(crate) fn consume_one_time(&mut self, id: PrekeyId) {
        self.one_time.remove(&id.0);
    }

    /// The bundle the relay would hand out for this device, with the given
    /// one-time prekey (or none). Used by tests and by a relay stand-in.
    pub fn bundle(
        &self,
        address: DeviceAddress<'static>,
        identity: &DeviceIdentity,
        one_time_prekey: Option<OneTimePrekey>,
    ) -> Option<PrekeyBundle<'static>> {
        Some(PrekeyBundle {
            address,
            identity: identity.public().clone(),
            signed_prekey: self.current_signed_prekey()?.clone(),
            one_time_prekey,
        })
    }
}

impl std::fmt::Debug for PrekeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrekeyStore")
            .field("signed_prekeys", &self.signed.len())
            .field("one_time_prekeys", &self.one_time.len())
            .finish_non_exhaustive()
    }
}

/// A peer's bundle that passed every check: it is for the device asked for,
/// its identity is the one expected (if one was), the identity and the signed
/// prekey verify, and no key has small order.
#[derive(Debug, Clone)]
pub struct VerifiedBundle {
    pub(crate) address: DeviceAddress<'static>,
    pub(crate) identity: TrustedIdentity,
    pub(crate) signed_prekey: SignedPrekey,
    pub(crate) one_time_prekey: Option<OneTimePrekey>,
}

impl VerifiedBundle {
    /// Checks `bundle`, fetched for `address`. `trusted` is the identity
    /// already trusted for that device, if any: a bundle with another one
    /// fails with [`SealError::IdentityMismatch`] (a key substitution, or a
    /// reinstalled device the user must confirm).
    pub fn verify(
        bundle: &PrekeyBundle<'_>,
        address: &DeviceAddress<'_>,
        trusted: Option<&PublicIdentity>,
    ) -> Result<Self, SealError> {
        if bundle.address != *address {
            return Err(SealError::AddressMismatch);
        }
        if let Some(trusted) = trusted
            && *trusted != bundle.identity
        {
            return Err(SealError::IdentityMismatch);
        }
        let identity = TrustedIdentity::verify(&bundle.identity)?;
        let signed = &bundle.signed_prekey;
        x25519::check_public_key(&signed.public_key)?;
        signing::verify(
            &bundle.identity.signing_key,
            Label::SignedPrekeySignature,
            &signed_prekey_message(signed.id, &signed.public_key),
            &signed.signature,
        )?;
        if let Some(one_time) = &bundle.one_time_prekey {
            x25519::check_public_key(&one_time.public_key)?;
        }
        Ok(Self {
            address: bundle.address.clone().into_owned(),
            identity,
            signed_prekey: signed.clone(),
            one_time_prekey: bundle.one_time_prekey.clone(),
        })
    }

    /// The device's identity.
    pub fn identity(&self) -> &PublicIdentity {
        self.identity.public()
    }
}
