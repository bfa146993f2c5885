//! A relay process started from its binary, and a minimal HTTP/1.1 client
//! for talking to it as a device would.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../lists/mod.rs"]
pub mod lists;

pub mod eventually;
pub use eventually::*;
pub mod kem_prekeys;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use ed25519_dalek::{Signer, SigningKey};
use fuin_wire::relay::*;
use fuin_wire::*;

/// A running `fuin-relay` process.
pub struct RelayProcess {
    pub child: Child,
    pub address: String,
    /// The rest of its stdout, after the line naming its address.
    pub stdout: Option<BufReader<std::process::ChildStdout>>,
}

impl RelayProcess {
    /// Starts the binary on `data`, on a free loopback port.
    pub fn start(data: &Path) -> Self {
        Self::start_with(&[std::ffi::OsStr::new("--data"), data.as_os_str()])
    }

    /// Starts the binary with `args`, on a free loopback port.
    pub fn start_with(args: &[&std::ffi::OsStr]) -> Self {
        Self::spawn(args, "127.0.0.1:0", Stdio::inherit())
    }

    /// Starts the binary with `args`, listening on `listen`, with its stderr
    /// going to `stderr`; returns once it says where it listens.
    pub fn spawn(args: &[&std::ffi::OsStr], listen: &str, stderr: Stdio) -> Self {
        Self::spawn_with_env(args, listen, stderr, &[])
    }

    /// [`RelayProcess::spawn`], with environment variables set for it.
    pub fn spawn_with_env(
        args: &[&std::ffi::OsStr],
        listen: &str,
        stderr: Stdio,
        env: &[(&str, &str)],
    ) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_fuin-relay"))
            .args(args)
            .args(["--listen", listen])
            // One log line per request would flood the test output; a
            // test that reads the log sets its own level.
            .env("RUST_LOG", "warn")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap();
        let mut line = String::new();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        stdout.read_line(&mut line).unwrap();
        let address = line
            .trim()
            .strip_prefix("fuin-relay listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        Self {
            child,
            address,
            stdout: Some(stdout),
        }
    }

    /// Sends SIGTERM and waits for the process; its exit status and all it
    /// printed (stdout after the first line, and stderr if piped).
    pub fn stop_and_collect(mut self) -> (std::process::ExitStatus, Vec<u8>) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let mut printed = Vec::new();
        if let Some(mut stdout) = self.stdout.take() {
            stdout.read_to_end(&mut printed).unwrap();
        }
        if let Some(mut stderr) = self.child.stderr.take() {
            stderr.read_to_end(&mut printed).unwrap();
        }
        (self.child.wait().unwrap(), printed)
    }

    /// Sends `signal` (e.g. "TERM", "KILL") and waits for the process.
    pub fn stop(mut self, signal: &str) -> std::process::ExitStatus {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        self.child.wait().unwrap()
    }
}

/// The clock of relay processes started with [`RelayProcess::start_on_clock`]
/// (the relay's `test-clock` feature reads it from a file at every reading):
/// it starts at the system time and stands still until the test moves it.
pub struct TestClock {
    file: tempfile::NamedTempFile,
    now_ms: std::cell::Cell<u64>,
}

impl Default for TestClock {
    fn default() -> Self {
        Self::new()
    }
}

impl TestClock {
    pub fn new() -> Self {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis();
        let clock = Self {
            file: tempfile::NamedTempFile::new().unwrap(),
            now_ms: std::cell::Cell::new(u64::try_from(now_ms).unwrap()),
        };
        clock.advance(std::time::Duration::ZERO);
        clock
    }

    /// The file the relays read the time from (for
    /// [`fuin_relay::test_clock::TIME_FILE_VARIABLE`]).
    pub fn path(&self) -> &Path {
        self.file.path()
    }

    /// Moves the relays' time forward by `by`.
    pub fn advance(&self, by: std::time::Duration) {
        let now_ms = self.now_ms.get() + u64::try_from(by.as_millis()).unwrap();
        // Written whole, then renamed over, so a reading never sees half.
        let next = self.file.path().with_extension("next");
        std::fs::write(&next, now_ms.to_string()).unwrap();
        std::fs::rename(&next, self.file.path()).unwrap();
        self.now_ms.set(now_ms);
    }
}

