//! The demo's account steps (`spec/accounts.md`): bob's laptop joins his
//! account with a link code typed on his phone, and later the relay tries
//! to slip a ghost device into bob's account by editing the device list it
//! serves; alice's device refuses the list and seals nothing to the ghost.

use std::path::Path;
use std::time::Duration;

use fuin_client::{Client, ClientOptions, Event, EventStreamItem};
use fuin_wire::account::{AccountDevice, DeviceName, SignedDeviceList};
use fuin_wire::{DeviceId, FrameBody};
use rusqlite::{Connection, OptionalExtension, params};

use super::{Demo, Transcript, demo_failure, relay_view};
use crate::output::Failure;

/// What alice says to bob once the relay has edited his list.
pub const ALICE_AFTER_GHOST: &str = "Did the photo arrive on both of your devices?";

/// The ghost's device number: one past bob's phone and laptop.
const GHOST: u32 = 3;

/// bob's laptop makes a link code, bob's phone approves it, and the laptop
/// becomes bob/2. Returns the laptop's client.
pub async fn link_laptop(
    dir: &Path,
    relay_url: &str,
    database: &Path,
    bob_phone: &Client,
    out: &mut Transcript,
) -> Result<Client, Failure> {
    let pending = Client::begin_link(
        dir.join("bob-2.db"),
        relay_url,
        Some("bob"),
        "laptop",
        ClientOptions::default(),
    )
    .await?;
    out.step(
        "bob links his laptop to his account: the laptop shows a link code (a QR code and \
         60 digits), and bob enters it on his phone.",
    );
    // A demo shows its code: it is made, used and spent within this step.
    let digits = pending.code_digits();
    out.line(format!(
        "bob's laptop shows   link code {}",
        digits.as_str()
    ));
    let waiting = relay_view::link_messages(database)?;
    let request_bytes: u64 = waiting.iter().map(|message| message.bytes).sum();
    if let Some(request) = waiting.first() {
        out.line(format!(
            "The relay holds the laptop's {}: channel {}…, {} bytes sealed under keys from the \
             code, which it never saw.",
            request.slot,
            request.channel.get(..16).unwrap_or(&request.channel),
            request.bytes
        ));
    }
    let linked = bob_phone.approve_link(&digits).await?;
    drop(digits);
    let grant_bytes: u64 = relay_view::link_messages(database)?
        .iter()
        .map(|message| message.bytes)
        .sum();
    let laptop = pending.finish(Duration::from_secs(30)).await?;
    let devices = bob_phone.devices().await?;
    let names: Vec<String> = devices
        .iter()
        .map(|device| format!("{} {}", device.address, device.name))
        .collect();
    out.line(format!(
        "bob/1 takes the request, checks the laptop's identity against the code, signs a new \
         device list with bob's account key ({}) and hands the laptop the account key and the \
         list, sealed.",
        names.join(", ")
    ));
    let left = relay_view::link_messages(database)?.len();
    out.line(format!(
        "The laptop is {} (\"{}\"). The relay saw only sealed bytes ({request_bytes} of request, \
         {grant_bytes} of grant) and now holds {left} of them.",
        laptop.address(),
        linked.name
    ));
    Ok(laptop)
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| {
            u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
        })
}

/// Opens the demo relay's database for writing, as the relay's operator
/// (or someone who broke into it) could.
fn open_for_writing(database: &Path) -> Result<Connection, Failure> {
    let failed = |err: rusqlite::Error| {
        Failure::new(
            "relay_database",
            format!("cannot edit the demo relay's database: {err}"),
            "the demo's directory must stay writable while it runs",
        )
    };
    let db = Connection::open(database).map_err(failed)?;
    db.busy_timeout(Duration::from_secs(10)).map_err(failed)?;
    Ok(db)
}

