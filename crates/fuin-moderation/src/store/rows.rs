//! One row codec for both backends: the column lists they select, the
//! conversions of times and counts, and the model values built from a
//! row's columns (checked: a stored value that does not parse is an
//! error, never a default). Each backend reads its rows through
//! [`Columns`]; the SQL and the transactions stay in the backend.

use crate::audit::AuditRecord;
use crate::model::{
    Account, AccountName, ActionRecord, CaseAttachment, CaseId, CaseMessage, CaseStatus,
    CaseSummary, ConversationKind, Note, Role, Sealed, Session,
};
use crate::store::StoreError;

pub(crate) const ACCOUNT_COLUMNS: &str =
    "name, role, password_hash, failed_logins, locked_until_ms, created_at_ms";

/// A case's columns: its summary's (0 to 11), then its detail's (12 to 16).
pub(crate) const CASE_COLUMNS: &str = "id, status, assignee, reporter, reported_user, kind, \
     received_at_ms, opened_at_ms, verified, duplicates, rejected, outcome, reason, group_id, \
     created_at_ms, post_quantum, feedback_sent_at_ms";

pub(crate) const MESSAGE_COLUMNS: &str = "idx, sender, recipient, content_type, text, \
     commitment, server_time_ms, verdict, rejection, att_status, att_media_type, att_file_name, \
     att_bytes, att_size";

pub(crate) const NOTE_COLUMNS: &str = "author, at_ms, text";

pub(crate) const ACTION_COLUMNS: &str = "by_name, at_ms, action, target, result";

pub(crate) const SESSION_COLUMNS: &str = "account, created_at_ms, expires_at_ms";

pub(crate) const AUDIT_COLUMNS: &str = "seq, time_ms, actor, action, case_id, detail, prev, hash";

/// A failure of the backend, naming the operation (never data).
pub(crate) fn backend(what: &str) -> StoreError {
    StoreError::Backend(what.to_owned())
}

