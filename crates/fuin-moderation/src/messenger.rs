//! Moderation's own fuin account as the service's [`Messenger`]: the
//! outcome of a case to its reporter, a warning to a reported user, sent
//! end to end with the SDK like any message, so the relay carries them
//! without reading them.
//!
//! The device is the one that re-fetches attachments (`--device STORE`, a
//! store made with `fuin init`). [`fuin_client::Client`] is a handle that
//! serialises its own use (one state lock), so the puller and the console
//! share it as it is.

use fuin_client::{Client, ClientError};

use crate::service::{BoxFuture, Messenger, MessengerError};

/// Sends with a [`Client`].
#[derive(Clone)]
pub struct ClientMessenger {
    client: Client,
}

impl std::fmt::Debug for ClientMessenger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientMessenger(..)")
    }
}

impl ClientMessenger {
    /// A messenger sending with `client`.
    pub fn new(client: Client) -> Self {
        Self { client }
    }
}

/// A stable code for why the SDK did not send.
fn code_of(err: &ClientError) -> String {
    match err {
        ClientError::Relay { code, .. } => code.clone(),
        ClientError::Unreachable(_) => "relay_unreachable".to_owned(),
        ClientError::UnknownUser { .. } => "unknown_user".to_owned(),
        ClientError::IdentityChanged { .. } => "identity_changed".to_owned(),
        ClientError::InvalidArgument(_) => "invalid_argument".to_owned(),
        _ => "send_failed".to_owned(),
    }
}

impl Messenger for ClientMessenger {
    fn send_text<'a>(
        &'a self,
        user: &'a str,
        text: &'a str,
    ) -> BoxFuture<'a, Result<(), MessengerError>> {
        Box::pin(async move {
            match self.client.send_text(user, text).await {
                Ok(_) => Ok(()),
                Err(err) => {
                    let code = code_of(&err);
                    tracing::warn!(code = %code, "a message from moderation's account was not sent");
                    Err(MessengerError { code })
                }
            }
        })
    }
}
