//! Receipts: sending them, marking read, and the receipts owed.

use std::collections::BTreeMap;

use fuin_wire::ContentType;

use crate::ClientError;
use crate::history::MessageStatus;
use crate::receipt::{MAX_RECEIPT_MESSAGES, ReceiptBody, ReceiptKind, ReceiptRef};
use crate::store::Reader;

use super::{Client, SentMessage, State, commit, user_id};

impl Client {
    /// Sends a receipt to `user` (and this user's other devices). Apps
    /// normally rely on the automatic delivery receipts and on
    /// [`Client::mark_read`]; this is for apps that track receipts
    /// themselves.
    ///
    /// Cancel safety: [`Client`](crate::Client#cancel-safety).
    pub async fn send_receipt(
        &self,
        user: &str,
        receipt: &ReceiptBody,
    ) -> Result<SentMessage, ClientError> {
        let peer = user_id(user)?;
        let body = receipt.to_bytes()?;
        self.ensure_registered().await?;
        let mut state = self.inner.state.lock().await;
        let sent = self
            .send_content(&mut state, &peer, ContentType::Receipt, &body, false, &[])
            .await?;
        self.offer_identifier_secret_after_send(&mut state).await;
        Ok(sent)
    }

    /// Marks every unread message of the conversation with `user` read,
    /// and sends read receipts (to the peer and this user's other devices).
    /// Returns how many messages it marked.
    ///
    /// Cancel safety: [`Client`](crate::Client#cancel-safety).
    pub async fn mark_read(&self, user: &str) -> Result<usize, ClientError> {
        let peer = user_id(user)?;
        let mut state = self.inner.state.lock().await;
        let unread = state.store.reader().unread(&peer)?;
        {
            let (tx, key) = state.store.transaction()?;
            let db = Reader::of(&tx, key);
            for (local, _, _) in &unread {
                db.set_status(*local, MessageStatus::Read, None)?;
                db.set_receipt_owed(*local, 2)?;
            }
            commit(tx)?;
        }
        match self.send_owed_receipts(&mut state).await {
            Ok(()) => {}
            Err(err) if err.is_transient() => {}
            Err(err) => return Err(err),
        }
        Ok(unread.len())
    }

    /// Sends the receipts this device owes, one receipt per conversation
    /// and kind.
    pub(super) async fn send_owed_receipts(&self, state: &mut State) -> Result<(), ClientError> {
        loop {
            let owed = state.store.reader().owed_receipts(1024)?;
            if owed.is_empty() {
                return Ok(());
            }
            let mut groups: BTreeMap<(String, i64), Vec<(i64, ReceiptRef)>> = BTreeMap::new();
            for (conversation, local, device, id, kind) in owed {
                groups.entry((conversation, kind)).or_default().push((
                    local,
                    ReceiptRef {
                        sender_device: device,
                        message_id: id,
                    },
                ));
            }
            for ((conversation, kind), refs) in groups {
                let peer = user_id(&conversation)?;
                for chunk in refs.chunks(MAX_RECEIPT_MESSAGES) {
                    let body = ReceiptBody {
                        kind: if kind == 2 {
                            ReceiptKind::Read
                        } else {
                            ReceiptKind::Delivered
                        },
                        messages: chunk.iter().map(|(_, r)| *r).collect(),
                    }
                    .to_bytes()?;
                    let locals: Vec<i64> = chunk.iter().map(|(local, _)| *local).collect();
                    match self
                        .send_content(state, &peer, ContentType::Receipt, &body, false, &locals)
                        .await
                    {
                        Ok(_) => {}
                        // A peer that cannot be reached now keeps its receipts owed;
                        // a peer that is gone or changed gets none.
                        Err(err) if err.is_transient() => return Err(err),
                        Err(_) => {
                            let (tx, key) = state.store.transaction()?;
                            let db = Reader::of(&tx, key);
                            for local in &locals {
                                db.set_receipt_owed(*local, 0)?;
                            }
                            commit(tx)?;
                        }
                    }
                }
            }
        }
    }
}
