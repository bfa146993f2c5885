//! The computations of `spec/protocol.md`, written a second time directly on
//! the underlying crates (x25519-dalek, ed25519-dalek, hkdf, hmac, sha2,
//! aes-gcm, and RustCrypto's ml-kem where fuin-seal uses libcrux) rather than
//! through fuin-seal's wrappers. The vector generator
//! uses it to compute every intermediate value, and the vector test uses it
//! to check that fuin-seal's sessions produce exactly those bytes.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use ed25519_dalek::Signer;
use hmac::{Hmac, Mac};
use ml_kem::{EncapsulationKey768, KeyExport, MlKem768};
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

/// The committing AEAD's Open (spec/protocol.md §3): `None` on any failure.
pub fn aead_open(
    keys: &(Bytes32, [u8; 12], Bytes32),
    aad: &[u8],
    sealed: &[u8],
) -> Option<Vec<u8>> {
    if sealed.len() < 48 {
        return None;
    }
    let (commitment, rest) = sealed.split_at(32);
    let (body, tag) = rest.split_at(rest.len() - 16);
    // Test code: the reference has no timing to protect.
    if commitment != keys.2 {
        return None;
    }
    let cipher = Aes256Gcm::new(&Key::<Aes256Gcm>::from(keys.0));
    let mut plaintext = body.to_vec();
    let tag: [u8; 16] = tag.try_into().unwrap();
    cipher
        .decrypt_inout_detached(
            &Nonce::from(keys.1),
            aad,
            plaintext.as_mut_slice().into(),
            &tag.into(),
        )
        .ok()?;
    Some(plaintext)
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

// --- ML-KEM-768 (spec/protocol.md §1.2)

/// An ML-KEM-768 encapsulation key: 1,184 bytes.
pub const KEM_PUBLIC_KEY_LEN: usize = 1184;
/// An ML-KEM-768 ciphertext: 1,088 bytes.
pub const KEM_CIPHERTEXT_LEN: usize = 1088;

/// `KEM.KeyGen(seed)`: the encapsulation key of the key made by
/// `ML-KEM.KeyGen_internal(d = seed[0..32], z = seed[32..64])`.
pub fn kem_public_key(seed: &[u8; 64]) -> Vec<u8> {
    ml_kem::DecapsulationKey::<MlKem768>::from_seed((*seed).into())
        .encapsulation_key()
        .to_bytes()
        .to_vec()
}

/// `KEM.Encaps(EK, m)` after `KEM.Check(EK)`: ciphertext and shared secret.
/// `None` when the key fails the check.
pub fn kem_encapsulate(public_key: &[u8], m: &Bytes32) -> Option<(Vec<u8>, Bytes32)> {
    let key: &ml_kem::Key<EncapsulationKey768> = public_key.try_into().ok()?;
    let key = EncapsulationKey768::new(key).ok()?;
    let (ciphertext, shared) = key.encapsulate_deterministic(&(*m).into());
    Some((ciphertext.to_vec(), shared.into()))
}

/// `KEM.Decaps(seed, CT)`: never fails on a ciphertext of the right size
/// (an altered one gives an unrelated secret, implicit rejection).
pub fn kem_decapsulate(seed: &[u8; 64], ciphertext: &[u8]) -> Bytes32 {
    use ml_kem::Decapsulate;
    let key = ml_kem::DecapsulationKey::<MlKem768>::from_seed((*seed).into());
    let ciphertext: &ml_kem::Ciphertext<MlKem768> = ciphertext.try_into().unwrap();
    key.decapsulate(ciphertext).into()
}

/// `κ`: the identity's signature over `framed(id, EK)` (spec/protocol.md §5.2).
pub fn kem_prekey_signature(seed: &Bytes32, id: u32, public: &[u8]) -> [u8; 64] {
    sign(
        seed,
        b"fuin/v1/kem-prekey-signature",
        &framed(&[&id.to_be_bytes(), public]),
    )
}

pub struct Address<'a> {
    pub user: &'a str,
    pub device: u32,
}

/// The handshake transcript (spec/protocol.md §6.2): 16 fields, the last
/// three the KEM prekey's id and key and the ciphertext.
#[allow(clippy::too_many_arguments)]
pub fn transcript(
    initiator: (&Bytes32, &Bytes32),
    responder: (&Bytes32, &Bytes32),
    initiator_address: &Address<'_>,
    responder_address: &Address<'_>,
    base_key: &Bytes32,
    signed_prekey: (u32, &Bytes32),
    one_time_prekey: Option<(u32, &Bytes32)>,
    kem: (u32, &[u8], &[u8]),
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
        &kem.0.to_be_bytes(),
        kem.1,
        kem.2,
    ])
}

