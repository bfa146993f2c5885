//! The blob store's endpoints: `PUT` and `GET /v1/blobs/{blob_id}`
//! (`spec/relay-api.md` §4.12, §4.13).
//!
//! A blob is a sealed attachment's ciphertext, named by its hash: BLAKE3
//! if its first byte is `0x02` (attachment format version 2), else SHA-256
//! ([`crate::blobs::blob_hash`]). Its
//! body is raw bytes, not a frame: attachments are larger than the frame
//! limit. Reading one needs a device token and a capability that the
//! relay handed to an uploader; without the right capability, a stored blob
//! and a missing one look the same.
//!
//! The bytes go to the blob store and only then is the record committed
//! ([`crate::blobs`]); a download checks the bytes against the record
//! before sending any.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use sha2::{Digest, Sha256};
use tokio::sync::OwnedSemaphorePermit;

use super::{FRAME_MEDIA_TYPE, Relay, random};
use crate::blobs::{BlobReadError, BlobStoreError, blob_hash, read_checked};
use crate::error::ApiError;
use crate::store::{NewBlob, Store};
use fuin_wire::relay::{BlobCapability, BlobReceipt};
use fuin_wire::{BlobId, FrameBody};

/// The header that carries a blob capability on a download.
pub const CAPABILITY_HEADER: &str = "fuin-blob-capability";
/// The media type of a blob's bytes.
const BLOB_MEDIA_TYPE: &str = "application/octet-stream";
/// How much of a blob a download hands to the connection at a time.
const CHUNK: usize = 64 * 1024;

/// The blob id in the path: 64 hex digits.
fn blob_id(segment: &str) -> Result<BlobId, ApiError> {
    let mut id = [0u8; 32];
    hex::decode_to_slice(segment, &mut id).map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_blob_id",
            "a blob id is 64 hex digits (the blob's BLAKE3 or SHA-256 hash)",
        )
    })?;
    Ok(BlobId(id))
}

fn too_large(max: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "too_large",
        format!("a blob is at most {max} bytes"),
    )
}

/// The blob store failed: like a failed database, worth a retry.
fn blob_store_failed(err: &BlobStoreError) -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "storage_unavailable",
        err.to_string(),
    )
}

fn unknown_blob() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "unknown_blob",
        "no blob is readable with this id and capability",
    )
}

/// Waits for one of the relay's blob transfer permits.
async fn transfer_permit<S: Store>(relay: &Relay<S>) -> Result<OwnedSemaphorePermit, ApiError> {
    let _queued = super::Counted::new(&relay.blob_transfers_queued);
    Arc::clone(&relay.blob_transfers)
        .acquire_owned()
        .await
        // The semaphore is never closed.
        .map_err(|_| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "blob transfers are closed",
            )
        })
}

/// Reads the whole body, refusing it as soon as it passes `max` bytes.
async fn read_limited(mut body: Body, max: usize) -> Result<Vec<u8>, ApiError> {
    let mut content = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "unreadable_body",
                "the request body could not be read",
            )
        })?;
        if let Ok(data) = frame.into_data() {
            if data.len() > max - content.len() {
                return Err(too_large(max));
            }
            content.extend_from_slice(&data);
        }
    }
    Ok(content)
}

/// `PUT /v1/blobs/{blob_id}`: stores the body under its hash
/// ([`blob_hash`]: BLAKE3 if it starts with `0x02`, else SHA-256), which
/// must be the id in the path, and answers a [`BlobReceipt`] with a new
/// capability.
pub(super) async fn upload<S: Store>(
    State(relay): State<Arc<Relay<S>>>,
    headers: HeaderMap,
    Path(segment): Path<String>,
    body: Body,
) -> Result<Response, ApiError> {
    let blob_id = blob_id(&segment)?;
    let max = relay.config.max_blob_len;
    // A declared length over the limit is refused before anything is read.
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared.is_some_and(|len| len > max as u64) {
        return Err(too_large(max));
    }
    let _permit = transfer_permit(&relay).await?;
    let content = read_limited(body, max).await?;
    // Hashing up to the blob limit would hold up the other requests on this
    // thread: it runs on the blocking pool, which hands the bytes back.
    let (content, digest) = tokio::task::spawn_blocking(move || {
        let digest = blob_hash(&content);
        (content, digest)
    })
    .await
    .map_err(|_| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "storage_unavailable",
            "the blob could not be checked",
        )
    })?;
    if digest != blob_id.0 {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "blob_hash_mismatch",
            "the body's hash (BLAKE3 if its first byte is 2, else SHA-256) is not the blob id",
        ));
    }
    let capability = BlobCapability(random());
    let expires_at_ms = relay.now() + relay.config.blob_lifetime.as_millis() as u64;
    let size = content.len() as u64;
    // Bytes first, durably; then the record. A failure or crash between
    // the two leaves an object without a record, which the sweep deletes.
    relay
        .blobs
        .put(blob_id, Bytes::from(content))
        .await
        .map_err(|err| blob_store_failed(&err))?;
    relay
        .store
        .put_blob(NewBlob {
            blob_id,
            len: size,
            capability_hash: Sha256::digest(capability.0).into(),
            expires_at_ms,
        })
        .await?;
    crate::metrics::blob_transfer("upload", usize::try_from(size).unwrap_or(usize::MAX));
    let receipt = BlobReceipt {
        blob_id,
        capability,
        size,
        expires_at_ms,
    };
    Ok((
        StatusCode::CREATED,
        [(header::CONTENT_TYPE, FRAME_MEDIA_TYPE)],
        receipt.to_bytes()?,
    )
        .into_response())
}

