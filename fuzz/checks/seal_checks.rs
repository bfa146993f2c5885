// The properties the fuin-seal fuzz targets check, shared with the unit test
// that replays their checked-in corpora.
//
// Why a file that is `include!`d rather than a module of fuin-seal: fuin-wire
// keeps its checks in a `#[doc(hidden)] pub mod fuzzing`, but these checks
// were added without touching fuin-seal's sources, and they need only its
// public API. So the one copy lives here and is compiled into each user:
//
// - the fuzz targets: `mod seal_checks { include!("../checks/seal_checks.rs"); }`
//   in fuzz/fuzz_targets/{saved_state,storage_open,session_open}.rs;
// - the replay test: crates/fuin-seal/tests/fuzz_corpus.rs includes it as
//   `../../../fuzz/checks/seal_checks.rs`.
//
// The includer must depend on fuin-seal, fuin-wire, rand_chacha and rand_core.
// `include!` accepts no inner attributes or `//!` comments, hence these `//`
// comments. The checks report a violation as `Err(description)` and leave the
// panicking to the caller; only the fixture's construction panics, because a
// session between two honest devices that cannot be set up is a bug too.

use std::sync::OnceLock;

use fuin_seal::state::{StorageKey, open_with_storage_key, seal_with_storage_key};
use fuin_seal::{DeviceIdentity, Outgoing, PrekeyStore, SealError, Session, VerifiedBundle};
use fuin_wire::{
    ContentKind, ContentType, DeliveredRecord, DeviceAddress, DeviceId, FrameBody,
    FrankingCommitment, FrankingStamp, MessageId, Opaque, PublicIdentity, RoutingEnvelope,
    StampKeyId, UserId,
};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

/// The time every fixture message is sealed and opened at.
pub const NOW_MS: u64 = 1_795_000_000_000;

// ---------------------------------------------------------------------------
// saved_state

/// Feeds `data` to the four saved-state decoders. Whatever one of them
/// accepts must serialize, that serialization must decode, and serializing
/// again must give the same bytes. Returns the names of the decoders that
/// accepted `data`.
pub fn saved_state(data: &[u8]) -> Result<Vec<&'static str>, String> {
    let mut decoded = Vec::new();
    if round_trip("Session", data, Session::from_bytes, |s: &Session| {
        s.to_bytes().map(|b| b.to_vec())
    })? {
        decoded.push("Session");
    }
    if round_trip(
        "DeviceIdentity",
        data,
        DeviceIdentity::from_bytes,
        |i: &DeviceIdentity| i.to_bytes().map(|b| b.to_vec()),
    )? {
        decoded.push("DeviceIdentity");
    }
    if round_trip(
        "PrekeyStore",
        data,
        PrekeyStore::from_bytes,
        |p: &PrekeyStore| p.to_bytes().map(|b| b.to_vec()),
    )? {
        decoded.push("PrekeyStore");
    }
    if round_trip(
        "GroupState",
        data,
        fuin_seal::group::GroupState::from_bytes,
        |g: &fuin_seal::group::GroupState| g.to_bytes().map(|b| b.to_vec()),
    )? {
        decoded.push("GroupState");
    }
    Ok(decoded)
}

/// `Ok(false)` if `decode` refuses `data`, `Ok(true)` if it accepts it and
/// the round trip holds.
fn round_trip<T>(
    what: &str,
    data: &[u8],
    decode: impl Fn(&[u8]) -> Result<T, SealError>,
    encode: impl Fn(&T) -> Result<Vec<u8>, SealError>,
) -> Result<bool, String> {
    let Ok(value) = decode(data) else {
        return Ok(false);
    };
    let first =
        encode(&value).map_err(|err| format!("{what}: a decoded state does not encode: {err}"))?;
    let again = decode(&first)
        .map_err(|err| format!("{what}: its own serialization does not decode: {err}"))?;
    let second = encode(&again)
        .map_err(|err| format!("{what}: a re-decoded state does not encode: {err}"))?;
    if first != second {
        return Err(format!(
            "{what}: serialize, decode, serialize gives different bytes ({} then {} bytes)",
            first.len(),
            second.len()
        ));
    }
    Ok(true)
}

// ---------------------------------------------------------------------------
// storage_open

