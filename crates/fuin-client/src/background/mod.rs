//! Background work: a task that keeps the device in touch with its relay
//! while the app runs (`spec/client.md` §15).
//!
//! [`Client::start_background`] spawns one task on the caller's tokio
//! runtime (it needs one; the multi-threaded runtime lets it run beside the
//! app's own tasks). The task
//!
//! - catches up over HTTP (what [`Client::sync`] does: confirms, flushes the
//!   outbox, fetches, opens, stores, acknowledges, sends receipts owed,
//!   replenishes prekeys),
//! - then keeps the relay's push stream open (`GET /v1/mailbox/stream`),
//!   opening each pushed batch with the same code as `sync`, one
//!   transaction per batch, and acknowledging it on the stream only after it
//!   is stored,
//! - falls back to long polls ([`Client::sync`] with a wait) when the stream
//!   cannot be opened or keeps failing, and tries the stream again later,
//! - waits with [`Backoff`] (exponential, jittered, capped) while the relay
//!   cannot be reached, and retries queued sends the same way,
//! - runs [`Client::housekeeping`] at every tick,
//! - and reports where it stands as [`Event::ConnectionChanged`](crate::Event::ConnectionChanged)
//!   besides the events of what it receives.
//!
//! [`BackgroundHandle::pause`] stops all of it promptly (mobile apps going to
//! the background), [`BackgroundHandle::resume`] starts it again and catches
//! up. Pausing drops the task's work at whatever await point it is in: every
//! operation it runs is cancel-safe ([`Client`](crate::Client#cancel-safety)), so nothing is
//! lost or stored in half.

mod backoff;
mod housekeeping;
mod push;
mod run;
pub(crate) mod socket;

use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::{Client, ClientError};

pub use backoff::Backoff;

/// How background work behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct BackgroundOptions {
    /// Use the relay's push stream (else long polls only).
    pub push: bool,
    /// How long one long poll waits at the relay (the relay caps it at 30 s).
    pub poll_wait: Duration,
    /// How often housekeeping runs, and the push stream is pinged: a
    /// stream silent for two ticks is taken for dead and opened again.
    pub tick: Duration,
    /// Waits between attempts while the relay cannot be reached, and
    /// between retries of queued sends.
    pub retry: Backoff,
    /// After this many push streams in a row failed before a tick passed,
    /// background work long-polls instead ...
    pub push_failures_before_polling: u32,
    /// ... for this long, then tries the push stream again.
    pub polling_before_push_retry: Duration,
}

impl Default for BackgroundOptions {
    fn default() -> Self {
        Self {
            push: true,
            poll_wait: Duration::from_secs(25),
            tick: Duration::from_secs(30),
            retry: Backoff::default(),
            push_failures_before_polling: 3,
            polling_before_push_retry: Duration::from_secs(300),
        }
    }
}

impl BackgroundOptions {
    /// Push first, with these settings for the rest.
    pub fn new(poll_wait: Duration, tick: Duration, retry: Backoff) -> Self {
        Self {
            poll_wait,
            tick,
            retry,
            ..Self::default()
        }
    }

    /// Long polls only, never the push stream.
    #[must_use]
    pub fn polling_only(mut self) -> Self {
        self.push = false;
        self
    }
}

/// Where background work stands, as [`Event::ConnectionChanged`](crate::Event::ConnectionChanged)
/// reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectionState {
    /// Started or resumed, catching up; not connected yet.
    Connecting,
    /// The push stream is open: deliveries arrive as the relay gets them.
    Push,
    /// Long polling: the push stream could not be opened or kept failing.
    Polling,
    /// The relay could not be reached (or refused the device); the next
    /// attempt is in `retry_in`.
    Offline {
        /// When the next attempt is made.
        retry_in: Duration,
        /// Why, in words (never message content or secrets).
        reason: String,
    },
    /// Paused by the app: no network work until it resumes.
    Paused,
    /// Stopped: the handle was stopped or dropped.
    Stopped,
}

/// What the app asks of the task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Control {
    Run,
    Pause,
    Stop,
}

/// Runs background work until stopped or dropped. Dropping it stops the
/// task at once (at an await point, which loses nothing).
#[derive(Debug)]
pub struct BackgroundHandle {
    control: watch::Sender<Control>,
    state: watch::Receiver<ConnectionState>,
    task: Option<JoinHandle<()>>,
}

impl Client {
    /// Starts background work (module [`background`](crate::background)):
    /// a task on the current tokio runtime that keeps this device in touch
    /// with its relay until the handle is stopped or dropped. One per
    /// client: a second task would open a second stream.
    ///
    /// Fails with [`ClientError::InvalidArgument`] outside a tokio runtime.
    pub fn start_background(
        &self,
        options: BackgroundOptions,
    ) -> Result<BackgroundHandle, ClientError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            ClientError::InvalidArgument("background work needs a tokio runtime".into())
        })?;
        let (control, control_rx) = watch::channel(Control::Run);
        let (state_tx, state) = watch::channel(ConnectionState::Connecting);
        let worker = run::Worker::new(self.clone(), options, state_tx);
        let task = runtime.spawn(worker.run(control_rx));
        Ok(BackgroundHandle {
            control,
            state,
            task: Some(task),
        })
    }
}

impl BackgroundHandle {
    /// Pauses: closes the push stream and stops every network request,
    /// abandoning what the task was doing at its current await point (a
    /// batch being stored is stored or not at all; an unacknowledged one
    /// comes again). Returns once the task is paused (or once another
    /// caller resumed it meanwhile).
    pub async fn pause(&self) {
        self.control.send_if_modified(|control| {
            let change = *control == Control::Run;
            if change {
                *control = Control::Pause;
            }
            change
        });
        let mut state = self.state.clone();
        loop {
            let paused = matches!(
                *state.borrow_and_update(),
                ConnectionState::Paused | ConnectionState::Stopped
            );
            // A `resume` from another task meanwhile ends the wait too.
            if paused || *self.control.borrow() != Control::Pause {
                return;
            }
            // An error means the task ended: paused all the same.
            if state.changed().await.is_err() {
                return;
            }
        }
    }

    /// Resumes after [`pause`](Self::pause): reconnects and catches up.
    pub fn resume(&self) {
        self.control.send_if_modified(|control| {
            let change = *control == Control::Pause;
            if change {
                *control = Control::Run;
            }
            change
        });
    }

    /// Where the task stands now.
    pub fn state(&self) -> ConnectionState {
        self.state.borrow().clone()
    }

    /// Stops the task and waits until it has ended.
    pub async fn stop(mut self) {
        self.control.send_replace(Control::Stop);
        if let Some(task) = self.task.take() {
            // A task that panicked has ended too.
            let _ = task.await;
        }
    }
}

impl Drop for BackgroundHandle {
    fn drop(&mut self) {
        self.control.send_replace(Control::Stop);
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
