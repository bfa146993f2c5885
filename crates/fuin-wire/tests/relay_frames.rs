//! Properties of the relay API's frames beyond their encoding: the secrets
//! they carry never reach a log, and the report inbox's batch holds a report
//! at its size limit but no more than the frame limit allows.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use fuin_wire::limits::{MAX_FRAME_LEN, MAX_SEALED_REPORT_LEN, MAX_USER_ID_LEN};
use fuin_wire::relay::{
    AuthToken, BearerToken, BlobCapability, BlobReceipt, InboxReport, MAX_REPORTS_PER_BATCH,
    ReportBatch, ReportId,
};
use fuin_wire::*;

/// A secret whose bytes are all distinct, so any run of them is recognisable.
const SECRET: [u8; 32] = {
    let mut secret = [0; 32];
    let mut i = 0;
    while i < 32 {
        secret[i] = 0x3c ^ (i as u8).wrapping_mul(11);
        i += 1;
    }
    secret
};

/// `shown` holds no run of four bytes of [`SECRET`], in hex or as numbers.
fn assert_hides_the_secret(shown: &str) {
    let lower = shown.to_lowercase();
    for window in SECRET.windows(4) {
        assert!(!lower.contains(&hex::encode(window)), "{shown}");
    }
    let numbers = format!("{:?}", &SECRET[..4]);
    assert!(!shown.contains(numbers.trim_end_matches(']')), "{shown}");
}

#[test]
fn debug_of_a_blob_receipt_never_shows_the_capability() {
    let receipt = BlobReceipt {
        blob_id: BlobId([0x11; 32]),
        capability: BlobCapability(SECRET),
        size: 5,
        expires_at_ms: 6,
    };
    let frame = Frame::BlobReceipt(receipt.clone());
    let bytes = frame.encode().unwrap();
    let decoded = Frame::decode(&bytes).unwrap();
    for shown in [
        format!("{receipt:?}"),
        format!("{receipt:#?}"),
        format!("{frame:?}"),
        format!("{decoded:?}"),
        format!("{:?}", receipt.capability),
    ] {
        assert!(shown.contains("BlobCapability(<redacted>)"), "{shown}");
        assert_hides_the_secret(&shown);
    }
    // The blob id is public and stays visible.
    assert!(format!("{receipt:?}").contains(&hex::encode([0x11; 32])));
}

#[test]
fn debug_of_an_auth_token_never_shows_the_token() {
    let token = AuthToken {
        token: BearerToken(SECRET),
        expires_at_ms: 1,
    };
    for shown in [
        format!("{token:?}"),
        format!("{:?}", Frame::AuthToken(token.clone())),
    ] {
        assert!(shown.contains("BearerToken(<redacted>)"), "{shown}");
        assert_hides_the_secret(&shown);
    }
}

fn report(ciphertext_len: usize, reporter: DeviceAddress<'static>) -> InboxReport<'static> {
    InboxReport {
        report_id: ReportId([7; 16]),
        reporter,
        received_at_ms: u64::MAX,
        report: SealedReport {
            moderation_key_id: u32::MAX,
            ephemeral_key: X25519PublicKey([8; 32]),
            ciphertext: Opaque::from(vec![0x5a; ciphertext_len]),
        },
    }
}

fn widest_address() -> DeviceAddress<'static> {
    DeviceAddress::new(
        UserId::new("r".repeat(MAX_USER_ID_LEN)).unwrap(),
        DeviceId(u32::MAX),
    )
}

#[test]
fn a_report_at_its_limit_fits_a_batch_alone_with_every_field_at_its_widest() {
    let batch = ReportBatch {
        reports: vec![report(MAX_SEALED_REPORT_LEN, widest_address())].into(),
    };
    let bytes = batch.to_bytes().unwrap();
    // Version, tag, count; id, reporter (length, 64 bytes, 5-byte device),
    // 10-byte time; key id (5), ephemeral key, 4-byte length, ciphertext.
    let expected = 3 + 16 + (1 + 64 + 5) + 10 + 5 + 32 + 4 + MAX_SEALED_REPORT_LEN;
    assert_eq!(bytes.len(), expected);
    assert!(bytes.len() <= MAX_FRAME_LEN);
    assert_eq!(ReportBatch::from_bytes(&bytes).unwrap().into_owned(), batch);
}

#[test]
fn two_reports_at_their_limit_are_over_the_frame_limit() {
    let batch = ReportBatch {
        reports: vec![report(MAX_SEALED_REPORT_LEN, widest_address()); 2].into(),
    };
    assert!(matches!(
        batch.to_bytes(),
        Err(WireError::FrameTooLarge {
            max: MAX_FRAME_LEN,
            ..
        })
    ));
    // Many small reports fit up to the count limit.
    let full = ReportBatch {
        reports: vec![report(1000, widest_address()); MAX_REPORTS_PER_BATCH].into(),
    };
    assert!(full.to_bytes().is_ok());
}

