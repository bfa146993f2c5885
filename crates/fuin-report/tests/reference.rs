//! The report vectors checked two ways: by a second implementation of
//! spec/report.md §4 and §6 written here directly on the crypto crates
//! (x25519-dalek, ml-kem, hkdf, aes-gcm, hmac, sha2), and by fuin-report
//! itself, which must reproduce the sealed frame from the same randomness
//! and open and verify it.
//!
//! - `sealed_report.json`: plaintext version 1 sealed with the hybrid KEM of
//!   §4.1-§4.2 (every intermediate value recomputed from the recorded seeds
//!   and randomness, and opened back with the secret key);
//! - `sealed_report_before_v3.json`: the same report in the X25519 form of
//!   §4.3;
//! - `sealed_group_report.json`: plaintext version 2 (§12), sealed with the
//!   hybrid KEM (its frame recomputed and opened back).
//!
//! The ML-KEM-768 here is RustCrypto's `ml-kem`, not the implementation
//! fuin-seal uses, so the hybrid frames are checked by an independent one.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::convert::Infallible;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use fuin_report::{
    AuditLog, ModerationSecretKey, Moderator, ReportBuilder, ReportContent, StampKeySet, Verdict,
};
use fuin_wire::relay::{InboxEntry, InboxSealedReport, ReportId};
use fuin_wire::{DeviceAddress, DeviceId, FrameBody, HybridSealedReport, StampKeyId, UserId};
use hmac::Mac;
use ml_kem::{Decapsulate, EncapsulationKey768, KeyExport, MlKem768};
use rand_core::{TryCryptoRng, TryRng};
use serde_json::Value;
use sha2::{Digest, Sha256};

fn vector() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../test-vectors/report/sealed_report_before_v3.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn hybrid_vector() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../test-vectors/report/sealed_report.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn group_vector() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../test-vectors/report/sealed_group_report.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn bytes(value: &Value) -> Vec<u8> {
    hex::decode(value.as_str().unwrap()).unwrap()
}

fn array32(value: &Value) -> [u8; 32] {
    bytes(value).try_into().unwrap()
}

/// `framed(f1, f2, ...)`: each field as a 4-byte big-endian length and its bytes.
fn framed(fields: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for field in fields {
        out.extend_from_slice(&(field.len() as u32).to_be_bytes());
        out.extend_from_slice(field);
    }
    out
}

fn hmac(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut mac = <hmac::Hmac<Sha256> as hmac::KeyInit>::new_from_slice(key).unwrap();
    mac.update(message);
    mac.finalize().into_bytes().into()
}

fn varint(mut n: u64, out: &mut Vec<u8>) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

#[test]
fn the_sealed_report_vector_matches_a_second_implementation() {
    let v = vector();
    let key_id = v["moderation_key_id"].as_u64().unwrap() as u32;
    let m = x25519_dalek::StaticSecret::from(array32(&v["moderation_secret_key"]));
    let e = x25519_dalek::StaticSecret::from(array32(&v["ephemeral_secret_key"]));
    let m_pub = x25519_dalek::PublicKey::from(&m);
    let e_pub = x25519_dalek::PublicKey::from(&e);
    assert_eq!(m_pub.as_bytes(), &array32(&v["moderation_public_key"]));
    assert_eq!(e_pub.as_bytes(), &array32(&v["ephemeral_public_key"]));

    // DH, the same from both sides, and not all zeros.
    let shared = e.diffie_hellman(&m_pub);
    assert_eq!(shared.as_bytes(), m.diffie_hellman(&e_pub).as_bytes());
    assert_ne!(shared.as_bytes(), &[0; 32]);
    assert_eq!(shared.as_bytes(), &array32(&v["shared_secret"]));

    let salt = framed(&[
        b"fuin/v1/report-transcript",
        &key_id.to_be_bytes(),
        e_pub.as_bytes(),
        m_pub.as_bytes(),
    ]);
    assert_eq!(salt, bytes(&v["hkdf_salt"]));
    let aad = framed(&[
        b"fuin/v1/report-ad",
        &key_id.to_be_bytes(),
        e_pub.as_bytes(),
    ]);
    assert_eq!(aad, bytes(&v["associated_data"]));

    let mut okm = [0u8; 76];
    hkdf::Hkdf::<Sha256>::new(Some(&salt), shared.as_bytes())
        .expand(b"fuin/v1/report-keys", &mut okm)
        .unwrap();
    assert_eq!(okm[..32], bytes(&v["aead_key"])[..]);
    assert_eq!(okm[32..44], bytes(&v["nonce"])[..]);
    assert_eq!(okm[44..], bytes(&v["key_commitment"])[..]);

    let plaintext = bytes(&v["plaintext"]);
    let cipher = Aes256Gcm::new(&Key::<Aes256Gcm>::try_from(&okm[..32]).unwrap());
    let gcm = cipher
        .encrypt(
            &Nonce::try_from(&okm[32..44]).unwrap(),
            Payload {
                msg: &plaintext,
                aad: &aad,
            },
        )
        .unwrap();
    let mut ciphertext = okm[44..].to_vec();
    ciphertext.extend_from_slice(&gcm);

    // The frame: version 1, tag 5, key id, ephemeral key, ciphertext.
    let mut frame = vec![1u8, 5];
    varint(u64::from(key_id), &mut frame);
    frame.extend_from_slice(e_pub.as_bytes());
    varint(ciphertext.len() as u64, &mut frame);
    frame.extend_from_slice(&ciphertext);
    assert_eq!(frame, bytes(&v["sealed_report_frame"]));
}

