//! The Kotlin and Swift bindings are generated from the built library and
//! name the whole exported API. They are not compiled here (no Kotlin or
//! Swift toolchain on these machines; `bindings/README.md`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;

use uniffi::TargetLanguage;

/// Every file under `dir`, concatenated.
fn sources(dir: &Path) -> String {
    let mut out = String::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.push_str(&sources(&path));
        } else {
            out.push_str(&std::fs::read_to_string(&path).unwrap());
        }
    }
    out
}

/// The exported API, as both languages spell it (lower camel case).
const METHODS: &[&str] = &[
    "create",
    "open",
    "address",
    "sendText",
    "sync",
    "conversations",
    "history",
    "markRead",
    "sendFile",
    "sendFileBytes",
    "attachment",
    "fetchAttachment",
    "report",
    "submitReport",
    "safetyNumber",
    "acceptIdentityChange",
    "devices",
    "nextEvent",
    "pendingEvents",
    "preview",
];

const TYPES: &[&str] = &[
    "FuinClient",
    "PreparedReport",
    "FuinError",
    "FuinEvent",
    "ClientConfig",
    "Message",
    "Conversation",
    "SentMessage",
    "SyncReport",
    "SendFileOptions",
    "SentFile",
    "FetchedFile",
    "AttachmentInfo",
    "LinkedDevice",
    "SafetyNumbers",
    "ReportPreview",
    "ReportReceipt",
    "MessageStatus",
];

fn assert_names(language: &str, source: &str, extra: &[&str]) {
    for name in METHODS.iter().chain(TYPES).chain(extra) {
        assert!(
            source.contains(name),
            "the {language} bindings do not name {name}"
        );
    }
}

#[test]
fn kotlin_bindings_name_the_whole_api() {
    let out = tempfile::tempdir().unwrap();
    common::generate(&[TargetLanguage::Kotlin], out.path());
    let kotlin = out.path().join("uniffi/fuin/fuin.kt");
    let source = sources(out.path());
    assert!(kotlin.is_file(), "no uniffi/fuin/fuin.kt");
    // Kotlin's async functions are coroutines; the library loads through JNA.
    assert_names(
        "Kotlin",
        &source,
        &["suspend fun", "com.sun.jna", "fuin_ffi"],
    );
}

#[test]
fn swift_bindings_name_the_whole_api() {
    let out = tempfile::tempdir().unwrap();
    common::generate(&[TargetLanguage::Swift], out.path());
    for file in ["fuin.swift", "fuinFFI.h", "fuinFFI.modulemap"] {
        assert!(out.path().join(file).is_file(), "no {file}");
    }
    let source = sources(out.path());
    assert_names("Swift", &source, &["async throws", "module fuinFFI"]);
}
