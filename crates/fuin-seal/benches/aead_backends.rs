//! AES-256-GCM implementations side by side, in one run, on one core: the
//! measurement behind the backend of `fuin_seal::primitives::gcm` (see
//! BENCHMARKS.md, "fuin-seal (AES-256-GCM backends)").
//!
//! For each size (64 B, 1 KiB, 64 KiB, 1 MiB), seal and open, two ways:
//!
//! - `fresh`: the key is expanded for every operation, as the key-committing
//!   AEAD does for every message (a new key per message), so key setup
//!   counts;
//! - `prepared`: the key is expanded once, as for the chunks of one
//!   attachment.
//!
//! Candidates: `aes-gcm` 0.11 (RustCrypto, pure Rust: fuin's portable
//! path), `ring` 0.17, `aws-lc-rs` 1.x and `graviola` 0.4 (these two on x86_64 and
//! aarch64), and `fuin_gcm`, the
//! crate's own interface on its default backend (so the cost of the wrapper
//! shows next to the bare crates). Criterion reports throughput in bytes of
//! plaintext; 16 bytes of associated data as a fuin chunk header would give.
//!
//! Run with `cargo bench -p fuin-seal --bench aead_backends` (about 4
//! minutes). Without `--bench` (as `cargo test --benches` runs it) each
//! case runs once, which also checks that every candidate round-trips.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    missing_docs
)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput};

const KEY: [u8; 32] = [0x42; 32];
const NONCE: [u8; 12] = [0x24; 12];
const AAD: [u8; 16] = [0x11; 16];
const SIZES: [(usize, &str); 4] = [
    (64, "64B"),
    (1024, "1KiB"),
    (64 * 1024, "64KiB"),
    (1024 * 1024, "1MiB"),
];

/// One AES-256-GCM implementation, reduced to what fuin needs: detached
/// tags, 12-byte nonces, in place.
trait Backend {
    const NAME: &'static str;
    type Key;
    fn expand(key: &[u8; 32]) -> Self::Key;
    fn seal(key: &Self::Key, nonce: &[u8; 12], aad: &[u8], buffer: &mut [u8]) -> [u8; 16];
    fn open(
        key: &Self::Key,
        nonce: &[u8; 12],
        aad: &[u8],
        buffer: &mut [u8],
        tag: &[u8; 16],
    ) -> bool;
}

struct RustCrypto;

impl Backend for RustCrypto {
    const NAME: &'static str = "aes-gcm";
    type Key = aes_gcm::Aes256Gcm;
    fn expand(key: &[u8; 32]) -> Self::Key {
        use aes_gcm::aead::KeyInit;
        aes_gcm::Aes256Gcm::new(&aes_gcm::Key::<aes_gcm::Aes256Gcm>::from(*key))
    }
    fn seal(key: &Self::Key, nonce: &[u8; 12], aad: &[u8], buffer: &mut [u8]) -> [u8; 16] {
        use aes_gcm::aead::AeadInOut;
        key.encrypt_inout_detached(&aes_gcm::Nonce::from(*nonce), aad, buffer.into())
            .unwrap()
            .into()
    }
    fn open(
        key: &Self::Key,
        nonce: &[u8; 12],
        aad: &[u8],
        buffer: &mut [u8],
        tag: &[u8; 16],
    ) -> bool {
        use aes_gcm::aead::AeadInOut;
        key.decrypt_inout_detached(
            &aes_gcm::Nonce::from(*nonce),
            aad,
            buffer.into(),
            &aes_gcm::Tag::from(*tag),
        )
        .is_ok()
    }
}

struct Ring;

impl Backend for Ring {
    const NAME: &'static str = "ring";
    type Key = ring::aead::LessSafeKey;
    fn expand(key: &[u8; 32]) -> Self::Key {
        ring::aead::LessSafeKey::new(
            ring::aead::UnboundKey::new(&ring::aead::AES_256_GCM, key).unwrap(),
        )
    }
    fn seal(key: &Self::Key, nonce: &[u8; 12], aad: &[u8], buffer: &mut [u8]) -> [u8; 16] {
        let tag = key
            .seal_in_place_separate_tag(
                ring::aead::Nonce::assume_unique_for_key(*nonce),
                ring::aead::Aad::from(aad),
                buffer,
            )
            .unwrap();
        tag.as_ref().try_into().unwrap()
    }
    fn open(
        key: &Self::Key,
        nonce: &[u8; 12],
        aad: &[u8],
        buffer: &mut [u8],
        tag: &[u8; 16],
    ) -> bool {
        key.open_in_place_separate_tag(
            ring::aead::Nonce::assume_unique_for_key(*nonce),
            ring::aead::Aad::from(aad),
            ring::aead::Tag::from(*tag),
            buffer,
            0..,
        )
        .is_ok()
    }
}

#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
struct AwsLc;