#[test]
fn the_franking_values_of_the_vectors_match_a_second_implementation() {
    for v in [vector(), hybrid_vector()] {
        check_franking_values(&v);
    }
}

fn check_franking_values(v: &Value) {
    let message = &v["message"];
    let text = |name: &str| message[name].as_str().unwrap().as_bytes().to_vec();
    let u32_of = |name: &str| message[name].as_u64().unwrap() as u32;
    let (sender, recipient) = (text("sender_user"), text("recipient_user"));
    let (lesser, greater) = if sender <= recipient {
        (&sender, &recipient)
    } else {
        (&recipient, &sender)
    };
    let conversation: [u8; 32] =
        Sha256::digest(framed(&[b"fuin/v1/direct-conversation", lesser, greater])).into();
    assert_eq!(conversation, array32(&message["conversation_id"]));

    let commitment = hmac(
        &bytes(&message["franking_key"]),
        &framed(&[
            b"fuin/v1/franking-commitment",
            &sender,
            &u32_of("sender_device").to_be_bytes(),
            &conversation,
            &bytes(&message["message_id"]),
            &u32_of("content_type").to_be_bytes(),
            &bytes(&message["body"]),
        ]),
    );
    assert_eq!(commitment, array32(&message["commitment"]));

    let stamp_input = framed(&[
        b"fuin/v1/franking-stamp",
        &commitment,
        &sender,
        &u32_of("sender_device").to_be_bytes(),
        &recipient,
        &u32_of("recipient_device").to_be_bytes(),
        &message["server_time_ms"].as_u64().unwrap().to_be_bytes(),
        &bytes(&message["server_message_id"]),
        &u32_of("stamp_key_id").to_be_bytes(),
    ]);
    assert_eq!(stamp_input, bytes(&message["stamp_input"]));
    assert_eq!(
        hmac(&bytes(&message["stamp_key"]), &stamp_input),
        array32(&message["stamp"])
    );
}

/// Hands out fixed bytes: the vector's ephemeral secret.
struct FixedBytes(Vec<u8>);

