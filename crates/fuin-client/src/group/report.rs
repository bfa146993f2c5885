//! Group reports: preparing and submitting them, and the stored message they read.

use fuin_report::{FrankingKeyBytes, GroupReportBuilder, GroupReportedMessage, ReportedMessage};
use fuin_wire::{GroupId, Opaque};

use crate::ClientError;
use crate::client::{Client, now_ms};

use super::store::{Groups, ReportSource};

impl Client {
    /// Builds a report of exactly the listed received group messages (texts
    /// or attachment shares, all of
    /// one group, at most 25, none twice) for the app to preview
    /// (`spec/client.md` §12, `spec/report.md` §12). Nothing is sent.
    ///
    /// Cancel safety: [`Client`](crate::Client#cancel-safety).
    pub async fn report_group(
        &self,
        reason: &str,
        local_ids: &[i64],
    ) -> Result<GroupReportBuilder, ClientError> {
        if local_ids.is_empty() {
            return Err(ClientError::InvalidArgument(
                "select at least one message to report".into(),
            ));
        }
        let mut group: Option<GroupId> = None;
        let mut messages = Vec::with_capacity(local_ids.len());
        {
            let state = self.inner.state.lock().await;
            let groups = Groups {
                db: state.store.reader(),
            };
            for &local_id in local_ids {
                let source = groups.reported(local_id)?.ok_or_else(|| {
                    ClientError::InvalidArgument(format!("there is no group message {local_id}"))
                })?;
                let Some((franking, extra)) = source.opened else {
                    return Err(ClientError::InvalidArgument(format!(
                        "group message {local_id} was sent by this device; only received \
                         messages can be reported"
                    )));
                };
                match group {
                    Some(group) if group != source.group => {
                        return Err(ClientError::InvalidArgument(
                            "the messages of one report must be from one group".into(),
                        ));
                    }
                    _ => group = Some(source.group),
                }
                let message_id = <[u8; 16]>::try_from(source.message_id.as_slice())
                    .map_err(|_| ClientError::Storage("a stored message id".into()))?;
                messages.push(GroupReportedMessage {
                    message: ReportedMessage {
                        sender: franking.sender.clone(),
                        recipient: franking.recipient.clone(),
                        message_id: fuin_wire::ClientMessageId(message_id),
                        content_type: source.content_type,
                        body: Opaque::from(source.body),
                        franking_key: FrankingKeyBytes::new(&franking.franking_key.0),
                        commitment: franking.commitment,
                        stamp: franking.stamp,
                        stamp_key_id: franking.stamp_key_id,
                        server_time_ms: franking.server_time_ms,
                        server_message_id: franking.server_message_id,
                    },
                    sealed_body: Opaque::from(extra.sealed_body),
                    membership_hash: fuin_wire::MembershipHash(extra.membership_hash),
                    chain_signing_key: fuin_wire::Ed25519PublicKey(extra.chain_signing_key),
                });
            }
        }
        let group = group.ok_or_else(|| ClientError::InvalidArgument("no message".into()))?;
        GroupReportBuilder::new(
            self.inner.address.clone(),
            self.inner.identity.public().clone(),
            group,
            reason,
            now_ms(),
            messages,
        )
        .map_err(|err| ClientError::InvalidArgument(err.to_string()))
    }

    /// Seals a group report made on this device to the moderation
    /// service's key and submits it to the relay's report inbox.
    ///
    /// Cancel safety: [`Client`](crate::Client#cancel-safety).
    pub async fn submit_group_report(
        &self,
        report: &GroupReportBuilder,
        moderation_key: &fuin_report::ModerationPublicKey,
    ) -> Result<fuin_wire::relay::ReportAccepted, ClientError> {
        if report.content().reporter != self.inner.address {
            return Err(ClientError::InvalidArgument(
                "the report was made on another device".into(),
            ));
        }
        let frame = report
            .seal(&mut rand::rng(), moderation_key)
            .map_err(|err| ClientError::InvalidArgument(err.to_string()))?;
        self.ensure_registered().await?;
        let relay = &self.inner.relay;
        let frame = &frame;
        self.authed(|token| async move { relay.submit_report(&token, frame).await })
            .await
    }

    /// The stored group message `local_id`, if there is one.
    pub(crate) async fn group_message_source(
        &self,
        local_id: i64,
    ) -> Result<Option<ReportSource>, ClientError> {
        let state = self.inner.state.lock().await;
        Groups {
            db: state.store.reader(),
        }
        .reported(local_id)
    }
}
