//! Process start: `cargo bench --bench start`.
//!
//! How long `faultline --version` takes from spawn to exit, next to `/bin/true` on the same
//! machine, the two run in turn (A B A B …) so that a drift of the machine's speed moves
//! both: the medians, and the median of the pair-by-pair ratios. What a process pays before
//! it does any work — loading and relocating a large binary, the allocator's and the
//! runtime's set-up — is what a CI job pays per shard and a user per command.
//!
//! This is a measurement, not a test: it asserts nothing about time.

// A benchmark measures wall-clock time: that is its purpose.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Pairs measured (after as many unmeasured warm-up runs of each).
const PAIRS: usize = 101;
const WARMUP: usize = 5;

fn once(program: &str, args: &[&str]) -> Duration {
    let start = Instant::now();
    let status = Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("the program starts");
    let took = start.elapsed();
    assert!(status.success(), "{program} {args:?} failed: {status}");
    took
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn main() {
    let faultline = env!("CARGO_BIN_EXE_faultline");
    let baseline = "/bin/true";
    for _ in 0..WARMUP {
        once(faultline, &["--version"]);
        once(baseline, &[]);
    }
    let mut ours = Vec::with_capacity(PAIRS);
    let mut base = Vec::with_capacity(PAIRS);
    for _ in 0..PAIRS {
        ours.push(once(faultline, &["--version"]).as_secs_f64() * 1e3);
        base.push(once(baseline, &[]).as_secs_f64() * 1e3);
    }
    let ratios: Vec<f64> = ours.iter().zip(&base).map(|(a, b)| a / b).collect();
    println!("## Process start ({PAIRS} pairs, interleaved)\n");
    println!("| command | median ms |");
    println!("| --- | ---: |");
    println!("| `faultline --version` | {:.2} |", median(ours));
    println!("| `/bin/true` | {:.2} |", median(base));
    println!(
        "\nfaultline / true, median of the pair ratios: {:.2}×",
        median(ratios)
    );
}
