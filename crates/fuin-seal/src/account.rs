//! Accounts: a user's Ed25519 account key, the device list it signs, and the
//! checks that turn a list served by the relay into one a device may seal
//! to (`spec/accounts.md`).
//!
//! The relay is an adversary, so it must not decide which devices belong to
//! a user. Only a device holding the account key can sign a list; a device
//! seals only to devices named by the newest list that verifies under the
//! account key it trusts, and never goes back to an older one.

use rand_core::CryptoRng;

use crate::SealError;
use crate::identity::TrustedIdentity;
use crate::primitives::kdf::Label;
use crate::primitives::signing::{self, SigningSecret};
use fuin_wire::account::{AccountSecret, DeviceListContent, SignedDeviceList};
use fuin_wire::{DeviceId, Ed25519PublicKey, PublicIdentity, UserId};

/// A user's account key. Wiped on drop; `Debug` shows only the public key.
#[derive(Clone)]
pub struct AccountKey(SigningSecret);

impl AccountKey {
    /// Draws a new account key (on a user's first device).
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        Self(SigningSecret::generate(rng))
    }

    /// Restores the key from the seed a linking device handed over.
    pub fn from_secret(secret: &AccountSecret) -> Self {
        Self(SigningSecret::from_bytes(secret.0))
    }

    /// The seed, to hand to a device being linked (inside a sealed grant)
    /// or to store encrypted. Wiped when dropped.
    pub fn to_secret(&self) -> AccountSecret {
        AccountSecret(*self.0.to_bytes())
    }

    /// The public account key: the user's long-term identity.
    pub fn public_key(&self) -> Ed25519PublicKey {
        self.0.public_key()
    }

    /// Signs `content` after checking it is a list this key may sign: its
    /// account key is this key, it names at least one device, and every
    /// device identity is well formed.
    pub fn sign_device_list(
        &self,
        content: DeviceListContent<'_>,
    ) -> Result<SignedDeviceList<'static>, SealError> {
        if content.account_key != self.public_key() {
            return Err(SealError::ApiMisuse {
                reason: "a device list names another account key than the one signing it",
            });
        }
        check_devices(&content)?;
        let body = content.signed_string()?;
        let signature = self.0.sign(
            Label::DeviceListSignature,
            &body[fuin_wire::account::DEVICE_LIST_LABEL.len()..],
        );
        Ok(SignedDeviceList {
            content: content.into_owned(),
            signature,
        })
    }
}

impl std::fmt::Debug for AccountKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AccountKey(public: {:?})", self.public_key())
    }
}

/// A device list whose signature verified under the account key the caller
/// trusts, for the user the caller asked about, no older than the newest
/// list the caller had seen of that user, and naming only well-formed
/// device identities. Only this type says whom to seal to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedDeviceList(SignedDeviceList<'static>);

impl VerifiedDeviceList {
    /// Checks `list`, in this order (the first failure is the error):
    ///
    /// 1. it is a list of `user` ([`SealError::InvalidDeviceList`]);
    /// 2. its account key is `trusted_key`, when the caller trusts one
    ///    ([`SealError::AccountKeyMismatch`]); with `None` (a first contact)
    ///    the list's own key is taken on first use;
    /// 3. the account key's signature verifies strictly
    ///    ([`SealError::BadSignature`]);
    /// 4. its version is at least `newest_seen`
    ///    ([`SealError::DeviceListRollback`]);
    /// 5. it names at least one device, no two devices share a signing key,
    ///    and every identity verifies ([`SealError::InvalidDeviceList`],
    ///    [`SealError::BadSignature`], [`SealError::WeakPublicKey`]).
    pub fn verify(
        list: &SignedDeviceList<'_>,
        user: &UserId<'_>,
        trusted_key: Option<&Ed25519PublicKey>,
        newest_seen: Option<u64>,
    ) -> Result<Self, SealError> {
        let content = &list.content;
        if content.user != *user {
            return Err(SealError::InvalidDeviceList {
                reason: "the list is of another user",
            });
        }
        if trusted_key.is_some_and(|trusted| *trusted != content.account_key) {
            return Err(SealError::AccountKeyMismatch);
        }
        let body = content.signed_string()?;
        signing::verify(
            &content.account_key,
            Label::DeviceListSignature,
            &body[fuin_wire::account::DEVICE_LIST_LABEL.len()..],
            &list.signature,
        )?;
        if let Some(newest) = newest_seen
            && content.version < newest
        {
            return Err(SealError::DeviceListRollback {
                version: content.version,
                newest,
            });
        }
        check_devices(content)?;
        Ok(Self(list.clone().into_owned()))
    }

