//! The conversation the session vectors pin, run two ways: by fuin-seal's
//! sessions, with randomness drawn from a scripted source, and by the
//! reference computations of `reference.rs` from the same random values.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::convert::Infallible;

use rand_core::{SeedableRng, TryCryptoRng, TryRng};
use serde_json::{Value, json};

use super::reference::{self as r, Address, Bytes32};
use fuin_seal::primitives::franking::hmac_sha256;
use fuin_seal::{DeviceIdentity, Outgoing, PrekeyStore, Session, VerifiedBundle};
use fuin_wire::{
    ContentKind, ContentType, DeliveredRecord, DeviceAddress, DeviceId, FrameBody, FrankingStamp,
    MessageId, StampKeyId, UserId,
};

/// Who sends each of the 20 messages: ten each way, with runs of two so that
/// both chain steps and ratchet steps occur.
pub const SCRIPT: &str = "AABABBABAABABBABABAB";
pub const NOW: u64 = 1_795_000_000_000;
/// The relay's stamp key in the scenario (stamps do not affect opening).
const STAMP_KEY: [u8; 32] = [0x5a; 32];
/// Alice's state is pinned after this many messages; the next is from Bob.
pub const PINNED_AFTER: usize = 19;

/// Randomness that is either drawn from a seeded ChaCha20 and recorded, or
/// replayed from a recording. Each draw carries the purpose it was drawn for.
pub struct ScriptedRng {
    source: Option<rand_chacha::ChaCha20Rng>,
    pub draws: Vec<(String, Vec<u8>)>,
    next: usize,
    pub purpose: String,
}

impl ScriptedRng {
    pub fn recording(seed: u64) -> Self {
        Self {
            source: Some(rand_chacha::ChaCha20Rng::seed_from_u64(seed)),
            draws: Vec::new(),
            next: 0,
            purpose: String::new(),
        }
    }

    pub fn replaying(draws: Vec<(String, Vec<u8>)>) -> Self {
        Self {
            source: None,
            draws,
            next: 0,
            purpose: String::new(),
        }
    }

    /// The draws made for `purpose`, in order.
    pub fn drawn_for(draws: &[(String, Vec<u8>)], purpose: &str) -> Vec<Vec<u8>> {
        draws
            .iter()
            .filter(|(p, _)| p == purpose)
            .map(|(_, bytes)| bytes.clone())
            .collect()
    }

    pub fn finished(&self) -> bool {
        self.source.is_some() || self.next == self.draws.len()
    }
}

impl TryRng for ScriptedRng {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        let mut bytes = [0u8; 4];
        self.try_fill_bytes(&mut bytes)?;
        Ok(u32::from_le_bytes(bytes))
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        let mut bytes = [0u8; 8];
        self.try_fill_bytes(&mut bytes)?;
        Ok(u64::from_le_bytes(bytes))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        match &mut self.source {
            Some(source) => {
                rand_core::Rng::fill_bytes(source, dst);
                self.draws.push((self.purpose.clone(), dst.to_vec()));
            }
            None => {
                let (purpose, bytes) = &self.draws[self.next];
                assert_eq!(
                    purpose, &self.purpose,
                    "draw {} made for another purpose",
                    self.next
                );
                assert_eq!(
                    bytes.len(),
                    dst.len(),
                    "draw {} has another size",
                    self.next
                );
                dst.copy_from_slice(bytes);
                self.next += 1;
            }
        }
        Ok(())
    }
}

impl TryCryptoRng for ScriptedRng {}

pub fn address(user: &str) -> DeviceAddress<'static> {
    DeviceAddress::new(UserId::new(user.to_owned()).unwrap(), DeviceId(1))
}

pub fn body_of(index: usize) -> String {
    let sender = if SCRIPT.as_bytes()[index] == b'A' {
        "alice"
    } else {
        "bob"
    };
    format!("message {index} from {sender}")
}

fn stamp(record: &mut DeliveredRecord<'static>) {
    record.franking_stamp = FrankingStamp(hmac_sha256(&STAMP_KEY, &[&record.stamp_input()]));
}

fn deliver(
    index: usize,
    sender: &DeviceAddress<'static>,
    envelope: fuin_wire::RoutingEnvelope<'static>,
) -> DeliveredRecord<'static> {
    let mut id = [0u8; 16];
    id[15] = index as u8;
    let mut record = DeliveredRecord {
        envelope,
        sender: sender.clone(),
        server_time_ms: NOW + 1000 + index as u64,
        server_message_id: MessageId(id),
        franking_stamp: FrankingStamp([0; 32]),
        stamp_key_id: StampKeyId(1),
    };
    stamp(&mut record);
    record
}

