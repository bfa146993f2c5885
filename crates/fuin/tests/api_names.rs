//! An app needs only `fuin`: every type the SDK's methods, fields and events
//! name is reachable through it. `every_method_names_fuin_types` is
//! compiled, not run: each binding is typed with the facade's name for what
//! the SDK returns or takes, so a type the facade misses (or re-exports from
//! the wrong crate) fails the build. The tests below run what needs no relay.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use fuin::receipt::{ReceiptBody, ReceiptKind, ReceiptRef};
use fuin::{
    AttachmentError, AttachmentInfo, AudienceConversation, BlobCapability, BlobId, Client,
    ClientError, ClientMessageId, ClientOptions, ContentType, Conversation, DeviceAddress,
    DeviceId, Event, EventStream, EventStreamItem, FetchedFile, FetchedThumbnail,
    FrankingCommitment, FrankingKey, FrankingStamp, GroupChange, GroupEntry, GroupId, GroupInfo,
    GroupReportBuilder, GroupReportPreview, GroupStatus, ImageLimits, ImageRefusal, InviteCode,
    LinkedDevice, Message, MessageId, MessageStatus, ModerationPublicKey, PendingLink,
    PreviewMessage, PublicIdentity, ReceiptRecord, ReportAccepted, ReportBuilder, ReportId,
    ReportPreview, SafetyNumbers, SealError, SendFileOptions, SentFile, SentMessage,
    SessionSecurity, StampKeyId, Step, StepHook, StorageKey, StoredFranking, SyncReport,
    ThumbnailInfo, UserId, WireError, Zeroizing,
};

/// Compiled, never called: the signatures of the SDK in the facade's names.
async fn every_method_names_fuin_types(
    store: &Path,
    key: StorageKey,
    moderation: &ModerationPublicKey,
) -> Result<(), ClientError> {
    #[allow(clippy::needless_update)]
    let options = ClientOptions {
        no_delivery_receipts: false,
        relay_certificate: None,
        on_step: Some(Arc::new(|_: Step| {}) as StepHook),
        device_name: Some("laptop".into()),
        invite: Some(InviteCode([0; 32])),
        max_blob_len: Some(fuin::DEFAULT_MAX_BLOB_LEN),
        // Fields only test builds have (the SDK's `testing` feature).
        ..ClientOptions::default()
    };
    let client: Client =
        Client::create(store, "https://relay.example", "alice", 1, options).await?;
    let _: Client = Client::open(store, ClientOptions::default()).await?;
    let _: Client = Client::open_with_key(store, key, ClientOptions::default()).await?;
    let pending: PendingLink = Client::begin_link(
        store,
        "https://relay.example",
        Some("alice"),
        "phone",
        ClientOptions::default(),
    )
    .await?;
    let _: Zeroizing<String> = pending.code_digits();
    let _: Client = pending.finish(Duration::from_secs(1)).await?;

    // Who this device is.
    let address: &DeviceAddress<'static> = client.address();
    let _: &UserId<'static> = &address.user;
    let _: DeviceId = address.device;
    let _: &PublicIdentity = client.identity();

    // Sending, receiving, history.
    let sent: SentMessage = client.send_text("bob", "hi").await?;
    let _: MessageStatus = sent.status;
    let _: SyncReport = client.sync(Duration::ZERO).await?;
    let mut events: EventStream = client.events();
    if let Some(EventStreamItem::Event(Event::StatusChanged { message, .. })) = events.next().await
    {
        let _: ClientMessageId = message;
    }
    let _: Vec<Conversation> = client.conversations().await?;
    let history: Vec<Message> = client.history("bob", 50).await?;
    if let Some(message) = history.first() {
        let _: &ContentType = &message.content_type;
        let _: &ClientMessageId = &message.id;
    }
    let receipts: Vec<ReceiptRecord> = client.receipts(1).await?;
    if let Some(receipt) = receipts.first() {
        let _: ReceiptKind = receipt.kind;
    }
    let body = ReceiptBody {
        kind: ReceiptKind::Read,
        messages: Vec::<ReceiptRef>::new(),
    };
    let _: SentMessage = client.send_receipt("bob", &body).await?;
    let _: usize = client.mark_read("bob").await?;
    let _: Vec<SessionSecurity> = client.session_security("bob").await?;

    // Devices and trust.
    let _: Vec<LinkedDevice> = client.devices().await?;
    let _: SafetyNumbers = client.safety_number("bob").await?;
    let _: Vec<UserId<'static>> = client.pending_identity_changes().await?;
    let _: LinkedDevice = client.approve_link("000").await?;

    // Attachments.
    let sent_file: SentFile = client
        .send_file("bob", store, &SendFileOptions::default())
        .await?;
    let info: AttachmentInfo = sent_file.attachment;
    let _: Option<ThumbnailInfo> = info.thumbnail;
    let _: FetchedFile = client.fetch_attachment(1, store).await?;
    let thumbnail: Option<FetchedThumbnail> = client.fetch_thumbnail(1).await?;
    if let Some(thumbnail) = thumbnail {
        let _: Zeroizing<Vec<u8>> = thumbnail.bytes;
    }
    let _: u64 = client
        .fetch_blob(&BlobId([0; 32]), &BlobCapability([0; 32]), 1, Vec::new())
        .await?;

    // Reports and franking.
    let report: ReportBuilder = client.report("spam", &[1]).await?;
    let preview: ReportPreview = report.preview();
    let _: Vec<PreviewMessage> = preview.messages;
    let accepted: ReportAccepted = client.submit_report(&report, moderation).await?;
    let _: ReportId = accepted.report_id;
    if let Some(franking) = client.franking_opening(1).await? {
        let franking: StoredFranking = franking;
        let _: FrankingKey = franking.franking_key;
        let _: FrankingCommitment = franking.commitment;
        let _: FrankingStamp = franking.stamp;
        let _: StampKeyId = franking.stamp_key_id;
        let _: MessageId = franking.server_message_id;
    }

    // Groups.
    let group: GroupInfo = client.create_group(&["bob"]).await?;
    let _: GroupStatus = group.status;
    let _: Vec<GroupEntry> = client.group_history(&group.id, 50).await?;
    let group_report: GroupReportBuilder = client.report_group("spam", &[1]).await?;
    let group_preview: GroupReportPreview = group_report.preview();
    let _: GroupId = group_preview.group_id;
    let _: ReportAccepted = client
        .submit_group_report(&group_report, moderation)
        .await?;
    if let Some(EventStreamItem::Event(Event::GroupChanged { change, .. })) = events.next().await {
        let _: GroupChange = change;
    }

    // Identifiers handed to mini-apps.
    let _: String = client
        .audience_identifier("app", &AudienceConversation::Direct("bob".into()))
        .await?;
    Ok(())
}

