//! The service's parts, as the console and the report puller share them:
//! the store, the vault, the relay's admin API, moderation's own messaging
//! device, and the clock.
//!
//! The relay admin API and the messaging device are traits so that tests
//! can stand in for them; the real ones talk to a relay over HTTP(S).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::model::LockoutPolicy;
use crate::vault::Vault;

/// A boxed future, for the object-safe traits below.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why the relay's admin API did not do what was asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminError {
    /// A stable code: the relay's error code, or `relay_unreachable`.
    pub code: String,
}

impl std::fmt::Display for AdminError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the relay's admin API refused: {}", self.code)
    }
}

impl std::error::Error for AdminError {}

/// The relay's admin API (`spec/relay-api.md`, admin routes): the actions
/// that take effect at the relay.
pub trait RelayAdmin: Send + Sync + 'static {
    /// Suspends `user`'s account: the relay refuses its sends and logins.
    fn suspend(&self, user: &str) -> BoxFuture<'_, Result<(), AdminError>>;
    /// Removes one device of `user`.
    fn remove_device(&self, user: &str, device: u32) -> BoxFuture<'_, Result<(), AdminError>>;
}

/// Why a message from moderation's account was not sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessengerError {
    /// A stable code (the SDK's error code).
    pub code: String,
}

impl std::fmt::Display for MessengerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the message was not sent: {}", self.code)
    }
}

impl std::error::Error for MessengerError {}

/// Moderation's own fuin account: sends end-to-end messages (the outcome to
/// a reporter, a warning to a reported user), so the relay carries them as
/// it carries any message, without learning what they say.
pub trait Messenger: Send + Sync + 'static {
    /// Sends `text` to every device of `user`.
    fn send_text<'a>(
        &'a self,
        user: &'a str,
        text: &'a str,
    ) -> BoxFuture<'a, Result<(), MessengerError>>;
}

/// The clock, in ms since the Unix epoch (tests inject one).
pub type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

/// The system clock.
pub fn system_clock() -> Clock {
    Arc::new(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    })
}

/// Everything a request handler or the puller needs.
pub struct Service<S> {
    /// The database.
    pub store: S,
    /// Seals and opens report content at rest.
    pub vault: Vault,
    /// The relay's admin API.
    pub admin: Arc<dyn RelayAdmin>,
    /// Moderation's own account, for feedback and warnings; `None` when the
    /// service runs without one (those actions then fail with a clear
    /// error).
    pub messenger: Option<Arc<dyn Messenger>>,
    /// The clock.
    pub clock: Clock,
    /// When to lock accounts.
    pub lockout: LockoutPolicy,
    /// Whether cookies are marked `Secure` (true unless the console is
    /// served over plain HTTP on loopback for tests and local use).
    pub secure_cookies: bool,
}
