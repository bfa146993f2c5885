//! The PostgreSQL store's cases: opening a report (with the duplicate
//! counting), listing and reading cases, and what changes them.

use tokio_postgres::Transaction;

use super::audit::{append, begin_write};
use super::{PgRow, PgStore, commit, get, read_rows};
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

fn invalid_case(op: &str) -> String {
    format!("{op}: a stored value is invalid")
}

impl PgStore {
    pub(super) async fn has_case(&self, id: &CaseId) -> Result<bool, StoreError> {
        const OP: &str = "has_case";
        let client = self.client(OP).await?;
        client
            .query_opt("SELECT 1 FROM moderation_cases WHERE id = $1", &[&id.0])
            .await
            .map(|row| row.is_some())
            .map_err(|_| backend(OP))
    }

    pub(super) async fn open_case(
        &self,
        case: NewCase,
        audit: NewAuditRecord,
    ) -> Result<CaseSummary, StoreError> {
        const OP: &str = "open_case";
        let mut client = self.client(OP).await?;
        let tx = begin_write(&mut client, OP).await?;
        let exists = tx
            .query_opt(
                "SELECT 1 FROM moderation_cases WHERE id = $1",
                &[&case.id.0],
            )
            .await
            .map_err(|_| backend(OP))?
            .is_some();
        if exists {
            return Err(StoreError::CaseExists);
        }
        tx.execute(
            "INSERT INTO moderation_cases (id, status, assignee, reporter, reporter_user,
                 reported_user, kind, group_id, reason, created_at_ms, received_at_ms,
                 opened_at_ms, post_quantum, verified, duplicates, rejected, outcome,
                 feedback_sent_at_ms)
             VALUES ($1, 'new', NULL, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 0, 0, 0,
                 NULL, NULL)",
            &[
                &case.id.0,
                &case.reporter,
                &case.reporter_user,
                &case.reported_user,
                &case.kind.as_str(),
                &case.group,
                &case.reason.0,
                &int(case.created_at_ms),
                &int(case.received_at_ms),
                &int(case.opened_at_ms),
                &case.post_quantum,
            ],
        )
        .await
        .map_err(|_| backend(OP))?;
        let mut counts = VerdictCounts::default();
        for message in &case.messages {
            let mut verdict = message.verdict.as_str();
            if verdict == "verified" {
                let counted = tx
                    .execute(
                        "INSERT INTO moderation_counted (reporter_user, commitment, case_id)
                         VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                        &[&case.reporter_user, &message.commitment, &case.id.0],
                    )
                    .await
                    .map_err(|_| backend(OP))?;
                verdict = stored_verdict(verdict, counted == 0);
            }
            counts.count(verdict);
            insert_message(&tx, &case.id, message, verdict).await?;
        }
        tx.execute(
            "UPDATE moderation_cases SET verified = $2, duplicates = $3, rejected = $4
             WHERE id = $1",
            &[
                &case.id.0,
                &i64::from(counts.verified),
                &i64::from(counts.duplicates),
                &i64::from(counts.rejected),
            ],
        )
        .await
        .map_err(|_| backend(OP))?;
        let mut audit = audit;
        audit.detail = detail_with_counts(&audit.detail, counts.verified, counts.duplicates)?;
        append(&tx, &audit).await?;
        commit(tx, OP).await?;
        Ok(opened_summary(case, counts))
    }

    pub(super) async fn cases(&self, filter: &CaseFilter) -> Result<Vec<CaseSummary>, StoreError> {
        const OP: &str = "cases";
        let client = self.client(OP).await?;
        let found = client
            .query(
                &format!(
                    "SELECT {CASE_COLUMNS} FROM moderation_cases
                     WHERE ($1::text IS NULL OR status = $1::text)
                       AND ($2::text IS NULL OR assignee = $2::text)
                       AND ($3::text IS NULL OR reported_user = $3::text)
                       AND ($4::text IS NULL OR kind = $4::text)
                     ORDER BY received_at_ms DESC, id DESC
                     LIMIT $5"
                ),
                &[
                    &filter.status.map(CaseStatus::as_str),
                    &filter.assignee.as_ref().map(AccountName::as_str),
                    &filter.reported_user,
                    &filter.kind.map(ConversationKind::as_str),
                    &i64::from(list_limit(filter)),
                ],
            )
            .await
            .map_err(|_| backend(OP))?;
        let invalid = invalid_case(OP);
        read_rows(&found, OP, |row| rows::summary(row, &invalid))
    }

    pub(super) async fn case(&self, id: &CaseId) -> Result<Option<CaseDetail>, StoreError> {
        const OP: &str = "case";
        let mut client = self.client(OP).await?;
        // One snapshot for the case and its parts.
        let tx = client
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await
            .map_err(|_| backend(OP))?;
        let Some(found) = tx
            .query_opt(
                &format!("SELECT {CASE_COLUMNS} FROM moderation_cases WHERE id = $1"),
                &[&id.0],
            )
            .await
            .map_err(|_| backend(OP))?
        else {
            return Ok(None);
        };
        let row = PgRow {
            row: &found,
            op: OP,
        };
        let summary = rows::summary(&row, &invalid_case(OP))?;
        let messages = tx
            .query(
                &format!(
                    "SELECT {MESSAGE_COLUMNS} FROM moderation_messages
                     WHERE case_id = $1 ORDER BY idx"
                ),
                &[&id.0],
            )
            .await
            .map_err(|_| backend(OP))?;
        let messages = read_rows(&messages, OP, |row| rows::message(row))?;
        let notes = tx
            .query(
                &format!(
                    "SELECT {NOTE_COLUMNS} FROM moderation_notes WHERE case_id = $1 ORDER BY id"
                ),
                &[&id.0],
            )
            .await
            .map_err(|_| backend(OP))?;
        let notes = read_rows(&notes, OP, |row| rows::note(row))?;
        let actions = tx
            .query(
                &format!(
                    "SELECT {ACTION_COLUMNS} FROM moderation_actions
                     WHERE case_id = $1 ORDER BY id"
                ),
                &[&id.0],
            )
            .await
            .map_err(|_| backend(OP))?;
        let actions = read_rows(&actions, OP, |row| rows::action(row))?;
        commit(tx, OP).await?;
        let extra = rows::case_extra(&row)?;
        Ok(Some(case_detail(summary, extra, messages, notes, actions)))
    }

    pub(super) async fn assign(
        &self,
        id: &CaseId,
        assignee: &AccountName,
        audit: NewAuditRecord,
    ) -> Result<(), StoreError> {
        const OP: &str = "assign";
        let mut client = self.client(OP).await?;
        let tx = begin_write(&mut client, OP).await?;
        refuse_resolved(&case_status(&tx, id, OP).await?)?;
        tx.execute(
            "UPDATE moderation_cases SET status = 'assigned', assignee = $2 WHERE id = $1",
            &[&id.0, &assignee.as_str()],
        )
        .await
        .map_err(|_| backend(OP))?;
        append(&tx, &audit).await?;
        commit(tx, OP).await
    }

    pub(super) async fn add_note(
        &self,
        id: &CaseId,
        note: Note,
        audit: NewAuditRecord,
    ) -> Result<(), StoreError> {
        const OP: &str = "add_note";
        let mut client = self.client(OP).await?;
        let tx = begin_write(&mut client, OP).await?;
        case_status(&tx, id, OP).await?;
        let inserted = tx
            .execute(
                "INSERT INTO moderation_notes (case_id, author, at_ms, text)
                 VALUES ($1, $2, $3, $4) ON CONFLICT (case_id, author, at_ms) DO NOTHING",
                &[&id.0, &note.author.as_str(), &int(note.at_ms), &note.text.0],
            )
            .await
            .map_err(|_| backend(OP))?;
        if inserted == 0 {
            return Err(StoreError::NoteExists);
        }
        append(&tx, &audit).await?;
        commit(tx, OP).await
    }

    pub(super) async fn record_action(
        &self,
        id: &CaseId,
        action: ActionRecord,
        resolve_with: Option<&str>,
        audit: NewAuditRecord,
    ) -> Result<(), StoreError> {
        const OP: &str = "record_action";
        let mut client = self.client(OP).await?;
        let tx = begin_write(&mut client, OP).await?;
        refuse_resolved(&case_status(&tx, id, OP).await?)?;
        tx.execute(
            "INSERT INTO moderation_actions (case_id, by_name, at_ms, action, target, result)
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                &id.0,
                &action.by.as_str(),
                &int(action.at_ms),
                &action.action,
                &action.target,
                &action.result,
            ],
        )
        .await
        .map_err(|_| backend(OP))?;
        if let Some(outcome) = resolve_with {
            tx.execute(
                "UPDATE moderation_cases SET status = 'resolved', outcome = $2 WHERE id = $1",
                &[&id.0, &outcome],
            )
            .await
            .map_err(|_| backend(OP))?;
        }
        append(&tx, &audit).await?;
        commit(tx, OP).await
    }

    pub(super) async fn set_attachment(
        &self,
        id: &CaseId,
        index: u32,
        attachment: CaseAttachment,
    ) -> Result<(), StoreError> {
        const OP: &str = "set_attachment";
        let client = self.client(OP).await?;
        let updated = client
            .execute(
                "UPDATE moderation_messages SET att_status = $3, att_media_type = $4,
                     att_file_name = $5, att_bytes = $6, att_size = $7
                 WHERE case_id = $1 AND idx = $2",
                &[
                    &id.0,
                    &i64::from(index),
                    &attachment.status,
                    &attachment.media_type,
                    &attachment.file_name.0,
                    &attachment.bytes.as_ref().map(|b| b.0.as_slice()),
                    &int(attachment.size),
                ],
            )
            .await
            .map_err(|_| backend(OP))?;
        if updated == 0 {
            return Err(StoreError::UnknownCase);
        }
        Ok(())
    }

    pub(super) async fn record_feedback(
        &self,
        id: &CaseId,
        at_ms: u64,
        audit: NewAuditRecord,
    ) -> Result<(), StoreError> {
        const OP: &str = "record_feedback";
        let mut client = self.client(OP).await?;
        let tx = begin_write(&mut client, OP).await?;
        case_status(&tx, id, OP).await?;
        tx.execute(
            "UPDATE moderation_cases SET feedback_sent_at_ms = $2 WHERE id = $1",
            &[&id.0, &int(at_ms)],
        )
        .await
        .map_err(|_| backend(OP))?;
        append(&tx, &audit).await?;
        commit(tx, OP).await
    }
}