impl TryRng for FixedBytes {
    type Error = Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        let mut b = [0u8; 4];
        self.try_fill_bytes(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        let mut b = [0u8; 8];
        self.try_fill_bytes(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        assert!(
            self.0.len() >= dst.len(),
            "asked for more than the vector holds"
        );
        let taken: Vec<u8> = self.0.drain(..dst.len()).collect();
        dst.copy_from_slice(&taken);
        Ok(())
    }
}

impl TryCryptoRng for FixedBytes {}

#[test]
fn fuin_report_reproduces_and_verifies_the_vector() {
    let v = vector();
    let plaintext = bytes(&v["plaintext"]);
    let content = ReportContent::from_bytes(&plaintext).unwrap();
    let message = &content.messages[0];
    assert_eq!(message.commitment.0, array32(&v["message"]["commitment"]));
    assert_eq!(message.stamp.0, array32(&v["message"]["stamp"]));

    // Sealing the same plaintext with the same ephemeral key gives the frame.
    let builder = ReportBuilder::new(
        content.reporter.clone().into_owned(),
        content.reporter_identity.clone(),
        content.peer.clone().into_owned(),
        &content.reason,
        content.created_at_ms,
        content
            .messages
            .iter()
            .cloned()
            .map(|m| m.into_owned())
            .collect(),
    )
    .unwrap();
    assert_eq!(builder.content().to_bytes().unwrap().as_slice(), plaintext);
    let mut secret_file = b"FUINMSK1".to_vec();
    secret_file.extend_from_slice(&7u32.to_be_bytes());
    secret_file.extend_from_slice(&bytes(&v["moderation_secret_key"]));
    let secret = ModerationSecretKey::from_bytes(&secret_file).unwrap();
    let sealed = fuin_report::sealing::seal_before_v3(
        7,
        &secret.x25519_public_key(),
        array32(&v["ephemeral_secret_key"]),
        builder.content().to_bytes().unwrap().as_slice(),
    )
    .unwrap();
    let frame = sealed.to_bytes().unwrap();
    assert_eq!(frame, bytes(&v["sealed_report_frame"]));

    // And moderation opens and verifies it with the old key file, as a
    // report sealed before protocol version 3.
    let mut stamp_keys = StampKeySet::new();
    stamp_keys
        .insert(
            StampKeyId(v["message"]["stamp_key_id"].as_u64().unwrap() as u32),
            &array32(&v["message"]["stamp_key"]),
            None,
        )
        .unwrap();
    let inbox = InboxEntry {
        report_id: ReportId([1; 16]),
        reporter: DeviceAddress::new(UserId::new("bob").unwrap(), DeviceId(1)),
        received_at_ms: v["received_at_ms"].as_u64().unwrap(),
        report: InboxSealedReport::X25519Only(sealed),
    };
    let report = Moderator::new(secret, stamp_keys)
        .open(&mut AuditLog::in_memory(), "mo", &inbox, 0)
        .unwrap();
    assert_eq!(report.messages[0].verdict, Verdict::Verified);
    assert!(!report.post_quantum);
}

#[test]
fn the_group_report_vector_matches_a_second_implementation() {
    let v = group_vector();
    // Plaintext version 2, sealed exactly like version 1 (its hybrid sealing
    // is checked in the_group_report_vector_seals_and_opens_in_a_second_implementation).
    assert_eq!(bytes(&v["plaintext"])[0], 2);

    let message = &v["message"];
    let text = |name: &str| message[name].as_str().unwrap().as_bytes().to_vec();
    let u32_of = |name: &str| message[name].as_u64().unwrap() as u32;
    let sender = text("sender_user");
    let recipient = text("recipient_user");
    assert_eq!(
        format!(
            "{}/{}",
            message["recipient_user"].as_str().unwrap(),
            u32_of("recipient_device")
        ),
        v["reporter"]
    );

    // The franking values, on the group's conversation id (groups.md §7).
    let group_id = bytes(&v["group_id"]);
    let conversation: [u8; 32] =
        Sha256::digest(framed(&[b"fuin/v1/group-conversation", &group_id])).into();
    assert_eq!(conversation, array32(&message["conversation_id"]));
    let commitment = hmac(
        &bytes(&message["franking_key"]),
        &framed(&[
            b"fuin/v1/franking-commitment",
            &sender,
            &u32_of("sender_device").to_be_bytes(),
            &conversation,
            &bytes(&message["message_id"]),
            &u32_of("content_type").to_be_bytes(),
            &bytes(&message["body"]),
        ]),
    );
    assert_eq!(commitment, array32(&message["commitment"]));
    let stamp_input = framed(&[
        b"fuin/v1/franking-stamp",
        &commitment,
        &sender,
        &u32_of("sender_device").to_be_bytes(),
        &recipient,
        &u32_of("recipient_device").to_be_bytes(),
        &message["server_time_ms"].as_u64().unwrap().to_be_bytes(),
        &bytes(&message["server_message_id"]),
        &u32_of("stamp_key_id").to_be_bytes(),
    ]);
    assert_eq!(stamp_input, bytes(&message["stamp_input"]));
    assert_eq!(
        hmac(&bytes(&message["stamp_key"]), &stamp_input),
        array32(&message["stamp"])
    );

    // The chain signature (groups.md §6.1) over the associated data built
    // here and the ciphertext, both of which the sealed body carries.
    let view = match &message["view"] {
        Value::Null => Vec::new(),
        view => bytes(view),
    };
    let ad = framed(&[
        b"fuin/v1/group-message-ad",
        &[2],
        &group_id,
        &message["epoch"].as_u64().unwrap().to_be_bytes(),
        &bytes(&message["membership_hash"]),
        &sender,
        &u32_of("sender_device").to_be_bytes(),
        &u32_of("iteration").to_be_bytes(),
        &view,
        &bytes(&message["salt"]),
        &2u32.to_be_bytes(),
        &commitment,
    ]);
    assert_eq!(ad, bytes(&message["associated_data"]));
    let ciphertext = bytes(&message["group_ciphertext"]);
    let signature = bytes(&message["signature"]);
    let sealed_body = bytes(&message["sealed_body"]);
    for part in [&group_id, &ciphertext, &signature] {
        assert!(
            sealed_body.windows(part.len()).any(|w| w == &part[..]),
            "the sealed body carries it"
        );
    }
    let signed = |ad: &[u8]| {
        let mut out = b"fuin/v1/group-message-signature".to_vec();
        out.extend_from_slice(&framed(&[ad, &ciphertext]));
        out
    };
    let key =
        ed25519_dalek::VerifyingKey::from_bytes(&array32(&message["chain_signing_key"])).unwrap();
    let signature = ed25519_dalek::Signature::from_bytes(&signature.try_into().unwrap());
    key.verify_strict(&signed(&ad), &signature).unwrap();
    // The check can fail: another epoch in the associated data does not verify.
    let mut other = ad.clone();
    let epoch_at = 4 + 24 + 4 + 1 + 4 + 32 + 4;
    other[epoch_at + 7] ^= 1;
    assert!(key.verify_strict(&signed(&other), &signature).is_err());
}

#[test]
fn fuin_report_reproduces_and_verifies_the_group_vector() {
    let v = group_vector();
    let plaintext = bytes(&v["plaintext"]);
    let content = fuin_report::GroupReportContent::from_bytes(&plaintext).unwrap();
    assert_eq!(content.group_id.0, array32(&v["group_id"]));
    let builder = fuin_report::GroupReportBuilder::new(
        content.reporter.clone().into_owned(),
        content.reporter_identity.clone(),
        content.group_id,
        &content.reason,
        content.created_at_ms,
        content
            .messages
            .iter()
            .cloned()
            .map(|m| m.into_owned())
            .collect(),
    )
    .unwrap();
    assert_eq!(builder.content().to_bytes().unwrap().as_slice(), plaintext);
    let mut secret_file = b"FUINMSK2".to_vec();
    secret_file.extend_from_slice(&7u32.to_be_bytes());
    secret_file.extend_from_slice(&bytes(&v["moderation_x25519_secret_key"]));
    secret_file.extend_from_slice(&bytes(&v["moderation_ml_kem_seed"]));
    let secret = ModerationSecretKey::from_bytes(&secret_file).unwrap();
    let randomness = [
        bytes(&v["ephemeral_secret_key"]),
        bytes(&v["kem_randomness"]),
    ]
    .concat();
    let frame = builder
        .seal(&mut FixedBytes(randomness), &secret.public_key().unwrap())
        .unwrap();
    assert_eq!(frame, bytes(&v["hybrid_sealed_report_frame"]));

    let mut stamp_keys = StampKeySet::new();
    stamp_keys
        .insert(
            StampKeyId(v["message"]["stamp_key_id"].as_u64().unwrap() as u32),
            &array32(&v["message"]["stamp_key"]),
            None,
        )
        .unwrap();
    let inbox = |reporter: &str| InboxEntry {
        report_id: ReportId([2; 16]),
        reporter: DeviceAddress::new(UserId::new(reporter.to_owned()).unwrap(), DeviceId(1)),
        received_at_ms: v["received_at_ms"].as_u64().unwrap(),
        report: InboxSealedReport::Hybrid(HybridSealedReport::from_bytes(&frame).unwrap()),
    };
    let moderator = Moderator::new(secret, stamp_keys);
    let report = moderator
        .open(&mut AuditLog::in_memory(), "mo", &inbox("bob"), 0)
        .unwrap();
    assert_eq!(report.group.map(|g| g.0), Some(array32(&v["group_id"])));
    assert_eq!(report.messages[0].verdict, Verdict::Verified);
    // The same report attested as carol's is refused whole.
    assert!(matches!(
        moderator.open(&mut AuditLog::in_memory(), "mo", &inbox("carol"), 0),
        Err(fuin_report::ReportError::ReporterMismatch)
    ));
}

// ---------------------------------------------------------------------------
// The hybrid sealing (report.md §4.1-§4.2, §5.1), from the spec alone
// ---------------------------------------------------------------------------

const ML_KEM_PUBLIC_KEY_LEN: usize = 1184;
const ML_KEM_CIPHERTEXT_LEN: usize = 1088;
/// wire.md: tag 45, `HybridSealedReport`.
const TAG_HYBRID_SEALED_REPORT: u8 = 45;

/// protocol.md §4: the X25519 public keys of small order, compared after
/// clearing the top bit.
const SMALL_ORDER: [&str; 7] = [
    "0000000000000000000000000000000000000000000000000000000000000000",
    "0100000000000000000000000000000000000000000000000000000000000000",
    "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
    "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
];

fn on_blocklist(key: &[u8; 32]) -> bool {
    let mut cleared = *key;
    cleared[31] &= 0x7f;
    SMALL_ORDER
        .iter()
        .any(|entry| hex::decode(entry).unwrap() == cleared)
}

/// `DH(k, u)`: blocklist, X25519, then the contributory check.
fn contributory_dh(secret: &[u8; 32], public: &[u8; 32]) -> Result<[u8; 32], &'static str> {
    if on_blocklist(public) {
        return Err("weak_public_key");
    }
    let shared = x25519_dalek::x25519(*secret, *public);
    if shared == [0; 32] {
        return Err("weak_public_key");
    }
    Ok(shared)
}

