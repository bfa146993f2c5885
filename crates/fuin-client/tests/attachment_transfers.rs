//! Attachments from memory and streams, into memory and writers, with
//! progress, cancellation and the size limit, through a real relay: every
//! byte arrives; progress is monotone and reaches its total; a cancelled
//! upload shares nothing and a cancelled download writes nothing; a file
//! over the limit is refused before the relay sees a blob.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use common::media::sha256_hex;
use common::{Devices, NO_WAIT, TestRelay};
use fuin_client::{
    AttachmentSink, AttachmentSource, CancellationToken, Client, ClientError, ClientOptions,
    SendFileOptions, Transfer, TransferPhase, TransferProgress,
};
use fuin_wire::ContentType;
use tokio::io::AsyncWriteExt;

/// Bytes that do not repeat at any chunk size.
fn content(len: usize, seed: u64) -> Vec<u8> {
    (0..len as u64)
        .map(|i| ((i + seed).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 56) as u8)
        .collect()
}

/// A transfer that records every progress report.
fn recorded() -> (Transfer, Arc<Mutex<Vec<TransferProgress>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    let transfer = Transfer::new().with_progress(move |p| sink.lock().unwrap().push(p));
    (transfer, seen)
}

/// The reports of one phase, checked to be monotone, and the last.
fn phase(seen: &[TransferProgress], phase: TransferPhase) -> TransferProgress {
    let reports: Vec<_> = seen.iter().filter(|p| p.phase == phase).collect();
    assert!(!reports.is_empty(), "no {phase:?} progress");
    assert_eq!(reports[0].done, 0, "{phase:?} starts at 0");
    for pair in reports.windows(2) {
        assert!(
            pair[0].done <= pair[1].done,
            "{phase:?} went back: {pair:?}"
        );
        assert_eq!(pair[0].total, pair[1].total, "{phase:?} changed its total");
    }
    *reports[reports.len() - 1]
}

/// The phases in the order they first reported.
fn phase_order(seen: &[TransferProgress]) -> Vec<TransferPhase> {
    let mut order = Vec::new();
    for p in seen {
        if !order.contains(&p.phase) {
            order.push(p.phase);
        }
    }
    order
}

/// A stream of unknown length: `bytes` written into a pipe in uneven
/// pieces by another task.
fn piped(bytes: Vec<u8>) -> tokio::io::DuplexStream {
    let (reader, mut writer) = tokio::io::duplex(8 * 1024);
    tokio::spawn(async move {
        for piece in bytes.chunks(7_919) {
            if writer.write_all(piece).await.is_err() {
                return;
            }
        }
    });
    reader
}

async fn attachments(client: &Client, peer: &str) -> Vec<i64> {
    client
        .history(peer, 50)
        .await
        .unwrap()
        .iter()
        .filter(|m| m.content_type == ContentType::Attachment)
        .map(|m| m.local_id)
        .collect()
}