/// The object of `blob_id` as it is, if it is within the blob limit.
async fn read_unchecked(
    blobs: &dyn crate::blobs::BlobStore,
    blob_id: fuin_wire::BlobId,
    max_len: usize,
) -> Result<Bytes, BlobReadError> {
    let bytes = blobs
        .get(blob_id, max_len as u64)
        .await
        .map_err(BlobReadError::Store)?
        .ok_or(BlobReadError::Damaged("its object is missing"))?;
    if bytes.len() > max_len {
        return Err(BlobReadError::Damaged("its object is over the blob limit"));
    }
    Ok(bytes)
}

/// The capability in a download's header, hashed; `None` if it is missing
/// or not 64 hex digits.
fn capability_hash(headers: &HeaderMap) -> Option<[u8; 32]> {
    let value = headers.get(CAPABILITY_HEADER)?.to_str().ok()?;
    let mut capability = BlobCapability([0; 32]);
    hex::decode_to_slice(value, &mut capability.0).ok()?;
    Some(Sha256::digest(capability.0).into())
}

/// `GET /v1/blobs/{blob_id}`: the blob's bytes, for any device that holds a
/// capability to it.
pub(super) async fn download<S: Store>(
    State(relay): State<Arc<Relay<S>>>,
    headers: HeaderMap,
    Path(segment): Path<String>,
) -> Result<Response, ApiError> {
    let blob_id = blob_id(&segment)?;
    // A missing or malformed capability is refused like a wrong one.
    let capability_hash = capability_hash(&headers).ok_or_else(unknown_blob)?;
    let permit = transfer_permit(&relay).await?;
    let len = relay
        .store
        .blob(&blob_id, capability_hash, relay.now())
        .await?
        .ok_or_else(unknown_blob)?;
    let read = if relay.config.check_blob_reads {
        read_checked(relay.blobs.as_ref(), blob_id, len).await
    } else {
        read_unchecked(relay.blobs.as_ref(), blob_id, relay.config.max_blob_len).await
    };
    let content = read.map_err(|err| match err {
        BlobReadError::Store(err) => blob_store_failed(&err),
        BlobReadError::Damaged(why) => ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "blob_damaged",
            format!("the stored blob cannot be served: {why}"),
        ),
    })?;
    crate::metrics::blob_transfer("download", content.len());
    let body = BlobBody {
        content,
        sent: 0,
        _permit: permit,
    };
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, BLOB_MEDIA_TYPE)],
        Body::new(body),
    )
        .into_response())
}

/// A download's body: the blob in chunks. It holds its transfer permit until
/// the connection has taken the last chunk, so the blobs held in memory are
/// bounded by the permits.
struct BlobBody {
    content: Bytes,
    sent: usize,
    _permit: OwnedSemaphorePermit,
}

impl HttpBody for BlobBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        let Some(rest) = this
            .content
            .get(this.sent..)
            .filter(|rest| !rest.is_empty())
        else {
            return Poll::Ready(None);
        };
        let chunk = &rest[..rest.len().min(CHUNK)];
        this.sent += chunk.len();
        // Copied, so that what the connection still buffers does not keep
        // the whole blob alive once this body is dropped.
        Poll::Ready(Some(Ok(http_body::Frame::data(Bytes::copy_from_slice(
            chunk,
        )))))
    }

    fn is_end_stream(&self) -> bool {
        self.sent >= self.content.len()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::with_exact(self.content.len().saturating_sub(self.sent) as u64)
    }
}