/// FIPS 203 §7.2's encapsulation key check, written out: 1,184 bytes, and
/// each of the 768 12-bit coefficients packed little-endian in the first
/// 1,152 bytes is below q = 3329. ml-kem's own decoding must agree.
fn kem_key_check(key: &[u8]) -> bool {
    if key.len() != ML_KEM_PUBLIC_KEY_LEN {
        return false;
    }
    let by_hand = key[..1152].chunks(3).all(|b| {
        let first = u16::from(b[0]) | (u16::from(b[1] & 0x0f) << 8);
        let second = u16::from(b[1] >> 4) | (u16::from(b[2]) << 4);
        first < 3329 && second < 3329
    });
    let by_ml_kem = encapsulation_key(key).is_some();
    assert_eq!(by_hand, by_ml_kem, "the two key checks disagree");
    by_hand
}

fn encapsulation_key(key: &[u8]) -> Option<EncapsulationKey768> {
    let key: &ml_kem::Key<EncapsulationKey768> = key.try_into().ok()?;
    EncapsulationKey768::new(key).ok()
}

/// The moderation key pair from its recorded seeds: `x`, and `d || z` for
/// `ML-KEM.KeyGen_internal(d, z)`.
struct HybridSecret {
    x25519: [u8; 32],
    ml_kem_seed: [u8; 64],
}