/// Blobs the relay holds: rows of its database, and files of its blob store.
fn relay_blobs(relay: &TestRelay) -> (i64, usize) {
    let db = rusqlite::Connection::open_with_flags(
        relay.database(),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    let rows = db
        .query_row("SELECT count(*) FROM blobs", [], |row| row.get(0))
        .unwrap();
    let dir = relay.dir.path().join("relay.db.blobs");
    let files = std::fs::read_dir(dir).map_or(0, |entries| {
        entries
            .filter(|e| e.as_ref().unwrap().file_type().unwrap().is_file())
            .count()
    });
    (rows, files)
}

fn entries(dir: &Path) -> Vec<PathBuf> {
    let mut all: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    all.sort();
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_and_a_stream_of_unknown_length_round_trip_into_memory_and_a_writer() {
    let relay = TestRelay::start().await;
    let devices = Devices::new();
    let alice = devices.create(&relay, "alice", 1).await;
    let bob = devices.create(&relay, "bob", 1).await;
    let options = SendFileOptions {
        chunk_size: Some(16 * 1024),
        content_type: Some("application/pdf".into()),
        file_name: Some("report.pdf".into()),
        ..SendFileOptions::default()
    };

    // From memory, with progress.
    let first = content(300_000, 1);
    let (transfer, seen) = recorded();
    let sent = alice
        .send_attachment(
            "bob",
            AttachmentSource::bytes(first.clone()),
            &options,
            &transfer,
        )
        .await
        .unwrap();
    assert_eq!(sent.size, first.len() as u64);
    assert_eq!(sent.sha256, sha256_hex(&first));
    assert_eq!(sent.attachment.file_name.as_deref(), Some("report.pdf"));
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        phase_order(&seen),
        [TransferPhase::Sealing, TransferPhase::Uploading]
    );
    let sealing = phase(&seen, TransferPhase::Sealing);
    assert_eq!((sealing.done, sealing.total), (300_000, Some(300_000)));
    let uploading = phase(&seen, TransferPhase::Uploading);
    let sealed_len = sent.attachment.sealed_len;
    assert_eq!(
        (uploading.done, uploading.total),
        (sealed_len, Some(sealed_len))
    );

    // From a stream whose length nobody declared.
    let second = content(250_001, 2);
    let (transfer, seen) = recorded();
    let streamed = alice
        .send_attachment(
            "bob",
            AttachmentSource::reader(piped(second.clone()), None),
            &SendFileOptions::default(),
            &transfer,
        )
        .await
        .unwrap();
    assert_eq!(streamed.sha256, sha256_hex(&second));
    assert_eq!(streamed.attachment.content_type, "application/octet-stream");
    let seen = seen.lock().unwrap().clone();
    let sealing = phase(&seen, TransferPhase::Sealing);
    assert_eq!((sealing.done, sealing.total), (250_001, None));
    let uploading = phase(&seen, TransferPhase::Uploading);
    assert_eq!(uploading.done, streamed.attachment.sealed_len);

    bob.sync(NO_WAIT).await.unwrap();
    let ids = attachments(&bob, "alice").await;
    assert_eq!(ids.len(), 2);

    // Into memory.
    let (transfer, seen) = recorded();
    let fetched = bob
        .fetch_attachment_to(ids[0], AttachmentSink::Memory, &transfer)
        .await
        .unwrap();
    assert!(fetched.bytes.as_deref().unwrap()[..] == first[..]);
    assert_eq!(fetched.sha256, sha256_hex(&first));
    assert_eq!(fetched.blob_id, sent.attachment.blob_id);
    let seen = seen.lock().unwrap().clone();
    let downloading = phase(&seen, TransferPhase::Downloading);
    assert_eq!(
        (downloading.done, downloading.total),
        (sealed_len, Some(sealed_len))
    );
    let opening = phase(&seen, TransferPhase::Opening);
    assert_eq!((opening.done, opening.total), (300_000, Some(300_000)));
    assert!(!seen.iter().any(|p| p.phase == TransferPhase::Writing));

    // Into a writer.
    let (transfer, seen) = recorded();
    let mut written: Vec<u8> = Vec::new();
    let fetched = bob
        .fetch_attachment_to(ids[1], AttachmentSink::Writer(&mut written), &transfer)
        .await
        .unwrap();
    assert!(written == second);
    assert_eq!(fetched.size, 250_001);
    assert!(fetched.bytes.is_none());
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        phase_order(&seen),
        [
            TransferPhase::Downloading,
            TransferPhase::Opening,
            TransferPhase::Writing
        ]
    );
    let writing = phase(&seen, TransferPhase::Writing);
    assert_eq!((writing.done, writing.total), (250_001, Some(250_001)));
    // Nothing was written out before the whole object verified.
    let first_write = seen
        .iter()
        .position(|p| p.phase == TransferPhase::Writing)
        .unwrap();
    assert!(
        seen[..first_write]
            .iter()
            .any(|p| p.phase == TransferPhase::Opening && p.done == 250_001)
    );
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_shorter_or_longer_than_declared_is_refused_and_nothing_is_sent() {
    let relay = TestRelay::start().await;
    let devices = Devices::new();
    let alice = devices.create(&relay, "alice", 1).await;
    let bob = devices.create(&relay, "bob", 1).await;
    let bytes = content(40_000, 3);
    for declared in [39_999, 40_001] {
        let err = alice
            .send_attachment(
                "bob",
                AttachmentSource::reader(piped(bytes.clone()), Some(declared)),
                &SendFileOptions::default(),
                &Transfer::default(),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(&err, ClientError::InvalidArgument(why) if why.contains("declared")),
            "{err}"
        );
    }
    assert!(attachments(&alice, "bob").await.is_empty());
    assert_eq!(relay_blobs(&relay), (0, 0));
    bob.sync(NO_WAIT).await.unwrap();
    assert!(bob.conversations().await.unwrap().is_empty());
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_upload_sends_nothing_stores_nothing_and_the_peer_gets_nothing() {
    let relay = TestRelay::start().await;
    let devices = Devices::new();
    let alice = devices.create(&relay, "alice", 1).await;
    let bob = devices.create(&relay, "bob", 1).await;
    let big = content(3 * 1024 * 1024, 4);

    // Cancelled once the first block of the body went out.
    let token = CancellationToken::new();
    let canceller = token.clone();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    let transfer =
        Transfer::new()
            .with_cancellation(token)
            .with_progress(move |p: TransferProgress| {
                record.lock().unwrap().push(p);
                if p.phase == TransferPhase::Uploading && p.done > 0 {
                    canceller.cancel();
                }
            });
    let err = alice
        .send_attachment(
            "bob",
            AttachmentSource::bytes(big.clone()),
            &SendFileOptions::default(),
            &transfer,
        )
        .await
        .unwrap_err();
    assert_eq!(err, ClientError::Cancelled);
    let uploaded = phase(&seen.lock().unwrap(), TransferPhase::Uploading);
    assert!(uploaded.done < uploaded.total.unwrap(), "{uploaded:?}");

    // Dropped while uploading: the select below drops the send future as
    // soon as the upload has started.
    let (started, upload_started) = tokio::sync::oneshot::channel();
    let started = Mutex::new(Some(started));
    let transfer = Transfer::new().with_progress(move |p: TransferProgress| {
        if p.phase == TransferPhase::Uploading
            && p.done > 0
            && let Some(started) = started.lock().unwrap().take()
        {
            let _ = started.send(());
        }
    });
    let options = SendFileOptions::default();
    let send = alice.send_attachment("bob", AttachmentSource::bytes(big), &options, &transfer);
    tokio::select! {
        biased;
        _ = upload_started => {}
        result = send => panic!("the send finished before it was dropped: {result:?}"),
    }

    // Cancelled before it starts.
    let transfer = Transfer::new();
    transfer.cancel();
    let err = alice
        .send_attachment(
            "bob",
            AttachmentSource::bytes(vec![1; 10]),
            &SendFileOptions::default(),
            &transfer,
        )
        .await
        .unwrap_err();
    assert_eq!(err, ClientError::Cancelled);

    assert!(alice.history("bob", 10).await.unwrap().is_empty());
    assert_eq!(relay_blobs(&relay), (0, 0), "the relay stored no blob");
    bob.sync(NO_WAIT).await.unwrap();
    assert!(bob.conversations().await.unwrap().is_empty());
    assert!(bob.history("alice", 10).await.unwrap().is_empty());

    // The same client sends the next one normally.
    let sent = alice
        .send_attachment(
            "bob",
            AttachmentSource::bytes(vec![5; 1000]),
            &SendFileOptions::default(),
            &Transfer::default(),
        )
        .await
        .unwrap();
    assert_eq!(sent.size, 1000);
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_download_writes_no_plaintext() {
    let relay = TestRelay::start().await;
    let devices = Devices::new();
    let alice = devices.create(&relay, "alice", 1).await;
    let bob = devices.create(&relay, "bob", 1).await;
    let big = content(2 * 1024 * 1024 + 5, 5);
    alice
        .send_attachment(
            "bob",
            AttachmentSource::bytes(big.clone()),
            &SendFileOptions::default(),
            &Transfer::default(),
        )
        .await
        .unwrap();
    bob.sync(NO_WAIT).await.unwrap();
    let id = attachments(&bob, "alice").await[0];

    // Cancelled once the first bytes of the blob arrived.
    let cancelling = || {
        let token = CancellationToken::new();
        let canceller = token.clone();
        Transfer::new()
            .with_cancellation(token)
            .with_progress(move |p: TransferProgress| {
                if p.phase == TransferPhase::Downloading && p.done > 0 {
                    canceller.cancel();
                }
            })
    };
    let files = tempfile::tempdir().unwrap();
    let out = files.path().join("big.bin");
    let err = bob
        .fetch_attachment_to(id, AttachmentSink::Path(&out), &cancelling())
        .await
        .unwrap_err();
    assert_eq!(err, ClientError::Cancelled);
    assert!(!out.exists());
    assert!(entries(files.path()).is_empty(), "no partial file is left");

    let mut written: Vec<u8> = Vec::new();
    let err = bob
        .fetch_attachment_to(id, AttachmentSink::Writer(&mut written), &cancelling())
        .await
        .unwrap_err();
    assert_eq!(err, ClientError::Cancelled);
    assert!(written.is_empty(), "nothing reached the writer");

    let err = bob
        .fetch_attachment_to(id, AttachmentSink::Memory, &cancelling())
        .await
        .unwrap_err();
    assert_eq!(err, ClientError::Cancelled);

    // Dropped mid-download: no file, no temporary file.
    let (started, download_started) = tokio::sync::oneshot::channel();
    let started = Mutex::new(Some(started));
    let transfer = Transfer::new().with_progress(move |p: TransferProgress| {
        if p.phase == TransferPhase::Downloading
            && p.done > 0
            && let Some(started) = started.lock().unwrap().take()
        {
            let _ = started.send(());
        }
    });
    let fetch = bob.fetch_attachment_to(id, AttachmentSink::Path(&out), &transfer);
    tokio::select! {
        biased;
        _ = download_started => {}
        result = fetch => panic!("the fetch finished before it was dropped: {result:?}"),
    }
    assert!(!out.exists());
    assert!(entries(files.path()).is_empty(), "no partial file is left");

    // Not cancelled, it arrives whole.
    let fetched = bob
        .fetch_attachment_to(id, AttachmentSink::Path(&out), &Transfer::default())
        .await
        .unwrap();
    assert_eq!(fetched.sha256, sha256_hex(&big));
    assert!(std::fs::read(&out).unwrap() == big);
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_over_the_limit_is_refused_before_the_relay_sees_a_blob() {
    const LIMIT: u64 = 1024 * 1024;
    let relay = TestRelay::start_with(|config| config.max_blob_len = LIMIT as usize).await;
    let devices = Devices::new();
    let options = ClientOptions {
        max_blob_len: Some(LIMIT),
        ..ClientOptions::default()
    };
    let alice = Client::create(devices.path("alice", 1), &relay.url, "alice", 1, options)
        .await
        .unwrap();
    let bob = devices.create(&relay, "bob", 1).await;

    let limits = alice.attachment_limits();
    assert_eq!(limits.max_blob_len, LIMIT);
    // 16 full 64 KiB chunks take 16 × 16 bytes of tags and a 69-byte
    // header more than the limit allows; the 16th chunk loses 325 bytes.
    assert_eq!(limits.max_file_len, LIMIT - 69 - 16 * 16);
    // A client told nothing assumes the relay's default.
    assert_eq!(
        bob.attachment_limits().max_blob_len,
        fuin_client::DEFAULT_MAX_BLOB_LEN
    );

    // Declared sizes: refused before a byte is sealed.
    let over = limits.max_file_len + 1;
    let (transfer, seen) = recorded();
    let err = alice
        .send_attachment(
            "bob",
            AttachmentSource::bytes(vec![0; over as usize]),
            &SendFileOptions::default(),
            &transfer,
        )
        .await
        .unwrap_err();
    assert_eq!(
        err,
        ClientError::AttachmentTooLarge {
            size: Some(over),
            max: limits.max_file_len
        }
    );
    assert!(err.to_string().contains("over the"), "{err}");
    assert!(seen.lock().unwrap().is_empty(), "nothing was sealed");
    let files = tempfile::tempdir().unwrap();
    let path = files.path().join("big.bin");
    std::fs::write(&path, vec![0; over as usize]).unwrap();
    let err = alice
        .send_file("bob", &path, &SendFileOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        ClientError::AttachmentTooLarge { size: Some(_), .. }
    ));

    // A stream of unknown length: stopped when it passes the limit.
    let (transfer, seen) = recorded();
    let err = alice
        .send_attachment(
            "bob",
            AttachmentSource::reader(piped(vec![0; over as usize]), None),
            &SendFileOptions::default(),
            &transfer,
        )
        .await
        .unwrap_err();
    assert_eq!(
        err,
        ClientError::AttachmentTooLarge {
            size: None,
            max: limits.max_file_len
        }
    );
    let seen = seen.lock().unwrap().clone();
    assert!(!seen.iter().any(|p| p.phase == TransferPhase::Uploading));

    assert_eq!(relay_blobs(&relay), (0, 0), "the relay saw no blob");
    assert!(alice.history("bob", 10).await.unwrap().is_empty());

    // Exactly the limit fits: the relay takes it.
    let sent = alice
        .send_attachment(
            "bob",
            AttachmentSource::bytes(vec![0; limits.max_file_len as usize]),
            &SendFileOptions::default(),
            &Transfer::default(),
        )
        .await
        .unwrap();
    assert_eq!(sent.attachment.sealed_len, LIMIT);
    assert_eq!(relay_blobs(&relay), (1, 1));
    relay.stop().await;
}
