//! Checks the primitive wrappers against Project Wycheproof's vectors, kept
//! unmodified in `test-vectors/wycheproof/` (see the NOTICE there), and shows
//! that the key-committing AEAD stops a two-key ("invisible salamanders")
//! GCM ciphertext that bare AES-256-GCM accepts.
//!
//! Every test counts the cases it checked and asserts the count, so a file
//! that is truncated, regrouped or empty fails instead of passing vacuously.
//! A missing file fails too: these vectors are never optional.

use serde::Deserialize;

use super::aead::{self, COMMITMENT_LEN, TAG_LEN};
use super::franking;
use super::gcm::{Backend, Gcm};
use super::kdf::{self, Label, MAX_OUTPUT_LEN};
use super::x25519::{self, AgreementSecret};
use crate::SealError;
use fuin_wire::X25519PublicKey;

/// The folder with the vector files.
const VECTOR_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../test-vectors/wycheproof");

/// A Wycheproof file: the fields these tests use, the rest is ignored.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct VectorFile<G> {
    algorithm: String,
    number_of_tests: usize,
    test_groups: Vec<G>,
}

/// A case's expected outcome. Any other value fails deserialization.
#[derive(Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum Outcome {
    Valid,
    Invalid,
    Acceptable,
}

/// Reads and parses `name` from [`VECTOR_DIR`], failing the test (never
/// skipping it) when the file is missing or malformed. Also checks that the
/// file holds as many cases as its header says.
fn load<G: for<'de> Deserialize<'de>>(
    name: &str,
    algorithm: &str,
    cases_in: impl Fn(&G) -> usize,
) -> Vec<G> {
    let path = format!("{VECTOR_DIR}/{name}");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|err| {
        panic!(
            "Wycheproof vector file {path} cannot be read ({err}); these tests \
             require it: restore test-vectors/wycheproof/ (see its NOTICE)"
        )
    });
    let file: VectorFile<G> = serde_json::from_str(&text)
        .unwrap_or_else(|err| panic!("Wycheproof vector file {path} does not parse: {err}"));
    assert_eq!(file.algorithm, algorithm, "{path}: unexpected algorithm");
    let total: usize = file.test_groups.iter().map(cases_in).sum();
    assert_eq!(
        total, file.number_of_tests,
        "{path}: the groups hold a different number of cases than numberOfTests"
    );
    file.test_groups
}

/// Decodes a hex field of case `tc_id`.
fn unhex(tc_id: u32, field: &str, hex_text: &str) -> Vec<u8> {
    hex::decode(hex_text)
        .unwrap_or_else(|err| panic!("tcId {tc_id}: field {field} is not hex: {err}"))
}

/// Decodes a hex field of case `tc_id` that must be exactly `N` bytes long;
/// any other size fails the test rather than skipping the case.
fn unhex_array<const N: usize>(tc_id: u32, field: &str, hex_text: &str) -> [u8; N] {
    let bytes = unhex(tc_id, field, hex_text);
    <[u8; N]>::try_from(bytes.as_slice()).unwrap_or_else(|_| {
        panic!(
            "tcId {tc_id}: field {field} is {} bytes, expected {N}",
            bytes.len()
        )
    })
}

// ---------------------------------------------------------------------------
// X25519

