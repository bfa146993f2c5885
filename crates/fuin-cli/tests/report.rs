//! Reporting with `fuin` processes through a `fuin relay` process: the
//! reporter sees exactly what will be sent and can decline; moderation makes
//! its keys, pulls the inbox, opens and verifies the report, counts a repeat
//! once, refuses a tampered report, and its audit log finds any edit.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};

use common::{RelayProcess, Stores, fuin, json};
use serde_json::Value;

/// Runs `fuin --json ARGS...` and returns its exit success and JSON.
fn run_json(args: &[&std::ffi::OsStr]) -> (bool, Value) {
    let output = fuin().arg("--json").args(args).output().unwrap();
    let value = serde_json::from_slice(&output.stdout).unwrap_or_else(|_| {
        panic!(
            "not JSON: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (output.status.success(), value)
}

fn os<S: AsRef<std::ffi::OsStr> + ?Sized>(s: &S) -> &std::ffi::OsStr {
    s.as_ref()
}

/// Moderation's directory with its keys, and a relay that knows its
/// credential's hash.
struct Setup {
    moderation: tempfile::TempDir,
    relay: RelayProcess,
}

impl Setup {
    fn new() -> Self {
        let moderation = tempfile::tempdir().unwrap();
        let keys = moderation.path().join("keys");
        let (ok, made) = run_json(&[os("moderate"), os("keygen"), os("--out"), keys.as_os_str()]);
        assert!(ok, "{made}");
        let hash = made["credential_hash"].as_str().unwrap().to_owned();
        let relay = RelayProcess::start_with(
            tempfile::tempdir().unwrap(),
            &[os("--moderation-credential-hash"), os(&hash)],
            "http",
        );
        // Moderation's copy of the relay's stamp key, by id.
        let stamp_keys = format!(
            r#"{{"stamp_keys": [{{"id": 1, "file": "{}", "not_after_ms": null}}]}}"#,
            relay.dir.path().join("relay.db.stamp-key").display()
        );
        std::fs::write(moderation.path().join("stamp-keys.json"), stamp_keys).unwrap();
        Self { moderation, relay }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.moderation.path().join(name)
    }

    fn keys(&self, name: &str) -> PathBuf {
        self.path("keys").join(name)
    }

    fn pull(&self) -> Value {
        let (ok, pulled) = run_json(&[
            os("moderate"),
            os("pull"),
            os("--relay"),
            os(&self.relay.url),
            os("--credential-file"),
            self.keys("inbox.credential").as_os_str(),
            os("--inbox"),
            self.path("inbox").as_os_str(),
        ]);
        assert!(ok, "{pulled}");
        pulled
    }

    fn open(&self, reports: &[&Path]) -> (bool, Value) {
        let mut args = vec![
            os("moderate").to_owned(),
            os("open").to_owned(),
            os("--key").to_owned(),
            self.keys("moderation.key").into_os_string(),
            os("--stamp-keys").to_owned(),
            self.path("stamp-keys.json").into_os_string(),
            os("--audit-log").to_owned(),
            self.path("audit.log").into_os_string(),
            os("--moderator").to_owned(),
            os("mo").to_owned(),
        ];
        args.extend(reports.iter().map(|path| path.as_os_str().to_owned()));
        let refs: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
        run_json(&refs)
    }

    fn verify(&self, anchor: Option<&str>) -> (bool, Value) {
        let log = self.path("audit.log");
        let mut args = vec![
            os("moderate"),
            os("audit"),
            os("verify"),
            os("--audit-log"),
            log.as_os_str(),
        ];
        if let Some(anchor) = anchor {
            args.extend([os("--anchor"), os(anchor)]);
        }
        run_json(&args)
    }
}

fn local_id_of(history: &Value, text: &str) -> String {
    history["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|message| message["text"] == text)
        .unwrap()["local_id"]
        .to_string()
}

fn report_command(store: &Path, id: &str, key: &Path) -> assert_cmd::Command {
    let mut command = fuin();
    command
        .args(["report", "--store"])
        .arg(store)
        .args(["--message", id, "--reason", "threats", "--moderation-key"])
        .arg(key);
    command
}

#[test]
fn a_report_goes_from_the_reporter_to_moderation_verified_and_audited() {
    let setup = Setup::new();
    let stores = Stores::new();
    let alice = stores.init(&setup.relay.url, "alice", "alice", 1);
    let bob = stores.init(&setup.relay.url, "bob", "bob", 1);
    json("send", &alice, &["bob", "hello, how are you"]);
    json("send", &alice, &["bob", "I know where you live"]);
    json("sync", &bob, &[]);
    let history = json("history", &bob, &["alice"]);
    let abusive = local_id_of(&history, "I know where you live");

    // The text history shows each message's id.
    let output = fuin()
        .args(["history", "--store"])
        .arg(&bob)
        .arg("alice")
        .output()
        .unwrap();
    let shown = String::from_utf8(output.stdout).unwrap();
    assert!(
        shown.lines().any(
            |line| line.starts_with(&format!("#{abusive} ")) && line.contains("where you live")
        ),
        "{shown}"
    );

    // Declined: the preview was shown, nothing was sent.
    let output = report_command(&bob, &abusive, &setup.keys("moderation.pub"))
        .write_stdin("n\n")
        .output()
        .unwrap();
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(text.contains("I know where you live"), "{text}");
    assert!(!text.contains("hello, how are you"), "{text}");
    assert!(text.contains("Not sent"), "{text}");
    assert!(String::from_utf8_lossy(&output.stderr).contains("Send this report? [y/N]"));
    assert_eq!(setup.pull()["reports"].as_array().unwrap().len(), 0);

    // Confirmed.
    let output = report_command(&bob, &abusive, &setup.keys("moderation.pub"))
        .write_stdin("y\n")
        .output()
        .unwrap();
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(
        text.contains("Sent: the relay holds it sealed as report"),
        "{text}"
    );

    // The relay's files hold the report sealed.
    for suffix in ["", "-wal"] {
        let mut path = setup.relay.database().into_os_string();
        path.push(suffix);
        let bytes = std::fs::read(&path).unwrap_or_default();
        assert!(
            !bytes
                .windows(b"where you live".len())
                .any(|w| w == b"where you live")
        );
    }

    let pulled = setup.pull();
    let reports = pulled["reports"].as_array().unwrap();
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0]["reporter"], "bob/1");
    let file = PathBuf::from(reports[0]["file"].as_str().unwrap());
    assert_eq!(
        setup.pull()["reports"].as_array().unwrap().len(),
        0,
        "acknowledged"
    );

    let (ok, opened) = setup.open(&[&file]);
    assert!(ok, "{opened}");
    let report = &opened["reports"][0];
    assert_eq!(report["reporter"], "bob/1");
    assert_eq!(report["conversation_with"], "alice");
    assert_eq!(report["reason"], "threats");
    let messages = report["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["verdict"], "verified");
    assert_eq!(messages[0]["sender"], "alice/1");
    assert_eq!(messages[0]["text"], "I know where you live");
    assert!(!opened.to_string().contains("hello, how are you"));

    // Opened again: recorded again, counted once.
    let (ok, again) = setup.open(&[&file]);
    assert!(ok);
    assert_eq!(again["reports"][0]["messages"][0]["verdict"], "duplicate");
    assert_eq!(again["audit_head"]["records"], 2);

    // The log verifies; its head anchors it.
    let (ok, verified) = setup.verify(None);
    assert!(ok, "{verified}");
    assert_eq!(verified["records"], 2);
    let head = verified["head"].as_str().unwrap().to_owned();
    let anchor = format!("2:{head}");
    assert!(setup.verify(Some(&anchor)).0);

    // The text form of open names the verdict.
    let output = fuin()
        .args(["moderate", "open", "--key"])
        .arg(setup.keys("moderation.key"))
        .arg("--stamp-keys")
        .arg(setup.path("stamp-keys.json"))
        .arg("--audit-log")
        .arg(setup.path("audit.log"))
        .args(["--moderator", "mo"])
        .arg(&file)
        .output()
        .unwrap();
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(
        text.contains("1. VERIFIED, reported before (not counted again) from alice/1"),
        "{text}"
    );

    // An edited log is found, and named.
    let log = std::fs::read_to_string(setup.path("audit.log")).unwrap();
    let edited = log.replacen("\"moderator\":\"mo\"", "\"moderator\":\"xx\"", 1);
    std::fs::write(setup.path("audit.log"), edited).unwrap();
    let (ok, broken) = setup.verify(None);
    assert!(!ok);
    assert_eq!(broken["error"]["code"], "audit_log_broken");
    assert_eq!(broken["error"]["record"], 1);
    // And opening refuses to add to it.
    let (ok, refused) = setup.open(&[&file]);
    assert!(!ok);
    assert_eq!(refused["error"]["code"], "audit_log_broken");

    // A log that lost its last record verifies alone, but not against the anchor.
    let lines: Vec<&str> = log.lines().collect();
    std::fs::write(
        setup.path("audit.log"),
        format!("{}\n{}\n", lines[0], lines[1]),
    )
    .unwrap();
    assert!(setup.verify(None).0);
    let (ok, lost) = setup.verify(Some(&format!("3:{head}")));
    assert!(!ok);
    assert_eq!(lost["error"]["code"], "audit_log_broken");
}

#[test]
fn a_tampered_report_is_refused_and_recorded() {
    let setup = Setup::new();
    let stores = Stores::new();
    let carol = stores.init(&setup.relay.url, "carol", "carol", 1);
    let bob = stores.init(&setup.relay.url, "bob", "bob", 1);
    json("send", &carol, &["bob", "pay up"]);
    json("sync", &bob, &[]);
    let id = local_id_of(&json("history", &bob, &["carol"]), "pay up");
    let (ok, sent) = run_json(&[
        os("report"),
        os("--store"),
        bob.as_os_str(),
        os("--message"),
        os(&id),
        os("--reason"),
        os("extortion"),
        os("--moderation-key"),
        setup.keys("moderation.pub").as_os_str(),
        os("--yes"),
    ]);
    assert!(ok, "{sent}");
    assert_eq!(sent["sent"], true);
    assert_eq!(sent["preview"]["messages"][0]["text"], "pay up");

    let pulled = setup.pull();
    let file = PathBuf::from(pulled["reports"][0]["file"].as_str().unwrap());
    let mut bytes = std::fs::read(&file).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    let tampered = file.with_extension("tampered");
    std::fs::write(&tampered, bytes).unwrap();

    let (ok, result) = setup.open(&[&file, &tampered]);
    assert!(!ok);
    assert_eq!(result["error"]["code"], "report_refused");
    let outcome = &result["error"]["result"];
    assert_eq!(outcome["reports"][0]["messages"][0]["verdict"], "verified");
    assert_eq!(outcome["refused"][0]["code"], "decryption_failed");
    // Both openings are in the log.
    let (ok, verified) = setup.verify(None);
    assert!(ok);
    assert_eq!(verified["records"], 2);
    let log = std::fs::read_to_string(setup.path("audit.log")).unwrap();
    assert!(log.contains("\"refusal\":\"decryption_failed\""), "{log}");
}

#[test]
fn moderation_files_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    let (ok, _) = run_json(&[os("moderate"), os("keygen"), os("--out"), keys.as_os_str()]);
    assert!(ok);
    // No second key over the first.
    let (ok, again) = run_json(&[os("moderate"), os("keygen"), os("--out"), keys.as_os_str()]);
    assert!(!ok);
    assert_eq!(again["error"]["code"], "moderation_files");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let secret = keys.join("moderation.key");
        assert_eq!(
            std::fs::metadata(&secret).unwrap().permissions().mode() & 0o777,
            0o600
        );
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o644)).unwrap();
        std::fs::write(dir.path().join("stamp-keys.json"), r#"{"stamp_keys": []}"#).unwrap();
        let (ok, refused) = run_json(&[
            os("moderate"),
            os("open"),
            os("--key"),
            secret.as_os_str(),
            os("--stamp-keys"),
            dir.path().join("stamp-keys.json").as_os_str(),
            os("--audit-log"),
            dir.path().join("audit.log").as_os_str(),
            os("--moderator"),
            os("mo"),
            os("nothing.report"),
        ]);
        assert!(!ok);
        assert_eq!(refused["error"]["code"], "moderation_key");
        assert!(
            refused["error"]["message"]
                .as_str()
                .unwrap()
                .contains("chmod 600")
        );
    }
    // A relay without the moderation credential's hash has no inbox for it.
    let relay = RelayProcess::start();
    let (ok, refused) = run_json(&[
        os("moderate"),
        os("pull"),
        os("--relay"),
        os(&relay.url),
        os("--credential-file"),
        keys.join("inbox.credential").as_os_str(),
        os("--inbox"),
        dir.path().join("inbox").as_os_str(),
    ]);
    assert!(!ok);
    assert_eq!(refused["error"]["code"], "moderation_relay");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("--moderation-credential-hash")
    );
}

