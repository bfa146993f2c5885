//! Blobs: reading with a capability, uploading again, and which blobs the
//! sweep finds recorded.

use fuin_relay::store::{Store, StoreError};

use crate::{NOW, blob_id, new_blob};

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
