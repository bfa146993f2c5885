//! Reported attachments in `fuin moderate open --fetch-attachments`: each
//! verified attachment message's blob is fetched from the relay again (with
//! moderation's own device) and opened as the reference the sender
//! committed to; the plaintext's hash is what the reporter saw
//! (`spec/report.md` §6.1).

use std::io::{Seek, Write};
use std::path::Path;

use fuin_client::Client;
use fuin_client::report::attachment::{check_reported_blob, reported_share};
use fuin_client::report::{CheckedMessage, VerifiedReport};
use fuin_wire::ContentType;
use fuin_wire::attachment::AttachmentShare;
use serde_json::{Value, json};

use crate::output::Failure;

/// The largest blob re-fetched (the relay's default blob limit).
const MAX_BLOB: u64 = 64 * 1024 * 1024;

/// A message's text for the moderator: an attachment is described by its
/// reference (name, type, blob), not shown as the raw share.
pub fn message_text(message: &CheckedMessage) -> String {
    if message.content_type != ContentType::Attachment {
        return message.text();
    }
    match AttachmentShare::from_bytes(message.body.as_bytes()) {
        Ok(share) => {
            let reference = &share.reference;
            format!(
                "[attachment {}: {}, blob {}, {} bytes sealed]",
                reference
                    .file_name
                    .as_ref()
                    .map_or("(no name)", |n| n.as_str()),
                reference.content_type.as_str(),
                hex::encode(reference.object.blob_id.0),
                reference.object.sealed_len
            )
        }
        Err(_) => "[an unreadable attachment]".to_owned(),
    }
}

/// Moderation's device, for fetching blobs.
pub async fn device(store: &Path) -> Result<Client, Failure> {
    if !store.exists() {
        return Err(Failure::new(
            "no_store",
            format!("there is no device store at {}", store.display()),
            "make moderation a device with `fuin init --store PATH --relay URL --user NAME`",
        ));
    }
    Ok(Client::open(store, fuin_client::ClientOptions::default()).await?)
}

/// Re-fetches and checks every verified attachment of `report`: lines for
/// people and one JSON value each.
pub async fn check(
    device: &Client,
    report: &VerifiedReport,
) -> Result<(Vec<String>, Vec<Value>), Failure> {
    let mut lines = Vec::new();
    let mut found = Vec::new();
    for (i, message) in report.messages.iter().enumerate() {
        if message.content_type != ContentType::Attachment || !message.verdict.is_verified() {
            continue;
        }
        let number = i + 1;
        let report_id = hex::encode(report.report_id.0);
        let (line, value) = match reported_share(report, message) {
            Err(err) => (
                format!("  {number}. attachment NOT CHECKED: {err}"),
                json!({"report_id": report_id, "message": number, "verified": false, "error": err.to_string()}),
            ),
            Ok(share) => {
                let blob_id = share.reference.object.blob_id;
                let mut file = tempfile::tempfile().map_err(|err| {
                    Failure::new(
                        "file",
                        format!("cannot make a temporary file: {err}"),
                        "set TMPDIR to a writable directory",
                    )
                })?;
                let fetched = device
                    .fetch_blob(&blob_id, &share.capability, MAX_BLOB, &mut file)
                    .await;
                let checked = match fetched {
                    Err(err) => Err(err.to_string()),
                    Ok(_) => file
                        .flush()
                        .and_then(|()| file.rewind())
                        .map_err(|err| err.to_string())
                        .and_then(|()| {
                            check_reported_blob(&share, std::io::BufReader::new(&mut file))
                                .map_err(|err| err.to_string())
                        }),
                };
                match checked {
                    Ok(attachment) => (
                        format!(
                            "  {number}. attachment re-fetched: VERIFIED, blob {} is the exact ciphertext its sender committed to; plaintext {} bytes, SHA-256 {}",
                            hex::encode(attachment.blob_id.0),
                            attachment.plaintext_len,
                            hex::encode(attachment.plaintext_sha256)
                        ),
                        json!({
                            "report_id": report_id,
                            "message": number,
                            "verified": true,
                            "blob_id": hex::encode(attachment.blob_id.0),
                            "content_type": attachment.content_type,
                            "file_name": attachment.file_name,
                            "plaintext_len": attachment.plaintext_len,
                            "plaintext_sha256": hex::encode(attachment.plaintext_sha256),
                        }),
                    ),
                    Err(why) => (
                        format!(
                            "  {number}. attachment re-fetched: NOT the blob its sender shared: {why}"
                        ),
                        json!({
                            "report_id": report_id,
                            "message": number,
                            "verified": false,
                            "blob_id": hex::encode(blob_id.0),
                            "error": why,
                        }),
                    ),
                }
            }
        };
        lines.push(line);
        found.push(value);
    }
    Ok((lines, found))
}
