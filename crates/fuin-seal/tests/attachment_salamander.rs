//! The invisible-salamander attack, performed: one AES-256-GCM ciphertext
//! that bare AES-GCM opens, with a valid tag, under two different keys. The
//! GHASH tag is linear in each ciphertext block, so choosing one block
//! solves one equation in GF(2^128) that makes the two keys' tags equal.
//!
//! The first tests show the construction is real against the `aes-gcm`
//! crate itself; the last builds an attachment from it and shows that fuin
//! opens it under the first key only: the second key derives another key
//! commitment, and the object is refused before GCM runs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod attachments;

use aes::Aes256;
use aes::cipher::{BlockCipherEncrypt, KeyInit};
use attachments::*;
use fuin_seal::attachment::{AttachmentError, ChunkSize, HEADER_LEN, ObjectContext};
use fuin_seal::primitives::aead::raw;
use fuin_wire::BlobId;
use fuin_wire::attachment::{AttachmentKey, ObjectId, SealedObjectRef};

/// A GF(2^128) element in GCM's convention: the block read big-endian, so
/// the coefficient of x^0 is the top bit.
type Element = u128;

/// x^0, the multiplicative identity.
const ONE: Element = 1 << 127;

/// Multiplication in GF(2^128) modulo x^128 + x^7 + x^2 + x + 1, bit by bit
/// (NIST SP 800-38D, Algorithm 1).
fn gf_mul(x: Element, y: Element) -> Element {
    const R: Element = 0xe1 << 120;
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

fn gf_pow(mut base: Element, mut exponent: u128) -> Element {
    let mut result = ONE;
    while exponent > 0 {
        if exponent & 1 == 1 {
            result = gf_mul(result, base);
        }
        base = gf_mul(base, base);
        exponent >>= 1;
    }
    result
}

/// The inverse of a nonzero element: a^(2^128 - 2).
fn gf_inv(a: Element) -> Element {
    assert_ne!(a, 0);
    gf_pow(a, u128::MAX - 1)
}

fn aes_block(key: &[u8; 32], block: [u8; 16]) -> Element {
    let cipher = Aes256::new(&(*key).into());
    let mut block = block.into();
    cipher.encrypt_block(&mut block);
    u128::from_be_bytes(block.into())
}

fn blocks(bytes: &[u8]) -> Vec<Element> {
    bytes
        .chunks(16)
        .map(|chunk| {
            let mut block = [0u8; 16];
            block[..chunk.len()].copy_from_slice(chunk);
            u128::from_be_bytes(block)
        })
        .collect()
}

/// GHASH_H over `aad` and `ciphertext`, with the length block.
fn ghash(h: Element, aad: &[u8], ciphertext: &[u8]) -> Element {
    let lengths = ((aad.len() as u128 * 8) << 64) | (ciphertext.len() as u128 * 8);
    blocks(aad)
        .into_iter()
        .chain(blocks(ciphertext))
        .chain([lengths])
        .fold(0, |y, s| gf_mul(y ^ s, h))
}

/// One key and nonce of bare AES-256-GCM.
#[derive(Clone, Copy)]
struct Gcm {
    key: [u8; 32],
    nonce: [u8; 12],
}

impl Gcm {
    fn h(&self) -> Element {
        aes_block(&self.key, [0; 16])
    }

    /// E_K(J0), which masks the GHASH value into the tag.
    fn tag_mask(&self) -> Element {
        let mut j0 = [0u8; 16];
        j0[..12].copy_from_slice(&self.nonce);
        j0[15] = 1;
        aes_block(&self.key, j0)
    }

    fn tag(&self, aad: &[u8], ciphertext: &[u8]) -> Element {
        self.tag_mask() ^ ghash(self.h(), aad, ciphertext)
    }
}

/// Builds a ciphertext of `len` bytes (a multiple of 16) that both `a` and
/// `b` accept under `aad`, with its tag. Every block is what `a` makes of
/// `wanted` except block `free`, which is solved for.
fn two_key_ciphertext(a: Gcm, b: Gcm, aad: &[u8], wanted: &[u8], free: usize) -> Vec<u8> {
    assert_eq!(wanted.len() % 16, 0);
    let mut ciphertext = raw::encrypt(&a.key, &a.nonce, aad, wanted);
    ciphertext.truncate(wanted.len());
    let block_range = free * 16..free * 16 + 16;
    ciphertext[block_range.clone()].fill(0);
    // With the free block X, tag_k = mask_k ^ ghash_k(X = 0) ^ X * H_k^e,
    // where e counts the blocks from X to the end of the GHASH input.
    let exponent = (ciphertext.len() / 16 - free + 1) as u128;
    let base_a = a.tag(aad, &ciphertext);
    let base_b = b.tag(aad, &ciphertext);
    let coefficient = gf_pow(a.h(), exponent) ^ gf_pow(b.h(), exponent);
    let x = gf_mul(base_a ^ base_b, gf_inv(coefficient));
    ciphertext[block_range].copy_from_slice(&x.to_be_bytes());
    let tag = a.tag(aad, &ciphertext);
    assert_eq!(tag, b.tag(aad, &ciphertext), "the two tags collide");
    ciphertext.extend_from_slice(&tag.to_be_bytes());
    ciphertext
}

#[test]
fn the_field_arithmetic_is_right() {
    let a = 0x0123_4567_89ab_cdef_fedc_ba98_7654_3210;
    let b = 0x1111_2222_3333_4444_5555_6666_7777_8888;
    assert_eq!(gf_mul(a, ONE), a);
    assert_eq!(gf_mul(a, b), gf_mul(b, a));
    assert_eq!(gf_mul(a, gf_inv(a)), ONE);
    assert_eq!(gf_mul(gf_mul(a, b), gf_inv(b)), a);
}

#[test]
fn this_gcm_tag_computation_agrees_with_aes_gcm() {
    let gcm = Gcm {
        key: [7; 32],
        nonce: [9; 12],
    };
    for (aad, plaintext) in [
        (&b""[..], &b""[..]),
        (b"ad", b"sixteen bytes!!!"),
        (&[1u8; 37][..], &[2u8; 50][..]),
    ] {
        let sealed = raw::encrypt(&gcm.key, &gcm.nonce, aad, plaintext);
        let (ciphertext, tag) = sealed.split_at(plaintext.len());
        assert_eq!(gcm.tag(aad, ciphertext).to_be_bytes(), tag);
    }
}

#[test]
fn bare_aes_gcm_opens_one_ciphertext_under_two_keys() {
    // Two keys and one nonce, as in the published attack.
    let nonce = [0x24; 12];
    let a = Gcm {
        key: [0xaa; 32],
        nonce,
    };
    let b = Gcm {
        key: [0xbb; 32],
        nonce,
    };
    let wanted = plaintext(64, 1);
    let sealed = two_key_ciphertext(a, b, b"album", &wanted, 3);
    let under_a = raw::decrypt(&a.key, &a.nonce, b"album", &sealed).unwrap();
    let under_b = raw::decrypt(&b.key, &b.nonce, b"album", &sealed).unwrap();
    assert_eq!(
        under_a[..48],
        wanted[..48],
        "the sender's plaintext, but the free block"
    );
    assert_ne!(
        under_a, under_b,
        "two different plaintexts from one ciphertext"
    );
    // And a third key does not open it: the tag is real.
    assert!(raw::decrypt(&[0xcc; 32], &nonce, b"album", &sealed).is_err());
}

/// What fuin derives from an attachment key (spec/attachments.md §3),
/// computed here directly with HKDF: the GCM key, the nonce prefix and the
/// commitment.
fn attachment_keys(
    key: &[u8; 32],
    context_id: &[u8; 32],
    chunk_size: u32,
) -> ([u8; 32], [u8; 7], [u8; 32]) {
    let mut derived = [0u8; 71];
    hkdf::Hkdf::<sha2::Sha256>::new(None, key)
        .expand_multi_info(
            &[
                b"fuin/v1/attachment-keys",
                context_id,
                &chunk_size.to_be_bytes(),
            ],
            &mut derived,
        )
        .unwrap();
    (
        derived[..32].try_into().unwrap(),
        derived[32..39].try_into().unwrap(),
        derived[39..].try_into().unwrap(),
    )
}

#[test]
fn fuin_refuses_the_second_key_of_a_ciphertext_made_for_two() {
    // A malicious sender wants one blob that shows one picture to a
    // recipient and another one to a moderator: one chunk that GCM opens
    // under the keys of two attachment keys.
    let chunk_size = 64u32;
    let owner = address("mallory", 1);
    let context = ObjectContext {
        owner: owner.clone(),
        conversation: fuin_seal::ConversationId([3; 32]),
        object_id: ObjectId([4; 16]),
        content_type: media("image/png"),
    };
    let context_id = context.id();
    let (first_key, second_key) = ([0x11u8; 32], [0x22u8; 32]);
    let (gcm_1, prefix_1, commitment_1) = attachment_keys(&first_key, &context_id, chunk_size);
    let (gcm_2, prefix_2, _) = attachment_keys(&second_key, &context_id, chunk_size);
    let chunk_nonce = |prefix: [u8; 7]| {
        let mut nonce = [0u8; 12];
        nonce[..7].copy_from_slice(&prefix);
        nonce[11] = 1; // index 0, the last chunk
        nonce
    };
    let first = Gcm {
        key: gcm_1,
        nonce: chunk_nonce(prefix_1),
    };
    let second = Gcm {
        key: gcm_2,
        nonce: chunk_nonce(prefix_2),
    };

    // The header carries the first key's commitment; it is every chunk's
    // associated data. Version 2, what fuin seals (version 1 differs only
    // in the blob id's hash, which plays no part here).
    let mut header = vec![2u8];
    header.extend_from_slice(&chunk_size.to_be_bytes());
    header.extend_from_slice(&context_id);
    header.extend_from_slice(&commitment_1);
    assert_eq!(header.len(), HEADER_LEN);
    let chunk = two_key_ciphertext(first, second, &header, &plaintext(64, 9), 0);
    let blob = [header.clone(), chunk.clone()].concat();

    // Bare AES-GCM, skipping the commitment, would show either picture.
    let seen_with_first = raw::decrypt(&first.key, &first.nonce, &header, &chunk).unwrap();
    let seen_with_second = raw::decrypt(&second.key, &second.nonce, &header, &chunk).unwrap();
    assert_ne!(seen_with_first, seen_with_second);

    // fuin opens it with the first key, as the one picture it commits to...
    let reference = |key: [u8; 32]| SealedObjectRef {
        object_id: context.object_id,
        key: AttachmentKey(key),
        blob_id: BlobId(*blake3::hash(&blob).as_bytes()),
        sealed_len: blob.len() as u64,
    };
    assert_eq!(ChunkSize::new(chunk_size).unwrap().get(), chunk_size);
    for opened in open_everywhere(&reference(first_key), &context, &blob, 2) {
        assert_eq!(
            opened.result.as_ref(),
            Ok(&seen_with_first),
            "{}",
            opened.path
        );
    }
    // ...and refuses the second key through the commitment, before GCM.
    for opened in open_everywhere(&reference(second_key), &context, &blob, 2) {
        assert_eq!(
            opened.result,
            Err(AttachmentError::WrongKey),
            "{}",
            opened.path
        );
        assert!(opened.written.is_empty(), "{}", opened.path);
    }
}