/// The storage key of the `storage_open` target and its seeds.
pub const STORAGE_KEY: [u8; 32] = [0x5c; 32];
/// The context of the `storage_open` target and its seeds.
pub const STORAGE_CONTEXT: &[u8] = b"fuzz:storage_open";
/// Seeds the salt of the values the `storage_open` target seals.
pub const STORAGE_RNG_SEED: u64 = 0x5354_4f52_4147_4531;

/// Opens `data` with the fixed key and context (it must return, never
/// panic), then seals `data` with them: the result must open back to `data`,
/// and must not open under another context or with one byte changed (the
/// byte and the change are picked from `data`). Returns whether `data` itself
/// opened.
pub fn storage_open(data: &[u8]) -> Result<bool, String> {
    let key = StorageKey::from_secret_bytes(STORAGE_KEY);
    let opened = open_with_storage_key(&key, STORAGE_CONTEXT, data).is_ok();

    let mut rng = ChaCha20Rng::seed_from_u64(STORAGE_RNG_SEED);
    let sealed = seal_with_storage_key(&mut rng, &key, STORAGE_CONTEXT, data);
    match open_with_storage_key(&key, STORAGE_CONTEXT, &sealed) {
        Ok(plaintext) if plaintext.as_slice() == data => {}
        Ok(_) => return Err("a sealed value opens to other bytes".to_owned()),
        Err(err) => return Err(format!("a sealed value does not open: {err}")),
    }
    if open_with_storage_key(&key, b"fuzz:another context", &sealed).is_ok() {
        return Err("a sealed value opens under another context".to_owned());
    }
    if let [a, b, rest @ ..] = data {
        let position = usize::from(u16::from_le_bytes([*a, *b])) % sealed.len();
        let mask = rest.first().copied().filter(|m| *m != 0).unwrap_or(0x01);
        let mut tampered = sealed.clone();
        tampered[position] ^= mask;
        if open_with_storage_key(&key, STORAGE_CONTEXT, &tampered).is_ok() {
            return Err(format!(
                "a sealed value opens with byte {position} of {} xored with {mask:#04x}",
                sealed.len()
            ));
        }
    }
    Ok(opened)
}

// ---------------------------------------------------------------------------
// session_open

/// Seeds the randomness of the session fixture.
pub const SESSION_RNG_SEED: u64 = 0x6675_696e_2d66_757a;

/// Alice (alice/1) and Bob (bob/1) with established sessions, built once.
pub struct SessionFixture {
    /// alice/1.
    pub alice: DeviceAddress<'static>,
    /// Alice's public identity.
    pub alice_identity: PublicIdentity,
    /// bob/1.
    pub bob: DeviceAddress<'static>,
    /// Bob's identity.
    pub bob_identity: DeviceIdentity,
    /// Bob's prekeys as they were before he answered Alice's first message:
    /// they still hold the one-time prekey it names, so that message goes
    /// through `Session::respond` again.
    pub bob_prekeys: PrekeyStore,
    bob_prekeys_bytes: Vec<u8>,
    /// Bob's established session (he answered Alice and she read it).
    pub bob_session: Session,
    bob_session_bytes: Vec<u8>,
    /// Genuine envelopes from Alice to Bob: `[0]` her first message (a prekey
    /// message, already answered); `[1]` and `[2]` two messages sent after
    /// Bob's answer, which `bob_session` has not opened yet.
    pub genuine: [RoutingEnvelope<'static>; 3],
}

impl SessionFixture {
    /// What the relay would deliver to Bob for `envelope` from Alice.
    pub fn delivered<'a>(&self, envelope: RoutingEnvelope<'a>) -> DeliveredRecord<'a> {
        delivered(&self.alice, envelope)
    }

    /// The body of a `session_open` input: a selector byte (see
    /// [`session_open`]) then the sealed body of genuine envelope `index`, so
    /// that it opens.
    pub fn genuine_input(&self, index: usize) -> Vec<u8> {
        let envelope = &self.genuine[index];
        let kind = match envelope.content_kind {
            ContentKind::PrekeyMessage => 1,
            _ => 0,
        };
        // `index` is at most 2, so the cast cannot truncate.
        let mut input = vec![kind | ((index as u8) << 1)];
        input.extend_from_slice(envelope.sealed_body.as_bytes());
        input
    }
}

