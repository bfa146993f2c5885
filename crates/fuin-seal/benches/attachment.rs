//! Benchmarks of attachment sealing and opening (DESIGN.md §13), each next
//! to its baselines in the same run. Bare AES-256-GCM is fuin's own backend
//! (`primitives::gcm`, the fastest well-kept one the AEAD benchmark found)
//! called directly, with no key schedule, header, hashing or buffering.
//!
//! - `seal/N`, `open/N` (N = 1 MiB and 64 MiB, in memory): fuin on one core
//!   (`fuin`) and on all cores (`fuin_parallel`, windows of 16 chunks),
//!   against bare AES-256-GCM over the same 64 KiB chunks (`bare_gcm`), bare
//!   BLAKE3 over the same bytes on one core (`bare_blake3`), bare GCM with
//!   each sealed chunk hashed by BLAKE3 right after it is sealed
//!   (`bare_gcm_blake3`: the floor of the work a version 2 object needs),
//!   and bare GCM on all cores (`bare_gcm_parallel`, the scaling the machine
//!   gives at all).
//! - `stream/1GiB`: a 1 GiB object streamed from a generator, never held in
//!   memory: sealing into a sink (`seal_*`), and sealing piped straight into
//!   an opener (`seal_open_*`), fuin on one core and on all cores against
//!   bare GCM doing the same chunk by chunk, without and with BLAKE3.
//! - Peak memory, measured before the timings: 1 MiB, 64 MiB and 1 GiB
//!   objects sealed, and sealed and piped into an opener, streaming, each in
//!   a fresh process (this binary run again), whose peak resident set
//!   (`VmHWM` in `/proc/self/status`) is compared with that of a process
//!   that does nothing. The library forbids `unsafe`, and a counting global
//!   allocator would need it, so the kernel's count is used.
//!
//! - Scaling by alternation: 256 MiB on one core and on all cores back to
//!   back, seven times, the median ratio printed (a shared machine's load
//!   then hits both sides alike).
//!
//! Run with `cargo bench -p fuin-seal --bench attachment` (about 5
//! minutes). Without `--bench` (as `cargo test --benches` runs it) only a
//! quick pass runs.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    missing_docs
)]

use std::hint::black_box;
use std::io::{Read, Write};
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput};
use fuin_seal::primitives::gcm::Gcm;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use rayon::prelude::*;

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

fn gcm() -> Gcm {
    Gcm::new(&[0x11; 32])
}

fn nonce(index: usize, last: bool) -> [u8; 12] {
    let mut nonce = [0u8; 12];
    nonce[7..11].copy_from_slice(&(index as u32).to_be_bytes());
    nonce[11] = u8::from(last);
    nonce
}

/// Bare AES-256-GCM over `input` in 64 KiB chunks into a fresh output of
/// the same layout as a sealed object's body (ciphertext, then tag). With
/// `hasher`, each sealed chunk is hashed right after it is sealed, while it
/// is in cache: the floor of what a sealed object needs.
fn bare_seal(
    cipher: &Gcm,
    input: &[u8],
    parallel: bool,
    hasher: Option<&mut blake3::Hasher>,
) -> Vec<u8> {
    let chunks = input.len().div_ceil(CHUNK).max(1);
    let mut out = vec![0u8; input.len() + chunks * TAG];
    let seal = |(index, (piece, plain)): (usize, (&mut [u8], &[u8]))| {
        let (data, tag_slot) = piece.split_at_mut(plain.len());
        let tag = cipher.seal_into(&nonce(index, index + 1 == chunks), &AAD, plain, data);
        tag_slot.copy_from_slice(&tag);
    };
    if parallel {
        out.par_chunks_mut(CHUNK + TAG)
            .zip(input.par_chunks(CHUNK))
            .enumerate()
            .for_each(seal);
    } else {
        let mut hasher = hasher;
        for (index, (piece, plain)) in out
            .chunks_mut(CHUNK + TAG)
            .zip(input.chunks(CHUNK))
            .enumerate()
        {
            seal((index, (&mut *piece, plain)));
            if let Some(hasher) = hasher.as_deref_mut() {
                hasher.update(&*piece);
            }
        }
    }
    out
}

