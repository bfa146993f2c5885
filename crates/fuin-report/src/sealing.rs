//! Sealing a report plaintext to moderation's hybrid public key, and
//! opening it (`spec/report.md` §4-§5).
//!
//! The hybrid KEM (X25519 + ML-KEM-768, fresh for every report) gives 64
//! bytes of key material, the key material of `fuin-seal`'s key-committing
//! AEAD under the label `fuin/v1/hybrid-report-keys`, with the sealing
//! transcript (key id, both halves of the moderation key, the ephemeral key
//! and the KEM ciphertext) as HKDF salt: the combiner. The associated data
//! binds the frame's three clear fields. The result is the relay's
//! `HybridSealedReport` frame (wire tag 45).
//!
//! Reports sealed before protocol version 3 (X25519 only, wire tag 5) are
//! still opened (§4.3, §5.2), never sealed, except by the test hook behind
//! the `fuzzing` feature.

use fuin_seal::SealError;
use fuin_seal::primitives::aead;
use fuin_seal::primitives::framing::Framer;
use fuin_seal::primitives::hybrid_kem::{self, HybridEncapsulation, HybridPublicKey};
use fuin_seal::primitives::kdf::Label;
use fuin_seal::primitives::x25519::check_public_key;
use fuin_wire::limits::MAX_HYBRID_SEALED_REPORT_LEN;
use fuin_wire::relay::InboxSealedReport;
use fuin_wire::{FrameBody, HybridSealedReport, Opaque, SealedReport, X25519PublicKey};
use rand_core::CryptoRng;
use zeroize::Zeroizing;

use crate::{ModerationPublicKey, ModerationSecretKey, ReportContent, ReportError};

/// The HKDF salt: `framed("fuin/v1/hybrid-report-transcript", BE32(key id),
/// M.x25519, M.ml_kem, E, ct)`.
pub fn transcript(
    key_id: u32,
    moderation: &HybridPublicKey,
    encapsulation: &HybridEncapsulation,
) -> Vec<u8> {
    Framer::new(Label::HybridReportTranscript.as_bytes())
        .u32(key_id)
        .field(moderation.x25519.as_bytes())
        .field(moderation.ml_kem.as_bytes())
        .field(encapsulation.ephemeral.as_bytes())
        .field(encapsulation.ciphertext.as_bytes())
        .finish()
}

/// The associated data: `framed("fuin/v1/hybrid-report-ad", BE32(key id),
/// E, ct)`, the frame's three fields in front of the ciphertext.
pub fn associated_data(key_id: u32, encapsulation: &HybridEncapsulation) -> Vec<u8> {
    Framer::new(Label::HybridReportAssociatedData.as_bytes())
        .u32(key_id)
        .field(encapsulation.ephemeral.as_bytes())
        .field(encapsulation.ciphertext.as_bytes())
        .finish()
}

/// The HKDF salt of a report sealed before protocol version 3:
/// `framed("fuin/v1/report-transcript", BE32(key id), E, M)`.
pub fn transcript_before_v3(
    key_id: u32,
    ephemeral: &X25519PublicKey,
    moderation: &X25519PublicKey,
) -> Vec<u8> {
    Framer::new(Label::ReportTranscript.as_bytes())
        .u32(key_id)
        .field(ephemeral.as_bytes())
        .field(moderation.as_bytes())
        .finish()
}

/// The associated data of a report sealed before protocol version 3:
/// `framed("fuin/v1/report-ad", BE32(key id), E)`.
pub fn associated_data_before_v3(key_id: u32, ephemeral: &X25519PublicKey) -> Vec<u8> {
    Framer::new(Label::ReportAssociatedData.as_bytes())
        .u32(key_id)
        .field(ephemeral.as_bytes())
        .finish()
}

/// Seals any report plaintext and returns the `HybridSealedReport` frame's
/// bytes.
///
/// Apps use [`ReportBuilder::seal`](crate::ReportBuilder::seal), which
/// checks the selection first. This lower step seals whatever content it
/// is given; the tests use it to play a reporter who builds a report by
/// hand, as an attacker would.
pub fn seal_content<R: CryptoRng + ?Sized>(
    rng: &mut R,
    moderation_key: &ModerationPublicKey,
    content: &ReportContent<'_>,
) -> Result<Vec<u8>, ReportError> {
    let plaintext = content.to_bytes()?;
    let sealed = seal_plaintext(rng, moderation_key, &plaintext)?;
    sealed.to_bytes().map_err(ReportError::Wire)
}

fn kem_error(err: SealError) -> ReportError {
    match err {
        SealError::WeakPublicKey => ReportError::WeakPublicKey,
        _ => ReportError::InvalidKey {
            reason: "its ML-KEM key fails the FIPS 203 check",
        },
    }
}

/// Seals plaintext bytes into a [`HybridSealedReport`]: draws the ephemeral
/// X25519 key, then the ML-KEM randomness.
pub(crate) fn seal_plaintext<R: CryptoRng + ?Sized>(
    rng: &mut R,
    moderation_key: &ModerationPublicKey,
    plaintext: &[u8],
) -> Result<HybridSealedReport<'static>, ReportError> {
    let (encapsulation, km) =
        hybrid_kem::encapsulate(rng, &moderation_key.key).map_err(kem_error)?;
    seal_encapsulated(moderation_key, &encapsulation, &km, plaintext)
}

