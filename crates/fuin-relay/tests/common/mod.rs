//! A relay process started from its binary, and a minimal HTTP/1.1 client
//! for talking to it as a device would.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

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
}

impl RelayProcess {
    /// Starts the binary on `data`, on a free loopback port.
    pub fn start(data: &Path) -> Self {
        Self::start_with(&[std::ffi::OsStr::new("--data"), data.as_os_str()])
    }

    /// Starts the binary with `args`, on a free loopback port.
    pub fn start_with(args: &[&std::ffi::OsStr]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_fuin-relay"))
            .args(args)
            .args(["--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let address = line
            .trim()
            .strip_prefix("fuin-relay listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        Self { child, address }
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
    let mut stream = TcpStream::connect(address)?;
    let auth = token
        .map(|token| format!("Authorization: Bearer {token}\r\n"))
        .unwrap_or_default();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\n{auth}Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
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
    /// Registers `user/device` at the relay and logs in.
    pub fn register(relay: &str, user: &str, device: u32, seed: u8) -> Self {
        let address = DeviceAddress::new(UserId::new(user.to_owned()).unwrap(), DeviceId(device));
        let key = SigningKey::from_bytes(&[seed; 32]);
        let registration = DeviceRegistration {
            address: address.clone(),
            identity: PublicIdentity {
                signing_key: Ed25519PublicKey(key.verifying_key().to_bytes()),
                agreement_key: X25519PublicKey([seed; 32]),
                signature: Ed25519Signature([0; 64]),
            },
        };
        let (status, _) = request(
            relay,
            "POST",
            "/v1/devices",
            None,
            &registration.to_bytes().unwrap(),
        )
        .unwrap();
        assert!(status == 201 || status == 200, "registration: {status}");
        let mut device = Self {
            address,
            key,
            token: String::new(),
        };
        device.login(relay);
        device
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
                    .sign(&relay_auth_input(&self.address, &challenge.nonce))
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
