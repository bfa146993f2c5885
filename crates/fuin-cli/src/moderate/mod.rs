//! `fuin moderate`: the moderation tool. It makes moderation's keys, pulls
//! sealed reports from a relay's inbox, opens and verifies them (recording
//! every opening in the audit log), and verifies the audit log; and it runs
//! the moderation service (`serve`, `account add`: crate
//! `fuin-moderation`).

mod attachments;
pub mod files;
pub mod inbox;
mod serve;

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use fuin_client::report::{
    AuditLog, ModerationSecretKey, Moderator, ReportError, Verdict, VerifiedReport, verify_file,
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::output::{Answer, Failure};
use crate::views;

/// `fuin moderate`'s subcommands.
#[derive(clap::Subcommand)]
pub enum ModerateCommand {
    /// Make moderation's key pair and its credential for the relay's inbox.
    Keygen {
        /// A directory for moderation.key (secret, mode 0600), moderation.pub
        /// (for apps) and inbox.credential (secret, mode 0600).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// The key's id, named in every report sealed to it; a new key gets a new id.
        #[arg(long, default_value_t = 1, conflicts_with = "upgrade")]
        key_id: u32,
        /// Make the hybrid key from a moderation key of before protocol
        /// version 3 (moderation.key, X25519 only): it keeps that key's id
        /// and X25519 secret, so reports sealed to the old key still open.
        #[arg(long, value_name = "OLD_KEY")]
        upgrade: Option<PathBuf>,
    },
    /// Take the waiting reports from a relay's inbox and store them.
    Pull {
        /// The relay's URL.
        #[arg(long)]
        relay: String,
        /// The inbox credential (32 bytes, or 64 hex digits; mode 0600).
        #[arg(long, value_name = "FILE")]
        credential_file: PathBuf,
        /// Where to store the reports, one file each (REPORT_ID.report).
        #[arg(long, value_name = "DIR")]
        inbox: PathBuf,
        /// Trust this PEM certificate for the relay's TLS.
        #[arg(long, value_name = "PEM")]
        relay_cert: Option<PathBuf>,
    },
    /// Open stored reports, verify every message, and record each opening.
    Open {
        /// Moderation's secret key (moderation.key).
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
        /// The stamp-key set: which relay stamp key files to check stamps
        /// with, by id, and until when (spec/report.md §9).
        #[arg(long, value_name = "FILE")]
        stamp_keys: PathBuf,
        /// The audit log, created if missing; verified before anything is added.
        #[arg(long, value_name = "FILE")]
        audit_log: PathBuf,
        /// Who is opening the reports, as the audit log records it.
        #[arg(long, env = "FUIN_MODERATOR", value_name = "NAME")]
        moderator: String,
        /// Stored reports (from fuin moderate pull).
        #[arg(required = true, value_name = "REPORT")]
        reports: Vec<PathBuf>,
        /// Re-fetch each verified attachment and its thumbnail from the relay
        /// with this device store (moderation's own device, made with fuin
        /// init) and check each is the exact ciphertext its sender committed
        /// to.
        #[arg(long, value_name = "STORE")]
        fetch_attachments: Option<PathBuf>,
    },
    /// The audit log.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Run the moderation service: pull and open reports into cases, and
    /// serve the moderators' console (spec/report.md §13).
    Serve(Box<serve::ServeArgs>),
    /// The moderation service's accounts.
    Account {
        #[command(subcommand)]
        command: AccountCommand,
    },
}

/// `fuin moderate account`'s subcommands.
#[derive(clap::Subcommand)]
pub enum AccountCommand {
    /// Make a moderator account; its password is read from stdin (or
    /// --password-file).
    Add(serve::AccountAddArgs),
}

/// `fuin moderate audit`'s subcommands.
#[derive(clap::Subcommand)]
pub enum AuditCommand {
    /// Walk the hash chain and name the first record that was edited,
    /// removed, inserted or moved.
    Verify {
        /// The audit log.
        #[arg(long, value_name = "FILE")]
        audit_log: PathBuf,
        /// A head kept elsewhere, as RECORDS:HASH (what an earlier verify
        /// printed): the log must still hold that record with that hash,
        /// which also shows records lost from its end.
        #[arg(long, value_name = "RECORDS:HASH")]
        anchor: Option<String>,
    },
}

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Runs a `fuin moderate` command.
pub async fn run(command: ModerateCommand) -> Result<Answer, Failure> {
    match command {
        ModerateCommand::Keygen {
            out,
            key_id,
            upgrade,
        } => keygen(&out, key_id, upgrade.as_deref()),
        ModerateCommand::Pull {
            relay,
            credential_file,
            inbox,
            relay_cert,
        } => pull(&relay, &credential_file, &inbox, relay_cert.as_deref()).await,
        ModerateCommand::Open {
            key,
            stamp_keys,
            audit_log,
            moderator,
            reports,
            fetch_attachments,
        } => {
            open(
                &key,
                &stamp_keys,
                &audit_log,
                &moderator,
                &reports,
                fetch_attachments.as_deref(),
            )
            .await
        }
        ModerateCommand::Audit {
            command: AuditCommand::Verify { audit_log, anchor },
        } => audit_verify(&audit_log, anchor.as_deref()),
        ModerateCommand::Serve(args) => serve::serve(&args).await,
        ModerateCommand::Account {
            command: AccountCommand::Add(args),
        } => serve::account_add(&args).await,
    }
}

fn keygen(out: &Path, key_id: u32, upgrade: Option<&Path>) -> Result<Answer, Failure> {
    let key = match upgrade {
        Some(old) => {
            let old = files::secret_key(old)?;
            if old.is_hybrid() {
                return Err(Failure::new(
                    "moderation_key",
                    "the key to upgrade is already a hybrid key",
                    "give the moderation.key of before protocol version 3, or make a new key",
                ));
            }
            old.upgrade(&mut rand::rng())
        }
        None => ModerationSecretKey::generate(&mut rand::rng(), key_id),
    };
    let key_id = key.key_id();
    std::fs::create_dir_all(out).map_err(|err| {
        Failure::new(
            "moderation_files",
            format!("cannot make {}: {err}", out.display()),
            "give --out a writable directory",
        )
    })?;
    let mut credential = zeroize::Zeroizing::new([0u8; 32]);
    rand::fill(credential.as_mut());
    let credential_hash = hex::encode(Sha256::digest(credential.as_ref()));
    let (secret_path, public_path, credential_path) = (
        out.join("moderation.key"),
        out.join("moderation.pub"),
        out.join("inbox.credential"),
    );
    for path in [&secret_path, &public_path, &credential_path] {
        if path.exists() {
            return Err(Failure::new(
                "moderation_files",
                format!("{} already exists", path.display()),
                "keep the existing keys, or give --out another directory",
            ));
        }
    }
    files::create_secret(&secret_path, &key.to_bytes())?;
    files::create_secret(&credential_path, credential.as_ref())?;
    let public = key.public_key().ok_or_else(|| {
        Failure::new(
            "moderation_key",
            "the new key is not a hybrid key",
            "report this as a bug",
        )
    })?;
    files::create_public(&public_path, public.to_text().as_bytes())?;
    let text = format!(
        "moderation key {key_id} (hybrid: X25519 + ML-KEM-768) made in {dir}:\n\
         \x20 {secret}  the secret key (mode 0600): keep it with the moderation tool only\n\
         \x20 {public}  the public key: give it to apps (fuin report --moderation-key)\n\
         \x20 {cred}  the inbox credential (mode 0600), for fuin moderate pull\n\
         Start the relay with --moderation-credential-hash {credential_hash}",
        dir = out.display(),
        secret = secret_path.display(),
        public = public_path.display(),
        cred = credential_path.display(),
    );
    Ok(Answer {
        text,
        json: json!({
            "key_id": key_id,
            "secret_key": secret_path.display().to_string(),
            "public_key": public_path.display().to_string(),
            "public_key_x25519_hex": hex::encode(public.key.x25519.0),
            "upgraded": upgrade.is_some(),
            "credential": credential_path.display().to_string(),
            "credential_hash": credential_hash,
        }),
    })
}

async fn pull(
    relay: &str,
    credential_file: &Path,
    inbox_dir: &Path,
    relay_cert: Option<&Path>,
) -> Result<Answer, Failure> {
    let credential = files::credential(credential_file)?;
    let certificate = match relay_cert {
        Some(path) => Some(std::fs::read(path).map_err(|err| {
            Failure::new(
                "relay_cert",
                format!("cannot read the certificate {}: {err}", path.display()),
                "give the relay's certificate as a PEM file",
            )
        })?),
        None => None,
    };
    let pulled = inbox::pull(relay, &credential, inbox_dir, certificate.as_deref()).await?;
    let mut lines = vec![format!(
        "{} report{} taken from the relay's inbox into {}",
        pulled.len(),
        views::plural(pulled.len() as u64),
        inbox_dir.display()
    )];
    for report in &pulled {
        lines.push(format!(
            "  {}  from {} at {} UTC",
            report.path.display(),
            report.reporter,
            views::clock(report.received_at_ms)
        ));
    }
    Ok(Answer {
        text: lines.join("\n"),
        json: json!({
            "reports": pulled.iter().map(|report| json!({
                "report_id": hex::encode(report.report_id.0),
                "reporter": report.reporter.to_string(),
                "received_at_ms": report.received_at_ms,
                "file": report.path.display().to_string(),
            })).collect::<Vec<_>>(),
        }),
    })
}

/// A failure of the audit log, as the command reports it.
pub fn audit_failure(err: &ReportError) -> Failure {
    match err {
        ReportError::AuditBroken { record, .. } => {
            let mut failure = Failure::new(
                "audit_log_broken",
                err.to_string(),
                "the log was changed after it was written; keep it as evidence and start a new one",
            );
            failure.details.insert("record".into(), json!(record));
            failure
        }
        _ => Failure::new(
            "audit_log",
            err.to_string(),
            "the audit log must be a readable, writable file",
        ),
    }
}

/// The outcome of opening stored reports: the verified ones, and for each
/// refused one its file and why.
pub type Openings = (Vec<VerifiedReport>, Vec<(PathBuf, ReportError)>);

/// Opens each stored report with `moderator`, recording it in `audit`.
pub fn open_all(
    moderator: &Moderator,
    audit: &mut AuditLog,
    name: &str,
    reports: &[PathBuf],
    now_ms: u64,
) -> Result<Openings, Failure> {
    let mut opened = Vec::new();
    let mut refused = Vec::new();
    for path in reports {
        let bytes = std::fs::read(path).map_err(|err| {
            Failure::new(
                "inbox",
                format!("cannot read the report {}: {err}", path.display()),
                "give report files that fuin moderate pull stored",
            )
        })?;
        match moderator.open_stored(audit, name, &bytes, now_ms) {
            Ok(report) => opened.push(report),
            Err(err @ (ReportError::Audit(_) | ReportError::AuditBroken { .. })) => {
                return Err(audit_failure(&err));
            }
            Err(ReportError::InvalidModeratorName) => {
                return Err(Failure::new(
                    "invalid_argument",
                    "a moderator's name is 1 to 64 bytes without control characters",
                    "give --moderator NAME (or FUIN_MODERATOR)",
                ));
            }
            Err(err) => refused.push((path.clone(), err)),
        }
    }
    Ok((opened, refused))
}

fn verdict_text(verdict: &Verdict) -> String {
    match verdict {
        Verdict::Verified => "VERIFIED".to_owned(),
        Verdict::Duplicate => "VERIFIED, reported before (not counted again)".to_owned(),
        Verdict::Rejected(why) => {
            format!("NOT VERIFIED ({why}); what follows is only the reporter's claim")
        }
    }
}

fn verdict_code(verdict: &Verdict) -> &'static str {
    match verdict {
        Verdict::Verified => "verified",
        Verdict::Duplicate => "duplicate",
        Verdict::Rejected(why) => why.code(),
    }
}