/// Seals plaintext bytes with a given encapsulation and its key material
/// (test vectors, from recorded randomness through
/// [`hybrid_kem::encapsulate_with`]).
pub fn seal_encapsulated(
    moderation_key: &ModerationPublicKey,
    encapsulation: &HybridEncapsulation,
    km: &[u8; hybrid_kem::KEY_MATERIAL_LEN],
    plaintext: &[u8],
) -> Result<HybridSealedReport<'static>, ReportError> {
    let salt = transcript(moderation_key.key_id, &moderation_key.key, encapsulation);
    let aad = associated_data(moderation_key.key_id, encapsulation);
    let ciphertext = aead::seal(Label::HybridReportKeys, Some(&salt), km, &aad, plaintext);
    if ciphertext.len() > MAX_HYBRID_SEALED_REPORT_LEN {
        return Err(ReportError::LimitExceeded {
            field: "ciphertext",
            len: ciphertext.len(),
            max: MAX_HYBRID_SEALED_REPORT_LEN,
        });
    }
    Ok(HybridSealedReport {
        moderation_key_id: moderation_key.key_id,
        ephemeral_key: encapsulation.ephemeral,
        kem_ciphertext: encapsulation.ciphertext,
        ciphertext: Opaque::from(ciphertext),
    })
}

/// Seals plaintext in the X25519-only form of before protocol version 3
/// (`spec/report.md` §4.3) with the ephemeral secret `ephemeral`. Only for
/// tests and vectors that play a report stored before the upgrade.
#[cfg(feature = "fuzzing")]
pub fn seal_before_v3(
    key_id: u32,
    moderation: &X25519PublicKey,
    ephemeral: [u8; 32],
    plaintext: &[u8],
) -> Result<SealedReport<'static>, ReportError> {
    use fuin_seal::primitives::x25519::AgreementSecret;
    let ephemeral = AgreementSecret::from_bytes(ephemeral);
    let ephemeral_key = ephemeral.public_key();
    let shared = ephemeral
        .agree(moderation)
        .map_err(|_| ReportError::WeakPublicKey)?;
    let salt = transcript_before_v3(key_id, &ephemeral_key, moderation);
    let aad = associated_data_before_v3(key_id, &ephemeral_key);
    let ciphertext = aead::seal(
        Label::ReportKeys,
        Some(&salt),
        shared.key_material(),
        &aad,
        plaintext,
    );
    Ok(SealedReport {
        moderation_key_id: key_id,
        ephemeral_key,
        ciphertext: Opaque::from(ciphertext),
    })
}

/// Opens a sealed report of either form with moderation's secret key
/// (`spec/report.md` §5.1, §5.2). The plaintext is wiped on drop. Every
/// failure after the key id and the ephemeral key are checked is the one
/// [`ReportError::DecryptionFailed`].
pub(crate) fn open_sealed(
    key: &ModerationSecretKey,
    sealed: &InboxSealedReport<'_>,
) -> Result<Zeroizing<Vec<u8>>, ReportError> {
    match sealed {
        InboxSealedReport::Hybrid(sealed) => open_hybrid(key, sealed),
        InboxSealedReport::X25519Only(sealed) => open_before_v3(key, sealed),
    }
}

fn open_hybrid(
    key: &ModerationSecretKey,
    sealed: &HybridSealedReport<'_>,
) -> Result<Zeroizing<Vec<u8>>, ReportError> {
    let unknown = ReportError::UnknownModerationKey {
        id: sealed.moderation_key_id,
    };
    if sealed.moderation_key_id != key.key_id() {
        return Err(unknown);
    }
    // A key of before protocol version 3 holds no ML-KEM half.
    let (Some(hybrid), Some(public)) = (key.hybrid(), key.public_key()) else {
        return Err(unknown);
    };
    check_public_key(&sealed.ephemeral_key).map_err(|_| ReportError::WeakPublicKey)?;
    let encapsulation = HybridEncapsulation {
        ephemeral: sealed.ephemeral_key,
        ciphertext: sealed.kem_ciphertext,
    };
    let km = hybrid
        .decapsulate(&encapsulation)
        .map_err(|_| ReportError::WeakPublicKey)?;
    let salt = transcript(sealed.moderation_key_id, &public.key, &encapsulation);
    let aad = associated_data(sealed.moderation_key_id, &encapsulation);
    aead::open(
        Label::HybridReportKeys,
        Some(&salt),
        km.as_slice(),
        &aad,
        sealed.ciphertext.as_bytes(),
    )
    .map_err(|_| ReportError::DecryptionFailed)
}

fn open_before_v3(
    key: &ModerationSecretKey,
    sealed: &SealedReport<'_>,
) -> Result<Zeroizing<Vec<u8>>, ReportError> {
    if sealed.moderation_key_id != key.key_id() {
        return Err(ReportError::UnknownModerationKey {
            id: sealed.moderation_key_id,
        });
    }
    check_public_key(&sealed.ephemeral_key).map_err(|_| ReportError::WeakPublicKey)?;
    let shared = key
        .agreement()
        .agree(&sealed.ephemeral_key)
        .map_err(|_| ReportError::WeakPublicKey)?;
    let salt = transcript_before_v3(
        sealed.moderation_key_id,
        &sealed.ephemeral_key,
        &key.x25519_public_key(),
    );
    let aad = associated_data_before_v3(sealed.moderation_key_id, &sealed.ephemeral_key);
    aead::open(
        Label::ReportKeys,
        Some(&salt),
        shared.key_material(),
        &aad,
        sealed.ciphertext.as_bytes(),
    )
    .map_err(|_| ReportError::DecryptionFailed)
}
