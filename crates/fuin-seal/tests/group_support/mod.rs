//! Member devices and a stand-in relay for the group tests. The 1:1 sessions
//! that carry sender keys and welcomes are stood in for by handing each
//! frame to its recipient together with the sender's address and identity,
//! which is what a session authenticates (`tests/group.rs` also sends them
//! through real sessions).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use fuin_seal::DeviceIdentity;
use fuin_seal::group::{ChangeRequest, ChangeSent, ControlApplied, GroupOpened, GroupState};
use fuin_seal::primitives::franking::hmac_sha256;
use fuin_wire::{
    ContentType, DeliveredRecord, DeviceAddress, DeviceId, FrankingStamp, GroupMember,
    GroupWelcome, MessageId, RoutingEnvelope, SenderKeyDistribution, StampKeyId, UserId,
};
pub use rand_chacha::ChaCha20Rng;
pub use rand_core::SeedableRng;

pub const NOW: u64 = 1_795_000_000_000;

pub fn address(user: &str, device: u32) -> DeviceAddress<'static> {
    DeviceAddress::new(UserId::new(user.to_owned()).unwrap(), DeviceId(device))
}

/// The relay's part: stamp an envelope from an authenticated sender.
pub struct Relay {
    key: [u8; 32],
    next_id: u64,
}

impl Default for Relay {
    fn default() -> Self {
        Self {
            key: [0x5a; 32],
            next_id: 0,
        }
    }
}

impl Relay {
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

/// One device: its identity, and its group state once it is in the group.
pub struct Device {
    pub address: DeviceAddress<'static>,
    pub identity: DeviceIdentity,
    pub state: Option<GroupState>,
}

impl Device {
    pub fn new(rng: &mut ChaCha20Rng, user: &str) -> Self {
        Self {
            address: address(user, 1),
            identity: DeviceIdentity::generate(rng),
            state: None,
        }
    }

    pub fn member(&self) -> GroupMember<'static> {
        GroupMember {
            address: self.address.clone(),
            identity: self.identity.public().clone(),
        }
    }

    pub fn state(&mut self) -> &mut GroupState {
        self.state.as_mut().expect("the device is in the group")
    }
}

/// A group of devices named `u0`, `u1`, ... and a relay.
pub struct World {
    pub rng: ChaCha20Rng,
    pub relay: Relay,
    pub devices: Vec<Device>,
}

impl World {
    /// `total` devices; the first `members` of them form a group created by
    /// `u0`, with every welcome and distribution delivered.
    pub fn new(seed: u64, total: usize, members: usize) -> Self {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let devices = (0..total)
            .map(|i| Device::new(&mut rng, &format!("u{i}")))
            .collect();
        let mut world = Self {
            rng,
            relay: Relay::default(),
            devices,
        };
        let others = (1..members).map(|i| world.devices[i].member()).collect();
        let (state, created) = GroupState::create(
            &mut world.rng,
            world.devices[0].address.clone(),
            world.devices[0].identity.public().clone(),
            others,
        )
        .unwrap();
        world.devices[0].state = Some(state);
        let mut distributions = vec![(0, created.distribution)];
        for joiner in 1..members {
            distributions.push((joiner, world.join(joiner, 0, &created.welcome)));
        }
        for (from, distribution) in distributions {
            world.distribute(from, &distribution);
        }
        world
    }

    /// `joiner` joins from `inviter`'s welcome; returns its distribution.
    pub fn join(
        &mut self,
        joiner: usize,
        inviter: usize,
        welcome: &[GroupWelcome<'static>],
    ) -> SenderKeyDistribution<'static> {
        let inviter_address = self.devices[inviter].address.clone();
        let inviter_identity = self.devices[inviter].identity.public().clone();
        let device = &mut self.devices[joiner];
        let (state, distribution) = GroupState::join(
            &mut self.rng,
            device.address.clone(),
            device.identity.public().clone(),
            (&inviter_address, &inviter_identity),
            welcome,
        )
        .unwrap();
        device.state = Some(state);
        distribution
    }

