//! Message keys as the relay's mailbox shows them: which (sending device,
//! receiving device, ratchet key, counter) sealed which envelopes. A key
//! that sealed two different bodies is a reused message key.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::path::Path;

use fuin_wire::{ContentKind, DeliveredRecord, FrameBody, PrekeyMessage, RatchetMessage};

/// Names a message key: the sending and receiving devices, the sending
/// chain's ratchet key and the message's number in it.
pub type KeyName = (String, String, [u8; 32], u32);

/// Every envelope waiting in `user`'s mailbox at the relay, by the message
/// key that sealed it, with the sealed bodies seen under each name.
pub fn envelopes_by_key(relay_db: &Path, user: &str) -> HashMap<KeyName, Vec<Vec<u8>>> {
    let conn = rusqlite::Connection::open(relay_db).unwrap();
    let mut statement = conn
        .prepare("SELECT record FROM mailbox WHERE user = ?1")
        .unwrap();
    let records: Vec<Vec<u8>> = statement
        .query_map([user], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let mut out: HashMap<KeyName, Vec<Vec<u8>>> = HashMap::new();
    for bytes in records {
        let record = DeliveredRecord::from_bytes(&bytes).unwrap();
        let body = record.envelope.sealed_body.as_bytes();
        let header = match record.envelope.content_kind {
            ContentKind::Message => RatchetMessage::from_bytes(body).unwrap().header,
            ContentKind::PrekeyMessage => PrekeyMessage::from_bytes(body).unwrap().message.header,
            other => panic!("an unexpected envelope kind {other:?}"),
        };
        let name = (
            record.sender.to_string(),
            record.envelope.recipient.to_string(),
            *header.ratchet_key.as_bytes(),
            header.counter,
        );
        out.entry(name).or_default().push(body.to_vec());
    }
    out
}

/// Asserts that no message key sealed two different bodies; returns how
/// many distinct keys were used. The same bytes posted twice (two processes
/// posting one queued batch) reuse nothing and are allowed.
pub fn assert_no_key_reused(envelopes: &HashMap<KeyName, Vec<Vec<u8>>>) -> usize {
    for (name, bodies) in envelopes {
        assert!(
            bodies.iter().all(|body| *body == bodies[0]),
            "the message key {name:?} sealed {} different envelopes",
            bodies.len()
        );
    }
    envelopes.len()
}