impl RelayProcess {
    /// [`RelayProcess::start_with`], on `clock`.
    pub fn start_on_clock(args: &[&std::ffi::OsStr], clock: &TestClock) -> Self {
        let file = clock.file.path().to_str().unwrap();
        Self::spawn_with_env(
            args,
            "127.0.0.1:0",
            Stdio::inherit(),
            &[(fuin_relay::test_clock::TIME_FILE_VARIABLE, file)],
        )
    }
}

/// Runs the binary with `args` (and `--listen listen`), expecting it to
/// refuse to start: returns what it printed on stderr. Fails the test if it
/// is still running after 20 s, or exits successfully.
pub fn refused_start(args: &[&std::ffi::OsStr], listen: &str) -> String {
    let child = Command::new(env!("CARGO_BIN_EXE_fuin-relay"))
        .args(args)
        .args(["--listen", listen])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = KillOnDrop(child);
    let what = format!("the relay started with {args:?} to exit (it should refuse to start)");
    let status = wait_for(&what, PATIENCE, || child.0.try_wait().unwrap());
    let mut stderr = String::new();
    child
        .0
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(!status.success(), "exited with {status}; stderr: {stderr}");
    stderr
}

/// A child process that is killed if the test fails while it runs.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

impl Drop for RelayProcess {
    /// A test that fails before `stop` leaves no relay running.
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// One HTTP exchange over a fresh connection: status and body.
pub fn request(
    address: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &[u8],
) -> std::io::Result<(u16, Vec<u8>)> {
    let stream = TcpStream::connect(address)?;
    request_on(stream, address, method, path, token, body)
}

/// [`request`] from the local address `local_ip` (such as 127.0.0.2).
pub fn request_from(
    local_ip: &str,
    address: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &[u8],
) -> std::io::Result<(u16, Vec<u8>)> {
    let local: std::net::SocketAddr = format!("{local_ip}:0").parse().unwrap();
    let remote: std::net::SocketAddr = address.parse().unwrap();
    let socket = socket_from(local, remote)?;
    request_on(socket, address, method, path, token, body)
}

fn socket_from(
    local: std::net::SocketAddr,
    remote: std::net::SocketAddr,
) -> std::io::Result<TcpStream> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()?;
    let stream = runtime.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4()?;
        socket.bind(local)?;
        socket.connect(remote).await
    })?;
    let stream = stream.into_std()?;
    stream.set_nonblocking(false)?;
    Ok(stream)
}

/// The `code` of a JSON error body.
pub fn error_code(body: &[u8]) -> String {
    let json: serde_json::Value = serde_json::from_slice(body)
        .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(body)));
    json["code"].as_str().unwrap().to_owned()
}

/// One HTTP exchange over `stream` (plain or TLS), which it then closes.
pub fn request_on(
    mut stream: impl Read + Write,
    address: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &[u8],
) -> std::io::Result<(u16, Vec<u8>)> {
    let auth = token
        .map(|token| format!("Authorization: Bearer {token}\r\n"))
        .unwrap_or_default();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\n{auth}Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    read_response(stream)
}

