//! The computations of `spec/accounts.md`, written a second time from the
//! spec alone, directly on the crypto crates (ed25519-dalek, sha2, hkdf,
//! aes-gcm, x25519-dalek, and RustCrypto's ml-kem for the hybrid grant) and with the wire encodings written out by hand from the tables
//! of `spec/wire.md` and `spec/accounts.md`, not through fuin-wire or
//! fuin-seal. The account vector generator and test check fuin-seal against
//! it.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use subtle::ConstantTimeEq;

use super::reference::{self as r, Bytes32};

pub const DEVICE_LIST_LABEL: &[u8] = b"fuin/v1/device-list";
pub const ACCOUNT_SAFETY_NUMBER_LABEL: &[u8] = b"fuin/v1/account-safety-number";
pub const LINK_FINGERPRINT_LABEL: &[u8] = b"fuin/v1/link-fingerprint";
pub const LINK_KEYS_LABEL: &[u8] = b"fuin/v1/link-keys";
pub const LINK_SEAL_LABEL: &[u8] = b"fuin/v1/link-seal";
pub const LINK_REQUEST_LABEL: &[u8] = b"fuin/v1/link-request";
pub const LINK_GRANT_LABEL: &[u8] = b"fuin/v1/link-grant";
pub const LINK_GRANT_KEYS_LABEL: &[u8] = b"fuin/v1/link-grant-keys";
pub const LINK_GRANT_TRANSCRIPT_LABEL: &[u8] = b"fuin/v1/link-grant-transcript";
/// wire.md §1: the version byte of every frame.
pub const WIRE_VERSION: u8 = 1;
pub const TAG_SIGNED_DEVICE_LIST: u8 = 32;
pub const TAG_ACCOUNT_REGISTRATION: u8 = 33;
pub const TAG_LINK_MESSAGE: u8 = 34;
/// Tag 48 since protocol version 3 (tag 35 is retired).
pub const TAG_LINK_REQUEST: u8 = 48;
pub const TAG_LINK_GRANT: u8 = 36;
/// accounts.md §2: at most 16 devices.
pub const MAX_DEVICES: usize = 16;

// ---------------------------------------------------------------------------
// Encodings (wire.md §2)
// ---------------------------------------------------------------------------

/// Unsigned LEB128: 7 bits a byte, least significant first.
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

/// `text` and `bytes`: a varint length, then the bytes.
pub fn with_length(out: &mut Vec<u8>, bytes: &[u8]) {
    varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// A frame: version byte, tag (one varint byte for these tags), body.
pub fn frame(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![WIRE_VERSION];
    varint(&mut out, u64::from(tag));
    out.extend_from_slice(body);
    out
}

/// The 128-byte `Identity` body: signing key, agreement key, signature.
pub fn identity_body(identity: &r::Identity) -> [u8; 128] {
    let mut out = [0u8; 128];
    out[..32].copy_from_slice(&identity.signing_key());
    out[32..64].copy_from_slice(&identity.agreement_key());
    out[64..].copy_from_slice(&identity.signature());
    out
}

/// One `AccountDevice` of a list (accounts.md §2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Device {
    pub id: u32,
    pub identity: [u8; 128],
    pub name: String,
    pub added_at_ms: u64,
}

/// A `DeviceListContent` (accounts.md §2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Content {
    pub user: String,
    pub account_key: Bytes32,
    pub version: u64,
    pub created_at_ms: u64,
    pub devices: Vec<Device>,
}

/// `encode(content)`: user (text), account key (32), version and
/// created_at_ms (varints), the device count (varint) and each device:
/// id (varint), identity (128), name (text), added_at_ms (varint).
pub fn encode_content(content: &Content) -> Vec<u8> {
    let mut out = Vec::new();
    with_length(&mut out, content.user.as_bytes());
    out.extend_from_slice(&content.account_key);
    varint(&mut out, content.version);
    varint(&mut out, content.created_at_ms);
    varint(&mut out, content.devices.len() as u64);
    for device in &content.devices {
        varint(&mut out, u64::from(device.id));
        out.extend_from_slice(&device.identity);
        with_length(&mut out, device.name.as_bytes());
        varint(&mut out, device.added_at_ms);
    }
    out
}

