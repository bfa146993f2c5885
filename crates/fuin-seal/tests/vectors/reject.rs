//! Reject vectors (`test-vectors/seal/reject.json`): messages of the session
//! and group vectors altered one field at a time, each with the error the
//! spec says its recipient must answer. Computed by the reference from the
//! stated vectors alone; `tests/reject_vectors.rs` presents each one to
//! fuin-seal just before the recipient opens the real message.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::{Value, json};

use super::group_reference as g;
use super::reference::{self as r, Bytes32};

fn h(bytes: &[u8]) -> Value {
    Value::String(hex::encode(bytes))
}

fn bytes(value: &Value) -> Vec<u8> {
    hex::decode(value.as_str().unwrap()).unwrap()
}

fn key(value: &Value) -> Bytes32 {
    bytes(value).try_into().unwrap()
}

/// Reads an unsigned LEB128 varint at the start of `input`: value, length.
fn read_varint(input: &[u8]) -> (u64, usize) {
    let mut value = 0u64;
    for (i, byte) in input.iter().enumerate() {
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return (value, i + 1);
        }
    }
    panic!("varint runs past the input")
}

/// A valid X25519 public key no party of the vectors uses.
fn stranger_key() -> Bytes32 {
    r::x25519_public(&[0x77; 32])
}

/// The offset of the version byte in a framed associated data that starts
/// with a label of `label_len` bytes.
fn version_offset(label_len: usize) -> usize {
    4 + label_len + 4
}

/// A one-to-one message of the vectors, taken apart.
struct Message {
    index: u64,
    header: r::Header,
    handshake: Option<r::HandshakeFields>,
    initiator: Option<(Bytes32, Bytes32, [u8; 64])>,
    ciphertext: Vec<u8>,
    commitment: Bytes32,
    kind: &'static str,
    message_key: Bytes32,
    plaintext: Vec<u8>,
    associated_data: Vec<u8>,
}

impl Message {
    fn from_vector(session: &Value, index: usize) -> Self {
        let m = &session["messages"][index];
        let header = r::Header {
            ratchet_key: key(&m["header"]["ratchet_key"]),
            previous_chain_length: m["header"]["previous_chain_length"].as_u64().unwrap() as u32,
            counter: m["header"]["counter"].as_u64().unwrap() as u32,
            salt: bytes(&m["header"]["salt"]).try_into().unwrap(),
        };
        let fields = &m["handshake_fields"];
        let handshake = (!fields.is_null()).then(|| r::HandshakeFields {
            base_key: key(&fields["base_key"]),
            signed_prekey_id: fields["signed_prekey_id"].as_u64().unwrap() as u32,
            one_time_prekey_id: fields["one_time_prekey_id"].as_u64().map(|id| id as u32),
            kem: fields["kem_prekey_id"]
                .as_u64()
                .map(|id| r::KemEncapsulation {
                    kem_prekey_id: id as u32,
                    ciphertext: bytes(&fields["kem_ciphertext"]),
                }),
        });
        let sender = &session[m["from"].as_str().unwrap()]["public"];
        let initiator = handshake.as_ref().map(|_| {
            (
                key(&sender["signing_key"]),
                key(&sender["agreement_key"]),
                bytes(&sender["signature"]).try_into().unwrap(),
            )
        });
        let kind = if handshake.is_some() {
            "PrekeyMessage"
        } else {
            "Message"
        };
        let mut message = Self {
            index: index as u64,
            header,
            handshake,
            initiator,
            ciphertext: Vec::new(),
            commitment: key(&m["franking_commitment"]),
            kind,
            message_key: key(&m["message_key"]),
            plaintext: bytes(&m["plaintext"]),
            associated_data: bytes(&m["associated_data"]),
        };
        // The frame with an empty ciphertext ends in its one-byte length.
        let sealed = bytes(&m["sealed_body"]);
        let prefix = message.frame().len() - 1;
        let (len, width) = read_varint(&sealed[prefix..]);
        message.ciphertext = sealed[prefix + width..].to_vec();
        assert_eq!(message.ciphertext.len() as u64, len);
        assert_eq!(message.frame(), sealed, "message {index} taken apart");
        message
    }

