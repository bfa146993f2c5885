//! Receiving over the push stream: each pushed batch goes through the
//! receive path of [`Client::sync`] and is acknowledged on the stream.

use fuin_wire::FrameBody;
use fuin_wire::relay::{Acknowledgement, MAX_ACKNOWLEDGED, MailboxBatch};
use futures_util::SinkExt;
use tokio_tungstenite::tungstenite::Message;

use crate::{Client, ClientError, Step};

use super::socket::PushSocket;

impl Client {
    /// Opens and stores one pushed batch (one transaction), then
    /// acknowledges it on the stream. The stream does not answer an
    /// acknowledgement, so the deliveries stay marked processed until an
    /// HTTP acknowledgement confirms them ([`Client::housekeeping`], the
    /// next catch-up): one the relay pushes again meanwhile is acknowledged
    /// again, never opened twice.
    pub(crate) async fn receive_pushed(
        &self,
        batch: MailboxBatch<'static>,
        socket: &mut PushSocket,
    ) -> Result<(), ClientError> {
        {
            let mut state = self.inner.state.lock().await;
            let prekeys_low = batch.prekeys_low;
            let (_, ids) = self.receive_batch(&mut state, batch).await?;
            for chunk in ids.chunks(MAX_ACKNOWLEDGED) {
                let ack = Acknowledgement {
                    message_ids: chunk.to_vec().into(),
                };
                socket
                    .send(Message::Binary(ack.to_bytes()?.into()))
                    .await
                    .map_err(|err| ClientError::Unreachable(format!("push stream: {err}")))?;
            }
            self.step(Step::Acknowledged);
            if prekeys_low {
                self.replenish_prekeys(&mut state).await?;
            }
        }
        self.after_receiving().await
    }
}
