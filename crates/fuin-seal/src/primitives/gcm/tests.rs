//! Both backends against each other (the Wycheproof vectors for each are in
//! `primitives/wycheproof_tests.rs`), and the choice between them.

use proptest::prelude::*;

use super::{Backend, Gcm, TAG_LEN};

/// Whether this target should have the fast backend: every x86_64 and
/// aarch64 build, whatever the CPU (AWS-LC adapts to it).
pub(in crate::primitives) fn fast_backend_expected() -> bool {
    cfg!(any(target_arch = "x86_64", target_arch = "aarch64"))
}

/// Both backends for `key`: the fast one must exist wherever it is
/// expected, so a build that silently lost it fails here.
fn both(key: &[u8; 32]) -> (Gcm, Gcm) {
    let portable = Gcm::with_backend(Backend::Portable, key).expect("portable is everywhere");
    let fast = Gcm::with_backend(Backend::Fast, key);
    assert_eq!(
        fast.is_some(),
        fast_backend_expected(),
        "the fast backend's availability does not match the target"
    );
    // Where there is no fast backend, the portable one stands in for it so
    // the properties below still run.
    let fast = fast.unwrap_or_else(|| Gcm::with_backend(Backend::Portable, key).unwrap());
    (portable, fast)
}

#[test]
fn new_picks_the_fast_backend_where_there_is_one_unless_portable_is_forced() {
    let gcm = Gcm::new(&[3; 32]);
    let expected = if cfg!(feature = "portable-aead") || !fast_backend_expected() {
        Backend::Portable
    } else {
        Backend::Fast
    };
    assert_eq!(gcm.backend(), expected);
}

#[test]
fn with_backend_gives_the_backend_asked_for() {
    let key = [5; 32];
    assert_eq!(
        Gcm::with_backend(Backend::Portable, &key).map(|g| g.backend()),
        Some(Backend::Portable)
    );
    if fast_backend_expected() {
        assert_eq!(
            Gcm::with_backend(Backend::Fast, &key).map(|g| g.backend()),
            Some(Backend::Fast)
        );
    }
}

#[test]
fn debug_shows_no_key_material_on_either_backend() {
    let (portable, fast) = both(&[0x5a; 32]);
    assert_eq!(format!("{portable:?}"), "Gcm(<redacted>)");
    assert_eq!(format!("{fast:?}"), "Gcm(<redacted>)");
}

#[test]
fn buffers_of_different_lengths_are_refused_and_left_alone() {
    let (portable, fast) = both(&[9; 32]);
    for gcm in [&portable, &fast] {
        let mut output = [0xa5u8; 10];
        assert_eq!(
            gcm.seal_into(&[1; 12], b"", &[7; 11], &mut output),
            [0; TAG_LEN]
        );
        assert_eq!(
            output, [0xa5; 10],
            "seal_into wrote into a mismatched buffer"
        );
        assert_eq!(
            gcm.open_into(&[1; 12], b"", &[7; 11], &[0; TAG_LEN], &mut output),
            Err(super::TagMismatch)
        );
        assert_eq!(
            output, [0xa5; 10],
            "open_into wrote into a mismatched buffer"
        );
    }
}

#[test]
fn backends_agree_across_every_tail_length_of_a_large_buffer() {
    // Sizes around the fast paths' block strides (1, 4, 8 and 16 blocks at
    // a time), up to and past a 64 KiB attachment chunk.
    let (portable, fast) = both(&[0x77; 32]);
    let nonce = [0x13; 12];
    for len in (0..=300).chain([1023, 1024, 1025, 4095, 65_535, 65_536, 65_537, 200_003]) {
        let plaintext: Vec<u8> = (0..len).map(|i| (i * 31 + 7) as u8).collect();
        let mut a = plaintext.clone();
        let mut b = plaintext.clone();
        let tag_a = portable.seal_in_place(&nonce, b"hdr", &mut a);
        let tag_b = fast.seal_in_place(&nonce, b"hdr", &mut b);
        assert!(a == b && tag_a == tag_b, "backends disagree at {len} bytes");
        assert_ne!(tag_a, [0; TAG_LEN]);
        fast.open_in_place(&nonce, b"hdr", &mut a, &tag_a)
            .unwrap_or_else(|_| panic!("fast refused portable's {len} bytes"));
        portable
            .open_in_place(&nonce, b"hdr", &mut b, &tag_b)
            .unwrap_or_else(|_| panic!("portable refused fast's {len} bytes"));
        assert!(
            a == plaintext && b == plaintext,
            "round trip lost bytes at {len}"
        );
    }
}

/// A refused open left no plaintext behind: the buffer is what it was
/// before (`before`) or all zeros.
fn holds_no_plaintext(buffer: &[u8], before: &[u8]) -> bool {
    buffer == before || buffer.iter().all(|&b| b == 0)
}