/// What the relay would deliver for `envelope` from `sender`. The relay's
/// stamp is not checked on opening, so a constant one will do.
fn delivered<'a>(
    sender: &DeviceAddress<'static>,
    envelope: RoutingEnvelope<'a>,
) -> DeliveredRecord<'a> {
    DeliveredRecord {
        envelope,
        sender: sender.clone(),
        server_time_ms: NOW_MS,
        server_message_id: MessageId([0x4d; 16]),
        franking_stamp: FrankingStamp([0x53; 32]),
        stamp_key_id: StampKeyId(1),
    }
}

fn fail(what: &'static str) -> impl Fn(SealError) -> String {
    move |err| format!("session fixture: {what}: {err}")
}

fn text(
    rng: &mut ChaCha20Rng,
    from: &DeviceAddress<'_>,
    to: &'static str,
    body: &str,
) -> Result<Outgoing, String> {
    let to = UserId::new(to).map_err(|err| err.to_string())?;
    Outgoing::new(rng, from, to, ContentType::Text, body.as_bytes()).map_err(fail("Outgoing::new"))
}

fn address(user: &'static str) -> Result<DeviceAddress<'static>, String> {
    let user = UserId::new(user).map_err(|err| err.to_string())?;
    Ok(DeviceAddress::new(user, DeviceId(1)))
}

fn build_session_fixture() -> Result<SessionFixture, String> {
    let mut rng = ChaCha20Rng::seed_from_u64(SESSION_RNG_SEED);
    let alice = address("alice")?;
    let bob = address("bob")?;
    let alice_identity = DeviceIdentity::generate(&mut rng);
    let bob_identity = DeviceIdentity::generate(&mut rng);
    let mut prekeys = PrekeyStore::new();
    prekeys.rotate_signed_prekey(&bob_identity, &mut rng);
    let mut one_time = prekeys.generate_one_time_prekeys(3, &mut rng);
    prekeys.rotate_last_resort_kem_prekey(&bob_identity, &mut rng);
    let bundle = prekeys
        .bundle(bob.clone(), &bob_identity, one_time.pop(), None)
        .ok_or("session fixture: Bob has no signed prekey")?;
    let bundle = VerifiedBundle::verify(&bundle, &bob, None).map_err(fail("verify"))?;
    let bob_prekeys = prekeys.clone();

    let mut alice_session = Session::initiate(&mut rng, &alice_identity, alice.clone(), &bundle)
        .map_err(fail("initiate"))?;
    let hello = text(&mut rng, &alice, "bob", "hello bob")?;
    let first = alice_session
        .seal(&mut rng, &hello, NOW_MS)
        .map_err(fail("seal the first message"))?
        .envelope;
    let (mut bob_session, _) = Session::respond(
        &bob_identity,
        bob.clone(),
        &mut prekeys,
        None,
        &delivered(&alice, first.clone()),
        NOW_MS,
    )
    .map_err(fail("respond"))?;
    let reply = text(&mut rng, &bob, "alice", "hi alice")?;
    let reply = bob_session
        .seal(&mut rng, &reply, NOW_MS)
        .map_err(fail("seal the reply"))?
        .envelope;
    alice_session
        .open(&delivered(&bob, reply), NOW_MS)
        .map_err(fail("open the reply"))?;
    let second = text(&mut rng, &alice, "bob", "second")?;
    let second = alice_session
        .seal(&mut rng, &second, NOW_MS)
        .map_err(fail("seal the second message"))?
        .envelope;
    let third = text(&mut rng, &alice, "bob", "third")?;
    let third = alice_session
        .seal(&mut rng, &third, NOW_MS)
        .map_err(fail("seal the third message"))?
        .envelope;
    if first.content_kind != ContentKind::PrekeyMessage
        || second.content_kind != ContentKind::Message
        || third.content_kind != ContentKind::Message
    {
        return Err("session fixture: unexpected content kinds".to_owned());
    }

    Ok(SessionFixture {
        alice,
        alice_identity: alice_identity.public().clone(),
        bob,
        bob_prekeys_bytes: bob_prekeys
            .to_bytes()
            .map_err(fail("save prekeys"))?
            .to_vec(),
        bob_prekeys,
        bob_identity,
        bob_session_bytes: bob_session
            .to_bytes()
            .map_err(fail("save session"))?
            .to_vec(),
        bob_session,
        genuine: [first, second, third],
    })
}

/// The session fixture, built on first use.
pub fn session_fixture() -> &'static SessionFixture {
    static FIXTURE: OnceLock<SessionFixture> = OnceLock::new();
    FIXTURE.get_or_init(|| build_session_fixture().unwrap_or_else(|err| panic!("{err}")))
}

