//! Every `WireError` variant, reached by the input that should cause it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use fuin_wire::group::{MAX_CHANGE_MEMBERS, MAX_GROUP_MEMBERS, MAX_WELCOME_MEMBERS};
use fuin_wire::limits::{
    MAX_CONTENT_BODY_LEN, MAX_FRAME_LEN, MAX_SEALED_BODY_LEN, MAX_SEALED_REPORT_LEN,
    MAX_USER_ID_LEN,
};
use fuin_wire::relay::{
    Acknowledgement, AuthChallenge, AuthToken, BearerToken, BlobCapability, BlobReceipt, BundleSet,
    ChallengeRequest, ChallengeResponse, DeviceList, DeviceRegistration, InboxReport, ListedDevice,
    MAX_ACKNOWLEDGED, MAX_ACKNOWLEDGED_REPORTS, MAX_DEVICES_PER_USER, MAX_ENVELOPES_PER_SEND,
    MAX_KEM_PREKEY_UPLOAD, MAX_PREKEY_UPLOAD, MAX_RECORDS_PER_BATCH, MAX_REPORTS_PER_BATCH,
    MailboxBatch, Nonce, PrekeyCount, PrekeyUpload, ReportAccepted, ReportAcknowledgement,
    ReportBatch, ReportId, SendAccepted, SendBatch,
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
            salt: MessageSalt([0x5a; 16]),
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
        kem: Some(KemEncapsulation {
            kem_prekey_id: PrekeyId(2),
            ciphertext: MlKemCiphertext([0x66; 1088]),
        }),
        message: ratchet_message(ciphertext),
    }
}

/// A signed KEM prekey whose key bytes all equal the id's low byte.
fn kem_prekey(id: u32) -> KemPrekey {
    KemPrekey {
        id: PrekeyId(id),
        public_key: MlKemPublicKey([id as u8; 1184]),
        signature: Ed25519Signature([0x77; 64]),
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
        body: SecretBytes::from(body),
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
    // The tags in use run to the last kind's; the retired ones and the one
    // reserved tag (47) have no kind.
    let next = FrameKind::ALL.len() as u8 + RETIRED_TAGS.len() as u8 + 1;
    assert!(FrameKind::from_tag(u32::from(next)).is_none());
    assert_eq!(
        FrameKind::from_tag(u32::from(next) - 1),
        FrameKind::ALL.last().copied()
    );
    assert!(FrameKind::from_tag(47).is_none());
    assert_eq!(
        Frame::decode(&[WIRE_VERSION, 47, 0]),
        Err(WireError::UnknownVariant { tag: 47 })
    );
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
    // counters, the salt.
    let at = 1 + 1 + 32 + 1 + 1 + 16;
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
    // prekey id, the KEM encapsulation (option tag, one-byte id,
    // ciphertext), then the ratchet message as above.
    let at = 1 + 1 + 128 + 32 + 1 + 1 + (1 + 1 + 1088) + 32 + 1 + 1 + 16;
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

    // Patch the body length varint (63488 = 0x80 0xf0 0x03) to 63489 and
    // append one byte. Before it: version, tag, content type, message id,
    // the one-byte sequence and time, the conversation (tag, length, "bob"),
    // franking key.
    let at = 1 + 1 + 1 + 16 + 1 + 1 + (1 + 1 + 3) + 32;
    assert_eq!(&bytes[at..at + 3], &[0x80, 0xf0, 0x03]);
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
    for (code, known) in [
        (2u8, ContentType::SenderKeyDistribution),
        (3, ContentType::GroupWelcome),
        (4, ContentType::GroupControl),
        (5, ContentType::Attachment),
        (6, ContentType::IdentifierSecret),
        (7, ContentType::SenderKeyRequest),
        (8, ContentType::Typed),
    ] {
        bytes[2] = code;
        let decoded = Frame::decode(&bytes);
        assert!(
            matches!(decoded, Ok(Frame::MessageContent(MessageContent { content_type, .. })) if content_type == known),
            "content type {code}"
        );
    }
    for unknown in [9u8, 0x7f] {
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
    let good = prekey_message(b"ct".to_vec()).to_bytes().unwrap();
    // The one-time prekey id's option tag (absent), then the KEM
    // encapsulation's (present).
    let one_time_at = 1 + 1 + 128 + 32 + 1;
    let kem_at = one_time_at + 1;
    assert_eq!((good[one_time_at], good[kem_at]), (0, 1));
    for (at, bad) in [(one_time_at, 2u8), (kem_at, 2), (kem_at, 0xff)] {
        let mut bytes = good.clone();
        bytes[at] = bad;
        assert_eq!(
            Frame::decode(&bytes),
            Err(WireError::Malformed {
                reason: "option tag is neither 0 nor 1"
            }),
            "byte {at} set to {bad}"
        );
    }
}

/// A prekey message from which a relay strips the KEM encapsulation still
/// decodes (the protocol refuses it by name, `MissingKemCiphertext`), and
/// one that claims an encapsulation but carries fewer than 1,088 ciphertext
/// bytes is `Truncated`, wherever the input ends.
#[test]
fn a_prekey_message_without_its_kem_ciphertext_decodes_and_a_short_one_is_truncated() {
    let with_kem = prekey_message(b"ct".to_vec());
    let full = with_kem.to_bytes().unwrap();
    let kem_at = 1 + 1 + 128 + 32 + 1 + 1;
    assert_eq!(&full[kem_at..kem_at + 2], &[1, 2]);
    let ciphertext_at = kem_at + 2;
    assert_eq!(
        &full[ciphertext_at..ciphertext_at + 1088],
        &[0x66; 1088][..]
    );

    // Stripped: option tag 0 and no id or ciphertext; nothing else moves.
    let mut stripped = full[..kem_at].to_vec();
    stripped.push(0);
    stripped.extend_from_slice(&full[ciphertext_at + 1088..]);
    let decoded = PrekeyMessage::from_bytes(&stripped).unwrap();
    assert_eq!(decoded.kem, None);
    assert_eq!(decoded.message, with_kem.message);

    // The ciphertext cut short, the message dropped: every length but the
    // full one ends the input inside the ciphertext.
    for kept in [0, 1, 1087] {
        let short = &full[..ciphertext_at + kept];
        assert_eq!(Frame::decode(short), Err(WireError::Truncated), "{kept}");
    }
    // A ciphertext of 1,087 bytes followed by the ratchet message: the
    // decoder takes the message's first byte as the ciphertext's last, and
    // the input runs out inside the message.
    let mut one_short = full.clone();
    one_short.remove(ciphertext_at);
    assert_eq!(Frame::decode(&one_short), Err(WireError::Truncated));
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
        kem_prekey: None,
    };
    let good = bundle.to_bytes().unwrap();
    // The bundle ends with two absent options: the one-time prekey's, then
    // the KEM prekey's.
    assert_eq!(&good[good.len() - 2..], &[0, 0]);
    for from_end in [1, 2] {
        let mut bytes = good.clone();
        let at = bytes.len() - from_end;
        bytes[at] = 2;
        assert_eq!(
            Frame::decode(&bytes),
            Err(WireError::Malformed {
                reason: "option tag is neither 0 nor 1"
            }),
            "option {from_end} from the end"
        );
    }
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

// Bounded lists (tags 14, 16-20).

fn one_time_prekey(id: u32) -> OneTimePrekey {
    OneTimePrekey {
        id: PrekeyId(id),
        public_key: X25519PublicKey([id as u8; 32]),
    }
}

fn bundle(device: u32) -> PrekeyBundle<'static> {
    PrekeyBundle {
        address: DeviceAddress::new(UserId::new("bob").unwrap(), DeviceId(device)),
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
        one_time_prekey: Some(one_time_prekey(device)),
        kem_prekey: Some(kem_prekey(device)),
    }
}

fn delivered(body: Vec<u8>) -> DeliveredRecord<'static> {
    DeliveredRecord {
        envelope: envelope("bob", body),
        sender: DeviceAddress::new(UserId::new("alice").unwrap(), DeviceId(2)),
        server_time_ms: 1,
        server_message_id: MessageId([8; 16]),
        franking_stamp: FrankingStamp([9; 32]),
        stamp_key_id: StampKeyId(1),
    }
}

fn inbox_report(i: u8) -> InboxReport<'static> {
    InboxReport {
        report_id: ReportId([i; 16]),
        reporter: DeviceAddress::new(UserId::new("alice").unwrap(), DeviceId(2)),
        received_at_ms: 1_795_000_000_000,
        report: SealedReport {
            moderation_key_id: 1,
            ephemeral_key: X25519PublicKey([i; 32]),
            ciphertext: Opaque::from(vec![i; 3]),
        },
    }
}