#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
impl Backend for AwsLc {
    const NAME: &'static str = "aws-lc-rs";
    type Key = aws_lc_rs::aead::LessSafeKey;
    fn expand(key: &[u8; 32]) -> Self::Key {
        aws_lc_rs::aead::LessSafeKey::new(
            aws_lc_rs::aead::UnboundKey::new(&aws_lc_rs::aead::AES_256_GCM, key).unwrap(),
        )
    }
    fn seal(key: &Self::Key, nonce: &[u8; 12], aad: &[u8], buffer: &mut [u8]) -> [u8; 16] {
        let tag = key
            .seal_in_place_separate_tag(
                aws_lc_rs::aead::Nonce::assume_unique_for_key(*nonce),
                aws_lc_rs::aead::Aad::from(aad),
                buffer,
            )
            .unwrap();
        tag.as_ref().try_into().unwrap()
    }
    fn open(
        key: &Self::Key,
        nonce: &[u8; 12],
        aad: &[u8],
        buffer: &mut [u8],
        tag: &[u8; 16],
    ) -> bool {
        key.open_in_place_separate_tag(
            aws_lc_rs::aead::Nonce::assume_unique_for_key(*nonce),
            aws_lc_rs::aead::Aad::from(aad),
            tag,
            buffer,
        )
        .is_ok()
    }
}

#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
struct Graviola;

#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
impl Backend for Graviola {
    const NAME: &'static str = "graviola";
    type Key = graviola::aead::AesGcm;
    fn expand(key: &[u8; 32]) -> Self::Key {
        graviola::aead::AesGcm::new(key)
    }
    fn seal(key: &Self::Key, nonce: &[u8; 12], aad: &[u8], buffer: &mut [u8]) -> [u8; 16] {
        let mut tag = [0; 16];
        key.encrypt(nonce, aad, buffer, &mut tag);
        tag
    }
    fn open(
        key: &Self::Key,
        nonce: &[u8; 12],
        aad: &[u8],
        buffer: &mut [u8],
        tag: &[u8; 16],
    ) -> bool {
        key.decrypt(nonce, aad, buffer, tag).is_ok()
    }
}

struct FuinGcm;

impl Backend for FuinGcm {
    const NAME: &'static str = "fuin_gcm";
    type Key = fuin_seal::primitives::gcm::Gcm;
    fn expand(key: &[u8; 32]) -> Self::Key {
        fuin_seal::primitives::gcm::Gcm::new(key)
    }
    fn seal(key: &Self::Key, nonce: &[u8; 12], aad: &[u8], buffer: &mut [u8]) -> [u8; 16] {
        key.seal_in_place(nonce, aad, buffer)
    }
    fn open(
        key: &Self::Key,
        nonce: &[u8; 12],
        aad: &[u8],
        buffer: &mut [u8],
        tag: &[u8; 16],
    ) -> bool {
        key.open_in_place(nonce, aad, buffer, tag).is_ok()
    }
}

/// A buffer of `len` bytes sealed under [`KEY`], and its tag; checks on the
/// way that the backend opens what it sealed and agrees with `aes-gcm`.
fn sealed<B: Backend>(len: usize) -> (Vec<u8>, [u8; 16]) {
    let plaintext: Vec<u8> = (0..len).map(|i| i as u8).collect();
    let mut buffer = plaintext.clone();
    let tag = B::seal(&B::expand(&KEY), &NONCE, &AAD, &mut buffer);
    let mut reference = plaintext.clone();
    let reference_tag = RustCrypto::seal(&RustCrypto::expand(&KEY), &NONCE, &AAD, &mut reference);
    assert!(
        buffer == reference && tag == reference_tag,
        "{} disagrees with aes-gcm",
        B::NAME
    );
    let mut opened = buffer.clone();
    assert!(B::open(&B::expand(&KEY), &NONCE, &AAD, &mut opened, &tag));
    assert_eq!(opened, plaintext, "{} does not round-trip", B::NAME);
    (buffer, tag)
}

fn bench_backend<B: Backend>(c: &mut Criterion) {
    for (len, size) in SIZES {
        let batch = if len >= 64 * 1024 {
            BatchSize::LargeInput
        } else {
            BatchSize::SmallInput
        };
        let (ciphertext, tag) = sealed::<B>(len);
        let prepared = B::expand(&KEY);

        let mut group = c.benchmark_group(format!("gcm/{size}"));
        group.throughput(Throughput::Bytes(len as u64));

        let mut buffer = vec![0u8; len];
        group.bench_function(BenchmarkId::new("seal_fresh", B::NAME), |b| {
            b.iter(|| {
                let key = B::expand(black_box(&KEY));
                black_box(B::seal(&key, &NONCE, &AAD, &mut buffer))
            });
        });
        group.bench_function(BenchmarkId::new("seal_prepared", B::NAME), |b| {
            b.iter(|| black_box(B::seal(&prepared, &NONCE, &AAD, &mut buffer)));
        });
        // Opening in place turns the buffer into plaintext, so each
        // iteration gets a fresh copy of the ciphertext, made outside the
        // timed part.
        group.bench_function(BenchmarkId::new("open_fresh", B::NAME), |b| {
            b.iter_batched_ref(
                || ciphertext.clone(),
                |buffer| {
                    let key = B::expand(black_box(&KEY));
                    assert!(B::open(&key, &NONCE, &AAD, buffer, &tag));
                },
                batch,
            );
        });
        group.bench_function(BenchmarkId::new("open_prepared", B::NAME), |b| {
            b.iter_batched_ref(
                || ciphertext.clone(),
                |buffer| assert!(B::open(&prepared, &NONCE, &AAD, buffer, &tag)),
                batch,
            );
        });
        group.finish();
    }
}

fn main() {
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30)
        .configure_from_args();
    bench_backend::<RustCrypto>(&mut c);
    bench_backend::<Ring>(&mut c);
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    bench_backend::<AwsLc>(&mut c);
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    if graviola::util::is_cpu_supported() {
        bench_backend::<Graviola>(&mut c);
    }
    bench_backend::<FuinGcm>(&mut c);
    c.final_summary();
}
