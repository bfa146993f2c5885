//! Accounts and their devices: the device list a user's account key signs,
//! the request that creates an account at a relay, and the frames of the
//! link exchange through which a new device joins an account.
//!
//! The relay stores and serves signed device lists but cannot make one;
//! clients seal only to the devices a list names (`spec/accounts.md`).

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::bounded::BoundedVec;
use crate::bytes::secret_field;
use crate::relay::MAX_DEVICES_PER_USER;
use crate::{
    DeviceAddress, DeviceId, Ed25519PublicKey, Ed25519Signature, MlKemPublicKey, Opaque,
    PublicIdentity, UserId, WireError, X25519PublicKey,
};

/// Longest device name, in bytes of UTF-8.
pub const MAX_DEVICE_NAME_LEN: usize = 64;
/// Largest sealed body of one link exchange message.
pub const MAX_LINK_SEALED_LEN: usize = 16 * 1024;
/// Domain-separation label of the string an account key signs: the label
/// followed by the encoding of a [`DeviceListContent`].
pub const DEVICE_LIST_LABEL: &[u8] = b"fuin/v1/device-list";

/// A name a user gives one of their devices ("laptop"), shown to their
/// contacts when it is linked: 1 to 64 bytes of UTF-8 with no control,
/// format or other invisible character ([`crate::text`]).
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DeviceName<'a>(#[serde(borrow)] Cow<'a, str>);

impl<'a> DeviceName<'a> {
    /// Checks `name` against the rules above and wraps it.
    pub fn new(name: impl Into<Cow<'a, str>>) -> Result<Self, WireError> {
        let name = Self(name.into());
        name.validate()?;
        Ok(name)
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Copies the text if it is borrowed.
    pub fn into_owned(self) -> DeviceName<'static> {
        DeviceName(Cow::Owned(self.0.into_owned()))
    }

    pub(crate) fn validate(&self) -> Result<(), WireError> {
        const FIELD: &str = "device_name";
        if self.0.is_empty() {
            return Err(WireError::InvalidField {
                field: FIELD,
                reason: "is empty",
            });
        }
        if self.0.len() > MAX_DEVICE_NAME_LEN {
            return Err(WireError::LimitExceeded {
                field: FIELD,
                len: self.0.len(),
                max: MAX_DEVICE_NAME_LEN,
            });
        }
        if self.0.chars().any(char::is_control) {
            return Err(WireError::InvalidField {
                field: FIELD,
                reason: "contains a control character",
            });
        }
        crate::text::check_shown_name(FIELD, &self.0)
    }
}

impl fmt::Debug for DeviceName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DeviceName({:?})", self.0)
    }
}

impl fmt::Display for DeviceName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

secret_field!(
    /// The 32-byte seed of a user's Ed25519 account key, handed from one of
    /// the user's devices to a device it links: whoever holds it can change
    /// the user's device list.
    AccountSecret
);

secret_field!(
    /// A single-use invitation an operator makes for a relay that registers
    /// new users by invitation only.
    InviteCode
);

/// One device of an account, as its device list names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountDevice<'a> {
    /// The device's id within its user.
    pub device: DeviceId,
    /// The device's identity.
    pub identity: PublicIdentity,
    /// The name the user gave it.
    #[serde(borrow)]
    pub name: DeviceName<'a>,
    /// When it was linked, ms since the Unix epoch, by the linking device's
    /// clock.
    pub added_at_ms: u64,
}

impl AccountDevice<'_> {
    /// Copies borrowed parts.
    pub fn into_owned(self) -> AccountDevice<'static> {
        AccountDevice {
            device: self.device,
            identity: self.identity,
            name: self.name.into_owned(),
            added_at_ms: self.added_at_ms,
        }
    }
}

/// What an account key signs: a user's devices at one version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceListContent<'a> {
    /// Whose devices these are.
    #[serde(borrow)]
    pub user: UserId<'a>,
    /// The account key that signs the list.
    pub account_key: Ed25519PublicKey,
    /// Grows by at least one with every new list of the user.
    pub version: u64,
    /// When the list was signed, ms since the Unix epoch, by the signing
    /// device's clock.
    pub created_at_ms: u64,
    /// At most [`MAX_DEVICES_PER_USER`], strictly ascending by device id.
    #[serde(borrow)]
    pub devices: BoundedVec<AccountDevice<'a>, MAX_DEVICES_PER_USER>,
}