    fn frame(&self) -> Vec<u8> {
        match (&self.handshake, &self.initiator) {
            (Some(fields), Some(initiator)) => r::prekey_message_frame(
                (&initiator.0, &initiator.1, &initiator.2),
                fields,
                &self.header,
                &self.ciphertext,
            ),
            _ => r::ratchet_message_frame(&self.header, &self.ciphertext),
        }
    }

    fn kem(&mut self) -> &mut r::KemEncapsulation {
        self.handshake.as_mut().unwrap().kem.as_mut().unwrap()
    }

    /// Seals the message again as its sender would, with `version` as the
    /// associated data's version byte.
    fn reseal_with_version(&mut self, version: u8) {
        let mut ad = self.associated_data.clone();
        let at = version_offset(b"fuin/v1/message-ad".len());
        assert_eq!(ad[at], r::PROTOCOL_VERSION);
        ad[at] = version;
        let keys = r::message_keys(&self.header.salt, &self.message_key);
        self.ciphertext = r::aead_seal(&keys, &ad, &self.plaintext);
    }

    fn case(&self, name: &str, opened_by: &str, recipient: &str, error: &str) -> Value {
        json!({
            "name": name,
            "message": self.index,
            "recipient": recipient,
            "opened_by": opened_by,
            "content_kind": self.kind,
            "franking_commitment": h(&self.commitment),
            "sealed_body": h(&self.frame()),
            "error": error,
        })
    }
}

fn retag(mut frame: Vec<u8>, tag: u8) -> Vec<u8> {
    frame[1] = tag;
    frame
}

fn flip(bytes: &mut [u8], at: usize) {
    bytes[at] ^= 0x01;
}

const DECRYPTION_FAILED: &str = "DecryptionFailed";

