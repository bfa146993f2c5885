//! The blob store's endpoints, driven in process, each test on a directory
//! and on an S3-compatible bucket: a blob goes up under its hash (BLAKE3 if
//! its first byte is 2, else SHA-256) and comes back with its capability; every other way of asking for it looks
//! like asking for nothing; bodies over the limit are refused while they
//! are read; the bytes never enter the database; a damaged object is
//! refused, not served; an upload interrupted between its object and its
//! record leaves no record, and its object is swept; blobs expire and leave
//! nothing behind.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "common/blob_backends.rs"]
mod blob_backends;
#[path = "common/eventually.rs"]
mod eventually;
#[path = "harness/mod.rs"]
mod harness;

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use axum::body::{Body, Bytes};
use axum::http::{Method, StatusCode};
use blob_backends::Backend;
use eventually::{PATIENCE, eventually_async};
use fuin_relay::RelayConfig;
use fuin_relay::blobs::{BlobFuture, BlobStore, BlobStoreError, StoredObject};
use fuin_relay::store::Store;
use fuin_wire::relay::BlobReceipt;
use fuin_wire::{BlobId, FrameBody};
use harness::{Answer, Device, Harness, START, default_config, hex_of};
use sha2::{Digest, Sha256};

on_both_backends!(
    a_blob_goes_up_and_comes_back_to_any_device_with_its_capability,
    a_wrong_or_missing_capability_and_an_unknown_blob_look_the_same,
    a_body_that_is_not_its_id_s_preimage_is_refused_and_stores_nothing,
    a_malformed_blob_id_is_refused,
    blob_endpoints_need_a_valid_device_token,
    a_blob_over_the_limit_is_refused_and_one_at_the_limit_is_stored,
    an_endless_body_is_refused_as_soon_as_it_passes_the_limit,
    a_declared_length_over_the_limit_is_refused_before_reading,
    blobs_expire_and_leave_nothing_behind,
    blob_transfers_beyond_the_limit_wait_their_turn,
    blob_bytes_never_enter_the_database,
    a_truncated_swapped_flipped_or_missing_object_is_refused_not_served,
    a_blob_starting_with_2_goes_up_under_its_blake3_and_any_other_under_its_sha256,
    a_blake3_named_object_that_was_altered_is_refused_not_served,
    an_upload_interrupted_after_its_object_leaves_no_record_and_the_object_is_swept,
    a_failing_blob_store_refuses_the_upload_and_records_nothing,
);

/// A relay with the default settings and its blobs on `backend`.
fn harness(backend: Backend) -> Harness {
    harness_with(backend, default_config())
}

/// A relay with `config` and its blobs on `backend`.
fn harness_with(backend: Backend, config: RelayConfig) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let blobs = blob_backends::open(backend, dir.path()).expect("the backend is available");
    Harness::in_dir_with_blobs(dir, config, blobs)
}

/// The id a blob goes up under (spec/relay-api.md §4.12): BLAKE3 if its
/// first byte is 2 (a sealed attachment of format version 2), else SHA-256.
fn id_of(content: &[u8]) -> BlobId {
    if content.first() == Some(&2) {
        blake3_id(content)
    } else {
        sha256_id(content)
    }
}

fn sha256_id(content: &[u8]) -> BlobId {
    BlobId(Sha256::digest(content).into())
}

fn blake3_id(content: &[u8]) -> BlobId {
    BlobId(*blake3::hash(content).as_bytes())
}

/// The objects in the relay's blob store, by id.
async fn objects(h: &Harness) -> Vec<BlobId> {
    let mut ids: Vec<BlobId> = h
        .relay
        .blob_store()
        .list()
        .await
        .unwrap()
        .into_iter()
        .map(|object| object.blob_id)
        .collect();
    ids.sort_by_key(|id| id.0);
    ids
}

/// The status and JSON error code of a server-side refusal.
fn server_refusal(answer: &Answer) -> (StatusCode, String) {
    let json: serde_json::Value = serde_json::from_slice(&answer.body).unwrap();
    assert!(json["message"].as_str().is_some_and(|m| !m.is_empty()));
    (answer.status, json["code"].as_str().unwrap().to_owned())
}

fn blob_path(content: &[u8]) -> String {
    path_of(&id_of(content))
}

fn path_of(id: &BlobId) -> String {
    format!("/v1/blobs/{}", hex_of(&id.0))
}

