//! Safety numbers: a fingerprint of two users' account keys (or, for one
//! device pair, of two devices' identities) that their users
//! compare out of band (read aloud, or side by side). Both sides compute the
//! same number whatever the order of the arguments.
//!
//! Each device contributes a half: `h_0 = SHA-256(framed("fuin/v1/safety-number",
//! user id, signing key, agreement key))`, then `h_{i+1} = SHA-256(h_i ||
//! signing key || agreement key)` for [`ITERATIONS`] rounds in all, which makes
//! finding a second identity with the same half expensive. The first 30 bytes
//! of the last hash give 30 digits: six 5-byte big-endian numbers, each taken
//! modulo 100,000 and written with five digits. The number is the half of the
//! lesser `(user id, signing key)` first, then the other: 60 digits.

use crate::primitives::framing::Framer;
use crate::primitives::kdf::Label;
use crate::primitives::sha256;
use fuin_wire::{Ed25519PublicKey, PublicIdentity, UserId};

/// Rounds of SHA-256 per half.
pub const ITERATIONS: u32 = 5200;

/// A 60-digit safety number.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SafetyNumber(String);

impl SafetyNumber {
    /// Computes the number for two devices, in either order.
    pub fn new(a: (&UserId<'_>, &PublicIdentity), b: (&UserId<'_>, &PublicIdentity)) -> Self {
        let key = |(user, identity): (&UserId<'_>, &PublicIdentity)| {
            (user.as_str().to_owned(), identity.signing_key.0)
        };
        let (first, second) = if key(a) <= key(b) { (a, b) } else { (b, a) };
        let mut digits = half(first.0, first.1);
        digits.push_str(&half(second.0, second.1));
        Self(digits)
    }

    /// Computes the number two users compare (`spec/accounts.md` §7): from
    /// their account keys, so it stays the same when either links or removes
    /// a device. Each half is `h_0 = SHA-256(framed("fuin/v1/account-safety-number",
    /// user id, account key))`, then `h_{i+1} = SHA-256(h_i || account key)`
    /// for [`ITERATIONS`] rounds in all, written as 30 digits as for devices;
    /// the half of the lesser `(user id, account key)` comes first.
    pub fn for_accounts(
        a: (&UserId<'_>, &Ed25519PublicKey),
        b: (&UserId<'_>, &Ed25519PublicKey),
    ) -> Self {
        let key = |(user, account): (&UserId<'_>, &Ed25519PublicKey)| {
            (user.as_str().to_owned(), account.0)
        };
        let (first, second) = if key(a) <= key(b) { (a, b) } else { (b, a) };
        let mut digits = account_half(first.0, first.1);
        digits.push_str(&account_half(second.0, second.1));
        Self(digits)
    }

    /// The 60 digits, without spaces.
    pub fn digits(&self) -> &str {
        &self.0
    }

    /// Twelve groups of five digits separated by spaces, for display.
    pub fn display(&self) -> String {
        self.0
            .as_bytes()
            .chunks(5)
            .map(|group| String::from_utf8_lossy(group).into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

impl std::fmt::Display for SafetyNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.display())
    }
}

fn half(user: &UserId<'_>, identity: &PublicIdentity) -> String {
    let framed = Framer::new(Label::SafetyNumber.as_bytes())
        .field(user.as_str().as_bytes())
        .identity(identity)
        .finish();
    let mut hash = sha256(&[&framed]);
    for _ in 1..ITERATIONS {
        hash = sha256(&[
            &hash,
            identity.signing_key.as_bytes(),
            identity.agreement_key.as_bytes(),
        ]);
    }
    digits_of(&hash)
}

fn account_half(user: &UserId<'_>, account_key: &Ed25519PublicKey) -> String {
    let framed = Framer::new(Label::AccountSafetyNumber.as_bytes())
        .field(user.as_str().as_bytes())
        .field(account_key.as_bytes())
        .finish();
    let mut hash = sha256(&[&framed]);
    for _ in 1..ITERATIONS {
        hash = sha256(&[&hash, account_key.as_bytes()]);
    }
    digits_of(&hash)
}

fn digits_of(hash: &[u8; 32]) -> String {
    hash[..30]
        .chunks(5)
        .map(|chunk| {
            let value = chunk
                .iter()
                .fold(0u64, |acc, byte| (acc << 8) | u64::from(*byte));
            format!("{:05}", value % 100_000)
        })
        .collect()
}
