//! Opening the relay's push stream (`spec/relay-api.md` §4.11): a
//! WebSocket on an HTTP/1.1 connection that reqwest upgrades, so that TLS,
//! its roots and the extra root of [`crate::ClientOptions::relay_certificate`]
//! are the ones every other request uses.

use std::time::Duration;

use fuin_wire::limits::MAX_FRAME_LEN;
use fuin_wire::relay::BearerToken;
use reqwest::StatusCode;
use reqwest::header::{
    AUTHORIZATION, CONNECTION, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_VERSION,
    UPGRADE,
};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::client::generate_key;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use zeroize::Zeroizing;

use crate::ClientError;
use crate::relay::{RelayConnection, describe, refusal};

/// An open push stream.
pub(crate) type PushSocket = WebSocketStream<reqwest::Upgraded>;

/// How long the opening handshake may take.
const OPEN_DEADLINE: Duration = Duration::from_secs(20);

impl RelayConnection {
    /// Opens the push stream with `token`. A relay that answers the
    /// upgrade with anything but `101` gives [`ClientError::Relay`] with
    /// its status (401 for a token it no longer takes).
    pub(crate) async fn open_stream(&self, token: &BearerToken) -> Result<PushSocket, ClientError> {
        tokio::time::timeout(OPEN_DEADLINE, self.open_stream_now(token))
            .await
            .unwrap_or_else(|_| {
                Err(ClientError::Unreachable(
                    "the push stream did not open in time".into(),
                ))
            })
    }

    async fn open_stream_now(&self, token: &BearerToken) -> Result<PushSocket, ClientError> {
        let key = generate_key();
        let authorization = Zeroizing::new(format!("Bearer {}", hex::encode(token.0)));
        let response = self
            .upgrade_http
            .get(format!("{}/v1/mailbox/stream", self.base()))
            .header(CONNECTION, "Upgrade")
            .header(UPGRADE, "websocket")
            .header(SEC_WEBSOCKET_VERSION, "13")
            .header(SEC_WEBSOCKET_KEY, &key)
            .header(AUTHORIZATION, authorization.as_str())
            .send()
            .await
            .map_err(|err| ClientError::Unreachable(describe(&err)))?;
        let status = response.status();
        if status != StatusCode::SWITCHING_PROTOCOLS {
            // The body only names the refusal; an unreadable one is no code.
            let body = response.bytes().await.unwrap_or_default();
            return Err(refusal(status, &body));
        }
        let expected = derive_accept_key(key.as_bytes());
        let accepted = response
            .headers()
            .get(SEC_WEBSOCKET_ACCEPT)
            .is_some_and(|value| value.as_bytes() == expected.as_bytes());
        if !accepted {
            return Err(ClientError::RelayMisbehaved(
                "the push stream's upgrade answer does not match its key".into(),
            ));
        }
        let upgraded = response
            .upgrade()
            .await
            .map_err(|err| ClientError::Unreachable(describe(&err)))?;
        let config = WebSocketConfig::default()
            .max_message_size(Some(MAX_FRAME_LEN))
            .max_frame_size(Some(MAX_FRAME_LEN));
        Ok(WebSocketStream::from_raw_socket(upgraded, Role::Client, Some(config)).await)
    }
}
