//! Moderator accounts: Argon2id password hashes and account creation
//! (`spec/report.md` §13.4).
//!
//! Hashes are Argon2id, m = 19,456 KiB, t = 2, p = 1, with a random
//! 16-byte salt, stored as PHC strings; verifying takes the parameters from
//! the stored string and compares in constant time (the `argon2` crate's
//! `Output` comparison).

use std::sync::OnceLock;

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};
use rand::Rng as _;
use zeroize::Zeroizing;

use crate::audit::{AuditAction, NewAuditRecord};
use crate::model::{Account, AccountName, Role};
use crate::store::{ModerationStore, StoreError};

/// The shortest password accepted, in characters.
pub const MIN_PASSWORD_CHARS: usize = 12;

/// The longest password accepted, in bytes (hashing cost stays bounded).
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// Argon2id memory cost, in KiB.
const M_COST_KIB: u32 = 19_456;
/// Argon2id passes.
const T_COST: u32 = 2;
/// Argon2id lanes.
const P_COST: u32 = 1;

/// Why a password was not hashed or checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordError {
    /// Shorter than [`MIN_PASSWORD_CHARS`].
    TooShort,
    /// Longer than [`MAX_PASSWORD_BYTES`].
    TooLong,
    /// The hash function failed (it does not for valid parameters).
    Hashing,
}

impl std::fmt::Display for PasswordError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::TooShort => write!(f, "a password has at least {MIN_PASSWORD_CHARS} characters"),
            Self::TooLong => write!(f, "a password has at most {MAX_PASSWORD_BYTES} bytes"),
            Self::Hashing => f.write_str("the password could not be hashed"),
        }
    }
}

impl std::error::Error for PasswordError {}

fn hasher() -> Result<Argon2<'static>, PasswordError> {
    let params =
        Params::new(M_COST_KIB, T_COST, P_COST, None).map_err(|_| PasswordError::Hashing)?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Hashes `password` (at least 12 characters) with Argon2id and a fresh
/// random salt, as a PHC string (`$argon2id$v=19$m=19456,t=2,p=1$...`).
pub fn hash_password(password: &str) -> Result<String, PasswordError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(PasswordError::TooShort);
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(PasswordError::TooLong);
    }
    let hash = hasher()?
        .hash_password(password.as_bytes())
        .map_err(|_| PasswordError::Hashing)?;
    Ok(hash.to_string())
}

/// Whether `password` matches the PHC string `stored`. A stored string that
/// does not parse matches nothing. The comparison is constant-time.
pub fn verify_password(password: &str, stored: &str) -> bool {
    if password.len() > MAX_PASSWORD_BYTES {
        // Still spend one verification, so length does not time out early.
        let _ = verify_parsed(b"", dummy_hash());
        return false;
    }
    verify_parsed(password.as_bytes(), stored)
}

fn verify_parsed(password: &[u8], stored: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(stored) else {
        return false;
    };
    match hasher() {
        Ok(argon2) => argon2.verify_password(password, &parsed).is_ok(),
        Err(_) => false,
    }
}

/// Spends one verification against a fixed hash and returns false: what a
/// login for an unknown account does, so that its timing does not tell
/// unknown names from known ones.
pub fn verify_against_dummy(password: &str) -> bool {
    let _ = verify_password(password, dummy_hash());
    false
}

/// A hash with the same parameters as every stored one, of a password no
/// one knows (made once, with a random salt).
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let mut secret = Zeroizing::new([0u8; 24]);
        rand::rng().fill_bytes(secret.as_mut());
        let secret = Zeroizing::new(hex::encode(secret.as_ref()));
        hash_password(&secret).unwrap_or_default()
    })
}

/// Why an account was not made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreateAccountError {
    /// The password is too short or too long.
    Password(PasswordError),
    /// The store refused (an account with this name exists, or the
    /// database failed).
    Store(StoreError),
}

impl std::fmt::Display for CreateAccountError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Password(e) => e.fmt(f),
            Self::Store(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for CreateAccountError {}

/// Makes an account named `name` with `role` and `password`, recording an
/// `account_created` record by `actor` (an account name, or `@service` from
/// the command line).
pub async fn create_account<S: ModerationStore>(
    store: &S,
    name: &AccountName,
    role: Role,
    password: &str,
    actor: &str,
    now_ms: u64,
) -> Result<(), CreateAccountError> {
    let password_hash = hash_password(password).map_err(CreateAccountError::Password)?;
    let detail = serde_json::json!({ "account": name.as_str(), "role": role.as_str() });
    let account = Account {
        name: name.clone(),
        role,
        password_hash,
        failed_logins: 0,
        locked_until_ms: None,
        created_at_ms: now_ms,
    };
    let audit = NewAuditRecord {
        time_ms: now_ms,
        actor: actor.to_owned(),
        action: AuditAction::AccountCreated,
        case: None,
        detail: detail.to_string(),
    };
    store
        .create_account(account, audit)
        .await
        .map_err(CreateAccountError::Store)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_is_argon2id_with_the_fixed_parameters_and_verifies_only_its_password() {
        let hash = hash_password("correct horse battery").unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(verify_password("correct horse battery", &hash));
        assert!(!verify_password("correct horse batterz", &hash));
        let again = hash_password("correct horse battery").unwrap();
        assert_ne!(hash, again, "salts are random");
    }

    #[test]
    fn short_passwords_are_refused_and_bad_hashes_match_nothing() {
        assert_eq!(hash_password("elevenchars"), Err(PasswordError::TooShort));
        assert_eq!(
            hash_password(&"x".repeat(MAX_PASSWORD_BYTES + 1)),
            Err(PasswordError::TooLong)
        );
        assert!(!verify_password("anything at all", "not a phc string"));
        assert!(!verify_password("anything at all", ""));
        assert!(!verify_against_dummy("anything at all"));
    }
}