/// What a `session_open` input did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SessionOutcome {
    /// Bob's established session opened it.
    pub opened: bool,
    /// `Session::respond` accepted it.
    pub responded: bool,
}

/// One `session_open` input: `selector || sealed body`.
///
/// The selector's bit 0 picks the content kind (0: `Message`, 1:
/// `PrekeyMessage`), bits 1-2 the franking commitment (that of genuine
/// envelope 0, 1 or 2, or all zeros for 3), bit 3 whether `respond` is told
/// to trust Alice's identity. The record, from alice/1 to bob/1, goes to a
/// clone of Bob's established session (`open`) and to `Session::respond` with
/// a clone of Bob's prekeys. Both must return; an error must leave the
/// session, or the prekeys, exactly as they were. Success is not a violation
/// (a genuine message opens), though the fuzzer cannot forge one.
///
/// With at least 5 bytes, `data[1] % 3` also picks a genuine envelope,
/// `data[2..4]` a byte of its encoding and `data[4]` (0 read as 1) what to
/// xor into it. If the changed bytes still decode as an envelope, it must
/// fail to open (or to `respond`, for the prekey message), change nothing,
/// and the genuine envelope must open afterwards.
pub fn session_open(data: &[u8]) -> Result<SessionOutcome, String> {
    let fixture = session_fixture();
    let Some((&selector, body)) = data.split_first() else {
        return Ok(SessionOutcome::default());
    };
    let content_kind = if selector & 1 == 0 {
        ContentKind::Message
    } else {
        ContentKind::PrekeyMessage
    };
    let franking_commitment = match usize::from((selector >> 1) & 3) {
        index @ 0..=2 => fixture.genuine[index].franking_commitment,
        _ => FrankingCommitment([0; 32]),
    };
    let trusted = (selector & 8 != 0).then_some(&fixture.alice_identity);
    let record = fixture.delivered(RoutingEnvelope {
        recipient: fixture.bob.clone(),
        content_kind,
        franking_commitment,
        sealed_body: Opaque::borrowed(body),
    });
    let outcome = SessionOutcome {
        opened: open_as_bob(fixture, &record, "the input")?,
        responded: respond_as_bob(
            fixture,
            &mut fixture.bob_prekeys.clone(),
            &record,
            trusted,
            "the input",
        )?,
    };

    if let [_, which, low, high, mask, ..] = data {
        tamper(
            fixture,
            usize::from(*which) % fixture.genuine.len(),
            u16::from_le_bytes([*low, *high]),
            if *mask == 0 { 1 } else { *mask },
        )?;
    }
    Ok(outcome)
}

/// Opens `record` with a clone of Bob's session: whether it opened, or a
/// violation if a failure changed the session.
fn open_as_bob(
    fixture: &SessionFixture,
    record: &DeliveredRecord<'_>,
    what: &str,
) -> Result<bool, String> {
    let mut session = fixture.bob_session.clone();
    match session.open(record, NOW_MS) {
        Ok(_) => Ok(true),
        Err(err) => {
            let after = session
                .to_bytes()
                .map_err(|e| format!("open of {what}: the session no longer saves: {e}"))?;
            if after.as_slice() != fixture.bob_session_bytes.as_slice() {
                return Err(format!(
                    "open of {what} failed ({err}) but changed the session"
                ));
            }
            Ok(false)
        }
    }
}

