//! The hybrid report vector (`test-vectors/report/sealed_report.json`,
//! spec/report.md §4.1-§4.2) reproduced by fuin-report from its recorded
//! seeds and randomness, every intermediate value checked, and opened by
//! moderation as a post-quantum report. (The second implementation of these
//! steps belongs in `tests/reference.rs`; see its module doc.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::convert::Infallible;

use fuin_report::{
    AuditLog, ModerationSecretKey, Moderator, ReportBuilder, ReportContent, StampKeySet, Verdict,
    sealing,
};
use fuin_seal::primitives::hybrid_kem::{self, HybridSecretKey};
use fuin_seal::primitives::kdf::{self, Label};
use fuin_wire::relay::{InboxEntry, InboxSealedReport, ReportId};
use fuin_wire::{DeviceAddress, DeviceId, FrameBody, HybridSealedReport, StampKeyId, UserId};
use rand_core::{TryCryptoRng, TryRng};
use serde_json::Value;

fn vector() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../test-vectors/report/sealed_report.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn bytes(value: &Value) -> Vec<u8> {
    hex::decode(value.as_str().unwrap()).unwrap()
}

fn array<const N: usize>(value: &Value) -> [u8; N] {
    bytes(value).try_into().unwrap()
}

/// Hands out the vector's recorded randomness, and nothing more.
struct Recorded(Vec<u8>);

impl TryRng for Recorded {
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
            "asked for more than was recorded"
        );
        let taken: Vec<u8> = self.0.drain(..dst.len()).collect();
        dst.copy_from_slice(&taken);
        Ok(())
    }
}

impl TryCryptoRng for Recorded {}

fn secret_key(v: &Value) -> ModerationSecretKey {
    let mut file = b"FUINMSK2".to_vec();
    file.extend_from_slice(&7u32.to_be_bytes());
    file.extend_from_slice(&bytes(&v["moderation_x25519_secret_key"]));
    file.extend_from_slice(&bytes(&v["moderation_ml_kem_seed"]));
    ModerationSecretKey::from_bytes(&file).unwrap()
}

#[test]
fn fuin_report_reproduces_every_value_of_the_hybrid_vector() {
    let v = vector();
    let secret = secret_key(&v);
    let public = secret.public_key().unwrap();
    assert_eq!(public.key_id, 7);
    assert_eq!(
        public.key.x25519.0,
        array::<32>(&v["moderation_x25519_public_key"])
    );
    assert_eq!(
        public.key.ml_kem.as_bytes().to_vec(),
        bytes(&v["moderation_ml_kem_public_key"])
    );

    let (encapsulation, km) = hybrid_kem::encapsulate_with(
        &public.key,
        array(&v["ephemeral_secret_key"]),
        &array(&v["kem_randomness"]),
    )
    .unwrap();
    assert_eq!(
        encapsulation.ephemeral.0,
        array::<32>(&v["ephemeral_public_key"])
    );
    assert_eq!(
        encapsulation.ciphertext.as_bytes().to_vec(),
        bytes(&v["kem_ciphertext"])
    );
    assert_eq!(km[..32], bytes(&v["kem_shared_secret"])[..]);
    assert_eq!(km[32..], bytes(&v["dh_output"])[..]);
    assert_eq!(km.to_vec(), bytes(&v["key_material"]));
    // The moderation side gets the same key material.
    let hybrid = HybridSecretKey::from_parts(
        array(&v["moderation_x25519_secret_key"]),
        array(&v["moderation_ml_kem_seed"]),
    );
    assert_eq!(*hybrid.decapsulate(&encapsulation).unwrap(), *km);

    let salt = sealing::transcript(7, &public.key, &encapsulation);
    assert_eq!(salt, bytes(&v["hkdf_salt"]));
    assert_eq!(salt.len(), 2396);
    let aad = sealing::associated_data(7, &encapsulation);
    assert_eq!(aad, bytes(&v["associated_data"]));
    assert_eq!(aad.len(), 1164);
    let derived: zeroize::Zeroizing<[u8; 76]> =
        kdf::derive(Label::HybridReportKeys, Some(&salt), km.as_slice(), &[]);
    assert_eq!(derived[..32], bytes(&v["aead_key"])[..]);
    assert_eq!(derived[32..44], bytes(&v["nonce"])[..]);
    assert_eq!(derived[44..], bytes(&v["key_commitment"])[..]);

    // The builder, drawing the recorded randomness (e, then m), gives the
    // frame byte for byte, and its ciphertext starts with the commitment.
    let plaintext = bytes(&v["plaintext"]);
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
    let randomness = [
        bytes(&v["ephemeral_secret_key"]),
        bytes(&v["kem_randomness"]),
    ]
    .concat();
    let frame = builder.seal(&mut Recorded(randomness), &public).unwrap();
    assert_eq!(frame, bytes(&v["hybrid_sealed_report_frame"]));
    assert_eq!(frame[..2], [1, 45]);
    let sealed = HybridSealedReport::from_bytes(&frame).unwrap();
    assert_eq!(
        sealed.ciphertext.as_bytes()[..32],
        bytes(&v["key_commitment"])[..]
    );

    // Moderation opens it, as a post-quantum report, and verifies it.
    let mut stamp_keys = StampKeySet::new();
    stamp_keys
        .insert(
            StampKeyId(v["message"]["stamp_key_id"].as_u64().unwrap() as u32),
            &array(&v["message"]["stamp_key"]),
            None,
        )
        .unwrap();
    let inbox = InboxEntry {
        report_id: ReportId([1; 16]),
        reporter: DeviceAddress::new(UserId::new("bob").unwrap(), DeviceId(1)),
        received_at_ms: v["received_at_ms"].as_u64().unwrap(),
        report: InboxSealedReport::Hybrid(sealed),
    };
    let report = Moderator::new(secret, stamp_keys)
        .open(&mut AuditLog::in_memory(), "mo", &inbox, 0)
        .unwrap();
    assert!(report.post_quantum);
    assert_eq!(report.messages[0].verdict, Verdict::Verified);
}