fn bearer(token: &str) -> (&'static str, String) {
    ("authorization", format!("Bearer {token}"))
}

fn capability(receipt: &BlobReceipt) -> (&'static str, String) {
    ("fuin-blob-capability", hex_of(&receipt.capability.0))
}

/// Content that is recognisable in the database file. Its first byte is 1,
/// as a version 1 attachment's is: named by its SHA-256.
fn content(len: usize) -> Vec<u8> {
    let marker: [u8; 16] = rand::random();
    let mut content = vec![0x3d; len];
    for (i, byte) in content.iter_mut().enumerate() {
        *byte = marker[i % marker.len()] ^ (i / marker.len()) as u8;
    }
    if let Some(first) = content.first_mut() {
        *first = 1;
    }
    content
}

/// [`content`] starting with 2, as a version 2 attachment does: named by
/// its BLAKE3 hash.
fn content_v2(len: usize) -> Vec<u8> {
    let mut content = content(len);
    content[0] = 2;
    content
}

async fn upload(h: &Harness, device: &Device, content: &[u8]) -> Answer {
    h.send(
        Method::PUT,
        &blob_path(content),
        &[bearer(&device.token)],
        Body::from(content.to_vec()),
    )
    .await
}

async fn download(h: &Harness, device: &Device, path: &str, capability: &str) -> Answer {
    h.send(
        Method::GET,
        path,
        &[
            bearer(&device.token),
            ("fuin-blob-capability", capability.to_owned()),
        ],
        Body::empty(),
    )
    .await
}

fn receipt(answer: &Answer) -> BlobReceipt {
    assert_eq!(answer.status, StatusCode::CREATED);
    assert_eq!(
        answer.headers["content-type"],
        fuin_relay::api::FRAME_MEDIA_TYPE
    );
    BlobReceipt::from_bytes(&answer.body).unwrap()
}

async fn a_blob_goes_up_and_comes_back_to_any_device_with_its_capability(backend: Backend) {
    let h = harness(backend);
    let alice = h.register("alice", 1, 1).await;
    let bob = h.register("bob", 1, 2).await;
    let content = content(300_000);

    let first = receipt(&upload(&h, &alice, &content).await);
    assert_eq!(first.blob_id, sha256_id(&content));
    assert_eq!(first.size, 300_000);
    let lifetime = default_config().blob_lifetime.as_millis() as u64;
    assert_eq!(first.expires_at_ms, START + lifetime);

    // Bob, given the capability, reads it back exactly.
    let path = blob_path(&content);
    let answer = download(&h, &bob, &path, &capability(&first).1).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.headers["content-type"], "application/octet-stream");
    assert_eq!(answer.headers["content-length"], "300000");
    assert_eq!(answer.body, content);

    // Uploading it again gives another capability; both read it.
    h.advance(1000);
    let second = receipt(&upload(&h, &bob, &content).await);
    assert_ne!(second.capability, first.capability);
    assert_eq!(second.expires_at_ms, START + 1000 + lifetime);
    for receipt in [&first, &second] {
        let answer = download(&h, &alice, &path, &capability(receipt).1).await;
        assert_eq!(answer.status, StatusCode::OK);
        assert_eq!(answer.body, content);
    }

    // The empty blob is a blob too.
    let empty = receipt(&upload(&h, &alice, b"").await);
    assert_eq!(empty.size, 0);
    let answer = download(&h, &bob, &blob_path(b""), &capability(&empty).1).await;
    assert_eq!((answer.status, answer.body.len()), (StatusCode::OK, 0));
}

