//! Sending 1:1 messages: sealing for every device, the outbox and posting.

use fuin_seal::{Outgoing, SealError, Session, VerifiedBundle};
use fuin_wire::relay::{MAX_ENVELOPES_PER_SEND, SendBatch};
use fuin_wire::{ContentType, DeviceAddress, FrameBody, PublicIdentity, UserId};

use crate::ClientError;
use crate::history::MessageStatus;
use crate::store::{NewMessage, Reader};

use super::security::seals_new_messages;
use super::session_cache::SessionCache;
use super::{Client, SentMessage, State, Step, commit, now_ms, user_id};

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

impl Client {
    /// Sends a text message to `user`: sealed for each of the user's
    /// devices and this user's other devices, stored in the history, and
    /// handed to the relay.
    ///
    /// Cancel safety: [`Client`](crate::Client#cancel-safety).
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

    /// Sends several text messages to `user` at once, in the order given:
    /// as [`send_text`](Self::send_text) does for one, but sealed, stored
    /// and queued in **one** store transaction, posted with as many
    /// messages per relay request as the relay takes, and cleared from the
    /// outbox in one transaction per request. Returns when every message
    /// is queued durably and posted (or left queued, as one send would
    /// be); one result per text, in order. An empty text refuses the
    /// whole batch before anything is sealed.
    ///
    /// Cancel safety: [`Client`](crate::Client#cancel-safety); the batch
    /// is queued all at once or not at all.
    pub async fn send_texts(
        &self,
        user: &str,
        texts: &[&str],
    ) -> Result<Vec<SentMessage>, ClientError> {
        if texts.iter().any(|text| text.is_empty()) {
            return Err(ClientError::InvalidArgument("a message needs text".into()));
        }
        let peer = user_id(user)?;
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        self.ensure_registered().await?;
        let bodies: Vec<&[u8]> = texts.iter().map(|text| text.as_bytes()).collect();
        let mut state = self.inner.state.lock().await;
        let sent = self
            .send_many(
                &mut state,
                &peer,
                ContentType::Text,
                &bodies,
                true,
                &[],
                Targets::All,
            )
            .await?;
        self.offer_identifier_secret_after_send(&mut state).await;
        Ok(sent)
    }

