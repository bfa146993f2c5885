//! Properties of the protocol's own frames (tags 8, 37 and 40) beyond their
//! encoding: the franking key never reaches a log, and how the largest
//! content fits, sealed, inside a routing envelope.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use fuin_wire::limits::{MAX_CONTENT_BODY_LEN, MAX_SEALED_BODY_LEN, MAX_USER_ID_LEN};
use fuin_wire::*;

/// A key whose bytes are all distinct, so any run of them is recognisable.
const KEY: [u8; 32] = {
    let mut key = [0; 32];
    let mut i = 0;
    while i < 32 {
        key[i] = 0xc3 ^ (i as u8 * 7);
        i += 1;
    }
    key
};

fn content(body: Vec<u8>) -> MessageContent<'static> {
    MessageContent {
        content_type: ContentType::Text,
        message_id: ClientMessageId([0x11; 16]),
        sequence: u64::MAX,
        sent_at_ms: u64::MAX,
        // The longest user id: the headroom check below needs the widest content.
        conversation: ConversationRef::Direct {
            peer: UserId::new("p".repeat(64)).unwrap(),
        },
        franking_key: FrankingKey(KEY),
        body: SecretBytes::from(body),
    }
}

#[test]
fn debug_of_message_content_never_shows_the_franking_key() {
    let content = content(b"hello".to_vec());
    let frame = Frame::MessageContent(content.clone());
    let bytes = frame.encode().unwrap();
    let decoded = Frame::decode(&bytes).unwrap();
    for shown in [
        format!("{content:?}"),
        format!("{content:#?}"),
        format!("{frame:?}"),
        format!("{decoded:?}"),
        format!("{:?}", content.franking_key),
    ] {
        assert!(shown.contains("FrankingKey(<redacted>)"), "{shown}");
        let lower = shown.to_lowercase();
        assert!(!lower.contains(&hex::encode(KEY)), "{shown}");
        // Not even part of it, in hex or as a list of numbers.
        for window in KEY.windows(4) {
            assert!(!lower.contains(&hex::encode(window)), "{shown}");
        }
        let numbers = format!("{:?}", &KEY[..4]);
        assert!(!shown.contains(numbers.trim_end_matches(']')), "{shown}");
    }
    // The other fixed-size values stay visible: only the key is redacted.
    assert!(format!("{content:?}").contains(&hex::encode([0x11; 16])));
}

/// The bytes a ratchet message's ciphertext adds around its plaintext: the
/// 32-byte key commitment and the 16-byte AES-GCM tag.
const CRYPTO_OVERHEAD: usize = 32 + 16;

/// The widest ratchet message around `plaintext`: every varint at its widest.
fn widest_ratchet_message(plaintext_len: usize) -> RatchetMessage<'static> {
    RatchetMessage {
        header: RatchetHeader {
            ratchet_key: X25519PublicKey([1; 32]),
            previous_chain_length: u32::MAX,
            counter: u32::MAX,
            salt: MessageSalt([0xff; 16]),
        },
        ciphertext: Opaque::from(vec![0x5a; CRYPTO_OVERHEAD + plaintext_len]),
    }
}

/// The widest prekey message of protocol version 3 around `plaintext`: both
/// prekey ids and the KEM prekey id at their widest, the KEM ciphertext in.
fn widest_prekey_message(plaintext_len: usize) -> PrekeyMessage<'static> {
    PrekeyMessage {
        initiator: PublicIdentity {
            signing_key: Ed25519PublicKey([2; 32]),
            agreement_key: X25519PublicKey([3; 32]),
            signature: Ed25519Signature([4; 64]),
        },
        base_key: X25519PublicKey([5; 32]),
        signed_prekey_id: PrekeyId(u32::MAX),
        one_time_prekey_id: Some(PrekeyId(u32::MAX)),
        kem: Some(KemEncapsulation {
            kem_prekey_id: PrekeyId(u32::MAX),
            ciphertext: MlKemCiphertext([6; 1088]),
        }),
        message: widest_ratchet_message(plaintext_len),
    }
}

fn widest_envelope(kind: ContentKind, sealed: Vec<u8>) -> RoutingEnvelope<'static> {
    RoutingEnvelope {
        recipient: DeviceAddress::new(
            UserId::new("b".repeat(MAX_USER_ID_LEN)).unwrap(),
            DeviceId(u32::MAX),
        ),
        content_kind: kind,
        franking_commitment: FrankingCommitment([6; 32]),
        sealed_body: Opaque::from(sealed),
    }
}