// Group frames (tags 26-31).

fn group_member(i: usize) -> GroupMember<'static> {
    GroupMember {
        address: DeviceAddress::new(
            UserId::new(format!("member{i}")).unwrap(),
            DeviceId(i as u32),
        ),
        identity: PublicIdentity {
            signing_key: Ed25519PublicKey([i as u8; 32]),
            agreement_key: X25519PublicKey([i as u8; 32]),
            signature: Ed25519Signature([i as u8; 64]),
        },
    }
}

fn group_control(action: GroupAction<'static>) -> GroupControl<'static> {
    GroupControl {
        group_id: GroupId([1; 32]),
        epoch: 7,
        membership_hash: MembershipHash([2; 32]),
        actor: DeviceAddress::new(UserId::new("alice").unwrap(), DeviceId(1)),
        action,
        new_membership_hash: MembershipHash([3; 32]),
        signature: Ed25519Signature([4; 64]),
    }
}

fn group_welcome() -> GroupWelcome<'static> {
    GroupWelcome {
        group_id: GroupId([1; 32]),
        epoch: 7,
        membership_hash: MembershipHash([2; 32]),
        page: 0,
        page_count: 1,
        members: BoundedVec::default(),
        consent: None,
    }
}

fn group_send(recipients: Vec<DeviceAddress<'static>>) -> GroupSend<'static> {
    GroupSend {
        recipients: recipients.into(),
        franking_commitment: FrankingCommitment([5; 32]),
        sealed_body: Opaque::from(vec![6; 3]),
    }
}

fn group_message(view: Option<ViewHash>, ciphertext: Vec<u8>) -> GroupMessage<'static> {
    GroupMessage {
        group_id: GroupId([1; 32]),
        epoch: 7,
        iteration: 9,
        view,
        salt: MessageSalt([0x5b; 16]),
        ciphertext: Opaque::from(ciphertext),
        signature: Ed25519Signature([4; 64]),
    }
}

fn group_content(body: Vec<u8>) -> GroupContent<'static> {
    GroupContent {
        content_type: ContentType::Text,
        message_id: ClientMessageId([5; 16]),
        sent_at_ms: 0,
        franking_key: FrankingKey([6; 32]),
        body: SecretBytes::from(body),
    }
}

fn distribution() -> SenderKeyDistribution<'static> {
    SenderKeyDistribution {
        group_id: GroupId([1; 32]),
        epoch: 300,
        membership_hash: MembershipHash([2; 32]),
        sender: DeviceAddress::new(UserId::new("alice").unwrap(), DeviceId(300)),
        iteration: 300,
        chain_key: SenderChainKey([7; 32]),
        signing_key: Ed25519PublicKey([8; 32]),
    }
}

/// Patches a three-byte length varint of 65,536 (`0x80 0x80 0x04`) at `at`
/// to 65,537 and appends one byte.
fn one_past_64k(mut bytes: Vec<u8>, at: usize) -> Vec<u8> {
    assert_eq!(&bytes[at..at + 3], &[0x80, 0x80, 0x04]);
    bytes[at] = 0x81;
    bytes.push(0);
    bytes
}

#[test]
fn group_byte_strings_over_their_limits_are_refused_both_ways() {
    let ciphertext_error = WireError::LimitExceeded {
        field: "ciphertext",
        len: MAX_SEALED_BODY_LEN + 1,
        max: MAX_SEALED_BODY_LEN,
    };
    let at_limit = group_message(None, vec![0; MAX_SEALED_BODY_LEN]);
    let bytes = at_limit.to_bytes().unwrap();
    assert!(Frame::decode(&bytes).is_ok());
    let over = group_message(None, vec![0; MAX_SEALED_BODY_LEN + 1]);
    assert_eq!(over.to_bytes(), Err(ciphertext_error.clone()));
    assert_eq!(
        Frame::GroupMessage(over).encode(),
        Err(ciphertext_error.clone())
    );
    // Version, tag, group id, the one-byte epoch and iteration, absent view,
    // salt.
    let at = 1 + 1 + 32 + 1 + 1 + 1 + 16;
    assert_eq!(
        Frame::decode(&one_past_64k(bytes, at)),
        Err(ciphertext_error)
    );

    let body_error = WireError::LimitExceeded {
        field: "body",
        len: MAX_CONTENT_BODY_LEN + 1,
        max: MAX_CONTENT_BODY_LEN,
    };
    let mut bytes = group_content(vec![0; MAX_CONTENT_BODY_LEN])
        .to_bytes()
        .unwrap();
    assert!(Frame::decode(&bytes).is_ok());
    let over = group_content(vec![0; MAX_CONTENT_BODY_LEN + 1]);
    assert_eq!(over.to_bytes(), Err(body_error.clone()));
    assert_eq!(Frame::GroupContent(over).encode(), Err(body_error.clone()));
    // Version, tag, content type, message id, one-byte time, franking key;
    // then 63,488 = 0x80 0xf0 0x03.
    let at = 1 + 1 + 1 + 16 + 1 + 32;
    assert_eq!(&bytes[at..at + 3], &[0x80, 0xf0, 0x03]);
    bytes[at] = 0x81;
    bytes.push(0);
    assert_eq!(Frame::decode(&bytes), Err(body_error));

    let sealed_error = WireError::LimitExceeded {
        field: "sealed_body",
        len: MAX_SEALED_BODY_LEN + 1,
        max: MAX_SEALED_BODY_LEN,
    };
    let mut fan_out = group_send(vec![]);
    fan_out.sealed_body = Opaque::from(vec![0; MAX_SEALED_BODY_LEN]);
    let bytes = fan_out.to_bytes().unwrap();
    assert!(Frame::decode(&bytes).is_ok());
    fan_out.sealed_body = Opaque::from(vec![0; MAX_SEALED_BODY_LEN + 1]);
    assert_eq!(fan_out.to_bytes(), Err(sealed_error.clone()));
    assert_eq!(
        Frame::GroupSend(fan_out).encode(),
        Err(sealed_error.clone())
    );
    // Version, tag, empty recipient list, commitment.
    let at = 1 + 1 + 1 + 32;
    assert_eq!(Frame::decode(&one_past_64k(bytes, at)), Err(sealed_error));
}

#[test]
fn group_option_tags_and_unknown_actions_are_malformed() {
    let option_error = WireError::Malformed {
        reason: "option tag is neither 0 nor 1",
    };
    let mut bytes = group_message(None, b"ct".to_vec()).to_bytes().unwrap();
    let at = 1 + 1 + 32 + 1 + 1;
    assert_eq!(bytes[at], 0);
    bytes[at] = 2;
    assert_eq!(Frame::decode(&bytes), Err(option_error.clone()));
    let mut bytes = group_welcome().to_bytes().unwrap();
    *bytes.last_mut().unwrap() = 2;
    assert_eq!(Frame::decode(&bytes), Err(option_error));

    // The action index follows version, tag, group id, one-byte epoch,
    // membership hash and the actor (length, "alice", device).
    let mut bytes = group_control(GroupAction::Leave).to_bytes().unwrap();
    let at = 1 + 1 + 32 + 1 + 32 + (1 + 5 + 1);
    assert_eq!(bytes[at], 2);
    for unknown in [4u8, 0x7f] {
        bytes[at] = unknown;
        assert_eq!(
            Frame::decode(&bytes),
            Err(WireError::Malformed {
                reason: "value outside the set its field allows"
            }),
            "action {unknown}"
        );
    }
    // The group content kind in an envelope is 2; 3 is unknown.
    assert!(Frame::decode(&raw_envelope(b"bob", &[1], 2, b"")).is_ok());
    assert_eq!(
        Frame::decode(&raw_envelope(b"bob", &[1], 3, b"")),
        Err(WireError::Malformed {
            reason: "value outside the set its field allows"
        })
    );
}

