//! HKDF-SHA256 and the one table of labels that separates every use of a
//! key in fuin. `spec/protocol.md` reproduces this table.

#[cfg(any(test, feature = "hazmat"))]
use hkdf::Hkdf;
#[cfg(any(test, feature = "hazmat"))]
use sha2::Sha256;

use super::mac::{HmacKey, TAG_LEN};

/// Every domain-separation label fuin uses: HKDF `info` strings, signature
/// contexts and MAC labels. A label is never used for two purposes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Label {
    /// Signature context: an identity's signing key signs its agreement key.
    IdentitySignature,
    /// Signature context: an identity signs a signed prekey.
    SignedPrekeySignature,
    /// Signature context: an identity signs a KEM prekey.
    KemPrekeySignature,
    /// HKDF info: the hybrid handshake secret (X25519 terms and the ML-KEM
    /// shared secret) to the first root key.
    HybridHandshake,
    /// HKDF info: a Double Ratchet root step (new root key and chain key).
    RatchetRoot,
    /// HMAC input prefix: chain key to message key.
    ChainMessageKey,
    /// HMAC input prefix: chain key to next chain key.
    ChainNextKey,
    /// HKDF info: a message key to AEAD key, nonce and commitment.
    MessageKeys,
    /// Associated data of a 1:1 message.
    MessageAssociatedData,
    /// HMAC label of a franking commitment.
    FrankingCommitment,
    /// Hash label of a 1:1 conversation id.
    DirectConversation,
    /// HKDF info: a storage key and salt to AEAD key, nonce and commitment.
    StateEncryption,
    /// Hash label of a safety number half.
    SafetyNumber,
    /// HMAC input: a group sender chain key to its message key.
    GroupChainMessageKey,
    /// HMAC input: a group sender chain key to the next chain key.
    GroupChainNextKey,
    /// HKDF info: a group message key to AEAD key, nonce and commitment.
    GroupMessageKeys,
    /// Associated data of a group message.
    GroupMessageAssociatedData,
    /// Signature context: a sender chain signs a group message.
    GroupMessageSignature,
    /// Signature context: a sender chain signs a group control message.
    GroupControlSignature,
    /// Hash label of a group membership hash.
    GroupMembership,
    /// Hash label of a sender chain's fingerprint.
    GroupChainFingerprint,
    /// Hash label of a member's view of an epoch.
    GroupView,
    /// Hash label of a group conversation id.
    GroupConversation,
    /// HMAC label: a user's identifier towards an outside audience.
    AudienceUser,
    /// HMAC label: a user's identifier for a conversation towards an audience.
    AudienceConversation,
    /// HMAC label: a group's consented shared identifier towards an audience.
    AudienceShared,
    /// HKDF info: a report's DH output to AEAD key, nonce and commitment.
    ReportKeys,
    /// First framed field of a report's HKDF salt (the sealing transcript).
    ReportTranscript,
    /// First framed field of a sealed report's associated data.
    ReportAssociatedData,
    /// First framed field of a moderation audit record's hash input.
    AuditRecord,
    /// Hash label of an attachment's context id.
    AttachmentContext,
    /// HKDF info: an attachment key and context id to AEAD key, nonce
    /// prefix and commitment.
    AttachmentKeys,
    /// Signature context: an account key signs a device list.
    DeviceListSignature,
    /// Hash label of a safety number half computed from an account key.
    AccountSafetyNumber,
    /// Hash label of an identity's fingerprint in a link code.
    LinkFingerprint,
    /// HKDF info: a link code's secret to its channel id and two keys.
    LinkKeys,
    /// HKDF info: a link key and salt to AEAD key, nonce and commitment.
    LinkSeal,
    /// First framed field of a link request's associated data.
    LinkRequestAssociatedData,
    /// First framed field of a link grant's associated data.
    LinkGrantAssociatedData,
    /// HKDF info: a hybrid report's key material (ML-KEM secret and DH
    /// output) to AEAD key, nonce and commitment.
    HybridReportKeys,
    /// First framed field of a hybrid report's HKDF salt (its transcript).
    HybridReportTranscript,
    /// First framed field of a hybrid sealed report's associated data.
    HybridReportAssociatedData,
    /// HKDF info: a link grant's key material (`k_grant` and the hybrid
    /// KEM's) to AEAD key, nonce and commitment.
    LinkGrantKeys,
    /// First framed field of a link grant's HKDF salt (its transcript).
    LinkGrantTranscript,
    /// HKDF info: the moderation service's vault key and a value's salt to
    /// AEAD key, nonce and commitment.
    ModerationVaultKeys,
    /// First framed field of a moderation vault value's associated data.
    ModerationVaultAssociatedData,
    /// First framed field of a moderation service audit record's hash input.
    ModerationAuditRecord,
    /// First framed field of the moderation console's CSRF token, derived
    /// from a session token.
    ModerationCsrf,
    /// First framed field of the moderation console's login-form CSRF
    /// token, derived from the pre-login cookie's token.
    ModerationLoginCsrf,
}

