//! The SQLite store's cases: opening a report (with the duplicate
//! counting), listing and reading cases, and what changes them.

use rusqlite::{OptionalExtension, Transaction, params};

use super::audit::append;
use super::{SqliteStore, collect, one};
use crate::audit::NewAuditRecord;
use crate::model::{
    AccountName, ActionRecord, CaseAttachment, CaseDetail, CaseFilter, CaseId, CaseMessage,
    CaseStatus, CaseSummary, ConversationKind, NewCase, Note,
};
use crate::store::StoreError;
use crate::store::rows::{
    self, ACTION_COLUMNS, CASE_COLUMNS, MESSAGE_COLUMNS, NOTE_COLUMNS, backend, int,
};
use crate::store::rules::{
    VerdictCounts, case_detail, detail_with_counts, list_limit, opened_summary, refuse_resolved,
    stored_verdict,
};

const INVALID_CASE: &str = "read a case: a stored value is invalid";

impl SqliteStore {
    pub(super) async fn has_case(&self, id: &CaseId) -> Result<bool, StoreError> {
        const OP: &str = "has_case";
        let id = id.clone();
        self.run(OP, move |conn| {
            conn.query_row("SELECT 1 FROM cases WHERE id = ?1", [&id.0], |_| Ok(()))
                .optional()
                .map(|found| found.is_some())
                .map_err(|_| backend(OP))
        })
        .await
    }

