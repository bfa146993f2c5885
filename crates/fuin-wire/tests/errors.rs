//! Every `WireError` variant, reached by the input that should cause it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use fuin_wire::limits::{
    MAX_CONTENT_BODY_LEN, MAX_FRAME_LEN, MAX_SEALED_BODY_LEN, MAX_SEALED_REPORT_LEN,
};
use fuin_wire::*;

fn envelope(user: &str, body: Vec<u8>) -> RoutingEnvelope<'static> {
    RoutingEnvelope {
        recipient: DeviceAddress::new(UserId::new(user.to_owned()).unwrap(), DeviceId(1)),
        content_kind: ContentKind::Message,
        franking_commitment: FrankingCommitment([7; 32]),
        sealed_body: Opaque::from(body),
    }
}

fn ratchet_message(ciphertext: Vec<u8>) -> RatchetMessage<'static> {
    RatchetMessage {
        header: RatchetHeader {
            ratchet_key: X25519PublicKey([3; 32]),
            previous_chain_length: 0,
            counter: 0,
        },
        ciphertext: Opaque::from(ciphertext),
    }
}

fn prekey_message(ciphertext: Vec<u8>) -> PrekeyMessage<'static> {
    PrekeyMessage {
        initiator: PublicIdentity {
            signing_key: Ed25519PublicKey([1; 32]),
            agreement_key: X25519PublicKey([2; 32]),
            signature: Ed25519Signature([3; 64]),
        },
        base_key: X25519PublicKey([4; 32]),
        signed_prekey_id: PrekeyId(1),
        one_time_prekey_id: None,
        message: ratchet_message(ciphertext),
    }
}

fn content(content_type: ContentType, body: Vec<u8>) -> MessageContent<'static> {
    MessageContent {
        content_type,
        message_id: ClientMessageId([5; 16]),
        sequence: 0,
        sent_at_ms: 0,
        conversation: ConversationRef::Direct {
            peer: UserId::new("bob").unwrap(),
        },
        franking_key: FrankingKey([6; 32]),
        body: Opaque::from(body),
    }
}

/// Hand-built envelope frame (spec/wire.md): version, tag 2, user id,
/// device, content kind, commitment, body.
fn raw_envelope(user: &[u8], device: &[u8], kind: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![WIRE_VERSION, 2];
    assert!(user.len() < 128 && body.len() < 128);
    out.push(user.len() as u8);
    out.extend_from_slice(user);
    out.extend_from_slice(device);
    out.push(kind);
    out.extend_from_slice(&[7; 32]);
    out.push(body.len() as u8);
    out.extend_from_slice(body);
    out
}

#[test]
fn hand_built_envelope_matches_the_codec() {
    // The helper below must be right for the error tests to mean anything.
    let expected = envelope("bob", b"hi".to_vec()).to_bytes().unwrap();
    assert_eq!(raw_envelope(b"bob", &[1], 0, b"hi"), expected);
}

#[test]
fn empty_input_is_truncated() {
    assert_eq!(Frame::decode(&[]), Err(WireError::Truncated));
    assert_eq!(Frame::decode(&[WIRE_VERSION]), Err(WireError::Truncated));
}

#[test]
fn every_strict_prefix_of_a_frame_is_truncated() {
    let bytes = envelope("bob", b"sealed".to_vec()).to_bytes().unwrap();
    for len in 0..bytes.len() {
        assert_eq!(
            Frame::decode(&bytes[..len]),
            Err(WireError::Truncated),
            "prefix of {len} bytes"
        );
    }
}

#[test]
fn oversized_frame_is_rejected_before_decoding() {
    let mut bytes = vec![0u8; MAX_FRAME_LEN + 1];
    bytes[0] = WIRE_VERSION;
    assert_eq!(
        Frame::decode(&bytes),
        Err(WireError::FrameTooLarge {
            len: MAX_FRAME_LEN + 1,
            max: MAX_FRAME_LEN
        })
    );
}