#[derive(Deserialize)]
struct X25519Group {
    curve: String,
    tests: Vec<X25519Case>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct X25519Case {
    tc_id: u32,
    comment: String,
    flags: Vec<String>,
    result: Outcome,
    public: String,
    private: String,
    shared: String,
}

#[test]
fn x25519_matches_wycheproof_and_rejects_every_low_order_public_key() {
    let groups = load("x25519_test.json", "XDH", |g: &X25519Group| g.tests.len());
    let (mut valid, mut weak, mut other_acceptable) = (0, 0, 0);
    for group in &groups {
        assert_eq!(group.curve, "curve25519");
        for case in &group.tests {
            let id = case.tc_id;
            let what = format!("tcId {id} ({}, flags {:?})", case.comment, case.flags);
            let private = unhex_array::<32>(id, "private", &case.private);
            let public = X25519PublicKey(unhex_array::<32>(id, "public", &case.public));
            let shared = unhex_array::<32>(id, "shared", &case.shared);
            let secret = AgreementSecret::from_bytes(private);
            let is_weak = case
                .flags
                .iter()
                .any(|flag| flag == "LowOrderPublic" || flag == "ZeroSharedSecret");
            if is_weak {
                // Wycheproof marks these "acceptable": RFC 7748 lets an
                // implementation return the all-zero secret. fuin refuses.
                assert_eq!(shared, [0; 32], "{what}: a weak case with a nonzero secret");
                assert_eq!(
                    secret.agree(&public).err(),
                    Some(SealError::WeakPublicKey),
                    "{what}: agreement with a small-order key was not refused"
                );
                assert!(
                    x25519::is_small_order(&public),
                    "{what}: the bundle blocklist misses this small-order key"
                );
                weak += 1;
                continue;
            }
            match case.result {
                Outcome::Valid => valid += 1,
                // Twist points, non-canonical encodings and the like: RFC
                // 7748 defines their result, and fuin must compute it.
                Outcome::Acceptable => other_acceptable += 1,
                Outcome::Invalid => panic!("{what}: the X25519 file has no invalid cases"),
            }
            let agreed = secret
                .agree(&public)
                .unwrap_or_else(|err| panic!("{what}: agreement failed: {err:?}"));
            assert_eq!(agreed.expose(), &shared, "{what}: wrong shared secret");
            // A nonzero result means the key is not of small order, so the
            // blocklist must let it through.
            assert!(
                !x25519::is_small_order(&public),
                "{what}: the blocklist refuses a key that is not of small order"
            );
        }
    }
    assert_eq!(valid, 264, "valid cases checked");
    assert_eq!(weak, 31, "LowOrderPublic / ZeroSharedSecret cases checked");
    assert_eq!(other_acceptable, 223, "other acceptable cases checked");
}

// ---------------------------------------------------------------------------
// AES-256-GCM

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AeadGroup {
    iv_size: usize,
    key_size: usize,
    tag_size: usize,
    tests: Vec<AeadCase>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AeadCase {
    tc_id: u32,
    comment: String,
    flags: Vec<String>,
    result: Outcome,
    key: String,
    iv: String,
    aad: String,
    msg: String,
    ct: String,
    tag: String,
}

/// Seals: ciphertext followed by the tag.
type SealFn<'a> = &'a dyn Fn(&[u8; 32], &[u8; 12], &[u8], &[u8]) -> Vec<u8>;
/// Opens ciphertext followed by the tag.
type OpenFn<'a> = &'a dyn Fn(&[u8; 32], &[u8; 12], &[u8], &[u8]) -> Option<Vec<u8>>;

/// The AES-256-GCM cases with 96-bit nonces, checked against `seal` and
/// `open`.
fn check_aes_256_gcm(seal: SealFn<'_>, open: OpenFn<'_>) {
    let groups = load("aes_gcm_test.json", "AES-GCM", |g: &AeadGroup| {
        g.tests.len()
    });
    let mut chosen = groups
        .iter()
        .filter(|g| g.key_size == 256 && g.iv_size == 96);
    let group = chosen
        .next()
        .expect("no group with keySize 256 and ivSize 96");
    assert!(
        chosen.next().is_none(),
        "several groups with keySize 256, ivSize 96"
    );
    assert_eq!(group.tag_size, 128, "tag size of the group");
    assert_eq!(group.tag_size / 8, TAG_LEN);

    let (mut valid, mut invalid) = (0, 0);
    let mut ids = Vec::new();
    for case in &group.tests {
        let id = case.tc_id;
        ids.push(id);
        let what = format!("tcId {id} ({}, flags {:?})", case.comment, case.flags);
        // Sizes are fixed by the group: a case of another shape fails here.
        let key = unhex_array::<32>(id, "key", &case.key);
        let iv = unhex_array::<12>(id, "iv", &case.iv);
        let tag = unhex_array::<TAG_LEN>(id, "tag", &case.tag);
        let aad = unhex(id, "aad", &case.aad);
        let msg = unhex(id, "msg", &case.msg);
        let mut sealed = unhex(id, "ct", &case.ct);
        sealed.extend_from_slice(&tag);
        match case.result {
            Outcome::Valid => {
                assert_eq!(
                    seal(&key, &iv, &aad, &msg),
                    sealed,
                    "{what}: wrong ciphertext or tag"
                );
                assert_eq!(
                    open(&key, &iv, &aad, &sealed).as_deref(),
                    Some(msg.as_slice()),
                    "{what}: did not decrypt"
                );
                valid += 1;
            }
            Outcome::Invalid => {
                assert!(
                    open(&key, &iv, &aad, &sealed).is_none(),
                    "{what}: a forged ciphertext decrypted"
                );
                invalid += 1;
            }
            Outcome::Acceptable => panic!("{what}: no acceptable cases expected in this group"),
        }
    }
    let expected_ids: Vec<u32> = (91..=156).collect();
    assert_eq!(ids, expected_ids, "the group is tcId 91..=156, in order");
    assert_eq!(valid, 39, "valid cases checked");
    assert_eq!(invalid, 27, "invalid cases checked");
}

#[test]
fn aes_256_gcm_matches_wycheproof_for_96_bit_nonces() {
    // The default path, through the crate's raw AEAD helpers.
    check_aes_256_gcm(
        &|key, iv, aad, msg| aead::raw::encrypt(key, iv, aad, msg),
        &|key, iv, aad, sealed| aead::raw::decrypt(key, iv, aad, sealed).ok(),
    );
}

/// [`check_aes_256_gcm`] on one backend, in place and from one buffer into
/// another; a refused open must leave no plaintext in the output.
fn check_aes_256_gcm_on(backend: Backend) {
    let expand = |key: &[u8; 32]| {
        Gcm::with_backend(backend, key)
            .unwrap_or_else(|| panic!("{backend:?} is not available here"))
    };
    check_aes_256_gcm(
        &|key, iv, aad, msg| {
            let gcm = expand(key);
            let mut in_place = msg.to_vec();
            let tag = gcm.seal_in_place(iv, aad, &mut in_place);
            let mut into = vec![0u8; msg.len()];
            assert_eq!(gcm.seal_into(iv, aad, msg, &mut into), tag);
            assert_eq!(into, in_place, "seal_into and seal_in_place differ");
            in_place.extend_from_slice(&tag);
            in_place
        },
        &|key, iv, aad, sealed| {
            let gcm = expand(key);
            let (ciphertext, tag) = sealed.split_at(sealed.len() - TAG_LEN);
            let tag: [u8; TAG_LEN] = tag.try_into().unwrap();
            let mut in_place = ciphertext.to_vec();
            let opened_in_place = gcm.open_in_place(iv, aad, &mut in_place, &tag);
            let mut into = vec![0xa5u8; ciphertext.len()];
            let opened_into = gcm.open_into(iv, aad, ciphertext, &tag, &mut into);
            assert_eq!(opened_in_place, opened_into, "in place and into disagree");
            if opened_into.is_err() {
                assert!(in_place == ciphertext || in_place.iter().all(|&b| b == 0));
                assert!(into.iter().all(|&b| b == 0xa5) || into.iter().all(|&b| b == 0));
                return None;
            }
            assert_eq!(in_place, into);
            Some(into)
        },
    );
}

#[test]
fn aes_256_gcm_matches_wycheproof_on_the_portable_backend() {
    check_aes_256_gcm_on(Backend::Portable);
}

#[test]
fn aes_256_gcm_matches_wycheproof_on_the_fast_backend() {
    if Gcm::with_backend(Backend::Fast, &[0; 32]).is_none() {
        // Only on an architecture without it (WASM and the like).
        assert!(!super::gcm::tests::fast_backend_expected());
        return;
    }
    check_aes_256_gcm_on(Backend::Fast);
}

// ---------------------------------------------------------------------------
// HKDF-SHA256

#[derive(Deserialize)]
struct HkdfGroup {
    tests: Vec<HkdfCase>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct HkdfCase {
    tc_id: u32,
    comment: String,
    flags: Vec<String>,
    result: Outcome,
    ikm: String,
    salt: String,
    info: String,
    size: usize,
    okm: String,
}

#[test]
fn hkdf_sha256_matches_wycheproof_and_refuses_oversized_output() {
    let groups = load("hkdf_sha256_test.json", "HKDF-SHA-256", |g: &HkdfGroup| {
        g.tests.len()
    });
    let (mut valid, mut invalid, mut empty_salt) = (0, 0, 0);
    for case in groups.iter().flat_map(|g| &g.tests) {
        let id = case.tc_id;
        let what = format!("tcId {id} ({}, flags {:?})", case.comment, case.flags);
        let ikm = unhex(id, "ikm", &case.ikm);
        let info = unhex(id, "info", &case.info);
        // The file always has a `salt` field; an empty salt is written as ""
        // (flag EmptySalt), which decodes to zero bytes. We pass exactly what
        // the file gives, `Some(&[])` for those, rather than `None`: the
        // vector's input is then used unchanged. RFC 5869 makes a missing
        // salt HashLen zero bytes, and HMAC zero-pads a key shorter than its
        // block, so `None`, `Some(&[])` and `Some(&[0; 32])` all give the same
        // PRK; that is asserted below on every EmptySalt case.
        let salt = unhex(id, "salt", &case.salt);
        let mut out = vec![0u8; case.size];
        match case.result {
            Outcome::Valid => {
                let okm = unhex(id, "okm", &case.okm);
                assert_eq!(okm.len(), case.size, "{what}: okm is not `size` bytes");
                kdf::hkdf_raw(Some(&salt), &ikm, &info, &mut out)
                    .unwrap_or_else(|err| panic!("{what}: {err:?}"));
                assert_eq!(out, okm, "{what}: wrong output");
                if salt.is_empty() {
                    assert!(case.flags.iter().any(|f| f == "EmptySalt"), "{what}");
                    for default_salt in [None, Some(&[0u8; 32][..])] {
                        let mut again = vec![0u8; case.size];
                        kdf::hkdf_raw(default_salt, &ikm, &info, &mut again)
                            .unwrap_or_else(|err| panic!("{what}: {err:?}"));
                        assert_eq!(again, okm, "{what}: salt {default_salt:?} differs");
                    }
                    empty_salt += 1;
                }
                valid += 1;
            }
            Outcome::Invalid => {
                assert!(
                    case.size > MAX_OUTPUT_LEN,
                    "{what}: unexpected invalid case"
                );
                assert_eq!(
                    kdf::hkdf_raw(Some(&salt), &ikm, &info, &mut out),
                    Err(SealError::KdfOutputTooLong { len: case.size }),
                    "{what}: an oversized output was produced"
                );
                invalid += 1;
            }
            Outcome::Acceptable => panic!("{what}: the HKDF file has no acceptable cases"),
        }
    }
    assert_eq!(valid, 83, "valid cases checked");
    assert_eq!(
        empty_salt, 23,
        "empty-salt cases checked against None and zeros"
    );
    assert_eq!(invalid, 3, "oversized-output cases checked");
}

// ---------------------------------------------------------------------------
// HMAC-SHA256

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MacGroup {
    tag_size: usize,
    tests: Vec<MacCase>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MacCase {
    tc_id: u32,
    comment: String,
    flags: Vec<String>,
    result: Outcome,
    key: String,
    msg: String,
    tag: String,
}

/// The shortest HMAC tag fuin accepts, in bytes.
const MIN_HMAC_TAG_LEN: usize = 16;

#[test]
fn hmac_sha256_matches_wycheproof_and_refuses_short_tags() {
    let groups = load("hmac_sha256_test.json", "HMACSHA256", |g: &MacGroup| {
        g.tests.len()
    });
    let (mut valid, mut invalid, mut short_in_file, mut shortened) = (0, 0, 0, 0);
    let mut by_tag_size = std::collections::BTreeMap::new();
    for group in &groups {
        assert_eq!(
            group.tag_size % 8,
            0,
            "tagSize {} is not whole bytes",
            group.tag_size
        );
        let tag_len = group.tag_size / 8;
        assert!((1..=32).contains(&tag_len), "tagSize {}", group.tag_size);
        for case in &group.tests {
            let id = case.tc_id;
            let what = format!("tcId {id} ({}, flags {:?})", case.comment, case.flags);
            let key = unhex(id, "key", &case.key);
            let msg = unhex(id, "msg", &case.msg);
            let tag = unhex(id, "tag", &case.tag);
            assert_eq!(
                tag.len(),
                tag_len,
                "{what}: tag length differs from tagSize"
            );
            let full = franking::hmac_sha256(&key, &[&msg]);
            let verified = franking::verify_hmac_sha256(&key, &msg, &tag);
            match case.result {
                Outcome::Valid => {
                    assert_eq!(&full[..tag_len], tag.as_slice(), "{what}: wrong HMAC");
                    if tag_len >= MIN_HMAC_TAG_LEN {
                        assert!(verified, "{what}: a correct tag was refused");
                    } else {
                        // fuin never accepts an HMAC tag truncated below 128
                        // bits, even a correct one: a short tag is easier to forge.
                        assert!(!verified, "{what}: a tag under 128 bits was accepted");
                        short_in_file += 1;
                    }
                    // This copy of the file has only 128- and 256-bit tags,
                    // so also shorten each correct tag below 128 bits: still
                    // a correct HMAC prefix, and still refused.
                    for short in [15, 12, 8, 1, 0] {
                        if short < tag_len.min(MIN_HMAC_TAG_LEN) {
                            assert!(
                                !franking::verify_hmac_sha256(&key, &msg, &tag[..short]),
                                "{what}: a {short}-byte prefix of the tag was accepted"
                            );
                            shortened += 1;
                        }
                    }
                    valid += 1;
                }
                Outcome::Invalid => {
                    assert!(!verified, "{what}: a wrong tag was accepted");
                    invalid += 1;
                }
                Outcome::Acceptable => panic!("{what}: the HMAC file has no acceptable cases"),
            }
            *by_tag_size.entry(group.tag_size).or_insert(0) += 1;
        }
    }
    assert_eq!(valid, 66, "valid cases checked");
    assert_eq!(invalid, 108, "invalid cases checked");
    assert_eq!(
        by_tag_size.into_iter().collect::<Vec<_>>(),
        [(128, 87), (256, 87)],
        "cases checked per tag size (bits)"
    );
    assert_eq!(
        short_in_file, 0,
        "valid cases in the file with tags under 128 bits"
    );
    assert_eq!(
        shortened,
        66 * 5,
        "correct tags shortened below 128 bits and refused"
    );
}

// ---------------------------------------------------------------------------
// Invisible salamanders: one AES-GCM ciphertext, two keys.

/// GF(2^128) as GCM defines it (NIST SP 800-38D, 6.3): a block read big-endian
/// into a `u128`, so the coefficient of x^0 is the most significant bit.
mod gf128 {
    /// The field's 1.
    pub(super) const ONE: u128 = 1 << 127;

    /// Algorithm 1 of SP 800-38D.
    pub(super) fn mul(x: u128, y: u128) -> u128 {
        const R: u128 = 0xe1 << 120;
        let mut z = 0;
        let mut v = y;
        for i in 0..128 {
            if (x >> (127 - i)) & 1 == 1 {
                z ^= v;
            }
            v = if v & 1 == 1 { (v >> 1) ^ R } else { v >> 1 };
        }
        z
    }

    /// `a^(2^128 - 2)`, which is `a^-1` for nonzero `a`.
    pub(super) fn inv(a: u128) -> u128 {
        assert_ne!(a, 0, "zero has no inverse");
        let mut power = a;
        let mut product = ONE;
        // 2^128 - 2 = 2 + 4 + ... + 2^127.
        for _ in 1..128 {
            power = mul(power, power);
            product = mul(product, power);
        }
        product
    }
}

/// One raw AES-256 block encryption, as a big-endian `u128`.
fn aes256_block(key: &[u8; 32], block: [u8; 16]) -> u128 {
    use aes::cipher::{Array, BlockCipherEncrypt, KeyInit};
    let cipher = aes::Aes256::new(&Array::from(*key));
    let mut block = Array::from(block);
    cipher.encrypt_block(&mut block);
    u128::from_be_bytes(block.into())
}

/// GHASH over `aad` and `ciphertext`, each zero-padded to whole blocks,
/// followed by their bit lengths.
fn ghash(h: u128, aad: &[u8], ciphertext: &[u8]) -> u128 {
    let mut y = 0;
    for data in [aad, ciphertext] {
        for chunk in data.chunks(16) {
            let mut block = [0u8; 16];
            block[..chunk.len()].copy_from_slice(chunk);
            y = gf128::mul(y ^ u128::from_be_bytes(block), h);
        }
    }
    let bits = |len: usize| u128::try_from(len).unwrap_or(u128::MAX) * 8;
    gf128::mul(y ^ (bits(aad.len()) << 64) ^ bits(ciphertext.len()), h)
}

/// The GCM tag mask `E_K(J0)` and hash key `H = E_K(0)` for a 96-bit nonce.
fn gcm_tag_inputs(key: &[u8; 32], nonce: &[u8; 12]) -> (u128, u128) {
    let mut j0 = [0u8; 16];
    j0[..12].copy_from_slice(nonce);
    j0[15] = 1;
    (aes256_block(key, j0), aes256_block(key, [0; 16]))
}

/// Builds a two-block AES-256-GCM ciphertext and tag that authenticate under
/// both `(key1, nonce1)` and `(key2, nonce2)` with `aad`.
///
/// The tag is `E_K(J0) ^ GHASH_H(aad, C1 || C2)`. With `C1` fixed, setting the
/// last block `C2` adds `C2 * H^2` to GHASH (only the length block follows
/// it), so the tags agree when
/// `C2 * (H1^2 + H2^2) = tag1(C2 = 0) + tag2(C2 = 0)`, solvable whenever
/// `H1 != H2`.
fn two_key_ciphertext(
    (key1, nonce1): (&[u8; 32], &[u8; 12]),
    (key2, nonce2): (&[u8; 32], &[u8; 12]),
    aad: &[u8],
    first_block: [u8; 16],
) -> Vec<u8> {
    let (mask1, h1) = gcm_tag_inputs(key1, nonce1);
    let (mask2, h2) = gcm_tag_inputs(key2, nonce2);
    assert_ne!(h1, h2, "the construction needs two different hash keys");
    let mut ciphertext = [0u8; 32];
    ciphertext[..16].copy_from_slice(&first_block);
    let gap = mask1 ^ ghash(h1, aad, &ciphertext) ^ mask2 ^ ghash(h2, aad, &ciphertext);
    let last = gf128::mul(gap, gf128::inv(gf128::mul(h1, h1) ^ gf128::mul(h2, h2)));
    ciphertext[16..].copy_from_slice(&last.to_be_bytes());
    let tag = mask1 ^ ghash(h1, aad, &ciphertext);
    assert_eq!(tag, mask2 ^ ghash(h2, aad, &ciphertext));
    let mut sealed = ciphertext.to_vec();
    sealed.extend_from_slice(&tag.to_be_bytes());
    sealed
}

#[test]
fn gf128_and_ghash_reproduce_aes_gcm() {
    for a in [gf128::ONE, 2, 0x0123_4567_89ab_cdef_fedc_ba98_7654_3210] {
        assert_eq!(gf128::mul(a, gf128::inv(a)), gf128::ONE);
        assert_eq!(gf128::mul(a, gf128::ONE), a);
    }
    // The hand-built tag equals the one aes-gcm computes.
    let (key, nonce, aad) = ([7u8; 32], [9u8; 12], b"seventeen bytes!!");
    let sealed = aead::raw::encrypt(&key, &nonce, aad, b"some plaintext, 2+ blocks long");
    let (ciphertext, tag) = sealed.split_at(sealed.len() - TAG_LEN);
    let (mask, h) = gcm_tag_inputs(&key, &nonce);
    assert_eq!((mask ^ ghash(h, aad, ciphertext)).to_be_bytes(), tag);
}

#[test]
fn key_committing_aead_rejects_a_second_key() {
    // Bare AES-256-GCM: one ciphertext, two keys, both accept it.
    let (key1, key2, nonce) = ([0x11u8; 32], [0x22u8; 32], [0x33u8; 12]);
    let aad = b"fuin salamander";
    let sealed = two_key_ciphertext((&key1, &nonce), (&key2, &nonce), aad, *b"any first block.");
    let plain1 = aead::raw::decrypt(&key1, &nonce, aad, &sealed).expect("key 1 opens it");
    let plain2 = aead::raw::decrypt(&key2, &nonce, aad, &sealed).expect("key 2 opens it");
    assert_ne!(plain1, plain2, "two keys, two different plaintexts");
    assert!(aead::raw::decrypt(&[0x44; 32], &nonce, aad, &sealed).is_err());

    // The committing AEAD derives GCM key, nonce and commitment from the key
    // material (`DerivedKeys` in aead.rs); reproduce that for two materials.
    let (material1, material2) = ([0xa1u8; 32], [0xb2u8; 32]);
    let derive = |material: &[u8; 32]| {
        let out =
            kdf::derive::<{ 32 + 12 + COMMITMENT_LEN }>(Label::MessageKeys, None, material, &[]);
        let mut key = [0u8; 32];
        let mut nonce = [0u8; 12];
        key.copy_from_slice(&out[..32]);
        nonce.copy_from_slice(&out[32..44]);
        (key, nonce, out[44..].to_vec())
    };
    let (gcm_key1, gcm_nonce1, commitment1) = derive(&material1);
    let (gcm_key2, gcm_nonce2, commitment2) = derive(&material2);

    // The derivation above is the one `seal` uses.
    let plaintext = b"meet at the usual place";
    let honest = aead::seal(Label::MessageKeys, None, &material1, aad, plaintext);
    assert_eq!(&honest[..COMMITMENT_LEN], commitment1.as_slice());
    assert_eq!(
        aead::raw::decrypt(&gcm_key1, &gcm_nonce1, aad, &honest[COMMITMENT_LEN..]).as_deref(),
        Ok(&plaintext[..])
    );
    assert!(aead::open(Label::MessageKeys, None, &material1, aad, &honest).is_ok());
    assert_eq!(
        aead::open(Label::MessageKeys, None, &material2, aad, &honest),
        Err(aead::OpenFailed)
    );

    // Now the attack on the GCM part: a ciphertext both derived GCM keys
    // open. Behind either commitment it opens only under that commitment's
    // key material, because the commitment is checked before GCM runs.
    let gcm = two_key_ciphertext(
        (&gcm_key1, &gcm_nonce1),
        (&gcm_key2, &gcm_nonce2),
        aad,
        [0x5a; 16],
    );
    let opened1 = aead::raw::decrypt(&gcm_key1, &gcm_nonce1, aad, &gcm).expect("GCM key 1");
    let opened2 = aead::raw::decrypt(&gcm_key2, &gcm_nonce2, aad, &gcm).expect("GCM key 2");
    assert_ne!(opened1, opened2);
    for (commitment, right, wrong, expected) in [
        (&commitment1, &material1, &material2, &opened1),
        (&commitment2, &material2, &material1, &opened2),
    ] {
        let forged = [commitment.as_slice(), &gcm].concat();
        let opened = aead::open(Label::MessageKeys, None, right, aad, &forged)
            .expect("opens under the committed key material");
        assert_eq!(opened.as_slice(), expected.as_slice());
        assert_eq!(
            aead::open(Label::MessageKeys, None, wrong, aad, &forged),
            Err(aead::OpenFailed),
            "the second key material opened a committed ciphertext"
        );
    }
}
