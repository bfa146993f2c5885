//! What the relay promises about storage, checked on the real binary: a send
//! the relay acknowledged survives SIGKILL, and the database never holds a
//! sealed message's plaintext.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use common::*;
use fuin_wire::FrameBody;
use fuin_wire::relay::SendAccepted;

#[test]
fn every_send_the_relay_acknowledged_survives_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("relay.db");
    let relay = RelayProcess::start(&data);
    let address = relay.address.clone();
    let alice = TestDevice::register(&address, "alice", 1, 1);
    let bob = TestDevice::register(&address, "bob", 1, 2);

    // Four senders keep sending until the relay dies under them.
    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let alice = Arc::new(alice);
    let senders: Vec<_> = (0..4)
        .map(|sender| {
            let (acknowledged, stop, alice, address) = (
                acknowledged.clone(),
                stop.clone(),
                alice.clone(),
                address.clone(),
            );
            let to = bob.address.clone();
            std::thread::spawn(move || {
                let mut i = 0u32;
                while !stop.load(Ordering::SeqCst) {
                    let body = format!("sender {sender} message {i}");
                    i += 1;
                    // Anything but a 200 (the relay died mid-request) was not
                    // acknowledged, so the relay owes nothing for it.
                    if let Ok((200, reply)) = alice.send(&address, &to, body.as_bytes()) {
                        let accepted = SendAccepted::from_bytes(&reply).unwrap();
                        acknowledged
                            .lock()
                            .unwrap()
                            .push(accepted.message_ids.as_slice()[0]);
                    }
                }
            })
        })
        .collect();
    // Generous: four senders, each send waiting for a durable commit, on a
    // machine that may be busy.
    eventually(
        "200 sends to be acknowledged",
        std::time::Duration::from_secs(120),
        || acknowledged.lock().unwrap().len() >= 200,
    );
    relay.stop("KILL");
    stop.store(true, Ordering::SeqCst);
    for sender in senders {
        sender.join().unwrap();
    }
    let acknowledged: Vec<_> = acknowledged.lock().unwrap().clone();

    let relay = RelayProcess::start(&data);
    let mut bob = bob;
    bob.login(&relay.address);
    let delivered = bob.drain(&relay.address);
    let delivered_ids: Vec<_> = delivered.iter().map(|r| r.server_message_id).collect();
    let unique: HashSet<_> = delivered_ids.iter().copied().collect();
    assert_eq!(
        unique.len(),
        delivered_ids.len(),
        "an envelope was delivered twice"
    );
    let lost: Vec<_> = acknowledged
        .iter()
        .filter(|id| !unique.contains(id))
        .collect();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged sends lost",
        lost.len(),
        acknowledged.len()
    );
    assert!(acknowledged.len() >= 200);
    relay.stop("TERM");
}

#[test]
fn after_a_realistic_workload_the_database_holds_no_plaintext() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("relay.db");
    let relay = RelayProcess::start(&data);
    let address = relay.address.clone();
    let mut devices = TestDevice::register_user(&address, "alice", &[(1, 1), (2, 2)]);
    devices.push(TestDevice::register(&address, "bob", 1, 3));
    devices.push(TestDevice::register(&address, "carol", 1, 4));

    // Every message is sealed with a key only this test knows.
    let mut plaintexts = Vec::new();
    let mut ciphertexts = Vec::new();
    for round in 0..40u32 {
        let from = &devices[round as usize % devices.len()];
        let to = &devices[(round as usize + 1) % devices.len()];
        let plaintext = format!(
            "confidential plaintext number {round:04} from {}",
            from.address
        );
        let mut key = [0u8; 32];
        let mut nonce = [0u8; 12];
        rand::fill(&mut key);
        rand::fill(&mut nonce);
        let cipher = Aes256Gcm::new(&Key::<Aes256Gcm>::from(key));
        let sealed = cipher
            .encrypt(&Nonce::from(nonce), plaintext.as_bytes())
            .unwrap();
        let (status, _) = from.send(&address, &to.address, &sealed).unwrap();
        assert_eq!(status, 200);
        plaintexts.push(plaintext);
        ciphertexts.push(sealed);
        // Half the devices read as they go; the rest leave mail waiting.
        if round % 2 == 0 {
            to.drain(&address);
        }
    }
    relay.stop("TERM");
    let bytes = database_bytes(&data);
    // The scan is real: waiting envelopes' ciphertexts are in the file...
    assert!(
        ciphertexts.iter().any(|sealed| contains(&bytes, sealed)),
        "no waiting ciphertext found: the scan would prove nothing"
    );
    // ...but no plaintext is, nor any fragment of one.
    for plaintext in &plaintexts {
        assert!(
            !contains(&bytes, plaintext.as_bytes()),
            "plaintext found: {plaintext}"
        );
        assert!(!contains(&bytes, b"confidential plaintext"));
    }
}