async fn a_wrong_or_missing_capability_and_an_unknown_blob_look_the_same(backend: Backend) {
    let h = harness(backend);
    let alice = h.register("alice", 1, 1).await;
    let bob = h.register("bob", 1, 2).await;
    let a = content(1000);
    let b = content(2000);
    let receipt_a = receipt(&upload(&h, &alice, &a).await);
    let receipt_b = receipt(&upload(&h, &alice, &b).await);
    let right = capability(&receipt_a).1;
    let unknown_path = blob_path(b"never uploaded");

    let mut refusals = Vec::new();
    for (path, capability) in [
        // Someone else's blob's capability.
        (blob_path(&a), Some(capability(&receipt_b).1)),
        // A capability that was never issued.
        (blob_path(&a), Some(hex_of(&[7; 32]))),
        // A malformed one, a short one, none at all.
        (blob_path(&a), Some("zz".repeat(32))),
        (blob_path(&a), Some(right[..62].to_owned())),
        (blob_path(&a), None),
        // The right capability for a blob that does not exist.
        (unknown_path.clone(), Some(right.clone())),
    ] {
        let mut headers = vec![bearer(&bob.token)];
        headers.extend(capability.map(|value| ("fuin-blob-capability", value)));
        let answer = h.send(Method::GET, &path, &headers, Body::empty()).await;
        assert_eq!(
            answer.refusal(),
            (StatusCode::NOT_FOUND, "unknown_blob".to_owned())
        );
        refusals.push(answer.body);
    }
    // Byte for byte the same answer every time.
    assert!(refusals.windows(2).all(|pair| pair[0] == pair[1]));

    // The right one still works.
    let answer = download(&h, &bob, &blob_path(&a), &right).await;
    assert_eq!((answer.status, answer.body), (StatusCode::OK, a));
}

async fn a_body_that_is_not_its_id_s_preimage_is_refused_and_stores_nothing(backend: Backend) {
    let h = harness(backend);
    let alice = h.register("alice", 1, 1).await;
    let claimed = content(5000);
    let mut forged = claimed.clone();
    forged[2500] ^= 1;
    for body in [forged.clone(), claimed[..4999].to_vec(), vec![]] {
        let answer = h
            .send(
                Method::PUT,
                &blob_path(&claimed),
                &[bearer(&alice.token)],
                Body::from(body),
            )
            .await;
        assert_eq!(
            answer.refusal(),
            (StatusCode::BAD_REQUEST, "blob_hash_mismatch".to_owned())
        );
    }
    let bytes = h.database_bytes().await;
    assert!(!harness_contains(&bytes, &forged[2000..2100]));
    assert_eq!(objects(&h).await, vec![]);
    // The genuine content is accepted under the same id, into the blob
    // store.
    receipt(&upload(&h, &alice, &claimed).await);
    assert_eq!(objects(&h).await, vec![id_of(&claimed)]);
}

fn harness_contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

async fn a_malformed_blob_id_is_refused(backend: Backend) {
    let h = harness(backend);
    let alice = h.register("alice", 1, 1).await;
    let good = hex_of(&Sha256::digest(b"x"));
    for id in [
        "xyz".to_owned(),
        good[..63].to_owned(),
        format!("{good}0"),
        format!("{}zz", &good[..62]),
    ] {
        let path = format!("/v1/blobs/{id}");
        for method in [Method::PUT, Method::GET] {
            let answer = h
                .send(
                    method.clone(),
                    &path,
                    &[bearer(&alice.token), ("fuin-blob-capability", good.clone())],
                    Body::from(b"x".to_vec()),
                )
                .await;
            assert_eq!(
                answer.refusal(),
                (StatusCode::BAD_REQUEST, "invalid_blob_id".to_owned()),
                "{method} {path}"
            );
        }
    }
}

async fn blob_endpoints_need_a_valid_device_token(backend: Backend) {
    let h = harness(backend);
    let alice = h.register("alice", 1, 1).await;
    let revoked = h.register("carol", 1, 3).await;
    h.log_out(&revoked).await;
    let content = content(100);
    let issued = receipt(&upload(&h, &alice, &content).await);
    let expiring = h.login(&alice.address, &alice.key).await;
    h.advance(default_config().token_lifetime.as_millis() as u64 + 1);

    let path = blob_path(&content);
    let cap = capability(&issued);
    for token in [
        None,
        Some("00".repeat(32)),
        Some("zz".repeat(32)),
        Some(revoked.token.clone()),
        Some(expiring.clone()),
    ] {
        for method in [Method::PUT, Method::GET] {
            let mut headers = vec![cap.clone()];
            headers.extend(token.as_deref().map(bearer));
            let answer = h
                .send(method.clone(), &path, &headers, Body::from(content.clone()))
                .await;
            assert_eq!(
                answer.refusal(),
                (StatusCode::UNAUTHORIZED, "unauthorized".to_owned()),
                "{method} with {token:?}"
            );
        }
    }
    // The capability alone, as a bearer token, opens nothing either.
    let answer = h
        .send(
            Method::GET,
            &path,
            &[bearer(&cap.1), cap.clone()],
            Body::empty(),
        )
        .await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
}

