//! The background task: catch up, push or poll, back off, pause.

use std::time::Duration;

use fuin_wire::FrameBody;
use fuin_wire::relay::MailboxBatch;
use futures_util::{SinkExt, StreamExt};
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

use crate::event::Event;
use crate::{Client, ClientError};

use super::socket::PushSocket;
use super::{BackgroundOptions, ConnectionState, Control};

/// The shortest tick: settings below it are taken as it.
const MIN_TICK: Duration = Duration::from_millis(10);

/// `after` from now; a wait too long to represent is as good as never.
fn later(after: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(after)
        .or_else(|| now.checked_add(Duration::from_secs(100 * 365 * 24 * 3600)))
        .unwrap_or(now)
}

/// The task's state between cycles.
pub(super) struct Worker {
    client: Client,
    options: BackgroundOptions,
    state: watch::Sender<ConnectionState>,
    /// Failed attempts to reach the relay in a row.
    offline_attempts: u32,
    /// Push streams in a row that failed before a tick passed.
    push_failures: u32,
    /// Long-poll until then before trying the push stream again.
    polling_until: Option<Instant>,
    /// Queued sends are retried no sooner than this ...
    queued_retry_at: Instant,
    /// ... after this many failed retries in a row.
    queued_attempts: u32,
}

impl Worker {
    pub(super) fn new(
        client: Client,
        options: BackgroundOptions,
        state: watch::Sender<ConnectionState>,
    ) -> Self {
        Self {
            client,
            options,
            state,
            offline_attempts: 0,
            push_failures: 0,
            polling_until: None,
            queued_retry_at: Instant::now(),
            queued_attempts: 0,
        }
    }

    /// Runs until told to stop (or the handle is gone).
    pub(super) async fn run(mut self, mut control: watch::Receiver<Control>) {
        loop {
            let now = *control.borrow_and_update();
            match now {
                Control::Stop => break,
                Control::Pause => {
                    self.report(ConnectionState::Paused);
                    if control.changed().await.is_err() {
                        break;
                    }
                    continue;
                }
                Control::Run => {}
            }
            tokio::select! {
                // A pause or stop drops the cycle at its current await
                // point: every step it takes is cancel-safe.
                changed = control.changed() => {
                    if changed.is_err() {
                        break;
                    }
                }
                () = self.cycle() => {}
            }
        }
        self.report(ConnectionState::Stopped);
    }

    /// Tells the app where the task stands, once per change.
    fn report(&self, state: ConnectionState) {
        let changed = self.state.send_if_modified(|current| {
            let changed = *current != state;
            if changed {
                *current = state.clone();
            }
            changed
        });
        if changed {
            self.client.emit(Event::ConnectionChanged { state });
        }
    }

    /// One round: catch up, then push (or poll) until that ends; waits
    /// with backoff when the relay cannot be reached.
    async fn cycle(&mut self) {
        if *self.state.borrow() != ConnectionState::Polling {
            self.report(ConnectionState::Connecting);
        }
        // Catching up confirms earlier acknowledgements, flushes the
        // outbox and fetches what waits, whichever way comes next.
        if let Err(err) = self.client.sync(Duration::ZERO).await {
            return self.offline(err).await;
        }
        self.queued_attempts = 0;
        let push_due = self.options.push
            && self
                .polling_until
                .is_none_or(|until| Instant::now() >= until);
        if push_due {
            let relay = self.client.relay();
            let opened = self
                .client
                .authed(|token| async move { relay.open_stream(&token).await })
                .await;
            match opened {
                Ok(socket) => {
                    self.offline_attempts = 0;
                    self.polling_until = None;
                    self.report(ConnectionState::Push);
                    let opened_at = Instant::now();
                    let ended = self.push(socket).await;
                    if ended.is_ok() || opened_at.elapsed() >= self.options.tick {
                        self.push_failures = 0;
                    } else {
                        self.note_push_failure();
                    }
                    return;
                }
                Err(err) if err.is_transient() => return self.offline(err).await,
                // The relay (or something before it) refuses the stream:
                // long polls still work.
                Err(_) => self.fall_back_to_polling(),
            }
        }
        self.poll().await;
    }

