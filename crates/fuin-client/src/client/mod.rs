//! The client: one device of one user, its local store and its relay.
//!
//! Every operation that changes state runs under one lock, so sending and
//! syncing from several tasks is safe; the long poll of [`Client::sync`]
//! waits outside it. Each operation's local writes happen in one SQLite
//! transaction, ordered so that a crash at any point loses nothing and
//! shows nothing twice:
//!
//! - **Sending** fetches what it needs from the relay first, then in one
//!   transaction loads the sessions, seals the message for every device,
//!   and stores the advanced sessions, the message (status `Queued`) and
//!   the sealed batch in the outbox, and only then posts the batch. A
//!   crash before the post leaves the batch queued; it goes out with the
//!   next send or sync. A crash after the relay accepted it but before the
//!   outbox was cleared sends it again: the recipients' sessions refuse the
//!   second copy (its message keys are gone), so it is not shown twice.
//!   A batch ([`Client::send_texts`]) seals and queues all its messages in
//!   one transaction, posts several to a relay request, and clears each
//!   request's messages in one transaction (group commit).
//! - **Receiving** opens a fetched batch and stores the advanced sessions,
//!   the messages and the ids of the processed deliveries in one
//!   transaction, and only then acknowledges them at the relay. A crash
//!   before the commit leaves the sessions as they were, so the deliveries
//!   open again on the next fetch; a crash after it finds the deliveries
//!   marked processed: they are acknowledged without being opened again.
//!   The marks of an acknowledged batch are removed in the next batch's
//!   transaction, so a batch costs one commit.
//!
//! Every transaction is `BEGIN IMMEDIATE` and reads the state it changes
//! inside itself (sessions, prekeys, group sender state), never from an
//! earlier read or a copy held in memory: another process on the same store
//! (an app and its notification extension, two `fuin` commands) may have
//! changed it in between. Network I/O happens outside transactions: what a
//! step needs from the relay (bundles, device lists) is fetched first. A
//! message key is committed as used before its ciphertext leaves the device.
//!
//! SQLite calls are short and run on the calling task.

mod auth;
mod pages;
mod prekeys;
mod receipts;
mod report;
mod security;
mod send;
mod session_cache;
mod sync;
mod trust;

pub use security::SessionSecurity;

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use fuin_seal::state::StorageKey;
use fuin_seal::{AccountKey, DeviceIdentity, PrekeyStore, VerifiedDeviceList};
use fuin_wire::account::{AccountDevice, DeviceListContent, InviteCode};
use fuin_wire::{DeviceAddress, DeviceId, PublicIdentity, UserId};
use tokio::sync::{Mutex, broadcast};

use crate::event::{Event, EventStream};
use crate::history::{Conversation, Message, MessageStatus, ReceiptRecord};
use crate::receipt::ReceiptKind;
use crate::relay::RelayConnection;
use crate::store::{HeldToken, LocalStore, Reader, TokenKeeper};
use crate::{ClientError, keyfile};

/// A step of sending or syncing, reported to [`ClientOptions::on_step`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Step {
    /// A send has what it needs from the relay (devices, bundles) and is
    /// about to seal; nothing of it is stored yet.
    Sealing,
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

/// Awaited at each [`Step`] of sending, after the [`StepHook`]: a test
/// holds a send there and drops its future (builds with the `testing`
/// feature only, this crate's own tests).
#[cfg(feature = "testing")]
pub type StepGate = Arc<
    dyn Fn(Step) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> + Send + Sync,
>;

/// How a client behaves.
#[derive(Clone, Default)]
pub struct ClientOptions {
    /// Do not send delivery receipts automatically when messages arrive.
    pub no_delivery_receipts: bool,
    /// A PEM certificate to trust for the relay's TLS, besides the
    /// platform's roots (for a relay with a self-signed certificate).
    pub relay_certificate: Option<Vec<u8>>,
    /// The relay's blob limit, when it is not the default 64 MiB
    /// ([`DEFAULT_MAX_BLOB_LEN`](crate::DEFAULT_MAX_BLOB_LEN)): the relay
    /// does not advertise it, so the client is told
    /// ([`Client::attachment_limits`]).
    pub max_blob_len: Option<u64>,
    /// Called at each step of sending and syncing.
    pub on_step: Option<StepHook>,
    /// Awaited at each step of sending (cancel-safety tests).
    #[cfg(feature = "testing")]
    #[doc(hidden)]
    pub step_gate: Option<StepGate>,
    /// The name of a new device, shown to the user's contacts when its
    /// account's list names it (`device N` when absent).
    pub device_name: Option<String>,
    /// An operator's invitation, for a relay that creates accounts by
    /// invitation only (`--registration invite`).
    pub invite: Option<InviteCode>,
}

