//! Per-audience identifiers in the SDK (`spec/identifiers.md`,
//! `spec/client.md` §13): what this user hands an outside audience (a
//! mini-app, a bot, a third-party service) to name itself or a
//! conversation, derived per audience and per user by `fuin_seal`, and the
//! group's shared identifier, which exists only once a member shared a
//! consent in a signed control message.

use fuin_seal::ConversationId;
use fuin_seal::group::ChangeRequest;
use fuin_seal::identifiers::{
    Audience, IdentifierSecret, conversation_identifier, user_identifier,
};
use fuin_wire::UserId;

use crate::client::commit;
use crate::group::{GroupInfo, parse_group_id};
use crate::local::Reader;
use crate::{Client, ClientError};

/// The name of the identifier secret in the store's `meta` table.
const SECRET_NAME: &str = "identifier_secret";

/// A conversation to name to an audience.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AudienceConversation {
    /// The one-to-one conversation with this user.
    Direct(String),
    /// A group this device holds, by its id (64 hex digits).
    Group(String),
}

fn audience(id: &str) -> Result<Audience<'_>, ClientError> {
    Audience::new(id.as_bytes())
        .map_err(|_| ClientError::InvalidArgument("an audience id is 1 to 255 bytes".into()))
}

impl Client {
    /// This user's identifier secret, drawn and stored (encrypted) on first
    /// use.
    async fn identifier_secret(&self) -> Result<IdentifierSecret, ClientError> {
        let mut state = self.inner.state.lock().await;
        if let Some(bytes) = state.store.reader().secret(SECRET_NAME)? {
            let bytes = <[u8; 32]>::try_from(bytes.as_slice())
                .map_err(|_| ClientError::Storage("the stored identifier secret".into()))?;
            return Ok(IdentifierSecret::from_secret_bytes(bytes));
        }
        let secret = IdentifierSecret::generate(&mut rand::rng());
        let (tx, key) = state.store.transaction()?;
        Reader::of(&tx, key).put_secret(SECRET_NAME, secret.to_secret_bytes().as_slice())?;
        commit(tx)?;
        Ok(secret)
    }

    /// The identifier this user gives `audience` for itself (64 hex
    /// digits): the same for every conversation, another for every
    /// audience, and unrelated to any other user's.
    pub async fn audience_user_identifier(&self, audience_id: &str) -> Result<String, ClientError> {
        let audience = audience(audience_id)?;
        let secret = self.identifier_secret().await?;
        Ok(user_identifier(&secret, audience).to_hex())
    }

    /// The identifier this user gives `audience` for `conversation` (64 hex
    /// digits), the default: per audience **and per user**, so two members
    /// of one group give one audience unrelated values, and one member two
    /// audiences unrelated values. A group must be one this device holds.
    pub async fn audience_identifier(
        &self,
        audience_id: &str,
        conversation: &AudienceConversation,
    ) -> Result<String, ClientError> {
        let audience = audience(audience_id)?;
        let conversation = match conversation {
            AudienceConversation::Direct(user) => {
                let peer = UserId::new(user.clone()).map_err(|err| {
                    ClientError::InvalidArgument(format!("user id {user:?}: {err}"))
                })?;
                ConversationId::direct(&self.address().user, &peer)
            }
            AudienceConversation::Group(group) => {
                let id = parse_group_id(group)?;
                let state = self.inner.state.lock().await;
                self.group_state(&state, &id)?;
                ConversationId::group(&id)
            }
        };
        let secret = self.identifier_secret().await?;
        Ok(conversation_identifier(&secret, audience, &conversation).to_hex())
    }

    /// The group's shared identifier towards `audience` (64 hex digits),
    /// the same for every member: `None` until a member shared a consent
    /// ([`Client::share_group_consent`]).
    pub async fn group_shared_identifier(
        &self,
        audience_id: &str,
        group: &str,
    ) -> Result<Option<String>, ClientError> {
        let audience = audience(audience_id)?;
        let id = parse_group_id(group)?;
        let state = self.inner.state.lock().await;
        let current = self.group_state(&state, &id)?;
        Ok(current
            .shared_identifier(audience)
            .map(|identifier| identifier.to_hex()))
    }

    /// Shares a new random audience consent with the group, in a signed
    /// control message that starts a new epoch (`spec/identifiers.md` §4):
    /// from then on every member derives the same
    /// [`group_shared_identifier`](Client::group_shared_identifier). A newer
    /// consent replaces it (and with it every shared identifier).
    pub async fn share_group_consent(&self, group: &str) -> Result<GroupInfo, ClientError> {
        let id = parse_group_id(group)?;
        self.ensure_registered().await?;
        let mut state = self.inner.state.lock().await;
        self.change_group(&mut state, &id, ChangeRequest::ShareConsent)
            .await
    }
}