struct HybridPublic {
    x25519: [u8; 32],
    ml_kem: Vec<u8>,
}

impl HybridSecret {
    fn from_vector(v: &Value) -> Self {
        HybridSecret {
            x25519: array32(&v["moderation_x25519_secret_key"]),
            ml_kem_seed: bytes(&v["moderation_ml_kem_seed"]).try_into().unwrap(),
        }
    }

    fn public(&self) -> HybridPublic {
        HybridPublic {
            x25519: x25519_dalek::x25519(self.x25519, x25519_dalek::X25519_BASEPOINT_BYTES),
            ml_kem: ml_kem::DecapsulationKey::<MlKem768>::from_seed(self.ml_kem_seed.into())
                .encapsulation_key()
                .to_bytes()
                .to_vec(),
        }
    }
}

/// Every value of a hybrid sealing, in the order §4.1-§4.2 computes them.
struct HybridSealing {
    ephemeral_public: [u8; 32],
    kem_ciphertext: Vec<u8>,
    kem_shared_secret: [u8; 32],
    dh: [u8; 32],
    key_material: Vec<u8>,
    salt: Vec<u8>,
    aad: Vec<u8>,
    okm: [u8; 76],
    sealed: Vec<u8>,
    frame: Vec<u8>,
}

fn hybrid_salt(kid: u32, key: &HybridPublic, ephemeral: &[u8; 32], ct: &[u8]) -> Vec<u8> {
    framed(&[
        b"fuin/v1/hybrid-report-transcript",
        &kid.to_be_bytes(),
        &key.x25519,
        &key.ml_kem,
        ephemeral,
        ct,
    ])
}

fn hybrid_aad(kid: u32, ephemeral: &[u8; 32], ct: &[u8]) -> Vec<u8> {
    framed(&[
        b"fuin/v1/hybrid-report-ad",
        &kid.to_be_bytes(),
        ephemeral,
        ct,
    ])
}

/// `HKDF-SHA256(salt, km, info = "fuin/v1/hybrid-report-keys", 76)`: GCM
/// key, nonce, commitment.
fn hybrid_okm(salt: &[u8], key_material: &[u8]) -> [u8; 76] {
    let mut okm = [0u8; 76];
    hkdf::Hkdf::<Sha256>::new(Some(salt), key_material)
        .expand(b"fuin/v1/hybrid-report-keys", &mut okm)
        .unwrap();
    okm
}

