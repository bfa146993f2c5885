//! How the SDK's values look on a terminal and in JSON.

use fuin_client::{
    Conversation, Event, LinkedDevice, Message, MessageKind, SafetyNumbers, SessionSecurity,
    SyncReport,
};
use serde_json::{Value, json};

/// A time of day (UTC) from milliseconds since the Unix epoch: `HH:MM:SS`.
pub fn clock(ms: u64) -> String {
    let seconds = (ms / 1000) % 86_400;
    format!(
        "{:02}:{:02}:{:02}",
        seconds / 3600,
        (seconds / 60) % 60,
        seconds % 60
    )
}

/// One message as a line, its local id first (what `fuin report --message`
/// takes): `#3 [12:03:04] alice/1: hello (delivered)`.
pub fn message_line(message: &Message) -> String {
    let who = if message.outgoing {
        format!("{} (you)", message.sender)
    } else {
        message.sender.to_string()
    };
    let mut text = match &message.kind {
        MessageKind::Deleted => "(deleted)".to_owned(),
        MessageKind::App { type_name, payload } => {
            format!("[{type_name}: {} bytes]", payload.len())
        }
        MessageKind::Reply { quote_local_id, .. } => match quote_local_id {
            Some(quoted) => format!("(reply to #{quoted}) {}", printable(&message.text)),
            None => format!("(reply) {}", printable(&message.text)),
        },
        _ => printable(&message.text),
    };
    if message.edited_at_ms.is_some() {
        text.push_str(" (edited)");
    }
    for reaction in &message.reactions {
        text.push_str(&format!(
            " [{} {}]",
            printable(&reaction.user),
            printable(&reaction.reaction)
        ));
    }
    format!(
        "#{} [{}] {who}: {text} ({})",
        message.local_id,
        clock(message.sent_at_ms),
        message.status.as_str()
    )
}

/// One message as JSON.
pub fn message_json(message: &Message) -> Value {
    json!({
        "local_id": message.local_id,
        "id": hex::encode(message.id.0),
        "conversation": message.conversation,
        "sender": message.sender.to_string(),
        "outgoing": message.outgoing,
        "text": message.text,
        "sent_at_ms": message.sent_at_ms,
        "sequence": message.sequence,
        "server_time_ms": message.server_time_ms,
        "status": message.status.as_str(),
        "received_at_ms": message.received_at_ms,
        "edited_at_ms": message.edited_at_ms,
        "deleted": message.kind == MessageKind::Deleted,
        "expires_at_ms": message.expires_at_ms,
        "reactions": message
            .reactions
            .iter()
            .map(|reaction| json!({"user": reaction.user, "reaction": reaction.reaction}))
            .collect::<Vec<_>>(),
    })
}

