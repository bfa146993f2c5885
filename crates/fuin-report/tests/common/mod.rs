//! Real messages for the report tests: devices with fuin-seal sessions, a
//! relay that stamps with the relay crate's own code, and a moderation tool
//! holding copies of the relay's stamp keys.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;

use fuin_relay::franking::StampKeys;
use fuin_report::{
    AuditLog, ModerationPublicKey, ModerationSecretKey, Moderator, ReportContent, ReportError,
    ReportedMessage, StampKeySet, VerifiedReport,
};
use fuin_seal::{DeviceIdentity, Opened, Outgoing, PrekeyStore, Session, VerifiedBundle};
use fuin_wire::relay::{InboxEntry, InboxSealedReport, ReportId};
use fuin_wire::{
    ContentType, DeliveredRecord, DeviceAddress, DeviceId, Frame, FrankingStamp, MessageId,
    StampKeyId, UserId,
};
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};

/// The time messages are sent at.
pub const SENT_AT: u64 = 1_795_000_000_000;
/// When the relay receives reports.
pub const RECEIVED_AT: u64 = SENT_AT + 3_600_000;
/// When moderation opens them.
pub const OPENED_AT: u64 = RECEIVED_AT + 60_000;

/// The relay's current stamp key (id 2) and an older one (id 1).
pub const CURRENT_KEY: (u32, [u8; 32]) = (2, [0x22; 32]);
pub const OLDER_KEY: (u32, [u8; 32]) = (1, [0x11; 32]);

pub fn address(user: &str, device: u32) -> DeviceAddress<'static> {
    DeviceAddress::new(UserId::new(user.to_owned()).unwrap(), DeviceId(device))
}

struct Device {
    identity: DeviceIdentity,
    prekeys: PrekeyStore,
}

/// Devices, their sessions, a relay and a moderation tool.
pub struct World {
    pub rng: ChaCha20Rng,
    devices: HashMap<DeviceAddress<'static>, Device>,
    /// Sessions by (local, peer).
    sessions: HashMap<(DeviceAddress<'static>, DeviceAddress<'static>), Session>,
    /// The relay's stamping code and keys.
    pub relay: StampKeys,
    pub moderation_secret: [u8; 32],
    pub moderation_key_id: u32,
    /// Moderation's stamp key set: both relay keys, none expired.
    pub older_key_not_after: Option<u64>,
    next_report: u8,
}

/// A message as the recipient's device shows it, with what a report needs.
pub struct Received {
    pub opened: Opened,
    pub record: DeliveredRecord<'static>,
}

impl Received {
    pub fn reported(&self) -> ReportedMessage<'static> {
        ReportedMessage::from_opening(
            &self.opened.franking,
            self.opened.content.message_id,
            self.opened.content.content_type,
            self.opened.content.body.as_bytes(),
        )
    }
}

impl World {
    pub fn new(seed: u64) -> Self {
        let relay = StampKeys::new(StampKeyId(CURRENT_KEY.0), CURRENT_KEY.1);
        let mut relay = relay;
        assert!(relay.add_older(StampKeyId(OLDER_KEY.0), OLDER_KEY.1));
        Self {
            rng: ChaCha20Rng::seed_from_u64(seed),
            devices: HashMap::new(),
            sessions: HashMap::new(),
            relay,
            moderation_secret: [0; 32],
            moderation_key_id: 7,
            older_key_not_after: None,
            next_report: 0,
        }
    }

    fn device(&mut self, address: &DeviceAddress<'static>) {
        if !self.devices.contains_key(address) {
            let identity = DeviceIdentity::generate(&mut self.rng);
            let mut prekeys = PrekeyStore::new();
            prekeys.rotate_signed_prekey(&identity, &mut self.rng);
            prekeys.rotate_last_resort_kem_prekey(&identity, &mut self.rng);
            self.devices
                .insert(address.clone(), Device { identity, prekeys });
        }
    }

