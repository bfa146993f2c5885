//! `fuin demo`: a relay and three users in one process, step by step.
//!
//! The relay is the real server ([`fuin_relay::serve`] on a loopback port,
//! [`SqliteStore`] on a file); every device is an SDK [`Client`] with its
//! own store, talking to the relay over HTTP as it would across a network.
//! Each step says in one line what happens and shows what the devices see;
//! the last shows what the relay's database holds, read from its file.
//!
//! The steps are methods of [`Demo`], run in order by [`run`]; later
//! features (groups, attachments) add steps of their own. The report steps
//! use the moderation tool's own code ([`crate::moderate`]): bob reports one
//! message, moderation pulls the relay's inbox, opens and verifies the
//! report, and the audit log records it. The group steps ([`group`]) run a
//! group conversation with a member removed midway.

mod accounts;
mod attachment;
mod group;
mod relay_view;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use fuin_client::report::{
    AuditLog, ModerationSecretKey, Moderator, StampKeySet, Verdict, verify_file,
};
use fuin_client::{Client, ClientOptions, Message};
use fuin_relay::api::system_clock;
use fuin_relay::blobs::FsBlobStore;
use fuin_relay::franking::StampKeys;
use fuin_relay::store::sqlite::SqliteStore;
use fuin_relay::{Relay, RelayConfig};
use fuin_wire::StampKeyId;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::sync::oneshot;

use crate::output::{Answer, Failure, Output};
use crate::views;
use relay_view::DatabaseView;

/// `fuin demo`'s options.
#[derive(clap::Args)]
pub struct DemoArgs {
    /// Keep the relay's database and the devices' stores in DIR (new or
    /// empty) instead of a temporary directory, to look at them afterwards.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

const ALICE_TO_BOB: &str = "Hi Bob! Lunch tomorrow at noon?";
const BOB_TO_ALICE: &str = "Sure, see you at noon.";
const ALICE_TO_CAROL: [&str; 2] = [
    "Carol, are you coming to lunch too?",
    "We meet at the station at noon.",
];
const BOB_TO_CAROL: &str = "Bring an umbrella, it may rain.";
const CAROL_TO_BOB: &str = "Send me your bank password or your photos go online.";
/// The demo relay's stamp key id.
const STAMP_KEY_ID: u32 = 1;

/// The relay, served from a task of this process.
struct DemoRelay {
    url: String,
    database: PathBuf,
    /// The relay's stamp key: moderation holds a copy to check stamps.
    stamp_key: zeroize::Zeroizing<[u8; 32]>,
    /// The moderation tool's credential for the relay's report inbox (the
    /// relay keeps only its hash).
    credential: zeroize::Zeroizing<[u8; 32]>,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    /// The relay itself, for the step where it misbehaves on purpose.
    relay: std::sync::Arc<Relay<SqliteStore>>,
}

impl DemoRelay {
    async fn start(database: PathBuf) -> Result<Self, Failure> {
        let failed = |what: &str, err: String| {
            Failure::new(
                "demo_relay",
                format!("the demo relay cannot start: {what}: {err}"),
                "the demo needs a writable directory and a free loopback port",
            )
        };
        let store =
            SqliteStore::open(&database).map_err(|err| failed("database", err.to_string()))?;
        let mut stamp_key = zeroize::Zeroizing::new([0u8; 32]);
        rand::fill(stamp_key.as_mut());
        let mut credential = zeroize::Zeroizing::new([0u8; 32]);
        rand::fill(credential.as_mut());
        let mut config = RelayConfig::new(StampKeys::new(StampKeyId(STAMP_KEY_ID), *stamp_key));
        config.moderation_credential_hash = Some(Sha256::digest(credential.as_ref()).into());
        // Blob bytes are files next to the database, as a relay keeps them.
        let blobs = FsBlobStore::open(&blob_dir(&database))
            .map_err(|err| failed("blob directory", err.to_string()))?;
        let relay = Relay::with_blob_store(store, Arc::new(blobs), config, system_clock());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|err| failed("listening", err.to_string()))?;
        let address = listener
            .local_addr()
            .map_err(|err| failed("listening", err.to_string()))?;
        let (stop, stopped) = oneshot::channel::<()>();
        let served = relay.clone();
        let task = tokio::spawn(fuin_relay::serve(listener, served, async {
            let _ = stopped.await;
        }));
        Ok(Self {
            url: format!("http://{address}"),
            database,
            stamp_key,
            credential,
            stop: Some(stop),
            task,
            relay,
        })
    }

