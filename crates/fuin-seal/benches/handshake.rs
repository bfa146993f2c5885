//! The hybrid (X25519 + ML-KEM-768) handshake of protocol version 3 against
//! its floor, measured in the same run (BENCHMARKS.md, issue 17):
//!
//! - `hybrid_handshake/initiator`: `VerifiedBundle::verify` +
//!   `Session::initiate` + the first `seal` (32-byte body);
//! - `hybrid_handshake/responder`: `Session::respond` to that first message,
//!   which opens it;
//! - `hybrid_handshake_floor/{initiator,responder}`: the public-key calls
//!   each side must make, called directly on the crypto crates
//!   (`ed25519-dalek`, `x25519-dalek`, `libcrux-ml-kem`), nothing else;
//! - `ml_kem_768/*`: ML-KEM-768 alone, libcrux and RustCrypto.
//!
//! The bundle carries a one-time X25519 prekey and a one-time KEM prekey,
//! as the relay hands them out while the pools last. Before the benchmarks,
//! the encoded sizes of the bundle and of the first message are printed.
//!
//! Run with `cargo bench -p fuin-seal --bench handshake`. With
//! `FUIN_HANDSHAKE_COUNT` set it runs one scenario for instruction counts
//! instead (see `count`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stderr,
    missing_docs
)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, criterion_group};
use ed25519_dalek::{Signature, VerifyingKey};
use libcrux_ml_kem::mlkem768;
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};
use x25519_dalek::{PublicKey, StaticSecret};

use fuin_seal::primitives::framing::Framer;
use fuin_seal::primitives::kdf::Label;
use fuin_seal::{DeviceIdentity, Outgoing, PrekeyStore, Session, VerifiedBundle};
use fuin_wire::{
    ContentType, DeliveredRecord, DeviceAddress, DeviceId, Frame, FrankingStamp, MessageId,
    PrekeyBundle, RoutingEnvelope, StampKeyId, UserId,
};

const NOW: u64 = 1_795_000_000_000;

fn address(user: &'static str) -> DeviceAddress<'static> {
    DeviceAddress::new(UserId::new(user).unwrap(), DeviceId(1))
}

/// The relay's wrapping, with a fixed stamp (not the clients' cost).
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

    /// A bundle with a one-time X25519 prekey and a one-time KEM prekey.
    fn bundle(&mut self, rng: &mut ChaCha20Rng) -> PrekeyBundle<'static> {
        let one_time = self.prekeys.generate_one_time_prekeys(1, rng).remove(0);
        let kem = self
            .prekeys
            .generate_one_time_kem_prekeys(1, &self.identity, rng)
            .remove(0);
        self.prekeys
            .bundle(
                self.address.clone(),
                &self.identity,
                Some(one_time),
                Some(kem),
            )
            .unwrap()
    }
}

/// Prints the encoded sizes the issue asks for: the bundle frame, the first
/// message's sealed body (the prekey message) and its envelope frame.
fn print_sizes(bundle: &PrekeyBundle<'static>, envelope: &RoutingEnvelope<'static>) {
    let bundle_frame = Frame::PrekeyBundle(bundle.clone()).encode().unwrap();
    let envelope_frame = Frame::Envelope(envelope.clone()).encode().unwrap();
    eprintln!(
        "sizes (hybrid, v3): bundle frame {} B, first message: prekey message {} B, \
         envelope frame {} B (32-byte body)",
        bundle_frame.len(),
        envelope.sealed_body.as_bytes().len(),
        envelope_frame.len()
    );
}

/// Everything the two handshake benchmarks need, made once: Alice, Bob,
/// Bob's bundle, Alice's first message and its record as Bob receives it.
struct Handshake {
    rng: ChaCha20Rng,
    alice: Device,
    bob: Device,
    bundle: PrekeyBundle<'static>,
    hello: Outgoing,
    record: DeliveredRecord<'static>,
}