/// The one-to-one cases, from `session.json` (computed by the reference).
pub fn one_to_one_cases(session: &Value) -> Vec<Value> {
    let mut cases = Vec::new();
    let mut push = |original: &Message, case: Value| {
        let unchanged = case["sealed_body"] == h(&original.frame())
            && case["content_kind"] == original.kind
            && case["franking_commitment"] == h(&original.commitment);
        assert!(
            !unchanged,
            "{}: an alteration must alter something",
            case["name"]
        );
        cases.push(case);
    };

    // Message 0: the first prekey message, which Bob completes (§6.5).
    let first = Message::from_vector(session, 0);
    let with = |change: &dyn Fn(&mut Message)| {
        let mut m = Message::from_vector(session, 0);
        change(&mut m);
        m
    };
    let respond = |m: &Message, name: &str, error: &str| m.case(name, "responder", "bob", error);
    push(
        &first,
        respond(
            &with(&|m| m.handshake.as_mut().unwrap().signed_prekey_id = 5),
            "first prekey message: signed prekey id unknown",
            "UnknownSignedPrekey { id: 5 }",
        ),
    );
    push(
        &first,
        respond(
            &with(&|m| m.handshake.as_mut().unwrap().one_time_prekey_id = Some(7)),
            "first prekey message: one-time prekey id unknown",
            "UnknownOneTimePrekey { id: 7 }",
        ),
    );
    push(
        &first,
        respond(
            &with(&|m| m.handshake.as_mut().unwrap().one_time_prekey_id = None),
            "first prekey message: one-time prekey id dropped",
            DECRYPTION_FAILED,
        ),
    );
    push(
        &first,
        respond(
            &with(&|m| m.handshake.as_mut().unwrap().base_key = stranger_key()),
            "first prekey message: base key replaced",
            DECRYPTION_FAILED,
        ),
    );
    push(
        &first,
        respond(
            &with(&|m| m.handshake.as_mut().unwrap().base_key = [0; 32]),
            "first prekey message: base key on the blocklist",
            "WeakPublicKey",
        ),
    );
    push(
        &first,
        respond(
            &with(&|m| m.initiator.as_mut().unwrap().2[0] ^= 0x01),
            "first prekey message: initiator identity signature altered",
            "BadSignature",
        ),
    );
    push(
        &first,
        respond(
            &with(&|m| flip(&mut m.header.salt, 0)),
            "first prekey message: salt altered",
            DECRYPTION_FAILED,
        ),
    );
    // The KEM fields (§6.5 steps 9-12): a rewritten id names another key
    // (or none), a changed ciphertext decapsulates to another secret.
    let kem_len = first
        .handshake
        .as_ref()
        .unwrap()
        .kem
        .as_ref()
        .unwrap()
        .ciphertext
        .len();
    assert_eq!(kem_len, r::KEM_CIPHERTEXT_LEN);
    let first_kem_cases = [
        (
            "first prekey message: KEM prekey id of the last-resort KEM prekey",
            DECRYPTION_FAILED,
            &(|m: &mut Message| m.kem().kem_prekey_id = 2) as &dyn Fn(&mut Message),
        ),
        (
            "first prekey message: KEM prekey id unknown",
            "UnknownKemPrekey { id: 9 }",
            &|m| m.kem().kem_prekey_id = 9,
        ),
        // Ids are shared by every kind of prekey (§5.3), but each id is
        // looked up among the prekeys of the kind its field names.
        (
            "first prekey message: KEM prekey id of the one-time X25519 prekey",
            "UnknownKemPrekey { id: 1 }",
            &|m| m.kem().kem_prekey_id = 1,
        ),
        (
            "first prekey message: KEM prekey id of the signed prekey",
            "UnknownKemPrekey { id: 0 }",
            &|m| m.kem().kem_prekey_id = 0,
        ),
        (
            "first prekey message: one-time prekey id of the one-time KEM prekey",
            "UnknownOneTimePrekey { id: 3 }",
            &|m| m.handshake.as_mut().unwrap().one_time_prekey_id = Some(3),
        ),
        (
            "first prekey message: signed prekey id of the last-resort KEM prekey",
            "UnknownSignedPrekey { id: 2 }",
            &|m| m.handshake.as_mut().unwrap().signed_prekey_id = 2,
        ),
        (
            "first prekey message: KEM ciphertext first byte altered",
            DECRYPTION_FAILED,
            &|m| flip(&mut m.kem().ciphertext, 0),
        ),
        (
            "first prekey message: KEM ciphertext middle byte altered",
            DECRYPTION_FAILED,
            &|m| flip(&mut m.kem().ciphertext, kem_len / 2),
        ),
        (
            "first prekey message: KEM ciphertext last byte altered",
            DECRYPTION_FAILED,
            &|m| flip(&mut m.kem().ciphertext, kem_len - 1),
        ),
        (
            "first prekey message: KEM encapsulation removed",
            "MissingKemCiphertext",
            &|m| m.handshake.as_mut().unwrap().kem = None,
        ),
        (
            "first prekey message: sealed with version byte 2 in the associated data",
            DECRYPTION_FAILED,
            &|m| m.reseal_with_version(2),
        ),
    ];
    for (name, error, change) in first_kem_cases {
        push(&first, respond(&with(change), name, error));
    }
    let mut version_2 = first.case(
        "first prekey message: retired version 2 tag 38",
        "responder",
        "bob",
        "Wire(RetiredFrame { tag: 38, protocol_version: 2 })",
    );
    version_2["sealed_body"] = h(&retag(first.frame(), 38));
    push(&first, version_2);
    let mut version_1 = first.case(
        "first prekey message: retired version 1 tag 7",
        "responder",
        "bob",
        "Wire(RetiredFrame { tag: 7, protocol_version: 1 })",
    );
    version_1["sealed_body"] = h(&retag(first.frame(), 7));
    push(&first, version_1);

    // Message 1: a repeated prekey message, given to Bob's session (§6.6).
    let repeated = Message::from_vector(session, 1);
    let with = |change: &dyn Fn(&mut Message)| {
        let mut m = Message::from_vector(session, 1);
        change(&mut m);
        m
    };
    let to_session = |m: &Message, name: &str, error: &str| m.case(name, "session", "bob", error);
    push(
        &repeated,
        to_session(
            &with(&|m| m.handshake.as_mut().unwrap().signed_prekey_id = 5),
            "repeated prekey message: signed prekey id rewritten",
            DECRYPTION_FAILED,
        ),
    );
    push(
        &repeated,
        to_session(
            &with(&|m| m.handshake.as_mut().unwrap().one_time_prekey_id = Some(7)),
            "repeated prekey message: one-time prekey id rewritten",
            DECRYPTION_FAILED,
        ),
    );
    push(
        &repeated,
        to_session(
            &with(&|m| m.handshake.as_mut().unwrap().one_time_prekey_id = None),
            "repeated prekey message: one-time prekey id dropped",
            DECRYPTION_FAILED,
        ),
    );
    push(
        &repeated,
        to_session(
            &with(&|m| m.handshake.as_mut().unwrap().base_key = stranger_key()),
            "repeated prekey message: base key replaced",
            "SessionMismatch",
        ),
    );
    // The session does not look at the KEM fields of a repeated prekey
    // message, but they are in its associated data (§6.6, §8).
    let repeated_kem_cases = [
        (
            "repeated prekey message: KEM prekey id rewritten",
            &(|m: &mut Message| m.kem().kem_prekey_id = 2) as &dyn Fn(&mut Message),
        ),
        (
            "repeated prekey message: KEM prekey id unknown to the responder",
            &|m| m.kem().kem_prekey_id = 9,
        ),
        (
            "repeated prekey message: KEM ciphertext first byte altered",
            &|m| flip(&mut m.kem().ciphertext, 0),
        ),
        (
            "repeated prekey message: KEM ciphertext middle byte altered",
            &|m| flip(&mut m.kem().ciphertext, kem_len / 2),
        ),
        (
            "repeated prekey message: KEM ciphertext last byte altered",
            &|m| flip(&mut m.kem().ciphertext, kem_len - 1),
        ),
        ("repeated prekey message: KEM encapsulation removed", &|m| {
            m.handshake.as_mut().unwrap().kem = None
        }),
        (
            "repeated prekey message: sealed with version byte 2 in the associated data",
            &|m| m.reseal_with_version(2),
        ),
    ];
    for (name, change) in repeated_kem_cases {
        push(
            &repeated,
            to_session(&with(change), name, DECRYPTION_FAILED),
        );
    }
    let mut relabelled = repeated.case(
        "repeated prekey message: envelope kind Message",
        "session",
        "bob",
        "Wire(UnexpectedFrame { .. })",
    );
    relabelled["content_kind"] = json!("Message");
    push(&repeated, relabelled);

    // Message 3: a plain ratchet message, to Bob's session (§7.3, §8, §9.2).
    let plain = Message::from_vector(session, 3);
    assert_eq!(plain.kind, "Message");
    let with = |change: &dyn Fn(&mut Message)| {
        let mut m = Message::from_vector(session, 3);
        change(&mut m);
        m
    };
    let alter = |name: &str, error: &str, change: &dyn Fn(&mut Message)| {
        with(change).case(name, "session", "bob", error)
    };
    let plain_cases = [
        alter(
            "plain message: ratchet key replaced",
            DECRYPTION_FAILED,
            &|m| m.header.ratchet_key = stranger_key(),
        ),
        alter(
            "plain message: ratchet key of small order",
            "WeakPublicKey",
            &|m| m.header.ratchet_key = [0; 32],
        ),
        alter(
            "plain message: previous chain length altered",
            DECRYPTION_FAILED,
            &|m| m.header.previous_chain_length += 1,
        ),
        alter("plain message: counter altered", DECRYPTION_FAILED, &|m| {
            m.header.counter += 1
        }),
        alter("plain message: counter 2^32 - 1", DECRYPTION_FAILED, &|m| {
            m.header.counter = u32::MAX
        }),
        alter("plain message: salt altered", DECRYPTION_FAILED, &|m| {
            flip(&mut m.header.salt, 15)
        }),
        alter(
            "plain message: key commitment altered",
            DECRYPTION_FAILED,
            &|m| flip(&mut m.ciphertext, 0),
        ),
        alter(
            "plain message: GCM ciphertext altered",
            DECRYPTION_FAILED,
            &|m| flip(&mut m.ciphertext, 40),
        ),
        alter("plain message: GCM tag altered", DECRYPTION_FAILED, &|m| {
            let last = m.ciphertext.len() - 1;
            flip(&mut m.ciphertext, last)
        }),
        alter(
            "plain message: ciphertext cut to 47 bytes",
            DECRYPTION_FAILED,
            &|m| m.ciphertext.truncate(47),
        ),
        alter(
            "plain message: sealed with version byte 1 in the associated data",
            DECRYPTION_FAILED,
            &|m| m.reseal_with_version(1),
        ),
        alter(
            "plain message: sealed with version byte 2 in the associated data",
            DECRYPTION_FAILED,
            &|m| m.reseal_with_version(2),
        ),
        alter(
            "plain message: envelope franking commitment altered",
            DECRYPTION_FAILED,
            &|m| flip(&mut m.commitment, 0),
        ),
    ];
    for case in plain_cases {
        push(&plain, case);
    }
    let mut version_1 = plain.case(
        "plain message: retired version 1 tag 6",
        "session",
        "bob",
        "Wire(RetiredFrame { tag: 6, protocol_version: 1 })",
    );
    version_1["sealed_body"] = h(&retag(plain.frame(), 6));
    push(&plain, version_1);
    let mut relabelled = plain.case(
        "plain message: envelope kind PrekeyMessage",
        "session",
        "bob",
        "Wire(UnexpectedFrame { .. })",
    );
    relabelled["content_kind"] = json!("PrekeyMessage");
    push(&plain, relabelled);
    cases
}

