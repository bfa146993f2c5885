//! The moderation side of report tests: a test relay with a report inbox,
//! moderation's keys, and pulling the inbox.

use fuin_client::report::{ModerationSecretKey, Moderator, StampKeySet};
use fuin_wire::relay::{InboxBatch, ReportAcknowledgement};
use fuin_wire::{FrameBody, StampKeyId};

use super::TestRelay;

/// The moderation tool's inbox credential at the test relay.
pub const CREDENTIAL: [u8; 32] = [0x6d; 32];

/// A test relay whose report inbox takes [`CREDENTIAL`].
pub async fn moderated_relay() -> TestRelay {
    TestRelay::start_with(|config| {
        config.moderation_credential_hash = Some(fuin_seal::primitives::sha256(&[&CREDENTIAL]));
    })
    .await
}

/// Moderation's keys: a fresh key of its own, and the test relay's stamp
/// key (id 1, nines).
pub fn moderator() -> Moderator {
    let mut stamp_keys = StampKeySet::new();
    stamp_keys.insert(StampKeyId(1), &[9; 32], None).unwrap();
    Moderator::new(
        ModerationSecretKey::generate(&mut rand::rng(), 1),
        stamp_keys,
    )
}

/// Pulls every waiting report from the inbox and acknowledges them.
pub async fn pull(relay: &TestRelay) -> InboxBatch<'static> {
    let http = reqwest::Client::new();
    let auth = format!("Moderation {}", hex::encode(CREDENTIAL));
    let bytes = http
        .get(format!("{}/v1/moderation/reports", relay.url))
        .header("authorization", &auth)
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let batch = InboxBatch::from_bytes(&bytes).unwrap().into_owned();
    let ack = ReportAcknowledgement {
        report_ids: batch
            .reports
            .as_slice()
            .iter()
            .map(|report| report.report_id)
            .collect::<Vec<_>>()
            .into(),
    };
    http.post(format!("{}/v1/moderation/reports/ack", relay.url))
        .header("authorization", &auth)
        .body(ack.to_bytes().unwrap())
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap();
    batch
}
