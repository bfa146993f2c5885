//! The moderation store's test suite.
//!
//! [`suite`] is written against the
//! [`ModerationStore`](fuin_moderation::store::ModerationStore) trait only,
//! so that SQLite and PostgreSQL run the same tests: [`sqlite`] and
//! [`postgres`] instantiate it, each test on a database of its own, and add
//! what only their backend can show (the bytes of the SQLite file, a
//! reopened file, several service instances on one PostgreSQL database).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use fuin_moderation::audit::{AuditAction, NewAuditRecord};
use fuin_moderation::model::{
    Account, AccountName, CaseId, CaseMessage, ConversationKind, NewCase, Role, SERVICE_ACTOR,
    Sealed,
};

/// A fixed "now" for the tests, in ms since the Unix epoch.
const NOW: u64 = 1_700_000_000_000;

fn name(text: &str) -> AccountName {
    AccountName::new(text).unwrap()
}

fn account(text: &str, role: Role) -> Account {
    Account {
        name: name(text),
        role,
        password_hash: format!("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA${text}"),
        failed_logins: 0,
        locked_until_ms: None,
        created_at_ms: NOW,
    }
}

/// A record as the service would hand it to the store.
fn audit(actor: &str, action: AuditAction, case: Option<&CaseId>, detail: &str) -> NewAuditRecord {
    NewAuditRecord {
        time_ms: NOW,
        actor: actor.to_owned(),
        action,
        case: case.cloned(),
        detail: detail.to_owned(),
    }
}

/// The `report_opened` record of `case`, with counts the store overwrites.
fn opened(case: &CaseId) -> NewAuditRecord {
    audit(
        SERVICE_ACTOR,
        AuditAction::ReportOpened,
        Some(case),
        r#"{"verified":99,"duplicates":99,"rejected":0,"messages":3}"#,
    )
}

/// The case id made of `n`.
fn case_id(n: u32) -> CaseId {
    CaseId(format!("{n:032x}"))
}

/// A message of a report with this verdict and commitment (64 hex digits
/// made of `commitment`).
fn message(index: u32, verdict: &str, commitment: u8) -> CaseMessage {
    CaseMessage {
        index,
        sender: "mallory/1".into(),
        recipient: "alice/1".into(),
        content_type: "text".into(),
        text: Sealed(vec![0xa0, index as u8, commitment]),
        commitment: format!("{commitment:02x}").repeat(32),
        server_time_ms: NOW - 10_000 + u64::from(index),
        verdict: verdict.into(),
        rejection: if verdict == "rejected" {
            "bad_franking_tag".into()
        } else {
            String::new()
        },
        attachment: None,
    }
}

/// A 1:1 report by `reporter_user` against mallory, received at `received`.
fn new_case(id: CaseId, reporter_user: &str, received: u64, messages: Vec<CaseMessage>) -> NewCase {
    NewCase {
        id,
        reporter: format!("{reporter_user}/1"),
        reporter_user: reporter_user.into(),
        reported_user: Some("mallory".into()),
        kind: ConversationKind::Direct,
        group: None,
        reason: Sealed(vec![0x5e; 40]),
        created_at_ms: received - 500,
        received_at_ms: received,
        opened_at_ms: received + 500,
        post_quantum: true,
        messages,
    }
}

mod suite;

/// Declares one `#[tokio::test]` per suite test that takes one store, each
/// on a fresh store made by `$open` (an async block giving `Option<(guard,
/// store)>`: `None` skips).
macro_rules! instantiate_suite {
    ($open:path; [$($test:ident),* $(,)?]) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $test() {
                let Some((guard, store)) = $open().await else { return };
                crate::suite::$test(&store).await;
                drop(store);
                guard.finish().await;
            }
        )*
    };
}

/// Every suite test that takes one store.
macro_rules! suite_tests {
    ($macro:ident!($open:path)) => {
        $macro!($open; [
            accounts_are_unique_and_listed_by_name,
            duplicates_across_cases_count_once_and_the_record_says_so,
            opening_a_case_twice_changes_nothing,
            the_chain_verifies_after_every_kind_of_operation,
            lockout_after_max_failures_and_unlock_after_lock_ms,
            a_successful_login_clears_failures_and_lock,
            an_expired_session_is_never_returned,
            a_resolved_case_takes_no_action_and_records_nothing,
            an_unknown_case_changes_nothing,
            a_case_reads_back_as_stored,
            filters_narrow_and_newest_comes_first,
            limit_zero_lists_two_hundred,
            one_note_per_author_and_millisecond,
        ]);
    };
}

mod postgres;
mod sqlite;
