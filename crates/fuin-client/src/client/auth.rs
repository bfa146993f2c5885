//! The relay session: registration, login and bearer tokens.

use fuin_wire::relay::{BearerToken, ChallengeResponse, DeviceRegistration};

use crate::ClientError;
use crate::relay::Registered;
use crate::store::Reader;

use super::{Client, commit};

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
        let signature = self
            .inner
            .identity
            .sign_relay_challenge(&self.inner.address, &challenge.nonce);
        let answer = ChallengeResponse {
            address: self.inner.address.clone(),
            nonce: challenge.nonce,
            signature,
        };
        let token = relay.token(&answer).await?.token;
        self.set_token(Some(token.clone()));
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
            Err(ClientError::Relay { status: 401, .. }) => {
                self.set_token(None);
                let token = self.token().await?;
                call(token).await
            }
            other => other,
        }
    }

    /// Registers the device and publishes its first prekeys, once.
    pub(crate) async fn ensure_registered(&self) -> Result<(), ClientError> {
        let mut state = self.inner.state.lock().await;
        if state.store.reader().u64("registered")? == Some(1) {
            return Ok(());
        }
        let registration = DeviceRegistration {
            address: self.inner.address.clone(),
            identity: self.inner.identity.public().clone(),
        };
        match self.inner.relay.register(&registration).await? {
            Registered::Created | Registered::Already => {}
        }
        let state = &mut *state;
        let signed = state.prekeys.current_signed_prekey().cloned();
        self.publish_one_time_prekeys(state, signed).await?;
        let (tx, key) = state.store.transaction()?;
        Reader::of(&tx, key).put_u64("registered", 1)?;
        commit(tx)
    }
}