#[test]
fn unknown_versions_are_rejected() {
    let mut bytes = BlobId([1; 32]).to_bytes().unwrap();
    for version in [0u8, 2, 0xff] {
        bytes[0] = version;
        assert_eq!(
            Frame::decode(&bytes),
            Err(WireError::UnknownVersion { version })
        );
    }
}

#[test]
fn unknown_frame_tags_are_rejected_by_number() {
    let next = FrameKind::ALL.len() as u8;
    assert_eq!(
        Frame::decode(&[WIRE_VERSION, next, 0, 0]),
        Err(WireError::UnknownVariant {
            tag: u32::from(next)
        })
    );
    // A two-byte tag: 0x80 0x01 is 128.
    assert_eq!(
        Frame::decode(&[WIRE_VERSION, 0x80, 0x01]),
        Err(WireError::UnknownVariant { tag: 128 })
    );
}

#[test]
fn a_bad_tag_varint_is_malformed() {
    assert_eq!(
        Frame::decode(&[WIRE_VERSION, 0xff, 0xff, 0xff, 0xff, 0x7f]),
        Err(WireError::Malformed {
            reason: "bad varint"
        })
    );
}

#[test]
fn sealed_body_over_the_limit_is_refused_both_ways() {
    let limit_error = WireError::LimitExceeded {
        field: "sealed_body",
        len: MAX_SEALED_BODY_LEN + 1,
        max: MAX_SEALED_BODY_LEN,
    };
    let at_limit = envelope("bob", vec![0; MAX_SEALED_BODY_LEN]);
    let mut bytes = at_limit.to_bytes().unwrap();
    assert!(Frame::decode(&bytes).is_ok());

    let over = envelope("bob", vec![0; MAX_SEALED_BODY_LEN + 1]);
    assert_eq!(over.to_bytes(), Err(limit_error.clone()));
    assert_eq!(Frame::Envelope(over).encode(), Err(limit_error.clone()));

    // Patch the body length varint (3 bytes: 65536 = 0x80 0x80 0x04) to 65537
    // and append one byte.
    let at = 1 + 1 + 1 + 3 + 1 + 1 + 32;
    assert_eq!(&bytes[at..at + 3], &[0x80, 0x80, 0x04]);
    bytes[at] = 0x81;
    bytes.push(0);
    assert_eq!(Frame::decode(&bytes), Err(limit_error));
}

#[test]
fn ratchet_ciphertext_over_the_limit_is_refused_both_ways() {
    let limit_error = WireError::LimitExceeded {
        field: "ciphertext",
        len: MAX_SEALED_BODY_LEN + 1,
        max: MAX_SEALED_BODY_LEN,
    };
    let at_limit = ratchet_message(vec![0; MAX_SEALED_BODY_LEN]);
    let mut bytes = at_limit.to_bytes().unwrap();
    assert!(Frame::decode(&bytes).is_ok());

    let over = ratchet_message(vec![0; MAX_SEALED_BODY_LEN + 1]);
    assert_eq!(over.to_bytes(), Err(limit_error.clone()));
    assert_eq!(
        Frame::RatchetMessage(over.clone()).encode(),
        Err(limit_error.clone())
    );

    // Patch the ciphertext length varint (65536 = 0x80 0x80 0x04) to 65537 and
    // append one byte. Before it: version, tag, ratchet key, the two one-byte
    // counters.
    let at = 1 + 1 + 32 + 1 + 1;
    assert_eq!(&bytes[at..at + 3], &[0x80, 0x80, 0x04]);
    bytes[at] = 0x81;
    bytes.push(0);
    assert_eq!(Frame::decode(&bytes), Err(limit_error));
}

