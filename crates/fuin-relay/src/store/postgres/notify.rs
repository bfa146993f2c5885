//! Wake-ups across nodes through PostgreSQL's `LISTEN`/`NOTIFY`.
//!
//! # What is sent
//!
//! Every node sharing the database listens on one channel,
//! `fuin_wake_<16 hex digits>`, whose digits are derived from a 32-byte
//! random key that the first node to start stores in the table
//! `fuin_wake_key` (so deployments in different schemas of one database use
//! different channels). [`Store::deliver`] sends, inside its transaction, one
//! notification per up to [`TAGS_PER_PAYLOAD`] recipient mailboxes:
//!
//! ```text
//! <node: 16 hex digits> <tag: 16 hex digits> [<tag> ...]
//! ```
//!
//! A revocation of a device's tokens, or its removal by a newer device
//! list, sends `<node> r<tag>` the same way ([`Wakeup::Device`]): the other
//! nodes end the streams and long polls that relied on it. (Nodes from before
//! this ignore such a word: it is not 16 hex digits.)
//!
//! PostgreSQL delivers a transaction's notifications only once it has
//! committed, and then to every listening session, so a node is told exactly
//! when the envelopes became visible, and never about a delivery that rolled
//! back. The node id is random per store; a node ignores its own
//! notifications (its relay woke its own waiters already). A tag is the
//! first 8 bytes of HMAC-SHA256 under the key over the address, not the
//! address: a notification that ends up outside the tables (in the server's
//! statement log, in `pg_notify/` files) does not name a mailbox to anyone
//! who cannot read the key from the database, and whoever can reads the
//! mailbox table anyway.
//!
//! # The listening connection
//!
//! Each store keeps one connection of its own (outside the pool) that does
//! nothing but `LISTEN` and, every [`PING_EVERY`], a `SELECT 1` to notice a
//! connection that died silently. If it is lost, it is made again (waiting
//! from [`RETRY_MIN`] up to [`RETRY_MAX`] between attempts); once it listens
//! again, every waiter of this node is woken ([`Wakeup::All`]), because
//! notifications sent meanwhile are gone. The connection closes with the
//! store.
//!
//! [`Store::deliver`]: super::Store::deliver

use std::collections::BTreeSet;
use std::future::poll_fn;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use fuin_wire::DeviceAddress;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use tokio::task::JoinHandle;
use tokio_postgres::tls::NoTlsStream;
use tokio_postgres::{AsyncMessage, Client, Config, Connection, NoTls, Socket};
use zeroize::{Zeroize, ZeroizeOnDrop};

use super::{Op, backend_at};
use crate::store::{MailboxTag, RemoteWaker, StoreError, Wakeup};

/// How many tags one notification carries at most (a payload must stay
/// under PostgreSQL's 8,000 bytes: 17 + 17 per tag).
pub(super) const TAGS_PER_PAYLOAD: usize = 400;
/// What starts a word naming a device whose tokens or registration changed.
const DEVICE_PREFIX: &str = "r";
/// How often the listening connection is checked.
const PING_EVERY: Duration = Duration::from_secs(30);
/// How long a check may take before the connection is given up.
const PING_TIMEOUT: Duration = Duration::from_secs(10);
/// The first wait before making a lost connection again; it doubles.
const RETRY_MIN: Duration = Duration::from_millis(100);
/// The longest wait between attempts.
const RETRY_MAX: Duration = Duration::from_secs(5);
/// What the tags are derived from, before the address.
const TAG_DOMAIN: &[u8] = b"fuin-relay wake tag\0";
/// What the channel name is derived from.
const CHANNEL_DOMAIN: &[u8] = b"fuin-relay wake channel\0";

/// The table holding the key, created with the schema.
pub(super) const KEY_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS fuin_wake_key (
    singleton BOOLEAN NOT NULL PRIMARY KEY DEFAULT TRUE CHECK (singleton),
    key       BYTEA   NOT NULL CHECK (length(key) = 32)
);
";

/// The key tags and the channel name are derived from: wiped on drop.
#[derive(Zeroize, ZeroizeOnDrop)]
pub(super) struct WakeKey([u8; 32]);

