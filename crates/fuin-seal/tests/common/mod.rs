//! Devices and a stand-in relay for the session tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use fuin_seal::primitives::franking::hmac_sha256;
use fuin_seal::{DeviceIdentity, Outgoing, PrekeyStore, Session, VerifiedBundle};
use fuin_wire::{
    ContentType, DeliveredRecord, DeviceAddress, DeviceId, FrankingStamp, MessageId,
    RoutingEnvelope, StampKeyId, UserId,
};
pub use rand_chacha::ChaCha20Rng;
pub use rand_core::SeedableRng;

pub const NOW: u64 = 1_795_000_000_000;

pub fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

pub fn address(user: &str, device: u32) -> DeviceAddress<'static> {
    DeviceAddress::new(UserId::new(user.to_owned()).unwrap(), DeviceId(device))
}

/// A device with its identity and prekeys.
pub struct Device {
    pub address: DeviceAddress<'static>,
    pub identity: DeviceIdentity,
    pub prekeys: PrekeyStore,
}

impl Device {
    pub fn new(rng: &mut ChaCha20Rng, user: &str, device: u32) -> Self {
        let identity = DeviceIdentity::generate(rng);
        let mut prekeys = PrekeyStore::new();
        prekeys.rotate_signed_prekey(&identity, rng);
        prekeys.rotate_last_resort_kem_prekey(&identity, rng);
        prekeys.generate_one_time_prekeys(5, rng);
        Self {
            address: address(user, device),
            identity,
            prekeys,
        }
    }

    /// The bundle the relay would hand out, with the first unused one-time
    /// prekey if `with_one_time` (regenerated on demand for the test).
    pub fn bundle(
        &mut self,
        rng: &mut ChaCha20Rng,
        with_one_time: bool,
    ) -> fuin_wire::PrekeyBundle<'static> {
        let one_time =
            with_one_time.then(|| self.prekeys.generate_one_time_prekeys(1, rng).remove(0));
        self.prekeys
            .bundle(self.address.clone(), &self.identity, one_time, None)
            .unwrap()
    }

    pub fn verified_bundle(
        &mut self,
        rng: &mut ChaCha20Rng,
        with_one_time: bool,
    ) -> VerifiedBundle {
        let bundle = self.bundle(rng, with_one_time);
        VerifiedBundle::verify(&bundle, &self.address, None).unwrap()
    }

    /// Completes the handshake `record` starts, with this device's prekeys.
    pub fn respond(
        &mut self,
        trusted: Option<&fuin_wire::PublicIdentity>,
        record: &DeliveredRecord<'_>,
    ) -> Result<(Session, fuin_seal::Opened), fuin_seal::SealError> {
        Session::respond(
            &self.identity,
            self.address.clone(),
            &mut self.prekeys,
            trusted,
            record,
            NOW,
        )
    }

    /// Starts a session with `peer` from a freshly fetched bundle and seals
    /// a first text to it, which the relay stamps.
    pub fn start_session(
        &self,
        rng: &mut ChaCha20Rng,
        relay: &mut Relay,
        peer: &mut Device,
        with_one_time: bool,
        body: &str,
    ) -> (Session, DeliveredRecord<'static>) {
        let bundle = peer.verified_bundle(rng, with_one_time);
        let mut session =
            Session::initiate(rng, &self.identity, self.address.clone(), &bundle).unwrap();
        let peer_user = peer.address.user.as_str().to_owned();
        let sealed = seal_text(rng, &mut session, self, &peer_user, body).unwrap();
        (session, relay.deliver(&self.address, sealed.envelope))
    }

    pub fn text(&self, rng: &mut ChaCha20Rng, to_user: &str, body: &str) -> Outgoing {
        Outgoing::new(
            rng,
            &self.address,
            UserId::new(to_user.to_owned()).unwrap(),
            ContentType::Text,
            body.as_bytes(),
        )
        .unwrap()
    }
}

/// The relay's part: stamp an envelope from an authenticated sender.
pub struct Relay {
    key: [u8; 32],
    next_id: u64,
}

impl Relay {
    pub fn new() -> Self {
        Self {
            key: [0x5a; 32],
            next_id: 0,
        }
    }

    pub fn deliver(
        &mut self,
        sender: &DeviceAddress<'static>,
        envelope: RoutingEnvelope<'static>,
    ) -> DeliveredRecord<'static> {
        self.next_id += 1;
        let mut id = [0u8; 16];
        id[..8].copy_from_slice(&self.next_id.to_be_bytes());
        let mut record = DeliveredRecord {
            envelope,
            sender: sender.clone(),
            server_time_ms: NOW + self.next_id,
            server_message_id: MessageId(id),
            franking_stamp: FrankingStamp([0; 32]),
            stamp_key_id: StampKeyId(1),
        };
        record.franking_stamp = FrankingStamp(hmac_sha256(&self.key, &[&record.stamp_input()]));
        record
    }
}

/// Alice and Bob with a session each way: Alice initiated, Bob responded to
/// her first message and answered, so both are established.
pub struct Pair {
    pub rng: ChaCha20Rng,
    pub relay: Relay,
    pub alice: Device,
    pub bob: Device,
    pub alice_session: Session,
    pub bob_session: Session,
}

impl Pair {
    pub fn new(seed: u64) -> Self {
        let mut rng = rng(seed);
        let mut relay = Relay::new();
        let alice = Device::new(&mut rng, "alice", 1);
        let mut bob = Device::new(&mut rng, "bob", 1);
        let (mut alice_session, record) =
            alice.start_session(&mut rng, &mut relay, &mut bob, true, "hello bob");
        let (mut bob_session, opened) = bob.respond(None, &record).unwrap();
        assert_eq!(opened.content.body.as_bytes(), b"hello bob");
        let reply = bob.text(&mut rng, "alice", "hi alice");
        let sealed = bob_session.seal(&mut rng, &reply, NOW).unwrap();
        let record = relay.deliver(&bob.address, sealed.envelope);
        let opened = alice_session.open(&record, NOW).unwrap();
        assert_eq!(opened.content.body.as_bytes(), b"hi alice");
        Self {
            rng,
            relay,
            alice,
            bob,
            alice_session,
            bob_session,
        }
    }

    /// Alice seals `body` to Bob; the relay stamps it.
    pub fn alice_sends(&mut self, body: &str) -> DeliveredRecord<'static> {
        let message = self.alice.text(&mut self.rng, "bob", body);
        let sealed = self
            .alice_session
            .seal(&mut self.rng, &message, NOW)
            .unwrap();
        self.relay.deliver(&self.alice.address, sealed.envelope)
    }

    /// Bob seals `body` to Alice; the relay stamps it.
    pub fn bob_sends(&mut self, body: &str) -> DeliveredRecord<'static> {
        let message = self.bob.text(&mut self.rng, "alice", body);
        let sealed = self.bob_session.seal(&mut self.rng, &message, NOW).unwrap();
        self.relay.deliver(&self.bob.address, sealed.envelope)
    }
}

/// Seals a text from `device` with `session`.
pub fn seal_text(
    rng: &mut ChaCha20Rng,
    session: &mut Session,
    device: &Device,
    to_user: &str,
    body: &str,
) -> Result<fuin_seal::Sealed, fuin_seal::SealError> {
    let message = device.text(rng, to_user, body);
    session.seal(rng, &message, NOW)
}

pub fn body(opened: &fuin_seal::Opened) -> String {
    String::from_utf8(opened.content.body.as_bytes().to_vec()).unwrap()
}
