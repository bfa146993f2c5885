//! Identifiers for outside audiences (mini-apps, bots, third-party services),
//! `spec/identifiers.md`.
//!
//! An audience that several users talk to must not learn who shares a
//! conversation with whom. So by default every identifier a user gives an
//! audience is an HMAC under that **user's** secret of the audience's id (and
//! the conversation's id): two users of one group give one audience two
//! unrelated values, and one user gives two audiences unrelated values. A
//! group may instead choose one identifier for all its members towards every
//! audience, but only with an explicit **consent** value a member created and
//! shared with the group in a signed control message
//! ([`ChangeRequest::ShareConsent`](crate::group::ChangeRequest)); every
//! holder of it derives the same identifier.

use rand_core::CryptoRng;
use zeroize::Zeroizing;

use fuin_wire::GroupConsent;

use crate::primitives::framing::Framer;
use crate::primitives::franking::hmac_sha256;
use crate::primitives::kdf::Label;
use crate::primitives::secret::secret_bytes;
use crate::{ConversationId, SealError};

/// The most bytes an audience id may have.
pub const MAX_AUDIENCE_ID_LEN: usize = 255;

secret_bytes!(
    /// A user's identifier secret: 32 random bytes, drawn once per user and
    /// the same on all the user's devices, never shown to anyone else.
    pub IdentifierSecret
);

impl IdentifierSecret {
    /// Draws a new secret.
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut bytes = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(bytes.as_mut());
        Self::from_bytes(*bytes)
    }

    /// Restores a secret from its 32 bytes.
    pub fn from_secret_bytes(bytes: [u8; 32]) -> Self {
        Self::from_bytes(bytes)
    }

    /// The secret's bytes, for storing it (encrypted).
    pub fn to_secret_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(*self.expose())
    }
}

/// Who an identifier is for: the audience's own stable id (for example a
/// mini-app's registered name), 1 to [`MAX_AUDIENCE_ID_LEN`] bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Audience<'a>(&'a [u8]);

impl<'a> Audience<'a> {
    /// Wraps an audience id; refuses an empty or over-long one.
    pub fn new(id: &'a [u8]) -> Result<Self, SealError> {
        if id.is_empty() || id.len() > MAX_AUDIENCE_ID_LEN {
            return Err(SealError::ApiMisuse {
                reason: "an audience id has 1 to 255 bytes",
            });
        }
        Ok(Self(id))
    }

    /// The id's bytes.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.0
    }
}

/// An identifier handed to an audience: 32 bytes that reveal nothing about
/// who made them.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AudienceIdentifier(pub [u8; 32]);

impl AudienceIdentifier {
    /// Lowercase hex, for an audience that wants text.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|byte| format!("{byte:02x}")).collect()
    }
}

impl std::fmt::Debug for AudienceIdentifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AudienceIdentifier({})", self.to_hex())
    }
}

fn mac(key: &[u8; 32], label: Label, fields: &[&[u8]]) -> AudienceIdentifier {
    let mut framer = Framer::new(label.as_bytes());
    for field in fields {
        framer.field(field);
    }
    AudienceIdentifier(hmac_sha256(key, &[&framer.finish()]))
}

/// The identifier a user gives `audience` for itself:
/// `HMAC(secret, framed("fuin/v1/audience-user", audience))`.
pub fn user_identifier(secret: &IdentifierSecret, audience: Audience<'_>) -> AudienceIdentifier {
    mac(secret.expose(), Label::AudienceUser, &[audience.as_bytes()])
}

/// The identifier a user gives `audience` for a conversation, by default:
/// `HMAC(secret, framed("fuin/v1/audience-conversation", audience,
/// conversation id))`. Another member of the same conversation gives the
/// same audience an unrelated value.
pub fn conversation_identifier(
    secret: &IdentifierSecret,
    audience: Audience<'_>,
    conversation: &ConversationId,
) -> AudienceIdentifier {
    mac(
        secret.expose(),
        Label::AudienceConversation,
        &[audience.as_bytes(), &conversation.0],
    )
}

/// The identifier every holder of a group's consent gives `audience` for the
/// group's conversation: `HMAC(consent, framed("fuin/v1/audience-shared",
/// audience, conversation id))`. It exists only where the group created a
/// consent.
pub fn shared_conversation_identifier(
    consent: &GroupConsent,
    audience: Audience<'_>,
    conversation: &ConversationId,
) -> AudienceIdentifier {
    mac(
        &consent.0,
        Label::AudienceShared,
        &[audience.as_bytes(), &conversation.0],
    )
}

impl crate::group::GroupState {
    /// This group's shared identifier towards `audience`, if a member shared
    /// a consent; `None` otherwise (then each member uses
    /// [`conversation_identifier`] with its own secret).
    pub fn shared_identifier(&self, audience: Audience<'_>) -> Option<AudienceIdentifier> {
        let consent = self.consent()?;
        Some(shared_conversation_identifier(
            consent,
            audience,
            &ConversationId::group(self.group_id()),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audience_ids_have_bounded_length() {
        assert!(Audience::new(b"").is_err());
        assert!(Audience::new(&[b'a'; 255]).is_ok());
        assert!(Audience::new(&[b'a'; 256]).is_err());
    }

    #[test]
    fn the_three_kinds_of_identifier_are_separated_by_label() {
        // The same key and inputs under two labels must differ, or a user's
        // identifier for a conversation could pass for a shared one.
        let secret = IdentifierSecret::from_secret_bytes([7; 32]);
        let consent = GroupConsent([7; 32]);
        let audience = Audience::new(b"mini-app").unwrap();
        let conversation = ConversationId([9; 32]);
        let own = conversation_identifier(&secret, audience, &conversation);
        let shared = shared_conversation_identifier(&consent, audience, &conversation);
        assert_ne!(own, shared);
        assert_ne!(user_identifier(&secret, audience), own);
    }
}
