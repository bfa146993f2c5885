//! The backend-independent tests, written against the [`Store`] trait only,
//! one file per domain of the trait. Each test is re-exported here, where
//! the backends' runners name it (`crate::suite::<test>`).
//!
//! [`Store`]: fuin_relay::store::Store

mod admin;
mod auth;
mod blobs;
mod devices;
mod kem_prekeys;
mod links;
mod mailbox;
mod prekeys;
mod reports;

pub use admin::*;
pub use auth::*;
pub use blobs::*;
pub use devices::*;
pub use kem_prekeys::*;
pub use links::*;
pub use mailbox::*;
pub use prekeys::*;
pub use reports::*;
