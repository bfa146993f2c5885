//! An in-memory `ModerationStore` for the console's tests, kept to the
//! trait's documented rules (used until the SQLite store lands).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;

use fuin_moderation::audit::{AuditAction, AuditRecord, NewAuditRecord};
use fuin_moderation::model::{
    Account, AccountName, ActionRecord, CaseAttachment, CaseDetail, CaseFilter, CaseId, CaseStatus,
    CaseSummary, LockoutPolicy, NewCase, Note, Session,
};
use fuin_moderation::store::{LoginCount, ModerationStore, StoreError};

#[derive(Default)]
struct State {
    accounts: BTreeMap<AccountName, Account>,
    sessions: HashMap<[u8; 32], Session>,
    cases: BTreeMap<CaseId, CaseDetail>,
    counted: HashSet<(String, String)>,
    audit: Vec<AuditRecord>,
}

impl State {
    fn append(&mut self, record: &NewAuditRecord) -> AuditRecord {
        let record = record.chain_after(self.audit.last());
        self.audit.push(record.clone());
        record
    }
}

/// The fake store.
#[derive(Default)]
pub struct FakeStore {
    state: Mutex<State>,
}

impl FakeStore {
    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        let mut state = self.state.lock().unwrap();
        f(&mut state)
    }

    /// Replaces one stored record's detail (to break the chain in a test).
    pub fn tamper(&self, seq: u64, detail: &str) {
        self.with(|s| {
            if let Some(r) = s.audit.iter_mut().find(|r| r.seq == seq) {
                r.detail = detail.to_owned();
            }
        });
    }
}

impl ModerationStore for FakeStore {
    async fn create_account(
        &self,
        account: Account,
        audit: NewAuditRecord,
    ) -> Result<(), StoreError> {
        self.with(|s| {
            if s.accounts.contains_key(&account.name) {
                return Err(StoreError::AccountExists);
            }
            s.accounts.insert(account.name.clone(), account);
            s.append(&audit);
            Ok(())
        })
    }

    async fn account(&self, name: &AccountName) -> Result<Option<Account>, StoreError> {
        Ok(self.with(|s| s.accounts.get(name).cloned()))
    }

    async fn accounts(&self) -> Result<Vec<Account>, StoreError> {
        Ok(self.with(|s| s.accounts.values().cloned().collect()))
    }

    async fn record_login_failure(
        &self,
        name: &AccountName,
        now_ms: u64,
        policy: LockoutPolicy,
        audit: NewAuditRecord,
    ) -> Result<LoginCount, StoreError> {
        self.with(|s| {
            let account = s.accounts.get_mut(name).ok_or(StoreError::UnknownAccount)?;
            account.failed_logins += 1;
            let failures = account.failed_logins;
            let count = if failures >= policy.max_failures {
                let until_ms = now_ms + policy.lock_ms;
                account.locked_until_ms = Some(until_ms);
                account.failed_logins = 0;
                LoginCount::Locked { until_ms }
            } else {
                LoginCount::Counted { failures }
            };
            s.append(&audit);
            if let LoginCount::Locked { until_ms } = count {
                s.append(&NewAuditRecord {
                    time_ms: now_ms,
                    actor: name.as_str().to_owned(),
                    action: AuditAction::LockedOut,
                    case: None,
                    detail: format!("{{\"until_ms\":{until_ms}}}"),
                });
            }
            Ok(count)
        })
    }

    async fn record_login(
        &self,
        session: Session,
        audit: NewAuditRecord,
    ) -> Result<(), StoreError> {
        self.with(|s| {
            let account = s
                .accounts
                .get_mut(&session.account)
                .ok_or(StoreError::UnknownAccount)?;
            account.failed_logins = 0;
            account.locked_until_ms = None;
            s.sessions.insert(session.token_hash, session);
            s.append(&audit);
            Ok(())
        })
    }

    async fn session(
        &self,
        token_hash: &[u8; 32],
        now_ms: u64,
    ) -> Result<Option<Session>, StoreError> {
        Ok(self.with(|s| {
            s.sessions
                .get(token_hash)
                .filter(|session| session.expires_at_ms > now_ms)
                .cloned()
        }))
    }

    async fn end_session(
        &self,
        token_hash: &[u8; 32],
        audit: NewAuditRecord,
    ) -> Result<(), StoreError> {
        self.with(|s| {
            s.sessions.remove(token_hash);
            s.append(&audit);
            Ok(())
        })
    }

    async fn has_case(&self, id: &CaseId) -> Result<bool, StoreError> {
        Ok(self.with(|s| s.cases.contains_key(id)))
    }

