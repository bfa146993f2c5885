//! The rules both backends apply the same way, whatever their SQL: how a
//! message's verdict is stored and counted, how an opening's audit detail
//! is rewritten, a failed login's bookkeeping, which cases take changes,
//! and what an opened case's summary and a read case's detail hold.

use crate::audit::{AuditAction, NewAuditRecord};
use crate::model::{
    ActionRecord, CaseDetail, CaseFilter, CaseMessage, CaseStatus, CaseSummary, LockoutPolicy,
    NewCase, Note,
};
use crate::store::rows::{CaseExtra, int};
use crate::store::{LoginCount, StoreError};

/// How many cases [`CaseFilter::limit`] 0 lists.
const DEFAULT_LIMIT: u32 = 200;

/// How many cases `filter` lists at most.
pub(crate) fn list_limit(filter: &CaseFilter) -> u32 {
    if filter.limit == 0 {
        DEFAULT_LIMIT
    } else {
        filter.limit
    }
}

/// The detail of a `report_opened` record as stored: `detail` (a JSON
/// object, or empty for `{}`) with its `verified` and `duplicates` keys set
/// to the counts the store stored. Both backends use it, so that they hash
/// the same text.
pub(crate) fn detail_with_counts(
    detail: &str,
    verified: u32,
    duplicates: u32,
) -> Result<String, StoreError> {
    let bad = || StoreError::Backend("open_case: the audit detail is not a JSON object".into());
    let mut object = if detail.trim().is_empty() {
        serde_json::Map::new()
    } else {
        match serde_json::from_str::<serde_json::Value>(detail) {
            Ok(serde_json::Value::Object(object)) => object,
            _ => return Err(bad()),
        }
    };
    object.insert("verified".into(), verified.into());
    object.insert("duplicates".into(), duplicates.into());
    serde_json::to_string(&serde_json::Value::Object(object)).map_err(|_| bad())
}

/// The verdict of a message as stored: a `verified` message whose
/// `(reporter user, commitment)` pair was counted before is a `duplicate`.
pub(crate) fn stored_verdict(verdict: &str, counted_before: bool) -> &str {
    if verdict == "verified" && counted_before {
        "duplicate"
    } else {
        verdict
    }
}

/// The bookkeeping of one failed login, shared by both backends: the new
/// failure count, the outcome, and the `locked_out` record to append when
/// this failure locks the account. A lock that has run out is forgotten
/// first, so that after it the account has `max_failures` tries again.
pub(crate) fn login_failure(
    failures: u32,
    locked_until_ms: Option<u64>,
    now_ms: u64,
    policy: LockoutPolicy,
    name: &str,
) -> (u32, LoginCount, Option<NewAuditRecord>) {
    if let Some(until_ms) = locked_until_ms.filter(|until| *until > now_ms) {
        // Still locked (the caller should not have tried): counted, the
        // lock kept as it is.
        return (
            failures.saturating_add(1),
            LoginCount::Locked { until_ms },
            None,
        );
    }
    let failures = if locked_until_ms.is_some() {
        0
    } else {
        failures
    };
    let count = failures.saturating_add(1);
    if count >= policy.max_failures.max(1) {
        let until_ms = now_ms.saturating_add(policy.lock_ms);
        let record = NewAuditRecord {
            time_ms: now_ms,
            actor: name.to_owned(),
            action: AuditAction::LockedOut,
            case: None,
            detail: format!("{{\"until_ms\":{until_ms}}}"),
        };
        (count, LoginCount::Locked { until_ms }, Some(record))
    } else {
        (count, LoginCount::Counted { failures: count }, None)
    }
}

/// The lock a failed login leaves, as stored.
pub(crate) fn stored_lock(outcome: LoginCount) -> Option<i64> {
    match outcome {
        LoginCount::Locked { until_ms } => Some(int(until_ms)),
        LoginCount::Counted { .. } => None,
    }
}

/// Refuses a change to a case whose stored status is `resolved`.
pub(crate) fn refuse_resolved(status: &str) -> Result<(), StoreError> {
    if status == CaseStatus::Resolved.as_str() {
        return Err(StoreError::CaseResolved);
    }
    Ok(())
}

/// The counts of an opening's messages by stored verdict.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct VerdictCounts {
    pub(crate) verified: u32,
    pub(crate) duplicates: u32,
    pub(crate) rejected: u32,
}

impl VerdictCounts {
    /// Counts one message stored with `verdict` (anything but `verified`
    /// and `duplicate` is a rejection).
    pub(crate) fn count(&mut self, verdict: &str) {
        match verdict {
            "verified" => self.verified += 1,
            "duplicate" => self.duplicates += 1,
            _ => self.rejected += 1,
        }
    }
}

/// The summary of a case as [`crate::store::ModerationStore::open_case`]
/// stored it: new, unassigned, with the stored counts.
pub(crate) fn opened_summary(case: NewCase, counts: VerdictCounts) -> CaseSummary {
    CaseSummary {
        id: case.id,
        status: CaseStatus::New,
        assignee: None,
        reporter: case.reporter,
        reported_user: case.reported_user,
        kind: case.kind,
        received_at_ms: case.received_at_ms,
        opened_at_ms: case.opened_at_ms,
        verified: counts.verified,
        duplicates: counts.duplicates,
        rejected: counts.rejected,
        outcome: None,
    }
}

/// A case read back: its summary, the rest of its row, and its parts.
pub(crate) fn case_detail(
    summary: CaseSummary,
    extra: CaseExtra,
    messages: Vec<CaseMessage>,
    notes: Vec<Note>,
    actions: Vec<ActionRecord>,
) -> CaseDetail {
    CaseDetail {
        summary,
        reason: extra.reason,
        group: extra.group,
        created_at_ms: extra.created_at_ms,
        post_quantum: extra.post_quantum,
        messages,
        notes,
        actions,
        feedback_sent_at_ms: extra.feedback_sent_at_ms,
    }
}
