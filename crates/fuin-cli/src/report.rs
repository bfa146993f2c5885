//! `fuin report`: report received messages to moderation. The user names
//! each message (its `#ID` in `fuin history`); the command shows exactly
//! what will leave the device and asks before sending, unless `--yes`.

use std::io::BufRead;
use std::path::PathBuf;

use fuin_client::ReportPreview;
use serde_json::{Value, json};

use crate::commands::{StoreArgs, open_store};
use crate::moderate::files;
use crate::output::{Answer, Failure, Output, stderr_line, stdout_line};
use crate::views;

/// `fuin report`'s options.
#[derive(clap::Args)]
pub struct ReportArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// A message to report, by its local id (the #ID `fuin history` shows);
    /// repeat for several. Nothing else is ever included.
    #[arg(long = "message", value_name = "ID", required = true, num_args = 1..)]
    pub messages: Vec<i64>,
    /// Why, in your words (up to 1,024 bytes).
    #[arg(long)]
    pub reason: String,
    /// The moderation service's public key file (moderation.pub).
    #[arg(long, value_name = "FILE")]
    pub moderation_key: PathBuf,
    /// Send without asking (the preview is still printed).
    #[arg(long)]
    pub yes: bool,
    /// Report messages of this group (its id or a unique prefix); the ids
    /// are then those `fuin group history` shows.
    #[arg(long, value_name = "GROUP")]
    pub group: Option<String>,
}

fn preview_lines(preview: &ReportPreview) -> Vec<String> {
    let mut lines = vec![
        format!(
            "This report goes to moderation, sealed so that only moderation can open it:\n\
             \x20 from {}, about your conversation with {}\n\
             \x20 reason: {}",
            preview.reporter,
            preview.conversation_with,
            views::printable(&preview.reason)
        ),
        format!(
            "  {} message{}:",
            preview.messages.len(),
            views::plural(preview.messages.len() as u64)
        ),
    ];
    for (i, message) in preview.messages.iter().enumerate() {
        lines.push(format!(
            "    {}. [{}] {}: {}",
            i + 1,
            views::clock(message.server_time_ms),
            message.sender,
            views::printable(
                &if message.content_type == fuin_wire::ContentType::Attachment {
                    fuin_client::describe_attachment(&message.body)
                } else {
                    message.text()
                }
            )
        ));
    }
    lines.push(
        "  With each message go its franking key, its ids and the relay's stamp, so that \
         moderation can check it was sent as shown. Nothing else from this device is included."
            .into(),
    );
    lines
}

fn preview_json(preview: &ReportPreview) -> Value {
    json!({
        "reporter": preview.reporter.to_string(),
        "conversation_with": preview.conversation_with.as_str(),
        "reason": preview.reason,
        "messages": preview.messages.iter().map(|message| json!({
            "sender": message.sender.to_string(),
            "text": message.text(),
            "server_time_ms": message.server_time_ms,
        })).collect::<Vec<_>>(),
    })
}

/// Asks on stderr, reads one line of stdin: yes only for `y` or `yes`.
pub(crate) fn confirmed() -> bool {
    stderr_line("Send this report? [y/N]");
    let mut answer = String::new();
    match std::io::stdin().lock().read_line(&mut answer) {
        Ok(_) => matches!(answer.trim().to_lowercase().as_str(), "y" | "yes"),
        Err(_) => false,
    }
}

/// Runs `fuin report`.
pub async fn run(args: ReportArgs, out: Output) -> Result<Answer, Failure> {
    let moderation_key = files::public_key(&args.moderation_key)?;
    let client = open_store(&args.store).await?;
    if let Some(group) = &args.group {
        return crate::group::report(&client, &args, group, &moderation_key, out).await;
    }
    let report = client.report(&args.reason, &args.messages).await?;
    let preview = report.preview();
    let lines = preview_lines(&preview);
    if out.json {
        if !args.yes {
            stderr_line(&lines.join("\n"));
        }
    } else {
        stdout_line(&lines.join("\n"));
    }
    if !args.yes && !confirmed() {
        return Ok(Answer {
            text: "Not sent: nothing left the device.".into(),
            json: json!({ "sent": false, "preview": preview_json(&preview) }),
        });
    }
    let accepted = client.submit_report(&report, &moderation_key).await?;
    Ok(Answer {
        text: format!(
            "Sent: the relay holds it sealed as report {} (received at {} UTC).",
            hex::encode(accepted.report_id.0),
            views::clock(accepted.received_at_ms)
        ),
        json: json!({
            "sent": true,
            "report_id": hex::encode(accepted.report_id.0),
            "received_at_ms": accepted.received_at_ms,
            "preview": preview_json(&preview),
        }),
    })
}
