//! The relay session: registration, login and bearer tokens.

use fuin_wire::account::AccountRegistration;
use fuin_wire::relay::{BearerToken, ChallengeResponse};

use crate::ClientError;
use crate::store::{HeldToken, Reader};

use super::{AccountState, Client, commit, now_ms};

/// A token this close to its expiry is not presented: it could expire on
/// the way, or by a relay clock a little ahead of this one.
const TOKEN_EXPIRY_MARGIN_MS: u64 = 30_000;

impl Client {
    fn held_token(&self) -> std::sync::MutexGuard<'_, Option<HeldToken>> {
        self.inner
            .token
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The token in use, if it is not about to expire.
    fn cached_token(&self) -> Option<BearerToken> {
        self.held_token()
            .as_ref()
            .filter(|held| held.expires_at_ms > now_ms().saturating_add(TOKEN_EXPIRY_MARGIN_MS))
            .map(|held| held.token.clone())
    }

    /// Uses `token` from now on, and keeps it in the store for the next
    /// run. A failure to keep it only costs that run a login.
    fn set_token(&self, token: HeldToken) {
        let _ = self
            .inner
            .token_keeper
            .save(self.inner.relay.origin(), &token);
        *self.held_token() = Some(token);
    }

    /// Stops using the token in use (the relay refused it).
    fn forget_token(&self) {
        *self.held_token() = None;
    }

    /// A bearer token: the one in use or kept by an earlier run while it is
    /// valid, else a new one (a login: challenge and signature).
    async fn token(&self) -> Result<BearerToken, ClientError> {
        if let Some(token) = self.cached_token() {
            return Ok(token);
        }
        let relay = &self.inner.relay;
        let challenge = relay.challenge(&self.inner.address).await?;
        let signature = self.inner.identity.sign_relay_challenge(
            relay.origin(),
            &self.inner.address,
            &challenge.nonce,
        );
        let answer = ChallengeResponse {
            address: self.inner.address.clone(),
            nonce: challenge.nonce,
            signature,
        };
        let issued = relay.token(&answer).await?;
        let token = issued.token.clone();
        self.set_token(HeldToken {
            token: issued.token,
            expires_at_ms: issued.expires_at_ms,
        });
        Ok(token)
    }

    /// Runs `call` with a token; once more with a fresh login if the relay
    /// says the token is no longer valid.
    pub(crate) async fn authed<T, F, Fut>(&self, call: F) -> Result<T, ClientError>
    where
        F: Fn(BearerToken) -> Fut,
        Fut: std::future::Future<Output = Result<T, ClientError>>,
    {
        let token = self.token().await?;
        match call(token).await {
            // Revoked, expired early by the relay's clock, or issued by a
            // relay that lost it: one new login, one retry.
            Err(ClientError::Relay { status: 401, .. }) => {
                self.forget_token();
                let token = self.token().await?;
                call(token).await
            }
            other => other,
        }
    }

    /// Brings the device's account to the relay and publishes its first
    /// prekeys, once: a first device creates the account with its list
    /// (`POST /v1/accounts`); a store made before accounts publishes its
    /// first list; a linked device was registered by the device that
    /// linked it.
    pub(crate) async fn ensure_registered(&self) -> Result<(), ClientError> {
        let mut state = self.inner.state.lock().await;
        if state.store.reader().u64("registered")? == Some(1) {
            return Ok(());
        }
        let account = AccountState::of(state.store.reader())?;
        let list = self.own_list(state.store.reader())?;
        match account {
            AccountState::Create => {
                let registration = AccountRegistration {
                    device_list: list.list().clone(),
                    invite: self.inner.options.invite.clone(),
                };
                match self.inner.relay.create_account(&registration).await {
                    Ok(()) => {}
                    // Created by an earlier run that stopped before it
                    // could note it: then this device can log in.
                    Err(err @ ClientError::Relay { status: 409, .. }) => {
                        if self.token().await.is_err() {
                            return Err(err);
                        }
                    }
                    Err(err) => return Err(err),
                }
            }
            AccountState::Upgrade => {
                let relay = &self.inner.relay;
                let signed = list.list();
                match self
                    .authed(|token| async move { relay.publish_device_list(&token, signed).await })
                    .await
                {
                    Ok(()) => {}
                    // Published by an earlier run.
                    Err(ClientError::Relay {
                        status: 409, code, ..
                    }) if code == "stale_device_list" => {}
                    Err(err) => return Err(err),
                }
            }
            AccountState::Ready => {}
        }
        {
            let (tx, key) = state.store.transaction()?;
            AccountState::Ready.put(Reader::of(&tx, key))?;
            commit(tx)?;
        }
        let state = &mut *state;
        self.publish_first_prekeys(state).await?;
        let (tx, key) = state.store.transaction()?;
        Reader::of(&tx, key).put_u64("registered", 1)?;
        commit(tx)
    }
}
