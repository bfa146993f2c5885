//! Whether the sessions with a user are post-quantum: what an app shows next
//! to a conversation, and the rule that only hybrid sessions seal.

use fuin_seal::Session;
use fuin_wire::DeviceAddress;

use crate::ClientError;

use super::{Client, user_id};

/// How the session with one of a user's devices was made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionSecurity {
    /// The peer device.
    pub device: DeviceAddress<'static>,
    /// Whether the session this device seals with was made by the hybrid
    /// handshake (X25519 and ML-KEM-768), so that recorded traffic stays
    /// sealed against a future quantum computer (`spec/protocol.md` §6.8).
    /// False only for a session saved before protocol version 3; the client
    /// no longer seals with such a session and starts a hybrid one on the
    /// next send.
    pub post_quantum: bool,
}

/// Whether a session may seal a new message: it can send, and it is
/// post-quantum. A session saved before protocol version 3 still opens what
/// arrives on it, but the next message starts a hybrid session instead (its
/// recorded traffic would otherwise stay open to a quantum adversary; and an
/// unanswered version 2 handshake can no longer be completed at all).
pub(super) fn seals_new_messages(session: &Session) -> bool {
    session.can_send() && session.post_quantum() && !session.handshake_outdated()
}

impl Client {
    /// The sessions with `user`'s devices, one per device that has one: the
    /// session the next message would be sealed with, or else the most
    /// recently used one.
    ///
    /// Cancel safety: [`Client`](crate::Client#cancel-safety).
    pub async fn session_security(&self, user: &str) -> Result<Vec<SessionSecurity>, ClientError> {
        let peer = user_id(user)?;
        let state = self.inner.state.lock().await;
        let db = state.store.reader();
        let mut out = Vec::new();
        for device in db.session_devices(&peer)? {
            let address = DeviceAddress::new(peer.clone(), device);
            let slots = db.sessions(&address)?;
            let chosen = slots
                .iter()
                .find(|slot| seals_new_messages(&slot.session))
                .or_else(|| slots.first());
            if let Some(slot) = chosen {
                out.push(SessionSecurity {
                    device: address,
                    post_quantum: slot.session.post_quantum(),
                });
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A session saved by protocol version 2 (pinned in the seal vectors):
    /// it can send, but the client does not seal new messages with it.
    #[test]
    fn a_session_saved_before_the_hybrid_handshake_seals_no_new_message() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../test-vectors/seal/saved-state-v1.json"
        );
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let bytes = hex::decode(json["alice_session"].as_str().unwrap()).unwrap();
        let session = Session::from_bytes(&bytes).unwrap();
        assert!(session.can_send());
        assert!(!session.post_quantum());
        assert!(!seals_new_messages(&session));
    }
}