    /// Shuts the relay down; its store closes (and checkpoints) with it.
    async fn stop(mut self) -> Result<(), Failure> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let failed = |why: String| {
            Failure::new(
                "demo_relay",
                format!("the demo relay failed: {why}"),
                "run the demo again; if it keeps failing, report it",
            )
        };
        match self.task.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(err)) => Err(failed(err.to_string())),
            Err(err) => Err(failed(err.to_string())),
        }
    }
}

/// Prints the steps as they happen (text), or collects them (JSON).
struct Transcript {
    out: Output,
    steps: Vec<Value>,
}

impl Transcript {
    fn say(&self, text: &str) {
        if !self.out.json {
            crate::output::stdout_line(text);
        }
    }

    /// Starts the next step, explained in one line.
    fn step(&mut self, title: &str) {
        let number = self.steps.len() + 1;
        self.say(&format!("\n{number}. {title}"));
        self.steps
            .push(json!({ "step": number, "title": title, "lines": [] }));
    }

    /// A line of the current step.
    fn line(&mut self, line: impl Into<String>) {
        let line = line.into();
        self.say(&format!("     {line}"));
        if let Some(lines) = self
            .steps
            .last_mut()
            .and_then(|step| step.get_mut("lines"))
            .and_then(Value::as_array_mut)
        {
            lines.push(Value::String(line));
        }
    }

    fn lines(&mut self, lines: impl IntoIterator<Item = String>) {
        for line in lines {
            self.line(line);
        }
    }
}

/// The demo's relay, devices and transcript.
struct Demo {
    relay: DemoRelay,
    dir: PathBuf,
    alice: Client,
    bob_phone: Client,
    bob_laptop: Client,
    carol: Client,
    out: Transcript,
    /// The database views taken, by name, for the JSON output.
    views: serde_json::Map<String, Value>,
}

const NOW: Duration = Duration::ZERO;

/// `alice/1: "text"`, with `(you)` after the sender for the user's own.
fn quoted(message: &Message) -> String {
    let you = if message.outgoing { " (you)" } else { "" };
    format!(
        "{}{you}: \"{}\"",
        message.sender,
        views::printable(&message.text)
    )
}

/// Runs the demo in `args.dir` or a temporary directory.
pub async fn run(args: DemoArgs, out: Output) -> Result<Answer, Failure> {
    let temporary;
    let kept = args.dir.is_some();
    let dir = match args.dir {
        Some(dir) => {
            prepare(&dir)?;
            dir
        }
        None => {
            temporary = tempfile::tempdir().map_err(|err| {
                Failure::new(
                    "demo_dir",
                    format!("cannot make a temporary directory: {err}"),
                    "set TMPDIR to a writable directory",
                )
            })?;
            temporary.path().to_owned()
        }
    };
    let transcript = Transcript {
        out,
        steps: Vec::new(),
    };
    transcript.say(
        "fuin demo: alice, bob (with a phone and a laptop) and carol chat through a relay\n\
         that carries their messages without being able to read them.",
    );
    let mut demo = Demo::start(&dir, transcript).await?;
    demo.one_to_one().await?;
    demo.answer_from_one_device().await?;
    demo.the_other_device_sees_both_sides().await?;
    let before = demo.offline_device_waits().await?;
    demo.offline_device_catches_up(before).await?;
    demo.safety_numbers().await?;
    demo.share_a_photo().await?;
    let (moderator, held) = demo.report_one_message().await?;
    demo.moderation_opens_the_report(&moderator, held).await?;
    demo.group_conversation().await?;
    demo.ghost_device().await?;
    demo.everything_acknowledged().await?;
    demo.transcript().await?;
    demo.relay_database()?;
    let Demo {
        relay,
        out: transcript,
        views,
        ..
    } = demo;
    relay.stop().await?;
    transcript.say(&format!(
        "\nDone.{} The README shows how to chat from two terminals.",
        if kept {
            format!(" The files are in {}.", dir.display())
        } else {
            String::new()
        }
    ));
    Ok(Answer {
        text: String::new(),
        json: json!({
            "steps": transcript.steps,
            "relay_database": views,
        }),
    })
}