/// A time or count as stored (clamped to `i64::MAX`).
pub(crate) fn int(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// A stored time or count back (a negative one, never written, reads as 0).
pub(crate) fn uint(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

/// A stored count or index back (one out of range, never written, reads
/// as 0).
pub(crate) fn uint32(value: i64) -> u32 {
    u32::try_from(value).unwrap_or(0)
}

/// The columns of one row, read by position; a column that does not read
/// as asked is the backend's failure of the operation.
pub(crate) trait Columns {
    fn text(&self, column: usize) -> Result<String, StoreError>;
    fn opt_text(&self, column: usize) -> Result<Option<String>, StoreError>;
    fn int(&self, column: usize) -> Result<i64, StoreError>;
    fn opt_int(&self, column: usize) -> Result<Option<i64>, StoreError>;
    fn bytes(&self, column: usize) -> Result<Vec<u8>, StoreError>;
    fn opt_bytes(&self, column: usize) -> Result<Option<Vec<u8>>, StoreError>;
    fn flag(&self, column: usize) -> Result<bool, StoreError>;
}

/// An account from [`ACCOUNT_COLUMNS`]; `invalid` names the failure when
/// its name or role does not parse.
pub(crate) fn account(row: &impl Columns, invalid: &str) -> Result<Account, StoreError> {
    let (name, role) = (row.text(0)?, row.text(1)?);
    let (Ok(name), Some(role)) = (AccountName::new(&name), Role::parse(&role)) else {
        return Err(backend(invalid));
    };
    Ok(Account {
        name,
        role,
        password_hash: row.text(2)?,
        failed_logins: uint32(row.int(3)?),
        locked_until_ms: row.opt_int(4)?.map(uint),
        created_at_ms: uint(row.int(5)?),
    })
}

/// A session from [`SESSION_COLUMNS`] (its token hash is the one asked
/// for).
pub(crate) fn session(row: &impl Columns, token_hash: [u8; 32]) -> Result<Session, StoreError> {
    let account = row.text(0)?;
    Ok(Session {
        token_hash,
        account: AccountName::new(&account)
            .map_err(|_| backend("session: a stored value is invalid"))?,
        created_at_ms: uint(row.int(1)?),
        expires_at_ms: uint(row.int(2)?),
    })
}

/// A case's summary from the first columns of [`CASE_COLUMNS`]; `invalid`
/// names the failure when its status, kind or assignee does not parse.
pub(crate) fn summary(row: &impl Columns, invalid: &str) -> Result<CaseSummary, StoreError> {
    let (status, assignee, kind) = (row.text(1)?, row.opt_text(2)?, row.text(5)?);
    let (Some(status), Some(kind)) = (CaseStatus::parse(&status), ConversationKind::parse(&kind))
    else {
        return Err(backend(invalid));
    };
    let assignee = assignee
        .map(|a| AccountName::new(&a))
        .transpose()
        .map_err(|_| backend(invalid))?;
    Ok(CaseSummary {
        id: CaseId(row.text(0)?),
        status,
        assignee,
        reporter: row.text(3)?,
        reported_user: row.opt_text(4)?,
        kind,
        received_at_ms: uint(row.int(6)?),
        opened_at_ms: uint(row.int(7)?),
        verified: uint32(row.int(8)?),
        duplicates: uint32(row.int(9)?),
        rejected: uint32(row.int(10)?),
        outcome: row.opt_text(11)?,
    })
}

/// What a case's detail adds to its summary, from the last columns of
/// [`CASE_COLUMNS`].
pub(crate) struct CaseExtra {
    pub(crate) reason: Sealed,
    pub(crate) group: Option<String>,
    pub(crate) created_at_ms: u64,
    pub(crate) post_quantum: bool,
    pub(crate) feedback_sent_at_ms: Option<u64>,
}

pub(crate) fn case_extra(row: &impl Columns) -> Result<CaseExtra, StoreError> {
    Ok(CaseExtra {
        reason: Sealed(row.bytes(12)?),
        group: row.opt_text(13)?,
        created_at_ms: uint(row.int(14)?),
        post_quantum: row.flag(15)?,
        feedback_sent_at_ms: row.opt_int(16)?.map(uint),
    })
}

/// A case's message from [`MESSAGE_COLUMNS`]; its attachment is there
/// when one was re-fetched (its status is set).
pub(crate) fn message(row: &impl Columns) -> Result<CaseMessage, StoreError> {
    let attachment = match row.opt_text(9)? {
        Some(status) => Some(CaseAttachment {
            status,
            media_type: row.opt_text(10)?.unwrap_or_default(),
            file_name: Sealed(row.opt_bytes(11)?.unwrap_or_default()),
            bytes: row.opt_bytes(12)?.map(Sealed),
            size: uint(row.opt_int(13)?.unwrap_or(0)),
        }),
        None => None,
    };
    Ok(CaseMessage {
        index: uint32(row.int(0)?),
        sender: row.text(1)?,
        recipient: row.text(2)?,
        content_type: row.text(3)?,
        text: Sealed(row.bytes(4)?),
        commitment: row.text(5)?,
        server_time_ms: uint(row.int(6)?),
        verdict: row.text(7)?,
        rejection: row.text(8)?,
        attachment,
    })
}

const INVALID_IN_CASE: &str = "case: a stored value is invalid";

/// A note from [`NOTE_COLUMNS`].
pub(crate) fn note(row: &impl Columns) -> Result<Note, StoreError> {
    let author = row.text(0)?;
    let Ok(author) = AccountName::new(&author) else {
        return Err(backend(INVALID_IN_CASE));
    };
    Ok(Note {
        author,
        at_ms: uint(row.int(1)?),
        text: Sealed(row.bytes(2)?),
    })
}

/// An action from [`ACTION_COLUMNS`].
pub(crate) fn action(row: &impl Columns) -> Result<ActionRecord, StoreError> {
    let by = row.text(0)?;
    let Ok(by) = AccountName::new(&by) else {
        return Err(backend(INVALID_IN_CASE));
    };
    Ok(ActionRecord {
        by,
        at_ms: uint(row.int(1)?),
        action: row.text(2)?,
        target: row.text(3)?,
        result: row.text(4)?,
    })
}

/// An audit record from [`AUDIT_COLUMNS`]; `invalid` names the failure
/// when a stored hash is not 32 bytes.
pub(crate) fn audit(row: &impl Columns, invalid: &str) -> Result<AuditRecord, StoreError> {
    let (prev, hash) = (row.bytes(6)?, row.bytes(7)?);
    let (Ok(prev), Ok(hash)) = (<[u8; 32]>::try_from(prev), <[u8; 32]>::try_from(hash)) else {
        return Err(backend(invalid));
    };
    Ok(AuditRecord {
        seq: uint(row.int(0)?),
        time_ms: uint(row.int(1)?),
        actor: row.text(2)?,
        action: row.text(3)?,
        case: row.text(4)?,
        detail: row.text(5)?,
        prev,
        hash,
    })
}