#[test]
fn prekey_message_ciphertext_over_the_limit_is_refused_both_ways() {
    let limit_error = WireError::LimitExceeded {
        field: "ciphertext",
        len: MAX_SEALED_BODY_LEN + 1,
        max: MAX_SEALED_BODY_LEN,
    };
    let at_limit = prekey_message(vec![0; MAX_SEALED_BODY_LEN]);
    let mut bytes = at_limit.to_bytes().unwrap();
    assert!(Frame::decode(&bytes).is_ok());

    let over = prekey_message(vec![0; MAX_SEALED_BODY_LEN + 1]);
    assert_eq!(over.to_bytes(), Err(limit_error.clone()));
    assert_eq!(
        Frame::PrekeyMessage(over).encode(),
        Err(limit_error.clone())
    );

    // Version, tag, identity, base key, signed prekey id, absent one-time
    // prekey id, then the ratchet message as above.
    let at = 1 + 1 + 128 + 32 + 1 + 1 + 32 + 1 + 1;
    assert_eq!(&bytes[at..at + 3], &[0x80, 0x80, 0x04]);
    bytes[at] = 0x81;
    bytes.push(0);
    assert_eq!(Frame::decode(&bytes), Err(limit_error));
}

#[test]
fn content_body_over_the_limit_is_refused_both_ways() {
    let limit_error = WireError::LimitExceeded {
        field: "body",
        len: MAX_CONTENT_BODY_LEN + 1,
        max: MAX_CONTENT_BODY_LEN,
    };
    let at_limit = content(ContentType::Text, vec![0; MAX_CONTENT_BODY_LEN]);
    let mut bytes = at_limit.to_bytes().unwrap();
    assert!(Frame::decode(&bytes).is_ok());

    let over = content(ContentType::Text, vec![0; MAX_CONTENT_BODY_LEN + 1]);
    assert_eq!(over.to_bytes(), Err(limit_error.clone()));
    assert_eq!(
        Frame::MessageContent(over).encode(),
        Err(limit_error.clone())
    );

    // Patch the body length varint (64512 = 0x80 0xf8 0x03) to 64513 and
    // append one byte. Before it: version, tag, content type, message id,
    // the one-byte sequence and time, the conversation (tag, length, "bob"),
    // franking key.
    let at = 1 + 1 + 1 + 16 + 1 + 1 + (1 + 1 + 3) + 32;
    assert_eq!(&bytes[at..at + 3], &[0x80, 0xf8, 0x03]);
    bytes[at] = 0x81;
    bytes.push(0);
    assert_eq!(Frame::decode(&bytes), Err(limit_error));
}

#[test]
fn content_body_between_the_two_limits_is_refused() {
    // A content body is held to its own, smaller limit, not to the sealed
    // body's: one that would fit in a sealed body is still refused.
    let between = content(ContentType::Receipt, vec![0; MAX_CONTENT_BODY_LEN + 512]);
    assert!(matches!(
        between.to_bytes(),
        Err(WireError::LimitExceeded { field: "body", .. })
    ));
}

#[test]
fn unknown_content_type_is_malformed() {
    let mut bytes = content(ContentType::Text, b"hi".to_vec())
        .to_bytes()
        .unwrap();
    // Byte 2 is the content type, right after version and tag.
    assert_eq!(bytes[2], 0);
    bytes[2] = 1;
    assert!(matches!(
        Frame::decode(&bytes),
        Ok(Frame::MessageContent(MessageContent {
            content_type: ContentType::Receipt,
            ..
        }))
    ));
    for unknown in [2u8, 0x7f] {
        bytes[2] = unknown;
        assert_eq!(
            Frame::decode(&bytes),
            Err(WireError::Malformed {
                reason: "value outside the set its field allows"
            }),
            "content type {unknown}"
        );
    }
    // A two-byte index (0x80 0x01 is 128) is just as unknown.
    bytes.splice(2..3, [0x80, 0x01]);
    assert_eq!(
        Frame::decode(&bytes),
        Err(WireError::Malformed {
            reason: "value outside the set its field allows"
        })
    );
}