impl Handshake {
    /// Sets up, checks that the first message opens (so the responder
    /// benchmark measures a successful open) and prints the sizes.
    fn new() -> Self {
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        let alice = Device::new(&mut rng, "alice");
        let mut bob = Device::new(&mut rng, "bob");
        let bundle = bob.bundle(&mut rng);
        let body: Vec<u8> = (0..32u8).map(|i| b'a' + i % 26).collect();
        let hello = Outgoing::new(
            &mut rng,
            &alice.address,
            UserId::new("bob").unwrap(),
            ContentType::Text,
            &body,
        )
        .unwrap();
        let verified = VerifiedBundle::verify(&bundle, &bob.address, None).unwrap();
        let mut session =
            Session::initiate(&mut rng, &alice.identity, alice.address.clone(), &verified).unwrap();
        assert!(session.post_quantum());
        let envelope = session.seal(&mut rng, &hello, NOW).unwrap().envelope;
        print_sizes(&bundle, &envelope);
        let record = delivered(&alice.address, envelope);
        let (mut bob_session, opened) = Session::respond(
            &bob.identity,
            bob.address.clone(),
            &mut bob.prekeys.clone(),
            None,
            &record,
            NOW,
        )
        .unwrap();
        assert_eq!(opened.content.body.as_bytes(), &body[..]);
        // For scale: Bob's answer, a plain ratchet message with the same body.
        let reply = Outgoing::new(
            &mut rng,
            &bob.address,
            UserId::new("alice").unwrap(),
            ContentType::Text,
            &body,
        )
        .unwrap();
        let reply = bob_session.seal(&mut rng, &reply, NOW).unwrap().envelope;
        eprintln!(
            "sizes: a plain ratchet message with the same body {} B",
            reply.sealed_body.as_bytes().len()
        );
        Self {
            rng,
            alice,
            bob,
            bundle,
            hello,
            record,
        }
    }

    /// Verify the bundle, initiate, seal the first message.
    fn initiate(&mut self) -> fuin_seal::Sealed {
        let verified =
            VerifiedBundle::verify(black_box(&self.bundle), &self.bob.address, None).unwrap();
        let mut session = Session::initiate(
            &mut self.rng,
            &self.alice.identity,
            self.alice.address.clone(),
            &verified,
        )
        .unwrap();
        session.seal(&mut self.rng, &self.hello, NOW).unwrap()
    }

    /// Respond to (open) the first message with `prekeys`, a copy of Bob's
    /// store: `respond` consumes the one-time prekeys it used.
    fn respond(&self, prekeys: &mut PrekeyStore) -> (Session, fuin_seal::Opened) {
        Session::respond(
            &self.bob.identity,
            self.bob.address.clone(),
            prekeys,
            None,
            black_box(&self.record),
            NOW,
        )
        .unwrap()
    }
}

fn handshake(c: &mut Criterion) {
    let mut setup = Handshake::new();
    let mut group = c.benchmark_group("hybrid_handshake");
    group.bench_function("initiator", |b| {
        b.iter(|| black_box(setup.initiate()));
    });
    // The store is cloned for each iteration, outside the timing.
    group.bench_function("responder", |b| {
        b.iter_batched(
            || setup.bob.prekeys.clone(),
            |mut prekeys| black_box(setup.respond(&mut prekeys)),
            BatchSize::SmallInput,
        );
    });
    group.finish();

    let mut floor = Floor::new(&setup.bundle);
    let mut group = c.benchmark_group("hybrid_handshake_floor");
    group.bench_function("initiator", |b| b.iter(|| floor.initiator()));
    group.bench_function("responder", |b| b.iter(|| floor.responder()));
    group.finish();
}

fn verify(key: &VerifyingKey, message: &[u8], signature: &Signature) {
    key.verify_strict(message, signature).unwrap();
}

/// The floor: the public-key operations the handshake makes, counted from
/// `prekeys.rs` (`VerifiedBundle::verify`), `session.rs` (`initiate`,
/// `respond`) and `ratchet/` (the first DH ratchet step), called directly
/// on the crypto crates. Not in the floor: the small-order checks on X25519
/// keys (a comparison with a list), the transcript and HKDF, the first
/// message's AEAD, encoding and decoding. Key generation includes the
/// public key (one fixed-base multiplication), which goes on the wire.
///
/// - initiator: 3 Ed25519 verifications (identity, signed prekey, KEM
///   prekey), each with the key's decompression; the ML-KEM encapsulation
///   key check and one encapsulation; generate the base key, 4 X25519 (DH1
///   identity × signed prekey, DH2 base × identity, DH3 base × signed
///   prekey, DH4 base × one-time prekey); generate the first ratchet key and
///   1 X25519 with the signed prekey;
/// - responder: 1 Ed25519 verification (the initiator's identity); the KEM
///   prekey's key pair made from its 64-byte seed, one decapsulation; the
///   same 4 X25519, and 1 X25519 for the ratchet step that opens the first
///   message.
struct Floor {
    rng: ChaCha20Rng,
    signing_key: [u8; 32],
    messages: [Vec<u8>; 3],
    signatures: [Signature; 3],
    peer_identity: PublicKey,
    peer_signed: PublicKey,
    peer_one_time: PublicKey,
    kem_public: mlkem768::MlKem768PublicKey,
    // Stand-ins with the same cost for the secrets each side holds.
    own_identity: StaticSecret,
    own_signed: StaticSecret,
    own_one_time: StaticSecret,
    kem_seed: [u8; 64],
    peer_base: PublicKey,
    peer_ratchet: PublicKey,
    kem_ciphertext: mlkem768::MlKem768Ciphertext,
}

