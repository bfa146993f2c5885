//! What the moderation service keeps, behind one trait so that SQLite (one
//! instance, the default) and PostgreSQL (several instances sharing one
//! database) pass the same test suite (`spec/report.md` §13.2).
//!
//! Every method that changes something takes the [`NewAuditRecord`] that
//! records it and appends it to the audit chain **in the same
//! transaction**: what the log says happened, happened, and nothing happens
//! unrecorded. Appending takes the chain's head inside the transaction
//! (SQLite: the one writer; PostgreSQL: a row lock on the head), so two
//! instances never fork it.

use std::future::Future;

pub mod postgres;
pub mod sqlite;

use crate::audit::{AuditAction, AuditRecord, NewAuditRecord};
use crate::model::{
    Account, AccountName, ActionRecord, CaseAttachment, CaseDetail, CaseFilter, CaseId,
    CaseSummary, LockoutPolicy, NewCase, Note, Session,
};

/// Why a store operation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreError {
    /// An account with this name exists.
    AccountExists,
    /// No account has this name.
    UnknownAccount,
    /// No case has this id.
    UnknownCase,
    /// The case is resolved and takes no more changes (but notes).
    CaseResolved,
    /// A case for this report exists (it was opened before).
    CaseExists,
    /// The case has a note by this author at this millisecond: a note is
    /// sealed bound to its author and time (`spec/report.md` §13.2), so a
    /// second is refused, to be tried again (at another millisecond).
    NoteExists,
    /// The backend failed; the message names the operation, never data.
    Backend(String),
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::AccountExists => f.write_str("an account with this name exists"),
            Self::UnknownAccount => f.write_str("no such account"),
            Self::UnknownCase => f.write_str("no such case"),
            Self::CaseResolved => f.write_str("the case is resolved"),
            Self::CaseExists => f.write_str("the report was opened before"),
            Self::NoteExists => f.write_str("a note by this author at this time exists; try again"),
            Self::Backend(what) => write!(f, "the moderation database failed: {what}"),
        }
    }
}

impl std::error::Error for StoreError {}

/// The outcome of a login attempt's bookkeeping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginCount {
    /// The failure was counted; the account is not locked.
    Counted {
        /// Failures in a row now.
        failures: u32,
    },
    /// The failure locked the account until then.
    Locked {
        /// Until when (ms since the Unix epoch).
        until_ms: u64,
    },
}

/// The moderation service's storage.
///
/// Cases are keyed by [`CaseId`] (the report's id): a report opens into at
/// most one case, so a report pulled twice (its acknowledgement lost) is
/// not opened twice ([`ModerationStore::has_case`], and
/// [`StoreError::CaseExists`] as the last word).
pub trait ModerationStore: Send + Sync + 'static {
    // --- accounts ---

    /// Makes an account.
    fn create_account(
        &self,
        account: Account,
        audit: NewAuditRecord,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The account named `name`.
    fn account(
        &self,
        name: &AccountName,
    ) -> impl Future<Output = Result<Option<Account>, StoreError>> + Send;

    /// Every account, by name.
    fn accounts(&self) -> impl Future<Output = Result<Vec<Account>, StoreError>> + Send;

    /// Counts a failed login for `name` (recording `audit`, an
    /// `login_failed` record) and locks the account per `policy` when the
    /// failures reach its maximum (then also appending a `locked_out`
    /// record, made by the store, in the same transaction).
    fn record_login_failure(
        &self,
        name: &AccountName,
        now_ms: u64,
        policy: LockoutPolicy,
        audit: NewAuditRecord,
    ) -> impl Future<Output = Result<LoginCount, StoreError>> + Send;

    /// A successful login: the failure count and any lock are cleared, the
    /// session stored, and `audit` (a `login` record) appended.
    fn record_login(
        &self,
        session: Session,
        audit: NewAuditRecord,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The unexpired session whose token hashes to `token_hash`.
    fn session(
        &self,
        token_hash: &[u8; 32],
        now_ms: u64,
    ) -> impl Future<Output = Result<Option<Session>, StoreError>> + Send;

    /// Ends a session (logout), recording `audit`.
    fn end_session(
        &self,
        token_hash: &[u8; 32],
        audit: NewAuditRecord,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    // --- cases ---

    /// Whether a case for this report exists.
    fn has_case(&self, id: &CaseId) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Stores a newly opened report as a case with status `new`, and
    /// `audit` (a `report_opened` record). Inside the transaction, each
    /// message with verdict `verified` whose `(reporter_user, commitment)`
    /// was counted before (by any case) is stored as `duplicate` instead,
    /// and the others are counted; the counts in the summary, and in the
    /// audit record's detail, are the stored ones (the store rewrites the
    /// detail's `verified` and `duplicates`). Returns the case as stored.
    fn open_case(
        &self,
        case: NewCase,
        audit: NewAuditRecord,
    ) -> impl Future<Output = Result<CaseSummary, StoreError>> + Send;

    /// Records a report that could not be opened (a `report_refused`
    /// record); nothing else is stored.
    fn record_refusal(
        &self,
        audit: NewAuditRecord,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The cases `filter` selects, newest received first.
    fn cases(
        &self,
        filter: &CaseFilter,
    ) -> impl Future<Output = Result<Vec<CaseSummary>, StoreError>> + Send;

    /// One case with its messages, notes and actions.
    fn case(
        &self,
        id: &CaseId,
    ) -> impl Future<Output = Result<Option<CaseDetail>, StoreError>> + Send;

    /// Appends a record that changes nothing else (a `case_viewed`,
    /// `attachment_viewed` or `forbidden` record).
    fn record(
        &self,
        audit: NewAuditRecord,
    ) -> impl Future<Output = Result<AuditRecord, StoreError>> + Send;

    /// Assigns a case (status `assigned` unless resolved:
    /// [`StoreError::CaseResolved`]).
    fn assign(
        &self,
        id: &CaseId,
        assignee: &AccountName,
        audit: NewAuditRecord,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Adds a note (also to a resolved case). A case keeps at most one note
    /// per author and millisecond: a second is [`StoreError::NoteExists`],
    /// and nothing is recorded.
    fn add_note(
        &self,
        id: &CaseId,
        note: Note,
        audit: NewAuditRecord,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Records an action's outcome; when `resolve_with` is set the case is
    /// also resolved with that outcome (status `resolved`). An action on a
    /// resolved case is [`StoreError::CaseResolved`].
    fn record_action(
        &self,
        id: &CaseId,
        action: ActionRecord,
        resolve_with: Option<&str>,
        audit: NewAuditRecord,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Sets the re-fetched attachment of message `index` of a case.
    fn set_attachment(
        &self,
        id: &CaseId,
        index: u32,
        attachment: CaseAttachment,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Records that the outcome was sent to the reporter.
    fn record_feedback(
        &self,
        id: &CaseId,
        at_ms: u64,
        audit: NewAuditRecord,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    // --- the audit log ---

    /// Every record, oldest first.
    fn audit_log(&self) -> impl Future<Output = Result<Vec<AuditRecord>, StoreError>> + Send;

    /// The records naming one case, oldest first.
    fn case_audit(
        &self,
        id: &CaseId,
    ) -> impl Future<Output = Result<Vec<AuditRecord>, StoreError>> + Send;
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