    /// A send just fetched this user's device list and trusted any new
    /// device: one that lacks the identifier secret gets it now. Its failure
    /// is not the send's; the next sync tries again.
    pub(super) async fn offer_identifier_secret_after_send(&self, state: &mut State) {
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

    /// Sends `body` of `content_type` to `peer` (and this user's other
    /// devices) without keeping it in the history (typing indicators).
    pub(crate) async fn send_outside_history(
        &self,
        peer: &UserId<'static>,
        content_type: ContentType,
        body: &[u8],
    ) -> Result<SentMessage, ClientError> {
        self.ensure_registered().await?;
        let mut state = self.inner.state.lock().await;
        self.send_content(&mut state, peer, content_type, body, false, &[])
            .await
    }

    /// Sends `body` as a message of any `content_type` to `user` (and this
    /// user's other devices), outside the history. For tests that play a
    /// misbehaving peer; apps have no use for it, and only builds with the
    /// `testing` feature (this crate's own tests) have it.
    ///
    /// Cancel safety: [`Client`](crate::Client#cancel-safety).
    #[cfg(feature = "testing")]
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

    /// Seals `body` for every device of `peer` and this user's other
    /// devices, queues it, and posts it. `clear_owed` names messages whose
    /// owed receipt this send is.
    pub(super) async fn send_content(
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
        self.send_many(
            state,
            peer,
            content_type,
            &[body],
            in_history,
            clear_owed,
            only,
        )
        .await?
        .pop()
        .ok_or_else(|| ClientError::Storage("a send produced no message".into()))
    }

    /// Seals each of `bodies` as one message for every target device, in
    /// order, and queues them all in one transaction; then posts them.
    #[allow(clippy::too_many_arguments)]
    async fn send_many(
        &self,
        state: &mut State,
        peer: &UserId<'static>,
        content_type: ContentType,
        bodies: &[&[u8]],
        in_history: bool,
        clear_owed: &[i64],
        only: Targets<'_>,
    ) -> Result<Vec<SentMessage>, ClientError> {
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
        let outgoing = bodies
            .iter()
            .map(|body| {
                Outgoing::new(
                    &mut rand::rng(),
                    &self.inner.address,
                    peer.clone(),
                    content_type,
                    body,
                )
            })
            .collect::<Result<Vec<_>, _>>()?;

        // The relay first: bundles for the devices with no session that can
        // send, as a look at the store shows now. Whether one is still
        // needed is decided again in the transaction below.
        let mut bundles = Vec::new();
        for (address, trusted) in &targets {
            let can_send = state
                .store
                .reader()
                .sessions(address)?
                .iter()
                .any(|slot| seals_new_messages(&slot.session));
            if !can_send && let Some(bundle) = self.fetch_bundle(address, trusted).await? {
                bundles.push((address.clone(), bundle));
            }
        }

        // Then one transaction for the whole batch: the sessions as they
        // are now (another process may have sealed with them since), a
        // session started from a fetched bundle only where none can send,
        // the sealing of every message in order, and the advanced sessions,
        // the messages and their sealed batches written. The message keys
        // used are committed before any batch is posted.
        self.checkpoint(Step::Sealing).await;
        let (queued, devices) = {
            let (tx, key) = state.store.transaction()?;
            let db = Reader::of(&tx, key);
            let mut sessions = SessionCache::default();
            for (address, _) in &targets {
                let slots = sessions.load(db, address)?;
                if !slots.iter().any(|slot| seals_new_messages(&slot.session))
                    && let Some((_, verified)) = bundles.iter().find(|(a, _)| a == address)
                {
                    let session = Session::initiate(
                        &mut rand::rng(),
                        &self.inner.identity,
                        self.inner.address.clone(),
                        verified,
                    )?;
                    sessions.add(db, address, session, now_sql)?;
                }
            }
            let mut queued = Vec::with_capacity(outgoing.len());
            let mut devices = 0;
            for (outgoing, body) in outgoing.iter().zip(bodies) {
                let mut envelopes = Vec::with_capacity(targets.len());
                for (address, _) in &targets {
                    let slots = sessions.load(db, address)?;
                    let Some(index) = slots
                        .iter()
                        .position(|slot| seals_new_messages(&slot.session))
                    else {
                        continue;
                    };
                    let sealed = slots[index].session.seal(&mut rand::rng(), outgoing, now)?;
                    envelopes.push(sealed.envelope);
                    sessions.touch(address, index, now_sql);
                }
                if envelopes.is_empty() {
                    return Err(ClientError::UnknownUser {
                        user: peer.as_str().to_owned(),
                    });
                }
                devices = envelopes.len();
                let batch = SendBatch {
                    envelopes: envelopes.into(),
                }
                .to_bytes()?;
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
                let outbox_id = db.enqueue(local_id, &batch, now)?;
                queued.push(QueuedSend {
                    outbox_id,
                    local_id,
                    batch,
                });
            }
            sessions.write(db)?;
            for local in clear_owed {
                db.set_receipt_owed(*local, 0)?;
            }
            commit(tx)?;
            (queued, devices)
        };
        self.checkpoint(Step::Queued).await;

        let statuses = match flushed {
            // Something older is stuck: keep the order, leave these queued.
            Err(err) if err.is_transient() => vec![MessageStatus::Queued; queued.len()],
            _ => self.post_in_order(state, &queued).await?,
        };
        Ok(queued
            .iter()
            .zip(statuses)
            .map(|(send, status)| SentMessage {
                local_id: send.local_id.unwrap_or(0),
                status,
                devices,
            })
            .collect())
    }

    /// Fetches and verifies a bundle of `address`, whose identity the
    /// user's list gives as `trusted`; `None` if the device has published
    /// no prekeys (it cannot be reached yet).
    async fn fetch_bundle(
        &self,
        address: &DeviceAddress<'static>,
        trusted: &PublicIdentity,
    ) -> Result<Option<VerifiedBundle>, ClientError> {
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
            Err(ClientError::Relay { status: 404, .. }) => return Ok(None),
            Err(err) => return Err(err),
        };
        let Some(bundle) = bundles
            .bundles
            .as_slice()
            .iter()
            .find(|b| b.address == *address)
        else {
            return Ok(None);
        };
        match VerifiedBundle::verify(bundle, address, Some(trusted)) {
            Ok(verified) => Ok(Some(verified)),
            // The identity comes from the user's signed list; a bundle
            // with another one is the relay's doing.
            Err(SealError::IdentityMismatch) => Err(ClientError::RelayMisbehaved(format!(
                "the bundle of {address} names another identity than its user's device list"
            ))),
            Err(err) => Err(err.into()),
        }
    }

