//! The service's engine against a real relay: reports pulled from its
//! inbox are opened once into cases (verdicts, duplicates, refusals, lost
//! acknowledgements), reported attachments re-fetched and stored sealed,
//! the relay's admin API driven, moderation's messages sent end to end, and
//! its secret files checked.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;

use common::{Devices, ModerationFiles, TestRelay, eventually, service, set_mode};
use fuin_client::{Client, ClientError, SendFileOptions};
use fuin_moderation::audit::{AuditRecord, verify_chain};
use fuin_moderation::ingest::{Ingest, IngestError, PullSummary, RelayInbox, pull_once};
use fuin_moderation::model::{CaseDetail, CaseId, ConversationKind};
use fuin_moderation::relay_admin::HttpRelayAdmin;
use fuin_moderation::service::{AdminError, RelayAdmin, Service};
use fuin_moderation::store::ModerationStore;
use fuin_moderation::store::sqlite::SqliteStore;
use fuin_wire::ContentType;
use serde_json::Value;

const NO_WAIT: std::time::Duration = std::time::Duration::ZERO;

/// `reporter` reports the messages of its history with `peer` whose text
/// is in `texts`, sealed to `key`.
async fn report(
    reporter: &Client,
    peer: &str,
    texts: &[&str],
    reason: &str,
    key: &fuin_report::ModerationPublicKey,
) {
    reporter.sync(NO_WAIT).await.unwrap();
    let history = reporter.history(peer, 100).await.unwrap();
    let ids: Vec<i64> = texts
        .iter()
        .map(|text| {
            history
                .iter()
                .find(|m| m.text == *text)
                .unwrap_or_else(|| panic!("{text:?} is not in the history"))
                .local_id
        })
        .collect();
    let built = reporter.report(reason, &ids).await.unwrap();
    reporter.submit_report(&built, key).await.unwrap();
}

/// A relay, and alice's and bob's devices on it.
async fn alice_and_bob() -> (TestRelay, Devices, Client, Client) {
    let relay = TestRelay::start().await;
    let devices = Devices::new();
    let alice = devices.create(&relay, "alice", 1).await;
    let bob = devices.create(&relay, "bob", 1).await;
    (relay, devices, alice, bob)
}

async fn audit(service: &Service<SqliteStore>) -> Vec<AuditRecord> {
    service.store.audit_log().await.unwrap()
}

fn detail(record: &AuditRecord) -> Value {
    serde_json::from_str(&record.detail).unwrap()
}

async fn only_case(service: &Service<SqliteStore>) -> CaseDetail {
    let cases = service.store.cases(&Default::default()).await.unwrap();
    assert_eq!(cases.len(), 1, "{cases:?}");
    service.store.case(&cases[0].id).await.unwrap().unwrap()
}

fn open_text(
    service: &Service<SqliteStore>,
    case: &CaseId,
    field: &str,
    sealed: &fuin_moderation::model::Sealed,
) -> String {
    service
        .vault
        .open_text(case, field, sealed)
        .unwrap()
        .to_string()
}

