//! Moderation's files: its key pair, its inbox credential, its copy of the
//! relay's stamp keys. Secret files are created with mode 0600, and refused
//! when their group or others may use them (as the relay refuses its stamp
//! key files).

use std::io::Write;
use std::path::{Path, PathBuf};

use fuin_client::report::{ModerationPublicKey, ModerationSecretKey, ReportError, StampKeySet};
use fuin_wire::StampKeyId;
use serde::Deserialize;
use zeroize::Zeroizing;

use crate::output::Failure;

/// Writes a new secret file (mode 0600); refuses to replace an existing one.
pub fn create_secret(path: &Path, bytes: &[u8]) -> Result<(), Failure> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let failed = |err: std::io::Error| {
        Failure::new(
            "moderation_files",
            format!("cannot write {}: {err}", path.display()),
            "give --out a directory where these files do not exist yet",
        )
    };
    let mut file = options.open(path).map_err(failed)?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(failed)
}

/// Writes a new public file; refuses to replace an existing one.
pub fn create_public(path: &Path, bytes: &[u8]) -> Result<(), Failure> {
    let failed = |err: std::io::Error| {
        Failure::new(
            "moderation_files",
            format!("cannot write {}: {err}", path.display()),
            "give --out a directory where these files do not exist yet",
        )
    };
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(failed)?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(failed)
}

/// Reads a secret file, refusing one its group or others may read or write.
fn read_secret(path: &Path, code: &'static str, what: &str) -> Result<Zeroizing<Vec<u8>>, Failure> {
    let failed = |why: String| {
        Failure::new(
            code,
            format!("cannot use {what} {}: {why}", path.display()),
            "give the file fuin moderate keygen made (mode 0600)",
        )
    };
    let metadata = std::fs::metadata(path).map_err(|err| failed(err.to_string()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = metadata.permissions().mode();
        if mode & 0o077 != 0 {
            return Err(failed(format!(
                "its mode is {:o}; only its owner may use it (chmod 600)",
                mode & 0o777
            )));
        }
    }
    #[cfg(not(unix))]
    let _ = metadata;
    std::fs::read(path)
        .map(Zeroizing::new)
        .map_err(|err| failed(err.to_string()))
}

/// Moderation's secret key.
pub fn secret_key(path: &Path) -> Result<ModerationSecretKey, Failure> {
    let bytes = read_secret(path, "moderation_key", "the moderation secret key")?;
    ModerationSecretKey::from_bytes(&bytes).map_err(|err| {
        Failure::new(
            "moderation_key",
            format!("{} is not a moderation secret key: {err}", path.display()),
            "give the moderation.key that fuin moderate keygen made",
        )
    })
}

/// Moderation's public key, as apps and `fuin report` are given it.
pub fn public_key(path: &Path) -> Result<ModerationPublicKey, Failure> {
    let text = std::fs::read_to_string(path).map_err(|err| {
        Failure::new(
            "moderation_key",
            format!("cannot read the moderation key {}: {err}", path.display()),
            "give the moderation service's public key file (moderation.pub)",
        )
    })?;
    ModerationPublicKey::from_text(&text).map_err(|err| match err {
        ReportError::OutdatedModerationKey => Failure::new(
            "outdated_moderation_key",
            format!("{}: {err}", path.display()),
            "the moderation service must publish a new hybrid key (fuin moderate keygen \
             --upgrade); give its new moderation.pub",
        ),
        err => Failure::new(
            "moderation_key",
            format!("{} is not a moderation public key: {err}", path.display()),
            "give the moderation service's public key file (moderation.pub)",
        ),
    })
}

/// The inbox credential: 32 raw bytes, or 64 hex digits.
pub fn credential(path: &Path) -> Result<Zeroizing<[u8; 32]>, Failure> {
    let bytes = read_secret(path, "credential", "the moderation credential")?;
    let mut credential = Zeroizing::new([0u8; 32]);
    if bytes.len() == 32 {
        credential.copy_from_slice(&bytes);
        return Ok(credential);
    }
    let text = std::str::from_utf8(&bytes).unwrap_or("").trim();
    if text.len() == 64 && hex::decode_to_slice(text, credential.as_mut()).is_ok() {
        return Ok(credential);
    }
    Err(Failure::new(
        "credential",
        format!(
            "{} is not a moderation credential (32 bytes, or 64 hex digits)",
            path.display()
        ),
        "give the inbox.credential that fuin moderate keygen made",
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
pub fn stamp_keys(path: &Path) -> Result<StampKeySet, Failure> {
    let failed = |why: String| {
        Failure::new(
            "stamp_keys",
            format!("cannot use the stamp keys {}: {why}", path.display()),
            "give a JSON file {\"stamp_keys\": [{\"id\": N, \"file\": PATH, \"not_after_ms\": MS or null}]} \
             naming the relay's stamp key files",
        )
    };
    let text = std::fs::read_to_string(path).map_err(|err| failed(err.to_string()))?;
    let file: StampKeysFile = serde_json::from_str(&text).map_err(|err| failed(err.to_string()))?;
    if file.stamp_keys.is_empty() {
        return Err(failed("it names no key".into()));
    }
    let base = path.parent().unwrap_or(Path::new("."));
    let mut set = StampKeySet::new();
    for entry in file.stamp_keys {
        let key_path = base.join(&entry.file);
        let bytes = read_secret(&key_path, "stamp_keys", "the stamp key")?;
        let Some(first) = bytes.get(..32) else {
            return Err(failed(format!(
                "the key file {} is shorter than 32 bytes",
                key_path.display()
            )));
        };
        let mut key = Zeroizing::new([0u8; 32]);
        key.copy_from_slice(first);
        set.insert(StampKeyId(entry.id), &key, entry.not_after_ms)
            .map_err(|err| failed(err.to_string()))?;
    }
    Ok(set)
}