impl WakeKey {
    /// HMAC-SHA256 under the key, fed `domain` first. (HMAC pads a short key
    /// with zeros to the hash's 64-byte block, so giving it padded is the
    /// same function, and cannot fail.)
    fn mac(&self, domain: &[u8]) -> Hmac<Sha256> {
        let mut block = [0u8; 64];
        block[..32].copy_from_slice(&self.0);
        let mut key = hmac::digest::Key::<Hmac<Sha256>>::from(block);
        block.zeroize();
        let mut mac = <Hmac<Sha256> as KeyInit>::new(&key);
        key.as_mut_slice().zeroize();
        mac.update(domain);
        mac
    }
}

/// The database's wake key, made now if it has none. Runs inside the schema
/// transaction (after [`KEY_SCHEMA`]), under its lock.
pub(super) async fn wake_key(
    transaction: &deadpool_postgres::Transaction<'_>,
) -> Result<WakeKey, StoreError> {
    const OP: &str = "connect";
    let mut fresh = [0u8; 32];
    rand::fill(&mut fresh);
    let inserted = transaction
        .execute(
            "INSERT INTO fuin_wake_key (key) VALUES ($1) ON CONFLICT DO NOTHING",
            &[&fresh.as_slice()],
        )
        .await
        .op(OP);
    fresh.zeroize();
    inserted?;
    let mut stored: Vec<u8> = transaction
        .query_one("SELECT key FROM fuin_wake_key", &[])
        .await
        .op(OP)?
        .try_get(0)
        .op(OP)?;
    let key = <[u8; 32]>::try_from(stored.as_slice()).map(WakeKey);
    stored.zeroize();
    key.map_err(|_| backend_at(OP, "corrupt wake key"))
}

/// What the listener task and the store share.
struct Shared {
    channel: String,
    /// This store's id, as it starts every payload it sends.
    node: String,
    waker: Mutex<Option<RemoteWaker>>,
    /// The listening connection's server process id (0 while it has none).
    pid: AtomicI32,
}

impl Shared {
    fn wake(&self, wakeup: Wakeup) {
        let waker = self
            .waker
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if let Some(waker) = waker {
            waker(wakeup);
        }
    }

    /// Acts on one notification: wakes the mailboxes it names, unless this
    /// node sent it. Anything else on the channel is ignored.
    fn received(&self, channel: &str, payload: &str) {
        if channel != self.channel {
            return;
        }
        let mut words = payload.split_ascii_whitespace();
        if words.next().is_none_or(|node| node == self.node) {
            return;
        }
        for word in words {
            let (device, digits) = match word.strip_prefix(DEVICE_PREFIX) {
                Some(digits) => (true, digits),
                None => (false, word),
            };
            let mut tag = [0u8; 8];
            if hex::decode_to_slice(digits, &mut tag).is_ok() {
                let tag = MailboxTag(tag);
                self.wake(if device {
                    Wakeup::Device(tag)
                } else {
                    Wakeup::Mailbox(tag)
                });
            }
        }
    }
}

/// A store's side of the wake-ups: the tags it sends and the task that
/// listens for the other nodes'.
pub(super) struct Notifier {
    key: WakeKey,
    shared: Arc<Shared>,
    listener: JoinHandle<()>,
}

impl Notifier {
    /// Listens on the database's channel (failing if it cannot, as `connect`
    /// does) and keeps listening in a task of its own until dropped.
    pub(super) async fn start(config: Config, key: WakeKey) -> Result<Self, StoreError> {
        let mut channel_id = [0u8; 8];
        channel_id.copy_from_slice(&key.mac(CHANNEL_DOMAIN).finalize().into_bytes()[..8]);
        let mut node = [0u8; 8];
        rand::fill(&mut node);
        let shared = Arc::new(Shared {
            channel: format!("fuin_wake_{}", hex::encode(channel_id)),
            node: hex::encode(node),
            waker: Mutex::new(None),
            pid: AtomicI32::new(0),
        });
        let session = Session::open(&config, &shared)
            .await
            .map_err(|_| backend_at("connect", "listener"))?;
        let listener = tokio::spawn(listen(config, shared.clone(), session));
        Ok(Self {
            key,
            shared,
            listener,
        })
    }