/// A verified report as lines for people.
pub fn report_lines(report: &VerifiedReport) -> Vec<String> {
    let about = match &report.group {
        Some(group) => format!("about the group {}", hex::encode(group.0)),
        None => format!("about the conversation with {}", report.conversation_with),
    };
    let mut lines = vec![
        format!(
            "report {} from {} (received {} UTC), {about}",
            hex::encode(report.report_id.0),
            report.reporter,
            views::clock(report.received_at_ms),
        ),
        format!("  reason: {}", views::printable(&report.reason)),
    ];
    if !report.post_quantum {
        lines.push("  sealed before protocol version 3 (X25519 only, not post-quantum)".to_owned());
    }
    for (i, message) in report.messages.iter().enumerate() {
        lines.push(format!(
            "  {}. {} from {} at {} UTC: {}",
            i + 1,
            verdict_text(&message.verdict),
            message.sender,
            views::clock(message.server_time_ms),
            views::printable(
                &if message.content_type == fuin_wire::ContentType::Attachment {
                    attachments::message_text(message)
                } else {
                    format!("\"{}\"", message.text())
                }
            )
        ));
    }
    lines.push(format!(
        "  audit record {}: {}",
        report.audit_record.seq,
        hex::encode(report.audit_record.hash)
    ));
    lines
}

