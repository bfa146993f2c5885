//! Group conversations in the SDK (`spec/client.md` §12): creating a group,
//! adding and removing members, leaving, sending, receiving and the
//! history, on top of `fuin_seal::group` and the relay's fan-out.
//!
//! - Each group's [`GroupState`] is kept encrypted in the local store and
//!   changed only inside the transaction that stores what caused the change.
//! - Everything a group operation must send (the fan-out of a group message,
//!   welcomes and sender-key distributions over 1:1 sessions) is first
//!   written to the `group_outbox` in that same transaction, then posted in
//!   order; a crash in between posts it later, never loses it.
//! - A group message or distribution that arrives before what it depends on
//!   (`FutureEpoch`, `MissingSenderKey`, a group not joined yet) is kept
//!   encrypted in `group_held` and tried again whenever that group's state
//!   changes. Anything else that fails is dropped with an
//!   [`Event::MessageDropped`] naming the group and the reason.

mod devices;
mod key_requests;
mod outbox;
mod pages;
mod receive;
mod report;
mod store;

pub(crate) use self::pages::{group_entry, group_searchable, unread_in_groups};
pub(crate) use self::store::{GROUP_SCHEMA, upgrade_group_schema};

use fuin_seal::group::{ChangeRequest, GroupState, MemberStatus};
use fuin_wire::{ContentType, DeviceAddress, FrameBody, GroupId, GroupMember};

use crate::client::{Client, State, commit, now_ms, user_id};
use crate::event::Event;
use crate::history::MessageStatus;
use crate::store::Reader;
use crate::{ClientError, SentMessage};

use self::store::Groups;

/// A group as this device holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupInfo {
    /// The group id, 64 hex digits.
    pub id: String,
    /// The current epoch.
    pub epoch: u64,
    /// Whether this device is still a member.
    pub status: GroupStatus,
    /// The member devices of the current epoch, in canonical order.
    pub members: Vec<DeviceAddress<'static>>,
}

/// Whether this device still belongs to a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupStatus {
    /// A member of the current epoch.
    Member,
    /// Removed by another member: it keeps what it received before.
    Removed,
    /// It left.
    Left,
}

/// What changed in a group (see [`Event::GroupChanged`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupChange {
    /// This device joined, welcomed by `by`.
    Joined,
    /// Devices were added.
    Added(Vec<DeviceAddress<'static>>),
    /// Devices were removed.
    Removed(Vec<DeviceAddress<'static>>),
    /// `by` left.
    Left,
    /// This device was removed: it reads nothing of later epochs.
    RemovedThisDevice,
    /// A new audience consent was shared.
    ConsentShared,
}

/// One message (a text or an attachment) of a group's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupEntry {
    /// The local id.
    pub local_id: i64,
    /// The group id, 64 hex digits.
    pub group: String,
    /// The sending device.
    pub sender: DeviceAddress<'static>,
    /// Whether this user sent it (from this device or another).
    pub outgoing: bool,
    /// The epoch it was sent in.
    pub epoch: u64,
    /// `Text` or `Attachment`.
    pub content_type: ContentType,
    /// The text (lossy for invalid UTF-8), or for an attachment a one-line
    /// description (its name, media type and sealed size).
    pub text: String,
    /// The sender's clock, ms since the Unix epoch.
    pub sent_at_ms: u64,
    /// `Queued`, `Sent` or `Failed` for outgoing, `Unread` for received.
    pub status: MessageStatus,
}

/// Parses a group id given as 64 hex digits.
pub(crate) fn parse_group_id(group: &str) -> Result<GroupId, ClientError> {
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(group.trim(), &mut bytes)
        .map_err(|_| ClientError::InvalidArgument(format!("{group:?} is not a group id")))?;
    Ok(GroupId(bytes))
}

fn group_hex(id: &GroupId) -> String {
    hex::encode(id.as_bytes())
}

fn info(state: &GroupState) -> GroupInfo {
    GroupInfo {
        id: group_hex(state.group_id()),
        epoch: state.epoch(),
        status: match state.status() {
            MemberStatus::Member => GroupStatus::Member,
            MemberStatus::Removed => GroupStatus::Removed,
            MemberStatus::Left => GroupStatus::Left,
        },
        members: state
            .membership()
            .members()
            .iter()
            .map(|member| member.address.clone())
            .collect(),
    }
}

/// What a sync collects while handling group deliveries.
pub(crate) struct GroupWork<'e> {
    pub events: &'e mut Vec<Event>,
    pub messages: usize,
    pub dropped: usize,
}

