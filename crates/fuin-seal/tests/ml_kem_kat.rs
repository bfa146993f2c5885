//! ML-KEM-768 known answers through fuin-seal's wrapper
//! (`fuin_seal::primitives::kem`): NIST's ACVP vectors and Project
//! Wycheproof's, kept in `test-vectors/ml-kem/` (sources, commits and
//! licenses in the NOTICE there).
//!
//! The wrapper keeps a decapsulation key as its 64-byte seed `d || z`, so
//! every case that gives a seed goes through the wrapper. ACVP's
//! decapsulation and key-check cases give only the expanded key `dk`; those
//! run on `libcrux_ml_kem::mlkem768`, the exact functions the wrapper calls,
//! and the keyGen cases tie the two forms together (the seed's expanded key
//! is the file's `dk`, and both decapsulate alike).
//!
//! Every test counts what it checked and asserts the count, so a truncated
//! or regrouped file fails; a missing file fails too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use fuin_seal::SealError;
use fuin_seal::primitives::kem::{self, KemSecret};
use fuin_wire::{MlKemCiphertext, MlKemPublicKey};
use libcrux_ml_kem::mlkem768;
use serde::Deserialize;

/// The folder with the vector files.
const VECTOR_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../test-vectors/ml-kem");

/// Bytes of an expanded ML-KEM-768 decapsulation key (FIPS 203 §8).
const EXPANDED_KEY_LEN: usize = 2400;

/// Reads and parses `name`, failing (never skipping) when it is missing or
/// malformed.
fn load<T: for<'de> Deserialize<'de>>(name: &str) -> T {
    let path = format!("{VECTOR_DIR}/{name}");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|err| {
        panic!(
            "ML-KEM vector file {path} cannot be read ({err}); these tests require it: \
             restore test-vectors/ml-kem/ (see its NOTICE)"
        )
    });
    serde_json::from_str(&text).unwrap_or_else(|err| panic!("{path} does not parse: {err}"))
}

fn unhex(case: u32, field: &str, text: &str) -> Vec<u8> {
    hex::decode(text).unwrap_or_else(|err| panic!("case {case}: {field} is not hex: {err}"))
}

fn unhex_array<const N: usize>(case: u32, field: &str, text: &str) -> [u8; N] {
    let bytes = unhex(case, field, text);
    <[u8; N]>::try_from(bytes.as_slice()).unwrap_or_else(|_| {
        panic!(
            "case {case}: {field} is {} bytes, expected {N}",
            bytes.len()
        )
    })
}

fn required<'a>(case: u32, field: &str, value: &'a Option<String>) -> &'a str {
    value
        .as_deref()
        .unwrap_or_else(|| panic!("case {case}: field {field} is missing"))
}

/// A seed `d || z` as the wrapper takes it.
fn seed(d: &[u8; 32], z: &[u8; 32]) -> [u8; kem::SEED_LEN] {
    let mut seed = [0u8; kem::SEED_LEN];
    seed[..32].copy_from_slice(d);
    seed[32..].copy_from_slice(z);
    seed
}

/// The same ciphertext with one bit flipped.
fn altered(ciphertext: &MlKemCiphertext, bit: usize) -> MlKemCiphertext {
    let mut bytes = ciphertext.0;
    bytes[(bit / 8) % MlKemCiphertext::LEN] ^= 1 << (bit % 8);
    MlKemCiphertext(bytes)
}

// ---------------------------------------------------------------- ACVP ----

