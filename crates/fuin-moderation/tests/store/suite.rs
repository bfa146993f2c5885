//! The tests every backend passes, written against the trait only.

use std::sync::Arc;

use fuin_moderation::audit::{AuditAction, AuditRecord, verify_chain};
use fuin_moderation::model::{
    ActionRecord, CaseAttachment, CaseFilter, CaseStatus, ConversationKind, LockoutPolicy, Note,
    Role, SERVICE_ACTOR, Sealed, Session,
};
use fuin_moderation::store::{LoginCount, ModerationStore, StoreError};

use super::{NOW, account, audit, case_id, message, name, new_case, opened};

/// The log verifies; gives it.
async fn verified_log<S: ModerationStore>(store: &S) -> Vec<AuditRecord> {
    let log = store.audit_log().await.unwrap();
    let head = verify_chain(&log).unwrap_or_else(|e| panic!("the chain breaks: {e}"));
    assert_eq!(head.records, log.len() as u64);
    log
}

fn detail(record: &AuditRecord) -> serde_json::Value {
    serde_json::from_str(&record.detail).unwrap()
}

fn session(token: u8, who: &str, expires_at_ms: u64) -> Session {
    Session {
        token_hash: [token; 32],
        account: name(who),
        created_at_ms: NOW,
        expires_at_ms,
    }
}

fn action(by: &str, code: &str) -> ActionRecord {
    ActionRecord {
        by: name(by),
        at_ms: NOW + 1,
        action: code.into(),
        target: "mallory".into(),
        result: "done".into(),
    }
}

