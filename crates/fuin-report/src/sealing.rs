//! Sealing a report plaintext to moderation's public key, and opening it
//! (`spec/report.md` §4).
//!
//! A fresh ephemeral X25519 key per report; the agreement with moderation's
//! key (contributory: a small-order key is an error) is the key material of
//! `fuin-seal`'s key-committing AEAD under the label `fuin/v1/report-keys`,
//! with the sealing transcript (key id, ephemeral key, moderation key) as
//! HKDF salt. The associated data binds the frame's key id and ephemeral
//! key. The result is the relay's `SealedReport` frame (wire tag 5).

use fuin_seal::primitives::aead;
use fuin_seal::primitives::framing::Framer;
use fuin_seal::primitives::kdf::Label;
use fuin_seal::primitives::x25519::{AgreementSecret, check_public_key};
use fuin_wire::limits::MAX_SEALED_REPORT_LEN;
use fuin_wire::{FrameBody, Opaque, SealedReport, X25519PublicKey};
use rand_core::CryptoRng;
use zeroize::Zeroizing;

use crate::{ModerationPublicKey, ModerationSecretKey, ReportContent, ReportError};

/// The HKDF salt: `framed("fuin/v1/report-transcript", BE32(key id),
/// ephemeral key, moderation key)`.
pub(crate) fn transcript(
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

/// The associated data: `framed("fuin/v1/report-ad", BE32(key id),
/// ephemeral key)`, the frame's two fields in front of the ciphertext.
pub(crate) fn associated_data(key_id: u32, ephemeral: &X25519PublicKey) -> Vec<u8> {
    Framer::new(Label::ReportAssociatedData.as_bytes())
        .u32(key_id)
        .field(ephemeral.as_bytes())
        .finish()
}

/// Seals any report plaintext and returns the `SealedReport` frame's bytes.
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

/// Seals plaintext bytes into a [`SealedReport`].
pub(crate) fn seal_plaintext<R: CryptoRng + ?Sized>(
    rng: &mut R,
    moderation_key: &ModerationPublicKey,
    plaintext: &[u8],
) -> Result<SealedReport<'static>, ReportError> {
    check_public_key(&moderation_key.key).map_err(|_| ReportError::WeakPublicKey)?;
    let ephemeral = AgreementSecret::generate(rng);
    let ephemeral_key = ephemeral.public_key();
    let shared = ephemeral
        .agree(&moderation_key.key)
        .map_err(|_| ReportError::WeakPublicKey)?;
    let salt = transcript(moderation_key.key_id, &ephemeral_key, &moderation_key.key);
    let aad = associated_data(moderation_key.key_id, &ephemeral_key);
    let ciphertext = aead::seal(
        Label::ReportKeys,
        Some(&salt),
        shared.key_material(),
        &aad,
        plaintext,
    );
    if ciphertext.len() > MAX_SEALED_REPORT_LEN {
        return Err(ReportError::LimitExceeded {
            field: "ciphertext",
            len: ciphertext.len(),
            max: MAX_SEALED_REPORT_LEN,
        });
    }
    Ok(SealedReport {
        moderation_key_id: moderation_key.key_id,
        ephemeral_key,
        ciphertext: Opaque::from(ciphertext),
    })
}

/// Opens a sealed report with moderation's secret key. The plaintext is
/// wiped on drop. Every failure after the key id and the ephemeral key are
/// checked is the one [`ReportError::DecryptionFailed`].
pub(crate) fn open_sealed(
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
    let public = key.public_key();
    let salt = transcript(sealed.moderation_key_id, &sealed.ephemeral_key, &public.key);
    let aad = associated_data(sealed.moderation_key_id, &sealed.ephemeral_key);
    aead::open(
        Label::ReportKeys,
        Some(&salt),
        shared.key_material(),
        &aad,
        sealed.ciphertext.as_bytes(),
    )
    .map_err(|_| ReportError::DecryptionFailed)
}