/// A group message of the vectors, taken apart.
struct GroupMessage {
    index: u64,
    group: Bytes32,
    epoch: u64,
    membership: Bytes32,
    sender: g::Member,
    iteration: u32,
    view: Option<Bytes32>,
    salt: [u8; 16],
    ciphertext: Vec<u8>,
    signature: [u8; 64],
    commitment: Bytes32,
    message_key: Bytes32,
    plaintext: Vec<u8>,
    seed: Bytes32,
}

impl GroupMessage {
    fn from_vector(file: &Value, index: usize) -> Self {
        let m = &file["messages"][index];
        let epoch = m["epoch"].as_u64().unwrap();
        let sender = m["sender"].as_str().unwrap();
        let epoch_json = file["epochs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["epoch"] == epoch)
            .unwrap();
        let device = &file["devices"][sender];
        let message = Self {
            index: index as u64,
            group: key(&file["group_id"]),
            epoch,
            membership: key(&epoch_json["membership_hash"]),
            sender: g::Member {
                user: sender.to_owned(),
                device: device["device"].as_u64().unwrap() as u32,
                signing_key: key(&device["signing_key"]),
                agreement_key: key(&device["agreement_key"]),
                signature: bytes(&device["signature"]).try_into().unwrap(),
            },
            iteration: m["iteration"].as_u64().unwrap() as u32,
            view: (!m["view"].is_null()).then(|| key(&m["view"])),
            salt: bytes(&m["salt"]).try_into().unwrap(),
            ciphertext: bytes(&m["ciphertext"]),
            signature: bytes(&m["signature"]).try_into().unwrap(),
            commitment: key(&m["franking_commitment"]),
            message_key: key(&m["message_key"]),
            plaintext: bytes(&m["plaintext"]),
            seed: key(&epoch_json["chains"][sender]["signing_seed"]),
        };
        assert_eq!(message.frame(), bytes(&m["sealed_body"]));
        message
    }

    fn associated_data(&self, version: u8) -> Vec<u8> {
        let mut ad = g::associated_data(
            &self.group,
            self.epoch,
            &self.membership,
            &self.sender,
            self.iteration,
            self.view.as_ref(),
            &self.salt,
            &self.commitment,
        );
        let at = version_offset(b"fuin/v1/group-message-ad".len());
        assert_eq!(ad[at], g::GROUP_PROTOCOL_VERSION);
        ad[at] = version;
        ad
    }

    /// Signs the message as its sender would (the chain's seed is stated).
    fn sign(&mut self) {
        let ad = self.associated_data(g::GROUP_PROTOCOL_VERSION);
        self.signature = g::message_signature(&self.seed, &ad, &self.ciphertext);
    }

    fn frame(&self) -> Vec<u8> {
        g::message_frame(
            &self.group,
            self.epoch,
            self.iteration,
            self.view.as_ref(),
            &self.salt,
            &self.ciphertext,
            &self.signature,
        )
    }

    fn case(&self, name: &str, recipient: &str, error: &str) -> Value {
        json!({
            "name": name,
            "message": self.index,
            "recipient": recipient,
            "content_kind": "GroupMessage",
            "franking_commitment": h(&self.commitment),
            "sealed_body": h(&self.frame()),
            "error": error,
        })
    }
}

/// The group cases, from `group-session.json`: message 1 (alice, epoch 0,
/// with a view) altered on its way to bob (spec/groups.md §6.3).
pub fn group_cases(file: &Value) -> Vec<Value> {
    let original = GroupMessage::from_vector(file, 1);
    assert!(original.view.is_some());
    let alter = |name: &str, error: &str, change: &dyn Fn(&mut GroupMessage)| {
        let mut m = GroupMessage::from_vector(file, 1);
        change(&mut m);
        let case = m.case(name, "bob", error);
        assert!(
            case["sealed_body"] != h(&original.frame())
                || case["franking_commitment"] != h(&original.commitment),
            "{name}: an alteration must alter something"
        );
        case
    };
    let reseal = |m: &mut GroupMessage, version: u8| {
        let (key, nonce, commitment) = g::message_aead(&m.salt, &m.message_key);
        m.ciphertext = r::aead_seal(
            &(key, nonce, commitment),
            &m.associated_data(version),
            &m.plaintext,
        );
    };
    let mut cases = vec![
        alter("group message: salt altered", "BadSignature", &|m| {
            flip(&mut m.salt, 0)
        }),
        alter(
            "group message: salt altered and signed again by the sender",
            DECRYPTION_FAILED,
            &|m| {
                flip(&mut m.salt, 0);
                m.sign();
            },
        ),
        alter("group message: iteration altered", "BadSignature", &|m| {
            m.iteration += 1
        }),
        alter(
            "group message: epoch of the future",
            "FutureEpoch { epoch: 1 }",
            &|m| m.epoch = 1,
        ),
        alter("group message: group id altered", "WrongGroup", &|m| {
            flip(&mut m.group, 0)
        }),
        alter("group message: view altered", "BadSignature", &|m| {
            flip(m.view.as_mut().unwrap(), 0)
        }),
        alter("group message: view dropped", "BadSignature", &|m| {
            m.view = None
        }),
        alter(
            "group message: GCM ciphertext altered",
            "BadSignature",
            &|m| flip(&mut m.ciphertext, 40),
        ),
        alter(
            "group message: key commitment altered and signed again by the sender",
            DECRYPTION_FAILED,
            &|m| {
                flip(&mut m.ciphertext, 0);
                m.sign();
            },
        ),
        alter("group message: signature altered", "BadSignature", &|m| {
            flip(&mut m.signature, 0)
        }),
        alter(
            "group message: envelope franking commitment altered",
            "BadSignature",
            &|m| flip(&mut m.commitment, 0),
        ),
        alter(
            "group message: version byte 1 in the signed associated data",
            "BadSignature",
            &|m| {
                reseal(m, 1);
                let ad = m.associated_data(1);
                m.signature = g::message_signature(&m.seed, &ad, &m.ciphertext);
            },
        ),
        alter(
            "group message: sealed with version byte 1, signed over version 2",
            DECRYPTION_FAILED,
            &|m| {
                reseal(m, 1);
                m.sign();
            },
        ),
    ];
    let mut version_1 = original.case(
        "group message: retired version 1 tag 27",
        "bob",
        "Wire(RetiredFrame { tag: 27, protocol_version: 1 })",
    );
    version_1["sealed_body"] = h(&retag(original.frame(), 27));
    cases.push(version_1);
    let mut relabelled = original.case(
        "group message: envelope kind Message",
        "bob",
        "UnexpectedFrame",
    );
    relabelled["content_kind"] = json!("Message");
    cases.push(relabelled);
    cases
}

/// Bob's bundle of `session.json` (with the one-time prekey and the
/// one-time KEM prekey), taken apart.
fn bundle_of(session: &Value) -> r::Bundle {
    let bob = &session["bob"];
    let signature = |value: &Value| -> [u8; 64] { bytes(value).try_into().unwrap() };
    let kem = &bob["one_time_kem_prekey"];
    let bundle = r::Bundle {
        user: bob["address"]["user"].as_str().unwrap().to_owned(),
        device: bob["address"]["device"].as_u64().unwrap() as u32,
        identity: (
            key(&bob["public"]["signing_key"]),
            key(&bob["public"]["agreement_key"]),
            signature(&bob["public"]["signature"]),
        ),
        signed_prekey: (
            bob["signed_prekey"]["id"].as_u64().unwrap() as u32,
            key(&bob["signed_prekey"]["public_key"]),
            signature(&bob["signed_prekey"]["signature"]),
        ),
        one_time_prekey: Some((
            bob["one_time_prekey"]["id"].as_u64().unwrap() as u32,
            key(&bob["one_time_prekey"]["public_key"]),
        )),
        kem_prekey: Some((
            kem["id"].as_u64().unwrap() as u32,
            bytes(&kem["public_key"]),
            signature(&kem["signature"]),
        )),
    };
    assert_eq!(bundle.frame(), bytes(&bob["bundle"]), "bundle taken apart");
    bundle
}

/// The bundle cases: Bob's bundle altered on its way to Alice, who verifies
/// it for `bob/1` trusting no identity yet (spec/protocol.md §5.5). The
/// error is the reference's verdict, checked against the one intended.
pub fn bundle_cases(session: &Value) -> Vec<Value> {
    let original = bundle_of(session);
    assert_eq!(original.verify("bob", 1), Ok(()));
    fn kem_key(b: &mut r::Bundle) -> &mut Vec<u8> {
        &mut b.kem_prekey.as_mut().unwrap().1
    }
    type Alteration<'a> = (&'a str, &'a str, &'a dyn Fn(&mut r::Bundle));
    let alterations: [Alteration<'_>; 7] = [
        ("bundle: KEM prekey stripped", "MissingKemPrekey", &|b| {
            b.kem_prekey = None
        }),
        (
            "bundle: KEM key with a coefficient of 4095 (not below q)",
            "InvalidKemKey",
            &|b| {
                let key = kem_key(b);
                key[0] = 0xff;
                key[1] |= 0x0f;
            },
        ),
        (
            "bundle: KEM key with q itself as its last coefficient",
            "InvalidKemKey",
            &|b| {
                // 3329 = 0xd01 in the high half of the last 3 bytes of t.
                let key = kem_key(b);
                key[1150] = (key[1150] & 0x0f) | 0x10;
                key[1151] = 0xd0;
            },
        ),
        (
            "bundle: KEM key's last byte (of rho) altered",
            "BadSignature",
            &|b| flip(kem_key(b), r::KEM_PUBLIC_KEY_LEN - 1),
        ),
        ("bundle: KEM prekey id altered", "BadSignature", &|b| {
            b.kem_prekey.as_mut().unwrap().0 = 2
        }),
        (
            "bundle: KEM prekey signature altered",
            "BadSignature",
            &|b| flip(&mut b.kem_prekey.as_mut().unwrap().2, 0),
        ),
        (
            "bundle: KEM prekey replaced by one the relay made and signed",
            "BadSignature",
            &|b| {
                let seed = [0x42; 64];
                let public = r::kem_public_key(&seed);
                let signature = r::kem_prekey_signature(&[0x43; 32], 3, &public);
                b.kem_prekey = Some((3, public, signature));
            },
        ),
    ];
    alterations
        .into_iter()
        .map(|(name, error, change)| {
            let mut bundle = original.clone();
            change(&mut bundle);
            assert_ne!(bundle.frame(), original.frame(), "{name}: alters nothing");
            assert_eq!(bundle.verify("bob", 1), Err(error), "{name}");
            json!({
                "name": name,
                "verified_for": {"user": "bob", "device": 1},
                "bundle": h(&bundle.frame()),
                "error": error,
            })
        })
        .collect()
}