impl std::fmt::Debug for ClientOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientOptions")
            .field("no_delivery_receipts", &self.no_delivery_receipts)
            .field("relay_certificate", &self.relay_certificate.is_some())
            .field("max_blob_len", &self.max_blob_len)
            .field("on_step", &self.on_step.is_some())
            .field("device_name", &self.device_name)
            .field("invite", &self.invite.is_some())
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

/// The device's state: its store. Nothing read from it is kept between
/// operations (another process may change it).
pub(crate) struct State {
    pub(crate) store: LocalStore,
    /// Deliveries this process acknowledged at the relay whose processed
    /// marks are still stored: the next transaction that stores a batch
    /// removes them, so that receiving costs one commit a batch, not two.
    /// Only ever a shortcut: a mark left behind is acknowledged again
    /// (harmless) by the next run or another process.
    pub(crate) acknowledged: Vec<fuin_wire::MessageId>,
}

impl Drop for State {
    /// Removes the marks still waiting for a next batch when the client
    /// closes, so that a process that ends normally (the CLI after a
    /// `sync`) leaves nothing for the next run to acknowledge again. A
    /// failure here loses nothing: the mark stays and the next run
    /// acknowledges it once more.
    fn drop(&mut self) {
        if self.acknowledged.is_empty() {
            return;
        }
        let ids = std::mem::take(&mut self.acknowledged);
        let Ok((tx, key)) = self.store.transaction() else {
            return;
        };
        if Reader::of(&tx, key).forget_processed(&ids).is_ok() {
            let _ = commit(tx);
        }
    }
}

pub(crate) struct Inner {
    pub(crate) address: DeviceAddress<'static>,
    pub(crate) identity: DeviceIdentity,
    pub(crate) relay: RelayConnection,
    options: ClientOptions,
    events: broadcast::Sender<Event>,
    pub(crate) state: Mutex<State>,
    /// The bearer token in use, also kept in the store by `token_keeper`
    /// for the next run.
    token: std::sync::Mutex<Option<HeldToken>>,
    token_keeper: TokenKeeper,
    /// The app content types registered (`spec/client.md` §14).
    pub(crate) content_types: crate::content::ContentRegistry,
}