impl Floor {
    fn new(bundle: &PrekeyBundle<'static>) -> Self {
        let mut rng = ChaCha20Rng::seed_from_u64(4);
        let identity = &bundle.identity;
        let signed = &bundle.signed_prekey;
        let one_time = bundle.one_time_prekey.as_ref().unwrap();
        let kem = bundle.kem_prekey.as_ref().unwrap();
        let labelled = |label: Label, message: &[u8]| [label.as_bytes(), message].concat();
        let messages = [
            labelled(Label::IdentitySignature, identity.agreement_key.as_bytes()),
            labelled(
                Label::SignedPrekeySignature,
                &Framer::unlabelled()
                    .u32(signed.id.0)
                    .field(signed.public_key.as_bytes())
                    .finish(),
            ),
            labelled(
                Label::KemPrekeySignature,
                &Framer::unlabelled()
                    .u32(kem.id.0)
                    .field(kem.public_key.as_bytes())
                    .finish(),
            ),
        ];
        let signatures = [
            Signature::from_bytes(&identity.signature.0),
            Signature::from_bytes(&signed.signature.0),
            Signature::from_bytes(&kem.signature.0),
        ];
        let own_identity = StaticSecret::random_from_rng(&mut rng);
        let own_signed = StaticSecret::random_from_rng(&mut rng);
        let own_one_time = StaticSecret::random_from_rng(&mut rng);
        let mut kem_seed = [0u8; 64];
        rng.fill_bytes(&mut kem_seed);
        let peer_base = PublicKey::from(&StaticSecret::random_from_rng(&mut rng));
        let peer_ratchet = PublicKey::from(&StaticSecret::random_from_rng(&mut rng));
        let kem_ciphertext =
            mlkem768::encapsulate(mlkem768::generate_key_pair(kem_seed).public_key(), [9; 32]).0;
        let floor = Self {
            rng,
            signing_key: identity.signing_key.0,
            messages,
            signatures,
            peer_identity: PublicKey::from(identity.agreement_key.0),
            peer_signed: PublicKey::from(signed.public_key.0),
            peer_one_time: PublicKey::from(one_time.public_key.0),
            kem_public: mlkem768::MlKem768PublicKey::from(kem.public_key.0),
            own_identity,
            own_signed,
            own_one_time,
            kem_seed,
            peer_base,
            peer_ratchet,
            kem_ciphertext,
        };
        // The signatures are the bundle's real ones: they verify.
        for (message, signature) in floor.messages.iter().zip(&floor.signatures) {
            verify(
                &VerifyingKey::from_bytes(&floor.signing_key).unwrap(),
                message,
                signature,
            );
        }
        floor
    }

    fn initiator(&mut self) {
        for (message, signature) in self.messages.iter().zip(&self.signatures) {
            let key = VerifyingKey::from_bytes(black_box(&self.signing_key)).unwrap();
            verify(&key, message, signature);
        }
        assert!(mlkem768::validate_public_key(black_box(&self.kem_public)));
        let mut m = [0u8; 32];
        self.rng.fill_bytes(&mut m);
        let encapsulated = mlkem768::encapsulate(&self.kem_public, m);

        let base = StaticSecret::random_from_rng(&mut self.rng);
        let base_public = PublicKey::from(&base);
        let dh = [
            self.own_identity.diffie_hellman(&self.peer_signed),
            base.diffie_hellman(&self.peer_identity),
            base.diffie_hellman(&self.peer_signed),
            base.diffie_hellman(&self.peer_one_time),
        ];
        let ratchet = StaticSecret::random_from_rng(&mut self.rng);
        let ratchet_public = PublicKey::from(&ratchet);
        let step = ratchet.diffie_hellman(&self.peer_signed);
        black_box((encapsulated, base_public, dh, ratchet_public, step));
    }

    fn responder(&self) {
        let key = VerifyingKey::from_bytes(black_box(&self.signing_key)).unwrap();
        verify(&key, &self.messages[0], &self.signatures[0]);
        let pair = mlkem768::generate_key_pair(black_box(self.kem_seed));
        let shared = mlkem768::decapsulate(pair.private_key(), &self.kem_ciphertext);
        let dh = [
            self.own_signed.diffie_hellman(&self.peer_identity),
            self.own_identity.diffie_hellman(&self.peer_base),
            self.own_signed.diffie_hellman(&self.peer_base),
            self.own_one_time.diffie_hellman(&self.peer_base),
        ];
        let step = self.own_signed.diffie_hellman(&self.peer_ratchet);
        black_box((shared, dh, step));
    }
}

