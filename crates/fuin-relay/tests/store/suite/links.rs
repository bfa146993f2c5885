//! Link messages (adding a device): taken once, bounded, and expiring.

use std::sync::Arc;

use fuin_relay::store::{LinkSlot, Store, StoreError};

use crate::{LATER, NOW};

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
