//! Runs one operation of the report benchmark a given number of times, for
//! counting instructions with a tool that does not depend on the machine's
//! load (BENCHMARKS.md):
//!
//! ```sh
//! cargo build --release -p fuin-report --example report_costs
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!     target/release/examples/report_costs open_verify 50 200
//! ```
//!
//! Operations: `seal`, `seal_floor`, `open_verify`, `open_floor` (as in
//! `benches/report.rs`). With 0 iterations it only builds the fixture, whose
//! count is subtracted.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

#[path = "../benches/support/mod.rs"]
mod support;

use std::hint::black_box;

use fuin_report::AuditLog;
use rand_core::SeedableRng;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let op = args.get(1).map_or("open_verify", String::as_str).to_owned();
    let count: usize = args.get(2).map_or(1, |n| n.parse().unwrap());
    let iterations: usize = args.get(3).map_or(100, |n| n.parse().unwrap());

    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
    let fx = support::fixture(&mut rng, count);
    let key = fx.moderator.public_key().unwrap();

    for _ in 0..iterations {
        match op.as_str() {
            "seal" => {
                black_box(fx.builder.seal(&mut rng, &key).unwrap());
            }
            "seal_floor" => fx.seal_floor(&mut rng, &key),
            "open_verify" => {
                let mut audit = AuditLog::in_memory();
                black_box(fx.moderator.open(&mut audit, "mo", &fx.inbox, 1).unwrap());
            }
            "open_floor" => fx.open_floor(),
            other => panic!("unknown operation {other}"),
        }
    }
    println!("{op} {count} x{iterations}");
}
