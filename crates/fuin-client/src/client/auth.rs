//! The relay session: registration, login and bearer tokens.

use fuin_wire::account::AccountRegistration;
use fuin_wire::relay::{BearerToken, ChallengeResponse};

use crate::ClientError;
use crate::store::Reader;

use super::{AccountState, Client, commit, now_ms};

/// The `meta` row that keeps the last bearer token (sealed) with its expiry,
/// so that the next run of the app reuses it rather than logging in again:
/// each login costs the relay a challenge and a signature check, and counts
/// against the address's rate for requests without a token.
const TOKEN_ROW: &str = "relay_token";
/// A kept token this close to its expiry is not reused.
const TOKEN_MARGIN_MS: u64 = 60_000;

/// The token kept in the store, if there is one that is not about to expire.
pub(crate) fn kept_token(reader: Reader<'_>) -> Result<Option<BearerToken>, ClientError> {
    let Some(kept) = reader.secret(TOKEN_ROW)? else {
        return Ok(None);
    };
    // A row that is not a token and its expiry is ignored: the next login
    // replaces it.
    let (Some(token), Some(expires)) = (kept.get(..32), kept.get(32..40)) else {
        return Ok(None);
    };
    let mut expires_at_ms = [0u8; 8];
    expires_at_ms.copy_from_slice(expires);
    if u64::from_be_bytes(expires_at_ms) <= now_ms().saturating_add(TOKEN_MARGIN_MS) {
        return Ok(None);
    }
    let mut kept_token = BearerToken([0; 32]);
    kept_token.0.copy_from_slice(token);
    Ok(Some(kept_token))
}

impl Client {
    fn cached_token(&self) -> Option<BearerToken> {
        self.inner
            .token
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn set_token(&self, token: Option<BearerToken>) {
        *self
            .inner
            .token
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = token;
    }

    /// A bearer token, logging in (challenge and signature) if there is none.
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
        let granted = relay.token(&answer).await?;
        self.set_token(Some(granted.token.clone()));
        self.keep_token(&granted.token, granted.expires_at_ms);
        Ok(granted.token)
    }

    /// Keeps `token` in the store for the next run, now if the store is
    /// free, else at the next authenticated call that finds it free (a
    /// login made during the first registration happens while the state is
    /// held). Failing to keep it costs only a login later, so it is not an
    /// error.
    fn keep_token(&self, token: &BearerToken, expires_at_ms: u64) {
        let Ok(mut state) = self.inner.state.try_lock() else {
            *self
                .inner
                .unkept_token
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) =
                Some((token.clone(), expires_at_ms));
            return;
        };
        let mut kept = zeroize::Zeroizing::new(Vec::with_capacity(40));
        kept.extend_from_slice(&token.0);
        kept.extend_from_slice(&expires_at_ms.to_be_bytes());
        let Ok((tx, key)) = state.store.transaction() else {
            return;
        };
        if Reader::of(&tx, key).put_secret(TOKEN_ROW, &kept).is_ok() {
            let _ = commit(tx);
        }
    }

    /// Runs `call` with a token; once more with a fresh login if the relay
    /// says the token is no longer valid.
    pub(crate) async fn authed<T, F, Fut>(&self, call: F) -> Result<T, ClientError>
    where
        F: Fn(BearerToken) -> Fut,
        Fut: std::future::Future<Output = Result<T, ClientError>>,
    {
        let unkept = self
            .inner
            .unkept_token
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some((token, expires_at_ms)) = unkept {
            self.keep_token(&token, expires_at_ms);
        }
        let token = self.token().await?;
        match call(token).await {
            Err(ClientError::Relay { status: 401, .. }) => {
                self.set_token(None);
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
        let signed = state
            .store
            .reader()
            .prekeys()?
            .current_signed_prekey()
            .cloned();
        self.publish_one_time_prekeys(state, signed).await?;
        let (tx, key) = state.store.transaction()?;
        Reader::of(&tx, key).put_u64("registered", 1)?;
        commit(tx)
    }
}
