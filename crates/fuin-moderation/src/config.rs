//! The files the service holds (`spec/report.md` §13.1): moderation's
//! secret key, the stamp-key set and its key files, the relay inbox and
//! admin credentials, and the vault key.
//!
//! A secret file its group or others may read or write is refused, naming
//! the file. The vault key is made (32 random bytes, mode 0600) when its
//! file does not exist. `fuin moderate open` and `pull` read the same files
//! with the same code.

use std::io::Write;
use std::path::{Path, PathBuf};

use fuin_report::{ModerationSecretKey, Moderator, StampKeySet};
use fuin_wire::StampKeyId;
use serde::Deserialize;
use zeroize::Zeroizing;

use crate::vault::Vault;

/// A file that cannot be used: which, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// A stable code: `moderation_key`, `stamp_keys`, `credential` or
    /// `vault_key`.
    pub code: &'static str,
    /// The file.
    pub file: PathBuf,
    /// What the file is and why it was refused (names the file, never its
    /// contents).
    pub message: String,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConfigError {}

fn refused(code: &'static str, path: &Path, what: &str, why: &str) -> ConfigError {
    ConfigError {
        code,
        file: path.to_owned(),
        message: format!("cannot use {what} {}: {why}", path.display()),
    }
}

/// Refuses a file whose group or others may use it.
fn check_private(path: &Path, code: &'static str, what: &str) -> Result<(), ConfigError> {
    let metadata =
        std::fs::metadata(path).map_err(|err| refused(code, path, what, &err.to_string()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = metadata.permissions().mode();
        if mode & 0o077 != 0 {
            return Err(refused(
                code,
                path,
                what,
                &format!(
                    "its mode is {:o}; only its owner may use it (chmod 600)",
                    mode & 0o777
                ),
            ));
        }
    }
    #[cfg(not(unix))]
    let _ = metadata;
    Ok(())
}

/// Reads a secret file, refusing one its group or others may read or write.
pub fn read_secret(
    path: &Path,
    code: &'static str,
    what: &str,
) -> Result<Zeroizing<Vec<u8>>, ConfigError> {
    check_private(path, code, what)?;
    std::fs::read(path)
        .map(Zeroizing::new)
        .map_err(|err| refused(code, path, what, &err.to_string()))
}

/// Moderation's secret key (`moderation.key`).
pub fn secret_key(path: &Path) -> Result<ModerationSecretKey, ConfigError> {
    let what = "the moderation secret key";
    let bytes = read_secret(path, "moderation_key", what)?;
    ModerationSecretKey::from_bytes(&bytes).map_err(|err| ConfigError {
        code: "moderation_key",
        file: path.to_owned(),
        message: format!("{} is not a moderation secret key: {err}", path.display()),
    })
}

/// A relay credential (the inbox's or the admin API's): 32 raw bytes, or
/// 64 hex digits with or without a final newline. `what` names it in
/// errors.
pub fn credential(path: &Path, what: &str) -> Result<Zeroizing<[u8; 32]>, ConfigError> {
    let bytes = read_secret(path, "credential", what)?;
    let mut credential = Zeroizing::new([0u8; 32]);
    if bytes.len() == 32 {
        credential.copy_from_slice(&bytes);
        return Ok(credential);
    }
    let text = std::str::from_utf8(&bytes).unwrap_or("").trim();
    if text.len() == 64 && hex::decode_to_slice(text, credential.as_mut()).is_ok() {
        return Ok(credential);
    }
    Err(refused(
        "credential",
        path,
        what,
        "it is not a credential (32 bytes, or 64 hex digits)",
    ))
}

/// The stamp-key set file: which of the relay's stamp key files moderation
/// checks stamps with, by key id, and until when.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StampKeysFile {
    stamp_keys: Vec<StampKeyEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StampKeyEntry {
    id: u32,
    /// The relay's key file (its first 32 bytes are the key); relative to
    /// the set file's directory.
    file: PathBuf,
    /// When reports stop relying on the key (ms since the Unix epoch);
    /// absent for a key still in use.
    #[serde(default)]
    not_after_ms: Option<u64>,
}

/// Reads a stamp-key set file (`spec/report.md` §9):
/// `{"stamp_keys": [{"id": 1, "file": "relay.db.stamp-key", "not_after_ms": null}]}`.
/// Each key file is a secret file.
pub fn stamp_keys(path: &Path) -> Result<StampKeySet, ConfigError> {
    let what = "the stamp keys";
    let failed = |why: &str| refused("stamp_keys", path, what, why);
    let text = std::fs::read_to_string(path).map_err(|err| failed(&err.to_string()))?;
    let file: StampKeysFile =
        serde_json::from_str(&text).map_err(|err| failed(&err.to_string()))?;
    if file.stamp_keys.is_empty() {
        return Err(failed("it names no key"));
    }
    let base = path.parent().unwrap_or(Path::new("."));
    let mut set = StampKeySet::new();
    for entry in file.stamp_keys {
        let key_path = base.join(&entry.file);
        let bytes = read_secret(&key_path, "stamp_keys", "the stamp key")?;
        let Some(first) = bytes.get(..32) else {
            return Err(failed(&format!(
                "the key file {} is shorter than 32 bytes",
                key_path.display()
            )));
        };
        let mut key = Zeroizing::new([0u8; 32]);
        key.copy_from_slice(first);
        set.insert(StampKeyId(entry.id), &key, entry.not_after_ms)
            .map_err(|err| failed(&err.to_string()))?;
    }
    Ok(set)
}

/// The vault key: 32 bytes in a file of mode 0600. A missing file is made
/// with a new random key (and mode 0600); an existing one that others may
/// use, or that is not 32 bytes, is refused.
pub fn vault_key(path: &Path) -> Result<Vault, ConfigError> {
    let what = "the vault key";
    if !path.exists() {
        let vault = Vault::generate();
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options
            .open(path)
            .map_err(|err| refused("vault_key", path, what, &err.to_string()))?;
        file.write_all(vault.key_bytes())
            .and_then(|()| file.sync_all())
            .map_err(|err| refused("vault_key", path, what, &err.to_string()))?;
        return Ok(vault);
    }
    let bytes = read_secret(path, "vault_key", what)?;
    let key: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
        refused(
            "vault_key",
            path,
            what,
            &format!("it holds {} bytes, not 32", bytes.len()),
        )
    })?;
    let vault = Vault::new(key);
    let mut key = key;
    zeroize::Zeroize::zeroize(&mut key);
    Ok(vault)
}

