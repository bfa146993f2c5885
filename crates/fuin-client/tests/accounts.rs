//! Accounts and linked devices under attack (`spec/accounts.md`): a relay
//! that adds a ghost device to a user's list, rolls a list back, substitutes
//! an account key, or delivers for a removed device; a stranger who
//! registers a free device number; wrong, reused and expired link codes.
//! Each test performs the attack against a real relay on loopback, playing
//! the lying relay by editing its database, and shows it fails.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{Devices, NO_WAIT, TestRelay, drain};
use fuin_client::{Client, ClientError, ClientOptions, Event};
use fuin_relay::store::{NewDelivery, Store};
use fuin_seal::DeviceIdentity;
use fuin_seal::link::LinkCode;
use fuin_seal::primitives::hybrid_kem::HybridSecretKey;
use fuin_wire::account::{AccountDevice, DeviceName, LinkMessage, LinkRequest, SignedDeviceList};
use fuin_wire::{DeliveredRecord, DeviceId, FrameBody, MessageId};

fn relay_db(relay: &TestRelay) -> rusqlite::Connection {
    let db = rusqlite::Connection::open(relay.database()).unwrap();
    db.busy_timeout(Duration::from_secs(5)).unwrap();
    db
}

/// The list the relay serves for `user`, as stored.
fn served_list(relay: &TestRelay, user: &str) -> Vec<u8> {
    relay_db(relay)
        .query_row("SELECT list FROM accounts WHERE user = ?1", [user], |row| {
            row.get(0)
        })
        .unwrap()
}

/// The relay replaces the list it serves for `user`.
fn serve_list(relay: &TestRelay, user: &str, list: &[u8]) {
    let version = SignedDeviceList::from_bytes(list).unwrap().content.version;
    relay_db(relay)
        .execute(
            "UPDATE accounts SET list = ?2, version = ?3 WHERE user = ?1",
            rusqlite::params![user, list, i64::try_from(version).unwrap()],
        )
        .unwrap();
}

/// The relay registers a device of its own as `user/device` (as if a
/// stranger's registration had been accepted) and lists it in the list it
/// serves, keeping the account key's signature over the old content.
fn add_ghost(relay: &TestRelay, user: &str, device: u32) -> DeviceIdentity {
    let ghost = DeviceIdentity::generate(&mut rand::rng());
    let mut list = SignedDeviceList::from_bytes(&served_list(relay, user))
        .unwrap()
        .into_owned();
    let mut devices = list.content.devices.into_vec();
    devices.push(AccountDevice {
        device: DeviceId(device),
        identity: ghost.public().clone(),
        name: DeviceName::new("ghost").unwrap(),
        added_at_ms: 1,
    });
    list.content.devices = devices.into();
    serve_list(relay, user, &list.to_bytes().unwrap());
    let identity = identity_row(ghost.public());
    // The relay writes its row whole, with the checksum it keeps beside it.
    let checksum =
        fuin_relay::store::integrity::device_checksum(user, i64::from(device), &identity);
    relay_db(relay)
        .execute(
            "INSERT INTO devices (user, device, identity, registered_at, checksum) \
             VALUES (?1, ?2, ?3, 0, ?4)",
            rusqlite::params![user, i64::from(device), identity, checksum.as_slice()],
        )
        .unwrap();
    ghost
}

/// How many envelopes wait at the relay for `user/device`.
fn waiting_for(relay: &TestRelay, user: &str, device: u32) -> i64 {
    relay_db(relay)
        .query_row(
            "SELECT count(*) FROM mailbox WHERE user = ?1 AND device = ?2",
            rusqlite::params![user, i64::from(device)],
            |row| row.get(0),
        )
        .unwrap()
}

