//! Publishing one-time prekeys (X25519 and ML-KEM), replacing the signed
//! prekey and the last-resort KEM prekey, and refilling the pools the relay
//! says are low.

use fuin_wire::relay::{PrekeyCount, PrekeyUpload};
use fuin_wire::{KemPrekey, SignedPrekey};

use crate::ClientError;
use crate::event::Event;
use crate::store::Reader;

use super::{Client, State, commit, now_ms};

/// One-time prekeys published at a time (the relay takes at most 100 per
/// upload).
pub(super) const PREKEY_BATCH: usize = fuin_wire::relay::MAX_PREKEY_UPLOAD;

/// The most one-time prekey secrets the device keeps. A relay that keeps
/// saying the pool is low gets no more uploads beyond it, so it cannot make
/// the device's state grow without end.
pub(super) const MAX_LOCAL_ONE_TIME_PREKEYS: usize = 400;

/// One-time KEM prekeys published at a time (the relay takes at most 100
/// per upload; each is 1,252 bytes on the wire).
pub(super) const KEM_PREKEY_BATCH: usize = fuin_wire::relay::MAX_KEM_PREKEY_UPLOAD;

/// The most one-time KEM prekey secrets the device keeps (64 bytes each),
/// for the same reason as [`MAX_LOCAL_ONE_TIME_PREKEYS`].
pub(super) const MAX_LOCAL_ONE_TIME_KEM_PREKEYS: usize = 400;

/// How often the signed prekey (and with it the last-resort KEM prekey) is
/// replaced.
const SIGNED_PREKEY_LIFETIME_MS: u64 = 7 * 24 * 60 * 60 * 1000;

/// When the last-resort KEM prekey and a batch of one-time KEM prekeys last
/// reached the relay. A store from before KEM prekeys has none, so it
/// publishes them at its next sync; so does one whose upload failed.
const KEM_PREKEYS_PUBLISHED_AT: &str = "kem_prekeys_at";

/// What one upload carries besides the keys it replaces.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Batches {
    /// A batch of one-time X25519 prekeys.
    pub one_time: bool,
    /// A batch of one-time KEM prekeys.
    pub one_time_kem: bool,
}

impl Client {
    /// Makes the batches asked for, stores their secrets, then publishes
    /// them with a new signed prekey and the current last-resort KEM
    /// prekey (each if given). Returns the relay's count.
    pub(super) async fn publish_prekeys(
        &self,
        state: &mut State,
        signed_prekey: Option<SignedPrekey>,
        last_resort_kem_prekey: Option<KemPrekey>,
        batches: Batches,
    ) -> Result<PrekeyCount, ClientError> {
        // The secrets are on disk before their public halves leave; the
        // store is read and written in one transaction, so prekeys another
        // process consumed meanwhile stay consumed.
        let (one_time, one_time_kem) = {
            let (tx, key) = state.store.transaction()?;
            let db = Reader::of(&tx, key);
            let mut prekeys = db.prekeys()?;
            let one_time = if batches.one_time {
                prekeys.generate_one_time_prekeys(PREKEY_BATCH, &mut rand::rng())
            } else {
                Vec::new()
            };
            let one_time_kem = if batches.one_time_kem {
                prekeys.generate_one_time_kem_prekeys(
                    KEM_PREKEY_BATCH,
                    &self.inner.identity,
                    &mut rand::rng(),
                )
            } else {
                Vec::new()
            };
            db.put_prekeys(&prekeys)?;
            commit(tx)?;
            (one_time, one_time_kem)
        };
        let kem_published = last_resort_kem_prekey.is_some();
        let upload = PrekeyUpload {
            signed_prekey,
            one_time_prekeys: one_time.into(),
            last_resort_kem_prekey,
            one_time_kem_prekeys: one_time_kem.into(),
        };
        let relay = &self.inner.relay;
        let count = self
            .authed(|token| {
                let upload = &upload;
                async move { relay.publish_prekeys(&token, upload).await }
            })
            .await?;
        if kem_published {
            let (tx, key) = state.store.transaction()?;
            Reader::of(&tx, key).put_u64(KEM_PREKEYS_PUBLISHED_AT, now_ms())?;
            commit(tx)?;
        }
        Ok(count)
    }

    /// The first upload of a newly registered device: its signed prekey,
    /// its last-resort KEM prekey (made now if the store has none) and a
    /// batch of one-time prekeys of each kind.
    pub(super) async fn publish_first_prekeys(&self, state: &mut State) -> Result<(), ClientError> {
        let signed = state
            .store
            .reader()
            .prekeys()?
            .current_signed_prekey()
            .cloned();
        let last_resort = self.last_resort_kem_prekey(state)?;
        let batches = Batches {
            one_time: true,
            one_time_kem: true,
        };
        self.publish_prekeys(state, signed, Some(last_resort), batches)
            .await?;
        Ok(())
    }