fn demo_failure(why: String) -> Failure {
    Failure::new(
        "demo_relay",
        format!("the demo failed: {why}"),
        "run the demo again; if it keeps failing, report it",
    )
}

/// Makes `dir` ready: created if missing, refused if it holds anything.
fn prepare(dir: &Path) -> Result<(), Failure> {
    let refuse = |why: String| {
        Failure::new(
            "demo_dir",
            format!("cannot use {} for the demo: {why}", dir.display()),
            "give a new or empty directory to --dir",
        )
    };
    std::fs::create_dir_all(dir).map_err(|err| refuse(err.to_string()))?;
    let mut entries = std::fs::read_dir(dir).map_err(|err| refuse(err.to_string()))?;
    if entries.next().is_some() {
        return Err(refuse("it is not empty".into()));
    }
    Ok(())
}

impl Demo {
    async fn start(dir: &Path, mut out: Transcript) -> Result<Self, Failure> {
        let relay = DemoRelay::start(dir.join("relay.db")).await?;
        out.step(&format!(
            "A relay starts on {}, keeping its data in an SQLite file.",
            relay.url
        ));
        out.line("It will only ever see sealed envelopes, public keys and routing.");

        let create = |user: &'static str, name: &'static str| {
            let path = dir.join(format!("{user}-1.db"));
            let url = relay.url.clone();
            let options = ClientOptions {
                device_name: Some(name.to_owned()),
                ..ClientOptions::default()
            };
            async move { Client::create(path, &url, user, 1, options).await }
        };
        let alice = create("alice", "phone").await?;
        let bob_phone = create("bob", "phone").await?;
        let carol = create("carol", "phone").await?;
        out.step(
            "alice, bob and carol each create an account on their phone: alice/1, bob/1, carol/1.",
        );
        out.line(
            "Each phone makes the user's account key and its own identity keys, registers a \
             device list signed by the account key, and publishes prekeys.",
        );
        let bob_laptop =
            accounts::link_laptop(dir, &relay.url, &relay.database, &bob_phone, &mut out).await?;
        Ok(Self {
            relay,
            dir: dir.to_owned(),
            alice,
            bob_phone,
            bob_laptop,
            carol,
            out,
            views: serde_json::Map::new(),
        })
    }

    async fn one_to_one(&mut self) -> Result<(), Failure> {
        let sent = self.alice.send_text("bob", ALICE_TO_BOB).await?;
        self.out.step(
            "alice writes to bob; the message is sealed separately for each of bob's devices.",
        );
        self.out.line(format!(
            "alice/1 → bob: \"{ALICE_TO_BOB}\"  (sealed for {} devices, {})",
            sent.devices,
            sent.status.as_str()
        ));

        self.bob_phone.sync(NOW).await?;
        self.out
            .step("bob's phone syncs: it opens the message and sends back a delivery receipt.");
        for message in self.bob_phone.history("alice", 10).await? {
            self.out.line(format!("bob/1 shows   {}", quoted(&message)));
        }
        self.alice.sync(NOW).await?;
        let sessions = self.alice.session_security("bob").await?;
        let hybrid = !sessions.is_empty() && sessions.iter().all(|s| s.post_quantum);
        self.out.line(format!(
            "alice/1's sessions with bob's {} devices are {}: the relay, or anyone recording \
             this traffic, cannot open it later even with a quantum computer that breaks X25519.",
            sessions.len(),
            if hybrid {
                "post-quantum hybrid (X25519 + ML-KEM-768)"
            } else {
                "NOT all post-quantum"
            }
        ));
        let mine = self.alice.history("bob", 10).await?;
        for message in &mine {
            let receipts = self.alice.receipts(message.local_id).await?;
            let by: Vec<String> = receipts.iter().map(|r| r.by.to_string()).collect();
            self.out.line(format!(
                "alice/1 shows her message as {} (receipt from {})",
                message.status.as_str(),
                if by.is_empty() {
                    "nobody".to_owned()
                } else {
                    by.join(", ")
                }
            ));
        }
        Ok(())
    }