/// Config with a small blob limit.
fn small_limit(backend: Backend, max: usize) -> Harness {
    let mut config = default_config();
    config.max_blob_len = max;
    harness_with(backend, config)
}

async fn a_blob_over_the_limit_is_refused_and_one_at_the_limit_is_stored(backend: Backend) {
    let h = small_limit(backend, 1000);
    let alice = h.register("alice", 1, 1).await;
    let over = content(1001);
    let answer = upload(&h, &alice, &over).await;
    assert_eq!(
        answer.refusal(),
        (StatusCode::PAYLOAD_TOO_LARGE, "too_large".to_owned())
    );
    let at_limit = content(1000);
    let stored = receipt(&upload(&h, &alice, &at_limit).await);
    assert_eq!(stored.size, 1000);
    assert_eq!(objects(&h).await, vec![id_of(&at_limit)]);
}

/// A body of endless 1 KiB chunks that counts how many were taken.
fn endless_body(taken: Arc<AtomicUsize>) -> Body {
    let chunks = futures_util::stream::repeat_with(move || {
        taken.fetch_add(1, Ordering::SeqCst);
        Ok::<_, Infallible>(Bytes::from(vec![0x11; 1024]))
    });
    Body::from_stream(chunks)
}

async fn an_endless_body_is_refused_as_soon_as_it_passes_the_limit(backend: Backend) {
    let h = small_limit(backend, 64 * 1024);
    let alice = h.register("alice", 1, 1).await;
    let taken = Arc::new(AtomicUsize::new(0));
    let answer = tokio::time::timeout(
        Duration::from_secs(30),
        h.send(
            Method::PUT,
            &blob_path(b"anything"),
            &[bearer(&alice.token)],
            endless_body(taken.clone()),
        ),
    )
    .await
    .expect("the relay must stop reading");
    assert_eq!(
        answer.refusal(),
        (StatusCode::PAYLOAD_TOO_LARGE, "too_large".to_owned())
    );
    // 64 chunks reach the limit; the 65th passes it.
    assert_eq!(taken.load(Ordering::SeqCst), 65);
}

async fn a_declared_length_over_the_limit_is_refused_before_reading(backend: Backend) {
    let h = small_limit(backend, 1000);
    let alice = h.register("alice", 1, 1).await;
    let taken = Arc::new(AtomicUsize::new(0));
    let answer = h
        .send(
            Method::PUT,
            &blob_path(b"anything"),
            &[bearer(&alice.token), ("content-length", "1001".to_owned())],
            endless_body(taken.clone()),
        )
        .await;
    assert_eq!(
        answer.refusal(),
        (StatusCode::PAYLOAD_TOO_LARGE, "too_large".to_owned())
    );
    assert_eq!(taken.load(Ordering::SeqCst), 0);
}

async fn blobs_expire_and_leave_nothing_behind(backend: Backend) {
    let mut config = default_config();
    // Objects without a record go at the first sweep.
    config.blob_orphan_grace = Duration::ZERO;
    let h = harness_with(backend, config);
    let alice = h.register("alice", 1, 1).await;
    let content = content(50_000);
    let issued = receipt(&upload(&h, &alice, &content).await);
    let path = blob_path(&content);
    let blob_id = id_of(&content);
    assert_eq!(objects(&h).await, vec![blob_id]);
    // A sweep before expiry keeps the object: it has its record.
    h.relay.sweep().await.unwrap();
    assert_eq!(objects(&h).await, vec![blob_id]);

    h.advance(default_config().blob_lifetime.as_millis() as u64 - 1);
    // Log in again: the first token has expired by now.
    let alice = Device {
        token: h.login(&alice.address, &alice.key).await,
        ..alice
    };
    let answer = download(&h, &alice, &path, &capability(&issued).1).await;
    assert_eq!((answer.status, answer.body.len()), (StatusCode::OK, 50_000));
    h.advance(1);
    // Refused from its expiry on, even before the sweep.
    let answer = download(&h, &alice, &path, &capability(&issued).1).await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);

    h.relay.sweep().await.unwrap();
    assert_eq!(objects(&h).await, vec![]);
    assert_eq!(h.relay.store().recorded_blobs(&[blob_id]).await, Ok(vec![]));
    assert!(!harness_contains(&h.database_bytes().await, &blob_id.0));
}

