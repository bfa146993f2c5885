//! Benchmarks of attachment sealing and opening (DESIGN.md §13), each next
//! to its baseline in the same run:
//!
//! - `seal/N`, `open/N` (N = 1 MiB and 64 MiB, in memory): fuin on one core
//!   (`fuin`) and on all cores (`fuin_parallel`, windows of 16 chunks),
//!   against bare AES-256-GCM over the same 64 KiB chunks (`bare_gcm`), the
//!   same plus the SHA-256 of the output that a blob id needs
//!   (`bare_gcm_sha256`), and bare GCM on all cores (`bare_gcm_parallel`,
//!   the scaling the machine gives at all).
//! - `stream/1GiB`: a 1 GiB object streamed from a generator, never held in
//!   memory: sealing into a sink (`seal_*`), and sealing piped straight into
//!   an opener (`seal_open_*`), fuin on one core and on all cores against
//!   bare GCM doing the same chunk by chunk.
//! - Peak memory, measured before the timings: the rise of the process's
//!   peak resident set (`VmHWM` in `/proc/self/status`, reset through
//!   `/proc/self/clear_refs`) while 1 MiB, 64 MiB and 1 GiB objects are
//!   sealed and opened streaming. The library forbids `unsafe`, and a
//!   counting global allocator would need it, so the kernel's count is used.
//!
//! Run with `cargo bench -p fuin-seal --bench attachment` (about 5
//! minutes). Without `--bench` (as `cargo test --benches` runs it) only a
//! quick pass runs.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    missing_docs
)]

use std::hint::black_box;
use std::io::{Read, Write};
use std::time::Duration;

use aes_gcm::aead::inout::InOutBuf;
use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use rayon::prelude::*;
use sha2::{Digest, Sha256};

use fuin_seal::ConversationId;
use fuin_seal::attachment::{
    ChunkSize, DEFAULT_WINDOW_CHUNKS, ObjectOpener, ObjectSealer, SealedObject,
};
use fuin_wire::attachment::MediaType;
use fuin_wire::{DeviceAddress, DeviceId, UserId};

const MIB: usize = 1 << 20;
const CHUNK: usize = 64 * 1024;
const TAG: usize = 16;
/// Bare GCM binds as much associated data as a fuin chunk does (the header).
const AAD: [u8; 69] = [0x5a; 69];

fn sealer(seed: u64) -> ObjectSealer {
    let owner = DeviceAddress::new(UserId::new("alice").unwrap(), DeviceId(1));
    let conversation = ConversationId::direct(&owner.user, &UserId::new("bob").unwrap());
    ObjectSealer::new(
        &mut ChaCha20Rng::seed_from_u64(seed),
        &owner,
        conversation,
        MediaType::new("video/mp4").unwrap(),
        ChunkSize::DEFAULT,
    )
}

fn plaintext(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 131 % 251) as u8).collect()
}

/// A plaintext of `remaining` bytes, made on the fly from a 64 KiB pattern.
struct Generator {
    pattern: Vec<u8>,
    position: usize,
    remaining: u64,
}

impl Generator {
    fn new(len: u64) -> Self {
        Self {
            pattern: plaintext(CHUNK),
            position: 0,
            remaining: len,
        }
    }
}

impl Read for Generator {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf
            .len()
            .min(self.pattern.len() - self.position)
            .min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        buf[..n].copy_from_slice(&self.pattern[self.position..self.position + n]);
        self.position = (self.position + n) % self.pattern.len();
        self.remaining -= n as u64;
        Ok(n)
    }
}

fn gcm() -> Aes256Gcm {
    Aes256Gcm::new(&Key::<Aes256Gcm>::from([0x11; 32]))
}

fn nonce(index: usize, last: bool) -> Nonce<aes_gcm::aead::consts::U12> {
    let mut nonce = [0u8; 12];
    nonce[7..11].copy_from_slice(&(index as u32).to_be_bytes());
    nonce[11] = u8::from(last);
    Nonce::from(nonce)
}

