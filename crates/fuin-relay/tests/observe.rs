//! Observability against the real relay binary: its JSON log names every
//! request (id, method, route template, status, latency) and none of the
//! tokens, user ids, bodies or client addresses it served; `/metrics`
//! counts known traffic exactly; `/healthz` and `/readyz` answer, and
//! `/readyz` fails once shutdown begins or the store stops answering.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use common::*;
use fuin_wire::FrameBody;
use fuin_wire::relay::{Acknowledgement, BlobReceipt, ChallengeRequest, MailboxBatch};
use fuin_wire::{DeviceAddress, DeviceId, UserId};
use futures_util::SinkExt;
use sha2::{Digest, Sha256};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// A relay binary whose stderr (its log) is collected line by line.
struct LoggedRelay {
    relay: Option<RelayProcess>,
    lines: Arc<Mutex<Vec<String>>>,
    reader: Option<JoinHandle<()>>,
}

impl LoggedRelay {
    fn start(args: &[&str], env: &[(&str, &str)]) -> Self {
        let args: Vec<&std::ffi::OsStr> = args.iter().map(std::ffi::OsStr::new).collect();
        let mut relay = RelayProcess::spawn_with_env(&args, "127.0.0.1:0", Stdio::piped(), env);
        let stderr = relay.child.stderr.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let reader = std::thread::spawn({
            let lines = lines.clone();
            move || {
                for line in BufReader::new(stderr).lines() {
                    lines.lock().unwrap().push(line.unwrap());
                }
            }
        });
        Self {
            relay: Some(relay),
            lines,
            reader: Some(reader),
        }
    }

    fn address(&self) -> String {
        self.relay.as_ref().unwrap().address.clone()
    }

    /// The JSON log events so far (every line must be one).
    fn events(&self) -> Vec<serde_json::Value> {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .map(|line| {
                serde_json::from_str(line)
                    .unwrap_or_else(|_| panic!("a log line is not JSON: {line}"))
            })
            .collect()
    }

    /// The address of the metrics listener, from the startup event.
    fn metrics_address(&self) -> String {
        wait_for("the metrics listener's startup event", PATIENCE, || {
            self.events()
                .iter()
                .find(|event| event["message"] == "metrics listening")
                .map(|event| event["address"].as_str().unwrap().to_owned())
        })
    }

    /// Stops the relay with SIGTERM; every log line it wrote.
    fn stop(mut self) -> Vec<String> {
        let status = self.relay.take().unwrap().stop("TERM");
        assert!(status.success(), "the relay exited with {status}");
        self.reader.take().unwrap().join().unwrap();
        std::mem::take(&mut *self.lines.lock().unwrap())
    }
}

/// One HTTP exchange from `local_ip`: status, response head and body.
fn exchange(
    local_ip: &str,
    address: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &[u8],
) -> (u16, String, Vec<u8>) {
    let local: std::net::SocketAddr = format!("{local_ip}:0").parse().unwrap();
    let socket = connect_from(local, address.parse().unwrap());
    let mut stream = socket;
    let auth = token
        .map(|token| format!("Authorization: Bearer {token}\r\n"))
        .unwrap_or_default();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\n{auth}Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let split = response.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8(response[..split].to_vec()).unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, head, response[split + 4..].to_vec())
}

/// A blocking connection from `local` (a loopback address) to `remote`.
fn connect_from(local: std::net::SocketAddr, remote: std::net::SocketAddr) -> TcpStream {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .unwrap();
    let stream = runtime
        .block_on(async {
            let socket = tokio::net::TcpSocket::new_v4()?;
            socket.bind(local)?;
            socket.connect(remote).await
        })
        .unwrap();
    let stream = stream.into_std().unwrap();
    stream.set_nonblocking(false).unwrap();
    stream
}

/// `GET path` with a token and one more header: the status and body.
fn request_with(address: &str, path: &str, token: &str, extra: (&str, &str)) -> (u16, Vec<u8>) {
    let mut stream = TcpStream::connect(address).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\n\
         {}: {}\r\nConnection: close\r\n\r\n",
        extra.0, extra.1
    )
    .unwrap();
    read_response(stream).unwrap()
}

/// A response header's value.
fn header(head: &str, name: &str) -> Option<String> {
    head.lines().skip(1).find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.trim()
            .eq_ignore_ascii_case(name)
            .then(|| value.trim().to_owned())
    })
}

