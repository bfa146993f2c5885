//! The relay's configuration layers (a flag beats an environment variable,
//! which beats the config file), the refusal of secrets on the command line
//! and in files others may read, and the `deploy/` files: the example
//! config loads into the options it shows, and the systemd unit verifies.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use clap::{Args, FromArgMatches};
use common::*;
use fuin_relay::cli::RelayArgs;
use fuin_relay::config::RegistrationPolicy;
use fuin_relay::franking::StampKeys;
use fuin_relay::option_layers::{env_name, file_key, layered_matches, with_env_names};
use fuin_wire::StampKeyId;

/// The binary with `args` and `env` only (no `--listen` added, and no
/// `FUIN_RELAY_*` variable from the test's own environment).
fn relay_command(args: &[&OsStr], env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_fuin-relay"));
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("FUIN_RELAY_") {
            command.env_remove(name);
        }
    }
    // One log line per request would flood the test output.
    command.env("RUST_LOG", "warn");
    command.args(args).envs(env.iter().copied());
    command
}

/// Starts the binary; returns once it says where it listens.
fn start(args: &[&OsStr], env: &[(&str, &str)]) -> RelayProcess {
    let mut child = relay_command(args, env)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let address = line
        .trim()
        .strip_prefix("fuin-relay listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    RelayProcess {
        child,
        address,
        stdout: Some(stdout),
    }
}

/// A child killed if the test fails while it runs.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Runs the binary expecting it to refuse to start: what it said on stderr.
fn refused(args: &[&OsStr], env: &[(&str, &str)]) -> String {
    let child = relay_command(args, env)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = Running(child);
    let what = format!("the relay started with {args:?} to exit");
    let status = wait_for(&what, PATIENCE, || child.0.try_wait().unwrap());
    let mut stderr = String::new();
    child
        .0
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(!status.success(), "exited with {status}; stderr: {stderr}");
    stderr
}

/// Writes `text` to `dir/name` with `mode`.
fn write_file(dir: &Path, name: &str, text: &str, mode: u32) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    path
}

fn os(path: &Path) -> &OsStr {
    path.as_os_str()
}

/// The IP address of a `host:port`.
fn host_of(address: &str) -> &str {
    address.rsplit_once(':').unwrap().0
}

#[test]
fn a_flag_beats_the_environment_which_beats_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("relay.db");
    // Each layer names another loopback address; where the relay listens
    // tells which layer won. The storage option is in the file only.
    let config = write_file(
        dir.path(),
        "relay.toml",
        &format!(
            "data = {:?}\nlisten = \"127.0.0.3:0\"\n",
            data.to_str().unwrap()
        ),
        0o644,
    );
    let config = os(&config);
    let env = [("FUIN_RELAY_LISTEN", "127.0.0.2:0")];

    let file_only = start(&[OsStr::new("--config"), config], &[]);
    assert_eq!(host_of(&file_only.address), "127.0.0.3");
    TestDevice::register(&file_only.address, "alice", 1, 1);
    assert!(file_only.stop("TERM").success());
    assert!(data.exists(), "the database named by the file was used");

    let env_and_file = start(&[OsStr::new("--config"), config], &env);
    assert_eq!(host_of(&env_and_file.address), "127.0.0.2");
    assert!(env_and_file.stop("TERM").success());

    let all = start(
        &[
            OsStr::new("--config"),
            config,
            OsStr::new("--listen"),
            OsStr::new("127.0.0.1:0"),
        ],
        &env,
    );
    assert_eq!(host_of(&all.address), "127.0.0.1");
    assert!(all.stop("TERM").success());

    // The config file itself can be named in the environment.
    let config_from_env = start(&[], &[("FUIN_RELAY_CONFIG", config.to_str().unwrap())]);
    assert_eq!(host_of(&config_from_env.address), "127.0.0.3");
    assert!(config_from_env.stop("TERM").success());
}

