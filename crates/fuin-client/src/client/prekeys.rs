//! Publishing one-time prekeys and replacing the signed prekey.

use fuin_wire::relay::PrekeyUpload;

use crate::ClientError;
use crate::store::Reader;

use super::{Client, State, commit, now_ms};

/// One-time prekeys published at a time (the relay takes at most 100 per
/// upload).
pub(super) const PREKEY_BATCH: usize = fuin_wire::relay::MAX_PREKEY_UPLOAD;

/// The most one-time prekey secrets the device keeps. A relay that keeps
/// saying the pool is low gets no more uploads beyond it, so it cannot make
/// the device's state grow without end.
pub(super) const MAX_LOCAL_ONE_TIME_PREKEYS: usize = 400;

/// How often the signed prekey is replaced.
const SIGNED_PREKEY_LIFETIME_MS: u64 = 7 * 24 * 60 * 60 * 1000;

impl Client {
    /// Makes a batch of one-time prekeys, stores their secrets, then
    /// publishes them (with a new signed prekey if given).
    pub(super) async fn publish_one_time_prekeys(
        &self,
        state: &mut State,
        signed_prekey: Option<fuin_wire::SignedPrekey>,
    ) -> Result<usize, ClientError> {
        // The secrets are on disk before their public halves leave; the
        // store is read and written in one transaction, so prekeys another
        // process consumed meanwhile stay consumed.
        let one_time = {
            let (tx, key) = state.store.transaction()?;
            let db = Reader::of(&tx, key);
            let mut prekeys = db.prekeys()?;
            let one_time = prekeys.generate_one_time_prekeys(PREKEY_BATCH, &mut rand::rng());
            db.put_prekeys(&prekeys)?;
            commit(tx)?;
            one_time
        };
        let upload = PrekeyUpload {
            signed_prekey,
            one_time_prekeys: one_time.into(),
            last_resort_kem_prekey: None,
            one_time_kem_prekeys: Vec::new().into(),
        };
        let relay = &self.inner.relay;
        self.authed(|token| {
            let upload = &upload;
            async move { relay.publish_prekeys(&token, upload).await }
        })
        .await?;
        Ok(PREKEY_BATCH)
    }

    /// Replaces the signed prekey when it is older than a week.
    pub(super) async fn rotate_signed_prekey_if_due(
        &self,
        state: &mut State,
    ) -> Result<(), ClientError> {
        let now = now_ms();
        let signed = {
            let (tx, key) = state.store.transaction()?;
            let db = Reader::of(&tx, key);
            // Read in the transaction: two processes do not both rotate.
            let last = db.u64("signed_prekey_at")?.unwrap_or(0);
            if now.saturating_sub(last) < SIGNED_PREKEY_LIFETIME_MS {
                return Ok(());
            }
            let mut prekeys = db.prekeys()?;
            let signed = prekeys.rotate_signed_prekey(&self.inner.identity, &mut rand::rng());
            db.put_prekeys(&prekeys)?;
            db.note_signed_prekey(signed.id.0, now)?;
            db.put_u64("signed_prekey_at", now)?;
            commit(tx)?;
            signed
        };
        let upload = PrekeyUpload {
            signed_prekey: Some(signed),
            one_time_prekeys: Vec::new().into(),
            last_resort_kem_prekey: None,
            one_time_kem_prekeys: Vec::new().into(),
        };
        let relay = &self.inner.relay;
        self.authed(|token| {
            let upload = &upload;
            async move { relay.publish_prekeys(&token, upload).await }
        })
        .await?;
        Ok(())
    }
}