/// One device of a user. Cheap to clone: clones share the device.
///
/// # Cancel safety
///
/// Every `async` method may have its future dropped at any await point (a
/// `select!`, a timeout, a paused [background task](crate::background))
/// without losing anything or doing anything twice, because of two rules
/// the whole crate keeps: no store transaction spans an await (a dropped
/// future either committed a step or left no trace of it: SQLite rolls the
/// open transaction back), and relay requests are either idempotent or
/// repeated from what the store says at the next call. Dropped at a given
/// point, a method has done this much:
///
/// - **Reading** ([`conversations`](Self::conversations),
///   [`history`](Self::history), [`message`](Self::message),
///   [`receipts`](Self::receipts), [`queued`](Self::queued),
///   [`devices`](Self::devices), [`groups`](Self::groups), ...): nothing.
/// - **Sending** ([`send_text`](Self::send_text), [`send_texts`](Self::send_texts),
///   receipts, group sends, attachment shares): before sealing ([`Step::Sealing`]) nothing is
///   stored and nothing sent: as if it was never called. From the moment the
///   message is queued ([`Step::Queued`]) it is in the history and its
///   sealed batch in the outbox; the next send, [`sync`](Self::sync) or
///   background work posts it, in order. Dropped while the post is in
///   flight or after the relay accepted it ([`Step::Posted`]) but before
///   the outbox was cleared, the batch is posted again: the relay stores it
///   twice, and the recipient opens the first copy and drops the second
///   (its message keys are used: [`Event::MessageDropped`], a duplicate),
///   so the message is shown once (`spec/client.md` §15.4).
/// - **Receiving** ([`sync`](Self::sync)): dropped before a batch is
///   stored, it comes again; once stored, its deliveries are marked
///   processed and are acknowledged by the next call without being opened
///   again.
/// - **Account and relay session** ([`create`](Self::create),
///   [`open`](Self::open), registration and login inside every call): a
///   created store registers at the next call; a login not finished is
///   made again.
/// - **Linking**: [`begin_link`](Self::begin_link) dropped leaves no
///   store (its request expires at the relay);
///   [`PendingLink::finish`](crate::PendingLink::finish) dropped after it
///   took the grant from the relay loses the grant: link again with a new
///   code, and remove the device the approving device had added.
///   [`approve_link`](Self::approve_link) and
///   [`remove_device`](Self::remove_device) publish a signed list first and
///   store it after; dropped between, the next call that reads the list
///   from the relay takes it in (the groups' follow-up changes are then
///   not made: a member makes them by hand).
/// - **Typed content** ([`edit_message`](Self::edit_message),
///   [`delete_for_everyone`](Self::delete_for_everyone), [`react`](Self::react),
///   [`reply`](Self::reply), [`send_app_content`](Self::send_app_content),
///   [`set_disappearing_timer`](Self::set_disappearing_timer),
///   [`send_typing`](Self::send_typing)): sends, as above; what an edit or
///   delete does to the stored message is committed with the queued send.
///   [`delete_expired`](Self::delete_expired) deletes in one transaction:
///   dropped, the rows are all gone or all there (the next call deletes them).
/// - **Pages and search** ([`history_page`](Self::history_page),
///   [`search`](Self::search), [`unread_count`](Self::unread_count)): reading;
///   a search that builds the index runs in one transaction of the in-memory
///   index and is made again by the next search.
/// - **Attachments**: an upload dropped leaves sealed blobs at the relay
///   that nothing refers to (kept only until their capabilities expire); a
///   download dropped creates no output file (its temporary file is
///   removed when dropped; the output appears only once all of it verified).
///
/// `tests/cancel_send.rs` drops [`send_text`](Self::send_text) at each
/// of its await points and checks the history, the relay and the peer.
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

pub(crate) fn user_id(user: &str) -> Result<UserId<'static>, ClientError> {
    UserId::new(user.to_owned())
        .map_err(|err| ClientError::InvalidArgument(format!("user id {user:?}: {err}")))
}

pub(crate) fn commit(tx: rusqlite::Transaction<'_>) -> Result<(), ClientError> {
    tx.commit()
        .map_err(|err| ClientError::Storage(format!("committing: {err}")))
}

impl Client {
    /// Creates the first device `user/device` of a new account, with its
    /// store at `store_path` (and its storage key beside it, `store_path` +
    /// `.key`, mode 0600): draws the account key and the device's identity,
    /// signs the account's first device list, creates the account at the
    /// relay and publishes the device's prekeys. Further devices of the user
    /// join by linking ([`Client::begin_link`]), never by `create`.
    ///
    /// If the relay cannot be reached, the device is created locally and
    /// creates the account on first use; if the relay refuses it (the user
    /// has an account, or an invitation is needed), the local files are
    /// removed again.
    ///
    /// Cancel safety: [`Client`](crate::Client#cancel-safety).
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
        let name = crate::account::device_name(options.device_name.as_deref(), address.device)?;
        let identity = DeviceIdentity::generate(&mut rand::rng());
        let account = AccountKey::generate(&mut rand::rng());
        let list = first_list(&account, &address, &identity, name)?;
        let secret = account.to_secret();
        let client = Self::create_store(
            store_path,
            address,
            relay,
            options,
            identity,
            AccountState::Create,
            |db| {
                db.put_secret(crate::account::ACCOUNT_KEY, &secret.0)?;
                db.put_trusted_list(&list, now_ms())
            },
        )?;
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

