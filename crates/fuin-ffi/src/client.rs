//! [`FuinClient`]: one device, the SDK's `Client` over the FFI.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use fuin_client::{Client, ClientOptions, EventStream, ModerationPublicKey};
use fuin_wire::account::InviteCode;
use tokio::sync::Mutex;
use zeroize::Zeroizing;

use crate::records::{
    AttachmentInfo, ClientConfig, Conversation, FetchedFile, LinkedDevice, Message, ReportReceipt,
    SafetyNumbers, SendFileOptions, SentFile, SentMessage, SyncReport,
};
use crate::{FuinError, FuinEvent, PreparedReport};

/// One device of one user: its encrypted store on this device and its
/// relay. Every method that touches the store or the relay is async.
///
/// The object subscribes to the SDK's events when it is made, so that
/// [`FuinClient::next_event`] sees everything from then on (the SDK keeps
/// 1,024 events for a reader that falls behind, then reports
/// [`FuinEvent::Lagged`]).
#[derive(uniffi::Object)]
pub struct FuinClient {
    client: Client,
    store_path: PathBuf,
    events: Mutex<EventStream>,
}

impl std::fmt::Debug for FuinClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FuinClient")
            .field("client", &self.client)
            .finish_non_exhaustive()
    }
}

fn options(config: Option<ClientConfig>) -> Result<ClientOptions, FuinError> {
    let config = config.unwrap_or_default();
    let invite = config.invite.map(Zeroizing::new);
    let invite = invite
        .as_deref()
        .map(|code| invite_code(code))
        .transpose()?;
    Ok(ClientOptions {
        no_delivery_receipts: config.no_delivery_receipts,
        relay_certificate: config.relay_certificate_pem,
        device_name: config.device_name,
        invite,
        ..ClientOptions::default()
    })
}

/// An invitation as the operator hands it out: 64 hex digits.
fn invite_code(text: &str) -> Result<InviteCode, FuinError> {
    let bad = || FuinError::invalid_argument("the invitation code is not 64 hex digits");
    let bytes = Zeroizing::new(hex::decode(text.trim()).map_err(|_| bad())?);
    let bytes: [u8; 32] = bytes.as_slice().try_into().map_err(|_| bad())?;
    Ok(InviteCode(bytes))
}

impl FuinClient {
    fn wrap(client: Client, store_path: PathBuf) -> Arc<Self> {
        let events = Mutex::new(client.events());
        Arc::new(Self {
            client,
            store_path,
            events,
        })
    }
}

#[uniffi::export(async_runtime = "tokio")]
impl FuinClient {
    /// Creates the first device `user/device` of a new account, its store
    /// at `store_path` and its storage key file beside it (`store_path` +
    /// `.key`), and registers it at the relay.
    #[uniffi::constructor]
    pub async fn create(
        store_path: String,
        relay_url: String,
        user: String,
        device: u32,
        config: Option<ClientConfig>,
    ) -> Result<Arc<Self>, FuinError> {
        let options = options(config)?;
        let path = PathBuf::from(store_path);
        let client = Client::create(&path, &relay_url, &user, device, options).await?;
        Ok(Self::wrap(client, path))
    }

    /// Opens an existing device's store, with its key file beside it.
    #[uniffi::constructor]
    pub async fn open(
        store_path: String,
        config: Option<ClientConfig>,
    ) -> Result<Arc<Self>, FuinError> {
        let options = options(config)?;
        let path = PathBuf::from(store_path);
        let client = Client::open(&path, options).await?;
        Ok(Self::wrap(client, path))
    }

    /// This device's address, `user/device`.
    pub fn address(&self) -> String {
        self.client.address().to_string()
    }

    /// This device's user.
    pub fn user(&self) -> String {
        self.client.address().user.as_str().to_owned()
    }

    /// The relay's address.
    pub fn relay_url(&self) -> String {
        self.client.relay_url().to_owned()
    }

    /// Seals `text` for every device of `user` and this user's other
    /// devices, and posts it (or queues it if the relay is unreachable).
    pub async fn send_text(&self, user: String, text: String) -> Result<SentMessage, FuinError> {
        Ok(self.client.send_text(&user, &text).await?.into())
    }

    /// Fetches what waits at the relay, opens and stores it, then
    /// acknowledges it; waits up to `wait_ms` for something to arrive.
    /// What arrived is also reported through [`FuinClient::next_event`].
    pub async fn sync(&self, wait_ms: u64) -> Result<SyncReport, FuinError> {
        let report = self.client.sync(Duration::from_millis(wait_ms)).await?;
        Ok(report.into())
    }

    /// Conversations, the most recent first.
    pub async fn conversations(&self) -> Result<Vec<Conversation>, FuinError> {
        let list = self.client.conversations().await?;
        Ok(list.into_iter().map(Conversation::from).collect())
    }

    /// The last `limit` messages of the conversation with `user`, in the
    /// order their senders sent them.
    pub async fn history(&self, user: String, limit: u32) -> Result<Vec<Message>, FuinError> {
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let messages = self.client.history(&user, limit).await?;
        Ok(messages.into_iter().map(Message::from).collect())
    }

    /// Marks every unread message of the conversation with `user` read and
    /// sends read receipts; the number of messages marked.
    pub async fn mark_read(&self, user: String) -> Result<u64, FuinError> {
        let marked = self.client.mark_read(&user).await?;
        Ok(u64::try_from(marked).unwrap_or(u64::MAX))
    }

