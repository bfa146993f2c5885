//! A minimal terminal chat app on the `fuin` crate.
//!
//! ```text
//! terminal-chat <store> <relay-url> <user> <peer>
//! ```
//!
//! The first run creates the device `<user>/1` with its encrypted store at
//! `<store>` and registers it at the relay; later runs open it again. It
//! shows the last messages with `<peer>`, then sends each line typed as a
//! message to `<peer>` and prints the peer's messages as they arrive.
//! `/quit` (or the end of the input) leaves.
#![forbid(unsafe_code)]

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use fuin::{
    BackgroundOptions, Client, ClientError, ClientOptions, Event, EventStream, EventStreamItem,
    Message,
};
use tokio::io::{AsyncBufReadExt, BufReader};

/// How many earlier messages to show on start.
const HISTORY_SHOWN: usize = 20;

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [store, relay, user, peer] = args.as_slice() else {
        show_error("usage: terminal-chat <store> <relay-url> <user> <peer>");
        return ExitCode::from(2);
    };
    match chat(Path::new(store), relay, user, peer).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            show_error(&format!("error: {err} ({})", err.hint()));
            ExitCode::FAILURE
        }
    }
}

async fn chat(store: &Path, relay: &str, user: &str, peer: &str) -> Result<(), ClientError> {
    let client = open_or_create(store, relay, user).await?;
    for message in client.history(peer, HISTORY_SHOWN).await? {
        show(&line_for(&message));
    }
    show(&format!("{user} chatting with {peer}; /quit to leave"));

    // Subscribed before the first fetch, so that no arrival goes unshown.
    let events = client.events();
    let printing = tokio::spawn(print_arrivals(client.clone(), events, peer.to_owned()));
    // The SDK keeps a push stream to the relay (long polls when it cannot),
    // stores what arrives and reports it on the event stream.
    let background = client.start_background(BackgroundOptions::default())?;

    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    loop {
        let line = match lines.next_line().await {
            Ok(Some(line)) => line,
            Ok(None) => break,
            Err(err) => return Err(ClientError::File(format!("reading the input: {err}"))),
        };
        let text = line.trim();
        if text == "/quit" {
            break;
        }
        if text.is_empty() {
            continue;
        }
        // A message the relay could not take yet stays queued in the store
        // and goes out with a later send or fetch: say so and carry on.
        if let Err(err) = client.send_text(peer, text).await {
            if err.is_transient() {
                show_error(&format!("queued: {err}"));
            } else {
                show_error(&format!("not sent: {err} ({})", err.hint()));
            }
        }
    }
    background.stop().await;
    printing.abort();
    Ok(())
}

/// Opens the device stored at `store`, or creates and registers it.
async fn open_or_create(store: &Path, relay: &str, user: &str) -> Result<Client, ClientError> {
    if store.exists() {
        return Client::open(store, ClientOptions::default()).await;
    }
    Client::create(store, relay, user, 1, ClientOptions::default()).await
}

/// Prints every message of the conversation with `peer` as it is stored.
async fn print_arrivals(client: Client, mut events: EventStream, peer: String) {
    while let Some(item) = events.next().await {
        match item {
            EventStreamItem::Event(Event::MessageReceived {
                conversation,
                local_id,
                ..
            }) if conversation == peer => match client.message(local_id).await {
                Ok(Some(message)) => show(&line_for(&message)),
                Ok(None) => {}
                Err(err) => show_error(&format!("cannot show a message: {err}")),
            },
            EventStreamItem::Event(Event::IdentityChanged { user }) => show_error(&format!(
                "{user}'s account key changed; compare safety numbers before trusting it"
            )),
            EventStreamItem::Lagged(skipped) => {
                show_error(&format!("{skipped} events skipped; the history has them"));
            }
            EventStreamItem::Event(_) => {}
        }
    }
}

/// One message as a line: who sent it and its text.
fn line_for(message: &Message) -> String {
    let who = if message.outgoing {
        "me"
    } else {
        message.sender.user.as_str()
    };
    format!("{who}: {}", message.text)
}

fn show(line: &str) {
    let mut out = std::io::stdout().lock();
    // A closed terminal leaves nobody to tell.
    let _ = writeln!(out, "{line}").and_then(|()| out.flush());
}

fn show_error(line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}
