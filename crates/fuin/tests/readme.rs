//! The repository's README shows the same Rust example as this crate's
//! README, whose blocks are compiled as doctests: the one people read first
//! cannot drift from the one that compiles.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

/// The first fenced block of `markdown` that opens with `fence`.
fn block<'a>(markdown: &'a str, fence: &str) -> &'a str {
    let start = markdown.find(fence).expect("no such block") + fence.len();
    let end = markdown[start..].find("\n```").expect("an unclosed block") + start;
    &markdown[start..end]
}

#[test]
fn the_repository_readme_shows_the_compiled_example() {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let ours = std::fs::read_to_string(crate_dir.join("README.md")).unwrap();
    let top = std::fs::read_to_string(crate_dir.join("../../README.md")).unwrap();
    let example = block(&ours, "```rust,no_run\n");
    assert!(example.contains("Client::create"), "{example}");
    let section = &top[top
        .find("## Build a chat app")
        .expect("no chat app section")..];
    assert_eq!(block(section, "```rust,no_run\n"), example);
}
