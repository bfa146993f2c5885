//! This user's account and everyone's device lists (`spec/accounts.md`).
//!
//! A user's devices are the devices named by a list the user's account key
//! signed; the relay only stores and serves lists. This device seals only
//! to devices such a list names, opens messages only from them, and reports
//! every change. The account key itself (held by each of this user's
//! devices) links new devices ([`link`]) and removes lost ones.

mod link;
mod lists;
mod store;

use std::time::Duration;

use fuin_seal::link::{LINK_CODE_LIFETIME_MS, LinkCode};
use fuin_seal::primitives::hybrid_kem::HybridPublicKey;
use fuin_seal::safety_number::SafetyNumber;
use fuin_seal::{AccountKey, TrustedIdentity, VerifiedDeviceList};
use fuin_wire::account::{
    AccountDevice, AccountSecret, DeviceListContent, DeviceName, LinkGrant, LinkMessage,
    LinkRequest,
};
use fuin_wire::{DeviceAddress, DeviceId, FrameBody, UserId};
use zeroize::Zeroizing;

use crate::client::{Client, State, commit, now_ms, user_id};
use crate::store::Reader;
use crate::{ClientError, Event};

pub use link::PendingLink;
pub(crate) use lists::list_changes;
pub(crate) use store::ACCOUNT_SCHEMA;

/// One device of an account, as its signed list names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkedDevice {
    /// The device.
    pub address: DeviceAddress<'static>,
    /// The name its user gave it.
    pub name: String,
    /// When it was linked, by the linking device's clock (ms since the
    /// Unix epoch).
    pub added_at_ms: u64,
}

impl LinkedDevice {
    pub(crate) fn of(user: &UserId<'_>, entry: &AccountDevice<'_>) -> Self {
        Self {
            address: DeviceAddress::new(user.clone().into_owned(), entry.device),
            name: entry.name.as_str().to_owned(),
            added_at_ms: entry.added_at_ms,
        }
    }
}

/// The safety number of this user and another, from the two account keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SafetyNumbers {
    /// The number of the account key this device trusts for the user (at a
    /// first contact, the key the relay served, trusted on first use).
    pub number: String,
    /// While an account key change waits: the number of the **new** key,
    /// which the users must compare before accepting it.
    pub pending: Option<String>,
}

/// How long linking waits for the new device's prekeys before adding it to
/// this device's groups.
const GROUP_JOIN_WAIT: Duration = Duration::from_secs(20);

/// The meta name of this device's copy of the account key (encrypted).
pub(crate) const ACCOUNT_KEY: &str = "account_key";

impl Client {
    /// This user's account key, from the store.
    pub(crate) fn account_key(db: Reader<'_>) -> Result<AccountKey, ClientError> {
        let seed = db
            .secret(ACCOUNT_KEY)?
            .ok_or_else(|| ClientError::Storage("the store holds no account key".into()))?;
        if seed.len() != 32 {
            return Err(ClientError::Storage(
                "the stored account key is malformed".into(),
            ));
        }
        // The seed is copied only into values wiped on drop.
        let mut secret = AccountSecret([0; 32]);
        secret.0.copy_from_slice(&seed);
        Ok(AccountKey::from_secret(&secret))
    }

    /// This user's newest list, as this device holds it.
    pub(crate) fn own_list(&self, db: Reader<'_>) -> Result<VerifiedDeviceList, ClientError> {
        db.account(&self.inner.address.user)?
            .map(|record| record.trusted)
            .ok_or_else(|| ClientError::Storage("the store holds no device list of its own".into()))
    }

    /// This user's devices, as the newest signed list names them.
    ///
    /// Cancel safety: [`Client`](crate::Client#cancel-safety).
    pub async fn devices(&self) -> Result<Vec<LinkedDevice>, ClientError> {
        let state = self.inner.state.lock().await;
        let list = self.own_list(state.store.reader())?;
        let content = &list.list().content;
        Ok(content
            .devices
            .as_slice()
            .iter()
            .map(|entry| LinkedDevice::of(&content.user, entry))
            .collect())
    }

