//! Prekeys: publishing, handing out each one-time prekey once, and the
//! pool's quota.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use fuin_relay::store::{Store, StoreError};
use fuin_wire::{DeviceAddress, OneTimePrekey};

use crate::{NOW, address, identity, one_time_prekey, signed_prekey};

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
