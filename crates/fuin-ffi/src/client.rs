//! [`FuinClient`]: one device, the SDK's `Client` over the FFI.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use fuin::{Client, ClientOptions, EventStream, InviteCode, ModerationPublicKey};
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
    fn wrap(client: Client) -> Arc<Self> {
        let events = Mutex::new(client.events());
        Arc::new(Self { client, events })
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
        Ok(Self::wrap(client))
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
        Ok(Self::wrap(client))
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
    /// [`FuinClient::send_file`] does, sealed from memory (nothing is
    /// written to disk but the sealed ciphertext).
    pub async fn send_file_bytes(
        &self,
        user: String,
        bytes: Vec<u8>,
        file_name: String,
        content_type: Option<String>,
    ) -> Result<SentFile, FuinError> {
        let options = fuin::SendFileOptions {
            content_type,
            file_name: Some(file_name),
            ..fuin::SendFileOptions::default()
        };
        let sent = self
            .client
            .send_attachment(
                &user,
                fuin::AttachmentSource::Bytes(bytes.into()),
                &options,
                &fuin::Transfer::default(),
            )
            .await?;
        Ok(sent.into())
    }

    /// Replaces the text of one of this user's own texts or replies on
    /// every device of the conversation.
    pub async fn edit_message(
        &self,
        local_id: i64,
        text: String,
    ) -> Result<SentMessage, FuinError> {
        Ok(self.client.edit_message(local_id, &text).await?.into())
    }

    /// Deletes one of this user's own messages for everyone.
    pub async fn delete_for_everyone(&self, local_id: i64) -> Result<SentMessage, FuinError> {
        Ok(self.client.delete_for_everyone(local_id).await?.into())
    }

    /// Reacts to a message (an empty reaction takes it back).
    pub async fn react(&self, local_id: i64, reaction: String) -> Result<SentMessage, FuinError> {
        Ok(self.client.react(local_id, &reaction).await?.into())
    }

    /// Replies to a message with a text that quotes it.
    pub async fn reply(&self, local_id: i64, text: String) -> Result<SentMessage, FuinError> {
        Ok(self.client.reply(local_id, &text).await?.into())
    }

    /// Tells `user` this user started or stopped typing (never stored).
    pub async fn send_typing(&self, user: String, typing: bool) -> Result<(), FuinError> {
        Ok(self.client.send_typing(&user, typing).await?)
    }

    /// Sets the conversation's disappearing-message timer (0: off).
    pub async fn set_disappearing_timer(
        &self,
        user: String,
        seconds: u32,
    ) -> Result<SentMessage, FuinError> {
        Ok(self
            .client
            .set_disappearing_timer(&user, seconds)
            .await?
            .into())
    }

    /// Sends an app's own typed payload (`type_name` reverse-DNS, outside
    /// `fuin.`), sealed, franked and reportable like text.
    pub async fn send_app_content(
        &self,
        user: String,
        type_name: String,
        payload: Vec<u8>,
    ) -> Result<SentMessage, FuinError> {
        Ok(self
            .client
            .send_app_content(&user, &type_name, &payload)
            .await?
            .into())
    }

    /// Registers an app content type this app understands.
    pub fn register_content_type(&self, type_name: String) -> Result<(), FuinError> {
        Ok(self.client.register_content_type(&type_name)?)
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