    async fn answer_from_one_device(&mut self) -> Result<(), Failure> {
        let read = self.bob_phone.mark_read("alice").await?;
        let sent = self.bob_phone.send_text("alice", BOB_TO_ALICE).await?;
        self.out.step(
            "bob reads it on his phone and answers; the read receipt and the answer also go to his laptop.",
        );
        self.out.line(format!(
            "bob/1 marks {read} message read, then: bob/1 → alice: \"{BOB_TO_ALICE}\"  (sealed for {} devices)",
            sent.devices
        ));
        self.alice.sync(NOW).await?;
        for message in self.alice.history("bob", 10).await? {
            self.out.line(format!(
                "alice/1 shows {}  ({})",
                quoted(&message),
                message.status.as_str()
            ));
        }
        Ok(())
    }

    async fn the_other_device_sees_both_sides(&mut self) -> Result<(), Failure> {
        self.bob_laptop.sync(NOW).await?;
        self.out.step(
            "bob's laptop syncs: it shows both sides of the conversation, already read on the phone.",
        );
        for message in self.bob_laptop.history("alice", 10).await? {
            self.out.line(format!(
                "bob/2 shows   {}  ({})",
                quoted(&message),
                message.status.as_str()
            ));
        }
        Ok(())
    }

    /// Carol is away while messages for her arrive; returns what the relay
    /// held for her.
    async fn offline_device_waits(&mut self) -> Result<usize, Failure> {
        for text in ALICE_TO_CAROL {
            self.alice.send_text("carol", text).await?;
        }
        self.bob_phone.send_text("carol", BOB_TO_CAROL).await?;
        self.out.step(
            "carol is offline while alice sends her two messages and bob one; the relay keeps them.",
        );
        let view = relay_view::read(&self.relay.database)?;
        let waiting = view
            .mailbox
            .iter()
            .filter(|envelope| envelope.recipient == "carol/1")
            .count();
        self.out.line(format!(
            "The relay's mailbox table now holds {} envelopes, {waiting} of them for carol/1; \
             this is all it has of them:",
            view.mailbox.len()
        ));
        self.out.lines(view.mailbox_lines());
        self.out
            .line("(the others are receipts and copies for devices that have not synced since)");
        self.views.insert("before_catch_up".into(), view.json());
        Ok(waiting)
    }

    async fn offline_device_catches_up(&mut self, waiting: usize) -> Result<(), Failure> {
        let report = self.carol.sync(NOW).await?;
        self.out.step(&format!(
            "carol comes back and syncs: {} messages arrive, in the order they were sent.",
            report.messages
        ));
        for peer in ["alice", "bob"] {
            for message in self.carol.history(peer, 10).await? {
                self.out.line(format!("carol/1 shows {}", quoted(&message)));
            }
        }
        let left = relay_view::read(&self.relay.database)?
            .mailbox
            .iter()
            .filter(|envelope| envelope.recipient == "carol/1")
            .count();
        self.out.line(format!(
            "The relay held {waiting} envelopes for carol/1; after her acknowledgement it holds {left}."
        ));
        Ok(())
    }

