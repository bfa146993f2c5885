//! Names shown to people refuse look-alike characters (`spec/wire.md` §3.1):
//! the vectors of `test-vectors/wire/shown_names.json` against each field's
//! constructor, and the same names arriving inside frames and bodies.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use fuin_wire::account::{AccountDevice, DeviceListContent, DeviceName, SignedDeviceList};
use fuin_wire::attachment::{
    AttachmentKey, AttachmentReference, ConversationDigest, FileName, MediaType, ObjectId,
    SealedObjectRef,
};
use fuin_wire::{
    BlobId, ContentKind, DeviceAddress, DeviceId, Ed25519PublicKey, Ed25519Signature, Frame,
    FrankingCommitment, Opaque, PublicIdentity, RoutingEnvelope, UserId, WireError,
    X25519PublicKey,
};
use serde_json::Value;

fn vectors() -> Vec<Value> {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../test-vectors/wire/shown_names.json");
    let text = std::fs::read_to_string(&path).unwrap();
    let file: Value = serde_json::from_str(&text).unwrap();
    file["vectors"].as_array().unwrap().clone()
}

fn text_of(vector: &Value) -> String {
    String::from_utf8(hex::decode(vector["text_utf8"].as_str().unwrap()).unwrap()).unwrap()
}

/// The error a vector names, as the codec reports it.
fn expected(vector: &Value) -> Option<WireError> {
    let field = match vector["field"].as_str().unwrap() {
        "user_id" => "user_id",
        "device_name" => "device_name",
        "file_name" => "file_name",
        other => panic!("unknown field {other}"),
    };
    match vector["error"].as_str() {
        None => None,
        Some("HiddenCharacter") => {
            let code_point = vector["code_point"].as_str().unwrap();
            let code_point =
                u32::from_str_radix(code_point.strip_prefix("U+").unwrap(), 16).unwrap();
            Some(WireError::HiddenCharacter { field, code_point })
        }
        Some("InvalidField") => {
            assert_eq!(vector["reason"], "contains a control character");
            Some(WireError::InvalidField {
                field,
                reason: "contains a control character",
            })
        }
        Some(other) => panic!("unknown error {other}"),
    }
}

/// What the field's constructor says of `text`.
fn construct(field: &str, text: String) -> Result<(), WireError> {
    match field {
        "user_id" => UserId::new(text).map(drop),
        "device_name" => DeviceName::new(text).map(drop),
        "file_name" => FileName::new(text).map(drop),
        other => panic!("unknown field {other}"),
    }
}

#[test]
fn shown_name_vectors_match_the_constructors() {
    let vectors = vectors();
    assert!(vectors.len() >= 30);
    for vector in &vectors {
        let name = vector["name"].as_str().unwrap();
        let field = vector["field"].as_str().unwrap();
        let got = construct(field, text_of(vector));
        assert_eq!(got.err(), expected(vector), "{field}: {name}");
    }
    // Each field has refused and accepted names.
    for field in ["user_id", "device_name", "file_name"] {
        let of_field = || vectors.iter().filter(move |v| v["field"] == field);
        assert!(
            of_field().any(|v| v["error"] == "HiddenCharacter"),
            "{field}"
        );
        assert!(of_field().any(|v| v["error"].is_null()), "{field}");
    }
}

#[test]
fn the_error_names_the_code_point_and_never_shows_the_character() {
    let err = UserId::new("bob\u{202E}ecila").unwrap_err();
    let shown = err.to_string();
    assert!(shown.contains("U+202E"), "{shown}");
    assert!(shown.contains("user_id"), "{shown}");
    assert!(!shown.contains('\u{202E}'), "{shown:?}");
    let err = FileName::new("photo\u{E0041}.png").unwrap_err();
    assert_eq!(
        err,
        WireError::HiddenCharacter {
            field: "file_name",
            code_point: 0xE0041
        }
    );
    assert!(err.to_string().contains("U+E0041"));
}

/// `encoded` with the one occurrence of `placeholder` replaced by `text` of
/// the same length in bytes: a name no encoder of ours would write.
fn patched(encoded: &[u8], placeholder: &str, text: &str) -> Vec<u8> {
    assert_eq!(placeholder.len(), text.len());
    let at = encoded
        .windows(placeholder.len())
        .position(|window| window == placeholder.as_bytes())
        .unwrap();
    let mut out = encoded.to_vec();
    out[at..at + text.len()].copy_from_slice(text.as_bytes());
    out
}