#[test]
fn every_strict_prefix_of_a_group_frame_is_truncated() {
    let frames: Vec<Frame<'static>> = vec![
        Frame::SenderKeyDistribution(distribution()),
        Frame::GroupMessage(group_message(Some(ViewHash([9; 32])), b"ct".to_vec())),
        Frame::GroupContent(group_content(b"body".to_vec())),
        Frame::GroupControl(group_control(GroupAction::ShareConsent {
            consent: GroupConsent([3; 32]),
        })),
        Frame::GroupControl(group_control(GroupAction::Add {
            members: vec![group_member(300)].into(),
        })),
        Frame::GroupWelcome(GroupWelcome {
            consent: Some(GroupConsent([3; 32])),
            members: vec![group_member(1)].into(),
            ..group_welcome()
        }),
        Frame::GroupSend(group_send(vec![group_member(2).address])),
    ];
    for frame in frames {
        let bytes = frame.encode().unwrap();
        assert!(Frame::decode(&bytes).is_ok());
        for len in 0..bytes.len() {
            assert_eq!(
                Frame::decode(&bytes[..len]),
                Err(WireError::Truncated),
                "prefix of {len} bytes of {}",
                frame.kind()
            );
        }
    }
}

#[test]
fn typed_decoding_tells_group_frames_apart() {
    let bytes = group_content(b"x".to_vec()).to_bytes().unwrap();
    assert_eq!(
        GroupMessage::from_bytes(&bytes),
        Err(WireError::UnexpectedFrame {
            expected: FrameKind::GroupMessage,
            found: FrameKind::GroupContent
        })
    );
    assert_eq!(
        MessageContent::from_bytes(&bytes),
        Err(WireError::UnexpectedFrame {
            expected: FrameKind::MessageContent,
            found: FrameKind::GroupContent
        })
    );
    assert!(GroupContent::from_bytes(&bytes).is_ok());
}

#[test]
fn invalid_user_ids_inside_group_frames_are_refused() {
    let mut bytes = group_send(vec![group_member(1).address])
        .to_bytes()
        .unwrap();
    // Version, tag, count 1, then the recipient's user id "member1".
    assert_eq!(&bytes[3..11], b"\x07member1");
    bytes[4] = b'\n';
    assert_eq!(
        Frame::decode(&bytes),
        Err(WireError::InvalidField {
            field: "user_id",
            reason: "contains a control character"
        })
    );
    let mut bytes = distribution().to_bytes().unwrap();
    // Version, tag, group id, two-byte epoch, membership hash, then the
    // sender's user id.
    let at = 1 + 1 + 32 + 2 + 32;
    assert_eq!(bytes[at], 5);
    bytes[at] = 0;
    bytes.drain(at + 1..at + 6);
    assert_eq!(
        Frame::decode(&bytes),
        Err(WireError::InvalidField {
            field: "user_id",
            reason: "is empty"
        })
    );
}

fn varint(mut value: u64) -> Vec<u8> {
    let mut out = Vec::new();
    while value >= 0x80 {
        out.push(value as u8 | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
    out
}

/// One list field of one frame: how to build the frame with `n` elements,
/// and how many bytes of the body follow the list.
struct ListCase {
    field: &'static str,
    max: usize,
    /// The frame with elements `0..n`, as a [`Frame`].
    frame: fn(usize) -> Frame<'static>,
    /// The same through the body's typed encoder.
    to_bytes: fn(usize) -> Result<Vec<u8>, WireError>,
    /// Bytes after the list (`MailboxBatch.prekeys_low`, or a prekey
    /// upload's absent last-resort KEM prekey and empty KEM list).
    tail: usize,
}

fn list_cases() -> Vec<ListCase> {
    fn upload(n: usize) -> PrekeyUpload {
        PrekeyUpload {
            signed_prekey: Some(SignedPrekey {
                id: PrekeyId(1),
                public_key: X25519PublicKey([4; 32]),
                signature: Ed25519Signature([5; 64]),
            }),
            one_time_prekeys: (0..n as u32)
                .map(one_time_prekey)
                .collect::<Vec<_>>()
                .into(),
            last_resort_kem_prekey: None,
            one_time_kem_prekeys: BoundedVec::default(),
        }
    }
    fn kem_upload(n: usize) -> PrekeyUpload {
        PrekeyUpload {
            signed_prekey: None,
            one_time_prekeys: vec![one_time_prekey(1)].into(),
            last_resort_kem_prekey: Some(kem_prekey(0)),
            one_time_kem_prekeys: (1..=n as u32).map(kem_prekey).collect::<Vec<_>>().into(),
        }
    }
    fn bundles(n: usize) -> BundleSet<'static> {
        BundleSet {
            bundles: (0..n as u32).map(bundle).collect::<Vec<_>>().into(),
        }
    }
    fn batch(n: usize) -> SendBatch<'static> {
        SendBatch {
            envelopes: (0..n)
                .map(|i| envelope("bob", vec![i as u8; 3]))
                .collect::<Vec<_>>()
                .into(),
        }
    }
    fn accepted(n: usize) -> SendAccepted {
        SendAccepted {
            server_time_ms: 1_795_000_000_000,
            message_ids: (0..n)
                .map(|i| MessageId([i as u8; 16]))
                .collect::<Vec<_>>()
                .into(),
        }
    }
    fn mailbox(n: usize) -> MailboxBatch<'static> {
        MailboxBatch {
            records: (0..n)
                .map(|i| delivered(vec![i as u8; 3]))
                .collect::<Vec<_>>()
                .into(),
            prekeys_low: true,
        }
    }
    fn acknowledgement(n: usize) -> Acknowledgement {
        Acknowledgement {
            message_ids: (0..n)
                .map(|i| MessageId([i as u8; 16]))
                .collect::<Vec<_>>()
                .into(),
        }
    }
    fn reports(n: usize) -> ReportBatch<'static> {
        ReportBatch {
            reports: (0..n)
                .map(|i| inbox_report(i as u8))
                .collect::<Vec<_>>()
                .into(),
        }
    }
    fn report_acknowledgement(n: usize) -> ReportAcknowledgement {
        ReportAcknowledgement {
            report_ids: (0..n)
                .map(|i| ReportId([i as u8; 16]))
                .collect::<Vec<_>>()
                .into(),
        }
    }
    fn device_list(n: usize) -> DeviceList {
        DeviceList {
            devices: (0..n)
                .map(|i| ListedDevice {
                    device: DeviceId(i as u32),
                    identity: PublicIdentity {
                        signing_key: Ed25519PublicKey([i as u8; 32]),
                        agreement_key: X25519PublicKey([i as u8; 32]),
                        signature: Ed25519Signature([i as u8; 64]),
                    },
                })
                .collect::<Vec<_>>()
                .into(),
        }
    }
    fn adding(n: usize) -> GroupControl<'static> {
        group_control(GroupAction::Add {
            members: (0..n).map(group_member).collect::<Vec<_>>().into(),
        })
    }
    fn removing(n: usize) -> GroupControl<'static> {
        group_control(GroupAction::Remove {
            members: (0..n)
                .map(|i| group_member(i).address)
                .collect::<Vec<_>>()
                .into(),
        })
    }
    fn welcome(n: usize) -> GroupWelcome<'static> {
        GroupWelcome {
            members: (0..n).map(group_member).collect::<Vec<_>>().into(),
            ..group_welcome()
        }
    }
    fn fan_out(n: usize) -> GroupSend<'static> {
        group_send((0..n).map(|i| group_member(i).address).collect())
    }
    vec![
        ListCase {
            field: "one_time_prekeys",
            max: MAX_PREKEY_UPLOAD,
            frame: |n| Frame::PrekeyUpload(upload(n)),
            to_bytes: |n| upload(n).to_bytes(),
            // The absent last-resort KEM prekey and the empty KEM list.
            tail: 2,
        },
        ListCase {
            field: "one_time_kem_prekeys",
            max: MAX_KEM_PREKEY_UPLOAD,
            frame: |n| Frame::PrekeyUpload(kem_upload(n)),
            to_bytes: |n| kem_upload(n).to_bytes(),
            tail: 0,
        },
        ListCase {
            field: "bundles",
            max: MAX_DEVICES_PER_USER,
            frame: |n| Frame::BundleSet(bundles(n)),
            to_bytes: |n| bundles(n).to_bytes(),
            tail: 0,
        },
        ListCase {
            field: "envelopes",
            max: MAX_ENVELOPES_PER_SEND,
            frame: |n| Frame::SendBatch(batch(n)),
            to_bytes: |n| batch(n).to_bytes(),
            tail: 0,
        },
        ListCase {
            field: "message_ids",
            max: fuin_wire::relay::MAX_ACCEPTED_IDS,
            frame: |n| Frame::SendAccepted(accepted(n)),
            to_bytes: |n| accepted(n).to_bytes(),
            tail: 0,
        },
        ListCase {
            field: "records",
            max: MAX_RECORDS_PER_BATCH,
            frame: |n| Frame::MailboxBatch(mailbox(n)),
            to_bytes: |n| mailbox(n).to_bytes(),
            tail: 1,
        },
        ListCase {
            field: "message_ids",
            max: MAX_ACKNOWLEDGED,
            frame: |n| Frame::Acknowledgement(acknowledgement(n)),
            to_bytes: |n| acknowledgement(n).to_bytes(),
            tail: 0,
        },
        ListCase {
            field: "reports",
            max: MAX_REPORTS_PER_BATCH,
            frame: |n| Frame::ReportBatch(reports(n)),
            to_bytes: |n| reports(n).to_bytes(),
            tail: 0,
        },
        ListCase {
            field: "report_ids",
            max: MAX_ACKNOWLEDGED_REPORTS,
            frame: |n| Frame::ReportAcknowledgement(report_acknowledgement(n)),
            to_bytes: |n| report_acknowledgement(n).to_bytes(),
            tail: 0,
        },
        ListCase {
            field: "devices",
            max: MAX_DEVICES_PER_USER,
            frame: |n| Frame::DeviceList(device_list(n)),
            to_bytes: |n| device_list(n).to_bytes(),
            tail: 0,
        },
        ListCase {
            field: "members",
            max: MAX_CHANGE_MEMBERS,
            frame: |n| Frame::GroupControl(adding(n)),
            to_bytes: |n| adding(n).to_bytes(),
            // The new membership hash and the signature.
            tail: 32 + 64,
        },
        ListCase {
            field: "members",
            max: MAX_CHANGE_MEMBERS,
            frame: |n| Frame::GroupControl(removing(n)),
            to_bytes: |n| removing(n).to_bytes(),
            tail: 32 + 64,
        },
        ListCase {
            field: "members",
            max: MAX_WELCOME_MEMBERS,
            frame: |n| Frame::GroupWelcome(welcome(n)),
            to_bytes: |n| welcome(n).to_bytes(),
            // The absent consent.
            tail: 1,
        },
        ListCase {
            field: "recipients",
            max: MAX_GROUP_MEMBERS,
            frame: |n| Frame::GroupSend(fan_out(n)),
            to_bytes: |n| fan_out(n).to_bytes(),
            // The commitment, then a three-byte sealed body and its length.
            tail: 32 + 1 + 3,
        },
    ]
}

