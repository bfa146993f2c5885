//! Attachment blob ids and sealed reports: the two kinds of opaque object the
//! relay stores outside mailboxes.

use serde::{Deserialize, Serialize};

use crate::bytes::fixed_bytes;
use crate::keys::{MlKemCiphertext, X25519PublicKey};
use crate::limits::{MAX_HYBRID_SEALED_REPORT_LEN, MAX_SEALED_REPORT_LEN};
use crate::{Opaque, WireError};

fixed_bytes!(
    /// The id of a sealed attachment in the relay's blob store: the hash of
    /// its ciphertext (BLAKE3; SHA-256 for a version 1 object,
    /// `spec/attachments.md` §4.1).
    BlobId,
    32
);

/// Tag 5: a user report sealed to an X25519-only moderation key, the form
/// of before protocol version 3. Still decoded, so that reports stored
/// before the upgrade open; no device seals one and the relay refuses a new
/// one (`spec/report.md` §4.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedReport<'a> {
    /// Which moderation key the report is sealed to.
    pub moderation_key_id: u32,
    /// The reporter's fresh ephemeral X25519 key for this report.
    pub ephemeral_key: X25519PublicKey,
    /// The sealed report (commitment and AES-256-GCM ciphertext), at most
    /// [`MAX_SEALED_REPORT_LEN`] bytes.
    #[serde(borrow)]
    pub ciphertext: Opaque<'a>,
}

impl SealedReport<'_> {
    /// Copies borrowed parts, detaching the report from the input.
    pub fn into_owned(self) -> SealedReport<'static> {
        SealedReport {
            moderation_key_id: self.moderation_key_id,
            ephemeral_key: self.ephemeral_key,
            ciphertext: self.ciphertext.into_owned(),
        }
    }

    pub(crate) fn validate(&self) -> Result<(), WireError> {
        if self.ciphertext.len() > MAX_SEALED_REPORT_LEN {
            return Err(WireError::LimitExceeded {
                field: "ciphertext",
                len: self.ciphertext.len(),
                max: MAX_SEALED_REPORT_LEN,
            });
        }
        Ok(())
    }
}

/// Tag 45: a user report sealed on the device to the moderation service's
/// hybrid key (X25519 + ML-KEM-768, `spec/report.md` §4.2). The relay's
/// report inbox stores it as it is; only the moderation tool can open it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HybridSealedReport<'a> {
    /// Which moderation key the report is sealed to.
    pub moderation_key_id: u32,
    /// The reporter's fresh ephemeral X25519 key for this report.
    pub ephemeral_key: X25519PublicKey,
    /// The ML-KEM-768 ciphertext encapsulated to the moderation key.
    pub kem_ciphertext: MlKemCiphertext,
    /// The sealed report (commitment and AES-256-GCM ciphertext), at most
    /// [`MAX_HYBRID_SEALED_REPORT_LEN`] bytes.
    #[serde(borrow)]
    pub ciphertext: Opaque<'a>,
}

impl HybridSealedReport<'_> {
    /// Copies borrowed parts, detaching the report from the input.
    pub fn into_owned(self) -> HybridSealedReport<'static> {
        HybridSealedReport {
            moderation_key_id: self.moderation_key_id,
            ephemeral_key: self.ephemeral_key,
            kem_ciphertext: self.kem_ciphertext,
            ciphertext: self.ciphertext.into_owned(),
        }
    }

    pub(crate) fn validate(&self) -> Result<(), WireError> {
        if self.ciphertext.len() > MAX_HYBRID_SEALED_REPORT_LEN {
            return Err(WireError::LimitExceeded {
                field: "ciphertext",
                len: self.ciphertext.len(),
                max: MAX_HYBRID_SEALED_REPORT_LEN,
            });
        }
        Ok(())
    }
}
