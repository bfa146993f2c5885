//! Sealing an object: streaming through a [`SealingWriter`] in bounded
//! memory, or all at once from memory, on one core or on all of them. Every
//! path produces the same bytes for the same key, context and plaintext.

use std::io::{Read, Write};

use rand_core::CryptoRng;
use rayon::prelude::*;
use zeroize::Zeroizing;

use fuin_wire::BlobId;
use fuin_wire::DeviceAddress;
use fuin_wire::attachment::{AttachmentKey, MediaType, ObjectId, SealedObjectRef};

use super::MAX_WINDOW_CHUNKS;
use super::format::{FormatVersion, HEADER_LEN, Header, Layout, MAX_CHUNKS};
use super::{AttachmentError, ChunkSize, ObjectContext};
use crate::ConversationId;
use crate::primitives::chunked::{BlobHasher, ObjectKeys, TAG_LEN};

/// The object's key, its derived keys and its header: everything needed to
/// seal one object. Made only with a freshly drawn key and object id, and
/// consumed by sealing, so a key never seals two objects.
pub struct ObjectSealer {
    key: AttachmentKey,
    context: ObjectContext<'static>,
    keys: ObjectKeys,
    header: [u8; HEADER_LEN],
    chunk_size: ChunkSize,
}

/// A sealed object: its reference (id, key, blob id, sealed length), its
/// context and its plaintext length. The key inside is wiped on drop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedObject {
    /// What a reference needs to name the object.
    pub object: SealedObjectRef,
    /// What the object is bound to.
    pub context: ObjectContext<'static>,
    /// Bytes of plaintext sealed.
    pub plaintext_len: u64,
}

impl ObjectSealer {
    /// Draws a fresh object id (16 bytes, first) and key (32 bytes, second)
    /// from `rng` for an object that `owner` shares in `conversation`.
    pub fn new<R: CryptoRng + ?Sized>(
        rng: &mut R,
        owner: &DeviceAddress<'_>,
        conversation: ConversationId,
        content_type: MediaType<'_>,
        chunk_size: ChunkSize,
    ) -> Self {
        let mut object_id = ObjectId([0; 16]);
        rng.fill_bytes(&mut object_id.0);
        let mut key = AttachmentKey([0; 32]);
        rng.fill_bytes(&mut key.0);
        let context = ObjectContext {
            owner: owner.clone().into_owned(),
            conversation,
            object_id,
            content_type: content_type.into_owned(),
        };
        let context_id = context.id();
        let keys = ObjectKeys::derive(&key.0, &context_id, chunk_size.get());
        let header = Header {
            version: FormatVersion::SEALED,
            chunk_size,
            context_id,
            commitment: *keys.commitment(),
        }
        .encode();
        Self {
            key,
            context,
            keys,
            header,
            chunk_size,
        }
    }