async fn blob_transfers_beyond_the_limit_wait_their_turn(backend: Backend) {
    let mut config = default_config();
    config.max_blob_transfers = 1;
    let h = Arc::new(harness_with(backend, config));
    let alice = h.register("alice", 1, 1).await;

    // The first upload holds the only permit until its body ends.
    let (sender, receiver) = tokio::sync::mpsc::channel::<Result<Bytes, Infallible>>(1);
    let held = content(2000);
    let first = {
        let h = h.clone();
        let token = alice.token.clone();
        let path = blob_path(&held);
        let body = Body::from_stream(tokio_stream(receiver));
        tokio::spawn(async move { h.send(Method::PUT, &path, &[bearer(&token)], body).await })
    };
    sender
        .send(Ok(Bytes::from(held[..1000].to_vec())))
        .await
        .unwrap();
    eventually_async("the first upload to hold the permit", PATIENCE, || {
        let transfers = h.relay.blob_transfers();
        async move { transfers == (1, 0) }
    })
    .await;

    let other = content(10);
    let second = {
        let h = h.clone();
        let token = alice.token.clone();
        let other = other.clone();
        tokio::spawn(async move {
            h.send(
                Method::PUT,
                &blob_path(&other),
                &[bearer(&token)],
                Body::from(other),
            )
            .await
        })
    };
    eventually_async("the second upload to wait for a permit", PATIENCE, || {
        let transfers = h.relay.blob_transfers();
        async move { transfers == (1, 1) }
    })
    .await;
    assert!(!second.is_finished(), "the second transfer did not wait");

    sender
        .send(Ok(Bytes::from(held[1000..].to_vec())))
        .await
        .unwrap();
    drop(sender);
    assert_eq!(first.await.unwrap().status, StatusCode::CREATED);
    assert_eq!(second.await.unwrap().status, StatusCode::CREATED);
}

/// A receiver as a stream of its messages.
fn tokio_stream<T: Send + 'static>(
    mut receiver: tokio::sync::mpsc::Receiver<T>,
) -> impl futures_util::Stream<Item = T> + Send + 'static {
    futures_util::stream::poll_fn(move |cx| receiver.poll_recv(cx))
}

/// Four photo-sized blobs: the database stays small and holds none of
/// their bytes; the blob store holds each whole.
async fn blob_bytes_never_enter_the_database(backend: Backend) {
    let h = harness(backend);
    let alice = h.register("alice", 1, 1).await;
    let photos: Vec<Vec<u8>> = (0..4).map(|_| content(2 * 1024 * 1024)).collect();
    for photo in &photos {
        receipt(&upload(&h, &alice, photo).await);
    }
    let database = h.database_bytes().await;
    for photo in &photos {
        assert!(!harness_contains(&database, &photo[1_000_000..1_000_064]));
        let stored = h
            .relay
            .blob_store()
            .get(id_of(photo), u64::MAX)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&stored[..], &photo[..]);
    }
    // 8 MiB of blobs; the database holds their records only.
    assert!(
        database.len() < 1024 * 1024,
        "the database holds {} bytes",
        database.len()
    );
}

/// What the blob store holds under an id is checked against the record
/// before a byte is sent: a shortened object, another blob's object, a
/// flipped byte and a missing object are each refused with 500
/// `blob_damaged`; the intact object is served again once restored.
async fn a_truncated_swapped_flipped_or_missing_object_is_refused_not_served(backend: Backend) {
    let h = harness(backend);
    let alice = h.register("alice", 1, 1).await;
    let bob = h.register("bob", 1, 2).await;
    let a = content(40_000);
    let b = content(40_000);
    let issued = receipt(&upload(&h, &alice, &a).await);
    receipt(&upload(&h, &alice, &b).await);
    let blobs = h.relay.blob_store();
    let path = blob_path(&a);
    let cap = capability(&issued).1;

    let mut flipped = a.clone();
    flipped[39_999] ^= 1;
    for damaged in [
        Some(a[..39_999].to_vec()),
        Some(b.clone()),
        Some(flipped),
        None,
    ] {
        match damaged {
            Some(bytes) => blobs.put(id_of(&a), Bytes::from(bytes)).await.unwrap(),
            None => blobs.delete(id_of(&a)).await.unwrap(),
        }
        let answer = download(&h, &bob, &path, &cap).await;
        assert_eq!(
            server_refusal(&answer),
            (StatusCode::INTERNAL_SERVER_ERROR, "blob_damaged".to_owned())
        );
        assert!(!harness_contains(&answer.body, &b[..64]));
    }
    // An object longer than its record.
    let mut longer = a.clone();
    longer.push(0);
    blobs.put(id_of(&a), Bytes::from(longer)).await.unwrap();
    let answer = download(&h, &bob, &path, &cap).await;
    assert_eq!(
        server_refusal(&answer),
        (StatusCode::INTERNAL_SERVER_ERROR, "blob_damaged".to_owned())
    );

    blobs.put(id_of(&a), Bytes::from(a.clone())).await.unwrap();
    let answer = download(&h, &bob, &path, &cap).await;
    assert_eq!((answer.status, answer.body), (StatusCode::OK, a));
}

