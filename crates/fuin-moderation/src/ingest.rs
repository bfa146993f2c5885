//! Pulling the relay's report inbox and opening each report once
//! (`spec/report.md` §13.1, §13.6).
//!
//! [`RelayInbox`] speaks the inbox protocol (`spec/relay-api.md` §4.15,
//! §4.16): take the waiting reports, acknowledge them. `fuin moderate pull`
//! uses it to store reports as files; the service uses it in
//! [`pull_once`], which for each report either finds its case (an
//! acknowledgement was lost: acknowledge again, record nothing), or opens
//! it ([`fuin_report::Moderator::inspect`]) and stores the case with its
//! `report_opened` record in one transaction, or records the refusal; and
//! acknowledges only what is so committed.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use fuin_report::{Inspected, Moderator, Verdict};
use fuin_wire::relay::{InboxBatch, InboxEntry, ReportAcknowledgement, ReportId};
use fuin_wire::{ContentType, FrameBody};
use serde_json::json;
use zeroize::Zeroizing;

use crate::attachments;
use crate::audit::{AuditAction, NewAuditRecord};
use crate::model::{CaseId, CaseMessage, ConversationKind, NewCase, SERVICE_ACTOR};
use crate::service::Service;
use crate::store::{ModerationStore, StoreError};

/// The most pull rounds one [`pull_once`] makes (a relay hands out up to 32
/// reports a round).
const MAX_ROUNDS: usize = 1_000;

/// Why the relay's inbox could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InboxError {
    /// The relay's address is not an `http://` or `https://` URL.
    InvalidUrl(String),
    /// The relay certificate given is not a PEM certificate.
    Certificate(String),
    /// The relay could not be reached, or its answer not read.
    Unreachable(String),
    /// The relay refused the credential (401).
    Unauthorized,
    /// The relay has no report inbox (404: it runs without
    /// `--moderation-credential-hash`).
    NoInbox,
    /// The relay answered another error status.
    Status {
        /// The HTTP status.
        status: u16,
        /// The start of its answer.
        answer: String,
    },
    /// The relay's answer is not what the protocol says.
    Malformed(String),
}

impl InboxError {
    /// A stable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidUrl(_) => "invalid_relay_url",
            Self::Certificate(_) => "relay_cert",
            Self::Unreachable(_) => "relay_unreachable",
            Self::Unauthorized => "unauthorized",
            Self::NoInbox => "no_inbox",
            Self::Status { .. } => "relay_error",
            Self::Malformed(_) => "malformed",
        }
    }
}

impl std::fmt::Display for InboxError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::InvalidUrl(url) => write!(
                f,
                "the relay address {url:?} must start with http:// or https://"
            ),
            Self::Certificate(why) => write!(f, "the relay certificate is unreadable: {why}"),
            Self::Unreachable(why) => write!(f, "the relay could not be reached: {why}"),
            Self::Unauthorized => f.write_str("the relay refused the moderation credential (401)"),
            Self::NoInbox => f.write_str(
                "the relay has no report inbox for moderation (404): it runs without \
                 --moderation-credential-hash",
            ),
            Self::Status { status, answer } => write!(f, "the relay answered {status}: {answer}"),
            Self::Malformed(why) => write!(f, "the relay's answer is malformed: {why}"),
        }
    }
}

impl std::error::Error for InboxError {}

/// An HTTP client for a relay: its timeouts, and the relay's certificate
/// when it is not in the system's roots.
pub fn http_client(relay_certificate: Option<&[u8]>) -> Result<reqwest::Client, InboxError> {
    let mut builder = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(120));
    if let Some(pem) = relay_certificate {
        let certificate = reqwest::Certificate::from_pem(pem)
            .map_err(|err| InboxError::Certificate(err.to_string()))?;
        builder = builder.add_root_certificate(certificate);
    }
    builder
        .build()
        .map_err(|err| InboxError::Unreachable(format!("HTTP client: {err}")))
}

/// Checks a relay address and gives it without a final `/`.
pub fn relay_base(url: &str) -> Result<String, InboxError> {
    let base = url.trim_end_matches('/');
    if base.starts_with("http://") || base.starts_with("https://") {
        Ok(base.to_owned())
    } else {
        Err(InboxError::InvalidUrl(base.to_owned()))
    }
}