/// The errors inside `ClientError`, by the facade's names.
fn inner_errors(error: ClientError) -> Option<String> {
    match error {
        ClientError::Protocol(err) => Some(describe_seal_error(&err)),
        ClientError::Attachment(err) => Some(describe_attachment_error(&err)),
        ClientError::ImageRefused(refusal) => Some(describe_refusal(&refusal)),
        _ => None,
    }
}

fn describe_seal_error(err: &SealError) -> String {
    err.to_string()
}

fn describe_attachment_error(err: &AttachmentError) -> String {
    err.to_string()
}

fn describe_refusal(refusal: &ImageRefusal) -> String {
    refusal.to_string()
}

#[test]
fn addresses_are_made_and_checked_through_the_facade() {
    let user = UserId::new("alice").unwrap();
    let address = DeviceAddress::new(user.clone(), DeviceId(3));
    assert_eq!(address.user.as_str(), "alice");
    assert_eq!(address.device, DeviceId(3));
    // A user id the protocol refuses is a wire error, not a panic.
    let refused: Result<UserId<'_>, WireError> = UserId::new("");
    assert!(refused.is_err());
}

#[test]
fn errors_of_the_layers_below_reach_the_app_as_client_errors() {
    let wire: WireError = UserId::new("").unwrap_err();
    let from_wire: ClientError = wire.clone().into();
    // Matched by the facade's names, down to the wire error inside.
    assert!(matches!(
        &from_wire,
        ClientError::Protocol(SealError::Wire(inner)) if *inner == wire
    ));
    assert!(!from_wire.is_transient());
    assert_eq!(
        inner_errors(from_wire),
        Some(SealError::Wire(wire).to_string())
    );
}

#[test]
fn a_storage_key_from_a_keystore_is_made_and_read_back() {
    let key = StorageKey::from_secret_bytes([5; 32]);
    assert_eq!(*key.to_secret_bytes(), [5; 32]);
}

#[test]
fn thumbnail_limits_and_key_paths_are_public_constants_and_functions() {
    let limits: ImageLimits = fuin::PEER_THUMBNAIL_LIMITS;
    assert!(limits.max_side <= fuin::THUMBNAIL_SOURCE_LIMITS.max_side);
    assert!(fuin::MAX_THUMBNAIL_SIDE <= limits.max_side);
    let key = fuin::keyfile::key_path(Path::new("/data/alice.db"));
    assert_eq!(key, Path::new("/data/alice.db.key"));
    assert_eq!(MessageStatus::Unread.as_str(), "unread");
    // A body that is not an attachment share is described, not trusted.
    assert_eq!(
        fuin::describe_attachment(&[0xff, 0x00]),
        "[an unreadable attachment]"
    );
}
