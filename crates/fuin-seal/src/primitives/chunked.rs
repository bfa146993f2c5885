//! The AEAD of attachment chunks and the hash that names a sealed object.
//!
//! One HKDF call turns an object's random key, its context id and its chunk
//! size into an AES-256-GCM key, a 7-byte nonce prefix and a 32-byte key
//! commitment (`spec/attachments.md` §3). Each chunk is then sealed with the
//! nonce `prefix || BE32(index) || last`, so a chunk opens only at its own
//! position and only as final if it was sealed as final. The commitment is
//! compared in constant time before any chunk is opened, which is what makes
//! the construction key-committing.
//!
//! The blob id is a hash of the whole sealed object, chosen by the format
//! version ([`BlobHash`]): SHA-256 for version 1, BLAKE3 for version 2.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::gcm::Gcm;
use super::kdf::{self, Label};

/// Bytes of the per-object nonce prefix.
pub const NONCE_PREFIX_LEN: usize = 7;
/// Bytes of a key commitment.
pub const COMMITMENT_LEN: usize = 32;
/// Bytes of the GCM tag after every chunk.
pub const TAG_LEN: usize = 16;

const KEY_LEN: usize = 32;
const DERIVED_LEN: usize = KEY_LEN + NONCE_PREFIX_LEN + COMMITMENT_LEN;

/// A chunk did not authenticate under the keys, index and flag it was
/// opened with. Its output buffer is left untouched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkRejected;

/// The keys of one sealed object: the GCM key (expanded), the nonce prefix
/// and the key commitment. The expanded key is wiped on drop; `Debug` shows
/// nothing.
pub struct ObjectKeys {
    cipher: Gcm,
    nonce_prefix: [u8; NONCE_PREFIX_LEN],
    commitment: [u8; COMMITMENT_LEN],
}

impl ObjectKeys {
    /// `derive("fuin/v1/attachment-keys", absent salt, object_key,
    /// context_id || BE32(chunk_size), 71)`, split into the GCM key (32),
    /// the nonce prefix (7) and the commitment (32).
    pub fn derive(object_key: &[u8; 32], context_id: &[u8; 32], chunk_size: u32) -> Self {
        let mut info_context = [0u8; 36];
        info_context[..32].copy_from_slice(context_id);
        info_context[32..].copy_from_slice(&chunk_size.to_be_bytes());
        let derived =
            kdf::derive::<DERIVED_LEN>(Label::AttachmentKeys, None, object_key, &info_context);
        let mut key = zeroize::Zeroizing::new([0u8; KEY_LEN]);
        key.copy_from_slice(&derived[..KEY_LEN]);
        let cipher = Gcm::new(&key);
        let mut nonce_prefix = [0u8; NONCE_PREFIX_LEN];
        nonce_prefix.copy_from_slice(&derived[KEY_LEN..KEY_LEN + NONCE_PREFIX_LEN]);
        let mut commitment = [0u8; COMMITMENT_LEN];
        commitment.copy_from_slice(&derived[KEY_LEN + NONCE_PREFIX_LEN..]);
        Self {
            cipher,
            nonce_prefix,
            commitment,
        }
    }

    /// The key commitment, which the sealed object's header carries.
    pub fn commitment(&self) -> &[u8; COMMITMENT_LEN] {
        &self.commitment
    }

    /// Whether `candidate` is this object's commitment, compared in
    /// constant time.
    pub fn commitment_matches(&self, candidate: &[u8]) -> bool {
        bool::from(self.commitment.as_slice().ct_eq(candidate))
    }

    /// The nonce of chunk `index`: `prefix (7) || BE32(index) || last (1)`.
    pub fn nonce(&self, index: u32, last: bool) -> [u8; 12] {
        let mut nonce = [0u8; 12];
        nonce[..NONCE_PREFIX_LEN].copy_from_slice(&self.nonce_prefix);
        nonce[NONCE_PREFIX_LEN..11].copy_from_slice(&index.to_be_bytes());
        nonce[11] = u8::from(last);
        nonce
    }