impl Label {
    /// Every label, for the spec table and its test.
    pub const ALL: [Label; 49] = [
        Self::IdentitySignature,
        Self::SignedPrekeySignature,
        Self::KemPrekeySignature,
        Self::HybridHandshake,
        Self::RatchetRoot,
        Self::ChainMessageKey,
        Self::ChainNextKey,
        Self::MessageKeys,
        Self::MessageAssociatedData,
        Self::FrankingCommitment,
        Self::DirectConversation,
        Self::StateEncryption,
        Self::SafetyNumber,
        Self::GroupChainMessageKey,
        Self::GroupChainNextKey,
        Self::GroupMessageKeys,
        Self::GroupMessageAssociatedData,
        Self::GroupMessageSignature,
        Self::GroupControlSignature,
        Self::GroupMembership,
        Self::GroupChainFingerprint,
        Self::GroupView,
        Self::GroupConversation,
        Self::AudienceUser,
        Self::AudienceConversation,
        Self::AudienceShared,
        Self::ReportKeys,
        Self::ReportTranscript,
        Self::ReportAssociatedData,
        Self::AuditRecord,
        Self::AttachmentContext,
        Self::AttachmentKeys,
        Self::DeviceListSignature,
        Self::AccountSafetyNumber,
        Self::LinkFingerprint,
        Self::LinkKeys,
        Self::LinkSeal,
        Self::LinkRequestAssociatedData,
        Self::LinkGrantAssociatedData,
        Self::HybridReportKeys,
        Self::HybridReportTranscript,
        Self::HybridReportAssociatedData,
        Self::LinkGrantKeys,
        Self::LinkGrantTranscript,
        Self::ModerationVaultKeys,
        Self::ModerationVaultAssociatedData,
        Self::ModerationAuditRecord,
        Self::ModerationCsrf,
        Self::ModerationLoginCsrf,
    ];

