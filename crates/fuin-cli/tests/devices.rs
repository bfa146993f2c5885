//! Accounts and linked devices end to end, through a real `fuin relay` and
//! `fuin` processes (`spec/accounts.md`): bob links a laptop with a link
//! code (`fuin link` waiting in a child process, `fuin devices approve` on
//! his phone), alice and both of bob's devices chat, alice is told that bob
//! linked a device, bob removes the laptop, which then fails clearly while
//! the others carry on; and while bob's account key change waits, `fuin
//! safety-number` shows the new number, labelled, never the old one alone.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;

use common::{LinkProcess, RelayProcess, Stores, drop_account, fuin, json, texts};
use serde_json::Value;

/// `fuin init` with a device name.
fn init_named(
    relay: &RelayProcess,
    stores: &Stores,
    store: &str,
    user: &str,
    name: &str,
) -> std::path::PathBuf {
    let path = stores.path(store);
    fuin()
        .arg("init")
        .arg("--store")
        .arg(&path)
        .args(["--relay", &relay.url, "--user", user, "--name", name])
        .assert()
        .success();
    path
}

/// Runs `fuin ARGS --store STORE REST` in text mode; returns (status code,
/// stdout, stderr).
fn text(command: &[&str], store: &Path, rest: &[&str]) -> (i32, String, String) {
    let output = fuin()
        .args(command)
        .arg("--store")
        .arg(store)
        .args(rest)
        .output()
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

/// The texts a `sync --json` received.
fn received(sync: &Value) -> Vec<String> {
    sync["received"]
        .as_array()
        .unwrap()
        .iter()
        .map(|message| message["text"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn bob_links_a_laptop_chats_from_both_devices_and_removes_it() {
    let relay = RelayProcess::start();
    let stores = Stores::new();
    let alice = init_named(&relay, &stores, "alice", "alice", "phone");
    let phone = init_named(&relay, &stores, "bob-phone", "bob", "phone");
    // alice meets bob while he has one device.
    assert_eq!(json("send", &alice, &["bob", "hi bob"])["devices"], 1);
    assert_eq!(received(&json("sync", &phone, &[])), ["hi bob"]);

    // The laptop shows its code (a QR code, then the digits) and waits.
    let laptop = stores.path("bob-laptop");
    let mut link = LinkProcess::start(&relay.url, &laptop, "laptop", false);
    let mut before_code = Vec::new();
    let digits = loop {
        let line = link.line();
        if let Some(code) = line.strip_prefix("link code: ") {
            break code.to_owned();
        }
        before_code.push(line);
        assert!(before_code.len() < 200, "no code line: {before_code:?}");
    };
    assert_eq!(digits.len(), 71, "{digits}");
    assert!(
        digits
            .split(' ')
            .all(|group| group.len() == 5 && group.bytes().all(|b| b.is_ascii_digit())),
        "{digits}"
    );
    let qr_rows = before_code
        .iter()
        .filter(|line| line.contains('█') || line.contains('▀') || line.contains('▄'))
        .count();
    assert!(
        qr_rows >= 10,
        "no QR code before the digits: {before_code:?}"
    );
    // Nothing is written to the store before the approval.
    assert!(!laptop.exists());

    // The phone approves it, typed without the spaces.
    let (code, stdout, stderr) = text(&["devices", "approve"], &phone, &[&digits.replace(' ', "")]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("linked bob/2 (laptop)"), "{stdout}");
    let (rest, status) = link.finish();
    assert!(status.success(), "{rest}");
    assert!(rest.contains("bob/2 is linked"), "{rest}");
    // The code is shown once, and nowhere in the final answer.
    assert!(!rest.contains(&digits), "{rest}");

    // Both devices list the account's two devices, each marking itself.
    let (_, listed, _) = text(&["devices"], &phone, &[]);
    let lines: Vec<&str> = listed.lines().filter(|l| l.starts_with("bob/")).collect();
    assert_eq!(lines.len(), 2, "{listed}");
    assert!(
        lines[0].contains("phone") && lines[0].contains("(this device)"),
        "{listed}"
    );
    assert!(
        lines[1].contains("laptop") && !lines[1].contains("(this device)"),
        "{listed}"
    );
    assert!(lines[1].contains(" UTC"), "{listed}");
    let on_laptop = json("devices", &laptop, &[]);
    let devices = on_laptop["devices"].as_array().unwrap();
    assert_eq!(devices.len(), 2);
    assert_eq!(devices[1]["device"], "bob/2");
    assert_eq!(devices[1]["name"], "laptop");
    assert_eq!(devices[1]["this_device"], true);
    assert_eq!(devices[0]["this_device"], false);

    // alice's next send is told of the new device, and reaches both.
    let (code, stdout, stderr) = text(&["send"], &alice, &["bob", "hello both of you"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("bob linked a new device: laptop (bob/2), "),
        "{stdout}"
    );
    assert!(
        stdout.contains("sealed separately for 2 devices"),
        "{stdout}"
    );
    assert_eq!(received(&json("sync", &phone, &[])), ["hello both of you"]);
    assert_eq!(received(&json("sync", &laptop, &[])), ["hello both of you"]);

    // The laptop writes: alice gets it, and the phone gets its copy.
    let sent = json("send", &laptop, &["alice", "typed on the laptop"]);
    assert_eq!(sent["devices"], 2);
    let synced = json("sync", &alice, &[]);
    assert_eq!(received(&synced), ["typed on the laptop"]);
    assert_eq!(synced["received"][0]["sender"], "bob/2");
    let synced = json("sync", &phone, &[]);
    assert_eq!(received(&synced), ["typed on the laptop"]);
    assert_eq!(synced["received"][0]["outgoing"], true);
    // The phone writes: alice and the laptop get it.
    assert_eq!(
        json("send", &phone, &["alice", "and from the phone"])["devices"],
        2
    );
    assert_eq!(received(&json("sync", &alice, &[])), ["and from the phone"]);
    assert_eq!(
        received(&json("sync", &laptop, &[])),
        ["and from the phone"]
    );
    assert_eq!(
        texts(&json("history", &laptop, &["alice"])),
        [
            "hello both of you",
            "typed on the laptop",
            "and from the phone"
        ]
    );

    // bob removes the laptop from his phone.
    let (code, stdout, stderr) = text(&["devices", "remove"], &phone, &["2"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("removed bob/2"), "{stdout}");
    assert_eq!(
        json("devices", &phone, &[])["devices"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // alice is told, and seals to the phone only.
    let sent = json("send", &alice, &["bob", "just the phone now"]);
    assert_eq!(sent["devices"], 1);
    let events = sent["events"].as_array().unwrap();
    assert!(
        events
            .iter()
            .any(|event| event["event"] == "devices_changed"
                && event["user"] == "bob"
                && event["removed"][0] == "bob/2"),
        "{sent}"
    );

    // The laptop's next command fails, saying why.
    let (code, stdout, stderr) = text(&["sync"], &laptop, &[]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{stderr}");
    assert!(lines[0].starts_with("error: "), "{stderr}");
    assert!(
        lines[1].starts_with("hint: ") && lines[1].contains("removed"),
        "{stderr}"
    );

    // alice and the phone carry on.
    assert_eq!(received(&json("sync", &phone, &[])), ["just the phone now"]);
    assert_eq!(json("send", &phone, &["alice", "still here"])["devices"], 1);
    let synced = json("sync", &alice, &[]);
    assert_eq!(received(&synced), ["still here"]);
    assert_eq!(synced["received"][0]["sender"], "bob/1");
}

#[test]
fn safety_number_shows_the_new_number_labelled_while_a_key_change_waits() {
    let relay = RelayProcess::start();
    let stores = Stores::new();
    let alice = stores.init(&relay.url, "alice", "alice", 1);
    let bob = stores.init(&relay.url, "bob", "bob", 1);
    json("send", &alice, &["bob", "before"]);
    json("sync", &bob, &[]);
    let old = json("safety-number", &alice, &["bob"]);
    assert!(old["pending"].is_null(), "{old}");
    let old = old["number"].as_str().unwrap().to_owned();
    // Linking a device does not change it.
    let (_laptop, _) = stores.link(&relay.url, "bob-laptop", &bob, "laptop");
    json("send", &alice, &["bob", "after the laptop"]);
    assert_eq!(
        json("safety-number", &alice, &["bob"])["number"],
        old.as_str()
    );

    // bob's account is replaced by one with a new account key; its phone
    // writes to alice, whose sync holds the message and reports the change.
    drop_account(&relay, "bob");
    let new_bob = stores.init(&relay.url, "new-bob", "bob", 1);
    json("send", &new_bob, &["alice", "it is me, new phone"]);
    let (code, stdout, stderr) = text(&["sync"], &alice, &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains(
            "bob's account key changed: compare the new safety number (fuin safety-number bob) \
             before accepting it"
        ),
        "{stdout}"
    );

    let numbers = json("safety-number", &alice, &["bob"]);
    assert_eq!(numbers["number"], old.as_str());
    let new = numbers["pending"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    assert_eq!(
        json("safety-number", &new_bob, &["alice"])["number"],
        new.as_str()
    );
    // In text: the new number labelled unverified, the old one labelled as
    // the one verified before; never the old one alone.
    let (code, stdout, _) = text(&["safety-number"], &alice, &["bob"]);
    assert_eq!(code, 0);
    let new_line = stdout
        .lines()
        .find(|line| line.contains(&new))
        .unwrap_or_else(|| panic!("the new number is not shown:\n{stdout}"));
    assert!(new_line.contains("NEW, unverified"), "{stdout}");
    let old_lines: Vec<&str> = stdout.lines().filter(|line| line.contains(&old)).collect();
    assert_eq!(old_lines.len(), 1, "{stdout}");
    assert!(old_lines[0].contains("previously verified"), "{stdout}");
    let new_at = stdout.find(&new).unwrap();
    let old_at = stdout.find(&old).unwrap();
    assert!(new_at < old_at, "the new number comes first:\n{stdout}");

    // Accepting says what it accepts and shows the held message.
    let (code, stdout, stderr) = text(&["accept-identity"], &alice, &["bob"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains(&format!("safety number {new}")), "{stdout}");
    assert!(stdout.contains("1 held message shown"), "{stdout}");
    assert!(stdout.contains("it is me, new phone"), "{stdout}");
    let numbers = json("safety-number", &alice, &["bob"]);
    assert_eq!(numbers["number"], new.as_str());
    assert!(numbers["pending"].is_null());
    assert_eq!(
        json("send", &alice, &["bob", "welcome back"])["status"],
        "sent"
    );
}

/// `init --store STORE --relay URL --user bob [--invite CODE]`.
fn init_args<'a>(
    url: &'a str,
    store: &'a Path,
    invite: Option<&'a str>,
) -> Vec<&'a std::ffi::OsStr> {
    let mut args: Vec<&std::ffi::OsStr> = vec![
        "init".as_ref(),
        "--store".as_ref(),
        store.as_os_str(),
        "--relay".as_ref(),
        url.as_ref(),
        "--user".as_ref(),
        "bob".as_ref(),
    ];
    if let Some(invite) = invite {
        args.push("--invite".as_ref());
        args.push(invite.as_ref());
    }
    args
}

/// `fuin --json COMMAND ARGS` expected to fail: its error object.
fn json_failure(args: &[&std::ffi::OsStr]) -> Value {
    let output = fuin().arg("--json").args(args).output().unwrap();
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    serde_json::from_slice::<Value>(&output.stdout).unwrap()["error"].clone()
}

/// `fuin relay admin` is the relay's admin client: it makes the admin
/// credential (mode 0600) and drives the admin API of a `fuin relay` given
/// the credential's hash.
#[test]
fn fuin_relay_admin_makes_the_credential_and_drives_the_admin_api() {
    use std::os::unix::fs::PermissionsExt;

    let operator = tempfile::tempdir().unwrap();
    let credential = operator.path().join("admin.credential");
    let output = fuin()
        .args(["--json", "relay", "admin", "--credential-file"])
        .arg(&credential)
        .arg("keygen")
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let made: Value = serde_json::from_slice(&output.stdout).unwrap();
    let hash = made["credential_hash"].as_str().unwrap().to_owned();
    let mode = std::fs::metadata(&credential).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let secret = hex::decode(std::fs::read_to_string(&credential).unwrap().trim()).unwrap();
    assert_eq!(
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&secret)),
        hash
    );

    let mut relay = RelayProcess::start_with(
        tempfile::tempdir().unwrap(),
        &[
            "--admin-credential-hash".as_ref(),
            hash.as_ref(),
            "--admin-listen".as_ref(),
            "127.0.0.1:0".as_ref(),
        ],
        "http",
    );
    let line = relay.next_line();
    let admin = line
        .trim()
        .strip_prefix("fuin-relay admin API listening on ")
        .unwrap_or_else(|| panic!("unexpected second line {line:?}"));
    let url = format!("http://{admin}");
    let admin_args = |action: &[&str]| {
        let mut args: Vec<std::ffi::OsString> =
            ["relay", "admin", "--url", url.as_str(), "--credential-file"]
                .iter()
                .map(Into::into)
                .collect();
        args.push(credential.clone().into_os_string());
        args.extend(action.iter().map(Into::into));
        args
    };
    let output = fuin()
        .arg("--json")
        .args(admin_args(&["stats"]))
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let stats: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(stats["accounts"].as_u64(), Some(0), "{stats}");
    let args = admin_args(&["suspend", "nobody"]);
    let args: Vec<&std::ffi::OsStr> = args.iter().map(|arg| arg.as_os_str()).collect();
    let error = json_failure(&args);
    assert_eq!(error["code"], "admin_refused", "{error}");
    assert!(
        error["message"].as_str().unwrap().contains("unknown_user"),
        "{error}"
    );
}

#[test]
fn accounts_are_created_once_by_invitation_and_joined_by_linking() {
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("relay.db");
    let relay = RelayProcess::start_with(
        dir,
        &[
            std::ffi::OsStr::new("--registration"),
            std::ffi::OsStr::new("invite"),
        ],
        "http",
    );
    let stores = Stores::new();
    let bob = stores.path("bob");
    let url = relay.url.clone();
    // Without an invite: refused, and the hint says how to get one.
    let error = json_failure(&init_args(&url, &bob, None));
    assert_eq!(error["relay_code"], "invite_required", "{error}");
    assert!(
        error["hint"].as_str().unwrap().contains("--invite"),
        "{error}"
    );
    assert!(!bob.exists(), "a refused account leaves no store");

    // The operator makes two codes while the relay runs.
    let output = fuin()
        .args(["--json", "relay", "invite", "--count", "2", "--data"])
        .arg(&database)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let invites: Value = serde_json::from_slice(&output.stdout).unwrap();
    let invites: Vec<&str> = invites["invites"]
        .as_array()
        .unwrap()
        .iter()
        .map(|code| code.as_str().unwrap())
        .collect();
    assert_eq!(invites.len(), 2);
    let error = json_failure(&init_args(&url, &bob, Some("not hex")));
    assert_eq!(error["code"], "invalid_argument", "{error}");
    let output = fuin()
        .args(init_args(&url, &bob, Some(invites[0])))
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");

    // A spent code is refused.
    let error = json_failure(&init_args(&url, &stores.path("carol"), Some(invites[0])));
    assert_eq!(error["relay_code"], "invalid_invite", "{error}");

    // bob again, from another device and with a fresh code: the account
    // exists; the hint says to link instead.
    let error = json_failure(&init_args(
        &url,
        &stores.path("bob-again"),
        Some(invites[1]),
    ));
    assert_eq!(error["relay_code"], "account_exists", "{error}");
    let hint = error["hint"].as_str().unwrap();
    assert!(
        hint.contains("fuin link") && hint.contains("fuin devices approve"),
        "{hint}"
    );

    // A mistyped or unknown link code is refused clearly; no store changes.
    let error = json_failure(&[
        "devices".as_ref(),
        "approve".as_ref(),
        "--store".as_ref(),
        bob.as_os_str(),
        "12345".as_ref(),
    ]);
    assert_eq!(error["code"], "invalid_argument", "{error}");
    assert!(
        error["hint"].as_str().unwrap().contains("60 digits"),
        "{error}"
    );
    let error = json_failure(&[
        "devices".as_ref(),
        "approve".as_ref(),
        "--store".as_ref(),
        bob.as_os_str(),
        "fuin-link:000000000000000000000000000000000000000000000000".as_ref(),
    ]);
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("no device is waiting"),
        "{error}"
    );
    // Linking does not need an invite (the account exists).
    let (_laptop, address) = stores.link(&relay.url, "bob-laptop", &bob, "laptop");
    assert_eq!(address, "bob/2");
}