    /// What the object is bound to.
    pub fn context(&self) -> &ObjectContext<'static> {
        &self.context
    }

    /// The chunk size it seals with.
    pub fn chunk_size(&self) -> ChunkSize {
        self.chunk_size
    }

    /// A writer that seals what is written to it, one chunk at a time on
    /// this thread, and writes the sealed object to `out`. It holds two
    /// chunks at most; call [`SealingWriter::finish`] at the end.
    pub fn writer<W: Write>(self, out: W) -> SealingWriter<W> {
        SealingWriter::new(self, out, 1, false)
    }

    /// Like [`writer`](Self::writer), but seals `window_chunks` chunks at a
    /// time on all cores (rayon's pool) while the previous window is hashed
    /// (on all cores too) and written. It holds two windows at most. The
    /// bytes are the same as [`writer`](Self::writer)'s.
    pub fn parallel_writer<W: Write>(self, out: W, window_chunks: usize) -> SealingWriter<W> {
        SealingWriter::new(self, out, clamp_window(window_chunks), true)
    }

    /// Seals everything `input` yields, to its end, into `output`, on this
    /// thread in bounded memory (two chunks).
    pub fn seal_stream<R: Read, W: Write>(
        self,
        input: R,
        output: W,
    ) -> Result<SealedObject, AttachmentError> {
        self.writer(output).seal_from(input)
    }

    /// Like [`seal_stream`](Self::seal_stream), on all cores, `window_chunks`
    /// chunks at a time (two windows in memory at most).
    pub fn seal_stream_parallel<R: Read, W: Write>(
        self,
        input: R,
        output: W,
        window_chunks: usize,
    ) -> Result<SealedObject, AttachmentError> {
        self.parallel_writer(output, window_chunks).seal_from(input)
    }

    /// Seals a plaintext held in memory, on this thread: each chunk is
    /// hashed right after it is sealed, while it is still in cache.
    pub fn seal(self, plaintext: &[u8]) -> Result<(Vec<u8>, SealedObject), AttachmentError> {
        self.seal_in_memory(plaintext, 1, false)
    }

    /// Seals a plaintext held in memory on all cores, `window_chunks` chunks
    /// at a time (fewer for small objects, so that there are at least four
    /// windows), hashing each window on all cores while the next one is
    /// sealed. The bytes are the same as [`seal`](Self::seal)'s.
    pub fn seal_parallel(
        self,
        plaintext: &[u8],
        window_chunks: usize,
    ) -> Result<(Vec<u8>, SealedObject), AttachmentError> {
        self.seal_in_memory(plaintext, clamp_window(window_chunks), true)
    }

    fn seal_in_memory(
        self,
        plaintext: &[u8],
        window_chunks: usize,
        parallel: bool,
    ) -> Result<(Vec<u8>, SealedObject), AttachmentError> {
        let layout = Layout::for_plaintext(self.chunk_size, plaintext.len() as u64)?;
        let sealed_len =
            usize::try_from(layout.sealed_len).map_err(|_| AttachmentError::TooLarge)?;
        let mut sealed = vec![0u8; sealed_len];
        let (header, body) = sealed.split_at_mut(HEADER_LEN);
        header.copy_from_slice(&self.header);
        let mut hasher = BlobHasher::new(FormatVersion::SEALED.blob_hash());
        hasher.update(header);

        let chunk = self.chunk_size.bytes();
        let unit = self.chunk_size.sealed_bytes();
        let chunks = usize::try_from(layout.chunks).unwrap_or(usize::MAX);
        // In parallel, at least four windows where the object allows, so
        // that hashing one window overlaps with sealing the next.
        let window_chunks = if parallel {
            window_chunks.min(chunks.div_ceil(4)).max(1)
        } else {
            window_chunks.min(chunks)
        };
        let window_sealed = window_chunks.saturating_mul(unit);
        let window_plain = window_chunks.saturating_mul(chunk);
        let mut previous: Option<&[u8]> = None;
        for (window, region) in body.chunks_mut(window_sealed).enumerate() {
            let start = window.saturating_mul(window_plain).min(plaintext.len());
            let end = start.saturating_add(window_plain).min(plaintext.len());
            let first = (window * window_chunks) as u64;
            let is_final = end == plaintext.len();
            let source = Source::From(&plaintext[start..end]);
            let seal = |region: &mut [u8]| {
                let (keys, header) = (&self.keys, &self.header);
                seal_chunks(
                    keys, header, unit, region, first, is_final, source, parallel,
                );
            };
            if parallel {
                rayon::join(|| hash_previous(&mut hasher, previous), || seal(region));
                let done: &[u8] = region;
                previous = Some(done);
            } else {
                // One chunk: hashed right after sealing, while in cache.
                seal(region);
                hasher.update(region);
            }
        }
        hash_previous(&mut hasher, previous);
        let object = self.into_sealed(hasher, layout);
        Ok((sealed, object))
    }

    fn into_sealed(self, hasher: BlobHasher, layout: Layout) -> SealedObject {
        SealedObject {
            object: SealedObjectRef {
                object_id: self.context.object_id,
                key: self.key.clone(),
                blob_id: BlobId(hasher.finish()),
                sealed_len: layout.sealed_len,
            },
            context: self.context.clone(),
            plaintext_len: layout.plaintext_len,
        }
    }
}

impl std::fmt::Debug for ObjectSealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectSealer")
            .field("context", &self.context)
            .field("chunk_size", &self.chunk_size)
            .finish_non_exhaustive()
    }
}

/// Hashes the window sealed before, if any, on all cores.
fn hash_previous(hasher: &mut BlobHasher, previous: Option<&[u8]>) {
    if let Some(bytes) = previous {
        hasher.update_parallel(bytes);
    }
}

/// Where the plaintext of the chunks being sealed is.
#[derive(Clone, Copy)]
enum Source<'a> {
    /// In the chunks' own slots, sealed in place.
    InPlace,
    /// In a separate buffer, one chunk size after another.
    From(&'a [u8]),
}

/// Seals consecutive chunks into `region`, whose pieces of `unit` bytes
/// (one sealed chunk) are the chunks; the last piece may be shorter (the
/// final chunk). Chunk `j` of the region has index `first + j`; the region's
/// last chunk is sealed as final if `is_final`.
#[allow(clippy::too_many_arguments)]
fn seal_chunks(
    keys: &ObjectKeys,
    aad: &[u8],
    unit: usize,
    region: &mut [u8],
    first: u64,
    is_final: bool,
    source: Source<'_>,
    parallel: bool,
) {
    let count = region.len().div_ceil(unit);
    let seal_one = |(j, piece): (usize, &mut [u8])| {
        // Indexes stay below MAX_CHUNKS = 2^32: checked before sealing.
        let index = (first + j as u64) as u32;
        let last = is_final && j + 1 == count;
        let (data, tag_slot) = piece.split_at_mut(piece.len() - TAG_LEN);
        let tag = match source {
            Source::InPlace => keys.seal_chunk_in_place(index, last, aad, data),
            Source::From(plaintext) => {
                let start = j * (unit - TAG_LEN);
                keys.seal_chunk(
                    index,
                    last,
                    aad,
                    &plaintext[start..start + data.len()],
                    data,
                )
            }
        };
        tag_slot.copy_from_slice(&tag);
    };
    if parallel {
        region.par_chunks_mut(unit).enumerate().for_each(seal_one);
    } else {
        region.chunks_mut(unit).enumerate().for_each(seal_one);
    }
}

