//! The SQLite store's report inbox.

use fuin_wire::relay::ReportId;
use fuin_wire::{DeviceAddress, UserId};
use rusqlite::{ErrorCode, params};

use super::{
    Op, SqliteStore, backend, backend_at, corrupt, count_u64, device_id, fixed, key, sql_time,
};
use crate::store::integrity::{self, report_checksum};
use crate::store::{NewReport, StoreError, StoredReport};

impl SqliteStore {
    pub(super) async fn put_report(&self, report: NewReport) -> Result<(), StoreError> {
        const OP: &str = "put_report";
        let (user, device) = key(&report.reporter);
        self.write(OP, move |conn| {
            let received_at = sql_time(report.received_at_ms);
            let checksum = report_checksum(
                &report.report_id.0,
                &user,
                device,
                received_at,
                &report.report,
            );
            conn.prepare_cached(
                "INSERT INTO reports \
                   (report_id, user, device, received_at, expires_at, report, checksum) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )
            .op(OP)?
            .execute(params![
                report.report_id.0,
                user,
                device,
                received_at,
                sql_time(report.expires_at_ms),
                report.report,
                checksum
            ])
            .map_err(|error| {
                if error.sqlite_error_code() == Some(ErrorCode::ConstraintViolation) {
                    backend_at(OP, "duplicate report id")
                } else {
                    backend(OP)
                }
            })?;
            Ok(())
        })
        .await
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
        let (reports, corrupt_ids) = self
            .read(OP, move |conn| {
                // One snapshot for both steps.
                let snapshot = conn.unchecked_transaction().op(OP)?;
                // First the lengths (SQLite reads a blob's length without its
                // bytes), so that only the reports that fit are read.
                let mut statement = snapshot
                    .prepare_cached(
                        "SELECT report_id, length(report) FROM reports WHERE expires_at > ?1 \
                     ORDER BY received_at, report_id LIMIT ?2",
                    )
                    .op(OP)?;
                let rows = statement
                    .query_map(params![now, limit], |row| {
                        Ok((row.get::<_, Vec<u8>>(0)?, row.get::<_, i64>(1)?))
                    })
                    .op(OP)?;
                let mut chosen = Vec::new();
                let mut total = 0usize;
                for row in rows {
                    let (id, len) = row.op(OP)?;
                    total = total.saturating_add(usize::try_from(len).unwrap_or(usize::MAX));
                    if !chosen.is_empty() && total > max_bytes {
                        break;
                    }
                    chosen.push(id);
                }
                drop(statement);
                let mut select = snapshot
                    .prepare_cached(
                        "SELECT user, device, received_at, report, checksum FROM reports \
                     WHERE report_id = ?1",
                    )
                    .op(OP)?;
                let mut reports = Vec::with_capacity(chosen.len());
                let mut corrupt_ids = Vec::new();
                for id in chosen {
                    type Row = (String, i64, i64, Vec<u8>, Option<Vec<u8>>);
                    let (user, device, received_at, report, checksum): Row = select
                        .query_row(params![id], |row| {
                            Ok((
                                row.get(0)?,
                                row.get(1)?,
                                row.get(2)?,
                                row.get(3)?,
                                row.get(4)?,
                            ))
                        })
                        .op(OP)?;
                    let expected = report_checksum(&id, &user, device, received_at, &report);
                    if !integrity::matches(checksum.as_deref(), &expected) {
                        corrupt_ids.push(id);
                        continue;
                    }
                    let user = UserId::new(user).map_err(|_| corrupt(OP))?;
                    reports.push(StoredReport {
                        report_id: ReportId(fixed(id, OP)?),
                        reporter: DeviceAddress::new(user, device_id(device, OP)?),
                        received_at_ms: u64::try_from(received_at).map_err(|_| corrupt(OP))?,
                        report,
                    });
                }
                Ok((reports, corrupt_ids))
            })
            .await?;
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
        let report_ids = report_ids.to_vec();
        self.write(OP, move |conn| {
            let mut delete = conn
                .prepare_cached("DELETE FROM reports WHERE report_id = ?1")
                .op(OP)?;
            let mut deleted = 0;
            for report_id in &report_ids {
                deleted += count_u64(delete.execute(params![report_id.0]).op(OP)?);
            }
            Ok(deleted)
        })
        .await
    }
}
