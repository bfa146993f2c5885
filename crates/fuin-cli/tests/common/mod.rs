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
            // One log line per request would flood the test output.
            .args(["--log-level", "warn"])
            .args(["--account-requests-per-second", "100000"])
            .args(["--account-request-burst", "100000"])
            // Every test client connects from loopback: one address for all.
            .args(["--max-connections-per-address", "100000"])
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

    /// The next line the relay prints on stdout.
    pub fn next_line(&mut self) -> String {
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        line
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

/// Takes `user`'s account away at the relay (as its operator, or someone
/// who broke in, could) so that a new account of the same user id can be
/// created: a new phone with a new account key, or an impostor.
pub fn drop_account(relay: &RelayProcess, user: &str) {
    let db = rusqlite::Connection::open(relay.database()).unwrap();
    db.busy_timeout(std::time::Duration::from_secs(10)).unwrap();
    db.execute_batch("PRAGMA foreign_keys = ON;").unwrap();
    assert_eq!(
        db.execute("DELETE FROM accounts WHERE user = ?1", [user])
            .unwrap(),
        1
    );
    assert!(
        db.execute("DELETE FROM devices WHERE user = ?1", [user])
            .unwrap()
            >= 1
    );
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

    /// Links a new device of the user of `existing` in a store named
    /// `name`: `fuin --json link` in a child process, its code read from
    /// its first line, `fuin devices approve` on `existing`. Returns the
    /// new store and the device's address.
    pub fn link(
        &self,
        relay_url: &str,
        name: &str,
        existing: &Path,
        device_name: &str,
    ) -> (PathBuf, String) {
        let store = self.path(name);
        let mut child = LinkProcess::start(relay_url, &store, device_name, true);
        let first: Value = serde_json::from_str(&child.line()).unwrap();
        let code = first["link_code"].as_str().unwrap().to_owned();
        assert!(
            first["link_text"]
                .as_str()
                .unwrap()
                .starts_with("fuin-link:")
        );
        json("devices", existing, &["approve", &code]);
        let done: Value = serde_json::from_str(&child.line()).unwrap();
        assert!(child.wait().success(), "{done}");
        (store, done["device"].as_str().unwrap().to_owned())
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

/// A `fuin link` process waiting for its code's approval; killed when
/// dropped.
pub struct LinkProcess {
    pub child: Child,
    stdout: BufReader<ChildStdout>,
}

impl LinkProcess {
    /// Starts `fuin link` (with `--json` if `json`) into `store`.
    pub fn start(relay_url: &str, store: &Path, device_name: &str, json: bool) -> Self {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_fuin"));
        command.env_remove("FUIN_STORE");
        if json {
            command.arg("--json");
        }
        let mut child = command
            .arg("link")
            .arg("--store")
            .arg(store)
            .args(["--relay", relay_url, "--name", device_name])
            .args(["--wait", "120"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Self { child, stdout }
    }

    /// The next line of its stdout (waits for it).
    pub fn line(&mut self) -> String {
        let mut line = String::new();
        let read = self.stdout.read_line(&mut line).unwrap();
        assert!(read > 0, "fuin link ended without a line");
        line.trim_end().to_owned()
    }

    /// Reads lines until one starts with `prefix`; returns the rest of it.
    pub fn line_starting(&mut self, prefix: &str) -> String {
        for _ in 0..200 {
            let line = self.line();
            if let Some(rest) = line.strip_prefix(prefix) {
                return rest.to_owned();
            }
        }
        panic!("no line starting with {prefix:?}");
    }

    /// The rest of its stdout, once it ends, and its status.
    pub fn finish(mut self) -> (String, std::process::ExitStatus) {
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut self.stdout, &mut rest).unwrap();
        let status = self.child.wait().unwrap();
        (rest, status)
    }

    /// Waits for it to end.
    pub fn wait(&mut self) -> std::process::ExitStatus {
        self.child.wait().unwrap()
    }
}

impl Drop for LinkProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
