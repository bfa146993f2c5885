//! The database file before SQLite opens it: its directory, its mode, and
//! whether the relay can write it, each failure named; and the integrity
//! check once it is open.

use std::fs::{self, OpenOptions};
use std::io::ErrorKind;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rusqlite::Connection;

use super::open_failure;
use crate::store::{OpenFailure, StoreError};

/// Checks the directory and the file (and its `-wal` and `-shm`, if any),
/// and creates the file with mode 0600 if it is missing, so that SQLite
/// (which gives `-wal` and `-shm` the database file's mode) never makes a
/// file others can read.
pub(super) fn prepare(path: &Path) -> Result<(), StoreError> {
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    match fs::metadata(directory) {
        Ok(metadata) if !metadata.is_dir() => return Err(refused(OpenFailure::NotADirectory)),
        Ok(_) => {}
        Err(error) => return Err(refused(io_failure(error.kind()))),
    }
    match fs::metadata(path) {
        Ok(metadata) if metadata.is_dir() => return Err(refused(OpenFailure::IsADirectory)),
        Ok(metadata) => {
            private("database", metadata.permissions().mode())?;
            // SQLite would fall back to read-only; the relay must write.
            if let Err(error) = OpenOptions::new().read(true).write(true).open(path) {
                let readable = OpenOptions::new().read(true).open(path).is_ok();
                return Err(refused(match error.kind() {
                    ErrorKind::PermissionDenied if readable => OpenFailure::ReadOnly,
                    kind => io_failure(kind),
                }));
            }
        }
        Err(error) if error.kind() == ErrorKind::NotFound => {
            let created = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path);
            match created {
                // Another process made it first: SQLite opens theirs.
                Ok(_) => {}
                Err(error) if error.kind() == ErrorKind::AlreadyExists => {}
                Err(error) => return Err(refused(io_failure(error.kind()))),
            }
        }
        Err(error) => return Err(refused(io_failure(error.kind()))),
    }
    for (suffix, file) in [("-wal", "-wal file"), ("-shm", "-shm file")] {
        if let Ok(metadata) = fs::metadata(with_suffix(path, suffix)) {
            private(file, metadata.permissions().mode())?;
        }
    }
    Ok(())
}

/// Runs `PRAGMA quick_check`: a database with damaged pages is refused.
pub(super) fn quick_check(conn: &Connection) -> Result<(), StoreError> {
    let verdict: String = conn
        .query_row("PRAGMA quick_check", [], |row| row.get(0))
        .map_err(open_failure)?;
    if verdict == "ok" {
        Ok(())
    } else {
        Err(refused(OpenFailure::Corrupt))
    }
}

/// Refuses a file whose mode lets others than its owner use it.
fn private(file: &'static str, mode: u32) -> Result<(), StoreError> {
    if mode & 0o077 != 0 {
        return Err(refused(OpenFailure::OthersMayRead {
            file,
            mode: mode & 0o7777,
        }));
    }
    Ok(())
}

fn io_failure(kind: ErrorKind) -> OpenFailure {
    match kind {
        ErrorKind::NotFound => OpenFailure::MissingDirectory,
        ErrorKind::NotADirectory => OpenFailure::NotADirectory,
        ErrorKind::IsADirectory => OpenFailure::IsADirectory,
        ErrorKind::PermissionDenied => OpenFailure::PermissionDenied,
        ErrorKind::ReadOnlyFilesystem => OpenFailure::ReadOnly,
        other => OpenFailure::Other(format!("open: {other}")),
    }
}

fn refused(failure: OpenFailure) -> StoreError {
    StoreError::Open(failure)
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}
