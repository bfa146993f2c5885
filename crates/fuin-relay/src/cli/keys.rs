//! The secrets the relay starts with (stamp keys, the PostgreSQL password)
//! and the start-up check that the database belongs with its stamp key.

use crate::franking::StampKeys;
use crate::option_layers::{SecretText, conninfo_has_password, parse_secret, read_secret_file};
use crate::store::Store;
use fuin_wire::StampKeyId;
use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use zeroize::Zeroize;

use super::*;

/// The PostgreSQL password: from `file`, `value` (the environment or the
/// config file) or, failing both, `PGPASSWORD`; none if the connection
/// string carries it (it cannot have come from the command line, see
/// [`crate::option_layers`]). Two of them are an error, not a choice.
pub(super) fn postgres_password(
    conninfo: &str,
    file: Option<&Path>,
    value: Option<&SecretText>,
) -> Result<Option<SecretText>, String> {
    let given = match (file, value) {
        (Some(path), _) => Some(
            read_secret_file(path)
                .map_err(|why| format!("cannot use the PostgreSQL password file: {why}"))?,
        ),
        (None, Some(value)) => Some(value.clone()),
        (None, None) => None,
    };
    if conninfo_has_password(conninfo) {
        if given.is_some() {
            return Err(
                "the PostgreSQL password is given twice: in the connection string \
                        and apart from it"
                    .into(),
            );
        }
        return Ok(None);
    }
    Ok(given.or_else(|| {
        std::env::var("PGPASSWORD")
            .ok()
            .and_then(|text| parse_secret(&text).ok())
    }))
}

/// Reads a stamp key: the file's first 32 bytes. A missing file is created
/// with a fresh random key if `create`, and is an error otherwise. A file
/// that others than its owner may read or write is refused.
pub(super) fn stamp_key(path: &Path, create: bool) -> Result<[u8; 32], String> {
    let mut key = [0u8; 32];
    match OpenOptions::new().read(true).open(path) {
        Ok(mut file) => {
            let mode = file
                .metadata()
                .map_err(|err| err.to_string())?
                .permissions()
                .mode();
            if mode & 0o077 != 0 {
                return Err(format!(
                    "its mode is {:04o}: others than its owner may use it (chmod 600)",
                    mode & 0o7777
                ));
            }
            if let Err(err) = file.read_exact(&mut key) {
                key.zeroize();
                return Err(if err.kind() == std::io::ErrorKind::UnexpectedEof {
                    "it is shorter than 32 bytes".to_owned()
                } else {
                    err.to_string()
                });
            }
        }
        Err(err) if create && err.kind() == std::io::ErrorKind::NotFound => {
            rand::fill(&mut key);
            let written = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .and_then(|mut file| {
                    file.write_all(&key)?;
                    file.sync_all()
                });
            if let Err(err) = written {
                key.zeroize();
                return Err(err.to_string());
            }
        }
        Err(err) => return Err(err.to_string()),
    }
    Ok(key)
}

/// The current key and the older ones, each checked.
pub(super) fn stamp_keys(args: &RelayArgs, current: &Path) -> Result<StampKeys, String> {
    let mut key = stamp_key(current, true).map_err(|err| {
        format!(
            "cannot read or create the stamp key {}: {err}",
            current.display()
        )
    })?;
    let mut keys = StampKeys::new(StampKeyId(args.stamp_key_id), key);
    // `StampKeys` holds (and wipes) its own copy.
    key.zeroize();
    for (id, path) in &args.old_stamp_key {
        let mut key = stamp_key(path, false)
            .map_err(|err| format!("cannot read the stamp key {}: {err}", path.display()))?;
        let added = keys.add_older(StampKeyId(*id), key);
        key.zeroize();
        if !added {
            return Err(format!("the stamp key id {id} is given twice"));
        }
    }
    Ok(keys)
}

/// A stamp key file this start made, removed on drop unless kept.
pub(super) struct NewKeyFile {
    pub(super) path: Option<PathBuf>,
}

impl NewKeyFile {
    /// A database has recorded the key: it stays.
    pub(super) fn keep(&mut self) {
        self.path = None;
    }
}

impl Drop for NewKeyFile {
    fn drop(&mut self) {
        if let Some(path) = self.path.take() {
            // Best effort: a key left behind only makes the next start ask
            // for --new-database.
            let _ = std::fs::remove_file(path);
        }
    }
}

/// What the relay knows at start about where its database came from.
pub(super) struct StoreOrigin<'a> {
    /// The current stamp key file.
    pub(super) key_path: &'a Path,
    /// Whether it existed before this start.
    pub(super) key_existed: bool,
    /// `--new-database`.
    pub(super) new_database: bool,
}

impl StoreOrigin<'_> {
    /// Refuses a database made with another stamp key than the current or
    /// an older one given (a foreign key file or a foreign database), and a
    /// new database where the key file says there was one (a deleted,
    /// emptied or replaced data file, unless `--new-database`); then
    /// records the current key's check value in the database.
    pub(super) async fn check<S: Store>(
        &self,
        store: &S,
        keys: &StampKeys,
        database: &str,
    ) -> Result<(), RunError> {
        use subtle::ConstantTimeEq;
        let storage = |err: crate::store::StoreError| {
            RunError::Storage(format!("cannot use the {database} database: {err}"))
        };
        let recorded = store.stamp_key_check().await.map_err(storage)?;
        match &recorded {
            Some(check) => {
                let known = keys
                    .checks()
                    .iter()
                    .any(|key| bool::from(key.as_slice().ct_eq(check)));
                if !known {
                    return Err(RunError::Storage(format!(
                        "the {database} database was made with another stamp key than {} \
                         (or any --old-stamp-key given): the key file or the database belongs \
                         to another relay; give the key file the database was made with",
                        self.key_path.display()
                    )));
                }
            }
            // Nothing recorded: a database from before the check value
            // (then it holds devices), or one that holds nothing. A refused
            // start records nothing, so it is refused again next time.
            None if self.key_existed
                && !self.new_database
                && !store.has_devices().await.map_err(storage)? =>
            {
                let state = if store.was_new() {
                    "is new or empty"
                } else {
                    "holds no registered device"
                };
                return Err(RunError::Storage(format!(
                    "the stamp key {} existed before this start, but the {database} database \
                     {state} (deleted, emptied or replaced?): every device address could be \
                     claimed again; restore the database, or give --new-database once for a \
                     first start with a key made beforehand or to start an empty relay on \
                     purpose",
                    self.key_path.display()
                )));
            }
            None => {}
        }
        let current = keys.current_check();
        if recorded.as_deref() != Some(current.as_slice()) {
            store.set_stamp_key_check(current).await.map_err(storage)?;
        }
        Ok(())
    }
}
