//! A TCP proxy in front of a relay that can refuse the push stream's
//! upgrade (as a proxy that does not pass WebSockets would) and hold the
//! relay's answers back (a request that reached the relay whose answer has
//! not come yet).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;

/// The proxy's listening socket, bound before the relay starts (the relay
/// must accept logins made for the proxy's origin).
pub struct GateListener {
    pub url: String,
    listener: tokio::net::TcpListener,
}

/// A running proxy.
pub struct GateProxy {
    pub url: String,
    refuse_upgrades: Arc<AtomicBool>,
    break_streams: Arc<AtomicBool>,
    hold: watch::Sender<bool>,
}

/// What a refused upgrade is answered with.
const REFUSAL: &[u8] = b"HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\n\
content-length: 43\r\nconnection: close\r\n\r\n{\"code\":\"not_found\",\"message\":\"no stream\"}";

impl GateProxy {
    pub async fn bind() -> GateListener {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        GateListener { url, listener }
    }

    /// Answers `GET /v1/mailbox/stream` with 404 from now on (or not).
    pub fn refuse_upgrades(&self, refuse: bool) {
        self.refuse_upgrades.store(refuse, Ordering::SeqCst);
    }

    /// Lets the push stream's upgrade through, then ends the connection
    /// at once, from now on (or not): a stream that keeps failing.
    pub fn break_streams(&self, sever: bool) {
        self.break_streams.store(sever, Ordering::SeqCst);
    }

    /// A handle that holds the relay's answers back from now on (or lets
    /// them through), callable from synchronous code.
    pub fn holder(&self) -> impl Fn(bool) + Send + Sync + 'static {
        let hold = self.hold.clone();
        move |value| {
            hold.send_replace(value);
        }
    }
}

impl GateListener {
    /// Forwards every connection to `target` (a relay's URL).
    pub fn forward(self, target: &str) -> GateProxy {
        let target = target.trim_start_matches("http://").to_owned();
        let GateListener { url, listener } = self;
        let refuse_upgrades = Arc::new(AtomicBool::new(false));
        let break_streams = Arc::new(AtomicBool::new(false));
        let (hold, held) = watch::channel(false);
        let refusing = refuse_upgrades.clone();
        let breaking = break_streams.clone();
        tokio::spawn(async move {
            loop {
                let Ok((inbound, _)) = listener.accept().await else {
                    return;
                };
                let target = target.clone();
                let rules = Rules {
                    refusing: refusing.clone(),
                    breaking: breaking.clone(),
                };
                let held = held.clone();
                tokio::spawn(relay_connection(inbound, target, rules, held));
            }
        });
        GateProxy {
            url,
            refuse_upgrades,
            break_streams,
            hold,
        }
    }
}

/// What the proxy does to push streams.
struct Rules {
    refusing: Arc<AtomicBool>,
    breaking: Arc<AtomicBool>,
}

async fn relay_connection(
    mut inbound: tokio::net::TcpStream,
    target: String,
    rules: Rules,
    mut held: watch::Receiver<bool>,
) {
    let mut first = vec![0u8; 16 * 1024];
    let Ok(read) = inbound.read(&mut first).await else {
        return;
    };
    first.truncate(read);
    let stream = first.starts_with(b"GET /v1/mailbox/stream");
    let sever = stream && rules.breaking.load(Ordering::SeqCst);
    if stream && rules.refusing.load(Ordering::SeqCst) {
        let _ = inbound.write_all(REFUSAL).await;
        let _ = inbound.shutdown().await;
        return;
    }
    let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await else {
        return;
    };
    if outbound.write_all(&first).await.is_err() {
        return;
    }
    let (mut from_client, mut to_client) = inbound.into_split();
    let (mut from_relay, mut to_relay) = outbound.into_split();
    let upstream = async move {
        let _ = tokio::io::copy(&mut from_client, &mut to_relay).await;
        let _ = to_relay.shutdown().await;
    };
    let downstream = async move {
        let mut buffer = vec![0u8; 16 * 1024];
        loop {
            let Ok(read) = from_relay.read(&mut buffer).await else {
                return;
            };
            if read == 0 {
                let _ = to_client.shutdown().await;
                return;
            }
            // Held answers wait here until let through.
            if held.wait_for(|hold| !*hold).await.is_err() {
                return;
            }
            if to_client.write_all(&buffer[..read]).await.is_err() || sever {
                // Severed: the upgrade answer went through, nothing more.
                let _ = to_client.shutdown().await;
                return;
            }
        }
    };
    tokio::join!(upstream, downstream);
}