/// What the implementation produced.
pub struct ImplementationRun {
    pub records: Vec<DeliveredRecord<'static>>,
    pub opened_bodies: Vec<String>,
    pub alice_identity: Vec<u8>,
    pub bob_prekeys: Vec<u8>,
    pub alice_state_pinned: Vec<u8>,
    /// Bob's bundle as fuin-seal made it, encoded (a tag 41 frame).
    pub bundle: Vec<u8>,
    /// Whether Alice's and Bob's sessions say they are post-quantum
    /// (spec/protocol.md §6.8: every session of version 3 is).
    pub post_quantum: (bool, bool),
}

/// Runs the scenario through fuin-seal's public API.
/// `with_one_time`: whether Bob's bundle carries his one-time prekey (it is
/// drawn either way, so both variants consume the same randomness).
pub fn run_implementation(rng: &mut ScriptedRng, with_one_time: bool) -> ImplementationRun {
    run_implementation_observed(rng, with_one_time, &mut |_, _, _| {})
}

/// Who is about to open message `index`: Bob completing the handshake (no
/// session yet), or the recipient's session.
pub enum Receiver<'a> {
    Responder {
        identity: &'a DeviceIdentity,
        address: &'a DeviceAddress<'static>,
        prekeys: &'a mut PrekeyStore,
    },
    Session(&'a mut Session),
}

/// `run_implementation`, showing `observe` each record and its receiver
/// just before the receiver opens it (the reject vectors present altered
/// copies there; the real record must still open afterwards).
pub fn run_implementation_observed(
    rng: &mut ScriptedRng,
    with_one_time: bool,
    observe: &mut dyn FnMut(usize, Receiver<'_>, &DeliveredRecord<'static>),
) -> ImplementationRun {
    let (alice_address, bob_address) = (address("alice"), address("bob"));
    rng.purpose = "alice identity".into();
    let alice = DeviceIdentity::generate(rng);
    rng.purpose = "bob identity".into();
    let bob = DeviceIdentity::generate(rng);
    let mut prekeys = PrekeyStore::new();
    rng.purpose = "bob signed prekey".into();
    prekeys.rotate_signed_prekey(&bob, rng);
    rng.purpose = "bob one-time prekey".into();
    let one_time = prekeys.generate_one_time_prekeys(1, rng).remove(0);
    rng.purpose = "bob last-resort KEM prekey".into();
    prekeys.rotate_last_resort_kem_prekey(&bob, rng);
    rng.purpose = "bob one-time KEM prekey".into();
    let one_time_kem = prekeys
        .generate_one_time_kem_prekeys(1, &bob, rng)
        .remove(0);
    // With a one-time prekey, the bundle also carries a one-time KEM
    // prekey; without, the last-resort KEM prekey (an empty pool).
    let bundle = prekeys
        .bundle(
            bob_address.clone(),
            &bob,
            with_one_time.then_some(one_time),
            with_one_time.then_some(one_time_kem),
        )
        .unwrap();
    let bundle_frame = bundle.to_bytes().unwrap();
    let bundle = VerifiedBundle::verify(&bundle, &bob_address, None).unwrap();
    rng.purpose = "alice initiate".into();
    let mut alice_session = Session::initiate(rng, &alice, alice_address.clone(), &bundle).unwrap();
    let mut bob_session: Option<Session> = None;

    let mut records = Vec::new();
    let mut opened_bodies = Vec::new();
    let mut alice_state_pinned = Vec::new();
    for (index, who) in SCRIPT.bytes().enumerate() {
        if index == PINNED_AFTER {
            alice_state_pinned = alice_session.to_bytes().unwrap().to_vec();
        }
        let (from, to_user) = if who == b'A' {
            (&alice_address, "bob")
        } else {
            (&bob_address, "alice")
        };
        rng.purpose = format!("message {index} prepare");
        let message = Outgoing::new(
            rng,
            from,
            UserId::new(to_user).unwrap(),
            ContentType::Text,
            body_of(index).as_bytes(),
        )
        .unwrap();
        rng.purpose = format!("message {index} seal");
        let now = NOW + index as u64;
        let record = if who == b'A' {
            let sealed = alice_session.seal(rng, &message, now).unwrap();
            let record = deliver(index, &alice_address, sealed.envelope);
            let receiver = match bob_session.as_mut() {
                Some(session) => Receiver::Session(session),
                None => Receiver::Responder {
                    identity: &bob,
                    address: &bob_address,
                    prekeys: &mut prekeys,
                },
            };
            observe(index, receiver, &record);
            let opened = match bob_session.as_mut() {
                Some(session) => session.open(&record, now).unwrap(),
                None => {
                    let (session, opened) = Session::respond(
                        &bob,
                        bob_address.clone(),
                        &mut prekeys,
                        None,
                        &record,
                        now,
                    )
                    .unwrap();
                    bob_session = Some(session);
                    opened
                }
            };
            opened_bodies.push(String::from_utf8(opened.content.body.as_bytes().to_vec()).unwrap());
            record
        } else {
            let session = bob_session.as_mut().unwrap();
            let sealed = session.seal(rng, &message, now).unwrap();
            let record = deliver(index, &bob_address, sealed.envelope);
            observe(index, Receiver::Session(&mut alice_session), &record);
            let opened = alice_session.open(&record, now).unwrap();
            opened_bodies.push(String::from_utf8(opened.content.body.as_bytes().to_vec()).unwrap());
            record
        };
        records.push(record);
    }
    ImplementationRun {
        records,
        opened_bodies,
        alice_identity: alice.to_bytes().unwrap().to_vec(),
        bob_prekeys: prekeys.to_bytes().unwrap().to_vec(),
        alice_state_pinned,
        bundle: bundle_frame,
        post_quantum: (
            alice_session.post_quantum(),
            bob_session.as_ref().is_some_and(Session::post_quantum),
        ),
    }
}