/// Passes `record` to `Session::respond` with `prekeys` (a clone of Bob's):
/// whether it succeeded, or a violation if a failure changed the prekeys.
fn respond_as_bob(
    fixture: &SessionFixture,
    prekeys: &mut PrekeyStore,
    record: &DeliveredRecord<'_>,
    trusted: Option<&PublicIdentity>,
    what: &str,
) -> Result<bool, String> {
    let result = Session::respond(
        &fixture.bob_identity,
        fixture.bob.clone(),
        prekeys,
        trusted,
        record,
        NOW_MS,
    );
    match result {
        Ok(_) => Ok(true),
        Err(err) => {
            let after = prekeys
                .to_bytes()
                .map_err(|e| format!("respond to {what}: the prekeys no longer save: {e}"))?;
            if after.as_slice() != fixture.bob_prekeys_bytes.as_slice() {
                return Err(format!(
                    "respond to {what} failed ({err}) but changed the prekeys"
                ));
            }
            Ok(false)
        }
    }
}

/// Xors `mask` into one byte of genuine envelope `which`'s encoding; see
/// [`session_open`].
fn tamper(fixture: &SessionFixture, which: usize, position: u16, mask: u8) -> Result<(), String> {
    let genuine = &fixture.genuine[which];
    let mut bytes = genuine
        .to_bytes()
        .map_err(|err| format!("genuine envelope {which} does not encode: {err}"))?;
    let position = usize::from(position) % bytes.len();
    bytes[position] ^= mask;
    let what = format!("genuine envelope {which} with byte {position} xored with {mask:#04x}");
    // Bytes that are no longer an envelope never reach the recipient.
    let Ok(tampered) = RoutingEnvelope::from_bytes(&bytes) else {
        return Ok(());
    };
    if tampered == *genuine {
        return Err(format!("{what} decodes to the genuine envelope"));
    }
    let tampered = fixture.delivered(tampered);
    let genuine_record = fixture.delivered(genuine.clone());
    if genuine.content_kind == ContentKind::PrekeyMessage {
        // Bob answered this one already: a fresh `respond` is what opens it.
        let mut prekeys = fixture.bob_prekeys.clone();
        if respond_as_bob(fixture, &mut prekeys, &tampered, None, &what)? {
            return Err(format!("{what} was accepted by respond"));
        }
        let genuine_what = "a genuine prekey message";
        if !respond_as_bob(fixture, &mut prekeys, &genuine_record, None, genuine_what)? {
            return Err(format!("genuine envelope {which} no longer responds"));
        }
    } else {
        let mut session = fixture.bob_session.clone();
        if session.open(&tampered, NOW_MS).is_ok() {
            return Err(format!("{what} opened"));
        }
        let after = session
            .to_bytes()
            .map_err(|err| format!("after {what}: the session no longer saves: {err}"))?;
        if after.as_slice() != fixture.bob_session_bytes.as_slice() {
            return Err(format!("{what} failed to open but changed the session"));
        }
        session.open(&genuine_record, NOW_MS).map_err(|err| {
            format!("after {what} failed, the genuine message does not open: {err}")
        })?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// link_code

/// Reads `data` (as UTF-8, lossily) as a link code, the text a user types
/// or a QR code carries: it must return, never panic, and a code it accepts
/// must read back the same from both of the forms it is written in. Then
/// opens `data` as a sealed link message under a fixed code: that must
/// return too. Returns whether `data` was a code.
pub fn link_code(data: &[u8]) -> Result<bool, String> {
    use fuin_seal::link::LinkCode;
    use fuin_seal::primitives::hybrid_kem::HybridSecretKey;
    let text = String::from_utf8_lossy(data);
    let parsed = match LinkCode::parse(&text) {
        Ok(code) => {
            for written in [code.digits(), code.text()] {
                match LinkCode::parse(&written) {
                    Ok(again) if again == code => {}
                    Ok(_) => return Err("a code reads back as another code".into()),
                    Err(err) => return Err(format!("a written code does not read back: {err}")),
                }
            }
            true
        }
        Err(_) => false,
    };
    let keys = LinkCode::from_parts([7; 16], [9; 8]).keys();
    if keys.open_request(data).is_ok() {
        return Err("arbitrary bytes opened as a sealed link request".into());
    }
    let grant_key = HybridSecretKey::from_parts([3; 32], [5; 64]);
    if keys.open_grant(&grant_key, data).is_ok() {
        return Err("arbitrary bytes opened as a sealed link grant".into());
    }
    Ok(parsed)
}