/// The whole file, from the session and group vectors.
pub fn run_reference(session: &Value, group: &Value) -> Value {
    json!({
        "one_to_one": one_to_one_cases(session),
        "bundle": bundle_cases(session),
        "group": group_cases(group),
    })
}

/// Whether an error's `Debug` form is the one a case names. Newtype
/// wrappers around numbers are read as the numbers (`PrekeyId(5)` as `5`),
/// and a name ending in `{ .. }` matches any fields of that variant.
pub fn error_matches(expected: &str, debug: &str) -> bool {
    let mut plain = String::new();
    let mut rest = debug;
    // Unwrap `Name(digits)` to `digits`.
    while let Some(open) = rest.find('(') {
        let name_start = rest[..open]
            .rfind(|c: char| !c.is_alphanumeric() && c != '_')
            .map_or(0, |i| i + 1);
        let after = &rest[open + 1..];
        let digits = after.chars().take_while(char::is_ascii_digit).count();
        if digits > 0 && after[digits..].starts_with(')') && name_start < open {
            plain.push_str(&rest[..name_start]);
            plain.push_str(&after[..digits]);
            rest = &after[digits + 1..];
        } else {
            plain.push_str(&rest[..=open]);
            rest = after;
        }
    }
    plain.push_str(rest);
    match expected.strip_suffix(" { .. })") {
        Some(prefix) => plain.starts_with(&format!("{prefix} {{")),
        None => plain == expected,
    }
}