#[test]
fn the_json_log_names_each_request_and_none_of_its_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("relay.db");
    // At trace, the most the log can show.
    let relay = LoggedRelay::start(
        &[
            "--data",
            data.to_str().unwrap(),
            "--log-format",
            "json",
            "--log-level",
            "trace",
        ],
        &[],
    );
    let address = relay.address();
    let alice_user = "alice-q7logsecret";
    let bob_user = "bob-z3logsecret";
    let alice = TestDevice::register(&address, alice_user, 1, 1);
    let bob = TestDevice::register(&address, bob_user, 1, 2);
    bob.upload_prekeys(&address, Some(1), 1..3);
    let sealed = b"SEALED-BODY-d41d8cd98f00b204e980";
    let (status, _) = alice.send(&address, &bob.address, sealed).unwrap();
    assert_eq!(status, 200);
    // A bundle fetch: the path holds Bob's user id.
    let (status, bundle_head, _) = exchange(
        "127.0.0.1",
        &address,
        "GET",
        &format!("/v1/users/{bob_user}/bundles"),
        Some(&alice.token),
        &[],
    );
    assert_eq!(status, 200);
    // A fetch from another client address, which the log must not name.
    let (status, _, body) = exchange(
        "127.0.0.2",
        &address,
        "GET",
        "/v1/mailbox",
        Some(&bob.token),
        &[],
    );
    assert_eq!(status, 200);
    assert_eq!(MailboxBatch::from_bytes(&body).unwrap().records.len(), 1);
    // A refused request, with a token that is not one.
    let forged = "ab".repeat(32);
    let (status, refused_head, _) = exchange(
        "127.0.0.1",
        &address,
        "GET",
        "/v1/mailbox",
        Some(&forged),
        &[],
    );
    assert_eq!(status, 401);

    let lines = relay.stop();
    let log = lines.join("\n");
    // Every line is a JSON object.
    let events: Vec<serde_json::Value> = lines
        .iter()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}")))
        .collect();
    for secret in [
        alice_user,
        bob_user,
        alice.token.as_str(),
        bob.token.as_str(),
        &alice.token[..16],
        &bob.token[..16],
        forged.as_str(),
        "SEALED-BODY",
        &hex::encode(sealed)[..16],
        "127.0.0.2",
        "Bearer",
    ] {
        assert!(!log.contains(secret), "the log holds {secret:?}:\n{log}");
    }

    let requests: Vec<&serde_json::Value> = events
        .iter()
        .filter(|event| event["target"] == "fuin_relay::request")
        .collect();
    // 2 accounts, 2 challenges, 2 tokens, prekeys, send, bundles, 2 fetches.
    assert_eq!(requests.len(), 11, "{log}");
    for event in &requests {
        let id = event["request_id"].as_str().unwrap();
        assert!(id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()));
        assert!(event["method"].is_string());
        assert!(event["route"].as_str().unwrap().starts_with("/v1/"));
        assert!(event["status"].as_u64().is_some());
        assert!(event["latency_ms"].as_f64().is_some_and(|ms| ms >= 0.0));
        assert!(event.get("client").is_none(), "{event}");
    }
    // The id answered in X-Request-Id names that request's event.
    let logged = |head: &str| {
        let id = header(head, "x-request-id").expect("no X-Request-Id");
        let matching: Vec<_> = requests
            .iter()
            .filter(|event| event["request_id"] == id.as_str())
            .collect();
        assert_eq!(matching.len(), 1, "request {id}");
        (*matching[0]).clone()
    };
    let bundle = logged(&bundle_head);
    assert_eq!(bundle["route"], "/v1/users/{user}/bundles");
    assert_eq!(bundle["method"], "GET");
    assert_eq!(bundle["status"], 200);
    let refused = logged(&refused_head);
    assert_eq!(refused["route"], "/v1/mailbox");
    assert_eq!(refused["status"], 401);
    // Startup and shutdown are logged.
    assert!(
        events
            .iter()
            .any(|event| event["message"] == "listening" && event["backend"] == "sqlite")
    );
    assert!(
        events
            .iter()
            .any(|event| event["message"] == "shutdown complete")
    );
}

