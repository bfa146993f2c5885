//! The device storage key, kept in its own file beside the store.
//!
//! The key encrypts every secret-bearing value of the local store. Keeping
//! it in a separate file (mode 0600) means a copy of the database alone, a
//! backup or a synced folder, say, reveals no keys and no message text. An
//! app on a platform with a keystore can keep the key there instead and use
//! [`Client::open_with_key`](crate::Client::open_with_key).

use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use fuin_seal::state::StorageKey;
use zeroize::Zeroizing;

use crate::ClientError;

/// The key file's path for a store: the store's path with `.key` appended.
pub fn key_path(store: &Path) -> PathBuf {
    let mut path = store.as_os_str().to_owned();
    path.push(".key");
    PathBuf::from(path)
}

/// Writes a new key file; fails if one exists, so a key is never replaced.
pub(crate) fn create(path: &Path, key: &StorageKey) -> Result<(), ClientError> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|err| ClientError::KeyFile(format!("cannot create {}: {err}", path.display())))?;
    file.write_all(key.to_secret_bytes().as_ref())
        .and_then(|()| file.sync_all())
        .map_err(|err| ClientError::KeyFile(format!("cannot write {}: {err}", path.display())))
}

/// Reads a key file, refusing one that others may read or that is not
/// exactly 32 bytes.
pub(crate) fn load(path: &Path) -> Result<StorageKey, ClientError> {
    let mut file = OpenOptions::new()
        .read(true)
        .open(path)
        .map_err(|err| ClientError::KeyFile(format!("cannot open {}: {err}", path.display())))?;
    let mode = file
        .metadata()
        .map_err(|err| ClientError::KeyFile(format!("cannot inspect {}: {err}", path.display())))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(ClientError::KeyFile(format!(
            "{} is readable by others (mode {:o}); it must be 0600",
            path.display(),
            mode & 0o777
        )));
    }
    let mut bytes = Zeroizing::new(Vec::with_capacity(33));
    Read::by_ref(&mut file)
        .take(33)
        .read_to_end(&mut bytes)
        .map_err(|err| ClientError::KeyFile(format!("cannot read {}: {err}", path.display())))?;
    let key: [u8; 32] = bytes
        .as_slice()
        .try_into()
        .map_err(|_| ClientError::KeyFile(format!("{} is not 32 bytes long", path.display())))?;
    let key = Zeroizing::new(key);
    Ok(StorageKey::from_secret_bytes(*key))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_key_file_round_trips_and_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.db.key");
        let key = StorageKey::generate(&mut rand::rng());
        create(&path, &key).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let loaded = load(&path).unwrap();
        assert_eq!(*loaded.to_secret_bytes(), *key.to_secret_bytes());
        // A second key never replaces the first.
        assert!(matches!(create(&path, &key), Err(ClientError::KeyFile(_))));
    }

    #[test]
    fn a_key_file_readable_by_others_or_of_the_wrong_length_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        create(&path, &StorageKey::generate(&mut rand::rng())).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = load(&path).err().unwrap();
        assert!(err.to_string().contains("readable by others"), "{err}");

        std::fs::write(&path, [7u8; 31]).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let err = load(&path).err().unwrap();
        assert!(err.to_string().contains("not 32 bytes"), "{err}");
        std::fs::write(&path, [7u8; 33]).unwrap();
        assert!(load(&path).is_err());
    }
}
