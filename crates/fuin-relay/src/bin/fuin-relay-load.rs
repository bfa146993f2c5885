//! `fuin-relay-load`: a load tool for the relay.
//!
//! Simulated devices on loopback: `--senders` senders each send their share of
//! `--messages` envelopes of `--size` bytes, one request at a time, to
//! `--senders` recipients (sender `i`'s `k`-th envelope goes to recipient
//! `(i + k) mod n`), while every recipient long-polls its mailbox
//! (`--wait-ms`) and acknowledges what it fetched. With no `--relay` the tool
//! starts a relay in process on a temporary SQLite file (request limits
//! raised out of the way), or with `--postgres CONNINFO --nodes N` that many
//! relays in process, each with its own `PostgresStore` and port, on one
//! PostgreSQL database; with `--relay host:port` (up to four times) it loads
//! those (several nodes must share one database). With several nodes,
//! recipient `r` fetches from node `r mod nodes` and every envelope to it is
//! sent through node `(r + 1) mod nodes`: each delivery crosses nodes, so it
//! reaches a waiting recipient only through the cross-node wake-up.
//!
//! Each sealed body starts with a header naming the run, sender, recipient,
//! sequence number and send time, followed by pseudo-random bytes derived from
//! them, so the tool can tell, per envelope: lost (the relay answered 200 but
//! the recipient never got it, after a final drain of every mailbox),
//! duplicated, misdelivered (to another device than its header names, or from
//! another run) and corrupted (bytes or claimed sender changed). All must be
//! 0, the run must complete within `--timeout-secs`, and no request may fail;
//! otherwise the exit code is 1 (2 if the run could not be set up).
//!
//! `--baseline` also measures, on the same disk and before the load, raw
//! rusqlite inserts and deletes of rows like the relay's mailbox rows, with
//! the relay's pragmas: one transaction per insert and per delete, and batched
//! as the relay's group commit batches at best.
#![forbid(unsafe_code)]
// A command reports its results on stdout and its progress on stderr.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use ed25519_dalek::{Signer, SigningKey};
use fuin_relay::api::{FRAME_MEDIA_TYPE, system_clock};
use fuin_relay::franking::StampKeys;
use fuin_relay::store::Store;
use fuin_relay::store::postgres::PostgresStore;
use fuin_relay::store::sqlite::SqliteStore;
use fuin_relay::{Relay, RelayConfig};
use fuin_wire::account::{
    AccountDevice, AccountRegistration, DeviceListContent, DeviceName, SignedDeviceList,
};
use fuin_wire::relay::{
    Acknowledgement, AuthChallenge, AuthToken, ChallengeRequest, ChallengeResponse, MailboxBatch,
    SendAccepted, SendBatch, relay_auth_input,
};
use fuin_wire::{
    ContentKind, DeliveredRecord, DeviceAddress, DeviceId, Ed25519PublicKey, Ed25519Signature,
    FrameBody, FrankingCommitment, FrankingStamp, MessageId, Opaque, PublicIdentity,
    RoutingEnvelope, StampKeyId, UserId, X25519PublicKey,
};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Method, Request, StatusCode, header};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use indicatif::{ProgressBar, ProgressStyle};
use rand::Rng;
use rusqlite::{Connection, TransactionBehavior, params};
use serde::Serialize;
use tokio::sync::watch;

/// Load a fuin relay with simulated devices on loopback and check that every
/// envelope the relay accepted arrives exactly once, at its addressee.
///
/// Exit code: 0 if the run completed with nothing lost, duplicated,
/// misdelivered or corrupted and no request failed; 1 otherwise (including a
/// run stopped by --timeout-secs); 2 if it could not be set up.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// A relay to load (host:port) instead of one started in process. Give
    /// up to four, nodes sharing one database: each envelope is sent through
    /// another node than the one its recipient fetches from.
    #[arg(long = "relay", value_name = "ADDR", conflicts_with_all = ["postgres", "nodes"])]
    relays: Vec<String>,
    /// Start the in-process relays on this PostgreSQL database (libpq
    /// connection string or URL) instead of a temporary SQLite file. The
    /// run's devices (fresh names every run) stay registered in it.
    #[arg(long, value_name = "CONNINFO", conflicts_with = "baseline")]
    postgres: Option<String>,
    /// How many relays to start in process (1 to 4; more than 1 needs
    /// --postgres), sharing the database and a stamp key.
    #[arg(long, default_value_t = 1)]
    nodes: usize,
    /// How long each recipient's fetch waits for an envelope, in ms.
    #[arg(long, default_value_t = 1000)]
    wait_ms: u64,
    /// Concurrent senders (and as many recipients).
    #[arg(long, default_value_t = 64)]
    senders: usize,
    /// Envelopes to send in all.
    #[arg(long, default_value_t = 10_000)]
    messages: usize,
    /// Bytes in each sealed body (at least the 32-byte header).
    #[arg(long, default_value_t = 1024)]
    size: usize,
    /// Stop after this many seconds (setup included) and report what there is.
    #[arg(long, default_value_t = 120)]
    timeout_secs: u64,
    /// Also measure the raw rusqlite baseline, before the load, on the same disk.
    #[arg(long)]
    baseline: bool,
    /// The longest each of the two baseline measurements runs.
    #[arg(long, default_value_t = 20)]
    baseline_secs: u64,
    /// Where to make the temporary directory (default: the system's).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    json: bool,
}

/// Bytes of the header at the start of each sealed body.
const HEADER_LEN: usize = 32;
const MAGIC: &[u8; 4] = b"FLD1";
/// The most relay nodes a run uses.
const MAX_NODES: usize = 4;
/// How long the final drain may take once the load has stopped.
const DRAIN_LIMIT: Duration = Duration::from_secs(30);
/// How many error messages the report keeps.
const KEPT_ERRORS: usize = 10;

type HttpClient = Client<HttpConnector, Full<Bytes>>;

fn http_client() -> HttpClient {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(usize::MAX)
        .pool_idle_timeout(Duration::from_secs(90))
        .build(connector)
}

/// One request; its status and body.
async fn call(
    client: &HttpClient,
    relay: &str,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Vec<u8>,
) -> Result<(StatusCode, Bytes), String> {
    let mut builder = Request::builder()
        .method(method)
        .uri(format!("http://{relay}{path}"))
        .header(header::CONTENT_TYPE, FRAME_MEDIA_TYPE);
    if let Some(token) = token {
        builder = builder.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let request = builder
        .body(Full::new(Bytes::from(body)))
        .map_err(|err| format!("request: {err}"))?;
    let response = client
        .request(request)
        .await
        .map_err(|err| format!("{path}: {err}"))?;
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|err| format!("{path}: reading the body: {err}"))?
        .to_bytes();
    Ok((status, body))
}