pub async fn accounts_are_unique_and_listed_by_name<S: ModerationStore>(store: &S) {
    let created = |who: &str| {
        audit(
            SERVICE_ACTOR,
            AuditAction::AccountCreated,
            None,
            &format!(r#"{{"account":"{who}"}}"#),
        )
    };
    store
        .create_account(account("zoe", Role::Lead), created("zoe"))
        .await
        .unwrap();
    store
        .create_account(account("ann", Role::Moderator), created("ann"))
        .await
        .unwrap();
    let again = store
        .create_account(account("zoe", Role::Moderator), created("zoe"))
        .await;
    assert_eq!(again, Err(StoreError::AccountExists));

    let names: Vec<_> = store
        .accounts()
        .await
        .unwrap()
        .into_iter()
        .map(|a| (a.name, a.role))
        .collect();
    assert_eq!(
        names,
        vec![(name("ann"), Role::Moderator), (name("zoe"), Role::Lead)]
    );
    assert_eq!(
        store.account(&name("zoe")).await.unwrap(),
        Some(account("zoe", Role::Lead))
    );
    assert_eq!(store.account(&name("nobody")).await.unwrap(), None);
    // The refused creation recorded nothing.
    let log = verified_log(store).await;
    assert_eq!(log.len(), 2);
    assert!(log.iter().all(|r| r.action == "account_created"));

    // Unknown names are neither counted nor recorded.
    let failure = store
        .record_login_failure(
            &name("nobody"),
            NOW,
            LockoutPolicy::default(),
            audit("nobody", AuditAction::LoginFailed, None, "{}"),
        )
        .await;
    assert_eq!(failure, Err(StoreError::UnknownAccount));
    let login = store
        .record_login(
            session(1, "nobody", NOW + 10),
            audit("nobody", AuditAction::Login, None, "{}"),
        )
        .await;
    assert_eq!(login, Err(StoreError::UnknownAccount));
    assert_eq!(store.audit_log().await.unwrap().len(), 2);
}

pub async fn duplicates_across_cases_count_once_and_the_record_says_so<S: ModerationStore>(
    store: &S,
) {
    let (a, b, c) = (case_id(1), case_id(2), case_id(3));
    // Case a: two verified messages and a rejected one.
    let first = new_case(
        a.clone(),
        "alice",
        NOW,
        vec![
            message(0, "verified", 1),
            message(1, "verified", 2),
            message(2, "rejected", 9),
        ],
    );
    let summary = store.open_case(first, opened(&a)).await.unwrap();
    assert_eq!(
        (summary.verified, summary.duplicates, summary.rejected),
        (2, 0, 1)
    );

    // Case b, by the same reporter: message 1 again, a new one twice.
    let second = new_case(
        b.clone(),
        "alice",
        NOW + 1,
        vec![
            message(0, "verified", 1),
            message(1, "verified", 3),
            message(2, "verified", 3),
        ],
    );
    let summary = store.open_case(second, opened(&b)).await.unwrap();
    assert_eq!(
        (summary.verified, summary.duplicates, summary.rejected),
        (1, 2, 0)
    );
    assert_eq!(summary.status, CaseStatus::New);

    let stored = store.case(&b).await.unwrap().unwrap();
    let verdicts: Vec<_> = stored.messages.iter().map(|m| m.verdict.as_str()).collect();
    assert_eq!(verdicts, ["duplicate", "verified", "duplicate"]);
    assert_eq!((stored.summary.verified, stored.summary.duplicates), (1, 2));
    let listed = store.cases(&CaseFilter::default()).await.unwrap();
    let counts: Vec<_> = listed
        .iter()
        .map(|s| (s.id.clone(), s.verified, s.duplicates, s.rejected))
        .collect();
    assert_eq!(counts, vec![(b.clone(), 1, 2, 0), (a.clone(), 2, 0, 1)]);

    // Another reporter's report of message 1 counts: the pair is (reporter, commitment).
    // (And a message the caller found a duplicate stays one.)
    let third = new_case(
        c.clone(),
        "bob",
        NOW + 2,
        vec![message(0, "verified", 1), message(1, "duplicate", 8)],
    );
    let summary = store.open_case(third, opened(&c)).await.unwrap();
    assert_eq!((summary.verified, summary.duplicates), (1, 1));

    // The records say what was stored, the caller's other keys kept.
    let log = verified_log(store).await;
    let details: Vec<_> = log.iter().map(detail).collect();
    let expected = [(2, 0), (1, 2), (1, 1)];
    assert_eq!(details.len(), 3);
    for (d, (verified, duplicates)) in details.iter().zip(expected) {
        assert_eq!(d["verified"], verified);
        assert_eq!(d["duplicates"], duplicates);
        assert_eq!(d["messages"], 3);
        assert_eq!(d["rejected"], 0);
    }
    assert_eq!(log[1].case, b.0);
    assert_eq!(log[1].action, "report_opened");
}

pub async fn opening_a_case_twice_changes_nothing<S: ModerationStore>(store: &S) {
    let a = case_id(7);
    store
        .open_case(
            new_case(a.clone(), "alice", NOW, vec![message(0, "verified", 1)]),
            opened(&a),
        )
        .await
        .unwrap();
    let before = store.case(&a).await.unwrap();
    let log_before = store.audit_log().await.unwrap();

    // The same id again, with other content (a commitment never seen).
    let again = new_case(
        a.clone(),
        "alice",
        NOW + 5,
        vec![message(0, "verified", 4), message(1, "verified", 1)],
    );
    assert_eq!(
        store.open_case(again, opened(&a)).await,
        Err(StoreError::CaseExists)
    );
    assert!(store.has_case(&a).await.unwrap());
    assert!(!store.has_case(&case_id(8)).await.unwrap());
    assert_eq!(store.case(&a).await.unwrap(), before);
    assert_eq!(store.audit_log().await.unwrap(), log_before);

    // The refused opening counted nothing: commitment 4 is new to another case.
    let b = case_id(8);
    let summary = store
        .open_case(
            new_case(b.clone(), "alice", NOW + 6, vec![message(0, "verified", 4)]),
            opened(&b),
        )
        .await
        .unwrap();
    assert_eq!((summary.verified, summary.duplicates), (1, 0));

    // A detail that is not a JSON object is refused, and nothing stored.
    let c = case_id(9);
    let log_before = store.audit_log().await.unwrap();
    let mut bad = opened(&c);
    bad.detail = "[1,2]".into();
    let case = new_case(c.clone(), "alice", NOW + 7, vec![message(0, "verified", 5)]);
    assert!(matches!(
        store.open_case(case.clone(), bad).await,
        Err(StoreError::Backend(_))
    ));
    assert!(!store.has_case(&c).await.unwrap());
    assert_eq!(store.audit_log().await.unwrap(), log_before);
    // Commitment 5 was not counted by the refused attempt.
    let summary = store.open_case(case, opened(&c)).await.unwrap();
    assert_eq!((summary.verified, summary.duplicates), (1, 0));
}

pub async fn the_chain_verifies_after_every_kind_of_operation<S: ModerationStore>(store: &S) {
    let a = case_id(11);
    let lead = "lee";
    let mut expected: Vec<&str> = Vec::new();
    macro_rules! step {
        ($code:expr, $op:expr) => {{
            $op.await.unwrap();
            expected.push($code);
            let log = verified_log(store).await;
            let codes: Vec<&str> = log.iter().map(|r| r.action.as_str()).collect();
            assert_eq!(codes, expected);
        }};
    }
    step!(
        "account_created",
        store.create_account(
            account(lead, Role::Lead),
            audit(SERVICE_ACTOR, AuditAction::AccountCreated, None, "{}")
        )
    );
    step!(
        "login_failed",
        store.record_login_failure(
            &name(lead),
            NOW,
            LockoutPolicy::default(),
            audit(lead, AuditAction::LoginFailed, None, r#"{"failures":1}"#)
        )
    );
    step!(
        "login",
        store.record_login(
            session(3, lead, NOW + 60_000),
            audit(lead, AuditAction::Login, None, "{}")
        )
    );
    step!(
        "report_opened",
        store.open_case(
            new_case(a.clone(), "alice", NOW, vec![message(0, "verified", 1)]),
            opened(&a)
        )
    );
    step!(
        "report_refused",
        store.record_refusal(audit(
            SERVICE_ACTOR,
            AuditAction::ReportRefused,
            None,
            r#"{"reason":"bad_seal"}"#
        ))
    );
    step!(
        "case_viewed",
        store.record(audit(lead, AuditAction::CaseViewed, Some(&a), "{}"))
    );
    step!(
        "case_assigned",
        store.assign(
            &a,
            &name(lead),
            audit(
                lead,
                AuditAction::CaseAssigned,
                Some(&a),
                r#"{"assignee":"lee"}"#
            )
        )
    );
    let note = Note {
        author: name(lead),
        at_ms: NOW + 2,
        text: Sealed(vec![1, 2, 3]),
    };
    step!(
        "note_added",
        store.add_note(
            &a,
            note,
            audit(lead, AuditAction::NoteAdded, Some(&a), r#"{"length":3}"#)
        )
    );
    step!(
        "action_taken",
        store.record_action(
            &a,
            action(lead, "warn"),
            Some("warn"),
            audit(
                lead,
                AuditAction::ActionTaken,
                Some(&a),
                r#"{"action":"warn"}"#
            )
        )
    );
    step!(
        "feedback_sent",
        store.record_feedback(
            &a,
            NOW + 3,
            audit(lead, AuditAction::FeedbackSent, Some(&a), "{}")
        )
    );
    step!(
        "forbidden",
        store.record(audit(
            lead,
            AuditAction::Forbidden,
            Some(&a),
            r#"{"action":"suspend_account"}"#
        ))
    );
    step!(
        "logout",
        store.end_session(&[3; 32], audit(lead, AuditAction::Logout, None, "{}"))
    );
    let policy = LockoutPolicy {
        max_failures: 1,
        lock_ms: 10,
    };
    // A failure that locks appends two records.
    store
        .record_login_failure(
            &name(lead),
            NOW,
            policy,
            audit(lead, AuditAction::LoginFailed, None, "{}"),
        )
        .await
        .unwrap();
    expected.extend(["login_failed", "locked_out"]);
    let log = verified_log(store).await;
    let codes: Vec<&str> = log.iter().map(|r| r.action.as_str()).collect();
    assert_eq!(codes, expected);

    // `record` gives the record as appended: the chain's last.
    let viewed = store
        .record(audit(
            lead,
            AuditAction::AttachmentViewed,
            Some(&a),
            r#"{"message":0}"#,
        ))
        .await
        .unwrap();
    let log = verified_log(store).await;
    assert_eq!(log.last(), Some(&viewed));
    assert_eq!(viewed.seq, log.len() as u64);

    // The case's own records, oldest first.
    let case_codes: Vec<_> = store
        .case_audit(&a)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.action)
        .collect();
    assert_eq!(
        case_codes,
        [
            "report_opened",
            "case_viewed",
            "case_assigned",
            "note_added",
            "action_taken",
            "feedback_sent",
            "forbidden",
            "attachment_viewed"
        ]
    );
}

pub async fn lockout_after_max_failures_and_unlock_after_lock_ms<S: ModerationStore>(store: &S) {
    let who = "mo";
    store
        .create_account(
            account(who, Role::Moderator),
            audit(SERVICE_ACTOR, AuditAction::AccountCreated, None, "{}"),
        )
        .await
        .unwrap();
    let policy = LockoutPolicy {
        max_failures: 3,
        lock_ms: 60_000,
    };
    let who_name = name(who);
    let fail = |at: u64| {
        store.record_login_failure(
            &who_name,
            at,
            policy,
            audit(who, AuditAction::LoginFailed, None, "{}"),
        )
    };

    assert_eq!(fail(NOW).await, Ok(LoginCount::Counted { failures: 1 }));
    assert_eq!(fail(NOW + 1).await, Ok(LoginCount::Counted { failures: 2 }));
    let until = NOW + 2 + 60_000;
    assert_eq!(
        fail(NOW + 2).await,
        Ok(LoginCount::Locked { until_ms: until })
    );
    let stored = store.account(&name(who)).await.unwrap().unwrap();
    assert_eq!(
        (stored.failed_logins, stored.locked_until_ms),
        (3, Some(until))
    );

    let log = verified_log(store).await;
    let last = log.last().unwrap();
    assert_eq!(
        (last.action.as_str(), last.actor.as_str()),
        ("locked_out", who)
    );
    assert_eq!(detail(last), serde_json::json!({ "until_ms": until }));
    assert_eq!(log.iter().filter(|r| r.action == "login_failed").count(), 3);

    // While locked a failure keeps the lock (and locks nothing anew).
    assert_eq!(
        fail(until - 1).await,
        Ok(LoginCount::Locked { until_ms: until })
    );
    assert_eq!(
        store
            .audit_log()
            .await
            .unwrap()
            .iter()
            .filter(|r| r.action == "locked_out")
            .count(),
        1
    );

    // Once the lock has run out, the count starts again.
    assert_eq!(fail(until).await, Ok(LoginCount::Counted { failures: 1 }));
    let stored = store.account(&name(who)).await.unwrap().unwrap();
    assert_eq!((stored.failed_logins, stored.locked_until_ms), (1, None));
    verified_log(store).await;
}

pub async fn a_successful_login_clears_failures_and_lock<S: ModerationStore>(store: &S) {
    let who = "mo";
    store
        .create_account(
            account(who, Role::Moderator),
            audit(SERVICE_ACTOR, AuditAction::AccountCreated, None, "{}"),
        )
        .await
        .unwrap();
    let policy = LockoutPolicy {
        max_failures: 3,
        lock_ms: 60_000,
    };
    let who_name = name(who);
    let fail = || {
        store.record_login_failure(
            &who_name,
            NOW,
            policy,
            audit(who, AuditAction::LoginFailed, None, "{}"),
        )
    };
    fail().await.unwrap();
    fail().await.unwrap();
    store
        .record_login(
            session(1, who, NOW + 1000),
            audit(who, AuditAction::Login, None, "{}"),
        )
        .await
        .unwrap();
    let stored = store.account(&name(who)).await.unwrap().unwrap();
    assert_eq!((stored.failed_logins, stored.locked_until_ms), (0, None));
    // Two more failures do not lock: the count started again.
    assert_eq!(fail().await, Ok(LoginCount::Counted { failures: 1 }));
    assert_eq!(fail().await, Ok(LoginCount::Counted { failures: 2 }));
    assert!(matches!(fail().await, Ok(LoginCount::Locked { .. })));
    // A login (an operator's reset, say) clears a lock too.
    store
        .record_login(
            session(2, who, NOW + 1000),
            audit(who, AuditAction::Login, None, "{}"),
        )
        .await
        .unwrap();
    let stored = store.account(&name(who)).await.unwrap().unwrap();
    assert_eq!((stored.failed_logins, stored.locked_until_ms), (0, None));
    verified_log(store).await;
}

pub async fn an_expired_session_is_never_returned<S: ModerationStore>(store: &S) {
    let who = "mo";
    store
        .create_account(
            account(who, Role::Moderator),
            audit(SERVICE_ACTOR, AuditAction::AccountCreated, None, "{}"),
        )
        .await
        .unwrap();
    let ends = NOW + 30_000;
    store
        .record_login(
            session(5, who, ends),
            audit(who, AuditAction::Login, None, "{}"),
        )
        .await
        .unwrap();
    assert_eq!(
        store.session(&[5; 32], NOW).await.unwrap(),
        Some(session(5, who, ends))
    );
    assert_eq!(
        store.session(&[5; 32], ends - 1).await.unwrap(),
        Some(session(5, who, ends))
    );
    assert_eq!(store.session(&[5; 32], ends).await.unwrap(), None);
    assert_eq!(store.session(&[5; 32], ends + 1).await.unwrap(), None);
    assert_eq!(store.session(&[6; 32], NOW).await.unwrap(), None);

    // A logout ends a live session.
    store
        .record_login(
            session(7, who, ends),
            audit(who, AuditAction::Login, None, "{}"),
        )
        .await
        .unwrap();
    store
        .end_session(&[7; 32], audit(who, AuditAction::Logout, None, "{}"))
        .await
        .unwrap();
    assert_eq!(store.session(&[7; 32], NOW).await.unwrap(), None);
    verified_log(store).await;
}

/// Opens case `n` and resolves it.
async fn resolved_case<S: ModerationStore>(store: &S, n: u32) -> fuin_moderation::model::CaseId {
    let id = case_id(n);
    store
        .open_case(
            new_case(
                id.clone(),
                "alice",
                NOW,
                vec![message(0, "verified", n as u8)],
            ),
            opened(&id),
        )
        .await
        .unwrap();
    store
        .record_action(
            &id,
            action("lee", "dismiss"),
            Some("dismiss"),
            audit("lee", AuditAction::ActionTaken, Some(&id), "{}"),
        )
        .await
        .unwrap();
    id
}

pub async fn a_resolved_case_takes_no_action_and_records_nothing<S: ModerationStore>(store: &S) {
    let id = resolved_case(store, 21).await;
    let before = store.case(&id).await.unwrap().unwrap();
    assert_eq!(before.summary.status, CaseStatus::Resolved);
    assert_eq!(before.summary.outcome.as_deref(), Some("dismiss"));
    let log_before = store.audit_log().await.unwrap();

    let assign = store
        .assign(
            &id,
            &name("mo"),
            audit("mo", AuditAction::CaseAssigned, Some(&id), "{}"),
        )
        .await;
    assert_eq!(assign, Err(StoreError::CaseResolved));
    let act = store
        .record_action(
            &id,
            action("lee", "suspend_account"),
            Some("suspend_account"),
            audit("lee", AuditAction::ActionTaken, Some(&id), "{}"),
        )
        .await;
    assert_eq!(act, Err(StoreError::CaseResolved));
    let act = store
        .record_action(
            &id,
            action("lee", "warn"),
            None,
            audit("lee", AuditAction::ActionTaken, Some(&id), "{}"),
        )
        .await;
    assert_eq!(act, Err(StoreError::CaseResolved));
    assert_eq!(store.case(&id).await.unwrap().unwrap(), before);
    assert_eq!(store.audit_log().await.unwrap(), log_before);

    // Notes and feedback still go to a resolved case.
    let note = Note {
        author: name("mo"),
        at_ms: NOW + 9,
        text: Sealed(vec![9; 20]),
    };
    store
        .add_note(
            &id,
            note.clone(),
            audit("mo", AuditAction::NoteAdded, Some(&id), "{}"),
        )
        .await
        .unwrap();
    store
        .record_feedback(
            &id,
            NOW + 10,
            audit("lee", AuditAction::FeedbackSent, Some(&id), "{}"),
        )
        .await
        .unwrap();
    let after = store.case(&id).await.unwrap().unwrap();
    assert_eq!(after.notes, vec![note]);
    assert_eq!(after.feedback_sent_at_ms, Some(NOW + 10));
    assert_eq!(after.summary.status, CaseStatus::Resolved);
    assert_eq!(verified_log(store).await.len(), log_before.len() + 2);
}

pub async fn an_unknown_case_changes_nothing<S: ModerationStore>(store: &S) {
    let known = resolved_case(store, 31).await;
    let id = case_id(32);
    let log_before = store.audit_log().await.unwrap();
    let rec = |action| audit("mo", action, Some(&id), "{}");
    assert_eq!(
        store
            .assign(&id, &name("mo"), rec(AuditAction::CaseAssigned))
            .await,
        Err(StoreError::UnknownCase)
    );
    let note = Note {
        author: name("mo"),
        at_ms: NOW,
        text: Sealed(vec![1]),
    };
    assert_eq!(
        store.add_note(&id, note, rec(AuditAction::NoteAdded)).await,
        Err(StoreError::UnknownCase)
    );
    assert_eq!(
        store
            .record_action(
                &id,
                action("mo", "warn"),
                Some("warn"),
                rec(AuditAction::ActionTaken)
            )
            .await,
        Err(StoreError::UnknownCase)
    );
    assert_eq!(
        store
            .record_feedback(&id, NOW, rec(AuditAction::FeedbackSent))
            .await,
        Err(StoreError::UnknownCase)
    );
    let attachment = CaseAttachment {
        status: "verified".into(),
        media_type: "image/png".into(),
        file_name: Sealed(vec![1]),
        bytes: None,
        size: 1,
    };
    assert_eq!(
        store.set_attachment(&id, 0, attachment.clone()).await,
        Err(StoreError::UnknownCase)
    );
    // A message the case does not have.
    assert_eq!(
        store.set_attachment(&known, 5, attachment).await,
        Err(StoreError::UnknownCase)
    );
    assert_eq!(store.case(&id).await.unwrap(), None);
    assert!(store.case_audit(&id).await.unwrap().is_empty());
    assert_eq!(store.audit_log().await.unwrap(), log_before);
}

pub async fn a_case_reads_back_as_stored<S: ModerationStore>(store: &S) {
    let id = case_id(41);
    let mut case = new_case(
        id.clone(),
        "alice",
        NOW,
        vec![message(0, "verified", 1), message(1, "rejected", 2)],
    );
    case.kind = ConversationKind::Group;
    case.group = Some("ab".repeat(16));
    case.post_quantum = false;
    case.reason = Sealed((0..=255).collect());
    case.messages[0].content_type = "attachment".into();
    store.open_case(case.clone(), opened(&id)).await.unwrap();

    let attachment = CaseAttachment {
        status: "verified".into(),
        media_type: "image/png".into(),
        file_name: Sealed(vec![0, 1, 2, 0xff]),
        bytes: Some(Sealed(vec![7; 5000])),
        size: 5000,
    };
    store
        .set_attachment(&id, 0, attachment.clone())
        .await
        .unwrap();
    let failed = CaseAttachment {
        status: "hash_mismatch".into(),
        media_type: "application/pdf".into(),
        file_name: Sealed(vec![3]),
        bytes: None,
        size: 12,
    };
    store.set_attachment(&id, 1, failed.clone()).await.unwrap();
    store
        .assign(
            &id,
            &name("mo"),
            audit("mo", AuditAction::CaseAssigned, Some(&id), "{}"),
        )
        .await
        .unwrap();
    let notes = [
        Note {
            author: name("mo"),
            at_ms: NOW + 1,
            text: Sealed(vec![1; 3]),
        },
        Note {
            author: name("lee"),
            at_ms: NOW + 2,
            text: Sealed(vec![2; 3]),
        },
    ];
    for note in &notes {
        store
            .add_note(
                &id,
                note.clone(),
                audit("mo", AuditAction::NoteAdded, Some(&id), "{}"),
            )
            .await
            .unwrap();
    }
    let mut failed_action = action("lee", "suspend_account");
    failed_action.result = "relay_unreachable".into();
    store
        .record_action(
            &id,
            failed_action.clone(),
            None,
            audit("lee", AuditAction::ActionTaken, Some(&id), "{}"),
        )
        .await
        .unwrap();
    store
        .record_action(
            &id,
            action("lee", "warn"),
            Some("warn"),
            audit("lee", AuditAction::ActionTaken, Some(&id), "{}"),
        )
        .await
        .unwrap();
    store
        .record_feedback(
            &id,
            NOW + 50,
            audit("lee", AuditAction::FeedbackSent, Some(&id), "{}"),
        )
        .await
        .unwrap();

    let stored = store.case(&id).await.unwrap().unwrap();
    let s = &stored.summary;
    assert_eq!(
        (s.status, s.assignee.clone(), s.outcome.as_deref()),
        (CaseStatus::Resolved, Some(name("mo")), Some("warn"))
    );
    assert_eq!(
        (s.reporter.as_str(), s.reported_user.as_deref(), s.kind),
        ("alice/1", Some("mallory"), ConversationKind::Group)
    );
    assert_eq!(
        (s.received_at_ms, s.opened_at_ms),
        (case.received_at_ms, case.opened_at_ms)
    );
    assert_eq!((s.verified, s.duplicates, s.rejected), (1, 0, 1));
    assert_eq!(stored.reason, case.reason);
    assert_eq!(stored.group, case.group);
    assert_eq!(
        (stored.created_at_ms, stored.post_quantum),
        (case.created_at_ms, false)
    );
    let mut expected_messages = case.messages.clone();
    expected_messages[0].attachment = Some(attachment);
    expected_messages[1].attachment = Some(failed);
    assert_eq!(stored.messages, expected_messages);
    assert_eq!(stored.notes, notes.to_vec());
    assert_eq!(stored.actions, vec![failed_action, action("lee", "warn")]);
    assert_eq!(stored.feedback_sent_at_ms, Some(NOW + 50));
    assert_eq!(
        store.cases(&CaseFilter::default()).await.unwrap(),
        vec![stored.summary.clone()]
    );
}

pub async fn filters_narrow_and_newest_comes_first<S: ModerationStore>(store: &S) {
    // Four cases: (n, received, kind, reported, then assigned to / resolved).
    for n in 1..=4u32 {
        let id = case_id(50 + n);
        let mut case = new_case(
            id.clone(),
            "alice",
            NOW + u64::from(n) * 1000,
            vec![message(0, "verified", 50 + n as u8)],
        );
        if n % 2 == 0 {
            case.kind = ConversationKind::Group;
            case.reported_user = Some("eve".into());
        }
        store.open_case(case, opened(&id)).await.unwrap();
    }
    let rec = |id| audit("mo", AuditAction::CaseAssigned, Some(id), "{}");
    let (c52, c53) = (case_id(52), case_id(53));
    store.assign(&c52, &name("mo"), rec(&c52)).await.unwrap();
    store.assign(&c53, &name("lee"), rec(&c53)).await.unwrap();
    store
        .record_action(&c53, action("lee", "dismiss"), Some("dismiss"), rec(&c53))
        .await
        .unwrap();

    let ids = |filter: CaseFilter| async move {
        store
            .cases(&filter)
            .await
            .unwrap()
            .into_iter()
            .map(|s| s.id)
            .collect::<Vec<_>>()
    };
    let all = [case_id(54), case_id(53), case_id(52), case_id(51)];
    assert_eq!(ids(CaseFilter::default()).await, all);
    assert_eq!(
        ids(CaseFilter {
            status: Some(CaseStatus::New),
            ..Default::default()
        })
        .await,
        [case_id(54), case_id(51)]
    );
    assert_eq!(
        ids(CaseFilter {
            status: Some(CaseStatus::Assigned),
            ..Default::default()
        })
        .await,
        [case_id(52)]
    );
    assert_eq!(
        ids(CaseFilter {
            status: Some(CaseStatus::Resolved),
            ..Default::default()
        })
        .await,
        [case_id(53)]
    );
    assert_eq!(
        ids(CaseFilter {
            assignee: Some(name("mo")),
            ..Default::default()
        })
        .await,
        [case_id(52)]
    );
    assert_eq!(
        ids(CaseFilter {
            assignee: Some(name("nobody")),
            ..Default::default()
        })
        .await,
        []
    );
    assert_eq!(
        ids(CaseFilter {
            kind: Some(ConversationKind::Group),
            ..Default::default()
        })
        .await,
        [case_id(54), case_id(52)]
    );
    assert_eq!(
        ids(CaseFilter {
            kind: Some(ConversationKind::Direct),
            ..Default::default()
        })
        .await,
        [case_id(53), case_id(51)]
    );
    assert_eq!(
        ids(CaseFilter {
            reported_user: Some("eve".into()),
            ..Default::default()
        })
        .await,
        [case_id(54), case_id(52)]
    );
    assert_eq!(
        ids(CaseFilter {
            reported_user: Some("mallory".into()),
            status: Some(CaseStatus::New),
            ..Default::default()
        })
        .await,
        [case_id(51)]
    );
    assert_eq!(
        ids(CaseFilter {
            kind: Some(ConversationKind::Group),
            assignee: Some(name("mo")),
            status: Some(CaseStatus::Assigned),
            reported_user: Some("eve".into()),
            limit: 0
        })
        .await,
        [case_id(52)]
    );
    assert_eq!(
        ids(CaseFilter {
            limit: 2,
            ..Default::default()
        })
        .await,
        all[..2]
    );
    assert_eq!(
        ids(CaseFilter {
            limit: 1,
            kind: Some(ConversationKind::Direct),
            ..Default::default()
        })
        .await,
        [case_id(53)]
    );
}

pub async fn limit_zero_lists_two_hundred<S: ModerationStore>(store: &S) {
    for n in 0..201u32 {
        let id = case_id(1000 + n);
        let mut case = new_case(id.clone(), "alice", NOW + u64::from(n), Vec::new());
        case.reported_user = None;
        store.open_case(case, opened(&id)).await.unwrap();
    }
    let listed = store.cases(&CaseFilter::default()).await.unwrap();
    assert_eq!(listed.len(), 200);
    // Newest first: the oldest (case 1000) is the one left out.
    assert_eq!(listed.first().map(|s| s.id.clone()), Some(case_id(1200)));
    assert_eq!(listed.last().map(|s| s.id.clone()), Some(case_id(1001)));
    assert_eq!(
        store
            .cases(&CaseFilter {
                limit: 500,
                ..Default::default()
            })
            .await
            .unwrap()
            .len(),
        201
    );
    assert_eq!(verified_log(store).await.len(), 201);
}

/// Two handles on one database append `per_handle` records each, all at
/// once: one chain holds every record, none lost and none forked.
pub async fn two_handles_append_to_one_chain<S: ModerationStore>(
    a: Arc<S>,
    b: Arc<S>,
    per_handle: usize,
) {
    let mut tasks = tokio::task::JoinSet::new();
    for (who, store) in [("aaa", a.clone()), ("bbb", b.clone())] {
        for i in 0..per_handle {
            let store = store.clone();
            tasks.spawn(async move {
                let detail = format!(r#"{{"n":{i}}}"#);
                store
                    .record(audit(
                        who,
                        AuditAction::CaseViewed,
                        Some(&case_id(i as u32)),
                        &detail,
                    ))
                    .await
                    .unwrap()
            });
        }
    }
    let mut appended = Vec::new();
    while let Some(record) = tasks.join_next().await {
        appended.push(record.unwrap());
    }
    // Both handles see the same chain, verifying, with every record.
    let log = verified_log(&*a).await;
    assert_eq!(verified_log(&*b).await, log);
    assert_eq!(log.len(), 2 * per_handle);
    let mut from_log: Vec<_> = log
        .iter()
        .map(|r| (r.actor.clone(), r.detail.clone()))
        .collect();
    let mut wanted: Vec<_> = ["aaa", "bbb"]
        .iter()
        .flat_map(|who| (0..per_handle).map(move |i| (who.to_string(), format!(r#"{{"n":{i}}}"#))))
        .collect();
    from_log.sort();
    wanted.sort();
    assert_eq!(from_log, wanted);
    // What each call returned is the record the chain holds at its seq.
    for record in appended {
        assert_eq!(log[(record.seq - 1) as usize], record);
    }
}

/// Two handles count failed logins of one account at once: every failure
/// is recorded, and the account is locked exactly once.
pub async fn two_handles_lock_an_account_once<S: ModerationStore>(a: Arc<S>, b: Arc<S>) {
    let created = audit(SERVICE_ACTOR, AuditAction::AccountCreated, None, "{}");
    a.create_account(account("mo", Role::Moderator), created)
        .await
        .unwrap();
    let policy = LockoutPolicy {
        max_failures: 5,
        lock_ms: 60_000,
    };
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..12u64 {
        let store = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.spawn(async move {
            let failed = audit("mo", AuditAction::LoginFailed, None, "{}");
            store
                .record_login_failure(&name("mo"), NOW + i, policy, failed)
                .await
                .unwrap()
        });
    }
    let mut counted = Vec::new();
    let mut locked_until = std::collections::BTreeSet::new();
    while let Some(outcome) = tasks.join_next().await {
        match outcome.unwrap() {
            LoginCount::Counted { failures } => counted.push(failures),
            LoginCount::Locked { until_ms } => {
                locked_until.insert(until_ms);
            }
        }
    }
    counted.sort_unstable();
    assert_eq!(counted, [1, 2, 3, 4]);
    assert_eq!(locked_until.len(), 1, "{locked_until:?}");
    let log = verified_log(&*b).await;
    assert_eq!(
        log.iter().filter(|r| r.action == "login_failed").count(),
        12
    );
    let locks: Vec<_> = log.iter().filter(|r| r.action == "locked_out").collect();
    assert_eq!(locks.len(), 1);
    let until = *locked_until.iter().next().unwrap();
    assert_eq!(detail(locks[0]), serde_json::json!({ "until_ms": until }));
    let stored = a.account(&name("mo")).await.unwrap().unwrap();
    assert_eq!(
        (stored.failed_logins, stored.locked_until_ms),
        (12, Some(until))
    );
}

/// A case keeps at most one note per author and millisecond (a note is
/// sealed bound to both): a second is refused and records nothing; another
/// author, another millisecond or another case is fine.
pub async fn one_note_per_author_and_millisecond<S: ModerationStore>(store: &S) {
    let (a, b) = (case_id(61), case_id(62));
    for id in [&a, &b] {
        let case = new_case(id.clone(), "alice", NOW, vec![message(0, "verified", 61)]);
        store.open_case(case, opened(id)).await.unwrap();
    }
    let note = |who: &str, at_ms: u64, fill: u8| Note {
        author: name(who),
        at_ms,
        text: Sealed(vec![fill; 8]),
    };
    let noted = |id| audit("mo", AuditAction::NoteAdded, Some(id), "{}");
    store
        .add_note(&a, note("mo", NOW, 1), noted(&a))
        .await
        .unwrap();
    let log_before = store.audit_log().await.unwrap();
    assert_eq!(
        store.add_note(&a, note("mo", NOW, 2), noted(&a)).await,
        Err(StoreError::NoteExists)
    );
    assert_eq!(store.audit_log().await.unwrap(), log_before);
    assert_eq!(
        store.case(&a).await.unwrap().unwrap().notes,
        vec![note("mo", NOW, 1)]
    );
    store
        .add_note(&a, note("lee", NOW, 3), noted(&a))
        .await
        .unwrap();
    store
        .add_note(&a, note("mo", NOW + 1, 4), noted(&a))
        .await
        .unwrap();
    store
        .add_note(&b, note("mo", NOW, 5), noted(&b))
        .await
        .unwrap();
    let notes = store.case(&a).await.unwrap().unwrap().notes;
    assert_eq!(
        notes,
        vec![
            note("mo", NOW, 1),
            note("lee", NOW, 3),
            note("mo", NOW + 1, 4)
        ]
    );
    assert_eq!(verified_log(store).await.len(), log_before.len() + 3);
}
