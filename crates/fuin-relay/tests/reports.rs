//! The report inbox, driven in process: a device's sealed report reaches the
//! moderation tool with the relay's word on who sent it and when, and is
//! gone after acknowledgement; the moderation credential and device tokens
//! each open only their own endpoints; bad bodies change nothing; reports
//! expire.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "harness/mod.rs"]
mod harness;

use axum::body::Body;
use axum::http::{Method, StatusCode};
use fuin_relay::store::{NewReport, Store};
use fuin_wire::limits::{MAX_FRAME_LEN, MAX_HYBRID_SEALED_REPORT_LEN};
use fuin_wire::relay::{
    InboxBatch, InboxSealedReport, MAX_REPORTS_PER_BATCH, ReportAccepted, ReportAcknowledgement,
    ReportId,
};
use fuin_wire::{
    BlobId, FrameBody, HybridSealedReport, MlKemCiphertext, Opaque, SealedReport, X25519PublicKey,
};
use harness::{Answer, Device, Harness, START, default_config, hex_of};
use sha2::{Digest, Sha256};

/// The moderation tool's credential in these tests.
const CREDENTIAL: [u8; 32] = [0x6d; 32];

fn moderated() -> Harness {
    let mut config = default_config();
    config.moderation_credential_hash = Some(Sha256::digest(CREDENTIAL).into());
    Harness::with(config)
}

fn sealed(ciphertext: Vec<u8>) -> HybridSealedReport<'static> {
    HybridSealedReport {
        moderation_key_id: 2,
        ephemeral_key: X25519PublicKey([0x45; 32]),
        kem_ciphertext: MlKemCiphertext([0x4b; MlKemCiphertext::LEN]),
        ciphertext: Opaque::from(ciphertext),
    }
}

/// A report in the X25519-only form of before protocol version 3.
fn sealed_before_v3(ciphertext: Vec<u8>) -> SealedReport<'static> {
    SealedReport {
        moderation_key_id: 2,
        ephemeral_key: X25519PublicKey([0x45; 32]),
        ciphertext: Opaque::from(ciphertext),
    }
}

/// A ciphertext recognisable in the database file.
fn ciphertext(len: usize) -> Vec<u8> {
    let marker: [u8; 16] = rand::random();
    (0..len).map(|i| marker[i % 16] ^ (i / 16) as u8).collect()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

async fn submit(h: &Harness, device: &Device, report: &HybridSealedReport<'_>) -> ReportAccepted {
    let answer = h
        .call(
            Method::POST,
            "/v1/reports",
            Some(&device.token),
            report.to_bytes().unwrap(),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED);
    ReportAccepted::from_bytes(&answer.body).unwrap()
}

fn moderation(credential: &[u8]) -> (&'static str, String) {
    (
        "authorization",
        format!("Moderation {}", hex_of(credential)),
    )
}

async fn pull_with(h: &Harness, headers: &[(&str, String)]) -> Answer {
    h.send(
        Method::GET,
        "/v1/moderation/reports",
        headers,
        Body::empty(),
    )
    .await
}

async fn pull(h: &Harness) -> InboxBatch<'static> {
    let answer = pull_with(h, &[moderation(&CREDENTIAL)]).await;
    assert_eq!(answer.status, StatusCode::OK);
    InboxBatch::from_bytes(&answer.body).unwrap().into_owned()
}

async fn ack_with(h: &Harness, headers: &[(&str, String)], body: Vec<u8>) -> Answer {
    h.send(
        Method::POST,
        "/v1/moderation/reports/ack",
        headers,
        Body::from(body),
    )
    .await
}

async fn ack(h: &Harness, ids: Vec<ReportId>) {
    let body = ReportAcknowledgement {
        report_ids: ids.into(),
    }
    .to_bytes()
    .unwrap();
    let answer = ack_with(h, &[moderation(&CREDENTIAL)], body).await;
    assert_eq!(answer.status, StatusCode::NO_CONTENT);
}

fn ids(batch: &InboxBatch<'_>) -> Vec<ReportId> {
    batch
        .reports
        .as_slice()
        .iter()
        .map(|r| r.report_id)
        .collect()
}