    pub(super) async fn open_case(
        &self,
        case: NewCase,
        audit: NewAuditRecord,
    ) -> Result<CaseSummary, StoreError> {
        const OP: &str = "open_case";
        self.write(OP, move |tx| {
            let exists = tx
                .query_row(
                    "SELECT 1 FROM cases WHERE id = ?1",
                    [&case.id.0],
                    |_| Ok(()),
                )
                .optional()
                .map_err(|_| backend(OP))?
                .is_some();
            if exists {
                return Err(StoreError::CaseExists);
            }
            // The case first (the messages and counts refer to it), its
            // counts set once the messages are stored.
            tx.execute(
                "INSERT INTO cases (id, status, assignee, reporter, reporter_user, reported_user,
                     kind, group_id, reason, created_at_ms, received_at_ms, opened_at_ms,
                     post_quantum, verified, duplicates, rejected, outcome, feedback_sent_at_ms)
                 VALUES (?1, 'new', NULL, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, 0, 0, 0,
                     NULL, NULL)",
                params![
                    case.id.0,
                    case.reporter,
                    case.reporter_user,
                    case.reported_user,
                    case.kind.as_str(),
                    case.group,
                    case.reason.0,
                    int(case.created_at_ms),
                    int(case.received_at_ms),
                    int(case.opened_at_ms),
                    case.post_quantum,
                ],
            )
            .map_err(|_| backend(OP))?;
            let mut counts = VerdictCounts::default();
            for message in &case.messages {
                let mut verdict = message.verdict.as_str();
                if verdict == "verified" {
                    let counted = tx
                        .execute(
                            "INSERT INTO counted (reporter_user, commitment, case_id)
                             VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
                            params![case.reporter_user, message.commitment, case.id.0],
                        )
                        .map_err(|_| backend(OP))?;
                    verdict = stored_verdict(verdict, counted == 0);
                }
                counts.count(verdict);
                insert_message(tx, &case.id, message, verdict)?;
            }
            tx.execute(
                "UPDATE cases SET verified = ?2, duplicates = ?3, rejected = ?4 WHERE id = ?1",
                params![
                    case.id.0,
                    i64::from(counts.verified),
                    i64::from(counts.duplicates),
                    i64::from(counts.rejected)
                ],
            )
            .map_err(|_| backend(OP))?;
            let mut audit = audit;
            audit.detail = detail_with_counts(&audit.detail, counts.verified, counts.duplicates)?;
            append(tx, &audit)?;
            Ok(opened_summary(case, counts))
        })
        .await
    }

    pub(super) async fn cases(&self, filter: &CaseFilter) -> Result<Vec<CaseSummary>, StoreError> {
        const OP: &str = "cases";
        let filter = filter.clone();
        self.run(OP, move |conn| {
            collect(
                conn,
                OP,
                &format!(
                    "SELECT {CASE_COLUMNS} FROM cases
                     WHERE (?1 IS NULL OR status = ?1)
                       AND (?2 IS NULL OR assignee = ?2)
                       AND (?3 IS NULL OR reported_user = ?3)
                       AND (?4 IS NULL OR kind = ?4)
                     ORDER BY received_at_ms DESC, id DESC
                     LIMIT ?5"
                ),
                params![
                    filter.status.map(CaseStatus::as_str),
                    filter.assignee.as_ref().map(AccountName::as_str),
                    filter.reported_user,
                    filter.kind.map(ConversationKind::as_str),
                    i64::from(list_limit(&filter))
                ],
                |row| rows::summary(row, INVALID_CASE),
            )
        })
        .await
    }

    pub(super) async fn case(&self, id: &CaseId) -> Result<Option<CaseDetail>, StoreError> {
        const OP: &str = "case";
        let id = id.clone();
        self.run(OP, move |conn| {
            // One read transaction: the case and its parts as of one moment.
            let tx = conn.transaction().map_err(|_| backend(OP))?;
            let found = one(
                &tx,
                OP,
                &format!("SELECT {CASE_COLUMNS} FROM cases WHERE id = ?1"),
                [&id.0],
                |row| Ok((rows::summary(row, INVALID_CASE)?, rows::case_extra(row)?)),
            )?;
            let Some((summary, extra)) = found else {
                return Ok(None);
            };
            let messages = collect(
                &tx,
                OP,
                &format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE case_id = ?1 ORDER BY idx"),
                [&id.0],
                |row| rows::message(row),
            )?;
            let notes = collect(
                &tx,
                OP,
                &format!("SELECT {NOTE_COLUMNS} FROM notes WHERE case_id = ?1 ORDER BY id"),
                [&id.0],
                |row| rows::note(row),
            )?;
            let actions = collect(
                &tx,
                OP,
                &format!("SELECT {ACTION_COLUMNS} FROM actions WHERE case_id = ?1 ORDER BY id"),
                [&id.0],
                |row| rows::action(row),
            )?;
            Ok(Some(case_detail(summary, extra, messages, notes, actions)))
        })
        .await
    }

    pub(super) async fn assign(
        &self,
        id: &CaseId,
        assignee: &AccountName,
        audit: NewAuditRecord,
    ) -> Result<(), StoreError> {
        const OP: &str = "assign";
        let (id, assignee) = (id.clone(), assignee.clone());
        self.write(OP, move |tx| {
            refuse_resolved(&case_status(tx, &id, OP)?)?;
            tx.execute(
                "UPDATE cases SET status = 'assigned', assignee = ?2 WHERE id = ?1",
                params![id.0, assignee.as_str()],
            )
            .map_err(|_| backend(OP))?;
            append(tx, &audit)?;
            Ok(())
        })
        .await
    }

    pub(super) async fn add_note(
        &self,
        id: &CaseId,
        note: Note,
        audit: NewAuditRecord,
    ) -> Result<(), StoreError> {
        const OP: &str = "add_note";
        let id = id.clone();
        self.write(OP, move |tx| {
            case_status(tx, &id, OP)?;
            let inserted = tx
                .execute(
                    "INSERT INTO notes (case_id, author, at_ms, text) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (case_id, author, at_ms) DO NOTHING",
                    params![id.0, note.author.as_str(), int(note.at_ms), note.text.0],
                )
                .map_err(|_| backend(OP))?;
            if inserted == 0 {
                return Err(StoreError::NoteExists);
            }
            append(tx, &audit)?;
            Ok(())
        })
        .await
    }

    pub(super) async fn record_action(
        &self,
        id: &CaseId,
        action: ActionRecord,
        resolve_with: Option<&str>,
        audit: NewAuditRecord,
    ) -> Result<(), StoreError> {
        const OP: &str = "record_action";
        let id = id.clone();
        let resolve_with = resolve_with.map(str::to_owned);
        self.write(OP, move |tx| {
            refuse_resolved(&case_status(tx, &id, OP)?)?;
            tx.execute(
                "INSERT INTO actions (case_id, by_name, at_ms, action, target, result)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    id.0,
                    action.by.as_str(),
                    int(action.at_ms),
                    action.action,
                    action.target,
                    action.result
                ],
            )
            .map_err(|_| backend(OP))?;
            if let Some(outcome) = resolve_with {
                tx.execute(
                    "UPDATE cases SET status = 'resolved', outcome = ?2 WHERE id = ?1",
                    params![id.0, outcome],
                )
                .map_err(|_| backend(OP))?;
            }
            append(tx, &audit)?;
            Ok(())
        })
        .await
    }

    pub(super) async fn set_attachment(
        &self,
        id: &CaseId,
        index: u32,
        attachment: CaseAttachment,
    ) -> Result<(), StoreError> {
        const OP: &str = "set_attachment";
        let id = id.clone();
        self.write(OP, move |tx| {
            let updated = tx
                .execute(
                    "UPDATE messages SET att_status = ?3, att_media_type = ?4,
                         att_file_name = ?5, att_bytes = ?6, att_size = ?7
                     WHERE case_id = ?1 AND idx = ?2",
                    params![
                        id.0,
                        i64::from(index),
                        attachment.status,
                        attachment.media_type,
                        attachment.file_name.0,
                        attachment.bytes.map(|b| b.0),
                        int(attachment.size)
                    ],
                )
                .map_err(|_| backend(OP))?;
            if updated == 0 {
                return Err(StoreError::UnknownCase);
            }
            Ok(())
        })
        .await
    }

    pub(super) async fn record_feedback(
        &self,
        id: &CaseId,
        at_ms: u64,
        audit: NewAuditRecord,
    ) -> Result<(), StoreError> {
        const OP: &str = "record_feedback";
        let id = id.clone();
        self.write(OP, move |tx| {
            case_status(tx, &id, OP)?;
            tx.execute(
                "UPDATE cases SET feedback_sent_at_ms = ?2 WHERE id = ?1",
                params![id.0, int(at_ms)],
            )
            .map_err(|_| backend(OP))?;
            append(tx, &audit)?;
            Ok(())
        })
        .await
    }
}

