//! Decoding hostile input of up to 1 MiB never panics and never allocates more
//! than the input's own size. This file holds a single test so that the
//! counting allocator sees no other test's allocations.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::alloc::System;

use cap::Cap;
use fuin_wire::limits::MAX_SEALED_REPORT_LEN;
use fuin_wire::*;

#[global_allocator]
static ALLOCATOR: Cap<System> = Cap::new(System, usize::MAX);

/// xorshift64*: deterministic, dependency-free input generation.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }

    /// A length spread evenly over orders of magnitude up to 1 MiB.
    fn length(&mut self) -> usize {
        let bits = self.below(21);
        self.below(1 << bits) + 1
    }
}

fn valid_frames(rng: &mut Rng) -> Vec<Vec<u8>> {
    let address = DeviceAddress::new(UserId::new("bob").unwrap(), DeviceId(1));
    let envelope = RoutingEnvelope {
        recipient: address.clone(),
        content_kind: ContentKind::Message,
        franking_commitment: FrankingCommitment([1; 32]),
        sealed_body: Opaque::from(rng.bytes(1000)),
    };
    let delivered = DeliveredRecord {
        envelope: envelope.clone(),
        sender: address,
        server_time_ms: 5,
        server_message_id: MessageId([2; 16]),
        franking_stamp: FrankingStamp([3; 32]),
        stamp_key_id: StampKeyId(4),
    };
    let report = SealedReport {
        moderation_key_id: 1,
        ephemeral_key: X25519PublicKey([5; 32]),
        ciphertext: Opaque::from(rng.bytes(1 << 20)),
    };
    let ratchet = RatchetMessage {
        header: RatchetHeader {
            ratchet_key: X25519PublicKey([7; 32]),
            previous_chain_length: 2,
            counter: 300,
        },
        ciphertext: Opaque::from(rng.bytes(1000)),
    };
    let prekey = PrekeyMessage {
        initiator: PublicIdentity {
            signing_key: Ed25519PublicKey([8; 32]),
            agreement_key: X25519PublicKey([9; 32]),
            signature: Ed25519Signature([10; 64]),
        },
        base_key: X25519PublicKey([11; 32]),
        signed_prekey_id: PrekeyId(12),
        one_time_prekey_id: Some(PrekeyId(13)),
        message: ratchet.clone(),
    };
    let content = MessageContent {
        content_type: ContentType::Text,
        message_id: ClientMessageId([14; 16]),
        sequence: 15,
        sent_at_ms: 16,
        conversation: ConversationRef::Direct {
            peer: UserId::new("bob").unwrap(),
        },
        franking_key: FrankingKey([17; 32]),
        body: Opaque::from(rng.bytes(1000)),
    };
    vec![
        envelope.to_bytes().unwrap(),
        delivered.to_bytes().unwrap(),
        report.to_bytes().unwrap(),
        BlobId([6; 32]).to_bytes().unwrap(),
        ratchet.to_bytes().unwrap(),
        prekey.to_bytes().unwrap(),
        content.to_bytes().unwrap(),
    ]
}

fn mutate(rng: &mut Rng, mut bytes: Vec<u8>) -> Vec<u8> {
    match rng.below(4) {
        0 => {
            for _ in 0..=rng.below(8) {
                let at = rng.below(bytes.len());
                bytes[at] ^= 1 << rng.below(8);
            }
        }
        1 => bytes.truncate(rng.below(bytes.len())),
        2 => {
            let len = rng.below(64) + 1;
            bytes.extend(rng.bytes(len));
        }
        _ => {
            let at = rng.below(bytes.len());
            let len = rng.below(bytes.len() - at) + 1;
            let replacement = rng.bytes(len);
            bytes[at..at + len].copy_from_slice(&replacement);
        }
    }
    bytes
}

#[test]
fn hostile_input_never_panics_nor_allocates_more_than_its_size() {
    let mut rng = Rng(0x5eed_f00d_cafe_d00d);
    let mut inputs: Vec<Vec<u8>> = Vec::new();
    for _ in 0..300 {
        let len = rng.length();
        inputs.push(rng.bytes(len));
    }
    for _ in 0..300 {
        // Right version and a known tag, random body.
        let len = rng.length();
        let mut bytes = vec![WIRE_VERSION, rng.below(FrameKind::ALL.len()) as u8];
        bytes.extend(rng.bytes(len));
        inputs.push(bytes);
    }
    let frames = valid_frames(&mut rng);
    for _ in 0..600 {
        let frame = frames[rng.below(frames.len())].clone();
        inputs.push(mutate(&mut rng, frame));
    }
    // A report frame whose length field claims the maximum with no bytes behind it.
    let mut claim = vec![WIRE_VERSION, FrameKind::SealedReport.tag() as u8, 1];
    claim.extend_from_slice(&[5; 32]);
    let mut len = MAX_SEALED_REPORT_LEN as u32;
    while len >= 0x80 {
        claim.push(len as u8 | 0x80);
        len >>= 7;
    }
    claim.push(len as u8);
    inputs.push(claim);

    let mut decoded = 0;
    let mut worst_ratio = 0.0f64;
    for input in &inputs {
        let before = ALLOCATOR.total_allocated();
        let result = Frame::decode(input);
        let allocated = ALLOCATOR.total_allocated() - before;
        decoded += usize::from(result.is_ok());
        drop(result);
        assert!(
            allocated <= input.len(),
            "decoding {} bytes allocated {allocated} bytes",
            input.len()
        );
        worst_ratio = worst_ratio.max(allocated as f64 / input.len().max(1) as f64);
    }
    println!(
        "{} inputs up to {} bytes, {decoded} decoded, worst allocation/input ratio {worst_ratio}",
        inputs.len(),
        inputs.iter().map(Vec::len).max().unwrap()
    );
    // The mutations keep some frames valid, so the decoder's success path is
    // measured too, not only its early rejections.
    assert!(decoded > 0);
}