/// The signed string of accounts.md §3: the label's raw bytes, then the
/// content's encoding.
pub fn signed_string(content: &Content) -> Vec<u8> {
    let mut out = DEVICE_LIST_LABEL.to_vec();
    out.extend_from_slice(&encode_content(content));
    out
}

/// `Ed25519-Sign(AK, "fuin/v1/device-list" || encode(content))`.
pub fn sign_list(account_seed: &Bytes32, content: &Content) -> [u8; 64] {
    r::sign(account_seed, DEVICE_LIST_LABEL, &encode_content(content))
}

/// The body of a `SignedDeviceList` (tag 32): the content, then the signature.
pub fn list_body(content: &Content, signature: &[u8; 64]) -> Vec<u8> {
    let mut out = encode_content(content);
    out.extend_from_slice(signature);
    out
}

/// The whole tag-32 frame.
pub fn list_frame(content: &Content, signature: &[u8; 64]) -> Vec<u8> {
    frame(TAG_SIGNED_DEVICE_LIST, &list_body(content, signature))
}

/// Tag 33: the list's body, then `option<InviteCode>` (`00`, or `01` and
/// 32 bytes).
pub fn account_registration_frame(list_body: &[u8], invite: Option<&Bytes32>) -> Vec<u8> {
    let mut body = list_body.to_vec();
    match invite {
        None => body.push(0),
        Some(code) => {
            body.push(1);
            body.extend_from_slice(code);
        }
    }
    frame(TAG_ACCOUNT_REGISTRATION, &body)
}

/// Tag 34: `sealed` as `bytes`.
pub fn link_message_frame(sealed: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    with_length(&mut body, sealed);
    frame(TAG_LINK_MESSAGE, &body)
}

/// Tag 48: identity (128), name (text), created_at_ms (varint), the grant
/// key's X25519 (32) and ML-KEM-768 (1,184) halves.
pub fn link_request_frame(
    identity: &[u8; 128],
    name: &str,
    created_at_ms: u64,
    grant_key_x25519: &[u8; 32],
    grant_key_ml_kem: &[u8],
) -> Vec<u8> {
    let mut body = identity.to_vec();
    with_length(&mut body, name.as_bytes());
    varint(&mut body, created_at_ms);
    // The grant key's two halves, fixed-size (wire-groups-accounts.md, tag 48).
    body.extend_from_slice(grant_key_x25519);
    body.extend_from_slice(grant_key_ml_kem);
    frame(TAG_LINK_REQUEST, &body)
}

/// Tag 36: address (user text, device varint), the account key's 32-byte
/// seed, the new list's body.
pub fn link_grant_frame(
    user: &str,
    device: u32,
    account_seed: &Bytes32,
    list_body: &[u8],
) -> Vec<u8> {
    let mut body = Vec::new();
    with_length(&mut body, user.as_bytes());
    varint(&mut body, u64::from(device));
    body.extend_from_slice(account_seed);
    body.extend_from_slice(list_body);
    frame(TAG_LINK_GRANT, &body)
}

