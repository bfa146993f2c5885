//! The client: one device of one user, its local store and its relay.
//!
//! Every operation that changes state runs under one lock, so sending and
//! syncing from several tasks is safe; the long poll of [`Client::sync`]
//! waits outside it. Each operation's local writes happen in one SQLite
//! transaction, ordered so that a crash at any point loses nothing and
//! shows nothing twice:
//!
//! - **Sending** seals the message for every device, then stores the
//!   advanced sessions, the message (status `Queued`) and the sealed batch
//!   in the outbox in one transaction, and only then posts the batch. A
//!   crash before the post leaves the batch queued; it goes out with the
//!   next send or sync. A crash after the relay accepted it but before the
//!   outbox was cleared sends it again: the recipients' sessions refuse the
//!   second copy (its message keys are gone), so it is not shown twice.
//! - **Receiving** opens a fetched batch, then stores the advanced
//!   sessions, the messages and the ids of the processed deliveries in one
//!   transaction, and only then acknowledges them at the relay. A crash
//!   before the commit leaves the sessions as they were, so the deliveries
//!   open again on the next fetch; a crash after it finds the deliveries
//!   marked processed: they are acknowledged without being opened again.
//!
//! SQLite calls are short and run on the calling task.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fuin_report::{
    FrankingKeyBytes, ModerationPublicKey, ReportBuilder, ReportError, ReportedMessage,
};
use fuin_seal::safety_number::SafetyNumber;
use fuin_seal::state::StorageKey;
use fuin_seal::{
    DeviceIdentity, Opened, Outgoing, PrekeyStore, SealError, Session, VerifiedBundle,
};
use fuin_wire::relay::{
    BearerToken, ChallengeResponse, DeviceRegistration, PrekeyUpload, ReportAccepted, SendBatch,
};
use fuin_wire::{
    ContentKind, ContentType, DeliveredRecord, DeviceAddress, DeviceId, FrameBody, MessageId,
    Opaque, PrekeyMessage, PublicIdentity, UserId,
};
use tokio::sync::{Mutex, broadcast};

use crate::event::{Event, EventStream};
use crate::history::{Conversation, Message, MessageStatus, ReceiptRecord};
use crate::local::{LocalStore, NewMessage, Reader, SessionSlot, StoredFranking};
use crate::receipt::{MAX_RECEIPT_MESSAGES, ReceiptBody, ReceiptKind, ReceiptRef};
use crate::relay::{Registered, RelayConnection};
use crate::{ClientError, keyfile};

/// One-time prekeys published at a time (the relay takes at most 100 per
/// upload).
const PREKEY_BATCH: usize = fuin_wire::relay::MAX_PREKEY_UPLOAD;
/// The most one-time prekey secrets the device keeps. A relay that keeps
/// saying the pool is low gets no more uploads beyond it, so it cannot make
/// the device's state grow without end.
const MAX_LOCAL_ONE_TIME_PREKEYS: usize = 400;
/// How often the signed prekey is replaced.
const SIGNED_PREKEY_LIFETIME_MS: u64 = 7 * 24 * 60 * 60 * 1000;
/// Sessions kept per peer device: the newest and the ones before it, so
/// that two devices that started sessions with each other at once still
/// understand each other.
const SESSIONS_PER_DEVICE: usize = 3;

/// A step of sending or syncing, reported to [`ClientOptions::on_step`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Step {
    /// A send was sealed and queued in the local store, not yet posted.
    Queued,
    /// The relay accepted a queued send; the outbox is not yet cleared.
    Posted,
    /// A batch of deliveries arrived from the relay; nothing is stored yet.
    Fetched,
    /// The batch's messages are stored; the relay has not been told yet.
    Stored,
    /// The relay was told to delete the batch.
    Acknowledged,
}

/// Called at each [`Step`]; for instrumentation and crash tests.
pub type StepHook = Arc<dyn Fn(Step) + Send + Sync>;

/// How a client behaves.
#[derive(Clone, Default)]
pub struct ClientOptions {
    /// Do not send delivery receipts automatically when messages arrive.
    pub no_delivery_receipts: bool,
    /// A PEM certificate to trust for the relay's TLS, besides the
    /// platform's roots (for a relay with a self-signed certificate).
    pub relay_certificate: Option<Vec<u8>>,
    /// Called at each step of sending and syncing.
    pub on_step: Option<StepHook>,
}

impl std::fmt::Debug for ClientOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientOptions")
            .field("no_delivery_receipts", &self.no_delivery_receipts)
            .field("relay_certificate", &self.relay_certificate.is_some())
            .field("on_step", &self.on_step.is_some())
            .finish()
    }
}

/// The outcome of a send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentMessage {
    /// The message's local id.
    pub local_id: i64,
    /// `Sent` if the relay accepted it, `Queued` if the relay could not be
    /// reached (it is retried by the next send or sync).
    pub status: MessageStatus,
    /// How many devices it was sealed for (the peer's and this user's
    /// other devices).
    pub devices: usize,
}

/// What one [`Client::sync`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// Messages stored (text, from peers or this user's other devices).
    pub messages: usize,
    /// Receipts applied.
    pub receipts: usize,
    /// Deliveries dropped because they failed a check.
    pub dropped: usize,
    /// Deliveries held back because their device's identity changed.
    pub held: usize,
    /// Deliveries acknowledged at the relay.
    pub acknowledged: usize,
}

/// A device's safety number with this device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceSafetyNumber {
    /// The peer device.
    pub device: DeviceAddress<'static>,
    /// The 60-digit number, in groups of five.
    pub number: String,
    /// Whether the device presented a new identity not yet accepted; the
    /// number is then that of the trusted (old) identity.
    pub change_pending: bool,
}

pub(crate) struct State {
    pub(crate) store: LocalStore,
    prekeys: PrekeyStore,
}

pub(crate) struct Inner {
    pub(crate) address: DeviceAddress<'static>,
    pub(crate) identity: DeviceIdentity,
    pub(crate) relay: RelayConnection,
    options: ClientOptions,
    events: broadcast::Sender<Event>,
    pub(crate) state: Mutex<State>,
    token: std::sync::Mutex<Option<BearerToken>>,
}

/// One device of a user. Cheap to clone: clones share the device.
#[derive(Clone)]
pub struct Client {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("address", &self.inner.address)
            .field("relay", &self.inner.relay.base())
            .finish_non_exhaustive()
    }
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
        })
}

/// Which devices of the peer a 1:1 send seals for.
enum Targets<'a> {
    /// Every device the relay lists for the peer, and this user's other
    /// devices (the whole conversation on every device).
    All,
    /// Only these of the peer's listed devices.
    Only(&'a [DeviceAddress<'static>]),
    /// Exactly these, resolved by the caller just before.
    Resolved(Vec<(DeviceAddress<'static>, PublicIdentity)>),
}

pub(crate) fn user_id(user: &str) -> Result<UserId<'static>, ClientError> {
    UserId::new(user.to_owned())
        .map_err(|err| ClientError::InvalidArgument(format!("user id {user:?}: {err}")))
}

/// A report that cannot be built or sealed: the caller's selection, reason
/// or moderation key is at fault.
fn report_error(err: ReportError) -> ClientError {
    ClientError::InvalidArgument(match err {
        ReportError::WeakPublicKey => "the moderation key is not usable (small order)".to_owned(),
        other => other.to_string(),
    })
}

pub(crate) fn commit(tx: rusqlite::Transaction<'_>) -> Result<(), ClientError> {
    tx.commit()
        .map_err(|err| ClientError::Storage(format!("committing: {err}")))
}

