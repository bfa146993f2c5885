//! Benchmarks of one-to-one sessions, each next to the baseline it is judged
//! against (DESIGN.md §13), measured in the same run so that ratios can be
//! reported:
//!
//! - `seal_open/N`: one N-byte message Alice → Bob through established
//!   sessions, against `primitive_floor/N` (the cryptographic calls one
//!   message needs, called directly) and `vodozemac_olm/N` (Olm's
//!   `encrypt` + `decrypt` of the same message);
//! - `handshake/{initiator,responder}`: session set-up, against
//!   `handshake_dh_floor/*` (the signature checks and X25519 operations the
//!   handshake needs, called directly), with and without the signatures.
//!
//! Run with `cargo bench -p fuin-seal --bench session`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

use fuin_seal::primitives::framing::Framer;
use fuin_seal::primitives::franking::{self, FrankedMessage};
use fuin_seal::primitives::kdf::Label;
use fuin_seal::primitives::mac::HmacKey;
use fuin_seal::primitives::x25519::AgreementSecret;
use fuin_seal::primitives::{aead, signing};
use fuin_seal::{
    ConversationId, DeviceIdentity, Outgoing, PROTOCOL_VERSION, PrekeyStore, Session,
    VerifiedBundle,
};
use fuin_wire::{
    ClientMessageId, ContentType, DeliveredRecord, DeviceAddress, DeviceId, FrameBody,
    FrankingStamp, MessageId, PrekeyBundle, RatchetMessage, RoutingEnvelope, StampKeyId, UserId,
};

/// Message bodies: a short chat line, an SMS-sized one, 1 KiB, 16 KiB.
const SIZES: [usize; 4] = [32, 140, 1024, 16 * 1024];

const NOW: u64 = 1_795_000_000_000;

fn address(user: &'static str) -> DeviceAddress<'static> {
    DeviceAddress::new(UserId::new(user).unwrap(), DeviceId(1))
}

/// The relay's part, with a fixed stamp (the relay's HMAC is not the
/// clients' cost): wraps an envelope from an authenticated sender.
fn delivered(
    sender: &DeviceAddress<'static>,
    envelope: RoutingEnvelope<'static>,
) -> DeliveredRecord<'static> {
    DeliveredRecord {
        envelope,
        sender: sender.clone(),
        server_time_ms: NOW,
        server_message_id: MessageId([7; 16]),
        franking_stamp: FrankingStamp([0x5a; 32]),
        stamp_key_id: StampKeyId(1),
    }
}

struct Device {
    address: DeviceAddress<'static>,
    identity: DeviceIdentity,
    prekeys: PrekeyStore,
}

impl Device {
    fn new(rng: &mut ChaCha20Rng, user: &'static str) -> Self {
        let identity = DeviceIdentity::generate(rng);
        let mut prekeys = PrekeyStore::new();
        prekeys.rotate_signed_prekey(&identity, rng);
        prekeys.rotate_last_resort_kem_prekey(&identity, rng);
        Self {
            address: address(user),
            identity,
            prekeys,
        }
    }

    /// A bundle with a fresh one-time prekey, as the relay hands it out.
    fn bundle(&mut self, rng: &mut ChaCha20Rng) -> PrekeyBundle<'static> {
        let one_time = self.prekeys.generate_one_time_prekeys(1, rng).remove(0);
        self.prekeys
            .bundle(self.address.clone(), &self.identity, Some(one_time), None)
            .unwrap()
    }

    fn outgoing(&self, rng: &mut ChaCha20Rng, to: &'static str, body: &[u8]) -> Outgoing {
        Outgoing::new(
            rng,
            &self.address,
            UserId::new(to).unwrap(),
            ContentType::Text,
            body,
        )
        .unwrap()
    }
}

/// Alice and Bob with established sessions: Alice initiated (with a
/// one-time prekey), Bob responded and answered, Alice read the answer.
struct Pair {
    rng: ChaCha20Rng,
    alice: Device,
    bob: Device,
    alice_session: Session,
    bob_session: Session,
}

