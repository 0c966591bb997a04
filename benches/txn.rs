//! Benchmark of the list-append isolation checker: `cargo bench --bench txn`.
//!
//! Generated strict-serializable histories (`tests/common/txn_gen.rs`: five processes,
//! 1–4 micro-operations per transaction, half appends, eight keys in use at a time, each
//! retired after 32 appends as Elle's generator bounds its lists) of 10k, 100k and 1M
//! transactions, checked against strict serializability: the median time of the check
//! (parsing excluded) and transactions per second. Elle reports 100 to 160,000
//! transactions per second on its list-append histories. This is a measurement, not a
//! test: it asserts only that every generated history checks valid. `TXNS=<n>` runs one
//! size. Then Elle's `huge-scc` stress (`txn_gen::huge_scc`): one component of nearly
//! every transaction, which must end in a verdict, not a hang. Then the same sizes as
//! read-write register histories (`--model rw-register`).

// A benchmark measures wall-clock time: that is its purpose.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

#[path = "../tests/common/txn_gen.rs"]
mod txn_gen;

use faultline::catalog::Named;
use faultline::check::isolation::{
    check_list_append, check_rw_register, InputError, Model, Report, Verdict, BUDGET_DEFAULT,
};
use faultline::history::{edn, History};
use std::time::{Duration, Instant};

/// A checker: `check_list_append` or `check_rw_register`.
type Check = fn(&History, Model, u64) -> Result<Report, InputError>;

fn main() {
    // `TXNS=<n>` measures that size alone.
    let only: Option<usize> = std::env::var("TXNS").ok().and_then(|v| v.parse().ok());
    let list_append = |n| txn_gen::edn(&txn_gen::rotating(n, 8, 32, 7));
    throughput(only, list_append, check_list_append);
    huge_scc(only);
    // The same histories read as registers (`txn_gen::rw_rotating`: an append writes its
    // element, a read returns the list's last one), through `--model rw-register`.
    println!("\nrw-register:\n");
    let rw_register = |n| txn_gen::edn_rw(&txn_gen::rw_rotating(n, 8, 32, 7));
    throughput(only, rw_register, check_rw_register);
}

/// The median time of `check` on histories `make(n)` of 10k, 100k and 1M transactions.
fn throughput(only: Option<usize>, make: impl Fn(usize) -> String, check: Check) {
    println!("| transactions | edges | median check | transactions/s |");
    println!("|---:|---:|---:|---:|");
    let sizes = only.map_or(vec![10_000usize, 100_000, 1_000_000], |n| vec![n]);
    for n in sizes {
        let history = edn::parse(&make(n), "gen.edn").expect("a generated history parses");
        let runs = if n >= 1_000_000 { 3 } else { 5 };
        let mut times: Vec<Duration> = Vec::with_capacity(runs);
        let mut edges = 0;
        for _ in 0..runs {
            let start = Instant::now();
            let report = check(&history, Model::StrictSerializable, BUDGET_DEFAULT)
                .expect("a generated history is well formed");
            times.push(start.elapsed());
            assert_eq!(report.verdict, Verdict::Valid, "{:?}", report.anomalies);
            edges = report.edges;
        }
        times.sort_unstable();
        let median = times[runs / 2];
        println!(
            "| {n} | {edges} | {:.3} s | {:.0} |",
            median.as_secs_f64(),
            n as f64 / median.as_secs_f64()
        );
    }
}

/// Elle's `huge-scc` stress: one strongly connected component of nearly every
/// transaction; the check must answer invalid (or unknown, out of budget), never hang.
fn huge_scc(only: Option<usize>) {
    println!("\nhuge-scc (every transaction concurrent, reads of random prefixes):\n");
    println!("| transactions | edges | check | verdict | anomalies |");
    println!("|---:|---:|---:|---|---|");
    let sizes = only.map_or(vec![1_000usize, 10_000, 100_000], |n| vec![n]);
    for n in sizes {
        let text = txn_gen::edn(&txn_gen::huge_scc(n, 8, 11));
        let history = edn::parse(&text, "scc.edn").expect("a generated history parses");
        let start = Instant::now();
        let report = check_list_append(&history, Model::StrictSerializable, BUDGET_DEFAULT)
            .expect("a generated history is well formed");
        let took = start.elapsed();
        let mut names: Vec<&str> = report.anomalies.iter().map(|f| f.anomaly.name()).collect();
        names.dedup();
        println!(
            "| {n} | {} | {:.3} s | {:?} | {} |",
            report.edges,
            took.as_secs_f64(),
            report.verdict,
            names.join(", ")
        );
    }
}
