//! Receiving in groups: handling deliveries, holding early ones and retrying them.

use std::collections::BTreeMap;

use fuin_seal::SealError;
use fuin_seal::group::{ControlOutcome, GroupState, MemberStatus};
use fuin_wire::{
    ContentType, DeliveredRecord, DeviceAddress, FrameBody, GroupId, GroupWelcome,
    SenderKeyDistribution,
};

use crate::ClientError;
use crate::client::Client;
use crate::event::Event;
use crate::history::MessageStatus;
use crate::store::{Reader, StoredFranking};

use super::store::{Groups, HELD_DISTRIBUTION, HELD_MESSAGE, HELD_WELCOME, ReportExtra};
use super::{GroupChange, GroupWork, group_hex};

fn change_of(outcome: &ControlOutcome) -> Option<GroupChange> {
    Some(match outcome {
        ControlOutcome::Added(devices) => GroupChange::Added(devices.clone()),
        ControlOutcome::Removed(devices) => GroupChange::Removed(devices.clone()),
        ControlOutcome::Left => GroupChange::Left,
        ControlOutcome::ConsentShared => GroupChange::ConsentShared,
        ControlOutcome::RemovedThisDevice => GroupChange::RemovedThisDevice,
        ControlOutcome::AlreadyApplied => return None,
    })
}

/// Whether a group error means "too early": the delivery is kept.
fn is_early(err: &SealError) -> bool {
    matches!(
        err,
        SealError::FutureEpoch { .. } | SealError::MissingSenderKey
    )
}

/// What a welcome of `epoch` is to a device that holds the group already.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WelcomeUse {
    /// It was removed (or left) before `epoch`: it rejoins.
    Join,
    /// A member of an earlier epoch: it keeps the welcome until it learns
    /// of its removal (the control may come later), then rejoins.
    Later,
    /// Joined already, or a welcome of an epoch it has been past.
    Ignore,
}

fn welcome_use(state: &GroupState, epoch: u64) -> WelcomeUse {
    if epoch <= state.epoch() {
        WelcomeUse::Ignore
    } else if state.status() == MemberStatus::Member {
        WelcomeUse::Later
    } else {
        WelcomeUse::Join
    }
}

/// What handling one group delivery came to.
enum Handled {
    /// It must wait for something that has not arrived.
    Early,
    /// Done with (stored, applied, or dropped with an event); the group's
    /// state may have changed.
    Done,
}

impl Client {
    /// A delivery of content kind `GroupMessage`.
    pub(crate) fn receive_group_record(
        &self,
        db: Reader<'_>,
        record: &DeliveredRecord<'_>,
        now: u64,
        work: &mut GroupWork<'_>,
    ) -> Result<(), ClientError> {
        let from = record.sender.clone().into_owned();
        let group_id =
            match fuin_wire::GroupMessage::from_bytes(record.envelope.sealed_body.as_bytes()) {
                Ok(message) => message.group_id,
                Err(err) => {
                    self.group_drop(work, &from, None, &SealError::from(err));
                    return Ok(());
                }
            };
        let groups = Groups { db };
        match self.handle_group_message(groups.db, &group_id, record, now, work)? {
            Handled::Early => self.hold_or_drop(
                &groups,
                &group_id,
                HELD_MESSAGE,
                &from,
                &record.to_bytes()?,
                now,
                work,
            ),
            Handled::Done => self.retry_held(db, &group_id, now, work),
        }
    }