#[tokio::test]
async fn a_report_reaches_the_moderation_tool_with_its_reporter_and_is_gone_after_acknowledgement()
{
    let h = moderated();
    let alice = h.register("alice", 1, 1).await;
    let bob = h.register("bob", 2, 2).await;
    let first = sealed(b"sealed report of alice".to_vec());
    let second = sealed(b"sealed report of bob".to_vec());

    let accepted = submit(&h, &alice, &first).await;
    assert_eq!(accepted.received_at_ms, START);
    h.advance(5);
    let later = submit(&h, &bob, &second).await;
    assert_eq!(later.received_at_ms, START + 5);
    assert_ne!(later.report_id, accepted.report_id);

    let batch = pull(&h).await;
    assert_eq!(ids(&batch), vec![accepted.report_id, later.report_id]);
    let [one, two] = batch.reports.as_slice() else {
        panic!("two reports expected");
    };
    // The relay attests who submitted each and when.
    assert_eq!(one.reporter, alice.address);
    assert_eq!(one.received_at_ms, START);
    assert_eq!(one.report, InboxSealedReport::Hybrid(first));
    assert_eq!(two.reporter, bob.address);
    assert_eq!(two.report, InboxSealedReport::Hybrid(second));
    // Pulling takes nothing away.
    assert_eq!(pull(&h).await, batch);

    ack(&h, vec![accepted.report_id, ReportId([0xee; 16])]).await;
    assert_eq!(ids(&pull(&h).await), vec![later.report_id]);
    ack(&h, vec![later.report_id]).await;
    assert!(pull(&h).await.reports.is_empty());
}

#[tokio::test]
async fn device_tokens_and_the_moderation_credential_each_open_only_their_own_endpoints() {
    let h = moderated();
    let alice = h.register("alice", 1, 1).await;
    let report = submit(&h, &alice, &sealed(b"r".to_vec())).await;
    let ack_body = ReportAcknowledgement {
        report_ids: vec![report.report_id].into(),
    }
    .to_bytes()
    .unwrap();

    let wrong = |value: String| vec![("authorization", value)];
    let refused_at_moderation = [
        vec![],
        // A device token, as a bearer token and in the moderation scheme.
        wrong(format!("Bearer {}", alice.token)),
        wrong(format!("Moderation {}", alice.token)),
        // The credential's hash instead of the credential.
        vec![moderation(&Sha256::digest(CREDENTIAL))],
        vec![moderation(&[0x6c; 32])],
        wrong(format!("Moderation {}", "zz".repeat(32))),
        wrong(format!("Moderation {}", &hex_of(&CREDENTIAL)[..62])),
        wrong(format!("moderation {}", hex_of(&CREDENTIAL))),
        wrong(format!("Moderation  {}", hex_of(&CREDENTIAL))),
    ];
    for headers in &refused_at_moderation {
        for answer in [
            pull_with(&h, headers).await,
            ack_with(&h, headers, ack_body.clone()).await,
        ] {
            assert_eq!(
                answer.refusal(),
                (StatusCode::UNAUTHORIZED, "unauthorized".to_owned()),
                "{headers:?}"
            );
        }
    }
    // The refused acknowledgements deleted nothing.
    assert_eq!(ids(&pull(&h).await), vec![report.report_id]);

    // The credential opens no device endpoint, in either scheme.
    let blob_path = format!("/v1/blobs/{}", hex_of(&Sha256::digest(b"x")));
    for headers in [
        vec![moderation(&CREDENTIAL)],
        wrong(format!("Bearer {}", hex_of(&CREDENTIAL))),
    ] {
        for (method, path, body) in [
            (
                Method::POST,
                "/v1/reports",
                sealed(b"r".to_vec()).to_bytes().unwrap(),
            ),
            (Method::GET, "/v1/mailbox", vec![]),
            (Method::GET, "/v1/prekeys/count", vec![]),
            (Method::PUT, blob_path.as_str(), b"x".to_vec()),
        ] {
            let answer = h
                .send(method.clone(), path, &headers, Body::from(body))
                .await;
            assert_eq!(
                answer.refusal(),
                (StatusCode::UNAUTHORIZED, "unauthorized".to_owned()),
                "{method} {path}"
            );
        }
    }
    assert_eq!(pull(&h).await.reports.len(), 1);
}

#[tokio::test]
async fn without_a_configured_credential_the_moderation_endpoints_do_not_exist() {
    let h = Harness::new();
    let alice = h.register("alice", 1, 1).await;
    // Devices may still submit: the reports wait for a configured tool.
    submit(&h, &alice, &sealed(b"r".to_vec())).await;
    for headers in [vec![moderation(&CREDENTIAL)], vec![]] {
        assert_eq!(
            pull_with(&h, &headers).await.refusal(),
            (StatusCode::NOT_FOUND, "not_found".to_owned())
        );
        assert_eq!(
            ack_with(&h, &headers, vec![]).await.refusal(),
            (StatusCode::NOT_FOUND, "not_found".to_owned())
        );
    }
}

