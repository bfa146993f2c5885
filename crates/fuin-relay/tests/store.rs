//! The storage test suite.
//!
//! [`suite`] is written against the [`Store`] trait only, so that every
//! backend runs the same tests: each backend instantiates it with a macro
//! (see [`sqlite`]). Tests that need several tasks at once take the store in
//! an `Arc`. Tests of what only one backend can show (the bytes of the SQLite
//! file) live beside that backend's instantiation.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

#[path = "common/eventually.rs"]
mod eventually;

use fuin_relay::metrics::MailboxDepths;
use fuin_relay::store::TokenGrant;
use fuin_relay::store::{
    LinkSlot, NewBlob, NewDelivery, NewDeviceList, NewReport, Registration, Store, StoreError,
    StoredDelivery, StoredReport,
};
use fuin_wire::relay::ReportId;
use fuin_wire::{
    BlobId, DeviceAddress, DeviceId, Ed25519PublicKey, Ed25519Signature, MessageId, OneTimePrekey,
    PrekeyId, PublicIdentity, SignedPrekey, UserId, X25519PublicKey,
};
use sha2::{Digest, Sha256};

/// A fixed "now" for the tests, in ms since the Unix epoch.
const NOW: u64 = 1_700_000_000_000;
/// An expiry far enough away not to matter.
const LATER: u64 = NOW + 86_400_000;

fn address(user: &str, device: u32) -> DeviceAddress<'static> {
    DeviceAddress::new(UserId::new(user.to_owned()).unwrap(), DeviceId(device))
}

fn identity(seed: u8) -> PublicIdentity {
    PublicIdentity {
        signing_key: Ed25519PublicKey([seed; 32]),
        agreement_key: X25519PublicKey([seed ^ 0xff; 32]),
        signature: Ed25519Signature([seed.wrapping_add(1); 64]),
    }
}

fn signed_prekey(id: u32) -> SignedPrekey {
    SignedPrekey {
        id: PrekeyId(id),
        public_key: X25519PublicKey([id.to_le_bytes()[0]; 32]),
        signature: Ed25519Signature([0x5e; 64]),
    }
}

fn one_time_prekey(id: u32, fill: u8) -> OneTimePrekey {
    OneTimePrekey {
        id: PrekeyId(id),
        public_key: X25519PublicKey([fill; 32]),
    }
}

fn message_id() -> MessageId {
    MessageId(rand::random())
}

fn delivery(
    message_id: MessageId,
    recipient: &DeviceAddress<'static>,
    record: &[u8],
    expires_at_ms: u64,
) -> NewDelivery {
    NewDelivery {
        message_id,
        recipient: recipient.clone(),
        record: record.to_vec(),
        expires_at_ms,
    }
}

fn ids(deliveries: &[StoredDelivery]) -> Vec<MessageId> {
    deliveries.iter().map(|d| d.message_id).collect()
}

/// The id of a blob with `content`: its SHA-256.
fn blob_id(content: &[u8]) -> BlobId {
    BlobId(Sha256::digest(content).into())
}

fn new_blob(content: &[u8], capability_hash: [u8; 32], expires_at_ms: u64) -> NewBlob {
    NewBlob {
        blob_id: blob_id(content),
        len: content.len() as u64,
        capability_hash,
        expires_at_ms,
    }
}

fn new_report(
    reporter: &DeviceAddress<'static>,
    received_at_ms: u64,
    expires_at_ms: u64,
    report: &[u8],
) -> NewReport {
    NewReport {
        report_id: ReportId(rand::random()),
        reporter: reporter.clone(),
        received_at_ms,
        expires_at_ms,
        report: report.to_vec(),
    }
}

fn report_ids(reports: &[StoredReport]) -> Vec<ReportId> {
    reports.iter().map(|r| r.report_id).collect()
}

/// The backend-independent tests.
pub mod suite {
    use std::collections::{BTreeSet, HashMap};

    use super::*;

    /// Registering is idempotent for the same identity and refused for another.
    pub async fn register_device_is_idempotent_and_detects_conflicts(store: &impl Store) {
        let alice = address("alice", 1);
        assert_eq!(store.device_identity(&alice).await, Ok(None));
        assert_eq!(
            store.register_device(&alice, &identity(1), NOW).await,
            Ok(Registration::Created)
        );
        assert_eq!(
            store.register_device(&alice, &identity(1), NOW + 1).await,
            Ok(Registration::AlreadyRegistered)
        );
        assert_eq!(
            store.register_device(&alice, &identity(2), NOW + 2).await,
            Err(StoreError::IdentityConflict)
        );
        // The conflict changed nothing.
        assert_eq!(store.device_identity(&alice).await, Ok(Some(identity(1))));

        // Another device of the same user has an identity of its own.
        let alice2 = address("alice", 2);
        assert_eq!(
            store.register_device(&alice2, &identity(2), NOW).await,
            Ok(Registration::Created)
        );
        assert_eq!(store.device_identity(&alice2).await, Ok(Some(identity(2))));
        assert_eq!(store.device_identity(&address("alice", 3)).await, Ok(None));
        assert_eq!(store.device_identity(&address("alicia", 1)).await, Ok(None));
    }

    /// A user's devices come back in ascending order, and only that user's.
    pub async fn user_devices_are_listed_in_ascending_order(store: &impl Store) {
        for device in [7, 2, u32::MAX, 40, 3] {
            store
                .register_device(&address("bob", device), &identity(3), NOW)
                .await
                .unwrap();
        }
        store
            .register_device(&address("carol", 5), &identity(4), NOW)
            .await
            .unwrap();
        let bob = UserId::new("bob").unwrap();
        assert_eq!(
            store.user_devices(&bob).await,
            Ok(vec![
                DeviceId(2),
                DeviceId(3),
                DeviceId(7),
                DeviceId(40),
                DeviceId(u32::MAX)
            ])
        );
        assert_eq!(
            store.user_devices(&UserId::new("carol").unwrap()).await,
            Ok(vec![DeviceId(5)])
        );
        assert_eq!(
            store.user_devices(&UserId::new("bo").unwrap()).await,
            Ok(vec![])
        );
    }

    /// A challenge is taken once, by its own device, before it expires.
    pub async fn challenges_are_single_use_and_expire(store: &impl Store) {
        let alice = address("alice", 1);
        let other_device = address("alice", 2);
        let [n1, n2, n3, n4] = [[1u8; 32], [2; 32], [3; 32], [4; 32]];

        store.put_challenge(&alice, n1, NOW + 1000).await.unwrap();
        // Another device, or another nonce, does not take it.
        assert_eq!(
            store.take_challenge(&other_device, n1, NOW).await,
            Ok(false)
        );
        assert_eq!(store.take_challenge(&alice, n2, NOW).await, Ok(false));
        // The right one takes it, once.
        assert_eq!(store.take_challenge(&alice, n1, NOW).await, Ok(true));
        assert_eq!(store.take_challenge(&alice, n1, NOW).await, Ok(false));

        // A challenge is expired from its expiry time on, and a late attempt
        // uses it up.
        store.put_challenge(&alice, n2, NOW + 1000).await.unwrap();
        assert_eq!(store.take_challenge(&alice, n2, NOW + 999).await, Ok(true));
        store.put_challenge(&alice, n3, NOW + 1000).await.unwrap();
        assert_eq!(
            store.take_challenge(&alice, n3, NOW + 1000).await,
            Ok(false)
        );
        assert_eq!(store.take_challenge(&alice, n3, NOW).await, Ok(false));

        // `expire` removes expired challenges.
        store.put_challenge(&alice, n4, NOW + 1000).await.unwrap();
        store.expire(NOW + 1000).await.unwrap();
        assert_eq!(store.take_challenge(&alice, n4, NOW).await, Ok(false));
    }

    /// Tokens name their device until they expire or are revoked.
    pub async fn tokens_resolve_expire_and_are_revoked(store: &impl Store) {
        let alice = address("alice", 1);
        let alice2 = address("alice", 2);
        store
            .register_device(&alice, &identity(1), NOW)
            .await
            .unwrap();
        store
            .register_device(&alice2, &identity(2), NOW)
            .await
            .unwrap();
        let [h1, h2, h3, h4] = [[0xa1u8; 32], [0xa2; 32], [0xa3; 32], [0xa4; 32]];

        store.put_token(h1, &alice, NOW + 1000).await.unwrap();
        store.put_token(h2, &alice, NOW + 2000).await.unwrap();
        store.put_token(h3, &alice2, NOW + 1000).await.unwrap();
        assert_eq!(store.token_owner(h1, NOW).await, Ok(Some(alice.clone())));
        assert_eq!(store.token_owner(h3, NOW).await, Ok(Some(alice2.clone())));
        assert_eq!(store.token_owner(h4, NOW).await, Ok(None));
        // The grant names the expiry too, for streams to end at it.
        assert_eq!(
            store.token_grant(h2, NOW).await,
            Ok(Some(TokenGrant {
                owner: alice.clone(),
                expires_at_ms: NOW + 2000,
                suspended: false,
            }))
        );
        assert_eq!(store.token_grant(h1, NOW + 1000).await, Ok(None));
        assert_eq!(store.token_grant(h4, NOW).await, Ok(None));

        // Expired from its expiry time on.
        assert_eq!(
            store.token_owner(h1, NOW + 999).await,
            Ok(Some(alice.clone()))
        );
        assert_eq!(store.token_owner(h1, NOW + 1000).await, Ok(None));
        assert_eq!(
            store.token_owner(h2, NOW + 1000).await,
            Ok(Some(alice.clone()))
        );

        // Revoking one device's tokens leaves the other's.
        assert_eq!(store.revoke_tokens(&alice).await, Ok(2));
        assert_eq!(store.token_owner(h1, NOW).await, Ok(None));
        assert_eq!(store.token_owner(h2, NOW).await, Ok(None));
        assert_eq!(store.token_owner(h3, NOW).await, Ok(Some(alice2.clone())));
        assert_eq!(store.token_grant(h2, NOW).await, Ok(None));
        assert_eq!(store.revoke_tokens(&alice).await, Ok(0));

        // `expire` deletes expired tokens: gone even when asked about an
        // earlier time.
        store.expire(NOW + 1000).await.unwrap();
        assert_eq!(store.token_owner(h3, NOW).await, Ok(None));

        // Tokens are only issued to registered devices.
        assert_eq!(
            store.put_token(h4, &address("mallory", 1), LATER).await,
            Err(StoreError::UnknownDevice)
        );
    }

    /// Publishing, replacing and handing out prekeys; the pool counts down.
    pub async fn prekeys_are_published_replaced_and_handed_out(store: &impl Store) {
        let unknown = address("nobody", 1);
        assert_eq!(
            store
                .publish_prekeys(&unknown, Some(&signed_prekey(1)), &[one_time_prekey(1, 1)])
                .await,
            Err(StoreError::UnknownDevice)
        );
        assert_eq!(store.take_bundle(&unknown).await, Ok(None));
        assert_eq!(store.one_time_remaining(&unknown).await, Ok(0));

        let alice = address("alice", 1);
        store
            .register_device(&alice, &identity(1), NOW)
            .await
            .unwrap();
        assert_eq!(store.take_bundle(&alice).await, Ok(None));
        let pool = [1, 2, 3].map(|id| one_time_prekey(id, 0x10 + id as u8));
        assert_eq!(store.publish_prekeys(&alice, None, &pool).await, Ok(3));

        // Without a signed prekey there is no bundle, and the pool is untouched.
        assert_eq!(store.take_bundle(&alice).await, Ok(None));
        assert_eq!(store.one_time_remaining(&alice).await, Ok(3));

        // Publishing an id already present replaces it.
        let replaced = one_time_prekey(3, 0x33);
        assert_eq!(
            store
                .publish_prekeys(
                    &alice,
                    Some(&signed_prekey(10)),
                    &[replaced.clone(), one_time_prekey(4, 0x14)]
                )
                .await,
            Ok(4)
        );

        let bundle = store.take_bundle(&alice).await.unwrap().unwrap();
        assert_eq!(bundle.identity, identity(1));
        assert_eq!(bundle.signed_prekey, signed_prekey(10));
        assert_eq!(bundle.one_time_prekey, Some(pool[0].clone()));
        assert_eq!(store.one_time_remaining(&alice).await, Ok(3));

        // A new signed prekey replaces the old one.
        assert_eq!(
            store
                .publish_prekeys(&alice, Some(&signed_prekey(11)), &[])
                .await,
            Ok(3)
        );
        let bundle = store.take_bundle(&alice).await.unwrap().unwrap();
        assert_eq!(bundle.signed_prekey, signed_prekey(11));
        assert_eq!(bundle.one_time_prekey, Some(pool[1].clone()));
        assert_eq!(store.one_time_remaining(&alice).await, Ok(2));

        let bundle = store.take_bundle(&alice).await.unwrap().unwrap();
        assert_eq!(bundle.one_time_prekey, Some(replaced));
        assert_eq!(store.one_time_remaining(&alice).await, Ok(1));
        let bundle = store.take_bundle(&alice).await.unwrap().unwrap();
        assert_eq!(bundle.one_time_prekey, Some(one_time_prekey(4, 0x14)));
        assert_eq!(store.one_time_remaining(&alice).await, Ok(0));

        // An empty pool still yields the signed prekey.
        let bundle = store.take_bundle(&alice).await.unwrap().unwrap();
        assert_eq!(bundle.signed_prekey, signed_prekey(11));
        assert_eq!(bundle.one_time_prekey, None);
        assert_eq!(store.one_time_remaining(&alice).await, Ok(0));
    }