/// The most chunks a window holds: what the caller asks, within 1..=1024.
pub(super) fn clamp_window(window_chunks: usize) -> usize {
    window_chunks.clamp(1, MAX_WINDOW_CHUNKS)
}

/// Seals what is written to it and writes the sealed object to its inner
/// writer. Nothing is complete until [`finish`](Self::finish): the final
/// chunk is sealed (and flagged final) only then.
///
/// As a [`Write`] it reports failures as [`std::io::Error`]s that carry the
/// [`AttachmentError`] (`AttachmentError::from` gets it back); after one
/// failure every call fails, and `finish` returns the first failure.
pub struct SealingWriter<W: Write> {
    sealer: ObjectSealer,
    out: W,
    window_chunks: usize,
    parallel: bool,
    /// The window being filled: slots of one sealed chunk size, plaintext
    /// in the front of each, sealed in place.
    filling: Zeroizing<Vec<u8>>,
    /// Plaintext bytes in `filling`.
    filled: usize,
    /// In parallel, the previous window, sealed, still to be hashed and
    /// written; always empty on one core, where a window is hashed and
    /// written as soon as it is sealed.
    pending: Vec<u8>,
    /// Index of the first chunk in `filling`.
    next_index: u64,
    hasher: BlobHasher,
    header_written: bool,
    plaintext_len: u64,
    failed: Option<AttachmentError>,
}

impl<W: Write> SealingWriter<W> {
    fn new(sealer: ObjectSealer, out: W, window_chunks: usize, parallel: bool) -> Self {
        Self {
            sealer,
            out,
            window_chunks,
            parallel,
            filling: Zeroizing::new(Vec::new()),
            filled: 0,
            pending: Vec::new(),
            next_index: 0,
            hasher: BlobHasher::new(FormatVersion::SEALED.blob_hash()),
            header_written: false,
            plaintext_len: 0,
            failed: None,
        }
    }

    fn window_plain(&self) -> usize {
        self.window_chunks * self.sealer.chunk_size.bytes()
    }

    /// The free plaintext space of the current slot; empty when the window
    /// is full.
    fn spare(&mut self) -> &mut [u8] {
        let chunk = self.sealer.chunk_size.bytes();
        if self.filled == self.window_plain() {
            return &mut [];
        }
        if self.filling.is_empty() {
            // The whole window at once, so that growing the buffer never
            // moves plaintext and leaves a copy behind.
            let window = self.window_chunks * self.sealer.chunk_size.sealed_bytes();
            self.filling.reserve_exact(window);
        }
        let slot = self.filled / chunk;
        let offset = self.filled % chunk;
        let unit = self.sealer.chunk_size.sealed_bytes();
        let slot_end = (slot + 1) * unit;
        if self.filling.len() < slot_end {
            self.filling.resize(slot_end, 0);
        }
        &mut self.filling[slot * unit + offset..slot * unit + chunk]
    }

    fn fail(&mut self, err: AttachmentError) -> AttachmentError {
        self.failed.get_or_insert(err).clone()
    }

    fn write_header_once(&mut self) -> Result<(), AttachmentError> {
        if !self.header_written {
            self.hasher.update(&self.sealer.header);
            self.out.write_all(&self.sealer.header)?;
            self.header_written = true;
        }
        Ok(())
    }

    /// Seals the full window as non-final chunks (more plaintext follows)
    /// and starts a new window. In parallel, the previous window is hashed
    /// meanwhile and written, and this one waits as the next pending window;
    /// on one core, this window is hashed and written now.
    fn rotate(&mut self) -> Result<(), AttachmentError> {
        self.write_header_once()?;
        let chunks = self.window_chunks as u64;
        // At least one chunk follows this window.
        if self.next_index + chunks >= MAX_CHUNKS {
            return Err(AttachmentError::TooLarge);
        }
        let region_len = self.window_chunks * self.sealer.chunk_size.sealed_bytes();
        self.seal_window(region_len, false);
        if self.parallel {
            self.out.write_all(&self.pending)?;
            std::mem::swap(&mut *self.filling, &mut self.pending);
        } else {
            self.out.write_all(&self.filling[..region_len])?;
        }
        self.filled = 0;
        self.next_index += chunks;
        Ok(())
    }