/// Seals `plaintext` to `(kid, key)` with the randomness given: `e`, then `m`.
fn seal_hybrid(
    kid: u32,
    key: &HybridPublic,
    e: &[u8; 32],
    m: &[u8; 32],
    plaintext: &[u8],
) -> Result<HybridSealing, &'static str> {
    if on_blocklist(&key.x25519) {
        return Err("weak_public_key");
    }
    if !kem_key_check(&key.ml_kem) {
        return Err("invalid_kem_key");
    }
    let ephemeral_public = x25519_dalek::x25519(*e, x25519_dalek::X25519_BASEPOINT_BYTES);
    let dh = contributory_dh(e, &key.x25519)?;
    let (ct, ss) = encapsulation_key(&key.ml_kem)
        .ok_or("invalid_kem_key")?
        .encapsulate_deterministic(&(*m).into());
    let kem_ciphertext = ct.to_vec();
    let kem_shared_secret: [u8; 32] = ss.into();
    let key_material = [&kem_shared_secret[..], &dh[..]].concat();
    let salt = hybrid_salt(kid, key, &ephemeral_public, &kem_ciphertext);
    let aad = hybrid_aad(kid, &ephemeral_public, &kem_ciphertext);
    let okm = hybrid_okm(&salt, &key_material);
    let cipher = Aes256Gcm::new(&Key::<Aes256Gcm>::try_from(&okm[..32]).unwrap());
    let gcm = cipher
        .encrypt(
            &Nonce::try_from(&okm[32..44]).unwrap(),
            Payload {
                msg: plaintext,
                aad: &aad,
            },
        )
        .unwrap();
    let sealed = [&okm[44..], &gcm[..]].concat();

    // The frame (wire.md tag 45): version 1, tag 45, the key id as a
    // varint, E (32) and ct (1,088) at their fixed sizes, then the sealed
    // bytes with a varint length.
    let mut frame = vec![1u8];
    varint(u64::from(TAG_HYBRID_SEALED_REPORT), &mut frame);
    varint(u64::from(kid), &mut frame);
    frame.extend_from_slice(&ephemeral_public);
    frame.extend_from_slice(&kem_ciphertext);
    varint(sealed.len() as u64, &mut frame);
    frame.extend_from_slice(&sealed);
    Ok(HybridSealing {
        ephemeral_public,
        kem_ciphertext,
        kem_shared_secret,
        dh,
        key_material,
        salt,
        aad,
        okm,
        sealed,
        frame,
    })
}

/// The fields of a tag-45 frame.
struct HybridFrame {
    kid: u32,
    ephemeral: [u8; 32],
    ct: Vec<u8>,
    sealed: Vec<u8>,
}

/// Reads a tag-45 frame by hand: key id, E, ct, sealed bytes.
fn parse_hybrid_frame(frame: &[u8]) -> Option<HybridFrame> {
    fn read_varint(input: &mut &[u8]) -> Option<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let (&byte, rest) = input.split_first()?;
            *input = rest;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Some(value);
            }
        }
        None
    }
    let mut input = frame.strip_prefix(&[1u8, TAG_HYBRID_SEALED_REPORT][..])?;
    let kid = u32::try_from(read_varint(&mut input)?).ok()?;
    let (ephemeral, rest) = input.split_at_checked(32)?;
    let (ct, mut rest) = rest.split_at_checked(ML_KEM_CIPHERTEXT_LEN)?;
    let len = usize::try_from(read_varint(&mut rest)?).ok()?;
    if rest.len() != len {
        return None;
    }
    Some(HybridFrame {
        kid,
        ephemeral: ephemeral.try_into().ok()?,
        ct: ct.to_vec(),
        sealed: rest.to_vec(),
    })
}

/// report.md §5.1 steps 1-4: the key id, the DH, decapsulation, then the
/// committing AEAD (commitment compared first, then GCM).
fn open_hybrid(
    kid_held: u32,
    secret: &HybridSecret,
    frame: &[u8],
) -> Result<Vec<u8>, &'static str> {
    let HybridFrame {
        kid,
        ephemeral,
        ct,
        sealed,
    } = parse_hybrid_frame(frame).ok_or("malformed")?;
    if kid != kid_held {
        return Err("unknown_moderation_key");
    }
    let dh = contributory_dh(&secret.x25519, &ephemeral)?;
    let ciphertext: &ml_kem::Ciphertext<MlKem768> = ct.as_slice().try_into().unwrap();
    let ss: [u8; 32] = ml_kem::DecapsulationKey::<MlKem768>::from_seed(secret.ml_kem_seed.into())
        .decapsulate(ciphertext)
        .into();
    let key_material = [&ss[..], &dh[..]].concat();
    let public = secret.public();
    let okm = hybrid_okm(&hybrid_salt(kid, &public, &ephemeral, &ct), &key_material);
    if sealed.len() < 48 || sealed[..32] != okm[44..] {
        return Err("decryption_failed");
    }
    let cipher = Aes256Gcm::new(&Key::<Aes256Gcm>::try_from(&okm[..32]).unwrap());
    cipher
        .decrypt(
            &Nonce::try_from(&okm[32..44]).unwrap(),
            Payload {
                msg: &sealed[32..],
                aad: &hybrid_aad(kid, &ephemeral, &ct),
            },
        )
        .map_err(|_| "decryption_failed")
}