#[tokio::test]
async fn report_submission_needs_a_valid_device_token() {
    let h = moderated();
    let alice = h.register("alice", 1, 1).await;
    let revoked = h.register("carol", 1, 3).await;
    h.log_out(&revoked).await;
    let expiring = h.login(&alice.address, &alice.key).await;
    h.advance(default_config().token_lifetime.as_millis() as u64 + 1);
    let body = sealed(b"r".to_vec()).to_bytes().unwrap();
    for token in [
        None,
        Some("00".repeat(32)),
        Some(revoked.token.clone()),
        Some(expiring),
    ] {
        let answer = h
            .call(Method::POST, "/v1/reports", token.as_deref(), body.clone())
            .await;
        assert_eq!(
            answer.refusal(),
            (StatusCode::UNAUTHORIZED, "unauthorized".to_owned())
        );
    }
    assert!(pull(&h).await.reports.is_empty());
}

#[tokio::test]
async fn malformed_oversized_and_truncated_bodies_are_refused_and_change_nothing() {
    let h = moderated();
    let alice = h.register("alice", 1, 1).await;
    let good = sealed(vec![1, 2, 3]).to_bytes().unwrap();
    // A report whose ciphertext is one byte over its limit, by hand.
    let mut over = vec![1, 45, 2];
    over.extend_from_slice(&[0x45; 32]);
    over.extend_from_slice(&[0x4b; MlKemCiphertext::LEN]);
    let mut len = MAX_HYBRID_SEALED_REPORT_LEN as u32 + 1;
    while len >= 0x80 {
        over.push(len as u8 | 0x80);
        len >>= 7;
    }
    over.push(len as u8);
    over.resize(over.len() + MAX_HYBRID_SEALED_REPORT_LEN + 1, 0);
    let cases: Vec<(Vec<u8>, StatusCode, &str)> = vec![
        (
            good[..good.len() - 1].to_vec(),
            StatusCode::BAD_REQUEST,
            "malformed_frame",
        ),
        (
            [good.clone(), vec![0]].concat(),
            StatusCode::BAD_REQUEST,
            "malformed_frame",
        ),
        (vec![], StatusCode::BAD_REQUEST, "malformed_frame"),
        (vec![2, 45], StatusCode::BAD_REQUEST, "malformed_frame"),
        (
            sealed_before_v3(vec![1, 2, 3]).to_bytes().unwrap(),
            StatusCode::BAD_REQUEST,
            "report_not_post_quantum",
        ),
        (
            BlobId([0; 32]).to_bytes().unwrap(),
            StatusCode::BAD_REQUEST,
            "unexpected_frame",
        ),
        (over, StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
        (
            vec![0; MAX_FRAME_LEN + 1],
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
        ),
        (
            vec![0; MAX_FRAME_LEN + 100],
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
        ),
    ];
    for (body, status, code) in &cases {
        let answer = h
            .call(
                Method::POST,
                "/v1/reports",
                Some(&alice.token),
                body.clone(),
            )
            .await;
        assert_eq!(
            answer.refusal(),
            (*status, (*code).to_owned()),
            "body of {} bytes",
            body.len()
        );
    }
    assert!(pull(&h).await.reports.is_empty());

    // The same bodies, and a valid frame of another kind, at the
    // acknowledgement: refused, and nothing is deleted.
    let kept = submit(&h, &alice, &sealed(b"kept".to_vec())).await;
    let ack_good = ReportAcknowledgement {
        report_ids: vec![kept.report_id].into(),
    }
    .to_bytes()
    .unwrap();
    let mut bad_acks = vec![
        (
            ack_good[..ack_good.len() - 1].to_vec(),
            StatusCode::BAD_REQUEST,
            "malformed_frame",
        ),
        (
            [ack_good.clone(), vec![0]].concat(),
            StatusCode::BAD_REQUEST,
            "malformed_frame",
        ),
        (good.clone(), StatusCode::BAD_REQUEST, "unexpected_frame"),
    ];
    // 257 ids: over the list's maximum.
    let mut too_many = vec![1, 24, 0x81, 0x02];
    for _ in 0..257 {
        too_many.extend_from_slice(&kept.report_id.0);
    }
    bad_acks.push((too_many, StatusCode::PAYLOAD_TOO_LARGE, "too_large"));
    for (body, status, code) in bad_acks {
        let answer = ack_with(&h, &[moderation(&CREDENTIAL)], body).await;
        assert_eq!(answer.refusal(), (status, code.to_owned()));
    }
    assert_eq!(ids(&pull(&h).await), vec![kept.report_id]);
}

#[tokio::test]
async fn a_pull_holds_as_many_reports_as_fit_one_frame() {
    let h = moderated();
    let alice = h.register("alice", 1, 1).await;
    // Three reports of 1.5 MiB: two fit one frame, three do not.
    let mut large = Vec::new();
    for i in 0..3 {
        h.advance(1);
        let report = sealed(vec![i; 3 << 19]);
        large.push(submit(&h, &alice, &report).await.report_id);
    }
    let batch = pull(&h).await;
    assert_eq!(ids(&batch), large[..2]);
    ack(&h, ids(&batch)).await;
    assert_eq!(ids(&pull(&h).await), large[2..]);
    ack(&h, large[2..].to_vec()).await;

    // Small ones come in batches of at most 32, oldest first.
    let mut small = Vec::new();
    for i in 0..40u8 {
        h.advance(1);
        small.push(submit(&h, &alice, &sealed(vec![i; 10])).await.report_id);
    }
    let batch = pull(&h).await;
    assert_eq!(ids(&batch), small[..MAX_REPORTS_PER_BATCH]);
    ack(&h, ids(&batch)).await;
    assert_eq!(ids(&pull(&h).await), small[MAX_REPORTS_PER_BATCH..]);
}

#[tokio::test]
async fn unacknowledged_reports_expire() {
    let h = moderated();
    let alice = h.register("alice", 1, 1).await;
    let text = ciphertext(3000);
    let report = submit(&h, &alice, &sealed(text.clone())).await;
    let lifetime = default_config().report_lifetime.as_millis() as u64;
    h.advance(lifetime - 1);
    assert_eq!(ids(&pull(&h).await), vec![report.report_id]);
    h.advance(1);
    // Not handed out from its expiry on, even before the sweep.
    assert!(pull(&h).await.reports.is_empty());
    assert!(contains(&h.database_bytes().await, &text[1000..1064]));
    h.relay.sweep().await.unwrap();
    let bytes = h.database_bytes().await;
    assert!(!contains(&bytes, &text[1000..1064]));
    assert!(!contains(&bytes, &report.report_id.0));
}

#[tokio::test]
async fn after_acknowledgement_nothing_of_a_report_remains_in_the_database() {
    let h = moderated();
    let alice = h.register("alice", 1, 1).await;
    // A kept report sharing pages with the taken ones.
    let kept = submit(&h, &alice, &sealed(vec![0x42; 900])).await;
    let mut taken = Vec::new();
    let mut texts = Vec::new();
    for len in [50usize, 4000, 200_000] {
        let text = ciphertext(len);
        taken.push(submit(&h, &alice, &sealed(text.clone())).await.report_id);
        texts.push(text);
    }
    let before = h.database_bytes().await;
    for (text, id) in texts.iter().zip(&taken) {
        assert!(contains(&before, &text[..32.min(text.len())]));
        assert!(contains(&before, &id.0));
    }

    ack(&h, taken.clone()).await;
    assert_eq!(ids(&pull(&h).await), vec![kept.report_id]);
    let after = h.database_bytes().await;
    for (text, id) in texts.iter().zip(&taken) {
        assert!(
            !contains(&after, &text[..32.min(text.len())]),
            "a report's ciphertext remains"
        );
        assert!(!contains(&after, &id.0), "a report id remains");
    }
}

#[tokio::test]
async fn a_report_in_the_x25519_only_form_is_refused_with_a_clear_error() {
    let h = moderated();
    let alice = h.register("alice", 1, 1).await;
    let answer = h
        .call(
            Method::POST,
            "/v1/reports",
            Some(&alice.token),
            sealed_before_v3(b"old form".to_vec()).to_bytes().unwrap(),
        )
        .await;
    let (status, code) = answer.refusal();
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(code, "report_not_post_quantum");
    assert!(
        String::from_utf8_lossy(&answer.body).contains("hybrid moderation key"),
        "the message says what to do"
    );
    assert!(pull(&h).await.reports.is_empty());
}

#[tokio::test]
async fn reports_stored_before_protocol_version_3_are_still_handed_out() {
    // A row written by the relay before its upgrade holds a tag 5 frame.
    let h = moderated();
    let alice = h.register("alice", 1, 1).await;
    let old = sealed_before_v3(b"stored before the upgrade".to_vec());
    h.relay
        .store()
        .put_report(NewReport {
            report_id: ReportId([0x0d; 16]),
            reporter: alice.address.clone(),
            received_at_ms: START,
            expires_at_ms: START + 1_000_000,
            report: old.to_bytes().unwrap(),
        })
        .await
        .unwrap();
    h.advance(1);
    let new = sealed(b"sealed after the upgrade".to_vec());
    let accepted = submit(&h, &alice, &new).await;
    let batch = pull(&h).await;
    assert_eq!(ids(&batch), vec![ReportId([0x0d; 16]), accepted.report_id]);
    assert_eq!(
        batch.reports.as_slice()[0].report,
        InboxSealedReport::X25519Only(old)
    );
    assert_eq!(
        batch.reports.as_slice()[1].report,
        InboxSealedReport::Hybrid(new)
    );
}