    /// Posts queued sends in order, as many to a relay request as it takes
    /// ([`requests`]); the new status of each. Stops at the first request
    /// that cannot be posted now: it and the ones after stay `Queued`.
    async fn post_in_order(
        &self,
        state: &mut State,
        queued: &[QueuedSend],
    ) -> Result<Vec<MessageStatus>, ClientError> {
        let mut statuses = Vec::with_capacity(queued.len());
        for request in requests(queued) {
            let sends = &queued[request];
            let posted = match sends {
                [one] => self.post_request(state, sends, &one.batch).await?,
                _ => {
                    let batch = combined_batch(sends)?;
                    match self.post_request(state, sends, &batch).await? {
                        // Which message the relay refused is not known:
                        // each is posted alone, to fail alone.
                        MessageStatus::Failed => {
                            let mut alone = MessageStatus::Sent;
                            for send in sends {
                                alone = self
                                    .post_request(state, std::slice::from_ref(send), &send.batch)
                                    .await?;
                                statuses.push(alone);
                                if alone == MessageStatus::Queued {
                                    break;
                                }
                            }
                            if alone == MessageStatus::Queued {
                                break;
                            }
                            continue;
                        }
                        other => other,
                    }
                }
            };
            statuses.extend(std::iter::repeat_n(posted, sends.len()));
            if posted == MessageStatus::Queued {
                break;
            }
        }
        statuses.resize(queued.len(), MessageStatus::Queued);
        Ok(statuses)
    }

    /// Posts one relay request holding `sends` (encoded as `batch`); on an
    /// answer, one transaction sets their messages' status and removes them
    /// from the outbox. Their common new status.
    async fn post_request(
        &self,
        state: &mut State,
        sends: &[QueuedSend],
        batch: &[u8],
    ) -> Result<MessageStatus, ClientError> {
        let relay = &self.inner.relay;
        let result = self
            .authed(|token| async move { relay.send(&token, batch).await })
            .await;
        let (status, server_time) = match result {
            Ok(accepted) => {
                self.checkpoint(Step::Posted).await;
                (MessageStatus::Sent, Some(accepted.server_time_ms))
            }
            Err(err) if err.is_transient() => return Ok(MessageStatus::Queued),
            Err(ClientError::Relay { status, .. }) if (400..500).contains(&status) => {
                if sends.len() > 1 {
                    // The caller posts each alone; nothing is cleared yet.
                    return Ok(MessageStatus::Failed);
                }
                (MessageStatus::Failed, None)
            }
            Err(err) => return Err(err),
        };
        let (tx, key) = state.store.transaction()?;
        let db = Reader::of(&tx, key);
        for send in sends {
            if let Some(local) = send.local_id {
                db.set_status(local, status, server_time)?;
            }
            db.dequeue(send.outbox_id)?;
        }
        commit(tx)?;
        Ok(status)
    }

    /// Posts every queued batch in order; stops at the first that cannot
    /// be posted now.
    pub(crate) async fn flush_outbox(&self, state: &mut State) -> Result<(), ClientError> {
        let queued: Vec<QueuedSend> = state
            .store
            .reader()
            .outbox()?
            .into_iter()
            .map(|(outbox_id, local_id, batch)| QueuedSend {
                outbox_id,
                local_id,
                batch,
            })
            .collect();
        if queued.is_empty() {
            return Ok(());
        }
        let statuses = self.post_in_order(state, &queued).await?;
        if statuses.contains(&MessageStatus::Queued) {
            return Err(ClientError::Unreachable(
                "queued messages are waiting for the relay".into(),
            ));
        }
        Ok(())
    }

    /// Messages sealed but not yet accepted by the relay.
    ///
    /// Cancel safety: [`Client`](crate::Client#cancel-safety).
    pub async fn queued(&self) -> Result<usize, ClientError> {
        let state = self.inner.state.lock().await;
        Ok(state.store.reader().outbox()?.len())
    }
}

/// One sealed message in the outbox: its row, its history row (if it is
/// kept in the history) and its encoded `SendBatch` (one envelope per
/// device).
struct QueuedSend {
    outbox_id: i64,
    local_id: Option<i64>,
    batch: Vec<u8>,
}

/// Most encoded bytes of queued sends put into one relay request (a send
/// larger than this alone still goes alone), well under the relay's frame
/// and send limits.
const MAX_REQUEST_BYTES: usize = 1 << 20;

/// How consecutive queued sends are grouped into relay requests: as many
/// whole sends as fit [`MAX_ENVELOPES_PER_SEND`] envelopes and
/// [`MAX_REQUEST_BYTES`]. A send that does not decode goes alone (the relay
/// refuses it, as it would have).
fn requests(queued: &[QueuedSend]) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut envelopes = 0;
    let mut bytes = 0;
    for (index, send) in queued.iter().enumerate() {
        let count = SendBatch::from_bytes(&send.batch)
            .map_or(MAX_ENVELOPES_PER_SEND, |batch| batch.envelopes.len());
        if index > start
            && (envelopes + count > MAX_ENVELOPES_PER_SEND
                || bytes + send.batch.len() > MAX_REQUEST_BYTES)
        {
            out.push(start..index);
            start = index;
            envelopes = 0;
            bytes = 0;
        }
        envelopes += count;
        bytes += send.batch.len();
    }
    if start < queued.len() {
        out.push(start..queued.len());
    }
    out
}

