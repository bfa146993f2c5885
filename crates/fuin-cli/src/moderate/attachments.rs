//! Reported attachments in `fuin moderate open --fetch-attachments`: each
//! verified attachment message's blob is fetched from the relay again (with
//! moderation's own device) and opened as the reference the sender
//! committed to; the plaintext's hash is what the reporter saw
//! (`spec/report.md` §6.1). A thumbnail is re-fetched and checked the
//! same way.

use std::io::{Seek, Write};
use std::path::Path;

use fuin_client::Client;
use fuin_client::report::attachment::{
    check_reported_blob, check_reported_thumbnail, reported_share,
};
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

/// Which sealed object of a share is re-fetched.
#[derive(Clone, Copy)]
enum Part {
    Attachment,
    Thumbnail,
}

impl Part {
    fn name(self) -> &'static str {
        match self {
            Self::Attachment => "attachment",
            Self::Thumbnail => "thumbnail",
        }
    }
}

/// Re-fetches and checks every verified attachment of `report`, and its
/// thumbnail if it has one: lines for people and one JSON value each.
pub async fn check(
    device: &Client,
    report: &VerifiedReport,
) -> Result<(Vec<String>, Vec<Value>), Failure> {
    let mut lines = Vec::new();
    let mut found = Vec::new();
    let report_id = hex::encode(report.report_id.0);
    for (i, message) in report.messages.iter().enumerate() {
        if message.content_type != ContentType::Attachment || !message.verdict.is_verified() {
            continue;
        }
        let number = i + 1;
        let share = match reported_share(report, message) {
            Ok(share) => share,
            Err(err) => {
                lines.push(format!("  {number}. attachment NOT CHECKED: {err}"));
                found.push(json!({"report_id": report_id, "message": number, "part": "attachment", "verified": false, "error": err.to_string()}));
                continue;
            }
        };
        let mut parts = vec![Part::Attachment];
        if share.reference.thumbnail.is_some() {
            parts.push(Part::Thumbnail);
        }
        for part in parts {
            let (line, value) = check_part(device, &share, part).await?;
            lines.push(format!("  {number}. {line}"));
            let mut value = value;
            value["report_id"] = json!(report_id);
            value["message"] = json!(number);
            found.push(value);
        }
    }
    Ok((lines, found))
}

/// Fetches one part of `share` into a temporary file and opens it as the
/// reference says.
async fn check_part(
    device: &Client,
    share: &AttachmentShare<'_>,
    part: Part,
) -> Result<(String, Value), Failure> {
    let (blob_id, capability) = match (part, &share.reference.thumbnail) {
        (Part::Thumbnail, Some(thumbnail)) => (
            thumbnail.object.blob_id,
            share.thumbnail_capability.as_ref(),
        ),
        _ => (share.reference.object.blob_id, Some(&share.capability)),
    };
    let name = part.name();
    let Some(capability) = capability else {
        // A decoded share has a thumbnail capability exactly when its
        // reference has a thumbnail (wire.md §8.2); say so if not.
        return Ok((
            format!("{name} NOT CHECKED: the share carries no capability for it"),
            json!({"part": name, "verified": false, "error": "no capability"}),
        ));
    };
    let mut file = tempfile::tempfile().map_err(|err| {
        Failure::new(
            "file",
            format!("cannot make a temporary file: {err}"),
            "set TMPDIR to a writable directory",
        )
    })?;
    let fetched = device
        .fetch_blob(&blob_id, capability, MAX_BLOB, &mut file)
        .await;
    let checked = match fetched {
        Err(err) => Err(err.to_string()),
        Ok(_) => file
            .flush()
            .and_then(|()| file.rewind())
            .map_err(|err| err.to_string())
            .and_then(|()| {
                let blob = std::io::BufReader::new(&mut file);
                match part {
                    Part::Attachment => check_reported_blob(share, blob),
                    Part::Thumbnail => check_reported_thumbnail(share, blob),
                }
                .map_err(|err| err.to_string())
            }),
    };
    Ok(match checked {
        Ok(attachment) => (
            format!(
                "{name} re-fetched: VERIFIED, blob {} is the exact ciphertext its sender committed to; plaintext {} bytes, SHA-256 {}",
                hex::encode(attachment.blob_id.0),
                attachment.plaintext_len,
                hex::encode(attachment.plaintext_sha256)
            ),
            json!({
                "part": name,
                "verified": true,
                "blob_id": hex::encode(attachment.blob_id.0),
                "content_type": attachment.content_type,
                "file_name": attachment.file_name,
                "plaintext_len": attachment.plaintext_len,
                "plaintext_sha256": hex::encode(attachment.plaintext_sha256),
            }),
        ),
        Err(why) => (
            format!("{name} re-fetched: NOT the blob its sender shared: {why}"),
            json!({
                "part": name,
                "verified": false,
                "blob_id": hex::encode(blob_id.0),
                "error": why,
            }),
        ),
    })
}