impl ListCase {
    fn encode(&self, n: usize) -> Vec<u8> {
        (self.frame)(n).encode().unwrap()
    }

    /// Where the count varint starts: the empty list's frame ends with the
    /// count (one zero byte) and the tail.
    fn count_at(&self) -> usize {
        let empty = self.encode(0);
        let at = empty.len() - self.tail - 1;
        assert_eq!(empty[at], 0, "{}: empty list count", self.field);
        at
    }

    /// One element's encoding: what the frame with one element has that the
    /// frame with none lacks, besides its count.
    fn element(&self) -> Vec<u8> {
        let empty = self.encode(0);
        let one = self.encode(1);
        let at = self.count_at();
        assert_eq!(one[..at], empty[..at], "{}: prefix", self.field);
        assert_eq!(one[at], 1, "{}: count of one", self.field);
        one[empty.len() - self.tail..one.len() - self.tail].to_vec()
    }

    /// The frame with `keep` elements, its count varint replaced by
    /// `count` and `extra` appended after the elements.
    fn with_count(&self, count: u64, keep: usize, extra: &[u8]) -> Vec<u8> {
        let at = self.count_at();
        let bytes = self.encode(keep);
        let count_len = varint(keep as u64).len();
        let mut out = bytes[..at].to_vec();
        out.extend(varint(count));
        out.extend_from_slice(&bytes[at + count_len..bytes.len() - self.tail]);
        out.extend_from_slice(extra);
        out.extend_from_slice(&bytes[bytes.len() - self.tail..]);
        out
    }
}

#[test]
fn list_case_helpers_rebuild_the_codec_bytes() {
    for case in list_cases() {
        for n in [0, 1, 3, case.max] {
            assert_eq!(
                case.with_count(n as u64, n, &[]),
                case.encode(n),
                "{} with {n}",
                case.field
            );
        }
        // Two copies of the first element: a valid frame.
        let two = case.with_count(2, 1, &case.element());
        assert!(Frame::decode(&two).is_ok(), "{}", case.field);
    }
}

#[test]
fn lists_over_their_maximum_are_refused_both_ways() {
    for case in list_cases() {
        let limit_error = WireError::LimitExceeded {
            field: case.field,
            len: case.max + 1,
            max: case.max,
        };
        let at_limit = case.encode(case.max);
        assert_eq!(
            Frame::decode(&at_limit).map(Frame::into_owned),
            Ok((case.frame)(case.max)),
            "{} at its limit",
            case.field
        );

        assert_eq!(
            (case.frame)(case.max + 1).encode(),
            Err(limit_error.clone()),
            "{}: Frame::encode",
            case.field
        );
        assert_eq!(
            (case.to_bytes)(case.max + 1),
            Err(limit_error.clone()),
            "{}: to_bytes",
            case.field
        );

        // MAX elements, the count patched to MAX + 1, one more element.
        let over = case.with_count(case.max as u64 + 1, case.max, &case.element());
        assert_eq!(over.len(), at_limit.len() + case.element().len());
        assert_eq!(
            Frame::decode(&over),
            Err(limit_error),
            "{}: decode",
            case.field
        );

        // Far over: every element is still decoded, and the error reports
        // the real count.
        let extra = case.element().repeat(9 * case.max);
        let far_over = case.with_count(10 * case.max as u64, case.max, &extra);
        assert_eq!(
            Frame::decode(&far_over),
            Err(WireError::LimitExceeded {
                field: case.field,
                len: 10 * case.max,
                max: case.max,
            }),
            "{}: far over",
            case.field
        );
    }
}

#[test]
fn a_dropped_list_element_must_still_be_well_formed() {
    // Elements past the maximum are decoded and dropped: a malformed one
    // makes the frame malformed, found before the limit is checked.
    let cases = list_cases();
    let case = cases.iter().find(|case| case.field == "envelopes").unwrap();
    let mut element = case.element();
    // Recipient (length, "bob", device), then the content kind.
    assert_eq!(&element[..6], &[3, b'b', b'o', b'b', 1, 0]);
    element[5] = 9;
    let over = case.with_count(case.max as u64 + 1, case.max, &element);
    assert_eq!(
        Frame::decode(&over),
        Err(WireError::Malformed {
            reason: "value outside the set its field allows"
        })
    );
}

#[test]
fn list_counts_claiming_billions_are_truncated() {
    for case in list_cases() {
        let element = case.element();
        for keep in [0, 1] {
            // A count of 2^32 - 1, `keep` elements, then part of another.
            let mut claim =
                case.with_count(u64::from(u32::MAX), keep, &element[..element.len() / 2]);
            // Without the tail: the body must end mid-list.
            claim.truncate(claim.len() - case.tail);
            assert_eq!(
                Frame::decode(&claim),
                Err(WireError::Truncated),
                "{} claiming 2^32 - 1 after {keep}",
                case.field
            );
        }
        // The claim with nothing at all behind it.
        let mut bare = case.encode(0);
        let at = case.count_at();
        bare.truncate(at);
        bare.extend(varint(u64::from(u32::MAX)));
        assert_eq!(
            Frame::decode(&bare),
            Err(WireError::Truncated),
            "{}",
            case.field
        );
    }
}

#[test]
fn overlong_list_count_is_non_canonical() {
    for case in list_cases() {
        // A count of 1 written as two bytes (0x81 0x00).
        let at = case.count_at();
        let mut bytes = case.encode(1);
        assert_eq!(bytes[at], 1);
        bytes.splice(at..=at, [0x81, 0x00]);
        assert_eq!(
            Frame::decode(&bytes),
            Err(WireError::NonCanonical),
            "{}",
            case.field
        );
    }
}