fn rejected_lists(events: &[Event], of: &str) -> usize {
    events
        .iter()
        .filter(|event| matches!(event, Event::DeviceListRejected { user, .. } if user == of))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ghost_device_the_relay_lists_for_a_contact_is_sealed_nothing() {
    let relay = TestRelay::start().await;
    let devices = Devices::new();
    let alice = devices.create(&relay, "alice", 1).await;
    let bob = devices.create(&relay, "bob", 1).await;
    alice.send_text("bob", "hello").await.unwrap();
    bob.sync(NO_WAIT).await.unwrap();

    add_ghost(&relay, "bob", 3);
    let mut events = alice.events();
    alice.send_text("bob", "for bob only").await.unwrap();
    assert_eq!(waiting_for(&relay, "bob", 3), 0, "the ghost got a copy");
    assert_eq!(waiting_for(&relay, "bob", 1), 1);
    let seen = drain(&mut events);
    assert_eq!(rejected_lists(&seen, "bob"), 1, "{seen:?}");
    bob.sync(NO_WAIT).await.unwrap();
    assert_eq!(last_text(&bob, "alice").await, "for bob only");
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ghost_device_the_relay_lists_for_the_sender_is_sealed_nothing() {
    let relay = TestRelay::start().await;
    let devices = Devices::new();
    let alice = devices.create(&relay, "alice", 1).await;
    let _bob = devices.create(&relay, "bob", 1).await;
    alice.send_text("bob", "hello").await.unwrap();

    add_ghost(&relay, "alice", 2);
    let mut events = alice.events();
    alice.send_text("bob", "not for a ghost").await.unwrap();
    assert_eq!(waiting_for(&relay, "alice", 2), 0, "the ghost got a copy");
    let seen = drain(&mut events);
    assert_eq!(rejected_lists(&seen, "alice"), 1, "{seen:?}");
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stranger_cannot_register_a_free_device_number_of_a_user() {
    let relay = TestRelay::start().await;
    let devices = Devices::new();
    let alice = devices.create(&relay, "alice", 1).await;
    let bob = devices.create(&relay, "bob", 1).await;

    // The stranger's new device for bob: the relay has an account for bob.
    let stranger = Devices::new();
    let err = Client::create(
        stranger.path("bob", 3),
        &relay.url,
        "bob",
        3,
        ClientOptions::default(),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&err, ClientError::Relay { status: 409, code, .. } if code == "account_exists"),
        "{err:?}"
    );
    // The old registration endpoint refuses it too.
    let ghost = DeviceIdentity::generate(&mut rand::rng());
    let registration = fuin_wire::relay::DeviceRegistration {
        address: fuin_wire::DeviceAddress::new(fuin_wire::UserId::new("bob").unwrap(), DeviceId(3)),
        identity: ghost.public().clone(),
    };
    let answer = reqwest::Client::new()
        .post(format!("{}/v1/devices", relay.url))
        .body(registration.to_bytes().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 403);

    // Even a relay that accepted the stranger's device gets it nothing: a
    // contact who knows bob's list seals to bob/1 only, and a first contact
    // refuses the list outright.
    alice.send_text("bob", "first").await.unwrap();
    add_ghost(&relay, "bob", 3);
    alice.send_text("bob", "hi").await.unwrap();
    let carol = devices.create(&relay, "carol", 1).await;
    let err = carol.send_text("bob", "hello?").await.unwrap_err();
    assert!(matches!(err, ClientError::RelayMisbehaved(_)), "{err:?}");
    assert_eq!(waiting_for(&relay, "bob", 3), 0);
    bob.sync(NO_WAIT).await.unwrap();
    assert_eq!(bob.history("alice", 10).await.unwrap().len(), 2);
    assert!(bob.history("carol", 10).await.unwrap().is_empty());
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_older_device_list_with_a_removed_device_is_refused() {
    let relay = TestRelay::start().await;
    let devices = Devices::new();
    let alice = devices.create(&relay, "alice", 1).await;
    let bob = devices.create(&relay, "bob", 1).await;
    let laptop = devices.link(&relay, &bob, "bob", 2, "laptop").await;
    assert_eq!(laptop.address().device, DeviceId(2));
    let with_laptop = served_list(&relay, "bob");
    alice.send_text("bob", "to both").await.unwrap();
    bob.remove_device(2).await.unwrap();
    alice.send_text("bob", "to the phone").await.unwrap();

    // The relay serves the list that still names the laptop, and lets the
    // laptop's device row back in.
    serve_list(&relay, "bob", &with_laptop);
    let old = SignedDeviceList::from_bytes(&with_laptop).unwrap();
    let identity = &old.content.device(DeviceId(2)).unwrap().identity;
    let bytes = identity_row(identity);
    relay_db(&relay)
        .execute(
            "INSERT OR REPLACE INTO devices (user, device, identity, registered_at)
             VALUES ('bob', 2, ?1, 0)",
            [bytes],
        )
        .unwrap();
    let mut events = alice.events();
    alice.send_text("bob", "rolled back?").await.unwrap();
    let seen = drain(&mut events);
    assert!(
        seen.iter().any(|event| matches!(event,
            Event::DeviceListRejected { user, reason } if user == "bob" && reason.contains("older"))),
        "{seen:?}"
    );
    assert_eq!(waiting_for(&relay, "bob", 2), 0);
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_device_gets_nothing_new_and_what_it_sent_is_refused() {
    let relay = TestRelay::start().await;
    let devices = Devices::new();
    let alice = devices.create(&relay, "alice", 1).await;
    let bob = devices.create(&relay, "bob", 1).await;
    let laptop = devices.link(&relay, &bob, "bob", 2, "laptop").await;
    alice.send_text("bob", "hello both").await.unwrap();
    laptop.sync(NO_WAIT).await.unwrap();
    assert_eq!(laptop.history("alice", 10).await.unwrap().len(), 1);

    // The laptop writes to alice; the relay keeps the delivery back.
    laptop.send_text("alice", "from the laptop").await.unwrap();
    let db = relay_db(&relay);
    let held: Vec<u8> = db
        .query_row(
            "SELECT record FROM mailbox WHERE user = 'alice' AND device = 1",
            [],
            |row| row.get(0),
        )
        .unwrap();
    db.execute("DELETE FROM mailbox WHERE user = 'alice'", [])
        .unwrap();

    let mut events = alice.events();
    bob.remove_device(2).await.unwrap();
    // The laptop is out: it can neither send nor fetch.
    assert!(laptop.send_text("alice", "still here").await.is_err());
    assert!(laptop.sync(NO_WAIT).await.is_err());
    alice.send_text("bob", "after the removal").await.unwrap();
    assert_eq!(waiting_for(&relay, "bob", 2), 0);
    let seen = drain(&mut events);
    assert!(
        seen.iter().any(|event| matches!(event,
            Event::DevicesChanged { user, removed, .. } if user == "bob" && removed.len() == 1)),
        "{seen:?}"
    );

    // A relay that delivers what the removed device sent: refused.
    let mut record = DeliveredRecord::from_bytes(&held).unwrap().into_owned();
    let id = MessageId(rand::random());
    record.server_message_id = id;
    relay
        .relay
        .store()
        .deliver(vec![NewDelivery {
            message_id: id,
            recipient: record.envelope.recipient.clone(),
            record: record.to_bytes().unwrap(),
            expires_at_ms: u64::MAX / 2,
        }])
        .await
        .unwrap();
    let report = alice.sync(NO_WAIT).await.unwrap();
    assert_eq!((report.messages, report.dropped), (0, 1));
    assert!(drain(&mut events).iter().any(|event| matches!(event,
            Event::MessageDropped { from, reason } if from.device == DeviceId(2)
                && reason.contains("device list"))),);
    assert!(
        alice
            .history("bob", 10)
            .await
            .unwrap()
            .iter()
            .all(|message| message.text != "from the laptop")
    );
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_substituted_account_key_blocks_sending_and_shows_the_new_number() {
    let relay = TestRelay::start().await;
    let devices = Devices::new();
    let alice = devices.create(&relay, "alice", 1).await;
    let bob = devices.create(&relay, "bob", 1).await;
    let carol = devices.create(&relay, "carol", 1).await;
    alice.send_text("bob", "before").await.unwrap();
    bob.sync(NO_WAIT).await.unwrap();
    let before = alice.safety_number("bob").await.unwrap();
    assert_eq!(before.pending, None);
    assert_eq!(before, bob.safety_number("alice").await.unwrap());

    // The relay forgets bob's account; someone else registers "bob".
    let db = relay_db(&relay);
    db.pragma_update(None, "foreign_keys", "ON").unwrap();
    db.execute("DELETE FROM accounts WHERE user = 'bob'", [])
        .unwrap();
    db.execute("DELETE FROM devices WHERE user = 'bob'", [])
        .unwrap();
    let elsewhere = Devices::new();
    let mallory = elsewhere.create(&relay, "bob", 1).await;

    let mut events = alice.events();
    let err = alice.send_text("bob", "to whom?").await.unwrap_err();
    assert_eq!(err, ClientError::IdentityChanged { user: "bob".into() });
    assert!(
        drain(&mut events)
            .iter()
            .any(|event| matches!(event, Event::IdentityChanged { user } if user == "bob"))
    );
    assert_eq!(
        alice
            .pending_identity_changes()
            .await
            .unwrap()
            .iter()
            .map(|user| user.as_str().to_owned())
            .collect::<Vec<_>>(),
        vec!["bob".to_owned()]
    );
    // While it waits, the number to compare is the new one, beside the old.
    let shown = alice.safety_number("bob").await.unwrap();
    assert_eq!(shown.number, before.number);
    let new_number = shown.pending.clone().unwrap();
    assert_ne!(new_number, before.number);
    assert_eq!(
        new_number,
        mallory.safety_number("alice").await.unwrap().number
    );
    // Nothing was sealed to the new key's device.
    assert_eq!(waiting_for(&relay, "bob", 1), 0);

    // A first contact is shown the served key's number.
    assert_eq!(
        carol.safety_number("bob").await.unwrap().number,
        mallory.safety_number("carol").await.unwrap().number
    );

    // What the new key's device sends is held until accepted.
    mallory
        .send_text("alice", "it is me, really")
        .await
        .unwrap();
    let report = alice.sync(NO_WAIT).await.unwrap();
    assert_eq!((report.messages, report.held), (0, 1));
    assert_eq!(alice.accept_identity_change("bob").await.unwrap(), 1);
    let history = alice.history("bob", 10).await.unwrap();
    assert_eq!(history.last().unwrap().text, "it is me, really");
    assert_eq!(alice.safety_number("bob").await.unwrap().number, new_number);
    alice.send_text("bob", "welcome back").await.unwrap();
    mallory.sync(NO_WAIT).await.unwrap();
    assert_eq!(last_text(&mallory, "alice").await, "welcome back");
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_reused_and_expired_link_codes_fail_with_a_clear_error() {
    let relay = TestRelay::start().await;
    let devices = Devices::new();
    let bob = devices.create(&relay, "bob", 1).await;

    // A mistyped code names another rendezvous: nobody waits there.
    let pending = Client::begin_link(
        devices.path("bob", 2),
        &relay.url,
        Some("bob"),
        "laptop",
        ClientOptions::default(),
    )
    .await
    .unwrap();
    let code = pending.code_digits().to_string();
    let mut groups: Vec<String> = code.split(' ').map(str::to_owned).collect();
    groups[0] = format!("{:05}", (groups[0].parse::<u32>().unwrap() + 1) % 65536);
    let err = bob.approve_link(&groups.join(" ")).await.unwrap_err();
    assert!(
        matches!(&err, ClientError::InvalidArgument(why) if why.contains("no device is waiting")),
        "{err:?}"
    );
    let err = bob.approve_link(&"99999 ".repeat(12)).await.unwrap_err();
    assert!(
        matches!(&err, ClientError::InvalidArgument(why) if why.contains("65535")),
        "{err:?}"
    );

    // The right code links once; used again it finds nothing.
    let finishing = tokio::spawn(pending.finish(Duration::from_secs(30)));
    let linked = bob.approve_link(&code).await.unwrap();
    assert_eq!(linked.name, "laptop");
    let laptop = finishing.await.unwrap().unwrap();
    assert_eq!(laptop.address(), &linked.address);
    let err = bob.approve_link(&code).await.unwrap_err();
    assert!(
        matches!(&err, ClientError::InvalidArgument(why) if why.contains("used already")),
        "{err:?}"
    );
    assert_eq!(bob.devices().await.unwrap().len(), 2);

    // A request made more than ten minutes ago is refused.
    let late = DeviceIdentity::generate(&mut rand::rng());
    let code = LinkCode::generate(&mut rand::rng(), late.public());
    let grant_key = HybridSecretKey::generate(&mut rand::rng()).public_key();
    let request = LinkRequest {
        identity: late.public().clone(),
        name: DeviceName::new("old tablet").unwrap(),
        created_at_ms: now_ms() - 11 * 60 * 1000,
        grant_key_x25519: grant_key.x25519,
        grant_key_ml_kem: grant_key.ml_kem,
    };
    let keys = code.keys();
    let answer = leave_request(&relay, &keys, &request).await;
    assert_eq!(answer.status(), 204);
    let err = bob.approve_link(&code.digits()).await.unwrap_err();
    assert!(
        matches!(&err, ClientError::InvalidArgument(why) if why.contains("expired")),
        "{err:?}"
    );
    assert_eq!(bob.devices().await.unwrap().len(), 2);

    // A code the new device made for another identity does not link it.
    let impostor = DeviceIdentity::generate(&mut rand::rng());
    let shown = LinkCode::generate(&mut rand::rng(), impostor.public());
    let keys = shown.keys();
    let request = LinkRequest {
        identity: late.public().clone(),
        name: DeviceName::new("swapped").unwrap(),
        created_at_ms: now_ms(),
        grant_key_x25519: grant_key.x25519,
        grant_key_ml_kem: grant_key.ml_kem,
    };
    leave_request(&relay, &keys, &request).await;
    let err = bob.approve_link(&shown.digits()).await.unwrap_err();
    assert!(
        matches!(&err, ClientError::InvalidArgument(why) if why.contains("does not match")),
        "{err:?}"
    );

    // A grant key of small order is refused before anything is published:
    // nothing sealed to it would be secret.
    let weak = DeviceIdentity::generate(&mut rand::rng());
    let code = LinkCode::generate(&mut rand::rng(), weak.public());
    let request = LinkRequest {
        identity: weak.public().clone(),
        name: DeviceName::new("weak").unwrap(),
        created_at_ms: now_ms(),
        grant_key_x25519: fuin_wire::X25519PublicKey([0; 32]),
        grant_key_ml_kem: grant_key.ml_kem,
    };
    leave_request(&relay, &code.keys(), &request).await;
    let err = bob.approve_link(&code.digits()).await.unwrap_err();
    assert!(
        matches!(&err, ClientError::InvalidArgument(why) if why.contains("grant key")),
        "{err:?}"
    );
    assert_eq!(bob.devices().await.unwrap().len(), 2);

    // A request of protocol version 2 (tag 35, no grant key) is refused by
    // name: the new device must be updated first.
    let old = DeviceIdentity::generate(&mut rand::rng());
    let code = LinkCode::generate(&mut rand::rng(), old.public());
    let mut old_frame = vec![1u8, 35];
    old_frame.extend_from_slice(&old.public().to_bytes().unwrap()[2..]);
    old_frame.extend_from_slice(&[3, b'o', b'l', b'd', 1]);
    leave_sealed(&relay, &code.keys(), &old_frame).await;
    let err = bob.approve_link(&code.digits()).await.unwrap_err();
    assert!(
        matches!(&err, ClientError::InvalidArgument(why) if why.contains("updated first")),
        "{err:?}"
    );
    assert_eq!(bob.devices().await.unwrap().len(), 2);

    // A new device whose code nobody approves in time gives up clearly.
    let waiting = Client::begin_link(
        devices.path("bob", 9),
        &relay.url,
        Some("bob"),
        "phone",
        ClientOptions::default(),
    )
    .await
    .unwrap();
    let err = waiting.finish(Duration::ZERO).await.unwrap_err();
    assert!(
        matches!(&err, ClientError::InvalidArgument(why) if why.contains("in time")),
        "{err:?}"
    );
    assert!(!devices.path("bob", 9).exists());
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_linked_device_sees_the_conversation_and_contacts_are_told() {
    let relay = TestRelay::start().await;
    let devices = Devices::new();
    let alice = devices.create(&relay, "alice", 1).await;
    let bob = devices.create(&relay, "bob", 1).await;
    alice.send_text("bob", "hello").await.unwrap();
    bob.sync(NO_WAIT).await.unwrap();
    let number = alice.safety_number("bob").await.unwrap();

    let laptop = devices.link(&relay, &bob, "bob", 2, "laptop").await;
    let mut events = alice.events();
    alice.send_text("bob", "to both of bob's").await.unwrap();
    let seen = drain(&mut events);
    assert!(
        seen.iter().any(|event| matches!(event,
            Event::DevicesChanged { user, added, .. }
                if user == "bob" && added.len() == 1 && added[0].name == "laptop")),
        "{seen:?}"
    );
    // The safety number does not change with a linked device.
    assert_eq!(alice.safety_number("bob").await.unwrap(), number);
    laptop.sync(NO_WAIT).await.unwrap();
    assert_eq!(last_text(&laptop, "alice").await, "to both of bob's");
    laptop.send_text("alice", "from the laptop").await.unwrap();
    alice.sync(NO_WAIT).await.unwrap();
    bob.sync(NO_WAIT).await.unwrap();
    assert_eq!(last_text(&alice, "bob").await, "from the laptop");
    assert_eq!(last_text(&bob, "alice").await, "from the laptop");
    relay.stop().await;
}

/// The text of the last message of `client`'s conversation with `with`.
async fn last_text(client: &Client, with: &str) -> String {
    client
        .history(with, 10)
        .await
        .unwrap()
        .last()
        .unwrap()
        .text
        .clone()
}

/// An identity as the relay's `devices` table stores it.
fn identity_row(identity: &fuin_wire::PublicIdentity) -> Vec<u8> {
    [
        identity.signing_key.0.as_slice(),
        &identity.agreement_key.0,
        &identity.signature.0,
    ]
    .concat()
}

/// Leaves `request`, sealed under `keys`, at the relay's rendezvous as a new
/// device would.
async fn leave_request(
    relay: &TestRelay,
    keys: &fuin_seal::link::LinkKeys,
    request: &LinkRequest<'_>,
) -> reqwest::Response {
    leave_sealed(relay, keys, &request.to_bytes().unwrap()).await
}

/// Leaves any frame, sealed as a request under `keys`, at the rendezvous.
async fn leave_sealed(
    relay: &TestRelay,
    keys: &fuin_seal::link::LinkKeys,
    frame: &[u8],
) -> reqwest::Response {
    let message = LinkMessage {
        sealed: keys.seal_request(&mut rand::rng(), frame).into(),
    };
    reqwest::Client::new()
        .put(format!(
            "{}/v1/link/{}/request",
            relay.url,
            hex::encode(keys.channel())
        ))
        .body(message.to_bytes().unwrap())
        .send()
        .await
        .unwrap()
}

fn now_ms() -> u64 {
    u64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groups_follow_device_lists() {
    let relay = TestRelay::start().await;
    let devices = Devices::new();
    let alice = devices.create(&relay, "alice", 1).await;
    let bob = devices.create(&relay, "bob", 1).await;
    let group = alice.create_group(&["bob"]).await.unwrap();
    bob.sync(NO_WAIT).await.unwrap();
    alice.sync(NO_WAIT).await.unwrap();

    // Bob's phone links a laptop and adds it to the group: a new epoch
    // whose sender keys reach the laptop.
    let laptop = devices.link(&relay, &bob, "bob", 2, "laptop").await;
    let members = |info: &fuin_client::GroupInfo| {
        info.members
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
    };
    let after_link = bob
        .groups()
        .await
        .unwrap()
        .into_iter()
        .find(|info| info.id == group.id)
        .unwrap();
    assert_eq!(members(&after_link), ["alice/1", "bob/1", "bob/2"]);
    laptop.sync(NO_WAIT).await.unwrap();
    alice.sync(NO_WAIT).await.unwrap();
    bob.sync(NO_WAIT).await.unwrap();
    laptop.sync(NO_WAIT).await.unwrap();
    alice
        .send_group_text(&group.id, "hello all three")
        .await
        .unwrap();
    laptop.sync(NO_WAIT).await.unwrap();
    let seen = laptop.group_history(&group.id, 10).await.unwrap();
    assert_eq!(seen.last().unwrap().text, "hello all three");

    // Removing the laptop starts an epoch without it.
    let epoch = after_link.epoch;
    bob.remove_device(2).await.unwrap();
    let after_removal = bob
        .groups()
        .await
        .unwrap()
        .into_iter()
        .find(|info| info.id == group.id)
        .unwrap();
    assert!(after_removal.epoch > epoch);
    assert_eq!(members(&after_removal), ["alice/1", "bob/1"]);
    alice.sync(NO_WAIT).await.unwrap();
    let alice_view = alice.groups().await.unwrap();
    assert_eq!(alice_view[0].epoch, after_removal.epoch);
    assert_eq!(members(&alice_view[0]), ["alice/1", "bob/1"]);
    alice
        .send_group_text(&group.id, "laptop gone")
        .await
        .unwrap();
    bob.sync(NO_WAIT).await.unwrap();
    assert_eq!(
        bob.group_history(&group.id, 10)
            .await
            .unwrap()
            .last()
            .unwrap()
            .text,
        "laptop gone"
    );
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_and_a_relay_from_before_accounts_upgrade_in_place() {
    let relay = TestRelay::start().await;
    let devices = Devices::new();
    let alice = devices.create(&relay, "alice", 1).await;
    let path = devices.path("alice", 1);
    drop(alice);
    // What the previous version left: a store without an account key or
    // lists, and a relay that registered alice/1 without an account.
    let store = rusqlite::Connection::open(&path).unwrap();
    store
        .execute_batch(
            "DELETE FROM meta WHERE name IN ('account_key', 'account_state');
             DROP TABLE accounts;",
        )
        .unwrap();
    drop(store);
    relay_db(&relay)
        .execute("DELETE FROM accounts WHERE user = 'alice'", [])
        .unwrap();

    // Opened by this version, the device becomes the first device of a new
    // account, whose list it publishes; then it chats as before.
    let alice = Client::open(&path, ClientOptions::default()).await.unwrap();
    let bob = devices.create(&relay, "bob", 1).await;
    alice.send_text("bob", "after the upgrade").await.unwrap();
    bob.sync(NO_WAIT).await.unwrap();
    assert_eq!(
        bob.history("alice", 10).await.unwrap()[0].text,
        "after the upgrade"
    );
    let list = SignedDeviceList::from_bytes(&served_list(&relay, "alice"))
        .unwrap()
        .into_owned();
    assert_eq!(list.content.version, 1);
    assert_eq!(
        list.content.device(DeviceId(1)).unwrap().identity,
        *alice.identity()
    );
    assert_eq!(alice.devices().await.unwrap().len(), 1);
    // Reopened again, nothing changes.
    drop(alice);
    let alice = Client::open(&path, ClientOptions::default()).await.unwrap();
    bob.send_text("alice", "welcome").await.unwrap();
    alice.sync(NO_WAIT).await.unwrap();
    assert_eq!(alice.history("bob", 10).await.unwrap().len(), 2);
    assert_eq!(served_list(&relay, "alice"), list.to_bytes().unwrap());
    relay.stop().await;
}
