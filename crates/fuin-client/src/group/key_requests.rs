//! Missing sender keys (`spec/groups.md` §9.4-§9.5): held deliveries that wait
//! too long are dropped with an event; a device whose group messages wait
//! for a sender's chain tells the app once and asks the sender for it
//! again, rate-limited; a member that is asked answers with its kept
//! distribution, to the asking device only and only if it is a member.

use fuin_wire::key_request::SenderKeyRequest;
use fuin_wire::{ContentType, DeviceAddress, GroupId};

use crate::ClientError;
use crate::client::{Client, State, commit, now_ms};
use crate::event::Event;
use crate::store::Reader;

use super::store::{Groups, KeyWait};
use super::{GroupWork, group_hex};

/// A held delivery older than this is dropped (7 days).
pub(crate) const MAX_HELD_AGE_MS: u64 = 7 * 24 * 60 * 60 * 1000;

/// A device asks one sender device for its key of one group at most once
/// in this time (10 minutes); a member answers one asking device of one
/// group at most once in it.
pub(crate) const KEY_REQUEST_INTERVAL_MS: u64 = 10 * 60 * 1000;

/// A device asks for one missing key at most this many times; after that
/// its messages wait until the key comes or they are too old.
pub(crate) const MAX_REQUESTS_PER_KEY: u64 = 6;

/// The most requests one sync sends, over all groups and senders.
pub(crate) const MAX_REQUESTS_PER_SYNC: usize = 8;

/// Whether a wait is due for a request at `now`.
fn request_due(wait: &KeyWait, now: u64) -> bool {
    wait.asked_count < MAX_REQUESTS_PER_KEY
        && wait
            .asked_at_ms
            .is_none_or(|at| now.saturating_sub(at) >= KEY_REQUEST_INTERVAL_MS)
}

impl Client {
    /// Drops held deliveries that are too old, tells the app of sender
    /// keys newly waited for, and queues the requests that are due (sent
    /// with the group outbox). Runs at the end of every sync.
    pub(crate) fn chase_missing_sender_keys(&self, state: &mut State) -> Result<(), ClientError> {
        let now = now_ms();
        let mut events = Vec::new();
        {
            let (tx, key) = state.store.transaction()?;
            let groups = Groups {
                db: Reader::of(&tx, key),
            };
            for (group, from, count) in groups.expire_held(now.saturating_sub(MAX_HELD_AGE_MS))? {
                events.push(Event::HeldDeliveriesDropped {
                    group: group_hex(&group),
                    from,
                    count,
                    reason: "they waited more than 7 days for what they depend on".into(),
                });
            }
            let mut budget = MAX_REQUESTS_PER_SYNC;
            for mut wait in groups.key_waits()? {
                if groups.held_messages_from(&wait.group, &wait.sender)? == 0 {
                    // Nothing waits any more (opened, or dropped as too old).
                    groups.update_key_wait(&wait, false)?;
                    continue;
                }
                if !wait.announced {
                    wait.announced = true;
                    events.push(Event::WaitingForSenderKey {
                        group: group_hex(&wait.group),
                        sender: wait.sender.clone(),
                        epoch: wait.epoch,
                    });
                }
                if budget > 0 && request_due(&wait, now) {
                    let request = SenderKeyRequest {
                        group_id: wait.group,
                        epoch: wait.epoch,
                    };
                    groups.enqueue_direct(
                        &wait.group,
                        ContentType::SenderKeyRequest,
                        std::slice::from_ref(&wait.sender),
                        &request.to_bytes()?,
                        now,
                    )?;
                    wait.asked_at_ms = Some(now);
                    wait.asked_count += 1;
                    budget -= 1;
                }
                groups.update_key_wait(&wait, true)?;
            }
            commit(tx)?;
        }
        for event in events {
            self.emit(event);
        }
        Ok(())
    }