/// Where the service's files are.
#[derive(Debug, Clone)]
pub struct ServiceFiles {
    /// Moderation's secret key.
    pub key: PathBuf,
    /// The stamp-key set.
    pub stamp_keys: PathBuf,
    /// The relay inbox credential.
    pub inbox_credential: PathBuf,
    /// The relay admin API credential.
    pub admin_credential: PathBuf,
    /// The vault key (made if missing).
    pub vault_key: PathBuf,
}

/// The service's secrets, loaded and checked.
pub struct Secrets {
    /// Opens and checks reports.
    pub moderator: Moderator,
    /// The relay inbox credential.
    pub inbox_credential: Zeroizing<[u8; 32]>,
    /// The relay admin API credential.
    pub admin_credential: Zeroizing<[u8; 32]>,
    /// The vault.
    pub vault: Vault,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secrets(..)")
    }
}

impl ServiceFiles {
    /// Reads and checks every file (the first refused one is the error).
    pub fn load(&self) -> Result<Secrets, ConfigError> {
        let key = secret_key(&self.key)?;
        let stamp_keys = stamp_keys(&self.stamp_keys)?;
        let inbox_credential = credential(&self.inbox_credential, "the inbox credential")?;
        let admin_credential = credential(&self.admin_credential, "the admin credential")?;
        let vault = vault_key(&self.vault_key)?;
        Ok(Secrets {
            moderator: Moderator::new(key, stamp_keys),
            inbox_credential,
            admin_credential,
            vault,
        })
    }
}
