//! Errors as the API reports them: an HTTP status and a JSON body
//! `{"code": ..., "message": ...}` whose `code` is stable.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::store::StoreError;
use fuin_wire::WireError;

/// An error answer. Messages name what was wrong, never payloads or keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The stable code (see `spec/relay-api.md`).
    pub code: &'static str,
    /// A sentence for people.
    pub message: String,
}

impl ApiError {
    /// An error with the given parts.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    /// 401: no valid token.
    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid bearer token is required",
        )
    }

    /// 403: the token's device may not do this.
    pub fn forbidden(message: &str) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }
}

impl From<WireError> for ApiError {
    fn from(err: WireError) -> Self {
        let (status, code) = match err {
            WireError::FrameTooLarge { .. } | WireError::LimitExceeded { .. } => {
                (StatusCode::PAYLOAD_TOO_LARGE, "too_large")
            }
            WireError::UnexpectedFrame { .. } => (StatusCode::BAD_REQUEST, "unexpected_frame"),
            _ => (StatusCode::BAD_REQUEST, "malformed_frame"),
        };
        Self::new(status, code, err.to_string())
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::IdentityConflict => Self::new(
                StatusCode::CONFLICT,
                "identity_conflict",
                "the device is registered with another identity",
            ),
            StoreError::UnknownDevice => Self::new(
                StatusCode::NOT_FOUND,
                "unknown_device",
                "the device is not registered",
            ),
            StoreError::MailboxFull => Self::new(
                StatusCode::INSUFFICIENT_STORAGE,
                "mailbox_full",
                "a recipient's mailbox holds as many envelopes as it may; nothing was sent",
            ),
            StoreError::MailboxBytesFull => Self::new(
                StatusCode::INSUFFICIENT_STORAGE,
                "mailbox_bytes_full",
                "a recipient's mailbox holds as many bytes as it may; nothing was sent",
            ),
            StoreError::CorruptRecord => Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "corrupt_record",
                "a stored device record failed its integrity check; the operator must repair it",
            ),
            StoreError::PrekeyPoolFull => Self::new(
                StatusCode::CONFLICT,
                "prekey_pool_full",
                "the upload would take the one-time prekey pool over its limit; nothing was stored",
            ),
            StoreError::KemPrekeyPoolFull => Self::new(
                StatusCode::CONFLICT,
                "kem_prekey_pool_full",
                "the upload would take the one-time KEM prekey pool over its limit; nothing was stored",
            ),
            StoreError::AccountExists => Self::new(
                StatusCode::CONFLICT,
                "account_exists",
                "the user has an account; a new device joins it by linking",
            ),
            StoreError::InvalidInvite => Self::new(
                StatusCode::FORBIDDEN,
                "invalid_invite",
                "the invite code is unknown or was used already",
            ),
            StoreError::AccountKeyMismatch => Self::new(
                StatusCode::CONFLICT,
                "account_key_mismatch",
                "the list is signed by another account key than the user's",
            ),
            StoreError::StaleDeviceList => Self::new(
                StatusCode::CONFLICT,
                "stale_device_list",
                "the list's version is not newer than the user's current list",
            ),
            StoreError::LinkSlotTaken => Self::new(
                StatusCode::CONFLICT,
                "link_slot_taken",
                "a link message is already waiting in this slot",
            ),
            StoreError::LinkCapacity => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "link_capacity",
                "the relay holds as many link messages as it may; try again later",
            ),
            other => {
                // The operation and stage only: a backend error names no data.
                tracing::error!(error = %other, "store error");
                crate::metrics::store_error();
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "storage_unavailable",
                    other.to_string(),
                )
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({"code": self.code, "message": self.message});
        (
            self.status,
            [("content-type", "application/json")],
            body.to_string(),
        )
            .into_response()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use super::*;

    /// A log writer that keeps what it is given.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_store_failure_is_logged_and_counted_by_its_kind_only() {
        let log = Captured::default();
        let writer = log.clone();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_writer(move || writer.clone())
            .finish();
        let counted = || {
            crate::metrics::encode()
                .lines()
                .find_map(|line| line.strip_prefix("fuin_relay_store_errors_total "))
                .map(|count| count.parse::<u64>().unwrap())
                .unwrap()
        };
        let before = counted();
        let answer = tracing::subscriber::with_default(subscriber, || {
            ApiError::from(StoreError::Backend("deliver (commit)".to_owned()))
        });
        assert_eq!(answer.code, "storage_unavailable");
        assert!(counted() > before);
        let log = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
        let event: serde_json::Value = serde_json::from_str(log.trim()).unwrap();
        assert_eq!(event["level"], "ERROR");
        assert_eq!(event["fields"]["message"], "store error");
        assert_eq!(event["fields"]["error"], "storage failed: deliver (commit)");
        // A refusal that is the client's (a full mailbox) is no store error.
        let before = counted();
        let refusal = ApiError::from(StoreError::MailboxFull);
        assert_eq!(refusal.code, "mailbox_full");
        assert_eq!(counted(), before);
    }
}