#[test]
fn client_addresses_are_logged_only_when_the_operator_asks() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("relay.db");
    let relay = LoggedRelay::start(
        &[
            "--data",
            data.to_str().unwrap(),
            "--log-format",
            "json",
            "--log-level",
            "info",
            "--log-client-addresses",
        ],
        &[],
    );
    let address = relay.address();
    let (status, head, _) = exchange("127.0.0.2", &address, "GET", "/healthz", None, &[]);
    assert_eq!(status, 200);
    let (status, _, _) = exchange("127.0.0.3", &address, "GET", "/v1/mailbox", None, &[]);
    assert_eq!(status, 401);
    let lines = relay.stop();
    let events: Vec<serde_json::Value> = lines
        .iter()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let refused = events
        .iter()
        .find(|event| event["target"] == "fuin_relay::request" && event["status"] == 401)
        .expect("no event for the refused fetch");
    assert_eq!(refused["client"], "127.0.0.3");
    // Probes are logged at debug only, below the default level.
    let probe_id = header(&head, "x-request-id").unwrap();
    assert!(!lines.iter().any(|line| line.contains(&probe_id)));
}

/// One series of a scrape: its name and labels.
type Series = (String, BTreeMap<String, String>);

/// A scrape in the Prometheus text format: every sample and every `# TYPE`.
struct Scrape {
    samples: BTreeMap<Series, f64>,
    types: BTreeMap<String, String>,
}

impl Scrape {
    fn parse(text: &str) -> Self {
        let mut samples = BTreeMap::new();
        let mut types = BTreeMap::new();
        for line in text.lines() {
            if let Some(declared) = line.strip_prefix("# TYPE ") {
                let (name, kind) = declared.split_once(' ').unwrap();
                types.insert(name.to_owned(), kind.to_owned());
                continue;
            }
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            let (series, value) = line.rsplit_once(' ').unwrap();
            let value: f64 = match value {
                "+Inf" => f64::INFINITY,
                value => value
                    .parse()
                    .unwrap_or_else(|_| panic!("bad value in {line}")),
            };
            let (name, labels) = match series.split_once('{') {
                None => (series.to_owned(), BTreeMap::new()),
                Some((name, labels)) => (
                    name.to_owned(),
                    parse_labels(labels.strip_suffix('}').unwrap()),
                ),
            };
            assert!(
                samples.insert((name, labels), value).is_none(),
                "a series twice: {line}"
            );
        }
        Self { samples, types }
    }

    /// The value of the series `name` with exactly `labels` (0 if absent:
    /// a labelled counter appears when first counted).
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let labels = labels
            .iter()
            .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
            .collect();
        self.samples
            .get(&(name.to_owned(), labels))
            .copied()
            .unwrap_or(0.0)
    }
}

/// `key="value",...`, with the format's escapes (`\\`, `\"`, `\n`).
fn parse_labels(text: &str) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    let mut rest = text;
    while !rest.is_empty() {
        let (key, after) = rest.split_once("=\"").unwrap();
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next().unwrap() {
                (_, '\\') => match chars.next().unwrap().1 {
                    'n' => value.push('\n'),
                    other => value.push(other),
                },
                (at, '"') => break at,
                (_, other) => value.push(other),
            }
        };
        labels.insert(key.to_owned(), value);
        rest = after[end + 1..].trim_start_matches(',');
    }
    labels
}

