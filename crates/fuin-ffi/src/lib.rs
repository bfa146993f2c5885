//! UniFFI bindings of the fuin client SDK for Kotlin, Swift and Python.
//!
//! One object, [`FuinClient`], is one device of one user: the SDK's
//! [`fuin::Client`] behind an FFI-friendly surface. Every method
//! that talks to the relay or the store is `async` in the foreign language
//! (a coroutine in Python, a `suspend fun` in Kotlin, an `async` function in
//! Swift) and runs on a Tokio runtime inside the library. Results are flat
//! records ([`records`]), events one flat enum ([`FuinEvent`]), and every
//! failure one error enum ([`FuinError`]) that carries the SDK's hint for
//! people.
//!
//! `bindings/generate.sh` builds this crate's `cdylib` and generates the
//! foreign sources from it (library mode, no UDL); `bindings/README.md`
//! says how an app uses them.
//!
//! # What crosses the boundary
//!
//! No key crosses: the device's storage key stays in its key file beside
//! the store (the SDK reads it), and the identity, session and franking
//! keys never leave the SDK. What does cross as plain values, because the
//! app must hold it: message texts and file bytes (the app shows them), the
//! moderation service's *public* key (text), an operator's invitation code
//! ([`records::ClientConfig::invite`]) and a relay certificate (public).
//!
//! # Unsafe code
//!
//! `#![forbid(unsafe_code)]` holds for everything written in this crate.
//! An FFI needs `unsafe` somewhere: UniFFI's proc macros
//! (`uniffi::setup_scaffolding!`, `#[uniffi::export]`, the derives) expand
//! to `extern "C"` functions with `#[unsafe(no_mangle)]` and `unsafe`
//! blocks that read the foreign caller's buffers. Rustc does not apply the
//! `unsafe_code` lint inside expansions of macros from other crates, so
//! those expansions build under `forbid`; their soundness is UniFFI's
//! (`uniffi_core`, `uniffi_macros`, version pinned in `Cargo.lock`).
#![forbid(unsafe_code)]

mod client;
mod error;
mod event;
pub mod records;
mod report;

pub use client::FuinClient;
pub use error::FuinError;
pub use event::FuinEvent;
pub use report::PreparedReport;

// The foreign module is named `fuin` (`fuin.py`, `fuin.kt`, `fuin.swift`).
uniffi::setup_scaffolding!("fuin");
