//! Long runs at linear cost: `kv_register-all-faults` with its chaos phase ×1, ×4, ×16 and
//! ×64 as long (2 s to 128 s of simulated chaos), the same simulated time in every cell
//! (128, 32, 8 and 2 seeds), one seed at a time on fresh threads as a sweep runs them.
//! Rounds are interleaved (×1 ×4 ×16 ×64, again), and each figure is the median over the
//! rounds: messages per second of wall time and of process CPU time, the ratio to ×1, and
//! the peak memory one seed held (metered) with its client operations.
//!
//!   cargo bench --bench scale [-- ROUNDS]

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use faultline::plan::SeedId;
use faultline::runner::{self, SeedJob, SeedResult};
use faultline::scenario::Scenario;
use faultline::systems::{ExecOptions, REGISTRY};

const FACTORS: [u64; 4] = [1, 4, 16, 64];
const SIM_SEEDS_AT_X1: u64 = 128;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn cpu_s() -> f64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid clock id and a valid out pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut t) };
    t.tv_sec as f64 + t.tv_nsec as f64 / 1e9
}

fn scenario(factor: u64) -> Arc<Scenario> {
    let path = Path::new("scenarios/kv_register/all_faults.toml");
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains("chaos_ms = 2000"));
    let text = text.replace("chaos_ms = 2000", &format!("chaos_ms = {}", 2000 * factor));
    Arc::new(Scenario::parse(path, &text, &REGISTRY).unwrap_or_else(|e| panic!("{e}")))
}

/// One cell: (messages/s wall, messages/s CPU, peak MB per seed, operations per seed).
fn cell(s: &Arc<Scenario>, factor: u64, round: u64) -> (f64, f64, f64, f64) {
    let seeds = SIM_SEEDS_AT_X1 / factor;
    let jobs = (0..seeds).map(|i| SeedJob {
        scenario: s.clone(),
        scenario_index: 0,
        seed: SeedId::Plain(round * 1000 + i),
        check_determinism: false,
        keep: false,
        options: ExecOptions::default(),
    });
    let (mut messages, mut peak, mut ops) = (0u64, 0u64, 0u64);
    let never = AtomicBool::new(false);
    #[allow(clippy::disallowed_methods, clippy::disallowed_types)]
    let started = std::time::Instant::now();
    let cpu = cpu_s();
    runner::run_pool(jobs, 1, &never, |r: SeedResult| {
        assert_eq!(
            r.verdict,
            faultline::check::Verdict::Pass,
            "seed {}",
            r.seed
        );
        messages += r.messages;
        peak = peak.max(r.memory_peak_bytes);
        ops += r.operations as u64;
    });
    let (wall, cpu) = (started.elapsed().as_secs_f64(), cpu_s() - cpu);
    (
        messages as f64 / wall,
        messages as f64 / cpu,
        peak as f64 / (1 << 20) as f64,
        ops as f64 / seeds as f64,
    )
}

fn main() {
    let rounds: u64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(5);
    let scenarios: Vec<Arc<Scenario>> = FACTORS.iter().map(|&f| scenario(f)).collect();
    let mut cells: Vec<Vec<(f64, f64, f64, f64)>> = vec![Vec::new(); FACTORS.len()];
    for round in 0..rounds {
        for (i, &f) in FACTORS.iter().enumerate() {
            cells[i].push(cell(&scenarios[i], f, round));
        }
    }
    println!(
        "kv_register-all-faults, chaos ×1..×64, {} simulated s per cell, median of {rounds} interleaved rounds, 1 core:",
        SIM_SEEDS_AT_X1 * 4
    );
    println!("| chaos | seeds | M messages/s (wall) | vs ×1 | M messages/s (CPU) | vs ×1 | peak MB per seed | operations per seed | KB per operation |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    let base = (
        median(cells[0].iter().map(|c| c.0).collect()),
        median(cells[0].iter().map(|c| c.1).collect()),
    );
    for (i, &f) in FACTORS.iter().enumerate() {
        let wall = median(cells[i].iter().map(|c| c.0).collect());
        let cpu = median(cells[i].iter().map(|c| c.1).collect());
        let mb = median(cells[i].iter().map(|c| c.2).collect());
        let ops = median(cells[i].iter().map(|c| c.3).collect());
        println!(
            "| ×{f} | {} | {:.3} | {:.2} | {:.3} | {:.2} | {:.1} | {:.0} | {:.1} |",
            SIM_SEEDS_AT_X1 / f,
            wall / 1e6,
            wall / base.0,
            cpu / 1e6,
            cpu / base.1,
            mb,
            ops,
            mb * 1024.0 / ops
        );
    }
}