    /// `from` sends `body` to `to` (one device to one device, in their
    /// users' one-to-one conversation); the relay stamps the delivery with
    /// its key `stamp_key_id`; `to` opens it. Returns what `to` shows.
    pub fn send_with_key(
        &mut self,
        from: &DeviceAddress<'static>,
        to: &DeviceAddress<'static>,
        body: &[u8],
        stamp_key_id: u32,
    ) -> Received {
        self.device(from);
        self.device(to);
        let key = (from.clone(), to.clone());
        if !self.sessions.contains_key(&key) {
            let recipient = self.devices.get_mut(to).unwrap();
            let one_time = recipient
                .prekeys
                .generate_one_time_prekeys(1, &mut self.rng)
                .pop();
            let bundle = recipient
                .prekeys
                .bundle(to.clone(), &recipient.identity, one_time, None)
                .unwrap();
            let bundle = VerifiedBundle::verify(&bundle, to, None).unwrap();
            let sender = &self.devices[from];
            let session =
                Session::initiate(&mut self.rng, &sender.identity, from.clone(), &bundle).unwrap();
            self.sessions.insert(key.clone(), session);
        }
        let outgoing = Outgoing::new(
            &mut self.rng,
            from,
            to.user.clone(),
            ContentType::Text,
            body,
        )
        .unwrap();
        let sealed = self
            .sessions
            .get_mut(&key)
            .unwrap()
            .seal(&mut self.rng, &outgoing, SENT_AT)
            .unwrap();
        let mut server_id = [0u8; 16];
        self.rng.fill_bytes(&mut server_id);
        let mut record = DeliveredRecord {
            envelope: sealed.envelope,
            sender: from.clone(),
            server_time_ms: SENT_AT + 5,
            server_message_id: MessageId(server_id),
            franking_stamp: FrankingStamp([0; 32]),
            stamp_key_id: StampKeyId(stamp_key_id),
        };
        // The relay's own stamping code, with the chosen key.
        let mut keys = StampKeys::new(
            StampKeyId(stamp_key_id),
            if stamp_key_id == OLDER_KEY.0 {
                OLDER_KEY.1
            } else {
                CURRENT_KEY.1
            },
        );
        keys.add_older(StampKeyId(CURRENT_KEY.0), CURRENT_KEY.1);
        keys.stamp(&mut record);
        assert_eq!(record.stamp_key_id, StampKeyId(stamp_key_id));
        assert!(self.relay.verify(&record));
        let back = (to.clone(), from.clone());
        let opened = match self.sessions.get_mut(&back) {
            Some(session) => session.open(&record, SENT_AT + 10).unwrap(),
            None => {
                let recipient = self.devices.get_mut(to).unwrap();
                let (session, opened) = Session::respond(
                    &recipient.identity,
                    to.clone(),
                    &mut recipient.prekeys,
                    None,
                    &record,
                    SENT_AT + 10,
                )
                .unwrap();
                self.sessions.insert(back, session);
                opened
            }
        };
        Received { opened, record }
    }

    /// [`World::send_with_key`] with the relay's current key.
    pub fn send(
        &mut self,
        from: &DeviceAddress<'static>,
        to: &DeviceAddress<'static>,
        body: &[u8],
    ) -> Received {
        self.send_with_key(from, to, body, CURRENT_KEY.0)
    }

    pub fn moderation_secret_key(&self) -> ModerationSecretKey {
        let mut bytes = b"FUINMSK2".to_vec();
        bytes.extend_from_slice(&self.moderation_key_id.to_be_bytes());
        bytes.extend_from_slice(&[0x4d; 32]);
        bytes.extend_from_slice(&[0x6b; 64]);
        ModerationSecretKey::from_bytes(&bytes).unwrap()
    }

    pub fn moderation_key(&self) -> ModerationPublicKey {
        self.moderation_secret_key().public_key().unwrap()
    }

    pub fn stamp_keys(&self) -> StampKeySet {
        let mut set = StampKeySet::new();
        set.insert(StampKeyId(CURRENT_KEY.0), &CURRENT_KEY.1, None)
            .unwrap();
        set.insert(
            StampKeyId(OLDER_KEY.0),
            &OLDER_KEY.1,
            self.older_key_not_after,
        )
        .unwrap();
        set
    }

    pub fn moderator(&self) -> Moderator {
        Moderator::new(self.moderation_secret_key(), self.stamp_keys())
    }

    /// A report content by `reporter` about its conversation with `peer`.
    pub fn content(
        &self,
        reporter: &DeviceAddress<'static>,
        peer: &str,
        messages: Vec<ReportedMessage<'static>>,
    ) -> ReportContent<'static> {
        ReportContent {
            reporter: reporter.clone(),
            reporter_identity: self
                .devices
                .get(reporter)
                .map_or_else(fuin_report::fuzzing::identity, |device| {
                    device.identity.public().clone()
                }),
            peer: UserId::new(peer.to_owned()).unwrap(),
            reason: "abuse".into(),
            created_at_ms: RECEIVED_AT - 1_000,
            messages,
        }
    }

    /// Seals `content` (by hand, as any reporter could) to moderation's key.
    pub fn seal(&mut self, content: &ReportContent<'_>) -> Vec<u8> {
        let key = self.moderation_key();
        fuin_report::sealing::seal_content(&mut self.rng, &key, content).unwrap()
    }

    /// What the relay's inbox hands moderation for a sealed report frame
    /// (a `HybridSealedReport`, or a `SealedReport` stored before protocol
    /// version 3) submitted by `submitter`.
    pub fn inbox(
        &mut self,
        submitter: &DeviceAddress<'static>,
        frame: &[u8],
    ) -> InboxEntry<'static> {
        self.next_report += 1;
        let report = match Frame::decode(frame).unwrap().into_owned() {
            Frame::HybridSealedReport(report) => InboxSealedReport::Hybrid(report),
            Frame::SealedReport(report) => InboxSealedReport::X25519Only(report),
            other => panic!("not a sealed report: {:?}", other.kind()),
        };
        InboxEntry {
            report_id: ReportId([self.next_report; 16]),
            reporter: submitter.clone(),
            received_at_ms: RECEIVED_AT,
            report,
        }
    }

    /// Seals `content`, submits it as `submitter` and opens it with a fresh
    /// moderator and audit log.
    pub fn open_as(
        &mut self,
        submitter: &DeviceAddress<'static>,
        content: &ReportContent<'_>,
    ) -> Result<VerifiedReport, ReportError> {
        let frame = self.seal(content);
        let inbox = self.inbox(submitter, &frame);
        let mut audit = AuditLog::in_memory();
        self.moderator()
            .open(&mut audit, "moderator", &inbox, OPENED_AT)
    }
}
