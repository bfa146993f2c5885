//! The attachment reference body: every valid reference round-trips, the
//! encoding is canonical, and every kind of malformed body is refused with
//! the error that names it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod strategies;

use fuin_wire::attachment::*;
use fuin_wire::{BlobId, DeviceAddress, DeviceId, UserId, WireError};
use proptest::prelude::*;

fn reference() -> AttachmentReference<'static> {
    AttachmentReference {
        owner: DeviceAddress::new(UserId::new("alice").unwrap(), DeviceId(1)),
        conversation: ConversationDigest([7; 32]),
        content_type: MediaType::new("image/jpeg").unwrap(),
        object: SealedObjectRef {
            object_id: ObjectId([1; 16]),
            key: AttachmentKey([2; 32]),
            blob_id: BlobId([3; 32]),
            sealed_len: 300,
        },
        thumbnail: None,
        file_name: None,
    }
}

proptest! {
    #[test]
    fn any_reference_round_trips(reference in strategies::attachment_reference()) {
        let bytes = reference.to_bytes().unwrap();
        prop_assert!(bytes.len() <= MAX_REFERENCE_LEN);
        let decoded = AttachmentReference::from_bytes(&bytes).unwrap();
        prop_assert_eq!(&decoded, &reference);
        prop_assert_eq!(&decoded.to_bytes().unwrap(), &bytes);
        prop_assert_eq!(fuin_wire::fuzzing::attachment_reference_violation(&bytes), None);
    }

    #[test]
    fn every_cut_of_a_reference_is_refused(reference in strategies::attachment_reference()) {
        let bytes = reference.to_bytes().unwrap();
        for cut in 0..bytes.len() {
            prop_assert!(AttachmentReference::from_bytes(&bytes[..cut]).is_err(), "cut {}", cut);
        }
    }
}

#[test]
fn the_largest_reference_fits_the_limit() {
    let object = |b| SealedObjectRef {
        object_id: ObjectId([b; 16]),
        key: AttachmentKey([b; 32]),
        blob_id: BlobId([b; 32]),
        sealed_len: u64::MAX,
    };
    let media = MediaType::new(format!("a/{}", "b".repeat(MAX_MEDIA_TYPE_LEN - 2))).unwrap();
    let largest = AttachmentReference {
        owner: DeviceAddress::new(UserId::new("u".repeat(64)).unwrap(), DeviceId(u32::MAX)),
        conversation: ConversationDigest([0xff; 32]),
        content_type: media.clone(),
        object: object(1),
        thumbnail: Some(ThumbnailReference {
            content_type: media,
            object: object(2),
        }),
        file_name: Some(FileName::new("x".repeat(MAX_FILE_NAME_LEN)).unwrap()),
    };
    let bytes = largest.to_bytes().unwrap();
    assert!(bytes.len() <= 800, "{} bytes", bytes.len());
    assert_eq!(AttachmentReference::from_bytes(&bytes).unwrap(), largest);
}

#[test]
fn malformed_references_are_refused_with_the_error_that_names_them() {
    let bytes = reference().to_bytes().unwrap();
    assert_eq!(
        AttachmentReference::from_bytes(&[]),
        Err(WireError::Truncated)
    );
    let mut other_version = bytes.to_vec();
    other_version[0] = 2;
    assert_eq!(
        AttachmentReference::from_bytes(&other_version),
        Err(WireError::UnknownVersion { version: 2 })
    );
    let mut trailing = bytes.to_vec();
    trailing.push(0);
    assert_eq!(
        AttachmentReference::from_bytes(&trailing),
        Err(WireError::TrailingBytes { count: 1 })
    );
    let too_long = vec![1u8; MAX_REFERENCE_LEN + 1];
    assert_eq!(
        AttachmentReference::from_bytes(&too_long),
        Err(WireError::LimitExceeded {
            field: "attachment_reference",
            len: MAX_REFERENCE_LEN + 1,
            max: MAX_REFERENCE_LEN
        })
    );
    // The option tag of the thumbnail (after the sealed length, 300 = two
    // varint bytes) set to 2.
    let mut bad_option = bytes.to_vec();
    let thumbnail_tag = bad_option.len() - 2;
    assert_eq!(bad_option[thumbnail_tag], 0);
    bad_option[thumbnail_tag] = 2;
    assert!(matches!(
        AttachmentReference::from_bytes(&bad_option),
        Err(WireError::Malformed { .. })
    ));
}

/// The body of `reference()` with its content type replaced by `text`
/// (bypassing the encoder's checks).
fn with_content_type(text: &str) -> Vec<u8> {
    let mut out = vec![REFERENCE_VERSION];
    out.push(5);
    out.extend_from_slice(b"alice");
    out.push(1);
    out.extend_from_slice(&[7; 32]);
    out.push(text.len() as u8);
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(&[1; 16]);
    out.extend_from_slice(&[2; 32]);
    out.extend_from_slice(&[3; 32]);
    out.extend_from_slice(&[0xac, 0x02]); // 300
    out.extend_from_slice(&[0, 0]);
    out
}

#[test]
fn field_rules_are_enforced_when_decoding() {
    assert_eq!(
        AttachmentReference::from_bytes(&with_content_type("image/jpeg")).unwrap(),
        reference()
    );
    for bad in ["imagejpeg", "Image/jpeg", "image/jpeg;q=1", "image/", "/"] {
        assert!(
            matches!(
                AttachmentReference::from_bytes(&with_content_type(bad)),
                Err(WireError::InvalidField {
                    field: "content_type",
                    ..
                })
            ),
            "{bad}"
        );
    }
    // A file name that is a path.
    let mut with_name = with_content_type("image/jpeg");
    with_name.pop();
    with_name.extend_from_slice(&[1, 3]);
    with_name.extend_from_slice(b"a/b");
    assert!(matches!(
        AttachmentReference::from_bytes(&with_name),
        Err(WireError::InvalidField {
            field: "file_name",
            ..
        })
    ));
}

#[test]
fn a_non_canonical_encoding_is_refused() {
    // The device id 1 written as a two-byte varint.
    let mut body = with_content_type("image/jpeg");
    body.splice(7..8, [0x81, 0x00]);
    assert_eq!(
        AttachmentReference::from_bytes(&body),
        Err(WireError::NonCanonical)
    );
}