/// An ACVP file (`internalProjection` form: inputs and expected results
/// together). Fields a group or case does not have are `None`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AcvpFile {
    algorithm: String,
    mode: String,
    revision: String,
    test_groups: Vec<AcvpGroup>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AcvpGroup {
    tg_id: u32,
    parameter_set: String,
    function: Option<String>,
    dk: Option<String>,
    tests: Vec<AcvpCase>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AcvpCase {
    tc_id: u32,
    d: Option<String>,
    z: Option<String>,
    ek: Option<String>,
    dk: Option<String>,
    m: Option<String>,
    c: Option<String>,
    k: Option<String>,
    reason: Option<String>,
    test_passed: Option<bool>,
}

/// The groups of `name` whose function is `function` (`None` for keyGen,
/// whose groups have none); checks the header and that every group is
/// ML-KEM-768.
fn acvp_groups(name: &str, mode: &str, function: Option<&str>) -> Vec<AcvpGroup> {
    let file: AcvpFile = load(name);
    assert_eq!(file.algorithm, "ML-KEM", "{name}");
    assert_eq!(file.mode, mode, "{name}");
    assert_eq!(file.revision, "FIPS203", "{name}");
    let groups: Vec<AcvpGroup> = file
        .test_groups
        .into_iter()
        .filter(|group| group.function.as_deref() == function)
        .collect();
    for group in &groups {
        assert_eq!(
            group.parameter_set, "ML-KEM-768",
            "{name}: group {}",
            group.tg_id
        );
    }
    groups
}

fn expanded_key(case: u32, text: &str) -> mlkem768::MlKem768PrivateKey {
    mlkem768::MlKem768PrivateKey::from(unhex_array::<EXPANDED_KEY_LEN>(case, "dk", text))
}

/// keyGen: the wrapper's key from `d || z` publishes NIST's `ek`; its
/// expanded form (what the wrapper decapsulates with) is NIST's `dk`; and
/// the seed-based key decapsulates as `dk` does, for an honest ciphertext
/// and for an altered one (implicit rejection uses `z`, the seed's second
/// half, so this also checks where `z` goes).
#[test]
fn acvp_key_generation_from_d_and_z_gives_nists_keys() {
    let mut checked = 0;
    for group in acvp_groups("acvp-keygen-768.json", "keyGen", None) {
        for case in &group.tests {
            let id = case.tc_id;
            let d = unhex_array::<32>(id, "d", required(id, "d", &case.d));
            let z = unhex_array::<32>(id, "z", required(id, "z", &case.z));
            let ek = unhex_array::<{ MlKemPublicKey::LEN }>(id, "ek", required(id, "ek", &case.ek));
            let dk_hex = required(id, "dk", &case.dk);
            let dk = unhex(id, "dk", dk_hex);

            let secret = KemSecret::from_seed(seed(&d, &z));
            assert_eq!(secret.public_key().0, ek, "case {id}: ek");
            let pair = mlkem768::generate_key_pair(seed(&d, &z));
            assert_eq!(pair.private_key().as_slice(), &dk[..], "case {id}: dk");

            let nist_key = expanded_key(id, dk_hex);
            let (ciphertext, shared) = kem::encapsulate_with(&MlKemPublicKey(ek), &[id as u8; 32])
                .unwrap_or_else(|err| panic!("case {id}: NIST's ek refused: {err:?}"));
            for (what, ciphertext) in [("honest", ciphertext), ("altered", altered(&ciphertext, 7))]
            {
                let by_seed = secret.decapsulate(&ciphertext);
                let by_dk = mlkem768::decapsulate(
                    &nist_key,
                    &mlkem768::MlKem768Ciphertext::from(ciphertext.0),
                );
                assert_eq!(by_seed.expose(), &by_dk, "case {id}: {what} ciphertext");
            }
            assert_eq!(
                secret.decapsulate(&ciphertext).expose(),
                shared.expose(),
                "case {id}: the honest ciphertext gives the encapsulated secret"
            );
            assert_ne!(
                secret.decapsulate(&altered(&ciphertext, 7)).expose(),
                shared.expose(),
                "case {id}: an altered ciphertext gives another secret"
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 25, "every ML-KEM-768 keyGen case");
}

/// Encapsulation: `kem::encapsulate_with(ek, m)` gives NIST's `c` and `K`,
/// and NIST's `dk` decapsulates `c` to `K`.
#[test]
fn acvp_encapsulation_with_m_gives_nists_ciphertext_and_secret() {
    let mut checked = 0;
    for group in acvp_groups(
        "acvp-encapdecap-768.json",
        "encapDecap",
        Some("encapsulation"),
    ) {
        for case in &group.tests {
            let id = case.tc_id;
            let ek = unhex_array::<{ MlKemPublicKey::LEN }>(id, "ek", required(id, "ek", &case.ek));
            let m = unhex_array::<32>(id, "m", required(id, "m", &case.m));
            let c = unhex_array::<{ MlKemCiphertext::LEN }>(id, "c", required(id, "c", &case.c));
            let k = unhex_array::<32>(id, "k", required(id, "k", &case.k));

            let (ciphertext, shared) = kem::encapsulate_with(&MlKemPublicKey(ek), &m)
                .unwrap_or_else(|err| panic!("case {id}: NIST's ek refused: {err:?}"));
            assert_eq!(ciphertext.0, c, "case {id}: c");
            assert_eq!(shared.expose(), &k, "case {id}: K");

            let dk = expanded_key(id, required(id, "dk", &case.dk));
            let opened = mlkem768::decapsulate(&dk, &mlkem768::MlKem768Ciphertext::from(c));
            assert_eq!(opened, k, "case {id}: decapsulation of c");
            checked += 1;
        }
    }
    assert_eq!(checked, 25, "every ML-KEM-768 encapsulation case");
}

/// Decapsulation (ACVP's VAL cases, half of them with a modified
/// ciphertext): the backend's `decapsulate`, which the wrapper calls, gives
/// NIST's `K` in both cases — the implicit-rejection secret for a modified
/// ciphertext, never an error.
#[test]
fn acvp_decapsulation_gives_nists_secret_including_implicit_rejection() {
    let mut valid = 0;
    let mut modified = 0;
    for group in acvp_groups(
        "acvp-encapdecap-768.json",
        "encapDecap",
        Some("decapsulation"),
    ) {
        let dk = expanded_key(group.tg_id, required(group.tg_id, "dk", &group.dk));
        for case in &group.tests {
            let id = case.tc_id;
            let c = unhex_array::<{ MlKemCiphertext::LEN }>(id, "c", required(id, "c", &case.c));
            let k = unhex_array::<32>(id, "k", required(id, "k", &case.k));
            let opened = mlkem768::decapsulate(&dk, &mlkem768::MlKem768Ciphertext::from(c));
            assert_eq!(opened, k, "case {id}: K");
            match required(id, "reason", &case.reason) {
                "valid decapsulation" => valid += 1,
                "modified ciphertext" => modified += 1,
                other => panic!("case {id}: unknown reason {other:?}"),
            }
        }
    }
    assert_eq!(
        (valid, modified),
        (5, 5),
        "every ML-KEM-768 decapsulation case"
    );
}

/// Encapsulation-key check: `kem::check_public_key` accepts exactly the keys
/// NIST says pass. In ACVP v1.1.0.40 every failing key is also of the wrong
/// length (1,600 bytes), which fuin's fixed-size `MlKemPublicKey` cannot
/// hold at all; the modulus check proper is exercised by Wycheproof's
/// `ModulusOverflow` and "not reduced" cases below. The decapsulation-key
/// check (the hash of `ek` inside `dk`) is the backend's; fuin keeps seeds
/// and never parses a `dk`, so it runs on `validate_private_key` directly.
#[test]
fn acvp_key_checks_match_check_public_key() {
    let mut accepted = 0;
    let mut wrong_length = 0;
    for group in acvp_groups(
        "acvp-keycheck-768.json",
        "encapDecap",
        Some("encapsulationKeyCheck"),
    ) {
        for case in &group.tests {
            let id = case.tc_id;
            let passes = case
                .test_passed
                .unwrap_or_else(|| panic!("case {id}: testPassed missing"));
            let ek = unhex(id, "ek", required(id, "ek", &case.ek));
            match <[u8; MlKemPublicKey::LEN]>::try_from(ek.as_slice()) {
                Ok(ek) => {
                    assert_eq!(
                        kem::check_public_key(&MlKemPublicKey(ek)).is_ok(),
                        passes,
                        "case {id}"
                    );
                    accepted += usize::from(passes);
                }
                Err(_) => {
                    assert!(!passes, "case {id}: a key of the wrong length cannot pass");
                    wrong_length += 1;
                }
            }
        }
    }
    assert_eq!(
        (accepted, wrong_length),
        (5, 5),
        "every encapsulation-key check"
    );

    let mut results = [0usize; 2];
    for group in acvp_groups(
        "acvp-keycheck-768.json",
        "encapDecap",
        Some("decapsulationKeyCheck"),
    ) {
        for case in &group.tests {
            let id = case.tc_id;
            let passes = case
                .test_passed
                .unwrap_or_else(|| panic!("case {id}: testPassed missing"));
            let dk = expanded_key(id, required(id, "dk", &case.dk));
            let any_ciphertext = mlkem768::MlKem768Ciphertext::from([0u8; MlKemCiphertext::LEN]);
            assert_eq!(
                mlkem768::validate_private_key(&dk, &any_ciphertext),
                passes,
                "case {id}"
            );
            results[usize::from(passes)] += 1;
        }
    }
    assert_eq!(results, [5, 5], "every decapsulation-key check");
}

// ----------------------------------------------------------- Wycheproof ----

/// A Wycheproof ML-KEM file: the fields these tests use.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WycheproofFile {
    algorithm: String,
    number_of_tests: usize,
    test_groups: Vec<WycheproofGroup>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WycheproofGroup {
    parameter_set: String,
    tests: Vec<WycheproofCase>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WycheproofCase {
    tc_id: u32,
    #[serde(default)]
    comment: String,
    #[serde(default)]
    flags: Vec<String>,
    seed: Option<String>,
    ek: Option<String>,
    dk: Option<String>,
    m: Option<String>,
    c: Option<String>,
    #[serde(rename = "K")]
    k: Option<String>,
    result: Outcome,
}

/// A case's expected outcome. Any other value fails deserialization.
#[derive(Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum Outcome {
    Valid,
    Invalid,
    Acceptable,
}

/// The cases of `name`, after checking the header, the parameter set and
/// that the file holds as many cases as it says.
fn wycheproof_cases(name: &str) -> Vec<WycheproofCase> {
    let file: WycheproofFile = load(name);
    assert_eq!(file.algorithm, "ML-KEM", "{name}");
    let mut cases = Vec::new();
    for group in file.test_groups {
        assert_eq!(group.parameter_set, "ML-KEM-768", "{name}");
        cases.extend(group.tests);
    }
    assert_eq!(cases.len(), file.number_of_tests, "{name}: numberOfTests");
    cases
}

/// Key generation from 64-byte seeds: the wrapper's `ek`, and the expanded
/// key the wrapper decapsulates with.
#[test]
fn wycheproof_key_generation_from_seed() {
    let mut checked = 0;
    for case in wycheproof_cases("mlkem_768_keygen_seed_test.json") {
        let id = case.tc_id;
        assert_eq!(
            case.result,
            Outcome::Valid,
            "case {id}: only valid cases expected"
        );
        let seed = unhex_array::<{ kem::SEED_LEN }>(id, "seed", required(id, "seed", &case.seed));
        let ek = unhex(id, "ek", required(id, "ek", &case.ek));
        let dk = unhex(id, "dk", required(id, "dk", &case.dk));
        assert_eq!(
            &KemSecret::from_seed(seed).public_key().0[..],
            &ek[..],
            "case {id}: ek"
        );
        let pair = mlkem768::generate_key_pair(seed);
        assert_eq!(pair.private_key().as_slice(), &dk[..], "case {id}: dk");
        checked += 1;
    }
    assert_eq!(checked, 100);
}

/// Encapsulation with `m`: valid keys give Wycheproof's `c` and `K`; keys
/// that fail the modulus check (C2SP CCTV's `ModulusOverflow` keys and the
/// "Public key not reduced" ones) are refused with `InvalidKemKey` by both
/// `check_public_key` and `encapsulate_with`; keys of the wrong length
/// cannot be an `MlKemPublicKey`.
#[test]
fn wycheproof_encapsulation_and_modulus_check() {
    let mut valid = 0;
    let mut modulus_refused = 0;
    let mut wrong_length = 0;
    for case in wycheproof_cases("mlkem_768_encaps_test.json") {
        let id = case.tc_id;
        let ek = unhex(id, "ek", required(id, "ek", &case.ek));
        let m = unhex_array::<32>(id, "m", required(id, "m", &case.m));
        let Ok(ek) = <[u8; MlKemPublicKey::LEN]>::try_from(ek.as_slice()) else {
            assert_eq!(case.result, Outcome::Invalid, "case {id}: {}", case.comment);
            wrong_length += 1;
            continue;
        };
        let ek = MlKemPublicKey(ek);
        match case.result {
            Outcome::Valid => {
                kem::check_public_key(&ek)
                    .unwrap_or_else(|err| panic!("case {id}: valid key refused: {err:?}"));
                let (ciphertext, shared) = kem::encapsulate_with(&ek, &m).unwrap();
                let c = unhex(id, "c", required(id, "c", &case.c));
                let k = unhex(id, "K", required(id, "K", &case.k));
                assert_eq!(&ciphertext.0[..], &c[..], "case {id}: c");
                assert_eq!(&shared.expose()[..], &k[..], "case {id}: K");
                valid += 1;
            }
            Outcome::Invalid => {
                assert!(
                    case.flags.iter().any(|flag| flag == "ModulusOverflow")
                        || case.comment == "Public key not reduced",
                    "case {id}: unexpected kind of invalid key: {} {:?}",
                    case.comment,
                    case.flags
                );
                assert_eq!(
                    kem::check_public_key(&ek).err(),
                    Some(SealError::InvalidKemKey),
                    "case {id}"
                );
                assert_eq!(
                    kem::encapsulate_with(&ek, &m).err(),
                    Some(SealError::InvalidKemKey),
                    "case {id}: encapsulation to a refused key"
                );
                modulus_refused += 1;
            }
            Outcome::Acceptable => panic!("case {id}: no acceptable cases expected"),
        }
    }
    assert_eq!(
        (valid, modulus_refused, wrong_length),
        (133, 112, 20),
        "every ML-KEM-768 encapsulation case"
    );
}

/// Decapsulation from a seed: the wrapper's key publishes Wycheproof's `ek`
/// and decapsulates `c` to `K`, for honest, bit-flipped and random
/// ciphertexts (implicit rejection) and C2SP CCTV's `strcmp` case; seeds or
/// ciphertexts of the wrong length cannot reach the wrapper.
#[test]
fn wycheproof_decapsulation_from_seed_including_implicit_rejection() {
    let mut valid = 0;
    let mut rejected_implicitly = 0;
    let mut wrong_length = 0;
    for case in wycheproof_cases("mlkem_768_test.json") {
        let id = case.tc_id;
        let seed = unhex(id, "seed", required(id, "seed", &case.seed));
        let c = unhex(id, "c", required(id, "c", &case.c));
        let (Ok(seed), Ok(c)) = (
            <[u8; kem::SEED_LEN]>::try_from(seed.as_slice()),
            <[u8; MlKemCiphertext::LEN]>::try_from(c.as_slice()),
        ) else {
            assert_eq!(case.result, Outcome::Invalid, "case {id}: {}", case.comment);
            wrong_length += 1;
            continue;
        };
        assert_eq!(case.result, Outcome::Valid, "case {id}: {}", case.comment);
        let secret = KemSecret::from_seed(seed);
        let ek = unhex(id, "ek", required(id, "ek", &case.ek));
        let k = unhex(id, "K", required(id, "K", &case.k));
        assert_eq!(&secret.public_key().0[..], &ek[..], "case {id}: ek");
        assert_eq!(
            &secret.decapsulate(&MlKemCiphertext(c)).expose()[..],
            &k[..],
            "case {id}: K ({})",
            case.comment
        );
        if matches!(
            case.comment.as_str(),
            "Bit flipped ciphertext" | "Random ciphertext"
        ) || case.flags.iter().any(|flag| flag == "Strcmp")
        {
            rejected_implicitly += 1;
        }
        valid += 1;
    }
    assert_eq!(
        (valid, rejected_implicitly, wrong_length),
        (153, 21, 40),
        "every ML-KEM-768 decapsulation case"
    );
}