/// The envelopes of `sends`, in order, as one `SendBatch`: the relay
/// stores each for its recipient in the order given.
fn combined_batch(sends: &[QueuedSend]) -> Result<Vec<u8>, ClientError> {
    let mut envelopes = Vec::new();
    for send in sends {
        let batch = SendBatch::from_bytes(&send.batch)?;
        envelopes.extend(batch.envelopes.into_vec());
    }
    Ok(SendBatch {
        envelopes: envelopes.into(),
    }
    .to_bytes()?)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use fuin_wire::{
        ContentKind, DeviceAddress, DeviceId, FrameBody, FrankingCommitment, Opaque,
        RoutingEnvelope, UserId,
    };

    use super::{
        MAX_ENVELOPES_PER_SEND, MAX_REQUEST_BYTES, QueuedSend, SendBatch, combined_batch, requests,
    };

    /// A queued send of `devices` envelopes whose bodies start with `tag`
    /// and are `body_len` long.
    fn queued(tag: u8, devices: u32, body_len: usize) -> QueuedSend {
        let envelopes: Vec<_> = (0..devices)
            .map(|device| {
                let mut body = vec![tag; body_len];
                body[1] = u8::try_from(device).unwrap();
                RoutingEnvelope {
                    recipient: DeviceAddress::new(
                        UserId::new("bob".to_owned()).unwrap(),
                        DeviceId(device + 1),
                    ),
                    content_kind: ContentKind::Message,
                    franking_commitment: FrankingCommitment([tag; 32]),
                    sealed_body: Opaque::from(body),
                }
            })
            .collect();
        QueuedSend {
            outbox_id: i64::from(tag),
            local_id: None,
            batch: SendBatch {
                envelopes: envelopes.into(),
            }
            .to_bytes()
            .unwrap(),
        }
    }

    #[test]
    fn requests_hold_whole_sends_up_to_the_envelope_limit() {
        // 3 envelopes a send: 21 fit one request, the 22nd starts the next.
        let sends: Vec<_> = (0..50).map(|i| queued(i, 3, 100)).collect();
        assert_eq!(requests(&sends), vec![0..21, 21..42, 42..50]);
        // Exactly 64 one-device sends fill one request.
        let sends: Vec<_> = (0..65).map(|i| queued(i, 1, 100)).collect();
        assert_eq!(requests(&sends), vec![0..64, 64..65]);
        assert_eq!(MAX_ENVELOPES_PER_SEND, 64);
        assert!(requests(&[]).is_empty());
    }

    #[test]
    fn requests_stay_under_the_byte_bound_and_a_large_send_goes_alone() {
        // Six envelopes of 60 KiB a send (about 360 KiB): two fit under the
        // bound, a third would pass it, long before 64 envelopes.
        let sends: Vec<_> = (0..7).map(|i| queued(i, 6, 60 * 1024)).collect();
        assert!(sends.iter().all(|s| s.batch.len() * 3 > MAX_REQUEST_BYTES));
        assert_eq!(requests(&sends), vec![0..2, 2..4, 4..6, 6..7]);
        // A send larger than the bound by itself goes alone.
        let sends = vec![queued(1, 1, 10), queued(2, 20, 60 * 1024), queued(3, 1, 10)];
        assert!(sends[1].batch.len() > MAX_REQUEST_BYTES);
        assert_eq!(requests(&sends), vec![0..1, 1..2, 2..3]);
    }

    #[test]
    fn an_undecodable_queued_send_goes_alone() {
        let mut broken = queued(2, 1, 10);
        broken.batch = vec![0xff; 8];
        let sends = vec![queued(1, 1, 10), broken, queued(3, 1, 10)];
        assert_eq!(requests(&sends), vec![0..1, 1..2, 2..3]);
    }

    #[test]
    fn a_combined_request_keeps_every_envelope_in_order() {
        let sends: Vec<_> = (1..=4).map(|i| queued(i, 2, 40)).collect();
        let combined = combined_batch(&sends).unwrap();
        let decoded = SendBatch::from_bytes(&combined).unwrap();
        let seen: Vec<(u8, u32)> = decoded
            .envelopes
            .as_slice()
            .iter()
            .map(|e| (e.sealed_body.as_ref()[0], e.recipient.device.0))
            .collect();
        assert_eq!(
            seen,
            vec![
                (1, 1),
                (1, 2),
                (2, 1),
                (2, 2),
                (3, 1),
                (3, 2),
                (4, 1),
                (4, 2)
            ]
        );
    }
}
