//! The computations of `spec/protocol.md`, written a second time directly on
//! the underlying crates (x25519-dalek, ed25519-dalek, hkdf, hmac, sha2,
//! aes-gcm) rather than through fuin-seal's wrappers. The vector generator
//! uses it to compute every intermediate value, and the vector test uses it
//! to check that fuin-seal's sessions produce exactly those bytes.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use ed25519_dalek::Signer;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

pub type Bytes32 = [u8; 32];

/// `framed(fields)`: each field as a 4-byte big-endian length and its bytes.
pub fn framed(fields: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for field in fields {
        out.extend_from_slice(&(field.len() as u32).to_be_bytes());
        out.extend_from_slice(field);
    }
    out
}

pub fn hkdf(salt: Option<&[u8]>, ikm: &[u8], info: &[u8], len: usize) -> Vec<u8> {
    let mut out = vec![0u8; len];
    hkdf::Hkdf::<Sha256>::new(salt, ikm)
        .expand(info, &mut out)
        .unwrap();
    out
}

pub fn hmac(key: &[u8], data: &[u8]) -> Bytes32 {
    let mut mac = <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(key).unwrap();
    mac.update(data);
    mac.finalize().into_bytes().into()
}

pub fn sha256(data: &[u8]) -> Bytes32 {
    Sha256::digest(data).into()
}

pub fn x25519_public(secret: &Bytes32) -> Bytes32 {
    x25519_dalek::x25519(*secret, x25519_dalek::X25519_BASEPOINT_BYTES)
}

/// X25519, refusing an all-zero result.
pub fn x25519(secret: &Bytes32, public: &Bytes32) -> Bytes32 {
    let shared = x25519_dalek::x25519(*secret, *public);
    assert_ne!(shared, [0; 32], "non-contributory agreement");
    shared
}

pub fn ed25519_public(seed: &Bytes32) -> Bytes32 {
    ed25519_dalek::SigningKey::from_bytes(seed)
        .verifying_key()
        .to_bytes()
}

/// Ed25519 over `label || message`.
pub fn sign(seed: &Bytes32, label: &[u8], message: &[u8]) -> [u8; 64] {
    let mut signed = label.to_vec();
    signed.extend_from_slice(message);
    ed25519_dalek::SigningKey::from_bytes(seed)
        .sign(&signed)
        .to_bytes()
}

fn split32(bytes: &[u8]) -> (Bytes32, Bytes32) {
    (
        bytes[..32].try_into().unwrap(),
        bytes[32..64].try_into().unwrap(),
    )
}

/// Root step: HKDF(salt = root key, ikm = DH output, info = label) -> 64 bytes.
pub fn root_step(root: &Bytes32, dh: &Bytes32) -> (Bytes32, Bytes32) {
    split32(&hkdf(Some(root), dh, b"fuin/v1/ratchet-root", 64))
}

/// Chain step: message key and next chain key, each an HMAC of a label.
pub fn chain_step(chain: &Bytes32) -> (Bytes32, Bytes32) {
    (
        hmac(chain, b"fuin/v1/chain-message-key"),
        hmac(chain, b"fuin/v1/chain-next-key"),
    )
}

/// The key-committing AEAD's derivation: GCM key, nonce, commitment.
pub fn aead_keys(
    label: &[u8],
    salt: Option<&[u8]>,
    key_material: &[u8],
) -> (Bytes32, [u8; 12], Bytes32) {
    let out = hkdf(salt, key_material, label, 76);
    (
        out[..32].try_into().unwrap(),
        out[32..44].try_into().unwrap(),
        out[44..].try_into().unwrap(),
    )
}

/// commitment || AES-256-GCM(key, nonce, aad, plaintext) || tag.
pub fn aead_seal(keys: &(Bytes32, [u8; 12], Bytes32), aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let cipher = Aes256Gcm::new(&Key::<Aes256Gcm>::from(keys.0));
    let mut body = plaintext.to_vec();
    let tag = cipher
        .encrypt_inout_detached(&Nonce::from(keys.1), aad, body.as_mut_slice().into())
        .unwrap();
    let mut out = keys.2.to_vec();
    out.extend_from_slice(&body);
    out.extend_from_slice(&tag);
    out
}

pub struct Identity {
    pub signing_seed: Bytes32,
    pub agreement_secret: Bytes32,
}

impl Identity {
    pub fn signing_key(&self) -> Bytes32 {
        ed25519_public(&self.signing_seed)
    }
    pub fn agreement_key(&self) -> Bytes32 {
        x25519_public(&self.agreement_secret)
    }
    pub fn signature(&self) -> [u8; 64] {
        sign(
            &self.signing_seed,
            b"fuin/v1/identity-signature",
            &self.agreement_key(),
        )
    }
}