/// A small decoder for a `SignedDeviceList` frame, enough to verify lists
/// given as bytes (canonical forms and field rules are fuin-wire's tests).
pub fn decode_list_frame(bytes: &[u8]) -> Option<(Content, [u8; 64])> {
    struct Reader<'a>(&'a [u8]);
    impl Reader<'_> {
        fn take(&mut self, n: usize) -> Option<&[u8]> {
            if self.0.len() < n {
                return None;
            }
            let (head, tail) = self.0.split_at(n);
            self.0 = tail;
            Some(head)
        }
        fn varint(&mut self) -> Option<u64> {
            let mut value = 0u64;
            for shift in (0..70).step_by(7) {
                let byte = *self.take(1)?.first()?;
                value |= u64::from(byte & 0x7f).checked_shl(shift)?;
                if byte & 0x80 == 0 {
                    return Some(value);
                }
            }
            None
        }
        fn text(&mut self) -> Option<String> {
            let len = usize::try_from(self.varint()?).ok()?;
            String::from_utf8(self.take(len)?.to_vec()).ok()
        }
    }
    let mut reader = Reader(bytes);
    if reader.take(2)? != [WIRE_VERSION, TAG_SIGNED_DEVICE_LIST] {
        return None;
    }
    let user = reader.text()?;
    let account_key = reader.take(32)?.try_into().ok()?;
    let version = reader.varint()?;
    let created_at_ms = reader.varint()?;
    let count = reader.varint()?;
    let mut devices = Vec::new();
    for _ in 0..count.min(MAX_DEVICES as u64 + 1) {
        devices.push(Device {
            id: u32::try_from(reader.varint()?).ok()?,
            identity: reader.take(128)?.try_into().ok()?,
            name: reader.text()?,
            added_at_ms: reader.varint()?,
        });
    }
    let signature = reader.take(64)?.try_into().ok()?;
    if !reader.0.is_empty() || devices.len() as u64 != count {
        return None;
    }
    Some((
        Content {
            user,
            account_key,
            version,
            created_at_ms,
            devices,
        },
        signature,
    ))
}

// ---------------------------------------------------------------------------
// Verification (accounts.md §3)
// ---------------------------------------------------------------------------

/// protocol.md §4: the small-order blocklist, compared after clearing the
/// top bit.
const BLOCKLIST: [&str; 7] = [
    "0000000000000000000000000000000000000000000000000000000000000000",
    "0100000000000000000000000000000000000000000000000000000000000000",
    "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
    "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
];

/// `Verify(A, label, m, sig)`: strict Ed25519 over `label || m`.
pub fn verify_strict(key: &Bytes32, label: &[u8], message: &[u8], signature: &[u8; 64]) -> bool {
    let Ok(key) = ed25519_dalek::VerifyingKey::from_bytes(key) else {
        return false;
    };
    let mut signed = label.to_vec();
    signed.extend_from_slice(message);
    key.verify_strict(&signed, &ed25519_dalek::Signature::from_bytes(signature))
        .is_ok()
}

/// protocol.md §5.1: the agreement key off the blocklist, then the identity
/// signature.
pub fn verify_identity(identity: &[u8; 128]) -> Result<(), String> {
    let mut agreement: Bytes32 = identity[32..64].try_into().unwrap();
    agreement[31] &= 0x7f;
    if BLOCKLIST
        .iter()
        .any(|entry| hex::decode(entry).unwrap() == agreement)
    {
        return Err("WeakPublicKey".into());
    }
    let signing: Bytes32 = identity[..32].try_into().unwrap();
    let signature: [u8; 64] = identity[64..].try_into().unwrap();
    if !verify_strict(
        &signing,
        b"fuin/v1/identity-signature",
        &identity[32..64],
        &signature,
    ) {
        return Err("BadSignature".into());
    }
    Ok(())
}

/// An `InvalidDeviceList` error, written as fuin-seal's `Debug` writes it.
fn invalid(reason: &str) -> String {
    format!("InvalidDeviceList {{ reason: {reason:?} }}")
}

/// The checks of accounts.md §3, in order; the first failure is the result,
/// named as fuin-seal's `SealError` prints with `Debug`
/// (`DeviceListRollback { version: 2, newest: 3 }`).
pub fn verify_list(
    content: &Content,
    signature: &[u8; 64],
    user: &str,
    trusted: Option<&Bytes32>,
    newest: Option<u64>,
) -> Result<(), String> {
    // 1. The list is of the user asked about.
    if content.user != user {
        return Err(invalid("the list is of another user"));
    }
    // 2. Its account key is the trusted one, if one is trusted.
    if trusted.is_some_and(|key| *key != content.account_key) {
        return Err("AccountKeyMismatch".into());
    }
    // 3. The signature verifies strictly under the list's own account key.
    if !verify_strict(
        &content.account_key,
        DEVICE_LIST_LABEL,
        &encode_content(content),
        signature,
    ) {
        return Err("BadSignature".into());
    }
    // 4. No rollback.
    if let Some(newest) = newest
        && content.version < newest
    {
        return Err(format!(
            "DeviceListRollback {{ version: {}, newest: {newest} }}",
            content.version
        ));
    }
    // 5. At least one device; then, device by device in list order, a
    //    signing key no earlier device has, and an identity that verifies.
    if content.devices.is_empty() {
        return Err(invalid("the list names no device"));
    }
    for (i, device) in content.devices.iter().enumerate() {
        if content.devices[..i]
            .iter()
            .any(|earlier| earlier.identity[..32] == device.identity[..32])
        {
            return Err(invalid("two devices share one identity"));
        }
        verify_identity(&device.identity)?;
    }
    Ok(())
}

