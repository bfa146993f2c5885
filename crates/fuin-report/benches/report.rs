//! Report sealing, and opening with verification, for 1, 10 and 50 messages,
//! each against the primitive floor: only the cryptographic calls the step
//! must make, through `fuin_seal::primitives`.
//!
//! `cargo bench -p fuin-report --bench report`; results in BENCHMARKS.md.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, BenchmarkId, Criterion, criterion_group, criterion_main};
use fuin_report::{AuditLog, Verdict};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

use support::fixture;

const SIZES: [usize; 3] = [1, 10, 50];

fn benches(c: &mut Criterion) {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let fixtures: Vec<_> = SIZES.iter().map(|&n| (n, fixture(&mut rng, n))).collect();

    let mut group = c.benchmark_group("seal");
    for (n, fx) in &fixtures {
        let key = fx.moderator.public_key().unwrap();
        group.bench_with_input(BenchmarkId::from_parameter(n), n, |b, _| {
            b.iter(|| black_box(fx.builder.seal(&mut rng, &key).unwrap()));
        });
    }
    group.finish();

    // Sealing's floor (`support::Fixture::seal_floor`).
    let mut group = c.benchmark_group("seal_floor");
    for (n, fx) in &fixtures {
        let key = fx.moderator.public_key().unwrap();
        group.bench_with_input(BenchmarkId::from_parameter(n), n, |b, _| {
            b.iter(|| fx.seal_floor(&mut rng, &key));
        });
    }
    group.finish();

    // Opening: decrypt, decode, check every message, append the audit
    // record (to a fresh in-memory log each time, made outside the timing).
    let mut group = c.benchmark_group("open_verify");
    for (n, fx) in &fixtures {
        group.bench_with_input(BenchmarkId::from_parameter(n), n, |b, _| {
            b.iter_batched(
                AuditLog::in_memory,
                |mut audit| {
                    let report = fx
                        .moderator
                        .open(&mut audit, "mo", &fx.inbox, 1_795_000_002_000)
                        .unwrap();
                    debug_assert!(
                        report
                            .messages
                            .iter()
                            .all(|m| m.verdict == Verdict::Verified)
                    );
                    black_box(report)
                },
                BatchSize::SmallInput,
            );
        });
    }
    group.finish();

    // Opening's floor (`support::Fixture::open_floor`).
    let mut group = c.benchmark_group("open_floor");
    for (n, fx) in &fixtures {
        group.bench_with_input(BenchmarkId::from_parameter(n), n, |b, _| {
            b.iter(|| fx.open_floor());
        });
    }
    group.finish();
}

criterion_group! {
    name = report;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30)
        .without_plots();
    targets = benches
}
criterion_main!(report);
