//! Devices and accounts: registration, a user's devices, device lists and
//! the invites that admit a new account.

use fuin_relay::store::{Registration, Store, StoreError};
use fuin_wire::{DeviceId, UserId};

use crate::{
    LATER, NOW, address, delivery, device_list, identity, message_id, one_time_prekey,
    signed_prekey,
};

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
