//! Report content at rest: sealed in the database under the service's
//! vault key (`spec/report.md` §13.2).
//!
//! The database (which several instances may share on a PostgreSQL server
//! run by someone else) holds no reported text, file name, attachment or
//! note in the clear. Each value is sealed with fuin's committing AEAD under
//! the vault key with a fresh 32-byte salt, bound to the case and the field
//! it belongs to, so a value moved to another case or field does not open.
//! The key is 32 random bytes in a file of mode 0600 next to moderation's
//! secret key; it never leaves the service.

use fuin_seal::primitives::aead;
use fuin_seal::primitives::framing::Framer;
use fuin_seal::primitives::kdf::Label;
use rand::Rng;
use zeroize::Zeroizing;

use crate::model::{CaseId, Sealed};

/// The format's version byte, in front of each sealed value and in its
/// associated data.
const VERSION: u8 = 0x01;

/// Length of the salt after the version byte.
const SALT_LEN: usize = 32;

/// The service's vault key.
pub struct Vault {
    key: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Vault(..)")
    }
}

/// A sealed value that does not open: another key, another case or field,
/// or changed bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VaultError;

impl std::fmt::Display for VaultError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a sealed value in the database does not open with the vault key")
    }
}

impl std::error::Error for VaultError {}

impl Vault {
    /// A vault with this key.
    pub fn new(key: [u8; 32]) -> Self {
        Self {
            key: Zeroizing::new(key),
        }
    }

    /// A new random key.
    pub fn generate() -> Self {
        let mut key = Zeroizing::new([0u8; 32]);
        rand::rng().fill_bytes(key.as_mut());
        Self { key }
    }

    /// The key's bytes, to write to its file.
    pub fn key_bytes(&self) -> &[u8; 32] {
        &self.key
    }

    fn ad(case: &CaseId, field: &str) -> Vec<u8> {
        Framer::new(Label::ModerationVaultAssociatedData.as_bytes())
            .field(&[VERSION])
            .field(case.0.as_bytes())
            .field(field.as_bytes())
            .finish()
    }

    /// Seals `plaintext` as `field` of `case`: one of `reason`,
    /// `message/I/text`, `message/I/file-name`, `message/I/attachment`
    /// ([`message_field`]) and `note/AUTHOR/TIME_MS` ([`note_field`]).
    pub fn seal(&self, case: &CaseId, field: &str, plaintext: &[u8]) -> Sealed {
        let mut salt = [0u8; SALT_LEN];
        rand::rng().fill_bytes(&mut salt);
        let sealed = aead::seal(
            Label::ModerationVaultKeys,
            Some(&salt),
            self.key.as_ref(),
            &Self::ad(case, field),
            plaintext,
        );
        let mut out = Vec::with_capacity(1 + SALT_LEN + sealed.len());
        out.push(VERSION);
        out.extend_from_slice(&salt);
        out.extend_from_slice(&sealed);
        Sealed(out)
    }

    /// Opens what [`Vault::seal`] sealed as `field` of `case`.
    pub fn open(
        &self,
        case: &CaseId,
        field: &str,
        sealed: &Sealed,
    ) -> Result<Zeroizing<Vec<u8>>, VaultError> {
        let Some((&VERSION, rest)) = sealed.0.split_first() else {
            return Err(VaultError);
        };
        if rest.len() < SALT_LEN {
            return Err(VaultError);
        }
        let (salt, rest) = rest.split_at(SALT_LEN);
        aead::open(
            Label::ModerationVaultKeys,
            Some(salt),
            self.key.as_ref(),
            &Self::ad(case, field),
            rest,
        )
        .map_err(|_| VaultError)
    }

    /// [`Vault::open`] as text (invalid UTF-8 shown with replacement
    /// characters).
    pub fn open_text(
        &self,
        case: &CaseId,
        field: &str,
        sealed: &Sealed,
    ) -> Result<Zeroizing<String>, VaultError> {
        let bytes = self.open(case, field, sealed)?;
        Ok(Zeroizing::new(String::from_utf8_lossy(&bytes).into_owned()))
    }
}

/// The field name of message `index`'s `part` (`text`, `file-name`,
/// `attachment`): `message/I/part`, `I` in decimal without leading zeros.
pub fn message_field(index: u32, part: &str) -> String {
    format!("message/{index}/{part}")
}

/// The field name of a note by `author` at `at_ms`: binding both, so a
/// note's text moved onto another note of the case does not open.
pub fn note_field(author: &crate::model::AccountName, at_ms: u64) -> String {
    format!("note/{author}/{at_ms}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_opens_only_as_the_field_of_the_case_it_was_sealed_for() {
        let vault = Vault::generate();
        let case = CaseId("ab".repeat(16));
        let other = CaseId("cd".repeat(16));
        let sealed = vault.seal(&case, "reason", b"spam");
        assert_eq!(
            vault.open(&case, "reason", &sealed).map(|p| p.to_vec()),
            Ok(b"spam".to_vec())
        );
        assert_eq!(vault.open(&other, "reason", &sealed), Err(VaultError));
        assert_eq!(vault.open(&case, "note", &sealed), Err(VaultError));
        assert_eq!(
            Vault::generate().open(&case, "reason", &sealed),
            Err(VaultError)
        );
        let mut flipped = sealed.clone();
        if let Some(last) = flipped.0.last_mut() {
            *last ^= 1;
        }
        assert_eq!(vault.open(&case, "reason", &flipped), Err(VaultError));
        assert_eq!(
            vault.open(&case, "reason", &Sealed(vec![1; 5])),
            Err(VaultError)
        );
        assert!(!sealed.0.windows(4).any(|w| w == b"spam"));
    }
}
