//! The client commands: one device's store, opened for one operation.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use fuin_client::{Client, ClientOptions, Event, EventStream, EventStreamItem, Step, StepHook};
use fuin_wire::{DeviceAddress, DeviceId, UserId};
use serde_json::{Value, json};

use crate::output::{Answer, Failure};
use crate::views;

/// Where the device's store is, and how to reach a TLS relay.
#[derive(clap::Args)]
pub struct StoreArgs {
    /// The device's local store (its storage key file is beside it, PATH.key).
    #[arg(
        long,
        env = "FUIN_STORE",
        default_value = "./fuin.db",
        value_name = "PATH"
    )]
    pub store: PathBuf,
    /// Trust this PEM certificate for the relay's TLS (a relay with a
    /// self-signed certificate).
    #[arg(long, value_name = "PEM")]
    pub relay_cert: Option<PathBuf>,
}

/// A step at which `--crash-at` aborts the process.
///
/// This exists for the crash tests in `crates/fuin-cli/tests/crash.rs`: they
/// kill a real client process between two steps of a sync (after fetching,
/// after storing but before acknowledging) and check that the next sync
/// loses nothing and shows nothing twice. The option is hidden from `--help`.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum CrashStep {
    /// A send was sealed and queued locally, not yet posted.
    Queued,
    /// The relay accepted a send; the local outbox is not yet cleared.
    Posted,
    /// Deliveries arrived; nothing is stored yet.
    Fetched,
    /// The deliveries are stored; the relay has not been told.
    Stored,
    /// The relay was told to delete them.
    Acknowledged,
}

impl CrashStep {
    fn step(self) -> Step {
        match self {
            Self::Queued => Step::Queued,
            Self::Posted => Step::Posted,
            Self::Fetched => Step::Fetched,
            Self::Stored => Step::Stored,
            Self::Acknowledged => Step::Acknowledged,
        }
    }
}

fn options(store: &StoreArgs, crash_at: Option<CrashStep>) -> Result<ClientOptions, Failure> {
    let relay_certificate = match &store.relay_cert {
        Some(path) => Some(std::fs::read(path).map_err(|err| {
            Failure::new(
                "relay_cert",
                format!("cannot read the certificate {}: {err}", path.display()),
                "give the relay's certificate as a PEM file",
            )
        })?),
        None => None,
    };
    let on_step = crash_at.map(|at| {
        let at = at.step();
        // Aborting (no unwinding, no destructors) is as close to a power
        // cut as a process can make itself.
        let hook: StepHook = Arc::new(move |step| {
            if step == at {
                std::process::abort();
            }
        });
        hook
    });
    Ok(ClientOptions {
        relay_certificate,
        on_step,
        ..ClientOptions::default()
    })
}

async fn open(store: &StoreArgs, crash_at: Option<CrashStep>) -> Result<Client, Failure> {
    if !store.store.exists() {
        return Err(Failure::new(
            "no_store",
            format!("there is no device store at {}", store.store.display()),
            "create one with `fuin init --store PATH --relay URL --user NAME`, \
             or name it with --store or FUIN_STORE",
        ));
    }
    let options = options(store, crash_at)?;
    Ok(Client::open(&store.store, options).await?)
}

/// Opens the device's store for a command without crash hooks.
pub async fn open_store(store: &StoreArgs) -> Result<Client, Failure> {
    open(store, None).await
}

fn user(user: &str) -> Result<String, Failure> {
    UserId::new(user)
        .map(|id| id.as_str().to_owned())
        .map_err(|err| {
            Failure::new(
                "invalid_argument",
                format!("{user:?} is not a user id: {err}"),
                "a user id is 1 to 64 bytes of text without control characters",
            )
        })
}

/// Parses `user/device`.
fn device_address(text: &str) -> Result<DeviceAddress<'static>, Failure> {
    let bad = || {
        Failure::new(
            "invalid_argument",
            format!("{text:?} is not a device address"),
            "write a device as USER/NUMBER, for example bob/1",
        )
    };
    let (user, device) = text.rsplit_once('/').ok_or_else(bad)?;
    let device: u32 = device.parse().map_err(|_| bad())?;
    let user = UserId::new(user.to_owned()).map_err(|_| bad())?;
    Ok(DeviceAddress::new(user, DeviceId(device)))
}