async fn a_blob_starting_with_2_goes_up_under_its_blake3_and_any_other_under_its_sha256(
    backend: Backend,
) {
    let h = harness(backend);
    let alice = h.register("alice", 1, 1).await;
    let bob = h.register("bob", 1, 2).await;
    let put = |id: BlobId, content: Vec<u8>| {
        let (h, alice) = (&h, &alice);
        async move {
            h.send(
                Method::PUT,
                &path_of(&id),
                &[bearer(&alice.token)],
                Body::from(content),
            )
            .await
        }
    };
    let v2 = content_v2(200_000);
    let v1 = content(200_000);
    assert_ne!(blake3_id(&v2), sha256_id(&v2));

    // Each under the other hash is refused, and nothing is stored.
    for (content, wrong) in [(&v2, sha256_id(&v2)), (&v1, blake3_id(&v1))] {
        let answer = put(wrong, content.clone()).await;
        assert_eq!(
            server_refusal(&answer),
            (StatusCode::BAD_REQUEST, "blob_hash_mismatch".to_owned())
        );
    }
    assert!(objects(&h).await.is_empty());

    // Each under its own hash goes up and comes back exactly.
    for (content, right) in [(&v2, blake3_id(&v2)), (&v1, sha256_id(&v1))] {
        let issued = receipt(&put(right, content.clone()).await);
        assert_eq!(issued.blob_id, right);
        let answer = download(&h, &bob, &path_of(&right), &capability(&issued).1).await;
        assert_eq!((answer.status, &answer.body), (StatusCode::OK, content));
    }
    let mut expected = vec![blake3_id(&v2), sha256_id(&v1)];
    expected.sort_by_key(|id| id.0);
    assert_eq!(objects(&h).await, expected);
}

/// The read check uses the hash the blob's first byte names: a version 2
/// object altered in the store (a flipped byte, or relabelled as version 1)
/// is refused with 500 `blob_damaged`, and served again once restored.
async fn a_blake3_named_object_that_was_altered_is_refused_not_served(backend: Backend) {
    let h = harness(backend);
    let alice = h.register("alice", 1, 1).await;
    let bob = h.register("bob", 1, 2).await;
    let a = content_v2(40_000);
    let issued = receipt(&upload(&h, &alice, &a).await);
    assert_eq!(issued.blob_id, blake3_id(&a));
    let blobs = h.relay.blob_store();
    let path = blob_path(&a);
    let cap = capability(&issued).1;
    let mut flipped = a.clone();
    flipped[20_000] ^= 1;
    let mut relabelled = a.clone();
    relabelled[0] = 1;
    for damaged in [flipped, relabelled] {
        blobs
            .put(blake3_id(&a), Bytes::from(damaged))
            .await
            .unwrap();
        let answer = download(&h, &bob, &path, &cap).await;
        assert_eq!(
            server_refusal(&answer),
            (StatusCode::INTERNAL_SERVER_ERROR, "blob_damaged".to_owned())
        );
    }
    blobs
        .put(blake3_id(&a), Bytes::from(a.clone()))
        .await
        .unwrap();
    let answer = download(&h, &bob, &path, &cap).await;
    assert_eq!((answer.status, answer.body), (StatusCode::OK, a));
}

/// A blob store that writes through to another and then never answers: a
/// relay that dies after an upload's object is durable and before its
/// record is committed.
struct StallsAfterPut {
    inner: Arc<dyn BlobStore>,
}