#[test]
fn a_report_inside_a_batch_is_held_to_its_own_limits() {
    let over = ReportBatch {
        reports: vec![report(MAX_SEALED_REPORT_LEN + 1, widest_address())].into(),
    };
    assert_eq!(
        over.to_bytes(),
        Err(WireError::LimitExceeded {
            field: "ciphertext",
            len: MAX_SEALED_REPORT_LEN + 1,
            max: MAX_SEALED_REPORT_LEN
        })
    );

    // A reporter with an empty user id, written by hand: refused on decode.
    let good = ReportBatch {
        reports: vec![report(
            3,
            DeviceAddress::new(UserId::new("a").unwrap(), DeviceId(1)),
        )]
        .into(),
    }
    .to_bytes()
    .unwrap();
    // Version, tag, count, the 16-byte id, then the user id's length and byte.
    assert_eq!(&good[19..21], &[1, b'a']);
    let mut bad = good.clone();
    bad.splice(19..21, [0]);
    assert_eq!(
        Frame::decode(&bad),
        Err(WireError::InvalidField {
            field: "user_id",
            reason: "is empty"
        })
    );
}

#[test]
fn relay_origins_are_normalised_as_the_spec_says() {
    use fuin_wire::relay::relay_origin;
    let cases: &[(&str, Option<&str>)] = &[
        // Already an origin.
        ("https://relay.example", Some("https://relay.example")),
        ("http://127.0.0.1:8080", Some("http://127.0.0.1:8080")),
        // Lowercased, scheme and host.
        ("HTTPS://Relay.EXAMPLE", Some("https://relay.example")),
        (
            "Http://Relay.Example:8080",
            Some("http://relay.example:8080"),
        ),
        // Default ports dropped, other ports kept.
        ("https://relay.example:443", Some("https://relay.example")),
        ("http://relay.example:80", Some("http://relay.example")),
        ("http://relay.example:443", Some("http://relay.example:443")),
        ("https://relay.example:80", Some("https://relay.example:80")),
        (
            "https://relay.example:8443",
            Some("https://relay.example:8443"),
        ),
        (
            "http://relay.example:8080",
            Some("http://relay.example:8080"),
        ),
        // Path, trailing slash, query and fragment dropped.
        ("https://relay.example/", Some("https://relay.example")),
        (
            "https://relay.example/v1/devices",
            Some("https://relay.example"),
        ),
        (
            "https://relay.example:443/v1/",
            Some("https://relay.example"),
        ),
        ("https://relay.example?x=1", Some("https://relay.example")),
        ("https://relay.example#top", Some("https://relay.example")),
        // User info dropped.
        (
            "https://user:secret@relay.example/",
            Some("https://relay.example"),
        ),
        (
            "http://user@relay.example:8080",
            Some("http://relay.example:8080"),
        ),
        // White space around the URL dropped.
        ("  https://relay.example/ \n", Some("https://relay.example")),
        // IPv6 literal.
        ("http://[::1]:80/", Some("http://[::1]")),
        ("http://[::1]:8080", Some("http://[::1]:8080")),
        // Not http or https, or no host: no origin.
        ("ws://relay.example", None),
        ("wss://relay.example", None),
        ("ftp://relay.example", None),
        ("file:///etc/passwd", None),
        ("relay.example", None),
        ("//relay.example", None),
        ("https://", None),
        ("https:///path", None),
        ("https://:443", None),
        ("https://user@", None),
        ("", None),
    ];
    for (url, origin) in cases {
        assert_eq!(relay_origin(url).as_deref(), *origin, "{url:?}");
    }
    // Idempotent: an origin normalises to itself.
    for (_, origin) in cases {
        if let Some(origin) = origin {
            assert_eq!(relay_origin(origin).as_deref(), Some(*origin), "{origin}");
        }
    }
}

/// The KEM prekey with every varint at its widest (`id` of 5 bytes), or at
/// its narrowest.
fn kem_prekey(widest: bool) -> KemPrekey {
    KemPrekey {
        id: PrekeyId(if widest { u32::MAX } else { 0 }),
        public_key: MlKemPublicKey([0x4b; 1184]),
        signature: Ed25519Signature([0x5c; 64]),
    }
}