    /// Seals chunk `index` from `input` into `output` (of the same length)
    /// and returns its tag.
    ///
    /// GCM refuses only inputs over 64 GiB; chunks are at most 1 MiB, so that
    /// cannot happen. Were it to, the tag would be all zeros and the chunk
    /// would fail to open: a safe failure, never a wrong plaintext.
    pub fn seal_chunk(
        &self,
        index: u32,
        last: bool,
        aad: &[u8],
        input: &[u8],
        output: &mut [u8],
    ) -> [u8; TAG_LEN] {
        self.cipher
            .seal_into(&self.nonce(index, last), aad, input, output)
    }

    /// Seals chunk `index` in place and returns its tag (see
    /// [`seal_chunk`](Self::seal_chunk)).
    pub fn seal_chunk_in_place(
        &self,
        index: u32,
        last: bool,
        aad: &[u8],
        buffer: &mut [u8],
    ) -> [u8; TAG_LEN] {
        self.cipher
            .seal_in_place(&self.nonce(index, last), aad, buffer)
    }

    /// Opens chunk `index` from `input` into `output` (of the same length).
    /// The tag is checked before anything is decrypted: on failure `output`
    /// holds no plaintext.
    pub fn open_chunk(
        &self,
        index: u32,
        last: bool,
        aad: &[u8],
        input: &[u8],
        tag: &[u8; TAG_LEN],
        output: &mut [u8],
    ) -> Result<(), ChunkRejected> {
        self.cipher
            .open_into(&self.nonce(index, last), aad, input, tag, output)
            .map_err(|_| ChunkRejected)
    }
}

impl std::fmt::Debug for ObjectKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ObjectKeys(<redacted>)")
    }
}

impl Drop for ObjectKeys {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.nonce_prefix);
    }
}

/// The hash that names a sealed object in the relay's blob store (its blob
/// id). The object's format version chooses it (`spec/attachments.md` §4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobHash {
    /// SHA-256: one serial chain over the object (format version 1).
    Sha256,
    /// BLAKE3 in its default hash mode, 32 bytes (format version 2): a tree
    /// of 1 KiB leaves, so one core hashes several leaves at once with wide
    /// vector instructions and several cores hash parts of it in parallel.
    Blake3,
}

/// A sealed object's blob id, computed over the object as it is produced
/// or received.
#[derive(Clone)]
pub struct BlobHasher(HashState);

#[derive(Clone)]
enum HashState {
    Sha256(Sha256),
    // Boxed: BLAKE3's state (its chaining-value stack and a 1 KiB leaf
    // buffer) is much larger than SHA-256's.
    Blake3(Box<blake3::Hasher>),
}

impl BlobHasher {
    /// Starts an empty hash of kind `hash`.
    pub fn new(hash: BlobHash) -> Self {
        Self(match hash {
            BlobHash::Sha256 => HashState::Sha256(Sha256::new()),
            BlobHash::Blake3 => HashState::Blake3(Box::default()),
        })
    }

    /// Which hash this is.
    pub fn kind(&self) -> BlobHash {
        match self.0 {
            HashState::Sha256(_) => BlobHash::Sha256,
            HashState::Blake3(_) => BlobHash::Blake3,
        }
    }

    /// Adds bytes on this thread.
    pub fn update(&mut self, bytes: &[u8]) {
        match &mut self.0 {
            HashState::Sha256(hasher) => hasher.update(bytes),
            HashState::Blake3(hasher) => {
                hasher.update(bytes);
            }
        }
    }

    /// Adds bytes, on all cores (rayon's pool) where the hash allows it:
    /// BLAKE3 hashes disjoint subtrees of `bytes` on different threads.
    /// SHA-256 cannot be split, and runs on this thread. The result is the
    /// same as [`update`](Self::update)'s.
    pub fn update_parallel(&mut self, bytes: &[u8]) {
        match &mut self.0 {
            HashState::Sha256(hasher) => hasher.update(bytes),
            HashState::Blake3(hasher) => {
                hasher.update_rayon(bytes);
            }
        }
    }