/// `text` with control characters shown as `\u{..}` escapes, so that a
/// message cannot move the cursor or recolour the terminal.
pub fn printable(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_unicode().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// One conversation as a line.
pub fn conversation_line(conversation: &Conversation) -> String {
    format!(
        "{}: {} message{}, {} unread, last at {}",
        conversation.peer,
        conversation.messages,
        plural(conversation.messages),
        conversation.unread,
        clock(conversation.last_message_ms)
    )
}

/// One conversation as JSON.
pub fn conversation_json(conversation: &Conversation) -> Value {
    json!({
        "peer": conversation.peer,
        "messages": conversation.messages,
        "unread": conversation.unread,
        "last_message_ms": conversation.last_message_ms,
    })
}

/// The hours and minutes (UTC) of a time in ms since the Unix epoch: `HH:MM`.
pub fn clock_minutes(ms: u64) -> String {
    clock(ms)[..5].to_owned()
}

/// A date and time (UTC) from ms since the Unix epoch: `2025-01-31 12:03 UTC`.
pub fn date_time(ms: u64) -> String {
    let days = ms / 86_400_000;
    // Days to a civil date (Howard Hinnant's algorithm, for dates after 1970).
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {} UTC", clock_minutes(ms))
}

/// The safety number with `user`, as lines: while an account key change is
/// pending, the **new** number (unverified) beside the old one, never the
/// old one alone.
pub fn safety_number_lines(user: &str, numbers: &SafetyNumbers) -> Vec<String> {
    match &numbers.pending {
        None => vec![format!("{user}  {}", numbers.number)],
        Some(new) => vec![
            format!(
                "! {user}'s account key changed. Compare the NEW number with {user} before \
                 accepting it (fuin accept-identity {user}):"
            ),
            format!("{user}  {new}  NEW, unverified"),
            format!(
                "{user}  {}  previously verified (the old key)",
                numbers.number
            ),
        ],
    }
}

/// The safety number as JSON: `{"user", "number", "pending"}` (`pending`
/// is the new key's number while a change waits, else null).
pub fn safety_number_json(user: &str, numbers: &SafetyNumbers) -> Value {
    json!({
        "user": user,
        "number": numbers.number,
        "pending": numbers.pending,
    })
}

/// How the sessions with a user's devices were made, one line each.
pub fn session_security_lines(sessions: &[SessionSecurity]) -> Vec<String> {
    sessions
        .iter()
        .map(|session| {
            format!(
                "session with {}: {}",
                session.device,
                session_kind(session.post_quantum)
            )
        })
        .collect()
}

/// What a session's handshake was, in words.
pub fn session_kind(post_quantum: bool) -> &'static str {
    if post_quantum {
        "post-quantum hybrid (X25519 + ML-KEM-768)"
    } else {
        "X25519 only, made before protocol version 3 (the next message starts a hybrid session)"
    }
}

/// The sessions as JSON: `[{"device", "post_quantum"}]`.
pub fn session_security_json(sessions: &[SessionSecurity]) -> Value {
    Value::Array(
        sessions
            .iter()
            .map(|session| {
                json!({
                    "device": session.device.to_string(),
                    "post_quantum": session.post_quantum,
                })
            })
            .collect(),
    )
}

/// One device of an account as a line: address, name, when it was linked,
/// and whether it is this one.
pub fn device_line(device: &LinkedDevice, this: bool) -> String {
    format!(
        "{:<10} {:<20} linked {}{}",
        device.address.to_string(),
        printable(&device.name),
        date_time(device.added_at_ms),
        if this { "  (this device)" } else { "" }
    )
}

/// One device of an account as JSON.
pub fn device_json(device: &LinkedDevice, this: bool) -> Value {
    json!({
        "device": device.address.to_string(),
        "name": device.name,
        "added_at_ms": device.added_at_ms,
        "this_device": this,
    })
}

/// What a sync did, as a line.
pub fn sync_summary(report: &SyncReport) -> String {
    if report.messages == 0 && report.receipts == 0 && report.dropped == 0 && report.held == 0 {
        return "nothing new".to_owned();
    }
    let mut parts = vec![format!(
        "{} new message{}",
        report.messages,
        plural(report.messages as u64)
    )];
    if report.receipts > 0 {
        parts.push(format!(
            "{} receipt{}",
            report.receipts,
            plural(report.receipts as u64)
        ));
    }
    if report.held > 0 {
        parts.push(format!("{} held (identity change)", report.held));
    }
    if report.dropped > 0 {
        parts.push(format!("{} dropped", report.dropped));
    }
    parts.join(", ")
}

/// What a sync did, as JSON fields.
pub fn sync_json(report: &SyncReport) -> serde_json::Map<String, Value> {
    let mut map = serde_json::Map::new();
    map.insert("messages".into(), json!(report.messages));
    map.insert("receipts".into(), json!(report.receipts));
    map.insert("dropped".into(), json!(report.dropped));
    map.insert("held".into(), json!(report.held));
    map.insert("acknowledged".into(), json!(report.acknowledged));
    map
}

