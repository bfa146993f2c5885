//! Checks the golden encodings in `test-vectors/wire/` two ways: against the
//! codec (encode and decode) and against a small encoder written here from
//! `spec/wire.md` alone, so that a vector cannot merely echo the codec.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use fuin_wire::relay::{Nonce, relay_auth_input, relay_origin};
use fuin_wire::{
    DeviceAddress, DeviceId, Frame, FrameKind, FrankingCommitment, MessageId, StampKeyId, UserId,
    franking_stamp_input,
};
use serde_json::Value;

fn vector_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../test-vectors/wire")
}

fn load(name: &str) -> Value {
    let path = vector_dir().join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|err| panic!("test vector {} is missing: {err}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// The encoder of `spec/wire.md`, written without the codec.
mod spec_encoder {
    use serde_json::Value;

    pub fn varint(out: &mut Vec<u8>, mut value: u64) {
        loop {
            let byte = (value & 0x7f) as u8;
            value >>= 7;
            if value == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }

    fn fixed(out: &mut Vec<u8>, hex_text: &Value, len: usize) {
        let bytes = hex::decode(hex_text.as_str().unwrap()).unwrap();
        assert_eq!(bytes.len(), len);
        out.extend_from_slice(&bytes);
    }

    fn length_prefixed(out: &mut Vec<u8>, bytes: &[u8]) {
        varint(out, bytes.len() as u64);
        out.extend_from_slice(bytes);
    }

    fn opaque(out: &mut Vec<u8>, hex_text: &Value) {
        length_prefixed(out, &hex::decode(hex_text.as_str().unwrap()).unwrap());
    }

    fn uint(out: &mut Vec<u8>, value: &Value) {
        varint(out, value.as_u64().unwrap());
    }

    fn address(out: &mut Vec<u8>, address: &Value) {
        length_prefixed(out, address["user"].as_str().unwrap().as_bytes());
        uint(out, &address["device"]);
    }

    fn identity(out: &mut Vec<u8>, identity: &Value) {
        fixed(out, &identity["signing_key"], 32);
        fixed(out, &identity["agreement_key"], 32);
        fixed(out, &identity["signature"], 64);
    }

    fn content_kind(out: &mut Vec<u8>, kind: &Value) {
        let index = match kind.as_str().unwrap() {
            "Message" => 0,
            "PrekeyMessage" => 1,
            "GroupMessage" => 2,
            other => panic!("content kind {other} is not in spec/wire.md"),
        };
        varint(out, index);
    }

    fn envelope(out: &mut Vec<u8>, envelope: &Value) {
        address(out, &envelope["recipient"]);
        content_kind(out, &envelope["content_kind"]);
        fixed(out, &envelope["franking_commitment"], 32);
        opaque(out, &envelope["sealed_body"]);
    }

    fn option_uint(out: &mut Vec<u8>, value: &Value) {
        match value {
            Value::Null => out.push(0),
            value => {
                out.push(1);
                uint(out, value);
            }
        }
    }

    fn ratchet_message(out: &mut Vec<u8>, message: &Value) {
        let header = &message["header"];
        fixed(out, &header["ratchet_key"], 32);
        uint(out, &header["previous_chain_length"]);
        uint(out, &header["counter"]);
        fixed(out, &header["salt"], 16);
        opaque(out, &message["ciphertext"]);
    }

    /// `bool`: one byte, 0 or 1.
    fn boolean(out: &mut Vec<u8>, value: &Value) {
        out.push(u8::from(value.as_bool().unwrap()));
    }

    /// A list: varint count, then each element.
    fn list(out: &mut Vec<u8>, items: &Value, element: fn(&mut Vec<u8>, &Value)) {
        let items = items.as_array().unwrap();
        varint(out, items.len() as u64);
        for item in items {
            element(out, item);
        }
    }

    fn signed_prekey(out: &mut Vec<u8>, signed: &Value) {
        uint(out, &signed["id"]);
        fixed(out, &signed["public_key"], 32);
        fixed(out, &signed["signature"], 64);
    }

    fn one_time_prekey(out: &mut Vec<u8>, one_time: &Value) {
        uint(out, &one_time["id"]);
        fixed(out, &one_time["public_key"], 32);
    }

    /// `KemPrekey`: id, the 1,184-byte ML-KEM-768 key, the signature.
    fn kem_prekey(out: &mut Vec<u8>, kem: &Value) {
        uint(out, &kem["id"]);
        fixed(out, &kem["public_key"], 1184);
        fixed(out, &kem["signature"], 64);
    }

    /// `option<T>`: 0, or 1 and `T`.
    fn option(out: &mut Vec<u8>, value: &Value, some: fn(&mut Vec<u8>, &Value)) {
        match value {
            Value::Null => out.push(0),
            value => {
                out.push(1);
                some(out, value);
            }
        }
    }

    fn bundle(out: &mut Vec<u8>, bundle: &Value) {
        address(out, &bundle["address"]);
        identity(out, &bundle["identity"]);
        signed_prekey(out, &bundle["signed_prekey"]);
        option(out, &bundle["one_time_prekey"], one_time_prekey);
        option(out, &bundle["kem_prekey"], kem_prekey);
    }

    fn delivered(out: &mut Vec<u8>, record: &Value) {
        envelope(out, &record["envelope"]);
        address(out, &record["sender"]);
        uint(out, &record["server_time_ms"]);
        fixed(out, &record["server_message_id"], 16);
        fixed(out, &record["franking_stamp"], 32);
        uint(out, &record["stamp_key_id"]);
    }

    fn message_id(out: &mut Vec<u8>, id: &Value) {
        fixed(out, id, 16);
    }

    fn report_id(out: &mut Vec<u8>, id: &Value) {
        fixed(out, id, 16);
    }

    fn sealed_report(out: &mut Vec<u8>, report: &Value) {
        uint(out, &report["moderation_key_id"]);
        fixed(out, &report["ephemeral_key"], 32);
        opaque(out, &report["ciphertext"]);
    }

    fn hybrid_sealed_report(out: &mut Vec<u8>, report: &Value) {
        uint(out, &report["moderation_key_id"]);
        fixed(out, &report["ephemeral_key"], 32);
        fixed(out, &report["kem_ciphertext"], 1088);
        opaque(out, &report["ciphertext"]);
    }

    /// An `InboxEntry`: the `InboxReport` fields, the report as an enum
    /// (index 0: tag 5's body, 1: tag 45's).
    fn inbox_entry(out: &mut Vec<u8>, entry: &Value) {
        report_id(out, &entry["report_id"]);
        address(out, &entry["reporter"]);
        uint(out, &entry["received_at_ms"]);
        let (form, report) = entry["report"].as_object().unwrap().iter().next().unwrap();
        match form.as_str() {
            "X25519Only" => {
                out.push(0);
                sealed_report(out, report);
            }
            "Hybrid" => {
                out.push(1);
                hybrid_sealed_report(out, report);
            }
            other => panic!("no report form {other}"),
        }
    }

    fn inbox_report(out: &mut Vec<u8>, report: &Value) {
        report_id(out, &report["report_id"]);
        address(out, &report["reporter"]);
        uint(out, &report["received_at_ms"]);
        sealed_report(out, &report["report"]);
    }

    fn content_type(out: &mut Vec<u8>, content_type: &Value) {
        let code = match content_type.as_str().unwrap() {
            "Text" => 0,
            "Receipt" => 1,
            "SenderKeyDistribution" => 2,
            "GroupWelcome" => 3,
            "GroupControl" => 4,
            "Attachment" => 5,
            other => panic!("content type {other} is not in spec/wire.md"),
        };
        varint(out, code);
    }

    fn group_member(out: &mut Vec<u8>, member: &Value) {
        address(out, &member["address"]);
        identity(out, &member["identity"]);
    }

    /// `option<bytes[32]>`.
    fn option_fixed(out: &mut Vec<u8>, value: &Value) {
        match value {
            Value::Null => out.push(0),
            value => {
                out.push(1);
                fixed(out, value, 32);
            }
        }
    }

    fn group_action(out: &mut Vec<u8>, action: &Value) {
        // A unit variant is a JSON string, the others objects.
        if action.as_str() == Some("Leave") {
            varint(out, 2);
            return;
        }
        let (name, body) = action.as_object().unwrap().iter().next().unwrap();
        match name.as_str() {
            "Add" => {
                varint(out, 0);
                list(out, &body["members"], group_member);
            }
            "Remove" => {
                varint(out, 1);
                list(out, &body["members"], address);
            }
            "ShareConsent" => {
                varint(out, 3);
                fixed(out, &body["consent"], 32);
            }
            other => panic!("group action {other} is not in spec/wire.md"),
        }
    }

    /// `AccountDevice`: id, identity body, name (text), added_at_ms.
    fn account_device(out: &mut Vec<u8>, device: &Value) {
        uint(out, &device["device"]);
        identity(out, &device["identity"]);
        length_prefixed(out, device["name"].as_str().unwrap().as_bytes());
        uint(out, &device["added_at_ms"]);
    }

    /// The `SignedDeviceList` body: the content's fields, then the signature.
    fn signed_device_list(out: &mut Vec<u8>, signed: &Value) {
        let content = &signed["content"];
        length_prefixed(out, content["user"].as_str().unwrap().as_bytes());
        fixed(out, &content["account_key"], 32);
        uint(out, &content["version"]);
        uint(out, &content["created_at_ms"]);
        list(out, &content["devices"], account_device);
        fixed(out, &signed["signature"], 64);
    }

    /// The whole frame: version 1, tag, body.
    pub fn frame(frame: &Value) -> Vec<u8> {
        let (name, body) = frame.as_object().unwrap().iter().next().unwrap();
        let mut out = vec![1];
        match name.as_str() {
            "Identity" => {
                varint(&mut out, 0);
                identity(&mut out, body);
            }
            "PrekeyBundle" => {
                varint(&mut out, 41);
                bundle(&mut out, body);
            }
            "Envelope" => {
                varint(&mut out, 2);
                envelope(&mut out, body);
            }
            "Delivered" => {
                varint(&mut out, 3);
                delivered(&mut out, body);
            }
            "BlobId" => {
                varint(&mut out, 4);
                fixed(&mut out, body, 32);
            }
            "SealedReport" => {
                varint(&mut out, 5);
                sealed_report(&mut out, body);
            }
            "RatchetMessage" => {
                varint(&mut out, 37);
                ratchet_message(&mut out, body);
            }
            "PrekeyMessage" => {
                varint(&mut out, 40);
                identity(&mut out, &body["initiator"]);
                fixed(&mut out, &body["base_key"], 32);
                uint(&mut out, &body["signed_prekey_id"]);
                option_uint(&mut out, &body["one_time_prekey_id"]);
                // `KemEncapsulation`: KEM prekey id, 1,088-byte ciphertext.
                option(&mut out, &body["kem"], |out, kem| {
                    uint(out, &kem["kem_prekey_id"]);
                    fixed(out, &kem["ciphertext"], 1088);
                });
                ratchet_message(&mut out, &body["message"]);
            }
            "MessageContent" => {
                varint(&mut out, 8);
                content_type(&mut out, &body["content_type"]);
                fixed(&mut out, &body["message_id"], 16);
                uint(&mut out, &body["sequence"]);
                uint(&mut out, &body["sent_at_ms"]);
                // ConversationRef: variant 0 = Direct { peer: text }.
                let direct = &body["conversation"]["Direct"];
                assert!(direct.is_object(), "conversation kind not in spec/wire.md");
                varint(&mut out, 0);
                length_prefixed(&mut out, direct["peer"].as_str().unwrap().as_bytes());
                fixed(&mut out, &body["franking_key"], 32);
                opaque(&mut out, &body["body"]);
            }
            "DeviceRegistration" => {
                varint(&mut out, 9);
                address(&mut out, &body["address"]);
                identity(&mut out, &body["identity"]);
            }
            "ChallengeRequest" => {
                varint(&mut out, 10);
                address(&mut out, &body["address"]);
            }
            "AuthChallenge" => {
                varint(&mut out, 11);
                fixed(&mut out, &body["nonce"], 32);
                uint(&mut out, &body["expires_at_ms"]);
            }
            "ChallengeResponse" => {
                varint(&mut out, 12);
                address(&mut out, &body["address"]);
                fixed(&mut out, &body["nonce"], 32);
                fixed(&mut out, &body["signature"], 64);
            }
            "AuthToken" => {
                varint(&mut out, 13);
                fixed(&mut out, &body["token"], 32);
                uint(&mut out, &body["expires_at_ms"]);
            }
            "PrekeyUpload" => {
                varint(&mut out, 42);
                option(&mut out, &body["signed_prekey"], signed_prekey);
                list(&mut out, &body["one_time_prekeys"], one_time_prekey);
                option(&mut out, &body["last_resort_kem_prekey"], kem_prekey);
                list(&mut out, &body["one_time_kem_prekeys"], kem_prekey);
            }
            "PrekeyCount" => {
                varint(&mut out, 43);
                uint(&mut out, &body["one_time_prekeys"]);
                boolean(&mut out, &body["low"]);
                uint(&mut out, &body["one_time_kem_prekeys"]);
                boolean(&mut out, &body["kem_low"]);
            }
            "BundleSet" => {
                varint(&mut out, 44);
                list(&mut out, &body["bundles"], bundle);
            }
            "SendBatch" => {
                varint(&mut out, 17);
                list(&mut out, &body["envelopes"], envelope);
            }
            "SendAccepted" => {
                varint(&mut out, 18);
                uint(&mut out, &body["server_time_ms"]);
                list(&mut out, &body["message_ids"], message_id);
            }
            "MailboxBatch" => {
                varint(&mut out, 19);
                list(&mut out, &body["records"], delivered);
                boolean(&mut out, &body["prekeys_low"]);
            }
            "Acknowledgement" => {
                varint(&mut out, 20);
                list(&mut out, &body["message_ids"], message_id);
            }
            "BlobReceipt" => {
                varint(&mut out, 21);
                fixed(&mut out, &body["blob_id"], 32);
                fixed(&mut out, &body["capability"], 32);
                uint(&mut out, &body["size"]);
                uint(&mut out, &body["expires_at_ms"]);
            }
            "ReportAccepted" => {
                varint(&mut out, 22);
                report_id(&mut out, &body["report_id"]);
                uint(&mut out, &body["received_at_ms"]);
            }
            "ReportBatch" => {
                varint(&mut out, 23);
                list(&mut out, &body["reports"], inbox_report);
            }
            "ReportAcknowledgement" => {
                varint(&mut out, 24);
                list(&mut out, &body["report_ids"], report_id);
            }
            "DeviceList" => {
                varint(&mut out, 25);
                list(&mut out, &body["devices"], |out, device| {
                    uint(out, &device["device"]);
                    identity(out, &device["identity"]);
                });
            }
            "SenderKeyDistribution" => {
                varint(&mut out, 26);
                fixed(&mut out, &body["group_id"], 32);
                uint(&mut out, &body["epoch"]);
                fixed(&mut out, &body["membership_hash"], 32);
                address(&mut out, &body["sender"]);
                uint(&mut out, &body["iteration"]);
                fixed(&mut out, &body["chain_key"], 32);
                fixed(&mut out, &body["signing_key"], 32);
            }
            "GroupMessage" => {
                varint(&mut out, 39);
                fixed(&mut out, &body["group_id"], 32);
                uint(&mut out, &body["epoch"]);
                uint(&mut out, &body["iteration"]);
                option_fixed(&mut out, &body["view"]);
                fixed(&mut out, &body["salt"], 16);
                opaque(&mut out, &body["ciphertext"]);
                fixed(&mut out, &body["signature"], 64);
            }
            "GroupContent" => {
                varint(&mut out, 28);
                content_type(&mut out, &body["content_type"]);
                fixed(&mut out, &body["message_id"], 16);
                uint(&mut out, &body["sent_at_ms"]);
                fixed(&mut out, &body["franking_key"], 32);
                opaque(&mut out, &body["body"]);
            }
            "GroupControl" => {
                varint(&mut out, 29);
                fixed(&mut out, &body["group_id"], 32);
                uint(&mut out, &body["epoch"]);
                fixed(&mut out, &body["membership_hash"], 32);
                address(&mut out, &body["actor"]);
                group_action(&mut out, &body["action"]);
                fixed(&mut out, &body["new_membership_hash"], 32);
                fixed(&mut out, &body["signature"], 64);
            }
            "GroupWelcome" => {
                varint(&mut out, 30);
                fixed(&mut out, &body["group_id"], 32);
                uint(&mut out, &body["epoch"]);
                fixed(&mut out, &body["membership_hash"], 32);
                uint(&mut out, &body["page"]);
                uint(&mut out, &body["page_count"]);
                list(&mut out, &body["members"], group_member);
                option_fixed(&mut out, &body["consent"]);
            }
            "GroupSend" => {
                varint(&mut out, 31);
                list(&mut out, &body["recipients"], address);
                fixed(&mut out, &body["franking_commitment"], 32);
                opaque(&mut out, &body["sealed_body"]);
            }
            "SignedDeviceList" => {
                varint(&mut out, 32);
                signed_device_list(&mut out, body);
            }
            "AccountRegistration" => {
                varint(&mut out, 33);
                signed_device_list(&mut out, &body["device_list"]);
                option_fixed(&mut out, &body["invite"]);
            }
            "LinkMessage" => {
                varint(&mut out, 34);
                opaque(&mut out, &body["sealed"]);
            }
            "LinkRequest" => {
                varint(&mut out, 48);
                identity(&mut out, &body["identity"]);
                length_prefixed(&mut out, body["name"].as_str().unwrap().as_bytes());
                uint(&mut out, &body["created_at_ms"]);
                fixed(&mut out, &body["grant_key_x25519"], 32);
                fixed(&mut out, &body["grant_key_ml_kem"], 1184);
            }
            "HybridSealedReport" => {
                varint(&mut out, 45);
                hybrid_sealed_report(&mut out, body);
            }
            "InboxBatch" => {
                varint(&mut out, 46);
                list(&mut out, &body["reports"], inbox_entry);
            }
            "LinkGrant" => {
                varint(&mut out, 36);
                address(&mut out, &body["address"]);
                fixed(&mut out, &body["account_secret"], 32);
                signed_device_list(&mut out, &body["device_list"]);
            }
            other => panic!("frame {other} is not in spec/wire.md"),
        }
        out
    }
}

#[test]
fn every_frame_kind_has_golden_vectors() {
    for kind in FrameKind::ALL {
        let file = load(&format!("{}.json", kind.name()));
        assert_eq!(file["tag"].as_u64(), Some(u64::from(kind.tag())), "{kind}");
        let vectors = file["vectors"].as_array().unwrap();
        assert!(!vectors.is_empty(), "no vectors for {kind}");
    }
}

#[test]
fn golden_vectors_match_the_codec_and_the_spec() {
    let mut checked = 0;
    for kind in FrameKind::ALL {
        let file = load(&format!("{}.json", kind.name()));
        for vector in file["vectors"].as_array().unwrap() {
            let name = vector["name"].as_str().unwrap();
            let encoded = hex::decode(vector["encoded"].as_str().unwrap()).unwrap();
            let json = vector["frame"].to_string();
            let frame = serde_json::from_str::<Frame>(&json).unwrap().into_owned();

            assert_eq!(frame.kind(), kind, "{name}: frame kind");
            assert_eq!(frame.encode().unwrap(), encoded, "{name}: codec encoding");
            assert_eq!(
                spec_encoder::frame(&vector["frame"]),
                encoded,
                "{name}: spec encoding"
            );
            let decoded = Frame::decode(&encoded).unwrap();
            assert_eq!(decoded, frame, "{name}: decoding");
            checked += 1;
        }
    }
    assert!(checked >= FrameKind::ALL.len());
}

#[test]
fn franking_stamp_input_matches_the_spec() {
    let file = load("franking_stamp_input.json");
    for vector in file["vectors"].as_array().unwrap() {
        let address = |value: &Value| {
            DeviceAddress::new(
                UserId::new(value["user"].as_str().unwrap().to_owned()).unwrap(),
                DeviceId(value["device"].as_u64().unwrap() as u32),
            )
        };
        let bytes = |value: &Value| hex::decode(value.as_str().unwrap()).unwrap();
        let sender = address(&vector["sender"]);
        let recipient = address(&vector["recipient"]);
        let commitment = bytes(&vector["commitment"]);
        let message_id = bytes(&vector["server_message_id"]);
        let time = vector["server_time_ms"].as_u64().unwrap();
        let key_id = vector["stamp_key_id"].as_u64().unwrap() as u32;
        let expected = bytes(&vector["input"]);

        let codec = franking_stamp_input(
            &FrankingCommitment(commitment.clone().try_into().unwrap()),
            &sender,
            &recipient,
            time,
            &MessageId(message_id.clone().try_into().unwrap()),
            StampKeyId(key_id),
        );
        assert_eq!(codec, expected, "codec");

        // spec/wire.md: each field as a 4-byte big-endian length and its bytes.
        let mut spec = Vec::new();
        for field in [
            b"fuin/v1/franking-stamp".to_vec(),
            commitment,
            sender.user.as_str().as_bytes().to_vec(),
            sender.device.0.to_be_bytes().to_vec(),
            recipient.user.as_str().as_bytes().to_vec(),
            recipient.device.0.to_be_bytes().to_vec(),
            time.to_be_bytes().to_vec(),
            message_id,
            key_id.to_be_bytes().to_vec(),
        ] {
            spec.extend_from_slice(&(field.len() as u32).to_be_bytes());
            spec.extend_from_slice(&field);
        }
        assert_eq!(spec, expected, "spec");
    }
}

#[test]
fn relay_auth_input_matches_the_spec() {
    let file = load("relay_auth_input.json");
    let vectors = file["vectors"].as_array().unwrap();
    assert!(!vectors.is_empty());
    for vector in vectors {
        let user = vector["address"]["user"].as_str().unwrap();
        let device = vector["address"]["device"].as_u64().unwrap() as u32;
        let nonce = hex::decode(vector["nonce"].as_str().unwrap()).unwrap();
        let expected = hex::decode(vector["input"].as_str().unwrap()).unwrap();
        let origin = vector["origin"].as_str().unwrap();
        assert_eq!(
            relay_origin(vector["url"].as_str().unwrap()).as_deref(),
            Some(origin),
            "origin"
        );

        let address = DeviceAddress::new(UserId::new(user.to_owned()).unwrap(), DeviceId(device));
        let codec = relay_auth_input(origin, &address, &Nonce(nonce.clone().try_into().unwrap()));
        assert_eq!(codec, expected, "codec");

        // spec/wire.md: each field as a 4-byte big-endian length and its bytes.
        let mut spec = Vec::new();
        for field in [
            b"fuin/v1/relay-auth".as_slice(),
            origin.as_bytes(),
            user.as_bytes(),
            &device.to_be_bytes(),
            &nonce,
        ] {
            spec.extend_from_slice(&(field.len() as u32).to_be_bytes());
            spec.extend_from_slice(field);
        }
        assert_eq!(spec, expected, "spec");
    }
}

#[test]
fn decoding_borrows_the_sealed_body_instead_of_copying_it() {
    let file = load("envelope.json");
    let encoded = hex::decode(file["vectors"][0]["encoded"].as_str().unwrap()).unwrap();
    let Frame::Envelope(envelope) = Frame::decode(&encoded).unwrap() else {
        panic!("not an envelope");
    };
    assert!(envelope.sealed_body.is_borrowed());
    let body = envelope.sealed_body.as_bytes();
    let input = encoded.as_ptr_range();
    assert!(input.contains(&body.as_ptr()), "body points into the input");
    assert!(envelope.recipient.user.as_str().as_ptr() >= input.start);
}

/// The attachment reference body of `spec/wire.md` §8, written without the
/// codec.
mod spec_reference_encoder {
    use serde_json::Value;

    fn fixed(out: &mut Vec<u8>, hex_text: &Value, len: usize) {
        let bytes = hex::decode(hex_text.as_str().unwrap()).unwrap();
        assert_eq!(bytes.len(), len);
        out.extend_from_slice(&bytes);
    }

    fn text(out: &mut Vec<u8>, value: &Value) {
        let text = value.as_str().unwrap();
        super::spec_encoder::varint(out, text.len() as u64);
        out.extend_from_slice(text.as_bytes());
    }

    fn object(out: &mut Vec<u8>, object: &Value) {
        fixed(out, &object["object_id"], 16);
        fixed(out, &object["key"], 32);
        fixed(out, &object["blob_id"], 32);
        super::spec_encoder::varint(out, object["sealed_len"].as_u64().unwrap());
    }

    pub fn reference(reference: &Value) -> Vec<u8> {
        let mut out = vec![1];
        text(&mut out, &reference["owner"]["user"]);
        super::spec_encoder::varint(&mut out, reference["owner"]["device"].as_u64().unwrap());
        fixed(&mut out, &reference["conversation"], 32);
        text(&mut out, &reference["content_type"]);
        object(&mut out, &reference["object"]);
        match &reference["thumbnail"] {
            Value::Null => out.push(0),
            thumbnail => {
                out.push(1);
                text(&mut out, &thumbnail["content_type"]);
                object(&mut out, &thumbnail["object"]);
            }
        }
        match &reference["file_name"] {
            Value::Null => out.push(0),
            name => {
                out.push(1);
                text(&mut out, name);
            }
        }
        out
    }
}

#[test]
fn attachment_reference_vectors_match_the_codec_and_the_spec() {
    use fuin_wire::attachment::AttachmentReference;
    let file = load("attachment_reference.json");
    let vectors = file["vectors"].as_array().unwrap();
    assert!(vectors.len() >= 2);
    for vector in vectors {
        let name = vector["name"].as_str().unwrap();
        let encoded = hex::decode(vector["encoded"].as_str().unwrap()).unwrap();
        let json = vector["reference"].to_string();
        let reference = serde_json::from_str::<AttachmentReference>(&json)
            .unwrap()
            .into_owned();
        assert_eq!(
            reference.to_bytes().unwrap().as_slice(),
            encoded,
            "{name}: codec encoding"
        );
        assert_eq!(
            spec_reference_encoder::reference(&vector["reference"]),
            encoded,
            "{name}: spec encoding"
        );
        assert_eq!(
            AttachmentReference::from_bytes(&encoded).unwrap(),
            reference,
            "{name}: decoding"
        );
    }
}

#[test]
fn attachment_share_vectors_match_the_codec_and_the_spec() {
    use fuin_wire::attachment::AttachmentShare;
    let file = load("attachment_share.json");
    let vectors = file["vectors"].as_array().unwrap();
    assert!(vectors.len() >= 2);
    for vector in vectors {
        let name = vector["name"].as_str().unwrap();
        let encoded = hex::decode(vector["encoded"].as_str().unwrap()).unwrap();
        let json = vector["share"].to_string();
        let share = serde_json::from_str::<AttachmentShare>(&json)
            .unwrap()
            .into_owned();
        assert_eq!(
            share.to_bytes().unwrap().as_slice(),
            encoded,
            "{name}: codec encoding"
        );
        // The spec's encoding: the reference body without its version byte,
        // the capability, then the optional thumbnail capability.
        let mut spec = vec![1];
        spec.extend_from_slice(
            &spec_reference_encoder::reference(&vector["share"]["reference"])[1..],
        );
        spec.extend_from_slice(
            &hex::decode(vector["share"]["capability"].as_str().unwrap()).unwrap(),
        );
        match &vector["share"]["thumbnail_capability"] {
            serde_json::Value::Null => spec.push(0),
            capability => {
                spec.push(1);
                spec.extend_from_slice(&hex::decode(capability.as_str().unwrap()).unwrap());
            }
        }
        assert_eq!(spec, encoded, "{name}: spec encoding");
        assert_eq!(
            AttachmentShare::from_bytes(&encoded).unwrap(),
            share,
            "{name}: decoding"
        );
    }
}

#[test]
fn identifier_share_vectors_match_the_codec_and_the_spec() {
    use fuin_wire::identifier::IdentifierSecretShare;
    let file = load("identifier_share.json");
    let vectors = file["vectors"].as_array().unwrap();
    assert!(vectors.len() >= 3);
    for vector in vectors {
        let name = vector["name"].as_str().unwrap();
        let encoded = hex::decode(vector["encoded"].as_str().unwrap()).unwrap();
        let fields = &vector["share"];
        let share: IdentifierSecretShare = serde_json::from_value(fields.clone()).unwrap();
        assert_eq!(
            share.to_bytes().unwrap().as_slice(),
            encoded,
            "{name}: codec encoding"
        );
        // The spec's encoding: version 1, the secret, two varints.
        let mut spec = vec![1];
        spec.extend_from_slice(&hex::decode(fields["secret"].as_str().unwrap()).unwrap());
        spec_encoder::varint(&mut spec, fields["drawn_at_ms"].as_u64().unwrap());
        spec_encoder::varint(&mut spec, fields["origin_device"].as_u64().unwrap());
        assert_eq!(spec, encoded, "{name}: spec encoding");
        assert_eq!(
            IdentifierSecretShare::from_bytes(&encoded).unwrap(),
            share,
            "{name}: decoding"
        );
    }
}

/// The error a vector of `rejected_frames.json` names, as a `WireError`.
fn expected_error(error: &Value) -> fuin_wire::WireError {
    use fuin_wire::WireError;
    if let Some(unit) = error.as_str() {
        return match unit {
            "Truncated" => WireError::Truncated,
            "NonCanonical" => WireError::NonCanonical,
            other => panic!("unknown error {other}"),
        };
    }
    let (name, fields) = error.as_object().unwrap().iter().next().unwrap();
    let text = |key: &str| -> &'static str {
        Box::leak(fields[key].as_str().unwrap().to_owned().into_boxed_str())
    };
    let number = |key: &str| fields[key].as_u64().unwrap();
    match name.as_str() {
        "RetiredFrame" => WireError::RetiredFrame {
            tag: number("tag") as u32,
            protocol_version: number("protocol_version") as u8,
        },
        "Malformed" => WireError::Malformed {
            reason: text("reason"),
        },
        "LimitExceeded" => WireError::LimitExceeded {
            field: text("field"),
            len: number("len") as usize,
            max: number("max") as usize,
        },
        "InvalidField" => WireError::InvalidField {
            field: text("field"),
            reason: text("reason"),
        },
        "UnknownVersion" => WireError::UnknownVersion {
            version: number("version") as u8,
        },
        "UnknownVariant" => WireError::UnknownVariant {
            tag: number("tag") as u32,
        },
        "TrailingBytes" => WireError::TrailingBytes {
            count: number("count") as usize,
        },
        other => panic!("unknown error {other}"),
    }
}

#[test]
fn rejected_frames_are_refused_with_the_error_named() {
    let file = load("rejected_frames.json");
    let vectors = file["vectors"].as_array().unwrap();
    let mut retired_seen = Vec::new();
    for vector in vectors {
        let name = vector["name"].as_str().unwrap();
        let encoded = hex::decode(vector["encoded"].as_str().unwrap()).unwrap();
        let expected = expected_error(&vector["error"]);
        assert_eq!(Frame::decode(&encoded), Err(expected.clone()), "{name}");
        assert_eq!(
            vector["message"].as_str(),
            Some(expected.to_string().as_str()),
            "{name}"
        );
        if let fuin_wire::WireError::RetiredFrame {
            tag,
            protocol_version,
        } = expected
        {
            retired_seen.push((tag, protocol_version));
        }
    }
    // spec/wire.md §4: the retired tags and the protocol version each carried.
    let spec_retired = [
        (1, 2),
        (6, 1),
        (7, 1),
        (14, 2),
        (15, 2),
        (16, 2),
        (27, 1),
        (35, 2),
        (38, 2),
    ];
    assert_eq!(fuin_wire::RETIRED_TAGS, spec_retired);
    for retired in spec_retired {
        assert!(
            retired_seen.contains(&retired),
            "no vector for retired tag {retired:?}"
        );
    }
}

#[test]
fn typed_content_vectors_match_the_codec_and_the_spec() {
    use fuin_wire::content::{
        BuiltIn, Delete, Edit, MessageRef, Reaction, Reply, Timer, TypeName, TypedContent, Typing,
    };
    use fuin_wire::{ClientMessageId, SecretBytes, UserId, WireError};
    let file = load("typed_content.json");
    let vectors = file["vectors"].as_array().unwrap();
    assert!(vectors.len() >= 12);
    let id = |v: &Value| {
        ClientMessageId(
            hex::decode(v.as_str().unwrap())
                .unwrap()
                .try_into()
                .unwrap(),
        )
    };
    let text = |v: &Value| v.as_str().unwrap().to_owned();
    for vector in vectors {
        let name = vector["name"].as_str().unwrap();
        let type_name = vector["type_name"].as_str().unwrap();
        let payload = hex::decode(vector["payload"].as_str().unwrap()).unwrap();
        let encoded = hex::decode(vector["encoded"].as_str().unwrap()).unwrap();
        let f = &vector["fields"];
        // The payload from its fields, by the codec of each built-in type.
        let from_fields = match type_name {
            "fuin.edit" => Some(
                Edit {
                    target: id(&f["target"]),
                    text: text(&f["text"]).into(),
                }
                .to_payload()
                .unwrap(),
            ),
            "fuin.delete" => Some(
                Delete {
                    target: id(&f["target"]),
                }
                .to_payload()
                .unwrap(),
            ),
            "fuin.reaction" => Some(
                Reaction {
                    target: MessageRef {
                        author: UserId::new(text(&f["author"])).unwrap(),
                        id: id(&f["id"]),
                    },
                    reaction: text(&f["reaction"]).into(),
                }
                .to_payload()
                .unwrap(),
            ),
            "fuin.reply" => Some(
                Reply {
                    quote: MessageRef {
                        author: UserId::new(text(&f["author"])).unwrap(),
                        id: id(&f["id"]),
                    },
                    text: text(&f["text"]).into(),
                }
                .to_payload()
                .unwrap(),
            ),
            "fuin.typing" => Some(
                Typing {
                    typing: f["typing"].as_bool().unwrap(),
                }
                .to_payload()
                .unwrap(),
            ),
            "fuin.timer" => Some(
                Timer {
                    seconds: u32::try_from(f["seconds"].as_u64().unwrap()).unwrap(),
                }
                .to_payload()
                .unwrap(),
            ),
            _ => None,
        };
        if let Some(from_fields) = from_fields {
            assert_eq!(from_fields.as_slice(), payload, "{name}: payload encoding");
        }
        let body = TypedContent {
            type_name: TypeName::new(type_name).unwrap(),
            payload: SecretBytes::borrowed(&payload),
        }
        .to_bytes()
        .unwrap();
        assert_eq!(body.as_slice(), encoded, "{name}: codec encoding");
        // The spec's encoding: version 1, the name and the payload as
        // length-prefixed bytes.
        let mut spec = vec![1];
        spec_encoder::varint(&mut spec, type_name.len() as u64);
        spec.extend_from_slice(type_name.as_bytes());
        spec_encoder::varint(&mut spec, payload.len() as u64);
        spec.extend_from_slice(&payload);
        assert_eq!(spec, encoded, "{name}: spec encoding");
        let decoded = TypedContent::from_bytes(&encoded).unwrap();
        assert_eq!(decoded.type_name.as_str(), type_name, "{name}: decoding");
        assert_eq!(decoded.payload.as_bytes(), payload, "{name}: decoding");
    }
    let kind = |err: &WireError| match err {
        WireError::UnknownVersion { .. } => "UnknownVersion",
        WireError::Truncated => "Truncated",
        WireError::InvalidField { .. } => "InvalidField",
        WireError::LimitExceeded { .. } => "LimitExceeded",
        WireError::TrailingBytes { .. } => "TrailingBytes",
        WireError::NonCanonical => "NonCanonical",
        WireError::HiddenCharacter { .. } => "HiddenCharacter",
        WireError::Malformed { .. } => "Malformed",
        _ => "other",
    };
    let refused = file["rejected_bodies"].as_array().unwrap();
    assert!(refused.len() >= 8);
    for vector in refused {
        let name = vector["name"].as_str().unwrap();
        let bytes = hex::decode(vector["encoded"].as_str().unwrap()).unwrap();
        let err = TypedContent::from_bytes(&bytes).expect_err(name);
        assert_eq!(
            kind(&err),
            vector["error"].as_str().unwrap(),
            "{name}: {err}"
        );
    }
    let refused = file["rejected_payloads"].as_array().unwrap();
    assert!(refused.len() >= 8);
    for vector in refused {
        let name = vector["name"].as_str().unwrap();
        let payload = hex::decode(vector["payload"].as_str().unwrap()).unwrap();
        let err = match vector["type_name"].as_str().unwrap() {
            "fuin.edit" => Edit::from_payload(&payload).map(drop),
            "fuin.delete" => Delete::from_payload(&payload).map(drop),
            "fuin.reaction" => Reaction::from_payload(&payload).map(drop),
            "fuin.reply" => Reply::from_payload(&payload).map(drop),
            "fuin.typing" => Typing::from_payload(&payload).map(drop),
            "fuin.timer" => Timer::from_payload(&payload).map(drop),
            other => panic!("{name}: no built-in type {other}"),
        }
        .expect_err(name);
        assert_eq!(
            kind(&err),
            vector["error"].as_str().unwrap(),
            "{name}: {err}"
        );
    }
}
