//! `fuin group ...`: group conversations from the command line. A group is
//! named by its id (64 hex digits) or any prefix of it that names only one
//! of the device's groups. New group messages arrive with `fuin sync`;
//! `fuin group history` shows them.

use fuin_client::{Client, Event, GroupChange, GroupEntry, GroupInfo, GroupStatus};
use serde_json::{Value, json};

use crate::commands::{Notices, StoreArgs, open_store};
use crate::output::{Answer, Failure};
use crate::views;

/// The group subcommands.
#[derive(clap::Subcommand)]
pub enum GroupCommand {
    /// Create a group with every device of these users (and your other devices).
    Create {
        #[command(flatten)]
        store: StoreArgs,
        /// The other members.
        #[arg(required = true)]
        users: Vec<String>,
    },
    /// Add every device of these users to a group.
    Add {
        #[command(flatten)]
        store: StoreArgs,
        /// The group (its id or a unique prefix).
        group: String,
        /// Who to add.
        #[arg(required = true)]
        users: Vec<String>,
    },
    /// Remove every device of these users from a group.
    Remove {
        #[command(flatten)]
        store: StoreArgs,
        /// The group (its id or a unique prefix).
        group: String,
        /// Who to remove.
        #[arg(required = true)]
        users: Vec<String>,
    },
    /// Leave a group.
    Leave {
        #[command(flatten)]
        store: StoreArgs,
        /// The group (its id or a unique prefix).
        group: String,
    },
    /// Send a text to a group.
    Send {
        #[command(flatten)]
        store: StoreArgs,
        /// The group (its id or a unique prefix).
        group: String,
        /// What to say.
        text: String,
    },
    /// Seal a file on this device and share it with a group (with a
    /// thumbnail for PNG and JPEG images).
    SendFile(crate::files::GroupSendFileArgs),
    /// Download, check and write out an attachment of a group's history.
    Fetch(crate::files::FetchArgs),
    /// Share a new audience consent: from then on every member gives
    /// outside audiences one shared identifier for the group (a new epoch).
    ShareConsent {
        #[command(flatten)]
        store: StoreArgs,
        /// The group (its id or a unique prefix).
        group: String,
    },
    /// List this device's groups.
    List {
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Show a group's last messages (times are those of the senders' clocks, UTC).
    History {
        #[command(flatten)]
        store: StoreArgs,
        /// The group (its id or a unique prefix).
        group: String,
        /// How many messages, the latest.
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
}

fn status_text(status: GroupStatus) -> &'static str {
    match status {
        GroupStatus::Member => "member",
        GroupStatus::Removed => "removed",
        GroupStatus::Left => "left",
    }
}

fn info_json(info: &GroupInfo) -> Value {
    json!({
        "group": info.id,
        "epoch": info.epoch,
        "status": status_text(info.status),
        "members": info.members.iter().map(ToString::to_string).collect::<Vec<_>>(),
    })
}

fn info_line(info: &GroupInfo) -> String {
    let members: Vec<String> = info.members.iter().map(ToString::to_string).collect();
    format!(
        "group {} epoch {} ({}): {}",
        info.id,
        info.epoch,
        status_text(info.status),
        members.join(", ")
    )
}

fn entry_json(entry: &GroupEntry) -> Value {
    json!({
        "local_id": entry.local_id,
        "group": entry.group,
        "sender": entry.sender.to_string(),
        "outgoing": entry.outgoing,
        "epoch": entry.epoch,
        "attachment": entry.content_type == fuin_wire::ContentType::Attachment,
        "text": entry.text,
        "sent_at_ms": entry.sent_at_ms,
        "status": entry.status.as_str(),
    })
}

fn entry_line(entry: &GroupEntry) -> String {
    let you = if entry.outgoing { " (you)" } else { "" };
    format!(
        "#{} [epoch {}] {}{you}: {}",
        entry.local_id,
        entry.epoch,
        entry.sender,
        views::printable(&entry.text)
    )
}