#[test]
fn a_setting_in_the_file_applies_unless_the_environment_overrides_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("relay.db");
    let config = write_file(
        dir.path(),
        "relay.toml",
        &format!(
            "data = {:?}\nregistration = \"invite\"\n",
            data.to_str().unwrap()
        ),
        0o600,
    );
    let args = [
        OsStr::new("--config"),
        os(&config),
        OsStr::new("--listen"),
        OsStr::new("127.0.0.1:0"),
    ];
    let key = ed25519_dalek::SigningKey::from_bytes(&[1; 32]);
    let list = lists::signed_list(
        &lists::account_key(1),
        "alice",
        1,
        &[(1, lists::identity(&key, 1))],
    );
    let registration = lists::registration(&list, None);

    let by_invitation = start(&args, &[]);
    let (status, body) = request(
        &by_invitation.address,
        "POST",
        "/v1/accounts",
        None,
        &registration,
    )
    .unwrap();
    assert_eq!(status, 403);
    assert_eq!(error_code(&body), "invite_required");
    assert!(by_invitation.stop("TERM").success());

    let open = start(&args, &[("FUIN_RELAY_REGISTRATION", "open")]);
    let (status, _) = request(&open.address, "POST", "/v1/accounts", None, &registration).unwrap();
    assert_eq!(status, 201);
    assert!(open.stop("TERM").success());
}

#[test]
fn an_unknown_key_in_the_file_is_refused_naming_the_key_and_the_file() {
    let dir = tempfile::tempdir().unwrap();
    for (text, key) in [
        // A typo.
        ("max_mailbox_envelope = 5\n", "max_mailbox_envelope"),
        // The option's own spelling: keys use `_`.
        ("max-mailbox-envelopes = 5\n", "max-mailbox-envelopes"),
        // Not an option at all.
        ("[server]\nport = 8080\n", "server"),
        // A file cannot name another file.
        ("config = \"other.toml\"\n", "config"),
    ] {
        let config = write_file(dir.path(), "relay.toml", text, 0o600);
        let data = dir.path().join("relay.db");
        let stderr = refused(
            &[
                OsStr::new("--config"),
                os(&config),
                OsStr::new("--data"),
                os(&data),
            ],
            &[],
        );
        assert!(
            stderr.contains(config.to_str().unwrap()) && stderr.contains(&format!("key {key}")),
            "for {text:?}: {stderr}"
        );
        assert!(!data.exists(), "nothing was created for {text:?}");
    }
}

#[test]
fn a_bad_value_in_the_file_is_refused_naming_the_key_and_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("relay.db");
    for (text, key) in [
        ("max_mailbox_envelopes = 0\n", "max_mailbox_envelopes"),
        (
            "max_mailbox_envelopes = \"many\"\n",
            "max_mailbox_envelopes",
        ),
        ("max_long_poll_secs = 3601\n", "max_long_poll_secs"),
        ("registration = \"closed\"\n", "registration"),
        ("origin = [\"ftp://relay.example\"]\n", "origin"),
        ("insecure_plain_http = \"yes\"\n", "insecure_plain_http"),
        ("listen = [\"127.0.0.1:1\", \"127.0.0.1:2\"]\n", "listen"),
        ("listen = 1979-05-27\n", "listen"),
    ] {
        let config = write_file(dir.path(), "relay.toml", text, 0o600);
        let stderr = refused(
            &[
                OsStr::new("--config"),
                os(&config),
                OsStr::new("--data"),
                os(&data),
            ],
            &[],
        );
        assert!(
            stderr.contains(config.to_str().unwrap()) && stderr.contains(&format!("key {key}")),
            "for {text:?}: {stderr}"
        );
    }
    let broken = write_file(dir.path(), "relay.toml", "data = \n", 0o600);
    let stderr = refused(&[OsStr::new("--config"), os(&broken)], &[]);
    assert!(
        stderr.contains(broken.to_str().unwrap()) && stderr.contains("line 1"),
        "{stderr}"
    );
    assert!(!data.exists());
}

#[test]
fn a_bad_value_in_the_environment_is_refused_naming_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("relay.db");
    let stderr = refused(
        &[OsStr::new("--data"), os(&data)],
        &[("FUIN_RELAY_MAX_MAILBOX_ENVELOPES", "0")],
    );
    assert!(
        stderr.contains("FUIN_RELAY_MAX_MAILBOX_ENVELOPES"),
        "{stderr}"
    );
    assert!(!data.exists());
}

