//! Opening an object: streaming through an [`OpeningWriter`] in bounded
//! memory, or all at once from memory, on one core or on all of them.
//!
//! The header is checked first (version, chunk size, context, key
//! commitment, size), before any chunk is opened; then each chunk in order,
//! whose plaintext is released only once it has authenticated; then the
//! length; then the hash of the whole object that its version names
//! (SHA-256 for version 1, BLAKE3 for version 2) against the blob id. Every
//! path applies the checks in this order, so the same bytes fail with the
//! same error.

use std::io::{Read, Write};

use rayon::prelude::*;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use fuin_wire::BlobId;
use fuin_wire::attachment::{AttachmentKey, AttachmentReference, SealedObjectRef};

use super::format::{FormatVersion, HEADER_LEN, Header, Layout};
use super::seal::{clamp_window, read_some};
use super::{AttachmentError, ObjectContext};
use crate::primitives::chunked::{BlobHasher, ObjectKeys, TAG_LEN};

/// What is needed to open one object: its key, its expected context id,
/// blob id and sealed length. The key is wiped on drop.
pub struct ObjectOpener {
    key: AttachmentKey,
    context_id: [u8; 32],
    blob_id: BlobId,
    sealed_len: u64,
}

/// An object that opened completely: every chunk authenticated, its length
/// is the referenced one and its hash (of its version) the referenced blob
/// id. Only with this in hand may a client show the plaintext.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenedObject {
    /// Bytes of plaintext.
    pub plaintext_len: u64,
    /// The blob id that was checked.
    pub blob_id: BlobId,
    /// The object's format version, which named the hash of the blob id.
    pub version: FormatVersion,
}

/// The checked header: the object's version, keys and layout.
struct Opening {
    version: FormatVersion,
    keys: ObjectKeys,
    layout: Layout,
    header: [u8; HEADER_LEN],
}

impl Opening {
    /// A hasher for the object's blob id, with the header already in it.
    fn hasher(&self) -> BlobHasher {
        let mut hasher = BlobHasher::new(self.version.blob_hash());
        hasher.update(&self.header);
        hasher
    }
}

impl ObjectOpener {
    /// An opener for the object `object` under `context`.
    pub fn new(object: &SealedObjectRef, context: &ObjectContext<'_>) -> Self {
        Self {
            key: object.key.clone(),
            context_id: context.id(),
            blob_id: object.blob_id,
            sealed_len: object.sealed_len,
        }
    }

    /// An opener for a reference's main object, under the context the
    /// reference names. Check first that the reference fits its message
    /// ([`check_reference_fits_message`](super::check_reference_fits_message)).
    pub fn for_reference(reference: &AttachmentReference<'_>) -> Self {
        Self::new(&reference.object, &ObjectContext::of_reference(reference))
    }

    /// An opener for a reference's thumbnail, if it has one.
    pub fn for_thumbnail(reference: &AttachmentReference<'_>) -> Option<Self> {
        let thumbnail = reference.thumbnail.as_ref()?;
        let context = ObjectContext::of_thumbnail(reference)?;
        Some(Self::new(&thumbnail.object, &context))
    }

    /// The sealed length the reference gives.
    pub fn sealed_len(&self) -> u64 {
        self.sealed_len
    }

    /// A writer that takes the sealed object's bytes and writes each
    /// chunk's plaintext to `out` once that chunk has authenticated, one
    /// chunk at a time on this thread (about two chunks of memory).
    ///
    /// Plaintext of earlier chunks may reach `out` before a later failure
    /// (a truncated or altered end, a wrong hash) is found: only a
    /// successful [`OpeningWriter::finish`] says the object is complete and
    /// is the one referenced. Show nothing before it.
    pub fn writer<W: Write>(self, out: W) -> OpeningWriter<W> {
        OpeningWriter::new(self, out, 1, false)
    }

    /// Like [`writer`](Self::writer), but opens `window_chunks` chunks at a
    /// time on all cores while the window is hashed (on all cores too). A
    /// window's plaintext is written only if all its chunks authenticated.
    pub fn parallel_writer<W: Write>(self, out: W, window_chunks: usize) -> OpeningWriter<W> {
        OpeningWriter::new(self, out, clamp_window(window_chunks), true)
    }