/// Bare AES-256-GCM over `input` in 64 KiB chunks into a fresh output of
/// the same layout as a sealed object's body (ciphertext, then tag).
fn bare_seal(cipher: &Aes256Gcm, input: &[u8], parallel: bool) -> Vec<u8> {
    let chunks = input.len().div_ceil(CHUNK).max(1);
    let mut out = vec![0u8; input.len() + chunks * TAG];
    let seal = |(index, (piece, plain)): (usize, (&mut [u8], &[u8]))| {
        let (data, tag_slot) = piece.split_at_mut(plain.len());
        let buffer = InOutBuf::new(plain, data).unwrap();
        let tag = cipher
            .encrypt_inout_detached(&nonce(index, index + 1 == chunks), &AAD, buffer)
            .unwrap();
        tag_slot.copy_from_slice(&tag);
    };
    if parallel {
        out.par_chunks_mut(CHUNK + TAG)
            .zip(input.par_chunks(CHUNK))
            .enumerate()
            .for_each(seal);
    } else {
        out.chunks_mut(CHUNK + TAG)
            .zip(input.chunks(CHUNK))
            .enumerate()
            .for_each(seal);
    }
    out
}

fn bare_open(cipher: &Aes256Gcm, sealed: &[u8], parallel: bool) -> Vec<u8> {
    let chunks = sealed.len().div_ceil(CHUNK + TAG);
    let mut out = vec![0u8; sealed.len() - chunks * TAG];
    let open = |(index, (piece, plain)): (usize, (&[u8], &mut [u8]))| {
        let (data, tag) = piece.split_at(plain.len());
        let buffer = InOutBuf::new(data, plain).unwrap();
        cipher
            .decrypt_inout_detached(
                &nonce(index, index + 1 == chunks),
                &AAD,
                buffer,
                tag.try_into().unwrap(),
            )
            .unwrap();
    };
    if parallel {
        sealed
            .par_chunks(CHUNK + TAG)
            .zip(out.par_chunks_mut(CHUNK))
            .enumerate()
            .for_each(open);
    } else {
        sealed
            .chunks(CHUNK + TAG)
            .zip(out.chunks_mut(CHUNK))
            .enumerate()
            .for_each(open);
    }
    out
}

fn in_memory(c: &mut Criterion, sizes: &[usize]) {
    let cipher = gcm();
    for &len in sizes {
        let data = plaintext(len);
        let id = format!("{}MiB", len / MIB);
        let mut group = c.benchmark_group("seal");
        group.throughput(Throughput::Bytes(len as u64));
        group.sample_size(if len > 8 * MIB { 15 } else { 40 });
        group.bench_function(BenchmarkId::new("bare_gcm", &id), |b| {
            b.iter_with_large_drop(|| bare_seal(&cipher, black_box(&data), false))
        });
        group.bench_function(BenchmarkId::new("bare_gcm_sha256", &id), |b| {
            b.iter_with_large_drop(|| {
                let out = bare_seal(&cipher, black_box(&data), false);
                let digest: [u8; 32] = Sha256::digest(&out).into();
                (out, digest)
            })
        });
        group.bench_function(BenchmarkId::new("bare_gcm_parallel", &id), |b| {
            b.iter_with_large_drop(|| bare_seal(&cipher, black_box(&data), true))
        });
        group.bench_function(BenchmarkId::new("fuin", &id), |b| {
            b.iter_with_large_drop(|| sealer(1).seal(black_box(&data)).unwrap())
        });
        group.bench_function(BenchmarkId::new("fuin_parallel", &id), |b| {
            b.iter_with_large_drop(|| {
                sealer(1)
                    .seal_parallel(black_box(&data), DEFAULT_WINDOW_CHUNKS)
                    .unwrap()
            })
        });
        group.finish();

        let bare_sealed = bare_seal(&cipher, &data, false);
        let (sealed, object) = sealer(1).seal(&data).unwrap();
        let opener = || ObjectOpener::new(&object.object, &object.context);
        let mut group = c.benchmark_group("open");
        group.throughput(Throughput::Bytes(len as u64));
        group.sample_size(if len > 8 * MIB { 15 } else { 40 });
        group.bench_function(BenchmarkId::new("bare_gcm", &id), |b| {
            b.iter_with_large_drop(|| bare_open(&cipher, black_box(&bare_sealed), false))
        });
        group.bench_function(BenchmarkId::new("bare_gcm_sha256", &id), |b| {
            b.iter_with_large_drop(|| {
                let digest: [u8; 32] = Sha256::digest(black_box(&bare_sealed)).into();
                (bare_open(&cipher, &bare_sealed, false), digest)
            })
        });
        group.bench_function(BenchmarkId::new("bare_gcm_parallel", &id), |b| {
            b.iter_with_large_drop(|| bare_open(&cipher, black_box(&bare_sealed), true))
        });
        group.bench_function(BenchmarkId::new("fuin", &id), |b| {
            b.iter_with_large_drop(|| opener().open(black_box(&sealed)).unwrap())
        });
        group.bench_function(BenchmarkId::new("fuin_parallel", &id), |b| {
            b.iter_with_large_drop(|| {
                opener()
                    .open_parallel(black_box(&sealed), DEFAULT_WINDOW_CHUNKS)
                    .unwrap()
            })
        });
        group.finish();
    }
}