#[test]
fn the_hybrid_sealed_report_vector_matches_a_second_implementation() {
    let v = hybrid_vector();
    let kid = v["moderation_key_id"].as_u64().unwrap() as u32;
    let secret = HybridSecret::from_vector(&v);
    let public = secret.public();
    assert_eq!(public.x25519, array32(&v["moderation_x25519_public_key"]));
    assert_eq!(public.ml_kem, bytes(&v["moderation_ml_kem_public_key"]));

    let e = array32(&v["ephemeral_secret_key"]);
    let m = array32(&v["kem_randomness"]);
    let plaintext = bytes(&v["plaintext"]);
    let sealing = seal_hybrid(kid, &public, &e, &m, &plaintext).unwrap();
    assert_eq!(
        sealing.ephemeral_public,
        array32(&v["ephemeral_public_key"])
    );
    assert_eq!(sealing.kem_ciphertext, bytes(&v["kem_ciphertext"]));
    assert_eq!(sealing.kem_ciphertext.len(), ML_KEM_CIPHERTEXT_LEN);
    assert_eq!(sealing.kem_shared_secret, array32(&v["kem_shared_secret"]));
    assert_eq!(sealing.dh, array32(&v["dh_output"]));
    assert_eq!(sealing.key_material, bytes(&v["key_material"]));
    // The sizes §4.2 states: 2,396 bytes of salt, 1,164 of associated data.
    assert_eq!(sealing.salt.len(), 2396);
    assert_eq!(sealing.aad.len(), 1164);
    assert_eq!(sealing.salt, bytes(&v["hkdf_salt"]));
    assert_eq!(sealing.aad, bytes(&v["associated_data"]));
    assert_eq!(sealing.okm[..32], bytes(&v["aead_key"])[..]);
    assert_eq!(sealing.okm[32..44], bytes(&v["nonce"])[..]);
    assert_eq!(sealing.okm[44..], bytes(&v["key_commitment"])[..]);
    assert_eq!(sealing.sealed.len(), plaintext.len() + 48);
    assert_eq!(sealing.frame, bytes(&v["hybrid_sealed_report_frame"]));

    // The receiver's side gives the same key material, and the frame opens.
    let ss: [u8; 32] = ml_kem::DecapsulationKey::<MlKem768>::from_seed(secret.ml_kem_seed.into())
        .decapsulate(sealing.kem_ciphertext.as_slice().try_into().unwrap())
        .into();
    assert_eq!(ss, sealing.kem_shared_secret);
    assert_eq!(
        contributory_dh(&secret.x25519, &sealing.ephemeral_public).unwrap(),
        sealing.dh
    );
    assert_eq!(
        open_hybrid(kid, &secret, &sealing.frame).unwrap(),
        plaintext
    );
}

#[test]
fn the_group_report_vector_seals_and_opens_in_a_second_implementation() {
    let v = group_vector();
    let kid = v["moderation_key_id"].as_u64().unwrap() as u32;
    let secret = HybridSecret::from_vector(&v);
    let public = secret.public();
    assert_eq!(public.x25519, array32(&v["moderation_x25519_public_key"]));
    assert_eq!(public.ml_kem, bytes(&v["moderation_ml_kem_public_key"]));
    let plaintext = bytes(&v["plaintext"]);
    let sealing = seal_hybrid(
        kid,
        &public,
        &array32(&v["ephemeral_secret_key"]),
        &array32(&v["kem_randomness"]),
        &plaintext,
    )
    .unwrap();
    assert_eq!(
        sealing.ephemeral_public,
        array32(&v["ephemeral_public_key"])
    );
    assert_eq!(sealing.kem_ciphertext, bytes(&v["kem_ciphertext"]));
    assert_eq!(sealing.frame, bytes(&v["hybrid_sealed_report_frame"]));
    let frame = bytes(&v["hybrid_sealed_report_frame"]);
    assert_eq!(open_hybrid(kid, &secret, &frame).unwrap(), plaintext);
}

#[test]
fn a_changed_field_of_the_hybrid_frame_does_not_open_in_the_reference() {
    let v = hybrid_vector();
    let kid = v["moderation_key_id"].as_u64().unwrap() as u32;
    let secret = HybridSecret::from_vector(&v);
    let frame = bytes(&v["hybrid_sealed_report_frame"]);
    assert!(open_hybrid(kid, &secret, &frame).is_ok());
    // Frame layout: version, tag, key id (one byte for 7), E, ct, length, sealed.
    let e_at = 3;
    let ct_at = e_at + 32;
    let sealed_at = frame.len() - (bytes(&v["plaintext"]).len() + 48);
    for (what, index) in [
        ("ephemeral key", e_at + 1),
        ("first KEM ciphertext byte", ct_at),
        (
            "last KEM ciphertext byte",
            ct_at + ML_KEM_CIPHERTEXT_LEN - 1,
        ),
        ("commitment", sealed_at),
        ("GCM ciphertext", sealed_at + 40),
        ("GCM tag", frame.len() - 1),
    ] {
        let mut altered = frame.clone();
        altered[index] ^= 0x01;
        assert_eq!(
            open_hybrid(kid, &secret, &altered),
            Err("decryption_failed"),
            "{what} altered"
        );
    }
    // Another key id: not the key held.
    let mut relabelled = frame.clone();
    relabelled[2] = 8;
    assert_eq!(
        open_hybrid(kid, &secret, &relabelled),
        Err("unknown_moderation_key")
    );
    // The same frame under a service holding one secret for both ids: the
    // key id is in the salt and the associated data.
    assert_eq!(
        open_hybrid(8, &secret, &relabelled),
        Err("decryption_failed")
    );
    // A small-order ephemeral key is refused before decapsulation.
    let mut weak = frame.clone();
    weak[e_at..e_at + 32].copy_from_slice(&[0; 32]);
    assert_eq!(open_hybrid(kid, &secret, &weak), Err("weak_public_key"));
}

