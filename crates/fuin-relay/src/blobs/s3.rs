//! The S3-compatible blob store: one object per blob in a bucket, for
//! relays that share a PostgreSQL database (or want their attachments off
//! the relay's disk).
//!
//! The client is the `object_store` crate's S3 client (request signing,
//! retries with backoff, paged listing), on ring and rustls. An object is
//! `PREFIX` + `blobs/` + the blob id in hex; a `PUT` is answered once the
//! server holds the whole object, and S3 never shows a partial one, so no
//! temporary objects exist.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use fuin_wire::BlobId;
use futures_util::StreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, RetryConfig};
use zeroize::Zeroizing;

use super::{BlobFuture, BlobStore, BlobStoreError, StoredObject, blob_id_of, object_name};

/// Where the bucket is and how to sign for it.
#[derive(Clone)]
pub struct S3Settings {
    /// The endpoint URL (`https://s3.example`, `http://127.0.0.1:8333`).
    /// Plain `http://` is accepted: an operator may reach the store over a
    /// private network.
    pub endpoint: String,
    /// The bucket, which must exist.
    pub bucket: String,
    /// The region requests are signed for.
    pub region: String,
    /// Prepended to every object name (`relay-a/`), so that several relays
    /// or tests can share a bucket; empty for none.
    pub prefix: String,
    /// The access key id.
    pub access_key_id: Zeroizing<String>,
    /// The secret access key.
    pub secret_access_key: Zeroizing<String>,
}

impl std::fmt::Debug for S3Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The credentials never reach a log.
        f.debug_struct("S3Settings")
            .field("endpoint", &self.endpoint)
            .field("bucket", &self.bucket)
            .field("region", &self.region)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// Blobs as objects in an S3-compatible bucket.
#[derive(Clone)]
pub struct S3BlobStore {
    client: Arc<AmazonS3>,
    /// `PREFIX` + `blobs`: the folder of every object.
    folder: ObjectPath,
    location: String,
}

impl std::fmt::Debug for S3BlobStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not the client: its Debug shows the access key id.
        f.debug_struct("S3BlobStore")
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

/// The reason of a failed request, in words that carry no request, body or
/// credential (an S3 error body may echo the access key id).
fn reason(err: &object_store::Error) -> String {
    match err {
        object_store::Error::NotFound { .. } => "not found".to_owned(),
        object_store::Error::PermissionDenied { .. } => {
            "the store refused the request (permission denied)".to_owned()
        }
        object_store::Error::Unauthenticated { .. } => {
            "the store refused the credentials".to_owned()
        }
        object_store::Error::InvalidPath { .. } => "invalid object name".to_owned(),
        _ => "the request failed (store unreachable or answering with an error)".to_owned(),
    }
}

fn failed(operation: &'static str, err: &object_store::Error) -> BlobStoreError {
    BlobStoreError::new(operation, reason(err))
}

/// A listed time (milliseconds since the Unix epoch) as a `SystemTime`.
fn to_system_time(millis: i64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_millis(u64::try_from(millis).unwrap_or(0))
}

impl S3BlobStore {
    /// A client for the bucket. Nothing is asked of the server yet: the
    /// first operation finds out whether it answers and takes the
    /// credentials.
    pub fn new(settings: &S3Settings) -> Result<Self, BlobStoreError> {
        const OP: &str = "open";
        // rustls picks its provider from the process default: the ring one
        // the relay's TLS uses. Already installed is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = AmazonS3Builder::new()
            .with_endpoint(settings.endpoint.as_str())
            .with_allow_http(settings.endpoint.starts_with("http://"))
            .with_bucket_name(settings.bucket.as_str())
            .with_region(settings.region.as_str())
            .with_access_key_id(settings.access_key_id.as_str())
            .with_secret_access_key(settings.secret_access_key.as_str())
            .with_virtual_hosted_style_request(false)
            // A request holds a blob transfer permit while it retries: a
            // store that is down is reported within seconds, not minutes.
            .with_retry(RetryConfig {
                max_retries: 3,
                retry_timeout: Duration::from_secs(15),
                ..RetryConfig::default()
            })
            .build()
            .map_err(|err| match err {
                object_store::Error::Generic { .. } => BlobStoreError::new(
                    OP,
                    "the S3 settings are not usable (check the endpoint URL, bucket and region)",
                ),
                other => failed(OP, &other),
            })?;
        let prefix = settings.prefix.trim_matches('/');
        let folder = if prefix.is_empty() {
            ObjectPath::from("blobs")
        } else {
            ObjectPath::from(format!("{prefix}/blobs"))
        };
        Ok(Self {
            client: Arc::new(client),
            location: format!(
                "the S3 bucket {} at {}, under {folder}/",
                settings.bucket, settings.endpoint
            ),
            folder,
        })
    }