impl Pair {
    fn new(seed: u64) -> Self {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let alice = Device::new(&mut rng, "alice");
        let mut bob = Device::new(&mut rng, "bob");
        let bundle = bob.bundle(&mut rng);
        let bundle = VerifiedBundle::verify(&bundle, &bob.address, None).unwrap();
        let mut alice_session =
            Session::initiate(&mut rng, &alice.identity, alice.address.clone(), &bundle).unwrap();
        let hello = alice.outgoing(&mut rng, "bob", b"hello bob");
        let sealed = alice_session.seal(&mut rng, &hello, NOW).unwrap();
        let (mut bob_session, _) = Session::respond(
            &bob.identity,
            bob.address.clone(),
            &mut bob.prekeys,
            None,
            &delivered(&alice.address, sealed.envelope),
            NOW,
        )
        .unwrap();
        let reply = bob.outgoing(&mut rng, "alice", b"hi alice");
        let sealed = bob_session.seal(&mut rng, &reply, NOW).unwrap();
        alice_session
            .open(&delivered(&bob.address, sealed.envelope), NOW)
            .unwrap();
        Self {
            rng,
            alice,
            bob,
            alice_session,
            bob_session,
        }
    }

    /// One message Alice → Bob: everything a sender and a receiver do for
    /// it, the relay's wrapping (with a fixed stamp) in between. Not inlined,
    /// so that an instruction count can measure it alone.
    #[inline(never)]
    fn send(&mut self, bob: &UserId<'static>, body: &[u8]) -> fuin_seal::Opened {
        let outgoing = Outgoing::new(
            &mut self.rng,
            &self.alice.address,
            bob.clone(),
            ContentType::Text,
            body,
        )
        .unwrap();
        let sealed = self
            .alice_session
            .seal(&mut self.rng, &outgoing, NOW)
            .unwrap();
        let record = delivered(&self.alice.address, sealed.envelope);
        self.bob_session.open(&record, NOW).unwrap()
    }
}

fn body(size: usize) -> Vec<u8> {
    (0..size).map(|i| b'a' + (i % 26) as u8).collect()
}

/// Steady state: Alice keeps sending, so every message is one step of her
/// sending chain and of Bob's receiving chain (the DH ratchet turns only
/// when the direction changes, as in Olm). The relay's record is built
/// inside the timed loop (it is a move of the envelope and a clone of the
/// sender's address, with a fixed stamp): the envelope only exists once the
/// message is sealed in the same iteration.
fn seal_open(c: &mut Criterion) {
    let mut group = c.benchmark_group("seal_open");
    let bob_user = UserId::new("bob").unwrap();
    for size in SIZES {
        let body = body(size);
        let mut pair = Pair::new(1);
        // The ratchet advances: two messages open in turn, and each would
        // fail as a duplicate if it did not.
        for _ in 0..2 {
            assert_eq!(
                pair.send(&bob_user, &body).content.body.as_bytes(),
                &body[..]
            );
        }
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_function(BenchmarkId::from_parameter(size), |b| {
            b.iter(|| black_box(pair.send(&bob_user, black_box(&body))));
        });
    }
    group.finish();
}

/// The sizes one real message has on the wire for a body of `size` bytes:
/// the plaintext the AEAD encrypts (the encoded content: body, ids, franking
/// key, ...) and the associated data (framed identities, addresses, header
/// and commitment), so the floor processes exactly as many bytes.
struct RealSizes {
    plaintext: usize,
    associated_data: usize,
}

fn real_sizes(size: usize) -> RealSizes {
    let mut pair = Pair::new(2);
    let outgoing = pair.alice.outgoing(&mut pair.rng, "bob", &body(size));
    let sealed = pair
        .alice_session
        .seal(&mut pair.rng, &outgoing, NOW)
        .unwrap();
    let message = RatchetMessage::from_bytes(sealed.envelope.sealed_body.as_bytes()).unwrap();
    let header = &message.header;
    // The same fields session.rs frames, in the same order.
    let ad = Framer::new(Label::MessageAssociatedData.as_bytes())
        .field(&[PROTOCOL_VERSION])
        .identity(pair.alice.identity.public())
        .identity(pair.bob.identity.public())
        .address(&pair.alice.address)
        .address(&pair.bob.address)
        .field(header.ratchet_key.as_bytes())
        .u32(header.previous_chain_length)
        .u32(header.counter)
        .u32(0)
        .field(sealed.envelope.franking_commitment.as_bytes())
        .finish();
    RealSizes {
        plaintext: message.ciphertext.len() - aead::OVERHEAD,
        associated_data: ad.len(),
    }
}