/// ML-KEM-768 alone, in both implementations the crate is tested with:
/// the key pair from a 64-byte seed, the encapsulation-key check,
/// encapsulation with given randomness, decapsulation; and fuin's
/// `KemSecret::decapsulate`, which makes the key pair from the seed first.
fn ml_kem(c: &mut Criterion) {
    use ml_kem::array::Array;
    use ml_kem::kem::Decapsulate;
    use ml_kem::ml_kem_768::DecapsulationKey;

    let mut group = c.benchmark_group("ml_kem_768");
    let seed = [7u8; 64];
    let m = [9u8; 32];
    let pair = mlkem768::generate_key_pair(seed);
    let ciphertext = mlkem768::encapsulate(pair.public_key(), m).0;
    group.bench_function("libcrux/keygen", |b| {
        b.iter(|| black_box(mlkem768::generate_key_pair(black_box(seed))));
    });
    group.bench_function("libcrux/key_check", |b| {
        b.iter(|| black_box(mlkem768::validate_public_key(black_box(pair.public_key()))));
    });
    group.bench_function("libcrux/encaps", |b| {
        b.iter(|| black_box(mlkem768::encapsulate(black_box(pair.public_key()), m)));
    });
    group.bench_function("libcrux/decaps", |b| {
        b.iter(|| {
            black_box(mlkem768::decapsulate(
                pair.private_key(),
                black_box(&ciphertext),
            ))
        });
    });
    let secret = fuin_seal::primitives::kem::KemSecret::from_seed(seed);
    let mut fuin_ciphertext = fuin_wire::MlKemCiphertext([0; 1088]);
    fuin_ciphertext.0.copy_from_slice(ciphertext.as_slice());
    group.bench_function("fuin/decapsulate_from_seed", |b| {
        b.iter(|| black_box(secret.decapsulate(black_box(&fuin_ciphertext))));
    });

    let key = DecapsulationKey::from_seed(Array::from(seed));
    let public = key.encapsulation_key().clone();
    let rust_crypto_ciphertext = Array::from(fuin_ciphertext.0);
    group.bench_function("rustcrypto/keygen", |b| {
        b.iter(|| black_box(DecapsulationKey::from_seed(Array::from(black_box(seed)))));
    });
    group.bench_function("rustcrypto/encaps", |b| {
        b.iter(|| black_box(public.encapsulate_deterministic(&Array::from(black_box(m)))));
    });
    group.bench_function("rustcrypto/decaps", |b| {
        b.iter(|| black_box(key.decapsulate(black_box(&rust_crypto_ciphertext))));
    });
    group.finish();
}

/// About 15 benchmarks of 1 s warm-up and 4 s measurement each (under two
/// minutes on 2 cores). No plots.
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
    targets = handshake, ml_kem
}

/// Counting mode, for instruction counts under a simulator (the VM gives no
/// hardware counters): `FUIN_HANDSHAKE_COUNT=<what>:<n>` sets up, then runs
/// `<what>` (`initiator`, `responder`, `floor_initiator` or
/// `floor_responder`) `n` times through a `counted_*` function, and exits
/// without criterion. Run it under `valgrind --tool=callgrind
/// --toggle-collect='*counted_*'` so that only those calls are counted;
/// BENCHMARKS.md has the commands.
fn count(spec: &str) {
    let (what, times) = spec.split_once(':').expect("<what>:<n>");
    let times: usize = times.parse().expect("a number of runs");
    let mut setup = Handshake::new();
    let mut floor = Floor::new(&setup.bundle);
    for _ in 0..times {
        match what {
            "initiator" => drop(black_box(counted_initiator(&mut setup))),
            "responder" => {
                let mut prekeys = setup.bob.prekeys.clone();
                drop(black_box(counted_responder(&setup, &mut prekeys)));
            }
            "floor_initiator" => counted_floor_initiator(&mut floor),
            "floor_responder" => counted_floor_responder(&floor),
            other => panic!("unknown {other:?}"),
        }
    }
}

#[inline(never)]
fn counted_initiator(setup: &mut Handshake) -> fuin_seal::Sealed {
    setup.initiate()
}

#[inline(never)]
fn counted_responder(setup: &Handshake, prekeys: &mut PrekeyStore) -> (Session, fuin_seal::Opened) {
    setup.respond(prekeys)
}

#[inline(never)]
fn counted_floor_initiator(floor: &mut Floor) {
    floor.initiator();
}

#[inline(never)]
fn counted_floor_responder(floor: &Floor) {
    floor.responder();
}

fn main() {
    if let Ok(spec) = std::env::var("FUIN_HANDSHAKE_COUNT") {
        count(&spec);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
