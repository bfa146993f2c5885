//! The fuin moderation service (`fuin moderate serve`).
//!
//! A trust-and-safety team works through user reports in a browser, and
//! nothing secret ever reaches the browser: the service holds moderation's
//! secret key and the relay's stamp-key set, pulls the relay's report inbox,
//! opens and verifies each report **once**, and keeps what it found as a
//! *case* in its own database. Moderators are accounts (Argon2id passwords,
//! sessions in HTTP-only cookies, CSRF tokens, two roles); every opening,
//! view and action is a record of a hash-chained audit log kept in the same
//! database, written in the transaction that does what it records.
//!
//! Layout:
//! - [`model`]: what the service keeps (accounts, sessions, cases, notes,
//!   actions) and the filters the console asks with;
//! - [`store`]: the storage trait, with SQLite (one instance) and
//!   PostgreSQL (several instances sharing one database) behind it;
//! - [`audit`]: the service's audit records and their hash chain
//!   (`spec/report.md` §13);
//! - [`vault`]: report content is sealed at rest in the database under a
//!   key of the service's (its file, mode 0600, never leaves the machine);
//! - [`config`]: the service's files, checked (secret files mode 0600);
//! - [`ingest`]: pulling the relay's report inbox and opening each report
//!   once into a case; [`attachments`]: re-fetching reported attachments;
//! - [`relay_admin`] and [`messenger`]: the relay's admin API and
//!   moderation's own fuin account, behind the service's traits;
//! - [`serve`]: the console and the puller, until a signal.
//!
//! The relay never links this crate: it holds opening code.
#![forbid(unsafe_code)]

pub mod accounts;
pub mod attachments;
pub mod audit;
pub mod config;
pub mod ingest;
pub mod messenger;
pub mod model;
pub mod relay_admin;
pub mod serve;
pub mod service;
pub mod store;
pub mod vault;
pub mod web;
