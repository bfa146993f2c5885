//! What a command prints: an answer in text or JSON, or a failure as one
//! line with a hint (text) or `{"error": {...}}` (JSON).
//!
//! In text mode answers go to stdout and failures to stderr. In JSON mode
//! everything, failures included, is one JSON document on stdout, so that a
//! script reads one stream.

use std::io::Write;

use fuin_client::ClientError;
use serde_json::{Map, Value, json};

/// The exit status of a command that failed.
pub const EXIT_FAILURE: u8 = 1;
/// The exit status of a command line that could not be parsed (clap's).
pub const EXIT_USAGE: u8 = 2;

/// A command's result, in both forms.
pub struct Answer {
    /// For people; printed as is (a newline is added if missing).
    pub text: String,
    /// For programs.
    pub json: Value,
}

/// Why a command failed: a stable code, a sentence, and what to do about it.
#[derive(Debug)]
pub struct Failure {
    /// Stable, for programs (`identity_changed`, `unreachable`, ...).
    pub code: &'static str,
    /// One sentence for people.
    pub message: String,
    /// What to do about it.
    pub hint: String,
    /// More fields for the JSON form (the device, the relay's code).
    pub details: Map<String, Value>,
    /// The exit status.
    pub exit: u8,
    /// What the command did show before failing (text mode prints it on
    /// stdout ahead of the error; JSON mode carries it in `details`).
    pub shown: Option<String>,
}

impl Failure {
    /// A failure of the command itself (not of the SDK).
    pub fn new(code: &'static str, message: impl Into<String>, hint: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            hint: hint.into(),
            details: Map::new(),
            exit: EXIT_FAILURE,
            shown: None,
        }
    }

    fn with(mut self, key: &str, value: Value) -> Self {
        self.details.insert(key.to_owned(), value);
        self
    }
}

impl From<ClientError> for Failure {
    fn from(err: ClientError) -> Self {
        let message = err.to_string();
        let hint = err.hint();
        match &err {
            ClientError::Relay { status, code, .. } => {
                let (status, code) = (*status, code.clone());
                let hint = relay_hint(&code).unwrap_or(hint);
                Self::new("relay_refused", message, hint)
                    .with("status", json!(status))
                    .with("relay_code", json!(code))
            }
            ClientError::Unreachable(why) if why.contains("certificate") => Self::new(
                "unreachable",
                message,
                "the relay's TLS certificate is not trusted; if it is self-signed, \
                 give it with --relay-cert PEM",
            ),
            ClientError::Unreachable(_) => Self::new("unreachable", message, hint),
            ClientError::RelayMisbehaved(_) => Self::new("relay_misbehaved", message, hint),
            ClientError::IdentityChanged { user } => {
                let hint = format!(
                    "{user}'s account key changed: compare the new safety number with {user} \
                     (fuin safety-number {user}), then accept it (fuin accept-identity {user})"
                );
                let user = user.clone();
                Self::new("identity_changed", message, hint).with("user", json!(user))
            }
            ClientError::UnknownUser { user } => {
                let user = user.clone();
                Self::new("unknown_user", message, hint).with("user", json!(user))
            }
            ClientError::InvalidArgument(_) => Self::new("invalid_argument", message, hint),
            ClientError::Storage(_) => Self::new("storage", message, hint),
            ClientError::KeyFile(_) => Self::new("key_file", message, hint),
            ClientError::Protocol(_) => Self::new("protocol", message, hint),
            ClientError::Attachment(kind) => {
                let kind = format!("{kind:?}");
                let kind = kind.split([' ', '{']).next().unwrap_or_default().to_owned();
                Self::new("attachment", message, hint).with("kind", json!(kind))
            }
            ClientError::File(_) => Self::new("file", message, hint),
            ClientError::ImageRefused(_) => Self::new("image_refused", message, hint),
            ClientError::AttachmentTooLarge { size, max } => {
                let (size, max) = (*size, *max);
                Self::new("too_large", message, hint)
                    .with("size", json!(size))
                    .with("max", json!(max))
            }
            ClientError::Cancelled => Self::new("cancelled", message, hint),
            _ => Self::new("client", message, hint),
        }
    }
}