#[test]
fn prekey_message_option_tag_other_than_zero_or_one_is_malformed() {
    let mut bytes = prekey_message(b"ct".to_vec()).to_bytes().unwrap();
    let at = 1 + 1 + 128 + 32 + 1;
    assert_eq!(bytes[at], 0);
    bytes[at] = 2;
    assert_eq!(
        Frame::decode(&bytes),
        Err(WireError::Malformed {
            reason: "option tag is neither 0 nor 1"
        })
    );
}

#[test]
fn every_strict_prefix_of_a_protocol_frame_is_truncated() {
    let mut with_one_time = prekey_message(b"ciphertext".to_vec());
    with_one_time.one_time_prekey_id = Some(PrekeyId(300));
    let frames = [
        ratchet_message(b"ciphertext".to_vec()).to_bytes().unwrap(),
        with_one_time.to_bytes().unwrap(),
        content(ContentType::Receipt, b"body".to_vec())
            .to_bytes()
            .unwrap(),
    ];
    for bytes in frames {
        assert!(Frame::decode(&bytes).is_ok());
        for len in 0..bytes.len() {
            assert_eq!(
                Frame::decode(&bytes[..len]),
                Err(WireError::Truncated),
                "prefix of {len} bytes of tag {}",
                bytes[1]
            );
        }
    }
}

#[test]
fn typed_decoding_tells_protocol_frames_apart() {
    let bytes = ratchet_message(b"ct".to_vec()).to_bytes().unwrap();
    assert_eq!(
        PrekeyMessage::from_bytes(&bytes),
        Err(WireError::UnexpectedFrame {
            expected: FrameKind::PrekeyMessage,
            found: FrameKind::RatchetMessage
        })
    );
    assert_eq!(
        MessageContent::from_bytes(&bytes),
        Err(WireError::UnexpectedFrame {
            expected: FrameKind::MessageContent,
            found: FrameKind::RatchetMessage
        })
    );
    assert_eq!(
        RatchetMessage::from_bytes(&bytes),
        Ok(ratchet_message(b"ct".to_vec()))
    );
}

#[test]
fn sealed_report_over_the_limit_is_refused() {
    let report = SealedReport {
        moderation_key_id: 1,
        ephemeral_key: X25519PublicKey([9; 32]),
        ciphertext: Opaque::from(vec![0; MAX_SEALED_REPORT_LEN + 1]),
    };
    assert_eq!(
        report.to_bytes(),
        Err(WireError::LimitExceeded {
            field: "ciphertext",
            len: MAX_SEALED_REPORT_LEN + 1,
            max: MAX_SEALED_REPORT_LEN
        })
    );
}

#[test]
fn user_id_over_the_limit_is_refused_on_decode() {
    let bytes = raw_envelope(&[b'a'; 65], &[1], 0, b"");
    assert_eq!(
        Frame::decode(&bytes),
        Err(WireError::LimitExceeded {
            field: "user_id",
            len: 65,
            max: 64
        })
    );
}

#[test]
fn invalid_user_ids_are_refused_on_decode() {
    assert_eq!(
        Frame::decode(&raw_envelope(b"", &[1], 0, b"")),
        Err(WireError::InvalidField {
            field: "user_id",
            reason: "is empty"
        })
    );
    assert_eq!(
        Frame::decode(&raw_envelope(b"bo\x07b", &[1], 0, b"")),
        Err(WireError::InvalidField {
            field: "user_id",
            reason: "contains a control character"
        })
    );
    assert_eq!(
        Frame::decode(&raw_envelope(b"bo\xffb", &[1], 0, b"")),
        Err(WireError::Malformed {
            reason: "text is not valid UTF-8"
        })
    );
}

#[test]
fn unknown_content_kind_is_malformed() {
    assert_eq!(
        Frame::decode(&raw_envelope(b"bob", &[1], 9, b"")),
        Err(WireError::Malformed {
            reason: "value outside the set its field allows"
        })
    );
}