/// [`verify_list`] on a frame's bytes.
pub fn verify_list_frame(
    bytes: &[u8],
    user: &str,
    trusted: Option<&Bytes32>,
    newest: Option<u64>,
) -> Result<(), String> {
    let (content, signature) = decode_list_frame(bytes).ok_or("Wire")?;
    verify_list(&content, &signature, user, trusted, newest)
}

// ---------------------------------------------------------------------------
// The link code and keys (accounts.md §5.1, §5.2)
// ---------------------------------------------------------------------------

/// `SHA256(framed("fuin/v1/link-fingerprint", SK_N, IK_N))[0..8]`.
pub fn link_fingerprint(signing_key: &Bytes32, agreement_key: &Bytes32) -> [u8; 8] {
    r::sha256(&r::framed(&[
        LINK_FINGERPRINT_LABEL,
        signing_key,
        agreement_key,
    ]))[..8]
        .try_into()
        .unwrap()
}

/// The 24 bytes of the code: `s || fp`.
pub fn link_code(secret: &[u8; 16], fingerprint: &[u8; 8]) -> [u8; 24] {
    let mut code = [0u8; 24];
    code[..16].copy_from_slice(secret);
    code[16..].copy_from_slice(fingerprint);
    code
}

/// Twelve big-endian 16-bit numbers, five digits each, single spaces.
pub fn code_digits(code: &[u8; 24]) -> String {
    code.chunks(2)
        .map(|pair| format!("{:05}", u16::from_be_bytes([pair[0], pair[1]])))
        .collect::<Vec<_>>()
        .join(" ")
}

/// `fuin-link:` and 48 lowercase hex digits.
pub fn code_text(code: &[u8; 24]) -> String {
    format!("fuin-link:{}", hex::encode(code))
}

/// Reads the digits form: spaces and `-` ignored; anything but 60 digits is
/// `Malformed`; a group above 65535 is `GroupOutOfRange`.
pub fn parse_digits(input: &str) -> Result<[u8; 24], &'static str> {
    let digits: Vec<u8> = input
        .bytes()
        .filter(|byte| *byte != b' ' && *byte != b'-')
        .collect();
    if digits.len() != 60 || !digits.iter().all(u8::is_ascii_digit) {
        return Err("Malformed");
    }
    let mut code = [0u8; 24];
    for (i, group) in digits.chunks(5).enumerate() {
        let value = group
            .iter()
            .fold(0u32, |acc, digit| acc * 10 + u32::from(digit - b'0'));
        let value = u16::try_from(value).map_err(|_| "GroupOutOfRange")?;
        code[2 * i..2 * i + 2].copy_from_slice(&value.to_be_bytes());
    }
    Ok(code)
}

/// Reads a code in either form: surrounding white space is dropped; after
/// `fuin-link:` exactly 48 hex digits (either case), else the digits form.
pub fn parse_code(input: &str) -> Result<[u8; 24], &'static str> {
    let input = input.trim();
    match input.strip_prefix("fuin-link:") {
        Some(digits) => {
            let bytes = hex::decode(digits).map_err(|_| "Malformed")?;
            bytes.try_into().map_err(|_| "Malformed")
        }
        None => parse_digits(input),
    }
}