#[test]
fn the_reference_refuses_a_weak_or_invalid_moderation_key() {
    let v = hybrid_vector();
    let secret = HybridSecret::from_vector(&v);
    let plaintext = bytes(&v["plaintext"]);
    let (e, m) = ([0xa5; 32], [0x5a; 32]);
    let mut weak = secret.public();
    weak.x25519 = [0; 32];
    weak.x25519[0] = 1;
    assert!(matches!(
        seal_hybrid(7, &weak, &e, &m, &plaintext),
        Err("weak_public_key")
    ));
    // A coefficient of q = 3329 (0xd01) in the ML-KEM key's first slot.
    let mut invalid = secret.public();
    invalid.ml_kem[0] = 0x01;
    invalid.ml_kem[1] = (invalid.ml_kem[1] & 0xf0) | 0x0d;
    assert!(matches!(
        seal_hybrid(7, &invalid, &e, &m, &plaintext),
        Err("invalid_kem_key")
    ));
    let mut short = secret.public();
    short.ml_kem.pop();
    assert!(matches!(
        seal_hybrid(7, &short, &e, &m, &plaintext),
        Err("invalid_kem_key")
    ));
}

/// The two implementations interoperate beyond the recorded randomness: a
/// report the reference seals opens in fuin-report's moderation tool, and a
/// report fuin-report seals opens in the reference.
#[test]
fn the_reference_and_fuin_report_open_each_others_hybrid_reports() {
    let v = hybrid_vector();
    let kid = v["moderation_key_id"].as_u64().unwrap() as u32;
    let secret = HybridSecret::from_vector(&v);
    let plaintext = bytes(&v["plaintext"]);
    let mut secret_file = b"FUINMSK2".to_vec();
    secret_file.extend_from_slice(&kid.to_be_bytes());
    secret_file.extend_from_slice(&secret.x25519);
    secret_file.extend_from_slice(&secret.ml_kem_seed);
    let moderation_secret = ModerationSecretKey::from_bytes(&secret_file).unwrap();

    let ours = seal_hybrid(kid, &secret.public(), &[0x31; 32], &[0x42; 32], &plaintext).unwrap();
    assert_ne!(ours.frame, bytes(&v["hybrid_sealed_report_frame"]));
    let mut stamp_keys = StampKeySet::new();
    stamp_keys
        .insert(
            StampKeyId(v["message"]["stamp_key_id"].as_u64().unwrap() as u32),
            &array32(&v["message"]["stamp_key"]),
            None,
        )
        .unwrap();
    let inbox = InboxEntry {
        report_id: ReportId([3; 16]),
        reporter: DeviceAddress::new(UserId::new("bob").unwrap(), DeviceId(1)),
        received_at_ms: v["received_at_ms"].as_u64().unwrap(),
        report: InboxSealedReport::Hybrid(HybridSealedReport::from_bytes(&ours.frame).unwrap()),
    };
    let report = Moderator::new(moderation_secret, stamp_keys)
        .open(&mut AuditLog::in_memory(), "mo", &inbox, 0)
        .unwrap();
    assert!(report.post_quantum);
    assert_eq!(report.messages[0].verdict, Verdict::Verified);

    let content = ReportContent::from_bytes(&plaintext).unwrap();
    let builder = ReportBuilder::new(
        content.reporter.clone().into_owned(),
        content.reporter_identity.clone(),
        content.peer.clone().into_owned(),
        &content.reason,
        content.created_at_ms,
        content
            .messages
            .iter()
            .cloned()
            .map(|m| m.into_owned())
            .collect(),
    )
    .unwrap();
    let moderation_secret = ModerationSecretKey::from_bytes(&secret_file).unwrap();
    let theirs = builder
        .seal(
            &mut FixedBytes([[0x17; 32], [0x29; 32]].concat()),
            &moderation_secret.public_key().unwrap(),
        )
        .unwrap();
    assert_eq!(open_hybrid(kid, &secret, &theirs).unwrap(), plaintext);
}