#[test]
fn bool_other_than_zero_or_one_is_malformed() {
    let count = PrekeyCount {
        one_time_prekeys: 5,
        low: true,
        one_time_kem_prekeys: 6,
        kem_low: false,
    };
    let mailbox = MailboxBatch {
        records: vec![delivered(b"body".to_vec())].into(),
        prekeys_low: false,
    };
    let count_bytes = count.to_bytes().unwrap();
    // Version, tag, count 5, `low`, count 6, `kem_low`.
    assert_eq!(count_bytes, [WIRE_VERSION, 43, 5, 1, 6, 0]);
    let mailbox_bytes = mailbox.to_bytes().unwrap();
    let mailbox_bool = mailbox_bytes.len() - 1;
    for (good, at) in [
        (&count_bytes, 3),
        (&count_bytes, 5),
        (&mailbox_bytes, mailbox_bool),
    ] {
        assert!(Frame::decode(good).is_ok());
        for bad in [2u8, 0x80, 0xff] {
            let mut bytes = good.clone();
            bytes[at] = bad;
            assert_eq!(
                Frame::decode(&bytes),
                Err(WireError::Malformed { reason: "bad bool" }),
                "tag {} with bool byte {bad} at {at}",
                bytes[1]
            );
        }
    }
}

#[test]
fn prekey_upload_option_tag_other_than_zero_or_one_is_malformed() {
    let upload = PrekeyUpload {
        signed_prekey: None,
        one_time_prekeys: vec![one_time_prekey(1)].into(),
        last_resort_kem_prekey: None,
        one_time_kem_prekeys: BoundedVec::default(),
    };
    let good = upload.to_bytes().unwrap();
    // The signed prekey's option tag; then, after the one-time list (count
    // 1, id 1, 32 key bytes), the last-resort KEM prekey's.
    let kem_at = 2 + 1 + 1 + 1 + 32;
    assert_eq!((good[2], good[kem_at]), (0, 0));
    assert_eq!(good.len(), kem_at + 2);
    for at in [2, kem_at] {
        let mut bytes = good.clone();
        bytes[at] = 2;
        assert_eq!(
            Frame::decode(&bytes),
            Err(WireError::Malformed {
                reason: "option tag is neither 0 nor 1"
            }),
            "option tag at {at}"
        );
    }
}

#[test]
fn invalid_user_ids_inside_lists_are_refused() {
    // Each element is held to its own rules, not only the list to its count.
    let mut bad = bundle(1);
    bad.address.user = UserId::new("a".repeat(64)).unwrap();
    let set = BundleSet {
        bundles: vec![bundle(0), bad].into(),
    };
    let mut bytes = set.to_bytes().unwrap();
    // Grow the second bundle's 64-byte user id to 65 bytes. After it: the
    // device id, identity, signed prekey, one-time prekey and KEM prekey.
    let at = bytes.len() - (64 + 1 + 128 + (1 + 32 + 64) + (1 + 1 + 32) + (1 + 1 + 1184 + 64));
    assert_eq!(bytes[at - 1], 64);
    bytes[at - 1] = 65;
    bytes.insert(at, b'a');
    assert_eq!(
        Frame::decode(&bytes),
        Err(WireError::LimitExceeded {
            field: "user_id",
            len: 65,
            max: 64
        })
    );
}

/// A bundle from which a relay strips the KEM prekey still decodes (the
/// protocol refuses it by name, `MissingKemPrekey`); a KEM key or signature
/// cut short is `Truncated`, and so is a one-byte-short key that borrows the
/// signature's first byte; a key one byte long is `TrailingBytes`.
#[test]
fn a_bundle_without_its_kem_prekey_decodes_and_a_short_kem_key_is_truncated() {
    let full = bundle(1).to_bytes().unwrap();
    // The KEM prekey is last: option tag, one-byte id, key, signature.
    let kem_at = full.len() - (1 + 1 + 1184 + 64);
    assert_eq!(&full[kem_at..kem_at + 2], &[1, 1]);
    let key_at = kem_at + 2;
    assert_eq!(&full[key_at..key_at + 1184], &[1; 1184][..]);

    let mut stripped = full[..kem_at].to_vec();
    stripped.push(0);
    let decoded = PrekeyBundle::from_bytes(&stripped).unwrap();
    assert_eq!(decoded.kem_prekey, None);
    assert_eq!(decoded.signed_prekey, bundle(1).signed_prekey);

    for end in [
        key_at,
        key_at + 1,
        key_at + 1183,
        key_at + 1184,
        full.len() - 1,
    ] {
        assert_eq!(
            Frame::decode(&full[..end]),
            Err(WireError::Truncated),
            "cut at {end}"
        );
    }
    let mut one_short = full.clone();
    one_short.remove(key_at);
    assert_eq!(Frame::decode(&one_short), Err(WireError::Truncated));
    // A key of 1,185 bytes: the signature starts a byte early, and its last
    // byte trails the frame.
    let mut one_long = full.clone();
    one_long.insert(key_at, 1);
    assert_eq!(
        Frame::decode(&one_long),
        Err(WireError::TrailingBytes { count: 1 })
    );
}

#[test]
fn every_strict_prefix_of_a_relay_frame_is_truncated() {
    let address = DeviceAddress::new(UserId::new("alice").unwrap(), DeviceId(300));
    let mut frames: Vec<Frame<'static>> = vec![
        Frame::DeviceRegistration(DeviceRegistration {
            address: address.clone(),
            identity: bundle(1).identity,
        }),
        Frame::ChallengeRequest(ChallengeRequest {
            address: address.clone(),
        }),
        Frame::AuthChallenge(AuthChallenge {
            nonce: Nonce([1; 32]),
            expires_at_ms: u64::MAX,
        }),
        Frame::ChallengeResponse(ChallengeResponse {
            address,
            nonce: Nonce([1; 32]),
            signature: Ed25519Signature([2; 64]),
        }),
        Frame::AuthToken(AuthToken {
            token: BearerToken([3; 32]),
            expires_at_ms: 1_795_000_000_000,
        }),
        Frame::PrekeyCount(PrekeyCount {
            one_time_prekeys: 300,
            low: false,
            one_time_kem_prekeys: 200,
            kem_low: true,
        }),
        Frame::PrekeyBundle(bundle(300)),
        Frame::BlobReceipt(BlobReceipt {
            blob_id: BlobId([4; 32]),
            capability: BlobCapability([5; 32]),
            size: 64 << 20,
            expires_at_ms: 1_797_592_000_000,
        }),
        Frame::ReportAccepted(ReportAccepted {
            report_id: ReportId([6; 16]),
            received_at_ms: 1_795_000_000_000,
        }),
    ];
    for case in list_cases() {
        frames.push((case.frame)(3));
    }
    for frame in frames {
        let bytes = frame.encode().unwrap();
        assert!(Frame::decode(&bytes).is_ok());
        for len in 0..bytes.len() {
            assert_eq!(
                Frame::decode(&bytes[..len]),
                Err(WireError::Truncated),
                "prefix of {len} bytes of {}",
                frame.kind()
            );
        }
    }
}

#[test]
fn typed_decoding_tells_relay_frames_apart() {
    let bytes = SendAccepted {
        server_time_ms: 1,
        message_ids: vec![MessageId([1; 16])].into(),
    }
    .to_bytes()
    .unwrap();
    assert_eq!(
        Acknowledgement::from_bytes(&bytes),
        Err(WireError::UnexpectedFrame {
            expected: FrameKind::Acknowledgement,
            found: FrameKind::SendAccepted
        })
    );
    assert!(SendAccepted::from_bytes(&bytes).is_ok());
}

#[test]
fn send_batch_over_the_frame_limit_is_refused_on_encode() {
    // Every field within its limit, the whole too long: 64 envelopes whose
    // sealed bodies are all at the sealed body limit.
    let over = SendBatch {
        envelopes: vec![envelope("bob", vec![0; MAX_SEALED_BODY_LEN]); MAX_ENVELOPES_PER_SEND]
            .into(),
    };
    let len = 1 + 1 + 1 + MAX_ENVELOPES_PER_SEND * (1 + 3 + 1 + 1 + 32 + 3 + MAX_SEALED_BODY_LEN);
    assert!(len > MAX_FRAME_LEN);
    let error = WireError::FrameTooLarge {
        len,
        max: MAX_FRAME_LEN,
    };
    assert_eq!(over.to_bytes(), Err(error.clone()));
    assert_eq!(Frame::SendBatch(over).encode(), Err(error));

    // Ratchet messages around the largest content are at most 64,763 bytes
    // (`tests/protocol_frames.rs`): 64 of them, to the widest recipient
    // addresses, fit.
    let widest = |sealed_len: usize| RoutingEnvelope {
        recipient: DeviceAddress::new(
            UserId::new("b".repeat(MAX_USER_ID_LEN)).unwrap(),
            DeviceId(u32::MAX),
        ),
        ..envelope("bob", vec![0; sealed_len])
    };
    let batch = SendBatch {
        envelopes: vec![widest(64_763); MAX_ENVELOPES_PER_SEND].into(),
    };
    let bytes = batch.to_bytes().unwrap();
    assert_eq!(bytes.len(), 3 + 64 * (70 + 1 + 32 + 3 + 64_763));
    assert_eq!(SendBatch::from_bytes(&bytes), Ok(batch));
    assert_eq!(MAX_FRAME_LEN - bytes.len(), 43_709);

    // Prekey messages of protocol version 3 fill a sealed body (the largest
    // content overflows it, `tests/protocol_frames.rs`): 63 such envelopes
    // fit in a batch, 64 do not (above).
    let batch = SendBatch {
        envelopes: vec![widest(MAX_SEALED_BODY_LEN); 63].into(),
    };
    let bytes = batch.to_bytes().unwrap();
    assert_eq!(
        bytes.len(),
        3 + 63 * (70 + 1 + 32 + 3 + MAX_SEALED_BODY_LEN)
    );
    assert_eq!(MAX_FRAME_LEN - bytes.len(), 59_879);
    let sixty_four = SendBatch {
        envelopes: vec![widest(MAX_SEALED_BODY_LEN); MAX_ENVELOPES_PER_SEND].into(),
    };
    assert_eq!(
        sixty_four.to_bytes(),
        Err(WireError::FrameTooLarge {
            len: 3 + 64 * 65_642,
            max: MAX_FRAME_LEN
        })
    );
}

