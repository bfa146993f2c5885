//! Shared by the attachment vector generator
//! (`examples/attachment_vectors.rs`) and its tests
//! (`tests/attachment_vectors.rs`, `tests/attachment_reject_vectors.rs`).
pub mod opening;
pub mod reference;
pub mod rejects;
pub mod scenario;