    /// 50 concurrent fetchers for a device with 20 one-time prekeys (and 10
    /// for a second device with 5, under the same ids): no key is handed out
    /// twice, none is lost, and every fetcher gets the signed prekey.
    pub async fn one_time_prekeys_are_handed_out_once_under_concurrency<S: Store>(store: &Arc<S>) {
        let alice = address("alice", 1);
        let bob = address("bob", 1);
        store
            .register_device(&alice, &identity(1), NOW)
            .await
            .unwrap();
        store
            .register_device(&bob, &identity(2), NOW)
            .await
            .unwrap();
        let alice_pool: Vec<_> = (1..=20).map(|id| one_time_prekey(id, id as u8)).collect();
        let bob_pool: Vec<_> = (1..=5)
            .map(|id| one_time_prekey(id, 0x80 | id as u8))
            .collect();
        store
            .publish_prekeys(&alice, Some(&signed_prekey(100)), &alice_pool)
            .await
            .unwrap();
        store
            .publish_prekeys(&bob, Some(&signed_prekey(200)), &bob_pool)
            .await
            .unwrap();

        let mut tasks = Vec::new();
        for i in 0..60 {
            let store = Arc::clone(store);
            let target = if i % 6 == 5 {
                bob.clone()
            } else {
                alice.clone()
            };
            tasks.push(tokio::spawn(async move {
                let bundle = store.take_bundle(&target).await;
                (target, bundle)
            }));
        }
        let mut handed_out: HashMap<DeviceAddress<'static>, Vec<OneTimePrekey>> = HashMap::new();
        let mut empty: HashMap<DeviceAddress<'static>, usize> = HashMap::new();
        for task in tasks {
            let (target, bundle) = task.await.unwrap();
            let bundle = bundle.unwrap().unwrap();
            let (expected_identity, expected_signed) = if target == alice {
                (identity(1), signed_prekey(100))
            } else {
                (identity(2), signed_prekey(200))
            };
            assert_eq!(bundle.identity, expected_identity);
            assert_eq!(bundle.signed_prekey, expected_signed);
            match bundle.one_time_prekey {
                Some(key) => handed_out.entry(target).or_default().push(key),
                None => *empty.entry(target).or_default() += 1,
            }
        }

        for (device, pool, fetchers) in [(&alice, &alice_pool, 50), (&bob, &bob_pool, 10)] {
            let keys = handed_out.remove(device).unwrap_or_default();
            let distinct: BTreeSet<u32> = keys.iter().map(|key| key.id.0).collect();
            assert_eq!(
                keys.len(),
                pool.len(),
                "{device}: a key was handed out twice"
            );
            assert_eq!(distinct.len(), pool.len());
            let mut sorted = keys.clone();
            sorted.sort_by_key(|key| key.id);
            assert_eq!(&sorted, pool, "{device}: keys of the right device");
            assert_eq!(
                empty.get(device).copied().unwrap_or(0),
                fetchers - pool.len()
            );
            assert_eq!(store.one_time_remaining(device).await, Ok(0));
        }
    }

    /// A send is stored whole or not at all; a duplicate message id fails it.
    pub async fn deliver_is_all_or_nothing_and_rejects_duplicate_ids(store: &impl Store) {
        let bob = address("bob", 1);
        let bob2 = address("bob", 2);
        let [m1, m2, m3] = [message_id(), message_id(), message_id()];

        // A duplicate within one batch: the whole batch fails.
        let batch = vec![
            delivery(m1, &bob, b"one", LATER),
            delivery(m2, &bob2, b"two", LATER),
            delivery(m1, &bob2, b"one again", LATER),
        ];
        assert!(matches!(
            store.deliver(batch).await,
            Err(StoreError::Backend(_))
        ));
        assert_eq!(store.fetch(&bob, 10, NOW).await, Ok(vec![]));
        assert_eq!(store.fetch(&bob2, 10, NOW).await, Ok(vec![]));

        // A duplicate of a stored id: the batch fails, the stored one stays.
        store
            .deliver(vec![delivery(m1, &bob, b"one", LATER)])
            .await
            .unwrap();
        let batch = vec![
            delivery(m3, &bob2, b"three", LATER),
            delivery(m1, &bob2, b"not one", LATER),
        ];
        assert!(matches!(
            store.deliver(batch).await,
            Err(StoreError::Backend(_))
        ));
        assert_eq!(store.fetch(&bob2, 10, NOW).await, Ok(vec![]));
        assert_eq!(
            store.fetch(&bob, 10, NOW).await,
            Ok(vec![StoredDelivery {
                message_id: m1,
                record: b"one".to_vec()
            }])
        );

        // One send fans out to several mailboxes.
        store
            .deliver(vec![
                delivery(m2, &bob, b"two", LATER),
                delivery(m3, &bob2, b"three", LATER),
            ])
            .await
            .unwrap();
        assert_eq!(
            ids(&store.fetch(&bob, 10, NOW).await.unwrap()),
            vec![m1, m2]
        );
        assert_eq!(ids(&store.fetch(&bob2, 10, NOW).await.unwrap()), vec![m3]);

        assert_eq!(store.deliver(vec![]).await, Ok(()));
    }

    /// Fetch returns the own mailbox only, oldest first, up to the limit.
    pub async fn fetch_is_oldest_first_limited_and_per_mailbox(store: &impl Store) {
        let bob = address("bob", 1);
        let bob2 = address("bob", 2);
        let other_user = address("bobby", 1);
        let mut expected = Vec::new();
        for i in 0..5u8 {
            let id = message_id();
            let mut batch = vec![delivery(id, &bob, &[i], LATER)];
            if i == 2 {
                batch.push(delivery(message_id(), &bob2, b"for bob2", LATER));
            }
            store.deliver(batch).await.unwrap();
            expected.push(StoredDelivery {
                message_id: id,
                record: vec![i],
            });
        }
        // Within one send, the batch's order is kept.
        let batch: Vec<_> = (5..8u8)
            .map(|i| {
                let id = message_id();
                expected.push(StoredDelivery {
                    message_id: id,
                    record: vec![i],
                });
                delivery(id, &bob, &[i], LATER)
            })
            .collect();
        store.deliver(batch).await.unwrap();

        assert_eq!(store.fetch(&bob, 100, NOW).await, Ok(expected.clone()));
        assert_eq!(store.fetch(&bob, 3, NOW).await, Ok(expected[..3].to_vec()));
        assert_eq!(store.fetch(&bob, 0, NOW).await, Ok(vec![]));
        // Fetching removes nothing.
        assert_eq!(store.fetch(&bob, usize::MAX, NOW).await, Ok(expected));

        let theirs = store.fetch(&bob2, 100, NOW).await.unwrap();
        assert_eq!(theirs.len(), 1);
        assert_eq!(theirs[0].record, b"for bob2");
        assert_eq!(store.fetch(&other_user, 100, NOW).await, Ok(vec![]));
        assert_eq!(store.fetch(&address("bob", 3), 100, NOW).await, Ok(vec![]));
    }

    /// Acknowledging deletes the recipient's own envelopes and nothing else.
    pub async fn acknowledge_deletes_only_the_recipients_own(store: &impl Store) {
        let bob = address("bob", 1);
        let bob2 = address("bob", 2);
        let [m1, m2, m3] = [message_id(), message_id(), message_id()];
        store
            .deliver(vec![
                delivery(m1, &bob, b"1", LATER),
                delivery(m2, &bob, b"2", LATER),
                delivery(m3, &bob2, b"3", LATER),
            ])
            .await
            .unwrap();

        // Another device cannot acknowledge bob/1's envelopes.
        assert_eq!(store.acknowledge(&bob2, &[m1, m2]).await, Ok(0));
        assert_eq!(
            ids(&store.fetch(&bob, 10, NOW).await.unwrap()),
            vec![m1, m2]
        );

        // Ids of other mailboxes and unknown ids are ignored.
        assert_eq!(
            store.acknowledge(&bob, &[m1, m3, message_id()]).await,
            Ok(1)
        );
        assert_eq!(ids(&store.fetch(&bob, 10, NOW).await.unwrap()), vec![m2]);
        assert_eq!(ids(&store.fetch(&bob2, 10, NOW).await.unwrap()), vec![m3]);

        // Acknowledging twice, or nothing, deletes nothing.
        assert_eq!(store.acknowledge(&bob, &[m1]).await, Ok(0));
        assert_eq!(store.acknowledge(&bob, &[]).await, Ok(0));
        assert_eq!(store.acknowledge(&bob, &[m2, m2]).await, Ok(1));
        assert_eq!(store.fetch(&bob, 10, NOW).await, Ok(vec![]));
    }

    /// Expired envelopes are never fetched, and `expire` deletes them.
    pub async fn expired_envelopes_are_never_fetched_and_are_removed(store: &impl Store) {
        let bob = address("bob", 1);
        let [m1, m2] = [message_id(), message_id()];
        store
            .deliver(vec![
                delivery(m1, &bob, b"1", NOW + 100),
                delivery(m2, &bob, b"2", NOW + 200),
            ])
            .await
            .unwrap();
        assert_eq!(
            ids(&store.fetch(&bob, 10, NOW).await.unwrap()),
            vec![m1, m2]
        );
        // Not returned from its expiry time on, even before `expire` ran.
        assert_eq!(
            ids(&store.fetch(&bob, 10, NOW + 99).await.unwrap()),
            vec![m1, m2]
        );
        assert_eq!(
            ids(&store.fetch(&bob, 10, NOW + 100).await.unwrap()),
            vec![m2]
        );
        assert_eq!(store.fetch(&bob, 10, NOW + 200).await, Ok(vec![]));

        assert_eq!(store.expire(NOW + 100).await, Ok(1));
        // Gone, even when asked about an earlier time.
        assert_eq!(ids(&store.fetch(&bob, 10, NOW).await.unwrap()), vec![m2]);
        assert_eq!(store.acknowledge(&bob, &[m1]).await, Ok(0));
        assert_eq!(store.expire(NOW + 200).await, Ok(1));
        assert_eq!(store.expire(NOW + 200).await, Ok(0));
        assert_eq!(store.fetch(&bob, 10, NOW).await, Ok(vec![]));
    }

    /// The counts behind the mailbox gauges of `/metrics` follow what is
    /// stored: expired envelopes count until the sweep deletes them; and the
    /// readiness query answers.
    pub async fn mailbox_depths_count_what_is_stored(store: &impl Store) {
        store.ping().await.unwrap();
        assert_eq!(
            store.mailbox_depths().await.unwrap(),
            MailboxDepths::default()
        );
        let (alice, bob) = (address("alice", 1), address("bob", 1));
        let alices: Vec<_> = (0..3)
            .map(|n| delivery(message_id(), &alice, &[n], LATER))
            .collect();
        store.deliver(alices).await.unwrap();
        store
            .deliver(vec![delivery(message_id(), &bob, b"expiring", NOW + 1)])
            .await
            .unwrap();
        assert_eq!(
            store.mailbox_depths().await.unwrap(),
            MailboxDepths {
                envelopes: 4,
                mailboxes: 2,
                deepest: 3
            }
        );
        let first = store.fetch(&alice, 1, NOW).await.unwrap()[0].message_id;
        assert_eq!(store.acknowledge(&alice, &[first]).await, Ok(1));
        assert_eq!(store.expire(NOW + 1).await, Ok(1));
        assert_eq!(
            store.mailbox_depths().await.unwrap(),
            MailboxDepths {
                envelopes: 2,
                mailboxes: 1,
                deepest: 2
            }
        );
    }