    /// Asks the relay which pool is low (a mailbox batch said one is) and
    /// uploads a batch of each kind that is, within the local maxima. A KEM
    /// side that is low goes with the current last-resort KEM prekey again,
    /// in case the relay lacks it.
    pub(crate) async fn replenish_prekeys(&self, state: &mut State) -> Result<(), ClientError> {
        let relay = &self.inner.relay;
        let count = self
            .authed(|token| async move { relay.prekey_count(&token).await })
            .await?;
        let (local, local_kem) = {
            let prekeys = state.store.reader().prekeys()?;
            (prekeys.one_time_count(), prekeys.one_time_kem_count())
        };
        let batches = Batches {
            one_time: count.low && local + PREKEY_BATCH <= MAX_LOCAL_ONE_TIME_PREKEYS,
            one_time_kem: count.kem_low
                && local_kem + KEM_PREKEY_BATCH <= MAX_LOCAL_ONE_TIME_KEM_PREKEYS,
        };
        let last_resort = if count.kem_low {
            Some(self.last_resort_kem_prekey(state)?)
        } else {
            None
        };
        if !batches.one_time && !batches.one_time_kem && last_resort.is_none() {
            return Ok(());
        }
        self.publish_prekeys(state, None, last_resort, batches)
            .await?;
        if batches.one_time {
            self.emit(Event::PrekeysReplenished {
                count: PREKEY_BATCH,
            });
        }
        if batches.one_time_kem {
            self.emit(Event::KemPrekeysReplenished {
                count: KEM_PREKEY_BATCH,
            });
        }
        Ok(())
    }

    /// A store from before KEM prekeys (or whose KEM upload never went
    /// through) publishes its last-resort KEM prekey, made now if it has
    /// none, and a batch of one-time KEM prekeys.
    pub(super) async fn publish_kem_prekeys_if_missing(
        &self,
        state: &mut State,
    ) -> Result<(), ClientError> {
        if state
            .store
            .reader()
            .u64(KEM_PREKEYS_PUBLISHED_AT)?
            .is_some()
        {
            return Ok(());
        }
        let last_resort = self.last_resort_kem_prekey(state)?;
        let local_kem = state.store.reader().prekeys()?.one_time_kem_count();
        let batches = Batches {
            one_time: false,
            one_time_kem: local_kem + KEM_PREKEY_BATCH <= MAX_LOCAL_ONE_TIME_KEM_PREKEYS,
        };
        self.publish_prekeys(state, None, Some(last_resort), batches)
            .await?;
        if batches.one_time_kem {
            self.emit(Event::KemPrekeysReplenished {
                count: KEM_PREKEY_BATCH,
            });
        }
        Ok(())
    }

    /// The current last-resort KEM prekey, made and stored first if the
    /// store has none.
    fn last_resort_kem_prekey(&self, state: &mut State) -> Result<KemPrekey, ClientError> {
        let (tx, key) = state.store.transaction()?;
        let db = Reader::of(&tx, key);
        let mut prekeys = db.prekeys()?;
        if let Some(current) = prekeys.current_last_resort_kem_prekey() {
            return Ok(current.clone());
        }
        let made = prekeys.rotate_last_resort_kem_prekey(&self.inner.identity, &mut rand::rng());
        db.put_prekeys(&prekeys)?;
        commit(tx)?;
        Ok(made)
    }

    /// Replaces the signed prekey and the last-resort KEM prekey when they
    /// are older than a week.
    pub(super) async fn rotate_signed_prekey_if_due(
        &self,
        state: &mut State,
    ) -> Result<(), ClientError> {
        let now = now_ms();
        let (signed, last_resort) = {
            let (tx, key) = state.store.transaction()?;
            let db = Reader::of(&tx, key);
            // Read in the transaction: two processes do not both rotate.
            let last = db.u64("signed_prekey_at")?.unwrap_or(0);
            if now.saturating_sub(last) < SIGNED_PREKEY_LIFETIME_MS {
                return Ok(());
            }
            let mut prekeys = db.prekeys()?;
            let signed = prekeys.rotate_signed_prekey(&self.inner.identity, &mut rand::rng());
            let last_resort =
                prekeys.rotate_last_resort_kem_prekey(&self.inner.identity, &mut rand::rng());
            db.put_prekeys(&prekeys)?;
            db.note_signed_prekey(signed.id.0, now)?;
            db.put_u64("signed_prekey_at", now)?;
            commit(tx)?;
            (signed, last_resort)
        };
        self.publish_prekeys(state, Some(signed), Some(last_resort), Batches::default())
            .await?;
        Ok(())
    }
}
