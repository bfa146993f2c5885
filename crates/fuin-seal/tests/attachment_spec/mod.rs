//! Shared by the attachment vector generator
//! (`examples/attachment_vectors.rs`) and its test
//! (`tests/attachment_vectors.rs`).
pub mod reference;
pub mod scenario;