fn bare_open(
    cipher: &Gcm,
    sealed: &[u8],
    parallel: bool,
    hasher: Option<&mut blake3::Hasher>,
) -> Vec<u8> {
    let chunks = sealed.len().div_ceil(CHUNK + TAG);
    let mut out = vec![0u8; sealed.len() - chunks * TAG];
    let open = |(index, (piece, plain)): (usize, (&[u8], &mut [u8]))| {
        let (data, tag) = piece.split_at(plain.len());
        let tag: [u8; TAG] = tag.try_into().unwrap();
        cipher
            .open_into(&nonce(index, index + 1 == chunks), &AAD, data, &tag, plain)
            .unwrap();
    };
    if parallel {
        sealed
            .par_chunks(CHUNK + TAG)
            .zip(out.par_chunks_mut(CHUNK))
            .enumerate()
            .for_each(open);
    } else {
        let mut hasher = hasher;
        for (index, (piece, plain)) in sealed
            .chunks(CHUNK + TAG)
            .zip(out.chunks_mut(CHUNK))
            .enumerate()
        {
            if let Some(hasher) = hasher.as_deref_mut() {
                hasher.update(piece);
            }
            open((index, (piece, plain)));
        }
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
        group.sample_size(if len > 8 * MIB { 10 } else { 30 });
        group.bench_function(BenchmarkId::new("bare_gcm", &id), |b| {
            b.iter_with_large_drop(|| bare_seal(&cipher, black_box(&data), false, None))
        });
        group.bench_function(BenchmarkId::new("bare_blake3", &id), |b| {
            b.iter(|| blake3::hash(black_box(&data)))
        });
        group.bench_function(BenchmarkId::new("bare_gcm_blake3", &id), |b| {
            b.iter_with_large_drop(|| {
                let mut hasher = blake3::Hasher::new();
                let out = bare_seal(&cipher, black_box(&data), false, Some(&mut hasher));
                (out, hasher.finalize())
            })
        });
        group.bench_function(BenchmarkId::new("bare_gcm_parallel", &id), |b| {
            b.iter_with_large_drop(|| bare_seal(&cipher, black_box(&data), true, None))
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

        let bare_sealed = bare_seal(&cipher, &data, false, None);
        let (sealed, object) = sealer(1).seal(&data).unwrap();
        let opener = || ObjectOpener::new(&object.object, &object.context);
        let mut group = c.benchmark_group("open");
        group.throughput(Throughput::Bytes(len as u64));
        group.sample_size(if len > 8 * MIB { 10 } else { 30 });
        group.bench_function(BenchmarkId::new("bare_gcm", &id), |b| {
            b.iter_with_large_drop(|| bare_open(&cipher, black_box(&bare_sealed), false, None))
        });
        group.bench_function(BenchmarkId::new("bare_blake3", &id), |b| {
            b.iter(|| blake3::hash(black_box(&bare_sealed)))
        });
        group.bench_function(BenchmarkId::new("bare_gcm_blake3", &id), |b| {
            b.iter_with_large_drop(|| {
                let mut hasher = blake3::Hasher::new();
                let out = bare_open(&cipher, black_box(&bare_sealed), false, Some(&mut hasher));
                (out, hasher.finalize())
            })
        });
        group.bench_function(BenchmarkId::new("bare_gcm_parallel", &id), |b| {
            b.iter_with_large_drop(|| bare_open(&cipher, black_box(&bare_sealed), true, None))
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
/// `open`, each chunk is opened again right after it was sealed; with
/// `hash`, each sealed chunk is hashed with BLAKE3 (twice with `open`: by
/// the sender and by the recipient).
fn bare_stream(cipher: &Gcm, len: u64, open: bool, hash: bool, mut out: impl Write) {
    let mut sender_hash = blake3::Hasher::new();
    let mut recipient_hash = blake3::Hasher::new();
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
        let tag = cipher.seal_in_place(&nonce(index, last), &AAD, data);
        tag_slot[..TAG].copy_from_slice(&tag);
        if hash {
            sender_hash.update(&buffer[..filled + TAG]);
            if open {
                recipient_hash.update(&buffer[..filled + TAG]);
            }
        }
        out.write_all(&buffer[..filled + TAG]).unwrap();
        if open {
            let data = &mut buffer[..filled];
            cipher
                .open_in_place(&nonce(index, last), &AAD, data, &tag)
                .unwrap();
        }
    }
    black_box((sender_hash.finalize(), recipient_hash.finalize()));
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
        b.iter(|| bare_stream(&cipher, len, false, false, std::io::sink()))
    });
    group.bench_function(BenchmarkId::new("seal_bare_gcm_blake3", name), |b| {
        b.iter(|| bare_stream(&cipher, len, false, true, std::io::sink()))
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
        b.iter(|| bare_stream(&cipher, len, true, false, std::io::sink()))
    });
    group.bench_function(BenchmarkId::new("seal_open_bare_gcm_blake3", name), |b| {
        b.iter(|| bare_stream(&cipher, len, true, true, std::io::sink()))
    });
    group.bench_function(BenchmarkId::new("seal_open_fuin", name), |b| {
        b.iter(|| seal_open_stream(2, len, &object, None))
    });
    group.bench_function(BenchmarkId::new("seal_open_fuin_parallel", name), |b| {
        b.iter(|| seal_open_stream(2, len, &object, Some(DEFAULT_WINDOW_CHUNKS)))
    });
    group.finish();
}

fn peak_resident_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

const PROBE_VARIABLE: &str = "FUIN_ATTACHMENT_MEMORY_PROBE";
const PROBES: [&str; 4] = ["seal", "seal_open", "seal_parallel", "seal_open_parallel"];

/// In a child process: runs one probe on a `len`-byte streamed object and
/// prints the process's peak resident set.
fn run_probe(probe: &str, len: u64) {
    match probe {
        "idle" => {}
        "seal" => {
            black_box(streamed_object(3, len));
        }
        "seal_parallel" => {
            black_box(
                sealer(3)
                    .seal_stream_parallel(
                        Generator::new(len),
                        std::io::sink(),
                        DEFAULT_WINDOW_CHUNKS,
                    )
                    .unwrap(),
            );
        }
        "seal_open" => seal_open_stream(3, len, &streamed_object(3, len), None),
        "seal_open_parallel" => seal_open_stream(
            3,
            len,
            &streamed_object(3, len),
            Some(DEFAULT_WINDOW_CHUNKS),
        ),
        other => panic!("unknown probe {other}"),
    }
    println!("peak_kib={}", peak_resident_kib().unwrap_or(0));
}

/// The peak resident set of a fresh process that ran `probe`, in KiB.
fn probe_in_child(probe: &str, len: u64) -> Option<u64> {
    let output = std::process::Command::new(std::env::current_exe().ok()?)
        .env(PROBE_VARIABLE, format!("{probe}:{len}"))
        .output()
        .ok()?;
    let text = String::from_utf8(output.stdout).ok()?;
    let line = text.lines().find(|line| line.starts_with("peak_kib="))?;
    line["peak_kib=".len()..].parse().ok()
}

/// Peak memory of streaming: each probe runs in a fresh process, whose peak
/// resident set is compared with that of a process that did nothing.
fn memory_probe(sizes: &[u64]) {
    let Some(idle) = probe_in_child("idle", 0) else {
        println!("peak memory: not measurable here (no /proc/self/status)");
        return;
    };
    println!(
        "peak resident set of a fresh process, above one that does nothing ({idle} KiB), in KiB:"
    );
    println!(
        "| object | seal, one core | seal → open, one core | seal, all cores | seal → open, all cores |"
    );
    println!("| ---: | ---: | ---: | ---: | ---: |");
    for &len in sizes {
        let cells: Vec<String> = PROBES
            .iter()
            .map(|probe| {
                probe_in_child(probe, len)
                    .map_or("n/a".to_owned(), |kib| kib.saturating_sub(idle).to_string())
            })
            .collect();
        println!("| {} MiB | {} |", len >> 20, cells.join(" | "));
    }
}

/// Scaling measured by alternation: each round runs one core and all cores
/// back to back, so that load from other tenants of a shared machine hits
/// both alike; the median of the per-round ratios is printed.
fn interleaved_scaling(len: u64, rounds: usize) {
    use std::time::Instant;
    let time = |work: &mut dyn FnMut()| {
        let start = Instant::now();
        work();
        start.elapsed().as_secs_f64()
    };
    let cipher = gcm();
    let data = plaintext(usize::try_from(len).unwrap());
    // Sealed into one buffer, written once before: no page faults timed.
    let mut out = bare_seal(&cipher, &data, false, None);
    let mut bare = |parallel: bool| {
        let seal = |(index, (piece, plain)): (usize, (&mut [u8], &[u8]))| {
            let (body, tag_slot) = piece.split_at_mut(plain.len());
            let tag = cipher.seal_into(&nonce(index, false), &AAD, plain, body);
            tag_slot.copy_from_slice(&tag);
        };
        if parallel {
            out.par_chunks_mut(CHUNK + TAG)
                .zip(data.par_chunks(CHUNK))
                .enumerate()
                .for_each(seal);
        } else {
            out.chunks_mut(CHUNK + TAG)
                .zip(data.chunks(CHUNK))
                .enumerate()
                .for_each(seal);
        }
    };
    let object = streamed_object(4, len);
    let mut ratios: [Vec<f64>; 3] = Default::default();
    for _ in 0..rounds {
        let pairs: [(f64, f64); 3] = [
            (time(&mut || bare(false)), time(&mut || bare(true))),
            (
                time(&mut || {
                    sealer(4)
                        .seal_stream(Generator::new(len), std::io::sink())
                        .unwrap();
                }),
                time(&mut || {
                    sealer(4)
                        .seal_stream_parallel(
                            Generator::new(len),
                            std::io::sink(),
                            DEFAULT_WINDOW_CHUNKS,
                        )
                        .unwrap();
                }),
            ),
            (
                time(&mut || seal_open_stream(4, len, &object, None)),
                time(&mut || seal_open_stream(4, len, &object, Some(DEFAULT_WINDOW_CHUNKS))),
            ),
        ];
        for (ratio, (one, all)) in ratios.iter_mut().zip(pairs) {
            ratio.push(one / all);
        }
    }
    let median = |values: &mut Vec<f64>| {
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    };
    println!(
        "all cores / one core, median of {rounds} alternating rounds of {} MiB:",
        len >> 20
    );
    for (name, values) in [
        "bare GCM, in a buffer",
        "fuin seal, streamed",
        "fuin seal → open, streamed",
    ]
    .iter()
    .zip(ratios.iter_mut())
    {
        let low = values.iter().copied().fold(f64::INFINITY, f64::min);
        let high = values.iter().copied().fold(0.0, f64::max);
        println!(
            "  {name}: {:.2}x (range {low:.2}-{high:.2})",
            median(values)
        );
    }
}

/// The one-core target measured by alternation: in each round bare GCM,
/// bare BLAKE3, bare GCM + BLAKE3 and fuin seal and open an in-memory
/// object of `len` bytes back to back on this thread; the median speed of
/// each against bare GCM sealing is printed (1.00 = as fast as bare GCM).
fn interleaved_one_core(len: usize, rounds: usize) {
    use std::time::Instant;
    let time = |work: &mut dyn FnMut()| {
        let start = Instant::now();
        work();
        start.elapsed().as_secs_f64()
    };
    let cipher = gcm();
    let data = plaintext(len);
    let bare_sealed = bare_seal(&cipher, &data, false, None);
    let (sealed, object) = sealer(5).seal(&data).unwrap();
    let names = [
        "bare GCM seal",
        "bare GCM open",
        "bare BLAKE3 of the sealed bytes",
        "bare GCM seal + BLAKE3 per chunk",
        "bare GCM open + BLAKE3 per chunk",
        "fuin seal, one core",
        "fuin open, one core",
        "fuin seal, all cores",
        "fuin open, all cores",
    ];
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); names.len()];
    for _ in 0..rounds {
        let round = [
            time(&mut || drop(black_box(bare_seal(&cipher, &data, false, None)))),
            time(&mut || drop(black_box(bare_open(&cipher, &bare_sealed, false, None)))),
            time(&mut || {
                black_box(blake3::hash(&bare_sealed));
            }),
            time(&mut || {
                let mut hasher = blake3::Hasher::new();
                black_box(bare_seal(&cipher, &data, false, Some(&mut hasher)));
                black_box(hasher.finalize());
            }),
            time(&mut || {
                let mut hasher = blake3::Hasher::new();
                black_box(bare_open(&cipher, &bare_sealed, false, Some(&mut hasher)));
                black_box(hasher.finalize());
            }),
            time(&mut || drop(black_box(sealer(5).seal(&data).unwrap()))),
            time(&mut || {
                let opener = ObjectOpener::new(&object.object, &object.context);
                drop(black_box(opener.open(&sealed).unwrap()));
            }),
            time(&mut || {
                drop(black_box(
                    sealer(5)
                        .seal_parallel(&data, DEFAULT_WINDOW_CHUNKS)
                        .unwrap(),
                ))
            }),
            time(&mut || {
                let opener = ObjectOpener::new(&object.object, &object.context);
                drop(black_box(
                    opener
                        .open_parallel(&sealed, DEFAULT_WINDOW_CHUNKS)
                        .unwrap(),
                ));
            }),
        ];
        for (times, t) in times.iter_mut().zip(round) {
            times.push(t);
        }
    }
    let median = |values: &[f64]| {
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        sorted[sorted.len() / 2]
    };
    let gb_per_s = |t: f64| len as f64 / t / 1e9;
    let bare_seal_time = median(&times[0]);
    let bare_open_time = median(&times[1]);
    println!(
        "in memory, {} MiB, median of {rounds} alternating rounds (speed against bare GCM \
         of the same direction):",
        len >> 20
    );
    println!("| case | median ms | GB/s | × bare GCM |");
    println!("| --- | ---: | ---: | ---: |");
    for (name, values) in names.iter().zip(&times) {
        let t = median(values);
        // Opening cases are compared with bare GCM opening.
        let base = if name.contains("open") {
            bare_open_time
        } else {
            bare_seal_time
        };
        println!(
            "| {name} | {:.2} | {:.2} | {:.2} |",
            t * 1e3,
            gb_per_s(t),
            base / t
        );
    }
}

fn main() {
    if let Ok(probe) = std::env::var(PROBE_VARIABLE) {
        let (probe, len) = probe.split_once(':').unwrap();
        run_probe(probe, len.parse().unwrap());
        return;
    }
    let full = std::env::args().any(|arg| arg == "--bench");
    let gib = 1u64 << 30;
    if full {
        memory_probe(&[MIB as u64, 64 * MIB as u64, gib]);
        interleaved_one_core(MIB, 41);
        interleaved_one_core(64 * MIB, 9);
        interleaved_scaling(256 * MIB as u64, 7);
    } else {
        memory_probe(&[MIB as u64]);
        interleaved_one_core(MIB, 1);
        interleaved_scaling(4 * MIB as u64, 1);
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