/// The status of case `id`, or [`StoreError::UnknownCase`].
async fn case_status(tx: &Transaction<'_>, id: &CaseId, op: &str) -> Result<String, StoreError> {
    let row = tx
        .query_opt(
            "SELECT status FROM moderation_cases WHERE id = $1",
            &[&id.0],
        )
        .await
        .map_err(|_| backend(op))?
        .ok_or(StoreError::UnknownCase)?;
    get(&row, 0, op)
}

/// Inserts one message of a new case with its stored verdict.
async fn insert_message(
    tx: &Transaction<'_>,
    case: &CaseId,
    message: &CaseMessage,
    verdict: &str,
) -> Result<(), StoreError> {
    const OP: &str = "open_case";
    let attachment = message.attachment.as_ref();
    tx.execute(
        "INSERT INTO moderation_messages (case_id, idx, sender, recipient, content_type,
             text, commitment, server_time_ms, verdict, rejection, att_status,
             att_media_type, att_file_name, att_bytes, att_size)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
        &[
            &case.0,
            &i64::from(message.index),
            &message.sender,
            &message.recipient,
            &message.content_type,
            &message.text.0,
            &message.commitment,
            &int(message.server_time_ms),
            &verdict,
            &message.rejection,
            &attachment.map(|a| a.status.as_str()),
            &attachment.map(|a| a.media_type.as_str()),
            &attachment.map(|a| a.file_name.0.as_slice()),
            &attachment
                .and_then(|a| a.bytes.as_ref())
                .map(|b| b.0.as_slice()),
            &attachment.map(|a| int(a.size)),
        ],
    )
    .await
    .map_err(|_| backend(OP))?;
    Ok(())
}