fn hidden_error(field: &'static str, code_point: u32) -> WireError {
    WireError::HiddenCharacter { field, code_point }
}

#[test]
fn a_frame_addressed_to_a_look_alike_user_is_refused() {
    let text = "bob\u{200B}";
    let placeholder = "x".repeat(text.len());
    let envelope = RoutingEnvelope {
        recipient: DeviceAddress::new(UserId::new(placeholder.clone()).unwrap(), DeviceId(1)),
        content_kind: ContentKind::Message,
        franking_commitment: FrankingCommitment([7; 32]),
        sealed_body: Opaque::borrowed(b"sealed"),
    };
    let encoded = Frame::Envelope(envelope).encode().unwrap();
    assert!(Frame::decode(&encoded).is_ok());
    let bad = patched(&encoded, &placeholder, text);
    assert_eq!(Frame::decode(&bad), Err(hidden_error("user_id", 0x200B)));
}

#[test]
fn a_device_list_with_a_look_alike_device_name_is_refused() {
    let text = "\u{2067}laptop";
    let placeholder = "y".repeat(text.len());
    let content = DeviceListContent {
        user: UserId::new("alice").unwrap(),
        account_key: Ed25519PublicKey([1; 32]),
        version: 1,
        created_at_ms: 5,
        devices: vec![AccountDevice {
            device: DeviceId(1),
            identity: PublicIdentity {
                signing_key: Ed25519PublicKey([2; 32]),
                agreement_key: X25519PublicKey([3; 32]),
                signature: Ed25519Signature([4; 64]),
            },
            name: DeviceName::new(placeholder.clone()).unwrap(),
            added_at_ms: 5,
        }]
        .into(),
    };
    let frame = Frame::SignedDeviceList(SignedDeviceList {
        content,
        signature: Ed25519Signature([5; 64]),
    });
    let encoded = frame.encode().unwrap();
    assert!(Frame::decode(&encoded).is_ok());
    let bad = patched(&encoded, &placeholder, text);
    assert_eq!(
        Frame::decode(&bad),
        Err(hidden_error("device_name", 0x2067))
    );
}

#[test]
fn an_attachment_reference_with_a_reversed_file_name_is_refused() {
    let text = "invoice\u{202E}fdp.exe";
    let placeholder = "z".repeat(text.len());
    let reference = AttachmentReference {
        owner: DeviceAddress::new(UserId::new("alice").unwrap(), DeviceId(1)),
        conversation: ConversationDigest([6; 32]),
        content_type: MediaType::new("application/pdf").unwrap(),
        object: SealedObjectRef {
            object_id: ObjectId([1; 16]),
            key: AttachmentKey([2; 32]),
            blob_id: BlobId([3; 32]),
            sealed_len: 85,
        },
        thumbnail: None,
        file_name: Some(FileName::new(placeholder.clone()).unwrap()),
    };
    let encoded = reference.to_bytes().unwrap();
    assert!(AttachmentReference::from_bytes(&encoded).is_ok());
    let bad = patched(&encoded, &placeholder, text);
    assert_eq!(
        AttachmentReference::from_bytes(&bad).map(drop),
        Err(hidden_error("file_name", 0x202E))
    );
}

#[test]
fn the_default_ignorable_table_matches_unicode_data() {
    // ICU4X's copy of DerivedCoreProperties.txt, independent of the table
    // written out in src/text.rs.
    let unicode =
        icu_properties::CodePointSetData::new::<icu_properties::props::DefaultIgnorableCodePoint>();
    for c in (0..=0x10FFFFu32).filter_map(char::from_u32) {
        assert_eq!(
            fuin_wire::text::is_default_ignorable(c),
            unicode.contains(c),
            "U+{:04X}",
            u32::from(c)
        );
    }
}

#[test]
fn every_hidden_code_point_in_a_user_id_is_refused_by_number() {
    let categories =
        icu_properties::CodePointMapData::<icu_properties::props::GeneralCategory>::new();
    for c in (0..=0x10FFFFu32).filter_map(char::from_u32) {
        use icu_properties::props::GeneralCategory as G;
        let hidden = matches!(
            categories.get(c),
            G::Format | G::LineSeparator | G::ParagraphSeparator
        ) || fuin_wire::text::is_default_ignorable(c);
        if c.is_control() || !hidden {
            continue;
        }
        assert_eq!(
            UserId::new(format!("a{c}b")).err(),
            Some(hidden_error("user_id", u32::from(c))),
            "U+{:04X}",
            u32::from(c)
        );
    }
}