    /// The label's bytes.
    pub fn as_bytes(self) -> &'static [u8] {
        match self {
            Self::IdentitySignature => b"fuin/v1/identity-signature",
            Self::SignedPrekeySignature => b"fuin/v1/signed-prekey-signature",
            Self::KemPrekeySignature => b"fuin/v1/kem-prekey-signature",
            Self::HybridHandshake => b"fuin/v1/hybrid-handshake",
            Self::RatchetRoot => b"fuin/v1/ratchet-root",
            Self::ChainMessageKey => b"fuin/v1/chain-message-key",
            Self::ChainNextKey => b"fuin/v1/chain-next-key",
            Self::MessageKeys => b"fuin/v1/message-keys",
            Self::MessageAssociatedData => b"fuin/v1/message-ad",
            Self::FrankingCommitment => b"fuin/v1/franking-commitment",
            Self::DirectConversation => b"fuin/v1/direct-conversation",
            Self::StateEncryption => b"fuin/v1/state-encryption",
            Self::SafetyNumber => b"fuin/v1/safety-number",
            Self::GroupChainMessageKey => b"fuin/v1/group-chain-message-key",
            Self::GroupChainNextKey => b"fuin/v1/group-chain-next-key",
            Self::GroupMessageKeys => b"fuin/v1/group-message-keys",
            Self::GroupMessageAssociatedData => b"fuin/v1/group-message-ad",
            Self::GroupMessageSignature => b"fuin/v1/group-message-signature",
            Self::GroupControlSignature => b"fuin/v1/group-control-signature",
            Self::GroupMembership => b"fuin/v1/group-membership",
            Self::GroupChainFingerprint => b"fuin/v1/group-chain-fingerprint",
            Self::GroupView => b"fuin/v1/group-view",
            Self::GroupConversation => b"fuin/v1/group-conversation",
            Self::AudienceUser => b"fuin/v1/audience-user",
            Self::AudienceConversation => b"fuin/v1/audience-conversation",
            Self::AudienceShared => b"fuin/v1/audience-shared",
            Self::ReportKeys => b"fuin/v1/report-keys",
            Self::ReportTranscript => b"fuin/v1/report-transcript",
            Self::ReportAssociatedData => b"fuin/v1/report-ad",
            Self::AuditRecord => b"fuin/v1/audit-record",
            Self::AttachmentContext => b"fuin/v1/attachment-context",
            Self::AttachmentKeys => b"fuin/v1/attachment-keys",
            Self::DeviceListSignature => b"fuin/v1/device-list",
            Self::AccountSafetyNumber => b"fuin/v1/account-safety-number",
            Self::LinkFingerprint => b"fuin/v1/link-fingerprint",
            Self::LinkKeys => b"fuin/v1/link-keys",
            Self::LinkSeal => b"fuin/v1/link-seal",
            Self::LinkRequestAssociatedData => b"fuin/v1/link-request",
            Self::LinkGrantAssociatedData => b"fuin/v1/link-grant",
            Self::HybridReportKeys => b"fuin/v1/hybrid-report-keys",
            Self::HybridReportTranscript => b"fuin/v1/hybrid-report-transcript",
            Self::HybridReportAssociatedData => b"fuin/v1/hybrid-report-ad",
            Self::LinkGrantKeys => b"fuin/v1/link-grant-keys",
            Self::LinkGrantTranscript => b"fuin/v1/link-grant-transcript",
            Self::ModerationVaultKeys => b"fuin/v1/moderation-vault-keys",
            Self::ModerationVaultAssociatedData => b"fuin/v1/moderation-vault",
            Self::ModerationAuditRecord => b"fuin/v1/moderation-audit",
            Self::ModerationCsrf => b"fuin/v1/moderation-csrf",
            Self::ModerationLoginCsrf => b"fuin/v1/moderation-login-csrf",
        }
    }
}

/// The largest output HKDF-SHA256 can give (255 hash lengths).
pub const MAX_OUTPUT_LEN: usize = 255 * 32;

/// HKDF-SHA256 of `ikm` with `salt` and raw `info` (no protocol label),
/// filling `out`: for checking against outside test vectors only. Exists in
/// this crate's unit tests and with the `hazmat` feature, never in a release
/// build's public API.
///
/// Fails only when `out` is longer than [`MAX_OUTPUT_LEN`].
#[cfg(any(test, feature = "hazmat"))]
pub fn hkdf_raw(
    salt: Option<&[u8]>,
    ikm: &[u8],
    info: &[u8],
    out: &mut [u8],
) -> Result<(), crate::SealError> {
    Hkdf::<Sha256>::new(salt, ikm)
        .expand(info, out)
        .map_err(|_| crate::SealError::KdfOutputTooLong { len: out.len() })
}

/// HKDF-SHA256 with a protocol label (and optional context appended to it)
/// as `info`, producing `N` bytes.
///
/// RFC 5869 over [`HmacKey`]: the salt's key is prepared once for the
/// extract step (an absent salt is 32 zero bytes, whose prepared key is
/// kept), the pseudorandom key once for every output block.
pub fn derive<const N: usize>(
    label: Label,
    salt: Option<&[u8]>,
    ikm: &[u8],
    context: &[u8],
) -> zeroize::Zeroizing<[u8; N]> {
    const { assert!(N <= MAX_OUTPUT_LEN) };
    let mut out = zeroize::Zeroizing::new([0u8; N]);
    derive_into(label, salt, ikm, context, out.as_mut_slice());
    out
}