#[test]
fn option_tag_other_than_zero_or_one_is_malformed() {
    let bundle = PrekeyBundle {
        address: DeviceAddress::new(UserId::new("bob").unwrap(), DeviceId(1)),
        identity: PublicIdentity {
            signing_key: Ed25519PublicKey([1; 32]),
            agreement_key: X25519PublicKey([2; 32]),
            signature: Ed25519Signature([3; 64]),
        },
        signed_prekey: SignedPrekey {
            id: PrekeyId(1),
            public_key: X25519PublicKey([4; 32]),
            signature: Ed25519Signature([5; 64]),
        },
        one_time_prekey: None,
    };
    let mut bytes = bundle.to_bytes().unwrap();
    *bytes.last_mut().unwrap() = 2;
    assert_eq!(
        Frame::decode(&bytes),
        Err(WireError::Malformed {
            reason: "option tag is neither 0 nor 1"
        })
    );
}

#[test]
fn overlong_integer_encoding_is_non_canonical() {
    // Device id 1 written as two bytes (0x81 0x00) decodes to the same value
    // but is not the one encoding the spec allows.
    let bytes = raw_envelope(b"bob", &[0x81, 0x00], 0, b"");
    assert_eq!(Frame::decode(&bytes), Err(WireError::NonCanonical));
    // An overlong tag (0x82 0x00 for 2) likewise.
    let mut tag = raw_envelope(b"bob", &[1], 0, b"");
    tag.splice(1..2, [0x82, 0x00]);
    assert_eq!(Frame::decode(&tag), Err(WireError::NonCanonical));
}

#[test]
fn trailing_bytes_are_counted() {
    let mut bytes = BlobId([1; 32]).to_bytes().unwrap();
    bytes.extend_from_slice(&[0, 0, 0]);
    assert_eq!(
        Frame::decode(&bytes),
        Err(WireError::TrailingBytes { count: 3 })
    );
}

#[test]
fn typed_decoding_names_the_frame_it_found() {
    let bytes = BlobId([1; 32]).to_bytes().unwrap();
    assert_eq!(
        RoutingEnvelope::from_bytes(&bytes),
        Err(WireError::UnexpectedFrame {
            expected: FrameKind::Envelope,
            found: FrameKind::BlobId
        })
    );
    assert_eq!(BlobId::from_bytes(&bytes), Ok(BlobId([1; 32])));
}

#[test]
fn error_messages_say_what_was_wrong() {
    let cases = [
        (WireError::Truncated, "frame is truncated"),
        (
            WireError::FrameTooLarge { len: 9, max: 8 },
            "frame of 9 bytes exceeds the limit of 8 bytes",
        ),
        (
            WireError::UnknownVersion { version: 2 },
            "unknown wire version 2",
        ),
        (WireError::UnknownVariant { tag: 9 }, "unknown frame tag 9"),
        (
            WireError::LimitExceeded {
                field: "user_id",
                len: 65,
                max: 64,
            },
            "field `user_id` has length 65, above its limit of 64",
        ),
        (
            WireError::InvalidField {
                field: "user_id",
                reason: "is empty",
            },
            "field `user_id` is invalid: is empty",
        ),
        (
            WireError::Malformed {
                reason: "bad varint",
            },
            "malformed frame: bad varint",
        ),
        (
            WireError::NonCanonical,
            "frame is not in canonical encoding",
        ),
        (
            WireError::TrailingBytes { count: 3 },
            "3 bytes trail the frame",
        ),
        (
            WireError::UnexpectedFrame {
                expected: FrameKind::Envelope,
                found: FrameKind::BlobId,
            },
            "expected a envelope frame, found a blob_id frame",
        ),
    ];
    for (error, message) in cases {
        assert_eq!(error.to_string(), message);
    }
}