/// An event other than a received message, as a line for people (`None`
/// for events not worth a line).
pub fn event_line(event: &Event) -> Option<String> {
    Some(match event {
        Event::StatusChanged {
            conversation,
            status,
            ..
        } => format!("your message to {conversation} is now {}", status.as_str()),
        Event::MessagesMissing { from, sequences } => {
            let count = sequences.end.saturating_sub(sequences.start);
            format!(
                "! {count} message{} from {from} did not arrive (yet)",
                plural(count)
            )
        }
        Event::MessageDropped { from, reason } => {
            format!("! a delivery from {from} was dropped: {reason}")
        }
        Event::IdentityChanged { user } => format!(
            "! {user}'s account key changed: compare the new safety number \
             (fuin safety-number {user}) before accepting it (fuin accept-identity {user}); \
             until then nothing is sent to {user} and their new devices' messages wait"
        ),
        Event::DevicesChanged {
            user,
            added,
            removed,
        } => {
            let mut lines: Vec<String> = added
                .iter()
                .map(|device| {
                    format!(
                        "{user} linked a new device: {} ({}), {}",
                        printable(&device.name),
                        device.address,
                        clock_minutes(device.added_at_ms)
                    )
                })
                .collect();
            lines.extend(
                removed
                    .iter()
                    .map(|device| format!("{user} removed a device: {device}")),
            );
            if lines.is_empty() {
                return None;
            }
            lines.join("\n")
        }
        Event::DeviceListRejected { user, reason } => format!(
            "! the relay served a device list of {user} that was refused: {}",
            printable(reason)
        ),
        Event::IdentifierSecretChanged { from } => format!(
            "this device now uses the identifier secret of {from}: identifiers it gave apps \
             before have changed"
        ),
        Event::GroupDevicesNotUpdated { group, reason } => format!(
            "group {group}: the linked or removed device could not be added or removed              ({reason}); use fuin group add or fuin group remove"
        ),
        other => return crate::group::event_line(other),
    })
}

/// An event other than a received message, as JSON.
pub fn event_json(event: &Event) -> Option<Value> {
    Some(match event {
        Event::StatusChanged {
            conversation,
            message,
            status,
        } => json!({
            "event": "status_changed",
            "conversation": conversation,
            "message": hex::encode(message.0),
            "status": status.as_str(),
        }),
        Event::MessagesMissing { from, sequences } => json!({
            "event": "messages_missing",
            "from": from.to_string(),
            "first": sequences.start,
            "end": sequences.end,
        }),
        Event::MessageDropped { from, reason } => json!({
            "event": "message_dropped",
            "from": from.to_string(),
            "reason": reason,
        }),
        Event::IdentityChanged { user } => json!({
            "event": "identity_changed",
            "user": user,
        }),
        Event::DevicesChanged {
            user,
            added,
            removed,
        } => json!({
            "event": "devices_changed",
            "user": user,
            "added": added.iter().map(|device| json!({
                "device": device.address.to_string(),
                "name": device.name,
                "added_at_ms": device.added_at_ms,
            })).collect::<Vec<_>>(),
            "removed": removed.iter().map(ToString::to_string).collect::<Vec<_>>(),
        }),
        Event::DeviceListRejected { user, reason } => json!({
            "event": "device_list_rejected",
            "user": user,
            "reason": reason,
        }),
        Event::PrekeysReplenished { count } => json!({
            "event": "prekeys_replenished",
            "count": count,
        }),
        Event::IdentifierSecretChanged { from } => json!({
            "event": "identifier_secret_changed",
            "from": from.to_string(),
        }),
        Event::GroupDevicesNotUpdated { group, reason } => json!({
            "event": "group_devices_not_updated",
            "group": group,
            "reason": reason,
        }),
        other => return crate::group::event_json(other),
    })
}

