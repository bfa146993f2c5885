//! The properties the fuzz targets check, shared with the unit test that
//! replays their checked-in corpora, and a small fixture of genuine
//! messages for examples, seeds and benchmarks. Not part of the public API.

use fuin_seal::ConversationId;
use fuin_seal::primitives::franking::{self, FrankedMessage, hmac_sha256};
use fuin_wire::{
    ClientMessageId, ContentType, DeviceAddress, DeviceId, Ed25519PublicKey, Ed25519Signature,
    FrankingStamp, MessageId, Opaque, PublicIdentity, StampKeyId, UserId, X25519PublicKey,
    franking_stamp_input,
};
use rand_core::CryptoRng;

use crate::{
    FrankingKeyBytes, ModerationPublicKey, ModerationSecretKey, ReportContent, ReportError,
    ReportedMessage, StampKeySet, render_log, verify_log,
};

/// Bytes that decode as a report plaintext must encode back to themselves.
/// Returns a description of the first violation; bytes that do not decode
/// are fine.
pub fn content_violation(data: &[u8]) -> Option<String> {
    if let Ok(content) = crate::GroupReportContent::from_bytes(data) {
        return match content.to_bytes() {
            Ok(encoded) if encoded.as_slice() == data => None,
            Ok(_) => Some("re-encoding a group report gives different bytes".to_owned()),
            Err(err) => Some(format!("a decoded group report does not encode: {err}")),
        };
    }
    let Ok(content) = ReportContent::from_bytes(data) else {
        return None;
    };
    match content.to_bytes() {
        Ok(encoded) if encoded.as_slice() == data => None,
        Ok(_) => Some("re-encoding a report gives different bytes".to_owned()),
        Err(err) => Some(format!("a decoded report does not encode: {err}")),
    }
}

/// Moderation's files, read from arbitrary bytes: an audit log that
/// verifies renders back to records that verify to the same chain; a secret
/// key file that reads writes back the same bytes; a public key text that
/// reads writes back a text that reads the same.
pub fn files_violation(data: &[u8]) -> Option<String> {
    if let Ok(records) = verify_log(data) {
        match verify_log(&render_log(&records)) {
            Ok(again) if again == records => {}
            Ok(_) => return Some("a re-rendered audit log reads differently".to_owned()),
            Err(err) => return Some(format!("a re-rendered audit log is broken: {err}")),
        }
    }
    if let Ok(key) = ModerationSecretKey::from_bytes(data)
        && key.to_bytes().as_slice() != data
    {
        return Some("a secret key file writes back differently".to_owned());
    }
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(key) = ModerationPublicKey::from_text(text)
        && ModerationPublicKey::from_text(&key.to_text()).as_ref() != Ok(&key)
    {
        return Some("a public key text writes back differently".to_owned());
    }
    None
}

/// An address for fixtures.
pub fn address(user: &str, device: u32) -> Result<DeviceAddress<'static>, ReportError> {
    Ok(DeviceAddress::new(
        UserId::new(user.to_owned()).map_err(ReportError::Wire)?,
        DeviceId(device),
    ))
}

/// A public identity with fixed bytes (moderation does not check it).
pub fn identity() -> PublicIdentity {
    PublicIdentity {
        signing_key: Ed25519PublicKey([0x51; 32]),
        agreement_key: X25519PublicKey([0x52; 32]),
        signature: Ed25519Signature([0x53; 64]),
    }
}

/// A message from `sender` to `recipient` in their one-to-one conversation,
/// committed and stamped exactly as a sending device and a relay do it.
pub fn franked_message<R: CryptoRng + ?Sized>(
    rng: &mut R,
    sender: &DeviceAddress<'static>,
    recipient: &DeviceAddress<'static>,
    body: &[u8],
    stamp_key: &[u8; 32],
    stamp_key_id: StampKeyId,
    server_time_ms: u64,
) -> ReportedMessage<'static> {
    let mut nf = [0u8; 32];
    rng.fill_bytes(&mut nf);
    let mut id = [0u8; 16];
    rng.fill_bytes(&mut id);
    let mut server_id = [0u8; 16];
    rng.fill_bytes(&mut server_id);
    let message_id = ClientMessageId(id);
    let server_message_id = MessageId(server_id);
    let conversation = ConversationId::direct(&sender.user, &recipient.user);
    let franked = FrankedMessage {
        sender,
        conversation: &conversation,
        message_id: &message_id,
        content_type: ContentType::Text,
        body,
    };
    let commitment =
        franking::commit(&nf, &franked).unwrap_or(fuin_wire::FrankingCommitment([0; 32]));
    let input = franking_stamp_input(
        &commitment,
        sender,
        recipient,
        server_time_ms,
        &server_message_id,
        stamp_key_id,
    );
    let stamp = FrankingStamp(hmac_sha256(stamp_key, &[&input]));
    ReportedMessage {
        sender: sender.clone(),
        recipient: recipient.clone(),
        message_id,
        content_type: ContentType::Text,
        body: Opaque::from(body.to_vec()),
        franking_key: FrankingKeyBytes::new(&nf),
        commitment,
        stamp,
        stamp_key_id,
        server_time_ms,
        server_message_id,
    }
}

/// The fixture of the crate documentation's example: bob/1 reports one
/// message from carol/1, stamped with key 1 of the returned set.
#[allow(clippy::type_complexity)]
pub fn doc_example<R: CryptoRng + ?Sized>(
    rng: &mut R,
) -> Result<
    (
        DeviceAddress<'static>,
        PublicIdentity,
        UserId<'static>,
        Vec<ReportedMessage<'static>>,
        StampKeySet,
    ),
    ReportError,
> {
    let stamp_key = [0x5a; 32];
    let mut stamp_keys = StampKeySet::new();
    stamp_keys.insert(StampKeyId(1), &stamp_key, None)?;
    let reporter = address("bob", 1)?;
    let sender = address("carol", 1)?;
    let message = franked_message(
        rng,
        &sender,
        &reporter,
        b"send me your password",
        &stamp_key,
        StampKeyId(1),
        1_794_999_990_000,
    );
    Ok((
        reporter,
        identity(),
        sender.user.clone(),
        vec![message],
        stamp_keys,
    ))
}