    pub(super) fn set_waker(&self, waker: RemoteWaker) {
        *self
            .shared
            .waker
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(waker);
    }

    /// The keyed tag of `address`.
    pub(super) fn tag(&self, address: &DeviceAddress<'_>) -> MailboxTag {
        let digest = self
            .key
            .mac(TAG_DOMAIN)
            .chain_update(address.device.0.to_be_bytes())
            .chain_update(address.user.as_str().as_bytes())
            .finalize()
            .into_bytes();
        let mut tag = [0u8; 8];
        tag.copy_from_slice(&digest[..8]);
        MailboxTag(tag)
    }

    pub(super) fn channel(&self) -> &str {
        &self.shared.channel
    }

    /// The listening connection's server process id, while it has one.
    pub(super) fn pid(&self) -> Option<i32> {
        Some(self.shared.pid.load(Ordering::Relaxed)).filter(|pid| *pid != 0)
    }

    /// The payloads announcing a delivery to `recipients`: each mailbox once.
    pub(super) fn payloads<'a>(
        &self,
        recipients: impl Iterator<Item = &'a DeviceAddress<'a>>,
    ) -> Vec<String> {
        let tags: BTreeSet<MailboxTag> = recipients.map(|address| self.tag(address)).collect();
        payloads(&self.shared.node, &tags.into_iter().collect::<Vec<_>>())
    }

    /// The payloads announcing that `devices` lost their tokens or their
    /// registration: each device once.
    pub(super) fn device_payloads<'a>(
        &self,
        devices: impl Iterator<Item = &'a DeviceAddress<'a>>,
    ) -> Vec<String> {
        let tags: BTreeSet<MailboxTag> = devices.map(|address| self.tag(address)).collect();
        tags.into_iter()
            .collect::<Vec<_>>()
            .chunks(TAGS_PER_PAYLOAD)
            .map(|chunk| {
                let mut payload = self.shared.node.clone();
                for tag in chunk {
                    payload.push(' ');
                    payload.push_str(DEVICE_PREFIX);
                    payload.push_str(&hex::encode(tag.0));
                }
                payload
            })
            .collect()
    }

    /// Stops listening.
    pub(super) fn stop(&self) {
        self.listener.abort();
    }
}

/// `node`'s payloads for `tags`, at most [`TAGS_PER_PAYLOAD`] tags each.
fn payloads(node: &str, tags: &[MailboxTag]) -> Vec<String> {
    tags.chunks(TAGS_PER_PAYLOAD)
        .map(|chunk| {
            let mut payload = node.to_owned();
            for tag in chunk {
                payload.push(' ');
                payload.push_str(&hex::encode(tag.0));
            }
            payload
        })
        .collect()
}

impl Drop for Notifier {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

/// A task that ends with its handle.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// One listening connection: its client, and the task that reads its
/// messages and ends when it is lost.
struct Session {
    client: Client,
    reader: AbortOnDrop,
}

impl Session {
    async fn open(config: &Config, shared: &Arc<Shared>) -> Result<Self, tokio_postgres::Error> {
        let (client, connection) = config.connect(NoTls).await?;
        let reader = AbortOnDrop(tokio::spawn(read(connection, shared.clone())));
        // The channel name is ours (hex digits), never input.
        client
            .batch_execute(&format!("LISTEN \"{}\"", shared.channel))
            .await?;
        let pid: i32 = client
            .query_one("SELECT pg_backend_pid()", &[])
            .await?
            .try_get(0)?;
        shared.pid.store(pid, Ordering::Relaxed);
        Ok(Self { client, reader })
    }