    /// A 1:1 message of content type `SenderKeyRequest` from `from`: sends
    /// this device's kept distribution of the asked epoch back to `from`
    /// alone, if `from` is a member of it (with the identity its session
    /// authenticated) and this device is too; refuses anything else with
    /// an event, sending nothing.
    pub(super) fn answer_key_request(
        &self,
        db: Reader<'_>,
        from: &DeviceAddress<'static>,
        body: &[u8],
        now: u64,
        work: &mut GroupWork<'_>,
    ) -> Result<(), ClientError> {
        let groups = Groups { db };
        let request = match SenderKeyRequest::from_bytes(body) {
            Ok(request) => request,
            Err(err) => {
                refuse(
                    work,
                    from,
                    None,
                    &format!("an unreadable sender key request: {err}"),
                );
                return Ok(());
            }
        };
        let id = request.group_id;
        let Some(state) = groups.load(&id)? else {
            refuse(
                work,
                from,
                None,
                "a sender key request for a group this device is not in",
            );
            return Ok(());
        };
        if state.status() != fuin_seal::group::MemberStatus::Member {
            refuse(work, from, Some(&id), "this device is no longer a member");
            return Ok(());
        }
        if request.epoch != state.epoch() {
            refuse(
                work,
                from,
                Some(&id),
                &format!(
                    "the asked epoch {} is not the current one ({})",
                    request.epoch,
                    state.epoch()
                ),
            );
            return Ok(());
        }
        let identity = db.peer(from)?.map(|peer| peer.identity);
        let member = state.membership().identity_of(from);
        if *from == self.inner.address || member.is_none() || member != identity.as_ref() {
            refuse(work, from, Some(&id), "the asking device is not a member");
            return Ok(());
        }
        if groups
            .answered_at(&id, from)?
            .is_some_and(|at| now.saturating_sub(at) < KEY_REQUEST_INTERVAL_MS)
        {
            refuse(work, from, Some(&id), "it asked again too soon");
            return Ok(());
        }
        let Some(distribution) = groups.own_distribution(&id, request.epoch)? else {
            refuse(
                work,
                from,
                Some(&id),
                "this device kept no key of that epoch",
            );
            return Ok(());
        };
        groups.enqueue_direct(
            &id,
            ContentType::SenderKeyDistribution,
            std::slice::from_ref(from),
            &distribution,
            now,
        )?;
        groups.set_answered(&id, from, now)?;
        Ok(())
    }
}

fn refuse(
    work: &mut GroupWork<'_>,
    from: &DeviceAddress<'static>,
    group: Option<&GroupId>,
    why: &str,
) {
    work.dropped += 1;
    let reason = match group {
        Some(group) => format!(
            "group {}: a sender key request was refused: {why}",
            group_hex(group)
        ),
        None => format!("a sender key request was refused: {why}"),
    };
    work.events.push(Event::MessageDropped {
        from: from.clone(),
        reason,
    });
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn wait(asked_at_ms: Option<u64>, asked_count: u64) -> KeyWait {
        KeyWait {
            group: GroupId([1; 32]),
            sender: DeviceAddress::new(
                fuin_wire::UserId::new(String::from("carol")).unwrap(),
                fuin_wire::DeviceId(1),
            ),
            epoch: 0,
            announced: true,
            asked_at_ms,
            asked_count,
        }
    }

    #[test]
    fn a_key_is_asked_for_at_most_once_per_interval_and_a_bounded_number_of_times() {
        let start = 1_000_000;
        assert!(request_due(&wait(None, 0), start));
        assert!(!request_due(&wait(Some(start), 1), start));
        assert!(!request_due(
            &wait(Some(start), 1),
            start + KEY_REQUEST_INTERVAL_MS - 1
        ));
        assert!(request_due(
            &wait(Some(start), 1),
            start + KEY_REQUEST_INTERVAL_MS
        ));
        // A clock that went back does not make a request due.
        assert!(!request_due(&wait(Some(start), 1), start - 1));
        assert!(!request_due(
            &wait(Some(start), MAX_REQUESTS_PER_KEY),
            start + 100 * KEY_REQUEST_INTERVAL_MS
        ));
    }
}
