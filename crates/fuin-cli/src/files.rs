//! `fuin send-file` and `fuin fetch` (and `fuin group send-file` / `fuin
//! group fetch`): attachments from a terminal, to a user or a group. The
//! file is sealed on this device (with a thumbnail for images) and shared
//! end to end; fetching checks the blob completely before the file appears.

use std::path::PathBuf;

use fuin_client::{
    AttachmentSink, AttachmentSource, Client, ClientError, FetchedFile, FetchedThumbnail,
    SendFileOptions, SentFile,
};
use serde_json::json;

use crate::commands::{StoreArgs, open_store};
use crate::output::{Answer, Failure};

/// `fuin send-file`'s options.
#[derive(clap::Args)]
pub struct SendFileArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Who to send to.
    pub user: String,
    /// The file.
    pub path: PathBuf,
    /// Its media type (guessed from the extension otherwise).
    #[arg(long, value_name = "TYPE/SUBTYPE")]
    pub content_type: Option<String>,
    /// The name the recipients see (the file's own name otherwise).
    #[arg(long)]
    pub name: Option<String>,
    /// Do not make a thumbnail of an image.
    #[arg(long)]
    pub no_thumbnail: bool,
}

/// `fuin group send-file`'s options.
#[derive(clap::Args)]
pub struct GroupSendFileArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// The group (its id or a unique prefix).
    pub group: String,
    /// The file.
    pub path: PathBuf,
    /// Its media type (guessed from the extension otherwise).
    #[arg(long, value_name = "TYPE/SUBTYPE")]
    pub content_type: Option<String>,
    /// The name the members see (the file's own name otherwise).
    #[arg(long)]
    pub name: Option<String>,
    /// Do not make a thumbnail of an image.
    #[arg(long)]
    pub no_thumbnail: bool,
}

/// `fuin fetch`'s and `fuin group fetch`'s options.
#[derive(clap::Args)]
pub struct FetchArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// The attachment message, by its local id (the #ID `fuin history`,
    /// or for `fuin group fetch` `fuin group history`, shows).
    pub message: String,
    /// Where to write the file (must not exist).
    pub out: PathBuf,
    /// Write the thumbnail instead of the file.
    #[arg(long)]
    pub thumbnail: bool,
}

/// `fuin send-file`: seals, uploads and shares a file.
pub async fn send_file(args: SendFileArgs) -> Result<Answer, Failure> {
    let client = open_store(&args.store).await?;
    let options = SendFileOptions {
        content_type: args.content_type,
        file_name: args.name,
        thumbnail: !args.no_thumbnail,
        chunk_size: None,
    };
    let notices = crate::commands::Notices::watch(&client);
    let (transfer, bar) = crate::progress::transfer_bar(file_len(&args.path));
    let result = client
        .send_attachment(
            &args.user,
            AttachmentSource::path(&args.path),
            &options,
            &transfer,
        )
        .await;
    bar.finish_and_clear();
    notices.finish(
        result
            .map(|sent| sent_answer(&sent, &args.user, json!({ "to": args.user })))
            .map_err(Failure::from),
    )
}

/// `fuin group send-file`: seals, uploads and shares a file with a group.
pub async fn group_send_file(args: GroupSendFileArgs) -> Result<Answer, Failure> {
    let client = open_store(&args.store).await?;
    let group = crate::group::resolve(&client, &args.group).await?;
    let options = SendFileOptions {
        content_type: args.content_type,
        file_name: args.name,
        thumbnail: !args.no_thumbnail,
        chunk_size: None,
    };
    let (transfer, bar) = crate::progress::transfer_bar(file_len(&args.path));
    let sent = client
        .send_group_attachment(
            &group,
            AttachmentSource::path(&args.path),
            &options,
            &transfer,
        )
        .await;
    bar.finish_and_clear();
    let sent = sent?;
    let to = format!("group {}", group.get(..12).unwrap_or(&group));
    Ok(sent_answer(&sent, &to, json!({ "group": group })))
}

/// The size of the file at `path` for the progress bar (0 if unreadable:
/// sending then says why).
fn file_len(path: &std::path::Path) -> u64 {
    std::fs::metadata(path).map_or(0, |meta| meta.len())
}