#[test]
fn the_vector_before_v3_uses_the_x25519_half_of_the_hybrid_key() {
    // `keygen --upgrade` keeps the X25519 secret: the two vectors' keys
    // share it, so a report stored before the upgrade opens with the new key.
    let v = vector();
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../test-vectors/report/sealed_report_before_v3.json"
    );
    let old: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(
        old["moderation_secret_key"],
        v["moderation_x25519_secret_key"]
    );
    let sealed = fuin_wire::SealedReport::from_bytes(&bytes(&old["sealed_report_frame"]))
        .unwrap()
        .into_owned();
    let mut stamp_keys = StampKeySet::new();
    stamp_keys
        .insert(
            StampKeyId(old["message"]["stamp_key_id"].as_u64().unwrap() as u32),
            &array(&old["message"]["stamp_key"]),
            None,
        )
        .unwrap();
    let inbox = InboxEntry {
        report_id: ReportId([3; 16]),
        reporter: DeviceAddress::new(UserId::new("bob").unwrap(), DeviceId(1)),
        received_at_ms: old["received_at_ms"].as_u64().unwrap(),
        report: InboxSealedReport::X25519Only(sealed),
    };
    let report = Moderator::new(secret_key(&v), stamp_keys)
        .open(&mut AuditLog::in_memory(), "mo", &inbox, 0)
        .unwrap();
    assert!(!report.post_quantum);
    assert_eq!(report.messages[0].verdict, Verdict::Verified);
}

#[test]
fn stored_report_files_of_both_forms_open() {
    // A file `fuin moderate pull` wrote before protocol version 3 (a
    // one-report tag 23 batch) and one written now (a one-entry tag 46
    // batch); anything else names no report and is refused unrecorded.
    let v = vector();
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../test-vectors/report/sealed_report_before_v3.json"
    );
    let old: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let reporter = DeviceAddress::new(UserId::new("bob").unwrap(), DeviceId(1));
    let old_bytes = bytes(&old["sealed_report_frame"]);
    let old_file = fuin_wire::relay::ReportBatch {
        reports: vec![fuin_wire::relay::InboxReport {
            report_id: ReportId([4; 16]),
            reporter: reporter.clone(),
            received_at_ms: old["received_at_ms"].as_u64().unwrap(),
            report: fuin_wire::SealedReport::from_bytes(&old_bytes).unwrap(),
        }]
        .into(),
    }
    .to_bytes()
    .unwrap();
    let new_bytes = bytes(&v["hybrid_sealed_report_frame"]);
    let new_file = fuin_wire::relay::InboxBatch {
        reports: vec![InboxEntry {
            report_id: ReportId([5; 16]),
            reporter,
            received_at_ms: v["received_at_ms"].as_u64().unwrap(),
            report: InboxSealedReport::Hybrid(HybridSealedReport::from_bytes(&new_bytes).unwrap()),
        }]
        .into(),
    }
    .to_bytes()
    .unwrap();
    let mut stamp_keys = StampKeySet::new();
    stamp_keys
        .insert(
            StampKeyId(v["message"]["stamp_key_id"].as_u64().unwrap() as u32),
            &array(&v["message"]["stamp_key"]),
            None,
        )
        .unwrap();
    let moderator = Moderator::new(secret_key(&v), stamp_keys);
    let mut audit = AuditLog::in_memory();
    let opened = moderator
        .open_stored(&mut audit, "mo", &old_file, 0)
        .unwrap();
    assert!(!opened.post_quantum);
    assert_eq!(opened.messages[0].verdict, Verdict::Verified);
    let opened = moderator
        .open_stored(&mut audit, "mo", &new_file, 1)
        .unwrap();
    assert!(opened.post_quantum);
    // The same message, in two reports: counted once.
    assert_eq!(opened.messages[0].verdict, Verdict::Duplicate);
    assert!(matches!(
        moderator.open_stored(&mut audit, "mo", &new_bytes, 2),
        Err(fuin_report::ReportError::Wire(_))
    ));
}
