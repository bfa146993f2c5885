//! A device's prekeys (signed and one-time) and the checks on a peer's bundle.

use std::collections::BTreeMap;

use rand_core::CryptoRng;

use crate::SealError;
use crate::identity::{DeviceIdentity, TrustedIdentity};
use crate::primitives::framing::Framer;
use crate::primitives::kdf::Label;
use crate::primitives::kem::{self, KemSecret};
use crate::primitives::signing;
use crate::primitives::x25519::{self, AgreementSecret};
use fuin_wire::{
    DeviceAddress, KemPrekey, MlKemPublicKey, OneTimePrekey, PrekeyBundle, PrekeyId,
    PublicIdentity, SignedPrekey,
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

/// The string an identity signs to vouch for a KEM prekey: the same framing
/// as a signed prekey's, under its own label, over the 1,184-byte key.
pub(crate) fn kem_prekey_message(id: PrekeyId, key: &MlKemPublicKey) -> Vec<u8> {
    Framer::unlabelled()
        .u32(id.0)
        .field(key.as_bytes())
        .finish()
}

/// How many last-resort KEM prekeys a device keeps: the current one and
/// those before it, like signed prekeys.
pub const LAST_RESORT_KEM_PREKEYS_KEPT: usize = 3;

/// A device's secret prekeys. The device publishes their public halves and
/// keeps this store with its state.
#[derive(Clone, Default)]
pub struct PrekeyStore {
    /// Newest last.
    pub(crate) signed: Vec<(SignedPrekey, AgreementSecret)>,
    pub(crate) one_time: BTreeMap<u32, AgreementSecret>,
    /// Newest last.
    pub(crate) last_resort_kem: Vec<(KemPrekey, KemSecret)>,
    pub(crate) one_time_kem: BTreeMap<u32, KemSecret>,
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

    /// Makes a new last-resort KEM prekey, signed by `identity`, and makes it
    /// current: the relay hands it out when the device's pool of one-time
    /// KEM prekeys is empty. The oldest is forgotten once more than
    /// [`LAST_RESORT_KEM_PREKEYS_KEPT`] exist.
    pub fn rotate_last_resort_kem_prekey<R: CryptoRng + ?Sized>(
        &mut self,
        identity: &DeviceIdentity,
        rng: &mut R,
    ) -> KemPrekey {
        let secret = KemSecret::generate(rng);
        let public = self.sign_kem_prekey(identity, &secret);
        self.last_resort_kem.push((public.clone(), secret));
        if self.last_resort_kem.len() > LAST_RESORT_KEM_PREKEYS_KEPT {
            self.last_resort_kem.remove(0);
        }
        public
    }

    /// The current last-resort KEM prekey, if one was made.
    pub fn current_last_resort_kem_prekey(&self) -> Option<&KemPrekey> {
        self.last_resort_kem.last().map(|(public, _)| public)
    }

    /// Makes `count` one-time KEM prekeys, each signed by `identity`, and
    /// returns their public halves for publishing.
    pub fn generate_one_time_kem_prekeys<R: CryptoRng + ?Sized>(
        &mut self,
        count: usize,
        identity: &DeviceIdentity,
        rng: &mut R,
    ) -> Vec<KemPrekey> {
        (0..count)
            .map(|_| {
                let secret = KemSecret::generate(rng);
                let public = self.sign_kem_prekey(identity, &secret);
                self.one_time_kem.insert(public.id.0, secret);
                public
            })
            .collect()
    }

    fn sign_kem_prekey(&mut self, identity: &DeviceIdentity, secret: &KemSecret) -> KemPrekey {
        let id = self.take_id();
        let public_key = secret.public_key();
        let signature = identity.signing().sign(
            Label::KemPrekeySignature,
            &kem_prekey_message(id, &public_key),
        );
        KemPrekey {
            id,
            public_key,
            signature,
        }
    }

    /// How many one-time KEM prekeys are still unused.
    pub fn one_time_kem_count(&self) -> usize {
        self.one_time_kem.len()
    }

    /// The secret of the KEM prekey `id`, one-time or last-resort, and
    /// whether it is one-time (consumed once a session is made with it).
    pub(crate) fn kem_secret(&self, id: PrekeyId) -> Result<(&KemSecret, bool), SealError> {
        if let Some(secret) = self.one_time_kem.get(&id.0) {
            return Ok((secret, true));
        }
        self.last_resort_kem
            .iter()
            .find(|(public, _)| public.id == id)
            .map(|(_, secret)| (secret, false))
            .ok_or(SealError::UnknownKemPrekey { id: id.0 })
    }

    /// Forgets a one-time KEM prekey once a session was made with it.
    pub(crate) fn consume_one_time_kem(&mut self, id: PrekeyId) {
        self.one_time_kem.remove(&id.0);
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
    /// one-time prekey (or none) and KEM prekey (`None`: the current
    /// last-resort one). `None` if no signed prekey or no last-resort KEM
    /// prekey was made. Used by tests and by a relay stand-in.
    pub fn bundle(
        &self,
        address: DeviceAddress<'static>,
        identity: &DeviceIdentity,
        one_time_prekey: Option<OneTimePrekey>,
        kem_prekey: Option<KemPrekey>,
    ) -> Option<PrekeyBundle<'static>> {
        let kem_prekey = match kem_prekey {
            Some(kem_prekey) => kem_prekey,
            None => self.current_last_resort_kem_prekey()?.clone(),
        };
        Some(PrekeyBundle {
            address,
            identity: identity.public().clone(),
            signed_prekey: self.current_signed_prekey()?.clone(),
            one_time_prekey,
            kem_prekey: Some(kem_prekey),
        })
    }
}

impl std::fmt::Debug for PrekeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrekeyStore")
            .field("signed_prekeys", &self.signed.len())
            .field("one_time_prekeys", &self.one_time.len())
            .field("last_resort_kem_prekeys", &self.last_resort_kem.len())
            .field("one_time_kem_prekeys", &self.one_time_kem.len())
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
    pub(crate) kem_prekey: KemPrekey,
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
        let kem_prekey = bundle
            .kem_prekey
            .as_ref()
            .ok_or(SealError::MissingKemPrekey)?;
        kem::check_public_key(&kem_prekey.public_key)?;
        signing::verify(
            &bundle.identity.signing_key,
            Label::KemPrekeySignature,
            &kem_prekey_message(kem_prekey.id, &kem_prekey.public_key),
            &kem_prekey.signature,
        )?;
        Ok(Self {
            address: bundle.address.clone().into_owned(),
            identity,
            signed_prekey: signed.clone(),
            one_time_prekey: bundle.one_time_prekey.clone(),
            kem_prekey: kem_prekey.clone(),
        })
    }

    /// The device's identity.
    pub fn identity(&self) -> &PublicIdentity {
        self.identity.public()
    }
}