    async fn safety_numbers(&mut self) -> Result<(), Failure> {
        let seen_by_alice = self.alice.safety_number("bob").await?.number;
        let seen_by_bob = self.bob_phone.safety_number("alice").await?.number;
        self.out.step(
            "alice and bob compare safety numbers (in person, or over a call) to rule out a relay in between.",
        );
        self.out
            .line(format!("alice/1 has for bob:   {seen_by_alice}"));
        self.out
            .line(format!("bob/1 has for alice:   {seen_by_bob}"));
        self.out.line(
            if seen_by_alice == seen_by_bob && !seen_by_alice.is_empty() {
                "They are equal: each holds the other's real keys."
            } else {
                "They DIFFER: someone substituted keys."
            },
        );
        self.out.line(
            "They come from the two account keys, so bob's laptop did not change them, and no \
             device linked or removed later will.",
        );
        Ok(())
    }

    /// carol sends bob something abusive; bob reports that one message.
    /// Returns moderation's keys (made here; bob's app is given the public
    /// half).
    async fn report_one_message(&mut self) -> Result<(Moderator, usize), Failure> {
        let mut stamp_keys = StampKeySet::new();
        stamp_keys
            .insert(StampKeyId(STAMP_KEY_ID), &self.relay.stamp_key, None)
            .map_err(|err| demo_failure(err.to_string()))?;
        let moderator = Moderator::new(
            ModerationSecretKey::generate(&mut rand::rng(), 1),
            stamp_keys,
        );

        self.carol.send_text("bob", CAROL_TO_BOB).await?;
        self.bob_phone.sync(NOW).await?;
        let received = self.bob_phone.history("carol", 10).await?;
        let abusive = received
            .iter()
            .find(|message| !message.outgoing && message.text == CAROL_TO_BOB)
            .ok_or_else(|| demo_failure("carol's message did not reach bob's phone".into()))?;
        let mut held = 0;
        for conversation in self.bob_phone.conversations().await? {
            held += self
                .bob_phone
                .history(&conversation.peer, 1_000)
                .await?
                .len();
        }
        let report = self
            .bob_phone
            .report("threat and extortion", &[abusive.local_id])
            .await?;
        let preview = report.preview();
        self.out.step(
            "carol sends bob a threat; bob reports that one message. His phone shows what will leave it:",
        );
        self.out.line(format!("bob/1 shows   {}", quoted(abusive)));
        self.out.line(format!(
            "preview: reason \"{}\", {} message:",
            views::printable(&preview.reason),
            preview.messages.len()
        ));
        for message in &preview.messages {
            self.out.line(format!(
                "  {}: \"{}\"",
                message.sender,
                views::printable(&message.text())
            ));
        }
        self.out.line(format!(
            "bob/1 holds {held} messages; the report discloses {} of them, sealed to moderation's hybrid key (X25519 + ML-KEM-768).",
            preview.messages.len()
        ));
        let moderation_key = moderator.public_key().ok_or_else(|| {
            Failure::new(
                "demo",
                "moderation's key is not a hybrid key",
                "report this as a bug",
            )
        })?;
        let accepted = self
            .bob_phone
            .submit_report(&report, &moderation_key)
            .await?;
        let view = relay_view::read(&self.relay.database)?;
        self.out.line(format!(
            "The relay stores it as report {}…: {} row in its reports table, {} bytes it cannot open.",
            &hex::encode(accepted.report_id.0)[..16],
            view.reports.len(),
            view.reports.first().map_or(0, |report| report.bytes)
        ));
        self.views.insert("report_waiting".into(), view.json());
        Ok((moderator, held))
    }

