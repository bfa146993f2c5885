//! Administration: suspensions, an operator's removal of a device, the
//! audit log, and the stats.

use fuin_relay::store::{Store, StoreError, TokenGrant};
use fuin_wire::{DeviceId, UserId};

use crate::{
    LATER, NOW, address, delivery, device_list, identity, ids, message_id, new_blob, new_report,
    one_time_prekey, signed_prekey,
};

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
