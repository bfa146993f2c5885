//! The relay does not link the code that opens messages: `fuin-seal` and
//! `fuin-report` are nowhere in its normal dependency tree, on any target.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::Command;

#[test]
fn relay_does_not_depend_on_seal_or_report() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let output = Command::new(env!("CARGO"))
        .current_dir(&workspace)
        .args([
            "tree",
            "-p",
            "fuin-relay",
            "-e",
            "normal",
            "--target",
            "all",
            "--prefix",
            "none",
            "--color",
            "never",
        ])
        .output()
        .expect("cargo tree could not be started");
    assert!(
        output.status.success(),
        "cargo tree failed ({}):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let tree = String::from_utf8(output.stdout).expect("cargo tree printed UTF-8");
    let crates: Vec<&str> = tree
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .collect();

    // The tree is the relay's (so the checks below cannot pass vacuously).
    assert_eq!(
        crates.first(),
        Some(&"fuin-relay"),
        "unexpected tree:\n{tree}"
    );
    assert!(crates.contains(&"fuin-wire"), "fuin-wire missing:\n{tree}");
    for forbidden in ["fuin-seal", "fuin-report"] {
        assert!(
            !tree.lines().any(|line| line.starts_with(forbidden)),
            "fuin-relay depends on {forbidden}:\n{tree}"
        );
    }
}