/// The floor: every cryptographic call the protocol needs for one message,
/// on both sides, called directly through `fuin_seal::primitives`, and
/// nothing else — no encoding of the content or the envelope, no framing of
/// the associated data (a buffer of the real one's length is passed), no
/// session bookkeeping.
///
/// - sender: chain step (the chain key prepared once as an HMAC-SHA256 key,
///   then two MACs), franking commitment (1 HMAC over the framed body), `aead::seal` (HKDF to the GCM key, nonce and key
///   commitment, then AES-256-GCM);
/// - receiver: the same chain step, `aead::open` (the same HKDF, a
///   constant-time comparison, AES-256-GCM), `franking::verify` (1 HMAC).
///
/// The conversation id (a SHA-256 of the two user ids) is computed once
/// here: it is a constant of the conversation, although the session code
/// recomputes it for every message on each side.
fn primitive_floor(c: &mut Criterion) {
    let mut group = c.benchmark_group("primitive_floor");
    let sender = address("alice");
    let conversation = ConversationId::direct(&sender.user, &UserId::new("bob").unwrap());
    let message_id = ClientMessageId([3; 16]);
    let franking_key = [4u8; 32];
    for size in SIZES {
        let body = body(size);
        let sizes = real_sizes(size);
        let plaintext = vec![0x42u8; sizes.plaintext];
        let associated_data = vec![0x17u8; sizes.associated_data];
        let franked = FrankedMessage {
            sender: &sender,
            conversation: &conversation,
            message_id: &message_id,
            content_type: ContentType::Text,
            body: &body,
        };
        // The two ends of one chain, advanced in step.
        let mut sending_chain = [9u8; 32];
        let mut receiving_chain = sending_chain;
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_function(BenchmarkId::from_parameter(size), |b| {
            b.iter(|| {
                floor_message(
                    (&mut sending_chain, &mut receiving_chain),
                    &franking_key,
                    black_box(&franked),
                    &associated_data,
                    black_box(&plaintext),
                )
            });
        });
    }
    group.finish();
}

/// One message of the floor (see [`primitive_floor`]), a function of its
/// own so that an instruction count (callgrind's `--toggle-collect`) can
/// measure it alone.
#[inline(never)]
fn floor_message(
    (sending_chain, receiving_chain): (&mut [u8; 32], &mut [u8; 32]),
    franking_key: &[u8; 32],
    franked: &FrankedMessage<'_>,
    associated_data: &[u8],
    plaintext: &[u8],
) -> zeroize::Zeroizing<Vec<u8>> {
    let chain_message = Label::ChainMessageKey.as_bytes();
    let chain_next = Label::ChainNextKey.as_bytes();
    // Every message has its own random salt; its value does not matter here.
    let salt = [6u8; 16];
    // Sender.
    let chain = HmacKey::new(sending_chain);
    let message_key = chain.mac(&[chain_message]);
    *sending_chain = chain.mac(&[chain_next]);
    let commitment = franking::commit(franking_key, franked).unwrap();
    let sealed = aead::seal(
        Label::MessageKeys,
        Some(&salt),
        &message_key,
        associated_data,
        plaintext,
    );
    // Receiver.
    let chain = HmacKey::new(receiving_chain);
    let message_key = chain.mac(&[chain_message]);
    *receiving_chain = chain.mac(&[chain_next]);
    let opened = aead::open(
        Label::MessageKeys,
        Some(&salt),
        &message_key,
        associated_data,
        black_box(&sealed),
    )
    .unwrap();
    franking::verify(franking_key, franked, &commitment).unwrap();
    opened
}

