//! The report inbox: devices submit sealed reports (`POST /v1/reports`),
//! and the moderation tool, with its own credential, pulls and acknowledges
//! them (`/v1/moderation/reports`, `spec/relay-api.md` §4.14-§4.16).
//!
//! The relay cannot open a report. What it adds is what only it knows: the
//! device that submitted the report, as it authenticated it, and when.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Extension, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::{FRAME_MEDIA_TYPE, Relay, Session, body_bytes, random};
use crate::error::ApiError;
use crate::store::{NewReport, Store};
use fuin_wire::limits::{MAX_FRAME_LEN, MAX_USER_ID_LEN};
use fuin_wire::relay::{
    InboxBatch, InboxEntry, InboxSealedReport, MAX_REPORTS_PER_BATCH, ReportAccepted,
    ReportAcknowledgement, ReportId,
};
use fuin_wire::{Frame, FrameBody, FrameKind, HybridSealedReport, WireError};

/// What an `InboxEntry` adds to its stored sealed report frame, at most:
/// the id, the widest reporter address, the widest time and the form's
/// enum index. (The stored frame's version byte and tag, which the element
/// lacks, are left in as slack.)
const INBOX_REPORT_OVERHEAD: usize = 16 + (1 + MAX_USER_ID_LEN + 5) + 10 + 1;
/// The stored reports' total length that keeps a full batch within the
/// frame limit: the limit, less the batch's version, tag and one-byte count,
/// less every report's overhead.
const BATCH_BUDGET: usize = MAX_FRAME_LEN - 3 - MAX_REPORTS_PER_BATCH * INBOX_REPORT_OVERHEAD;

/// `POST /v1/reports`: keeps a device's sealed report for the moderation
/// tool, with the device's address and the time.
pub(super) async fn submit<S: Store>(
    State(relay): State<Arc<Relay<S>>>,
    Extension(session): Extension<Session>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let reporter = session.device;
    let body = body_bytes(body)?;
    match HybridSealedReport::from_bytes(&body) {
        Ok(_) => {}
        Err(WireError::UnexpectedFrame {
            found: FrameKind::SealedReport,
            ..
        }) => {
            // Sealed to an X25519-only key: storing it would keep a report
            // that a future break of X25519 opens.
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "report_not_post_quantum",
                "reports sealed to an X25519-only moderation key are no longer accepted: \
                 seal it to the hybrid moderation key",
            ));
        }
        Err(err) => return Err(err.into()),
    }
    let report_id = ReportId(random());
    let received_at_ms = relay.now();
    relay
        .store
        .put_report(NewReport {
            report_id,
            reporter,
            received_at_ms,
            expires_at_ms: received_at_ms + relay.config.report_lifetime.as_millis() as u64,
            // The frame as submitted: decoding checked that it is canonical.
            report: body.to_vec(),
        })
        .await?;
    let accepted = ReportAccepted {
        report_id,
        received_at_ms,
    };
    Ok((
        StatusCode::CREATED,
        [(header::CONTENT_TYPE, FRAME_MEDIA_TYPE)],
        accepted.to_bytes()?,
    )
        .into_response())
}

/// Admits the moderation tool: `Authorization: Moderation <64 hex digits>`
/// whose SHA-256 is the configured credential hash. Without a configured
/// hash the moderation endpoints do not exist.
fn authenticate_moderation<S: Store>(
    relay: &Relay<S>,
    headers: &HeaderMap,
) -> Result<(), ApiError> {
    let Some(expected) = relay.config.moderation_credential_hash else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no such endpoint",
        ));
    };
    let refused = || {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid moderation credential is required",
        )
    };
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Moderation "))
        .ok_or_else(refused)?;
    let mut credential = Zeroizing::new([0u8; 32]);
    hex::decode_to_slice(value, credential.as_mut()).map_err(|_| refused())?;
    let presented: [u8; 32] = Sha256::digest(credential.as_ref()).into();
    if bool::from(presented.ct_eq(&expected)) {
        Ok(())
    } else {
        Err(refused())
    }
}

/// The moderation endpoints' gate, run from the request's head before any
/// byte of its body is read (as the bearer endpoints' is).
pub(super) async fn require_moderation<S: Store>(
    State(relay): State<Arc<Relay<S>>>,
    request: Request,
    next: Next,
) -> Response {
    if let Err(refused) = authenticate_moderation(&relay, request.headers()) {
        let mut response = refused.into_response();
        if super::session::announces_body(&request) {
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        return response;
    }
    next.run(request).await
}

fn internal() -> ApiError {
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "a stored report could not be read",
    )
}