/// The handshake's `ikm`: the DH outputs in order, then the ML-KEM shared
/// secret (spec/protocol.md §6.1).
pub fn handshake_ikm(dh: &[Bytes32], kem_shared_secret: &Bytes32) -> Vec<u8> {
    let mut ikm: Vec<u8> = dh.concat();
    ikm.extend_from_slice(kem_shared_secret);
    ikm
}

/// The handshake's root key from its `ikm` and the transcript.
pub fn handshake_root(ikm: &[u8], transcript: &[u8]) -> Bytes32 {
    let mut info = b"fuin/v1/hybrid-handshake".to_vec();
    info.extend_from_slice(transcript);
    hkdf(None, ikm, &info, 32).try_into().unwrap()
}

/// The protocol version bound into every one-to-one message's associated
/// data (group messages keep their own, `group_reference`).
pub const PROTOCOL_VERSION: u8 = 3;

/// A ratchet header: ratchet key, previous chain length, counter, salt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub ratchet_key: Bytes32,
    pub previous_chain_length: u32,
    pub counter: u32,
    pub salt: [u8; 16],
}

/// The KEM encapsulation of a prekey message: which KEM prekey, and the
/// ciphertext (1,088 bytes from an honest initiator).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KemEncapsulation {
    pub kem_prekey_id: u32,
    pub ciphertext: Vec<u8>,
}

/// The handshake fields a prekey message carries next to its ratchet
/// message: base key, signed prekey id, one-time prekey id if any, and the
/// KEM encapsulation (absent only in an altered or version 2 frame).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HandshakeFields {
    pub base_key: Bytes32,
    pub signed_prekey_id: u32,
    pub one_time_prekey_id: Option<u32>,
    pub kem: Option<KemEncapsulation>,
}

/// A message's associated data (spec/protocol.md §8): 21 framed fields,
/// the last five empty for a plain message.
#[allow(clippy::too_many_arguments)]
pub fn associated_data(
    sender: (&Bytes32, &Bytes32),
    recipient: (&Bytes32, &Bytes32),
    sender_address: &Address<'_>,
    recipient_address: &Address<'_>,
    header: &Header,
    content_kind: u32,
    commitment: &Bytes32,
    handshake: Option<&HandshakeFields>,
) -> Vec<u8> {
    let signed_id = handshake.map(|h| h.signed_prekey_id.to_be_bytes());
    let one_time_id = handshake
        .and_then(|h| h.one_time_prekey_id)
        .map(u32::to_be_bytes);
    let base_key: &[u8] = handshake.map_or(&[], |h| &h.base_key);
    let kem = handshake.and_then(|h| h.kem.as_ref());
    let kem_id = kem.map(|kem| kem.kem_prekey_id.to_be_bytes());
    framed(&[
        b"fuin/v1/message-ad",
        &[PROTOCOL_VERSION],
        sender.0,
        sender.1,
        recipient.0,
        recipient.1,
        sender_address.user.as_bytes(),
        &sender_address.device.to_be_bytes(),
        recipient_address.user.as_bytes(),
        &recipient_address.device.to_be_bytes(),
        &header.ratchet_key,
        &header.previous_chain_length.to_be_bytes(),
        &header.counter.to_be_bytes(),
        &header.salt,
        &content_kind.to_be_bytes(),
        commitment,
        base_key,
        signed_id.as_ref().map_or(&[][..], |id| id.as_slice()),
        one_time_id.as_ref().map_or(&[][..], |id| id.as_slice()),
        kem_id.as_ref().map_or(&[][..], |id| id.as_slice()),
        kem.map_or(&[][..], |kem| kem.ciphertext.as_slice()),
    ])
}

/// GCM key, nonce and commitment of one message key under its header's salt.
pub fn message_keys(salt: &[u8; 16], message_key: &Bytes32) -> (Bytes32, [u8; 12], Bytes32) {
    aead_keys(b"fuin/v1/message-keys", Some(salt), message_key)
}

// --- frames, encoded by hand from spec/wire.md (wire version 1)

/// An unsigned LEB128 varint, shortest form.
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

/// `bytes` / `text`: a varint length, then the bytes.
pub fn length_prefixed(out: &mut Vec<u8>, value: &[u8]) {
    varint(out, value.len() as u64);
    out.extend_from_slice(value);
}