/// `"s"` unless `n` is one.
pub fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_shows_the_utc_time_of_day() {
        assert_eq!(clock(0), "00:00:00");
        assert_eq!(clock(((26 * 60 + 2) * 60 + 3) * 1000 + 999), "02:02:03");
    }

    #[test]
    fn dates_are_shown_in_utc() {
        assert_eq!(date_time(0), "1970-01-01 00:00 UTC");
        assert_eq!(date_time(1_700_000_000_000), "2023-11-14 22:13 UTC");
        assert_eq!(date_time(951_782_400_000), "2000-02-29 00:00 UTC");
        assert_eq!(clock_minutes(((12 * 60 + 5) * 60 + 59) * 1000), "12:05");
    }

    #[test]
    fn a_group_that_did_not_follow_a_device_change_is_shown_and_in_json() {
        let event = Event::GroupDevicesNotUpdated {
            group: "ab".repeat(32),
            reason: "the relay refused the request".into(),
        };
        let line = event_line(&event).unwrap();
        assert!(line.contains(&"ab".repeat(32)), "{line}");
        assert!(line.contains("fuin group add"), "{line}");
        let json = event_json(&event).unwrap();
        assert_eq!(json["event"], "group_devices_not_updated");
        assert_eq!(json["reason"], "the relay refused the request");
    }

    #[test]
    fn list_changes_are_shown_and_in_json() {
        let user = fuin_wire::UserId::new("bob".to_owned()).unwrap();
        let laptop = fuin_wire::DeviceAddress::new(user.clone(), fuin_wire::DeviceId(2));
        let event = Event::DevicesChanged {
            user: "bob".into(),
            added: vec![LinkedDevice {
                address: laptop.clone(),
                name: "laptop".into(),
                added_at_ms: 12 * 3_600_000,
            }],
            removed: vec![fuin_wire::DeviceAddress::new(user, fuin_wire::DeviceId(3))],
        };
        assert_eq!(
            event_line(&event).unwrap(),
            "bob linked a new device: laptop (bob/2), 12:00\nbob removed a device: bob/3"
        );
        let json = event_json(&event).unwrap();
        assert_eq!(json["event"], "devices_changed");
        assert_eq!(json["added"][0]["device"], "bob/2");
        assert_eq!(json["added"][0]["name"], "laptop");
        assert_eq!(json["removed"][0], "bob/3");

        let rejected = Event::DeviceListRejected {
            user: "bob".into(),
            reason: "signature does not verify".into(),
        };
        assert!(event_line(&rejected).unwrap().contains(
            "the relay served a device list of bob that was refused: signature does not verify"
        ));
        assert_eq!(
            event_json(&rejected).unwrap()["event"],
            "device_list_rejected"
        );
        let changed = Event::IdentityChanged { user: "bob".into() };
        assert!(event_line(&changed).unwrap().contains(
            "bob's account key changed: compare the new safety number (fuin safety-number bob) \
             before accepting it"
        ));
        assert_eq!(event_json(&changed).unwrap()["user"], "bob");
    }

    #[test]
    fn a_pending_change_shows_the_new_number_labelled_never_the_old_alone() {
        let settled = SafetyNumbers {
            number: "11111".into(),
            pending: None,
        };
        assert_eq!(safety_number_lines("bob", &settled), ["bob  11111"]);
        let pending = SafetyNumbers {
            number: "11111".into(),
            pending: Some("22222".into()),
        };
        let lines = safety_number_lines("bob", &pending);
        let new = lines.iter().position(|l| l.contains("22222")).unwrap();
        let old = lines.iter().position(|l| l.contains("11111")).unwrap();
        assert!(new < old);
        assert!(lines[new].contains("NEW, unverified"));
        assert!(lines[old].contains("previously verified"));
        let json = safety_number_json("bob", &pending);
        assert_eq!(json["number"], "11111");
        assert_eq!(json["pending"], "22222");
    }

    #[test]
    fn a_changed_identifier_secret_is_shown_and_in_json() {
        let from = fuin_wire::DeviceAddress::new(
            fuin_wire::UserId::new("alice".to_owned()).unwrap(),
            fuin_wire::DeviceId(1),
        );
        let event = Event::IdentifierSecretChanged { from };
        let line = event_line(&event).unwrap();
        assert!(
            line.contains("alice/1") && line.contains("changed"),
            "{line}"
        );
        let json = event_json(&event).unwrap();
        assert_eq!(json["event"], "identifier_secret_changed");
        assert_eq!(json["from"], "alice/1");
    }

    #[test]
    fn control_characters_in_a_message_cannot_reach_the_terminal() {
        let shown = printable("hi\u{1b}[2J\nthere\u{7}");
        assert!(!shown.chars().any(char::is_control), "{shown:?}");
        assert_eq!(shown, "hi\\u{1b}[2J\\u{a}there\\u{7}");
        assert_eq!(printable("grüße 封印"), "grüße 封印");
    }
}