/// Reads an HTTP response to its end: status and body.
pub fn read_response(mut stream: impl Read) -> std::io::Result<(u16, Vec<u8>)> {
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no header end"))?;
    let head = String::from_utf8_lossy(&response[..split]).into_owned();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| std::io::Error::other("no status"))?;
    let mut body = response[split + 4..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body = dechunk(&body);
    }
    Ok((status, body))
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n").unwrap();
        let size =
            usize::from_str_radix(std::str::from_utf8(&data[..line_end]).unwrap().trim(), 16)
                .unwrap();
        data = &data[line_end + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

/// A device of a test: its key and, once logged in, its token.
pub struct TestDevice {
    pub address: DeviceAddress<'static>,
    pub key: SigningKey,
    pub token: String,
}

impl TestDevice {
    /// Creates `user`'s account at the relay with `user/device` as its only
    /// device, and logs in.
    pub fn register(relay: &str, user: &str, device: u32, seed: u8) -> Self {
        Self::register_user(relay, user, &[(device, seed)])
            .pop()
            .unwrap()
    }

    /// Creates `user`'s account at the relay with a list (version 1, the
    /// account key made from the first seed) naming every `(device, seed)`,
    /// and logs each in.
    pub fn register_user(relay: &str, user: &str, devices: &[(u32, u8)]) -> Vec<Self> {
        let named: Vec<_> = devices
            .iter()
            .map(|(device, seed)| {
                let key = SigningKey::from_bytes(&[*seed; 32]);
                (*device, lists::identity(&key, *seed))
            })
            .collect();
        let list = lists::signed_list(&lists::account_key(devices[0].1), user, 1, &named);
        let (status, body) = request(
            relay,
            "POST",
            "/v1/accounts",
            None,
            &lists::registration(&list, None),
        )
        .unwrap();
        assert_eq!(status, 201, "account: {}", String::from_utf8_lossy(&body));
        devices
            .iter()
            .map(|(device, seed)| {
                let mut registered = Self {
                    address: DeviceAddress::new(
                        UserId::new(user.to_owned()).unwrap(),
                        DeviceId(*device),
                    ),
                    key: SigningKey::from_bytes(&[*seed; 32]),
                    token: String::new(),
                };
                registered.login(relay);
                registered
            })
            .collect()
    }

    /// Answers a fresh challenge and keeps the token.
    pub fn login(&mut self, relay: &str) {
        let challenge_request = ChallengeRequest {
            address: self.address.clone(),
        };
        let (status, body) = request(
            relay,
            "POST",
            "/v1/auth/challenge",
            None,
            &challenge_request.to_bytes().unwrap(),
        )
        .unwrap();
        assert_eq!(status, 200);
        let challenge = AuthChallenge::from_bytes(&body).unwrap();
        let answer = ChallengeResponse {
            address: self.address.clone(),
            nonce: challenge.nonce,
            signature: Ed25519Signature(
                self.key
                    .sign(&relay_auth_input(
                        &format!("http://{relay}"),
                        &self.address,
                        &challenge.nonce,
                    ))
                    .to_bytes(),
            ),
        };
        let (status, body) = request(
            relay,
            "POST",
            "/v1/auth/token",
            None,
            &answer.to_bytes().unwrap(),
        )
        .unwrap();
        assert_eq!(status, 200);
        let token = AuthToken::from_bytes(&body).unwrap();
        self.token = token.token.0.iter().map(|b| format!("{b:02x}")).collect();
    }

    /// Sends one envelope to `to`; the relay's answer.
    pub fn send(
        &self,
        relay: &str,
        to: &DeviceAddress<'static>,
        sealed: &[u8],
    ) -> std::io::Result<(u16, Vec<u8>)> {
        let batch = SendBatch {
            envelopes: vec![RoutingEnvelope {
                recipient: to.clone(),
                content_kind: ContentKind::Message,
                franking_commitment: FrankingCommitment([3; 32]),
                sealed_body: Opaque::from(sealed.to_vec()),
            }]
            .into(),
        };
        request(
            relay,
            "POST",
            "/v1/messages",
            Some(&self.token),
            &batch.to_bytes().unwrap(),
        )
    }

    /// Uploads an optional signed prekey (id `signed`) and one-time prekeys
    /// with the ids `one_time`, each with its KEM counterpart (a signed
    /// last-resort KEM prekey with the signed prekey, a signed one-time KEM
    /// prekey with id 1,000,000 + id per one-time prekey), so that both
    /// pools count alike; the relay's answer.
    pub fn upload_prekeys(
        &self,
        relay: &str,
        signed: Option<u32>,
        one_time: std::ops::Range<u32>,
    ) -> (u16, Vec<u8>) {
        let upload = PrekeyUpload {
            signed_prekey: signed.map(|id| SignedPrekey {
                id: PrekeyId(id),
                public_key: X25519PublicKey([0x51; 32]),
                signature: Ed25519Signature([0x52; 64]),
            }),
            one_time_prekeys: one_time
                .clone()
                .map(|id| OneTimePrekey {
                    id: PrekeyId(id),
                    public_key: X25519PublicKey([id as u8; 32]),
                })
                .collect::<Vec<_>>()
                .into(),
            last_resort_kem_prekey: signed
                .map(|id| kem_prekeys::kem_prekey(&self.key, 2_000_000 + id)),
            one_time_kem_prekeys: one_time
                .map(|id| kem_prekeys::kem_prekey(&self.key, 1_000_000 + id))
                .collect::<Vec<_>>()
                .into(),
        };
        request(
            relay,
            "PUT",
            "/v1/prekeys",
            Some(&self.token),
            &upload.to_bytes().unwrap(),
        )
        .unwrap()
    }

    /// Sends one message to each of `to` in one batch; the relay's answer.
    pub fn send_batch(
        &self,
        relay: &str,
        to: &[&DeviceAddress<'static>],
        sealed: &[u8],
    ) -> (u16, Vec<u8>) {
        let batch = SendBatch {
            envelopes: to
                .iter()
                .map(|to| RoutingEnvelope {
                    recipient: (*to).clone(),
                    content_kind: ContentKind::Message,
                    franking_commitment: FrankingCommitment([3; 32]),
                    sealed_body: Opaque::from(sealed.to_vec()),
                })
                .collect::<Vec<_>>()
                .into(),
        };
        request(
            relay,
            "POST",
            "/v1/messages",
            Some(&self.token),
            &batch.to_bytes().unwrap(),
        )
        .unwrap()
    }

    /// Fetches without acknowledging; the records waiting (at most 32).
    pub fn peek(&self, relay: &str) -> Vec<DeliveredRecord<'static>> {
        let (status, body) = request(relay, "GET", "/v1/mailbox", Some(&self.token), &[]).unwrap();
        assert_eq!(status, 200);
        MailboxBatch::from_bytes(&body)
            .unwrap()
            .into_owned()
            .records
            .into_vec()
    }

    /// Fetches and acknowledges everything waiting; returns the records.
    pub fn drain(&self, relay: &str) -> Vec<DeliveredRecord<'static>> {
        let mut all = Vec::new();
        loop {
            let (status, body) =
                request(relay, "GET", "/v1/mailbox", Some(&self.token), &[]).unwrap();
            assert_eq!(status, 200);
            let batch = MailboxBatch::from_bytes(&body).unwrap().into_owned();
            if batch.records.is_empty() {
                return all;
            }
            let ids: Vec<_> = batch
                .records
                .as_slice()
                .iter()
                .map(|r| r.server_message_id)
                .collect();
            let ack = Acknowledgement {
                message_ids: ids.into(),
            };
            let (status, _) = request(
                relay,
                "POST",
                "/v1/mailbox/ack",
                Some(&self.token),
                &ack.to_bytes().unwrap(),
            )
            .unwrap();
            assert_eq!(status, 204);
            all.extend(batch.records.into_vec());
        }
    }
}