    /// Seals the first `region_len` bytes of `filling` in place. In
    /// parallel the pending window is hashed meanwhile (and left to be
    /// written); on one core the sealed region is hashed right after, while
    /// it is in cache.
    fn seal_window(&mut self, region_len: usize, is_final: bool) {
        let keys = &self.sealer.keys;
        let header = &self.sealer.header;
        let unit = self.sealer.chunk_size.sealed_bytes();
        let region = &mut self.filling[..region_len];
        let first = self.next_index;
        let hasher = &mut self.hasher;
        let pending = &self.pending;
        let parallel = self.parallel;
        if parallel {
            rayon::join(
                || hasher.update_parallel(pending),
                || {
                    seal_chunks(
                        keys,
                        header,
                        unit,
                        region,
                        first,
                        is_final,
                        Source::InPlace,
                        true,
                    )
                },
            );
        } else {
            seal_chunks(
                keys,
                header,
                unit,
                region,
                first,
                is_final,
                Source::InPlace,
                false,
            );
            hasher.update(region);
        }
    }

    fn accept(&mut self, data: &[u8]) -> Result<usize, AttachmentError> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        if data.is_empty() {
            return Ok(0);
        }
        if self.filled == self.window_plain() {
            self.rotate().map_err(|err| self.fail(err))?;
        }
        let mut taken = 0;
        while taken < data.len() {
            let spare = self.spare();
            if spare.is_empty() {
                break;
            }
            let n = spare.len().min(data.len() - taken);
            spare[..n].copy_from_slice(&data[taken..taken + n]);
            taken += n;
            self.filled += n;
        }
        self.plaintext_len += taken as u64;
        Ok(taken)
    }

    /// Reads `input` to its end into the writer, then finishes. Reads go
    /// straight into the chunk buffers.
    fn seal_from<R: Read>(mut self, mut input: R) -> Result<SealedObject, AttachmentError> {
        loop {
            if let Some(err) = &self.failed {
                return Err(err.clone());
            }
            if self.filled == self.window_plain() {
                // Whether this window is the last depends on whether
                // anything follows.
                let mut next = [0u8; 1];
                if read_some(&mut input, &mut next)? == 0 {
                    break;
                }
                self.accept(&next)?;
                continue;
            }
            let spare = self.spare();
            let n = read_some(&mut input, spare)?;
            if n == 0 {
                break;
            }
            self.filled += n;
            self.plaintext_len += n as u64;
        }
        self.finish().map(|(_, sealed)| sealed)
    }

    /// Seals the final chunk, writes what is left and returns the inner
    /// writer and the sealed object's reference parts.
    pub fn finish(mut self) -> Result<(W, SealedObject), AttachmentError> {
        if let Some(err) = self.failed.take() {
            return Err(err);
        }
        self.write_header_once()?;
        let chunk = self.sealer.chunk_size.bytes();
        let chunks = self.filled.div_ceil(chunk).max(1);
        if self.next_index + chunks as u64 > MAX_CHUNKS {
            return Err(AttachmentError::TooLarge);
        }
        let unit = self.sealer.chunk_size.sealed_bytes();
        let last_len = self.filled - (chunks - 1) * chunk;
        let region_len = (chunks - 1) * unit + last_len + TAG_LEN;
        if self.filling.len() < region_len {
            // Only tag space or an empty final chunk: no plaintext to move.
            self.filling.resize(region_len, 0);
        }
        self.seal_window(region_len, true);
        self.out.write_all(&self.pending)?;
        if self.parallel {
            self.hasher.update_parallel(&self.filling[..region_len]);
        }
        self.out.write_all(&self.filling[..region_len])?;
        self.out.flush()?;
        let layout = Layout::for_plaintext(self.sealer.chunk_size, self.plaintext_len)?;
        let sealed = self.sealer.into_sealed(self.hasher, layout);
        Ok((self.out, sealed))
    }
}

impl<W: Write> Write for SealingWriter<W> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.accept(data).map_err(Into::into)
    }

    /// Flushes the inner writer. Sealed bytes reach it a window at a time;
    /// the final chunk only at [`finish`](SealingWriter::finish).
    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

impl<W: Write> std::fmt::Debug for SealingWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealingWriter")
            .field("context", &self.sealer.context)
            .field("plaintext_len", &self.plaintext_len)
            .finish_non_exhaustive()
    }
}

/// One `read`, retried when interrupted.
pub(super) fn read_some<R: Read>(input: &mut R, buf: &mut [u8]) -> Result<usize, AttachmentError> {
    loop {
        match input.read(buf) {
            Ok(n) => return Ok(n),
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err.into()),
        }
    }
}