#[test]
fn a_group_report_goes_to_moderation_and_verifies_with_the_chain_signature() {
    let setup = Setup::new();
    let stores = Stores::new();
    let alice = stores.init(&setup.relay.url, "alice", "alice", 1);
    let bob = stores.init(&setup.relay.url, "bob", "bob", 1);
    let carol = stores.init(&setup.relay.url, "carol", "carol", 1);
    let run = |args: &[&str]| {
        let (ok, value) = run_json(&args.iter().map(os).collect::<Vec<_>>());
        assert!(ok, "{value}");
        value
    };
    let alice_s = alice.to_str().unwrap();
    let bob_s = bob.to_str().unwrap();
    let created = run(&["group", "create", "--store", alice_s, "bob", "carol"]);
    let id = created["group"].as_str().unwrap().to_owned();
    json("sync", &bob, &[]);
    json("sync", &carol, &[]);
    json("sync", &alice, &[]);
    run(&["group", "send", "--store", alice_s, &id, "pay up or else"]);
    json("sync", &bob, &[]);
    let history = run(&["group", "history", "--store", bob_s, &id]);
    let message = local_id_of(&history, "pay up or else");

    let sent = run(&[
        "report",
        "--store",
        bob_s,
        "--group",
        &id[..10],
        "--message",
        &message,
        "--reason",
        "threats",
        "--moderation-key",
        setup.keys("moderation.pub").to_str().unwrap(),
        "--yes",
    ]);
    assert_eq!(sent["sent"], true, "{sent}");
    assert_eq!(sent["preview"]["group"], id.as_str());
    assert_eq!(sent["preview"]["messages"][0]["text"], "pay up or else");

    let pulled = setup.pull();
    let reports = pulled["reports"].as_array().unwrap();
    assert_eq!(reports.len(), 1, "{pulled}");
    let file = PathBuf::from(reports[0]["file"].as_str().unwrap());
    let (ok, opened) = setup.open(&[&file]);
    assert!(ok, "{opened}");
    let report = &opened["reports"][0];
    assert_eq!(report["group"], id.as_str(), "{opened}");
    assert_eq!(report["reporter"], "bob/1");
    assert_eq!(report["messages"][0]["verdict"], "verified", "{opened}");
    assert_eq!(report["messages"][0]["sender"], "alice/1");
}