fn h(bytes: &[u8]) -> Value {
    Value::String(hex::encode(bytes))
}

fn b32(bytes: &[u8]) -> Bytes32 {
    bytes.try_into().unwrap()
}

/// One side's ratchet, as the spec describes it.
struct Side {
    user: &'static str,
    identity: r::Identity,
    root: Bytes32,
    own_secret: Bytes32,
    remote: Option<Bytes32>,
    sending: Option<(Bytes32, u32)>,
    previous_length: u32,
    receiving: Option<(Bytes32, u32)>,
    sequence: u64,
    heard_back: bool,
}

impl Side {
    fn keys(&self) -> (Bytes32, Bytes32) {
        (self.identity.signing_key(), self.identity.agreement_key())
    }
    fn address(&self) -> Address<'static> {
        Address {
            user: self.user,
            device: 1,
        }
    }
}

/// The scenario computed by the reference from the random values alone:
/// everything the vectors file states, as JSON.
pub fn run_reference(draws: &[(String, Vec<u8>)], with_one_time: bool) -> Value {
    let drawn = |purpose: &str| ScriptedRng::drawn_for(draws, purpose);
    let identity = |purpose: &str| {
        let d = drawn(purpose);
        r::Identity {
            signing_seed: b32(&d[0]),
            agreement_secret: b32(&d[1]),
        }
    };
    let alice_identity = identity("alice identity");
    let bob_identity = identity("bob identity");
    let spk_secret = b32(&drawn("bob signed prekey")[0]);
    let opk_secret = b32(&drawn("bob one-time prekey")[0]);
    let seed64 = |bytes: &[u8]| -> [u8; 64] { bytes.try_into().unwrap() };
    let last_resort_kem_seed = seed64(&drawn("bob last-resort KEM prekey")[0]);
    let one_time_kem_seed = seed64(&drawn("bob one-time KEM prekey")[0]);
    // One counter for every kind of prekey (§5.3), in the order made.
    let (spk_id, opk_id, last_resort_kem_id, one_time_kem_id) = (0u32, 1u32, 2u32, 3u32);
    let spk_public = r::x25519_public(&spk_secret);
    let opk_public = r::x25519_public(&opk_secret);
    let last_resort_kem_public = r::kem_public_key(&last_resort_kem_seed);
    let one_time_kem_public = r::kem_public_key(&one_time_kem_seed);
    let initiate = drawn("alice initiate");
    let (base_secret, kem_randomness, alice_ratchet) =
        (b32(&initiate[0]), b32(&initiate[1]), b32(&initiate[2]));
    let base_public = r::x25519_public(&base_secret);
    // A bundle with a one-time prekey carries a one-time KEM prekey too;
    // without, the pool is empty and it carries the last-resort one.
    let (kem_id, kem_seed, kem_public) = if with_one_time {
        (one_time_kem_id, one_time_kem_seed, &one_time_kem_public)
    } else {
        (
            last_resort_kem_id,
            last_resort_kem_seed,
            &last_resort_kem_public,
        )
    };
    let (kem_ciphertext, kem_shared_secret) = r::kem_encapsulate(kem_public, &kem_randomness)
        .expect("an honest KEM key passes the check");
    assert_eq!(
        r::kem_decapsulate(&kem_seed, &kem_ciphertext),
        kem_shared_secret,
        "the responder decapsulates the initiator's secret"
    );
    let kem = r::KemEncapsulation {
        kem_prekey_id: kem_id,
        ciphertext: kem_ciphertext.clone(),
    };

    let mut dh = vec![
        r::x25519(&alice_identity.agreement_secret, &spk_public),
        r::x25519(&base_secret, &bob_identity.agreement_key()),
        r::x25519(&base_secret, &spk_public),
    ];
    if with_one_time {
        dh.push(r::x25519(&base_secret, &opk_public));
    }
    let transcript = r::transcript(
        (
            &alice_identity.signing_key(),
            &alice_identity.agreement_key(),
        ),
        (&bob_identity.signing_key(), &bob_identity.agreement_key()),
        &Address {
            user: "alice",
            device: 1,
        },
        &Address {
            user: "bob",
            device: 1,
        },
        &base_public,
        (spk_id, &spk_public),
        with_one_time.then_some((opk_id, &opk_public)),
        (kem_id, kem_public, &kem_ciphertext),
    );
    let ikm = r::handshake_ikm(&dh, &kem_shared_secret);
    let root0 = r::handshake_root(&ikm, &transcript);
    // The responder's column of §6.1 and §6.2: its own secrets and the
    // prekey message's public values, its prekeys' public keys recomputed
    // from its store, and the KEM seed the message names.
    let mut responder_dh = vec![
        r::x25519(&spk_secret, &alice_identity.agreement_key()),
        r::x25519(&bob_identity.agreement_secret, &base_public),
        r::x25519(&spk_secret, &base_public),
    ];
    if with_one_time {
        responder_dh.push(r::x25519(&opk_secret, &base_public));
    }
    let responder_transcript = r::transcript(
        (
            &alice_identity.signing_key(),
            &alice_identity.agreement_key(),
        ),
        (&bob_identity.signing_key(), &bob_identity.agreement_key()),
        &Address {
            user: "alice",
            device: 1,
        },
        &Address {
            user: "bob",
            device: 1,
        },
        &base_public,
        (spk_id, &r::x25519_public(&spk_secret)),
        with_one_time
            .then(|| (opk_id, r::x25519_public(&opk_secret)))
            .as_ref()
            .map(|(id, key)| (*id, key)),
        (kem_id, &r::kem_public_key(&kem_seed), &kem_ciphertext),
    );
    let responder_ikm = r::handshake_ikm(
        &responder_dh,
        &r::kem_decapsulate(&kem_seed, &kem_ciphertext),
    );
    assert_eq!(
        r::handshake_root(&responder_ikm, &responder_transcript),
        root0,
        "both sides of the handshake derive the same root key"
    );
    let handshake = json!({
        "base_key_secret": h(&base_secret),
        "base_key": h(&base_public),
        "dh1": h(&dh[0]), "dh2": h(&dh[1]), "dh3": h(&dh[2]),
        "dh4": dh.get(3).map_or(Value::Null, |dh4| h(dh4)),
        "one_time_prekey_used": with_one_time,
        "kem": {
            "kem_prekey_id": kem_id,
            "one_time": with_one_time,
            "m": h(&kem_randomness),
            "ciphertext": h(&kem_ciphertext),
            "shared_secret": h(&kem_shared_secret),
        },
        "ikm": h(&ikm),
        "transcript": h(&transcript),
        "root_key": h(&root0),
    });

    // Alice's first sending chain comes from her first ratchet key and Bob's
    // signed prekey; Bob's first ratchet key is his signed prekey.
    let first_dh = r::x25519(&alice_ratchet, &spk_public);
    let (alice_root, alice_chain) = r::root_step(&root0, &first_dh);
    let mut alice = Side {
        user: "alice",
        identity: alice_identity,
        root: alice_root,
        own_secret: alice_ratchet,
        remote: Some(spk_public),
        sending: Some((alice_chain, 0)),
        previous_length: 0,
        receiving: None,
        sequence: 0,
        heard_back: false,
    };
    let mut bob = Side {
        user: "bob",
        identity: bob_identity,
        root: root0,
        own_secret: spk_secret,
        remote: None,
        sending: None,
        previous_length: 0,
        receiving: None,
        sequence: 0,
        heard_back: true,
    };
    let mut initial_step = Some(json!({
        "ratchet_secret": h(&alice_ratchet),
        "ratchet_key": h(&r::x25519_public(&alice_ratchet)),
        "dh": h(&first_dh),
        "root_key": h(&alice_root),
        "chain_key": h(&alice_chain),
    }));

    let mut messages = Vec::new();
    for (index, who) in SCRIPT.bytes().enumerate() {
        let (sender, recipient) = if who == b'A' {
            (&mut alice, &mut bob)
        } else {
            (&mut bob, &mut alice)
        };
        let now = NOW + index as u64;
        // Sender: a new sending chain if the peer's ratchet key changed.
        let mut ratchet_step = initial_step.take();
        // Sealing draws the new ratchet key of a new sending chain, if one
        // starts, then the header's salt (spec/protocol.md §7.2, §15).
        let mut seal_draws = drawn(&format!("message {index} seal"));
        let salt: [u8; 16] = seal_draws
            .pop()
            .expect("every seal draws a salt")
            .try_into()
            .expect("a 16-byte salt");
        assert_eq!(
            seal_draws.len(),
            usize::from(sender.sending.is_none()),
            "message {index}: a ratchet key is drawn exactly when a sending chain starts"
        );
        if sender.sending.is_none() {
            let secret = b32(&seal_draws[0]);
            let remote = sender.remote.unwrap();
            let step_dh = r::x25519(&secret, &remote);
            let (root, chain) = r::root_step(&sender.root, &step_dh);
            sender.root = root;
            sender.own_secret = secret;
            sender.sending = Some((chain, 0));
            ratchet_step = Some(json!({
                "ratchet_secret": h(&secret),
                "ratchet_key": h(&r::x25519_public(&secret)),
                "dh": h(&step_dh),
                "root_key": h(&root),
                "chain_key": h(&chain),
            }));
        }
        let (chain, counter) = sender.sending.unwrap();
        let (message_key, next_chain) = r::chain_step(&chain);
        sender.sending = Some((next_chain, counter + 1));
        let ratchet_key = r::x25519_public(&sender.own_secret);
        let header = r::Header {
            ratchet_key,
            previous_chain_length: sender.previous_length,
            counter,
            salt,
        };

        let prepared = drawn(&format!("message {index} prepare"));
        let message_id: [u8; 16] = prepared[0].clone().try_into().unwrap();
        let franking_key = b32(&prepared[1]);
        let body = body_of(index);
        let conversation = r::direct_conversation(sender.user, recipient.user);
        let commitment = r::franking_commitment(
            &franking_key,
            &sender.address(),
            &conversation,
            &message_id,
            0,
            body.as_bytes(),
        );
        let sequence = sender.sequence;
        sender.sequence += 1;
        let plaintext = r::message_content_frame(
            0,
            &message_id,
            sequence,
            now,
            recipient.user,
            &franking_key,
            body.as_bytes(),
        );
        let prekey = !sender.heard_back;
        let kind = u32::from(prekey);
        let handshake_fields = prekey.then(|| r::HandshakeFields {
            base_key: base_public,
            signed_prekey_id: spk_id,
            one_time_prekey_id: with_one_time.then_some(opk_id),
            kem: Some(kem.clone()),
        });
        let ad = r::associated_data(
            (&sender.keys().0, &sender.keys().1),
            (&recipient.keys().0, &recipient.keys().1),
            &sender.address(),
            &recipient.address(),
            &header,
            kind,
            &commitment,
            handshake_fields.as_ref(),
        );
        let keys = r::message_keys(&salt, &message_key);
        let ciphertext = r::aead_seal(&keys, &ad, &plaintext);
        let sealed_body = match &handshake_fields {
            Some(fields) => r::prekey_message_frame(
                (
                    &sender.identity.signing_key(),
                    &sender.identity.agreement_key(),
                    &sender.identity.signature(),
                ),
                fields,
                &header,
                &ciphertext,
            ),
            None => r::ratchet_message_frame(&header, &ciphertext),
        };

        // Recipient: a new receiving chain if the sender's ratchet key changed.
        let mut receive_step = Value::Null;
        if recipient.remote != Some(ratchet_key) || recipient.receiving.is_none() {
            let step_dh = r::x25519(&recipient.own_secret, &ratchet_key);
            let (root, chain) = r::root_step(&recipient.root, &step_dh);
            recipient.root = root;
            recipient.receiving = Some((chain, 0));
            recipient.remote = Some(ratchet_key);
            if let Some((_, sent)) = recipient.sending.take() {
                recipient.previous_length = sent;
            }
            receive_step = json!({"dh": h(&step_dh), "root_key": h(&root), "chain_key": h(&chain)});
        }
        let (receiving_chain, received) = recipient.receiving.unwrap();
        assert_eq!(received, counter, "in-order scenario");
        let (received_key, next_receiving) = r::chain_step(&receiving_chain);
        assert_eq!(
            received_key, message_key,
            "both sides derive the same message key"
        );
        recipient.receiving = Some((next_receiving, received + 1));
        recipient.heard_back = true;

        messages.push(json!({
            "index": index,
            "from": sender.user,
            "to": recipient.user,
            "body": body,
            "sent_at_ms": now,
            "sequence": sequence,
            "message_id": h(&message_id),
            "franking_key": h(&franking_key),
            "conversation_id": h(&conversation),
            "franking_commitment": h(&commitment),
            "sender_ratchet_step": ratchet_step.unwrap_or(Value::Null),
            "chain_key": h(&chain),
            "message_key": h(&message_key),
            "next_chain_key": h(&next_chain),
            "aead_key": h(&keys.0),
            "nonce": h(&keys.1),
            "key_commitment": h(&keys.2),
            "header": {
                "ratchet_key": h(&header.ratchet_key),
                "previous_chain_length": header.previous_chain_length,
                "counter": header.counter,
                "salt": h(&header.salt),
            },
            "content_kind": if prekey { "PrekeyMessage" } else { "Message" },
            "handshake_fields": handshake_fields.as_ref().map_or(Value::Null, |fields| json!({
                "base_key": h(&fields.base_key),
                "signed_prekey_id": fields.signed_prekey_id,
                "one_time_prekey_id": fields.one_time_prekey_id,
                "kem_prekey_id": fields.kem.as_ref().map(|kem| kem.kem_prekey_id),
                "kem_ciphertext": fields.kem.as_ref().map(|kem| h(&kem.ciphertext)),
            })),
            "associated_data": h(&ad),
            "plaintext": h(&plaintext),
            "sealed_body": h(&sealed_body),
            "recipient_ratchet_step": receive_step,
        }));
    }
    let public = |identity: &r::Identity| {
        json!({
            "signing_key": h(&identity.signing_key()),
            "agreement_key": h(&identity.agreement_key()),
            "signature": h(&identity.signature()),
        })
    };
    let (bob_signing, bob_agreement, bob_signature) = (
        bob.identity.signing_key(),
        bob.identity.agreement_key(),
        bob.identity.signature(),
    );
    let spk_signature = r::signed_prekey_signature(&bob.identity.signing_seed, spk_id, &spk_public);
    let kem_prekey = |id: u32, seed: &[u8; 64], public: &[u8]| {
        json!({
            "id": id,
            "seed": h(seed),
            "public_key": h(public),
            "signature": h(&r::kem_prekey_signature(&bob.identity.signing_seed, id, public)),
        })
    };
    let kem_signature = r::kem_prekey_signature(&bob.identity.signing_seed, kem_id, kem_public);
    let bundle = r::prekey_bundle_frame(
        &bob.address(),
        (&bob_signing, &bob_agreement, &bob_signature),
        &r::BundlePrekey {
            id: spk_id,
            public_key: &spk_public,
            signature: &spk_signature,
        },
        with_one_time.then_some((opk_id, &opk_public)),
        Some(&r::BundlePrekey {
            id: kem_id,
            public_key: kem_public,
            signature: &kem_signature,
        }),
    );
    json!({
        "alice": {
            "address": {"user": "alice", "device": 1},
            "signing_seed": h(&alice.identity.signing_seed),
            "agreement_secret": h(&alice.identity.agreement_secret),
            "public": public(&alice.identity),
        },
        "bob": {
            "address": {"user": "bob", "device": 1},
            "signing_seed": h(&bob.identity.signing_seed),
            "agreement_secret": h(&bob.identity.agreement_secret),
            "public": public(&bob.identity),
            "signed_prekey": {
                "id": spk_id,
                "secret": h(&spk_secret),
                "public_key": h(&spk_public),
                "signature": h(&spk_signature),
            },
            "one_time_prekey": {"id": opk_id, "secret": h(&opk_secret), "public_key": h(&opk_public)},
            "last_resort_kem_prekey": kem_prekey(last_resort_kem_id, &last_resort_kem_seed, &last_resort_kem_public),
            "one_time_kem_prekey": kem_prekey(one_time_kem_id, &one_time_kem_seed, &one_time_kem_public),
            "bundle": h(&bundle),
        },
        "handshake": handshake,
        "messages": messages,
    })
}

