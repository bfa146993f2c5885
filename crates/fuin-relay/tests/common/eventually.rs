//! Waiting in tests without fixed sleeps: poll for exactly the condition
//! awaited, often, until a generous deadline, and fail naming it.
#![allow(dead_code, clippy::panic)]

use std::future::Future;
use std::time::{Duration, Instant};

/// How long a test waits for something that should happen at once: long
/// enough for a loaded machine, short enough to fail a stuck test.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// How often a condition is looked at again.
const POLL_EVERY: Duration = Duration::from_millis(5);

/// Polls `found` until it gives a value, and returns it; fails the test,
/// naming `what` was awaited, if none comes within `deadline`.
pub fn wait_for<T>(what: &str, deadline: Duration, mut found: impl FnMut() -> Option<T>) -> T {
    let started = Instant::now();
    loop {
        if let Some(value) = found() {
            return value;
        }
        if started.elapsed() > deadline {
            panic!("waited {deadline:?} for {what}, in vain");
        }
        std::thread::sleep(POLL_EVERY);
    }
}

/// Polls `condition` until it holds; fails the test, naming `what` was
/// awaited, if it does not within `deadline`.
pub fn eventually(what: &str, deadline: Duration, mut condition: impl FnMut() -> bool) {
    wait_for(what, deadline, || condition().then_some(()));
}

/// [`eventually`] for async code: polls without blocking the runtime.
pub async fn eventually_async<F: Future<Output = bool>>(
    what: &str,
    deadline: Duration,
    mut condition: impl FnMut() -> F,
) {
    let started = Instant::now();
    loop {
        if condition().await {
            return;
        }
        if started.elapsed() > deadline {
            panic!("waited {deadline:?} for {what}, in vain");
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
}
