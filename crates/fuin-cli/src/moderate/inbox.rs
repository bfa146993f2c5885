//! Pulling the relay's report inbox (`spec/relay-api.md` §4.15, §4.16)
//! into files: each waiting report is stored in the inbox directory, synced
//! to disk, and only then acknowledged, so a pull that fails midway loses
//! nothing. The protocol itself is the service's
//! ([`fuin_moderation::ingest::RelayInbox`]).

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use fuin_moderation::ingest::{InboxError, RelayInbox};
use fuin_wire::relay::{InboxBatch, InboxEntry, ReportId};
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

/// A failure of the relay's inbox, as the command reports it.
fn inbox_protocol_failure(err: &InboxError) -> Failure {
    match err {
        InboxError::InvalidUrl(_) => Failure::new(
            "invalid_argument",
            err.to_string(),
            "give the relay's URL, such as http://127.0.0.1:8080",
        ),
        InboxError::Certificate(_) => Failure::new(
            "relay_cert",
            err.to_string(),
            "give the relay's certificate as a PEM file",
        ),
        _ => relay_failure(err.to_string()),
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
    let relay = RelayInbox::new(relay_url, Zeroizing::new(*credential), relay_certificate)
        .map_err(|err| inbox_protocol_failure(&err))?;
    let mut pulled = Vec::new();
    let mut acknowledged = HashSet::new();
    for _ in 0..MAX_ROUNDS {
        let batch = relay
            .take()
            .await
            .map_err(|err| inbox_protocol_failure(&err))?;
        if batch.is_empty() {
            return Ok(pulled);
        }
        let mut ids = Vec::new();
        for report in &batch {
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
        relay
            .acknowledge(&ids)
            .await
            .map_err(|err| inbox_protocol_failure(&err))?;
    }
    Ok(pulled)
}
