//! The one [`super::ModerationStore`] impl each backend has: every method
//! hands over to the backend's inherent method of the same name, which
//! lives in the file of its concern (`accounts.rs`, `cases.rs`,
//! `audit.rs`).

/// Implements [`super::ModerationStore`] for `$store` by its inherent
/// methods (in a block of its own, so that its imports stay in it).
macro_rules! store_by_inherent_methods {
    ($store:ty) => {
        const _: () = {
            use $crate::audit::{AuditRecord, NewAuditRecord};
            use $crate::model::{
                Account, AccountName, ActionRecord, CaseAttachment, CaseDetail, CaseFilter, CaseId,
                CaseSummary, LockoutPolicy, NewCase, Note, Session,
            };
            use $crate::store::{LoginCount, ModerationStore, StoreError};

            impl ModerationStore for $store {
                async fn create_account(
                    &self,
                    account: Account,
                    audit: NewAuditRecord,
                ) -> Result<(), StoreError> {
                    <$store>::create_account(self, account, audit).await
                }

                async fn account(&self, name: &AccountName) -> Result<Option<Account>, StoreError> {
                    <$store>::account(self, name).await
                }

                async fn accounts(&self) -> Result<Vec<Account>, StoreError> {
                    <$store>::accounts(self).await
                }

                async fn record_login_failure(
                    &self,
                    name: &AccountName,
                    now_ms: u64,
                    policy: LockoutPolicy,
                    audit: NewAuditRecord,
                ) -> Result<LoginCount, StoreError> {
                    <$store>::record_login_failure(self, name, now_ms, policy, audit).await
                }

                async fn record_login(
                    &self,
                    session: Session,
                    audit: NewAuditRecord,
                ) -> Result<(), StoreError> {
                    <$store>::record_login(self, session, audit).await
                }

                async fn session(
                    &self,
                    token_hash: &[u8; 32],
                    now_ms: u64,
                ) -> Result<Option<Session>, StoreError> {
                    <$store>::session(self, token_hash, now_ms).await
                }

                async fn end_session(
                    &self,
                    token_hash: &[u8; 32],
                    audit: NewAuditRecord,
                ) -> Result<(), StoreError> {
                    <$store>::end_session(self, token_hash, audit).await
                }

                async fn has_case(&self, id: &CaseId) -> Result<bool, StoreError> {
                    <$store>::has_case(self, id).await
                }

                async fn open_case(
                    &self,
                    case: NewCase,
                    audit: NewAuditRecord,
                ) -> Result<CaseSummary, StoreError> {
                    <$store>::open_case(self, case, audit).await
                }

                async fn record_refusal(&self, audit: NewAuditRecord) -> Result<(), StoreError> {
                    <$store>::record_refusal(self, audit).await
                }

                async fn cases(&self, filter: &CaseFilter) -> Result<Vec<CaseSummary>, StoreError> {
                    <$store>::cases(self, filter).await
                }

                async fn case(&self, id: &CaseId) -> Result<Option<CaseDetail>, StoreError> {
                    <$store>::case(self, id).await
                }

                async fn record(&self, audit: NewAuditRecord) -> Result<AuditRecord, StoreError> {
                    <$store>::record(self, audit).await
                }

                async fn assign(
                    &self,
                    id: &CaseId,
                    assignee: &AccountName,
                    audit: NewAuditRecord,
                ) -> Result<(), StoreError> {
                    <$store>::assign(self, id, assignee, audit).await
                }

                async fn add_note(
                    &self,
                    id: &CaseId,
                    note: Note,
                    audit: NewAuditRecord,
                ) -> Result<(), StoreError> {
                    <$store>::add_note(self, id, note, audit).await
                }

                async fn record_action(
                    &self,
                    id: &CaseId,
                    action: ActionRecord,
                    resolve_with: Option<&str>,
                    audit: NewAuditRecord,
                ) -> Result<(), StoreError> {
                    <$store>::record_action(self, id, action, resolve_with, audit).await
                }

                async fn set_attachment(
                    &self,
                    id: &CaseId,
                    index: u32,
                    attachment: CaseAttachment,
                ) -> Result<(), StoreError> {
                    <$store>::set_attachment(self, id, index, attachment).await
                }

                async fn record_feedback(
                    &self,
                    id: &CaseId,
                    at_ms: u64,
                    audit: NewAuditRecord,
                ) -> Result<(), StoreError> {
                    <$store>::record_feedback(self, id, at_ms, audit).await
                }

                async fn audit_log(&self) -> Result<Vec<AuditRecord>, StoreError> {
                    <$store>::audit_log(self).await
                }

                async fn case_audit(&self, id: &CaseId) -> Result<Vec<AuditRecord>, StoreError> {
                    <$store>::case_audit(self, id).await
                }
            }
        };
    };
}