#[test]
fn a_repeatable_option_is_a_list_in_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("relay.db");
    for name in ["old-a", "old-b"] {
        write_file(dir.path(), name, &"k".repeat(32), 0o600);
    }
    let old_a = dir.path().join("old-a");
    let old_b = dir.path().join("old-b");
    // Both items reach the relay: it sees the id given twice.
    let config = write_file(
        dir.path(),
        "relay.toml",
        &format!(
            "old_stamp_key = [\"2={}\", \"2={}\"]\n",
            old_a.display(),
            old_b.display()
        ),
        0o600,
    );
    let stderr = refused(
        &[
            OsStr::new("--config"),
            os(&config),
            OsStr::new("--data"),
            os(&data),
        ],
        &[],
    );
    assert!(stderr.contains("id 2 is given twice"), "{stderr}");

    // Two distinct ids: the relay starts with both.
    let config = write_file(
        dir.path(),
        "relay.toml",
        &format!(
            "old_stamp_key = [\"2={}\", \"3={}\"]\nstamp_key_id = 4\n",
            old_a.display(),
            old_b.display()
        ),
        0o600,
    );
    let relay = start(
        &[
            OsStr::new("--config"),
            os(&config),
            OsStr::new("--data"),
            os(&data),
            OsStr::new("--listen"),
            OsStr::new("127.0.0.1:0"),
        ],
        &[],
    );
    assert!(relay.stop("TERM").success());
}

#[test]
fn a_password_on_the_command_line_is_refused_without_repeating_it() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("stamp-key");
    for conninfo in [
        "host=127.0.0.1 port=1 user=fuin password=hunter2 dbname=fuin",
        "postgresql://fuin:hunter2@127.0.0.1:1/fuin",
    ] {
        let stderr = refused(
            &[
                OsStr::new("--postgres"),
                OsStr::new(conninfo),
                OsStr::new("--stamp-key-file"),
                os(&key),
            ],
            &[],
        );
        assert!(
            stderr.contains("--postgres-password-file")
                && stderr.contains("FUIN_RELAY_POSTGRES_PASSWORD"),
            "{stderr}"
        );
        assert!(!stderr.contains("hunter2"), "{stderr}");
    }
    let stderr = refused(
        &[
            OsStr::new("--postgres"),
            OsStr::new("host=127.0.0.1 port=1 user=fuin dbname=fuin"),
            OsStr::new("--stamp-key-file"),
            os(&key),
            OsStr::new("--postgres-password"),
            OsStr::new("hunter2"),
        ],
        &[],
    );
    assert!(
        stderr.contains("not taken from the command line")
            && stderr.contains("FUIN_RELAY_POSTGRES_PASSWORD"),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2"), "{stderr}");
    // The same for a subcommand's connection string.
    let stderr = refused(
        &[
            OsStr::new("invite"),
            OsStr::new("--postgres"),
            OsStr::new("postgresql://fuin:hunter2@127.0.0.1:1/fuin"),
        ],
        &[],
    );
    assert!(
        stderr.contains("FUIN_RELAY_POSTGRES_PASSWORD") && !stderr.contains("hunter2"),
        "{stderr}"
    );
    assert!(!key.exists(), "refused before anything was made");
}

#[test]
fn a_config_file_holding_a_secret_must_be_readable_by_its_owner_only() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("stamp-key");
    for text in [
        "postgres = \"host=127.0.0.1 port=1 user=fuin dbname=fuin\"\n\
         postgres_password = \"hunter2\"\n",
        "postgres = \"postgresql://fuin:hunter2@127.0.0.1:1/fuin\"\n",
    ] {
        let config = write_file(dir.path(), "relay.toml", text, 0o640);
        let stderr = refused(
            &[
                OsStr::new("--config"),
                os(&config),
                OsStr::new("--stamp-key-file"),
                os(&key),
            ],
            &[],
        );
        assert!(
            stderr.contains(config.to_str().unwrap())
                && stderr.contains("holds a secret")
                && stderr.contains("0640"),
            "{stderr}"
        );
        assert!(!stderr.contains("hunter2"), "{stderr}");
    }
    assert!(!key.exists(), "refused before anything was made");
}

