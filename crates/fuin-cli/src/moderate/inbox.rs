//! Pulling the relay's report inbox (`spec/relay-api.md` §4.15, §4.16):
//! each waiting report is stored in the inbox directory, synced to disk, and
//! only then acknowledged, so a pull that fails midway loses nothing.

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use fuin_wire::relay::{InboxBatch, InboxEntry, ReportAcknowledgement, ReportId};
use fuin_wire::{DeviceAddress, FrameBody};
use zeroize::Zeroizing;

use crate::output::Failure;

/// The most pull rounds one command makes (32 reports each).
const MAX_ROUNDS: usize = 10_000;

/// A report taken from the inbox and stored.
pub struct Pulled {
    pub report_id: ReportId,
    pub reporter: DeviceAddress<'static>,
    pub received_at_ms: u64,
    pub path: PathBuf,
}

fn relay_failure(why: String) -> Failure {
    Failure::new(
        "moderation_relay",
        why,
        "check the relay's address, that it runs with --moderation-credential-hash, \
         and the credential file",
    )
}

fn inbox_failure(path: &Path, err: &std::io::Error) -> Failure {
    Failure::new(
        "inbox",
        format!("cannot store a report in {}: {err}", path.display()),
        "give --inbox a writable directory",
    )
}

/// The file a report is stored in.
pub fn report_path(inbox: &Path, id: &ReportId) -> PathBuf {
    inbox.join(format!("{}.report", hex::encode(id.0)))
}

/// Writes `bytes` to `path` whole: a temporary file, synced, then renamed.
fn store(path: &Path, bytes: &[u8]) -> Result<(), Failure> {
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".partial");
    let temporary = PathBuf::from(temporary);
    let mut file = std::fs::File::create(&temporary).map_err(|err| inbox_failure(path, &err))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .and_then(|()| std::fs::rename(&temporary, path))
        .map_err(|err| inbox_failure(path, &err))?;
    if let Some(dir) = path.parent()
        && let Ok(dir) = std::fs::File::open(dir)
    {
        let _ = dir.sync_all();
    }
    Ok(())
}

async fn call(request: reqwest::RequestBuilder, credential: &[u8; 32]) -> Result<Vec<u8>, Failure> {
    let auth = Zeroizing::new(format!("Moderation {}", hex::encode(credential)));
    let response = request
        .header(reqwest::header::AUTHORIZATION, auth.as_str())
        .send()
        .await
        .map_err(|err| relay_failure(format!("the relay could not be reached: {err}")))?;
    let status = response.status();
    let body = response
        .bytes()
        .await
        .map_err(|err| relay_failure(format!("the relay's answer could not be read: {err}")))?;
    match status.as_u16() {
        200..=299 => Ok(body.to_vec()),
        401 => Err(relay_failure(
            "the relay refused the moderation credential (401)".into(),
        )),
        404 => Err(relay_failure(
            "the relay has no report inbox for moderation (404): it runs without \
             --moderation-credential-hash"
                .into(),
        )),
        other => Err(relay_failure(format!(
            "the relay answered {other}: {}",
            String::from_utf8_lossy(&body)
                .chars()
                .take(200)
                .collect::<String>()
        ))),
    }
}

/// Pulls every waiting report into `inbox` and acknowledges it.
pub async fn pull(
    relay_url: &str,
    credential: &[u8; 32],
    inbox: &Path,
    relay_certificate: Option<&[u8]>,
) -> Result<Vec<Pulled>, Failure> {
    std::fs::create_dir_all(inbox).map_err(|err| inbox_failure(inbox, &err))?;
    let base = relay_url.trim_end_matches('/');
    if !(base.starts_with("http://") || base.starts_with("https://")) {
        return Err(Failure::new(
            "invalid_argument",
            format!("the relay address {base:?} must start with http:// or https://"),
            "give the relay's URL, such as http://127.0.0.1:8080",
        ));
    }
    let mut builder = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(120));
    if let Some(pem) = relay_certificate {
        let certificate = reqwest::Certificate::from_pem(pem).map_err(|err| {
            Failure::new(
                "relay_cert",
                format!("the relay certificate is unreadable: {err}"),
                "give the relay's certificate as a PEM file",
            )
        })?;
        builder = builder.add_root_certificate(certificate);
    }
    let http = builder
        .build()
        .map_err(|err| relay_failure(format!("HTTP client: {err}")))?;
    let mut pulled = Vec::new();
    let mut acknowledged = HashSet::new();
    for _ in 0..MAX_ROUNDS {
        let bytes = call(
            http.get(format!("{base}/v1/moderation/reports")),
            credential,
        )
        .await?;
        let batch = InboxBatch::from_bytes(&bytes).map_err(|err| {
            relay_failure(format!("the relay's report batch is malformed: {err}"))
        })?;
        if batch.reports.is_empty() {
            return Ok(pulled);
        }
        let mut ids = Vec::new();
        for report in batch.reports.as_slice() {
            if !acknowledged.insert(report.report_id) {
                return Err(relay_failure(
                    "the relay handed out a report again after it was acknowledged".into(),
                ));
            }
            let one = InboxBatch {
                reports: vec![InboxEntry::clone(report)].into(),
            };
            let frame = one
                .to_bytes()
                .map_err(|err| relay_failure(format!("a report cannot be stored: {err}")))?;
            let path = report_path(inbox, &report.report_id);
            store(&path, &frame)?;
            ids.push(report.report_id);
            pulled.push(Pulled {
                report_id: report.report_id,
                reporter: report.reporter.clone().into_owned(),
                received_at_ms: report.received_at_ms,
                path,
            });
        }
        let ack = ReportAcknowledgement {
            report_ids: ids.into(),
        };
        let ack = ack
            .to_bytes()
            .map_err(|err| relay_failure(format!("an acknowledgement cannot be made: {err}")))?;
        call(
            http.post(format!("{base}/v1/moderation/reports/ack"))
                .header(reqwest::header::CONTENT_TYPE, "application/x-fuin-frame")
                .body(ack),
            credential,
        )
        .await?;
    }
    Ok(pulled)
}
