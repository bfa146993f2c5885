//! Per-audience identifiers in the SDK (`spec/identifiers.md`,
//! `spec/client.md` §13): what this user hands an outside audience (a
//! mini-app, a bot, a third-party service) to name itself or a
//! conversation, derived per audience and per user by `fuin_seal`, and the
//! group's shared identifier, which exists only once a member shared a
//! consent in a signed control message.
//!
//! The identifier secret is the user's, not the device's: the device that
//! draws it sends it to the user's other devices in `IdentifierSecret`
//! messages, and every device keeps the oldest secret it has seen
//! ([`IdentifierSecretShare::wins_over`]), so all of them converge on one.

use fuin_seal::ConversationId;
use fuin_seal::group::ChangeRequest;
use fuin_seal::identifiers::{
    Audience, IdentifierSecret, conversation_identifier, user_identifier,
};
use fuin_wire::identifier::{IdentifierSecretBytes, IdentifierSecretShare};
use fuin_wire::{ContentType, DeviceAddress, DeviceId, UserId};
use rusqlite::{OptionalExtension, params};

use crate::client::{State, commit, now_ms};
use crate::event::Event;
use crate::group::{GroupInfo, parse_group_id};
use crate::store::Reader;
use crate::{Client, ClientError};

/// The name of the identifier secret (with when and where it was drawn) in
/// the store's `meta` table, encrypted.
const SHARE_NAME: &str = "identifier_secret_share";
/// Where stores made before the secret was shared kept the bare secret.
const LEGACY_SECRET_NAME: &str = "identifier_secret";

/// Which of this user's devices hold this device's current secret: those
/// it sent it to, and those that sent it the same one. A secret is named by
/// `(drawn_at_ms, origin_device)`; a row naming another is stale.
pub(crate) const IDENTIFIER_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS identifier_holders (
    device         INTEGER PRIMARY KEY,
    drawn_at_ms    INTEGER NOT NULL,
    origin_device  INTEGER NOT NULL
);
";

fn storage(what: &'static str) -> impl Fn(rusqlite::Error) -> ClientError {
    move |err| ClientError::Storage(format!("{what}: {err}"))
}

fn sql_u64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// This device's identifier secret, with when and by which device it was
/// drawn; `None` before it needed or received one.
fn stored_share(db: Reader<'_>) -> Result<Option<IdentifierSecretShare>, ClientError> {
    db.secret(SHARE_NAME)?
        .map(|bytes| {
            IdentifierSecretShare::from_bytes(&bytes)
                .map_err(|_| ClientError::Storage("the stored identifier secret".into()))
        })
        .transpose()
}

fn put_share(db: Reader<'_>, share: &IdentifierSecretShare) -> Result<(), ClientError> {
    db.put_secret(SHARE_NAME, &share.to_bytes()?)
}

/// Records that `device` holds `share`.
fn mark_holder(
    db: Reader<'_>,
    device: DeviceId,
    share: &IdentifierSecretShare,
) -> Result<(), ClientError> {
    db.conn
        .execute(
            "INSERT INTO identifier_holders (device, drawn_at_ms, origin_device)
             VALUES (?1, ?2, ?3)
             ON CONFLICT (device) DO UPDATE SET drawn_at_ms = excluded.drawn_at_ms,
                 origin_device = excluded.origin_device",
            params![
                i64::from(device.0),
                sql_u64(share.drawn_at_ms),
                i64::from(share.origin_device.0)
            ],
        )
        .map_err(storage("recording who holds the identifier secret"))?;
    Ok(())
}

/// Forgets that `device` holds anything, so this device's secret is sent
/// to it again.
fn forget_holder(db: Reader<'_>, device: DeviceId) -> Result<(), ClientError> {
    db.conn
        .execute(
            "DELETE FROM identifier_holders WHERE device = ?1",
            [i64::from(device.0)],
        )
        .map_err(storage("forgetting who holds the identifier secret"))?;
    Ok(())
}