    /// A 1:1 message of content type `SenderKeyDistribution`,
    /// `GroupWelcome` or `SenderKeyRequest` from `from`.
    pub(crate) fn receive_group_direct(
        &self,
        db: Reader<'_>,
        from: &DeviceAddress<'static>,
        content_type: ContentType,
        body: &[u8],
        now: u64,
        work: &mut GroupWork<'_>,
    ) -> Result<(), ClientError> {
        let groups = Groups { db };
        if content_type == ContentType::SenderKeyRequest {
            return self.answer_key_request(db, from, body, now, work);
        }
        if content_type != ContentType::SenderKeyDistribution {
            let welcome = match GroupWelcome::from_bytes(body) {
                Ok(welcome) => welcome,
                Err(err) => {
                    self.group_drop(work, from, None, &SealError::from(err));
                    return Ok(());
                }
            };
            let group_id = welcome.group_id;
            if let Some(held) = groups.load(&group_id)?
                && welcome_use(&held, welcome.epoch) == WelcomeUse::Ignore
            {
                // Joined already (a repeated welcome), or a welcome of an
                // epoch this device has been past (a replayed old one).
                return Ok(());
            }
            // Pages wait together until all have come.
            self.hold_or_drop(&groups, &group_id, HELD_WELCOME, from, body, now, work)?;
            return self.retry_held(db, &group_id, now, work);
        }
        let group_id = match SenderKeyDistribution::from_bytes(body) {
            Ok(distribution) => distribution.group_id,
            Err(err) => {
                self.group_drop(work, from, None, &SealError::from(err));
                return Ok(());
            }
        };
        match self.handle_distribution(db, &group_id, from, body, work)? {
            Handled::Early => {
                self.hold_or_drop(&groups, &group_id, HELD_DISTRIBUTION, from, body, now, work)
            }
            Handled::Done => self.retry_held(db, &group_id, now, work),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn hold_or_drop(
        &self,
        groups: &Groups<'_>,
        id: &GroupId,
        kind: i64,
        from: &DeviceAddress<'static>,
        payload: &[u8],
        now: u64,
        work: &mut GroupWork<'_>,
    ) -> Result<(), ClientError> {
        if !groups.hold(id, kind, from, payload, now)? {
            work.dropped += 1;
            work.events.push(Event::MessageDropped {
                from: from.clone(),
                reason: format!(
                    "group {}: too many deliveries are waiting for keys",
                    group_hex(id)
                ),
            });
        }
        Ok(())
    }

    fn group_drop(
        &self,
        work: &mut GroupWork<'_>,
        from: &DeviceAddress<'static>,
        group: Option<&GroupId>,
        err: &SealError,
    ) {
        work.dropped += 1;
        let reason = match group {
            Some(group) => format!("group {}: {err}", group_hex(group)),
            None => format!("group delivery: {err}"),
        };
        work.events.push(Event::MessageDropped {
            from: from.clone(),
            reason,
        });
    }

    /// Tries the group's held deliveries again until a pass over them makes
    /// no progress. One pass goes on after a delivery is handled (so the
    /// messages waiting for one distribution all open in that pass), and the
    /// passes are as many as the held deliveries' chain of dependencies is
    /// deep (a distribution, then the epochs), not one per delivery; only a
    /// join re-reads the list at once, as it consumes every welcome page.
    fn retry_held(
        &self,
        db: Reader<'_>,
        id: &GroupId,
        now: u64,
        work: &mut GroupWork<'_>,
    ) -> Result<(), ClientError> {
        let groups = Groups { db };
        loop {
            let mut progressed = false;
            for (row, kind, from, payload) in groups.held(id)? {
                let handled = match kind {
                    HELD_MESSAGE => match DeliveredRecord::from_bytes(&payload) {
                        Ok(record) => self.handle_group_message(db, id, &record, now, work)?,
                        Err(_) => Handled::Done,
                    },
                    HELD_DISTRIBUTION => self.handle_distribution(db, id, &from, &payload, work)?,
                    _ => self.try_join(db, id, now, work)?,
                };
                if let Handled::Done = handled {
                    if kind == HELD_WELCOME {
                        // Joining consumed (or refused) every page.
                        for (other, other_kind, _, _) in groups.held(id)? {
                            if other_kind == HELD_WELCOME {
                                groups.release(other)?;
                            }
                        }
                        progressed = true;
                        break;
                    }
                    groups.release(row)?;
                    progressed = true;
                }
            }
            if !progressed {
                return Ok(());
            }
        }
    }

    /// Joins from the held welcome pages, once a full set of one epoch
    /// from one member is there. A device that was removed from the group
    /// (or left it) rejoins from a welcome of a later epoch than the one it
    /// was removed in; its state of the old epochs is replaced, so it reads
    /// what is sent from the new epoch on and nothing sent while it was out.
    fn try_join(
        &self,
        db: Reader<'_>,
        id: &GroupId,
        now: u64,
        work: &mut GroupWork<'_>,
    ) -> Result<Handled, ClientError> {
        let groups = Groups { db };
        let existing = groups.load(id)?;
        let held = groups.held(id)?;
        let mut sets: BTreeMap<(DeviceAddress<'static>, u64), Vec<Vec<u8>>> = BTreeMap::new();
        let mut any_later = false;
        for (_, kind, from, payload) in held {
            if kind != HELD_WELCOME {
                continue;
            }
            let Ok(page) = GroupWelcome::from_bytes(&payload) else {
                continue;
            };
            let usable = match &existing {
                None => WelcomeUse::Join,
                Some(state) => welcome_use(state, page.epoch),
            };
            match usable {
                WelcomeUse::Ignore => {}
                WelcomeUse::Later => any_later = true,
                WelcomeUse::Join => sets.entry((from, page.epoch)).or_default().push(payload),
            }
        }
        for ((inviter, _), pages) in sets {
            let decoded: Vec<GroupWelcome<'_>> = pages
                .iter()
                .filter_map(|page| GroupWelcome::from_bytes(page).ok())
                .collect();
            let Some(first) = decoded.first() else {
                continue;
            };
            if decoded.len() < first.page_count as usize {
                any_later = true;
                continue;
            }
            let Some(peer) = db.peer(&inviter)? else {
                continue;
            };
            match GroupState::join(
                &mut rand::rng(),
                self.inner.address.clone(),
                self.inner.identity.public().clone(),
                (&inviter, &peer.identity),
                &decoded,
            ) {
                Ok((state, distribution)) => {
                    groups.save(&state, now)?;
                    let others: Vec<_> = state.recipients().cloned().collect();
                    let bytes = zeroize::Zeroizing::new(distribution.to_bytes()?);
                    groups.enqueue_direct(
                        id,
                        ContentType::SenderKeyDistribution,
                        &others,
                        &bytes,
                        now,
                    )?;
                    groups.keep_own_distribution(id, distribution.epoch, &bytes)?;
                    work.events.push(Event::GroupChanged {
                        group: group_hex(id),
                        epoch: state.epoch(),
                        by: inviter.clone(),
                        change: GroupChange::Joined,
                    });
                    return Ok(Handled::Done);
                }
                Err(err) => {
                    self.group_drop(work, &inviter, Some(id), &err);
                    return Ok(Handled::Done);
                }
            }
        }
        if existing.is_some() && !any_later {
            // Every held page is of an epoch this device is past.
            return Ok(Handled::Done);
        }
        Ok(Handled::Early)
    }

    fn handle_distribution(
        &self,
        db: Reader<'_>,
        id: &GroupId,
        from: &DeviceAddress<'static>,
        body: &[u8],
        work: &mut GroupWork<'_>,
    ) -> Result<Handled, ClientError> {
        let groups = Groups { db };
        let Some(mut state) = groups.load(id)? else {
            return Ok(Handled::Early);
        };
        let distribution = match SenderKeyDistribution::from_bytes(body) {
            Ok(distribution) => distribution,
            Err(err) => {
                self.group_drop(work, from, Some(id), &SealError::from(err));
                return Ok(Handled::Done);
            }
        };
        if state.status() != MemberStatus::Member && distribution.epoch > state.epoch() {
            // A key of a later epoch than the one this device was removed
            // in: it may be re-added, and its welcome may come after this.
            return Ok(Handled::Early);
        }
        let Some(peer) = db.peer(from)? else {
            self.group_drop(work, from, Some(id), &SealError::IdentityMismatch);
            return Ok(Handled::Done);
        };
        match state.receive_distribution((from, &peer.identity), &distribution) {
            Ok(accepted) => {
                groups.key_arrived(id, from, accepted.epoch)?;
                if let fuin_seal::group::ViewStatus::Split = accepted.view {
                    work.events.push(Event::MessageDropped {
                        from: from.clone(),
                        reason: format!(
                            "group {}: members were given different keys (split view)",
                            group_hex(id)
                        ),
                    });
                }
                groups.save(&state, 0)?;
                Ok(Handled::Done)
            }
            Err(err) if is_early(&err) => Ok(Handled::Early),
            Err(err) => {
                self.group_drop(work, from, Some(id), &err);
                Ok(Handled::Done)
            }
        }
    }

    fn handle_group_message(
        &self,
        db: Reader<'_>,
        id: &GroupId,
        record: &DeliveredRecord<'_>,
        now: u64,
        work: &mut GroupWork<'_>,
    ) -> Result<Handled, ClientError> {
        let groups = Groups { db };
        let from = record.sender.clone().into_owned();
        let Some(mut state) = groups.load(id)? else {
            return Ok(Handled::Early);
        };
        let opened = match state.open(record, now) {
            Ok(opened) => opened,
            Err(SealError::MissingSenderKey) => {
                // The sender's chain of that epoch has not come: noted, so
                // that the app is told and the sender asked once the whole
                // sync is through (the key may still be in it).
                if let Ok(message) =
                    fuin_wire::GroupMessage::from_bytes(record.envelope.sealed_body.as_bytes())
                {
                    groups.note_missing_key(id, &from, message.epoch)?;
                }
                return Ok(Handled::Early);
            }
            Err(err) if is_early(&err) => return Ok(Handled::Early),
            Err(err) => {
                self.group_drop(work, &from, Some(id), &err);
                return Ok(Handled::Done);
            }
        };
        if let Some(missing) = &opened.gap.missing {
            work.events.push(Event::MessagesMissing {
                from: from.clone(),
                sequences: missing.clone(),
            });
        }
        match opened.content.content_type {
            ContentType::Text | ContentType::Attachment => {
                if opened.content.content_type == ContentType::Attachment {
                    // A share whose reference does not fit this message (its
                    // owner is not the sending device, or it names another
                    // conversation than this group) is not this message's.
                    if let Err(reason) = crate::attachment::check_incoming(
                        opened.content.body.as_bytes(),
                        &from,
                        &fuin_seal::ConversationId::group(id),
                    ) {
                        groups.save(&state, now)?;
                        work.dropped += 1;
                        work.events.push(Event::MessageDropped {
                            from: from.clone(),
                            reason: format!("group {}: {reason}", group_hex(id)),
                        });
                        return Ok(Handled::Done);
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
                let extra = ReportExtra {
                    sealed_body: record.envelope.sealed_body.as_bytes().to_vec(),
                    membership_hash: opened.membership_hash.0,
                    chain_signing_key: opened.sender_signing_key.0,
                };
                groups.save(&state, now)?;
                let inserted = groups.insert_message(
                    id,
                    &from,
                    opened.content.message_id.as_bytes(),
                    from.user == self.inner.address.user,
                    opened.epoch,
                    opened.content.content_type,
                    opened.content.body.as_bytes(),
                    opened.content.sent_at_ms,
                    Some(opened.franking.server_time_ms),
                    MessageStatus::Unread,
                    Some((&franking, &extra)),
                    now,
                )?;
                if let Some(local_id) = inserted {
                    work.messages += 1;
                    work.events.push(Event::GroupMessageReceived {
                        group: group_hex(id),
                        local_id,
                        from,
                    });
                }
                Ok(Handled::Done)
            }
            ContentType::GroupControl => {
                let control = match opened.control() {
                    Some(Ok(control)) => control.into_owned(),
                    Some(Err(err)) => {
                        groups.save(&state, now)?;
                        self.group_drop(work, &from, Some(id), &err);
                        return Ok(Handled::Done);
                    }
                    None => return Ok(Handled::Done),
                };
                // The control is applied on top of the opened state; if it
                // is too early, neither is kept and the message waits.
                match state.apply_control(&mut rand::rng(), &control, now) {
                    Ok(applied) => {
                        groups.save(&state, now)?;
                        if let Some(distribution) = &applied.distribution {
                            let bytes = zeroize::Zeroizing::new(distribution.to_bytes()?);
                            groups.enqueue_direct(
                                id,
                                ContentType::SenderKeyDistribution,
                                &applied.distribute_to,
                                &bytes,
                                now,
                            )?;
                            groups.keep_own_distribution(id, distribution.epoch, &bytes)?;
                        }
                        if let Some(change) = change_of(&applied.outcome) {
                            work.events.push(Event::GroupChanged {
                                group: group_hex(id),
                                epoch: state.epoch(),
                                by: applied.actor.clone(),
                                change,
                            });
                        }
                        Ok(Handled::Done)
                    }
                    Err(err) if is_early(&err) => Ok(Handled::Early),
                    Err(err) => {
                        groups.save(&state, now)?;
                        self.group_drop(work, &from, Some(id), &err);
                        Ok(Handled::Done)
                    }
                }
            }
            // Group receipts are not used by this client; the chain moves on.
            _ => {
                groups.save(&state, now)?;
                Ok(Handled::Done)
            }
        }
    }
}