    pub fn index_of(&self, address: &DeviceAddress<'_>) -> usize {
        self.devices
            .iter()
            .position(|device| device.address == *address)
            .unwrap()
    }

    /// Hands `from`'s distribution to every other member of its epoch, as
    /// `from`'s 1:1 sessions would.
    pub fn distribute(&mut self, from: usize, distribution: &SenderKeyDistribution<'_>) {
        let sender = self.devices[from].address.clone();
        let identity = self.devices[from].identity.public().clone();
        let targets: Vec<usize> = (0..self.devices.len())
            .filter(|&i| i != from)
            .filter(|&i| {
                self.devices[i].state.as_ref().is_some_and(|state| {
                    state.epoch() == distribution.epoch
                        && state.membership().contains(&self.devices[i].address)
                })
            })
            .collect();
        for target in targets {
            self.devices[target]
                .state()
                .receive_distribution((&sender, &identity), distribution)
                .unwrap();
        }
    }

    /// `from` seals `body`; the relay stamps one copy for each of `to`.
    pub fn send_to(
        &mut self,
        from: usize,
        body: &str,
        to: &[usize],
    ) -> Vec<DeliveredRecord<'static>> {
        let sealed = self.devices[from]
            .state()
            .seal(&mut self.rng, ContentType::Text, body.as_bytes(), NOW)
            .unwrap();
        let sender = self.devices[from].address.clone();
        to.iter()
            .map(|&i| {
                let envelope = sealed.envelope_for(&self.devices[i].address);
                self.relay.deliver(&sender, envelope)
            })
            .collect()
    }

    /// `from` seals `body` for every current member; one record each, by
    /// device index.
    pub fn send(&mut self, from: usize, body: &str) -> Vec<(usize, DeliveredRecord<'static>)> {
        let recipients: Vec<usize> = self.devices[from]
            .state()
            .recipients()
            .cloned()
            .collect::<Vec<_>>()
            .iter()
            .map(|address| self.index_of(address))
            .collect();
        let records = self.send_to(from, body, &recipients);
        recipients.into_iter().zip(records).collect()
    }

    pub fn open(
        &mut self,
        to: usize,
        record: &DeliveredRecord<'_>,
    ) -> Result<GroupOpened, fuin_seal::SealError> {
        self.devices[to].state().open(record, NOW)
    }

    /// `actor` makes a change; the control message reaches every other
    /// member of the old epoch, who apply it; welcomes reach the joiners;
    /// every distribution of the new epoch is delivered.
    pub fn change(&mut self, actor: usize, request: ChangeRequest) -> ChangeSent {
        let sent = self.devices[actor]
            .state()
            .change(&mut self.rng, request, NOW)
            .unwrap();
        let sender = self.devices[actor].address.clone();
        let mut distributions = Vec::new();
        if let Some(distribution) = &sent.distribution {
            distributions.push((actor, distribution.clone()));
        }
        for recipient in sent.recipients.clone() {
            let index = self.index_of(&recipient);
            let record = self
                .relay
                .deliver(&sender, sent.message.envelope_for(&recipient));
            let applied = self.apply(index, &record);
            if let Some(distribution) = applied.distribution {
                distributions.push((index, distribution));
            }
        }
        for joiner in sent.joiners.clone() {
            let index = self.index_of(&joiner);
            distributions.push((index, self.join(index, actor, &sent.welcome)));
        }
        for (from, distribution) in distributions {
            self.distribute(from, &distribution);
        }
        sent
    }

    /// `to` opens a control message and applies it.
    pub fn apply(&mut self, to: usize, record: &DeliveredRecord<'_>) -> ControlApplied {
        let opened = self.open(to, record).unwrap();
        let control = opened.control().unwrap().unwrap().into_owned();
        self.devices[to]
            .state()
            .apply_control(&mut self.rng, &control, NOW)
            .unwrap()
    }
}

pub fn text(opened: &GroupOpened) -> String {
    String::from_utf8(opened.content.body.as_bytes().to_vec()).unwrap()
}