    /// Returns once the connection is lost or stops answering.
    async fn run(mut self) {
        let mut ping = tokio::time::interval(PING_EVERY);
        ping.tick().await;
        loop {
            tokio::select! {
                _ = &mut self.reader.0 => return,
                _ = ping.tick() => {
                    let check = self.client.simple_query("SELECT 1");
                    if !matches!(tokio::time::timeout(PING_TIMEOUT, check).await, Ok(Ok(_))) {
                        return;
                    }
                }
            }
        }
    }
}

/// Reads the connection's messages until it ends.
async fn read(mut connection: Connection<Socket, NoTlsStream>, shared: Arc<Shared>) {
    while let Some(Ok(message)) = poll_fn(|cx| connection.poll_message(cx)).await {
        if let AsyncMessage::Notification(notification) = message {
            shared.received(notification.channel(), notification.payload());
        }
    }
}

/// Listens through `session`, and through new ones whenever it is lost.
async fn listen(config: Config, shared: Arc<Shared>, mut session: Session) {
    loop {
        session.run().await;
        shared.pid.store(0, Ordering::Relaxed);
        let mut wait = RETRY_MIN;
        session = loop {
            tokio::time::sleep(wait).await;
            if let Ok(session) = Session::open(&config, &shared).await {
                break session;
            }
            wait = (wait * 2).min(RETRY_MAX);
        };
        // Whatever was sent while no one listened is lost: look everywhere.
        shared.wake(Wakeup::All);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn the_padded_key_gives_hmac_under_the_key_itself() {
        let key = WakeKey([0xa5; 32]);
        let mut direct = <Hmac<Sha256> as KeyInit>::new_from_slice(&[0xa5; 32]).unwrap();
        direct.update(b"domain");
        direct.update(b"message");
        assert_eq!(
            key.mac(b"domain")
                .chain_update(b"message")
                .finalize()
                .into_bytes(),
            direct.finalize().into_bytes()
        );
    }

    #[test]
    fn many_tags_are_split_into_payloads_postgresql_accepts() {
        let tags: Vec<MailboxTag> = (0..=TAGS_PER_PAYLOAD as u32)
            .map(|i| MailboxTag(u64::from(i).to_be_bytes()))
            .collect();
        let split = payloads("1111111111111111", &tags);
        assert_eq!(split.len(), 2);
        // PostgreSQL refuses a payload of 8,000 bytes or more.
        assert!(split.iter().all(|payload| payload.len() < 8000));
        let words: Vec<&str> = split
            .iter()
            .flat_map(|payload| payload.split(' ').skip(1))
            .collect();
        let expected: Vec<String> = tags.iter().map(|tag| hex::encode(tag.0)).collect();
        assert_eq!(words, expected);
        assert!(payloads("1111111111111111", &[]).is_empty());
    }

    #[test]
    fn a_payload_wakes_its_tags_unless_this_node_sent_it() {
        let shared = Arc::new(Shared {
            channel: "fuin_wake_00".to_owned(),
            node: "1111111111111111".to_owned(),
            waker: Mutex::new(None),
            pid: AtomicI32::new(0),
        });
        let heard = Arc::new(Mutex::new(Vec::new()));
        let sink = heard.clone();
        *shared.waker.lock().unwrap() = Some(Arc::new(move |wakeup| {
            sink.lock().unwrap().push(wakeup);
        }));
        let tag = |byte| Wakeup::Mailbox(MailboxTag([byte; 8]));
        shared.received(
            "fuin_wake_00",
            "2222222222222222 0101010101010101 0202020202020202",
        );
        // This node's own, another channel, and words that are not tags.
        shared.received("fuin_wake_00", "1111111111111111 0303030303030303");
        shared.received("fuin_wake_01", "2222222222222222 0404040404040404");
        shared.received("fuin_wake_00", "2222222222222222 zz 05 0606060606060606");
        shared.received("fuin_wake_00", "");
        assert_eq!(*heard.lock().unwrap(), vec![tag(1), tag(2), tag(6)]);
        heard.lock().unwrap().clear();
        shared.received(
            "fuin_wake_00",
            "2222222222222222 r0707070707070707 0808080808080808 rzz",
        );
        assert_eq!(
            *heard.lock().unwrap(),
            vec![Wakeup::Device(MailboxTag([7; 8])), tag(8)]
        );
    }
}
