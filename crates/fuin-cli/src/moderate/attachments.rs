//! Reported attachments in `fuin moderate open --fetch-attachments`: each
//! verified attachment message's blob is fetched from the relay again (with
//! moderation's own device) and opened as the reference the sender
//! committed to; the plaintext's hash is what the reporter saw
//! (`spec/report.md` §6.1). A thumbnail is re-fetched and checked the
//! same way.

use std::path::Path;

use fuin_client::Client;
use fuin_client::report::VerifiedReport;
use fuin_client::report::attachment::reported_share;
pub use fuin_moderation::attachments::message_text;
use fuin_moderation::attachments::{
    DeviceError, FetchError, Fetched, Part, fetch_part, open_device,
};
use fuin_wire::ContentType;
use fuin_wire::attachment::AttachmentShare;
use serde_json::{Value, json};

use crate::output::Failure;

/// Moderation's device, for fetching blobs (and, in the service, sending).
pub async fn device(store: &Path, relay_certificate: Option<Vec<u8>>) -> Result<Client, Failure> {
    match open_device(store, relay_certificate).await {
        Ok(client) => Ok(client),
        Err(DeviceError::NoStore) => Err(Failure::new(
            "no_store",
            format!("there is no device store at {}", store.display()),
            "make moderation a device with `fuin init --store PATH --relay URL --user NAME`",
        )),
        Err(DeviceError::Client(err)) => Err(err.into()),
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

/// Fetches one part of `share` and opens it as the reference says (the
/// service's code): a line and a JSON value.
async fn check_part(
    device: &Client,
    share: &AttachmentShare<'_>,
    part: Part,
) -> Result<(String, Value), Failure> {
    let name = part.name();
    let blob_id = match (part, &share.reference.thumbnail) {
        (Part::Thumbnail, Some(thumbnail)) => thumbnail.object.blob_id,
        _ => share.reference.object.blob_id,
    };
    Ok(match fetch_part(device, share, part, None).await {
        Ok(Fetched {
            checked: attachment,
            ..
        }) => (
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
        Err(FetchError::NoCapability) => (
            format!("{name} NOT CHECKED: the share carries no capability for it"),
            json!({"part": name, "verified": false, "error": "no capability"}),
        ),
        Err(FetchError::TemporaryFile(err)) => {
            return Err(Failure::new(
                "file",
                format!("cannot make a temporary file: {err}"),
                "set TMPDIR to a writable directory",
            ));
        }
        Err(err) => {
            let why = match err {
                FetchError::Fetch(err) => err.to_string(),
                FetchError::Check(err) => err.to_string(),
                other => other.to_string(),
            };
            (
                format!("{name} re-fetched: NOT the blob its sender shared: {why}"),
                json!({
                    "part": name,
                    "verified": false,
                    "blob_id": hex::encode(blob_id.0),
                    "error": why,
                }),
            )
        }
    })
}