// ---------------------------------------------------------------------------
// Varint widths, check order and error names (spec/wire.md §2, §3, §7, §8).

/// Hand-built envelope frame with its varints given as raw bytes: device
/// id, content kind and the sealed body's length (user id "bob").
fn raw_envelope_varints(device: &[u8], kind: &[u8], body_len: &[u8], body: &[u8]) -> Vec<u8> {
    let mut out = vec![WIRE_VERSION, 2, 3];
    out.extend_from_slice(b"bob");
    out.extend_from_slice(device);
    out.extend_from_slice(kind);
    out.extend_from_slice(&[7; 32]);
    out.extend_from_slice(body_len);
    out.extend_from_slice(body);
    out
}

fn decode_unit(bytes: &[u8]) -> Result<(), WireError> {
    Frame::decode(bytes).map(|_| ())
}

const BAD_VARINT: WireError = WireError::Malformed {
    reason: "bad varint",
};

#[test]
fn raw_envelope_varints_matches_the_codec() {
    assert_eq!(
        raw_envelope_varints(&[1], &[0], &[3], b"abc"),
        envelope("bob", b"abc".to_vec()).to_bytes().unwrap()
    );
}

/// wire.md §2: `u32` values and enum indices are varints of at most 5
/// bytes. Over-long within 5 bytes decodes and is `NonCanonical` (step 8);
/// a 6th byte, or a 5th byte above 0x0f, is `Malformed` (step 5).
#[test]
fn u32_varints_and_enum_indices_take_at_most_five_bytes() {
    let device = |bytes: &[u8]| decode_unit(&raw_envelope_varints(bytes, &[0], &[0], b""));
    assert_eq!(device(&[0xff, 0xff, 0xff, 0xff, 0x0f]), Ok(()), "u32::MAX");
    assert_eq!(
        device(&[0x81, 0x80, 0x80, 0x80, 0x00]),
        Err(WireError::NonCanonical)
    );
    assert_eq!(
        device(&[0x81, 0x80, 0x80, 0x80, 0x80, 0x00]),
        Err(BAD_VARINT)
    );
    assert_eq!(
        device(&[0x80, 0x80, 0x80, 0x80, 0x10]),
        Err(BAD_VARINT),
        "2^32"
    );

    // The content kind, an enum index: `Message` (0) written long.
    let kind = |bytes: &[u8]| decode_unit(&raw_envelope_varints(&[1], bytes, &[0], b""));
    assert_eq!(kind(&[0x80, 0x00]), Err(WireError::NonCanonical));
    assert_eq!(
        kind(&[0x80, 0x80, 0x80, 0x80, 0x00]),
        Err(WireError::NonCanonical)
    );
    assert_eq!(kind(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x00]), Err(BAD_VARINT));
    // A well-formed index no variant has.
    assert_eq!(
        kind(&[0xff, 0xff, 0xff, 0xff, 0x0f]),
        Err(WireError::Malformed {
            reason: "value outside the set its field allows"
        })
    );
}

/// wire.md §2: lengths and list counts are varints of at most 10 bytes
/// (`u64` wide). A claim of 2^32 or more is read, and the input then runs
/// out: `Truncated`, not `Malformed`. Over-long within 10 bytes is
/// `NonCanonical`; an 11th byte, or a 10th byte above 0x01, is `Malformed`.
#[cfg(target_pointer_width = "64")]
#[test]
fn lengths_and_counts_are_u64_varints() {
    let body =
        |len: &[u8], bytes: &[u8]| decode_unit(&raw_envelope_varints(&[1], &[0], len, bytes));
    assert_eq!(body(&varint(1 << 32), b"abc"), Err(WireError::Truncated));
    assert_eq!(body(&varint(1 << 63), b"abc"), Err(WireError::Truncated));
    assert_eq!(body(&varint(u64::MAX), b"abc"), Err(WireError::Truncated));
    // 3, written in 10 and in 11 bytes.
    let mut ten = vec![0x83];
    ten.extend([0x80; 8]);
    ten.push(0x00);
    assert_eq!(ten.len(), 10);
    assert_eq!(body(&ten, b"abc"), Err(WireError::NonCanonical));
    let mut eleven = ten.clone();
    eleven.splice(9..9, [0x80]);
    assert_eq!(body(&eleven, b"abc"), Err(BAD_VARINT));
    // A 10th byte of 0x02 would need a 65th bit.
    let mut too_wide = ten.clone();
    too_wide[8] = 0x80;
    too_wide[9] = 0x02;
    assert_eq!(body(&too_wide, b"abc"), Err(BAD_VARINT));

    // A list count claiming 2^32 or 2^64 - 1 elements: Truncated too.
    for case in list_cases() {
        for claim in [1 << 32, u64::MAX] {
            let mut bytes = case.encode(0);
            let at = case.count_at();
            bytes.truncate(at);
            bytes.extend(varint(claim));
            assert_eq!(
                decode_unit(&bytes),
                Err(WireError::Truncated),
                "{} claiming {claim}",
                case.field
            );
        }
    }
}

/// wire.md §6, §7: elements past a list's maximum are decoded, but the
/// frame is checked for trailing bytes (step 6) before any limit (step 7).
#[test]
fn trailing_bytes_are_reported_before_a_list_over_its_maximum() {
    for case in list_cases() {
        let mut over = case.with_count(case.max as u64 + 1, case.max, &case.element());
        over.push(0);
        assert_eq!(
            decode_unit(&over),
            Err(WireError::TrailingBytes { count: 1 }),
            "{}",
            case.field
        );
    }
}

/// Hand-built `GroupSend` frame: `recipients` copies of `user`/1, then a
/// sealed body of `body_len` bytes.
fn raw_group_send(recipients: usize, user: &[u8], body_len: usize) -> Vec<u8> {
    let mut out = vec![WIRE_VERSION, 31];
    out.extend(varint(recipients as u64));
    for _ in 0..recipients {
        out.push(user.len() as u8);
        out.extend_from_slice(user);
        out.push(1);
    }
    out.extend_from_slice(&[7; 32]);
    out.extend(varint(body_len as u64));
    out.extend(std::iter::repeat_n(0x42, body_len));
    out
}

/// Hand-built `SignedDeviceList` frame naming `devices` as (device id, name).
fn raw_device_list(user: &[u8], devices: &[(u8, &[u8])]) -> Vec<u8> {
    let mut out = vec![WIRE_VERSION, 32, user.len() as u8];
    out.extend_from_slice(user);
    out.extend_from_slice(&[1; 32]);
    out.extend([1, 0]); // version, created_at_ms
    out.extend(varint(devices.len() as u64));
    for (device, name) in devices {
        out.push(*device);
        out.extend_from_slice(&[2; 32]);
        out.extend_from_slice(&[3; 32]);
        out.extend_from_slice(&[4; 64]);
        out.push(name.len() as u8);
        out.extend_from_slice(name);
        out.push(0); // added_at_ms
    }
    out.extend_from_slice(&[5; 64]);
    out
}