/// Bare GCM over a generated stream, chunk by chunk into `out`; with
/// `open`, each chunk is opened again right after it was sealed.
fn bare_stream(cipher: &Aes256Gcm, len: u64, open: bool, mut out: impl Write) {
    let mut input = Generator::new(len);
    let mut buffer = vec![0u8; CHUNK + TAG];
    let chunks = usize::try_from(len).unwrap().div_ceil(CHUNK).max(1);
    for index in 0..chunks {
        let mut filled = 0;
        while filled < CHUNK {
            let n = input.read(&mut buffer[filled..CHUNK]).unwrap();
            if n == 0 {
                break;
            }
            filled += n;
        }
        let last = index + 1 == chunks;
        let (data, tag_slot) = buffer.split_at_mut(filled);
        let tag = cipher
            .encrypt_inout_detached(&nonce(index, last), &AAD, data.into())
            .unwrap();
        tag_slot[..TAG].copy_from_slice(&tag);
        if open {
            cipher
                .decrypt_inout_detached(&nonce(index, last), &AAD, data.into(), &tag)
                .unwrap();
        }
        out.write_all(&buffer[..filled + TAG]).unwrap();
    }
}

/// The reference of the object `sealer(seed)` makes of a generated
/// plaintext of `len` bytes (sealed once into a sink to learn its hash).
fn streamed_object(seed: u64, len: u64) -> SealedObject {
    sealer(seed)
        .seal_stream(Generator::new(len), std::io::sink())
        .unwrap()
}

/// Seals a generated plaintext and pipes the sealed bytes straight into an
/// opener of `object`, which must verify it.
fn seal_open_stream(seed: u64, len: u64, object: &SealedObject, window: Option<usize>) {
    let opener = ObjectOpener::new(&object.object, &object.context);
    match window {
        None => {
            let mut opening = opener.writer(std::io::sink());
            sealer(seed)
                .seal_stream(Generator::new(len), &mut opening)
                .unwrap();
            let (_, opened) = opening.finish().unwrap();
            assert_eq!(opened.plaintext_len, len);
        }
        Some(window) => {
            let mut opening = opener.parallel_writer(std::io::sink(), window);
            sealer(seed)
                .seal_stream_parallel(Generator::new(len), &mut opening, window)
                .unwrap();
            let (_, opened) = opening.finish().unwrap();
            assert_eq!(opened.plaintext_len, len);
        }
    }
}

