//! The filesystem blob store: one file per blob in one directory, by
//! default next to the SQLite database (`relay.db.blobs/`).
//!
//! The directory is mode 0700 and each file 0600: the relay's operator
//! account alone reads them. A file is written under a temporary name
//! (`.tmp-` and random hex), fsynced, renamed to the blob's name and the
//! directory fsynced, so that after a crash a name holds a whole object or
//! nothing; a temporary file a crash left behind is deleted by the sweep.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use fuin_wire::BlobId;

use super::{BlobFuture, BlobStore, BlobStoreError, StoredObject, blob_id_of, object_name};

/// The prefix of a file being written.
const TEMPORARY_PREFIX: &str = ".tmp-";

/// Blobs as files in one directory.
#[derive(Debug, Clone)]
pub struct FsBlobStore {
    dir: Arc<PathBuf>,
}

fn io_error(operation: &'static str, err: &std::io::Error) -> BlobStoreError {
    BlobStoreError::new(operation, err.to_string())
}

impl FsBlobStore {
    /// The store in `dir`, created (mode 0700) if missing. An existing
    /// directory that others than its owner may use is refused, as is a
    /// path that is not a directory.
    pub fn open(dir: &Path) -> Result<Self, BlobStoreError> {
        const OP: &str = "open";
        match DirBuilder::new().mode(0o700).create(dir) {
            Ok(()) => {}
            Err(err) if err.kind() == ErrorKind::AlreadyExists => {}
            Err(err) => {
                return Err(BlobStoreError::new(
                    OP,
                    format!("cannot create {}: {err}", dir.display()),
                ));
            }
        }
        let metadata = std::fs::metadata(dir).map_err(|err| {
            BlobStoreError::new(OP, format!("cannot use {}: {err}", dir.display()))
        })?;
        if !metadata.is_dir() {
            return Err(BlobStoreError::new(
                OP,
                format!("{} is not a directory", dir.display()),
            ));
        }
        let mode = metadata.permissions().mode();
        if mode & 0o077 != 0 {
            return Err(BlobStoreError::new(
                OP,
                format!(
                    "{} has mode {:04o}: others than its owner may use it (chmod 700)",
                    dir.display(),
                    mode & 0o7777
                ),
            ));
        }
        Ok(Self {
            dir: Arc::new(dir.to_owned()),
        })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the object of `blob_id` is.
    pub fn path_of(&self, blob_id: &BlobId) -> PathBuf {
        self.dir.join(object_name(blob_id))
    }

    /// Runs blocking file work off the async threads.
    fn blocking<T: Send + 'static>(
        &self,
        operation: &'static str,
        work: impl FnOnce(&Path) -> Result<T, BlobStoreError> + Send + 'static,
    ) -> BlobFuture<'_, T> {
        let dir = self.dir.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || work(&dir))
                .await
                .map_err(|_| BlobStoreError::new(operation, "the file task failed"))?
        })
    }
}

/// Makes the directory's entries (a rename, a removal) durable.
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

fn write_object(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    let temporary = dir.join(format!(
        "{TEMPORARY_PREFIX}{}",
        hex::encode(rand::random::<[u8; 16]>())
    ));
    let written = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&temporary)
        .and_then(|mut file| {
            file.write_all(bytes)?;
            file.sync_all()
        })
        .and_then(|()| std::fs::rename(&temporary, dir.join(name)));
    if let Err(err) = written {
        let _ = std::fs::remove_file(&temporary);
        return Err(err);
    }
    sync_dir(dir)
}

fn modified(path: &Path) -> std::io::Result<Option<SystemTime>> {
    match std::fs::symlink_metadata(path) {
        Ok(metadata) => metadata.modified().map(Some),
        Err(err) if err.kind() == ErrorKind::NotFound => Ok(None),
        Err(err) => Err(err),
    }
}

fn remove(dir: &Path, path: &Path) -> std::io::Result<bool> {
    match std::fs::remove_file(path) {
        Ok(()) => {
            sync_dir(dir)?;
            Ok(true)
        }
        Err(err) if err.kind() == ErrorKind::NotFound => Ok(false),
        Err(err) => Err(err),
    }
}

impl BlobStore for FsBlobStore {
    fn put(&self, blob_id: BlobId, bytes: Bytes) -> BlobFuture<'_, ()> {
        self.blocking("put", move |dir| {
            write_object(dir, &object_name(&blob_id), &bytes).map_err(|err| io_error("put", &err))
        })
    }

    fn get(&self, blob_id: BlobId, max_len: u64) -> BlobFuture<'_, Option<Bytes>> {
        self.blocking("get", move |dir| {
            let file = match File::open(dir.join(object_name(&blob_id))) {
                Ok(file) => file,
                Err(err) if err.kind() == ErrorKind::NotFound => return Ok(None),
                Err(err) => return Err(io_error("get", &err)),
            };
            let len = file.metadata().map_err(|err| io_error("get", &err))?.len();
            let limit = max_len.saturating_add(1);
            let mut bytes = Vec::with_capacity(usize::try_from(len.min(limit)).unwrap_or(0));
            // At most one byte more than asked for, whatever the file holds.
            file.take(limit)
                .read_to_end(&mut bytes)
                .map_err(|err| io_error("get", &err))?;
            Ok(Some(Bytes::from(bytes)))
        })
    }

    fn delete(&self, blob_id: BlobId) -> BlobFuture<'_, ()> {
        self.blocking("delete", move |dir| {
            remove(dir, &dir.join(object_name(&blob_id)))
                .map(|_| ())
                .map_err(|err| io_error("delete", &err))
        })
    }

    fn delete_if_older(&self, blob_id: BlobId, cutoff: SystemTime) -> BlobFuture<'_, bool> {
        self.blocking("delete", move |dir| {
            let path = dir.join(object_name(&blob_id));
            match modified(&path).map_err(|err| io_error("delete", &err))? {
                Some(time) if time < cutoff => {
                    remove(dir, &path).map_err(|err| io_error("delete", &err))
                }
                _ => Ok(false),
            }
        })
    }

    fn list(&self) -> BlobFuture<'_, Vec<StoredObject>> {
        self.blocking("list", |dir| {
            let mut objects = Vec::new();
            for entry in std::fs::read_dir(dir).map_err(|err| io_error("list", &err))? {
                let entry = entry.map_err(|err| io_error("list", &err))?;
                let Some(blob_id) = entry.file_name().to_str().and_then(blob_id_of) else {
                    continue;
                };
                // Deleted since the directory was read: not there any more.
                let Some(modified) =
                    modified(&entry.path()).map_err(|err| io_error("list", &err))?
                else {
                    continue;
                };
                objects.push(StoredObject { blob_id, modified });
            }
            Ok(objects)
        })
    }

    fn remove_leftovers(&self, cutoff: SystemTime) -> BlobFuture<'_, u64> {
        self.blocking("list", move |dir| {
            let mut removed = 0;
            for entry in std::fs::read_dir(dir).map_err(|err| io_error("list", &err))? {
                let entry = entry.map_err(|err| io_error("list", &err))?;
                let temporary = entry
                    .file_name()
                    .to_str()
                    .is_some_and(|name| name.starts_with(TEMPORARY_PREFIX));
                if !temporary {
                    continue;
                }
                let path = entry.path();
                let old = modified(&path)
                    .map_err(|err| io_error("list", &err))?
                    .is_some_and(|time| time < cutoff);
                if old && remove(dir, &path).map_err(|err| io_error("delete", &err))? {
                    removed += 1;
                }
            }
            Ok(removed)
        })
    }

    fn location(&self) -> String {
        format!("the directory {}", self.dir.display())
    }
}