/// A verified report as JSON.
pub fn report_json(report: &VerifiedReport) -> Value {
    json!({
        "report_id": hex::encode(report.report_id.0),
        "reporter": report.reporter.to_string(),
        "conversation_with": report.conversation_with.as_str(),
        "group": report.group.map(|group| hex::encode(group.0)),
        "reason": report.reason,
        "created_at_ms": report.created_at_ms,
        "received_at_ms": report.received_at_ms,
        "post_quantum": report.post_quantum,
        "messages": report.messages.iter().map(|message| json!({
            "verdict": verdict_code(&message.verdict),
            "verified": message.verdict.is_verified(),
            "sender": message.sender.to_string(),
            "recipient": message.recipient.to_string(),
            "message_id": hex::encode(message.message_id.0),
            "text": attachments::message_text(message),
            "server_time_ms": message.server_time_ms,
            "server_message_id": hex::encode(message.server_message_id.0),
            "stamp_key_id": message.stamp_key_id.0,
        })).collect::<Vec<_>>(),
        "audit_record": report.audit_record.seq,
        "audit_hash": hex::encode(report.audit_record.hash),
    })
}

async fn open(
    key: &Path,
    stamp_keys: &Path,
    audit_log: &Path,
    name: &str,
    reports: &[PathBuf],
    fetch_attachments: Option<&Path>,
) -> Result<Answer, Failure> {
    let moderator = Moderator::new(files::secret_key(key)?, files::stamp_keys(stamp_keys)?);
    let mut audit = AuditLog::open(audit_log).map_err(|err| audit_failure(&err))?;
    let (opened, refused) = open_all(&moderator, &mut audit, name, reports, now_ms())?;
    let head = audit.head();
    let mut lines = Vec::new();
    let mut checked = Vec::new();
    let device = match fetch_attachments {
        Some(store) => Some(attachments::device(store, None).await?),
        None => None,
    };
    for report in &opened {
        lines.extend(report_lines(report));
        if let Some(device) = &device {
            let (more, found) = attachments::check(device, report).await?;
            lines.extend(more);
            checked.extend(found);
        }
    }
    for (path, err) in &refused {
        lines.push(format!("{}: REFUSED: {err}", path.display()));
    }
    lines.push(format!(
        "audit log {}: {} record{}, head {}",
        audit_log.display(),
        head.records,
        views::plural(head.records),
        hex::encode(head.hash)
    ));
    let json = json!({
        "reports": opened.iter().map(report_json).collect::<Vec<_>>(),
        "refused": refused.iter().map(|(path, err)| json!({
            "file": path.display().to_string(),
            "code": err.code(),
            "message": err.to_string(),
        })).collect::<Vec<_>>(),
        "audit_head": {"records": head.records, "hash": hex::encode(head.hash)},
        "attachments": checked,
    });
    if refused.is_empty() {
        Ok(Answer {
            text: lines.join("\n"),
            json,
        })
    } else {
        // The opened reports are still shown; the failure says which were
        // refused (each is recorded in the audit log as refused).
        let mut failure = Failure::new(
            "report_refused",
            format!(
                "{} of {} reports could not be opened: {}",
                refused.len(),
                reports.len(),
                refused
                    .iter()
                    .map(|(path, err)| format!("{} ({})", path.display(), err.code()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            "a report sealed to another key, changed after sealing, or not naming its submitter is refused; \
             the refusals are in the audit log",
        );
        failure.shown = Some(lines.join("\n"));
        failure.details.insert("result".into(), json);
        Err(failure)
    }
}

fn audit_verify(audit_log: &Path, anchor: Option<&str>) -> Result<Answer, Failure> {
    let (records, head) = verify_file(audit_log).map_err(|err| audit_failure(&err))?;
    if let Some(anchor) = anchor {
        let bad = || {
            Failure::new(
                "invalid_argument",
                format!("{anchor:?} is not an anchor"),
                "give --anchor RECORDS:HASH as an earlier verify printed it",
            )
        };
        let (count, hash) = anchor.split_once(':').ok_or_else(bad)?;
        let count: u64 = count.parse().map_err(|_| bad())?;
        let hash = hex::decode(hash).map_err(|_| bad())?;
        let matches = count
            .checked_sub(1)
            .and_then(|index| records.get(usize::try_from(index).ok()?))
            .is_some_and(|record| record.hash.as_slice() == hash.as_slice());
        if !matches {
            let mut failure = Failure::new(
                "audit_log_broken",
                format!(
                    "the audit log does not hold the anchored record {count} with that hash: \
                     records were removed from its end, or it was rewritten"
                ),
                "keep the log as evidence and start a new one",
            );
            failure.details.insert("record".into(), json!(count));
            return Err(failure);
        }
    }
    let text = format!(
        "audit log {}: {} record{}, chain intact{}\nhead {}:{} (keep a copy elsewhere: \
         the chain alone cannot show records lost from its end)",
        audit_log.display(),
        head.records,
        views::plural(head.records),
        if anchor.is_some() {
            ", anchor found"
        } else {
            ""
        },
        head.records,
        hex::encode(head.hash)
    );
    Ok(Answer {
        text,
        json: json!({
            "records": head.records,
            "head": hex::encode(head.hash),
            "anchor_checked": anchor.is_some(),
        }),
    })
}
