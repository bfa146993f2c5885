//! Receiving: fetching, opening, storing and acknowledging deliveries.

use std::time::Duration;

use fuin_seal::{Opened, PrekeyStore, SealError, Session};
use fuin_wire::relay::MailboxBatch;
use fuin_wire::{
    ContentKind, ContentType, DeliveredRecord, DeviceAddress, FrameBody, MessageId, PrekeyMessage,
    UserId,
};

use crate::ClientError;
use crate::event::Event;
use crate::history::MessageStatus;
use crate::receipt::{ReceiptBody, ReceiptKind};
use crate::store::content::BuiltInKind;
use crate::store::{NewMessage, Reader, StoredFranking};

use super::session_cache::SessionCache;
use super::{Client, State, Step, SyncReport, commit, now_ms};

/// What opening one delivery came to.
enum Outcome {
    Opened(Box<Opened>),
    /// Held until the app accepts the sender device's new identity.
    Held,
    Dropped(String),
}

/// Deliveries acknowledged whose marks may wait in the store for the next
/// batch's commit; beyond this they are removed at once. Bounds the marks a
/// run leaves behind, and the list [`State::acknowledged`] keeps.
const MAX_MARKS_WAITING: usize = 128;

/// Why a delivery from a device no list names is dropped.
const NOT_LISTED: &str = "the sender device is not in its user's device list";

impl Client {
    /// Fetches, opens, stores and acknowledges everything waiting at the
    /// relay, waiting up to `wait` for the first delivery if there is none;
    /// then sends the receipts owed, replenishes prekeys when the relay
    /// says the pool is low, and offers the identifier secret to this
    /// user's devices known to lack it (`spec/client.md` §13).
    ///
    /// Cancel safety: [`Client`](crate::Client#cancel-safety).
    pub async fn sync(&self, wait: Duration) -> Result<SyncReport, ClientError> {
        self.ensure_registered().await?;
        let mut report = SyncReport::default();
        {
            let mut state = self.inner.state.lock().await;
            self.delete_expired_locked(&mut state)?;
            // Confirm what an earlier run stored but could not acknowledge.
            report.acknowledged += self.confirm_unconfirmed(&mut state).await?;
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
            let mut state = self.inner.state.lock().await;
            let prekeys_low = batch.prekeys_low;
            let (part, ids) = self.receive_batch(&mut state, batch).await?;
            self.acknowledge(&mut state, &ids).await?;
            self.step(Step::Acknowledged);
            report.messages += part.messages;
            report.receipts += part.receipts;
            report.dropped += part.dropped;
            report.held += part.held;
            report.acknowledged += ids.len();
            if prekeys_low {
                self.replenish_prekeys(&mut state).await?;
            }
        }
        self.after_receiving().await?;
        Ok(report)
    }

    /// Opens and stores one batch from the relay, fetched or pushed, in one
    /// transaction; the ids to acknowledge once that is done. The one
    /// receive path of [`Client::sync`] and of background work.
    pub(crate) async fn receive_batch(
        &self,
        state: &mut State,
        batch: MailboxBatch<'static>,
    ) -> Result<(SyncReport, Vec<MessageId>), ClientError> {
        self.step(Step::Fetched);
        let records: Vec<_> = batch
            .records
            .into_vec()
            .into_iter()
            .map(|record| (record.server_message_id, Some(record)))
            .collect();
        let ids: Vec<MessageId> = records.iter().map(|(id, _)| *id).collect();
        self.refresh_senders_lists(state, &records).await;
        let part = self.process(state, records, false)?;
        self.step(Step::Stored);
        Ok((part, ids))
    }

    /// Acknowledges at the relay what an earlier run (or the push stream,
    /// which has no answer to an acknowledgement) stored but did not see
    /// confirmed; the number of deliveries.
    pub(crate) async fn confirm_unconfirmed(
        &self,
        state: &mut State,
    ) -> Result<usize, ClientError> {
        let mut unconfirmed = state.store.reader().unconfirmed()?;
        // Confirmed already, their marks not yet removed.
        unconfirmed.retain(|id| !state.acknowledged.contains(id));
        if !unconfirmed.is_empty() {
            self.acknowledge(state, &unconfirmed).await?;
        }
        Ok(unconfirmed.len())
    }