    /// Opens the sealed object `input` yields into `output`, on this thread.
    /// `Ok` means the whole object verified; after an error, discard what
    /// reached `output`.
    pub fn open_stream<R: Read, W: Write>(
        self,
        input: R,
        output: W,
    ) -> Result<OpenedObject, AttachmentError> {
        self.writer(output).open_from(input)
    }

    /// Like [`open_stream`](Self::open_stream), on all cores,
    /// `window_chunks` chunks at a time.
    pub fn open_stream_parallel<R: Read, W: Write>(
        self,
        input: R,
        output: W,
        window_chunks: usize,
    ) -> Result<OpenedObject, AttachmentError> {
        self.parallel_writer(output, window_chunks).open_from(input)
    }

    /// Opens a sealed object held in memory, on this thread: each chunk is
    /// hashed and then opened while it is in cache. The plaintext is
    /// returned only if the whole object verified.
    pub fn open(self, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, AttachmentError> {
        self.open_in_memory(sealed, 1, false)
    }

    /// Opens a sealed object held in memory on all cores, `window_chunks`
    /// chunks at a time, hashing each window (on all cores too) while it is
    /// opened.
    pub fn open_parallel(
        self,
        sealed: &[u8],
        window_chunks: usize,
    ) -> Result<Zeroizing<Vec<u8>>, AttachmentError> {
        self.open_in_memory(sealed, clamp_window(window_chunks), true)
    }

    /// Checks a header: version and chunk size, context, key commitment, and
    /// that the reference's size fits the chunk size.
    fn check_header(&self, bytes: &[u8; HEADER_LEN]) -> Result<Opening, AttachmentError> {
        let header = Header::parse(bytes)?;
        if !bool::from(header.context_id.ct_eq(&self.context_id)) {
            return Err(AttachmentError::ContextMismatch);
        }
        let keys = ObjectKeys::derive(&self.key.0, &self.context_id, header.chunk_size.get());
        if !keys.commitment_matches(&header.commitment) {
            return Err(AttachmentError::WrongKey);
        }
        let layout = Layout::for_sealed(header.chunk_size, self.sealed_len)?;
        Ok(Opening {
            version: header.version,
            keys,
            layout,
            header: *bytes,
        })
    }

    fn open_in_memory(
        self,
        sealed: &[u8],
        window_chunks: usize,
        parallel: bool,
    ) -> Result<Zeroizing<Vec<u8>>, AttachmentError> {
        let truncated = AttachmentError::Truncated {
            expected: self.sealed_len,
            received: sealed.len() as u64,
        };
        let Some((header, body)) = sealed.split_first_chunk::<HEADER_LEN>() else {
            return Err(truncated);
        };
        let opening = self.check_header(header)?;
        let layout = opening.layout;
        let mut hasher = opening.hasher();

        let body_len = (layout.sealed_len - HEADER_LEN as u64) as usize;
        let present = &body[..body.len().min(body_len)];
        let unit = layout.chunk_size.sealed_bytes();
        let complete = if present.len() == body_len {
            layout.chunks as usize
        } else {
            present.len() / unit
        };
        let complete_sealed = if complete == layout.chunks as usize {
            body_len
        } else {
            complete * unit
        };
        let plain_len = complete_sealed - complete * TAG_LEN;
        let mut plaintext = Zeroizing::new(vec![0u8; plain_len]);

        let window_chunks = window_chunks.min(complete.max(1));
        let window_sealed = window_chunks.saturating_mul(unit);
        let window_plain = window_chunks.saturating_mul(unit - TAG_LEN);
        for window in 0..complete.div_ceil(window_chunks) {
            let cipher_start = window * window_sealed;
            let cipher =
                &present[cipher_start..(cipher_start + window_sealed).min(complete_sealed)];
            let plain_start = window * window_plain;
            let plain_end = (plain_start + window_plain).min(plain_len);
            let plain = &mut plaintext[plain_start..plain_end];
            let first = (window * window_chunks) as u64;
            let opening = &opening;
            let mut open = move || open_chunks(opening, cipher, plain, first, parallel);
            let result = if parallel {
                rayon::join(|| hasher.update_parallel(cipher), open).1
            } else {
                hasher.update(cipher);
                open()
            };
            result?;
        }
        if (sealed.len() as u64) < layout.sealed_len {
            return Err(truncated);
        }
        if (sealed.len() as u64) > layout.sealed_len {
            return Err(AttachmentError::TrailingData {
                expected: layout.sealed_len,
            });
        }
        check_blob_id(hasher, &self.blob_id)?;
        Ok(plaintext)
    }
}

impl std::fmt::Debug for ObjectOpener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectOpener")
            .field("blob_id", &self.blob_id)
            .field("sealed_len", &self.sealed_len)
            .finish_non_exhaustive()
    }
}

