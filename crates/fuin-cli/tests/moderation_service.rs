//! `fuin moderate account add` and `fuin moderate serve` as processes: an
//! account is made (its password from stdin, stored only as its hash), the
//! service starts against a `fuin relay` process, answers the console's
//! login page, and stops on SIGTERM; unsafe options and files are refused.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};

use common::{RelayProcess, fuin};
use serde_json::Value;

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Moderation's files (keys from `fuin moderate keygen`, an admin
/// credential, the stamp-key set naming the relay's key) and the relay.
struct Setup {
    dir: tempfile::TempDir,
    relay: RelayProcess,
}

impl Setup {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let keys = dir.path().join("keys");
        let output = fuin()
            .args(["--json", "moderate", "keygen", "--out"])
            .arg(&keys)
            .output()
            .unwrap();
        assert!(output.status.success());
        let made: Value = serde_json::from_slice(&output.stdout).unwrap();
        let hash = made["credential_hash"].as_str().unwrap().to_owned();
        let relay = RelayProcess::start_with(
            tempfile::tempdir().unwrap(),
            &["--moderation-credential-hash".as_ref(), hash.as_ref()],
            "http",
        );
        let stamp_keys = format!(
            r#"{{"stamp_keys": [{{"id": 1, "file": "{}", "not_after_ms": null}}]}}"#,
            relay.dir.path().join("relay.db.stamp-key").display()
        );
        std::fs::write(dir.path().join("stamp-keys.json"), stamp_keys).unwrap();
        let admin = dir.path().join("admin.credential");
        std::fs::write(&admin, format!("{}\n", "ad".repeat(32))).unwrap();
        set_mode(&admin, 0o600);
        Self { dir, relay }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn database(&self) -> String {
        format!("sqlite:{}", self.path("cases.db").display())
    }

    /// `fuin moderate serve` with every file, listening on `listen`.
    fn serve_command(&self, listen: &str, more: &[&str]) -> std::process::Command {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_fuin"));
        command
            .args(["moderate", "serve", "--listen", listen, "--database"])
            .arg(self.database())
            .arg("--key")
            .arg(self.path("keys/moderation.key"))
            .arg("--stamp-keys")
            .arg(self.path("stamp-keys.json"))
            .args(["--relay", &self.relay.url])
            .arg("--inbox-credential")
            .arg(self.path("keys/inbox.credential"))
            // Nothing listens there: the admin API is only used by actions.
            .args(["--admin-url", "http://127.0.0.1:9"])
            .arg("--admin-credential")
            .arg(self.path("admin.credential"))
            .arg("--vault-key")
            .arg(self.path("vault.key"))
            .args(["--pull-interval-secs", "1", "--log-level", "warn"])
            .args(more);
        command
    }
}

/// A GET over plain HTTP/1.1: the status line and the whole answer.
fn get(address: &str, path: &str) -> (String, String) {
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let status = answer.lines().next().unwrap_or("").to_owned();
    (status, answer)
}

fn stop(mut child: Child) -> std::process::ExitStatus {
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    child.wait().unwrap()
}

#[test]
fn an_account_is_made_from_stdin_and_the_service_serves_the_console_until_sigterm() {
    let setup = Setup::new();
    let output = fuin()
        .args(["--json", "moderate", "account", "add", "--database"])
        .arg(setup.database())
        .args(["--name", "alex", "--role", "lead"])
        .write_stdin("correct horse battery staple\n")
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let made: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(made["account"], "alex");
    assert_eq!(made["role"], "lead");
    // The database holds the hash, not the password.
    let bytes: Vec<u8> = std::fs::read_dir(setup.dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains("cases.db"))
        .flat_map(|p| std::fs::read(p).unwrap())
        .collect();
    assert!(bytes.windows(7).any(|w| w == b"$argon2"));
    assert!(!bytes.windows(13).any(|w| w == b"battery stapl"));

    // The same name again is refused.
    let again = fuin()
        .args(["--json", "moderate", "account", "add", "--database"])
        .arg(setup.database())
        .args(["--name", "alex", "--role", "moderator"])
        .write_stdin("another long passphrase\n")
        .output()
        .unwrap();
    assert!(!again.status.success());
    let refused: Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(refused["error"]["code"], "account_exists");

    // A password file others may read is refused, naming it.
    let password_file = setup.path("password");
    std::fs::write(&password_file, "a third long passphrase\n").unwrap();
    set_mode(&password_file, 0o644);
    let readable = fuin()
        .args(["moderate", "account", "add", "--database"])
        .arg(setup.database())
        .args(["--name", "sam", "--role", "moderator", "--password-file"])
        .arg(&password_file)
        .output()
        .unwrap();
    assert!(!readable.status.success());
    let stderr = String::from_utf8_lossy(&readable.stderr);
    assert!(
        stderr.contains(&password_file.display().to_string()),
        "{stderr}"
    );
    set_mode(&password_file, 0o600);
    let made = fuin()
        .args(["moderate", "account", "add", "--database"])
        .arg(setup.database())
        .args(["--name", "sam", "--role", "moderator", "--password-file"])
        .arg(&password_file)
        .output()
        .unwrap();
    assert!(made.status.success(), "{made:?}");

    let mut child = setup
        .serve_command("127.0.0.1:0", &["--insecure-cookies"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let address = line
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_owned();
    let (status, page) = get(&address, "/login");
    assert!(status.contains(" 200 "), "{status}");
    assert!(page.contains("id=\"login-form\""), "{page}");
    let (status, answer) = get(&address, "/cases");
    assert!(status.contains(" 303 "), "{status}");
    assert!(
        answer.to_ascii_lowercase().contains("location: /login"),
        "{answer}"
    );
    // The vault key was made, mode 0600.
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(setup.path("vault.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let exit = stop(child);
    assert!(exit.success(), "{exit:?}");
}

#[test]
fn insecure_cookies_off_loopback_and_readable_secret_files_are_refused() {
    let setup = Setup::new();
    let output = setup
        .serve_command("0.0.0.0:0", &["--insecure-cookies"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("--insecure-cookies") || stderr.contains("--insecure-cookies"),
        "{stdout}{stderr}"
    );
    assert!(stdout.contains("loopback") || stderr.contains("loopback"));

    let key = setup.path("keys/moderation.key");
    set_mode(&key, 0o644);
    let output = setup.serve_command("127.0.0.1:0", &[]).output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&key.display().to_string()), "{stderr}");
    assert!(stderr.contains("644"), "{stderr}");
}