/// The relay's report inbox, as moderation's credential opens it.
pub struct RelayInbox {
    http: reqwest::Client,
    base: String,
    credential: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for RelayInbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelayInbox")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl RelayInbox {
    /// The inbox of the relay at `relay_url` (`http(s)://host:port`).
    pub fn new(
        relay_url: &str,
        credential: Zeroizing<[u8; 32]>,
        relay_certificate: Option<&[u8]>,
    ) -> Result<Self, InboxError> {
        Ok(Self {
            http: http_client(relay_certificate)?,
            base: relay_base(relay_url)?,
            credential,
        })
    }

    async fn call(&self, request: reqwest::RequestBuilder) -> Result<Vec<u8>, InboxError> {
        let auth = Zeroizing::new(format!(
            "Moderation {}",
            hex::encode(self.credential.as_ref())
        ));
        let response = request
            .header(reqwest::header::AUTHORIZATION, auth.as_str())
            .send()
            .await
            .map_err(|err| InboxError::Unreachable(err.to_string()))?;
        let status = response.status();
        let body = response.bytes().await.map_err(|err| {
            InboxError::Unreachable(format!("its answer could not be read: {err}"))
        })?;
        match status.as_u16() {
            200..=299 => Ok(body.to_vec()),
            401 => Err(InboxError::Unauthorized),
            404 => Err(InboxError::NoInbox),
            status => Err(InboxError::Status {
                status,
                answer: String::from_utf8_lossy(&body).chars().take(200).collect(),
            }),
        }
    }

    /// Takes the waiting reports (up to the relay's batch size; empty when
    /// none waits). They stay in the inbox until acknowledged.
    pub async fn take(&self) -> Result<Vec<InboxEntry<'static>>, InboxError> {
        let bytes = self
            .call(
                self.http
                    .get(format!("{}/v1/moderation/reports", self.base)),
            )
            .await?;
        let batch = InboxBatch::from_bytes(&bytes)
            .map_err(|err| InboxError::Malformed(format!("the report batch: {err}")))?;
        Ok(batch.into_owned().reports.into_vec())
    }

    /// Acknowledges reports: the relay deletes them.
    pub async fn acknowledge(&self, ids: &[ReportId]) -> Result<(), InboxError> {
        if ids.is_empty() {
            return Ok(());
        }
        let ack = ReportAcknowledgement {
            report_ids: ids.to_vec().into(),
        }
        .to_bytes()
        .map_err(|err| InboxError::Malformed(format!("an acknowledgement: {err}")))?;
        self.call(
            self.http
                .post(format!("{}/v1/moderation/reports/ack", self.base))
                .header(reqwest::header::CONTENT_TYPE, "application/x-fuin-frame")
                .body(ack),
        )
        .await
        .map(drop)
    }
}

/// What the puller needs besides the [`Service`]: the inbox, the keys that
/// open reports, and moderation's device for re-fetching attachments.
pub struct Ingest {
    /// The relay's report inbox.
    pub inbox: RelayInbox,
    /// Opens and checks reports.
    pub moderator: Moderator,
    /// Moderation's own device; without it attachments are not re-fetched.
    pub device: Option<fuin_client::Client>,
}

impl std::fmt::Debug for Ingest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ingest")
            .field("inbox", &self.inbox)
            .field("device", &self.device.is_some())
            .finish_non_exhaustive()
    }
}

/// What one [`pull_once`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PullSummary {
    /// Reports opened into new cases.
    pub opened: u32,
    /// Reports whose case existed (opened before, the acknowledgement
    /// lost): acknowledged again only.
    pub known: u32,
    /// Reports that did not open: recorded as refused.
    pub refused: u32,
    /// Attachments re-fetched and stored (whatever their check's outcome).
    pub attachments: u32,
}

/// Why a pull stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IngestError {
    /// The relay's inbox failed.
    Inbox(InboxError),
    /// The database failed; the report it was storing was not
    /// acknowledged.
    Store(StoreError),
}

impl std::fmt::Display for IngestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Inbox(err) => err.fmt(f),
            Self::Store(err) => err.fmt(f),
        }
    }
}

impl std::error::Error for IngestError {}

impl From<InboxError> for IngestError {
    fn from(err: InboxError) -> Self {
        Self::Inbox(err)
    }
}

