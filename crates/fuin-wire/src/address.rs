//! Who a frame is for or from: user ids, device ids and device addresses.

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::WireError;
use crate::limits::MAX_USER_ID_LEN;

/// A user's account name at the relay: 1 to 64 bytes of UTF-8 with no
/// control, format or other invisible character ([`crate::text`]). Borrowed
/// from the input when decoded.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UserId<'a>(#[serde(borrow)] Cow<'a, str>);

impl<'a> UserId<'a> {
    /// Checks `id` against the rules of `spec/wire.md` and wraps it.
    pub fn new(id: impl Into<Cow<'a, str>>) -> Result<Self, WireError> {
        let id = Self(id.into());
        id.validate()?;
        Ok(id)
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Copies the id if it is borrowed.
    pub fn into_owned(self) -> UserId<'static> {
        UserId(Cow::Owned(self.0.into_owned()))
    }

    pub(crate) fn validate(&self) -> Result<(), WireError> {
        const FIELD: &str = "user_id";
        if self.0.is_empty() {
            return Err(WireError::InvalidField {
                field: FIELD,
                reason: "is empty",
            });
        }
        if self.0.len() > MAX_USER_ID_LEN {
            return Err(WireError::LimitExceeded {
                field: FIELD,
                len: self.0.len(),
                max: MAX_USER_ID_LEN,
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

impl fmt::Debug for UserId<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UserId({:?})", self.0)
    }
}

impl fmt::Display for UserId<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One of a user's devices, numbered by the user's clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DeviceId(pub u32);

impl fmt::Display for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The address of one device: the unit the relay keeps a mailbox for.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct DeviceAddress<'a> {
    /// The account.
    #[serde(borrow)]
    pub user: UserId<'a>,
    /// The device within the account.
    pub device: DeviceId,
}

impl<'a> DeviceAddress<'a> {
    /// Builds an address from a user id and a device number.
    pub fn new(user: UserId<'a>, device: DeviceId) -> Self {
        Self { user, device }
    }

    /// Copies the user id if it is borrowed.
    pub fn into_owned(self) -> DeviceAddress<'static> {
        DeviceAddress {
            user: self.user.into_owned(),
            device: self.device,
        }
    }

    pub(crate) fn validate(&self) -> Result<(), WireError> {
        self.user.validate()
    }
}

impl fmt::Display for DeviceAddress<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.user, self.device)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_id_accepts_unicode_up_to_the_byte_limit() {
        let sixteen_four_byte_chars = "𝔣".repeat(16);
        assert_eq!(sixteen_four_byte_chars.len(), MAX_USER_ID_LEN);
        assert!(UserId::new(sixteen_four_byte_chars).is_ok());
    }

    #[test]
    fn user_id_rejects_empty_long_and_control_characters() {
        assert_eq!(
            UserId::new(""),
            Err(WireError::InvalidField {
                field: "user_id",
                reason: "is empty"
            })
        );
        assert_eq!(
            UserId::new("a".repeat(65)),
            Err(WireError::LimitExceeded {
                field: "user_id",
                len: 65,
                max: 64
            })
        );
        assert!(matches!(
            UserId::new("alice\nbob"),
            Err(WireError::InvalidField { .. })
        ));
    }

    #[test]
    fn address_displays_as_user_slash_device() {
        let address = DeviceAddress::new(UserId::new("alice").unwrap(), DeviceId(2));
        assert_eq!(address.to_string(), "alice/2");
    }
}