    /// 200 concurrent sends all succeed and are all stored; 20 more that
    /// reuse stored ids, racing with them, fail alone without failing the
    /// writes committed with them.
    pub async fn concurrent_deliveries_all_succeed<S: Store>(store: &Arc<S>) {
        let mailboxes: Vec<_> = (1..=4).map(|device| address("bob", device)).collect();
        let mut expected: HashMap<MessageId, (DeviceAddress<'static>, Vec<u8>)> = HashMap::new();
        let mut taken_ids = Vec::new();
        for i in 0..20u32 {
            let id = message_id();
            let to = &mailboxes[i as usize % mailboxes.len()];
            let record = format!("first {i}").into_bytes();
            store
                .deliver(vec![delivery(id, to, &record, LATER)])
                .await
                .unwrap();
            expected.insert(id, (to.clone(), record));
            taken_ids.push(id);
        }

        let mut good = Vec::new();
        let mut duplicates = Vec::new();
        for i in 0..220u32 {
            let store = Arc::clone(store);
            let to = mailboxes[i as usize % mailboxes.len()].clone();
            if i % 11 == 10 {
                let id = taken_ids[(i / 11) as usize];
                duplicates.push(tokio::spawn(async move {
                    store
                        .deliver(vec![delivery(id, &to, b"duplicate", LATER)])
                        .await
                }));
            } else {
                let id = message_id();
                let record = format!("concurrent {i}").into_bytes();
                expected.insert(id, (to.clone(), record.clone()));
                good.push(tokio::spawn(async move {
                    store.deliver(vec![delivery(id, &to, &record, LATER)]).await
                }));
            }
        }
        assert_eq!(good.len(), 200);
        assert_eq!(duplicates.len(), 20);
        for task in good {
            assert_eq!(task.await.unwrap(), Ok(()));
        }
        for task in duplicates {
            assert!(matches!(task.await.unwrap(), Err(StoreError::Backend(_))));
        }

        let mut found = 0;
        for mailbox in &mailboxes {
            for stored in store.fetch(mailbox, 10_000, NOW).await.unwrap() {
                let (to, record) = expected.get(&stored.message_id).unwrap();
                assert_eq!(to, mailbox);
                assert_eq!(&stored.record, record);
                found += 1;
            }
        }
        assert_eq!(found, 220);
    }

    /// A delivery that would take a mailbox over its quota stores nothing,
    /// in any of its mailboxes; acknowledging makes room again.
    pub async fn deliveries_over_the_mailbox_quota_are_refused_whole(store: &impl Store) {
        let bob = address("bob", 1);
        let carol = address("carol", 1);
        for i in 0..3u8 {
            store
                .deliver_within_quota(vec![delivery(message_id(), &bob, &[i], LATER)], 3)
                .await
                .unwrap();
        }
        assert_eq!(
            store
                .deliver_within_quota(vec![delivery(message_id(), &bob, b"4", LATER)], 3)
                .await,
            Err(StoreError::MailboxFull)
        );
        // Carol's mailbox has room, bob's does not: neither gets anything.
        let batch = vec![
            delivery(message_id(), &carol, b"c", LATER),
            delivery(message_id(), &bob, b"b", LATER),
        ];
        assert_eq!(
            store.deliver_within_quota(batch, 3).await,
            Err(StoreError::MailboxFull)
        );
        assert_eq!(store.fetch(&carol, 10, NOW).await, Ok(vec![]));
        assert_eq!(store.fetch(&bob, 10, NOW).await.unwrap().len(), 3);
        // Within one batch, envelopes to one mailbox count together.
        let batch: Vec<_> = (0..4u8)
            .map(|i| delivery(message_id(), &carol, &[i], LATER))
            .collect();
        assert_eq!(
            store.deliver_within_quota(batch, 3).await,
            Err(StoreError::MailboxFull)
        );
        let batch: Vec<_> = (0..3u8)
            .map(|i| delivery(message_id(), &carol, &[i], LATER))
            .collect();
        assert_eq!(store.deliver_within_quota(batch, 3).await, Ok(()));
        // Plain `deliver` has no quota.
        store
            .deliver(vec![delivery(message_id(), &bob, b"over", LATER)])
            .await
            .unwrap();
        assert_eq!(store.fetch(&bob, 10, NOW).await.unwrap().len(), 4);

        // Acknowledging two of bob's four leaves room for one under a quota of 3.
        let stored = ids(&store.fetch(&bob, 10, NOW).await.unwrap());
        assert_eq!(store.acknowledge(&bob, &stored[..2]).await, Ok(2));
        store
            .deliver_within_quota(vec![delivery(message_id(), &bob, b"fits", LATER)], 3)
            .await
            .unwrap();
        assert_eq!(
            store
                .deliver_within_quota(vec![delivery(message_id(), &bob, b"no", LATER)], 3)
                .await,
            Err(StoreError::MailboxFull)
        );
    }

    /// Concurrent deliveries to one mailbox never take it over its quota:
    /// exactly as many succeed as fit, and the others fail.
    pub async fn concurrent_deliveries_never_overfill_a_mailbox<S: Store>(store: &Arc<S>) {
        let bob = address("bob", 1);
        let tasks: Vec<_> = (0..40u8)
            .map(|i| {
                let store = Arc::clone(store);
                let bob = bob.clone();
                tokio::spawn(async move {
                    store
                        .deliver_within_quota(vec![delivery(message_id(), &bob, &[i], LATER)], 15)
                        .await
                })
            })
            .collect();
        let mut stored = 0;
        for task in tasks {
            match task.await.unwrap() {
                Ok(()) => stored += 1,
                Err(StoreError::MailboxFull) => {}
                Err(other) => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(stored, 15);
        assert_eq!(store.fetch(&bob, 100, NOW).await.unwrap().len(), 15);
    }

    /// An upload that would grow the pool over its quota changes nothing;
    /// one that does not grow it is always taken.
    pub async fn prekey_uploads_over_the_pool_quota_are_refused_whole(store: &impl Store) {
        let bob = address("bob", 1);
        store
            .register_device(&bob, &identity(2), NOW)
            .await
            .unwrap();
        let keys = |ids: std::ops::Range<u32>| -> Vec<OneTimePrekey> {
            ids.map(|id| one_time_prekey(id, id as u8)).collect()
        };
        assert_eq!(
            store
                .publish_prekeys_within_quota(&bob, Some(&signed_prekey(1)), &keys(0..4), 4)
                .await,
            Ok(4)
        );
        assert_eq!(
            store
                .publish_prekeys_within_quota(&bob, Some(&signed_prekey(2)), &keys(4..5), 4)
                .await,
            Err(StoreError::PrekeyPoolFull)
        );
        // Nothing of the refused upload was stored: not its signed prekey.
        assert_eq!(store.one_time_remaining(&bob).await, Ok(4));
        let taken = store.take_bundle(&bob).await.unwrap().unwrap();
        assert_eq!(taken.signed_prekey, signed_prekey(1));
        assert_eq!(taken.one_time_prekey, Some(one_time_prekey(0, 0)));
        // Now at 3: one new id and two replaced ones make 4, which fits.
        assert_eq!(
            store
                .publish_prekeys_within_quota(&bob, None, &keys(1..3), 4)
                .await,
            Ok(3)
        );
        assert_eq!(
            store
                .publish_prekeys_within_quota(&bob, None, &keys(2..5), 4)
                .await,
            Ok(4)
        );
        // Over the quota already (it was lowered): a signed prekey alone,
        // or replacements, are taken; growing further is not.
        assert_eq!(
            store
                .publish_prekeys_within_quota(&bob, Some(&signed_prekey(3)), &keys(1..3), 2)
                .await,
            Ok(4)
        );
        assert_eq!(
            store
                .publish_prekeys_within_quota(&bob, None, &keys(9..10), 2)
                .await,
            Err(StoreError::PrekeyPoolFull)
        );
        let taken = store.take_bundle(&bob).await.unwrap().unwrap();
        assert_eq!(taken.signed_prekey, signed_prekey(3));
        // Unknown devices are still unknown.
        assert_eq!(
            store
                .publish_prekeys_within_quota(&address("nobody", 1), None, &keys(0..1), 4)
                .await,
            Err(StoreError::UnknownDevice)
        );
    }

    /// A device keeps at most the bound of challenges: the newest, always
    /// including the one just issued; other devices' are untouched.
    pub async fn challenges_beyond_the_bound_replace_the_oldest(store: &impl Store) {
        let alice = address("alice", 1);
        let alice2 = address("alice", 2);
        store
            .put_challenge_bounded(&alice2, [0xee; 32], NOW + 500, 2)
            .await
            .unwrap();
        for (nonce, expires) in [([1u8; 32], 1000), ([2; 32], 1002), ([3; 32], 1002)] {
            store
                .put_challenge_bounded(&alice, nonce, NOW + expires, 2)
                .await
                .unwrap();
        }
        // [1] went when [3] came. Issued in the same millisecond as the two
        // left, the new one stays and [2] goes (ordered by expiry and then
        // nonce alone, the new one's nonce would make it the one to go).
        store
            .put_challenge_bounded(&alice, [0; 32], NOW + 1002, 2)
            .await
            .unwrap();
        assert_eq!(store.take_challenge(&alice, [1; 32], NOW).await, Ok(false));
        assert_eq!(store.take_challenge(&alice, [2; 32], NOW).await, Ok(false));
        assert_eq!(store.take_challenge(&alice, [0; 32], NOW).await, Ok(true));
        assert_eq!(store.take_challenge(&alice, [3; 32], NOW).await, Ok(true));
        assert_eq!(
            store.take_challenge(&alice2, [0xee; 32], NOW).await,
            Ok(true)
        );
    }

    /// A blob is read only with an unexpired capability of that very blob;
    /// any other capability, or an unknown blob, reads as nothing.
    pub async fn blobs_are_read_only_with_their_own_capability(store: &impl Store) {
        let a = b"sealed attachment a".to_vec();
        let b = vec![0xb0; 70_000];
        let [cap_a, cap_b, unknown] = [[0xa1u8; 32], [0xb1; 32], [0xc1; 32]];
        store
            .put_blob(new_blob(&a, cap_a, NOW + 1000))
            .await
            .unwrap();
        store
            .put_blob(new_blob(&b, cap_b, NOW + 1000))
            .await
            .unwrap();

        assert_eq!(
            store.blob(&blob_id(&a), cap_a, NOW).await,
            Ok(Some(a.len() as u64))
        );
        assert_eq!(
            store.blob(&blob_id(&b), cap_b, NOW).await,
            Ok(Some(b.len() as u64))
        );
        // Another blob's capability, an unknown one, an unknown blob.
        assert_eq!(store.blob(&blob_id(&a), cap_b, NOW).await, Ok(None));
        assert_eq!(store.blob(&blob_id(&b), cap_a, NOW).await, Ok(None));
        assert_eq!(store.blob(&blob_id(&a), unknown, NOW).await, Ok(None));
        assert_eq!(
            store.blob(&blob_id(b"never stored"), cap_a, NOW).await,
            Ok(None)
        );
        // The empty blob is a blob like any other.
        store
            .put_blob(new_blob(b"", unknown, NOW + 1000))
            .await
            .unwrap();
        assert_eq!(store.blob(&blob_id(b""), unknown, NOW).await, Ok(Some(0)));

        // Expired from its expiry time on, and `expire` deletes it.
        assert_eq!(
            store.blob(&blob_id(&a), cap_a, NOW + 999).await,
            Ok(Some(a.len() as u64))
        );
        assert_eq!(store.blob(&blob_id(&a), cap_a, NOW + 1000).await, Ok(None));
        store.expire(NOW + 1000).await.unwrap();
        assert_eq!(store.blob(&blob_id(&a), cap_a, NOW).await, Ok(None));
        assert_eq!(store.blob(&blob_id(&b), cap_b, NOW).await, Ok(None));
    }

    /// Uploading a stored blob again adds a capability with its own expiry;
    /// the blob stays until the last capability expires. A capability hash
    /// already stored is refused and changes nothing.
    pub async fn a_blob_uploaded_again_gains_a_capability_and_lives_as_long_as_its_last(
        store: &impl Store,
    ) {
        let content = vec![0x5a; 5000];
        let id = blob_id(&content);
        let [first, second, third] = [[1u8; 32], [2; 32], [3; 32]];
        store
            .put_blob(new_blob(&content, first, NOW + 100))
            .await
            .unwrap();
        store
            .put_blob(new_blob(&content, second, NOW + 200))
            .await
            .unwrap();
        // An earlier expiry for a later capability does not shorten the blob.
        store
            .put_blob(new_blob(&content, third, NOW + 50))
            .await
            .unwrap();
        for capability in [first, second, third] {
            assert_eq!(
                store.blob(&id, capability, NOW).await,
                Ok(Some(content.len() as u64))
            );
        }

        assert!(matches!(
            store
                .put_blob(new_blob(&content, first, NOW + 10_000))
                .await,
            Err(StoreError::Backend(_))
        ));
        // The refused upload did not extend the first capability.
        assert_eq!(store.blob(&id, first, NOW + 100).await, Ok(None));

        store.expire(NOW + 100).await.unwrap();
        assert_eq!(store.blob(&id, first, NOW).await, Ok(None));
        assert_eq!(store.blob(&id, third, NOW).await, Ok(None));
        assert_eq!(
            store.blob(&id, second, NOW + 100).await,
            Ok(Some(content.len() as u64))
        );

        store.expire(NOW + 200).await.unwrap();
        assert_eq!(store.blob(&id, second, NOW).await, Ok(None));
        // Once gone it can be stored afresh.
        store
            .put_blob(new_blob(&content, [4; 32], NOW + 300))
            .await
            .unwrap();
        assert_eq!(
            store.blob(&id, [4; 32], NOW).await,
            Ok(Some(content.len() as u64))
        );
    }

    /// The sweep learns which objects have a record: every recorded blob,
    /// expired or not, until `expire` deletes it; none of an unknown id.
    pub async fn recorded_blobs_are_those_with_a_record(store: &impl Store) {
        let (a, b) = (b"recorded a".to_vec(), b"recorded b".to_vec());
        store
            .put_blob(new_blob(&a, [0x1a; 32], NOW + 100))
            .await
            .unwrap();
        store
            .put_blob(new_blob(&b, [0x1b; 32], NOW + 200))
            .await
            .unwrap();
        let unknown = blob_id(b"never recorded");
        let asked = [blob_id(&a), unknown, blob_id(&b)];
        let mut recorded = store.recorded_blobs(&asked).await.unwrap();
        recorded.sort_by_key(|id| id.0);
        let mut expected = vec![blob_id(&a), blob_id(&b)];
        expected.sort_by_key(|id| id.0);
        assert_eq!(recorded, expected);
        assert_eq!(store.recorded_blobs(&[]).await, Ok(vec![]));
        // Expired but not yet swept: still recorded, so its object stays.
        assert_eq!(
            store.blob(&blob_id(&a), [0x1a; 32], NOW + 150).await,
            Ok(None)
        );
        assert_eq!(
            store.recorded_blobs(&[blob_id(&a)]).await,
            Ok(vec![blob_id(&a)])
        );
        store.expire(NOW + 150).await.unwrap();
        assert_eq!(store.recorded_blobs(&asked).await, Ok(vec![blob_id(&b)]));
        // Blobs stored through the blob store leave nothing to move.
        assert_eq!(store.blobs_in_database().await, Ok(vec![]));
        assert_eq!(store.blob_bytes_in_database(&blob_id(&b)).await, Ok(None));
    }

    /// Reports come back oldest first, with their reporter and time, within
    /// the count and the byte budget (the oldest whatever its size), until
    /// acknowledged or expired. A repeated report id is refused.
    pub async fn reports_are_fetched_oldest_first_until_acknowledged_or_expired(
        store: &impl Store,
    ) {
        let alice = address("alice", 1);
        let bob = address("bob", 7);
        assert_eq!(store.fetch_reports(10, 1 << 20, NOW).await, Ok(vec![]));
        // Submitted out of order of their times.
        let r1 = new_report(&alice, NOW + 2, LATER, &[1; 300]);
        let r0 = new_report(&bob, NOW, LATER, &[0; 500]);
        let r2 = new_report(&alice, NOW + 3, NOW + 100, &[2; 100]);
        for report in [&r1, &r0, &r2] {
            store.put_report(report.clone()).await.unwrap();
        }

        let all = store.fetch_reports(10, 1 << 20, NOW).await.unwrap();
        assert_eq!(
            report_ids(&all),
            vec![r0.report_id, r1.report_id, r2.report_id]
        );
        assert_eq!(
            all[0],
            StoredReport {
                report_id: r0.report_id,
                reporter: bob.clone(),
                received_at_ms: NOW,
                report: vec![0; 500],
            }
        );
        assert_eq!(all[1].reporter, alice);
        assert_eq!(all[1].report, vec![1; 300]);
        // Fetching removes nothing.
        assert_eq!(store.fetch_reports(10, 1 << 20, NOW).await, Ok(all.clone()));

        // The count limit, and the byte budget.
        let oldest_two = report_ids(&all[..2]);
        assert_eq!(
            report_ids(&store.fetch_reports(2, 1 << 20, NOW).await.unwrap()),
            oldest_two
        );
        assert_eq!(
            report_ids(&store.fetch_reports(10, 800, NOW).await.unwrap()),
            oldest_two
        );
        assert_eq!(
            report_ids(&store.fetch_reports(10, 899, NOW).await.unwrap()),
            oldest_two
        );
        assert_eq!(store.fetch_reports(10, 900, NOW).await.unwrap().len(), 3);
        assert_eq!(
            report_ids(&store.fetch_reports(10, 799, NOW).await.unwrap()),
            vec![r0.report_id]
        );
        // The oldest comes even over the budget.
        assert_eq!(
            report_ids(&store.fetch_reports(10, 1, NOW).await.unwrap()),
            vec![r0.report_id]
        );
        assert_eq!(store.fetch_reports(0, 1 << 20, NOW).await, Ok(vec![]));

        // A report id already stored is refused, and the stored one stays.
        let mut again = new_report(&alice, NOW + 5, LATER, b"other");
        again.report_id = r1.report_id;
        assert!(matches!(
            store.put_report(again).await,
            Err(StoreError::Backend(_))
        ));
        assert_eq!(store.fetch_reports(10, 1 << 20, NOW).await, Ok(all));

        // Acknowledged ones go; unknown ids and repeats are ignored.
        let unknown = ReportId([0xee; 16]);
        assert_eq!(
            store
                .ack_reports(&[r0.report_id, unknown, r0.report_id])
                .await,
            Ok(1)
        );
        assert_eq!(store.ack_reports(&[]).await, Ok(0));
        assert_eq!(
            report_ids(&store.fetch_reports(10, 1 << 20, NOW).await.unwrap()),
            vec![r1.report_id, r2.report_id]
        );

        // Expired ones are never fetched, and `expire` deletes them.
        assert_eq!(
            report_ids(&store.fetch_reports(10, 1 << 20, NOW + 100).await.unwrap()),
            vec![r1.report_id]
        );
        store.expire(NOW + 100).await.unwrap();
        assert_eq!(
            report_ids(&store.fetch_reports(10, 1 << 20, NOW).await.unwrap()),
            vec![r1.report_id]
        );
        assert_eq!(store.ack_reports(&[r2.report_id]).await, Ok(0));
        assert_eq!(store.ack_reports(&[r1.report_id]).await, Ok(1));
        assert_eq!(store.fetch_reports(10, 1 << 20, NOW).await, Ok(vec![]));
    }

    fn device_list(user: &str, key: u8, version: u64, devices: &[(u32, u8)]) -> NewDeviceList {
        NewDeviceList {
            user: UserId::new(user.to_owned()).unwrap(),
            account_key: [key; 32],
            version,
            list: format!("{user} list {version}").into_bytes(),
            devices: devices
                .iter()
                .map(|(device, seed)| (DeviceId(*device), identity(*seed)))
                .collect(),
        }
    }

    /// An account registers exactly its list's devices; a newer list adds
    /// and removes devices, and a removed device (also one whose identity
    /// changed) loses its tokens, challenges, prekeys and mailbox. Older or
    /// equal versions and other account keys are refused.
    pub async fn device_lists_decide_the_registered_devices(store: &impl Store) {
        let bob = |device| address("bob", device);
        let first = device_list("bob", 7, 1, &[(1, 1), (2, 2)]);
        store
            .create_account(first.clone(), None, NOW)
            .await
            .unwrap();
        assert_eq!(
            store
                .create_account(device_list("bob", 8, 1, &[(5, 5)]), None, NOW)
                .await,
            Err(StoreError::AccountExists)
        );
        let user = UserId::new("bob").unwrap();
        assert_eq!(
            store.user_devices(&user).await.unwrap(),
            [DeviceId(1), DeviceId(2)]
        );
        let account = store.account(&user).await.unwrap().unwrap();
        assert_eq!((account.account_key, account.version), ([7; 32], 1));
        assert_eq!(account.list, first.list);

        // Device 2 has a token, a challenge, prekeys and mail.
        store.put_token([0x22; 32], &bob(2), LATER).await.unwrap();
        store
            .put_challenge(&bob(2), [0x23; 32], LATER)
            .await
            .unwrap();
        store
            .publish_prekeys(&bob(2), Some(&signed_prekey(1)), &[one_time_prekey(1, 1)])
            .await
            .unwrap();
        store
            .deliver(vec![delivery(message_id(), &bob(2), b"for bob/2", LATER)])
            .await
            .unwrap();

        // Version 2: device 2 with another identity, device 3 added.
        let second = device_list("bob", 7, 2, &[(1, 1), (2, 9), (3, 3)]);
        assert_eq!(
            store.replace_device_list(second.clone(), NOW).await,
            Ok(vec![DeviceId(2)])
        );
        assert_eq!(store.device_identity(&bob(2)).await, Ok(Some(identity(9))));
        assert_eq!(store.device_identity(&bob(3)).await, Ok(Some(identity(3))));
        assert_eq!(store.token_owner([0x22; 32], NOW).await, Ok(None));
        assert_eq!(
            store.take_challenge(&bob(2), [0x23; 32], NOW).await,
            Ok(false)
        );
        assert_eq!(store.take_bundle(&bob(2)).await, Ok(None));
        assert_eq!(store.fetch(&bob(2), 10, NOW).await, Ok(vec![]));

        // Version 3 drops device 3.
        let third = device_list("bob", 7, 3, &[(1, 1), (2, 9)]);
        assert_eq!(
            store.replace_device_list(third.clone(), NOW).await,
            Ok(vec![DeviceId(3)])
        );
        assert_eq!(store.device_identity(&bob(3)).await, Ok(None));
        for refused in [
            device_list("bob", 7, 3, &[(1, 1), (3, 3)]),
            device_list("bob", 7, 2, &[(1, 1), (3, 3)]),
        ] {
            assert_eq!(
                store.replace_device_list(refused, NOW).await,
                Err(StoreError::StaleDeviceList)
            );
        }
        assert_eq!(
            store
                .replace_device_list(device_list("bob", 8, 4, &[(1, 1), (3, 3)]), NOW)
                .await,
            Err(StoreError::AccountKeyMismatch)
        );
        // The refusals changed nothing.
        assert_eq!(
            store.user_devices(&user).await.unwrap(),
            [DeviceId(1), DeviceId(2)]
        );
        assert_eq!(
            store.account(&user).await.unwrap().unwrap().list,
            third.list
        );
    }

    /// An invite is spent by the registration that uses it, once.
    pub async fn invites_are_spent_once(store: &impl Store) {
        store.add_invites(&[[1; 32], [2; 32]]).await.unwrap();
        assert_eq!(store.invite_unspent([1; 32]).await, Ok(true));
        assert_eq!(store.invite_unspent([3; 32]).await, Ok(false));
        store
            .create_account(device_list("alice", 1, 1, &[(1, 1)]), Some([1; 32]), NOW)
            .await
            .unwrap();
        assert_eq!(store.invite_unspent([1; 32]).await, Ok(false));
        assert_eq!(
            store
                .create_account(device_list("bob", 2, 1, &[(1, 2)]), Some([1; 32]), NOW)
                .await,
            Err(StoreError::InvalidInvite)
        );
        // The refused registration stored nothing.
        assert_eq!(store.account(&UserId::new("bob").unwrap()).await, Ok(None));
        assert_eq!(store.device_identity(&address("bob", 1)).await, Ok(None));
        assert_eq!(store.invite_unspent([2; 32]).await, Ok(true));
    }

    /// A suspension is kept by user id (also for a user without devices),
    /// says whether it changed anything, and leaves the user's devices,
    /// tokens and mailbox as they were.
    pub async fn suspensions_are_kept_by_user_and_lifted(store: &impl Store) {
        // The token's holder and whether their user is suspended.
        let holder = |grant: Result<Option<TokenGrant>, StoreError>| {
            grant.map(|grant| grant.map(|grant| (grant.owner, grant.suspended)))
        };
        let bob = UserId::new("bob").unwrap();
        let carol = UserId::new("carol").unwrap();
        store
            .create_account(device_list("bob", 7, 1, &[(1, 1)]), None, NOW)
            .await
            .unwrap();
        store
            .put_token([0xb0; 32], &address("bob", 1), LATER)
            .await
            .unwrap();
        let kept = message_id();
        store
            .deliver(vec![delivery(kept, &address("bob", 1), b"kept", LATER)])
            .await
            .unwrap();
        assert_eq!(store.user_suspended(&bob).await, Ok(false));
        assert_eq!(
            holder(store.token_grant([0xb0; 32], NOW).await),
            Ok(Some((address("bob", 1), false)))
        );
        assert_eq!(store.set_suspended(&bob, true, NOW).await, Ok(true));
        assert_eq!(
            holder(store.token_grant([0xb0; 32], NOW).await),
            Ok(Some((address("bob", 1), true)))
        );
        // Unknown and expired tokens have no holder, suspended or not.
        assert_eq!(holder(store.token_grant([0xb1; 32], NOW).await), Ok(None));
        assert_eq!(holder(store.token_grant([0xb0; 32], LATER).await), Ok(None));
        assert_eq!(store.set_suspended(&bob, true, NOW + 1).await, Ok(false));
        assert_eq!(store.user_suspended(&bob).await, Ok(true));
        // Only bob.
        assert_eq!(store.user_suspended(&carol).await, Ok(false));
        assert_eq!(
            store.user_suspended(&UserId::new("bo").unwrap()).await,
            Ok(false)
        );
        // Nothing else of bob's changed.
        assert_eq!(
            store.token_owner([0xb0; 32], NOW).await,
            Ok(Some(address("bob", 1)))
        );
        assert_eq!(
            ids(&store.fetch(&address("bob", 1), 10, NOW).await.unwrap()),
            vec![kept]
        );
        assert_eq!(store.user_devices(&bob).await, Ok(vec![DeviceId(1)]));
        assert_eq!(store.stats().await.unwrap().suspended_users, 1);

        assert_eq!(store.set_suspended(&bob, false, NOW).await, Ok(true));
        assert_eq!(store.set_suspended(&bob, false, NOW).await, Ok(false));
        assert_eq!(store.user_suspended(&bob).await, Ok(false));
        // A user id with no devices can be suspended too.
        assert_eq!(store.set_suspended(&carol, true, NOW).await, Ok(true));
        assert_eq!(store.user_suspended(&carol).await, Ok(true));
    }

    /// An operator's removal deregisters one device with everything the
    /// relay keeps for it, leaves the user's list and other devices alone,
    /// and is undone only by a newer list naming the device; revoking a
    /// user's tokens takes those of every device and of no other user.
    pub async fn an_operator_removes_a_device_and_revokes_a_users_tokens(store: &impl Store) {
        let bob = UserId::new("bob").unwrap();
        let (bob1, bob2, alice) = (address("bob", 1), address("bob", 2), address("alice", 1));
        let list = device_list("bob", 7, 1, &[(1, 1), (2, 2)]);
        store.create_account(list.clone(), None, NOW).await.unwrap();
        store
            .create_account(device_list("alice", 8, 1, &[(1, 3)]), None, NOW)
            .await
            .unwrap();
        for (hash, device) in [
            ([1; 32], &bob1),
            ([2; 32], &bob2),
            ([3; 32], &bob2),
            ([4; 32], &alice),
        ] {
            store.put_token(hash, device, LATER).await.unwrap();
        }
        store
            .publish_prekeys(&bob2, Some(&signed_prekey(1)), &[one_time_prekey(1, 1)])
            .await
            .unwrap();
        store.put_challenge(&bob2, [9; 32], LATER).await.unwrap();
        let (to_bob1, to_bob2) = (message_id(), message_id());
        store
            .deliver(vec![
                delivery(to_bob1, &bob1, b"one", LATER),
                delivery(to_bob2, &bob2, b"two", LATER),
            ])
            .await
            .unwrap();

        assert_eq!(store.remove_device(&bob2).await, Ok(true));
        assert_eq!(store.remove_device(&bob2).await, Ok(false));
        assert_eq!(store.remove_device(&address("nobody", 1)).await, Ok(false));
        assert_eq!(store.device_identity(&bob2).await, Ok(None));
        assert_eq!(store.user_devices(&bob).await, Ok(vec![DeviceId(1)]));
        for hash in [[2; 32], [3; 32]] {
            assert_eq!(store.token_owner(hash, NOW).await, Ok(None));
        }
        assert_eq!(store.take_challenge(&bob2, [9; 32], NOW).await, Ok(false));
        assert_eq!(store.take_bundle(&bob2).await, Ok(None));
        assert_eq!(store.one_time_remaining(&bob2).await, Ok(0));
        assert!(store.fetch(&bob2, 10, NOW).await.unwrap().is_empty());
        // The list stays as bob signed it, and the other device keeps all.
        let account = store.account(&bob).await.unwrap().unwrap();
        assert_eq!((account.version, account.list), (1, list.list.clone()));
        assert_eq!(
            store.token_owner([1; 32], NOW).await,
            Ok(Some(bob1.clone()))
        );
        assert_eq!(
            ids(&store.fetch(&bob1, 10, NOW).await.unwrap()),
            vec![to_bob1]
        );
        // Bob's next list that names the device registers it again.
        let mut newer = device_list("bob", 7, 2, &[(1, 1), (2, 2)]);
        newer.list = b"bob list 2".to_vec();
        assert_eq!(store.replace_device_list(newer, NOW).await, Ok(vec![]));
        assert_eq!(store.device_identity(&bob2).await, Ok(Some(identity(2))));

        store.put_token([5; 32], &bob2, LATER).await.unwrap();
        assert_eq!(store.revoke_user_tokens(&bob).await, Ok(2));
        for hash in [[1; 32], [5; 32]] {
            assert_eq!(store.token_owner(hash, NOW).await, Ok(None));
        }
        assert_eq!(store.token_owner([4; 32], NOW).await, Ok(Some(alice)));
        assert_eq!(store.revoke_user_tokens(&bob).await, Ok(0));
    }

    /// The audit log keeps every record as given and lists the newest
    /// first, as many as asked for.
    pub async fn admin_actions_are_kept_newest_first(store: &impl Store) {
        assert_eq!(store.admin_actions(10).await, Ok(vec![]));
        let record = |at_ms, action: &str, target: &str| fuin_relay::store::AdminRecord {
            at_ms,
            action: action.to_owned(),
            target: target.to_owned(),
            outcome: format!("{{\"at\":{at_ms}}}"),
        };
        let records = [
            record(NOW, "suspend", "bob"),
            record(NOW + 1, "remove_device", "bob/2"),
            // Recorded later with an earlier time: the order is the log's.
            record(NOW - 5, "purge", ""),
        ];
        for record in &records {
            store.record_admin_action(record.clone()).await.unwrap();
        }
        assert_eq!(
            store.admin_actions(10).await,
            Ok(vec![
                records[2].clone(),
                records[1].clone(),
                records[0].clone()
            ])
        );
        assert_eq!(
            store.admin_actions(2).await,
            Ok(vec![records[2].clone(), records[1].clone()])
        );
    }

    /// The counts are of what is stored, each kind on its own.
    pub async fn stats_count_what_is_stored(store: &impl Store) {
        assert_eq!(store.stats().await, Ok(Default::default()));
        store
            .create_account(device_list("bob", 7, 1, &[(1, 1), (2, 2)]), None, NOW)
            .await
            .unwrap();
        // A device from before accounts is a user too.
        store
            .register_device(&address("old", 1), &identity(3), NOW)
            .await
            .unwrap();
        store
            .put_token([1; 32], &address("bob", 1), LATER)
            .await
            .unwrap();
        store
            .deliver(vec![
                delivery(message_id(), &address("bob", 1), b"12345", LATER),
                delivery(message_id(), &address("bob", 2), b"123", LATER),
            ])
            .await
            .unwrap();
        store
            .put_blob(new_blob(&[7; 100], [1; 32], LATER))
            .await
            .unwrap();
        store
            .put_report(new_report(&address("bob", 1), NOW, LATER, b"report"))
            .await
            .unwrap();
        store
            .add_invites(&[[1; 32], [2; 32], [3; 32]])
            .await
            .unwrap();
        store
            .set_suspended(&UserId::new("old").unwrap(), true, NOW)
            .await
            .unwrap();
        assert_eq!(
            store.stats().await,
            Ok(fuin_relay::store::StoreStats {
                accounts: 2,
                devices: 3,
                envelopes: 2,
                envelope_bytes: 8,
                reports: 1,
                blobs: 1,
                blob_bytes: 100,
                tokens: 1,
                suspended_users: 1,
                invites: 3,
            })
        );
    }

    /// A link message is taken once, holds its slot until then, expires,
    /// and the number waiting is bounded.
    pub async fn link_messages_are_taken_once_and_expire(store: &impl Store) {
        let (request, grant) = (LinkSlot::Request, LinkSlot::Grant);
        let channel = [0xc1; 16];
        store
            .put_link_message(channel, request, b"request".to_vec(), NOW + 600, 10, NOW)
            .await
            .unwrap();
        assert_eq!(
            store
                .put_link_message(channel, request, b"other".to_vec(), NOW + 600, 10, NOW)
                .await,
            Err(StoreError::LinkSlotTaken)
        );
        assert_eq!(store.take_link_message(channel, grant, NOW).await, Ok(None));
        assert_eq!(
            store.take_link_message(channel, request, NOW).await,
            Ok(Some(b"request".to_vec()))
        );
        assert_eq!(
            store.take_link_message(channel, request, NOW).await,
            Ok(None)
        );

        // Expired: never handed out, its slot free again, swept.
        store
            .put_link_message(channel, grant, b"grant".to_vec(), NOW + 600, 10, NOW)
            .await
            .unwrap();
        assert_eq!(
            store.take_link_message(channel, grant, NOW + 600).await,
            Ok(None)
        );
        store
            .put_link_message(channel, grant, b"again".to_vec(), NOW + 1200, 10, NOW + 600)
            .await
            .unwrap();
        store.expire(NOW + 1200).await.unwrap();
        assert_eq!(store.take_link_message(channel, grant, NOW).await, Ok(None));

        // At most two waiting.
        for fill in [1, 2] {
            store
                .put_link_message([fill; 16], request, vec![fill], NOW + 600, 2, NOW)
                .await
                .unwrap();
        }
        assert_eq!(
            store
                .put_link_message([3; 16], request, vec![3], NOW + 600, 2, NOW)
                .await,
            Err(StoreError::LinkCapacity)
        );
        assert_eq!(
            store.take_link_message([3; 16], request, NOW).await,
            Ok(None)
        );
    }

    /// However many takes race, one gets the message.
    pub async fn a_link_message_is_taken_once_under_concurrency<S: Store>(store: &Arc<S>) {
        let channel = [0x5c; 16];
        store
            .put_link_message(channel, LinkSlot::Grant, b"grant".to_vec(), LATER, 10, NOW)
            .await
            .unwrap();
        let takes: Vec<_> = (0..16)
            .map(|_| {
                let store = store.clone();
                tokio::spawn(async move {
                    store
                        .take_link_message(channel, LinkSlot::Grant, NOW)
                        .await
                        .unwrap()
                })
            })
            .collect();
        let mut taken = Vec::new();
        for take in takes {
            taken.extend(take.await.unwrap());
        }
        assert_eq!(taken, vec![b"grant".to_vec()]);
    }
}

/// Declares one `#[tokio::test]` per suite test, each on a fresh store made
/// by `$open` (which returns a guard to keep alive and an `Arc` of the store).
macro_rules! instantiate_suite {
    ($open:path; by_ref: [$($by_ref:ident),* $(,)?]; shared: [$($shared:ident),* $(,)?]) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $by_ref() {
                let (_guard, store) = $open();
                crate::suite::$by_ref(&*store).await;
            }
        )*
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $shared() {
                let (_guard, store) = $open();
                crate::suite::$shared(&store).await;
            }
        )*
    };
}