/// wire.md §7 step 7: field rules are checked in the order the fields
/// appear, depth first, a list's count before its elements, and the first
/// broken rule is the error. In a `SignedDeviceList` each device's name is
/// checked before its place in the ascending order.
#[test]
fn the_first_broken_field_rule_in_wire_order_is_reported() {
    let too_big = MAX_SEALED_BODY_LEN + 1;
    assert!(decode_unit(&raw_group_send(2, b"bob", 3)).is_ok());
    assert_eq!(
        decode_unit(&raw_group_send(MAX_GROUP_MEMBERS + 1, b"", too_big)),
        Err(WireError::LimitExceeded {
            field: "recipients",
            len: MAX_GROUP_MEMBERS + 1,
            max: MAX_GROUP_MEMBERS
        })
    );
    assert_eq!(
        decode_unit(&raw_group_send(2, b"", too_big)),
        Err(WireError::InvalidField {
            field: "user_id",
            reason: "is empty"
        })
    );
    assert_eq!(
        decode_unit(&raw_group_send(2, b"bob", too_big)),
        Err(WireError::LimitExceeded {
            field: "sealed_body",
            len: too_big,
            max: MAX_SEALED_BODY_LEN
        })
    );

    assert!(decode_unit(&raw_device_list(b"alice", &[(1, b"a"), (2, b"b")])).is_ok());
    let out_of_order = WireError::InvalidField {
        field: "devices",
        reason: "not in strictly ascending device order",
    };
    assert_eq!(
        decode_unit(&raw_device_list(b"alice", &[(2, b"a"), (1, b"b")])),
        Err(out_of_order.clone())
    );
    // Device 1 is out of order and has an empty name: the name is reported.
    assert_eq!(
        decode_unit(&raw_device_list(b"alice", &[(2, b"a"), (1, b"")])),
        Err(WireError::InvalidField {
            field: "device_name",
            reason: "is empty"
        })
    );
    // An out-of-order device before a bad name in a later device.
    assert_eq!(
        decode_unit(&raw_device_list(
            b"alice",
            &[(2, b"a"), (1, b"b"), (3, b"")]
        )),
        Err(out_of_order)
    );
    // The user id comes first of all.
    assert_eq!(
        decode_unit(&raw_device_list(b"", &[(2, b"a"), (1, b"")])),
        Err(WireError::InvalidField {
            field: "user_id",
            reason: "is empty"
        })
    );
}

/// wire.md §3: the rules of `UserId`, `DeviceName`, `MediaType` and
/// `FileName`, each with its error: too long is `LimitExceeded`, every other
/// broken rule (empty, too short, a forbidden character) `InvalidField`.
#[test]
fn text_field_rules_have_named_errors() {
    use fuin_wire::account::DeviceName;
    use fuin_wire::attachment::{FileName, MediaType};
    let invalid = |field, reason| Err::<(), _>(WireError::InvalidField { field, reason });
    fn unit<T>(result: Result<T, WireError>) -> Result<(), WireError> {
        result.map(|_| ())
    }
    assert_eq!(unit(UserId::new("")), invalid("user_id", "is empty"));
    assert_eq!(
        unit(UserId::new("a\u{7f}")),
        invalid("user_id", "contains a control character")
    );
    assert_eq!(
        unit(UserId::new("a".repeat(65))),
        Err(WireError::LimitExceeded {
            field: "user_id",
            len: 65,
            max: 64
        })
    );
    assert_eq!(
        unit(DeviceName::new("")),
        invalid("device_name", "is empty")
    );

    let no_slash = "has no `/`";
    let bad_start = "a side of the `/` does not start with a lowercase letter or digit";
    assert_eq!(unit(MediaType::new("")), invalid("content_type", no_slash));
    assert_eq!(
        unit(MediaType::new("ab")),
        invalid("content_type", no_slash)
    );
    assert_eq!(
        unit(MediaType::new("a/")),
        invalid("content_type", bad_start)
    );
    assert_eq!(
        unit(MediaType::new("/b")),
        invalid("content_type", bad_start)
    );
    assert_eq!(unit(MediaType::new("a/b")), Ok(()), "3 bytes, the shortest");
    assert_eq!(
        unit(MediaType::new("a/b/c")),
        invalid(
            "content_type",
            "contains a character outside lowercase letters, digits and !#$&^_.+-"
        )
    );
    let long = format!("a/{}", "b".repeat(126));
    assert_eq!(
        unit(MediaType::new(long.clone())),
        Err(WireError::LimitExceeded {
            field: "content_type",
            len: 128,
            max: 127
        })
    );
    // The length is checked before the form.
    assert_eq!(
        unit(MediaType::new("B".repeat(128))),
        Err(WireError::LimitExceeded {
            field: "content_type",
            len: 128,
            max: 127
        })
    );

    assert_eq!(unit(FileName::new("")), invalid("file_name", "is empty"));
    assert_eq!(
        unit(FileName::new("x".repeat(256))),
        Err(WireError::LimitExceeded {
            field: "file_name",
            len: 256,
            max: 255
        })
    );
    assert_eq!(
        unit(FileName::new("a\nb")),
        invalid("file_name", "contains a control character")
    );
    assert_eq!(
        unit(FileName::new("a\\b")),
        invalid("file_name", "contains a path separator")
    );
    assert_eq!(
        unit(FileName::new("..")),
        invalid("file_name", "names a directory")
    );
}

/// wire.md §8: a receipt body's errors, in the order they are checked. A
/// body that ends early is `Malformed` (the receipt has no `Truncated`).
#[test]
fn receipt_body_errors_are_named_in_order() {
    use fuin_wire::receipt::{ReceiptBody, ReceiptError};
    // Version 1, Read, one reference: device 1, id 7 x 16.
    let mut good = vec![1u8, 1, 1, 1];
    good.extend([7; 16]);
    assert!(ReceiptBody::from_bytes(&good).is_ok());
    assert_eq!(ReceiptBody::from_bytes(&[]), Err(ReceiptError::Empty));
    assert_eq!(
        ReceiptBody::from_bytes(&[2]),
        Err(ReceiptError::UnknownVersion(2))
    );
    assert_eq!(
        ReceiptBody::from_bytes(&good[..good.len() - 1]),
        Err(ReceiptError::Malformed)
    );
    let mut unknown_kind = good.clone();
    unknown_kind[1] = 2;
    assert_eq!(
        ReceiptBody::from_bytes(&unknown_kind),
        Err(ReceiptError::Malformed)
    );
    // Trailing bytes are found before an empty list.
    assert_eq!(
        ReceiptBody::from_bytes(&[1, 1, 0, 0]),
        Err(ReceiptError::TrailingBytes)
    );
    assert_eq!(
        ReceiptBody::from_bytes(&[1, 1, 0]),
        Err(ReceiptError::BadCount(0))
    );
    // The kind written as 0x81 0x00.
    let mut overlong = vec![1u8, 0x81, 0x00, 1, 1];
    overlong.extend([7; 16]);
    assert_eq!(
        ReceiptBody::from_bytes(&overlong),
        Err(ReceiptError::NonCanonical)
    );
}

#[test]
fn a_protocol_version_1_message_is_refused_by_its_retired_tag() {
    // A version 1 ratchet message, prekey message and group message as a
    // version 1 sender wrote them: the old tag, then a body without a salt.
    let mut ratchet_v1 = vec![WIRE_VERSION, 6];
    ratchet_v1.extend_from_slice(&[0x11; 32]);
    ratchet_v1.extend_from_slice(&[0, 0, 3, 0xaa, 0xbb, 0xcc]);
    let mut prekey_v1 = vec![WIRE_VERSION, 7];
    prekey_v1.extend_from_slice(&[0x22; 128 + 32]);
    prekey_v1.extend_from_slice(&[0, 0]);
    prekey_v1.extend_from_slice(&ratchet_v1[2..]);
    let mut group_v1 = vec![WIRE_VERSION, 27];
    group_v1.extend_from_slice(&[0x33; 32]);
    group_v1.extend_from_slice(&[1, 0, 0, 1, 0xdd]);
    group_v1.extend_from_slice(&[0x44; 64]);
    for (bytes, tag) in [(ratchet_v1, 6), (prekey_v1, 7), (group_v1, 27)] {
        let expected = WireError::RetiredFrame {
            tag,
            protocol_version: 1,
        };
        assert_eq!(Frame::decode(&bytes), Err(expected.clone()));
        // Whatever follows the tag, even nothing: the tag alone decides.
        assert_eq!(Frame::decode(&bytes[..2]), Err(expected.clone()));
        assert_eq!(
            expected.to_string(),
            format!(
                "frame tag {tag} is retired: it carried protocol version 1, which is no longer read"
            )
        );
    }
    assert_eq!(
        RatchetMessage::from_bytes(&[WIRE_VERSION, 6, 0]),
        Err(WireError::RetiredFrame {
            tag: 6,
            protocol_version: 1
        })
    );
    assert_eq!(
        GroupMessage::from_bytes(&[WIRE_VERSION, 27]),
        Err(WireError::RetiredFrame {
            tag: 27,
            protocol_version: 1
        })
    );
}

