//! The new device's side of linking (`spec/accounts.md` §5.4): make the
//! code, leave the sealed request at the relay, wait for the grant, check
//! it, and only then create the device's store.

use std::path::{Path, PathBuf};
use std::time::Duration;

use fuin_seal::link::{LINK_CODE_LIFETIME_MS, LinkCode};
use fuin_seal::primitives::hybrid_kem::HybridSecretKey;
use fuin_seal::{AccountKey, DeviceIdentity, VerifiedDeviceList};
use fuin_wire::account::{DeviceName, LinkGrant, LinkMessage, LinkRequest};
use fuin_wire::{FrameBody, UserId};
use zeroize::Zeroizing;

use super::ACCOUNT_KEY;
use crate::client::{AccountState, Client, ClientOptions, now_ms, user_id};
use crate::relay::RelayConnection;
use crate::{ClientError, keyfile};

/// The longest a single wait at the relay lasts; [`PendingLink::finish`]
/// asks again until its own deadline.
const POLL: Duration = Duration::from_secs(25);

/// A device waiting to be linked: it has shown its code and left its sealed
/// request at the relay. Nothing is on disk yet. `Debug` shows no secret.
pub struct PendingLink {
    store_path: PathBuf,
    relay: RelayConnection,
    options: ClientOptions,
    identity: DeviceIdentity,
    expected_user: Option<UserId<'static>>,
    code: LinkCode,
    /// The hybrid key the grant is sealed to, made for this link alone and
    /// kept only in memory.
    grant_key: HybridSecretKey,
    created_at_ms: u64,
}

impl std::fmt::Debug for PendingLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingLink")
            .field("store_path", &self.store_path)
            .field("relay", &self.relay.base())
            .field("created_at_ms", &self.created_at_ms)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Starts linking a new device, whose store will be at `store_path`, to
    /// an account at the relay `relay_url`: draws the device's identity and
    /// a link code, and leaves the request sealed under the code at the
    /// relay. Show [`PendingLink::code_digits`] (or a QR code of
    /// [`PendingLink::code_text`]) to the user, who enters it on one of their
    /// existing devices ([`Client::approve_link`]); then call
    /// [`PendingLink::finish`]. With `expected_user`, a grant for any other
    /// user is refused.
    ///
    /// Cancel safety: [`Client`](crate::Client#cancel-safety).
    pub async fn begin_link(
        store_path: impl AsRef<Path>,
        relay_url: &str,
        expected_user: Option<&str>,
        name: &str,
        options: ClientOptions,
    ) -> Result<PendingLink, ClientError> {
        let store_path = store_path.as_ref().to_path_buf();
        for path in [store_path.clone(), keyfile::key_path(&store_path)] {
            if path.exists() {
                return Err(ClientError::KeyFile(format!(
                    "{} already exists; link into a new store",
                    path.display()
                )));
            }
        }
        let expected_user = expected_user.map(user_id).transpose()?;
        let name = DeviceName::new(name.to_owned())
            .map_err(|err| ClientError::InvalidArgument(format!("device name: {err}")))?;
        let relay = RelayConnection::new(relay_url, options.relay_certificate.as_deref())?;
        let identity = DeviceIdentity::generate(&mut rand::rng());
        let code = LinkCode::generate(&mut rand::rng(), identity.public());
        let grant_key = HybridSecretKey::generate(&mut rand::rng());
        let grant_public = grant_key.public_key();
        let created_at_ms = now_ms();
        let request = LinkRequest {
            identity: identity.public().clone(),
            name,
            created_at_ms,
            grant_key_x25519: grant_public.x25519,
            grant_key_ml_kem: grant_public.ml_kem,
        };
        let keys = code.keys();
        let sealed = keys.seal_request(&mut rand::rng(), &request.to_bytes()?);
        relay
            .put_link_message(
                keys.channel(),
                "request",
                &LinkMessage {
                    sealed: sealed.into(),
                },
            )
            .await?;
        Ok(PendingLink {
            store_path,
            relay,
            options,
            identity,
            expected_user,
            code,
            grant_key,
            created_at_ms,
        })
    }
}

impl PendingLink {
    /// The link code as 60 digits in twelve groups of five, to type on the
    /// existing device. A secret until the link is done: never log it.
    pub fn code_digits(&self) -> Zeroizing<String> {
        self.code.digits()
    }

    /// The link code as `fuin-link:` and hex digits, for a QR code.
    pub fn code_text(&self) -> Zeroizing<String> {
        self.code.text()
    }

    /// When the code stops working (ms since the Unix epoch).
    pub fn expires_at_ms(&self) -> u64 {
        self.created_at_ms + LINK_CODE_LIFETIME_MS
    }

    /// Waits up to `wait` (and never past the code's expiry) for an existing
    /// device to approve the code, checks what it handed over, then creates
    /// this device's store, logs in and publishes prekeys.
    ///
    /// Cancel safety: [`Client`](crate::Client#cancel-safety).
    pub async fn finish(self, wait: Duration) -> Result<Client, ClientError> {
        let keys = self.code.keys();
        let deadline = now_ms()
            .saturating_add(u64::try_from(wait.as_millis()).unwrap_or(u64::MAX))
            .min(self.expires_at_ms());
        let message = loop {
            let left = deadline.saturating_sub(now_ms());
            if left == 0 {
                return Err(ClientError::InvalidArgument(
                    "no device approved the link code in time; make a new code".into(),
                ));
            }
            let poll = POLL.min(Duration::from_millis(left));
            if let Some(message) = self
                .relay
                .take_link_message(keys.channel(), "grant", poll)
                .await?
            {
                break message;
            }
        };
        let plaintext = keys
            .open_grant(&self.grant_key, message.sealed.as_bytes())
            .map_err(|_| {
                ClientError::RelayMisbehaved(
                    "a link grant that does not open under the code and this device's grant key"
                        .into(),
                )
            })?;
        let grant = LinkGrant::from_bytes(&plaintext)
            .map_err(|err| ClientError::RelayMisbehaved(format!("link grant: {err}")))?
            .into_owned();
        let account = AccountKey::from_secret(&grant.account_secret);
        let user = grant.address.user.clone();
        if self
            .expected_user
            .as_ref()
            .is_some_and(|expected| *expected != user)
        {
            return Err(ClientError::InvalidArgument(format!(
                "the approving device belongs to {user}, not to the user named"
            )));
        }
        let list = VerifiedDeviceList::verify(
            &grant.device_list,
            &user,
            Some(&account.public_key()),
            None,
        )?;
        if list.identity_of(grant.address.device) != Some(self.identity.public()) {
            return Err(ClientError::RelayMisbehaved(
                "the link grant's list does not name this device".into(),
            ));
        }
        let secret = account.to_secret();
        let client = Client::create_store(
            &self.store_path,
            grant.address.clone(),
            self.relay,
            self.options,
            self.identity,
            AccountState::Ready,
            |db| {
                db.put_secret(ACCOUNT_KEY, &secret.0)?;
                db.put_trusted_list(&list, now_ms())
            },
        )?;
        match client.ensure_registered().await {
            Ok(()) => Ok(client),
            Err(err) if err.is_transient() => Ok(client),
            Err(err) => Err(err),
        }
    }
}