/// Where to flip one bit of a sealed value.
#[derive(Debug, Clone, Copy)]
enum Flip {
    Ciphertext(usize),
    Tag(usize),
    Aad(usize),
    Nonce(usize),
}

fn flip() -> impl Strategy<Value = Flip> {
    prop_oneof![
        any::<usize>().prop_map(Flip::Ciphertext),
        any::<usize>().prop_map(Flip::Tag),
        any::<usize>().prop_map(Flip::Aad),
        any::<usize>().prop_map(Flip::Nonce),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn backends_seal_alike_and_open_each_others_output(
        key in any::<[u8; 32]>(),
        nonce in any::<[u8; 12]>(),
        aad in proptest::collection::vec(any::<u8>(), 0..100),
        plaintext in proptest::collection::vec(any::<u8>(), 0..2000),
    ) {
        let (portable, fast) = both(&key);

        // In place, and from one buffer into another: same bytes, same tag.
        let mut sealed_portable = plaintext.clone();
        let tag_portable = portable.seal_in_place(&nonce, &aad, &mut sealed_portable);
        let mut sealed_fast = vec![0u8; plaintext.len()];
        let tag_fast = fast.seal_into(&nonce, &aad, &plaintext, &mut sealed_fast);
        prop_assert_eq!(&sealed_portable, &sealed_fast);
        prop_assert_eq!(tag_portable, tag_fast);
        let mut again = vec![0u8; plaintext.len()];
        prop_assert_eq!(portable.seal_into(&nonce, &aad, &plaintext, &mut again), tag_fast);
        prop_assert_eq!(&again, &sealed_fast);
        let mut again = plaintext.clone();
        prop_assert_eq!(fast.seal_in_place(&nonce, &aad, &mut again), tag_portable);
        prop_assert_eq!(&again, &sealed_portable);

        // Each opens what the other sealed, both ways.
        for (opener, sealed, tag) in [
            (&fast, &sealed_portable, &tag_portable),
            (&portable, &sealed_fast, &tag_fast),
        ] {
            let mut buffer = sealed.clone();
            prop_assert!(opener.open_in_place(&nonce, &aad, &mut buffer, tag).is_ok());
            prop_assert_eq!(&buffer, &plaintext);
            let mut output = vec![0xa5u8; sealed.len()];
            prop_assert!(opener.open_into(&nonce, &aad, sealed, tag, &mut output).is_ok());
            prop_assert_eq!(&output, &plaintext);
        }
    }

    #[test]
    fn a_flipped_bit_is_refused_by_both_and_leaves_no_plaintext(
        key in any::<[u8; 32]>(),
        nonce in any::<[u8; 12]>(),
        aad in proptest::collection::vec(any::<u8>(), 1..64),
        plaintext in proptest::collection::vec(any::<u8>(), 1..1500),
        flip in flip(),
        bit in 0u8..8,
    ) {
        let (portable, fast) = both(&key);
        let mut sealed = plaintext.clone();
        let tag = portable.seal_in_place(&nonce, &aad, &mut sealed);
        let (mut sealed_bad, mut tag_bad, mut aad_bad, mut nonce_bad) =
            (sealed.clone(), tag, aad.clone(), nonce);
        match flip {
            Flip::Ciphertext(at) => sealed_bad[at % sealed.len()] ^= 1 << bit,
            Flip::Tag(at) => tag_bad[at % TAG_LEN] ^= 1 << bit,
            Flip::Aad(at) => aad_bad[at % aad.len()] ^= 1 << bit,
            Flip::Nonce(at) => nonce_bad[at % nonce.len()] ^= 1 << bit,
        }
        for gcm in [&portable, &fast] {
            let mut buffer = sealed_bad.clone();
            prop_assert!(gcm.open_in_place(&nonce_bad, &aad_bad, &mut buffer, &tag_bad).is_err());
            prop_assert!(holds_no_plaintext(&buffer, &sealed_bad), "in place: {:?}", gcm.backend());
            let mut output = vec![0xa5u8; sealed.len()];
            prop_assert!(gcm.open_into(&nonce_bad, &aad_bad, &sealed_bad, &tag_bad, &mut output).is_err());
            prop_assert!(
                holds_no_plaintext(&output, &vec![0xa5u8; sealed.len()]),
                "into: {:?}", gcm.backend()
            );
            // The untouched value still opens: the refusal was the flip's doing.
            let mut buffer = sealed.clone();
            prop_assert!(gcm.open_in_place(&nonce, &aad, &mut buffer, &tag).is_ok());
            prop_assert_eq!(&buffer, &plaintext);
        }
    }
}
