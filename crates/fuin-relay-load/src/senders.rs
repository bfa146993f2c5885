//! A sender task: sends its share of the envelopes, one request at a time,
//! and records each one the relay accepted.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use fuin_wire::relay::{SendAccepted, SendBatch};
use fuin_wire::{
    ContentKind, DeviceAddress, FrameBody, FrankingCommitment, Opaque, RoutingEnvelope,
};
use hyper::{Method, StatusCode};

use crate::body::{Header, make_body};
use crate::client::{Device, HttpClient, call};
use crate::ledger::Ledger;

/// What one sender measured: send latencies in µs.
pub(crate) struct SenderOutcome {
    pub(crate) latencies_us: Vec<u64>,
}

/// Sends `count` envelopes from sender `index`, one request at a time, until
/// `deadline`.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn sender_task(
    ledger: Arc<Ledger>,
    client: HttpClient,
    relays: Arc<Vec<String>>,
    me: Device,
    index: u32,
    count: usize,
    recipients: Arc<Vec<DeviceAddress<'static>>>,
    deadline: tokio::time::Instant,
) -> SenderOutcome {
    let mut latencies_us = Vec::with_capacity(count);
    let n = recipients.len();
    for seq in 0..count {
        let target = (index as usize + seq) % n;
        // Through another node than the recipient's (recipient_task).
        let relay = &relays[(target + 1) % relays.len()];
        let Ok(seq) = u32::try_from(seq) else { break };
        loop {
            if tokio::time::Instant::now() >= deadline {
                return SenderOutcome { latencies_us };
            }
            let started = Instant::now();
            let header = Header {
                run: ledger.run,
                sender: index,
                recipient: target as u32,
                seq,
                sent_at_ns: u64::try_from((started - ledger.epoch).as_nanos()).unwrap_or(0),
            };
            let batch = SendBatch {
                envelopes: vec![RoutingEnvelope {
                    recipient: recipients[target].clone(),
                    content_kind: ContentKind::Message,
                    franking_commitment: FrankingCommitment([7; 32]),
                    sealed_body: Opaque::from(make_body(header, ledger.size)),
                }]
                .into(),
            };
            let encoded = match batch.to_bytes() {
                Ok(encoded) => encoded,
                Err(err) => {
                    ledger.send_failures.fetch_add(1, Ordering::Relaxed);
                    ledger.error(format!("encoding a send: {err}"));
                    return SenderOutcome { latencies_us };
                }
            };
            let request = call(
                &client,
                relay,
                Method::POST,
                "/v1/messages",
                Some(&me.token),
                encoded,
            );
            match tokio::time::timeout_at(deadline, request).await {
                Err(_) => {
                    // Stopped mid-request: whether it was stored is unknown.
                    ledger.in_flight_at_stop.fetch_add(1, Ordering::Relaxed);
                    return SenderOutcome { latencies_us };
                }
                Ok(Ok((StatusCode::OK, reply))) => {
                    let elapsed = started.elapsed();
                    match SendAccepted::from_bytes(&reply) {
                        Ok(accepted) if accepted.message_ids.len() == 1 => {}
                        _ => ledger.error("/v1/messages: unexpected SendAccepted".to_owned()),
                    }
                    latencies_us.push(u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX));
                    if let Some(at) = ledger.index(index, seq) {
                        ledger.acknowledged[at].store(true, Ordering::Release);
                    }
                    ledger
                        .last_ack_ns
                        .fetch_max(ledger.now_ns(), Ordering::Relaxed);
                    break;
                }
                Ok(Ok((StatusCode::TOO_MANY_REQUESTS, _))) => {
                    // Refused before storing: safe to send again.
                    ledger.rate_limited.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Ok(Ok((status, body))) => {
                    ledger.send_failures.fetch_add(1, Ordering::Relaxed);
                    ledger.error(format!(
                        "/v1/messages: HTTP {status}: {}",
                        String::from_utf8_lossy(&body[..body.len().min(200)])
                    ));
                    break;
                }
                Ok(Err(err)) => {
                    ledger.send_failures.fetch_add(1, Ordering::Relaxed);
                    ledger.error(err);
                    break;
                }
            }
        }
    }
    SenderOutcome { latencies_us }
}
