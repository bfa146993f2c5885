//! Attachments: objects (images, video, files, thumbnails) sealed on the
//! device in chunks, bound to their context, for the relay's blob store.
//!
//! An object gets a fresh random 32-byte key and 16-byte id. Its context
//! (owner device, conversation, object id, media type) is hashed into a
//! context id; HKDF turns key, context id and chunk size into the AES-256-GCM
//! key, a nonce prefix and a key commitment. The sealed object is a 69-byte
//! header (version, chunk size, context id, commitment) followed by the
//! chunks, each sealed with a nonce that encodes its index and whether it is
//! the last, and with the header as associated data. Its blob id, its name
//! at the relay, is its BLAKE3 hash (format version 2, what is sealed) or
//! its SHA-256 (version 1, still opened). So an object opens
//! only under its own key and context, and chunks cannot be dropped,
//! reordered, duplicated or taken from another object without an error that
//! says so ([`AttachmentError`]). `spec/attachments.md` specifies it all.
//!
//! - Sealing: [`ObjectSealer`] draws the key and id; it seals through a
//!   [`SealingWriter`] (streaming, bounded memory, one core or all cores) or
//!   from memory, and gives a [`SealedObject`]. Every path writes the same
//!   bytes. [`attachment_reference`] makes the
//!   [`AttachmentReference`](fuin_wire::attachment::AttachmentReference)
//!   that a message carries; a thumbnail is just another sealed object.
//! - Opening: [`check_reference_fits_message`], then [`ObjectOpener`]
//!   through an [`OpeningWriter`] or from memory. A streaming opener writes
//!   a chunk's plaintext only once the chunk authenticated, but only
//!   [`OpenedObject`] (returned by a successful finish) says the whole object
//!   verified: show nothing before it.
//!
//! This module does no I/O of its own: it reads and writes the caller's
//! [`std::io::Read`] and [`std::io::Write`] values. The parallel paths run on
//! rayon's global thread pool.
//!
//! ```
//! use fuin_seal::attachment::*;
//! use fuin_seal::ConversationId;
//! use fuin_wire::attachment::{AttachmentReference, MediaType};
//! use fuin_wire::{DeviceAddress, DeviceId, UserId};
//! # use rand_core::SeedableRng;
//! # let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
//! let alice = DeviceAddress::new(UserId::new("alice")?, DeviceId(1));
//! let bob = UserId::new("bob")?;
//! let conversation = ConversationId::direct(&alice.user, &bob);
//!
//! // Alice seals a photo (streaming from any reader) and a thumbnail.
//! let photo = vec![0xa5; 200_000];
//! let mut blob = Vec::new();
//! let sealer = ObjectSealer::new(&mut rng, &alice, conversation, MediaType::new("image/jpeg")?, ChunkSize::DEFAULT);
//! let sealed = sealer.seal_stream(&photo[..], &mut blob)?;
//! let (thumb_blob, thumb) = ObjectSealer::new(&mut rng, &alice, conversation, MediaType::new("image/webp")?, ChunkSize::DEFAULT)
//!     .seal(b"tiny preview")?;
//! let reference = attachment_reference(&sealed, Some(&thumb), None)?;
//! let body = reference.to_bytes()?; // the body of an end-to-end message
//!
//! // Bob checks the reference against the message, then opens the blob.
//! let reference = AttachmentReference::from_bytes(&body)?;
//! check_reference_fits_message(&reference, &alice, &conversation)?;
//! let mut shown = Vec::new();
//! let opened = ObjectOpener::for_reference(&reference).open_stream(&blob[..], &mut shown)?;
//! assert_eq!((opened.plaintext_len, shown), (200_000, photo));
//! let preview = ObjectOpener::for_thumbnail(&reference).unwrap().open(&thumb_blob)?;
//! assert_eq!(&preview[..], b"tiny preview");
//!
//! // Another object's blob in its place fails before any chunk is opened.
//! assert_eq!(
//!     ObjectOpener::for_reference(&reference).open(&thumb_blob),
//!     Err(AttachmentError::ContextMismatch)
//! );
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod context;
mod error;
mod format;
mod open;
mod reference;
mod seal;

pub use context::ObjectContext;
pub use error::AttachmentError;
pub use format::{
    ChunkSize, DEFAULT_CHUNK_SIZE, FORMAT_VERSION, FormatVersion, HEADER_LEN, MAX_CHUNK_SIZE,
    MAX_CHUNKS, MIN_CHUNK_SIZE,
};
pub use open::{ObjectOpener, OpenedObject, OpeningWriter};
pub use reference::{attachment_reference, check_reference_fits_message};
pub use seal::{ObjectSealer, SealedObject, SealingWriter};

/// The window the parallel paths use unless told otherwise: 16 chunks (1 MiB
/// at the default chunk size).
pub const DEFAULT_WINDOW_CHUNKS: usize = 16;

/// The most chunks one window holds; larger requests are lowered to it.
pub const MAX_WINDOW_CHUNKS: usize = 1024;