fn header_fields(out: &mut Vec<u8>, header: &Header, ciphertext: &[u8]) {
    out.extend_from_slice(&header.ratchet_key);
    varint(out, u64::from(header.previous_chain_length));
    varint(out, u64::from(header.counter));
    out.extend_from_slice(&header.salt);
    length_prefixed(out, ciphertext);
}

/// Tag 37: `RatchetMessage`.
pub fn ratchet_message_frame(header: &Header, ciphertext: &[u8]) -> Vec<u8> {
    let mut out = vec![1, 37];
    header_fields(&mut out, header, ciphertext);
    out
}

/// `option<PrekeyId>`: absent, or present and a varint.
fn optional_id(out: &mut Vec<u8>, id: Option<u32>) {
    match id {
        None => out.push(0),
        Some(id) => {
            out.push(1);
            varint(out, u64::from(id));
        }
    }
}

/// Tag 40: `PrekeyMessage`, the initiator's public identity given as
/// signing key, agreement key and signature. The KEM encapsulation is an
/// option: the id as a varint, then the ciphertext's raw bytes (no length).
pub fn prekey_message_frame(
    initiator: (&Bytes32, &Bytes32, &[u8; 64]),
    handshake: &HandshakeFields,
    header: &Header,
    ciphertext: &[u8],
) -> Vec<u8> {
    let mut out = vec![1, 40];
    out.extend_from_slice(initiator.0);
    out.extend_from_slice(initiator.1);
    out.extend_from_slice(initiator.2);
    out.extend_from_slice(&handshake.base_key);
    varint(&mut out, u64::from(handshake.signed_prekey_id));
    optional_id(&mut out, handshake.one_time_prekey_id);
    match &handshake.kem {
        None => out.push(0),
        Some(kem) => {
            out.push(1);
            varint(&mut out, u64::from(kem.kem_prekey_id));
            out.extend_from_slice(&kem.ciphertext);
        }
    }
    header_fields(&mut out, header, ciphertext);
    out
}

/// A signed prekey as a bundle carries it: id, public key, signature.
pub struct BundlePrekey<'a> {
    pub id: u32,
    pub public_key: &'a [u8],
    pub signature: &'a [u8; 64],
}

/// Tag 41: `PrekeyBundle`. The tag-1 fields (address, identity, signed
/// prekey, optional one-time prekey), then the optional KEM prekey (id,
/// the 1,184 raw bytes of its key, signature).
pub fn prekey_bundle_frame(
    address: &Address<'_>,
    identity: (&Bytes32, &Bytes32, &[u8; 64]),
    signed_prekey: &BundlePrekey<'_>,
    one_time_prekey: Option<(u32, &Bytes32)>,
    kem_prekey: Option<&BundlePrekey<'_>>,
) -> Vec<u8> {
    let mut out = vec![1, 41];
    length_prefixed(&mut out, address.user.as_bytes());
    varint(&mut out, u64::from(address.device));
    out.extend_from_slice(identity.0);
    out.extend_from_slice(identity.1);
    out.extend_from_slice(identity.2);
    varint(&mut out, u64::from(signed_prekey.id));
    out.extend_from_slice(signed_prekey.public_key);
    out.extend_from_slice(signed_prekey.signature);
    match one_time_prekey {
        None => out.push(0),
        Some((id, key)) => {
            out.push(1);
            varint(&mut out, u64::from(id));
            out.extend_from_slice(key);
        }
    }
    match kem_prekey {
        None => out.push(0),
        Some(kem) => {
            out.push(1);
            varint(&mut out, u64::from(kem.id));
            out.extend_from_slice(kem.public_key);
            out.extend_from_slice(kem.signature);
        }
    }
    out
}

