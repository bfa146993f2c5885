//! A relay process (`fuin relay`) and helpers to run `fuin` client
//! processes against it.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Stdio};
use std::time::Duration;

use serde_json::Value;

/// The longest any one `fuin` process may run in these tests.
pub const PROCESS_TIMEOUT: Duration = Duration::from_secs(120);

/// A `fuin` command, not yet run.
pub fn fuin() -> assert_cmd::Command {
    let mut command = assert_cmd::Command::new(env!("CARGO_BIN_EXE_fuin"));
    command.env_remove("FUIN_STORE").timeout(PROCESS_TIMEOUT);
    command
}

/// A running `fuin relay` process on a database in its own temporary
/// directory; killed when dropped.
pub struct RelayProcess {
    pub child: Child,
    pub url: String,
    pub dir: tempfile::TempDir,
    /// Kept open, so that the relay never writes to a closed pipe.
    stdout: BufReader<ChildStdout>,
}

impl RelayProcess {
    /// Starts `fuin relay` on a free loopback port, with request limits high
    /// enough for a test that runs many processes in a burst.
    pub fn start() -> Self {
        Self::start_with(tempfile::tempdir().unwrap(), &[], "http")
    }

    /// Starts `fuin relay` with more options, its database in `dir`, and
    /// names its URL with `scheme`.
    pub fn start_with(dir: tempfile::TempDir, options: &[&std::ffi::OsStr], scheme: &str) -> Self {
        let data = dir.path().join("relay.db");
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_fuin"))
            .arg("relay")
            .arg("--data")
            .arg(&data)
            .args(options)
            .args(["--listen", "127.0.0.1:0"])
            .args([
                "--requests-per-second",
                "100000",
                "--request-burst",
                "100000",
            ])
            .args(["--anonymous-requests-per-second", "100000"])
            .args(["--anonymous-request-burst", "100000"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut line = String::new();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        stdout.read_line(&mut line).unwrap();
        // The same first line as the fuin-relay binary's.
        let address = line
            .trim()
            .strip_prefix("fuin-relay listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        Self {
            child,
            url: format!("{scheme}://{address}"),
            dir,
            stdout,
        }
    }

    pub fn database(&self) -> PathBuf {
        self.dir.path().join("relay.db")
    }
}

impl Drop for RelayProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Device stores, each in a temporary directory of the test.
pub struct Stores {
    pub dir: tempfile::TempDir,
}

impl Stores {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(format!("{name}.db"))
    }

    /// `fuin init` for `user/device`, in a store named `name`.
    pub fn init(&self, relay_url: &str, name: &str, user: &str, device: u32) -> PathBuf {
        let store = self.path(name);
        fuin()
            .arg("init")
            .arg("--store")
            .arg(&store)
            .args(["--relay", relay_url, "--user", user])
            .args(["--device", &device.to_string()])
            .assert()
            .success();
        store
    }
}

/// Runs `fuin --json COMMAND --store STORE ARGS...`, expects success and
/// returns the JSON it printed.
pub fn json(command: &str, store: &Path, args: &[&str]) -> Value {
    let output = fuin()
        .args(["--json", command, "--store"])
        .arg(store)
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "fuin {command} {args:?} failed with {}: {}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// The texts of `fuin history --json` output, in order.
pub fn texts(history: &Value) -> Vec<String> {
    history["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|message| message["text"].as_str().unwrap().to_owned())
        .collect()
}

/// Writes a PNG of `width` × `height` pseudo-random pixels (seeded by
/// `seed`, so that it does not compress to a few bytes) to `path`.
pub fn noisy_png(path: &Path, width: u32, height: u32, seed: u32) {
    let mut state = seed;
    let image = image::RgbImage::from_fn(width, height, |_, _| {
        state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
        let [_, r, g, b] = state.to_be_bytes();
        image::Rgb([r, g, b])
    });
    image.save(path).unwrap();
}