/// The sessions of one operation, loaded once and written back at commit.
#[derive(Default)]
struct SessionCache {
    slots: HashMap<DeviceAddress<'static>, Vec<SessionSlot>>,
    dirty: HashSet<(DeviceAddress<'static>, i64)>,
    removed: Vec<(DeviceAddress<'static>, i64)>,
}

impl SessionCache {
    fn load(
        &mut self,
        db: Reader<'_>,
        address: &DeviceAddress<'static>,
    ) -> Result<&mut Vec<SessionSlot>, ClientError> {
        if !self.slots.contains_key(address) {
            let slots = db.sessions(address)?;
            self.slots.insert(address.clone(), slots);
        }
        self.slots
            .get_mut(address)
            .ok_or_else(|| ClientError::Storage("session cache".into()))
    }

    /// Adds a new session as the most recent, forgetting the oldest beyond
    /// [`SESSIONS_PER_DEVICE`].
    fn add(
        &mut self,
        db: Reader<'_>,
        address: &DeviceAddress<'static>,
        session: Session,
        now: i64,
    ) -> Result<(), ClientError> {
        let slots = self.load(db, address)?;
        let slot = slots.iter().map(|s| s.slot).max().map_or(0, |max| max + 1);
        slots.insert(
            0,
            SessionSlot {
                slot,
                session,
                last_used: now,
            },
        );
        let mut removed = Vec::new();
        while slots.len() > SESSIONS_PER_DEVICE {
            if let Some(old) = slots.pop() {
                removed.push((address.clone(), old.slot));
            }
        }
        self.dirty.insert((address.clone(), slot));
        for gone in &removed {
            self.dirty.remove(gone);
        }
        self.removed.extend(removed);
        Ok(())
    }

    fn touch(&mut self, address: &DeviceAddress<'static>, index: usize, now: i64) {
        if let Some(slots) = self.slots.get_mut(address) {
            if let Some(slot) = slots.get_mut(index) {
                slot.last_used = now.max(slot.last_used);
                self.dirty.insert((address.clone(), slot.slot));
            }
            // Most recently used first.
            slots.sort_by(|a, b| b.last_used.cmp(&a.last_used).then(b.slot.cmp(&a.slot)));
        }
    }

    fn write(&self, db: Reader<'_>) -> Result<(), ClientError> {
        for (address, slot) in &self.removed {
            db.delete_session(address, *slot)?;
        }
        for (address, slot) in &self.dirty {
            if let Some(found) = self
                .slots
                .get(address)
                .and_then(|slots| slots.iter().find(|s| s.slot == *slot))
            {
                db.put_session(address, found.slot, &found.session, found.last_used)?;
            }
        }
        Ok(())
    }
}

/// What opening one delivery came to.
enum Outcome {
    Opened(Box<Opened>),
    /// Held until the app accepts the sender device's new identity.
    Held,
    Dropped(String),
}

impl Client {
    /// Creates a new device `user/device` with its store at `store_path`
    /// (and its storage key beside it, `store_path` + `.key`, mode 0600),
    /// registers it at the relay and publishes its prekeys.
    ///
    /// If the relay cannot be reached, the device is created locally and
    /// registers on first use; if the relay refuses the registration (the
    /// address is taken), the local files are removed again.
    pub async fn create(
        store_path: impl AsRef<std::path::Path>,
        relay_url: &str,
        user: &str,
        device: u32,
        options: ClientOptions,
    ) -> Result<Self, ClientError> {
        let store_path = store_path.as_ref();
        let address = DeviceAddress::new(user_id(user)?, DeviceId(device));
        let relay = RelayConnection::new(relay_url, options.relay_certificate.as_deref())?;
        let key_path = keyfile::key_path(store_path);
        if key_path.exists() {
            return Err(ClientError::KeyFile(format!(
                "{} already exists; open the store instead",
                key_path.display()
            )));
        }
        let key = StorageKey::generate(&mut rand::rng());
        let mut store = LocalStore::create(store_path, key.clone())?;
        if let Err(err) = keyfile::create(&key_path, &key) {
            remove_store_files(store_path);
            return Err(err);
        }
        let identity = DeviceIdentity::generate(&mut rand::rng());
        let mut prekeys = PrekeyStore::new();
        prekeys.rotate_signed_prekey(&identity, &mut rand::rng());
        {
            let (tx, key) = store.transaction()?;
            let db = Reader::of(&tx, key);
            db.put_plain("user", address.user.as_str().as_bytes())?;
            db.put_u64("device", u64::from(address.device.0))?;
            db.put_plain("relay", relay.base().as_bytes())?;
            db.put_identity(&identity)?;
            db.put_prekeys(&prekeys)?;
            db.put_u64("signed_prekey_at", now_ms())?;
            db.put_u64("registered", 0)?;
            commit(tx)?;
        }
        let client = Self::from_parts(address, identity, relay, options, store, prekeys);
        match client.ensure_registered().await {
            Ok(()) => Ok(client),
            Err(err @ ClientError::Relay { status, .. }) if (400..500).contains(&status) => {
                drop(client);
                remove_store_files(store_path);
                Err(err)
            }
            Err(err) if err.is_transient() => Ok(client),
            Err(err) => Err(err),
        }
    }

    /// Opens an existing device's store, with the key file beside it.
    pub async fn open(
        store_path: impl AsRef<std::path::Path>,
        options: ClientOptions,
    ) -> Result<Self, ClientError> {
        let store_path = store_path.as_ref();
        let key = keyfile::load(&keyfile::key_path(store_path))?;
        Self::open_with_key(store_path, key, options).await
    }

    /// Opens an existing device's store with a storage key the app keeps
    /// elsewhere (a platform keystore).
    pub async fn open_with_key(
        store_path: impl AsRef<std::path::Path>,
        key: StorageKey,
        options: ClientOptions,
    ) -> Result<Self, ClientError> {
        let store = LocalStore::open(store_path.as_ref(), key)?;
        let db = store.reader();
        let user = db
            .plain("user")?
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .ok_or_else(|| ClientError::Storage("the store names no user".into()))?;
        let device = db
            .u64("device")?
            .and_then(|d| u32::try_from(d).ok())
            .ok_or_else(|| ClientError::Storage("the store names no device".into()))?;
        let relay_url = db
            .plain("relay")?
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .ok_or_else(|| ClientError::Storage("the store names no relay".into()))?;
        let identity = db.identity()?;
        let prekeys = db.prekeys()?;
        let address = DeviceAddress::new(user_id(&user)?, DeviceId(device));
        let relay = RelayConnection::new(&relay_url, options.relay_certificate.as_deref())?;
        Ok(Self::from_parts(
            address, identity, relay, options, store, prekeys,
        ))
    }

    fn from_parts(
        address: DeviceAddress<'static>,
        identity: DeviceIdentity,
        relay: RelayConnection,
        options: ClientOptions,
        store: LocalStore,
        prekeys: PrekeyStore,
    ) -> Self {
        let (events, _) = broadcast::channel(1024);
        Self {
            inner: Arc::new(Inner {
                address,
                identity,
                relay,
                options,
                events,
                state: Mutex::new(State { store, prekeys }),
                token: std::sync::Mutex::new(None),
            }),
        }
    }

    /// This device's address.
    pub fn address(&self) -> &DeviceAddress<'static> {
        &self.inner.address
    }

    /// This device's public identity.
    pub fn identity(&self) -> &PublicIdentity {
        self.inner.identity.public()
    }

    /// The relay's address.
    pub fn relay_url(&self) -> &str {
        self.inner.relay.base()
    }

    /// Subscribes to the client's events from now on.
    pub fn events(&self) -> EventStream {
        EventStream::new(self.inner.events.subscribe())
    }

    pub(crate) fn emit(&self, event: Event) {
        // No subscriber is not an error.
        let _ = self.inner.events.send(event);
    }

    pub(crate) fn step(&self, step: Step) {
        if let Some(hook) = &self.inner.options.on_step {
            hook(step);
        }
    }

    // ---- the relay session: registration and tokens ----

    fn cached_token(&self) -> Option<BearerToken> {
        self.inner
            .token
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn set_token(&self, token: Option<BearerToken>) {
        *self
            .inner
            .token
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = token;
    }

    /// A bearer token, logging in (challenge and signature) if there is none.
    async fn token(&self) -> Result<BearerToken, ClientError> {
        if let Some(token) = self.cached_token() {
            return Ok(token);
        }
        let relay = &self.inner.relay;
        let challenge = relay.challenge(&self.inner.address).await?;
        let signature = self
            .inner
            .identity
            .sign_relay_challenge(&self.inner.address, &challenge.nonce);
        let answer = ChallengeResponse {
            address: self.inner.address.clone(),
            nonce: challenge.nonce,
            signature,
        };
        let token = relay.token(&answer).await?.token;
        self.set_token(Some(token.clone()));
        Ok(token)
    }

    /// Runs `call` with a token; once more with a fresh login if the relay
    /// says the token is no longer valid.
    pub(crate) async fn authed<T, F, Fut>(&self, call: F) -> Result<T, ClientError>
    where
        F: Fn(BearerToken) -> Fut,
        Fut: std::future::Future<Output = Result<T, ClientError>>,
    {
        let token = self.token().await?;
        match call(token).await {
            Err(ClientError::Relay { status: 401, .. }) => {
                self.set_token(None);
                let token = self.token().await?;
                call(token).await
            }
            other => other,
        }
    }

    /// Registers the device and publishes its first prekeys, once.
    pub(crate) async fn ensure_registered(&self) -> Result<(), ClientError> {
        let mut state = self.inner.state.lock().await;
        if state.store.reader().u64("registered")? == Some(1) {
            return Ok(());
        }
        let registration = DeviceRegistration {
            address: self.inner.address.clone(),
            identity: self.inner.identity.public().clone(),
        };
        match self.inner.relay.register(&registration).await? {
            Registered::Created | Registered::Already => {}
        }
        let state = &mut *state;
        let signed = state.prekeys.current_signed_prekey().cloned();
        self.publish_one_time_prekeys(state, signed).await?;
        let (tx, key) = state.store.transaction()?;
        Reader::of(&tx, key).put_u64("registered", 1)?;
        commit(tx)
    }

    /// Makes a batch of one-time prekeys, stores their secrets, then
    /// publishes them (with a new signed prekey if given).
    async fn publish_one_time_prekeys(
        &self,
        state: &mut State,
        signed_prekey: Option<fuin_wire::SignedPrekey>,
    ) -> Result<usize, ClientError> {
        let one_time = state
            .prekeys
            .generate_one_time_prekeys(PREKEY_BATCH, &mut rand::rng());
        // The secrets are on disk before their public halves leave.
        {
            let (tx, key) = state.store.transaction()?;
            Reader::of(&tx, key).put_prekeys(&state.prekeys)?;
            commit(tx)?;
        }
        let upload = PrekeyUpload {
            signed_prekey,
            one_time_prekeys: one_time.into(),
        };
        let relay = &self.inner.relay;
        self.authed(|token| {
            let upload = &upload;
            async move { relay.publish_prekeys(&token, upload).await }
        })
        .await?;
        Ok(PREKEY_BATCH)
    }

    /// Replaces the signed prekey when it is older than a week.
    async fn rotate_signed_prekey_if_due(&self, state: &mut State) -> Result<(), ClientError> {
        let last = state.store.reader().u64("signed_prekey_at")?.unwrap_or(0);
        let now = now_ms();
        if now.saturating_sub(last) < SIGNED_PREKEY_LIFETIME_MS {
            return Ok(());
        }
        let signed = state
            .prekeys
            .rotate_signed_prekey(&self.inner.identity, &mut rand::rng());
        {
            let (tx, key) = state.store.transaction()?;
            let db = Reader::of(&tx, key);
            db.put_prekeys(&state.prekeys)?;
            db.put_u64("signed_prekey_at", now)?;
            commit(tx)?;
        }
        let upload = PrekeyUpload {
            signed_prekey: Some(signed),
            one_time_prekeys: Vec::new().into(),
        };
        let relay = &self.inner.relay;
        self.authed(|token| {
            let upload = &upload;
            async move { relay.publish_prekeys(&token, upload).await }
        })
        .await?;
        Ok(())
    }

    // ---- devices and trust ----

    /// The devices of `user` at the relay, checked against the identities
    /// this device trusts: a new device is trusted on first use (and
    /// reported unless it is the first of its user), a changed identity is
    /// recorded and reported, and the send refused.
    pub(crate) async fn resolve_devices(
        &self,
        state: &mut State,
        user: &UserId<'static>,
    ) -> Result<Vec<(DeviceAddress<'static>, PublicIdentity)>, ClientError> {
        let relay = &self.inner.relay;
        let listed = self
            .authed(|token| async move { relay.devices(&token, user).await })
            .await?;
        let now = now_ms();
        let own_user = *user == self.inner.address.user;
        let (tx, key) = state.store.transaction()?;
        let db = Reader::of(&tx, key);
        let known = db.peers_of(user)?;
        let mut out = Vec::new();
        let mut changed = None;
        let mut events = Vec::new();
        for entry in listed.devices.as_slice() {
            let address = DeviceAddress::new(user.clone(), entry.device);
            if address == self.inner.address {
                continue;
            }
            match known.iter().find(|(device, _)| *device == entry.device) {
                None => {
                    db.trust_new_peer(&address, &entry.identity, now)?;
                    if own_user || !known.is_empty() {
                        events.push(Event::NewDevice {
                            device: address.clone(),
                        });
                    }
                    out.push((address, entry.identity.clone()));
                }
                Some((_, record))
                    if record.identity == entry.identity && record.pending.is_none() =>
                {
                    out.push((address, entry.identity.clone()));
                }
                Some((_, record)) => {
                    if record.identity != entry.identity
                        && record.pending.as_ref() != Some(&entry.identity)
                    {
                        db.set_pending_identity(&address, &entry.identity)?;
                        events.push(Event::IdentityChanged {
                            device: address.clone(),
                        });
                    }
                    changed.get_or_insert(address);
                }
            }
        }
        commit(tx)?;
        for event in events {
            self.emit(event);
        }
        if let Some(device) = changed {
            return Err(ClientError::IdentityChanged {
                device: device.to_string(),
            });
        }
        Ok(out)
    }

    /// Devices with an identity change waiting for the app's decision.
    pub async fn pending_identity_changes(
        &self,
    ) -> Result<Vec<DeviceAddress<'static>>, ClientError> {
        let state = self.inner.state.lock().await;
        state.store.reader().pending_changes()
    }

    /// Accepts the new identity of `device` (after the user compared safety
    /// numbers): its old sessions are dropped, its held messages are opened
    /// and shown, and messages flow again. Returns how many held messages
    /// were stored.
    pub async fn accept_identity_change(
        &self,
        device: &DeviceAddress<'_>,
    ) -> Result<usize, ClientError> {
        let device = device.clone().into_owned();
        let mut state = self.inner.state.lock().await;
        let state = &mut *state;
        let held = {
            let (tx, key) = state.store.transaction()?;
            let db = Reader::of(&tx, key);
            if !db.accept_pending_identity(&device)? {
                return Err(ClientError::InvalidArgument(format!(
                    "device {device} has no identity change to accept"
                )));
            }
            let held = db.quarantined(&device)?;
            commit(tx)?;
            held
        };
        let mut records = Vec::new();
        for (id, bytes) in &held {
            match DeliveredRecord::from_bytes(bytes) {
                Ok(record) => records.push((*id, Some(record.into_owned()))),
                Err(_) => records.push((*id, None)),
            }
        }
        let report = self.process(state, records, true)?;
        Ok(report.messages)
    }

    /// Safety numbers with each known device of `user` (looked up at the
    /// relay first if this device knows none).
    pub async fn safety_numbers(&self, user: &str) -> Result<Vec<DeviceSafetyNumber>, ClientError> {
        let user = user_id(user)?;
        let mut state = self.inner.state.lock().await;
        if state.store.reader().peers_of(&user)?.is_empty() {
            match self.resolve_devices(&mut state, &user).await {
                Ok(_) | Err(ClientError::IdentityChanged { .. }) => {}
                Err(err) => return Err(err),
            }
        }
        let own = (&self.inner.address.user, self.inner.identity.public());
        Ok(state
            .store
            .reader()
            .peers_of(&user)?
            .into_iter()
            .map(|(device, record)| DeviceSafetyNumber {
                device: DeviceAddress::new(user.clone(), device),
                number: SafetyNumber::new(own, (&user, &record.identity)).display(),
                change_pending: record.pending.is_some(),
            })
            .collect())
    }

    // ---- sending ----

    /// Sends a text message to `user`: sealed for each of the user's
    /// devices and this user's other devices, stored in the history, and
    /// handed to the relay.
    pub async fn send_text(&self, user: &str, text: &str) -> Result<SentMessage, ClientError> {
        if text.is_empty() {
            return Err(ClientError::InvalidArgument("a message needs text".into()));
        }
        let peer = user_id(user)?;
        self.ensure_registered().await?;
        let mut state = self.inner.state.lock().await;
        let sent = self
            .send_content(
                &mut state,
                &peer,
                ContentType::Text,
                text.as_bytes(),
                true,
                &[],
            )
            .await?;
        self.offer_identifier_secret_after_send(&mut state).await;
        Ok(sent)
    }

    /// A send just fetched this user's device list and trusted any new
    /// device: one that lacks the identifier secret gets it now. Its failure
    /// is not the send's; the next sync tries again.
    async fn offer_identifier_secret_after_send(&self, state: &mut State) {
        let _ = self.share_identifier_secret(state, false).await;
    }

    /// Sends `body` of `content_type` to `user` as a message of the
    /// history (for content types besides text, such as attachment shares).
    pub(crate) async fn send_in_history(
        &self,
        peer: &UserId<'static>,
        content_type: ContentType,
        body: &[u8],
    ) -> Result<SentMessage, ClientError> {
        self.ensure_registered().await?;
        let mut state = self.inner.state.lock().await;
        let sent = self
            .send_content(&mut state, peer, content_type, body, true, &[])
            .await?;
        self.offer_identifier_secret_after_send(&mut state).await;
        Ok(sent)
    }

    /// The relay connection.
    pub(crate) fn relay(&self) -> &RelayConnection {
        &self.inner.relay
    }

    /// A stored message and its body, byte for byte.
    pub(crate) async fn message_with_body(
        &self,
        local_id: i64,
    ) -> Result<Option<(Message, zeroize::Zeroizing<Vec<u8>>)>, ClientError> {
        let state = self.inner.state.lock().await;
        let db = state.store.reader();
        let Some(message) = db.message(local_id)? else {
            return Ok(None);
        };
        let Some(body) = db.message_body(local_id)? else {
            return Ok(None);
        };
        Ok(Some((message, body)))
    }

    /// Sends a receipt to `user` (and this user's other devices). Apps
    /// normally rely on the automatic delivery receipts and on
    /// [`Client::mark_read`]; this is for apps that track receipts
    /// themselves.
    pub async fn send_receipt(
        &self,
        user: &str,
        receipt: &ReceiptBody,
    ) -> Result<SentMessage, ClientError> {
        let peer = user_id(user)?;
        let body = receipt.to_bytes()?;
        self.ensure_registered().await?;
        let mut state = self.inner.state.lock().await;
        let sent = self
            .send_content(&mut state, &peer, ContentType::Receipt, &body, false, &[])
            .await?;
        self.offer_identifier_secret_after_send(&mut state).await;
        Ok(sent)
    }

    /// Sends `body` as a message of any `content_type` to `user` (and this
    /// user's other devices), outside the history. For tests that play a
    /// misbehaving peer; apps have no use for it.
    #[doc(hidden)]
    pub async fn send_raw_content_for_testing(
        &self,
        user: &str,
        content_type: ContentType,
        body: &[u8],
    ) -> Result<SentMessage, ClientError> {
        let peer = user_id(user)?;
        self.ensure_registered().await?;
        let mut state = self.inner.state.lock().await;
        self.send_content(&mut state, &peer, content_type, body, false, &[])
            .await
    }

    /// Marks every unread message of the conversation with `user` read,
    /// and sends read receipts (to the peer and this user's other devices).
    /// Returns how many messages it marked.
    pub async fn mark_read(&self, user: &str) -> Result<usize, ClientError> {
        let peer = user_id(user)?;
        let mut state = self.inner.state.lock().await;
        let unread = state.store.reader().unread(&peer)?;
        {
            let (tx, key) = state.store.transaction()?;
            let db = Reader::of(&tx, key);
            for (local, _, _) in &unread {
                db.set_status(*local, MessageStatus::Read, None)?;
                db.set_receipt_owed(*local, 2)?;
            }
            commit(tx)?;
        }
        match self.send_owed_receipts(&mut state).await {
            Ok(()) => {}
            Err(err) if err.is_transient() => {}
            Err(err) => return Err(err),
        }
        Ok(unread.len())
    }

    /// Seals `body` for every device of `peer` and this user's other
    /// devices, queues it, and posts it. `clear_owed` names messages whose
    /// owed receipt this send is.
    async fn send_content(
        &self,
        state: &mut State,
        peer: &UserId<'static>,
        content_type: ContentType,
        body: &[u8],
        in_history: bool,
        clear_owed: &[i64],
    ) -> Result<SentMessage, ClientError> {
        self.send_content_filtered(
            state,
            peer,
            content_type,
            body,
            in_history,
            clear_owed,
            Targets::All,
        )
        .await
    }

    /// Seals `body` for the listed devices of `peer` only (group keys and
    /// welcomes go to member devices, not to every device of a user); not
    /// kept in the history.
    pub(crate) async fn send_content_to(
        &self,
        state: &mut State,
        peer: &UserId<'static>,
        content_type: ContentType,
        body: &[u8],
        only: &[DeviceAddress<'static>],
    ) -> Result<SentMessage, ClientError> {
        self.send_content_filtered(
            state,
            peer,
            content_type,
            body,
            false,
            &[],
            Targets::Only(only),
        )
        .await
    }

    /// Seals `body` for exactly `targets`, devices of `peer` that the
    /// caller has just resolved (with [`Client::resolve_devices`], so their
    /// identities are the trusted ones); not kept in the history.
    pub(crate) async fn send_content_resolved(
        &self,
        state: &mut State,
        peer: &UserId<'static>,
        content_type: ContentType,
        body: &[u8],
        targets: Vec<(DeviceAddress<'static>, PublicIdentity)>,
    ) -> Result<SentMessage, ClientError> {
        self.send_content_filtered(
            state,
            peer,
            content_type,
            body,
            false,
            &[],
            Targets::Resolved(targets),
        )
        .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn send_content_filtered(
        &self,
        state: &mut State,
        peer: &UserId<'static>,
        content_type: ContentType,
        body: &[u8],
        in_history: bool,
        clear_owed: &[i64],
        only: Targets<'_>,
    ) -> Result<SentMessage, ClientError> {
        // Older queued sends go first, so the peer gets them in order.
        let flushed = self.flush_outbox(state).await;
        let all = matches!(only, Targets::All);
        let mut targets = match only {
            Targets::All => self.resolve_devices(state, peer).await?,
            Targets::Only(only) => {
                let mut targets = self.resolve_devices(state, peer).await?;
                targets.retain(|(address, _)| only.contains(address));
                targets
            }
            Targets::Resolved(targets) => targets,
        };
        if targets.is_empty() {
            return Err(ClientError::UnknownUser {
                user: peer.as_str().to_owned(),
            });
        }
        if *peer != self.inner.address.user && all {
            let own = self.inner.address.user.clone();
            targets.extend(self.resolve_devices(state, &own).await?);
        }
        // The thread-local generator is not `Send`: it is taken afresh at
        // each use so that no future holds it across an await.
        let now = now_ms();
        let now_sql = i64::try_from(now).unwrap_or(i64::MAX);

        // Sessions: use the most recent one that can send, or start one.
        let mut sessions = SessionCache::default();
        let mut envelopes = Vec::with_capacity(targets.len());
        let outgoing = Outgoing::new(
            &mut rand::rng(),
            &self.inner.address,
            peer.clone(),
            content_type,
            body,
        )?;
        let mut need_bundle = Vec::new();
        {
            let db = state.store.reader();
            for (address, _) in &targets {
                let slots = sessions.load(db, address)?;
                if !slots.iter().any(|slot| slot.session.can_send()) {
                    need_bundle.push(address.clone());
                }
            }
        }
        for address in need_bundle {
            let trusted = targets
                .iter()
                .find(|(a, _)| *a == address)
                .map(|(_, identity)| identity.clone());
            let relay = &self.inner.relay;
            let user = address.user.clone();
            let device = address.device;
            let bundles = match self
                .authed(|token| {
                    let user = &user;
                    async move { relay.bundle(&token, user, device).await }
                })
                .await
            {
                Ok(bundles) => bundles,
                // A device that has not published prekeys cannot be reached yet.
                Err(ClientError::Relay { status: 404, .. }) => continue,
                Err(err) => return Err(err),
            };
            let Some(bundle) = bundles
                .bundles
                .as_slice()
                .iter()
                .find(|b| b.address == address)
            else {
                continue;
            };
            let verified = match VerifiedBundle::verify(bundle, &address, trusted.as_ref()) {
                Ok(verified) => verified,
                Err(SealError::IdentityMismatch) => {
                    return Err(ClientError::IdentityChanged {
                        device: address.to_string(),
                    });
                }
                Err(err) => return Err(err.into()),
            };
            let session = Session::initiate(
                &mut rand::rng(),
                &self.inner.identity,
                self.inner.address.clone(),
                &verified,
            )?;
            sessions.add(state.store.reader(), &address, session, now_sql)?;
        }
        for (address, _) in &targets {
            let slots = sessions.load(state.store.reader(), address)?;
            let Some(index) = slots.iter().position(|slot| slot.session.can_send()) else {
                continue;
            };
            let sealed = slots[index]
                .session
                .seal(&mut rand::rng(), &outgoing, now)?;
            envelopes.push(sealed.envelope);
            sessions.touch(address, index, now_sql);
        }
        if envelopes.is_empty() {
            return Err(ClientError::UnknownUser {
                user: peer.as_str().to_owned(),
            });
        }
        let devices = envelopes.len();
        let batch = SendBatch {
            envelopes: envelopes.into(),
        }
        .to_bytes()?;

        let (outbox_id, local_id) = {
            let (tx, key) = state.store.transaction()?;
            let db = Reader::of(&tx, key);
            sessions.write(db)?;
            let local_id = if in_history {
                db.insert_message(&NewMessage {
                    conversation: peer,
                    sender: &self.inner.address,
                    message_id: outgoing.message_id(),
                    outgoing: true,
                    content_type,
                    body,
                    sent_at_ms: now,
                    sequence: 0,
                    server_time_ms: None,
                    status: MessageStatus::Queued,
                    franking: None,
                    received_at_ms: now,
                    receipt_owed: 0,
                })?
            } else {
                None
            };
            for local in clear_owed {
                db.set_receipt_owed(*local, 0)?;
            }
            let outbox_id = db.enqueue(local_id, &batch, now)?;
            commit(tx)?;
            (outbox_id, local_id)
        };
        self.step(Step::Queued);

        let status = match flushed {
            // Something older is stuck: keep the order, leave this queued.
            Err(err) if err.is_transient() => MessageStatus::Queued,
            _ => self.post_queued(state, outbox_id, local_id, &batch).await?,
        };
        Ok(SentMessage {
            local_id: local_id.unwrap_or(0),
            status,
            devices,
        })
    }

    /// Posts one queued batch; the new status of its message.
    async fn post_queued(
        &self,
        state: &mut State,
        outbox_id: i64,
        local_id: Option<i64>,
        batch: &[u8],
    ) -> Result<MessageStatus, ClientError> {
        let relay = &self.inner.relay;
        let result = self
            .authed(|token| async move { relay.send(&token, batch).await })
            .await;
        let (status, server_time) = match result {
            Ok(accepted) => {
                self.step(Step::Posted);
                (MessageStatus::Sent, Some(accepted.server_time_ms))
            }
            Err(err) if err.is_transient() => return Ok(MessageStatus::Queued),
            Err(ClientError::Relay { status, .. }) if (400..500).contains(&status) => {
                (MessageStatus::Failed, None)
            }
            Err(err) => return Err(err),
        };
        let (tx, key) = state.store.transaction()?;
        let db = Reader::of(&tx, key);
        if let Some(local) = local_id {
            db.set_status(local, status, server_time)?;
        }
        db.dequeue(outbox_id)?;
        commit(tx)?;
        Ok(status)
    }

    /// Posts every queued batch in order; stops at the first that cannot
    /// be posted now.
    async fn flush_outbox(&self, state: &mut State) -> Result<(), ClientError> {
        let queued = state.store.reader().outbox()?;
        for (id, local, batch) in queued {
            if self.post_queued(state, id, local, &batch).await? == MessageStatus::Queued {
                return Err(ClientError::Unreachable(
                    "queued messages are waiting for the relay".into(),
                ));
            }
        }
        Ok(())
    }

    /// Sends the receipts this device owes, one receipt per conversation
    /// and kind.
    async fn send_owed_receipts(&self, state: &mut State) -> Result<(), ClientError> {
        loop {
            let owed = state.store.reader().owed_receipts(1024)?;
            if owed.is_empty() {
                return Ok(());
            }
            let mut groups: BTreeMap<(String, i64), Vec<(i64, ReceiptRef)>> = BTreeMap::new();
            for (conversation, local, device, id, kind) in owed {
                groups.entry((conversation, kind)).or_default().push((
                    local,
                    ReceiptRef {
                        sender_device: device,
                        message_id: id,
                    },
                ));
            }
            for ((conversation, kind), refs) in groups {
                let peer = user_id(&conversation)?;
                for chunk in refs.chunks(MAX_RECEIPT_MESSAGES) {
                    let body = ReceiptBody {
                        kind: if kind == 2 {
                            ReceiptKind::Read
                        } else {
                            ReceiptKind::Delivered
                        },
                        messages: chunk.iter().map(|(_, r)| *r).collect(),
                    }
                    .to_bytes()?;
                    let locals: Vec<i64> = chunk.iter().map(|(local, _)| *local).collect();
                    match self
                        .send_content(state, &peer, ContentType::Receipt, &body, false, &locals)
                        .await
                    {
                        Ok(_) => {}
                        // A peer that cannot be reached now keeps its receipts owed;
                        // a peer that is gone or changed gets none.
                        Err(err) if err.is_transient() => return Err(err),
                        Err(_) => {
                            let (tx, key) = state.store.transaction()?;
                            let db = Reader::of(&tx, key);
                            for local in &locals {
                                db.set_receipt_owed(*local, 0)?;
                            }
                            commit(tx)?;
                        }
                    }
                }
            }
        }
    }

    // ---- receiving ----

    /// Fetches, opens, stores and acknowledges everything waiting at the
    /// relay, waiting up to `wait` for the first delivery if there is none;
    /// then sends the receipts owed, replenishes prekeys when the relay
    /// says the pool is low, and offers the identifier secret to this
    /// user's devices known to lack it (`spec/client.md` §13).
    pub async fn sync(&self, wait: Duration) -> Result<SyncReport, ClientError> {
        self.ensure_registered().await?;
        let mut report = SyncReport::default();
        {
            let mut state = self.inner.state.lock().await;
            // Confirm what an earlier run stored but could not acknowledge.
            let unconfirmed = state.store.reader().unconfirmed()?;
            if !unconfirmed.is_empty() {
                self.acknowledge(&mut state, &unconfirmed).await?;
                report.acknowledged += unconfirmed.len();
            }
            let _ = self.flush_outbox(&mut state).await;
            self.flush_group_outbox_lenient(&mut state).await?;
        }
        let relay = &self.inner.relay;
        let mut wait = wait;
        loop {
            let batch = self
                .authed(|token| async move { relay.fetch(&token, wait).await })
                .await?;
            wait = Duration::ZERO;
            if batch.records.is_empty() {
                break;
            }
            self.step(Step::Fetched);
            let mut state = self.inner.state.lock().await;
            let records: Vec<_> = batch
                .records
                .into_vec()
                .into_iter()
                .map(|record| (record.server_message_id, Some(record)))
                .collect();
            let ids: Vec<MessageId> = records.iter().map(|(id, _)| *id).collect();
            let part = self.process(&mut state, records, false)?;
            self.step(Step::Stored);
            self.acknowledge(&mut state, &ids).await?;
            self.step(Step::Acknowledged);
            report.messages += part.messages;
            report.receipts += part.receipts;
            report.dropped += part.dropped;
            report.held += part.held;
            report.acknowledged += ids.len();
            if batch.prekeys_low
                && state.prekeys.one_time_count() + PREKEY_BATCH <= MAX_LOCAL_ONE_TIME_PREKEYS
            {
                let count = self.publish_one_time_prekeys(&mut state, None).await?;
                self.emit(Event::PrekeysReplenished { count });
            }
        }
        let mut state = self.inner.state.lock().await;
        self.flush_group_outbox_lenient(&mut state).await?;
        self.rotate_signed_prekey_if_due(&mut state).await?;
        match self.send_owed_receipts(&mut state).await {
            Ok(()) => {}
            Err(err) if err.is_transient() => {}
            Err(err) => return Err(err),
        }
        // A device of this user met since (or one whose secret lost) gets
        // this device's identifier secret; asks the relay nothing otherwise.
        // A failure is retried at the next sync.
        let _ = self.share_identifier_secret(&mut state, false).await;
        Ok(report)
    }

    async fn acknowledge(&self, state: &mut State, ids: &[MessageId]) -> Result<(), ClientError> {
        let relay = &self.inner.relay;
        self.authed(|token| async move { relay.acknowledge(&token, ids).await })
            .await?;
        let (tx, key) = state.store.transaction()?;
        Reader::of(&tx, key).forget_processed(ids)?;
        commit(tx)
    }

    /// Opens and stores deliveries in one transaction. `None` stands for a
    /// stored delivery that no longer decodes (it is dropped). With
    /// `released`, the deliveries come from the quarantine and are removed
    /// from it.
    fn process(
        &self,
        state: &mut State,
        records: Vec<(MessageId, Option<DeliveredRecord<'static>>)>,
        released: bool,
    ) -> Result<SyncReport, ClientError> {
        let now = now_ms();
        let now_sql = i64::try_from(now).unwrap_or(i64::MAX);
        let mut report = SyncReport::default();
        let mut events = Vec::new();
        let mut sessions = SessionCache::default();
        let mut prekeys = state.prekeys.clone();
        let (tx, key) = state.store.transaction()?;
        let db = Reader::of(&tx, key);
        for (id, record) in records {
            if released {
                db.release_quarantined(&id)?;
            } else if db.was_processed(&id)? {
                continue;
            }
            let Some(record) = record else {
                report.dropped += 1;
                continue;
            };
            if record.envelope.content_kind == ContentKind::GroupMessage {
                if record.envelope.recipient != self.inner.address
                    || record.sender == self.inner.address
                {
                    report.dropped += 1;
                    events.push(Event::MessageDropped {
                        from: record.sender.clone().into_owned(),
                        reason: "a group delivery for another device, or from this one".into(),
                    });
                } else {
                    let mut work = crate::group::GroupWork {
                        events: &mut events,
                        messages: 0,
                        dropped: 0,
                    };
                    self.receive_group_record(db, &record, now, &mut work)?;
                    report.messages += work.messages;
                    report.dropped += work.dropped;
                }
                if !released {
                    db.mark_processed(&id, now)?;
                }
                continue;
            }
            let outcome = self.open_record(
                db,
                &mut sessions,
                &mut prekeys,
                &record,
                now_sql,
                &mut events,
            )?;
            match outcome {
                Outcome::Opened(opened) => {
                    self.store_opened(db, &opened, now, &mut report, &mut events)?;
                }
                Outcome::Held => {
                    db.quarantine(&id, &record.sender, &record.to_bytes()?, now)?;
                    report.held += 1;
                }
                Outcome::Dropped(reason) => {
                    report.dropped += 1;
                    events.push(Event::MessageDropped {
                        from: record.sender.clone().into_owned(),
                        reason,
                    });
                }
            }
            if !released {
                db.mark_processed(&id, now)?;
            }
        }
        sessions.write(db)?;
        db.put_prekeys(&prekeys)?;
        commit(tx)?;
        state.prekeys = prekeys;
        for event in events {
            self.emit(event);
        }
        Ok(report)
    }

    /// Opens one delivery with the sessions of its sender device, or starts
    /// a responder session for a new handshake.
    fn open_record(
        &self,
        db: Reader<'_>,
        sessions: &mut SessionCache,
        prekeys: &mut PrekeyStore,
        record: &DeliveredRecord<'_>,
        now: i64,
        events: &mut Vec<Event>,
    ) -> Result<Outcome, ClientError> {
        let sender = record.sender.clone().into_owned();
        let now_ms = u64::try_from(now).unwrap_or(0);
        if sender == self.inner.address {
            return Ok(Outcome::Dropped(
                "the relay names this device as sender".into(),
            ));
        }
        if record.envelope.recipient != self.inner.address {
            return Ok(Outcome::Dropped("addressed to another device".into()));
        }
        let peer = db.peer(&sender)?;
        // An established session first, most recently used first.
        let slots = sessions.load(db, &sender)?;
        let mut last_error = None;
        for (index, slot) in slots.iter_mut().enumerate() {
            match slot.session.open(record, now_ms) {
                Ok(opened) => {
                    sessions.touch(&sender, index, now);
                    return Ok(Outcome::Opened(Box::new(opened)));
                }
                Err(err) => {
                    last_error.get_or_insert(err);
                }
            }
        }
        if record.envelope.content_kind != ContentKind::PrekeyMessage {
            return Ok(Outcome::Dropped(match last_error {
                Some(err) => err.to_string(),
                None => "no session with the sending device".into(),
            }));
        }
        // A new handshake from the sender.
        let initiator = match PrekeyMessage::from_bytes(record.envelope.sealed_body.as_bytes()) {
            Ok(message) => message.initiator,
            Err(err) => return Ok(Outcome::Dropped(SealError::from(err).to_string())),
        };
        if let Some(peer) = &peer
            && peer.identity != initiator
        {
            // Another identity for a known device. Only a handshake that
            // really opens under it (which binds the sender's address) is
            // worth the user's attention; anything else is a forgery or a
            // relabelled delivery, and is dropped.
            let mut scratch = prekeys.clone();
            if let Err(err) = Session::respond(
                &self.inner.identity,
                self.inner.address.clone(),
                &mut scratch,
                None,
                record,
                now_ms,
            ) {
                return Ok(Outcome::Dropped(err.to_string()));
            }
            if peer.pending.as_ref() != Some(&initiator) {
                db.set_pending_identity(&sender, &initiator)?;
                events.push(Event::IdentityChanged {
                    device: sender.clone(),
                });
            }
            return Ok(Outcome::Held);
        }
        match Session::respond(
            &self.inner.identity,
            self.inner.address.clone(),
            prekeys,
            peer.as_ref().map(|p| &p.identity),
            record,
            now_ms,
        ) {
            Ok((session, opened)) => {
                if peer.is_none() {
                    let known = db.peers_of(&sender.user)?;
                    db.trust_new_peer(&sender, &initiator, now_ms)?;
                    if sender.user == self.inner.address.user || !known.is_empty() {
                        events.push(Event::NewDevice {
                            device: sender.clone(),
                        });
                    }
                }
                sessions.add(db, &sender, session, now)?;
                Ok(Outcome::Opened(Box::new(opened)))
            }
            Err(err) => Ok(Outcome::Dropped(err.to_string())),
        }
    }

    /// Stores an opened message, or applies an opened receipt.
    fn store_opened(
        &self,
        db: Reader<'_>,
        opened: &Opened,
        now: u64,
        report: &mut SyncReport,
        events: &mut Vec<Event>,
    ) -> Result<(), ClientError> {
        let own_user = &self.inner.address.user;
        let from_own_device = opened.sender.user == *own_user;
        if let Some(missing) = &opened.gap.missing {
            events.push(Event::MessagesMissing {
                from: opened.sender.clone(),
                sequences: missing.clone(),
            });
        }
        let content = &opened.content;
        match content.content_type {
            ContentType::Text | ContentType::Attachment => {
                if content.content_type == ContentType::Attachment {
                    // A share whose reference does not fit this message (its
                    // owner is not the sending device, or it names another
                    // conversation) is not this message's attachment.
                    if let Err(reason) = crate::attachment::check_incoming(
                        content.body.as_bytes(),
                        &opened.sender,
                        &opened.conversation,
                    ) {
                        events.push(Event::MessageDropped {
                            from: opened.sender.clone(),
                            reason,
                        });
                        report.dropped += 1;
                        return Ok(());
                    }
                }
                let franking = StoredFranking {
                    franking_key: opened.franking.franking_key.clone(),
                    commitment: opened.franking.commitment,
                    stamp: opened.franking.stamp,
                    stamp_key_id: opened.franking.stamp_key_id,
                    server_time_ms: opened.franking.server_time_ms,
                    server_message_id: opened.franking.server_message_id,
                    sender: opened.franking.sender.clone(),
                    recipient: opened.franking.recipient.clone(),
                };
                let owed = i64::from(!from_own_device && !self.inner.options.no_delivery_receipts);
                let inserted = db.insert_message(&NewMessage {
                    conversation: &opened.conversation_with,
                    sender: &opened.sender,
                    message_id: content.message_id,
                    outgoing: from_own_device,
                    content_type: content.content_type,
                    body: content.body.as_bytes(),
                    sent_at_ms: content.sent_at_ms,
                    sequence: content.sequence,
                    server_time_ms: Some(opened.franking.server_time_ms),
                    status: if from_own_device {
                        MessageStatus::Sent
                    } else {
                        MessageStatus::Unread
                    },
                    franking: Some(&franking),
                    received_at_ms: now,
                    receipt_owed: owed,
                })?;
                if let Some(local_id) = inserted {
                    report.messages += 1;
                    events.push(Event::MessageReceived {
                        conversation: opened.conversation_with.as_str().to_owned(),
                        local_id,
                        from: opened.sender.clone(),
                    });
                }
            }
            ContentType::Receipt => {
                let Ok(receipt) = ReceiptBody::from_bytes(content.body.as_bytes()) else {
                    events.push(Event::MessageDropped {
                        from: opened.sender.clone(),
                        reason: "an unreadable receipt".into(),
                    });
                    report.dropped += 1;
                    return Ok(());
                };
                report.receipts += 1;
                let conversation = &opened.conversation_with;
                for reference in &receipt.messages {
                    if from_own_device {
                        // This user read the peer's message on another device.
                        let sender =
                            DeviceAddress::new(conversation.clone(), reference.sender_device);
                        if receipt.kind != ReceiptKind::Read {
                            continue;
                        }
                        if let Some((local, MessageStatus::Unread)) =
                            db.find_message(conversation, &sender, &reference.message_id)?
                        {
                            db.set_status(local, MessageStatus::Read, None)?;
                            db.set_receipt_owed(local, 0)?;
                            events.push(Event::StatusChanged {
                                conversation: conversation.as_str().to_owned(),
                                message: reference.message_id,
                                status: MessageStatus::Read,
                            });
                        }
                    } else {
                        // The peer confirms one of this user's messages; a
                        // receipt naming anything else is ignored.
                        let sender = DeviceAddress::new(own_user.clone(), reference.sender_device);
                        let Some((local, status)) =
                            db.find_message(conversation, &sender, &reference.message_id)?
                        else {
                            continue;
                        };
                        let kind = match receipt.kind {
                            ReceiptKind::Delivered => 0,
                            ReceiptKind::Read => 1,
                        };
                        db.add_receipt(local, &opened.sender, kind, now)?;
                        let new = match receipt.kind {
                            ReceiptKind::Delivered => MessageStatus::Delivered,
                            ReceiptKind::Read => MessageStatus::Read,
                        };
                        let rank = |s: MessageStatus| match s {
                            MessageStatus::Queued | MessageStatus::Failed => 0,
                            MessageStatus::Sent => 1,
                            MessageStatus::Delivered => 2,
                            MessageStatus::Read => 3,
                            MessageStatus::Unread => 0,
                        };
                        if rank(new) > rank(status) {
                            db.set_status(local, new, None)?;
                            events.push(Event::StatusChanged {
                                conversation: conversation.as_str().to_owned(),
                                message: reference.message_id,
                                status: new,
                            });
                        }
                    }
                }
            }
            ContentType::IdentifierSecret => {
                // Never stored in the history, never shown, never reported.
                if !self.receive_identifier_share(
                    db,
                    &opened.sender,
                    content.body.as_bytes(),
                    events,
                )? {
                    report.dropped += 1;
                }
            }
            ContentType::SenderKeyDistribution | ContentType::GroupWelcome => {
                let mut work = crate::group::GroupWork {
                    events,
                    messages: 0,
                    dropped: 0,
                };
                self.receive_group_direct(
                    db,
                    &opened.sender,
                    content.content_type,
                    content.body.as_bytes(),
                    now,
                    &mut work,
                )?;
                report.messages += work.messages;
                report.dropped += work.dropped;
            }
            _ => {
                report.dropped += 1;
                events.push(Event::MessageDropped {
                    from: opened.sender.clone(),
                    reason: "a content type this client does not know".into(),
                });
            }
        }
        Ok(())
    }

    // ---- reading the history ----

    /// Conversations, the most recent first.
    pub async fn conversations(&self) -> Result<Vec<Conversation>, ClientError> {
        let state = self.inner.state.lock().await;
        Ok(state
            .store
            .reader()
            .conversations()?
            .into_iter()
            .map(|(peer, messages, unread, last_message_ms)| Conversation {
                peer,
                messages,
                unread,
                last_message_ms,
            })
            .collect())
    }

    /// The last `limit` messages of the conversation with `user`, in the
    /// order their senders sent them.
    pub async fn history(&self, user: &str, limit: usize) -> Result<Vec<Message>, ClientError> {
        let peer = user_id(user)?;
        let state = self.inner.state.lock().await;
        state.store.reader().history(&peer, limit)
    }

    /// One message by its local id.
    pub async fn message(&self, local_id: i64) -> Result<Option<Message>, ClientError> {
        let state = self.inner.state.lock().await;
        state.store.reader().message(local_id)
    }

    /// The receipts an outgoing message received.
    pub async fn receipts(&self, local_id: i64) -> Result<Vec<ReceiptRecord>, ClientError> {
        let state = self.inner.state.lock().await;
        Ok(state
            .store
            .reader()
            .receipts(local_id)?
            .into_iter()
            .map(|(by, kind, at_ms)| ReceiptRecord {
                by,
                kind: if kind == 1 {
                    ReceiptKind::Read
                } else {
                    ReceiptKind::Delivered
                },
                at_ms,
            })
            .collect())
    }

    /// What a report of a received message needs: its franking key and the
    /// relay's stamp with the routing it covers. `None` for messages this
    /// device sent itself (the relay stamps only what it delivers).
    pub async fn franking_opening(
        &self,
        local_id: i64,
    ) -> Result<Option<StoredFranking>, ClientError> {
        let state = self.inner.state.lock().await;
        state.store.reader().franking(local_id)
    }

    // ---- reports ----

    /// Prepares a report of exactly the messages `local_ids` (received
    /// messages of one conversation, in the order given) for `reason`.
    /// Nothing is sent and nothing is stored: show the user
    /// [`ReportBuilder::preview`], which is exactly what would leave the
    /// device, and send it with [`Client::submit_report`] once they confirm.
    ///
    /// Refused ([`ClientError::InvalidArgument`]): no messages, more than
    /// [`fuin_report::MAX_REPORTED_MESSAGES`], an unknown local id, a
    /// message this device sent (it has no relay stamp), messages of
    /// different conversations, a message listed twice, and a reason that is
    /// empty, over 1,024 bytes or holds control characters.
    pub async fn report(
        &self,
        reason: &str,
        local_ids: &[i64],
    ) -> Result<ReportBuilder, ClientError> {
        if local_ids.is_empty() {
            return Err(ClientError::InvalidArgument(
                "select at least one message to report".into(),
            ));
        }
        if local_ids.len() > fuin_report::MAX_REPORTED_MESSAGES {
            return Err(report_error(ReportError::LimitExceeded {
                field: "messages",
                len: local_ids.len(),
                max: fuin_report::MAX_REPORTED_MESSAGES,
            }));
        }
        let mut peer: Option<String> = None;
        let mut messages = Vec::with_capacity(local_ids.len());
        {
            let state = self.inner.state.lock().await;
            let db = state.store.reader();
            for &local_id in local_ids {
                let unknown =
                    || ClientError::InvalidArgument(format!("there is no message {local_id}"));
                let message = db.message(local_id)?.ok_or_else(unknown)?;
                let franking = db.franking(local_id)?.ok_or_else(|| {
                    ClientError::InvalidArgument(format!(
                        "message {local_id} was sent by this device; only received messages \
                         can be reported"
                    ))
                })?;
                let body = db.message_body(local_id)?.ok_or_else(unknown)?;
                match &peer {
                    Some(peer) if *peer != message.conversation => {
                        return Err(ClientError::InvalidArgument(
                            "the messages of one report must be from one conversation".into(),
                        ));
                    }
                    Some(_) => {}
                    None => peer = Some(message.conversation.clone()),
                }
                messages.push(ReportedMessage {
                    sender: franking.sender.clone(),
                    recipient: franking.recipient.clone(),
                    message_id: message.id,
                    content_type: message.content_type,
                    body: Opaque::from(body.to_vec()),
                    franking_key: FrankingKeyBytes::new(&franking.franking_key.0),
                    commitment: franking.commitment,
                    stamp: franking.stamp,
                    stamp_key_id: franking.stamp_key_id,
                    server_time_ms: franking.server_time_ms,
                    server_message_id: franking.server_message_id,
                });
            }
        }
        let peer = user_id(peer.as_deref().unwrap_or_default())?;
        ReportBuilder::new(
            self.inner.address.clone(),
            self.identity().clone(),
            peer,
            reason,
            now_ms(),
            messages,
        )
        .map_err(report_error)
    }

    /// Seals `report` (made by [`Client::report`] on this device) to the
    /// moderation service's key, with a fresh ephemeral key, and submits it
    /// to the relay's report inbox. Returns the relay's report id and time
    /// of receipt. Nothing is stored on the device.
    pub async fn submit_report(
        &self,
        report: &ReportBuilder,
        moderation_key: &ModerationPublicKey,
    ) -> Result<ReportAccepted, ClientError> {
        if report.content().reporter != self.inner.address {
            return Err(ClientError::InvalidArgument(
                "the report was made on another device".into(),
            ));
        }
        let frame = report
            .seal(&mut rand::rng(), moderation_key)
            .map_err(report_error)?;
        self.ensure_registered().await?;
        let relay = &self.inner.relay;
        let frame = &frame;
        self.authed(|token| async move { relay.submit_report(&token, frame).await })
            .await
    }

    /// Messages sealed but not yet accepted by the relay.
    pub async fn queued(&self) -> Result<usize, ClientError> {
        let state = self.inner.state.lock().await;
        Ok(state.store.reader().outbox()?.len())
    }
}

/// Removes a store that was just created, with its log and key file.
fn remove_store_files(store: &std::path::Path) {
    for suffix in ["", "-wal", "-shm", ".key"] {
        let mut path = store.as_os_str().to_owned();
        path.push(suffix);
        let _ = std::fs::remove_file(path);
    }
}