/// Whether `device` is known to hold `share`.
fn holds(
    db: Reader<'_>,
    device: DeviceId,
    share: &IdentifierSecretShare,
) -> Result<bool, ClientError> {
    let row: Option<(i64, i64)> = db
        .conn
        .query_row(
            "SELECT drawn_at_ms, origin_device FROM identifier_holders WHERE device = ?1",
            [i64::from(device.0)],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()
        .map_err(storage("reading who holds the identifier secret"))?;
    Ok(row == Some((sql_u64(share.drawn_at_ms), i64::from(share.origin_device.0))))
}

/// How an incoming share compares with what this device holds.
enum Adoption {
    /// This device had none; it holds the received one now.
    First,
    /// The received one is the one this device holds.
    Same,
    /// The received one is older and replaced this device's.
    Replaced,
    /// This device's is older; it is sent back.
    Kept,
}

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
    /// This user's identifier secret. A device that has none draws one,
    /// stores it (encrypted) with the time and its own device id, and
    /// offers it to this user's other devices; a store that kept the bare
    /// secret of an earlier version has it dated now.
    async fn identifier_secret(&self) -> Result<IdentifierSecret, ClientError> {
        let mut state = self.inner.state.lock().await;
        if let Some(share) = stored_share(state.store.reader())? {
            return Ok(IdentifierSecret::from_secret_bytes(*share.secret.expose()));
        }
        let legacy = state.store.reader().secret(LEGACY_SECRET_NAME)?;
        let secret = match legacy {
            Some(bytes) => {
                let bytes = <[u8; 32]>::try_from(bytes.as_slice())
                    .map_err(|_| ClientError::Storage("the stored identifier secret".into()))?;
                IdentifierSecret::from_secret_bytes(bytes)
            }
            None => IdentifierSecret::generate(&mut rand::rng()),
        };
        let share = IdentifierSecretShare {
            secret: IdentifierSecretBytes(*secret.to_secret_bytes()),
            drawn_at_ms: now_ms(),
            origin_device: self.inner.address.device,
        };
        {
            let (tx, key) = state.store.transaction()?;
            let db = Reader::of(&tx, key);
            // Another process on the store may have drawn one meanwhile:
            // that one stays (identifiers already handed out depend on it).
            if let Some(share) = stored_share(db)? {
                return Ok(IdentifierSecret::from_secret_bytes(*share.secret.expose()));
            }
            put_share(db, &share)?;
            tx.execute("DELETE FROM meta WHERE name = ?1", [LEGACY_SECRET_NAME])
                .map_err(storage("removing the old identifier secret"))?;
            commit(tx)?;
        }
        // Offered to every device the relay lists for this user: a device
        // that cannot be reached now gets it at a later sync.
        let _ = self.share_identifier_secret(&mut state, true).await;
        Ok(secret)
    }

    /// Sends this device's identifier secret to this user's other devices
    /// that are not known to hold it. Without `ask_relay` it does nothing,
    /// and asks the relay nothing, unless a device this device already knows
    /// (from a send or from a message it sent) lacks the secret; then one
    /// device list and one send.
    pub(crate) async fn share_identifier_secret(
        &self,
        state: &mut State,
        ask_relay: bool,
    ) -> Result<(), ClientError> {
        let own = self.inner.address.user.clone();
        let Some(share) = stored_share(state.store.reader())? else {
            return Ok(());
        };
        let lacking = |state: &State, devices: &[DeviceId]| -> Result<Vec<DeviceId>, ClientError> {
            let db = state.store.reader();
            let mut out = Vec::new();
            for &device in devices {
                if device != self.inner.address.device && !holds(db, device, &share)? {
                    out.push(device);
                }
            }
            Ok(out)
        };
        let mut known_lacking = Vec::new();
        if !ask_relay {
            let known: Vec<DeviceId> = state
                .store
                .reader()
                .peers_of(&own)?
                .into_iter()
                .filter(|(_, record)| record.pending.is_none())
                .map(|(device, _)| device)
                .collect();
            known_lacking = lacking(state, &known)?;
            if known_lacking.is_empty() {
                return Ok(());
            }
        }
        let listed = self.resolve_devices(state, &own).await?;
        if !known_lacking.is_empty() {
            // A device the relay no longer lists will not get it: it is not
            // asked about again until it sends a secret of its own.
            let (tx, key) = state.store.transaction()?;
            let db = Reader::of(&tx, key);
            for device in &known_lacking {
                if !listed.iter().any(|(address, _)| address.device == *device) {
                    mark_holder(db, *device, &share)?;
                }
            }
            commit(tx)?;
        }
        let listed_devices: Vec<DeviceId> =
            listed.iter().map(|(address, _)| address.device).collect();
        let wanted = lacking(state, &listed_devices)?;
        let targets: Vec<_> = listed
            .into_iter()
            .filter(|(address, _)| wanted.contains(&address.device))
            .collect();
        if targets.is_empty() {
            return Ok(());
        }
        let body = share.to_bytes()?;
        // The list was fetched just above: the send does not fetch it again.
        self.send_content_resolved(state, &own, ContentType::IdentifierSecret, &body, targets)
            .await?;
        let (tx, key) = state.store.transaction()?;
        let db = Reader::of(&tx, key);
        for device in &wanted {
            mark_holder(db, *device, &share)?;
        }
        commit(tx)
    }

    /// Applies an identifier secret received from `sender`, inside the
    /// transaction that stores the delivery as processed: accepted only
    /// from this user's own devices, adopted when it is older than this
    /// device's.
    pub(crate) fn receive_identifier_share(
        &self,
        db: Reader<'_>,
        sender: &DeviceAddress<'static>,
        body: &[u8],
        events: &mut Vec<Event>,
    ) -> Result<bool, ClientError> {
        if sender.user != self.inner.address.user || sender.device == self.inner.address.device {
            events.push(Event::MessageDropped {
                from: sender.clone(),
                reason: "an identifier secret from a device of another user".into(),
            });
            return Ok(false);
        }
        let Ok(received) = IdentifierSecretShare::from_bytes(body) else {
            events.push(Event::MessageDropped {
                from: sender.clone(),
                reason: "an unreadable identifier secret".into(),
            });
            return Ok(false);
        };
        let adoption = match stored_share(db)? {
            None => Adoption::First,
            Some(current) if current == received => Adoption::Same,
            Some(current) if received.wins_over(&current) => Adoption::Replaced,
            Some(_) => Adoption::Kept,
        };
        match adoption {
            Adoption::First | Adoption::Replaced => {
                put_share(db, &received)?;
                mark_holder(db, sender.device, &received)?;
                // Stores made before the secret was shared.
                db.conn
                    .execute("DELETE FROM meta WHERE name = ?1", [LEGACY_SECRET_NAME])
                    .map_err(storage("removing the old identifier secret"))?;
                if matches!(adoption, Adoption::Replaced) {
                    events.push(Event::IdentifierSecretChanged {
                        from: sender.clone(),
                    });
                }
            }
            Adoption::Same => mark_holder(db, sender.device, &received)?,
            // The sender holds a newer one: the next offer sends it ours.
            Adoption::Kept => forget_holder(db, sender.device)?,
        }
        Ok(true)
    }

    /// The identifier this user gives `audience` for itself (64 hex
    /// digits): the same for every conversation, another for every
    /// audience, and unrelated to any other user's.
    ///
    /// Cancel safety: [`Client`](crate::Client#cancel-safety).
    pub async fn audience_user_identifier(&self, audience_id: &str) -> Result<String, ClientError> {
        let audience = audience(audience_id)?;
        let secret = self.identifier_secret().await?;
        Ok(user_identifier(&secret, audience).to_hex())
    }

    /// The identifier this user gives `audience` for `conversation` (64 hex
    /// digits), the default: per audience **and per user**, so two members
    /// of one group give one audience unrelated values, and one member two
    /// audiences unrelated values. A group must be one this device holds.
    ///
    /// Cancel safety: [`Client`](crate::Client#cancel-safety).
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
    ///
    /// Cancel safety: [`Client`](crate::Client#cancel-safety).
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
    ///
    /// Cancel safety: [`Client`](crate::Client#cancel-safety).
    pub async fn share_group_consent(&self, group: &str) -> Result<GroupInfo, ClientError> {
        let id = parse_group_id(group)?;
        self.ensure_registered().await?;
        let mut state = self.inner.state.lock().await;
        self.change_group(&mut state, &id, ChangeRequest::ShareConsent)
            .await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[tokio::test]
    async fn a_bare_secret_of_an_earlier_store_keeps_its_identifiers() {
        let dir = tempfile::tempdir().unwrap();
        // No relay: the device exists locally and the offer fails quietly.
        let client = Client::create(
            dir.path().join("alice.db"),
            "http://127.0.0.1:9",
            "alice",
            1,
            Default::default(),
        )
        .await
        .unwrap();
        let legacy = [5u8; 32];
        {
            let mut state = client.inner.state.lock().await;
            let (tx, key) = state.store.transaction().unwrap();
            Reader::of(&tx, key)
                .put_secret(LEGACY_SECRET_NAME, &legacy)
                .unwrap();
            commit(tx).unwrap();
        }
        let expected = user_identifier(
            &IdentifierSecret::from_secret_bytes(legacy),
            Audience::new(b"poll-app").unwrap(),
        )
        .to_hex();
        assert_eq!(
            client.audience_user_identifier("poll-app").await.unwrap(),
            expected
        );
        let state = client.inner.state.lock().await;
        let db = state.store.reader();
        assert!(db.secret(LEGACY_SECRET_NAME).unwrap().is_none());
        let share = stored_share(db).unwrap().unwrap();
        assert_eq!(share.secret.expose(), &legacy);
        assert_eq!(share.origin_device, DeviceId(1));
    }
}
