//! Devices and trust: resolving devices, identity changes, safety numbers.

use fuin_seal::safety_number::SafetyNumber;
use fuin_wire::{DeliveredRecord, DeviceAddress, FrameBody, PublicIdentity, UserId};

use crate::ClientError;
use crate::event::Event;
use crate::store::Reader;

use super::{Client, DeviceSafetyNumber, State, commit, now_ms, user_id};

impl Client {
    /// The devices of `user` at the relay, checked against the identities
    /// this device trusts: a new device is trusted on first use (and
    /// reported unless it is the first of its user), a changed identity is
    /// recorded and reported, and the send refused.
    pub(crate) async fn resolve_devices(
        &self,
        state: &mut State,
        user: &UserId<'static>,
    ) -> Result<Vec<(DeviceAddress<'static>, PublicIdentity)>, ClientError> {
        let relay = &self.inner.relay;
        let listed = self
            .authed(|token| async move { relay.devices(&token, user).await })
            .await?;
        let now = now_ms();
        let own_user = *user == self.inner.address.user;
        let (tx, key) = state.store.transaction()?;
        let db = Reader::of(&tx, key);
        let known = db.peers_of(user)?;
        let mut out = Vec::new();
        let mut changed = None;
        let mut events = Vec::new();
        for entry in listed.devices.as_slice() {
            let address = DeviceAddress::new(user.clone(), entry.device);
            if address == self.inner.address {
                continue;
            }
            match known.iter().find(|(device, _)| *device == entry.device) {
                None => {
                    db.trust_new_peer(&address, &entry.identity, now)?;
                    if own_user || !known.is_empty() {
                        events.push(Event::NewDevice {
                            device: address.clone(),
                        });
                    }
                    out.push((address, entry.identity.clone()));
                }
                Some((_, record))
                    if record.identity == entry.identity && record.pending.is_none() =>
                {
                    out.push((address, entry.identity.clone()));
                }
                Some((_, record)) => {
                    if record.identity != entry.identity
                        && record.pending.as_ref() != Some(&entry.identity)
                    {
                        db.set_pending_identity(&address, &entry.identity)?;
                        events.push(Event::IdentityChanged {
                            device: address.clone(),
                        });
                    }
                    changed.get_or_insert(address);
                }
            }
        }
        commit(tx)?;
        for event in events {
            self.emit(event);
        }
        if let Some(device) = changed {
            return Err(ClientError::IdentityChanged {
                device: device.to_string(),
            });
        }
        Ok(out)
    }

    /// Devices with an identity change waiting for the app's decision.
    pub async fn pending_identity_changes(
        &self,
    ) -> Result<Vec<DeviceAddress<'static>>, ClientError> {
        let state = self.inner.state.lock().await;
        state.store.reader().pending_changes()
    }

    /// Accepts the new identity of `device` (after the user compared safety
    /// numbers): its old sessions are dropped, its held messages are opened
    /// and shown, and messages flow again. Returns how many held messages
    /// were stored.
    pub async fn accept_identity_change(
        &self,
        device: &DeviceAddress<'_>,
    ) -> Result<usize, ClientError> {
        let device = device.clone().into_owned();
        let mut state = self.inner.state.lock().await;
        let state = &mut *state;
        let held = {
            let (tx, key) = state.store.transaction()?;
            let db = Reader::of(&tx, key);
            if !db.accept_pending_identity(&device)? {
                return Err(ClientError::InvalidArgument(format!(
                    "device {device} has no identity change to accept"
                )));
            }
            let held = db.quarantined(&device)?;
            commit(tx)?;
            held
        };
        let mut records = Vec::new();
        for (id, bytes) in &held {
            match DeliveredRecord::from_bytes(bytes) {
                Ok(record) => records.push((*id, Some(record.into_owned()))),
                Err(_) => records.push((*id, None)),
            }
        }
        let report = self.process(state, records, true)?;
        Ok(report.messages)
    }

    /// Safety numbers with each known device of `user` (looked up at the
    /// relay first if this device knows none).
    pub async fn safety_numbers(&self, user: &str) -> Result<Vec<DeviceSafetyNumber>, ClientError> {
        let user = user_id(user)?;
        let mut state = self.inner.state.lock().await;
        if state.store.reader().peers_of(&user)?.is_empty() {
            match self.resolve_devices(&mut state, &user).await {
                Ok(_) | Err(ClientError::IdentityChanged { .. }) => {}
                Err(err) => return Err(err),
            }
        }
        let own = (&self.inner.address.user, self.inner.identity.public());
        Ok(state
            .store
            .reader()
            .peers_of(&user)?
            .into_iter()
            .map(|(device, record)| DeviceSafetyNumber {
                device: DeviceAddress::new(user.clone(), device),
                number: SafetyNumber::new(own, (&user, &record.identity)).display(),
                change_pending: record.pending.is_some(),
            })
            .collect())
    }
}