/// What `send-file` says: `to` names the recipients in the text, `base`
/// holds the JSON fields that name them.
fn sent_answer(sent: &SentFile, to: &str, mut base: serde_json::Value) -> Answer {
    let attachment = &sent.attachment;
    let thumbnail = match (&attachment.thumbnail, sent.thumbnail_dimensions) {
        (Some(_), Some((width, height))) => format!(", with a {width}×{height} thumbnail"),
        _ => String::new(),
    };
    let fields = json!({
        "local_id": sent.message.local_id,
        "status": sent.message.status.as_str(),
        "devices": sent.message.devices,
        "content_type": attachment.content_type,
        "file_name": attachment.file_name,
        "size": sent.size,
        "sha256": sent.sha256,
        "blob_id": attachment.blob_id,
        "sealed_len": attachment.sealed_len,
        "thumbnail": attachment.thumbnail.as_ref().map(|t| json!({
            "content_type": t.content_type,
            "blob_id": t.blob_id,
            "sealed_len": t.sealed_len,
            "width": sent.thumbnail_dimensions.map(|d| d.0),
            "height": sent.thumbnail_dimensions.map(|d| d.1),
        })),
    });
    if let (Some(base), serde_json::Value::Object(fields)) = (base.as_object_mut(), fields) {
        base.extend(fields);
    }
    Answer {
        text: format!(
            "sent {} to {to} ({}, {} bytes, SHA-256 {}){thumbnail}; message #{}, {}",
            attachment.file_name.as_deref().unwrap_or("the file"),
            attachment.content_type,
            sent.size,
            sent.sha256,
            sent.message.local_id,
            sent.message.status.as_str()
        ),
        json: base,
    }
}

fn local_id(text: &str) -> Result<i64, Failure> {
    text.trim_start_matches('#').parse().map_err(|_| {
        Failure::new(
            "invalid_argument",
            format!("{text:?} is not a message id"),
            "give the attachment's #ID from `fuin history`",
        )
    })
}

/// `fuin fetch`: downloads, checks and writes out an attachment (or its
/// thumbnail).
pub async fn fetch(args: FetchArgs) -> Result<Answer, Failure> {
    fetch_in(args, false).await
}

/// `fuin group fetch`: the same for an attachment of a group's history.
pub async fn group_fetch(args: FetchArgs) -> Result<Answer, Failure> {
    fetch_in(args, true).await
}

async fn thumbnail_of(
    client: &Client,
    id: i64,
    group: bool,
) -> Result<Option<FetchedThumbnail>, ClientError> {
    if group {
        client.fetch_group_thumbnail(id).await
    } else {
        client.fetch_thumbnail(id).await
    }
}

/// Fetches into `out`, with a progress bar for a large attachment.
async fn file_of(
    client: &Client,
    id: i64,
    out: &std::path::Path,
    group: bool,
) -> Result<FetchedFile, ClientError> {
    let info = if group {
        client.group_attachment(id).await?
    } else {
        client.attachment(id).await?
    };
    let (transfer, bar) = crate::progress::transfer_bar(info.sealed_len);
    let sink = AttachmentSink::Path(out);
    let fetched = if group {
        client.fetch_group_attachment_to(id, sink, &transfer).await
    } else {
        client.fetch_attachment_to(id, sink, &transfer).await
    };
    bar.finish_and_clear();
    let fetched = fetched?;
    Ok(FetchedFile {
        path: out.to_owned(),
        size: fetched.size,
        sha256: fetched.sha256,
        blob_id: fetched.blob_id,
        content_type: fetched.content_type,
        file_name: fetched.file_name,
    })
}

async fn fetch_in(args: FetchArgs, group: bool) -> Result<Answer, Failure> {
    let id = local_id(&args.message)?;
    let client = open_store(&args.store).await?;
    if args.thumbnail {
        if args.out.exists() {
            return Err(Failure::new(
                "invalid_argument",
                format!("{} exists already", args.out.display()),
                "name a new file",
            ));
        }
        let Some(thumbnail) = thumbnail_of(&client, id, group).await? else {
            return Err(Failure::new(
                "no_thumbnail",
                format!("message #{id} has no thumbnail"),
                "fetch the file itself",
            ));
        };
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&args.out)
            .and_then(|mut file| std::io::Write::write_all(&mut file, &thumbnail.bytes))
            .map_err(|err| {
                Failure::new(
                    "file",
                    format!("writing {}: {err}", args.out.display()),
                    "check the path and permissions",
                )
            })?;
        let (width, height) = thumbnail.dimensions;
        return Ok(Answer {
            text: format!(
                "wrote the {width}×{height} thumbnail of #{id} to {} ({} bytes, verified)",
                args.out.display(),
                thumbnail.bytes.len()
            ),
            json: json!({
                "local_id": id,
                "path": args.out.display().to_string(),
                "thumbnail": true,
                "content_type": thumbnail.content_type,
                "size": thumbnail.bytes.len(),
                "width": width,
                "height": height,
            }),
        });
    }
    let fetched = file_of(&client, id, &args.out, group).await?;
    Ok(Answer {
        text: format!(
            "wrote {} to {} ({}, {} bytes, SHA-256 {}, verified)",
            fetched.file_name.as_deref().unwrap_or("the attachment"),
            fetched.path.display(),
            fetched.content_type,
            fetched.size,
            fetched.sha256
        ),
        json: json!({
            "local_id": id,
            "path": fetched.path.display().to_string(),
            "thumbnail": false,
            "content_type": fetched.content_type,
            "file_name": fetched.file_name,
            "size": fetched.size,
            "sha256": fetched.sha256,
            "blob_id": fetched.blob_id,
        }),
    })
}
