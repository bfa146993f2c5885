//! The blob store the options name: a directory or an S3 bucket, with the
//! S3 credentials from a file or the environment.

use crate::blobs::{BlobStore, FsBlobStore, S3BlobStore, S3Settings};
use std::fs::OpenOptions;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use zeroize::Zeroizing;

use super::*;

/// Checks, before anything is opened, that the options name a blob store
/// the relay can use: one every relay on a PostgreSQL database shares, and
/// S3 credentials for a bucket. Opening it ([`blob_store`]) comes later.
pub(super) fn check_blob_settings(args: &RelayArgs) -> Result<(), RunError> {
    if args.blob_s3_bucket.is_some() && args.blob_s3_endpoint.is_some() {
        return s3_credentials(args).map(drop);
    }
    if args.blob_dir.is_none() && args.data.is_none() {
        return Err(no_shared_blob_store());
    }
    Ok(())
}

fn no_shared_blob_store() -> RunError {
    RunError::BlobStore(
        "--postgres needs --blob-dir or --blob-s3-bucket (every relay on the database must \
         see the same blobs)"
            .into(),
    )
}

/// The blob store the options name: an S3 bucket, `--blob-dir`, or the
/// directory next to the SQLite database.
pub(super) fn blob_store(args: &RelayArgs) -> Result<Arc<dyn BlobStore>, RunError> {
    if let (Some(bucket), Some(endpoint)) = (&args.blob_s3_bucket, &args.blob_s3_endpoint) {
        let (access_key_id, secret_access_key) = s3_credentials(args)?;
        let settings = S3Settings {
            endpoint: endpoint.clone(),
            bucket: bucket.clone(),
            region: args.blob_s3_region.clone(),
            prefix: args.blob_s3_prefix.clone(),
            access_key_id,
            secret_access_key,
        };
        let store = S3BlobStore::new(&settings)
            .map_err(|err| RunError::BlobStore(format!("cannot use the S3 bucket: {err}")))?;
        return Ok(Arc::new(store));
    }
    let dir = match (&args.blob_dir, &args.data) {
        (Some(dir), _) => dir.clone(),
        (None, Some(data)) => {
            let mut dir = data.clone().into_os_string();
            dir.push(".blobs");
            PathBuf::from(dir)
        }
        (None, None) => return Err(no_shared_blob_store()),
    };
    FsBlobStore::open(&dir)
        .map(|store| Arc::new(store) as Arc<dyn BlobStore>)
        .map_err(|err| RunError::BlobStore(err.to_string()))
}

/// The environment variable with the S3 access key id.
pub const S3_ACCESS_KEY_ID_ENV: &str = "FUIN_RELAY_S3_ACCESS_KEY_ID";

/// The environment variable with the S3 secret access key.
pub const S3_SECRET_ACCESS_KEY_ENV: &str = "FUIN_RELAY_S3_SECRET_ACCESS_KEY";

/// The S3 credentials: from `--blob-s3-credentials-file` if given, else
/// from the environment. Never from the command line, where other users
/// of the machine see them.
pub(super) fn s3_credentials(
    args: &RelayArgs,
) -> Result<(Zeroizing<String>, Zeroizing<String>), RunError> {
    if let Some(path) = &args.blob_s3_credentials_file {
        return s3_credentials_file(path).map_err(|why| {
            RunError::BlobStore(format!(
                "cannot read the S3 credentials file {}: {why}",
                path.display()
            ))
        });
    }
    let variable = |name: &str| {
        std::env::var(name)
            .ok()
            .map(|value| Zeroizing::new(value.trim().to_owned()))
            .filter(|value| !value.is_empty())
            .ok_or_else(|| {
                RunError::BlobStore(format!(
                    "the S3 blob store needs {name} (or --blob-s3-credentials-file)"
                ))
            })
    };
    Ok((
        variable(S3_ACCESS_KEY_ID_ENV)?,
        variable(S3_SECRET_ACCESS_KEY_ENV)?,
    ))
}

/// Reads a credentials file: the access key id on the first line, the
/// secret on the second. A file others than its owner may use is refused.
pub(super) fn s3_credentials_file(
    path: &Path,
) -> Result<(Zeroizing<String>, Zeroizing<String>), String> {
    let mut file = OpenOptions::new()
        .read(true)
        .open(path)
        .map_err(|err| err.to_string())?;
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
    let mut text = Zeroizing::new(String::new());
    file.read_to_string(&mut text)
        .map_err(|_| "it is not UTF-8 text".to_owned())?;
    let mut lines = text.lines().map(str::trim);
    match (lines.next(), lines.next()) {
        (Some(id), Some(secret)) if !id.is_empty() && !secret.is_empty() => Ok((
            Zeroizing::new(id.to_owned()),
            Zeroizing::new(secret.to_owned()),
        )),
        _ => Err("expected the access key id and the secret access key on two lines".into()),
    }
}