    /// What follows receiving: sender keys chased, group sends flushed,
    /// prekeys rotated or published, receipts owed sent, the identifier
    /// secret offered.
    pub(crate) async fn after_receiving(&self) -> Result<(), ClientError> {
        let mut state = self.inner.state.lock().await;
        self.chase_missing_sender_keys(&mut state)?;
        self.flush_group_outbox_lenient(&mut state).await?;
        self.rotate_signed_prekey_if_due(&mut state).await?;
        self.publish_kem_prekeys_if_missing(&mut state).await?;
        match self.send_owed_receipts(&mut state).await {
            Ok(()) => {}
            Err(err) if err.is_transient() => {}
            Err(err) => return Err(err),
        }
        // A device of this user met since (or one whose secret lost) gets
        // this device's identifier secret; asks the relay nothing otherwise.
        // A failure is retried at the next sync.
        let _ = self.share_identifier_secret(&mut state, false).await;
        Ok(())
    }

    async fn acknowledge(&self, state: &mut State, ids: &[MessageId]) -> Result<(), ClientError> {
        let relay = &self.inner.relay;
        self.authed(|token| async move { relay.acknowledge(&token, ids).await })
            .await?;
        // The marks go with the next batch's commit; only if many wait
        // (no batch came for a while) do they get a commit of their own.
        state.acknowledged.extend_from_slice(ids);
        if state.acknowledged.len() > MAX_MARKS_WAITING {
            let (tx, key) = state.store.transaction()?;
            Reader::of(&tx, key).forget_processed(&state.acknowledged)?;
            commit(tx)?;
            state.acknowledged.clear();
        }
        Ok(())
    }

