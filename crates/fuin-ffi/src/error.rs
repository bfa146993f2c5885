//! The one error type of the bindings: the SDK's [`ClientError`], flat.

use fuin::ClientError;

/// Why an operation failed. Every variant carries `detail` (what went
/// wrong, never key bytes or message text) and `hint` (what a person can
/// do about it, from [`ClientError::hint`]).
///
/// The field is `detail`, not `message`: Kotlin exceptions have a
/// `message` of their own.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Error)]
pub enum FuinError {
    /// The relay refused the request.
    Relay {
        /// The HTTP status.
        status: u16,
        /// The relay's stable error code, such as `unknown_recipient`.
        code: String,
        /// What the relay said, and more.
        detail: String,
        /// What to do.
        hint: String,
    },
    /// The relay could not be reached; sends stay queued and are retried.
    Unreachable {
        /// What failed.
        detail: String,
        /// What to do.
        hint: String,
    },
    /// The relay answered with something a fuin relay does not send.
    RelayMisbehaved {
        /// What was wrong.
        detail: String,
        /// What to do.
        hint: String,
    },
    /// The user's account key changed; nothing flows to or from them until
    /// the app accepts the new key.
    IdentityChanged {
        /// The user.
        user: String,
        /// What happened.
        detail: String,
        /// What to do.
        hint: String,
    },
    /// The user has no device at the relay.
    UnknownUser {
        /// The user id.
        user: String,
        /// What happened.
        detail: String,
        /// What to do.
        hint: String,
    },
    /// An argument was not acceptable.
    InvalidArgument {
        /// Which, and why.
        detail: String,
        /// What to do.
        hint: String,
    },
    /// The local store failed or is damaged, or its key file is unusable.
    Storage {
        /// The operation that failed.
        detail: String,
        /// What to do.
        hint: String,
    },
    /// A protocol check failed.
    Protocol {
        /// Which check.
        detail: String,
        /// What to do.
        hint: String,
    },
    /// An attachment did not verify (nothing of it was written out), or an
    /// image was refused.
    Attachment {
        /// Which check failed.
        detail: String,
        /// What to do.
        hint: String,
    },
    /// A local file could not be read or written.
    File {
        /// The operation and the I/O error.
        detail: String,
        /// What to do.
        hint: String,
    },
    /// An error of a kind newer than these bindings.
    Other {
        /// What went wrong.
        detail: String,
        /// What to do.
        hint: String,
    },
}

impl std::fmt::Display for FuinError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (detail, hint) = match self {
            Self::Relay { detail, hint, .. }
            | Self::Unreachable { detail, hint }
            | Self::RelayMisbehaved { detail, hint }
            | Self::IdentityChanged { detail, hint, .. }
            | Self::UnknownUser { detail, hint, .. }
            | Self::InvalidArgument { detail, hint }
            | Self::Storage { detail, hint }
            | Self::Protocol { detail, hint }
            | Self::Attachment { detail, hint }
            | Self::File { detail, hint }
            | Self::Other { detail, hint } => (detail, hint),
        };
        write!(f, "{detail} ({hint})")
    }
}

impl std::error::Error for FuinError {}

impl From<ClientError> for FuinError {
    fn from(err: ClientError) -> Self {
        // `ClientError`'s messages are safe to show and log (no keys, no
        // message text); the bindings pass them on as they are.
        let detail = err.to_string();
        let hint = err.hint().to_owned();
        match err {
            ClientError::Relay { status, code, .. } => Self::Relay {
                status,
                code,
                detail,
                hint,
            },
            ClientError::Unreachable(_) => Self::Unreachable { detail, hint },
            ClientError::RelayMisbehaved(_) => Self::RelayMisbehaved { detail, hint },
            ClientError::IdentityChanged { user } => Self::IdentityChanged { user, detail, hint },
            ClientError::UnknownUser { user } => Self::UnknownUser { user, detail, hint },
            ClientError::InvalidArgument(_) => Self::InvalidArgument { detail, hint },
            ClientError::Storage(_) | ClientError::KeyFile(_) => Self::Storage { detail, hint },
            ClientError::Protocol(_) => Self::Protocol { detail, hint },
            ClientError::Attachment(_) | ClientError::ImageRefused(_) => {
                Self::Attachment { detail, hint }
            }
            ClientError::File(_) => Self::File { detail, hint },
            _ => Self::Other { detail, hint },
        }
    }
}

impl FuinError {
    /// An argument the bindings themselves refuse.
    pub(crate) fn invalid_argument(detail: impl Into<String>) -> Self {
        Self::from(ClientError::InvalidArgument(detail.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every kind of SDK error keeps its kind, its words and its hint.
    #[test]
    fn each_client_error_keeps_its_kind_and_hint() {
        let relay = ClientError::Relay {
            status: 409,
            code: "user_exists".into(),
            message: "the user has an account".into(),
        };
        let FuinError::Relay {
            status,
            code,
            detail,
            hint,
        } = FuinError::from(relay.clone())
        else {
            panic!("not a relay error");
        };
        assert_eq!((status, code.as_str()), (409, "user_exists"));
        assert_eq!(detail, relay.to_string());
        assert_eq!(hint, relay.hint());

        let cases = [
            (ClientError::Unreachable("refused".into()), "Unreachable"),
            (
                ClientError::RelayMisbehaved("junk".into()),
                "RelayMisbehaved",
            ),
            (ClientError::UnknownUser { user: "x".into() }, "UnknownUser"),
            (
                ClientError::IdentityChanged { user: "x".into() },
                "IdentityChanged",
            ),
            (
                ClientError::InvalidArgument("empty".into()),
                "InvalidArgument",
            ),
            (ClientError::Storage("locked".into()), "Storage"),
            (ClientError::KeyFile("missing".into()), "Storage"),
            (ClientError::File("denied".into()), "File"),
        ];
        for (err, kind) in cases {
            let mapped = FuinError::from(err.clone());
            assert!(
                format!("{mapped:?}").starts_with(kind),
                "{err:?} became {mapped:?}"
            );
            assert_eq!(mapped.to_string(), format!("{err} ({})", err.hint()));
        }
    }
}
