//! A recipient task: long-polls its mailbox, checks every record it fetches
//! against the ledger, acknowledges it, and drains the mailbox at the end.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use fuin_wire::relay::{Acknowledgement, MailboxBatch};
use fuin_wire::{DeliveredRecord, DeviceAddress, FrameBody, MessageId};
use hyper::{Method, StatusCode};
use tokio::sync::watch;

use crate::body::read_body;
use crate::client::{Device, HttpClient, call};
use crate::ledger::Ledger;

/// What one recipient measured: delivery latencies in µs, and whether its
/// final drain emptied the mailbox.
pub(crate) struct RecipientOutcome {
    pub(crate) latencies_us: Vec<u64>,
    pub(crate) drained: bool,
}

/// Checks and records every record of a fetched batch; its message ids.
fn record_batch(
    ledger: &Ledger,
    me: u32,
    me_address: &DeviceAddress<'_>,
    records: &[DeliveredRecord<'_>],
    senders: &[DeviceAddress<'static>],
    last_seq: &mut HashMap<u32, u32>,
    latencies_us: &mut Vec<u64>,
) -> Vec<MessageId> {
    let now_ns = ledger.now_ns();
    let mut ids = Vec::with_capacity(records.len());
    for record in records {
        ids.push(record.server_message_id);
        let Some((header, intact)) = read_body(record.envelope.sealed_body.as_bytes()) else {
            // Not a body of this tool at all.
            ledger.misdelivered.fetch_add(1, Ordering::Relaxed);
            continue;
        };
        let Some(at) = ledger.index(header.sender, header.seq) else {
            ledger.misdelivered.fetch_add(1, Ordering::Relaxed);
            continue;
        };
        if header.run != ledger.run
            || header.recipient != me
            || record.envelope.recipient != *me_address
        {
            ledger.misdelivered.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        let sender_matches = senders
            .get(header.sender as usize)
            .is_some_and(|sender| *sender == record.sender);
        if !intact || !sender_matches || record.envelope.sealed_body.len() != ledger.size {
            ledger.corrupted.fetch_add(1, Ordering::Relaxed);
        }
        let previous = ledger.delivered[at].fetch_add(1, Ordering::AcqRel);
        if previous == 0 {
            ledger.progress.inc(1);
            latencies_us.push(now_ns.saturating_sub(header.sent_at_ns) / 1000);
            ledger.last_delivery_ns.fetch_max(now_ns, Ordering::Relaxed);
            match last_seq.insert(header.sender, header.seq) {
                Some(last) if last > header.seq => {
                    ledger.reordered.fetch_add(1, Ordering::Relaxed);
                }
                _ => {}
            }
        }
    }
    ids
}

/// What one fetch came to.
enum Fetched {
    /// Records, checked and acknowledged.
    Records,
    /// The mailbox was empty.
    Empty,
    /// Stopped while waiting.
    Stopped,
    /// Rate-limited: try again.
    Retry,
    /// A request failed (recorded), or `until` passed.
    Failed,
}

/// Fetches (waiting up to `wait_ms`, or until `stop`), checks and
/// acknowledges one batch.
#[allow(clippy::too_many_arguments)]
async fn fetch_once(
    ledger: &Ledger,
    client: &HttpClient,
    relay: &str,
    me: &Device,
    index: u32,
    senders: &[DeviceAddress<'static>],
    wait_ms: u64,
    stop: Option<&mut watch::Receiver<bool>>,
    until: tokio::time::Instant,
    last_seq: &mut HashMap<u32, u32>,
    latencies_us: &mut Vec<u64>,
) -> Fetched {
    let path = format!("/v1/mailbox?wait_ms={wait_ms}");
    let get = call(
        client,
        relay,
        Method::GET,
        &path,
        Some(&me.token),
        Vec::new(),
    );
    // Only the fetch is cut short on stop (its records stay in the mailbox
    // for the final drain): once records are counted, they are acknowledged,
    // or the next fetch would return them again.
    let stopped = async {
        match stop {
            Some(stop) => drop(stop.wait_for(|stop| *stop).await),
            None => std::future::pending().await,
        }
    };
    let answer = tokio::select! {
        () = stopped => return Fetched::Stopped,
        () = tokio::time::sleep_until(until) => return Fetched::Failed,
        answer = get => answer,
    };
    let (status, body) = match answer {
        Ok(answer) => answer,
        Err(err) => {
            ledger.other_failures.fetch_add(1, Ordering::Relaxed);
            ledger.error(err);
            return Fetched::Failed;
        }
    };
    if status == StatusCode::TOO_MANY_REQUESTS {
        ledger.rate_limited.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(Duration::from_millis(50)).await;
        return Fetched::Retry;
    }
    if status != StatusCode::OK {
        ledger.other_failures.fetch_add(1, Ordering::Relaxed);
        ledger.error(format!("/v1/mailbox: HTTP {status}"));
        return Fetched::Failed;
    }
    let batch = match MailboxBatch::from_bytes(&body) {
        Ok(batch) => batch,
        Err(err) => {
            ledger.other_failures.fetch_add(1, Ordering::Relaxed);
            ledger.error(format!("/v1/mailbox: {err}"));
            return Fetched::Failed;
        }
    };
    let records = batch.records.as_slice();
    if records.is_empty() {
        return Fetched::Empty;
    }
    let ids = record_batch(
        ledger,
        index,
        &me.address,
        records,
        senders,
        last_seq,
        latencies_us,
    );
    let ack = Acknowledgement {
        message_ids: ids.into(),
    };
    let encoded = match ack.to_bytes() {
        Ok(encoded) => encoded,
        Err(err) => {
            ledger.other_failures.fetch_add(1, Ordering::Relaxed);
            ledger.error(format!("encoding an acknowledgement: {err}"));
            return Fetched::Failed;
        }
    };
    // An acknowledgement that fails is sent again: otherwise the next fetch
    // would return the same records and look like duplicates.
    for _ in 0..20 {
        let path = "/v1/mailbox/ack";
        match call(
            client,
            relay,
            Method::POST,
            path,
            Some(&me.token),
            encoded.clone(),
        )
        .await
        {
            Ok((StatusCode::NO_CONTENT, _)) => return Fetched::Records,
            Ok((StatusCode::TOO_MANY_REQUESTS, _)) => {
                ledger.rate_limited.fetch_add(1, Ordering::Relaxed);
            }
            Ok((status, _)) => {
                ledger.other_failures.fetch_add(1, Ordering::Relaxed);
                ledger.error(format!("{path}: HTTP {status}"));
            }
            Err(err) => {
                ledger.other_failures.fetch_add(1, Ordering::Relaxed);
                ledger.error(err);
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Fetched::Failed
}

/// Fetches recipient `index`'s mailbox until `stop`, then drains it (until
/// `hard_stop` at the latest).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn recipient_task(
    ledger: Arc<Ledger>,
    client: HttpClient,
    relay: String,
    me: Device,
    index: u32,
    senders: Arc<Vec<DeviceAddress<'static>>>,
    wait_ms: u64,
    mut stop: watch::Receiver<bool>,
    hard_stop: tokio::time::Instant,
) -> RecipientOutcome {
    let mut latencies_us = Vec::new();
    let mut last_seq = HashMap::new();
    while !*stop.borrow() {
        let fetched = fetch_once(
            &ledger,
            &client,
            &relay,
            &me,
            index,
            &senders,
            wait_ms,
            Some(&mut stop),
            hard_stop,
            &mut last_seq,
            &mut latencies_us,
        )
        .await;
        if matches!(fetched, Fetched::Failed | Fetched::Retry) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    // The final drain: everything left in the mailbox, without waiting.
    let mut drained = false;
    let mut failures = 0;
    while tokio::time::Instant::now() < hard_stop && failures < 5 {
        let fetched = fetch_once(
            &ledger,
            &client,
            &relay,
            &me,
            index,
            &senders,
            0,
            None,
            hard_stop,
            &mut last_seq,
            &mut latencies_us,
        )
        .await;
        match fetched {
            Fetched::Empty | Fetched::Stopped => {
                drained = true;
                break;
            }
            Fetched::Records | Fetched::Retry => {}
            Fetched::Failed => failures += 1,
        }
    }
    RecipientOutcome {
        latencies_us,
        drained,
    }
}