impl From<StoreError> for IngestError {
    fn from(err: StoreError) -> Self {
        Self::Store(err)
    }
}

/// The name of a content type, as cases store it.
pub fn content_type_name(content_type: ContentType) -> &'static str {
    match content_type {
        ContentType::Text => "text",
        ContentType::Receipt => "receipt",
        ContentType::SenderKeyDistribution => "sender_key_distribution",
        ContentType::GroupWelcome => "group_welcome",
        ContentType::GroupControl => "group_control",
        ContentType::Attachment => "attachment",
        ContentType::IdentifierSecret => "identifier_secret",
        ContentType::SenderKeyRequest => "sender_key_request",
        ContentType::Typed => "typed",
        _ => "unknown",
    }
}

/// The user a report is about: for a 1:1 report the other user; for a
/// group report the user, other than the reporter's own, who sent the most
/// verified messages (the first by name on a tie), or `None`.
pub fn reported_user(inspected: &Inspected) -> Option<String> {
    if inspected.group.is_none() {
        return Some(inspected.conversation_with.as_str().to_owned());
    }
    let mut sent: BTreeMap<&str, u32> = BTreeMap::new();
    for message in &inspected.messages {
        if message.verdict == Verdict::Verified && message.sender.user != inspected.reporter.user {
            *sent.entry(message.sender.user.as_str()).or_default() += 1;
        }
    }
    let most = sent.values().copied().max()?;
    sent.into_iter()
        .find(|(_, count)| *count == most)
        .map(|(user, _)| user.to_owned())
}

/// The case an inspected report is stored as: every content field sealed
/// by the vault (`spec/report.md` §13.2).
pub fn new_case<S>(service: &Service<S>, inspected: &Inspected, opened_at_ms: u64) -> NewCase {
    let id = CaseId::of_report(&inspected.report_id);
    let vault = &service.vault;
    let messages = inspected
        .messages
        .iter()
        .enumerate()
        .map(|(index, message)| {
            let index = u32::try_from(index).unwrap_or(u32::MAX);
            let text = Zeroizing::new(attachments::message_text(message));
            let (verdict, rejection) = match message.verdict {
                Verdict::Rejected(why) => ("rejected", why.code()),
                Verdict::Verified | Verdict::Duplicate => ("verified", ""),
            };
            CaseMessage {
                index,
                sender: message.sender.to_string(),
                recipient: message.recipient.to_string(),
                content_type: content_type_name(message.content_type).to_owned(),
                text: vault.seal(&id, &format!("message/{index}/text"), text.as_bytes()),
                commitment: hex::encode(message.commitment.0),
                server_time_ms: message.server_time_ms,
                verdict: verdict.to_owned(),
                rejection: rejection.to_owned(),
                attachment: None,
            }
        })
        .collect();
    NewCase {
        reason: vault.seal(&id, "reason", inspected.reason.as_bytes()),
        reporter: inspected.reporter.to_string(),
        reporter_user: inspected.reporter.user.as_str().to_owned(),
        reported_user: reported_user(inspected),
        kind: if inspected.group.is_some() {
            ConversationKind::Group
        } else {
            ConversationKind::Direct
        },
        group: inspected.group.map(|group| hex::encode(group.0)),
        created_at_ms: inspected.created_at_ms,
        received_at_ms: inspected.received_at_ms,
        opened_at_ms,
        post_quantum: inspected.post_quantum,
        messages,
        id,
    }
}

/// What became of one report.
enum Handled {
    Opened { attachments: u32 },
    Known,
    Refused,
}