impl BlobStore for StallsAfterPut {
    fn put(&self, blob_id: BlobId, bytes: Bytes) -> BlobFuture<'_, ()> {
        Box::pin(async move {
            self.inner.put(blob_id, bytes).await?;
            std::future::pending().await
        })
    }
    fn get(&self, blob_id: BlobId, max_len: u64) -> BlobFuture<'_, Option<Bytes>> {
        self.inner.get(blob_id, max_len)
    }
    fn delete(&self, blob_id: BlobId) -> BlobFuture<'_, ()> {
        self.inner.delete(blob_id)
    }
    fn delete_if_older(&self, blob_id: BlobId, cutoff: SystemTime) -> BlobFuture<'_, bool> {
        self.inner.delete_if_older(blob_id, cutoff)
    }
    fn list(&self) -> BlobFuture<'_, Vec<StoredObject>> {
        self.inner.list()
    }
    fn location(&self) -> String {
        self.inner.location()
    }
}

async fn an_upload_interrupted_after_its_object_leaves_no_record_and_the_object_is_swept(
    backend: Backend,
) {
    let dir = tempfile::tempdir().unwrap();
    let inner = blob_backends::open(backend, dir.path()).unwrap();
    let stalling = Arc::new(StallsAfterPut {
        inner: inner.clone(),
    });
    let h = Arc::new(Harness::in_dir_with_blobs(dir, default_config(), stalling));
    let alice = h.register("alice", 1, 1).await;
    let blob = content(10_000);
    let blob_id = id_of(&blob);
    let upload = {
        let h = h.clone();
        let token = alice.token.clone();
        let blob = blob.clone();
        tokio::spawn(async move {
            h.send(
                Method::PUT,
                &blob_path(&blob),
                &[bearer(&token)],
                Body::from(blob),
            )
            .await
        })
    };
    eventually_async("the object to be written", PATIENCE, || {
        let inner = inner.clone();
        async move { inner.get(blob_id, u64::MAX).await.unwrap().is_some() }
    })
    .await;
    // The relay dies here: the request is gone, unanswered.
    upload.abort();
    assert!(upload.await.is_err_and(|err| err.is_cancelled()));

    // No record, so no capability could ever read it; the object waits.
    let store = h.relay.store();
    assert_eq!(store.recorded_blobs(&[blob_id]).await, Ok(vec![]));
    // Within the grace period the sweep keeps it (an upload in flight
    // looks the same); after it, the sweep deletes it.
    let young = SystemTime::now() - Duration::from_secs(3600);
    let deleted = fuin_relay::blobs::sweep_orphans(store, inner.as_ref(), young).await;
    assert_eq!(deleted, Ok(0));
    assert_eq!(objects(&h).await, vec![blob_id]);
    let later = SystemTime::now() + Duration::from_secs(3600);
    let deleted = fuin_relay::blobs::sweep_orphans(store, inner.as_ref(), later).await;
    assert_eq!(deleted, Ok(1));
    assert_eq!(objects(&h).await, vec![]);
}

/// A blob store that refuses every write.
struct RefusesPuts {
    inner: Arc<dyn BlobStore>,
}

impl BlobStore for RefusesPuts {
    fn put(&self, _: BlobId, _: Bytes) -> BlobFuture<'_, ()> {
        Box::pin(async { Err(BlobStoreError::new("put", "the disk is full")) })
    }
    fn get(&self, blob_id: BlobId, max_len: u64) -> BlobFuture<'_, Option<Bytes>> {
        self.inner.get(blob_id, max_len)
    }
    fn delete(&self, blob_id: BlobId) -> BlobFuture<'_, ()> {
        self.inner.delete(blob_id)
    }
    fn delete_if_older(&self, blob_id: BlobId, cutoff: SystemTime) -> BlobFuture<'_, bool> {
        self.inner.delete_if_older(blob_id, cutoff)
    }
    fn list(&self) -> BlobFuture<'_, Vec<StoredObject>> {
        self.inner.list()
    }
    fn location(&self) -> String {
        self.inner.location()
    }
}

async fn a_failing_blob_store_refuses_the_upload_and_records_nothing(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let inner = blob_backends::open(backend, dir.path()).unwrap();
    let h = Harness::in_dir_with_blobs(dir, default_config(), Arc::new(RefusesPuts { inner }));
    let alice = h.register("alice", 1, 1).await;
    let blob = content(1000);
    let answer = upload(&h, &alice, &blob).await;
    assert_eq!(
        server_refusal(&answer),
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "storage_unavailable".to_owned()
        )
    );
    assert_eq!(
        h.relay.store().recorded_blobs(&[id_of(&blob)]).await,
        Ok(vec![])
    );
    assert_eq!(objects(&h).await, vec![]);
}
