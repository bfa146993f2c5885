//! Sending in groups: sealing a group message and posting the group outbox.

use fuin_wire::{ContentType, DeviceAddress, FrameBody, GroupId};

use crate::client::{Client, State, commit, now_ms, user_id};
use crate::event::Event;
use crate::history::MessageStatus;
use crate::store::Reader;
use crate::{ClientError, SentMessage};

use super::store::{Groups, OUT_FAN_OUT};

impl Client {
    /// Seals `body` of `content_type` (`Text` or `Attachment`) for the
    /// group's current epoch, stores it in the history and fans it out.
    pub(crate) async fn send_group_content(
        &self,
        id: &GroupId,
        content_type: ContentType,
        body: &[u8],
    ) -> Result<SentMessage, ClientError> {
        let id = *id;
        self.ensure_registered().await?;
        let mut state = self.inner.state.lock().await;
        let now = now_ms();
        // The sender state is read, advanced and written back in one
        // transaction: another process on the store may have sealed with it
        // since this one last looked, and a chain key is used once.
        let (local_id, devices) = {
            let (tx, key) = state.store.transaction()?;
            let groups = Groups {
                db: Reader::of(&tx, key),
            };
            let mut current = groups.load(&id)?.ok_or_else(|| {
                ClientError::InvalidArgument(format!("no group {}", hex::encode(id.as_bytes())))
            })?;
            let sealed = current.seal(&mut rand::rng(), content_type, body, now)?;
            let recipients = super::devices::listed_recipients(groups.db, current.recipients())?;
            let devices = recipients.len();
            let frame = sealed.send_frame(recipients).to_bytes()?;
            groups.save(&current, now)?;
            let local_id = groups.insert_message(
                &id,
                &self.inner.address,
                sealed.message_id.as_bytes(),
                true,
                sealed.epoch,
                content_type,
                body,
                now,
                None,
                MessageStatus::Queued,
                None,
                now,
            )?;
            if devices > 0 {
                groups.enqueue_fan_out(&id, &frame, local_id, now)?;
            } else if let Some(local) = local_id {
                groups.set_status(local, MessageStatus::Sent, None)?;
            }
            commit(tx)?;
            (local_id, devices)
        };
        self.step(crate::Step::Queued);
        self.flush_group_outbox_lenient(&mut state).await?;
        let status = match local_id {
            Some(local) => self
                .group_history_in(&state, &id, usize::MAX)?
                .into_iter()
                .find(|entry| entry.local_id == local)
                .map_or(MessageStatus::Queued, |entry| entry.status),
            None => MessageStatus::Queued,
        };
        Ok(SentMessage {
            local_id: local_id.unwrap_or(0),
            status,
            devices,
        })
    }

    /// [`Client::flush_group_outbox`], where an unreachable relay only
    /// leaves the sends queued.
    pub(crate) async fn flush_group_outbox_lenient(
        &self,
        state: &mut State,
    ) -> Result<(), ClientError> {
        match self.flush_group_outbox(state).await {
            Err(err) if err.is_transient() => Ok(()),
            other => other,
        }
    }

    /// Posts every queued group send in order; stops at the first that
    /// cannot be posted now (a transient error).
    pub(crate) async fn flush_group_outbox(&self, state: &mut State) -> Result<(), ClientError> {
        loop {
            let Some((row, kind, content_type, user, devices, local_id, payload)) = Groups {
                db: state.store.reader(),
            }
            .next_queued()?
            else {
                return Ok(());
            };
            let outcome = if kind == OUT_FAN_OUT {
                let relay = &self.inner.relay;
                let payload = &payload;
                self.authed(|token| async move { relay.group_send(&token, payload).await })
                    .await
                    .map(|accepted| Some(accepted.server_time_ms))
            } else {
                let user = user_id(&user)?;
                let only: Vec<_> = devices
                    .iter()
                    .map(|device| DeviceAddress::new(user.clone(), *device))
                    .collect();
                let content_type = match content_type {
                    2 => ContentType::SenderKeyDistribution,
                    3 => ContentType::GroupWelcome,
                    7 => ContentType::SenderKeyRequest,
                    _ => return Err(ClientError::Storage("a queued group send's type".into())),
                };
                self.send_content_to(state, &user, content_type, &payload, &only)
                    .await
                    .map(|_| None)
            };
            let status = match outcome {
                Ok(time) => {
                    if kind == OUT_FAN_OUT {
                        self.step(crate::Step::Posted);
                    }
                    Some((MessageStatus::Sent, time))
                }
                Err(err) if err.is_transient() => return Err(err),
                // Refused for good (a 4xx, an identity change, a user gone):
                // the send is dropped, its message marked failed.
                Err(err) => {
                    self.emit(Event::MessageDropped {
                        from: self.inner.address.clone(),
                        reason: format!("a group send could not be made: {err}"),
                    });
                    Some((MessageStatus::Failed, None))
                }
            };
            let (tx, key) = state.store.transaction()?;
            let groups = Groups {
                db: Reader::of(&tx, key),
            };
            if let (Some(local), Some((status, time))) = (local_id, status) {
                groups.set_status(local, status, time)?;
            }
            groups.dequeue(row)?;
            commit(tx)?;
        }
    }
}