/// Opens one report, or finds it opened before, or records its refusal.
/// Returns once what records it is committed: the caller may acknowledge.
async fn handle<S: ModerationStore>(
    service: &Service<S>,
    ingest: &Ingest,
    entry: &InboxEntry<'_>,
) -> Result<Handled, StoreError> {
    let id = CaseId::of_report(&entry.report_id);
    if service.store.has_case(&id).await? {
        return Ok(Handled::Known);
    }
    let now_ms = (service.clock)();
    let inspected = match ingest.moderator.inspect(entry) {
        Ok(inspected) => inspected,
        Err(err) => {
            let record = NewAuditRecord {
                time_ms: now_ms,
                actor: SERVICE_ACTOR.to_owned(),
                action: AuditAction::ReportRefused,
                case: None,
                detail: json!({"report": id.0, "reason": err.code()}).to_string(),
            };
            service.store.record_refusal(record).await?;
            tracing::info!(report = %id, reason = err.code(), "report refused");
            return Ok(Handled::Refused);
        }
    };
    let case = new_case(service, &inspected, now_ms);
    let count = |verdict: fn(&Verdict) -> bool| {
        inspected
            .messages
            .iter()
            .filter(|m| verdict(&m.verdict))
            .count()
    };
    let record = NewAuditRecord {
        time_ms: now_ms,
        actor: SERVICE_ACTOR.to_owned(),
        action: AuditAction::ReportOpened,
        case: Some(id.clone()),
        detail: json!({
            "report": id.0,
            "verified": count(Verdict::is_verified),
            "duplicates": 0,
            "rejected": count(|v| matches!(v, Verdict::Rejected(_))),
        })
        .to_string(),
    };
    match service.store.open_case(case, record).await {
        Ok(summary) => tracing::info!(
            report = %id,
            verified = summary.verified,
            duplicates = summary.duplicates,
            rejected = summary.rejected,
            "report opened"
        ),
        // Another instance opened it between the check and the store.
        Err(StoreError::CaseExists) => return Ok(Handled::Known),
        Err(err) => return Err(err),
    }
    let attachments = match &ingest.device {
        Some(device) => {
            attachments::store_case_attachments(service, device, &id, &inspected).await?
        }
        None => 0,
    };
    Ok(Handled::Opened { attachments })
}

/// Takes every waiting report from the inbox and handles each: a report
/// whose case exists is only acknowledged again; another is opened and
/// stored as a case with its `report_opened` record (its attachments then
/// re-fetched and checked), or recorded as `report_refused`; and each is
/// acknowledged only after that is committed.
pub async fn pull_once<S: ModerationStore>(
    service: &Service<S>,
    ingest: &Ingest,
) -> Result<PullSummary, IngestError> {
    let mut summary = PullSummary::default();
    let mut seen = HashSet::new();
    for _ in 0..MAX_ROUNDS {
        let batch = ingest.inbox.take().await?;
        if batch.is_empty() {
            break;
        }
        let mut done = Vec::new();
        let mut failed = None;
        for entry in &batch {
            if !seen.insert(entry.report_id) {
                // Handed out again after it was acknowledged: a relay that
                // lost the acknowledgement; the next pull tries again.
                continue;
            }
            match handle(service, ingest, entry).await {
                Ok(handled) => {
                    match handled {
                        Handled::Opened { attachments } => {
                            summary.opened += 1;
                            summary.attachments += attachments;
                        }
                        Handled::Known => summary.known += 1,
                        Handled::Refused => summary.refused += 1,
                    }
                    done.push(entry.report_id);
                }
                Err(err) => {
                    failed = Some(err);
                    break;
                }
            }
        }
        // What is committed is acknowledged, also when a later report of
        // the batch failed.
        ingest.inbox.acknowledge(&done).await?;
        if let Some(err) = failed {
            return Err(IngestError::Store(err));
        }
        if done.is_empty() {
            break;
        }
    }
    Ok(summary)
}

/// Pulls every `interval` (at least a millisecond) until `shutdown`
/// resolves (a failed pull is logged and tried again at the next tick).
pub async fn run_puller<S: ModerationStore>(
    service: Arc<Service<S>>,
    ingest: Arc<Ingest>,
    interval: Duration,
    shutdown: impl std::future::Future<Output = ()> + Send,
) {
    let mut shutdown = std::pin::pin!(shutdown);
    let mut ticks = tokio::time::interval(interval.max(Duration::from_millis(1)));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = &mut shutdown => return,
            _ = ticks.tick() => {}
        }
        let pulled = tokio::select! {
            () = &mut shutdown => return,
            pulled = pull_once(&service, &ingest) => pulled,
        };
        match pulled {
            Ok(summary) if summary == PullSummary::default() => {}
            Ok(summary) => tracing::info!(
                opened = summary.opened,
                known = summary.known,
                refused = summary.refused,
                attachments = summary.attachments,
                "reports pulled"
            ),
            Err(err) => tracing::warn!(error = %err, "pulling the report inbox failed"),
        }
    }
}
