//! The Python sample app, end to end: the bindings are generated from the
//! built library, `bindings/python/examples/chat.py` runs against a real
//! relay on loopback, and moderation finds alice's report of bob's message
//! in the relay's inbox, where it opens and verifies.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::{STAMP_KEY, TestRelay};
use fuin::StampKeyId;
use fuin::report::{AuditLog, ModerationSecretKey, Moderator, StampKeySet, Verdict};

/// The script's whole run (two devices, a photo, a report) takes a few
/// seconds; this is only a bound on a hang.
const SCRIPT_DEADLINE: Duration = Duration::from_secs(90);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_sample_app_chats_sends_a_photo_and_reports_a_message() {
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_owned());
    match std::process::Command::new(&python)
        .arg("--version")
        .stdout(Stdio::null())
        .status()
    {
        Ok(status) if status.success() => {}
        missing => {
            // Only a developer's machine may lack Python; CI must run this.
            assert!(
                std::env::var_os("CI").is_none(),
                "{python} is needed under CI: {missing:?}"
            );
            eprintln!("skipped: {python} is not installed ({missing:?})");
            return;
        }
    }

    let bindings = tempfile::tempdir().unwrap();
    common::generate(&[uniffi::TargetLanguage::Python], bindings.path());
    std::fs::copy(common::library(), bindings.path().join(common::LIBRARY)).unwrap();
    assert!(bindings.path().join("fuin.py").is_file());

    let relay = TestRelay::start().await;
    let mut stamp_keys = StampKeySet::new();
    stamp_keys.insert(StampKeyId(1), &STAMP_KEY, None).unwrap();
    let moderator = Moderator::new(
        ModerationSecretKey::generate(&mut rand::rng(), 1),
        stamp_keys,
    );
    let moderation_key = moderator.public_key().unwrap().to_text();

    let script = common::repository().join("bindings/python/examples/chat.py");
    let child = tokio::process::Command::new(&python)
        .arg(&script)
        .args(["--relay", &relay.url, "--moderation-key", &moderation_key])
        .arg("--bindings")
        .arg(bindings.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let output = tokio::time::timeout(SCRIPT_DEADLINE, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("chat.py did not finish within {SCRIPT_DEADLINE:?}"))
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "chat.py failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    let steps: Vec<&str> = stdout.lines().filter(|l| l.starts_with("ok: ")).collect();
    for expected in [
        "ok: created alice/1 and bob/1 at ",
        "ok: alice -> bob: text delivered, with an event",
        "ok: safety numbers agree: ",
        "ok: bob -> alice: two texts and a photo (",
        "ok: alice fetched the photo: ",
        "ok: alice read the conversation: nothing unread",
        "ok: a text to an unknown user is refused, with a hint",
        "ok: alice reported bob's message: report ",
    ] {
        assert!(
            steps.iter().any(|step| step.starts_with(expected)),
            "no step {expected:?} in:\n{stdout}"
        );
    }
    assert_eq!(stdout.lines().last(), Some("all steps passed"), "{stdout}");

    // The report reached the relay's inbox, sealed to moderation: it opens
    // with moderation's secret key, and bob's message verifies.
    let batch = relay.pull_reports().await;
    assert_eq!(batch.reports.len(), 1, "one report in the inbox");
    let inbox = &batch.reports.as_slice()[0];
    let printed_id = steps
        .iter()
        .find_map(|step| step.strip_prefix("ok: alice reported bob's message: report "))
        .unwrap();
    assert_eq!(printed_id, hex::encode(inbox.report_id.0));
    assert_eq!(inbox.reporter.to_string(), "alice/1");
    let mut audit = AuditLog::in_memory();
    let opened = moderator.open(&mut audit, "moderator", inbox, 0).unwrap();
    assert_eq!(opened.reason, "threat");
    assert_eq!(opened.messages.len(), 1);
    let message = &opened.messages[0];
    assert_eq!(message.verdict, Verdict::Verified);
    assert_eq!(message.sender.to_string(), "bob/1");
    assert_eq!(message.text(), "send me your password, or else");
    relay.stop().await;
}
