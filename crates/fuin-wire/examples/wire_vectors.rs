//! Writes the golden wire encodings in `test-vectors/wire/`.
//!
//! Run `cargo run -p fuin-wire --example wire_vectors -- test-vectors/wire`
//! after a deliberate change of the wire format, review the diff, and update
//! `spec/wire.md` to match. The test `golden_vectors` checks every file
//! against the codec and against an independent encoder written from the spec.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::path::PathBuf;

use fuin_wire::*;
use serde_json::json;

fn address(user: &'static str, device: u32) -> DeviceAddress<'static> {
    DeviceAddress::new(UserId::new(user).unwrap(), DeviceId(device))
}

/// A byte pattern that makes every field easy to spot in a hex dump.
fn pattern<const N: usize>(start: u8) -> [u8; N] {
    std::array::from_fn(|i| start.wrapping_add(i as u8))
}

fn identity() -> PublicIdentity {
    PublicIdentity {
        signing_key: Ed25519PublicKey(pattern(0x10)),
        agreement_key: X25519PublicKey(pattern(0x30)),
        signature: Ed25519Signature(pattern(0x50)),
    }
}

fn envelope(kind: ContentKind, body: &'static [u8]) -> RoutingEnvelope<'static> {
    RoutingEnvelope {
        recipient: address("bob", 1),
        content_kind: kind,
        franking_commitment: FrankingCommitment(pattern(0xc0)),
        sealed_body: Opaque::borrowed(body),
    }
}

fn ratchet_message(
    previous_chain_length: u32,
    counter: u32,
    ciphertext: &'static [u8],
) -> RatchetMessage<'static> {
    RatchetMessage {
        header: RatchetHeader {
            ratchet_key: X25519PublicKey(pattern(0x20)),
            previous_chain_length,
            counter,
        },
        ciphertext: Opaque::borrowed(ciphertext),
    }
}

fn message_content(
    content_type: ContentType,
    sequence: u64,
    body: &'static [u8],
) -> MessageContent<'static> {
    MessageContent {
        content_type,
        message_id: ClientMessageId(pattern(0x60)),
        sequence,
        sent_at_ms: 1_795_000_000_000,
        conversation: ConversationRef::Direct {
            peer: UserId::new("bob").unwrap(),
        },
        franking_key: FrankingKey(pattern(0xf0)),
        body: Opaque::borrowed(body),
    }
}

fn samples() -> Vec<(&'static str, Frame<'static>)> {
    let prekey_message = |one_time_prekey_id| PrekeyMessage {
        initiator: identity(),
        base_key: X25519PublicKey(pattern(0xb0)),
        signed_prekey_id: PrekeyId(7),
        one_time_prekey_id,
        message: ratchet_message(0, 0, b"first-ciphertext"),
    };
    let bundle = |one_time| PrekeyBundle {
        address: address("bob", 300),
        identity: identity(),
        signed_prekey: SignedPrekey {
            id: PrekeyId(7),
            public_key: X25519PublicKey(pattern(0x70)),
            signature: Ed25519Signature(pattern(0x90)),
        },
        one_time_prekey: one_time,
    };
    vec![
        ("identity", Frame::Identity(identity())),
        (
            "prekey bundle with a one-time prekey, device id needing a two-byte varint",
            Frame::PrekeyBundle(bundle(Some(OneTimePrekey {
                id: PrekeyId(128),
                public_key: X25519PublicKey(pattern(0xe0)),
            }))),
        ),
        (
            "prekey bundle whose one-time pool is empty",
            Frame::PrekeyBundle(bundle(None)),
        ),
        (
            "envelope of an established session",
            Frame::Envelope(envelope(ContentKind::Message, b"sealed-body")),
        ),
        (
            "envelope opening a session, empty body",
            Frame::Envelope(envelope(ContentKind::PrekeyMessage, b"")),
        ),
        (
            "delivered record with a non-ASCII sender",
            Frame::Delivered(DeliveredRecord {
                envelope: envelope(ContentKind::Message, b"sealed-body"),
                sender: DeviceAddress::new(UserId::new("小林").unwrap(), DeviceId(2)),
                server_time_ms: 1_795_000_000_000,
                server_message_id: MessageId(pattern(0xa0)),
                franking_stamp: FrankingStamp(pattern(0xd0)),
                stamp_key_id: StampKeyId(1),
            }),
        ),
        ("blob id", Frame::BlobId(BlobId(pattern(0x00)))),
        (
            "sealed report",
            Frame::SealedReport(SealedReport {
                moderation_key_id: 3,
                ephemeral_key: X25519PublicKey(pattern(0x40)),
                ciphertext: Opaque::borrowed(b"sealed-report"),
            }),
        ),
        (
            "ratchet message, counter needing a two-byte varint",
            Frame::RatchetMessage(ratchet_message(3, 200, b"ratchet-ciphertext")),
        ),
        (
            "prekey message with a one-time prekey id needing a two-byte varint",
            Frame::PrekeyMessage(prekey_message(Some(PrekeyId(128)))),
        ),
        (
            "prekey message made without a one-time prekey",
            Frame::PrekeyMessage(prekey_message(None)),
        ),
        (
            "text message content, non-ASCII body",
            Frame::MessageContent(message_content(
                ContentType::Text,
                0,
                "hello, 世界".as_bytes(),
            )),
        ),
        (
            "receipt message content, sequence needing a two-byte varint",
            Frame::MessageContent(message_content(ContentType::Receipt, 300, b"receipt-body")),
        ),
    ]
}

fn main() {
    let dir = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "test-vectors/wire".into()),
    );
    std::fs::create_dir_all(&dir).unwrap();
    for kind in FrameKind::ALL {
        let vectors: Vec<_> = samples()
            .into_iter()
            .filter(|(_, frame)| frame.kind() == kind)
            .map(|(name, frame)| {
                json!({
                    "name": name,
                    "frame": serde_json::to_value(&frame).unwrap(),
                    "encoded": hex::encode(frame.encode().unwrap()),
                })
            })
            .collect();
        let file = json!({
            "description": format!(
                "Golden encodings of the `{kind}` frame (tag {}), wire version {WIRE_VERSION}. \
                 See spec/wire.md. `frame` is the value in JSON (byte strings as hex), \
                 `encoded` the whole frame as hex.",
                kind.tag()
            ),
            "frame_kind": kind.name(),
            "tag": kind.tag(),
            "vectors": vectors,
        });
        let path = dir.join(format!("{}.json", kind.name()));
        std::fs::write(&path, serde_json::to_string_pretty(&file).unwrap() + "\n").unwrap();
        println!("wrote {}", path.display());
    }

    let sender = address("alice", 1);
    let recipient = address("bob", 2);
    let commitment = FrankingCommitment(pattern(0xc0));
    let message_id = MessageId(pattern(0xa0));
    let input = franking_stamp_input(
        &commitment,
        &sender,
        &recipient,
        1_795_000_000_000,
        &message_id,
        StampKeyId(1),
    );
    let file = json!({
        "description": "The canonical franking stamp input (spec/wire.md, \"Franking stamp input\").",
        "vectors": [{
            "commitment": hex::encode(commitment.0),
            "sender": {"user": "alice", "device": 1},
            "recipient": {"user": "bob", "device": 2},
            "server_time_ms": 1_795_000_000_000u64,
            "server_message_id": hex::encode(message_id.0),
            "stamp_key_id": 1,
            "input": hex::encode(input),
        }],
    });
    let path = dir.join("franking_stamp_input.json");
    std::fs::write(&path, serde_json::to_string_pretty(&file).unwrap() + "\n").unwrap();
    println!("wrote {}", path.display());
}