/// The scenario's randomness, drawn from a ChaCha20 seeded with `seed` in
/// the order spec/protocol.md gives (§15): each identity's signing seed then
/// agreement secret, Bob's signed and one-time prekeys, his last-resort and
/// one-time KEM prekeys (64-byte seeds), the initiator's base key, the
/// encapsulation randomness `m` and the first ratchet key; per message, the Outgoing's message id and
/// franking key, then at seal the new ratchet key of a new sending chain (if
/// one starts) and the header's 16-byte salt. Made without fuin-seal, so the
/// vectors follow from the spec alone.
pub fn reference_draws(seed: u64) -> Vec<(String, Vec<u8>)> {
    let mut rng = ScriptedRng::recording(seed);
    let mut draw = |purpose: &str, sizes: &[usize]| {
        rng.purpose = purpose.to_owned();
        for size in sizes {
            let mut bytes = vec![0u8; *size];
            let Ok(()) = rng.try_fill_bytes(&mut bytes);
        }
    };
    draw("alice identity", &[32, 32]);
    draw("bob identity", &[32, 32]);
    draw("bob signed prekey", &[32]);
    draw("bob one-time prekey", &[32]);
    draw("bob last-resort KEM prekey", &[64]);
    draw("bob one-time KEM prekey", &[64]);
    draw("alice initiate", &[32, 32, 32]);
    let script = SCRIPT.as_bytes();
    for index in 0..script.len() {
        draw(&format!("message {index} prepare"), &[16, 32]);
        // Messages arrive in order, so a side starts a new sending chain
        // exactly when the message before was the other side's (Alice's
        // first chain was made at initiate).
        let new_chain = index > 0 && script[index - 1] != script[index];
        let sizes: &[usize] = if new_chain { &[32, 16] } else { &[16] };
        draw(&format!("message {index} seal"), sizes);
    }
    rng.draws
}

