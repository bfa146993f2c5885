//! Moderation's files: its key pair, its inbox credential, its copy of the
//! relay's stamp keys. Secret files are created with mode 0600, and refused
//! when their group or others may use them (as the relay refuses its stamp
//! key files).

use std::io::Write;
use std::path::Path;

use fuin_client::report::{ModerationPublicKey, ModerationSecretKey, ReportError, StampKeySet};
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

/// A file the moderation service's loader refused, as the command reports
/// it (the code and message are the loader's: they name the file).
pub fn config_failure(err: fuin_moderation::config::ConfigError) -> Failure {
    let hint = match err.code {
        "moderation_key" => "give the moderation.key that fuin moderate keygen made (mode 0600)",
        "stamp_keys" => {
            "give a JSON file {\"stamp_keys\": [{\"id\": N, \"file\": PATH, \"not_after_ms\": MS or null}]} \
             naming the relay's stamp key files (mode 0600)"
        }
        "credential" => "give the credential file that keygen made (mode 0600)",
        _ => "give a file only its owner may read (mode 0600)",
    };
    Failure::new(err.code, err.message, hint)
}

/// Moderation's secret key.
pub fn secret_key(path: &Path) -> Result<ModerationSecretKey, Failure> {
    fuin_moderation::config::secret_key(path).map_err(config_failure)
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
    fuin_moderation::config::credential(path, "the moderation credential").map_err(config_failure)
}

/// Reads a stamp-key set file (`spec/report.md` §9):
/// `{"stamp_keys": [{"id": 1, "file": "relay.db.stamp-key", "not_after_ms": null}]}`.
pub fn stamp_keys(path: &Path) -> Result<StampKeySet, Failure> {
    fuin_moderation::config::stamp_keys(path).map_err(config_failure)
}