/// The HKDF output of §5.2 and its three parts.
pub struct LinkKeys {
    pub okm: Vec<u8>,
    pub channel: [u8; 16],
    pub k_request: Bytes32,
    pub k_grant: Bytes32,
}

/// `HKDF-SHA256(salt = none, ikm = s, info = "fuin/v1/link-keys" || fp, 80)`.
pub fn link_keys(secret: &[u8; 16], fingerprint: &[u8; 8]) -> LinkKeys {
    let mut info = LINK_KEYS_LABEL.to_vec();
    info.extend_from_slice(fingerprint);
    let okm = r::hkdf(None, secret, &info, 80);
    LinkKeys {
        channel: okm[..16].try_into().unwrap(),
        k_request: okm[16..48].try_into().unwrap(),
        k_grant: okm[48..80].try_into().unwrap(),
        okm,
    }
}

// ---------------------------------------------------------------------------
// Sealing (accounts.md §5.3)
// ---------------------------------------------------------------------------

/// `framed(label, channel)`.
pub fn link_ad(label: &[u8], channel: &[u8; 16]) -> Vec<u8> {
    r::framed(&[label, channel])
}

/// `salt || Seal("fuin/v1/link-seal", salt, key, framed(label, channel), frame)`.
pub fn link_seal(
    ad_label: &[u8],
    key: &Bytes32,
    channel: &[u8; 16],
    salt: &Bytes32,
    frame: &[u8],
) -> Vec<u8> {
    let keys = r::aead_keys(LINK_SEAL_LABEL, Some(salt), key);
    let mut out = salt.to_vec();
    out.extend_from_slice(&r::aead_seal(&keys, &link_ad(ad_label, channel), frame));
    out
}

/// Opens a sealed exchange message: every failure is `DecryptionFailed`.
pub fn link_open(
    ad_label: &[u8],
    key: &Bytes32,
    channel: &[u8; 16],
    sealed: &[u8],
) -> Result<Vec<u8>, &'static str> {
    use aes_gcm::aead::{AeadInOut, KeyInit};
    const FAILED: &str = "DecryptionFailed";
    if sealed.len() < 32 + 48 {
        return Err(FAILED);
    }
    let (salt, rest) = sealed.split_at(32);
    let (commitment, rest) = rest.split_at(32);
    let (ciphertext, tag) = rest.split_at(rest.len() - 16);
    let keys = r::aead_keys(LINK_SEAL_LABEL, Some(salt), key);
    if !bool::from(commitment.ct_eq(&keys.2)) {
        return Err(FAILED);
    }
    let cipher = aes_gcm::Aes256Gcm::new(&aes_gcm::Key::<aes_gcm::Aes256Gcm>::from(keys.0));
    let mut plaintext = ciphertext.to_vec();
    let tag: [u8; 16] = tag.try_into().unwrap();
    cipher
        .decrypt_inout_detached(
            &aes_gcm::Nonce::from(keys.1),
            &link_ad(ad_label, channel),
            plaintext.as_mut_slice().into(),
            &tag.into(),
        )
        .map_err(|_| FAILED)?;
    Ok(plaintext)
}

// ---------------------------------------------------------------------------
// The hybrid grant (accounts.md §5.3, the KEM of report.md §4.1)
// ---------------------------------------------------------------------------

/// `E_g (32) || ct (1,088)`: what a sealed grant carries before its AEAD output.
pub const GRANT_ENCAPSULATION_LEN: usize = 32 + r::KEM_CIPHERTEXT_LEN;

/// N's grant key as N holds it: the X25519 private key and the 64-byte
/// ML-KEM seed `d || z`.
#[derive(Clone)]
pub struct GrantSecret {
    pub x25519: Bytes32,
    pub ml_kem_seed: [u8; 64],
}

/// The public grant key `G = (G.x25519, G.ml_kem)` of a tag-48 request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GrantKey {
    pub x25519: Bytes32,
    pub ml_kem: Vec<u8>,
}

impl GrantSecret {
    /// `pub(x)` and the encapsulation key of `ML-KEM.KeyGen_internal(d, z)`.
    pub fn public_key(&self) -> GrantKey {
        GrantKey {
            x25519: r::x25519_public(&self.x25519),
            ml_kem: r::kem_public_key(&self.ml_kem_seed),
        }
    }
}