/// The recorded draws as JSON, and back.
pub fn draws_to_json(draws: &[(String, Vec<u8>)]) -> Value {
    Value::Array(
        draws
            .iter()
            .map(|(purpose, bytes)| json!({"purpose": purpose, "bytes": h(bytes)}))
            .collect(),
    )
}

pub fn draws_from_json(value: &Value) -> Vec<(String, Vec<u8>)> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|draw| {
            (
                draw["purpose"].as_str().unwrap().to_owned(),
                hex::decode(draw["bytes"].as_str().unwrap()).unwrap(),
            )
        })
        .collect()
}

/// Checks a delivered record's envelope against the reference's message.
pub fn check_record(record: &DeliveredRecord<'_>, expected: &Value) {
    let index = &expected["index"];
    assert_eq!(
        hex::encode(record.envelope.sealed_body.as_bytes()),
        expected["sealed_body"].as_str().unwrap(),
        "sealed body of message {index}"
    );
    assert_eq!(
        hex::encode(record.envelope.franking_commitment.0),
        expected["franking_commitment"].as_str().unwrap(),
        "franking commitment of message {index}"
    );
    let kind = match record.envelope.content_kind {
        ContentKind::Message => "Message",
        ContentKind::PrekeyMessage => "PrekeyMessage",
        _ => "other",
    };
    assert_eq!(
        kind,
        expected["content_kind"].as_str().unwrap(),
        "kind of message {index}"
    );
}

