//! What an app sees and controls of one attachment transfer: progress,
//! cancellation, and the size limit known before anything is sealed.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use fuin_seal::attachment::ChunkSize;
use tokio_util::sync::CancellationToken;

use crate::ClientError;

/// The relay's blob limit when it is not configured: the default of
/// `spec/relay-api.md` §6 (`--max-blob-len`), 64 MiB.
pub const DEFAULT_MAX_BLOB_LEN: u64 = 64 * 1024 * 1024;

/// Bytes of a sealed object's header, and of a chunk's tag
/// (`spec/attachments.md` §4).
const HEADER_LEN: u64 = 69;
const TAG_LEN: u64 = 16;

/// The step of a transfer that a [`TransferProgress`] counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransferPhase {
    /// Plaintext read from the source and sealed (into a temporary file of
    /// ciphertext).
    Sealing,
    /// Sealed bytes sent to the relay.
    Uploading,
    /// Sealed bytes received from the relay.
    Downloading,
    /// Plaintext bytes whose chunks authenticated (held back, not yet
    /// handed out).
    Opening,
    /// Verified plaintext written to the app's writer (fetching into an
    /// `AsyncWrite` only; it starts once the whole object verified).
    Writing,
}

/// How far one phase of a transfer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransferProgress {
    /// The phase counted.
    pub phase: TransferPhase,
    /// Bytes done in this phase; never decreases within a phase.
    pub done: u64,
    /// Bytes the phase has in all, when known (a stream of unknown length
    /// has none while it is sealed).
    pub total: Option<u64>,
}

/// Called with each step of a transfer's progress.
pub type ProgressHook = Arc<dyn Fn(TransferProgress) + Send + Sync>;

/// The app's handle on one send or fetch: a progress callback and a
/// cancellation token. Cancelling (from any task or thread) stops the
/// transfer at its next chunk with [`ClientError::Cancelled`]; dropping
/// the future has the same effect. `Transfer::default()` reports nothing
/// and is never cancelled.
#[derive(Clone, Default)]
pub struct Transfer {
    progress: Option<ProgressHook>,
    cancel: CancellationToken,
}

impl std::fmt::Debug for Transfer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transfer")
            .field("progress", &self.progress.is_some())
            .field("cancelled", &self.cancel.is_cancelled())
            .finish()
    }
}

impl Transfer {
    /// No progress callback, a fresh token.
    pub fn new() -> Self {
        Self::default()
    }

    /// Calls `hook` as the transfer goes. It runs on the SDK's tasks and
    /// threads (sealing runs on a blocking thread): keep it short.
    #[must_use]
    pub fn with_progress(
        mut self,
        hook: impl Fn(TransferProgress) + Send + Sync + 'static,
    ) -> Self {
        self.progress = Some(Arc::new(hook));
        self
    }

    /// Stops the transfer when `token` is cancelled.
    #[must_use]
    pub fn with_cancellation(mut self, token: CancellationToken) -> Self {
        self.cancel = token;
        self
    }

    /// The token that cancels this transfer.
    pub fn cancellation(&self) -> &CancellationToken {
        &self.cancel
    }

    /// Cancels the transfer.
    pub fn cancel(&self) {
        self.cancel.cancel();
    }

    pub(super) fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// `Err(Cancelled)` once cancelled.
    pub(super) fn check(&self) -> Result<(), ClientError> {
        if self.is_cancelled() {
            Err(ClientError::Cancelled)
        } else {
            Ok(())
        }
    }

    /// A reporter for one phase; reports `done = 0` at once.
    pub(super) fn phase(&self, phase: TransferPhase, total: Option<u64>) -> PhaseProgress {
        let progress = PhaseProgress {
            hook: self.progress.clone(),
            phase,
            total,
            last: Arc::new(AtomicU64::new(0)),
        };
        progress.emit(0);
        progress
    }
}

/// Reports one phase, monotone: a count below one already reported (an
/// upload repeated after a new login starts again at 0) is not reported.
#[derive(Clone)]
pub(super) struct PhaseProgress {
    hook: Option<ProgressHook>,
    phase: TransferPhase,
    total: Option<u64>,
    last: Arc<AtomicU64>,
}

impl PhaseProgress {
    /// Reports `done` bytes if it is not below what was reported.
    pub(super) fn report(&self, done: u64) {
        if self.last.fetch_max(done, Ordering::Relaxed) <= done {
            self.emit(done);
        }
    }

    fn emit(&self, done: u64) {
        if let Some(hook) = &self.hook {
            hook(TransferProgress {
                phase: self.phase,
                done,
                total: self.total,
            });
        }
    }
}