/// `fuin init`: creates and registers a new device.
pub async fn init(
    store: &StoreArgs,
    relay: &str,
    user_name: &str,
    device: u32,
) -> Result<Answer, Failure> {
    let user_name = user(user_name)?;
    if store.store.exists() {
        return Err(Failure::new(
            "store_exists",
            format!("{} already holds a device", store.store.display()),
            "use it as it is, or give another --store for a new device",
        ));
    }
    let options = options(store, None)?;
    let client = Client::create(&store.store, relay, &user_name, device, options).await?;
    let address = client.address().to_string();
    // The SDK creates a device whose relay cannot be reached (it registers
    // on first use); a first, empty sync says at once whether it could.
    let not_registered = match client.sync(Duration::ZERO).await {
        Ok(_) => None,
        Err(err) if err.is_transient() => Some(Failure::from(err)),
        Err(err) => return Err(err.into()),
    };
    let mut text = format!(
        "{address} is set up: its keys are in {} (and {}.key), its relay is {}",
        store.store.display(),
        store.store.display(),
        client.relay_url()
    );
    if let Some(failure) = &not_registered {
        text.push_str(&format!(
            "\nbut it is not registered yet: {}\n({}; it registers on its first send or sync)",
            failure.message, failure.hint
        ));
    }
    Ok(Answer {
        text,
        json: json!({
            "device": address,
            "relay": client.relay_url(),
            "store": path_text(&store.store),
            "registered": not_registered.is_none(),
        }),
    })
}

fn path_text(path: &Path) -> String {
    path.display().to_string()
}

/// `fuin send`: sends a text message.
pub async fn send(
    store: &StoreArgs,
    to: &str,
    text: &str,
    crash_at: Option<CrashStep>,
) -> Result<Answer, Failure> {
    let to = user(to)?;
    let client = open(store, crash_at).await?;
    let sent = client.send_text(&to, text).await?;
    let status = sent.status.as_str();
    let text = match sent.status {
        fuin_client::MessageStatus::Queued => format!(
            "queued for {to}: the relay could not be reached; it goes out with the next send or sync"
        ),
        fuin_client::MessageStatus::Failed => {
            format!("the relay refused the message to {to} for good")
        }
        _ => format!(
            "sent to {to} (sealed separately for {} device{})",
            sent.devices,
            views::plural(sent.devices as u64)
        ),
    };
    Ok(Answer {
        text,
        json: json!({
            "to": to,
            "local_id": sent.local_id,
            "status": status,
            "devices": sent.devices,
        }),
    })
}

/// `fuin sync`: fetches and shows what arrived, then acknowledges it.
pub async fn sync(
    store: &StoreArgs,
    wait_secs: u64,
    crash_at: Option<CrashStep>,
) -> Result<Answer, Failure> {
    let client = open(store, crash_at).await?;
    let mut events = client.events();
    let mut seen = Vec::new();
    let result = {
        let sync = client.sync(Duration::from_secs(wait_secs));
        tokio::pin!(sync);
        // Events are taken while the sync runs, so that a long catch-up does
        // not overflow the event buffer.
        loop {
            tokio::select! {
                result = &mut sync => break result,
                Some(item) = events.next() => seen.push(item),
            }
        }
    };
    take_ready(&mut events, &mut seen);
    let report = result?;

    let mut lines = Vec::new();
    let mut received = Vec::new();
    let mut other = Vec::new();
    for item in &seen {
        match item {
            EventStreamItem::Event(Event::MessageReceived { local_id, .. }) => {
                if let Some(message) = client.message(*local_id).await? {
                    lines.push(views::message_line(&message));
                    received.push(views::message_json(&message));
                }
            }
            EventStreamItem::Event(event) => {
                if let Some(line) = views::event_line(event) {
                    lines.push(line);
                }
                other.extend(views::event_json(event));
            }
            EventStreamItem::Lagged(n) => {
                lines.push(format!(
                    "({n} events were too many to show; fuin history shows every message)"
                ));
                other.push(json!({"event": "lagged", "count": n}));
            }
        }
    }
    let pending: Vec<String> = client
        .pending_identity_changes()
        .await?
        .iter()
        .map(ToString::to_string)
        .collect();
    lines.push(views::sync_summary(&report));
    let mut json = views::sync_json(&report);
    json.insert("received".into(), Value::Array(received));
    json.insert("events".into(), Value::Array(other));
    json.insert("pending_identity_changes".into(), json!(pending));
    Ok(Answer {
        text: lines.join("\n"),
        json: Value::Object(json),
    })
}