    fn note_push_failure(&mut self) {
        self.push_failures += 1;
        if self.push_failures >= self.options.push_failures_before_polling {
            self.fall_back_to_polling();
        }
    }

    fn fall_back_to_polling(&mut self) {
        self.push_failures = 0;
        self.polling_until = Some(later(self.options.polling_before_push_retry));
    }

    /// Waits out the backoff after `err`, reporting when the next try is.
    async fn offline(&mut self, err: ClientError) {
        let delay = self.options.retry.random_delay(self.offline_attempts);
        self.offline_attempts = self.offline_attempts.saturating_add(1);
        self.report(ConnectionState::Offline {
            retry_in: delay,
            reason: err.to_string(),
        });
        tokio::time::sleep(delay).await;
    }

    /// Long polls until the push stream is due again (never, with push
    /// off), or the relay cannot be reached.
    async fn poll(&mut self) {
        self.report(ConnectionState::Polling);
        self.offline_attempts = 0;
        let mut next_tick = later(self.options.tick);
        loop {
            if self.options.push
                && self
                    .polling_until
                    .is_none_or(|until| Instant::now() >= until)
            {
                return;
            }
            if let Err(err) = self.client.sync(self.options.poll_wait).await {
                return self.offline(err).await;
            }
            if Instant::now() >= next_tick {
                next_tick = later(self.options.tick);
                self.tick().await;
            }
        }
    }

    /// Housekeeping, and queued sends retried when their backoff allows.
    async fn tick(&mut self) {
        // A failure here is retried at the next tick.
        let _ = self.client.housekeeping().await;
        if Instant::now() < self.queued_retry_at {
            return;
        }
        match self.client.retry_queued().await {
            Ok(true) => self.queued_attempts = 0,
            Ok(false) | Err(_) => {
                let delay = self.options.retry.random_delay(self.queued_attempts);
                self.queued_attempts = self.queued_attempts.saturating_add(1);
                self.queued_retry_at = later(delay);
            }
        }
    }

    /// Receives over the push stream until it ends; `Ok` when the relay
    /// closed it in order (shutting down, replaced), `Err` when it failed.
    async fn push(&mut self, mut socket: PushSocket) -> Result<(), ClientError> {
        // A zero period would make the interval panic.
        let tick = self.options.tick.max(MIN_TICK);
        let mut ticks = tokio::time::interval_at(later(tick), tick);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_heard = Instant::now();
        loop {
            tokio::select! {
                message = socket.next() => {
                    let message = match message {
                        Some(Ok(message)) => message,
                        Some(Err(err)) => {
                            return Err(ClientError::Unreachable(format!("push stream: {err}")));
                        }
                        None => {
                            return Err(ClientError::Unreachable("the push stream ended".into()));
                        }
                    };
                    last_heard = Instant::now();
                    match message {
                        Message::Binary(bytes) => {
                            let batch = MailboxBatch::from_bytes(&bytes).map_err(|err| {
                                ClientError::RelayMisbehaved(format!("pushed batch: {err}"))
                            })?;
                            self.client
                                .receive_pushed(batch.into_owned(), &mut socket)
                                .await?;
                        }
                        Message::Close(frame) => {
                            return match frame {
                                Some(frame) if frame.reason.as_str() == "shutting_down" => Ok(()),
                                Some(frame) => Err(ClientError::Unreachable(format!(
                                    "the relay closed the push stream: {}",
                                    frame.reason.as_str()
                                ))),
                                None => Ok(()),
                            };
                        }
                        Message::Text(_) => {
                            return Err(ClientError::RelayMisbehaved(
                                "the push stream sent text".into(),
                            ));
                        }
                        Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
                    }
                }
                _ = ticks.tick() => {
                    if last_heard.elapsed() > tick.saturating_mul(2) {
                        return Err(ClientError::Unreachable(
                            "the push stream went silent".into(),
                        ));
                    }
                    socket
                        .send(Message::Ping(Default::default()))
                        .await
                        .map_err(|err| ClientError::Unreachable(format!("push stream: {err}")))?;
                    self.tick().await;
                }
            }
        }
    }
}