/// How the session saved by protocol version 1 (`saved-state-v1.json`) goes
/// on under version 3, computed from the values stated in the file's
/// `protocol_version_3.inputs`: Bob's message 19 sealed again with a salt
/// and version byte 3 (which the loaded session must open), then Alice's
/// next message, which starts a new sending chain (new ratchet key, then
/// salt, §7.2). Neither is a prekey message, so the handshake's KEM term
/// plays no part: the session was made without it.
pub fn continuation_reference(inputs: &Value) -> Value {
    let bytes = |value: &Value| hex::decode(value.as_str().unwrap()).unwrap();
    let key = |value: &Value| -> Bytes32 { bytes(value).try_into().unwrap() };
    let alice = (
        key(&inputs["alice_public"]["signing_key"]),
        key(&inputs["alice_public"]["agreement_key"]),
    );
    let bob = (
        key(&inputs["bob_public"]["signing_key"]),
        key(&inputs["bob_public"]["agreement_key"]),
    );
    let (alice_address, bob_address) = (
        Address {
            user: "alice",
            device: 1,
        },
        Address {
            user: "bob",
            device: 1,
        },
    );
    let header_of = |value: &Value| r::Header {
        ratchet_key: key(&value["ratchet_key"]),
        previous_chain_length: value["previous_chain_length"].as_u64().unwrap() as u32,
        counter: value["counter"].as_u64().unwrap() as u32,
        salt: bytes(&value["salt"]).try_into().unwrap(),
    };

    let from_bob = &inputs["bob_message"];
    let header = header_of(&from_bob["header"]);
    let ad = r::associated_data(
        (&bob.0, &bob.1),
        (&alice.0, &alice.1),
        &bob_address,
        &alice_address,
        &header,
        0,
        &key(&from_bob["franking_commitment"]),
        None,
    );
    let keys = r::message_keys(&header.salt, &key(&from_bob["message_key"]));
    let ciphertext = r::aead_seal(&keys, &ad, &bytes(&from_bob["plaintext"]));
    let bob_message = json!({
        "aead_key": h(&keys.0),
        "nonce": h(&keys.1),
        "key_commitment": h(&keys.2),
        "associated_data": h(&ad),
        "sealed_body": h(&r::ratchet_message_frame(&header, &ciphertext)),
    });

    let draws = draws_from_json(&inputs["random_draws"]);
    let prepared = ScriptedRng::drawn_for(&draws, "continuation prepare");
    let sealing = ScriptedRng::drawn_for(&draws, "continuation seal");
    let message_id: [u8; 16] = prepared[0].clone().try_into().unwrap();
    let franking_key = b32(&prepared[1]);
    let ratchet_secret = b32(&sealing[0]);
    let salt: [u8; 16] = sealing[1].clone().try_into().unwrap();
    let next = &inputs["alice_message"];
    let dh = r::x25519(&ratchet_secret, &key(&next["peer_ratchet_key"]));
    let (root_key, chain_key) = r::root_step(&key(&next["root_key"]), &dh);
    let (message_key, next_chain_key) = r::chain_step(&chain_key);
    let header = r::Header {
        ratchet_key: r::x25519_public(&ratchet_secret),
        previous_chain_length: next["previous_chain_length"].as_u64().unwrap() as u32,
        counter: 0,
        salt,
    };
    let body = next["body"].as_str().unwrap();
    let conversation = r::direct_conversation("alice", "bob");
    let commitment = r::franking_commitment(
        &franking_key,
        &alice_address,
        &conversation,
        &message_id,
        0,
        body.as_bytes(),
    );
    let plaintext = r::message_content_frame(
        0,
        &message_id,
        next["sequence"].as_u64().unwrap(),
        next["sent_at_ms"].as_u64().unwrap(),
        "bob",
        &franking_key,
        body.as_bytes(),
    );
    let ad = r::associated_data(
        (&alice.0, &alice.1),
        (&bob.0, &bob.1),
        &alice_address,
        &bob_address,
        &header,
        0,
        &commitment,
        None,
    );
    let keys = r::message_keys(&salt, &message_key);
    let ciphertext = r::aead_seal(&keys, &ad, &plaintext);
    let alice_message = json!({
        "ratchet_key": h(&header.ratchet_key),
        "dh": h(&dh),
        "root_key": h(&root_key),
        "chain_key": h(&chain_key),
        "message_key": h(&message_key),
        "next_chain_key": h(&next_chain_key),
        "header": {
            "ratchet_key": h(&header.ratchet_key),
            "previous_chain_length": header.previous_chain_length,
            "counter": header.counter,
            "salt": h(&header.salt),
        },
        "conversation_id": h(&conversation),
        "franking_commitment": h(&commitment),
        "plaintext": h(&plaintext),
        "aead_key": h(&keys.0),
        "nonce": h(&keys.1),
        "key_commitment": h(&keys.2),
        "associated_data": h(&ad),
        "sealed_body": h(&r::ratchet_message_frame(&header, &ciphertext)),
    });
    json!({"bob_message": bob_message, "alice_message": alice_message})
}