    /// The hash of everything added.
    pub fn finish(self) -> [u8; 32] {
        match self.0 {
            HashState::Sha256(hasher) => hasher.finalize().into(),
            HashState::Blake3(hasher) => *hasher.finalize().as_bytes(),
        }
    }
}

impl std::fmt::Debug for BlobHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("BlobHasher").field(&self.kind()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chunk_opens_only_at_its_index_and_flag() {
        let keys = ObjectKeys::derive(&[1; 32], &[2; 32], 64);
        let mut sealed = [0u8; 5];
        let tag = keys.seal_chunk(3, false, b"ad", b"hello", &mut sealed);
        let mut out = [0u8; 5];
        assert_eq!(
            keys.open_chunk(3, false, b"ad", &sealed, &tag, &mut out),
            Ok(())
        );
        assert_eq!(&out, b"hello");
        for (index, last, aad) in [(3, true, &b"ad"[..]), (4, false, b"ad"), (3, false, b"da")] {
            let mut out = [0u8; 5];
            assert_eq!(
                keys.open_chunk(index, last, aad, &sealed, &tag, &mut out),
                Err(ChunkRejected)
            );
            assert_eq!(out, [0; 5], "no plaintext on failure");
        }
        let mut in_place = *b"hello";
        assert_eq!(
            keys.seal_chunk_in_place(3, false, b"ad", &mut in_place),
            tag
        );
        assert_eq!(in_place, sealed);
    }

    #[test]
    fn keys_depend_on_the_key_the_context_and_the_chunk_size() {
        let base = ObjectKeys::derive(&[1; 32], &[2; 32], 64);
        for other in [
            ObjectKeys::derive(&[9; 32], &[2; 32], 64),
            ObjectKeys::derive(&[1; 32], &[9; 32], 64),
            ObjectKeys::derive(&[1; 32], &[2; 32], 65),
        ] {
            assert!(!other.commitment_matches(base.commitment()));
            assert_ne!(other.nonce(0, false), base.nonce(0, false));
        }
        assert!(base.commitment_matches(base.commitment()));
        assert_eq!(format!("{base:?}"), "ObjectKeys(<redacted>)");
    }

    #[test]
    fn blob_hashes_match_their_published_values_on_every_path() {
        // SHA-256("abc") (FIPS 180-2, appendix B.1) and BLAKE3("abc") (the
        // reference implementation's b3sum).
        let sha256_abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        let blake3_abc = "6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85";
        for (hash, expected) in [
            (BlobHash::Sha256, sha256_abc),
            (BlobHash::Blake3, blake3_abc),
        ] {
            let mut whole = BlobHasher::new(hash);
            whole.update(b"abc");
            assert_eq!(hex::encode(whole.finish()), expected, "{hash:?}");
            let mut split = BlobHasher::new(hash);
            split.update(b"a");
            split.update_parallel(b"bc");
            assert_eq!(hex::encode(split.finish()), expected, "{hash:?} in pieces");
            assert_eq!(BlobHasher::new(hash).kind(), hash);
        }
    }

    #[test]
    fn parallel_hashing_of_a_large_input_in_uneven_pieces_agrees_with_serial() {
        // Several BLAKE3 subtrees, cut at places that are not leaf-aligned.
        let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
        for hash in [BlobHash::Sha256, BlobHash::Blake3] {
            let mut serial = BlobHasher::new(hash);
            serial.update(&data);
            let mut parallel = BlobHasher::new(hash);
            for piece in [&data[..69], &data[69..70_000], &data[70_000..]] {
                parallel.update_parallel(piece);
            }
            assert_eq!(parallel.finish(), serial.finish(), "{hash:?}");
        }
    }
}
