//! KEM prekeys: the last-resort key and the one-time pool, handed out
//! with the bundle, each one-time key at most once, and counted.

use std::collections::BTreeSet;
use std::sync::Arc;

use fuin_relay::store::{NewPrekeys, PrekeyCounts, Store, StoreError};
use fuin_wire::KemPrekey;

use crate::{NOW, address, identity, kem_prekey, one_time_prekey, signed_prekey};

/// A one-time KEM prekey goes out with each bundle, lowest id first, and
/// is gone once handed out; with the pool empty, the last-resort key goes
/// out every time and stays. A device with neither gets no KEM prekey.
pub async fn kem_prekeys_are_handed_out_then_the_last_resort_one<S: Store>(store: &S) {
    let alice = address("alice", 1);
    store
        .register_device(&alice, &identity(1), NOW)
        .await
        .unwrap();
    // Registered before KEM prekeys, or never published one: the bundle
    // has none (the initiator refuses it by name).
    store
        .publish_prekeys(&alice, Some(&signed_prekey(1)), &[one_time_prekey(2, 2)])
        .await
        .unwrap();
    let bundle = store.take_bundle(&alice).await.unwrap().unwrap();
    assert_eq!(bundle.kem_prekey, None);
    assert_eq!(
        store.prekey_counts(&alice).await,
        Ok(PrekeyCounts::default())
    );

    let last_resort = kem_prekey(10, 0x10);
    let pool = [kem_prekey(11, 0x11), kem_prekey(12, 0x12)];
    let counts = store
        .publish_prekey_upload(
            &alice,
            NewPrekeys {
                last_resort_kem_prekey: Some(&last_resort),
                one_time_kem_prekeys: &pool,
                ..NewPrekeys::default()
            },
            u32::MAX,
        )
        .await;
    let expected = PrekeyCounts {
        one_time: 0,
        one_time_kem: 2,
        last_resort_kem: true,
    };
    assert_eq!(counts, Ok(expected));
    assert_eq!(store.prekey_counts(&alice).await, Ok(expected));

    for (taken, left) in [(&pool[0], 1), (&pool[1], 0)] {
        let bundle = store.take_bundle(&alice).await.unwrap().unwrap();
        assert_eq!(bundle.kem_prekey.as_ref(), Some(taken));
        let counts = store.prekey_counts(&alice).await.unwrap();
        assert_eq!(counts.one_time_kem, left);
    }
    // The pool is empty: the last-resort key, again and again, kept.
    for _ in 0..3 {
        let bundle = store.take_bundle(&alice).await.unwrap().unwrap();
        assert_eq!(bundle.kem_prekey, Some(last_resort.clone()));
        assert_eq!(bundle.signed_prekey, signed_prekey(1));
    }
    assert_eq!(
        store.prekey_counts(&alice).await,
        Ok(PrekeyCounts {
            one_time: 0,
            one_time_kem: 0,
            last_resort_kem: true,
        })
    );

    // A new last-resort key replaces the old one.
    let rotated = kem_prekey(20, 0x20);
    store
        .publish_prekey_upload(
            &alice,
            NewPrekeys {
                last_resort_kem_prekey: Some(&rotated),
                ..NewPrekeys::default()
            },
            u32::MAX,
        )
        .await
        .unwrap();
    let bundle = store.take_bundle(&alice).await.unwrap().unwrap();
    assert_eq!(bundle.kem_prekey, Some(rotated));

    // Without a signed prekey there is no bundle, and the KEM pool is
    // untouched.
    let bob = address("bob", 1);
    store
        .register_device(&bob, &identity(2), NOW)
        .await
        .unwrap();
    store
        .publish_prekey_upload(
            &bob,
            NewPrekeys {
                one_time_kem_prekeys: &[kem_prekey(1, 1)],
                ..NewPrekeys::default()
            },
            u32::MAX,
        )
        .await
        .unwrap();
    assert_eq!(store.take_bundle(&bob).await, Ok(None));
    assert_eq!(store.prekey_counts(&bob).await.unwrap().one_time_kem, 1);

    // Unknown devices: refused, and counted as empty.
    let nobody = address("nobody", 1);
    assert_eq!(
        store
            .publish_prekey_upload(
                &nobody,
                NewPrekeys {
                    last_resort_kem_prekey: Some(&kem_prekey(1, 1)),
                    ..NewPrekeys::default()
                },
                u32::MAX,
            )
            .await,
        Err(StoreError::UnknownDevice)
    );
    assert_eq!(
        store.prekey_counts(&nobody).await,
        Ok(PrekeyCounts::default())
    );
}

