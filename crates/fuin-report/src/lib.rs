//! Verifiable user reports for fuin.
//!
//! A user reports messages they received: only the messages they select
//! leave the device, sealed to the moderation service's key; the relay
//! stores the sealed report without being able to read it; the moderation
//! tool opens it, checks every message against its sender's franking
//! commitment and the relay's stamp, and records the opening in a
//! hash-chained audit log. The construction and what it guarantees are in
//! `spec/report.md`.
//!
//! Three roles, in three modules:
//!
//! - the device ([`ReportBuilder`]): an explicit selection, a
//!   [`ReportPreview`] of exactly what will be disclosed, and
//!   [`ReportBuilder::seal`] to the relay's `SealedReport` frame;
//! - moderation ([`Moderator::open`]): a [`VerifiedReport`] with a
//!   [`Verdict`] on every message; repeats count once;
//! - the audit log ([`AuditLog`], [`verify_log`]): every opening recorded,
//!   any edited, removed or moved record found.
//!
//! The crate is sans-I/O except the audit log's file, and reads no clock:
//! times are passed in.
//!
//! ```
//! use fuin_report::*;
//! use fuin_wire::relay::{InboxEntry, InboxSealedReport, ReportId};
//! use fuin_wire::{FrameBody, HybridSealedReport};
//! # use rand_core::SeedableRng;
//! # let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
//! # let (reporter, identity, peer, messages, stamp_keys) = fuin_report::doc_example(&mut rng)?;
//! // Moderation makes a hybrid key pair and gives apps the public half.
//! let moderator = Moderator::new(ModerationSecretKey::generate(&mut rng, 1), stamp_keys);
//! let moderation_key = moderator.public_key().ok_or("not a hybrid key")?;
//!
//! // On the device: exactly the selected messages, previewed, then sealed.
//! let builder = ReportBuilder::new(reporter.clone(), identity, peer, "spam", 1_795_000_000_000, messages)?;
//! assert_eq!(builder.preview().messages.len(), 1);
//! let frame = builder.seal(&mut rng, &moderation_key)?;
//!
//! // The relay stores it and hands it to moderation with the reporter it authenticated.
//! let inbox = InboxEntry {
//!     report_id: ReportId([7; 16]),
//!     reporter,
//!     received_at_ms: 1_795_000_001_000,
//!     report: InboxSealedReport::Hybrid(HybridSealedReport::from_bytes(&frame)?),
//! };
//! let mut audit = AuditLog::in_memory();
//! let report = moderator.open(&mut audit, "mo", &inbox, 1_795_000_002_000)?;
//! assert_eq!(report.messages[0].verdict, Verdict::Verified);
//! assert!(report.post_quantum);
//!
//! // Opening it again counts nothing twice; both openings are recorded.
//! let again = moderator.open(&mut audit, "mo", &inbox, 1_795_000_003_000)?;
//! assert_eq!(again.messages[0].verdict, Verdict::Duplicate);
//! assert_eq!(verify_log(audit.memory())?.len(), 2);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]

pub mod attachment;
mod audit;
mod content;
mod device;
mod error;
mod group;
mod keys;
mod moderation;
pub mod sealing;
mod typed;

pub use audit::{
    AuditHead, AuditLog, AuditOutcome, AuditRecord, CountedMessage, MAX_MODERATOR_NAME_LEN,
    render_log, verify_file, verify_log,
};
pub use content::{
    FrankingKeyBytes, MAX_FRANKING_KEY_FIELD_LEN, MAX_REASON_LEN, MAX_REPORTED_MESSAGES,
    REPORT_VERSION, ReportContent, ReportedMessage,
};
pub use device::{PreviewMessage, ReportBuilder, ReportPreview};
pub use error::ReportError;
pub use group::{
    GROUP_REPORT_VERSION, GroupReportBuilder, GroupReportContent, GroupReportPreview,
    GroupReportedMessage, MAX_GROUP_REPORTED_MESSAGES, seal_group_content,
};
pub use keys::{
    ModerationPublicKey, ModerationSecretKey, OUTDATED_SECRET_KEY_FILE_LEN, SECRET_KEY_FILE_LEN,
    StampKeySet,
};
pub use moderation::{CheckedMessage, Inspected, Moderator, Rejection, Verdict, VerifiedReport};
pub use typed::describe_typed;

/// The properties the fuzz targets check and a fixture of genuine messages.
/// Only with the `fuzzing` feature, which `fuzz/` and this crate's own
/// tests, examples and benchmarks enable and release builds do not.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;

#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub use fuzzing::doc_example;