impl Client {
    /// Creates a group with every device of `users` and this user's other
    /// devices, sends each a welcome and this device's sender key, and
    /// returns it.
    ///
    /// Cancel safety: [`Client`](crate::Client#cancel-safety).
    pub async fn create_group(&self, users: &[&str]) -> Result<GroupInfo, ClientError> {
        self.ensure_registered().await?;
        let mut state = self.inner.state.lock().await;
        let mut members = self.members_of(&mut state, users).await?;
        if members.is_empty() {
            return Err(ClientError::InvalidArgument(
                "a group needs at least one other device".into(),
            ));
        }
        let own = self.inner.address.user.clone();
        if !users.iter().any(|u| *u == own.as_str()) {
            let own_devices = self.resolve_devices(&mut state, &own).await?;
            members.extend(
                own_devices
                    .into_iter()
                    .map(|(address, identity)| GroupMember { address, identity }),
            );
        }
        let now = now_ms();
        let (group, created) = GroupState::create(
            &mut rand::rng(),
            self.inner.address.clone(),
            self.inner.identity.public().clone(),
            members,
        )?;
        let id = *group.group_id();
        let others: Vec<_> = group.recipients().cloned().collect();
        {
            let (tx, key) = state.store.transaction()?;
            let groups = Groups {
                db: Reader::of(&tx, key),
            };
            groups.save(&group, now)?;
            for page in &created.welcome {
                groups.enqueue_direct(
                    &id,
                    ContentType::GroupWelcome,
                    &others,
                    &page.to_bytes()?,
                    now,
                )?;
            }
            let distribution = zeroize::Zeroizing::new(created.distribution.to_bytes()?);
            groups.enqueue_direct(
                &id,
                ContentType::SenderKeyDistribution,
                &others,
                &distribution,
                now,
            )?;
            groups.keep_own_distribution(&id, created.distribution.epoch, &distribution)?;
            commit(tx)?;
        }
        self.flush_group_outbox_lenient(&mut state).await?;
        Ok(info(&group))
    }

    /// Adds every device of `users` to the group.
    ///
    /// Cancel safety: [`Client`](crate::Client#cancel-safety).
    pub async fn add_group_members(
        &self,
        group: &str,
        users: &[&str],
    ) -> Result<GroupInfo, ClientError> {
        let id = parse_group_id(group)?;
        self.ensure_registered().await?;
        let mut state = self.inner.state.lock().await;
        let current = self.group_state(&state, &id)?;
        let members: Vec<_> = self
            .members_of(&mut state, users)
            .await?
            .into_iter()
            .filter(|member| !current.membership().contains(&member.address))
            .collect();
        if members.is_empty() {
            return Err(ClientError::InvalidArgument(
                "every device of those users is a member already".into(),
            ));
        }
        self.change_group(&mut state, &id, ChangeRequest::Add(members))
            .await
    }

    /// Removes every device of `users` from the group.
    ///
    /// Cancel safety: [`Client`](crate::Client#cancel-safety).
    pub async fn remove_group_members(
        &self,
        group: &str,
        users: &[&str],
    ) -> Result<GroupInfo, ClientError> {
        let id = parse_group_id(group)?;
        self.ensure_registered().await?;
        let mut state = self.inner.state.lock().await;
        let current = self.group_state(&state, &id)?;
        let mut removed = Vec::new();
        for user in users {
            let user = user_id(user)?;
            removed.extend(
                current
                    .membership()
                    .members()
                    .iter()
                    .filter(|member| member.address.user == user)
                    .map(|member| member.address.clone()),
            );
        }
        if removed.is_empty() {
            return Err(ClientError::InvalidArgument(
                "none of those users is a member".into(),
            ));
        }
        self.change_group(&mut state, &id, ChangeRequest::Remove(removed))
            .await
    }

    /// Leaves the group: this device stops sending and receives nothing of
    /// later epochs.
    ///
    /// Cancel safety: [`Client`](crate::Client#cancel-safety).
    pub async fn leave_group(&self, group: &str) -> Result<GroupInfo, ClientError> {
        let id = parse_group_id(group)?;
        self.ensure_registered().await?;
        let mut state = self.inner.state.lock().await;
        self.change_group(&mut state, &id, ChangeRequest::Leave)
            .await
    }

    /// Sends a text to every other member device of the group's current
    /// epoch, in one fan-out.
    ///
    /// Cancel safety: [`Client`](crate::Client#cancel-safety).
    pub async fn send_group_text(
        &self,
        group: &str,
        text: &str,
    ) -> Result<SentMessage, ClientError> {
        if text.is_empty() {
            return Err(ClientError::InvalidArgument("a message needs text".into()));
        }
        let id = parse_group_id(group)?;
        self.send_group_content(&id, ContentType::Text, text.as_bytes())
            .await
    }