/// [`derive`] into a buffer the caller holds (and wipes), of at most
/// [`MAX_OUTPUT_LEN`] bytes; anything beyond that is left as it is.
pub(crate) fn derive_into(
    label: Label,
    salt: Option<&[u8]>,
    ikm: &[u8],
    context: &[u8],
    out: &mut [u8],
) {
    let prk = zeroize::Zeroizing::new(match salt {
        Some(salt) => HmacKey::new(salt).mac(&[ikm]),
        None => absent_salt().mac(&[ikm]),
    });
    let prk = HmacKey::new(prk.as_slice());
    let mut previous = zeroize::Zeroizing::new([0u8; TAG_LEN]);
    for (index, block) in out.chunks_mut(TAG_LEN).take(255).enumerate() {
        let mut run = prk.start();
        if index > 0 {
            run.update(previous.as_slice());
        }
        run.update(label.as_bytes());
        run.update(context);
        // At most 255 blocks (taken above), so the counter fits.
        run.update(&[(index + 1) as u8]);
        *previous = run.finish();
        block.copy_from_slice(&previous[..block.len()]);
    }
}

/// The extract step's key when there is no salt: RFC 5869 takes a hash
/// length of zeros. Public, so kept prepared for the whole process.
fn absent_salt() -> &'static HmacKey {
    static KEY: std::sync::OnceLock<HmacKey> = std::sync::OnceLock::new();
    KEY.get_or_init(|| HmacKey::new(&[0; TAG_LEN]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_distinct_and_versioned() {
        let mut seen = std::collections::HashSet::new();
        for label in Label::ALL {
            assert!(label.as_bytes().starts_with(b"fuin/v1/"));
            assert!(seen.insert(label.as_bytes()), "{label:?} repeats");
        }
    }

    #[test]
    fn the_spec_lists_every_label_with_its_length() {
        let spec = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../spec/protocol.md"
        ))
        .unwrap_or_default();
        for label in Label::ALL {
            let text = std::str::from_utf8(label.as_bytes()).unwrap_or_default();
            let row = format!("| `{text}` | {} |", text.len());
            assert!(spec.contains(&row), "spec/protocol.md §2 lacks {row}");
        }
    }

    /// The derivation agrees with the `hkdf` crate for every salt kind and
    /// every output length the protocol uses, across block boundaries.
    #[test]
    fn derive_agrees_with_the_hkdf_crate() {
        fn check<const N: usize>(salt: Option<&[u8]>, ikm: &[u8], context: &[u8]) {
            let ours = derive::<N>(Label::MessageKeys, salt, ikm, context);
            let mut info = Label::MessageKeys.as_bytes().to_vec();
            info.extend_from_slice(context);
            let mut expected = [0u8; N];
            hkdf_raw(salt, ikm, &info, &mut expected).unwrap();
            assert_eq!(*ours, expected, "{N} bytes, salt {salt:?}");
        }
        let long_salt = [5u8; 100];
        let long_context = [6u8; 150];
        for salt in [
            None,
            Some(&[][..]),
            Some(&[1u8; 16][..]),
            Some(&long_salt[..]),
        ] {
            for context in [&[][..], &b"context"[..], &long_context[..]] {
                check::<32>(salt, &[9; 32], context);
                check::<64>(salt, &[9; 160], context);
                check::<76>(salt, &[9; 32], context);
                check::<1>(salt, b"", context);
                check::<100>(salt, &[9; 70], context);
            }
        }
    }

    #[test]
    fn too_long_output_is_an_error() {
        let mut out = vec![0u8; MAX_OUTPUT_LEN + 1];
        assert!(hkdf_raw(None, b"ikm", b"info", &mut out).is_err());
        let mut out = vec![0u8; MAX_OUTPUT_LEN];
        assert!(hkdf_raw(None, b"ikm", b"info", &mut out).is_ok());
    }
}
