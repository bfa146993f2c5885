//! Keeping users' device lists: fetching the list the relay serves,
//! verifying it against the account key and the newest version this device
//! holds, and telling the user what changed (`spec/accounts.md` §8).

use fuin_seal::{SealError, VerifiedDeviceList};
use fuin_wire::account::SignedDeviceList;
use fuin_wire::{DeviceAddress, UserId};

use super::LinkedDevice;
use crate::client::{Client, State, commit, now_ms};
use crate::store::Reader;
use crate::{ClientError, Event};

/// The devices a list adds and removes against an older one.
pub(crate) fn list_changes(
    old: &VerifiedDeviceList,
    new: &VerifiedDeviceList,
) -> (Vec<LinkedDevice>, Vec<DeviceAddress<'static>>) {
    let old = &old.list().content;
    let new = &new.list().content;
    let added = new
        .devices
        .as_slice()
        .iter()
        .filter(|entry| {
            old.device(entry.device)
                .is_none_or(|known| known.identity != entry.identity)
        })
        .map(|entry| LinkedDevice::of(&new.user, entry))
        .collect();
    let removed = old
        .devices
        .as_slice()
        .iter()
        .filter(|entry| {
            new.device(entry.device)
                .is_none_or(|kept| kept.identity != entry.identity)
        })
        .map(|entry| DeviceAddress::new(new.user.clone().into_owned(), entry.device))
        .collect();
    (added, removed)
}

impl Client {
    /// Fetches the device list the relay serves for `user`, checks it and
    /// stores it if it is newer; returns the newest trusted list.
    ///
    /// A list that does not verify is refused and reported
    /// ([`Event::DeviceListRejected`]), and the list already held is
    /// returned (an error only if none is held). A list signed by another
    /// account key is an account key change: recorded as pending, reported
    /// once ([`Event::IdentityChanged`]), and [`ClientError::IdentityChanged`]
    /// returned until the user accepts it.
    pub(crate) async fn refresh_device_list(
        &self,
        state: &mut State,
        user: &UserId<'static>,
    ) -> Result<VerifiedDeviceList, ClientError> {
        let relay = &self.inner.relay;
        let served = self
            .authed(|token| async move { relay.device_list(&token, user).await })
            .await?;
        let (tx, key) = state.store.transaction()?;
        let db = Reader::of(&tx, key);
        let mut events = Vec::new();
        let result = self.apply_served_list(db, user, &served, &mut events);
        commit(tx)?;
        for event in events {
            self.emit(event);
        }
        result
    }

    /// The checks and writes of [`Self::refresh_device_list`], inside the
    /// caller's transaction.
    pub(crate) fn apply_served_list(
        &self,
        db: Reader<'_>,
        user: &UserId<'static>,
        served: &SignedDeviceList<'_>,
        events: &mut Vec<Event>,
    ) -> Result<VerifiedDeviceList, ClientError> {
        let now = now_ms();
        let own_user = *user == self.inner.address.user;
        let held = db.account(user)?;
        let rejected = |events: &mut Vec<Event>, reason: String| {
            events.push(Event::DeviceListRejected {
                user: user.as_str().to_owned(),
                reason,
            });
        };
        let Some(held) = held else {
            // A first contact: the served account key is trusted on first
            // use (spec/accounts.md §9).
            return match VerifiedDeviceList::verify(served, user, None, None) {
                Ok(list) => {
                    db.put_trusted_list(&list, now)?;
                    Ok(list)
                }
                Err(err) => {
                    rejected(events, err.to_string());
                    Err(ClientError::RelayMisbehaved(format!(
                        "the device list of {user} does not verify: {err}"
                    )))
                }
            };
        };
        // The common case: nothing changed since the last look.
        if served == held.trusted.list() {
            return match held.pending {
                None => Ok(held.trusted),
                Some(_) => Err(ClientError::IdentityChanged {
                    user: user.as_str().to_owned(),
                }),
            };
        }
        let trusted_key = *held.trusted.account_key();
        let mut pending = held.pending.is_some();
        match VerifiedDeviceList::verify(
            served,
            user,
            Some(&trusted_key),
            Some(held.trusted.version()),
        ) {
            Ok(list) if list.version() == held.trusted.version() => {
                if list.list() != held.trusted.list() {
                    rejected(
                        events,
                        SealError::InvalidDeviceList {
                            reason: "two lists of one version",
                        }
                        .to_string(),
                    );
                }
            }
            Ok(list) => {
                let (added, removed) = list_changes(&held.trusted, &list);
                db.put_trusted_list(&list, now)?;
                if !added.is_empty() || !removed.is_empty() {
                    events.push(Event::DevicesChanged {
                        user: user.as_str().to_owned(),
                        added,
                        removed,
                    });
                }
                if held.pending.is_none() {
                    return Ok(list);
                }
                db.put_pending_list(
                    held.pending
                        .as_ref()
                        .ok_or_else(|| ClientError::Storage("a pending list disappeared".into()))?,
                )?;
            }
            Err(SealError::AccountKeyMismatch) if !own_user => {
                match VerifiedDeviceList::verify(served, user, None, None) {
                    Ok(list) => {
                        let known = held
                            .pending
                            .as_ref()
                            .is_some_and(|pending| pending.account_key() == list.account_key());
                        let newer = held
                            .pending
                            .as_ref()
                            .is_none_or(|pending| list.version() >= pending.version());
                        if newer {
                            db.put_pending_list(&list)?;
                        }
                        pending = true;
                        if !known {
                            events.push(Event::IdentityChanged {
                                user: user.as_str().to_owned(),
                            });
                        }
                    }
                    Err(err) => rejected(events, err.to_string()),
                }
            }
            Err(err) => rejected(events, err.to_string()),
        }
        if pending {
            return Err(ClientError::IdentityChanged {
                user: user.as_str().to_owned(),
            });
        }
        Ok(held.trusted)
    }
}