/// 40 concurrent fetchers for a device with 15 one-time KEM prekeys: each
/// one-time key goes out exactly once, every other fetcher gets the
/// last-resort key, and the last-resort key is still there afterwards.
pub async fn one_time_kem_prekeys_are_handed_out_once_under_concurrency<S: Store>(store: &Arc<S>) {
    let carol = address("carol", 1);
    store
        .register_device(&carol, &identity(3), NOW)
        .await
        .unwrap();
    let last_resort = kem_prekey(1000, 0xee);
    let pool: Vec<KemPrekey> = (1..=15).map(|id| kem_prekey(id, id as u8)).collect();
    let one_time: Vec<_> = (1..=8).map(|id| one_time_prekey(id, id as u8)).collect();
    store
        .publish_prekey_upload(
            &carol,
            NewPrekeys {
                signed_prekey: Some(&signed_prekey(500)),
                one_time_prekeys: &one_time,
                last_resort_kem_prekey: Some(&last_resort),
                one_time_kem_prekeys: &pool,
            },
            u32::MAX,
        )
        .await
        .unwrap();

    let fetchers = 40;
    let tasks: Vec<_> = (0..fetchers)
        .map(|_| {
            let store = Arc::clone(store);
            let carol = carol.clone();
            tokio::spawn(async move { store.take_bundle(&carol).await })
        })
        .collect();
    let mut one_time_kem = Vec::new();
    let mut last_resort_given = 0;
    let mut one_time_x25519 = Vec::new();
    for task in tasks {
        let bundle = task.await.unwrap().unwrap().unwrap();
        let kem = bundle.kem_prekey.expect("every bundle has a KEM prekey");
        if kem == last_resort {
            last_resort_given += 1;
        } else {
            one_time_kem.push(kem);
        }
        one_time_x25519.extend(bundle.one_time_prekey);
    }
    let distinct: BTreeSet<u32> = one_time_kem.iter().map(|kem| kem.id.0).collect();
    assert_eq!(
        distinct.len(),
        one_time_kem.len(),
        "a one-time KEM prekey was handed out twice"
    );
    assert_eq!(
        one_time_kem.len(),
        pool.len(),
        "a one-time KEM prekey was lost"
    );
    let mut sorted = one_time_kem;
    sorted.sort_by_key(|kem| kem.id);
    assert_eq!(sorted, pool, "the device's own keys, unaltered");
    assert_eq!(last_resort_given, fetchers - pool.len());
    // The X25519 pool was taken in the same steps, also once each.
    let x25519: BTreeSet<u32> = one_time_x25519.iter().map(|key| key.id.0).collect();
    assert_eq!(x25519.len(), one_time.len());
    assert_eq!(one_time_x25519.len(), one_time.len());
    assert_eq!(
        store.prekey_counts(&carol).await,
        Ok(PrekeyCounts {
            one_time: 0,
            one_time_kem: 0,
            last_resort_kem: true,
        })
    );
    let after = store.take_bundle(&carol).await.unwrap().unwrap();
    assert_eq!(after.kem_prekey, Some(last_resort));
}

/// The one-time KEM pool has a quota like the X25519 pool's: an upload
/// that would grow it over the quota changes nothing (its X25519 part and
/// last-resort key included); one that does not grow it is taken.
pub async fn kem_prekey_uploads_over_the_pool_quota_are_refused_whole<S: Store>(store: &S) {
    let dave = address("dave", 1);
    store
        .register_device(&dave, &identity(4), NOW)
        .await
        .unwrap();
    let pool = |ids: std::ops::Range<u32>| -> Vec<KemPrekey> {
        ids.map(|id| kem_prekey(id, id as u8)).collect()
    };
    let first = pool(0..3);
    store
        .publish_prekey_upload(
            &dave,
            NewPrekeys {
                signed_prekey: Some(&signed_prekey(100)),
                last_resort_kem_prekey: Some(&kem_prekey(50, 0x50)),
                one_time_kem_prekeys: &first,
                ..NewPrekeys::default()
            },
            3,
        )
        .await
        .unwrap();
    let over = pool(3..4);
    let one_time = [one_time_prekey(70, 0x70)];
    assert_eq!(
        store
            .publish_prekey_upload(
                &dave,
                NewPrekeys {
                    signed_prekey: Some(&signed_prekey(101)),
                    one_time_prekeys: &one_time,
                    last_resort_kem_prekey: Some(&kem_prekey(51, 0x51)),
                    one_time_kem_prekeys: &over,
                },
                3,
            )
            .await,
        Err(StoreError::KemPrekeyPoolFull)
    );
    // Nothing of it was stored.
    assert_eq!(
        store.prekey_counts(&dave).await,
        Ok(PrekeyCounts {
            one_time: 0,
            one_time_kem: 3,
            last_resort_kem: true,
        })
    );
    // Replacing ids already in the pool does not grow it.
    let replaced = [kem_prekey(0, 0xa0), kem_prekey(1, 0xa1)];
    let counts = store
        .publish_prekey_upload(
            &dave,
            NewPrekeys {
                one_time_kem_prekeys: &replaced,
                ..NewPrekeys::default()
            },
            3,
        )
        .await
        .unwrap();
    assert_eq!(counts.one_time_kem, 3);
    let bundle = store.take_bundle(&dave).await.unwrap().unwrap();
    assert_eq!(bundle.signed_prekey, signed_prekey(100));
    assert_eq!(bundle.kem_prekey, Some(replaced[0].clone()));
    assert_eq!(bundle.one_time_prekey, None);
}