/// Whether the relay's inbox holds a report (taken without acknowledging).
async fn inbox_is_empty(relay: &TestRelay) -> bool {
    let inbox = RelayInbox::new(
        &relay.url,
        zeroize::Zeroizing::new(common::INBOX_CREDENTIAL),
        None,
    )
    .unwrap();
    inbox.take().await.unwrap().is_empty()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_direct_report_opens_into_one_case_with_its_verdicts_sealed_at_rest() {
    let (relay, _devices, alice, bob) = alice_and_bob().await;
    alice.send_text("bob", "pay me or else").await.unwrap();
    alice
        .send_text("bob", "I know where you live")
        .await
        .unwrap();
    let files = ModerationFiles::new();
    report(
        &bob,
        "alice",
        &["pay me or else", "I know where you live"],
        "threats",
        &files.public_key,
    )
    .await;

    let (service, ingest) = service(&relay, &files, None);
    let summary = pull_once(&service, &ingest).await.unwrap();
    assert_eq!(
        summary,
        PullSummary {
            opened: 1,
            ..PullSummary::default()
        }
    );
    assert!(
        inbox_is_empty(&relay).await,
        "the report was not acknowledged"
    );

    let case = only_case(&service).await;
    let id = case.summary.id.clone();
    assert_eq!(id.0.len(), 32);
    assert_eq!(case.summary.kind, ConversationKind::Direct);
    assert_eq!(case.summary.reporter, "bob/1");
    assert_eq!(case.summary.reported_user.as_deref(), Some("alice"));
    assert_eq!(
        (
            case.summary.verified,
            case.summary.duplicates,
            case.summary.rejected
        ),
        (2, 0, 0)
    );
    assert!(case.post_quantum);
    assert_eq!(case.group, None);
    assert_eq!(open_text(&service, &id, "reason", &case.reason), "threats");
    let texts: Vec<String> = case
        .messages
        .iter()
        .map(|m| open_text(&service, &id, &format!("message/{}/text", m.index), &m.text))
        .collect();
    assert_eq!(texts, ["pay me or else", "I know where you live"]);
    for (i, message) in case.messages.iter().enumerate() {
        assert_eq!(message.index as usize, i);
        assert_eq!(message.verdict, "verified");
        assert_eq!(message.rejection, "");
        assert_eq!(message.sender, "alice/1");
        assert_eq!(message.recipient, "bob/1");
        assert_eq!(message.content_type, "text");
        assert_eq!(message.commitment.len(), 64);
        // Sealed at rest: the stored bytes do not hold the text.
        assert!(
            !message
                .text
                .0
                .windows(6)
                .any(|w| w == b"pay me" || w == b"I know")
        );
    }
    // A text sealed as one message's does not open as another's.
    assert!(
        service
            .vault
            .open(&id, "message/1/text", &case.messages[0].text)
            .is_err()
    );

    let records = audit(&service).await;
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].actor, "@service");
    assert_eq!(records[0].action, "report_opened");
    assert_eq!(records[0].case, id.0);
    let d = detail(&records[0]);
    assert_eq!(d["report"], id.0);
    assert_eq!(
        (
            d["verified"].as_u64(),
            d["duplicates"].as_u64(),
            d["rejected"].as_u64()
        ),
        (Some(2), Some(0), Some(0))
    );
    assert!(!records[0].detail.contains("pay me"));
    verify_chain(&records).unwrap();

    // Nothing waits: another pull does nothing.
    assert_eq!(
        pull_once(&service, &ingest).await.unwrap(),
        PullSummary::default()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_whose_stamps_do_not_check_are_rejected_with_the_reason() {
    let (relay, _devices, alice, bob) = alice_and_bob().await;
    alice
        .send_text("bob", "stamped by the relay")
        .await
        .unwrap();
    // Moderation holds another key under the relay key's id.
    let files = ModerationFiles::with_stamp_key(&[7; 32]);
    report(
        &bob,
        "alice",
        &["stamped by the relay"],
        "spam",
        &files.public_key,
    )
    .await;

    let (service, ingest) = service(&relay, &files, None);
    assert_eq!(pull_once(&service, &ingest).await.unwrap().opened, 1);
    let case = only_case(&service).await;
    assert_eq!(
        (
            case.summary.verified,
            case.summary.duplicates,
            case.summary.rejected
        ),
        (0, 0, 1)
    );
    assert_eq!(case.messages[0].verdict, "rejected");
    assert_eq!(case.messages[0].rejection, "stamp_mismatch");
    let d = detail(&audit(&service).await[0]);
    assert_eq!(
        (d["verified"].as_u64(), d["rejected"].as_u64()),
        (Some(0), Some(1))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_reported_again_in_a_second_report_counts_as_a_duplicate() {
    let (relay, _devices, alice, bob) = alice_and_bob().await;
    alice.send_text("bob", "first insult").await.unwrap();
    alice.send_text("bob", "second insult").await.unwrap();
    let files = ModerationFiles::new();
    let (service, ingest) = service(&relay, &files, None);

    report(&bob, "alice", &["first insult"], "abuse", &files.public_key).await;
    assert_eq!(pull_once(&service, &ingest).await.unwrap().opened, 1);
    report(
        &bob,
        "alice",
        &["first insult", "second insult"],
        "still abuse",
        &files.public_key,
    )
    .await;
    assert_eq!(pull_once(&service, &ingest).await.unwrap().opened, 1);

    let records = audit(&service).await;
    assert_eq!(records.len(), 2);
    let second = CaseId(records[1].case.clone());
    let case = service.store.case(&second).await.unwrap().unwrap();
    let verdicts: Vec<&str> = case.messages.iter().map(|m| m.verdict.as_str()).collect();
    assert_eq!(verdicts, ["duplicate", "verified"]);
    assert_eq!((case.summary.verified, case.summary.duplicates), (1, 1));
    let d = detail(&records[1]);
    assert_eq!(
        (d["verified"].as_u64(), d["duplicates"].as_u64()),
        (Some(1), Some(1))
    );
    // The same message has the same commitment in both cases.
    let first = service
        .store
        .case(&CaseId(records[0].case.clone()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.messages[0].commitment, case.messages[0].commitment);
    verify_chain(&records).unwrap();
}

/// A relay inbox in front of `relay` that hands out reports but loses every
/// acknowledgement (answers 503 without passing it on).
async fn inbox_losing_acknowledgements(relay: &TestRelay) -> String {
    use axum::routing::{get, post};
    let target = format!("{}/v1/moderation/reports", relay.url);
    let router = axum::Router::new()
        .route(
            "/v1/moderation/reports",
            get(move |headers: axum::http::HeaderMap| {
                let target = target.clone();
                async move {
                    let answer = reqwest::Client::new()
                        .get(&target)
                        .header(
                            "authorization",
                            headers.get("authorization").unwrap().to_str().unwrap(),
                        )
                        .send()
                        .await
                        .unwrap();
                    assert!(answer.status().is_success());
                    answer.bytes().await.unwrap().to_vec()
                }
            }),
        )
        .route(
            "/v1/moderation/reports/ack",
            post(|| async { axum::http::StatusCode::SERVICE_UNAVAILABLE }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_whose_acknowledgement_was_lost_is_not_opened_again() {
    let (relay, _devices, alice, bob) = alice_and_bob().await;
    alice.send_text("bob", "once only").await.unwrap();
    let files = ModerationFiles::new();
    report(&bob, "alice", &["once only"], "spam", &files.public_key).await;
    let (service, ingest) = service(&relay, &files, None);

    // The first pull opens it, but its acknowledgement is lost.
    let lossy = Ingest {
        inbox: RelayInbox::new(
            &inbox_losing_acknowledgements(&relay).await,
            zeroize::Zeroizing::new(common::INBOX_CREDENTIAL),
            None,
        )
        .unwrap(),
        moderator: files.files.load().unwrap().moderator,
        device: None,
    };
    match pull_once(&service, &lossy).await {
        Err(IngestError::Inbox(err)) => assert_eq!(err.code(), "relay_error"),
        other => panic!("the lost acknowledgement went unnoticed: {other:?}"),
    }
    assert_eq!(audit(&service).await.len(), 1);
    assert!(
        !inbox_is_empty(&relay).await,
        "the relay still holds the report"
    );

    // The next pull finds the case: acknowledged, not opened again.
    let summary = pull_once(&service, &ingest).await.unwrap();
    assert_eq!(
        summary,
        PullSummary {
            known: 1,
            ..PullSummary::default()
        }
    );
    assert!(inbox_is_empty(&relay).await);
    let records = audit(&service).await;
    assert_eq!(records.len(), 1, "a second record appeared: {records:?}");
    assert_eq!(
        service
            .store
            .cases(&Default::default())
            .await
            .unwrap()
            .len(),
        1
    );
    let case = only_case(&service).await;
    assert_eq!(case.summary.verified, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_sealed_to_another_key_is_recorded_as_refused_and_acknowledged() {
    let (relay, _devices, alice, bob) = alice_and_bob().await;
    alice.send_text("bob", "to the wrong desk").await.unwrap();
    let files = ModerationFiles::new();
    // Another moderation key, with the same id.
    let elsewhere = ModerationFiles::new();
    report(
        &bob,
        "alice",
        &["to the wrong desk"],
        "spam",
        &elsewhere.public_key,
    )
    .await;

    let (service, ingest) = service(&relay, &files, None);
    let summary = pull_once(&service, &ingest).await.unwrap();
    assert_eq!(
        summary,
        PullSummary {
            refused: 1,
            ..PullSummary::default()
        }
    );
    assert!(
        inbox_is_empty(&relay).await,
        "the refused report was not acknowledged"
    );
    assert!(
        service
            .store
            .cases(&Default::default())
            .await
            .unwrap()
            .is_empty()
    );
    let records = audit(&service).await;
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].action, "report_refused");
    assert_eq!(records[0].actor, "@service");
    assert_eq!(records[0].case, "");
    let d = detail(&records[0]);
    assert_eq!(d["reason"], "decryption_failed");
    assert_eq!(d["report"].as_str().unwrap().len(), 32);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reported_attachment_is_re_fetched_verified_and_stored_sealed() {
    let (relay, devices, alice, bob) = alice_and_bob().await;
    let moderation = devices.create(&relay, "moderation", 1).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("evidence.txt");
    let content: Vec<u8> = b"what was shared, as bytes. "
        .iter()
        .copied()
        .cycle()
        .take(100_000)
        .collect();
    std::fs::write(&path, &content).unwrap();
    alice
        .send_file("bob", &path, &SendFileOptions::default())
        .await
        .unwrap();
    bob.sync(NO_WAIT).await.unwrap();
    let shared = bob
        .history("alice", 10)
        .await
        .unwrap()
        .into_iter()
        .find(|m| m.content_type == ContentType::Attachment)
        .unwrap();
    let files = ModerationFiles::new();
    let built = bob
        .report("unwanted file", &[shared.local_id])
        .await
        .unwrap();
    bob.submit_report(&built, &files.public_key).await.unwrap();

    let (service, ingest) = service(&relay, &files, Some(moderation));
    let summary = pull_once(&service, &ingest).await.unwrap();
    assert_eq!((summary.opened, summary.attachments), (1, 1));
    let case = only_case(&service).await;
    let id = &case.summary.id;
    let message = &case.messages[0];
    assert_eq!(message.content_type, "attachment");
    assert_eq!(message.verdict, "verified");
    let text = open_text(&service, id, "message/0/text", &message.text);
    assert!(text.contains("evidence.txt"), "{text}");
    let attachment = message.attachment.as_ref().expect("no attachment stored");
    assert_eq!(attachment.status, "verified");
    assert_eq!(attachment.media_type, "text/plain");
    assert_eq!(attachment.size, content.len() as u64);
    assert_eq!(
        open_text(&service, id, "message/0/file-name", &attachment.file_name),
        "evidence.txt"
    );
    let sealed = attachment
        .bytes
        .as_ref()
        .expect("the verified bytes were not kept");
    assert!(!sealed.0.windows(12).any(|w| w == b"what was sha"));
    let opened = service
        .vault
        .open(id, "message/0/attachment", sealed)
        .unwrap();
    assert_eq!(opened.as_slice(), content.as_slice());
    // Bound to its field: the bytes do not open as the file name.
    assert!(
        service
            .vault
            .open(id, "message/0/file-name", sealed)
            .is_err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suspending_through_the_admin_api_makes_the_relay_refuse_the_users_sends() {
    let (relay, _devices, alice, _bob) = alice_and_bob().await;
    alice.send_text("bob", "before").await.unwrap();

    let admin = HttpRelayAdmin::new(
        &relay.admin_url,
        zeroize::Zeroizing::new(common::ADMIN_CREDENTIAL),
    )
    .unwrap();
    admin.suspend("alice").await.unwrap();
    match alice.send_text("bob", "after").await {
        Err(ClientError::Relay { code, .. }) => assert_eq!(code, "account_suspended"),
        other => panic!("a suspended user could send: {other:?}"),
    }

    // The relay's own codes come back as they are.
    assert_eq!(
        admin.suspend("nobody").await,
        Err(AdminError {
            code: "unknown_user".into()
        })
    );
    assert_eq!(
        admin.remove_device("alice", 9).await,
        Err(AdminError {
            code: "unknown_device".into()
        })
    );
    // A user id that is a path of its own stays one path segment.
    assert_eq!(
        admin
            .suspend("../stats")
            .await
            .map_err(|e| e.code == "unknown_user" || e.code == "invalid_user_id"),
        Err(true)
    );
    assert_eq!(
        admin.suspend("..").await,
        Err(AdminError {
            code: "invalid_user_id".into()
        })
    );
    let wrong = HttpRelayAdmin::new(&relay.admin_url, zeroize::Zeroizing::new([1; 32])).unwrap();
    assert_eq!(
        wrong.suspend("alice").await,
        Err(AdminError {
            code: "unauthorized".into()
        })
    );
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let nowhere =
        HttpRelayAdmin::new(&closed, zeroize::Zeroizing::new(common::ADMIN_CREDENTIAL)).unwrap();
    assert_eq!(
        nowhere.suspend("alice").await,
        Err(AdminError {
            code: "relay_unreachable".into()
        })
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_a_device_through_the_admin_api_removes_it_at_the_relay() {
    let (relay, _devices, alice, _bob) = alice_and_bob().await;
    alice.send_text("bob", "registered").await.unwrap();
    let admin = HttpRelayAdmin::new(
        &relay.admin_url,
        zeroize::Zeroizing::new(common::ADMIN_CREDENTIAL),
    )
    .unwrap();
    admin.remove_device("alice", 1).await.unwrap();
    // Removed: removing it again finds no device.
    assert_eq!(
        admin.remove_device("alice", 1).await,
        Err(AdminError {
            code: "unknown_device".into()
        })
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moderations_message_reaches_the_reporter_and_the_relay_cannot_read_it() {
    let relay = TestRelay::start().await;
    let devices = Devices::new();
    let bob = devices.create(&relay, "bob", 1).await;
    let moderation = devices.create(&relay, "moderation", 1).await;
    let files = ModerationFiles::new();
    let (service, _ingest) = service(&relay, &files, Some(moderation));
    let text = "Your report was reviewed: the account was suspended. Thank you.";
    service
        .messenger
        .as_ref()
        .unwrap()
        .send_text("bob", text)
        .await
        .unwrap();

    let bob = Arc::new(bob);
    eventually("the message to reach bob", || {
        let bob = bob.clone();
        async move {
            bob.sync(NO_WAIT).await.unwrap();
            bob.history("moderation", 10)
                .await
                .unwrap()
                .iter()
                .any(|m| m.text == text && m.sender.user.as_str() == "moderation")
        }
    })
    .await;
    let stored = relay.database_bytes();
    assert!(!stored.is_empty());
    assert!(
        !stored.windows(20).any(|w| w == &text.as_bytes()[..20]),
        "the relay's database holds the text"
    );

    // To a user with no device: the SDK's reason, as a code.
    let err = service
        .messenger
        .as_ref()
        .unwrap()
        .send_text("nobody-here", "hello")
        .await
        .unwrap_err();
    assert!(!err.code.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secret_files_others_may_read_are_refused_with_the_file_named() {
    let files = ModerationFiles::new();
    // The vault key is made on first start, mode 0600.
    assert!(!files.files.vault_key.exists());
    let first = files.files.load().unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&files.files.vault_key)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    assert_eq!(
        std::fs::read(&files.files.vault_key).unwrap().as_slice(),
        first.vault.key_bytes()
    );
    // The next start reads the same key.
    let again = files.files.load().unwrap();
    assert_eq!(again.vault.key_bytes(), first.vault.key_bytes());

    for path in [
        files.files.key.clone(),
        files.stamp_key_file.clone(),
        files.files.inbox_credential.clone(),
        files.files.admin_credential.clone(),
        files.files.vault_key.clone(),
    ] {
        set_mode(&path, 0o644);
        let err = files.files.load().unwrap_err();
        assert_eq!(err.file, path);
        assert!(err.message.contains(&path.display().to_string()), "{err}");
        assert!(err.message.contains("644"), "{err}");
        set_mode(&path, 0o600);
        files.files.load().unwrap();
    }

    // A vault key of another length is refused, not replaced.
    common::write_secret(&files.files.vault_key, &[1; 31]);
    let err = files.files.load().unwrap_err();
    assert_eq!(
        (err.code, err.file.clone()),
        ("vault_key", files.files.vault_key.clone())
    );
    assert_eq!(std::fs::read(&files.files.vault_key).unwrap(), vec![1; 31]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_report_is_about_the_member_who_sent_most_of_its_verified_messages() {
    let relay = TestRelay::start().await;
    let devices = Devices::new();
    let alice = devices.create(&relay, "alice", 1).await;
    let bob = Arc::new(devices.create(&relay, "bob", 1).await);
    let carol = devices.create(&relay, "carol", 1).await;
    let group = alice.create_group(&["bob", "carol"]).await.unwrap();
    for member in [&*bob, &carol, &alice, &*bob, &carol] {
        member.sync(NO_WAIT).await.unwrap();
    }
    alice
        .send_group_text(&group.id, "one from alice")
        .await
        .unwrap();
    carol
        .send_group_text(&group.id, "one from carol")
        .await
        .unwrap();
    carol
        .send_group_text(&group.id, "two from carol")
        .await
        .unwrap();
    let wanted = ["one from alice", "one from carol", "two from carol"];
    let id = group.id.clone();
    eventually("bob to hold the three messages", || {
        let (bob, id) = (bob.clone(), id.clone());
        async move {
            bob.sync(NO_WAIT).await.unwrap();
            let texts: Vec<String> = bob
                .group_history(&id, 100)
                .await
                .unwrap()
                .into_iter()
                .map(|entry| entry.text)
                .collect();
            wanted.iter().all(|text| texts.iter().any(|t| t == text))
        }
    })
    .await;
    let history = bob.group_history(&group.id, 100).await.unwrap();
    let ids: Vec<i64> = wanted
        .iter()
        .map(|text| history.iter().find(|e| e.text == *text).unwrap().local_id)
        .collect();
    let files = ModerationFiles::new();
    let built = bob.report_group("pile-on", &ids).await.unwrap();
    bob.submit_group_report(&built, &files.public_key)
        .await
        .unwrap();

    let (service, ingest) = service(&relay, &files, None);
    assert_eq!(pull_once(&service, &ingest).await.unwrap().opened, 1);
    let case = only_case(&service).await;
    assert_eq!(case.summary.kind, ConversationKind::Group);
    assert_eq!(case.summary.reported_user.as_deref(), Some("carol"));
    assert_eq!(case.summary.verified, 3);
    assert_eq!(case.group.as_deref().map(str::len), Some(group.id.len()));
    let senders: Vec<&str> = case.messages.iter().map(|m| m.sender.as_str()).collect();
    assert_eq!(senders, ["alice/1", "carol/1", "carol/1"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_pulls_in_the_background_answers_the_console_and_stops_on_its_signal() {
    let (relay, _devices, alice, bob) = alice_and_bob().await;
    alice.send_text("bob", "served").await.unwrap();
    let files = ModerationFiles::new();
    let (service, ingest) = service(&relay, &files, None);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let console = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(fuin_moderation::serve::serve(
        service.clone(),
        Arc::new(ingest),
        listener,
        std::time::Duration::from_millis(50),
        async {
            let _ = stopped.await;
        },
    ));

    report(&bob, "alice", &["served"], "spam", &files.public_key).await;
    let watched = service.clone();
    eventually("the puller to open the report", || {
        let service = watched.clone();
        async move {
            !service
                .store
                .cases(&Default::default())
                .await
                .unwrap()
                .is_empty()
        }
    })
    .await;
    // The acknowledgement follows the commit: wait for it too.
    eventually("the puller to acknowledge the report", || {
        inbox_is_empty(&relay)
    })
    .await;

    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let login = http.get(format!("{console}/login")).send().await.unwrap();
    assert_eq!(login.status(), 200);
    assert!(login.text().await.unwrap().contains("id=\"login-form\""));
    let queue = http.get(format!("{console}/cases")).send().await.unwrap();
    assert_eq!(queue.status(), 303);
    assert_eq!(queue.headers()["location"], "/login");

    stop.send(()).unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(20), serving)
        .await
        .expect("serve did not stop")
        .unwrap()
        .unwrap();
    assert!(http.get(format!("{console}/login")).send().await.is_err());
}