fn addresses(devices: &[fuin_wire::DeviceAddress<'static>]) -> String {
    devices
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// A group event, as a line for `fuin sync` (`None` for other events).
pub fn event_line(event: &Event) -> Option<String> {
    Some(match event {
        Event::GroupMessageReceived { group, from, .. } => format!(
            "group {}: a message from {from} (fuin group history {})",
            &group[..12.min(group.len())],
            &group[..12.min(group.len())]
        ),
        Event::GroupChanged {
            group,
            epoch,
            by,
            change,
        } => {
            let what = match change {
                GroupChange::Joined => format!("you joined, welcomed by {by}"),
                GroupChange::Added(devices) => format!("{by} added {}", addresses(devices)),
                GroupChange::Removed(devices) => format!("{by} removed {}", addresses(devices)),
                GroupChange::Left => format!("{by} left"),
                GroupChange::RemovedThisDevice => format!("{by} removed you"),
                GroupChange::ConsentShared => format!("{by} shared a new audience consent"),
            };
            format!(
                "group {}: {what} (epoch {epoch})",
                &group[..12.min(group.len())]
            )
        }
        Event::WaitingForSenderKey {
            group,
            sender,
            epoch,
        } => format!(
            "! waiting for {}'s key in group {} (device {sender}, epoch {epoch}): \
             their messages are kept and the key is asked for again",
            sender.user,
            &group[..12.min(group.len())]
        ),
        Event::HeldDeliveriesDropped {
            group,
            from,
            count,
            reason,
        } => format!(
            "! group {}: {count} held deliver{} from {from} dropped unopened: {reason}",
            &group[..12.min(group.len())],
            if *count == 1 { "y" } else { "ies" }
        ),
        _ => return None,
    })
}

/// A group event, as JSON for `fuin sync --json`.
pub fn event_json(event: &Event) -> Option<Value> {
    Some(match event {
        Event::GroupMessageReceived {
            group,
            local_id,
            from,
        } => json!({
            "event": "group_message",
            "group": group,
            "local_id": local_id,
            "from": from.to_string(),
        }),
        Event::GroupChanged {
            group,
            epoch,
            by,
            change,
        } => {
            let (kind, devices) = match change {
                GroupChange::Joined => ("joined", Vec::new()),
                GroupChange::Added(devices) => ("added", devices.clone()),
                GroupChange::Removed(devices) => ("removed", devices.clone()),
                GroupChange::Left => ("left", Vec::new()),
                GroupChange::RemovedThisDevice => ("removed_you", Vec::new()),
                GroupChange::ConsentShared => ("consent_shared", Vec::new()),
            };
            json!({
                "event": "group_changed",
                "group": group,
                "epoch": epoch,
                "by": by.to_string(),
                "change": kind,
                "devices": devices.iter().map(ToString::to_string).collect::<Vec<_>>(),
            })
        }
        Event::WaitingForSenderKey {
            group,
            sender,
            epoch,
        } => json!({
            "event": "waiting_for_sender_key",
            "group": group,
            "sender": sender.to_string(),
            "epoch": epoch,
        }),
        Event::HeldDeliveriesDropped {
            group,
            from,
            count,
            reason,
        } => json!({
            "event": "held_deliveries_dropped",
            "group": group,
            "from": from.to_string(),
            "count": count,
            "reason": reason,
        }),
        _ => return None,
    })
}

/// The full id of the group `name` names: the id itself, or the one group
/// of this device whose id starts with it.
pub(crate) async fn resolve(client: &Client, name: &str) -> Result<String, Failure> {
    let name = name.trim().to_ascii_lowercase();
    let groups = client.groups().await?;
    let matching: Vec<&GroupInfo> = groups
        .iter()
        .filter(|group| !name.is_empty() && group.id.starts_with(&name))
        .collect();
    match matching.as_slice() {
        [one] => Ok(one.id.clone()),
        [] => Err(Failure::new(
            "invalid_argument",
            format!("this device holds no group {name:?}"),
            "fuin group list shows the device's groups",
        )),
        _ => Err(Failure::new(
            "invalid_argument",
            format!("{name:?} names more than one group"),
            "give more digits of the group id",
        )),
    }
}

fn changed(info: &GroupInfo, what: &str) -> Answer {
    Answer {
        text: format!("{what}: {}", info_line(info)),
        json: info_json(info),
    }
}

/// Runs one group subcommand. What the device's client reports meanwhile
/// (a member's device list changing, a list refused) is shown with it.
pub async fn run(command: GroupCommand) -> Result<Answer, Failure> {
    let command = match command {
        GroupCommand::SendFile(args) => return crate::files::group_send_file(args).await,
        GroupCommand::Fetch(args) => return crate::files::group_fetch(args).await,
        other => other,
    };
    let store = match &command {
        GroupCommand::SendFile(args) => &args.store,
        GroupCommand::Fetch(args) => &args.store,
        GroupCommand::Create { store, .. }
        | GroupCommand::Add { store, .. }
        | GroupCommand::Remove { store, .. }
        | GroupCommand::Leave { store, .. }
        | GroupCommand::Send { store, .. }
        | GroupCommand::ShareConsent { store, .. }
        | GroupCommand::List { store }
        | GroupCommand::History { store, .. } => store,
    };
    let client = open_store(store).await?;
    let notices = Notices::watch(&client);
    let result = run_with(&client, command).await;
    notices.finish(result)
}

async fn run_with(client: &Client, command: GroupCommand) -> Result<Answer, Failure> {
    match command {
        GroupCommand::Create { users, .. } => {
            let users: Vec<&str> = users.iter().map(String::as_str).collect();
            let info = client.create_group(&users).await?;
            Ok(changed(&info, "created"))
        }
        GroupCommand::Add { group, users, .. } => {
            let id = resolve(client, &group).await?;
            let users: Vec<&str> = users.iter().map(String::as_str).collect();
            let info = client.add_group_members(&id, &users).await?;
            Ok(changed(&info, "added"))
        }
        GroupCommand::Remove { group, users, .. } => {
            let id = resolve(client, &group).await?;
            let users: Vec<&str> = users.iter().map(String::as_str).collect();
            let info = client.remove_group_members(&id, &users).await?;
            Ok(changed(&info, "removed"))
        }
        GroupCommand::Leave { group, .. } => {
            let id = resolve(client, &group).await?;
            let info = client.leave_group(&id).await?;
            Ok(changed(&info, "left"))
        }
        GroupCommand::Send { group, text, .. } => {
            let id = resolve(client, &group).await?;
            let sent = client.send_group_text(&id, &text).await?;
            Ok(Answer {
                text: format!(
                    "{} to group {} (one ciphertext for {} devices)",
                    sent.status.as_str(),
                    &id[..12],
                    sent.devices
                ),
                json: json!({
                    "group": id,
                    "local_id": sent.local_id,
                    "status": sent.status.as_str(),
                    "devices": sent.devices,
                }),
            })
        }
        GroupCommand::SendFile(_) | GroupCommand::Fetch(_) => Err(Failure::new(
            "invalid_argument",
            "not a group command with a store of its own",
            "see fuin group --help",
        )),
        GroupCommand::ShareConsent { group, .. } => {
            let id = resolve(client, &group).await?;
            let info = client.share_group_consent(&id).await?;
            Ok(changed(&info, "consent shared"))
        }
        GroupCommand::List { .. } => {
            let groups = client.groups().await?;
            let text = if groups.is_empty() {
                "no groups".to_owned()
            } else {
                groups.iter().map(info_line).collect::<Vec<_>>().join("\n")
            };
            Ok(Answer {
                text,
                json: json!({ "groups": groups.iter().map(info_json).collect::<Vec<_>>() }),
            })
        }
        GroupCommand::History { group, limit, .. } => {
            let id = resolve(client, &group).await?;
            let entries = client.group_history(&id, limit).await?;
            Ok(Answer {
                text: entries
                    .iter()
                    .map(entry_line)
                    .collect::<Vec<_>>()
                    .join("\n"),
                json: json!({
                    "group": id,
                    "messages": entries.iter().map(entry_json).collect::<Vec<_>>(),
                }),
            })
        }
    }
}

/// `fuin report --group GROUP`: a report of group messages, previewed and
/// confirmed like a 1:1 report.
pub async fn report(
    client: &Client,
    args: &crate::report::ReportArgs,
    group: &str,
    moderation_key: &fuin_client::ModerationPublicKey,
    out: crate::output::Output,
) -> Result<Answer, Failure> {
    let id = resolve(client, group).await?;
    let builder = client.report_group(&args.reason, &args.messages).await?;
    if hex::encode(builder.content().group_id.0) != id {
        return Err(Failure::new(
            "invalid_argument",
            "those messages are not of that group".to_owned(),
            "fuin group history shows each message's #ID",
        ));
    }
    let preview = builder.preview();
    let mut lines = vec![
        format!(
            "This report goes to moderation, sealed so that only moderation can open it:\n\
             \x20 from {}, about the group {}\n\
             \x20 reason: {}",
            preview.reporter,
            id,
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
            views::printable(&message.text())
        ));
    }
    lines.push(
        "  With each message go its franking key, its ids, the relay's stamp and the sealed \
         group message with its sender-key signature, so that moderation can check it was \
         sent as shown. Nothing else from this device is included."
            .into(),
    );
    let preview_json = json!({
        "reporter": preview.reporter.to_string(),
        "group": id,
        "reason": preview.reason,
        "messages": preview.messages.iter().map(|message| json!({
            "sender": message.sender.to_string(),
            "text": message.text(),
            "server_time_ms": message.server_time_ms,
        })).collect::<Vec<_>>(),
    });
    if out.json {
        if !args.yes {
            crate::output::stderr_line(&lines.join("\n"));
        }
    } else {
        crate::output::stdout_line(&lines.join("\n"));
    }
    if !args.yes && !crate::report::confirmed() {
        return Ok(Answer {
            text: "Not sent: nothing left the device.".into(),
            json: json!({ "sent": false, "preview": preview_json }),
        });
    }
    let accepted = client.submit_group_report(&builder, moderation_key).await?;
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
            "preview": preview_json,
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use fuin_wire::{DeviceAddress, DeviceId, UserId};

    fn carol() -> DeviceAddress<'static> {
        DeviceAddress::new(UserId::new(String::from("carol")).unwrap(), DeviceId(2))
    }

    #[test]
    fn a_missing_sender_key_is_shown_naming_its_user_and_in_json() {
        let event = Event::WaitingForSenderKey {
            group: "ab".repeat(32),
            sender: carol(),
            epoch: 3,
        };
        let line = event_line(&event).unwrap();
        assert!(
            line.contains("waiting for carol's key in group abababababab"),
            "{line}"
        );
        assert!(
            line.contains("carol/2") && line.contains("epoch 3"),
            "{line}"
        );
        let json = event_json(&event).unwrap();
        assert_eq!(json["event"], "waiting_for_sender_key");
        assert_eq!(json["group"], "ab".repeat(32));
        assert_eq!(json["sender"], "carol/2");
        assert_eq!(json["epoch"], 3);
    }

    #[test]
    fn held_deliveries_dropped_for_age_are_shown_with_their_count_and_in_json() {
        let event = Event::HeldDeliveriesDropped {
            group: "cd".repeat(32),
            from: carol(),
            count: 5,
            reason: "they waited too long".into(),
        };
        let line = event_line(&event).unwrap();
        assert!(
            line.contains("group cdcdcdcdcdcd: 5 held deliveries from carol/2 dropped"),
            "{line}"
        );
        let json = event_json(&event).unwrap();
        assert_eq!(json["event"], "held_deliveries_dropped");
        assert_eq!(json["from"], "carol/2");
        assert_eq!(json["count"], 5);
        let one = Event::HeldDeliveriesDropped {
            group: "cd".repeat(32),
            from: carol(),
            count: 1,
            reason: "x".into(),
        };
        assert!(event_line(&one).unwrap().contains("1 held delivery from"));
    }
}