/// Whether the hash of the whole object is the referenced blob id. The id
/// is public (the relay names the blob by it), so a plain comparison
/// leaks nothing.
fn check_blob_id(hasher: BlobHasher, blob_id: &BlobId) -> Result<(), AttachmentError> {
    if hasher.finish() == blob_id.0 {
        Ok(())
    } else {
        Err(AttachmentError::HashMismatch)
    }
}

/// Opens consecutive chunks from `cipher` (pieces of one sealed chunk size;
/// the last may be shorter) into `plain`, the first of index `first`.
/// Returns the failure of the lowest index, if any; `plain` then holds no
/// plaintext of a chunk that failed.
fn open_chunks<'c>(
    opening: &Opening,
    cipher: &'c [u8],
    plain: &mut [u8],
    first: u64,
    parallel: bool,
) -> Result<(), AttachmentError> {
    let unit = opening.layout.chunk_size.sealed_bytes();
    let chunk = unit - TAG_LEN;
    let last_index = opening.layout.last_index();
    let open_one = |(j, piece): (usize, &'c [u8])| {
        let (data, tag) = split_tag(piece);
        (first + j as u64, data, tag)
    };
    let check = |index: u64, data: &[u8], tag: &[u8; TAG_LEN], out: &mut [u8]| {
        // Indexes are below the chunk count, at most 2^32.
        let position = index as u32;
        opening
            .keys
            .open_chunk(
                position,
                index == last_index,
                &opening.header,
                data,
                tag,
                out,
            )
            .map_err(|_| position)
    };
    let failure: Option<u32> = if parallel && !plain.is_empty() {
        // Every chunk has plaintext here, so the two sides pair up.
        cipher
            .par_chunks(unit)
            .enumerate()
            .zip(plain.par_chunks_mut(chunk))
            .filter_map(|(piece, out)| {
                let (index, data, tag) = open_one(piece);
                check(index, data, &tag, out).err()
            })
            .min()
    } else {
        let mut outs = plain.chunks_mut(chunk);
        let mut first_failure = None;
        for piece in cipher.chunks(unit).enumerate() {
            let (index, data, tag) = open_one(piece);
            let out = outs.next().unwrap_or_default();
            if let Err(position) = check(index, data, &tag, out) {
                first_failure = Some(position);
                break;
            }
        }
        first_failure
    };
    match failure {
        Some(index) => Err(AttachmentError::ChunkFailed { index }),
        None => Ok(()),
    }
}

/// A sealed chunk's ciphertext and tag.
fn split_tag(piece: &[u8]) -> (&[u8], [u8; TAG_LEN]) {
    let (data, tag) = piece.split_at(piece.len() - TAG_LEN);
    let mut tag_bytes = [0u8; TAG_LEN];
    tag_bytes.copy_from_slice(tag);
    (data, tag_bytes)
}