/// The status of case `id`, or [`StoreError::UnknownCase`].
fn case_status(tx: &Transaction<'_>, id: &CaseId, op: &'static str) -> Result<String, StoreError> {
    tx.query_row("SELECT status FROM cases WHERE id = ?1", [&id.0], |row| {
        row.get(0)
    })
    .optional()
    .map_err(|_| backend(op))?
    .ok_or(StoreError::UnknownCase)
}

/// Inserts one message of a new case with its stored verdict.
fn insert_message(
    tx: &Transaction<'_>,
    case: &CaseId,
    message: &CaseMessage,
    verdict: &str,
) -> Result<(), StoreError> {
    const OP: &str = "open_case";
    let attachment = message.attachment.as_ref();
    tx.execute(
        "INSERT INTO messages (case_id, idx, sender, recipient, content_type, text, commitment,
             server_time_ms, verdict, rejection, att_status, att_media_type, att_file_name,
             att_bytes, att_size)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
        params![
            case.0,
            i64::from(message.index),
            message.sender,
            message.recipient,
            message.content_type,
            message.text.0,
            message.commitment,
            int(message.server_time_ms),
            verdict,
            message.rejection,
            attachment.map(|a| a.status.as_str()),
            attachment.map(|a| a.media_type.as_str()),
            attachment.map(|a| a.file_name.0.as_slice()),
            attachment
                .and_then(|a| a.bytes.as_ref())
                .map(|b| b.0.as_slice()),
            attachment.map(|a| int(a.size)),
        ],
    )
    .map_err(|_| backend(OP))?;
    Ok(())
}
