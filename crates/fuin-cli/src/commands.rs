//! The client commands: one device's store, opened for one operation.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use fuin_client::{
    Client, ClientError, ClientOptions, Event, EventStream, EventStreamItem, Step, StepHook,
};
use fuin_wire::account::InviteCode;
use fuin_wire::{DeviceAddress, DeviceId, UserId};
use serde_json::{Value, json};
use zeroize::Zeroizing;

use crate::output::{Answer, Failure, Output};
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
            "create one with `fuin init --store PATH --relay URL --user NAME` (a new \
             account) or `fuin link --store PATH --relay URL --name NAME` (a new device of \
             your account), or name it with --store or FUIN_STORE",
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
                "a user id is 1 to 64 bytes of text without control or invisible characters",
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

/// What `fuin init` takes besides the store: where, who, and how.
pub struct InitArgs {
    /// The relay's URL.
    pub relay: String,
    /// The new account's user id.
    pub user: String,
    /// The first device's number.
    pub device: u32,
    /// The device's name (`device N` when absent).
    pub name: Option<String>,
    /// The operator's invite code, 64 hex digits.
    pub invite: Option<String>,
}

/// Reads an invite code: 64 hex digits (white space around them ignored).
fn invite_code(text: &str) -> Result<InviteCode, Failure> {
    let bad = || {
        Failure::new(
            "invalid_argument",
            "the invite code is not 64 hex digits",
            "give the code exactly as `fuin relay invite` printed it",
        )
    };
    let bytes = Zeroizing::new(hex::decode(text.trim()).map_err(|_| bad())?);
    let bytes: [u8; 32] = bytes.as_slice().try_into().map_err(|_| bad())?;
    Ok(InviteCode(bytes))
}