/// `DH(k, u)`: X25519 with the contributory check (an all-zero output is
/// `WeakPublicKey`), after the blocklist check of protocol.md §4.
fn contributory_dh(secret: &Bytes32, public: &Bytes32) -> Result<Bytes32, &'static str> {
    if r::on_blocklist(public) {
        return Err("WeakPublicKey");
    }
    let shared = x25519_dalek::x25519(*secret, *public);
    if shared == [0; 32] {
        return Err("WeakPublicKey");
    }
    Ok(shared)
}

/// The sender's side of report.md §4.1, every value kept.
pub struct Encapsulation {
    pub ephemeral_public: Bytes32,
    pub kem_ciphertext: Vec<u8>,
    pub kem_shared_secret: Bytes32,
    pub dh: Bytes32,
}

impl Encapsulation {
    /// `km = ss || dh`: the KEM's secret first (report.md §4.1).
    pub fn key_material(&self) -> Vec<u8> {
        [&self.kem_shared_secret[..], &self.dh[..]].concat()
    }
}

/// `Encapsulate(G)` with the randomness given: `e`, then `m`. The key is
/// checked first: its X25519 half against the blocklist, its ML-KEM half with
/// FIPS 203's check.
pub fn encapsulate(
    key: &GrantKey,
    ephemeral: &Bytes32,
    m: &Bytes32,
) -> Result<Encapsulation, &'static str> {
    if r::on_blocklist(&key.x25519) {
        return Err("WeakPublicKey");
    }
    if !r::kem_key_check(&key.ml_kem) {
        return Err("InvalidKemKey");
    }
    let dh = contributory_dh(ephemeral, &key.x25519)?;
    let (kem_ciphertext, kem_shared_secret) =
        r::kem_encapsulate(&key.ml_kem, m).ok_or("InvalidKemKey")?;
    Ok(Encapsulation {
        ephemeral_public: r::x25519_public(ephemeral),
        kem_ciphertext,
        kem_shared_secret,
        dh,
    })
}

/// The receiver's side: `km = Decaps(seed, ct) || DH(x, E)`.
pub fn decapsulate(
    secret: &GrantSecret,
    ephemeral_public: &Bytes32,
    kem_ciphertext: &[u8],
) -> Result<Vec<u8>, &'static str> {
    let dh = contributory_dh(&secret.x25519, ephemeral_public)?;
    let ss = r::kem_decapsulate(&secret.ml_kem_seed, kem_ciphertext);
    Ok([&ss[..], &dh[..]].concat())
}

/// The grant's HKDF salt: `framed("fuin/v1/link-grant-transcript", channel,
/// G.x25519, G.ml_kem, E_g, ct)`.
pub fn grant_transcript(
    channel: &[u8; 16],
    key: &GrantKey,
    ephemeral_public: &Bytes32,
    kem_ciphertext: &[u8],
) -> Vec<u8> {
    r::framed(&[
        LINK_GRANT_TRANSCRIPT_LABEL,
        channel,
        &key.x25519,
        &key.ml_kem,
        ephemeral_public,
        kem_ciphertext,
    ])
}

/// `ikm = k_grant || km` (96 bytes: `k_grant || ss || dh`).
pub fn grant_key_material(k_grant: &Bytes32, km: &[u8]) -> Vec<u8> {
    [&k_grant[..], km].concat()
}

/// A sealed grant with every intermediate value.
pub struct SealedGrant {
    pub encapsulation: Encapsulation,
    pub key_material: Vec<u8>,
    pub transcript: Vec<u8>,
    pub associated_data: Vec<u8>,
    /// GCM key, nonce, commitment.
    pub keys: (Bytes32, [u8; 12], Bytes32),
    /// `E_g || ct || commitment || ciphertext || tag`.
    pub sealed: Vec<u8>,
}