fn expect_status(path: &str, got: StatusCode, body: &[u8], want: &[u16]) -> Result<(), String> {
    if want.contains(&got.as_u16()) {
        Ok(())
    } else {
        Err(format!(
            "{path}: HTTP {got}: {}",
            String::from_utf8_lossy(&body[..body.len().min(200)])
        ))
    }
}

fn random<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    rand::rng().fill_bytes(&mut bytes);
    bytes
}

/// A logged-in simulated device.
struct Device {
    address: DeviceAddress<'static>,
    token: String,
}

/// A POST without a token, retried while the relay answers 429: a relay
/// started on its own keeps its per-address limit on these endpoints, and
/// every simulated device comes from one address. Setup is not measured.
async fn call_anonymous(
    client: &HttpClient,
    relay: &str,
    path: &str,
    body: Vec<u8>,
) -> Result<(StatusCode, Bytes), String> {
    for _ in 0..600 {
        let (status, reply) = call(client, relay, Method::POST, path, None, body.clone()).await?;
        if status != StatusCode::TOO_MANY_REQUESTS {
            return Ok((status, reply));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(format!("{path}: still rate limited after a minute"))
}

/// Creates `user`'s account with device 1 (a list signed by a fresh account
/// key) and logs the device in.
async fn enrol(client: &HttpClient, relay: &str, user: String) -> Result<Device, String> {
    let key = SigningKey::from_bytes(&random());
    let account = SigningKey::from_bytes(&random());
    let user = UserId::new(user).map_err(|err| err.to_string())?;
    let address = DeviceAddress::new(user.clone(), DeviceId(1));
    let content = DeviceListContent {
        user,
        account_key: Ed25519PublicKey(account.verifying_key().to_bytes()),
        version: 1,
        created_at_ms: 0,
        devices: vec![AccountDevice {
            device: DeviceId(1),
            identity: PublicIdentity {
                signing_key: Ed25519PublicKey(key.verifying_key().to_bytes()),
                agreement_key: X25519PublicKey(random()),
                signature: Ed25519Signature([0; 64]),
            },
            name: DeviceName::new("load").map_err(|err| err.to_string())?,
            added_at_ms: 0,
        }]
        .into(),
    };
    let signed = content.signed_string().map_err(|err| err.to_string())?;
    let registration = AccountRegistration {
        device_list: SignedDeviceList {
            signature: Ed25519Signature(account.sign(&signed).to_bytes()),
            content,
        },
        invite: None,
    };
    let encoded = registration.to_bytes().map_err(|err| err.to_string())?;
    let (status, body) = call_anonymous(client, relay, "/v1/accounts", encoded).await?;
    expect_status("/v1/accounts", status, &body, &[201])?;

    let request = ChallengeRequest {
        address: address.clone(),
    };
    let encoded = request.to_bytes().map_err(|err| err.to_string())?;
    let path = "/v1/auth/challenge";
    let (status, body) = call_anonymous(client, relay, path, encoded).await?;
    expect_status(path, status, &body, &[200])?;
    let challenge = AuthChallenge::from_bytes(&body).map_err(|err| format!("{path}: {err}"))?;
    let answer = ChallengeResponse {
        address: address.clone(),
        nonce: challenge.nonce,
        signature: Ed25519Signature(
            key.sign(&relay_auth_input(
                &format!("http://{relay}"),
                &address,
                &challenge.nonce,
            ))
            .to_bytes(),
        ),
    };
    let encoded = answer.to_bytes().map_err(|err| err.to_string())?;
    let path = "/v1/auth/token";
    let (status, body) = call_anonymous(client, relay, path, encoded).await?;
    expect_status(path, status, &body, &[200])?;
    let token = AuthToken::from_bytes(&body).map_err(|err| format!("{path}: {err}"))?;
    Ok(Device {
        address,
        token: token.token.0.iter().map(|b| format!("{b:02x}")).collect(),
    })
}

// ---------------------------------------------------------------------------
// Sealed bodies.

/// SplitMix64: the filler after the header, reproducible from the header.
struct Filler(u64);

impl Filler {
    fn new(run: u64, sender: u32, seq: u32) -> Self {
        Self(run ^ (u64::from(sender) << 32 | u64::from(seq)).wrapping_mul(0x9E37_79B9_7F4A_7C15))
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn fill(mut self, out: &mut [u8]) {
        for chunk in out.chunks_mut(8) {
            let word = self.next().to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
    }
}

/// What a body's header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Header {
    run: u64,
    sender: u32,
    recipient: u32,
    seq: u32,
    /// Nanoseconds since the run's epoch when the send started.
    sent_at_ns: u64,
}

fn make_body(header: Header, size: usize) -> Vec<u8> {
    let mut body = vec![0u8; size];
    body[0..4].copy_from_slice(MAGIC);
    body[4..12].copy_from_slice(&header.run.to_le_bytes());
    body[12..16].copy_from_slice(&header.sender.to_le_bytes());
    body[16..20].copy_from_slice(&header.recipient.to_le_bytes());
    body[20..24].copy_from_slice(&header.seq.to_le_bytes());
    body[24..32].copy_from_slice(&header.sent_at_ns.to_le_bytes());
    Filler::new(header.run, header.sender, header.seq).fill(&mut body[HEADER_LEN..]);
    body
}

/// The header of `body` if it is one of ours, intact.
fn read_body(body: &[u8]) -> Option<(Header, bool)> {
    if body.len() < HEADER_LEN || &body[0..4] != MAGIC {
        return None;
    }
    let u32_at = |at: usize| body[at..at + 4].try_into().ok().map(u32::from_le_bytes);
    let u64_at = |at: usize| body[at..at + 8].try_into().ok().map(u64::from_le_bytes);
    let header = Header {
        run: u64_at(4)?,
        sender: u32_at(12)?,
        recipient: u32_at(16)?,
        seq: u32_at(20)?,
        sent_at_ns: u64_at(24)?,
    };
    let mut expected = vec![0u8; body.len() - HEADER_LEN];
    Filler::new(header.run, header.sender, header.seq).fill(&mut expected);
    Some((header, expected == body[HEADER_LEN..]))
}

// ---------------------------------------------------------------------------
// The shared ledger.

/// What every task records; read once the load has stopped.
struct Ledger {
    run: u64,
    epoch: Instant,
    senders: usize,
    size: usize,
    /// The most envelopes one sender sends.
    per_sender: usize,
    /// Per envelope (`sender * per_sender + seq`): the relay answered 200.
    acknowledged: Vec<AtomicBool>,
    /// Per envelope: how often a recipient fetched it.
    delivered: Vec<AtomicU32>,
    misdelivered: AtomicU64,
    corrupted: AtomicU64,
    reordered: AtomicU64,
    rate_limited: AtomicU64,
    send_failures: AtomicU64,
    other_failures: AtomicU64,
    in_flight_at_stop: AtomicU64,
    /// Nanoseconds since the epoch of the last 200 to a send.
    last_ack_ns: AtomicU64,
    last_delivery_ns: AtomicU64,
    errors: std::sync::Mutex<Vec<String>>,
    progress: ProgressBar,
}

impl Ledger {
    fn index(&self, sender: u32, seq: u32) -> Option<usize> {
        let (sender, seq) = (sender as usize, seq as usize);
        (sender < self.senders && seq < self.per_sender).then_some(sender * self.per_sender + seq)
    }

    fn now_ns(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    fn error(&self, error: String) {
        let mut errors = self
            .errors
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if errors.len() < KEPT_ERRORS {
            errors.push(error);
        }
    }
}

/// What one sender measured: send latencies in µs.
struct SenderOutcome {
    latencies_us: Vec<u64>,
}

#[allow(clippy::too_many_arguments)]
async fn sender_task(
    ledger: Arc<Ledger>,
    client: HttpClient,
    relays: Arc<Vec<String>>,
    me: Device,
    index: u32,
    count: usize,
    recipients: Arc<Vec<DeviceAddress<'static>>>,
    deadline: tokio::time::Instant,
) -> SenderOutcome {
    let mut latencies_us = Vec::with_capacity(count);
    let n = recipients.len();
    for seq in 0..count {
        let target = (index as usize + seq) % n;
        // Through another node than the recipient's (recipient_task).
        let relay = &relays[(target + 1) % relays.len()];
        let Ok(seq) = u32::try_from(seq) else { break };
        loop {
            if tokio::time::Instant::now() >= deadline {
                return SenderOutcome { latencies_us };
            }
            let started = Instant::now();
            let header = Header {
                run: ledger.run,
                sender: index,
                recipient: target as u32,
                seq,
                sent_at_ns: u64::try_from((started - ledger.epoch).as_nanos()).unwrap_or(0),
            };
            let batch = SendBatch {
                envelopes: vec![RoutingEnvelope {
                    recipient: recipients[target].clone(),
                    content_kind: ContentKind::Message,
                    franking_commitment: FrankingCommitment([7; 32]),
                    sealed_body: Opaque::from(make_body(header, ledger.size)),
                }]
                .into(),
            };
            let encoded = match batch.to_bytes() {
                Ok(encoded) => encoded,
                Err(err) => {
                    ledger.send_failures.fetch_add(1, Ordering::Relaxed);
                    ledger.error(format!("encoding a send: {err}"));
                    return SenderOutcome { latencies_us };
                }
            };
            let request = call(
                &client,
                relay,
                Method::POST,
                "/v1/messages",
                Some(&me.token),
                encoded,
            );
            match tokio::time::timeout_at(deadline, request).await {
                Err(_) => {
                    // Stopped mid-request: whether it was stored is unknown.
                    ledger.in_flight_at_stop.fetch_add(1, Ordering::Relaxed);
                    return SenderOutcome { latencies_us };
                }
                Ok(Ok((StatusCode::OK, reply))) => {
                    let elapsed = started.elapsed();
                    match SendAccepted::from_bytes(&reply) {
                        Ok(accepted) if accepted.message_ids.len() == 1 => {}
                        _ => ledger.error("/v1/messages: unexpected SendAccepted".to_owned()),
                    }
                    latencies_us.push(u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX));
                    if let Some(at) = ledger.index(index, seq) {
                        ledger.acknowledged[at].store(true, Ordering::Release);
                    }
                    ledger
                        .last_ack_ns
                        .fetch_max(ledger.now_ns(), Ordering::Relaxed);
                    break;
                }
                Ok(Ok((StatusCode::TOO_MANY_REQUESTS, _))) => {
                    // Refused before storing: safe to send again.
                    ledger.rate_limited.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Ok(Ok((status, body))) => {
                    ledger.send_failures.fetch_add(1, Ordering::Relaxed);
                    ledger.error(format!(
                        "/v1/messages: HTTP {status}: {}",
                        String::from_utf8_lossy(&body[..body.len().min(200)])
                    ));
                    break;
                }
                Ok(Err(err)) => {
                    ledger.send_failures.fetch_add(1, Ordering::Relaxed);
                    ledger.error(err);
                    break;
                }
            }
        }
    }
    SenderOutcome { latencies_us }
}

/// What one recipient measured: delivery latencies in µs, and whether its
/// final drain emptied the mailbox.
struct RecipientOutcome {
    latencies_us: Vec<u64>,
    drained: bool,
}

/// Checks and records every record of a fetched batch; its message ids.
fn record_batch(
    ledger: &Ledger,
    me: u32,
    me_address: &DeviceAddress<'_>,
    records: &[DeliveredRecord<'_>],
    senders: &[DeviceAddress<'static>],
    last_seq: &mut HashMap<u32, u32>,
    latencies_us: &mut Vec<u64>,
) -> Vec<MessageId> {
    let now_ns = ledger.now_ns();
    let mut ids = Vec::with_capacity(records.len());
    for record in records {
        ids.push(record.server_message_id);
        let Some((header, intact)) = read_body(record.envelope.sealed_body.as_bytes()) else {
            // Not a body of this tool at all.
            ledger.misdelivered.fetch_add(1, Ordering::Relaxed);
            continue;
        };
        let Some(at) = ledger.index(header.sender, header.seq) else {
            ledger.misdelivered.fetch_add(1, Ordering::Relaxed);
            continue;
        };
        if header.run != ledger.run
            || header.recipient != me
            || record.envelope.recipient != *me_address
        {
            ledger.misdelivered.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        let sender_matches = senders
            .get(header.sender as usize)
            .is_some_and(|sender| *sender == record.sender);
        if !intact || !sender_matches || record.envelope.sealed_body.len() != ledger.size {
            ledger.corrupted.fetch_add(1, Ordering::Relaxed);
        }
        let previous = ledger.delivered[at].fetch_add(1, Ordering::AcqRel);
        if previous == 0 {
            ledger.progress.inc(1);
            latencies_us.push(now_ns.saturating_sub(header.sent_at_ns) / 1000);
            ledger.last_delivery_ns.fetch_max(now_ns, Ordering::Relaxed);
            match last_seq.insert(header.sender, header.seq) {
                Some(last) if last > header.seq => {
                    ledger.reordered.fetch_add(1, Ordering::Relaxed);
                }
                _ => {}
            }
        }
    }
    ids
}

/// What one fetch came to.
enum Fetched {
    /// Records, checked and acknowledged.
    Records,
    /// The mailbox was empty.
    Empty,
    /// Stopped while waiting.
    Stopped,
    /// Rate-limited: try again.
    Retry,
    /// A request failed (recorded), or `until` passed.
    Failed,
}

/// Fetches (waiting up to `wait_ms`, or until `stop`), checks and
/// acknowledges one batch.
#[allow(clippy::too_many_arguments)]
async fn fetch_once(
    ledger: &Ledger,
    client: &HttpClient,
    relay: &str,
    me: &Device,
    index: u32,
    senders: &[DeviceAddress<'static>],
    wait_ms: u64,
    stop: Option<&mut watch::Receiver<bool>>,
    until: tokio::time::Instant,
    last_seq: &mut HashMap<u32, u32>,
    latencies_us: &mut Vec<u64>,
) -> Fetched {
    let path = format!("/v1/mailbox?wait_ms={wait_ms}");
    let get = call(
        client,
        relay,
        Method::GET,
        &path,
        Some(&me.token),
        Vec::new(),
    );
    // Only the fetch is cut short on stop (its records stay in the mailbox
    // for the final drain): once records are counted, they are acknowledged,
    // or the next fetch would return them again.
    let stopped = async {
        match stop {
            Some(stop) => drop(stop.wait_for(|stop| *stop).await),
            None => std::future::pending().await,
        }
    };
    let answer = tokio::select! {
        () = stopped => return Fetched::Stopped,
        () = tokio::time::sleep_until(until) => return Fetched::Failed,
        answer = get => answer,
    };
    let (status, body) = match answer {
        Ok(answer) => answer,
        Err(err) => {
            ledger.other_failures.fetch_add(1, Ordering::Relaxed);
            ledger.error(err);
            return Fetched::Failed;
        }
    };
    if status == StatusCode::TOO_MANY_REQUESTS {
        ledger.rate_limited.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(Duration::from_millis(50)).await;
        return Fetched::Retry;
    }
    if status != StatusCode::OK {
        ledger.other_failures.fetch_add(1, Ordering::Relaxed);
        ledger.error(format!("/v1/mailbox: HTTP {status}"));
        return Fetched::Failed;
    }
    let batch = match MailboxBatch::from_bytes(&body) {
        Ok(batch) => batch,
        Err(err) => {
            ledger.other_failures.fetch_add(1, Ordering::Relaxed);
            ledger.error(format!("/v1/mailbox: {err}"));
            return Fetched::Failed;
        }
    };
    let records = batch.records.as_slice();
    if records.is_empty() {
        return Fetched::Empty;
    }
    let ids = record_batch(
        ledger,
        index,
        &me.address,
        records,
        senders,
        last_seq,
        latencies_us,
    );
    let ack = Acknowledgement {
        message_ids: ids.into(),
    };
    let encoded = match ack.to_bytes() {
        Ok(encoded) => encoded,
        Err(err) => {
            ledger.other_failures.fetch_add(1, Ordering::Relaxed);
            ledger.error(format!("encoding an acknowledgement: {err}"));
            return Fetched::Failed;
        }
    };
    // An acknowledgement that fails is sent again: otherwise the next fetch
    // would return the same records and look like duplicates.
    for _ in 0..20 {
        let path = "/v1/mailbox/ack";
        match call(
            client,
            relay,
            Method::POST,
            path,
            Some(&me.token),
            encoded.clone(),
        )
        .await
        {
            Ok((StatusCode::NO_CONTENT, _)) => return Fetched::Records,
            Ok((StatusCode::TOO_MANY_REQUESTS, _)) => {
                ledger.rate_limited.fetch_add(1, Ordering::Relaxed);
            }
            Ok((status, _)) => {
                ledger.other_failures.fetch_add(1, Ordering::Relaxed);
                ledger.error(format!("{path}: HTTP {status}"));
            }
            Err(err) => {
                ledger.other_failures.fetch_add(1, Ordering::Relaxed);
                ledger.error(err);
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Fetched::Failed
}

#[allow(clippy::too_many_arguments)]
async fn recipient_task(
    ledger: Arc<Ledger>,
    client: HttpClient,
    relay: String,
    me: Device,
    index: u32,
    senders: Arc<Vec<DeviceAddress<'static>>>,
    wait_ms: u64,
    mut stop: watch::Receiver<bool>,
    hard_stop: tokio::time::Instant,
) -> RecipientOutcome {
    let mut latencies_us = Vec::new();
    let mut last_seq = HashMap::new();
    while !*stop.borrow() {
        let fetched = fetch_once(
            &ledger,
            &client,
            &relay,
            &me,
            index,
            &senders,
            wait_ms,
            Some(&mut stop),
            hard_stop,
            &mut last_seq,
            &mut latencies_us,
        )
        .await;
        if matches!(fetched, Fetched::Failed | Fetched::Retry) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    // The final drain: everything left in the mailbox, without waiting.
    let mut drained = false;
    let mut failures = 0;
    while tokio::time::Instant::now() < hard_stop && failures < 5 {
        let fetched = fetch_once(
            &ledger,
            &client,
            &relay,
            &me,
            index,
            &senders,
            0,
            None,
            hard_stop,
            &mut last_seq,
            &mut latencies_us,
        )
        .await;
        match fetched {
            Fetched::Empty | Fetched::Stopped => {
                drained = true;
                break;
            }
            Fetched::Records | Fetched::Retry => {}
            Fetched::Failed => failures += 1,
        }
    }
    RecipientOutcome {
        latencies_us,
        drained,
    }
}

// ---------------------------------------------------------------------------
// The baseline.

#[derive(Debug, Clone, Serialize)]
struct BaselineResult {
    /// What was measured.
    mode: String,
    /// Rows inserted and deleted again.
    rows: usize,
    /// Rows per transaction commit (1 for one transaction per statement).
    rows_per_commit: usize,
    seconds: f64,
    /// Rows inserted and deleted per second.
    rows_per_second: f64,
}

const MAILBOX_SCHEMA: &str = "
CREATE TABLE mailbox (
    message_id BLOB    NOT NULL PRIMARY KEY,
    user       TEXT    NOT NULL,
    device     INTEGER NOT NULL,
    record     BLOB    NOT NULL,
    expires_at INTEGER NOT NULL,
    seq        INTEGER NOT NULL
);
CREATE INDEX mailbox_order ON mailbox (user, device, seq);
CREATE INDEX mailbox_expiry ON mailbox (expires_at);
";
const INSERT: &str = "INSERT INTO mailbox (message_id, user, device, record, expires_at, seq) \
     VALUES (?1, ?2, ?3, ?4, ?5, \
       (SELECT COALESCE(MAX(seq), 0) + 1 FROM mailbox WHERE user = ?2 AND device = ?3))";
const DELETE: &str = "DELETE FROM mailbox WHERE message_id = ?1 AND user = ?2 AND device = ?3";

struct BaselineRow {
    message_id: [u8; 16],
    user: String,
    record: Vec<u8>,
}

/// Inserts up to `rows` mailbox rows like the relay's and deletes each again
/// `window` rows later (as recipients acknowledge), `batch` rows per
/// transaction: 1 is a commit (fsync) per insert and per delete; more puts
/// `batch` inserts and the deletes of the batch before in one transaction.
/// Stops early after `limit`.
fn baseline(
    path: &Path,
    rows: usize,
    record_len: usize,
    users: &[String],
    window: usize,
    batch: usize,
    limit: Duration,
) -> Result<BaselineResult, String> {
    let sql = |err: rusqlite::Error| format!("baseline: {err}");
    let mut conn = Connection::open(path).map_err(sql)?;
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
        .map_err(sql)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err("baseline: WAL mode unavailable".to_owned());
    }
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(sql)?;
    conn.pragma_update(None, "secure_delete", "ON")
        .map_err(sql)?;
    conn.pragma_update(None, "foreign_keys", "ON")
        .map_err(sql)?;
    conn.execute_batch(MAILBOX_SCHEMA).map_err(sql)?;
    let expires_at = i64::try_from(system_clock()()).unwrap_or(0) + 30 * 24 * 3600 * 1000;
    let mut filler = Filler::new(
        random::<8>().iter().fold(0, |a, b| a << 8 | u64::from(*b)),
        0,
        0,
    );
    let make_row = |k: usize, filler: &mut Filler| {
        let mut record = vec![0u8; record_len];
        for chunk in record.chunks_mut(8) {
            let word = filler.next().to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
        BaselineRow {
            message_id: random(),
            user: users[k % users.len()].clone(),
            record,
        }
    };
    let insert = |conn: &Connection, row: &BaselineRow| {
        conn.prepare_cached(INSERT)
            .and_then(|mut statement| {
                statement.execute(params![row.message_id, row.user, 1, row.record, expires_at])
            })
            .map_err(sql)
    };
    let delete = |conn: &Connection, row: &BaselineRow| {
        conn.prepare_cached(DELETE)
            .and_then(|mut statement| statement.execute(params![row.message_id, row.user, 1]))
            .map_err(sql)
    };
    let mut pending: std::collections::VecDeque<BaselineRow> = std::collections::VecDeque::new();
    let started = Instant::now();
    let mut done = 0;
    let batch = batch.max(1);
    while done < rows && started.elapsed() < limit {
        let this = batch.min(rows - done);
        let fresh: Vec<_> = (done..done + this)
            .map(|k| make_row(k, &mut filler))
            .collect();
        if batch == 1 {
            for row in fresh {
                let transaction = conn
                    .transaction_with_behavior(TransactionBehavior::Immediate)
                    .map_err(sql)?;
                insert(&transaction, &row)?;
                transaction.commit().map_err(sql)?;
                pending.push_back(row);
                if pending.len() > window
                    && let Some(old) = pending.pop_front()
                {
                    let transaction = conn
                        .transaction_with_behavior(TransactionBehavior::Immediate)
                        .map_err(sql)?;
                    delete(&transaction, &old)?;
                    transaction.commit().map_err(sql)?;
                }
            }
        } else {
            let transaction = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(sql)?;
            while pending.len() > window.saturating_sub(this) {
                if let Some(old) = pending.pop_front() {
                    delete(&transaction, &old)?;
                }
            }
            for row in fresh {
                insert(&transaction, &row)?;
                pending.push_back(row);
            }
            transaction.commit().map_err(sql)?;
        }
        done += this;
    }
    // The rows still waiting are deleted too, in the same way.
    while !pending.is_empty() {
        let transaction = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(sql)?;
        for _ in 0..batch {
            if let Some(old) = pending.pop_front() {
                delete(&transaction, &old)?;
            }
        }
        transaction.commit().map_err(sql)?;
    }
    let seconds = started.elapsed().as_secs_f64();
    let remaining: i64 = conn
        .query_row("SELECT COUNT(*) FROM mailbox", [], |row| row.get(0))
        .map_err(sql)?;
    if remaining != 0 {
        return Err(format!("baseline: {remaining} rows left"));
    }
    Ok(BaselineResult {
        mode: if batch == 1 {
            "one transaction (commit, fsync) per insert and per delete".to_owned()
        } else {
            format!("{batch} inserts + {batch} deletes per transaction (like group commit)")
        },
        rows: done,
        rows_per_commit: batch,
        seconds,
        rows_per_second: done as f64 / seconds,
    })
}

// ---------------------------------------------------------------------------
// The report.

#[derive(Debug, Clone, Copy, Serialize)]
struct Percentiles {
    count: usize,
    p50_ms: f64,
    p90_ms: f64,
    p99_ms: f64,
    max_ms: f64,
}

fn percentiles(mut micros: Vec<u64>) -> Percentiles {
    micros.sort_unstable();
    let at = |q: f64| {
        if micros.is_empty() {
            return 0.0;
        }
        // Nearest rank.
        let rank = ((q * micros.len() as f64).ceil() as usize).clamp(1, micros.len());
        micros[rank - 1] as f64 / 1000.0
    };
    Percentiles {
        count: micros.len(),
        p50_ms: at(0.50),
        p90_ms: at(0.90),
        p99_ms: at(0.99),
        max_ms: at(1.0),
    }
}

#[derive(Debug, Serialize)]
struct Report {
    /// "in-process" or the relays' addresses.
    relays: Vec<String>,
    in_process: bool,
    /// Where the in-process relays keep their data: "sqlite" or "postgres";
    /// "external" for relays given with --relay.
    backend: &'static str,
    /// How long each recipient's fetch waits.
    wait_ms: u64,
    senders: usize,
    recipients: usize,
    messages: usize,
    size: usize,
    timeout_secs: u64,
    setup_seconds: f64,
    /// Sends answered 200 (stored durably).
    sent: u64,
    /// Distinct envelopes fetched by their recipient.
    delivered: u64,
    lost: u64,
    duplicated: u64,
    misdelivered: u64,
    corrupted: u64,
    /// Envelopes fetched before an earlier one from the same sender.
    reordered: u64,
    send_failures: u64,
    other_failures: u64,
    rate_limited: u64,
    /// Sends cut off by the timeout (their outcome is unknown).
    in_flight_at_stop: u64,
    timed_out: bool,
    /// Every recipient's final fetch found its mailbox empty.
    drained: bool,
    /// Durable sends per second: sends answered 200 over the time from the
    /// first send to the last 200.
    durable_sends_per_second: f64,
    send_seconds: f64,
    /// Distinct deliveries per second, from the first send to the last delivery.
    deliveries_per_second: f64,
    send_latency: Percentiles,
    /// Send start to the recipient having fetched it.
    delivery_latency: Percentiles,
    baseline_per_message: Option<BaselineResult>,
    baseline_batched: Option<BaselineResult>,
    /// durable_sends_per_second / baseline_per_message.rows_per_second.
    ratio_to_per_message: Option<f64>,
    /// durable_sends_per_second / baseline_batched.rows_per_second.
    ratio_to_batched: Option<f64>,
    /// /proc/loadavg at the start and at the end.
    loadavg_before: String,
    loadavg_after: String,
    errors: Vec<String>,
    ok: bool,
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| text.trim().to_owned())
        .unwrap_or_default()
}

fn print_report(report: &Report) {
    let where_ = match (report.backend, report.relays.len()) {
        ("sqlite", _) => "a relay in process (SQLite on a temporary file)".to_owned(),
        ("postgres", 1) => "a relay in process on PostgreSQL".to_owned(),
        ("postgres", nodes) => format!(
            "{nodes} relays in process on one PostgreSQL database, each envelope \
             sent through another node than its recipient's"
        ),
        _ => report.relays.join(" and "),
    };
    println!(
        "fuin-relay-load: {} senders -> {} recipients, {} envelopes of {} B, through {where_}",
        report.senders, report.recipients, report.messages, report.size
    );
    println!(
        "setup: {:.2} s; recipients long-poll up to {} ms",
        report.setup_seconds, report.wait_ms
    );
    println!(
        "sent (200): {}, delivered: {}, send failures: {}, other failures: {}, \
         rate-limited retries: {}, in flight at stop: {}",
        report.sent,
        report.delivered,
        report.send_failures,
        report.other_failures,
        report.rate_limited,
        report.in_flight_at_stop
    );
    println!(
        "durable sends: {:.1}/s over {:.2} s; deliveries: {:.1}/s",
        report.durable_sends_per_second, report.send_seconds, report.deliveries_per_second
    );
    let show = |name: &str, p: &Percentiles| {
        println!(
            "{name} ms: p50 {:.2}  p90 {:.2}  p99 {:.2}  max {:.2}  (n = {})",
            p.p50_ms, p.p90_ms, p.p99_ms, p.max_ms, p.count
        );
    };
    show("send latency", &report.send_latency);
    show(
        "delivery latency (send start -> fetched)",
        &report.delivery_latency,
    );
    println!(
        "lost {}, duplicated {}, misdelivered {}, corrupted {} (reordered {})",
        report.lost, report.duplicated, report.misdelivered, report.corrupted, report.reordered
    );
    if let Some(base) = &report.baseline_per_message {
        println!(
            "baseline, raw rusqlite, {}: {:.1} rows/s ({} rows in {:.2} s); relay/baseline {:.2}",
            base.mode,
            base.rows_per_second,
            base.rows,
            base.seconds,
            report.ratio_to_per_message.unwrap_or(0.0)
        );
    }
    if let Some(base) = &report.baseline_batched {
        println!(
            "baseline, raw rusqlite, {}: {:.1} rows/s ({} rows in {:.2} s); relay/baseline {:.2}",
            base.mode,
            base.rows_per_second,
            base.rows,
            base.seconds,
            report.ratio_to_batched.unwrap_or(0.0)
        );
    }
    println!(
        "load average before: {}; after: {}",
        report.loadavg_before, report.loadavg_after
    );
    if report.timed_out {
        println!("timed out after {} s", report.timeout_secs);
    }
    for error in &report.errors {
        println!("error: {error}");
    }
    println!("{}", if report.ok { "OK" } else { "FAILED" });
}

// ---------------------------------------------------------------------------
// The run.

/// A relay started in this process, and how to stop it.
struct InProcess {
    stop: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// Where the in-process relays keep their data.
enum Backend<'a> {
    Sqlite(&'a Path),
    Postgres(&'a str),
}

/// Starts `nodes` relays in process on `backend`, sharing a stamp key.
async fn start_relays(
    backend: Backend<'_>,
    nodes: usize,
) -> Result<(Vec<String>, Vec<InProcess>), String> {
    let stamp_key: [u8; 32] = random();
    let (mut addresses, mut handles) = (Vec::new(), Vec::new());
    for _ in 0..nodes {
        let keys = StampKeys::new(StampKeyId(1), stamp_key);
        let (address, handle) = match backend {
            Backend::Sqlite(path) => {
                let store = SqliteStore::open(path)
                    .map_err(|err| format!("opening the relay store: {err}"))?;
                start_relay(store, keys).await?
            }
            Backend::Postgres(conninfo) => {
                let store = PostgresStore::connect(conninfo)
                    .await
                    .map_err(|err| format!("opening the relay store: {err}"))?;
                start_relay(store, keys).await?
            }
        };
        addresses.push(address);
        handles.push(handle);
    }
    Ok((addresses, handles))
}

async fn start_relay<S: Store>(
    store: S,
    stamp_keys: StampKeys,
) -> Result<(String, InProcess), String> {
    let mut config = RelayConfig::new(stamp_keys);
    // The load is many requests a second per device; the limits are not
    // what is measured.
    config.requests_per_second = 1_000_000;
    config.request_burst = 1_000_000;
    config.anonymous_requests_per_second = 1_000_000;
    config.anonymous_request_burst = 1_000_000;
    config.account_requests_per_second = 1_000_000;
    config.account_request_burst = 1_000_000;
    // Every simulated device connects from loopback: one address for all.
    config.max_connections_per_address = usize::MAX;
    config.max_connections = usize::MAX;
    config.max_mailbox_envelopes = u64::MAX;
    let relay = Relay::new(store, config, system_clock());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|err| format!("listening: {err}"))?;
    let address = listener
        .local_addr()
        .map_err(|err| format!("listening: {err}"))?
        .to_string();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(fuin_relay::serve(listener, relay, async move {
        let _ = stopped.await;
    }));
    Ok((address, InProcess { stop, server }))
}

/// The length of the relay's stored record for a body of `size` bytes.
fn record_len(sender: &str, recipient: &str, size: usize) -> Result<usize, String> {
    let address = |user: &str| {
        UserId::new(user.to_owned())
            .map(|user| DeviceAddress::new(user, DeviceId(1)))
            .map_err(|err| err.to_string())
    };
    let record = DeliveredRecord {
        envelope: RoutingEnvelope {
            recipient: address(recipient)?,
            content_kind: ContentKind::Message,
            franking_commitment: FrankingCommitment([7; 32]),
            sealed_body: Opaque::from(vec![0u8; size]),
        },
        sender: address(sender)?,
        server_time_ms: system_clock()(),
        server_message_id: MessageId(random()),
        franking_stamp: FrankingStamp([0; 32]),
        stamp_key_id: StampKeyId(1),
    };
    record
        .to_bytes()
        .map(|bytes| bytes.len())
        .map_err(|err| err.to_string())
}

async fn run(args: Args) -> Result<Report, String> {
    if args.senders == 0 || args.messages == 0 {
        return Err("--senders and --messages must be at least 1".to_owned());
    }
    if args.relays.len() > MAX_NODES || args.nodes == 0 || args.nodes > MAX_NODES {
        return Err(format!(
            "--nodes must be 1..={MAX_NODES}, and at most {MAX_NODES} --relay"
        ));
    }
    if args.nodes > 1 && args.postgres.is_none() {
        return Err("--nodes above 1 needs --postgres (nodes share a database)".to_owned());
    }
    if args.size < HEADER_LEN || args.size > fuin_wire::limits::MAX_SEALED_BODY_LEN {
        return Err(format!(
            "--size must be {HEADER_LEN}..={}",
            fuin_wire::limits::MAX_SEALED_BODY_LEN
        ));
    }
    let senders_n = args.senders;
    let per_sender = args.messages.div_ceil(senders_n);
    if u32::try_from(per_sender).is_err() || u32::try_from(senders_n).is_err() {
        return Err("too many messages or senders".to_owned());
    }
    let loadavg_before = loadavg();
    let mut builder = tempfile::Builder::new();
    builder.prefix("fuin-relay-load-");
    let dir = match &args.dir {
        Some(parent) => builder.tempdir_in(parent),
        None => builder.tempdir(),
    }
    .map_err(|err| format!("temporary directory: {err}"))?;
    let run: u64 = u64::from_le_bytes(random());
    let sender_users: Vec<String> = (0..senders_n)
        .map(|i| format!("load-{run:016x}-s{i}"))
        .collect();
    let recipient_users: Vec<String> = (0..senders_n)
        .map(|i| format!("load-{run:016x}-r{i}"))
        .collect();

    let (mut baseline_per_message, mut baseline_batched) = (None, None);
    if args.baseline {
        let record_len = record_len(&sender_users[0], &recipient_users[0], args.size)?;
        let limit = Duration::from_secs(args.baseline_secs);
        for batch in [1, senders_n] {
            let path = dir.path().join(format!("baseline-{batch}.db"));
            let (users, rows, window) = (recipient_users.clone(), args.messages, senders_n);
            let result = tokio::task::spawn_blocking(move || {
                baseline(&path, rows, record_len, &users, window, batch, limit)
            })
            .await
            .map_err(|err| format!("baseline: {err}"))??;
            if batch == 1 {
                baseline_per_message = Some(result);
            } else {
                baseline_batched = Some(result);
            }
            // Leave the disk as the relay finds it: only its own files.
            for suffix in ["", "-wal", "-shm"] {
                let _ =
                    std::fs::remove_file(dir.path().join(format!("baseline-{batch}.db{suffix}")));
            }
        }
    }

    let started = Instant::now();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(args.timeout_secs);
    let db_path = dir.path().join("relay.db");
    let (relays, in_process) = if !args.relays.is_empty() {
        (args.relays.clone(), Vec::new())
    } else if let Some(conninfo) = &args.postgres {
        start_relays(Backend::Postgres(conninfo), args.nodes).await?
    } else {
        start_relays(Backend::Sqlite(&db_path), 1).await?
    };
    let relays = Arc::new(relays);
    let client = http_client();

    // Register and log in every device, all at once.
    let mut enrolling = tokio::task::JoinSet::new();
    for (i, user) in sender_users.iter().chain(&recipient_users).enumerate() {
        let (client, relay, user) = (client.clone(), relays[0].clone(), user.clone());
        enrolling.spawn(async move { (i, enrol(&client, &relay, user).await) });
    }
    let mut devices: Vec<Option<Device>> = (0..2 * senders_n).map(|_| None).collect();
    while let Some(joined) = enrolling.join_next().await {
        let (i, device) = joined.map_err(|err| format!("setup: {err}"))?;
        devices[i] = Some(device.map_err(|err| format!("setup: {err}"))?);
    }
    let mut devices: Vec<Device> = devices.into_iter().flatten().collect();
    if devices.len() != 2 * senders_n {
        return Err("setup: a device is missing".to_owned());
    }
    let recipients_devices = devices.split_off(senders_n);
    let senders_devices = devices;
    let setup_seconds = started.elapsed().as_secs_f64();
    let sender_addresses: Arc<Vec<_>> =
        Arc::new(senders_devices.iter().map(|d| d.address.clone()).collect());
    let recipient_addresses: Arc<Vec<_>> = Arc::new(
        recipients_devices
            .iter()
            .map(|d| d.address.clone())
            .collect(),
    );

    let progress = ProgressBar::new(args.messages as u64);
    progress.set_style(
        ProgressStyle::with_template(
            "{elapsed_precise} [{bar:40}] {pos}/{len} delivered ({per_sec}, eta {eta})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    let slots = senders_n * per_sender;
    let ledger = Arc::new(Ledger {
        run,
        epoch: Instant::now(),
        senders: senders_n,
        size: args.size,
        per_sender,
        acknowledged: (0..slots).map(|_| AtomicBool::new(false)).collect(),
        delivered: (0..slots).map(|_| AtomicU32::new(0)).collect(),
        misdelivered: AtomicU64::new(0),
        corrupted: AtomicU64::new(0),
        reordered: AtomicU64::new(0),
        rate_limited: AtomicU64::new(0),
        send_failures: AtomicU64::new(0),
        other_failures: AtomicU64::new(0),
        in_flight_at_stop: AtomicU64::new(0),
        last_ack_ns: AtomicU64::new(0),
        last_delivery_ns: AtomicU64::new(0),
        errors: std::sync::Mutex::new(Vec::new()),
        progress: progress.clone(),
    });

    let (stop, stop_rx) = watch::channel(false);
    let hard_stop = deadline + DRAIN_LIMIT;
    let mut receiving = Vec::with_capacity(senders_n);
    for (i, me) in recipients_devices.into_iter().enumerate() {
        receiving.push(tokio::spawn(recipient_task(
            ledger.clone(),
            client.clone(),
            relays[i % relays.len()].clone(),
            me,
            i as u32,
            sender_addresses.clone(),
            args.wait_ms,
            stop_rx.clone(),
            hard_stop,
        )));
    }
    let mut sending = Vec::with_capacity(senders_n);
    for (i, me) in senders_devices.into_iter().enumerate() {
        let count = args.messages / senders_n + usize::from(i < args.messages % senders_n);
        sending.push(tokio::spawn(sender_task(
            ledger.clone(),
            client.clone(),
            relays.clone(),
            me,
            i as u32,
            count,
            recipient_addresses.clone(),
            deadline,
        )));
    }
    let mut send_latencies = Vec::with_capacity(args.messages);
    for handle in sending {
        let outcome = handle
            .await
            .map_err(|err| format!("a sender failed: {err}"))?;
        send_latencies.extend(outcome.latencies_us);
    }
    // Wait until everything the relay acknowledged has been fetched.
    loop {
        let pending = ledger
            .acknowledged
            .iter()
            .zip(&ledger.delivered)
            .filter(|(acked, delivered)| {
                acked.load(Ordering::Acquire) && delivered.load(Ordering::Acquire) == 0
            })
            .count();
        if pending == 0 || tokio::time::Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let timed_out = tokio::time::Instant::now() >= deadline;
    let _ = stop.send(true);
    let mut delivery_latencies = Vec::with_capacity(args.messages);
    let mut drained = true;
    for handle in receiving {
        let outcome = handle
            .await
            .map_err(|err| format!("a recipient failed: {err}"))?;
        delivery_latencies.extend(outcome.latencies_us);
        drained &= outcome.drained;
    }
    progress.finish_and_clear();
    drop(client);
    for relay in in_process {
        let _ = relay.stop.send(());
        match tokio::time::timeout(Duration::from_secs(10), relay.server).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(err))) => ledger.error(format!("relay: {err}")),
            Ok(Err(err)) => ledger.error(format!("relay: {err}")),
            Err(_) => ledger.error("relay: did not stop within 10 s".to_owned()),
        }
    }

    let (mut sent, mut delivered, mut lost, mut duplicated) = (0, 0, 0, 0);
    for (acked, times) in ledger.acknowledged.iter().zip(&ledger.delivered) {
        let acked = acked.load(Ordering::Acquire);
        let times = u64::from(times.load(Ordering::Acquire));
        sent += u64::from(acked);
        delivered += u64::from(times > 0);
        duplicated += times.saturating_sub(1);
        if acked && times == 0 {
            lost += 1;
        }
    }
    let seconds = |ns: u64| ns as f64 / 1e9;
    let send_seconds = seconds(ledger.last_ack_ns.load(Ordering::Relaxed));
    let delivery_seconds = seconds(ledger.last_delivery_ns.load(Ordering::Relaxed));
    let per_second = |count: u64, secs: f64| if secs > 0.0 { count as f64 / secs } else { 0.0 };
    let durable_sends_per_second = per_second(sent, send_seconds);
    let misdelivered = ledger.misdelivered.load(Ordering::Relaxed);
    let corrupted = ledger.corrupted.load(Ordering::Relaxed);
    let send_failures = ledger.send_failures.load(Ordering::Relaxed);
    let other_failures = ledger.other_failures.load(Ordering::Relaxed);
    let in_flight_at_stop = ledger.in_flight_at_stop.load(Ordering::Relaxed);
    let ok = lost == 0
        && duplicated == 0
        && misdelivered == 0
        && corrupted == 0
        && send_failures == 0
        && other_failures == 0
        && in_flight_at_stop == 0
        && !timed_out
        && drained
        && sent == args.messages as u64
        && delivered == sent;
    let ratio = |base: &Option<BaselineResult>| {
        base.as_ref()
            .map(|base| durable_sends_per_second / base.rows_per_second)
    };
    let errors = ledger
        .errors
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    Ok(Report {
        relays: relays.to_vec(),
        in_process: args.relays.is_empty(),
        backend: match (&args.postgres, args.relays.is_empty()) {
            (_, false) => "external",
            (Some(_), true) => "postgres",
            (None, true) => "sqlite",
        },
        wait_ms: args.wait_ms,
        senders: senders_n,
        recipients: senders_n,
        messages: args.messages,
        size: args.size,
        timeout_secs: args.timeout_secs,
        setup_seconds,
        sent,
        delivered,
        lost,
        duplicated,
        misdelivered,
        corrupted,
        reordered: ledger.reordered.load(Ordering::Relaxed),
        send_failures,
        other_failures,
        rate_limited: ledger.rate_limited.load(Ordering::Relaxed),
        in_flight_at_stop,
        timed_out,
        drained,
        durable_sends_per_second,
        send_seconds,
        deliveries_per_second: per_second(delivered, delivery_seconds),
        send_latency: percentiles(send_latencies),
        delivery_latency: percentiles(delivery_latencies),
        ratio_to_per_message: ratio(&baseline_per_message),
        ratio_to_batched: ratio(&baseline_batched),
        baseline_per_message,
        baseline_batched,
        loadavg_before,
        loadavg_after: loadavg(),
        errors,
        ok,
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let json = args.json;
    match run(args).await {
        Ok(report) => {
            if json {
                match serde_json::to_string_pretty(&report) {
                    Ok(text) => println!("{text}"),
                    Err(err) => {
                        eprintln!("fuin-relay-load: {err}");
                        return ExitCode::from(2);
                    }
                }
            } else {
                print_report(&report);
            }
            if report.ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(err) => {
            eprintln!("fuin-relay-load: {err}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_reads_back_and_a_changed_byte_is_noticed() {
        let header = Header {
            run: 0x1234_5678_9abc_def0,
            sender: 3,
            recipient: 5,
            seq: 77,
            sent_at_ns: 123_456_789,
        };
        let mut body = make_body(header, 1000);
        assert_eq!(read_body(&body), Some((header, true)));
        body[999] ^= 1;
        assert_eq!(read_body(&body), Some((header, false)));
        body[0] = b'X';
        assert_eq!(read_body(&body), None);
        assert_eq!(
            read_body(&make_body(header, HEADER_LEN)),
            Some((header, true))
        );
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let p = percentiles((1..=100).map(|ms| ms * 1000).collect());
        assert_eq!(
            (p.p50_ms, p.p90_ms, p.p99_ms, p.max_ms),
            (50.0, 90.0, 99.0, 100.0)
        );
        assert_eq!(percentiles(Vec::new()).count, 0);
    }
}
