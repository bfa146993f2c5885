//! Work background work does at every tick, whatever the connection.

use crate::{Client, ClientError};

impl Client {
    /// Periodic upkeep, run by background work at every tick (and safe to
    /// call from the app): confirms over HTTP what the push stream
    /// acknowledged, so that those deliveries' processed marks can go, and
    /// deletes the disappearing messages whose time is up. Queued sends are
    /// retried by the caller, on its own backoff.
    ///
    /// Further periodic work belongs here. Cancel-safe ([`Client`](crate::Client#cancel-safety)).
    pub async fn housekeeping(&self) -> Result<(), ClientError> {
        let mut state = self.inner.state.lock().await;
        // Disappearing messages whose time is up go even while the app
        // reads nothing (`spec/client.md` §14.3).
        self.delete_expired_locked(&mut state)?;
        self.confirm_unconfirmed(&mut state).await?;
        Ok(())
    }

    /// Posts the queued sends in order; `true` once none is left.
    pub(crate) async fn retry_queued(&self) -> Result<bool, ClientError> {
        let mut state = self.inner.state.lock().await;
        if state.store.reader().outbox()?.is_empty() {
            return Ok(true);
        }
        match self.flush_outbox(&mut state).await {
            Ok(()) => Ok(true),
            Err(err) if err.is_transient() => Ok(false),
            Err(err) => Err(err),
        }
    }
}