/// The error spec/protocol.md §9.2 names for a version 1 ratchet message
/// (tag 6), written as the error's `Debug` form.
pub const RETIRED_RATCHET_MESSAGE: &str = "Wire(RetiredFrame { tag: 6, protocol_version: 1 })";

/// Drives the session saved by protocol version 1 through fuin-seal: it
/// loads, refuses the version 1 message it holds (and is unchanged by it),
/// opens Bob's message sealed again under version 3, and seals Alice's next
/// message to exactly the bytes `continuation_reference` computes.
pub fn check_saved_state_continuation(file: &Value) {
    let bytes = |value: &Value| hex::decode(value.as_str().unwrap()).unwrap();
    let loaded = bytes(&file["alice_session"]);
    assert_eq!(loaded[0], 1, "the pinned session is of state version 1");
    let mut session = Session::from_bytes(&loaded).unwrap();
    // Written again, it is state version 2 (§12.1), and that loads back
    // to the same bytes.
    let saved = session.to_bytes().unwrap().to_vec();
    assert_eq!(saved[0], 2, "sessions are written as state version 2");
    assert_eq!(
        Session::from_bytes(&saved)
            .unwrap()
            .to_bytes()
            .unwrap()
            .as_slice(),
        saved.as_slice()
    );
    // Made by a handshake without the KEM term, and labelled so (§6.8).
    assert!(!session.post_quantum());

    let record_bytes = bytes(&file["next_record"]);
    let version_1 = DeliveredRecord::from_bytes(&record_bytes).unwrap();
    let refused = session
        .open(&version_1, NOW + 20)
        .expect_err("a version 1 message must be refused");
    assert_eq!(format!("{refused:?}"), file["next_record_error"]);
    assert_eq!(
        session.to_bytes().unwrap().as_slice(),
        saved.as_slice(),
        "refusing the version 1 message changed the session"
    );

    let continuation = &file["protocol_version_3"];
    let expected = &continuation["expected"];
    let mut record = version_1.clone();
    record.envelope.sealed_body =
        fuin_wire::Opaque::from(bytes(&expected["bob_message"]["sealed_body"]));
    let opened = session.open(&record, NOW + 20).unwrap();
    assert_eq!(
        opened.content.body.as_bytes(),
        continuation["inputs"]["bob_message"]["body"]
            .as_str()
            .unwrap()
            .as_bytes()
    );

    let next = &continuation["inputs"]["alice_message"];
    let mut rng = ScriptedRng::replaying(draws_from_json(&continuation["inputs"]["random_draws"]));
    rng.purpose = "continuation prepare".into();
    let message = Outgoing::new(
        &mut rng,
        &address("alice"),
        UserId::new("bob").unwrap(),
        ContentType::Text,
        next["body"].as_str().unwrap().as_bytes(),
    )
    .unwrap();
    rng.purpose = "continuation seal".into();
    let sealed = session
        .seal(&mut rng, &message, next["sent_at_ms"].as_u64().unwrap())
        .unwrap();
    assert!(
        rng.finished(),
        "fuin-seal drew less randomness than the spec"
    );
    assert_eq!(
        hex::encode(sealed.envelope.sealed_body.as_bytes()),
        expected["alice_message"]["sealed_body"].as_str().unwrap(),
        "alice's first version 3 message from the loaded state"
    );
    assert_eq!(
        hex::encode(sealed.envelope.franking_commitment.0),
        expected["alice_message"]["franking_commitment"]
            .as_str()
            .unwrap()
    );
}