    /// Whether this device may send in the group now (it holds it and is
    /// a member of its current epoch).
    pub(crate) async fn check_group_member(&self, id: &GroupId) -> Result<(), ClientError> {
        let state = self.inner.state.lock().await;
        let current = self.group_state(&state, id)?;
        if info(&current).status != GroupStatus::Member {
            return Err(ClientError::InvalidArgument(format!(
                "this device is no longer a member of group {}",
                group_hex(id)
            )));
        }
        Ok(())
    }

    /// The groups this device holds, member or not.
    ///
    /// Cancel safety: [`Client`](crate::Client#cancel-safety).
    pub async fn groups(&self) -> Result<Vec<GroupInfo>, ClientError> {
        let state = self.inner.state.lock().await;
        let groups = Groups {
            db: state.store.reader(),
        };
        Ok(groups.all()?.iter().map(info).collect())
    }

    /// The group's `limit` most recent texts, oldest first, ordered by the
    /// senders' clocks.
    ///
    /// Cancel safety: [`Client`](crate::Client#cancel-safety).
    pub async fn group_history(
        &self,
        group: &str,
        limit: usize,
    ) -> Result<Vec<GroupEntry>, ClientError> {
        let id = parse_group_id(group)?;
        let state = self.inner.state.lock().await;
        self.group_state(&state, &id)?;
        self.group_history_in(&state, &id, limit)
    }

    fn group_history_in(
        &self,
        state: &State,
        id: &GroupId,
        limit: usize,
    ) -> Result<Vec<GroupEntry>, ClientError> {
        Groups {
            db: state.store.reader(),
        }
        .history(id, limit)
    }

    pub(crate) fn group_state(
        &self,
        state: &State,
        id: &GroupId,
    ) -> Result<GroupState, ClientError> {
        Groups {
            db: state.store.reader(),
        }
        .load(id)?
        .ok_or_else(|| ClientError::InvalidArgument(format!("no group {}", group_hex(id))))
    }

    /// Every device of `users` (not this one), as group members.
    async fn members_of(
        &self,
        state: &mut State,
        users: &[&str],
    ) -> Result<Vec<GroupMember<'static>>, ClientError> {
        let mut members: Vec<GroupMember<'static>> = Vec::new();
        for user in users {
            let user = user_id(user)?;
            let devices = self.resolve_devices(state, &user).await?;
            if devices.is_empty() && user != self.inner.address.user {
                return Err(ClientError::UnknownUser {
                    user: user.as_str().to_owned(),
                });
            }
            for (address, identity) in devices {
                if !members.iter().any(|m| m.address == address) {
                    members.push(GroupMember { address, identity });
                }
            }
        }
        Ok(members)
    }

    pub(crate) async fn change_group(
        &self,
        state: &mut State,
        id: &GroupId,
        request: ChangeRequest,
    ) -> Result<GroupInfo, ClientError> {
        let now = now_ms();
        let current = {
            // Read, changed and written in one transaction (spec/client.md §1.1).
            let (tx, key) = state.store.transaction()?;
            let groups = Groups {
                db: Reader::of(&tx, key),
            };
            let mut current = groups.load(id)?.ok_or_else(|| {
                ClientError::InvalidArgument(format!("no group {}", group_hex(id)))
            })?;
            let sent = current.change(&mut rand::rng(), request, now)?;
            groups.save(&current, now)?;
            let recipients = devices::listed_recipients(groups.db, sent.recipients.iter())?;
            if !recipients.is_empty() {
                let frame = sent.message.send_frame(recipients).to_bytes()?;
                groups.enqueue_fan_out(id, &frame, None, now)?;
            }
            for page in &sent.welcome {
                groups.enqueue_direct(
                    id,
                    ContentType::GroupWelcome,
                    &sent.joiners,
                    &page.to_bytes()?,
                    now,
                )?;
            }
            if let Some(distribution) = &sent.distribution {
                let bytes = zeroize::Zeroizing::new(distribution.to_bytes()?);
                groups.enqueue_direct(
                    id,
                    ContentType::SenderKeyDistribution,
                    &sent.distribute_to,
                    &bytes,
                    now,
                )?;
                groups.keep_own_distribution(id, distribution.epoch, &bytes)?;
            }
            commit(tx)?;
            current
        };
        self.flush_group_outbox_lenient(state).await?;
        Ok(info(&current))
    }
}