/// The events already waiting in the stream, without waiting for more.
fn take_ready(events: &mut EventStream, into: &mut Vec<EventStreamItem>) {
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        let next = events.next();
        let next = std::pin::pin!(next);
        match next.poll(&mut cx) {
            std::task::Poll::Ready(Some(item)) => into.push(item),
            _ => return,
        }
    }
}

/// `fuin history`: the last messages of a conversation.
pub async fn history(store: &StoreArgs, with: &str, limit: usize) -> Result<Answer, Failure> {
    let with = user(with)?;
    let client = open(store, None).await?;
    let messages = client.history(&with, limit).await?;
    let text = if messages.is_empty() {
        format!("no messages with {with}")
    } else {
        messages
            .iter()
            .map(views::message_line)
            .collect::<Vec<_>>()
            .join("\n")
    };
    Ok(Answer {
        text,
        json: json!({
            "conversation": with,
            "messages": messages.iter().map(views::message_json).collect::<Vec<_>>(),
        }),
    })
}

/// `fuin conversations`: every conversation, the most recent first.
pub async fn conversations(store: &StoreArgs) -> Result<Answer, Failure> {
    let client = open(store, None).await?;
    let conversations = client.conversations().await?;
    let text = if conversations.is_empty() {
        "no conversations yet".to_owned()
    } else {
        conversations
            .iter()
            .map(views::conversation_line)
            .collect::<Vec<_>>()
            .join("\n")
    };
    Ok(Answer {
        text,
        json: json!({
            "conversations": conversations.iter().map(views::conversation_json).collect::<Vec<_>>(),
        }),
    })
}

/// `fuin safety-number`: the numbers to compare with a contact.
pub async fn safety_number(store: &StoreArgs, with: &str) -> Result<Answer, Failure> {
    let with = user(with)?;
    let client = open(store, None).await?;
    let numbers = client.safety_numbers(&with).await?;
    let mut lines = vec![format!(
        "Compare these with {with}'s (fuin safety-number {} on their device), in person \
         or over a call: if they are equal, no one is in between.",
        client.address().user
    )];
    lines.extend(numbers.iter().map(views::safety_number_line));
    if numbers.is_empty() {
        lines.push(format!("{with} has no device this device knows of"));
    }
    Ok(Answer {
        text: lines.join("\n"),
        json: json!({
            "user": with,
            "devices": numbers.iter().map(views::safety_number_json).collect::<Vec<_>>(),
        }),
    })
}

/// `fuin accept-identity`: trusts a device's new identity.
pub async fn accept_identity(store: &StoreArgs, device: &str) -> Result<Answer, Failure> {
    let device = device_address(device)?;
    let client = open(store, None).await?;
    let released = client.accept_identity_change(&device).await?;
    Ok(Answer {
        text: format!(
            "accepted the new identity of {device}; {released} held message{} shown",
            views::plural(released as u64)
        ),
        json: json!({
            "device": device.to_string(),
            "released": released,
        }),
    })
}

/// `fuin read`: marks a conversation read and sends read receipts.
pub async fn read(store: &StoreArgs, with: &str) -> Result<Answer, Failure> {
    let with = user(with)?;
    let client = open(store, None).await?;
    let marked = client.mark_read(&with).await?;
    Ok(Answer {
        text: format!(
            "marked {marked} message{} from {with} read",
            views::plural(marked as u64)
        ),
        json: json!({
            "conversation": with,
            "marked": marked,
        }),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_device_address_is_user_slash_number() {
        let address = device_address("bob/2").unwrap();
        assert_eq!(address.user.as_str(), "bob");
        assert_eq!(address.device, DeviceId(2));
        // A user id may itself hold a slash; the number is after the last.
        assert_eq!(device_address("a/b/7").unwrap().user.as_str(), "a/b");
        for bad in ["bob", "bob/", "/1", "bob/x", "bob/-1", "bob/4294967296"] {
            let failure = device_address(bad).unwrap_err();
            assert_eq!(failure.code, "invalid_argument", "{bad}");
        }
    }
}