/// Whether the process at the other end of `stream` (a connection to a
/// local relay) has read every byte sent on it: nothing is waiting to be
/// acknowledged on this side, and nothing is waiting to be read on the other
/// (from the kernel's socket tables, `/proc/net/tcp`).
pub fn peer_has_read_everything(stream: &TcpStream) -> bool {
    let (local, remote) = (stream.local_addr().unwrap(), stream.peer_addr().unwrap());
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
    let queues = |from: std::net::SocketAddr, to: std::net::SocketAddr| {
        let (from, to) = (kernel_address(from), kernel_address(to));
        table.lines().skip(1).find_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.get(1) != Some(&from.as_str()) || fields.get(2) != Some(&to.as_str()) {
                return None;
            }
            let (sending, unread) = fields.get(4)?.split_once(':')?;
            Some((
                u64::from_str_radix(sending, 16).ok()?,
                u64::from_str_radix(unread, 16).ok()?,
            ))
        })
    };
    let ours = queues(local, remote).expect("this connection is not in /proc/net/tcp");
    let theirs = queues(remote, local).expect("the relay's end is not in /proc/net/tcp");
    ours.0 == 0 && theirs.1 == 0
}

/// An IPv4 socket address as `/proc/net/tcp` writes it.
fn kernel_address(address: std::net::SocketAddr) -> String {
    let std::net::SocketAddr::V4(address) = address else {
        panic!("{address} is not IPv4");
    };
    format!(
        "{:08X}:{:04X}",
        u32::from_le_bytes(address.ip().octets()),
        address.port()
    )
}

/// The database file and its WAL, as they are on disk.
pub fn database_bytes(data: &Path) -> Vec<u8> {
    let mut bytes = std::fs::read(data).unwrap();
    let mut wal = PathBuf::from(data.as_os_str());
    wal.set_extension("db-wal");
    if let Ok(more) = std::fs::read(&wal) {
        bytes.extend(more);
    }
    bytes
}

pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}