    /// Makes a new store for `address` at `store_path` with its key file,
    /// the device's identity and first prekeys, and what `write` adds (the
    /// account), in one transaction; removes the files again on failure.
    pub(crate) fn create_store(
        store_path: &std::path::Path,
        address: DeviceAddress<'static>,
        relay: RelayConnection,
        options: ClientOptions,
        identity: DeviceIdentity,
        account: AccountState,
        write: impl FnOnce(Reader<'_>) -> Result<(), ClientError>,
    ) -> Result<Self, ClientError> {
        let key_path = keyfile::key_path(store_path);
        if key_path.exists() {
            return Err(ClientError::KeyFile(format!(
                "{} already exists; open the store instead",
                key_path.display()
            )));
        }
        let key = StorageKey::generate(&mut rand::rng());
        let mut store = LocalStore::create(store_path, key.clone())?;
        let token_keeper = match TokenKeeper::open(store_path, key.clone()) {
            Ok(keeper) => keeper,
            Err(err) => {
                drop(store);
                remove_store_files(store_path);
                return Err(err);
            }
        };
        if let Err(err) = keyfile::create(&key_path, &key) {
            remove_store_files(store_path);
            return Err(err);
        }
        let mut prekeys = PrekeyStore::new();
        prekeys.rotate_signed_prekey(&identity, &mut rand::rng());
        let signed_prekey_id = prekeys
            .current_signed_prekey()
            .map(|signed| signed.id.0)
            .ok_or_else(|| ClientError::Storage("no signed prekey was made".into()))?;
        let written = (|| {
            let (tx, key) = store.transaction()?;
            let db = Reader::of(&tx, key);
            db.put_plain("user", address.user.as_str().as_bytes())?;
            db.put_u64("device", u64::from(address.device.0))?;
            db.put_plain("relay", relay.base().as_bytes())?;
            db.put_identity(&identity)?;
            db.put_prekeys(&prekeys)?;
            db.note_signed_prekey(signed_prekey_id, now_ms())?;
            db.put_u64("signed_prekey_at", now_ms())?;
            db.put_u64("registered", 0)?;
            account.put(db)?;
            write(db)?;
            commit(tx)
        })();
        if let Err(err) = written {
            drop(store);
            remove_store_files(store_path);
            return Err(err);
        }
        Ok(Self::from_parts(
            address,
            identity,
            relay,
            options,
            store,
            (token_keeper, None),
        ))
    }

    /// Opens an existing device's store, with the key file beside it.
    ///
    /// Cancel safety: [`Client`](crate::Client#cancel-safety).
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
    ///
    /// Cancel safety: [`Client`](crate::Client#cancel-safety).
    pub async fn open_with_key(
        store_path: impl AsRef<std::path::Path>,
        key: StorageKey,
        options: ClientOptions,
    ) -> Result<Self, ClientError> {
        let token_keeper = TokenKeeper::open(store_path.as_ref(), key.clone());
        let store = LocalStore::open(store_path.as_ref(), key)?;
        let token_keeper = token_keeper?;
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
        // Checked here so that a damaged store fails at open.
        db.prekeys()?;
        let address = DeviceAddress::new(user_id(&user)?, DeviceId(device));
        let mut store = store;
        if store
            .reader()
            .secret(crate::account::ACCOUNT_KEY)?
            .is_none()
        {
            upgrade_to_account(&mut store, &address, &identity)?;
        }
        let relay = RelayConnection::new(&relay_url, options.relay_certificate.as_deref())?;
        // The token an earlier run logged in for, if it is still good.
        let token = store.reader().relay_token(relay.origin())?;
        Ok(Self::from_parts(
            address,
            identity,
            relay,
            options,
            store,
            (token_keeper, token),
        ))
    }

    fn from_parts(
        address: DeviceAddress<'static>,
        identity: DeviceIdentity,
        relay: RelayConnection,
        options: ClientOptions,
        store: LocalStore,
        (token_keeper, token): (TokenKeeper, Option<HeldToken>),
    ) -> Self {
        let (events, _) = broadcast::channel(1024);
        Self {
            inner: Arc::new(Inner {
                address,
                identity,
                relay,
                options,
                events,
                state: Mutex::new(State {
                    store,
                    acknowledged: Vec::new(),
                }),
                token: std::sync::Mutex::new(token),
                token_keeper,
                content_types: Default::default(),
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

    /// A [`Step`] of sending that is also an await point a test can hold
    /// (`ClientOptions::step_gate`, `testing` builds only).
    pub(crate) async fn checkpoint(&self, step: Step) {
        self.step(step);
        #[cfg(feature = "testing")]
        if let Some(gate) = &self.inner.options.step_gate {
            gate(step).await;
        }
    }

    /// The relay connection.
    /// The relay's blob limit this client was told, or the default.
    pub(crate) fn max_blob_len(&self) -> u64 {
        self.inner
            .options
            .max_blob_len
            .unwrap_or(crate::DEFAULT_MAX_BLOB_LEN)
    }

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

    /// Conversations, the most recent first.
    ///
    /// Cancel safety: [`Client`](crate::Client#cancel-safety).
    pub async fn conversations(&self) -> Result<Vec<Conversation>, ClientError> {
        let mut state = self.inner.state.lock().await;
        self.delete_expired_locked(&mut state)?;
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
    ///
    /// Cancel safety: [`Client`](crate::Client#cancel-safety).
    pub async fn history(&self, user: &str, limit: usize) -> Result<Vec<Message>, ClientError> {
        let peer = user_id(user)?;
        let mut state = self.inner.state.lock().await;
        self.delete_expired_locked(&mut state)?;
        state.store.reader().history(&peer, limit)
    }

    /// One message by its local id.
    ///
    /// Cancel safety: [`Client`](crate::Client#cancel-safety).
    pub async fn message(&self, local_id: i64) -> Result<Option<Message>, ClientError> {
        let mut state = self.inner.state.lock().await;
        self.delete_expired_locked(&mut state)?;
        state.store.reader().message(local_id)
    }

    /// The receipts an outgoing message received.
    ///
    /// Cancel safety: [`Client`](crate::Client#cancel-safety).
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
}

/// Removes a store that was just created, with its log and key file.
fn remove_store_files(store: &std::path::Path) {
    for suffix in ["", "-wal", "-shm", ".key"] {
        let mut path = store.as_os_str().to_owned();
        path.push(suffix);
        let _ = std::fs::remove_file(path);
    }
}

/// Where a device's account stands at the relay (meta `account_state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AccountState {
    /// The device made the account; the relay does not have it yet.
    Create,
    /// The relay has the account and a list naming this device.
    Ready,
    /// A store made before accounts: its first list is not published yet.
    Upgrade,
}

impl AccountState {
    pub(crate) fn of(db: Reader<'_>) -> Result<Self, ClientError> {
        match db.u64("account_state")? {
            Some(0) => Ok(Self::Create),
            Some(1) | None => Ok(Self::Ready),
            Some(2) => Ok(Self::Upgrade),
            Some(_) => Err(ClientError::Storage(
                "the stored account state is unknown".into(),
            )),
        }
    }

    pub(crate) fn put(self, db: Reader<'_>) -> Result<(), ClientError> {
        let value = match self {
            Self::Create => 0,
            Self::Ready => 1,
            Self::Upgrade => 2,
        };
        db.put_u64("account_state", value)
    }
}

/// The first list of a new account: version 1, naming `address` alone.
fn first_list(
    account: &AccountKey,
    address: &DeviceAddress<'static>,
    identity: &DeviceIdentity,
    name: fuin_wire::account::DeviceName<'static>,
) -> Result<VerifiedDeviceList, ClientError> {
    let now = now_ms();
    let content = DeviceListContent {
        user: address.user.clone(),
        account_key: account.public_key(),
        version: 1,
        created_at_ms: now,
        devices: vec![AccountDevice {
            device: address.device,
            identity: identity.public().clone(),
            name,
            added_at_ms: now,
        }]
        .into(),
    };
    let signed = account.sign_device_list(content)?;
    Ok(VerifiedDeviceList::verify(
        &signed,
        &address.user,
        Some(&account.public_key()),
        None,
    )?)
}

/// A store made before accounts becomes the first device of a new account
/// (`spec/accounts.md` §4): an account key and a first list naming this
/// device, published at the next connection (the relay accepts a first list
/// from a device it registered before accounts).
fn upgrade_to_account(
    store: &mut LocalStore,
    address: &DeviceAddress<'static>,
    identity: &DeviceIdentity,
) -> Result<(), ClientError> {
    let account = AccountKey::generate(&mut rand::rng());
    let name = crate::account::device_name(None, address.device)?;
    let list = first_list(&account, address, identity, name)?;
    let (tx, key) = store.transaction()?;
    let db = Reader::of(&tx, key);
    db.put_secret(crate::account::ACCOUNT_KEY, &account.to_secret().0)?;
    db.put_trusted_list(&list, now_ms())?;
    AccountState::Upgrade.put(db)?;
    db.put_u64("registered", 0)?;
    commit(tx)
}