impl DeviceListContent<'_> {
    /// The string the account key signs: [`DEVICE_LIST_LABEL`] followed by
    /// the content's encoding (the frame body of a [`SignedDeviceList`] up
    /// to its signature).
    pub fn signed_string(&self) -> Result<Vec<u8>, WireError> {
        self.validate()?;
        let out = DEVICE_LIST_LABEL.to_vec();
        postcard::to_extend(self, out).map_err(|_| WireError::Malformed {
            reason: "value cannot be encoded",
        })
    }

    /// The device with id `device`, if the list names it.
    pub fn device(&self, device: DeviceId) -> Option<&AccountDevice<'_>> {
        self.devices
            .as_slice()
            .iter()
            .find(|entry| entry.device == device)
    }

    /// Copies borrowed parts.
    pub fn into_owned(self) -> DeviceListContent<'static> {
        DeviceListContent {
            user: self.user.into_owned(),
            account_key: self.account_key,
            version: self.version,
            created_at_ms: self.created_at_ms,
            devices: self
                .devices
                .into_vec()
                .into_iter()
                .map(AccountDevice::into_owned)
                .collect::<Vec<_>>()
                .into(),
        }
    }

    pub(crate) fn validate(&self) -> Result<(), WireError> {
        self.user.validate()?;
        self.devices.check_len("devices")?;
        let mut previous: Option<DeviceId> = None;
        for entry in self.devices.as_slice() {
            entry.name.validate()?;
            if previous.is_some_and(|previous| previous >= entry.device) {
                return Err(WireError::InvalidField {
                    field: "devices",
                    reason: "not in strictly ascending device order",
                });
            }
            previous = Some(entry.device);
        }
        Ok(())
    }
}

/// Tag 32: a user's device list, signed by the user's account key. The
/// relay serves the newest one it accepted (`GET /v1/users/{user}/devices`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedDeviceList<'a> {
    /// What is signed.
    #[serde(borrow)]
    pub content: DeviceListContent<'a>,
    /// The account key's signature over
    /// [`DeviceListContent::signed_string`].
    pub signature: Ed25519Signature,
}

impl SignedDeviceList<'_> {
    /// Copies borrowed parts.
    pub fn into_owned(self) -> SignedDeviceList<'static> {
        SignedDeviceList {
            content: self.content.into_owned(),
            signature: self.signature,
        }
    }

    pub(crate) fn validate(&self) -> Result<(), WireError> {
        self.content.validate()
    }
}

/// Tag 33: create an account at a relay with its first device list, under
/// the relay's registration policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountRegistration<'a> {
    /// The account's first list (any version), naming the devices the relay
    /// registers with it.
    #[serde(borrow)]
    pub device_list: SignedDeviceList<'a>,
    /// An operator's invitation, for a relay that requires one.
    pub invite: Option<InviteCode>,
}

impl AccountRegistration<'_> {
    /// Copies borrowed parts.
    pub fn into_owned(self) -> AccountRegistration<'static> {
        AccountRegistration {
            device_list: self.device_list.into_owned(),
            invite: self.invite,
        }
    }

    pub(crate) fn validate(&self) -> Result<(), WireError> {
        self.device_list.validate()
    }
}

/// Tag 34: one sealed message of a link exchange, left at and taken from
/// the relay's link rendezvous. The relay reads none of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkMessage<'a> {
    /// At most [`MAX_LINK_SEALED_LEN`] bytes.
    #[serde(borrow)]
    pub sealed: Opaque<'a>,
}

impl LinkMessage<'_> {
    /// Copies borrowed parts.
    pub fn into_owned(self) -> LinkMessage<'static> {
        LinkMessage {
            sealed: self.sealed.into_owned(),
        }
    }

    pub(crate) fn validate(&self) -> Result<(), WireError> {
        if self.sealed.len() > MAX_LINK_SEALED_LEN {
            return Err(WireError::LimitExceeded {
                field: "sealed",
                len: self.sealed.len(),
                max: MAX_LINK_SEALED_LEN,
            });
        }
        Ok(())
    }
}

/// Tag 48: what a new device asks to be linked with, sealed under its link
/// code (inside a [`LinkMessage`]); with the hybrid key the grant is to be
/// sealed to (`spec/accounts.md` §5.3). Replaces tag 35 (retired).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkRequest<'a> {
    /// The new device's identity; its fingerprint is in the link code.
    pub identity: PublicIdentity,
    /// The name the user gave the new device.
    #[serde(borrow)]
    pub name: DeviceName<'a>,
    /// When the code was made, ms since the Unix epoch, by the new device's
    /// clock.
    pub created_at_ms: u64,
    /// The X25519 half of the grant key: a fresh hybrid key made for this
    /// exchange alone.
    pub grant_key_x25519: X25519PublicKey,
    /// The ML-KEM-768 half of the grant key.
    pub grant_key_ml_kem: MlKemPublicKey,
}

impl LinkRequest<'_> {
    /// Copies borrowed parts.
    pub fn into_owned(self) -> LinkRequest<'static> {
        LinkRequest {
            identity: self.identity,
            name: self.name.into_owned(),
            created_at_ms: self.created_at_ms,
            grant_key_x25519: self.grant_key_x25519,
            grant_key_ml_kem: self.grant_key_ml_kem,
        }
    }

    pub(crate) fn validate(&self) -> Result<(), WireError> {
        self.name.validate()
    }
}