fn streamed(c: &mut Criterion, len: u64, name: &str) {
    let cipher = gcm();
    let object = streamed_object(2, len);
    let mut group = c.benchmark_group("stream");
    group.throughput(Throughput::Bytes(len));
    group.sample_size(10);
    group.sampling_mode(SamplingMode::Flat);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(10));
    group.bench_function(BenchmarkId::new("seal_bare_gcm", name), |b| {
        b.iter(|| bare_stream(&cipher, len, false, std::io::sink()))
    });
    group.bench_function(BenchmarkId::new("seal_fuin", name), |b| {
        b.iter(|| {
            sealer(2)
                .seal_stream(Generator::new(len), std::io::sink())
                .unwrap()
        })
    });
    group.bench_function(BenchmarkId::new("seal_fuin_parallel", name), |b| {
        b.iter(|| {
            sealer(2)
                .seal_stream_parallel(Generator::new(len), std::io::sink(), DEFAULT_WINDOW_CHUNKS)
                .unwrap()
        })
    });
    group.bench_function(BenchmarkId::new("seal_open_bare_gcm", name), |b| {
        b.iter(|| bare_stream(&cipher, len, true, std::io::sink()))
    });
    group.bench_function(BenchmarkId::new("seal_open_fuin", name), |b| {
        b.iter(|| seal_open_stream(2, len, &object, None))
    });
    group.bench_function(BenchmarkId::new("seal_open_fuin_parallel", name), |b| {
        b.iter(|| seal_open_stream(2, len, &object, Some(DEFAULT_WINDOW_CHUNKS)))
    });
    group.finish();
}

fn status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The rise of the peak resident set, in KiB, while `work` runs.
fn peak_rise_kib(work: impl FnOnce()) -> Option<u64> {
    std::fs::write("/proc/self/clear_refs", "5").ok()?;
    let before = status_kib("VmRSS:")?;
    work();
    let peak = status_kib("VmHWM:")?;
    Some(peak.saturating_sub(before))
}

fn memory_probe(sizes: &[u64]) {
    // Start rayon's threads first, so that their stacks are not counted
    // against the first measurement.
    (0..64).into_par_iter().for_each(|i| {
        black_box(i);
    });
    println!("peak resident set rise while sealing and opening streamed objects (KiB):");
    println!(
        "| object | seal, one core | seal → open, one core | seal, all cores | seal → open, all cores |"
    );
    println!("| ---: | ---: | ---: | ---: | ---: |");
    for &len in sizes {
        let object = streamed_object(3, len);
        let show = |kib: Option<u64>| kib.map_or("n/a".to_owned(), |kib| kib.to_string());
        let seal = peak_rise_kib(|| {
            black_box(streamed_object(3, len));
        });
        let seal_open = peak_rise_kib(|| seal_open_stream(3, len, &object, None));
        let seal_parallel = peak_rise_kib(|| {
            black_box(
                sealer(3)
                    .seal_stream_parallel(
                        Generator::new(len),
                        std::io::sink(),
                        DEFAULT_WINDOW_CHUNKS,
                    )
                    .unwrap(),
            );
        });
        let seal_open_parallel =
            peak_rise_kib(|| seal_open_stream(3, len, &object, Some(DEFAULT_WINDOW_CHUNKS)));
        println!(
            "| {} MiB | {} | {} | {} | {} |",
            len >> 20,
            show(seal),
            show(seal_open),
            show(seal_parallel),
            show(seal_open_parallel)
        );
    }
}

fn main() {
    let full = std::env::args().any(|arg| arg == "--bench");
    let gib = 1u64 << 30;
    if full {
        memory_probe(&[MIB as u64, 64 * MIB as u64, gib]);
    } else {
        memory_probe(&[MIB as u64]);
    }
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .without_plots()
        .configure_from_args();
    if full {
        in_memory(&mut c, &[MIB, 64 * MIB]);
        streamed(&mut c, gib, "1GiB");
    } else {
        in_memory(&mut c, &[MIB]);
        streamed(&mut c, 4 * MIB as u64, "4MiB");
    }
    c.final_summary();
}