fn scrape(metrics: &str) -> Scrape {
    let (status, head, body) = exchange("127.0.0.1", metrics, "GET", "/metrics", None, &[]);
    assert_eq!(status, 200);
    assert!(
        header(&head, "content-type")
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    Scrape::parse(&String::from_utf8(body).unwrap())
}

const REQUESTS: &str = "fuin_relay_http_requests_total";

#[test]
fn metrics_count_known_traffic_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("relay.db");
    // A clock that stands still: rate buckets do not refill during the test.
    let clock = TestClock::new();
    let clock_file = clock.path().to_str().unwrap().to_owned();
    let relay = LoggedRelay::start(
        &[
            "--data",
            data.to_str().unwrap(),
            "--log-format",
            "json",
            "--log-level",
            "info",
            "--metrics-listen",
            "127.0.0.1:0",
            "--anonymous-request-burst",
            "10",
            "--request-burst",
            "20",
        ],
        &[(
            fuin_relay::test_clock::TIME_FILE_VARIABLE,
            clock_file.as_str(),
        )],
    );
    let address = relay.address();
    let metrics = relay.metrics_address();
    // The API listener does not serve metrics.
    let (status, _, _) = exchange("127.0.0.1", &address, "GET", "/metrics", None, &[]);
    assert_eq!(status, 404);

    let alice = TestDevice::register(&address, "alice", 1, 1);
    let bob = TestDevice::register(&address, "bob", 1, 2);
    for n in 0..3u8 {
        let (status, _) = alice.send(&address, &bob.address, &[n; 40]).unwrap();
        assert_eq!(status, 200);
    }
    let impostor = TestDevice {
        address: alice.address.clone(),
        key: alice.key.clone(),
        token: "cd".repeat(32),
    };
    let (status, _) = impostor.send(&address, &bob.address, b"refused").unwrap();
    assert_eq!(status, 401);
    // Ten requests without a token from another address fill its bucket;
    // the eleventh is refused.
    let challenge = ChallengeRequest {
        address: DeviceAddress::new(UserId::new("nobody".to_owned()).unwrap(), DeviceId(1)),
    }
    .to_bytes()
    .unwrap();
    for _ in 0..10 {
        let (status, _, _) = exchange(
            "127.0.0.3",
            &address,
            "POST",
            "/v1/auth/challenge",
            None,
            &challenge,
        );
        assert_ne!(status, 429);
    }
    let (status, _, _) = exchange(
        "127.0.0.3",
        &address,
        "POST",
        "/v1/auth/challenge",
        None,
        &challenge,
    );
    assert_eq!(status, 429);

    // Dave's 21st request with a token is over his burst of 20.
    let dave = TestDevice::register(&address, "dave", 1, 4);
    for n in 1..=21 {
        let (status, _) =
            request(&address, "GET", "/v1/prekeys/count", Some(&dave.token), &[]).unwrap();
        assert_eq!(status, if n <= 20 { 200 } else { 429 });
    }
    // One blob up and down.
    let blob = vec![0x42u8; 3000];
    let blob_path = format!("/v1/blobs/{}", hex::encode(Sha256::digest(&blob)));
    let (status, body) = request(&address, "PUT", &blob_path, Some(&bob.token), &blob).unwrap();
    assert_eq!(status, 201);
    let receipt = BlobReceipt::from_bytes(&body).unwrap();
    let (status, _) = request_with(
        &address,
        &blob_path,
        &bob.token,
        ("fuin-blob-capability", &hex::encode(receipt.capability.0)),
    );
    assert_eq!(status, 200);

    let scraped = scrape(&metrics);
    assert_eq!(
        scraped.value("fuin_relay_rate_limited_total", &[("kind", "device")]),
        1.0
    );
    for direction in ["upload", "download"] {
        let labels = [("direction", direction)];
        assert_eq!(
            scraped.value("fuin_relay_blob_transfers_total", &labels),
            1.0
        );
        assert_eq!(
            scraped.value("fuin_relay_blob_transfer_bytes_total", &labels),
            3000.0
        );
    }
    let sends = [("route", "/v1/messages"), ("method", "POST")];
    let with_status = |status: &'static str| {
        let mut labels = sends.to_vec();
        labels.push(("status", status));
        labels
    };
    assert_eq!(scraped.value(REQUESTS, &with_status("200")), 3.0);
    assert_eq!(scraped.value(REQUESTS, &with_status("401")), 1.0);
    assert_eq!(
        scraped.value("fuin_relay_http_request_duration_seconds_count", &sends),
        4.0
    );
    assert_eq!(
        scraped.value(
            REQUESTS,
            &[
                ("route", "/v1/auth/challenge"),
                ("method", "POST"),
                ("status", "429")
            ]
        ),
        1.0
    );
    assert_eq!(
        scraped.value("fuin_relay_rate_limited_total", &[("kind", "anonymous")]),
        1.0
    );
    assert_eq!(scraped.value("fuin_relay_mailbox_envelopes", &[]), 3.0);
    assert_eq!(scraped.value("fuin_relay_mailboxes_nonempty", &[]), 1.0);
    assert_eq!(scraped.value("fuin_relay_mailbox_depth_max", &[]), 3.0);
    // Every write was committed in some batch: 3 accounts, 3 tokens (and
    // their challenges), 3 sends at least.
    let sqlite = [("backend", "sqlite")];
    let batches = scraped.value("fuin_relay_store_commit_batch_size_count", &sqlite);
    let writes = scraped.value("fuin_relay_store_commit_batch_size_sum", &sqlite);
    assert!(batches >= 1.0 && writes >= 9.0 && writes >= batches);
    assert_eq!(
        scraped.value("fuin_relay_store_commit_duration_seconds_count", &sqlite),
        batches
    );
    for (name, kind) in [
        (REQUESTS, "counter"),
        ("fuin_relay_http_request_duration_seconds", "histogram"),
        ("fuin_relay_mailbox_envelopes", "gauge"),
        ("fuin_relay_store_commit_batch_size", "histogram"),
        ("fuin_relay_rate_limited_total", "counter"),
        ("fuin_relay_websocket_streams", "gauge"),
        ("fuin_relay_long_polls_waiting", "gauge"),
    ] {
        assert_eq!(
            scraped.types.get(name).map(String::as_str),
            Some(kind),
            "{name}"
        );
    }

    // Acknowledging one envelope takes the depth down by one.
    let records = bob.peek(&address);
    let ack = Acknowledgement {
        message_ids: vec![records[0].server_message_id].into(),
    };
    let (status, _) = request(
        &address,
        "POST",
        "/v1/mailbox/ack",
        Some(&bob.token),
        &ack.to_bytes().unwrap(),
    )
    .unwrap();
    assert_eq!(status, 204);
    assert_eq!(
        scrape(&metrics).value("fuin_relay_mailbox_envelopes", &[]),
        2.0
    );

    // A long poll counts while it waits, and no longer once answered.
    let long_poll = std::thread::spawn({
        let (address, token) = (address.clone(), alice.token.clone());
        move || {
            request(
                &address,
                "GET",
                "/v1/mailbox?wait_ms=30000",
                Some(&token),
                &[],
            )
            .unwrap()
        }
    });
    let gauge = |name: &str| scrape(&metrics).value(name, &[]);
    eventually("the long poll to count", PATIENCE, || {
        gauge("fuin_relay_long_polls_waiting") == 1.0
    });
    let (status, _) = bob.send(&address, &alice.address, b"wake").unwrap();
    assert_eq!(status, 200);
    assert_eq!(long_poll.join().unwrap().0, 200);
    eventually("the answered long poll to stop counting", PATIENCE, || {
        gauge("fuin_relay_long_polls_waiting") == 0.0
    });

    // A long poll whose client goes away is counted, and logged, as
    // unanswered.
    assert_eq!(alice.drain(&address).len(), 1);
    let mut abandoned = TcpStream::connect(&address).unwrap();
    write!(
        abandoned,
        "GET /v1/mailbox?wait_ms=30000 HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {}\r\n\r\n",
        alice.token
    )
    .unwrap();
    eventually("the abandoned long poll to wait", PATIENCE, || {
        gauge("fuin_relay_long_polls_waiting") == 1.0
    });
    drop(abandoned);
    let unanswered = [
        ("route", "/v1/mailbox"),
        ("method", "GET"),
        ("status", "499"),
    ];
    eventually(
        "the abandoned long poll to count as unanswered",
        PATIENCE,
        || scrape(&metrics).value(REQUESTS, &unanswered) == 1.0,
    );
    assert_eq!(gauge("fuin_relay_long_polls_waiting"), 0.0);

    // A stream counts while it is open.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut socket = runtime.block_on(async {
        let mut request = format!("ws://{address}/v1/mailbox/stream")
            .into_client_request()
            .unwrap();
        request.headers_mut().insert(
            "authorization",
            format!("Bearer {}", bob.token).parse().unwrap(),
        );
        tokio_tungstenite::connect_async(request).await.unwrap().0
    });
    eventually("the stream to count", PATIENCE, || {
        gauge("fuin_relay_websocket_streams") == 1.0
    });
    runtime.block_on(socket.send(Message::Close(None))).unwrap();
    drop(socket);
    eventually("the closed stream to stop counting", PATIENCE, || {
        gauge("fuin_relay_websocket_streams") == 0.0
    });
    let scraped = scrape(&metrics);
    assert_eq!(
        scraped.value(
            REQUESTS,
            &[
                ("route", "/v1/mailbox/stream"),
                ("method", "GET"),
                ("status", "101")
            ]
        ),
        1.0
    );
    relay.stop();
}

#[test]
fn health_and_readiness_answer_on_both_listeners() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("relay.db");
    let relay = LoggedRelay::start(
        &[
            "--data",
            data.to_str().unwrap(),
            "--log-format",
            "json",
            "--log-level",
            "info",
            "--metrics-listen",
            "127.0.0.1:0",
        ],
        &[],
    );
    let metrics = relay.metrics_address();
    for listener in [relay.address(), metrics] {
        for (path, status) in [("/healthz", "ok"), ("/readyz", "ready")] {
            let (code, head, body) = exchange("127.0.0.1", &listener, "GET", path, None, &[]);
            assert_eq!(code, 200, "{path} on {listener}");
            assert!(header(&head, "x-request-id").is_some());
            let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(json["status"], status);
        }
    }
    relay.stop();
}