    async fn open_case(
        &self,
        case: NewCase,
        audit: NewAuditRecord,
    ) -> Result<CaseSummary, StoreError> {
        self.with(|s| {
            if s.cases.contains_key(&case.id) {
                return Err(StoreError::CaseExists);
            }
            let mut messages = case.messages;
            for message in &mut messages {
                if message.verdict == "verified"
                    && !s
                        .counted
                        .insert((case.reporter_user.clone(), message.commitment.clone()))
                {
                    message.verdict = "duplicate".into();
                }
            }
            let count = |v: &str| messages.iter().filter(|m| m.verdict == v).count() as u32;
            let summary = CaseSummary {
                id: case.id.clone(),
                status: CaseStatus::New,
                assignee: None,
                reporter: case.reporter,
                reported_user: case.reported_user,
                kind: case.kind,
                received_at_ms: case.received_at_ms,
                opened_at_ms: case.opened_at_ms,
                verified: count("verified"),
                duplicates: count("duplicate"),
                rejected: count("rejected"),
                outcome: None,
            };
            s.cases.insert(
                case.id.clone(),
                CaseDetail {
                    summary: summary.clone(),
                    reason: case.reason,
                    group: case.group,
                    created_at_ms: case.created_at_ms,
                    post_quantum: case.post_quantum,
                    messages,
                    notes: Vec::new(),
                    actions: Vec::new(),
                    feedback_sent_at_ms: None,
                },
            );
            s.append(&audit);
            Ok(summary)
        })
    }

    async fn record_refusal(&self, audit: NewAuditRecord) -> Result<(), StoreError> {
        self.with(|s| {
            s.append(&audit);
            Ok(())
        })
    }

    async fn cases(&self, filter: &CaseFilter) -> Result<Vec<CaseSummary>, StoreError> {
        Ok(self.with(|s| {
            let mut out: Vec<CaseSummary> = s
                .cases
                .values()
                .map(|c| c.summary.clone())
                .filter(|c| filter.status.is_none_or(|x| c.status == x))
                .filter(|c| filter.kind.is_none_or(|x| c.kind == x))
                .filter(|c| {
                    filter
                        .assignee
                        .as_ref()
                        .is_none_or(|x| c.assignee.as_ref() == Some(x))
                })
                .filter(|c| {
                    filter
                        .reported_user
                        .as_ref()
                        .is_none_or(|x| c.reported_user.as_ref() == Some(x))
                })
                .collect();
            out.sort_by_key(|c| std::cmp::Reverse(c.received_at_ms));
            out
        }))
    }

    async fn case(&self, id: &CaseId) -> Result<Option<CaseDetail>, StoreError> {
        Ok(self.with(|s| s.cases.get(id).cloned()))
    }

    async fn record(&self, audit: NewAuditRecord) -> Result<AuditRecord, StoreError> {
        Ok(self.with(|s| s.append(&audit)))
    }

    async fn assign(
        &self,
        id: &CaseId,
        assignee: &AccountName,
        audit: NewAuditRecord,
    ) -> Result<(), StoreError> {
        self.with(|s| {
            let case = s.cases.get_mut(id).ok_or(StoreError::UnknownCase)?;
            if case.summary.status == CaseStatus::Resolved {
                return Err(StoreError::CaseResolved);
            }
            case.summary.status = CaseStatus::Assigned;
            case.summary.assignee = Some(assignee.clone());
            s.append(&audit);
            Ok(())
        })
    }

    async fn add_note(
        &self,
        id: &CaseId,
        note: Note,
        audit: NewAuditRecord,
    ) -> Result<(), StoreError> {
        self.with(|s| {
            let case = s.cases.get_mut(id).ok_or(StoreError::UnknownCase)?;
            case.notes.push(note);
            s.append(&audit);
            Ok(())
        })
    }

    async fn record_action(
        &self,
        id: &CaseId,
        action: ActionRecord,
        resolve_with: Option<&str>,
        audit: NewAuditRecord,
    ) -> Result<(), StoreError> {
        self.with(|s| {
            let case = s.cases.get_mut(id).ok_or(StoreError::UnknownCase)?;
            if case.summary.status == CaseStatus::Resolved {
                return Err(StoreError::CaseResolved);
            }
            case.actions.push(action);
            if let Some(outcome) = resolve_with {
                case.summary.status = CaseStatus::Resolved;
                case.summary.outcome = Some(outcome.to_owned());
            }
            s.append(&audit);
            Ok(())
        })
    }

    async fn set_attachment(
        &self,
        id: &CaseId,
        index: u32,
        attachment: CaseAttachment,
    ) -> Result<(), StoreError> {
        self.with(|s| {
            let case = s.cases.get_mut(id).ok_or(StoreError::UnknownCase)?;
            let message = case
                .messages
                .iter_mut()
                .find(|m| m.index == index)
                .ok_or(StoreError::UnknownCase)?;
            message.attachment = Some(attachment);
            Ok(())
        })
    }

    async fn record_feedback(
        &self,
        id: &CaseId,
        at_ms: u64,
        audit: NewAuditRecord,
    ) -> Result<(), StoreError> {
        self.with(|s| {
            let case = s.cases.get_mut(id).ok_or(StoreError::UnknownCase)?;
            case.feedback_sent_at_ms = Some(at_ms);
            s.append(&audit);
            Ok(())
        })
    }

    async fn audit_log(&self) -> Result<Vec<AuditRecord>, StoreError> {
        Ok(self.with(|s| s.audit.clone()))
    }

    async fn case_audit(&self, id: &CaseId) -> Result<Vec<AuditRecord>, StoreError> {
        Ok(self.with(|s| s.audit.iter().filter(|r| r.case == id.0).cloned().collect()))
    }
}
