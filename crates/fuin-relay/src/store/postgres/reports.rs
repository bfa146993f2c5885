//! The PostgreSQL store's report inbox.

use fuin_wire::relay::ReportId;
use fuin_wire::{DeviceAddress, UserId};
use tokio_postgres::error::SqlState;

use super::health;
use super::{Op, PostgresStore, backend, backend_at, corrupt, device_id, fixed, key, sql_time};
use crate::store::integrity::{self, report_checksum};
use crate::store::{NewReport, StoreError, StoredReport};

impl PostgresStore {
    pub(super) async fn put_report(&self, report: NewReport) -> Result<(), StoreError> {
        const OP: &str = "put_report";
        let (user, device) = key(&report.reporter);
        let client = self.client(OP).await?;
        let insert = client
            .prepare_cached(
                "INSERT INTO reports \
                 (report_id, user_id, device, received_at, expires_at, report, checksum) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .await
            .op(OP)?;
        let received_at = sql_time(report.received_at_ms);
        let checksum = report_checksum(
            &report.report_id.0,
            &user,
            device,
            received_at,
            &report.report,
        );
        client
            .execute(
                &insert,
                &[
                    &report.report_id.0.as_slice(),
                    &user,
                    &device,
                    &received_at,
                    &sql_time(report.expires_at_ms),
                    &report.report,
                    &checksum.as_slice(),
                ],
            )
            .await
            .map_err(|error| {
                if error.code() == Some(&SqlState::UNIQUE_VIOLATION) {
                    backend_at(OP, "duplicate report id")
                } else {
                    backend(OP)
                }
            })?;
        Ok(())
    }

    pub(super) async fn fetch_reports(
        &self,
        limit: usize,
        max_bytes: usize,
        now_ms: u64,
    ) -> Result<Vec<StoredReport>, StoreError> {
        const OP: &str = "fetch_reports";
        if limit == 0 {
            return Ok(Vec::new());
        }
        let now = sql_time(now_ms);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut client = self.client(OP).await?;
        // One snapshot for both steps.
        let transaction = client
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await
            .op(OP)?;
        // First the lengths (`octet_length` reads a stored value's size
        // without its bytes), so that only the reports that fit are read.
        let lengths = transaction
            .prepare_cached(
                "SELECT report_id, octet_length(report)::bigint FROM reports \
                 WHERE expires_at > $1 ORDER BY received_at, report_id LIMIT $2",
            )
            .await
            .op(OP)?;
        let mut chosen: Vec<Vec<u8>> = Vec::new();
        let mut total = 0usize;
        for row in transaction.query(&lengths, &[&now, &limit]).await.op(OP)? {
            let len: i64 = row.try_get(1).op(OP)?;
            total = total.saturating_add(usize::try_from(len).unwrap_or(usize::MAX));
            if !chosen.is_empty() && total > max_bytes {
                break;
            }
            chosen.push(row.try_get(0).op(OP)?);
        }
        let select = transaction
            .prepare_cached(
                "SELECT r.report_id, r.user_id, r.device, r.received_at, r.report, r.checksum \
                 FROM unnest($1::bytea[]) WITH ORDINALITY AS chosen (report_id, n) \
                 JOIN reports r ON r.report_id = chosen.report_id ORDER BY chosen.n",
            )
            .await
            .op(OP)?;
        let rows = transaction.query(&select, &[&chosen]).await.op(OP)?;
        health::commit(transaction, OP).await?;
        drop(client);
        let mut reports = Vec::with_capacity(rows.len());
        let mut corrupt_ids = Vec::new();
        for row in &rows {
            let id: Vec<u8> = row.try_get(0).op(OP)?;
            let user: String = row.try_get(1).op(OP)?;
            let device: i64 = row.try_get(2).op(OP)?;
            let received_at: i64 = row.try_get(3).op(OP)?;
            let report: Vec<u8> = row.try_get(4).op(OP)?;
            let checksum: Option<Vec<u8>> = row.try_get(5).op(OP)?;
            let expected = report_checksum(&id, &user, device, received_at, &report);
            if !integrity::matches(checksum.as_deref(), &expected) {
                corrupt_ids.push(id);
                continue;
            }
            let user = UserId::new(user).map_err(|_| corrupt(OP))?;
            reports.push(StoredReport {
                report_id: ReportId(fixed(row, 0, OP)?),
                reporter: DeviceAddress::new(user, device_id(device, OP)?),
                received_at_ms: u64::try_from(received_at).map_err(|_| corrupt(OP))?,
                report,
            });
        }
        if !corrupt_ids.is_empty() {
            self.quarantine(integrity::REPORT, corrupt_ids, now_ms)
                .await?;
        }
        Ok(reports)
    }

    pub(super) async fn ack_reports(&self, report_ids: &[ReportId]) -> Result<u64, StoreError> {
        const OP: &str = "ack_reports";
        if report_ids.is_empty() {
            return Ok(0);
        }
        let report_ids: Vec<&[u8]> = report_ids.iter().map(|id| id.0.as_slice()).collect();
        let client = self.client(OP).await?;
        let delete = client
            .prepare_cached("DELETE FROM reports WHERE report_id = ANY($1::bytea[])")
            .await
            .op(OP)?;
        client.execute(&delete, &[&report_ids]).await.op(OP)
    }
}