    /// Moderation pulls the inbox, opens and verifies the report, and the
    /// audit log records the opening.
    async fn moderation_opens_the_report(
        &mut self,
        moderator: &Moderator,
        held: usize,
    ) -> Result<(), Failure> {
        let moderation_dir = self.dir.join("moderation");
        let inbox = moderation_dir.join("inbox");
        let pulled =
            crate::moderate::inbox::pull(&self.relay.url, &self.relay.credential, &inbox, None)
                .await?;
        let audit_path = moderation_dir.join("audit.log");
        let mut audit =
            AuditLog::open(&audit_path).map_err(|err| crate::moderate::audit_failure(&err))?;
        let files: Vec<PathBuf> = pulled.iter().map(|report| report.path.clone()).collect();
        let (opened, refused) = crate::moderate::open_all(
            moderator,
            &mut audit,
            "moderator-1",
            &files,
            crate::moderate::now_ms(),
        )?;
        if let Some((path, err)) = refused.first() {
            return Err(demo_failure(format!(
                "moderation could not open {}: {err}",
                path.display()
            )));
        }
        self.out.step(
            "Moderation pulls the relay's report inbox, opens the report with its key and checks every message:",
        );
        for report in &opened {
            self.out.lines(crate::moderate::report_lines(report));
            let verified = report
                .messages
                .iter()
                .filter(|message| message.verdict == Verdict::Verified)
                .count();
            self.out.line(format!(
                "{verified} of {} message verified: carol's commitment opens with the key in the report, \
                 and the relay's stamp shows it was sent by carol/1 to bob/1.",
                report.messages.len()
            ));
            self.out.line(format!(
                "Only that message was disclosed: moderation saw {} of the {held} messages bob/1 holds.",
                report.messages.len()
            ));
        }
        let (records, head) =
            verify_file(&audit_path).map_err(|err| crate::moderate::audit_failure(&err))?;
        self.out.line(format!(
            "The audit log holds {} record (who opened which report, when, the outcome); its chain \
             verifies, head {}:{}…",
            records.len(),
            head.records,
            &hex::encode(head.hash)[..16]
        ));
        let view = relay_view::read(&self.relay.database)?;
        self.out.line(format!(
            "After the pull the relay's reports table holds {} rows: moderation acknowledged the report.",
            view.reports.len()
        ));
        self.views.insert("after_pull".into(), view.json());
        Ok(())
    }

    async fn everything_acknowledged(&mut self) -> Result<(), Failure> {
        let devices = [&self.alice, &self.bob_phone, &self.bob_laptop, &self.carol];
        let mut total = 0;
        // Receipts beget no receipts, so this settles within a few rounds.
        for _ in 0..5 {
            let mut round = 0;
            for device in devices {
                round += device.sync(NOW).await?.acknowledged;
            }
            total += round;
            if round == 0 {
                break;
            }
        }
        self.out.step(
            "Every device syncs once more, so that every receipt and copy is delivered and acknowledged.",
        );
        self.out.line(format!(
            "{total} more envelopes delivered, acknowledged and deleted at the relay."
        ));
        Ok(())
    }

    async fn transcript(&mut self) -> Result<(), Failure> {
        self.out
            .step("The conversations as alice/1 keeps them (only devices hold the text):");
        for peer in ["bob", "carol"] {
            for message in self.alice.history(peer, 10).await? {
                self.out
                    .line(format!("with {peer:<6} {}", views::message_line(&message)));
            }
        }
        Ok(())
    }

    fn relay_database(&mut self) -> Result<(), Failure> {
        let view: DatabaseView = relay_view::read(&self.relay.database)?;
        self.out
            .step("What the relay's database holds now, table by table:");
        self.out.lines(view.table_lines());
        if view.mailbox.is_empty() {
            self.out.line(
                "The mailbox is empty: each envelope was deleted (and overwritten) once its device acknowledged it.",
            );
        } else {
            self.out.line("The mailbox still holds:");
            self.out.lines(view.mailbox_lines());
        }
        self.out.line(
            "Nowhere a message, a receipt, a report or a record of who wrote to whom: only public keys and routing.",
        );
        self.views.insert("at_the_end".into(), view.json());
        Ok(())
    }
}

/// The directory the demo relay keeps blob bytes in: the database path
/// with `.blobs` appended, as `fuin relay --data` does.
fn blob_dir(database: &Path) -> PathBuf {
    let mut dir = database.as_os_str().to_owned();
    dir.push(".blobs");
    PathBuf::from(dir)
}