/// The largest attachment the relay takes, known before anything is
/// sealed or uploaded ([`Client::attachment_limits`](crate::Client::attachment_limits)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttachmentLimits {
    /// The largest blob the relay stores, in bytes: a sealed object, header
    /// and tags included.
    pub max_blob_len: u64,
    /// The largest plaintext that fits at the default chunk size (64 KiB).
    pub max_file_len: u64,
}

impl AttachmentLimits {
    /// The limits under a relay blob limit of `max_blob_len` bytes.
    pub fn for_blob_limit(max_blob_len: u64) -> Self {
        Self {
            max_blob_len,
            max_file_len: max_plaintext_len(max_blob_len, ChunkSize::DEFAULT),
        }
    }

    /// The largest plaintext that fits when sealed with `chunk_size`.
    pub fn max_file_len_for(&self, chunk_size: ChunkSize) -> u64 {
        max_plaintext_len(self.max_blob_len, chunk_size)
    }
}

/// The largest `p` with `sealed_len(p) <= max_blob_len`, where
/// `sealed_len(p) = 69 + p + 16 max(1, ceil(p / c))` (`spec/attachments.md`
/// §4); 0 if not even the empty object fits.
pub(super) fn max_plaintext_len(max_blob_len: u64, chunk_size: ChunkSize) -> u64 {
    let chunk = u64::from(chunk_size.get());
    let Some(body) = max_blob_len.checked_sub(HEADER_LEN) else {
        return 0;
    };
    let unit = chunk + TAG_LEN;
    let full = body / unit;
    let rest = body % unit;
    if rest > TAG_LEN {
        // A last partial chunk of `rest - 16` bytes after `full` full ones.
        full * chunk + rest - TAG_LEN
    } else {
        // The last full chunk ends the object.
        full * chunk
    }
}

/// The plaintext length of a `sealed_len`-byte object whose header begins
/// with `prefix` (version, then the chunk size as BE32); `None` if the
/// prefix is too short or the lengths fit no layout (the opener then says
/// why).
pub(super) fn plaintext_len_of(prefix: &[u8], sealed_len: u64) -> Option<u64> {
    let size: [u8; 4] = prefix.get(1..5)?.try_into().ok()?;
    let chunk = ChunkSize::new(u32::from_be_bytes(size)).ok()?;
    let body = sealed_len.checked_sub(HEADER_LEN)?;
    let chunks = body.div_ceil(u64::from(chunk.get()) + TAG_LEN).max(1);
    body.checked_sub(chunks * TAG_LEN)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn the_largest_file_is_the_largest_whose_sealed_object_fits() {
        for chunk in [16, 100, 65_536, 1 << 20] {
            let chunk_size = ChunkSize::new(chunk).unwrap();
            for limit in [85, 86, 101, 1000, 65_621, 65_622, 1 << 20, 64 << 20] {
                let max = max_plaintext_len(limit, chunk_size);
                // fuin-seal's own layout says how long the object is.
                assert!(
                    chunk_size.sealed_len(max).unwrap() <= limit,
                    "{chunk} {limit}"
                );
                assert!(
                    chunk_size.sealed_len(max + 1).unwrap() > limit,
                    "{chunk} {limit}"
                );
                let sealed = chunk_size.sealed_len(max).unwrap();
                let mut prefix = [1u8; 5];
                prefix[1..].copy_from_slice(&chunk.to_be_bytes());
                assert_eq!(plaintext_len_of(&prefix, sealed), Some(max));
            }
        }
        assert_eq!(max_plaintext_len(84, ChunkSize::DEFAULT), 0);
        assert_eq!(plaintext_len_of(&[1, 0], 100), None);
    }

    #[test]
    fn progress_never_goes_back_within_a_phase() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = seen.clone();
        let transfer = Transfer::new().with_progress(move |p| sink.lock().unwrap().push(p.done));
        let phase = transfer.phase(TransferPhase::Uploading, Some(10));
        phase.report(4);
        // A repeated upload starts again at 0.
        phase.report(0);
        phase.report(3);
        phase.report(10);
        assert_eq!(*seen.lock().unwrap(), vec![0, 4, 10]);
    }

    #[test]
    fn a_transfer_shows_no_callback_in_debug() {
        let transfer = Transfer::new().with_progress(|_| {});
        transfer.cancel();
        assert_eq!(
            format!("{transfer:?}"),
            "Transfer { progress: true, cancelled: true }"
        );
        assert_eq!(transfer.check(), Err(ClientError::Cancelled));
    }
}