/// Takes a sealed object's bytes and writes its plaintext to its inner
/// writer, chunk by chunk as each authenticates. Only a successful
/// [`finish`](Self::finish) says the object is complete and verified.
///
/// As a [`Write`] it reports failures as [`std::io::Error`]s that carry the
/// [`AttachmentError`] (`AttachmentError::from` gets it back); after one
/// failure every call fails, and `finish` returns the first failure.
pub struct OpeningWriter<W: Write> {
    opener: ObjectOpener,
    out: W,
    window_chunks: usize,
    parallel: bool,
    header: [u8; HEADER_LEN],
    /// Set once the header has been read and checked.
    opening: Option<Opening>,
    /// Sealed bytes of the current window.
    cipher: Vec<u8>,
    /// Plaintext of the current window.
    plain: Zeroizing<Vec<u8>>,
    /// Index of the first chunk of the current window.
    next_index: u64,
    received: u64,
    /// The blob id's hash, made once the header named the version.
    hasher: Option<BlobHasher>,
    failed: Option<AttachmentError>,
}

impl<W: Write> OpeningWriter<W> {
    fn new(opener: ObjectOpener, out: W, window_chunks: usize, parallel: bool) -> Self {
        Self {
            opener,
            out,
            window_chunks,
            parallel,
            header: [0; HEADER_LEN],
            opening: None,
            cipher: Vec::new(),
            plain: Zeroizing::new(Vec::new()),
            next_index: 0,
            received: 0,
            hasher: None,
            failed: None,
        }
    }

    fn fail(&mut self, err: AttachmentError) -> AttachmentError {
        self.failed.get_or_insert(err).clone()
    }

    /// Sealed bytes of the current window when complete, and its chunks.
    fn window_extent(&self, opening: &Opening) -> (usize, usize) {
        let layout = &opening.layout;
        let remaining = layout.chunks - self.next_index;
        let chunks = remaining.min(self.window_chunks as u64);
        let unit = layout.chunk_size.sealed_bytes();
        let bytes = if self.next_index + chunks == layout.chunks {
            (chunks as usize - 1) * unit + layout.sealed_bytes(layout.last_index())
        } else {
            chunks as usize * unit
        };
        (bytes, chunks as usize)
    }

    /// Where the next received bytes go: the rest of the header, or the rest
    /// of the current window. Empty once the whole object has arrived.
    fn spare(&mut self) -> &mut [u8] {
        let Some(opening) = &self.opening else {
            return &mut self.header[self.received as usize..];
        };
        if self.next_index == opening.layout.chunks {
            return &mut [];
        }
        let (bytes, _) = self.window_extent(opening);
        if self.cipher.len() < bytes {
            self.cipher.resize(bytes, 0);
        }
        // The window's bytes so far are at the front of `cipher`; `received`
        // says how many there are.
        let filled = self.filled_in_window();
        &mut self.cipher[filled..bytes]
    }

    /// Bytes of the current window received so far.
    fn filled_in_window(&self) -> usize {
        let Some(opening) = &self.opening else {
            return 0;
        };
        let unit = opening.layout.chunk_size.sealed_bytes() as u64;
        let window_start = HEADER_LEN as u64 + self.next_index * unit;
        (self.received - window_start) as usize
    }

    /// Accounts for `n` bytes just placed by [`spare`](Self::spare), and
    /// processes what they complete.
    fn commit(&mut self, n: usize) -> Result<(), AttachmentError> {
        self.received += n as u64;
        if self.opening.is_none() {
            if self.received == HEADER_LEN as u64 {
                let opening = self.opener.check_header(&self.header)?;
                self.hasher = Some(opening.hasher());
                self.opening = Some(opening);
            }
            return Ok(());
        }
        let Some(opening) = &self.opening else {
            return Ok(());
        };
        let (bytes, _) = self.window_extent(opening);
        if self.filled_in_window() == bytes {
            self.open_window(bytes)?;
        }
        Ok(())
    }