pub fn signed_prekey_signature(seed: &Bytes32, id: u32, public: &Bytes32) -> [u8; 64] {
    sign(
        seed,
        b"fuin/v1/signed-prekey-signature",
        &framed(&[&id.to_be_bytes(), public]),
    )
}

pub struct Address<'a> {
    pub user: &'a str,
    pub device: u32,
}

/// The handshake transcript (spec/protocol.md, "Handshake").
#[allow(clippy::too_many_arguments)]
pub fn transcript(
    initiator: (&Bytes32, &Bytes32),
    responder: (&Bytes32, &Bytes32),
    initiator_address: &Address<'_>,
    responder_address: &Address<'_>,
    base_key: &Bytes32,
    signed_prekey: (u32, &Bytes32),
    one_time_prekey: Option<(u32, &Bytes32)>,
) -> Vec<u8> {
    let signed_id = signed_prekey.0.to_be_bytes();
    let one_time_id = one_time_prekey.map(|(id, _)| id.to_be_bytes());
    let (one_time_id, one_time_key): (&[u8], &[u8]) = match (&one_time_id, one_time_prekey) {
        (Some(id), Some((_, key))) => (id, key),
        _ => (&[], &[]),
    };
    framed(&[
        initiator.0,
        initiator.1,
        responder.0,
        responder.1,
        initiator_address.user.as_bytes(),
        &initiator_address.device.to_be_bytes(),
        responder_address.user.as_bytes(),
        &responder_address.device.to_be_bytes(),
        base_key,
        &signed_id,
        signed_prekey.1,
        one_time_id,
        one_time_key,
    ])
}

/// The handshake's root key from the DH outputs and the transcript.
pub fn handshake_root(dh: &[Bytes32], transcript: &[u8]) -> Bytes32 {
    let ikm: Vec<u8> = dh.concat();
    let mut info = b"fuin/v1/handshake".to_vec();
    info.extend_from_slice(transcript);
    hkdf(None, &ikm, &info, 32).try_into().unwrap()
}

/// A message's associated data.
#[allow(clippy::too_many_arguments)]
pub fn associated_data(
    sender: (&Bytes32, &Bytes32),
    recipient: (&Bytes32, &Bytes32),
    sender_address: &Address<'_>,
    recipient_address: &Address<'_>,
    header: (&Bytes32, u32, u32),
    content_kind: u32,
    commitment: &Bytes32,
) -> Vec<u8> {
    framed(&[
        b"fuin/v1/message-ad",
        &[1],
        sender.0,
        sender.1,
        recipient.0,
        recipient.1,
        sender_address.user.as_bytes(),
        &sender_address.device.to_be_bytes(),
        recipient_address.user.as_bytes(),
        &recipient_address.device.to_be_bytes(),
        header.0,
        &header.1.to_be_bytes(),
        &header.2.to_be_bytes(),
        &content_kind.to_be_bytes(),
        commitment,
    ])
}

/// The id of the one-to-one conversation between two users.
pub fn direct_conversation(a: &str, b: &str) -> Bytes32 {
    let (first, second) = if a.as_bytes() <= b.as_bytes() {
        (a, b)
    } else {
        (b, a)
    };
    sha256(&framed(&[
        b"fuin/v1/direct-conversation",
        first.as_bytes(),
        second.as_bytes(),
    ]))
}

/// A franking commitment.
pub fn franking_commitment(
    franking_key: &Bytes32,
    sender: &Address<'_>,
    conversation: &Bytes32,
    message_id: &[u8; 16],
    content_type: u32,
    body: &[u8],
) -> Bytes32 {
    hmac(
        franking_key,
        &framed(&[
            b"fuin/v1/franking-commitment",
            sender.user.as_bytes(),
            &sender.device.to_be_bytes(),
            conversation,
            message_id,
            &content_type.to_be_bytes(),
            body,
        ]),
    )
}

/// A 60-digit safety number.
pub fn safety_number(a: (&str, &Bytes32, &Bytes32), b: (&str, &Bytes32, &Bytes32)) -> String {
    let half = |(user, signing, agreement): (&str, &Bytes32, &Bytes32)| {
        let mut hash = sha256(&framed(&[
            b"fuin/v1/safety-number",
            user.as_bytes(),
            signing,
            agreement,
        ]));
        for _ in 1..5200 {
            let mut input = hash.to_vec();
            input.extend_from_slice(signing);
            input.extend_from_slice(agreement);
            hash = sha256(&input);
        }
        hash[..30]
            .chunks(5)
            .map(|chunk| {
                let value = chunk.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
                format!("{:05}", value % 100_000)
            })
            .collect::<String>()
    };
    let (first, second) = if (a.0.as_bytes(), a.1) <= (b.0.as_bytes(), b.1) {
        (a, b)
    } else {
        (b, a)
    };
    half(first) + &half(second)
}
