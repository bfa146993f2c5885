//! Authentication: single-use challenges (and their bound per device) and
//! the tokens they are exchanged for.

use fuin_relay::store::{Store, StoreError, TokenGrant};

use crate::{LATER, NOW, address, identity};

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