fn bundle(widest: bool, with_kem: bool) -> PrekeyBundle<'static> {
    let id = PrekeyId(if widest { u32::MAX } else { 0 });
    let user = if widest {
        "u".repeat(MAX_USER_ID_LEN)
    } else {
        "u".into()
    };
    PrekeyBundle {
        address: DeviceAddress::new(UserId::new(user).unwrap(), DeviceId(id.0)),
        identity: PublicIdentity {
            signing_key: Ed25519PublicKey([1; 32]),
            agreement_key: X25519PublicKey([2; 32]),
            signature: Ed25519Signature([3; 64]),
        },
        signed_prekey: SignedPrekey {
            id,
            public_key: X25519PublicKey([4; 32]),
            signature: Ed25519Signature([5; 64]),
        },
        one_time_prekey: widest.then_some(OneTimePrekey {
            id,
            public_key: X25519PublicKey([6; 32]),
        }),
        kem_prekey: with_kem.then(|| kem_prekey(widest)),
    }
}

/// The body sizes `spec/wire.md` §3 and §4 give for the frames of protocol
/// version 3 (a body is the frame without its version byte and tag).
#[test]
fn prekey_frame_body_sizes_match_the_spec() {
    use fuin_wire::relay::{
        BundleSet, MAX_DEVICES_PER_USER, MAX_KEM_PREKEY_UPLOAD, MAX_PREKEY_UPLOAD, PrekeyCount,
        PrekeyUpload,
    };
    fn body_len(bytes: Vec<u8>) -> usize {
        // Every tag of these frames is one byte.
        bytes.len() - 2
    }

    assert_eq!(body_len(bundle(false, true).to_bytes().unwrap()), 1_479);
    assert_eq!(body_len(bundle(true, true).to_bytes().unwrap()), 1_591);
    assert_eq!(body_len(bundle(false, false).to_bytes().unwrap()), 230);
    assert_eq!(body_len(bundle(true, false).to_bytes().unwrap()), 338);

    let full_set = BundleSet {
        bundles: vec![bundle(true, true); MAX_DEVICES_PER_USER].into(),
    };
    assert_eq!(body_len(full_set.to_bytes().unwrap()), 25_457);

    let empty_upload = PrekeyUpload {
        signed_prekey: None,
        one_time_prekeys: BoundedVec::default(),
        last_resort_kem_prekey: None,
        one_time_kem_prekeys: BoundedVec::default(),
    };
    assert_eq!(body_len(empty_upload.to_bytes().unwrap()), 4);
    let widest = bundle(true, true);
    let full_upload = PrekeyUpload {
        signed_prekey: Some(widest.signed_prekey.clone()),
        one_time_prekeys: vec![widest.one_time_prekey.clone().unwrap(); MAX_PREKEY_UPLOAD].into(),
        last_resort_kem_prekey: Some(kem_prekey(true)),
        one_time_kem_prekeys: vec![kem_prekey(true); MAX_KEM_PREKEY_UPLOAD].into(),
    };
    let full_upload_len = body_len(full_upload.to_bytes().unwrap());
    assert_eq!(full_upload_len, 130_358);
    assert!(full_upload_len + 2 < MAX_FRAME_LEN);

    for (count, len) in [((0, 0), 4), ((u32::MAX, u32::MAX), 12)] {
        let frame = PrekeyCount {
            one_time_prekeys: count.0,
            low: false,
            one_time_kem_prekeys: count.1,
            kem_low: true,
        };
        assert_eq!(body_len(frame.to_bytes().unwrap()), len);
    }

    let prekey_message = |widest: bool, kem: bool| {
        let id = PrekeyId(if widest { u32::MAX } else { 0 });
        let message = PrekeyMessage {
            initiator: bundle(false, false).identity,
            base_key: X25519PublicKey([7; 32]),
            signed_prekey_id: id,
            one_time_prekey_id: widest.then_some(id),
            kem: kem.then_some(KemEncapsulation {
                kem_prekey_id: id,
                ciphertext: MlKemCiphertext([8; 1088]),
            }),
            message: RatchetMessage {
                header: RatchetHeader {
                    ratchet_key: X25519PublicKey([9; 32]),
                    previous_chain_length: id.0,
                    counter: id.0,
                    salt: MessageSalt([10; 16]),
                },
                // The ciphertext's length takes 1 byte, or 3 at the limit.
                ciphertext: Opaque::from(if widest {
                    vec![11; limits::MAX_SEALED_BODY_LEN]
                } else {
                    Vec::new()
                }),
            },
        };
        let ciphertext = message.message.ciphertext.as_bytes().len();
        body_len(message.to_bytes().unwrap()) - ciphertext
    };
    assert_eq!(prekey_message(false, true), 1_303);
    assert_eq!(prekey_message(true, true), 1_326);
    assert_eq!(prekey_message(false, false), 214);
    assert_eq!(prekey_message(true, false), 233);
}