#[test]
fn an_old_public_key_is_refused_and_an_old_secret_key_upgrades_keeping_its_x25519_half() {
    let dir = tempfile::tempdir().unwrap();
    // moderation.key and moderation.pub as `fuin moderate keygen` wrote them
    // before protocol version 3: X25519 only.
    let old_key = dir.path().join("old.key");
    let mut old = b"FUINMSK1".to_vec();
    old.extend_from_slice(&5u32.to_be_bytes());
    old.extend_from_slice(&[0x4d; 32]);
    std::fs::write(&old_key, &old).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&old_key, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let old_secret = fuin_client::report::ModerationSecretKey::from_bytes(&old).unwrap();
    let old_public = hex::encode(old_secret.x25519_public_key().0);
    let old_pub = dir.path().join("old.pub");
    std::fs::write(
        &old_pub,
        format!("fuin-moderation-public-key/v1 5 {old_public}\n"),
    )
    .unwrap();

    // A client refuses to seal to it, and says what to do.
    let (ok, refused) = run_json(&[
        os("report"),
        os("--store"),
        dir.path().join("no-store").as_os_str(),
        os("--message"),
        os("1"),
        os("--reason"),
        os("spam"),
        os("--moderation-key"),
        old_pub.as_os_str(),
        os("--yes"),
    ]);
    assert!(!ok);
    assert_eq!(refused["error"]["code"], "outdated_moderation_key");
    let message = refused["error"]["message"].as_str().unwrap();
    assert!(message.contains("publish a new hybrid key"), "{message}");

    // The upgrade keeps the id and the X25519 half, so reports sealed to the
    // old key still open with the new file, and adds an ML-KEM half.
    let keys = dir.path().join("keys");
    let (ok, made) = run_json(&[
        os("moderate"),
        os("keygen"),
        os("--out"),
        keys.as_os_str(),
        os("--upgrade"),
        old_key.as_os_str(),
    ]);
    assert!(ok, "{made}");
    assert_eq!(made["key_id"], 5);
    assert_eq!(made["upgraded"], true);
    assert_eq!(made["public_key_x25519_hex"], old_public.as_str());
    let new = std::fs::read(keys.join("moderation.key")).unwrap();
    assert_eq!(new.len(), 108);
    assert_eq!(&new[..44], [b"FUINMSK2".as_slice(), &old[8..]].concat());
    let text = std::fs::read_to_string(keys.join("moderation.pub")).unwrap();
    let public = fuin_client::report::ModerationPublicKey::from_text(&text).unwrap();
    assert_eq!(public.key_id, 5);
    assert_eq!(hex::encode(public.key.x25519.0), old_public);

    // A hybrid key is not upgraded again.
    let (ok, again) = run_json(&[
        os("moderate"),
        os("keygen"),
        os("--out"),
        dir.path().join("again").as_os_str(),
        os("--upgrade"),
        keys.join("moderation.key").as_os_str(),
    ]);
    assert!(!ok);
    assert_eq!(again["error"]["code"], "moderation_key");
}
