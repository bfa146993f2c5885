//! Reports: the franking opening of a message, preparing and submitting reports.

use fuin_report::{
    FrankingKeyBytes, ModerationPublicKey, ReportBuilder, ReportError, ReportedMessage,
};
use fuin_wire::Opaque;
use fuin_wire::relay::ReportAccepted;

use crate::ClientError;
use crate::store::StoredFranking;

use super::{Client, now_ms, user_id};

/// A report that cannot be built or sealed: the caller's selection, reason
/// or moderation key is at fault.
fn report_error(err: ReportError) -> ClientError {
    ClientError::InvalidArgument(match err {
        ReportError::WeakPublicKey => "the moderation key is not usable (small order)".to_owned(),
        other => other.to_string(),
    })
}

impl Client {
    /// What a report of a received message needs: its franking key and the
    /// relay's stamp with the routing it covers. `None` for messages this
    /// device sent itself (the relay stamps only what it delivers).
    ///
    /// Cancel safety: [`Client`](crate::Client#cancel-safety).
    pub async fn franking_opening(
        &self,
        local_id: i64,
    ) -> Result<Option<StoredFranking>, ClientError> {
        let state = self.inner.state.lock().await;
        state.store.reader().franking(local_id)
    }

    /// Prepares a report of exactly the messages `local_ids` (received
    /// messages of one conversation, in the order given) for `reason`.
    /// Nothing is sent and nothing is stored: show the user
    /// [`ReportBuilder::preview`], which is exactly what would leave the
    /// device, and send it with [`Client::submit_report`] once they confirm.
    ///
    /// Refused ([`ClientError::InvalidArgument`]): no messages, more than
    /// [`fuin_report::MAX_REPORTED_MESSAGES`], an unknown local id, a
    /// message this device sent (it has no relay stamp), messages of
    /// different conversations, a message listed twice, and a reason that is
    /// empty, over 1,024 bytes or holds control characters.
    ///
    /// Cancel safety: [`Client`](crate::Client#cancel-safety).
    pub async fn report(
        &self,
        reason: &str,
        local_ids: &[i64],
    ) -> Result<ReportBuilder, ClientError> {
        if local_ids.is_empty() {
            return Err(ClientError::InvalidArgument(
                "select at least one message to report".into(),
            ));
        }
        if local_ids.len() > fuin_report::MAX_REPORTED_MESSAGES {
            return Err(report_error(ReportError::LimitExceeded {
                field: "messages",
                len: local_ids.len(),
                max: fuin_report::MAX_REPORTED_MESSAGES,
            }));
        }
        let mut peer: Option<String> = None;
        let mut messages = Vec::with_capacity(local_ids.len());
        {
            let state = self.inner.state.lock().await;
            let db = state.store.reader();
            for &local_id in local_ids {
                let unknown =
                    || ClientError::InvalidArgument(format!("there is no message {local_id}"));
                let message = db.message(local_id)?.ok_or_else(unknown)?;
                let franking = db.franking(local_id)?.ok_or_else(|| {
                    ClientError::InvalidArgument(format!(
                        "message {local_id} was sent by this device; only received messages \
                         can be reported"
                    ))
                })?;
                let body = db.message_body(local_id)?.ok_or_else(unknown)?;
                match &peer {
                    Some(peer) if *peer != message.conversation => {
                        return Err(ClientError::InvalidArgument(
                            "the messages of one report must be from one conversation".into(),
                        ));
                    }
                    Some(_) => {}
                    None => peer = Some(message.conversation.clone()),
                }
                messages.push(ReportedMessage {
                    sender: franking.sender.clone(),
                    recipient: franking.recipient.clone(),
                    message_id: message.id,
                    content_type: message.content_type,
                    body: Opaque::from(body.to_vec()),
                    franking_key: FrankingKeyBytes::new(&franking.franking_key.0),
                    commitment: franking.commitment,
                    stamp: franking.stamp,
                    stamp_key_id: franking.stamp_key_id,
                    server_time_ms: franking.server_time_ms,
                    server_message_id: franking.server_message_id,
                });
            }
        }
        let peer = user_id(peer.as_deref().unwrap_or_default())?;
        ReportBuilder::new(
            self.inner.address.clone(),
            self.identity().clone(),
            peer,
            reason,
            now_ms(),
            messages,
        )
        .map_err(report_error)
    }

    /// Seals `report` (made by [`Client::report`] on this device) to the
    /// moderation service's key, with a fresh ephemeral key, and submits it
    /// to the relay's report inbox. Returns the relay's report id and time
    /// of receipt. Nothing is stored on the device.
    ///
    /// Cancel safety: [`Client`](crate::Client#cancel-safety).
    pub async fn submit_report(
        &self,
        report: &ReportBuilder,
        moderation_key: &ModerationPublicKey,
    ) -> Result<ReportAccepted, ClientError> {
        if report.content().reporter != self.inner.address {
            return Err(ClientError::InvalidArgument(
                "the report was made on another device".into(),
            ));
        }
        let frame = report
            .seal(&mut rand::rng(), moderation_key)
            .map_err(report_error)?;
        self.ensure_registered().await?;
        let relay = &self.inner.relay;
        let frame = &frame;
        self.authed(|token| async move { relay.submit_report(&token, frame).await })
            .await
    }
}