    /// Seals the file at `path` on this device (with a thumbnail for PNG
    /// and JPEG images), uploads it and shares it with `user`.
    pub async fn send_file(
        &self,
        user: String,
        path: String,
        options: Option<SendFileOptions>,
    ) -> Result<SentFile, FuinError> {
        let options = options.unwrap_or_default().into();
        let sent = self
            .client
            .send_file(&user, Path::new(&path), &options)
            .await?;
        Ok(sent.into())
    }

    /// Sends `bytes` as a file named `file_name` to `user`, as
    /// [`FuinClient::send_file`] does.
    ///
    /// The SDK seals files from a path, so the bytes are first written to
    /// a temporary file (owner-only) in the store's folder, which the app
    /// already keeps private, and removed once sent or on failure. The
    /// copy of the bytes handed over is wiped.
    pub async fn send_file_bytes(
        &self,
        user: String,
        bytes: Vec<u8>,
        file_name: String,
        content_type: Option<String>,
    ) -> Result<SentFile, FuinError> {
        let bytes = Zeroizing::new(bytes);
        let dir = match self.store_path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
            _ => PathBuf::from("."),
        };
        // The extension is kept so that the media type can be guessed
        // from the temporary file's name when none is given.
        let suffix = Path::new(&file_name)
            .extension()
            .and_then(|ext| ext.to_str())
            .map(|ext| format!(".{ext}"))
            .unwrap_or_default();
        let temp = tokio::task::spawn_blocking(move || {
            use std::io::Write;
            let mut temp = tempfile::Builder::new()
                .prefix(".fuin-outgoing-")
                .suffix(&suffix)
                .tempfile_in(&dir)
                .map_err(|err| FuinError::file(format!("creating a temporary file: {err}")))?;
            temp.write_all(&bytes)
                .and_then(|()| temp.flush())
                .map_err(|err| FuinError::file(format!("writing a temporary file: {err}")))?;
            Ok::<_, FuinError>(temp)
        })
        .await
        .map_err(|_| FuinError::file("writing a temporary file stopped"))??;
        let options = fuin_client::SendFileOptions {
            content_type,
            file_name: Some(file_name),
            ..fuin_client::SendFileOptions::default()
        };
        let sent = self.client.send_file(&user, temp.path(), &options).await;
        // Removed whatever the outcome (also when this future is dropped).
        drop(temp);
        Ok(sent?.into())
    }

    /// What the attachment message `local_id` shares (nothing downloaded).
    pub async fn attachment(&self, local_id: i64) -> Result<AttachmentInfo, FuinError> {
        Ok(self.client.attachment(local_id).await?.into())
    }

    /// Downloads the attachment of message `local_id`, checks all of it
    /// and only then writes its plaintext to `out_path`, which must not
    /// exist.
    pub async fn fetch_attachment(
        &self,
        local_id: i64,
        out_path: String,
    ) -> Result<FetchedFile, FuinError> {
        let fetched = self
            .client
            .fetch_attachment(local_id, Path::new(&out_path))
            .await?;
        Ok(fetched.into())
    }

    /// Prepares a report of exactly the received messages `local_ids` (of
    /// one conversation) for `reason`. Nothing leaves the device: show the
    /// user [`PreparedReport::preview`] first.
    pub async fn report(
        &self,
        reason: String,
        local_ids: Vec<i64>,
    ) -> Result<Arc<PreparedReport>, FuinError> {
        let builder = self.client.report(&reason, &local_ids).await?;
        Ok(Arc::new(PreparedReport { builder }))
    }

    /// Seals `report` to the moderation service's public key (its text
    /// form, as `fuin moderate keygen` writes it) and submits it to the
    /// relay's report inbox.
    pub async fn submit_report(
        &self,
        report: Arc<PreparedReport>,
        moderation_key: String,
    ) -> Result<ReportReceipt, FuinError> {
        let key = ModerationPublicKey::from_text(moderation_key.trim()).map_err(|err| {
            FuinError::invalid_argument(format!("the moderation key is not usable: {err}"))
        })?;
        let accepted = self.client.submit_report(&report.builder, &key).await?;
        Ok(ReportReceipt {
            report_id: hex::encode(accepted.report_id.0),
            received_at_ms: accepted.received_at_ms,
        })
    }

    /// The safety number with `user` (and the new one while a change of
    /// their account key waits).
    pub async fn safety_number(&self, user: String) -> Result<SafetyNumbers, FuinError> {
        Ok(self.client.safety_number(&user).await?.into())
    }

    /// Accepts the new account key of `user` after the users compared the
    /// new safety number; the number of held messages then opened.
    pub async fn accept_identity_change(&self, user: String) -> Result<u64, FuinError> {
        let opened = self.client.accept_identity_change(&user).await?;
        Ok(u64::try_from(opened).unwrap_or(u64::MAX))
    }

    /// This user's devices, as its newest signed list names them.
    pub async fn devices(&self) -> Result<Vec<LinkedDevice>, FuinError> {
        let devices = self.client.devices().await?;
        Ok(devices.into_iter().map(LinkedDevice::from).collect())
    }

    /// The next event, waiting for one. `None` only if the event stream
    /// ended, which does not happen while this object lives. Dropping
    /// (cancelling) the call loses no event.
    pub async fn next_event(&self) -> Option<FuinEvent> {
        let mut events = self.events.lock().await;
        events.next().await.map(FuinEvent::from)
    }

    /// Every event that has happened and was not yet taken, without
    /// waiting.
    pub async fn pending_events(&self) -> Vec<FuinEvent> {
        let mut events = self.events.lock().await;
        let mut out = Vec::new();
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        loop {
            let next = std::pin::pin!(events.next());
            match next.poll(&mut cx) {
                std::task::Poll::Ready(Some(item)) => out.push(item.into()),
                std::task::Poll::Ready(None) | std::task::Poll::Pending => return out,
            }
        }
    }
}