    /// Opens and stores deliveries in one transaction. `None` stands for a
    /// stored delivery that no longer decodes (it is dropped). With
    /// `released`, the deliveries come from the quarantine and are removed
    /// from it.
    pub(crate) fn process(
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
        // Sessions and prekeys are read inside the transaction that writes
        // them back: another process on the store may have changed them.
        let (tx, key) = state.store.transaction()?;
        let db = Reader::of(&tx, key);
        // The marks of deliveries acknowledged since the last commit go in
        // this one (`State::acknowledged`).
        db.forget_processed(&state.acknowledged)?;
        let mut prekeys = db.prekeys()?;
        for (id, record) in records {
            if released {
                // Released by another process since it was read: opened there.
                if !db.release_quarantined(&id)? {
                    continue;
                }
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
            let outcome = self.open_record(db, &mut sessions, &mut prekeys, &record, now_sql)?;
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
        state.acknowledged.clear();
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
        // Only a device the newest verified list of its user names, with the
        // identity the list gives it, is heard (spec/accounts.md §8.3).
        let peer = db.peer(&sender)?;
        let is_prekey = record.envelope.content_kind == ContentKind::PrekeyMessage;
        if peer.is_some() {
            // The established sessions first, most recently used first
            // (spec/protocol.md §6.6). Only `SessionMismatch` ("another
            // session's handshake") lets a record go on to start a new
            // session; any other failure drops it, so a replayed first
            // message (its key already used) never starts one.
            let slots = sessions.load(db, &sender)?;
            let mut refused = None;
            for (index, slot) in slots.iter_mut().enumerate() {
                match slot.session.open(record, now_ms) {
                    Ok(opened) => {
                        sessions.touch(&sender, index, now);
                        return Ok(Outcome::Opened(Box::new(opened)));
                    }
                    Err(SealError::SessionMismatch) => {}
                    Err(err) => {
                        refused.get_or_insert(err);
                    }
                }
            }
            if let Some(err) = refused {
                return Ok(Outcome::Dropped(err.to_string()));
            }
            if !is_prekey {
                return Ok(Outcome::Dropped(
                    "no session with the sending device".into(),
                ));
            }
        }
        if !is_prekey {
            return Ok(Outcome::Dropped(NOT_LISTED.into()));
        }
        // A new handshake from the sender.
        let handshake = match PrekeyMessage::from_bytes(record.envelope.sealed_body.as_bytes()) {
            Ok(message) => message,
            Err(err) => return Ok(Outcome::Dropped(SealError::from(err).to_string())),
        };
        // A handshake answered before is a replay (a first message sent
        // without a one-time prekey consumes nothing that would make it
        // fail): it never starts, replaces or evicts a session.
        if db.handshake_answered(handshake.signed_prekey_id.0, &handshake.base_key)? {
            return Ok(Outcome::Dropped(SealError::DuplicateMessage.to_string()));
        }
        let initiator = handshake.initiator.clone();
        match &peer {
            Some(peer) if peer.identity == initiator => {}
            _ => {
                // Not the device the trusted list names. If the user's new
                // account key (a change waiting for the user) lists it, and
                // the handshake really opens under it (which binds the
                // sender's address), it is held for the user's decision;
                // anything else is a forgery, a ghost or a removed device.
                let pending = db
                    .account(&sender.user)?
                    .and_then(|account| account.pending)
                    .is_some_and(|list| list.identity_of(sender.device) == Some(&initiator));
                if !pending {
                    return Ok(Outcome::Dropped(if peer.is_some() {
                        "the handshake's identity is not the one the sender's device list gives it"
                            .into()
                    } else {
                        NOT_LISTED.into()
                    }));
                }
                let mut scratch = prekeys.clone();
                if let Err(err) = Session::respond(
                    &self.inner.identity,
                    self.inner.address.clone(),
                    &mut scratch,
                    Some(&initiator),
                    record,
                    now_ms,
                ) {
                    return Ok(Outcome::Dropped(err.to_string()));
                }
                return Ok(Outcome::Held);
            }
        }
        match Session::respond(
            &self.inner.identity,
            self.inner.address.clone(),
            prekeys,
            Some(&initiator),
            record,
            now_ms,
        ) {
            Ok((session, opened)) => {
                sessions.add(db, &sender, session, now)?;
                // In the transaction that stores the session.
                db.record_answered_handshake(
                    handshake.signed_prekey_id.0,
                    &handshake.base_key,
                    now_ms,
                )?;
                Ok(Outcome::Opened(Box::new(opened)))
            }
            Err(err) => Ok(Outcome::Dropped(err.to_string())),
        }
    }

    /// Brings the device lists of the users who sent `records` up to date
    /// before they are opened, so that a device linked a moment ago is
    /// heard and a removed one is not. Failures leave the lists held as
    /// they are (what is not listed is then dropped or held, never opened).
    async fn refresh_senders_lists(
        &self,
        state: &mut State,
        records: &[(MessageId, Option<DeliveredRecord<'static>>)],
    ) {
        let mut users: Vec<UserId<'static>> = records
            .iter()
            .filter_map(|(_, record)| record.as_ref())
            .filter(|record| record.envelope.content_kind != ContentKind::GroupMessage)
            .map(|record| record.sender.user.clone().into_owned())
            .collect();
        users.sort();
        users.dedup();
        for user in &users {
            let _ = self.refresh_device_list(state, user).await;
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
            ContentType::Text | ContentType::Attachment | ContentType::Typed => {
                let typed = if content.content_type == ContentType::Typed {
                    match crate::store::content::classify(
                        &opened.sender.user,
                        content.body.as_bytes(),
                    ) {
                        Ok(typed) => Some(typed),
                        Err(reason) => {
                            events.push(Event::MessageDropped {
                                from: opened.sender.clone(),
                                reason,
                            });
                            report.dropped += 1;
                            return Ok(());
                        }
                    }
                } else {
                    None
                };
                if let Some(typed) = &typed
                    && typed.built_in == Some(BuiltInKind::Typing)
                {
                    // Shown for a moment, never stored; this user's own
                    // typing on another device is nothing to show.
                    if !from_own_device
                        && let Ok(typing) = fuin_wire::content::TypedContent::from_bytes(
                            content.body.as_bytes(),
                        )
                        .and_then(|typed| {
                            <fuin_wire::content::Typing as fuin_wire::content::BuiltIn>::from_payload(
                                typed.payload.as_bytes(),
                            )
                        })
                    {
                        events.push(Event::Typing {
                            conversation: opened.conversation_with.as_str().to_owned(),
                            from: opened.sender.clone(),
                            typing: typing.typing,
                        });
                    }
                    return Ok(());
                }
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
                    let conversation = opened.conversation_with.as_str().to_owned();
                    match &typed {
                        Some(typed)
                            if matches!(
                                typed.built_in,
                                Some(
                                    BuiltInKind::Edit | BuiltInKind::Delete | BuiltInKind::Reaction
                                )
                            ) =>
                        {
                            // The message it changes, if it is here yet
                            // (if not, the change applies when it comes).
                            if let Some((author, id)) = &typed.target
                                && let Some(target) =
                                    db.find_by_ref(&opened.conversation_with, author, id)?
                            {
                                events.push(Event::MessageUpdated {
                                    conversation,
                                    local_id: target,
                                });
                            }
                        }
                        Some(typed)
                            if typed.built_in.is_none()
                                && !self.inner.content_types.knows(&typed.type_name) =>
                        {
                            events.push(Event::UnknownContent {
                                conversation,
                                local_id,
                                from: opened.sender.clone(),
                                type_name: typed.type_name.clone(),
                            });
                        }
                        _ => events.push(Event::MessageReceived {
                            conversation,
                            local_id,
                            from: opened.sender.clone(),
                        }),
                    }
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
            ContentType::SenderKeyDistribution
            | ContentType::GroupWelcome
            | ContentType::SenderKeyRequest => {
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
}