/// `fuin init`: creates a new account and its first device, and registers
/// both at the relay.
pub async fn init(store: &StoreArgs, args: &InitArgs) -> Result<Answer, Failure> {
    let user_name = user(&args.user)?;
    if store.store.exists() {
        return Err(Failure::new(
            "store_exists",
            format!("{} already holds a device", store.store.display()),
            "use it as it is, or give another --store for a new device",
        ));
    }
    let mut options = options(store, None)?;
    options.device_name = args.name.clone();
    options.invite = args.invite.as_deref().map(invite_code).transpose()?;
    let client =
        Client::create(&store.store, &args.relay, &user_name, args.device, options).await?;
    let address = client.address().to_string();
    // The SDK creates a device whose relay cannot be reached (it registers
    // on first use); a first, empty sync says at once whether it could.
    let not_registered = match client.sync(Duration::ZERO).await {
        Ok(_) => None,
        Err(err) if err.is_transient() => Some(Failure::from(err)),
        Err(err) => return Err(err.into()),
    };
    let mut text = format!(
        "{address} is set up, the first device of the account {user_name}: its keys and the \
         account key are in {} (and {}.key), its relay is {}",
        store.store.display(),
        store.store.display(),
        client.relay_url()
    );
    if let Some(failure) = &not_registered {
        text.push_str(&format!(
            "\nbut it is not registered yet: {}\n({}; it registers on its first send or sync)",
            failure.message, failure.hint
        ));
    } else {
        text.push_str(&format!(
            "\nTo add another device (a laptop), run `fuin link --relay {} --name NAME` on it \
             and approve its code here with `fuin devices approve CODE`.",
            client.relay_url()
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

/// `fuin link`: makes this store a new device of an existing account,
/// through one of the account's devices that approves the code shown.
pub async fn link(
    store: &StoreArgs,
    relay: &str,
    expected_user: Option<&str>,
    name: &str,
    wait_secs: u64,
    out: Output,
) -> Result<Answer, Failure> {
    let expected_user = expected_user.map(user).transpose()?;
    if store.store.exists() {
        return Err(Failure::new(
            "store_exists",
            format!("{} already holds a device", store.store.display()),
            "link into a new store: give another --store",
        ));
    }
    let options = options(store, None)?;
    let pending =
        Client::begin_link(&store.store, relay, expected_user.as_deref(), name, options).await?;
    let digits = pending.code_digits();
    let text = pending.code_text();
    let expires_at_ms = pending.expires_at_ms();
    // The code is shown here and nowhere else: not in the final answer,
    // not in an error.
    if out.json {
        let line = Zeroizing::new(
            json!({
                "link_code": digits.as_str(),
                "link_text": text.as_str(),
                "expires_at_ms": expires_at_ms,
            })
            .to_string(),
        );
        crate::output::stdout_line(&line);
    } else {
        let mut shown = Zeroizing::new(String::from(
            "On one of your devices, scan this code or type its digits: \
             fuin devices approve CODE\n",
        ));
        if let Some(qr) = qr_code(&text) {
            shown.push_str(&qr);
            shown.push('\n');
        }
        shown.push_str("link code: ");
        shown.push_str(&digits);
        crate::output::stdout_line(&shown);
        crate::output::stdout_line(&format!(
            "It works once, until {}. Waiting for the approval...",
            views::date_time(expires_at_ms)
        ));
    }
    drop((digits, text));
    let client = pending
        .finish(Duration::from_secs(wait_secs))
        .await
        .map_err(|err| match err {
            ClientError::InvalidArgument(_) => {
                let mut failure = Failure::from(err);
                failure.hint = "make a new code (run fuin link again) and approve it within \
                                10 minutes with `fuin devices approve CODE`"
                    .into();
                failure
            }
            other => other.into(),
        })?;
    let address = client.address().to_string();
    Ok(Answer {
        text: format!(
            "{address} is linked: its keys and the account key are in {} (and {}.key), its \
             relay is {}. It starts with an empty history; {}'s contacts see it in the \
             account's device list from now on.",
            store.store.display(),
            store.store.display(),
            client.relay_url(),
            client.address().user
        ),
        json: json!({
            "device": address,
            "relay": client.relay_url(),
            "store": path_text(&store.store),
        }),
    })
}

/// `text` as a QR code of unicode half blocks (light modules drawn, for a
/// dark terminal), with its quiet zone.
fn qr_code(text: &str) -> Option<Zeroizing<String>> {
    use qrcode::render::unicode::Dense1x2;
    let code = qrcode::QrCode::new(text.as_bytes()).ok()?;
    Some(Zeroizing::new(
        code.render::<Dense1x2>()
            .dark_color(Dense1x2::Light)
            .light_color(Dense1x2::Dark)
            .build(),
    ))
}

/// `fuin devices`: this account's devices, as its newest signed list names
/// them.
pub async fn devices(store: &StoreArgs) -> Result<Answer, Failure> {
    let client = open(store, None).await?;
    let devices = client.devices().await?;
    let this = client.address();
    let lines: Vec<String> = devices
        .iter()
        .map(|device| views::device_line(device, device.address == *this))
        .collect();
    Ok(Answer {
        text: format!(
            "{}'s devices (the account's signed list):\n{}",
            this.user,
            lines.join("\n")
        ),
        json: json!({
            "user": this.user.as_str(),
            "devices": devices
                .iter()
                .map(|device| views::device_json(device, device.address == *this))
                .collect::<Vec<_>>(),
        }),
    })
}

/// `fuin devices approve`: links the device that shows `code`.
pub async fn approve(store: &StoreArgs, code: &[String]) -> Result<Answer, Failure> {
    let code = Zeroizing::new(code.join(" "));
    let client = open(store, None).await?;
    let linked = client.approve_link(&code).await.map_err(|err| {
        let mut failure = Failure::from(err);
        if failure.code == "invalid_argument" {
            failure.hint = "type the code the new device shows (60 digits, spaces optional, \
                            or its fuin-link: text); a code works once and for 10 minutes"
                .into();
        }
        failure
    })?;
    Ok(Answer {
        text: format!(
            "linked {} ({}): the account's new device list names it, and your contacts will \
             see \"{} linked a new device\"",
            linked.address,
            views::printable(&linked.name),
            linked.address.user
        ),
        json: json!({
            "linked": views::device_json(&linked, false),
        }),
    })
}

/// `fuin devices remove`: removes a device from the account.
pub async fn remove(store: &StoreArgs, device: &str) -> Result<Answer, Failure> {
    let client = open(store, None).await?;
    let number = match device.parse::<u32>() {
        Ok(number) => number,
        Err(_) => {
            let address = device_address(device)?;
            if address.user != client.address().user {
                return Err(Failure::new(
                    "invalid_argument",
                    format!("{address} is not a device of {}", client.address().user),
                    "fuin devices lists this account's devices",
                ));
            }
            address.device.0
        }
    };
    client.remove_device(number).await?;
    let address = DeviceAddress::new(client.address().user.clone(), DeviceId(number));
    Ok(Answer {
        text: format!(
            "removed {address}: the account's new device list no longer names it; the relay \
             revoked it and deleted what waited for it, and no one seals to it any more"
        ),
        json: json!({ "removed": address.to_string() }),
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
    let notices = Notices::watch(&client);
    let result = client.send_text(&to, text).await;
    notices.finish(result.map_err(Failure::from).map(|sent| {
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
        Answer {
            text,
            json: json!({
                "to": to,
                "local_id": sent.local_id,
                "status": status,
                "devices": sent.devices,
            }),
        }
    }))
}

/// The events a client reports while a command runs: shown with its answer
/// (or ahead of its error), so that a list change or a refused list is seen
/// wherever output is printed.
pub struct Notices {
    events: EventStream,
}

impl Notices {
    /// Starts collecting `client`'s events.
    pub fn watch(client: &Client) -> Self {
        Self {
            events: client.events(),
        }
    }

    /// Adds the events reported so far to `result`: their lines before the
    /// answer's text and an `events` array in its JSON; for a failure, the
    /// lines shown ahead of the error and `events` in its details.
    pub fn finish(mut self, result: Result<Answer, Failure>) -> Result<Answer, Failure> {
        let mut items = Vec::new();
        take_ready(&mut self.events, &mut items);
        let events: Vec<&Event> = items
            .iter()
            .filter_map(|item| match item {
                EventStreamItem::Event(event) => Some(event),
                EventStreamItem::Lagged(_) => None,
            })
            .collect();
        let lines: Vec<String> = events.iter().filter_map(|e| views::event_line(e)).collect();
        let json: Vec<Value> = events.iter().filter_map(|e| views::event_json(e)).collect();
        match result {
            Ok(mut answer) => {
                if !lines.is_empty() {
                    answer.text = format!("{}\n{}", lines.join("\n"), answer.text);
                }
                if let Value::Object(map) = &mut answer.json {
                    map.insert("events".into(), Value::Array(json));
                }
                Ok(answer)
            }
            Err(mut failure) => {
                if !lines.is_empty() {
                    failure.shown = Some(match failure.shown.take() {
                        Some(shown) => format!("{}\n{shown}", lines.join("\n")),
                        None => lines.join("\n"),
                    });
                }
                if !json.is_empty() {
                    failure.details.insert("events".into(), Value::Array(json));
                }
                Err(failure)
            }
        }
    }
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
pub fn take_ready(events: &mut EventStream, into: &mut Vec<EventStreamItem>) {
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
    let notices = Notices::watch(&client);
    let messages = match client.history(&with, limit).await {
        Ok(messages) => messages,
        Err(err) => return notices.finish(Err(err.into())),
    };
    let text = if messages.is_empty() {
        format!("no messages with {with}")
    } else {
        messages
            .iter()
            .map(views::message_line)
            .collect::<Vec<_>>()
            .join("\n")
    };
    notices.finish(Ok(Answer {
        text,
        json: json!({
            "conversation": with,
            "messages": messages.iter().map(views::message_json).collect::<Vec<_>>(),
        }),
    }))
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

/// `fuin safety-number`: the number to compare with a contact, from the
/// two account keys; while their key change waits, the new number, labelled.
pub async fn safety_number(store: &StoreArgs, with: &str) -> Result<Answer, Failure> {
    let with = user(with)?;
    let client = open(store, None).await?;
    let numbers = client.safety_number(&with).await?;
    let mut lines = vec![format!(
        "Compare this with {with}'s (fuin safety-number {} on their device), in person \
         or over a call: if they are equal, no one is in between. It stays the same when \
         either of you links or removes a device.",
        client.address().user
    )];
    lines.extend(views::safety_number_lines(&with, &numbers));
    let sessions = client.session_security(&with).await?;
    lines.extend(views::session_security_lines(&sessions));
    let mut json = views::safety_number_json(&with, &numbers);
    json["sessions"] = views::session_security_json(&sessions);
    Ok(Answer {
        text: lines.join("\n"),
        json,
    })
}

/// `fuin accept-identity`: trusts a contact's new account key (after the
/// new safety number was compared) and shows the messages held meanwhile.
pub async fn accept_identity(store: &StoreArgs, with: &str) -> Result<Answer, Failure> {
    let with = user(with)?;
    let client = open(store, None).await?;
    let numbers = client.safety_number(&with).await?;
    let Some(new_number) = numbers.pending else {
        return Err(Failure::new(
            "invalid_argument",
            format!("{with} has no account key change to accept"),
            format!("fuin safety-number {with} shows the number this device trusts"),
        ));
    };
    let mut events = client.events();
    let released = client.accept_identity_change(&with).await?;
    let mut items = Vec::new();
    take_ready(&mut events, &mut items);
    let mut shown = Vec::new();
    let mut shown_json = Vec::new();
    for item in &items {
        if let EventStreamItem::Event(Event::MessageReceived { local_id, .. }) = item
            && let Some(message) = client.message(*local_id).await?
        {
            shown.push(views::message_line(&message));
            shown_json.push(views::message_json(&message));
        }
    }
    let mut lines = vec![format!(
        "accepted {with}'s new account key, safety number {new_number}: this is now the \
         verified number; {released} held message{} shown",
        views::plural(released as u64)
    )];
    lines.extend(shown);
    Ok(Answer {
        text: lines.join("\n"),
        json: json!({
            "user": with,
            "number": new_number,
            "released": released,
            "received": shown_json,
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