/// Tag 8: `MessageContent`, with a `Direct { peer }` conversation.
#[allow(clippy::too_many_arguments)]
pub fn message_content_frame(
    content_type: u32,
    message_id: &[u8; 16],
    sequence: u64,
    sent_at_ms: u64,
    peer: &str,
    franking_key: &Bytes32,
    body: &[u8],
) -> Vec<u8> {
    let mut out = vec![1, 8];
    varint(&mut out, u64::from(content_type));
    out.extend_from_slice(message_id);
    varint(&mut out, sequence);
    varint(&mut out, sent_at_ms);
    varint(&mut out, 0); // ConversationRef::Direct
    length_prefixed(&mut out, peer.as_bytes());
    out.extend_from_slice(franking_key);
    length_prefixed(&mut out, body);
    out
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

// --- bundle verification (spec/protocol.md §5.5)

/// protocol.md §4: the seven small-order u-coordinates, compared after
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

pub fn on_blocklist(key: &Bytes32) -> bool {
    let mut cleared = *key;
    cleared[31] &= 0x7f;
    SMALL_ORDER
        .iter()
        .any(|entry| hex::decode(entry).unwrap() == cleared)
}

/// `Verify`: strict Ed25519 (ed25519-dalek's `verify_strict`) over
/// `label || message`.
pub fn verify(key: &Bytes32, label: &[u8], message: &[u8], signature: &[u8; 64]) -> bool {
    let Ok(key) = ed25519_dalek::VerifyingKey::from_bytes(key) else {
        return false;
    };
    let mut signed = label.to_vec();
    signed.extend_from_slice(message);
    key.verify_strict(&signed, &ed25519_dalek::Signature::from_bytes(signature))
        .is_ok()
}

/// `KEM.Check(EK)`: 1,184 bytes, every 12-bit coefficient below q = 3329
/// (checked here by hand, and again by ml-kem's own decoding).
pub fn kem_key_check(public_key: &[u8]) -> bool {
    if public_key.len() != KEM_PUBLIC_KEY_LEN {
        return false;
    }
    // 768 coefficients, two in every 3 bytes of the first 1,152.
    let in_range = public_key[..1152].chunks(3).all(|b| {
        let low = u16::from(b[0]) | (u16::from(b[1] & 0x0f) << 8);
        let high = u16::from(b[1] >> 4) | (u16::from(b[2]) << 4);
        low < 3329 && high < 3329
    });
    let decodes = kem_encapsulate(public_key, &[0; 32]).is_some();
    assert_eq!(in_range, decodes, "the two key checks disagree");
    in_range
}

/// A bundle as an initiator receives it, field by field (tag 41).
#[derive(Clone)]
pub struct Bundle {
    pub user: String,
    pub device: u32,
    pub identity: (Bytes32, Bytes32, [u8; 64]),
    pub signed_prekey: (u32, Bytes32, [u8; 64]),
    pub one_time_prekey: Option<(u32, Bytes32)>,
    pub kem_prekey: Option<(u32, Vec<u8>, [u8; 64])>,
}

impl Bundle {
    pub fn frame(&self) -> Vec<u8> {
        let (id, key, signature) = &self.signed_prekey;
        prekey_bundle_frame(
            &Address {
                user: &self.user,
                device: self.device,
            },
            (&self.identity.0, &self.identity.1, &self.identity.2),
            &BundlePrekey {
                id: *id,
                public_key: key,
                signature,
            },
            self.one_time_prekey.as_ref().map(|(id, key)| (*id, key)),
            self.kem_prekey
                .as_ref()
                .map(|(id, key, signature)| BundlePrekey {
                    id: *id,
                    public_key: key,
                    signature,
                })
                .as_ref(),
        )
    }

    /// The checks of §5.5 in order, for the device `user/device`, with no
    /// identity trusted yet; the first failure, by its error's name.
    pub fn verify(&self, user: &str, device: u32) -> Result<(), &'static str> {
        if self.user != user || self.device != device {
            return Err("AddressMismatch");
        }
        let (signing, agreement, identity_signature) = &self.identity;
        if on_blocklist(agreement) {
            return Err("WeakPublicKey");
        }
        if !verify(
            signing,
            b"fuin/v1/identity-signature",
            agreement,
            identity_signature,
        ) {
            return Err("BadSignature");
        }
        let (spk_id, spk, spk_signature) = &self.signed_prekey;
        if on_blocklist(spk) {
            return Err("WeakPublicKey");
        }
        if !verify(
            signing,
            b"fuin/v1/signed-prekey-signature",
            &framed(&[&spk_id.to_be_bytes(), spk]),
            spk_signature,
        ) {
            return Err("BadSignature");
        }
        if let Some((_, opk)) = &self.one_time_prekey
            && on_blocklist(opk)
        {
            return Err("WeakPublicKey");
        }
        let Some((kem_id, kem_key, kem_signature)) = &self.kem_prekey else {
            return Err("MissingKemPrekey");
        };
        if !kem_key_check(kem_key) {
            return Err("InvalidKemKey");
        }
        if !verify(
            signing,
            b"fuin/v1/kem-prekey-signature",
            &framed(&[&kem_id.to_be_bytes(), kem_key]),
            kem_signature,
        ) {
            return Err("BadSignature");
        }
        Ok(())
    }
}