    /// The safety number with `user`, and the new one while a change of
    /// their account key waits (looked up at the relay if this device has
    /// never met the user).
    ///
    /// Cancel safety: [`Client`](crate::Client#cancel-safety).
    pub async fn safety_number(&self, user: &str) -> Result<SafetyNumbers, ClientError> {
        let user = user_id(user)?;
        let mut state = self.inner.state.lock().await;
        if state.store.reader().account(&user)?.is_none() {
            match self.refresh_device_list(&mut state, &user).await {
                Ok(_) | Err(ClientError::IdentityChanged { .. }) => {}
                Err(err) => return Err(err),
            }
        }
        let db = state.store.reader();
        let own = self.own_list(db)?;
        let own = (&self.inner.address.user, own.account_key());
        let record = db.account(&user)?.ok_or_else(|| ClientError::UnknownUser {
            user: user.as_str().to_owned(),
        })?;
        let number = |list: &VerifiedDeviceList| {
            SafetyNumber::for_accounts(own, (&user, list.account_key())).display()
        };
        Ok(SafetyNumbers {
            number: number(&record.trusted),
            pending: record.pending.as_ref().map(number),
        })
    }

    /// Users whose account key change waits for the user's decision.
    ///
    /// Cancel safety: [`Client`](crate::Client#cancel-safety).
    pub async fn pending_identity_changes(&self) -> Result<Vec<UserId<'static>>, ClientError> {
        let state = self.inner.state.lock().await;
        state.store.reader().pending_accounts()
    }

    /// Accepts the new account key of `user` (after the users compared the
    /// new safety number): its list becomes the trusted one, the sessions of
    /// the user's old devices are dropped, and the deliveries held from the
    /// new devices are opened and shown. Returns how many held messages were
    /// stored.
    ///
    /// Cancel safety: [`Client`](crate::Client#cancel-safety).
    pub async fn accept_identity_change(&self, user: &str) -> Result<usize, ClientError> {
        let user = user_id(user)?;
        let mut state = self.inner.state.lock().await;
        let state = &mut *state;
        let held = {
            let (tx, key) = state.store.transaction()?;
            let db = Reader::of(&tx, key);
            let Some(pending) = db.account(&user)?.and_then(|record| record.pending) else {
                return Err(ClientError::InvalidArgument(format!(
                    "{user} has no account key change to accept"
                )));
            };
            for (device, _) in db.peers_of(&user)? {
                db.delete_sessions(&DeviceAddress::new(user.clone(), device))?;
            }
            db.put_trusted_list(&pending, now_ms())?;
            let mut held = Vec::new();
            for device in db.quarantined_devices(&user)? {
                held.extend(db.quarantined(&DeviceAddress::new(user.clone(), device))?);
            }
            commit(tx)?;
            held
        };
        let records = held
            .iter()
            .map(|(id, bytes)| {
                let record = fuin_wire::DeliveredRecord::from_bytes(bytes)
                    .ok()
                    .map(fuin_wire::DeliveredRecord::into_owned);
                (*id, record)
            })
            .collect();
        let report = self.process(state, records, true)?;
        Ok(report.messages)
    }

    /// Links the device that shows `code` (its 60 digits, or its
    /// `fuin-link:` text) to this user's account: takes its request from the
    /// relay, checks it is the device the code names, signs and publishes a
    /// list that adds it, and hands it the account key and that list, sealed
    /// under the code. A code works once and for 10 minutes.
    ///
    /// Cancel safety: [`Client`](crate::Client#cancel-safety).
    pub async fn approve_link(&self, code: &str) -> Result<LinkedDevice, ClientError> {
        let code = LinkCode::parse(code)
            .map_err(|err| ClientError::InvalidArgument(format!("link code: {err}")))?;
        let keys = code.keys();
        let relay = &self.inner.relay;
        let Some(message) = relay
            .take_link_message(keys.channel(), "request", Duration::ZERO)
            .await?
        else {
            return Err(ClientError::InvalidArgument(
                "no device is waiting with this link code: it is mistyped, was used already, or expired"
                    .into(),
            ));
        };
        let plaintext = keys
            .open_request(message.sealed.as_bytes())
            .map_err(|_| ClientError::InvalidArgument("the link code is wrong".into()))?;
        let request = LinkRequest::from_bytes(&plaintext)
            .map_err(|err| match err {
                fuin_wire::WireError::RetiredFrame { .. } => ClientError::InvalidArgument(
                    "the new device runs a version before protocol version 3: the new device \
                     must be updated first"
                        .into(),
                ),
                err => ClientError::RelayMisbehaved(format!("link request: {err}")),
            })?
            .into_owned();
        // The grant is sealed to this key: check both halves before
        // anything is published.
        let grant_key = HybridPublicKey {
            x25519: request.grant_key_x25519,
            ml_kem: request.grant_key_ml_kem,
        };
        grant_key.check().map_err(|err| {
            ClientError::InvalidArgument(format!(
                "the new device's grant key is not usable ({err}); make a new code"
            ))
        })?;
        let now = now_ms();
        if now.saturating_sub(request.created_at_ms) > LINK_CODE_LIFETIME_MS
            || request.created_at_ms > now + 60_000
        {
            return Err(ClientError::InvalidArgument(
                "the link code expired; make a new one on the new device".into(),
            ));
        }
        if !code.matches(&request.identity) {
            return Err(ClientError::InvalidArgument(
                "the link code does not match the device that made it".into(),
            ));
        }
        TrustedIdentity::verify(&request.identity)?;
        let mut state = self.inner.state.lock().await;
        let (account, list) = self.own_account(&mut state).await?;
        let content = &list.list().content;
        if content
            .devices
            .as_slice()
            .iter()
            .any(|entry| entry.identity == request.identity)
        {
            return Err(ClientError::InvalidArgument(
                "that device is linked already".into(),
            ));
        }
        if content.devices.len() >= fuin_wire::relay::MAX_DEVICES_PER_USER {
            return Err(ClientError::InvalidArgument(format!(
                "an account has at most {} devices; remove one first",
                fuin_wire::relay::MAX_DEVICES_PER_USER
            )));
        }
        let highest = content
            .devices
            .as_slice()
            .iter()
            .map(|entry| entry.device.0)
            .max()
            .unwrap_or(0);
        let device = DeviceId(highest.checked_add(1).ok_or_else(|| {
            ClientError::InvalidArgument("no device id is left in this account".into())
        })?);
        let mut devices = content.devices.as_slice().to_vec();
        devices.push(AccountDevice {
            device,
            identity: request.identity.clone(),
            name: request.name.clone(),
            added_at_ms: now,
        });
        let new = self
            .publish_list(&mut state, &account, &list, devices)
            .await?;
        let address = DeviceAddress::new(self.inner.address.user.clone(), device);
        let grant = LinkGrant {
            address: address.clone(),
            account_secret: account.to_secret(),
            device_list: new.list().clone(),
        };
        let grant = Zeroizing::new(grant.to_bytes()?);
        let sealed = keys.seal_grant(&mut rand::rng(), &grant_key, &grant)?;
        relay
            .put_link_message(
                keys.channel(),
                "grant",
                &LinkMessage {
                    sealed: sealed.into(),
                },
            )
            .await?;
        // Groups follow the list: once the new device has published its
        // prekeys (it does so as soon as it has the grant), it is added to
        // this device's groups; a group that fails is reported as an event.
        // A device that does not come online in time is added by hand later.
        // The link stands either way.
        // Other operations of this device go on meanwhile.
        drop(state);
        if self.wait_for_prekeys(&address, GROUP_JOIN_WAIT).await {
            let mut state = self.inner.state.lock().await;
            let _ = self
                .follow_own_devices_in_groups(&mut state, &list, &new)
                .await;
        }
        Ok(LinkedDevice {
            address,
            name: request.name.as_str().to_owned(),
            added_at_ms: now,
        })
    }

    /// Removes `device` from this user's account: publishes a list without
    /// it, after which the relay revokes it and peers stop sealing to it.
    /// A device cannot remove itself (another of the user's devices does).
    ///
    /// Cancel safety: [`Client`](crate::Client#cancel-safety).
    pub async fn remove_device(&self, device: u32) -> Result<(), ClientError> {
        let device = DeviceId(device);
        if device == self.inner.address.device {
            return Err(ClientError::InvalidArgument(
                "a device cannot remove itself; remove it from another of your devices".into(),
            ));
        }
        let mut state = self.inner.state.lock().await;
        let (account, list) = self.own_account(&mut state).await?;
        let devices: Vec<AccountDevice<'static>> = list
            .list()
            .content
            .devices
            .as_slice()
            .iter()
            .filter(|entry| entry.device != device)
            .cloned()
            .collect();
        if devices.len() == list.list().content.devices.len() {
            return Err(ClientError::InvalidArgument(format!(
                "this account has no device {device}"
            )));
        }
        let new = self
            .publish_list(&mut state, &account, &list, devices)
            .await?;
        // Groups follow the list: the removed device leaves this device's
        // groups (a new epoch without it); a group that fails is reported as
        // an event. The removal stands either way.
        let _ = self
            .follow_own_devices_in_groups(&mut state, &list, &new)
            .await;
        Ok(())
    }

    /// Waits up to `wait` for `device` to publish its prekeys (so that
    /// sessions with it can start); whether it did.
    async fn wait_for_prekeys(&self, device: &DeviceAddress<'static>, wait: Duration) -> bool {
        let relay = &self.inner.relay;
        let deadline = tokio::time::Instant::now() + wait;
        let mut pause = Duration::from_millis(50);
        loop {
            let found = self
                .authed(|token| async move {
                    relay.has_bundle(&token, &device.user, device.device).await
                })
                .await;
            match found {
                Ok(true) => return true,
                Ok(false) => {}
                Err(_) => return false,
            }
            if tokio::time::Instant::now() + pause > deadline {
                return false;
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(1));
        }
    }

    /// The account key and the newest list of this user, asking the relay
    /// first in case another of the user's devices changed the list.
    async fn own_account(
        &self,
        state: &mut State,
    ) -> Result<(AccountKey, VerifiedDeviceList), ClientError> {
        let user = self.inner.address.user.clone();
        let list = match self.refresh_device_list(state, &user).await {
            Ok(list) => list,
            Err(err) if err.is_transient() => self.own_list(state.store.reader())?,
            Err(err) => return Err(err),
        };
        Ok((Self::account_key(state.store.reader())?, list))
    }

    /// Signs the next version of this user's list with `devices`, publishes
    /// it and stores it as this device's own list.
    async fn publish_list(
        &self,
        state: &mut State,
        account: &AccountKey,
        current: &VerifiedDeviceList,
        devices: Vec<AccountDevice<'static>>,
    ) -> Result<VerifiedDeviceList, ClientError> {
        let user = self.inner.address.user.clone();
        let content = DeviceListContent {
            user: user.clone(),
            account_key: account.public_key(),
            version: current.version() + 1,
            created_at_ms: now_ms(),
            devices: devices.into(),
        };
        let signed = account.sign_device_list(content)?;
        let verified = VerifiedDeviceList::verify(
            &signed,
            &user,
            Some(&account.public_key()),
            Some(current.version()),
        )?;
        let relay = &self.inner.relay;
        self.authed(|token| {
            let signed = &signed;
            async move { relay.publish_device_list(&token, signed).await }
        })
        .await?;
        let (added, removed) = list_changes(current, &verified);
        let (tx, key) = state.store.transaction()?;
        Reader::of(&tx, key).put_trusted_list(&verified, now_ms())?;
        commit(tx)?;
        self.emit(Event::DevicesChanged {
            user: user.as_str().to_owned(),
            added,
            removed,
        });
        Ok(verified)
    }
}

/// A device name, or `device N` when none was given.
pub(crate) fn device_name(
    name: Option<&str>,
    device: DeviceId,
) -> Result<DeviceName<'static>, ClientError> {
    let name = name.map_or_else(|| format!("device {device}"), str::to_owned);
    DeviceName::new(name).map_err(|err| ClientError::InvalidArgument(format!("device name: {err}")))
}