/// Tag 36: what an existing device hands the device it linked, sealed under
/// the link code (inside a [`LinkMessage`]): its address, the account key
/// and the signed list that names it. Holds a secret: never logged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkGrant<'a> {
    /// The address the new device has in the account.
    #[serde(borrow)]
    pub address: DeviceAddress<'a>,
    /// The account key's seed.
    pub account_secret: AccountSecret,
    /// The list that names the new device.
    #[serde(borrow)]
    pub device_list: SignedDeviceList<'a>,
}

impl LinkGrant<'_> {
    /// Copies borrowed parts.
    pub fn into_owned(self) -> LinkGrant<'static> {
        LinkGrant {
            address: self.address.into_owned(),
            account_secret: self.account_secret,
            device_list: self.device_list.into_owned(),
        }
    }

    pub(crate) fn validate(&self) -> Result<(), WireError> {
        self.address.validate()?;
        self.device_list.validate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Frame, FrameBody, X25519PublicKey};

    fn identity(seed: u8) -> PublicIdentity {
        PublicIdentity {
            signing_key: Ed25519PublicKey([seed; 32]),
            agreement_key: X25519PublicKey([seed ^ 0xff; 32]),
            signature: Ed25519Signature([seed; 64]),
        }
    }

    fn list(devices: &[u32]) -> SignedDeviceList<'static> {
        SignedDeviceList {
            content: DeviceListContent {
                user: UserId::new("bob").unwrap(),
                account_key: Ed25519PublicKey([7; 32]),
                version: 3,
                created_at_ms: 1_795_000_000_000,
                devices: devices
                    .iter()
                    .map(|&device| AccountDevice {
                        device: DeviceId(device),
                        identity: identity(device as u8),
                        name: DeviceName::new(format!("device {device}")).unwrap(),
                        added_at_ms: 1_795_000_000_000,
                    })
                    .collect::<Vec<_>>()
                    .into(),
            },
            signature: Ed25519Signature([9; 64]),
        }
    }

    #[test]
    fn a_signed_list_round_trips() {
        let bytes = list(&[1, 2, 5]).to_bytes().unwrap();
        assert_eq!(
            SignedDeviceList::from_bytes(&bytes).unwrap(),
            list(&[1, 2, 5])
        );
    }

    #[test]
    fn the_signed_string_is_the_label_then_the_body_before_the_signature() {
        let signed = list(&[1, 2]);
        let frame = signed.to_bytes().unwrap();
        let string = signed.content.signed_string().unwrap();
        assert_eq!(&string[..DEVICE_LIST_LABEL.len()], DEVICE_LIST_LABEL);
        // The frame is version, tag, content, signature.
        assert_eq!(
            &string[DEVICE_LIST_LABEL.len()..],
            &frame[2..frame.len() - 64]
        );
    }

    #[test]
    fn devices_out_of_order_or_repeated_are_refused() {
        for devices in [&[2, 1][..], &[1, 1]] {
            let mut bad = list(&[1, 2]);
            let mut entries = bad.content.devices.clone().into_vec();
            entries[0].device = DeviceId(devices[0]);
            entries[1].device = DeviceId(devices[1]);
            bad.content.devices = entries.into();
            assert!(matches!(
                bad.to_bytes(),
                Err(WireError::InvalidField {
                    field: "devices",
                    ..
                })
            ));
        }
    }

    #[test]
    fn device_names_are_checked() {
        assert!(DeviceName::new("").is_err());
        assert!(DeviceName::new("a\u{7}b").is_err());
        assert!(DeviceName::new("x".repeat(MAX_DEVICE_NAME_LEN)).is_ok());
        assert!(matches!(
            DeviceName::new("x".repeat(MAX_DEVICE_NAME_LEN + 1)),
            Err(WireError::LimitExceeded { .. })
        ));
    }

    #[test]
    fn a_grant_never_shows_the_account_secret() {
        let grant = LinkGrant {
            address: DeviceAddress::new(UserId::new("bob").unwrap(), DeviceId(2)),
            account_secret: AccountSecret([0xab; 32]),
            device_list: list(&[1, 2]),
        };
        let shown = format!("{grant:?}");
        assert!(shown.contains("AccountSecret(<redacted>)"));
        assert!(!shown.contains(&"ab".repeat(8)));
        assert!(!shown.contains("171, 171"));
        let bytes = grant.to_bytes().unwrap();
        assert_eq!(LinkGrant::from_bytes(&bytes).unwrap(), grant);
    }

    #[test]
    fn an_oversized_link_message_is_refused() {
        let message = LinkMessage {
            sealed: vec![0; MAX_LINK_SEALED_LEN + 1].into(),
        };
        assert!(matches!(
            message.to_bytes(),
            Err(WireError::LimitExceeded {
                field: "sealed",
                ..
            })
        ));
        let ok = LinkMessage {
            sealed: vec![0; MAX_LINK_SEALED_LEN].into(),
        };
        let bytes = ok.to_bytes().unwrap();
        assert!(matches!(Frame::decode(&bytes), Ok(Frame::LinkMessage(_))));
    }
}