/// What to do about a refusal with the relay's `code`, where the SDK's
/// general hint would not say (`spec/relay-api.md` §5).
fn relay_hint(code: &str) -> Option<&'static str> {
    Some(match code {
        "account_exists" => {
            "this user has an account already: a new device joins it by linking. Run \
             `fuin link --relay URL --name NAME` on the new device, then \
             `fuin devices approve CODE` on one of your existing devices"
        }
        "invite_required" => {
            "this relay creates accounts by invitation only: ask its operator for an invite \
             code (fuin relay invite) and give it with --invite HEX"
        }
        "invalid_invite" => {
            "the invite code is unknown or was used already: check it, or ask the relay's \
             operator for a new one"
        }
        "not_in_device_list" => {
            "this device is not in its account's device list: it was removed from another \
             of your devices (or never linked). Link it again with `fuin link` in a new store"
        }
        "unknown_device" => {
            "this device is no longer registered at the relay: it was removed from its \
             account on another of your devices (fuin devices remove). Its history stays \
             readable here (fuin history); to use it again, link it anew with `fuin link` \
             into a new store"
        }
        "stale_device_list" => {
            "another of your devices changed the device list at the same time: run the \
             command again"
        }
        "no_account" => {
            "the user has no account at this relay: create it with `fuin init`, or check \
             the user id and the relay's address"
        }
        _ => return None,
    })
}

/// Prints answers and failures in the form the command line asked for.
#[derive(Clone, Copy)]
pub struct Output {
    /// JSON instead of text.
    pub json: bool,
}

impl Output {
    /// Prints an answer.
    pub fn answer(self, answer: &Answer) {
        if self.json {
            stdout_line(&answer.json.to_string());
        } else if !answer.text.is_empty() {
            stdout_line(answer.text.strip_suffix('\n').unwrap_or(&answer.text));
        }
    }

    /// Prints a failure.
    pub fn failure(self, failure: &Failure) {
        if self.json {
            let mut error = Map::new();
            error.insert("code".into(), json!(failure.code));
            error.insert("message".into(), json!(failure.message));
            error.insert("hint".into(), json!(failure.hint));
            for (key, value) in &failure.details {
                error.insert(key.clone(), value.clone());
            }
            stdout_line(&json!({ "error": error }).to_string());
        } else {
            if let Some(shown) = &failure.shown {
                stdout_line(shown);
            }
            stderr_line(&format!(
                "error: {}\nhint: {}",
                one_line(&failure.message),
                one_line(&failure.hint)
            ));
        }
    }
}

/// Writes `text` and a newline to stdout. A closed stdout (`fuin ... | head`)
/// is not an error worth a panic: what cannot be written is dropped.
pub fn stdout_line(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}").and_then(|()| out.flush());
}

/// Writes `text` and a newline to stderr, dropping it if stderr is closed.
pub fn stderr_line(text: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{text}");
}

/// `text` with line breaks turned into spaces.
fn one_line(text: &str) -> String {
    text.split(['\r', '\n'])
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(status: u16, code: &str) -> Failure {
        Failure::from(ClientError::Relay {
            status,
            code: code.into(),
            message: "refused".into(),
        })
    }

    #[test]
    fn the_account_codes_have_hints_that_say_what_to_do() {
        let exists = refused(409, "account_exists");
        assert_eq!(exists.code, "relay_refused");
        assert_eq!(exists.details["relay_code"], "account_exists");
        assert!(
            exists.hint.contains("fuin link") && exists.hint.contains("fuin devices approve"),
            "{}",
            exists.hint
        );
        assert!(refused(403, "invite_required").hint.contains("--invite"));
        assert!(refused(403, "invalid_invite").hint.contains("invite"));
        assert!(refused(403, "not_in_device_list").hint.contains("removed"));
        assert!(refused(404, "unknown_device").hint.contains("removed"));
        assert!(refused(409, "stale_device_list").hint.contains("again"));
        // Others keep the SDK's hint.
        assert_eq!(
            refused(400, "bad_request").hint,
            "the relay refused the request; see its code"
        );
    }

    #[test]
    fn an_account_key_change_names_the_user_and_the_commands() {
        let failure = Failure::from(ClientError::IdentityChanged { user: "bob".into() });
        assert_eq!(failure.code, "identity_changed");
        assert_eq!(failure.details["user"], "bob");
        assert!(failure.hint.contains("fuin safety-number bob"));
        assert!(failure.hint.contains("fuin accept-identity bob"));
    }
}