    /// Opens the first `bytes` of the window (whole chunks), writes their
    /// plaintext if all authenticated, and moves to the next window.
    fn open_window(&mut self, bytes: usize) -> Result<(), AttachmentError> {
        let (Some(opening), Some(hasher)) = (&self.opening, &mut self.hasher) else {
            return Ok(());
        };
        let unit = opening.layout.chunk_size.sealed_bytes();
        let chunks = bytes.div_ceil(unit);
        let plain_len = bytes - chunks * TAG_LEN;
        if self.plain.len() < plain_len {
            // Grown once, to the first window's size, before it holds any
            // plaintext: a later window is never larger.
            self.plain.resize(plain_len, 0);
        }
        let cipher = &self.cipher[..bytes];
        let plain = &mut self.plain[..plain_len];
        let first = self.next_index;
        let parallel = self.parallel;
        let mut open = move || open_chunks(opening, cipher, plain, first, parallel);
        let result = if parallel {
            rayon::join(|| hasher.update_parallel(cipher), open).1
        } else {
            hasher.update(cipher);
            open()
        };
        result?;
        self.out.write_all(&self.plain[..plain_len])?;
        self.next_index += chunks as u64;
        Ok(())
    }

    fn accept(&mut self, data: &[u8]) -> Result<usize, AttachmentError> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        let mut taken = 0;
        while taken < data.len() {
            let spare = self.spare();
            if spare.is_empty() {
                let expected = self.opener.sealed_len;
                return Err(self.fail(AttachmentError::TrailingData { expected }));
            }
            let n = spare.len().min(data.len() - taken);
            spare[..n].copy_from_slice(&data[taken..taken + n]);
            taken += n;
            self.commit(n).map_err(|err| self.fail(err))?;
        }
        Ok(taken)
    }

    /// Reads `input` to its end into the writer, then finishes. Reads go
    /// straight into the window buffer.
    fn open_from<R: Read>(mut self, mut input: R) -> Result<OpenedObject, AttachmentError> {
        loop {
            if let Some(err) = &self.failed {
                return Err(err.clone());
            }
            let spare = self.spare();
            if spare.is_empty() {
                let mut extra = [0u8; 1];
                if read_some(&mut input, &mut extra)? > 0 {
                    return Err(AttachmentError::TrailingData {
                        expected: self.opener.sealed_len,
                    });
                }
                break;
            }
            let n = read_some(&mut input, spare)?;
            if n == 0 {
                break;
            }
            if let Err(err) = self.commit(n) {
                return Err(self.fail(err));
            }
        }
        self.finish().map(|(_, opened)| opened)
    }

    /// Ends the object: opens any whole chunks still waiting, then checks
    /// that the object is complete and that its hash (of its version) is the
    /// referenced blob id. Returns the inner writer and proof of a verified
    /// object.
    pub fn finish(mut self) -> Result<(W, OpenedObject), AttachmentError> {
        if let Some(err) = self.failed.take() {
            return Err(err);
        }
        let expected = self.opener.sealed_len;
        let truncated = AttachmentError::Truncated {
            expected,
            received: self.received,
        };
        let Some(opening) = &self.opening else {
            return Err(truncated);
        };
        let (chunks, unit) = (
            opening.layout.chunks,
            opening.layout.chunk_size.sealed_bytes(),
        );
        let plaintext_len = opening.layout.plaintext_len;
        let version = opening.version;
        if self.next_index < chunks {
            // Cut short: open the whole chunks that did arrive, so that a
            // failing one is reported as on every other path.
            let whole = self.filled_in_window() / unit * unit;
            if whole > 0 {
                self.open_window(whole)?;
            }
            return Err(truncated);
        }
        self.out.flush()?;
        let Some(hasher) = self.hasher.take() else {
            // Made with the opening, which is here.
            return Err(truncated);
        };
        check_blob_id(hasher, &self.opener.blob_id)?;
        Ok((
            self.out,
            OpenedObject {
                plaintext_len,
                blob_id: self.opener.blob_id,
                version,
            },
        ))
    }
}

impl<W: Write> Write for OpeningWriter<W> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.accept(data).map_err(Into::into)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

impl<W: Write> std::fmt::Debug for OpeningWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpeningWriter")
            .field("received", &self.received)
            .field("sealed_len", &self.opener.sealed_len)
            .finish_non_exhaustive()
    }
}