#[test]
fn a_config_file_others_may_change_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("relay.db");
    let config = write_file(
        dir.path(),
        "relay.toml",
        &format!("data = {:?}\n", data.to_str().unwrap()),
        0o664,
    );
    let stderr = refused(&[OsStr::new("--config"), os(&config)], &[]);
    assert!(
        stderr.contains(config.to_str().unwrap()) && stderr.contains("0664"),
        "{stderr}"
    );
    assert!(!data.exists());
}

#[test]
fn a_password_file_others_may_read_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("stamp-key");
    let password = write_file(dir.path(), "password", "hunter2\n", 0o644);
    // Port 1: the relay must refuse before it tries to connect.
    let stderr = refused(
        &[
            OsStr::new("--postgres"),
            OsStr::new("host=127.0.0.1 port=1 user=fuin dbname=fuin"),
            OsStr::new("--stamp-key-file"),
            os(&key),
            OsStr::new("--postgres-password-file"),
            os(&password),
            OsStr::new("--listen"),
            OsStr::new("127.0.0.1:0"),
        ],
        &[],
    );
    assert!(
        stderr.contains(password.to_str().unwrap()) && stderr.contains("0644"),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2"), "{stderr}");
}

#[test]
fn the_invite_command_takes_its_database_from_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("relay.db");
    let config = write_file(
        dir.path(),
        "relay.toml",
        // Keys of the server that `invite` does not take are left to it.
        &format!(
            "data = {:?}\nregistration = \"invite\"\n",
            data.to_str().unwrap()
        ),
        0o600,
    );
    let output = relay_command(
        &[OsStr::new("invite"), OsStr::new("--config"), os(&config)],
        &[],
    )
    .output()
    .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let code = String::from_utf8(output.stdout).unwrap();
    assert_eq!(code.trim().len(), 64, "{code:?}");
    assert!(data.exists());
}

// --- deploy/ ---------------------------------------------------------------

fn deploy_file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../deploy")
        .join(name)
}

/// The relay command as the binary builds it, with its environment names.
fn relay_command_line() -> clap::Command {
    with_env_names(
        RelayArgs::augment_args(clap::Command::new("fuin-relay")),
        &[],
    )
}

#[test]
fn the_example_config_loads_into_the_options_it_shows() {
    // A copy with a known mode: a checkout's umask could make the original
    // group-writable, which the relay refuses.
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(deploy_file("relay.toml")).unwrap();
    let config = write_file(dir.path(), "relay.toml", &text, 0o644);
    let mut command = relay_command_line();
    let matches = layered_matches(
        &mut command,
        [
            OsStr::new("fuin-relay"),
            OsStr::new("--config"),
            os(&config),
        ],
        &[],
    )
    .unwrap();

    // Every value the file shows is the option's value, as given.
    let shown: toml::Table = text.parse().unwrap();
    assert!(!shown.is_empty());
    for (key, value) in &shown {
        let arg = command
            .get_arguments()
            .find(|arg| arg.get_long().map(file_key).as_deref() == Some(key.as_str()))
            .unwrap_or_else(|| panic!("{key} is not an option"));
        let expected: Vec<String> = match value {
            toml::Value::Array(items) => items.iter().map(scalar_text).collect(),
            other => vec![scalar_text(other)],
        };
        let got: Vec<String> = matches
            .get_raw(arg.get_id().as_str())
            .unwrap_or_else(|| panic!("{key} was not set"))
            .map(|value| value.to_str().unwrap().to_owned())
            .collect();
        assert_eq!(got, expected, "{key}");
    }

    // And they are the settings the relay runs with.
    let args = RelayArgs::from_arg_matches(&matches).unwrap();
    let config = args.relay_config(StampKeys::new(StampKeyId(1), [0; 32]));
    assert_eq!(config.registration, RegistrationPolicy::Invite);
    assert_eq!(config.origins, ["https://relay.example"]);
    assert_eq!(
        Some(config.max_mailbox_envelopes),
        shown["max_mailbox_envelopes"]
            .as_integer()
            .and_then(|max| u64::try_from(max).ok())
    );
}