/// The five frames whose layout protocol version 3 changed, as a version 2
/// sender wrote them: the old tag, then the body without the KEM fields.
fn protocol_version_2_frames() -> Vec<(u32, Vec<u8>)> {
    let retag = |mut bytes: Vec<u8>, tag: u8| {
        assert!(bytes[1] >= 40, "a version 3 tag");
        bytes[1] = tag;
        bytes
    };
    let mut bundle_v3 = bundle(2);
    bundle_v3.kem_prekey = None;
    let bundle_v3 = bundle_v3.to_bytes().unwrap();
    // The version 2 bundle ends where the absent KEM prekey's tag begins.
    let bundle_v2 = retag(bundle_v3[..bundle_v3.len() - 1].to_vec(), 1);
    let upload_v3 = PrekeyUpload {
        signed_prekey: None,
        one_time_prekeys: vec![one_time_prekey(1)].into(),
        last_resort_kem_prekey: None,
        one_time_kem_prekeys: BoundedVec::default(),
    }
    .to_bytes()
    .unwrap();
    let upload_v2 = retag(upload_v3[..upload_v3.len() - 2].to_vec(), 14);
    let count_v2 = vec![WIRE_VERSION, 15, 5, 1];
    let mut bundle_set_v2 = vec![WIRE_VERSION, 16, 1];
    bundle_set_v2.extend_from_slice(&bundle_v2[2..]);
    let mut prekey_v3 = prekey_message(b"ct".to_vec());
    prekey_v3.kem = None;
    let mut prekey_v2 = retag(prekey_v3.to_bytes().unwrap(), 38);
    // Drop the absent KEM encapsulation's tag, after the one-time prekey id.
    let kem_at = 1 + 1 + 128 + 32 + 1 + 1;
    assert_eq!(prekey_v2[kem_at], 0);
    prekey_v2.remove(kem_at);
    vec![
        (1, bundle_v2),
        (14, upload_v2),
        (15, count_v2),
        (16, bundle_set_v2),
        // The link request of version 2 (no grant key), as its golden
        // encoding was.
        (35, hex::decode(LINK_REQUEST_V2).unwrap()),
        (38, prekey_v2),
    ]
}

/// Tag 35's golden encoding in protocol version 2.
const LINK_REQUEST_V2: &str = "0123303132333435363738393a3b3c3d3e3f404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9fa0a1a2a3a4a5a6a7a8a9aaabacadaeaf066c6170746f70b0a6dbf29e34";

#[test]
fn a_protocol_version_2_prekey_frame_is_refused_by_its_retired_tag() {
    let frames = protocol_version_2_frames();
    let mut retired_v2: Vec<u32> = RETIRED_TAGS
        .iter()
        .filter(|(_, version)| *version == 2)
        .map(|(tag, _)| *tag)
        .collect();
    retired_v2.sort_unstable();
    assert_eq!(
        retired_v2,
        frames.iter().map(|(tag, _)| *tag).collect::<Vec<_>>()
    );
    for (tag, bytes) in frames {
        let expected = WireError::RetiredFrame {
            tag,
            protocol_version: 2,
        };
        assert_eq!(Frame::decode(&bytes), Err(expected.clone()), "tag {tag}");
        // The tag alone decides, whatever follows it.
        assert_eq!(Frame::decode(&bytes[..2]), Err(expected.clone()));
        let mut with_trailing = bytes.clone();
        with_trailing.push(0);
        assert_eq!(Frame::decode(&with_trailing), Err(expected.clone()));
        assert_eq!(
            expected.to_string(),
            format!(
                "frame tag {tag} is retired: it carried protocol version 2, which is no longer read"
            )
        );
        // Never taken for the frame now at that number, nor an unknown one.
        assert!(FrameKind::from_tag(tag).is_none(), "tag {tag}");
    }
    // The typed decoders refuse them the same way.
    let bundle_v2 = [WIRE_VERSION, 1];
    assert_eq!(
        PrekeyBundle::from_bytes(&bundle_v2),
        Err(WireError::RetiredFrame {
            tag: 1,
            protocol_version: 2
        })
    );
    assert_eq!(
        PrekeyMessage::from_bytes(&[WIRE_VERSION, 38, 0]),
        Err(WireError::RetiredFrame {
            tag: 38,
            protocol_version: 2
        })
    );
    assert_eq!(
        PrekeyCount::from_bytes(&[WIRE_VERSION, 15, 5, 1]),
        Err(WireError::RetiredFrame {
            tag: 15,
            protocol_version: 2
        })
    );
}

/// The version 3 frames keep the names and most fields of the frames they
/// replace, at tags 40-44.
#[test]
fn the_prekey_frames_of_protocol_version_3_have_tags_40_to_44() {
    for (kind, tag) in [
        (FrameKind::PrekeyMessage, 40),
        (FrameKind::PrekeyBundle, 41),
        (FrameKind::PrekeyUpload, 42),
        (FrameKind::PrekeyCount, 43),
        (FrameKind::BundleSet, 44),
    ] {
        assert_eq!(kind.tag(), tag, "{kind}");
        assert_eq!(FrameKind::from_tag(tag), Some(kind));
    }
    assert_eq!(MESSAGE_PROTOCOL_VERSION, 3);
    let count = PrekeyCount {
        one_time_prekeys: 0,
        low: true,
        one_time_kem_prekeys: 0,
        kem_low: true,
    };
    assert_eq!(count.to_bytes().unwrap(), [WIRE_VERSION, 43, 0, 1, 0, 1]);
}

fn welcome_page(page: u32, page_count: u32) -> GroupWelcome<'static> {
    GroupWelcome {
        group_id: GroupId([3; 32]),
        epoch: 4,
        membership_hash: MembershipHash([5; 32]),
        page,
        page_count,
        members: BoundedVec::default(),
        consent: None,
    }
}

#[test]
fn a_welcome_page_count_above_the_group_size_limit_is_refused_both_ways() {
    use fuin_wire::group::MAX_WELCOME_PAGES;
    assert_eq!(MAX_WELCOME_PAGES, 4);
    let fine = welcome_page(3, 4).to_bytes().unwrap();
    assert!(GroupWelcome::from_bytes(&fine).is_ok());

    let too_many = WireError::LimitExceeded {
        field: "page_count",
        len: 5,
        max: 4,
    };
    assert_eq!(welcome_page(0, 5).to_bytes(), Err(too_many.clone()));
    // The page count's byte follows version, tag, group id, one-byte epoch,
    // membership hash and one-byte page: patch a valid frame to claim 5.
    let at = 1 + 1 + 32 + 1 + 32 + 1;
    let mut patched = welcome_page(0, 4).to_bytes().unwrap();
    assert_eq!(patched[at], 4);
    patched[at] = 5;
    assert_eq!(GroupWelcome::from_bytes(&patched), Err(too_many));
    patched[at] = 0xff;
    patched.insert(at + 1, 0xff);
    patched.insert(at + 2, 0xff);
    patched.insert(at + 3, 0xff);
    patched.insert(at + 4, 0x0f);
    assert_eq!(
        GroupWelcome::from_bytes(&patched),
        Err(WireError::LimitExceeded {
            field: "page_count",
            len: u32::MAX as usize,
            max: 4,
        })
    );
}

#[test]
fn a_welcome_page_not_below_its_page_count_is_refused() {
    let not_below = WireError::InvalidField {
        field: "page",
        reason: "not below page_count",
    };
    for (page, count) in [(4, 4), (0, 0), (9, 2)] {
        assert_eq!(welcome_page(page, count).to_bytes(), Err(not_below.clone()));
    }
    // Field order: the page's rule first, so a page past a too-large count
    // is the page's error; a page below a too-large count is the count's.
    assert_eq!(welcome_page(7, 6).to_bytes(), Err(not_below));
    assert_eq!(
        welcome_page(5, 6).to_bytes(),
        Err(WireError::LimitExceeded {
            field: "page_count",
            len: 6,
            max: 4,
        })
    );
}
