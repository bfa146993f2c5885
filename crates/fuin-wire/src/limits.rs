//! The documented size limits of the wire format (`spec/wire.md`, "Limits").
//!
//! Decoders reject anything above these limits with
//! [`WireError::FrameTooLarge`](crate::WireError::FrameTooLarge) or
//! [`WireError::LimitExceeded`](crate::WireError::LimitExceeded), and encoders
//! refuse to produce it, so every frame we emit can be decoded by every peer.

/// Longest user id, in bytes of UTF-8.
pub const MAX_USER_ID_LEN: usize = 64;

/// Largest sealed message body inside a routing envelope.
pub const MAX_SEALED_BODY_LEN: usize = 64 * 1024;

/// Largest message body a user can send (63,488 bytes). It leaves room,
/// inside [`MAX_SEALED_BODY_LEN`], for the content frame's other fields, the
/// key commitment and GCM tag, the ratchet header and a prekey message's
/// handshake fields, the 1,088-byte KEM ciphertext of protocol version 3
/// included (`spec/wire.md` §6).
pub const MAX_CONTENT_BODY_LEN: usize = MAX_SEALED_BODY_LEN - 2048;

/// Largest sealed report (the report crate caps the number of messages so
/// that a full report fits).
pub const MAX_SEALED_REPORT_LEN: usize = 4 * 1024 * 1024;

/// Largest frame of any kind, version byte included. It leaves room for the
/// largest sealed report plus its fixed fields.
pub const MAX_FRAME_LEN: usize = MAX_SEALED_REPORT_LEN + 1024;
/// Most bytes in a hybrid sealed report's ciphertext (4 MiB less 2 KiB): less
/// than [`MAX_SEALED_REPORT_LEN`] so that a report at its limit, with its
/// 1,088-byte KEM ciphertext and the widest inbox entry around it, still fits
/// one inbox batch frame.
pub const MAX_HYBRID_SEALED_REPORT_LEN: usize = MAX_SEALED_REPORT_LEN - 2048;