fn scalar_text(value: &toml::Value) -> String {
    match value {
        toml::Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

#[test]
fn the_example_config_names_every_option() {
    let text = std::fs::read_to_string(deploy_file("relay.toml")).unwrap();
    let named: Vec<String> = text
        .lines()
        .map(|line| line.trim_start_matches('#').trim_start())
        .filter_map(|line| line.split_once(" = ").map(|(key, _)| key.to_owned()))
        .collect();
    let command = relay_command_line();
    let missing: Vec<String> = command
        .get_arguments()
        .filter_map(|arg| arg.get_long())
        .filter(|long| !["help", "version", "config"].contains(long))
        .map(file_key)
        .filter(|key| !named.contains(key))
        .collect();
    assert!(
        missing.is_empty(),
        "deploy/relay.toml does not show {missing:?}"
    );
    // The names the spec and the file document are the ones the relay reads.
    assert_eq!(
        env_name("max-mailbox-envelopes"),
        "FUIN_RELAY_MAX_MAILBOX_ENVELOPES"
    );
}

/// The unit's `Key=value` lines, by section.
fn unit_keys(text: &str) -> Vec<(String, String, String)> {
    let mut section = String::new();
    let mut keys = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.to_owned();
            continue;
        }
        let (key, value) = line.split_once('=').unwrap_or_else(|| panic!("{line:?}"));
        keys.push((
            section.clone(),
            key.trim().to_owned(),
            value.trim().to_owned(),
        ));
    }
    keys
}

#[test]
fn the_systemd_unit_is_hardened_and_verifies() {
    let text = std::fs::read_to_string(deploy_file("fuin-relay.service")).unwrap();
    let keys = unit_keys(&text);
    let value = |key: &str| -> Vec<&str> {
        keys.iter()
            .filter(|(section, name, _)| section == "Service" && name == key)
            .map(|(_, _, value)| value.as_str())
            .collect()
    };
    for (key, expected) in [
        ("DynamicUser", "yes"),
        ("StateDirectory", "fuin-relay"),
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("CapabilityBoundingSet", ""),
        ("SystemCallFilter", "@system-service"),
        ("UMask", "0077"),
    ] {
        assert!(value(key).contains(&expected), "{key}={expected} missing");
    }
    let exec = value("ExecStart");
    assert_eq!(exec.len(), 1);
    assert!(
        exec[0].contains("--config /etc/fuin-relay/relay.toml"),
        "{exec:?}"
    );
    let credentials = value("LoadCredential");
    assert!(
        credentials
            .iter()
            .any(|credential| credential.starts_with("stamp-key:")),
        "{credentials:?}"
    );
    // Each secret the command line names comes from a credential.
    assert!(
        exec[0].contains("${CREDENTIALS_DIRECTORY}/stamp-key"),
        "{exec:?}"
    );

    let analyzer = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("systemd-analyze"))
            .find(|path| path.is_file())
    });
    let Some(analyzer) = analyzer else {
        assert!(
            std::env::var_os("CI").is_none(),
            "systemd-analyze is missing under CI (.ci/run installs it)"
        );
        eprintln!("systemd-analyze is not installed: only the unit's keys were checked");
        return;
    };
    // `verify` also checks that ExecStart's program exists: the built one
    // stands in for the installed path.
    let dir = tempfile::tempdir().unwrap();
    let unit = dir.path().join("fuin-relay.service");
    std::fs::write(
        &unit,
        text.replace(
            "/usr/local/bin/fuin-relay",
            env!("CARGO_BIN_EXE_fuin-relay"),
        ),
    )
    .unwrap();
    let output = Command::new(analyzer)
        .args(["verify", "--man=no"])
        .arg(&unit)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    // An unknown or misspelt key is only a warning: none is allowed.
    assert!(
        !stderr.contains("fuin-relay.service"),
        "systemd-analyze verify: {stderr}"
    );
}
