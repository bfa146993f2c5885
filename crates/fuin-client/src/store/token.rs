//! The relay bearer token, kept between runs so that each `fuin` command
//! or app start does not log in again (a challenge and a signature).
//!
//! It is a `meta` value sealed with the storage key like every secret, and
//! names the relay origin it was issued for: a token of another relay is
//! never presented. It is written through a connection of its own
//! ([`TokenKeeper`]) because a login can happen while an operation holds the
//! device's lock and its connection.

use std::path::Path;

use fuin_seal::state::StorageKey;
use fuin_wire::relay::BearerToken;
use rusqlite::{Connection, OpenFlags};
use zeroize::Zeroizing;

use crate::ClientError;

use super::{Reader, storage};

/// The `meta` name of the kept token.
const TOKEN_NAME: &str = "relay_token";

/// How long a token writer waits for another process's transaction; the
/// token is only a saving, so it gives up rather than stall a send.
const SAVE_BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// A bearer token and when the relay said it expires.
#[derive(Clone)]
pub(crate) struct HeldToken {
    pub token: BearerToken,
    /// Ms since the Unix epoch, by the relay's clock.
    pub expires_at_ms: u64,
}

impl std::fmt::Debug for HeldToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeldToken")
            .field("token", &self.token)
            .field("expires_at_ms", &self.expires_at_ms)
            .finish()
    }
}

impl HeldToken {
    /// `expires_at_ms` (8 bytes, big-endian), the token (32), the origin.
    fn encode(&self, origin: &str) -> Zeroizing<Vec<u8>> {
        let mut bytes = Zeroizing::new(Vec::with_capacity(40 + origin.len()));
        bytes.extend_from_slice(&self.expires_at_ms.to_be_bytes());
        bytes.extend_from_slice(&self.token.0);
        bytes.extend_from_slice(origin.as_bytes());
        bytes
    }

    /// The token in `bytes` if it was issued for `origin`.
    fn decode(bytes: &[u8], origin: &str) -> Option<Self> {
        let expires = bytes.get(..8)?;
        let token = bytes.get(8..40)?;
        if bytes.get(40..)? != origin.as_bytes() {
            return None;
        }
        Some(Self {
            token: BearerToken(token.try_into().ok()?),
            expires_at_ms: u64::from_be_bytes(expires.try_into().ok()?),
        })
    }
}

impl Reader<'_> {
    /// The kept token for the relay at `origin`, if any (expired or not).
    pub fn relay_token(&self, origin: &str) -> Result<Option<HeldToken>, ClientError> {
        Ok(self
            .secret(TOKEN_NAME)?
            .and_then(|bytes| HeldToken::decode(&bytes, origin)))
    }

    /// Keeps `token` for the relay at `origin`.
    pub fn put_relay_token(&self, origin: &str, token: &HeldToken) -> Result<(), ClientError> {
        self.put_secret(TOKEN_NAME, &token.encode(origin))
    }
}

/// Writes the kept token through a connection of its own.
pub(crate) struct TokenKeeper {
    conn: std::sync::Mutex<Connection>,
    key: StorageKey,
}

impl TokenKeeper {
    /// Opens a second connection to the store at `path`.
    pub fn open(path: &Path, key: StorageKey) -> Result<Self, ClientError> {
        // Never creates the file: `LocalStore` says what is missing.
        let flags = OpenFlags::default() - OpenFlags::SQLITE_OPEN_CREATE;
        let conn =
            Connection::open_with_flags(path, flags).map_err(storage("opening the store"))?;
        conn.busy_timeout(SAVE_BUSY_TIMEOUT)
            .map_err(storage("setting the busy timeout"))?;
        Ok(Self {
            conn: std::sync::Mutex::new(conn),
            key,
        })
    }

    /// Keeps `token` for the relay at `origin`.
    pub fn save(&self, origin: &str, token: &HeldToken) -> Result<(), ClientError> {
        let conn = self
            .conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Reader {
            conn: &conn,
            key: &self.key,
        }
        .put_relay_token(origin, token)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn held() -> HeldToken {
        HeldToken {
            token: BearerToken([7; 32]),
            expires_at_ms: 1_700_000_000_000,
        }
    }

    #[test]
    fn a_kept_token_is_read_back_for_its_own_relay_only() {
        let bytes = held().encode("https://relay.example");
        let read = HeldToken::decode(&bytes, "https://relay.example").unwrap();
        assert_eq!(read.token, BearerToken([7; 32]));
        assert_eq!(read.expires_at_ms, 1_700_000_000_000);
        assert!(HeldToken::decode(&bytes, "https://other.example").is_none());
        assert!(HeldToken::decode(&bytes[..39], "").is_none());
    }

    #[test]
    fn debug_shows_no_token_bytes() {
        let shown = format!("{:?}", held());
        assert!(!shown.contains("7, 7"), "{shown}");
        assert!(shown.contains("redacted"), "{shown}");
    }
}