#[test]
fn the_largest_content_fits_sealed_in_a_ratchet_message_inside_an_envelope() {
    let plaintext = content(vec![0xa5; MAX_CONTENT_BODY_LEN])
        .to_bytes()
        .unwrap();
    assert_eq!(plaintext.len(), MAX_CONTENT_BODY_LEN + 74 + 66);
    let sealed = widest_ratchet_message(plaintext.len()).to_bytes().unwrap();
    // Version, tag, key, two 5-byte counters, salt, a 3-byte length.
    assert_eq!(
        sealed.len(),
        plaintext.len() + CRYPTO_OVERHEAD + 2 + 32 + 5 + 5 + 16 + 3
    );
    assert_eq!(MAX_SEALED_BODY_LEN - sealed.len(), 1797);
    let envelope = widest_envelope(ContentKind::Message, sealed.clone());
    let bytes = envelope.to_bytes().unwrap();
    let routed = RoutingEnvelope::from_bytes(&bytes).unwrap();
    assert_eq!(routed.sealed_body.as_bytes(), sealed.as_slice());
}

/// Protocol version 3 adds 1,094 bytes to a prekey message (option tag, KEM
/// prekey id of up to 5 bytes, the 1,088-byte ciphertext), more than the 602
/// bytes version 2's 1,024-byte headroom left; so the content limit gave up
/// another KiB (63,488 bytes). The largest content, sealed in a prekey
/// message with every varint at its widest, is 65,004 bytes and fits an
/// envelope with 532 to spare; at the old limit (64,512) it was 492 over.
#[test]
fn the_largest_content_fits_a_prekey_message_envelope() {
    assert_eq!(MAX_CONTENT_BODY_LEN, 63_488);
    let plaintext = content(vec![0xa5; MAX_CONTENT_BODY_LEN])
        .to_bytes()
        .unwrap();
    let sealed = widest_prekey_message(plaintext.len()).to_bytes().unwrap();
    // The v2 prekey message's own fields were at most 234 bytes; the KEM
    // encapsulation adds 1 + 5 + 1,088.
    assert_eq!(
        sealed.len(),
        plaintext.len() + CRYPTO_OVERHEAD + 234 + 1 + 5 + 1088
    );
    assert_eq!(sealed.len(), 65_004);
    assert_eq!(MAX_SEALED_BODY_LEN - sealed.len(), 532);
    let envelope = widest_envelope(ContentKind::PrekeyMessage, sealed.clone());
    let bytes = envelope.to_bytes().unwrap();
    let routed = RoutingEnvelope::from_bytes(&bytes).unwrap();
    assert_eq!(routed.sealed_body.as_bytes(), sealed.as_slice());

    // The old limit's largest body would not fit: what the change is for.
    let old_limit = MAX_SEALED_BODY_LEN - 1024;
    let plaintext = content(vec![0xa5; MAX_CONTENT_BODY_LEN])
        .to_bytes()
        .unwrap();
    let grown = plaintext.len() + (old_limit - MAX_CONTENT_BODY_LEN);
    let sealed = widest_prekey_message(grown).to_bytes().unwrap();
    assert_eq!(sealed.len(), 66_028);
    assert_eq!(
        widest_envelope(ContentKind::PrekeyMessage, sealed).to_bytes(),
        Err(WireError::LimitExceeded {
            field: "sealed_body",
            len: 66_028,
            max: MAX_SEALED_BODY_LEN
        })
    );
}

#[test]
fn content_type_code_is_its_wire_index() {
    for content_type in [
        ContentType::Text,
        ContentType::Receipt,
        ContentType::SenderKeyDistribution,
        ContentType::GroupWelcome,
        ContentType::GroupControl,
        ContentType::Attachment,
        ContentType::IdentifierSecret,
        ContentType::SenderKeyRequest,
    ] {
        let mut content = content(b"x".to_vec());
        content.content_type = content_type;
        let bytes = content.to_bytes().unwrap();
        // Version, tag, then the content type as a one-byte varint.
        assert_eq!(u32::from(bytes[2]), content_type.code(), "{content_type:?}");
    }
}