impl Demo {
    /// The relay adds a ghost device to bob's list (keeping the old
    /// signature) and registers it; alice writes to bob.
    pub(super) async fn ghost_device(&mut self) -> Result<(), Failure> {
        let failed = |err: rusqlite::Error| demo_failure(format!("editing the database: {err}"));
        let db = open_for_writing(&self.relay.database)?;
        let stored: Option<Vec<u8>> = db
            .query_row("SELECT list FROM accounts WHERE user = 'bob'", [], |row| {
                row.get(0)
            })
            .optional()
            .map_err(failed)?;
        let stored = stored.ok_or_else(|| demo_failure("bob has no account row".into()))?;
        let mut list = SignedDeviceList::from_bytes(&stored)
            .map_err(|err| demo_failure(format!("bob's list: {err}")))?
            .into_owned();
        let ghost = fuin_seal::DeviceIdentity::generate(&mut rand::rng());
        let identity = ghost.public().clone();
        let mut devices = list.content.devices.as_slice().to_vec();
        devices.push(AccountDevice {
            device: DeviceId(GHOST),
            identity: identity.clone(),
            name: DeviceName::new("bob's new tablet")
                .map_err(|err| demo_failure(err.to_string()))?,
            added_at_ms: now_ms(),
        });
        list.content.devices = devices.into();
        // A "newer" list, so that devices that hold version 2 take it, if
        // only its signature (made over the old list) let them.
        list.content.version += 1;
        let edited = list
            .to_bytes()
            .map_err(|err| demo_failure(format!("bob's edited list: {err}")))?;
        let mut identity_bytes = Vec::with_capacity(128);
        identity_bytes.extend_from_slice(&identity.signing_key.0);
        identity_bytes.extend_from_slice(&identity.agreement_key.0);
        identity_bytes.extend_from_slice(&identity.signature.0);
        db.execute(
            "UPDATE accounts SET list = ?1, version = ?2 WHERE user = 'bob'",
            params![
                edited,
                i64::try_from(list.content.version).unwrap_or(i64::MAX)
            ],
        )
        .map_err(failed)?;
        db.execute(
            "INSERT INTO devices (user, device, identity, registered_at) VALUES ('bob', ?1, ?2, ?3)",
            params![
                i64::from(GHOST),
                identity_bytes,
                i64::try_from(now_ms()).unwrap_or(i64::MAX)
            ],
        )
        .map_err(failed)?;
        drop(db);
        self.out.step(
            "The relay tries to slip a ghost device into bob's account: it adds bob/3 to the \
             device list it serves for bob, keeping the old signature, and registers bob/3.",
        );
        self.out.line(format!(
            "The relay's accounts table now serves bob's list as version {}, naming bob/1, bob/2 \
             and bob/3; its devices table has a row for bob/3.",
            list.content.version
        ));

        let mut events = self.alice.events();
        let sent = self.alice.send_text("bob", ALICE_AFTER_GHOST).await?;
        let mut seen = Vec::new();
        crate::commands::take_ready(&mut events, &mut seen);
        self.out.line(format!(
            "alice/1 → bob: \"{ALICE_AFTER_GHOST}\"  (sealed for {} devices, {})",
            sent.devices,
            sent.status.as_str()
        ));
        let mut refused = false;
        for item in &seen {
            if let EventStreamItem::Event(event @ Event::DeviceListRejected { .. }) = item {
                refused = true;
                if let Some(line) = crate::views::event_line(event) {
                    self.out.line(format!(
                        "alice/1 refused it: {}",
                        line.trim_start_matches("! ")
                    ));
                }
            }
        }
        if !refused {
            self.out
                .line("alice/1 did NOT report the edited list: something is wrong.");
        }
        let view = relay_view::read(&self.relay.database)?;
        let count = |recipient: &str| {
            view.mailbox
                .iter()
                .filter(|envelope| envelope.recipient == recipient)
                .count()
        };
        self.out.line(format!(
            "The relay's mailbox holds {} envelopes for bob/3, {} for bob/1 and {} for bob/2: \
             alice's device sealed nothing to the ghost, only to the devices bob's account key \
             signed for.",
            count("bob/3"),
            count("bob/1"),
            count("bob/2")
        ));
        self.views.insert("after_ghost".into(), view.json());
        self.bob_phone.sync(super::NOW).await?;
        if let Some(message) = self
            .bob_phone
            .history("alice", 50)
            .await?
            .into_iter()
            .rfind(|message| message.text == ALICE_AFTER_GHOST)
        {
            self.out
                .line(format!("bob/1 shows   {}", super::quoted(&message)));
        }
        Ok(())
    }
}