/// `GET /v1/moderation/reports`: the oldest waiting reports, as many as fit
/// one frame (at most [`MAX_REPORTS_PER_BATCH`]), without removing them.
pub(super) async fn pull<S: Store>(
    State(relay): State<Arc<Relay<S>>>,
) -> Result<Response, ApiError> {
    let stored = relay
        .store
        .fetch_reports(MAX_REPORTS_PER_BATCH, BATCH_BUDGET, relay.now())
        .await?;
    let mut reports = Vec::with_capacity(stored.len());
    for report in &stored {
        // The relay wrote these bytes itself: failing to read them back is
        // the server's fault, not the client's.
        // Rows stored before protocol version 3 hold an X25519-only report:
        // served as such, so that moderation still opens them.
        let sealed = match Frame::decode(&report.report).map_err(|_| internal())? {
            Frame::HybridSealedReport(sealed) => InboxSealedReport::Hybrid(sealed),
            Frame::SealedReport(sealed) => InboxSealedReport::X25519Only(sealed),
            _ => return Err(internal()),
        };
        reports.push(InboxEntry {
            report_id: report.report_id,
            reporter: report.reporter.clone(),
            received_at_ms: report.received_at_ms,
            report: sealed,
        });
    }
    let batch = InboxBatch {
        reports: reports.into(),
    };
    // The budget keeps the batch within the frame limit.
    let bytes = batch.to_bytes().map_err(|_| internal())?;
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, FRAME_MEDIA_TYPE)],
        bytes,
    )
        .into_response())
}

/// `POST /v1/moderation/reports/ack`: deletes the named reports.
pub(super) async fn acknowledge<S: Store>(
    State(relay): State<Arc<Relay<S>>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body_bytes(body)?;
    let ack = ReportAcknowledgement::from_bytes(&body)?;
    relay.store.ack_reports(ack.report_ids.as_slice()).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use fuin_wire::{
        DeviceAddress, DeviceId, MlKemCiphertext, Opaque, SealedReport, UserId, X25519PublicKey,
    };

    fn entry(report: InboxSealedReport<'static>) -> InboxEntry<'static> {
        InboxEntry {
            report_id: ReportId([3; 16]),
            reporter: DeviceAddress::new(
                UserId::new("r".repeat(MAX_USER_ID_LEN)).unwrap(),
                DeviceId(u32::MAX),
            ),
            received_at_ms: u64::MAX,
            report,
        }
    }

    fn inbox_report(ciphertext_len: usize) -> (Vec<u8>, InboxEntry<'static>) {
        let report = HybridSealedReport {
            moderation_key_id: u32::MAX,
            ephemeral_key: X25519PublicKey([1; 32]),
            kem_ciphertext: MlKemCiphertext([4; MlKemCiphertext::LEN]),
            ciphertext: Opaque::from(vec![2; ciphertext_len]),
        };
        let stored = report.to_bytes().unwrap();
        (stored, entry(InboxSealedReport::Hybrid(report)))
    }

    /// The overhead is what an element adds to its stored frame, at most,
    /// whichever form the stored report has.
    #[test]
    fn the_overhead_covers_the_widest_report() {
        let (stored, inbox) = inbox_report(100);
        let batch = InboxBatch {
            reports: vec![inbox].into(),
        }
        .to_bytes()
        .unwrap();
        assert_eq!(batch.len() - 3, stored.len() - 2 + INBOX_REPORT_OVERHEAD);
        let old = SealedReport {
            moderation_key_id: u32::MAX,
            ephemeral_key: X25519PublicKey([1; 32]),
            ciphertext: Opaque::from(vec![2; 100]),
        };
        let stored = old.to_bytes().unwrap();
        let batch = InboxBatch {
            reports: vec![entry(InboxSealedReport::X25519Only(old))].into(),
        }
        .to_bytes()
        .unwrap();
        assert_eq!(batch.len() - 3, stored.len() - 2 + INBOX_REPORT_OVERHEAD);
    }

    /// Reports whose stored lengths add up to the budget fill a full batch
    /// within the frame limit.
    #[test]
    fn a_full_batch_at_the_budget_fits_one_frame() {
        let each = BATCH_BUDGET / MAX_REPORTS_PER_BATCH;
        // The largest report whose stored frame is at most `each` bytes.
        let (stored, inbox) = (0..each)
            .rev()
            .map(inbox_report)
            .find(|(stored, _)| stored.len() <= each)
            .unwrap();
        assert!(stored.len() + 4 > each);
        let batch = InboxBatch {
            reports: vec![inbox; MAX_REPORTS_PER_BATCH].into(),
        };
        assert!(batch.to_bytes().is_ok_and(|b| b.len() <= MAX_FRAME_LEN));
    }
}
