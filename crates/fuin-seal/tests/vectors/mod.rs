//! Shared by the vector generator (`examples/seal_vectors.rs`) and the vector
//! test (`tests/seal_vectors.rs`).
pub mod account_reference;
pub mod account_scenario;
pub mod group_reference;
pub mod group_scenario;
pub mod primitives;
pub mod reference;
pub mod reject;
pub mod scenario;