/// Seals a `LinkGrant` frame to the grant key and `k_grant` (accounts.md
/// §5.3), with the encapsulation randomness given.
pub fn seal_grant(
    k_grant: &Bytes32,
    channel: &[u8; 16],
    key: &GrantKey,
    ephemeral: &Bytes32,
    m: &Bytes32,
    frame: &[u8],
) -> Result<SealedGrant, &'static str> {
    let encapsulation = encapsulate(key, ephemeral, m)?;
    let key_material = grant_key_material(k_grant, &encapsulation.key_material());
    let transcript = grant_transcript(
        channel,
        key,
        &encapsulation.ephemeral_public,
        &encapsulation.kem_ciphertext,
    );
    let associated_data = link_ad(LINK_GRANT_LABEL, channel);
    let keys = r::aead_keys(LINK_GRANT_KEYS_LABEL, Some(&transcript), &key_material);
    let mut sealed = encapsulation.ephemeral_public.to_vec();
    sealed.extend_from_slice(&encapsulation.kem_ciphertext);
    sealed.extend_from_slice(&r::aead_seal(&keys, &associated_data, frame));
    Ok(SealedGrant {
        encapsulation,
        key_material,
        transcript,
        associated_data,
        keys,
        sealed,
    })
}

/// Opens a sealed grant, steps 1-4 of accounts.md §5.3: too short is
/// `DecryptionFailed`, a weak `E_g` is `WeakPublicKey`, and every AEAD
/// failure (after ML-KEM's implicit rejection) is `DecryptionFailed`.
pub fn open_grant(
    k_grant: &Bytes32,
    channel: &[u8; 16],
    secret: &GrantSecret,
    sealed: &[u8],
) -> Result<Vec<u8>, &'static str> {
    const FAILED: &str = "DecryptionFailed";
    if sealed.len() < GRANT_ENCAPSULATION_LEN + 48 {
        return Err(FAILED);
    }
    let (ephemeral_public, rest) = sealed.split_at(32);
    let (kem_ciphertext, aead_output) = rest.split_at(r::KEM_CIPHERTEXT_LEN);
    let ephemeral_public: Bytes32 = ephemeral_public.try_into().unwrap();
    let km = decapsulate(secret, &ephemeral_public, kem_ciphertext)?;
    let transcript = grant_transcript(
        channel,
        &secret.public_key(),
        &ephemeral_public,
        kem_ciphertext,
    );
    let keys = r::aead_keys(
        LINK_GRANT_KEYS_LABEL,
        Some(&transcript),
        &grant_key_material(k_grant, &km),
    );
    r::aead_open(&keys, &link_ad(LINK_GRANT_LABEL, channel), aead_output).ok_or(FAILED)
}

// ---------------------------------------------------------------------------
// Account safety numbers (accounts.md §7)
// ---------------------------------------------------------------------------

/// One user's 30 digits.
pub fn account_safety_half(user: &str, account_key: &Bytes32) -> String {
    let mut hash = r::sha256(&r::framed(&[
        ACCOUNT_SAFETY_NUMBER_LABEL,
        user.as_bytes(),
        account_key,
    ]));
    for _ in 0..5199 {
        let mut input = hash.to_vec();
        input.extend_from_slice(account_key);
        hash = r::sha256(&input);
    }
    hash[..30]
        .chunks(5)
        .map(|chunk| {
            let value = chunk.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
            format!("{:05}", value % 100_000)
        })
        .collect()
}

/// The 60 digits: the half of the lesser `(user id, account key)` first.
pub fn account_safety_number(a: (&str, &Bytes32), b: (&str, &Bytes32)) -> String {
    let (first, second) = if (a.0.as_bytes(), a.1) <= (b.0.as_bytes(), b.1) {
        (a, b)
    } else {
        (b, a)
    };
    account_safety_half(first.0, first.1) + &account_safety_half(second.0, second.1)
}

/// The 60 digits as 12 groups of 5, single spaces.
pub fn display_groups(digits: &str) -> String {
    digits
        .as_bytes()
        .chunks(5)
        .map(|group| std::str::from_utf8(group).unwrap())
        .collect::<Vec<_>>()
        .join(" ")
}
