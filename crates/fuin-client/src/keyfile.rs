//! The device storage key, kept in its own file beside the store.
//!
//! The key encrypts every secret-bearing value of the local store. Keeping
//! it in a separate file means a copy of the database alone, a backup or a
//! synced folder, say, reveals no keys and no message text.
//!
//! How the file is protected depends on the platform:
//!
//! - **Unix** (Linux, macOS, Android, iOS): the file is created with mode
//!   0600, and a key file that others may read is refused when the store is
//!   opened.
//! - **Elsewhere** (Windows): the file is created with the default access
//!   control list, inherited from its directory; in the user's profile
//!   directory that is the user, the administrators and the system only. The
//!   SDK does not check it when opening.
//!
//! On every platform with a keystore (Windows DPAPI or Credential Manager,
//! the Apple Keychain, the Android Keystore), an app should keep the key
//! there instead: after [`Client::create`](crate::Client::create), read it
//! with [`load_key`], put it in the keystore, delete the file, and open the
//! store from then on with [`Client::open_with_key`](crate::Client::open_with_key).

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
#[cfg(unix)]
use std::os::unix::fs::OpenOptionsExt;
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

/// The storage key of the store at `store`, read from its key file (with
/// the checks of opening a store), for an app that moves it to the
/// platform's keystore.
pub fn load_key(store: &Path) -> Result<StorageKey, ClientError> {
    load(&key_path(store))
}

/// Writes a new key file; fails if one exists, so a key is never replaced.
pub(crate) fn create(path: &Path, key: &StorageKey) -> Result<(), ClientError> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    // Readable by its owner only; elsewhere the directory's ACL applies.
    #[cfg(unix)]
    options.mode(0o600);
    let mut file = options
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
    refuse_if_shared(&file, path)?;
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

/// Refuses a key file that others than its owner may read or write.
#[cfg(unix)]
fn refuse_if_shared(file: &File, path: &Path) -> Result<(), ClientError> {
    use std::os::unix::fs::PermissionsExt;
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
    Ok(())
}

/// Without Unix modes there is nothing portable to check: the file's ACL
/// is the platform's (see the module documentation).
#[cfg(not(unix))]
fn refuse_if_shared(_file: &File, _path: &Path) -> Result<(), ClientError> {
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_key_file_round_trips_and_is_never_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("store.db");
        let path = key_path(&store);
        let key = StorageKey::generate(&mut rand::rng());
        create(&path, &key).unwrap();
        let loaded = load_key(&store).unwrap();
        assert_eq!(*loaded.to_secret_bytes(), *key.to_secret_bytes());
        // A second key never replaces the first.
        let other = StorageKey::generate(&mut rand::rng());
        assert!(matches!(
            create(&path, &other),
            Err(ClientError::KeyFile(_))
        ));
        assert_eq!(
            *load(&path).unwrap().to_secret_bytes(),
            *key.to_secret_bytes()
        );
    }

    #[test]
    fn a_key_file_of_the_wrong_length_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        create(&path, &StorageKey::generate(&mut rand::rng())).unwrap();
        for len in [0, 31, 33] {
            std::fs::write(&path, vec![7u8; len]).unwrap();
            let err = load(&path).err().unwrap();
            assert!(err.to_string().contains("not 32 bytes"), "{len}: {err}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_key_file_is_created_private_and_refused_once_others_may_read_it() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        create(&path, &StorageKey::generate(&mut rand::rng())).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        for shared in [0o644, 0o640, 0o604, 0o620] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(shared)).unwrap();
            let err = load(&path).err().unwrap();
            assert!(
                err.to_string().contains("readable by others"),
                "{shared:o}: {err}"
            );
        }
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(load(&path).is_ok());
    }
}