/// vodozemac's Olm (v1 session config, the non-experimental one) in the same
/// steady state: Alice keeps sending to Bob over an established session. The
/// message goes through its wire form (`to_parts` / `from_parts`) as ours
/// goes through its encoded envelope.
fn vodozemac_olm(c: &mut Criterion) {
    use vodozemac::olm::{Account, OlmMessage, SessionConfig};

    let mut group = c.benchmark_group("vodozemac_olm");
    for size in SIZES {
        let body = body(size);
        let alice = Account::new();
        let mut bob = Account::new();
        bob.generate_one_time_keys(1);
        let one_time_key = *bob.one_time_keys().values().next().unwrap();
        bob.mark_keys_as_published();
        let mut alice_session = alice
            .create_outbound_session(
                SessionConfig::version_1(),
                bob.curve25519_key(),
                one_time_key,
            )
            .unwrap();
        let hello = match alice_session.encrypt(b"hello bob").unwrap() {
            OlmMessage::PreKey(message) => message,
            OlmMessage::Normal(_) => unreachable!("a new session sends a pre-key message"),
        };
        let inbound = bob
            .create_inbound_session(SessionConfig::version_1(), alice.curve25519_key(), &hello)
            .unwrap();
        assert_eq!(inbound.plaintext, b"hello bob");
        let mut bob_session = inbound.session;
        let reply = bob_session.encrypt(b"hi alice").unwrap();
        assert_eq!(alice_session.decrypt(&reply).unwrap(), b"hi alice");

        let mut send = move |body: &[u8]| olm_message(&mut alice_session, &mut bob_session, body);
        for _ in 0..2 {
            assert_eq!(send(&body), body);
        }
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_function(BenchmarkId::from_parameter(size), |b| {
            b.iter(|| black_box(send(black_box(&body))));
        });
    }
    group.finish();
}

/// One Olm message, Alice to Bob, through its wire form; a function of its
/// own for instruction counts, as [`floor_message`].
#[inline(never)]
fn olm_message(
    alice: &mut vodozemac::olm::Session,
    bob: &mut vodozemac::olm::Session,
    body: &[u8],
) -> Vec<u8> {
    use vodozemac::olm::OlmMessage;
    let (kind, bytes) = alice.encrypt(body).unwrap().to_parts();
    let message = OlmMessage::from_parts(kind, &bytes).unwrap();
    bob.decrypt(&message).unwrap()
}

/// Session set-up with a one-time prekey, first message of 32 bytes.
///
/// - `initiator`: `VerifiedBundle::verify` + `Session::initiate` + the first
///   `seal` (the `Outgoing` is made once, outside the timing);
/// - `responder`: `Session::respond` to that first message, which opens it;
///   the `PrekeyStore` (whose one-time prekey `respond` consumes) is cloned
///   for each iteration outside the timing.
fn handshake(c: &mut Criterion) {
    let mut group = c.benchmark_group("handshake");
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let alice = Device::new(&mut rng, "alice");
    let mut bob = Device::new(&mut rng, "bob");
    let bundle = bob.bundle(&mut rng);
    let hello = alice.outgoing(&mut rng, "bob", &body(32));

    group.bench_function("initiator", |b| {
        b.iter(|| {
            let verified = VerifiedBundle::verify(black_box(&bundle), &bob.address, None).unwrap();
            let mut session =
                Session::initiate(&mut rng, &alice.identity, alice.address.clone(), &verified)
                    .unwrap();
            black_box(session.seal(&mut rng, &hello, NOW).unwrap())
        });
    });

    let verified = VerifiedBundle::verify(&bundle, &bob.address, None).unwrap();
    let mut session =
        Session::initiate(&mut rng, &alice.identity, alice.address.clone(), &verified).unwrap();
    let record = delivered(
        &alice.address,
        session.seal(&mut rng, &hello, NOW).unwrap().envelope,
    );
    group.bench_function("responder", |b| {
        b.iter_batched(
            || bob.prekeys.clone(),
            |mut prekeys| {
                black_box(
                    Session::respond(
                        &bob.identity,
                        bob.address.clone(),
                        &mut prekeys,
                        None,
                        black_box(&record),
                        NOW,
                    )
                    .unwrap(),
                )
            },
            BatchSize::SmallInput,
        );
    });
    group.finish();

    handshake_dh_floor(c, &bundle);
}