    /// The signed list.
    pub fn list(&self) -> &SignedDeviceList<'static> {
        &self.0
    }

    /// The account key that signed it.
    pub fn account_key(&self) -> &Ed25519PublicKey {
        &self.0.content.account_key
    }

    /// The list's version.
    pub fn version(&self) -> u64 {
        self.0.content.version
    }

    /// The identity the list gives `device`, if it names it.
    pub fn identity_of(&self, device: DeviceId) -> Option<&PublicIdentity> {
        self.0.content.device(device).map(|entry| &entry.identity)
    }
}

fn check_devices(content: &DeviceListContent<'_>) -> Result<(), SealError> {
    let devices = content.devices.as_slice();
    if devices.is_empty() {
        return Err(SealError::InvalidDeviceList {
            reason: "the list names no device",
        });
    }
    for (index, entry) in devices.iter().enumerate() {
        if devices[..index]
            .iter()
            .any(|earlier| earlier.identity.signing_key == entry.identity.signing_key)
        {
            return Err(SealError::InvalidDeviceList {
                reason: "two devices share one identity",
            });
        }
        TrustedIdentity::verify(&entry.identity)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DeviceIdentity;
    use fuin_wire::account::{AccountDevice, DeviceName};
    use fuin_wire::{Ed25519Signature, FrameBody};
    use rand_core::SeedableRng;

    fn rng(seed: u64) -> rand_chacha::ChaCha20Rng {
        rand_chacha::ChaCha20Rng::seed_from_u64(seed)
    }

    fn content(
        key: &AccountKey,
        version: u64,
        devices: &[&DeviceIdentity],
    ) -> DeviceListContent<'static> {
        DeviceListContent {
            user: UserId::new("bob").unwrap(),
            account_key: key.public_key(),
            version,
            created_at_ms: 1_795_000_000_000 + version,
            devices: devices
                .iter()
                .enumerate()
                .map(|(index, identity)| AccountDevice {
                    device: DeviceId(index as u32 + 1),
                    identity: identity.public().clone(),
                    name: DeviceName::new(format!("device {}", index + 1)).unwrap(),
                    added_at_ms: 1_795_000_000_000,
                })
                .collect::<Vec<_>>()
                .into(),
        }
    }

    fn bob() -> UserId<'static> {
        UserId::new("bob").unwrap()
    }

    #[test]
    fn a_signed_list_verifies_and_survives_the_wire() {
        let key = AccountKey::generate(&mut rng(1));
        let phone = DeviceIdentity::generate(&mut rng(2));
        let signed = key.sign_device_list(content(&key, 1, &[&phone])).unwrap();
        let bytes = signed.to_bytes().unwrap();
        let decoded = SignedDeviceList::from_bytes(&bytes).unwrap();
        let verified =
            VerifiedDeviceList::verify(&decoded, &bob(), Some(&key.public_key()), Some(1)).unwrap();
        assert_eq!(verified.version(), 1);
        assert_eq!(verified.identity_of(DeviceId(1)), Some(phone.public()));
        assert_eq!(verified.identity_of(DeviceId(2)), None);
    }

    #[test]
    fn the_signed_string_carries_the_wire_label() {
        assert_eq!(
            Label::DeviceListSignature.as_bytes(),
            fuin_wire::account::DEVICE_LIST_LABEL
        );
    }

    #[test]
    fn a_list_signed_by_another_key_is_refused() {
        let key = AccountKey::generate(&mut rng(1));
        let relay_key = AccountKey::generate(&mut rng(9));
        let phone = DeviceIdentity::generate(&mut rng(2));
        let ghost = DeviceIdentity::generate(&mut rng(3));
        let forged = relay_key
            .sign_device_list(content(&relay_key, 2, &[&phone, &ghost]))
            .unwrap();
        assert_eq!(
            VerifiedDeviceList::verify(&forged, &bob(), Some(&key.public_key()), Some(1)),
            Err(SealError::AccountKeyMismatch)
        );
    }

    #[test]
    fn an_added_device_breaks_the_signature() {
        let key = AccountKey::generate(&mut rng(1));
        let phone = DeviceIdentity::generate(&mut rng(2));
        let ghost = DeviceIdentity::generate(&mut rng(3));
        let mut signed = key.sign_device_list(content(&key, 1, &[&phone])).unwrap();
        signed.content = content(&key, 1, &[&phone, &ghost]);
        assert_eq!(
            VerifiedDeviceList::verify(&signed, &bob(), Some(&key.public_key()), None),
            Err(SealError::BadSignature)
        );
        // Taken on first use, the served key still has to have signed it.
        assert_eq!(
            VerifiedDeviceList::verify(&signed, &bob(), None, None),
            Err(SealError::BadSignature)
        );
        let mut zero = signed.clone();
        zero.signature = Ed25519Signature([0; 64]);
        assert_eq!(
            VerifiedDeviceList::verify(&zero, &bob(), None, None),
            Err(SealError::BadSignature)
        );
    }

    #[test]
    fn an_older_version_is_a_rollback_and_the_same_version_is_not() {
        let key = AccountKey::generate(&mut rng(1));
        let phone = DeviceIdentity::generate(&mut rng(2));
        let signed = key.sign_device_list(content(&key, 4, &[&phone])).unwrap();
        let trusted = Some(key.public_key());
        assert_eq!(
            VerifiedDeviceList::verify(&signed, &bob(), trusted.as_ref(), Some(5)),
            Err(SealError::DeviceListRollback {
                version: 4,
                newest: 5
            })
        );
        assert!(VerifiedDeviceList::verify(&signed, &bob(), trusted.as_ref(), Some(4)).is_ok());
        assert!(VerifiedDeviceList::verify(&signed, &bob(), trusted.as_ref(), Some(3)).is_ok());
    }

    #[test]
    fn a_list_of_another_user_is_refused() {
        let key = AccountKey::generate(&mut rng(1));
        let phone = DeviceIdentity::generate(&mut rng(2));
        let signed = key.sign_device_list(content(&key, 1, &[&phone])).unwrap();
        assert_eq!(
            VerifiedDeviceList::verify(&signed, &UserId::new("bobby").unwrap(), None, None),
            Err(SealError::InvalidDeviceList {
                reason: "the list is of another user"
            })
        );
    }

    #[test]
    fn empty_lists_shared_identities_and_bad_identities_are_not_signed() {
        let key = AccountKey::generate(&mut rng(1));
        let phone = DeviceIdentity::generate(&mut rng(2));
        assert_eq!(
            key.sign_device_list(content(&key, 1, &[])),
            Err(SealError::InvalidDeviceList {
                reason: "the list names no device"
            })
        );
        assert_eq!(
            key.sign_device_list(content(&key, 1, &[&phone, &phone])),
            Err(SealError::InvalidDeviceList {
                reason: "two devices share one identity"
            })
        );
        let mut bad = content(&key, 1, &[&phone]);
        let mut entries = bad.devices.clone().into_vec();
        entries[0].identity.agreement_key = fuin_wire::X25519PublicKey([9; 32]);
        bad.devices = entries.into();
        assert_eq!(key.sign_device_list(bad), Err(SealError::BadSignature));
        let other = AccountKey::generate(&mut rng(5));
        assert!(matches!(
            key.sign_device_list(content(&other, 1, &[&phone])),
            Err(SealError::ApiMisuse { .. })
        ));
    }

    #[test]
    fn the_secret_restores_the_key_and_debug_shows_no_secret() {
        let key = AccountKey::generate(&mut rng(1));
        let secret = key.to_secret();
        assert_eq!(
            AccountKey::from_secret(&secret).public_key(),
            key.public_key()
        );
        let shown = format!("{key:?} {secret:?}");
        assert!(!shown.contains(&hex::encode(secret.0)));
        assert!(shown.contains("<redacted>"));
    }
}