    fn path_of(&self, blob_id: &BlobId) -> ObjectPath {
        self.folder.clone().join(object_name(blob_id))
    }

    async fn modified(&self, path: &ObjectPath) -> Result<Option<SystemTime>, BlobStoreError> {
        match self.client.head(path).await {
            Ok(meta) => Ok(Some(to_system_time(meta.last_modified.timestamp_millis()))),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(err) => Err(failed("head", &err)),
        }
    }

    async fn remove(&self, path: &ObjectPath) -> Result<(), BlobStoreError> {
        match self.client.delete(path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(err) => Err(failed("delete", &err)),
        }
    }
}

impl BlobStore for S3BlobStore {
    fn put(&self, blob_id: BlobId, bytes: Bytes) -> BlobFuture<'_, ()> {
        Box::pin(async move {
            self.client
                .put(&self.path_of(&blob_id), bytes.into())
                .await
                .map(|_| ())
                .map_err(|err| failed("put", &err))
        })
    }

    fn get(&self, blob_id: BlobId, max_len: u64) -> BlobFuture<'_, Option<Bytes>> {
        Box::pin(async move {
            let path = self.path_of(&blob_id);
            let found = match self.client.get(&path).await {
                Ok(found) => found,
                Err(object_store::Error::NotFound { .. }) => return Ok(None),
                Err(err) => return Err(failed("get", &err)),
            };
            if found.meta.size <= max_len {
                return found
                    .bytes()
                    .await
                    .map(Some)
                    .map_err(|err| failed("get", &err));
            }
            // Too long: only as much as shows it.
            drop(found);
            let limit = max_len.saturating_add(1);
            match self.client.get_range(&path, 0..limit).await {
                Ok(bytes) => Ok(Some(bytes)),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(err) => Err(failed("get", &err)),
            }
        })
    }

    fn delete(&self, blob_id: BlobId) -> BlobFuture<'_, ()> {
        Box::pin(async move { self.remove(&self.path_of(&blob_id)).await })
    }

    fn delete_if_older(&self, blob_id: BlobId, cutoff: SystemTime) -> BlobFuture<'_, bool> {
        Box::pin(async move {
            let path = self.path_of(&blob_id);
            match self.modified(&path).await? {
                Some(time) if time < cutoff => {
                    self.remove(&path).await?;
                    Ok(true)
                }
                _ => Ok(false),
            }
        })
    }

    fn list(&self) -> BlobFuture<'_, Vec<StoredObject>> {
        Box::pin(async move {
            let mut listed = self.client.list(Some(&self.folder));
            let mut objects = Vec::new();
            while let Some(meta) = listed.next().await {
                let meta = meta.map_err(|err| failed("list", &err))?;
                // Only the blobs directly in the folder: anything else in the
                // bucket is not the relay's.
                let Some(name) = meta.location.filename() else {
                    continue;
                };
                if meta
                    .location
                    .prefix_match(&self.folder)
                    .map(Iterator::count)
                    != Some(1)
                {
                    continue;
                }
                if let Some(blob_id) = blob_id_of(name) {
                    objects.push(StoredObject {
                        blob_id,
                        modified: to_system_time(meta.last_modified.timestamp_millis()),
                    });
                }
            }
            Ok(objects)
        })
    }

    fn location(&self) -> String {
        self.location.clone()
    }
}