/// The public-key operations the handshake needs, called directly through
/// `fuin_seal::primitives`, and nothing else (no transcript, no HKDF, no
/// first message). "Generate" is a key pair: the random secret and its
/// public key (one fixed-base scalar multiplication), since the public half
/// goes on the wire.
///
/// - initiator: verify the identity signature and the signed-prekey
///   signature, generate the base key, 4 DH (identity × signed prekey, base
///   × identity, base × signed prekey, base × one-time prekey), generate the
///   first ratchet key, 1 DH (ratchet × signed prekey);
/// - responder: verify the initiator's identity signature, the same 4 DH,
///   1 DH for the ratchet step on receiving the first message.
///
/// Each also without the signature verifications.
fn handshake_dh_floor(c: &mut Criterion, bundle: &PrekeyBundle<'static>) {
    let mut group = c.benchmark_group("handshake_dh_floor");
    let mut rng = ChaCha20Rng::seed_from_u64(4);
    let identity = &bundle.identity;
    let signed = &bundle.signed_prekey;
    let one_time = bundle.one_time_prekey.as_ref().unwrap();
    let signed_message = Framer::unlabelled()
        .u32(signed.id.0)
        .field(signed.public_key.as_bytes())
        .finish();
    // Stand-ins with the same cost for the secret keys each side holds.
    let own_identity = AgreementSecret::generate(&mut rng);
    let own_signed = AgreementSecret::generate(&mut rng);
    let own_one_time = AgreementSecret::generate(&mut rng);
    let peer_base = AgreementSecret::generate(&mut rng).public_key();
    let peer_ratchet = AgreementSecret::generate(&mut rng).public_key();

    let verify_bundle = || {
        signing::verify(
            &identity.signing_key,
            Label::IdentitySignature,
            identity.agreement_key.as_bytes(),
            &identity.signature,
        )
        .unwrap();
        signing::verify(
            &identity.signing_key,
            Label::SignedPrekeySignature,
            &signed_message,
            &signed.signature,
        )
        .unwrap();
    };
    verify_bundle();
    let initiator_identity = &own_identity;
    let mut initiator_dh = move || {
        let base = AgreementSecret::generate(&mut rng);
        let base_public = base.public_key();
        let dh = [
            initiator_identity.agree(&signed.public_key).unwrap(),
            base.agree(&identity.agreement_key).unwrap(),
            base.agree(&signed.public_key).unwrap(),
            base.agree(&one_time.public_key).unwrap(),
        ];
        let ratchet = AgreementSecret::generate(&mut rng);
        let ratchet_public = ratchet.public_key();
        let step = ratchet.agree(&signed.public_key).unwrap();
        black_box((base_public, dh, ratchet_public, step))
    };
    group.bench_function("initiator", |b| {
        b.iter(|| {
            verify_bundle();
            initiator_dh()
        });
    });
    group.bench_function("initiator_without_signatures", |b| {
        b.iter(&mut initiator_dh);
    });

    let verify_identity = || {
        signing::verify(
            &identity.signing_key,
            Label::IdentitySignature,
            identity.agreement_key.as_bytes(),
            &identity.signature,
        )
        .unwrap();
    };
    let responder_dh = || {
        let dh = [
            own_signed.agree(&identity.agreement_key).unwrap(),
            own_identity.agree(&peer_base).unwrap(),
            own_signed.agree(&peer_base).unwrap(),
            own_one_time.agree(&peer_base).unwrap(),
        ];
        let step = own_signed.agree(&peer_ratchet).unwrap();
        black_box((dh, step))
    };
    group.bench_function("responder", |b| {
        b.iter(|| {
            verify_identity();
            responder_dh()
        });
    });
    group.bench_function("responder_without_signatures", |b| {
        b.iter(responder_dh);
    });
    group.finish();
}

/// About 20 benchmarks of 1 s warm-up and 4 s measurement each: the whole
/// run takes under 3 minutes on 2 cores. No plots (they take time and
/// nobody reads them here; the numbers are in target/criterion).
fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .sample_size(60)
        .without_plots()
}

criterion_group! {
    name = benches;
    config = config();
    targets = seal_open, primitive_floor, vodozemac_olm, handshake
}
criterion_main!(benches);