/// The suite on SQLite, plus what only the SQLite file can show.
mod sqlite {
    use std::path::{Path, PathBuf};
    use std::sync::Arc;

    use fuin_relay::store::sqlite::SqliteStore;
    use fuin_relay::store::{NewDelivery, Store};
    use fuin_wire::{
        ContentKind, DeliveredRecord, FrameBody, FrankingCommitment, FrankingStamp, MessageId,
        Opaque, RoutingEnvelope, StampKeyId,
    };
    use tempfile::TempDir;

    use super::{LATER, NOW, address, identity, message_id};

    fn open() -> (TempDir, Arc<SqliteStore>) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("relay.db")).unwrap();
        (dir, Arc::new(store))
    }

    instantiate_suite!(open;
        by_ref: [
            register_device_is_idempotent_and_detects_conflicts,
            user_devices_are_listed_in_ascending_order,
            challenges_are_single_use_and_expire,
            tokens_resolve_expire_and_are_revoked,
            prekeys_are_published_replaced_and_handed_out,
            deliver_is_all_or_nothing_and_rejects_duplicate_ids,
            fetch_is_oldest_first_limited_and_per_mailbox,
            acknowledge_deletes_only_the_recipients_own,
            expired_envelopes_are_never_fetched_and_are_removed,
            mailbox_depths_count_what_is_stored,
            deliveries_over_the_mailbox_quota_are_refused_whole,
            prekey_uploads_over_the_pool_quota_are_refused_whole,
            challenges_beyond_the_bound_replace_the_oldest,
            blobs_are_read_only_with_their_own_capability,
            a_blob_uploaded_again_gains_a_capability_and_lives_as_long_as_its_last,
            recorded_blobs_are_those_with_a_record,
            reports_are_fetched_oldest_first_until_acknowledged_or_expired,
            device_lists_decide_the_registered_devices,
            invites_are_spent_once,
            link_messages_are_taken_once_and_expire,
            suspensions_are_kept_by_user_and_lifted,
            an_operator_removes_a_device_and_revokes_a_users_tokens,
            stats_count_what_is_stored,
            admin_actions_are_kept_newest_first,
        ];
        shared: [
            one_time_prekeys_are_handed_out_once_under_concurrency,
            concurrent_deliveries_all_succeed,
            concurrent_deliveries_never_overfill_a_mailbox,
            a_link_message_is_taken_once_under_concurrency,
        ]
    );

    fn wal_path(db: &Path) -> PathBuf {
        let mut name = db.as_os_str().to_owned();
        name.push("-wal");
        PathBuf::from(name)
    }

    /// The database file and, if present, its write-ahead log.
    fn file_bytes(store: &SqliteStore) -> Vec<u8> {
        let mut bytes = std::fs::read(store.database_path()).unwrap();
        if let Ok(wal) = std::fs::read(wal_path(store.database_path())) {
            bytes.extend_from_slice(&wal);
        }
        bytes
    }

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack
            .windows(needle.len())
            .any(|window| window == needle)
    }

    /// A `Delivered` frame as the relay stores it, whose sealed body holds
    /// `marker` somewhere in `len` bytes.
    fn record(
        recipient: &str,
        sender: &str,
        id: MessageId,
        marker: &[u8; 32],
        len: usize,
    ) -> Vec<u8> {
        let mut body = vec![0x5a; len];
        let at = (len - marker.len()) / 2;
        body[at..at + marker.len()].copy_from_slice(marker);
        DeliveredRecord {
            envelope: RoutingEnvelope {
                recipient: address(recipient, 1),
                content_kind: ContentKind::Message,
                franking_commitment: FrankingCommitment([0xc0; 32]),
                sealed_body: Opaque::borrowed(&body),
            },
            sender: address(sender, 1),
            server_time_ms: NOW,
            server_message_id: id,
            franking_stamp: FrankingStamp([0x57; 32]),
            stamp_key_id: StampKeyId(1),
        }
        .to_bytes()
        .unwrap()
    }

    /// After acknowledgement (or expiry) and a checkpoint, neither the
    /// database file nor its log holds any byte string of the envelopes:
    /// not the sealed body, the recipient, the sender or the message id.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn nothing_of_an_acknowledged_envelope_remains_in_the_file() {
        let (_dir, store) = open();
        let marker: [u8; 32] = rand::random();
        let tag = hex(&rand::random::<[u8; 8]>());
        let recipient = format!("recipient-{tag}");
        let sender = format!("sender-{tag}");
        let bystander = address("bystander", 1);

        // Other traffic that stays, sharing pages with the envelopes.
        let mut kept = Vec::new();
        for i in 0..40usize {
            let id = message_id();
            kept.push(NewDelivery {
                message_id: id,
                recipient: bystander.clone(),
                record: vec![0x42; 100 + 37 * i],
                expires_at_ms: LATER,
            });
        }
        store.deliver(kept).await.unwrap();

        // Small, page-sized and overflowing records; half are acknowledged,
        // half expire.
        let to = address(&recipient, 1);
        let mut acknowledged = Vec::new();
        let mut expiring = Vec::new();
        for (i, len) in [64usize, 300, 1500, 4000, 9000, 30_000]
            .into_iter()
            .cycle()
            .take(24)
            .enumerate()
        {
            let id = message_id();
            let expires_at_ms = if i % 2 == 0 { LATER } else { NOW + 10 };
            let record = record(&recipient, &sender, id, &marker, len);
            store
                .deliver(vec![NewDelivery {
                    message_id: id,
                    recipient: to.clone(),
                    record,
                    expires_at_ms,
                }])
                .await
                .unwrap();
            if i % 2 == 0 {
                acknowledged.push(id);
            } else {
                expiring.push(id);
            }
        }
        assert_eq!(store.fetch(&to, 100, NOW).await.unwrap().len(), 24);

        // The scan can see them while they are stored (so it is not vacuous).
        store.checkpoint().await.unwrap();
        let before = file_bytes(&store);
        assert!(contains(&before, &marker));
        assert!(contains(&before, recipient.as_bytes()));
        assert!(contains(&before, sender.as_bytes()));
        assert!(contains(&before, &acknowledged[0].0));

        assert_eq!(store.acknowledge(&to, &acknowledged).await, Ok(12));
        assert_eq!(store.expire(NOW + 10).await, Ok(12));
        assert_eq!(store.fetch(&to, 100, NOW).await, Ok(vec![]));
        assert_eq!(store.fetch(&bystander, 100, NOW).await.unwrap().len(), 40);

        store.checkpoint().await.unwrap();
        let after = file_bytes(&store);
        assert!(!contains(&after, &marker), "a sealed body remains");
        assert!(
            !contains(&after, recipient.as_bytes()),
            "the recipient remains"
        );
        assert!(!contains(&after, sender.as_bytes()), "the sender remains");
        for id in acknowledged.iter().chain(&expiring) {
            assert!(!contains(&after, &id.0), "a message id remains");
        }
    }

    /// After a blob expired and its reports were acknowledged or expired,
    /// and a checkpoint, neither the database file nor its log holds any
    /// byte string of them: not the blob's bytes, its id or capability
    /// hashes, nor a report's bytes, id or reporter.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn nothing_of_an_expired_blob_or_a_taken_report_remains_in_the_file() {
        let (_dir, store) = open();
        let marker: [u8; 32] = rand::random();
        let tag = hex(&rand::random::<[u8; 8]>());
        let reporter = address(&format!("reporter-{tag}"), 1);
        let marked = |len: usize| {
            let mut bytes = vec![0x6b; len];
            let at = (len - marker.len()) / 2;
            bytes[at..at + marker.len()].copy_from_slice(&marker);
            bytes
        };

        // A blob and a report that stay, sharing pages with the others.
        let kept_blob = vec![0x42; 10_000];
        store
            .put_blob(super::new_blob(&kept_blob, [0x42; 32], LATER))
            .await
            .unwrap();
        store
            .put_report(super::new_report(
                &address("bystander", 1),
                NOW,
                LATER,
                &[0x42; 700],
            ))
            .await
            .unwrap();

        // Blobs of one page and of many, each uploaded twice; reports small
        // and large, half acknowledged, half expiring.
        let mut blobs = Vec::new();
        for len in [200usize, 3000, 300_000] {
            let content = marked(len);
            let capabilities: [[u8; 32]; 2] = [rand::random(), rand::random()];
            for (i, capability) in capabilities.iter().enumerate() {
                store
                    .put_blob(super::new_blob(&content, *capability, NOW + 10 + i as u64))
                    .await
                    .unwrap();
            }
            blobs.push((super::blob_id(&content), capabilities));
        }
        let mut acknowledged = Vec::new();
        let mut expiring = Vec::new();
        for (i, len) in [100usize, 5000, 100_000, 400, 9000, 250_000]
            .into_iter()
            .enumerate()
        {
            let expires = if i % 2 == 0 { LATER } else { NOW + 10 };
            let report = super::new_report(&reporter, NOW + i as u64, expires, &marked(len));
            store.put_report(report.clone()).await.unwrap();
            if i % 2 == 0 {
                acknowledged.push(report.report_id);
            } else {
                expiring.push(report.report_id);
            }
        }

        // The scan can see them while they are stored.
        store.checkpoint().await.unwrap();
        let before = file_bytes(&store);
        assert!(contains(&before, &marker));
        assert!(contains(&before, reporter.user.as_str().as_bytes()));
        assert!(contains(&before, &blobs[0].0.0));
        assert!(contains(&before, &blobs[0].1[0]));
        assert!(contains(&before, &acknowledged[0].0));

        assert_eq!(store.ack_reports(&acknowledged).await, Ok(3));
        store.expire(NOW + 11).await.unwrap();
        assert_eq!(
            store
                .fetch_reports(100, usize::MAX, NOW)
                .await
                .unwrap()
                .len(),
            1
        );
        assert_eq!(
            store
                .blob(&super::blob_id(&kept_blob), [0x42; 32], NOW)
                .await,
            Ok(Some(kept_blob.len() as u64))
        );

        store.checkpoint().await.unwrap();
        let after = file_bytes(&store);
        assert!(
            !contains(&after, &marker),
            "a blob's or report's bytes remain"
        );
        assert!(
            !contains(&after, reporter.user.as_str().as_bytes()),
            "the reporter remains"
        );
        for (id, capabilities) in &blobs {
            assert!(!contains(&after, &id.0), "a blob id remains");
            for capability in capabilities {
                assert!(!contains(&after, capability), "a capability hash remains");
            }
        }
        for id in acknowledged.iter().chain(&expiring) {
            assert!(!contains(&after, &id.0), "a report id remains");
        }
    }

    /// A database of schema version 1 (before blobs and reports) gains their
    /// tables when opened, and keeps what it held.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_version_1_database_gains_the_blob_and_report_tables() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("relay.db");
        let alice = address("alice", 1);
        {
            let store = SqliteStore::open(&path).unwrap();
            store
                .register_device(&alice, &identity(1), NOW)
                .await
                .unwrap();
        }
        {
            let conn = rusqlite::Connection::open(&path).unwrap();
            conn.execute_batch(
                "DROP TABLE blob_capabilities; DROP TABLE blobs; DROP TABLE reports; \
                 PRAGMA user_version = 1;",
            )
            .unwrap();
        }
        let store = SqliteStore::open(&path).unwrap();
        assert_eq!(store.device_identity(&alice).await, Ok(Some(identity(1))));
        store
            .put_blob(super::new_blob(b"blob", [1; 32], LATER))
            .await
            .unwrap();
        store
            .put_report(super::new_report(&alice, NOW, LATER, b"report"))
            .await
            .unwrap();
        assert_eq!(store.fetch_reports(10, 100, NOW).await.unwrap().len(), 1);
        let conn = rusqlite::Connection::open(&path).unwrap();
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .unwrap();
        assert_eq!(version, 6);
    }

    /// A database of schema version 3 (before suspensions and the audit
    /// log) gains the tables when opened, empty, and keeps what it held.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_version_3_database_gains_suspensions_and_the_audit_log() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("relay.db");
        let alice = address("alice", 1);
        {
            let store = SqliteStore::open(&path).unwrap();
            store
                .register_device(&alice, &identity(1), NOW)
                .await
                .unwrap();
        }
        {
            let conn = rusqlite::Connection::open(&path).unwrap();
            conn.execute_batch(
                "DROP TABLE suspended_users; DROP TABLE admin_actions; \
                 PRAGMA user_version = 3;",
            )
            .unwrap();
        }
        let store = SqliteStore::open(&path).unwrap();
        assert_eq!(store.device_identity(&alice).await, Ok(Some(identity(1))));
        assert_eq!(store.user_suspended(&alice.user).await, Ok(false));
        assert_eq!(store.set_suspended(&alice.user, true, NOW).await, Ok(true));
        assert_eq!(store.user_suspended(&alice.user).await, Ok(true));
        assert_eq!(store.admin_actions(1).await, Ok(vec![]));
        let record = fuin_relay::store::AdminRecord {
            at_ms: NOW,
            action: "suspend".to_owned(),
            target: "alice".to_owned(),
            outcome: "{}".to_owned(),
        };
        store.record_admin_action(record.clone()).await.unwrap();
        assert_eq!(store.admin_actions(1).await, Ok(vec![record]));
        let conn = rusqlite::Connection::open(&path).unwrap();
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .unwrap();
        assert_eq!(version, 6);
    }

    /// A blob uploaded twice is one row with two capabilities.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_blob_uploaded_twice_is_stored_once() {
        let (_dir, store) = open();
        let content = vec![0x77; 20_000];
        store
            .put_blob(super::new_blob(&content, [1; 32], LATER))
            .await
            .unwrap();
        store
            .put_blob(super::new_blob(&content, [2; 32], LATER))
            .await
            .unwrap();
        let conn = rusqlite::Connection::open(store.database_path()).unwrap();
        let count = |table: &str| -> i64 {
            conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |row| {
                row.get(0)
            })
            .unwrap()
        };
        assert_eq!(count("blobs"), 1);
        assert_eq!(count("blob_capabilities"), 2);
    }

    /// What was answered `Ok` survives closing and reopening, and closing
    /// stops the writer and folds the log back into the database file.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn writes_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("relay.db");
        let alice = address("alice", 1);
        let id = message_id();
        {
            let store = SqliteStore::open(&path).unwrap();
            store
                .register_device(&alice, &identity(1), NOW)
                .await
                .unwrap();
            store
                .deliver(vec![NewDelivery {
                    message_id: id,
                    recipient: alice.clone(),
                    record: b"kept".to_vec(),
                    expires_at_ms: LATER,
                }])
                .await
                .unwrap();
        }
        assert!(!wal_path(&path).exists(), "closing checkpoints the log");

        let store = SqliteStore::open(&path).unwrap();
        assert_eq!(store.device_identity(&alice).await, Ok(Some(identity(1))));
        let fetched = store.fetch(&alice, 10, NOW).await.unwrap();
        assert_eq!(fetched.len(), 1);
        assert_eq!(fetched[0].message_id, id);
        assert_eq!(fetched[0].record, b"kept");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn the_database_is_in_wal_mode() {
        let (_dir, store) = open();
        let conn = rusqlite::Connection::open(store.database_path()).unwrap();
        let mode: String = conn
            .pragma_query_value(None, "journal_mode", |row| row.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// The suite on PostgreSQL, plus what only several nodes on one database can
/// show.
///
/// `FUIN_TEST_POSTGRES` names the database (libpq `key=value` form or a
/// `postgresql://` URL; the role must be allowed to create schemas in it),
/// e.g. `host=127.0.0.1 port=5433 user=fuin dbname=fuin_test`; `.ci/run`
/// starts such a server. Without it the tests pass without running, with a
/// note on stderr, unless `CI` is set: then they fail. Each test works in a
/// schema of its own (`fuin_test_<random>`, through `search_path`), dropped
/// when the test passes and kept for inspection when it fails.
mod postgres {
    use std::collections::BTreeSet;
    use std::io::Write;
    use std::sync::{Arc, Once};

    use std::time::Duration;

    use fuin_relay::store::postgres::PostgresStore;
    use fuin_relay::store::{MailboxTag, Store, Wakeup};
    use tokio_postgres::NoTls;

    use super::eventually::eventually_async;
    use super::{LATER, NOW, address, delivery, identity, message_id, one_time_prekey};
    use super::{ids, signed_prekey};

    const VARIABLE: &str = "FUIN_TEST_POSTGRES";
    /// Connections per store in the suite, so that parallel tests stay well
    /// under the server's `max_connections`.
    const POOL_SIZE: usize = 4;

    /// The database to test on, or `None` to skip (after saying so once).
    fn database() -> Option<String> {
        if let Some(config) = std::env::var(VARIABLE)
            .ok()
            .filter(|c| !c.trim().is_empty())
        {
            return Some(config);
        }
        if std::env::var("CI").is_ok_and(|ci| !ci.is_empty()) {
            panic!("CI is set but {VARIABLE} is not: .ci/run must start PostgreSQL");
        }
        static NOTE: Once = Once::new();
        NOTE.call_once(|| {
            // Straight to stderr, past the test harness's capture.
            let _ = writeln!(
                std::io::stderr(),
                "note: {VARIABLE} is not set: the PostgreSQL store tests are skipped \
                 (set it to a connection string, e.g. \
                 \"host=127.0.0.1 port=5433 user=fuin dbname=fuin_test\", or run .ci/run)"
            );
        });
        None
    }

    /// A schema of the test database for one test.
    struct Schema {
        database: String,
        name: String,
        /// The connection string with the schema as `search_path`.
        config: String,
    }

    impl Schema {
        /// A new empty schema, or `None` if the tests are skipped.
        async fn create() -> Option<Self> {
            let database = database()?;
            let name = format!("fuin_test_{}", hex(&rand::random::<[u8; 8]>()));
            execute(&database, &format!("CREATE SCHEMA {name}")).await;
            let config = if database.contains("://") {
                let separator = if database.contains('?') { '&' } else { '?' };
                format!("{database}{separator}options=-c%20search_path%3D{name}")
            } else {
                format!("{database} options='-c search_path={name}'")
            };
            Some(Self {
                database,
                name,
                config,
            })
        }

        /// A store (a relay node) on this schema.
        async fn store(&self) -> PostgresStore {
            PostgresStore::connect_with_pool_size(&self.config, POOL_SIZE)
                .await
                .unwrap()
        }

        async fn drop_schema(self) {
            execute(
                &self.database,
                &format!("DROP SCHEMA {} CASCADE", self.name),
            )
            .await;
        }
    }

    async fn execute(database: &str, sql: &str) {
        let (client, connection) = tokio_postgres::connect(database, NoTls)
            .await
            .unwrap_or_else(|error| panic!("cannot connect to {VARIABLE}: {error}"));
        let connection = tokio::spawn(connection);
        client.batch_execute(sql).await.unwrap();
        drop(client);
        connection.await.unwrap().unwrap();
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Like `instantiate_suite!`, for a store that is made asynchronously
    /// and may be skipped.
    macro_rules! on_postgres {
        (by_ref: [$($by_ref:ident),* $(,)?]; shared: [$($shared:ident),* $(,)?]) => {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $by_ref() {
                    let Some(schema) = Schema::create().await else { return };
                    let store = schema.store().await;
                    crate::suite::$by_ref(&store).await;
                    drop(store);
                    schema.drop_schema().await;
                }
            )*
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $shared() {
                    let Some(schema) = Schema::create().await else { return };
                    let store = Arc::new(schema.store().await);
                    crate::suite::$shared(&store).await;
                    drop(store);
                    schema.drop_schema().await;
                }
            )*
        };
    }

    on_postgres!(
        by_ref: [
            register_device_is_idempotent_and_detects_conflicts,
            user_devices_are_listed_in_ascending_order,
            challenges_are_single_use_and_expire,
            tokens_resolve_expire_and_are_revoked,
            prekeys_are_published_replaced_and_handed_out,
            deliver_is_all_or_nothing_and_rejects_duplicate_ids,
            fetch_is_oldest_first_limited_and_per_mailbox,
            acknowledge_deletes_only_the_recipients_own,
            expired_envelopes_are_never_fetched_and_are_removed,
            mailbox_depths_count_what_is_stored,
            deliveries_over_the_mailbox_quota_are_refused_whole,
            prekey_uploads_over_the_pool_quota_are_refused_whole,
            challenges_beyond_the_bound_replace_the_oldest,
            blobs_are_read_only_with_their_own_capability,
            a_blob_uploaded_again_gains_a_capability_and_lives_as_long_as_its_last,
            recorded_blobs_are_those_with_a_record,
            reports_are_fetched_oldest_first_until_acknowledged_or_expired,
            device_lists_decide_the_registered_devices,
            invites_are_spent_once,
            link_messages_are_taken_once_and_expire,
            suspensions_are_kept_by_user_and_lifted,
            an_operator_removes_a_device_and_revokes_a_users_tokens,
            stats_count_what_is_stored,
            admin_actions_are_kept_newest_first,
        ];
        shared: [
            one_time_prekeys_are_handed_out_once_under_concurrency,
            concurrent_deliveries_all_succeed,
            concurrent_deliveries_never_overfill_a_mailbox,
            a_link_message_is_taken_once_under_concurrency,
        ]
    );

    /// A database of schema version 3 (before suspensions and the audit
    /// log) gains the tables when a relay connects, empty, and keeps what
    /// it held.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_version_3_database_gains_suspensions_and_the_audit_log() {
        let Some(schema) = Schema::create().await else {
            return;
        };
        let alice = address("alice", 1);
        let store = schema.store().await;
        store
            .register_device(&alice, &identity(1), NOW)
            .await
            .unwrap();
        store.close();
        drop(store);
        execute(
            &schema.config,
            "DROP TABLE suspended_users; DROP TABLE admin_actions; \
             UPDATE fuin_schema SET version = 3;",
        )
        .await;
        let store = schema.store().await;
        assert_eq!(store.device_identity(&alice).await, Ok(Some(identity(1))));
        assert_eq!(store.user_suspended(&alice.user).await, Ok(false));
        assert_eq!(store.set_suspended(&alice.user, true, NOW).await, Ok(true));
        assert_eq!(store.user_suspended(&alice.user).await, Ok(true));
        assert_eq!(store.admin_actions(1).await, Ok(vec![]));
        let record = fuin_relay::store::AdminRecord {
            at_ms: NOW,
            action: "suspend".to_owned(),
            target: "alice".to_owned(),
            outcome: "{}".to_owned(),
        };
        store.record_admin_action(record.clone()).await.unwrap();
        assert_eq!(store.admin_actions(1).await, Ok(vec![record]));
        store.close();
        drop(store);
        schema.drop_schema().await;
    }

    /// Two relay nodes on one database: each sees what the other stored,
    /// concurrent fetches of one device's bundle spread over both hand out
    /// no one-time prekey twice, and concurrent sends to one mailbox through
    /// both are all stored, in one order that both nodes see.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn two_nodes_on_one_database_share_everything() {
        let Some(schema) = Schema::create().await else {
            return;
        };
        // Nodes starting together race to create the schema.
        let (a, b) = tokio::join!(schema.store(), schema.store());
        let nodes = [Arc::new(a), Arc::new(b)];
        let [a, b] = &nodes;

        // A device registered through one node is known to the other.
        let alice = address("alice", 1);
        let bob = address("bob", 1);
        let bob2 = address("bob", 2);
        for (node, device, seed) in [(a, &alice, 1), (b, &bob, 2), (a, &bob2, 3)] {
            node.register_device(device, &identity(seed), NOW)
                .await
                .unwrap();
        }
        assert_eq!(b.device_identity(&alice).await, Ok(Some(identity(1))));
        assert_eq!(
            a.register_device(&bob, &identity(9), NOW).await,
            Err(fuin_relay::store::StoreError::IdentityConflict)
        );

        // Delivered through one node, fetched and acknowledged through the other.
        let [m1, m2, m3] = [message_id(), message_id(), message_id()];
        a.deliver(vec![
            delivery(m1, &bob, b"to bob via a", LATER),
            delivery(m2, &bob2, b"to bob2 via a", LATER),
        ])
        .await
        .unwrap();
        b.deliver(vec![delivery(m3, &bob, b"to bob via b", LATER)])
            .await
            .unwrap();
        let fetched = b.fetch(&bob, 10, NOW).await.unwrap();
        assert_eq!(ids(&fetched), vec![m1, m3]);
        assert_eq!(fetched[0].record, b"to bob via a");
        assert_eq!(a.fetch(&bob, 10, NOW).await, Ok(fetched));
        assert_eq!(ids(&b.fetch(&bob2, 10, NOW).await.unwrap()), vec![m2]);
        assert_eq!(b.acknowledge(&bob, &[m1]).await, Ok(1));
        assert_eq!(ids(&a.fetch(&bob, 10, NOW).await.unwrap()), vec![m3]);
        // A message id stored through one node is refused through the other.
        assert!(
            a.deliver(vec![delivery(m3, &bob2, b"again", LATER)])
                .await
                .is_err()
        );

        // 100 concurrent fetches of alice's bundle over both nodes, for a pool
        // of 40: each key goes out exactly once, 60 fetches find it empty.
        let pool: Vec<_> = (1..=40).map(|id| one_time_prekey(id, id as u8)).collect();
        a.publish_prekeys(&alice, Some(&signed_prekey(7)), &pool)
            .await
            .unwrap();
        let mut tasks = Vec::new();
        for i in 0..100 {
            let node = Arc::clone(&nodes[i % 2]);
            let alice = alice.clone();
            tasks.push(tokio::spawn(async move { node.take_bundle(&alice).await }));
        }
        let mut handed_out = Vec::new();
        let mut empty = 0;
        for task in tasks {
            let bundle = task.await.unwrap().unwrap().unwrap();
            assert_eq!(bundle.signed_prekey, signed_prekey(7));
            match bundle.one_time_prekey {
                Some(key) => handed_out.push(key),
                None => empty += 1,
            }
        }
        let distinct: BTreeSet<u32> = handed_out.iter().map(|key| key.id.0).collect();
        assert_eq!(
            distinct.len(),
            handed_out.len(),
            "a key was handed out twice"
        );
        handed_out.sort_by_key(|key| key.id);
        assert_eq!(handed_out, pool);
        assert_eq!(empty, 60);
        assert_eq!(a.one_time_remaining(&alice).await, Ok(0));
        assert_eq!(b.one_time_remaining(&alice).await, Ok(0));

        // 100 concurrent sends to one mailbox, over both nodes (some fanning
        // out to a second mailbox): all stored, and both nodes list them in
        // the same order.
        let mut tasks = Vec::new();
        let mut sent = BTreeSet::new();
        for i in 0..100 {
            let node = Arc::clone(&nodes[i % 2]);
            let id = message_id();
            sent.insert(id.0);
            let mut batch = vec![delivery(id, &alice, format!("{i}").as_bytes(), LATER)];
            if i % 3 == 0 {
                batch.push(delivery(message_id(), &bob2, b"fan-out", LATER));
            }
            tasks.push(tokio::spawn(async move { node.deliver(batch).await }));
        }
        for task in tasks {
            task.await.unwrap().unwrap();
        }
        let seen_by_a = a.fetch(&alice, 1000, NOW).await.unwrap();
        assert_eq!(seen_by_a.len(), 100);
        assert_eq!(
            seen_by_a
                .iter()
                .map(|d| d.message_id.0)
                .collect::<BTreeSet<_>>(),
            sent
        );
        assert_eq!(b.fetch(&alice, 1000, NOW).await, Ok(seen_by_a));
        assert_eq!(b.fetch(&bob2, 1000, NOW).await.unwrap().len(), 1 + 34);

        for node in nodes {
            drop(node);
        }
        schema.drop_schema().await;
    }

    /// A wake-up of `waker`'s receiver within `seconds`, or a failure.
    async fn woken(
        receiver: &mut tokio::sync::mpsc::UnboundedReceiver<Wakeup>,
        seconds: u64,
    ) -> Wakeup {
        tokio::time::timeout(Duration::from_secs(seconds), receiver.recv())
            .await
            .unwrap_or_else(|_| panic!("no wake-up within {seconds} s"))
            .unwrap()
    }

    /// A store whose remote wake-ups go to the returned receiver.
    fn watched(store: &PostgresStore) -> tokio::sync::mpsc::UnboundedReceiver<Wakeup> {
        let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
        store.set_remote_waker(Arc::new(move |wakeup| {
            let _ = sender.send(wakeup);
        }));
        receiver
    }

    /// A delivery through one node wakes the other node's waiters of each
    /// recipient mailbox, once it has committed: not the delivering node
    /// itself (its relay woke its own), and not for a delivery that rolled
    /// back. When the listening connection is killed, the store listens
    /// again, wakes every waiter once, and hears later deliveries.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_delivery_wakes_the_other_node_and_a_lost_listener_comes_back() {
        let Some(schema) = Schema::create().await else {
            return;
        };
        let (a, b) = tokio::join!(schema.store(), schema.store());
        let (mut woken_a, mut woken_b) = (watched(&a), watched(&b));
        let bob = address("bob", 1);
        let carol = address("carol", 1);
        let (tag_bob, tag_carol) = (a.mailbox_tag(&bob), a.mailbox_tag(&carol));
        // Both nodes file a mailbox under the same tag, keyed (not the
        // unkeyed hash anyone could compute from the address).
        assert_eq!(b.mailbox_tag(&bob), tag_bob);
        assert_ne!(tag_bob, tag_carol);
        assert_ne!(tag_bob, MailboxTag::of(&bob));

        // Two envelopes for bob and one for carol: each mailbox once.
        let m1 = message_id();
        a.deliver(vec![
            delivery(m1, &bob, b"1", LATER),
            delivery(message_id(), &bob, b"2", LATER),
            delivery(message_id(), &carol, b"3", LATER),
        ])
        .await
        .unwrap();
        let heard = [woken(&mut woken_b, 5).await, woken(&mut woken_b, 5).await];
        assert_ne!(heard[0], heard[1]);
        for wakeup in heard {
            assert!(
                [Wakeup::Mailbox(tag_bob), Wakeup::Mailbox(tag_carol)].contains(&wakeup),
                "{wakeup:?}"
            );
        }
        // What b heard had committed: b sees it.
        assert_eq!(b.fetch(&bob, 10, NOW).await.unwrap().len(), 2);

        // a's first wake-up is b's delivery: its own came back to it before
        // (notifications arrive in commit order) and was ignored.
        b.deliver(vec![delivery(message_id(), &carol, b"4", LATER)])
            .await
            .unwrap();
        assert_eq!(woken(&mut woken_a, 5).await, Wakeup::Mailbox(tag_carol));
        // A delivery that rolls back (a message id already stored) and b's
        // own are not heard by b: the next thing b hears is bob's.
        assert!(
            a.deliver(vec![delivery(m1, &carol, b"again", LATER)])
                .await
                .is_err()
        );
        a.deliver(vec![delivery(message_id(), &bob, b"5", LATER)])
            .await
            .unwrap();
        assert_eq!(woken(&mut woken_b, 5).await, Wakeup::Mailbox(tag_bob));

        // Kill b's listening connection: b listens again on a new one and
        // wakes everyone, then hears deliveries as before.
        let pid = b.listener_pid().unwrap();
        execute(
            &schema.database,
            &format!("SELECT pg_terminate_backend({pid})"),
        )
        .await;
        assert_eq!(woken(&mut woken_b, 15).await, Wakeup::All);
        let new_pid = b.listener_pid().unwrap();
        assert_ne!(new_pid, pid);
        a.deliver(vec![delivery(message_id(), &carol, b"6", LATER)])
            .await
            .unwrap();
        assert_eq!(woken(&mut woken_b, 5).await, Wakeup::Mailbox(tag_carol));
        assert!(woken_a.try_recv().is_err());

        // Closing a store stops its listening: its connection goes away.
        b.close();
        eventually_async(
            "the listening connection to go with close()",
            Duration::from_secs(10),
            || async { !listening(&schema.database, new_pid).await },
        )
        .await;
        drop((a, b));
        schema.drop_schema().await;
    }

    /// Whether a server process `pid` is still connected.
    async fn listening(database: &str, pid: i32) -> bool {
        let (client, connection) = tokio_postgres::connect(database, NoTls).await.unwrap();
        let connection = tokio::spawn(connection);
        let count: i64 = client
            .query_one(
                "SELECT COUNT(*) FROM pg_stat_activity WHERE pid = $1",
                &[&pid],
            )
            .await
            .unwrap()
            .get(0);
        drop(client);
        connection.await.unwrap().unwrap();
        count > 0
    }

    /// What another session listening on the channel sees of a delivery:
    /// the sending node's id and the mailbox's tag, in hex, and nothing of
    /// the address.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn notifications_name_no_address() {
        let Some(schema) = Schema::create().await else {
            return;
        };
        let store = schema.store().await;
        let (client, mut connection) = tokio_postgres::connect(&schema.config, NoTls)
            .await
            .unwrap();
        let (sender, mut received) = tokio::sync::mpsc::unbounded_channel();
        let reader = tokio::spawn(async move {
            while let Some(Ok(message)) =
                std::future::poll_fn(|cx| connection.poll_message(cx)).await
            {
                if let tokio_postgres::AsyncMessage::Notification(note) = message {
                    let _ = sender.send((note.channel().to_owned(), note.payload().to_owned()));
                }
            }
        });
        let channel = store.wake_channel().to_owned();
        assert!(channel.starts_with("fuin_wake_"), "{channel}");
        client
            .batch_execute(&format!("LISTEN \"{channel}\""))
            .await
            .unwrap();

        let secret = address("secret-user-name", 77);
        store
            .deliver(vec![delivery(message_id(), &secret, b"x", LATER)])
            .await
            .unwrap();
        let (heard_on, payload) = tokio::time::timeout(Duration::from_secs(5), received.recv())
            .await
            .expect("no notification within 5 s")
            .unwrap();
        assert_eq!(heard_on, channel);
        let words: Vec<&str> = payload.split(' ').collect();
        assert_eq!(words.len(), 2, "{payload}");
        assert!(
            words
                .iter()
                .all(|word| word.len() == 16 && word.bytes().all(|b| b.is_ascii_hexdigit())),
            "{payload}"
        );
        assert_eq!(words[1], hex(&store.mailbox_tag(&secret).0));
        assert!(!payload.contains("secret"), "{payload}");
        drop(client);
        reader.await.unwrap();
        drop(store);
        schema.drop_schema().await;
    }

    /// A store reconnecting to a database that has the schema keeps what
    /// was stored; several nodes connecting at once all succeed.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn reconnecting_keeps_the_data_and_connecting_races_are_harmless() {
        let Some(schema) = Schema::create().await else {
            return;
        };
        let mut connecting = Vec::new();
        for _ in 0..6 {
            let config = schema.config.clone();
            connecting.push(tokio::spawn(async move {
                PostgresStore::connect_with_pool_size(&config, 1).await
            }));
        }
        for task in connecting {
            task.await.unwrap().unwrap();
        }

        let alice = address("alice", 1);
        let id = message_id();
        {
            let store = PostgresStore::connect(&schema.config).await.unwrap();
            store
                .register_device(&alice, &identity(1), NOW)
                .await
                .unwrap();
            store
                .deliver(vec![delivery(id, &alice, b"kept", LATER)])
                .await
                .unwrap();
            store.close();
            assert!(store.device_identity(&alice).await.is_err());
        }
        let store = schema.store().await;
        assert_eq!(store.device_identity(&alice).await, Ok(Some(identity(1))));
        assert_eq!(ids(&store.fetch(&alice, 10, NOW).await.unwrap()), vec![id]);
        drop(store);
        schema.drop_schema().await;
    }

    /// A bad connection string or an unreachable server is an error that
    /// names the cause and does not repeat the connection string. (Needs no
    /// database.)
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn connection_failures_name_the_cause_without_data() {
        use fuin_relay::store::{OpenFailure, StoreError};
        for (config, expected) in [
            (
                "host=127.0.0.1 port=1 user=secret-user password=secret-password connect_timeout=2",
                StoreError::Open(OpenFailure::CannotConnect),
            ),
            (
                "no_such_key=secret-value",
                StoreError::Backend("connect: config".to_owned()),
            ),
        ] {
            let error = PostgresStore::connect(config).await.unwrap_err();
            assert_eq!(error, expected);
            assert!(!error.to_string().contains("secret"), "{error}");
        }
    }
}
