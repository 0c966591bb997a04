//! Benchmark of the linearizability checker: `cargo bench --bench check`.
//!
//! 1. Every history of Porcupine's test corpus (`tests/fixtures/porcupine`): the median
//!    check time (parsing excluded) next to Porcupine's own measured time from
//!    `expected.tsv`, with totals.
//! 2. Scaling with history length: generated linearizable key-value histories of 1k, 10k
//!    and 100k operations spread over many keys.
//! 3. Scaling with concurrency: 10k-operation key-value histories with 2 to 64 clients.
//! 4. The scaling table: one compare-and-set register (no partitioning) of 1k, 5k and 20k
//!    operations with 0, 5 and 15% of them of unknown outcome, each valid and with a stale
//!    read of a written value appended at its end — time, search steps and the peak memory
//!    of the check (faultline's counting allocator).
//!
//! `FILTER=<substring>` restricts part 1 to matching files and skips the rest;
//! `FILTER=table` runs part 4 alone.
//! This is a measurement, not a test: it asserts nothing about time.

// A benchmark measures wall-clock time: that is its purpose.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use faultline::check::linearizability::{check_history, Budget, ModelKind, Report, Verdict};
use faultline::history::{self, Func, History, Operation, Status, Value};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Time spent measuring each history, roughly.
const TARGET: Duration = Duration::from_millis(250);
const MIN_RUNS: usize = 5;
const MAX_RUNS: usize = 401;

fn time_once(h: &History, model: ModelKind) -> (Duration, Report) {
    let start = Instant::now();
    let report = check_history(h, model, &Budget::default()).expect("model accepts history");
    (start.elapsed(), report)
}

/// Median time of repeated checks (after one warm-up run), and the report.
fn measure(h: &History, model: ModelKind) -> (Duration, Report) {
    let (first, report) = time_once(h, model);
    let runs = (TARGET.as_nanos() / first.as_nanos().max(1)) as usize;
    let runs = runs.clamp(MIN_RUNS, MAX_RUNS) | 1;
    let mut times: Vec<Duration> = (0..runs).map(|_| time_once(h, model).0).collect();
    times.sort_unstable();
    (times[runs / 2], report)
}

fn verdict(r: &Report) -> &'static str {
    match r.verdict {
        Verdict::Valid => "valid",
        Verdict::Invalid(_) => "invalid",
        Verdict::Unknown(_) => "unknown",
    }
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

struct Row {
    file: String,
    ops: usize,
    ours_us: f64,
    porcupine_us: f64,
}

fn corpus(filter: &str) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/porcupine");
    let tsv = std::fs::read_to_string(dir.join("expected.tsv")).expect("expected.tsv");
    println!("## Porcupine's histories (median check time, parsing excluded)\n");
    println!(
        "| history | ops | verdict | steps | faultline µs | Porcupine µs | Porcupine / faultline |"
    );
    println!("| --- | ---: | --- | ---: | ---: | ---: | ---: |");
    let mut rows = Vec::new();
    for line in tsv.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        if cols.len() < 9 || !cols[0].contains(filter) {
            continue;
        }
        let text = std::fs::read_to_string(dir.join(cols[0])).expect("fixture");
        let h = history::parse(&text, cols[0], None).expect("fixture parses");
        let model = if cols[0].starts_with("jepsen/") {
            ModelKind::CasRegister
        } else {
            ModelKind::Kv
        };
        let (t, report) = measure(&h, model);
        let ours = us(t);
        let porcupine: Option<f64> = cols[8].parse().ok();
        let ratio = porcupine.map_or("-".to_string(), |p| format!("{:.1}×", p / ours));
        let slower = if porcupine.is_some_and(|p| p < ours) {
            " **slower**"
        } else {
            ""
        };
        println!(
            "| {} | {} | {} | {} | {:.1} | {} | {ratio}{slower} |",
            cols[0],
            h.ops.len(),
            verdict(&report),
            report.steps,
            ours,
            cols[8]
        );
        if let Some(p) = porcupine {
            rows.push(Row {
                file: cols[0].to_string(),
                ops: h.ops.len(),
                ours_us: ours,
                porcupine_us: p,
            });
        }
    }
    println!();
    summary(&rows);
}

fn summary(rows: &[Row]) {
    println!(
        "| set | histories | faultline total ms | Porcupine total ms | faultline / Porcupine |"
    );
    println!("| --- | ---: | ---: | ---: | ---: |");
    for (name, prefix) in [("etcd (jepsen/)", "jepsen/"), ("kv/", "kv/"), ("all", "")] {
        let set: Vec<&Row> = rows.iter().filter(|r| r.file.starts_with(prefix)).collect();
        if set.is_empty() {
            continue;
        }
        let ours: f64 = set.iter().map(|r| r.ours_us).sum::<f64>() / 1e3;
        let theirs: f64 = set.iter().map(|r| r.porcupine_us).sum::<f64>() / 1e3;
        println!(
            "| {name} | {} | {ours:.2} | {theirs:.2} | {:.3} |",
            set.len(),
            ours / theirs
        );
    }
    println!();
    let etcd = rows.iter().filter(|r| r.file.starts_with("jepsen/"));
    if let Some(slowest) = etcd.max_by(|a, b| a.ours_us.total_cmp(&b.ours_us)) {
        println!(
            "Slowest etcd history: {} ({} ops): {:.1} µs (Porcupine {:.1} µs).",
            slowest.file, slowest.ops, slowest.ours_us, slowest.porcupine_us
        );
    }
    let slower: Vec<&str> = rows
        .iter()
        .filter(|r| r.ours_us > r.porcupine_us)
        .map(|r| r.file.as_str())
        .collect();
    if slower.is_empty() {
        println!("faultline is faster than Porcupine on every history.");
    } else {
        println!("Porcupine is faster on: {}.", slower.join(", "));
    }
    println!();
}

/// A linearizable key-value history: `clients` clients each run operations one after the
/// other on random keys; every operation takes effect at a random point of its interval,
/// and gets return what the store held at that point.
fn generate_kv(ops: usize, keys: usize, clients: usize, seed: u64) -> History {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut free_at = vec![0u64; clients];
    // (linearization point, op index)
    let mut points: Vec<(u64, usize)> = Vec::with_capacity(ops);
    let mut out: Vec<Operation> = Vec::with_capacity(ops);
    let mut counter = vec![0u64; clients];
    for i in 0..ops {
        // The client that is free first goes next: all clients stay busy.
        let c = (0..clients).min_by_key(|&c| (free_at[c], c)).unwrap_or(0);
        let call = free_at[c] + rng.gen_range(0..3);
        let ret = call + rng.gen_range(1..40);
        free_at[c] = ret + 1;
        let key = format!("k{}", rng.gen_range(0..keys));
        let roll: u32 = rng.gen_range(0..100);
        let (f, input) = if roll < 50 {
            (Func::Get, Value::Nil)
        } else {
            counter[c] += 1;
            let token = Value::Str(format!("x {c} {} y", counter[c]));
            if roll < 92 {
                (Func::Append, token)
            } else {
                (Func::Put, token)
            }
        };
        points.push((rng.gen_range(call..=ret), i));
        out.push(Operation {
            client: c as u64,
            call,
            ret: Some(ret),
            status: Status::Ok,
            f,
            key: Some(key),
            input,
            output: Value::Nil,
        });
    }
    points.sort_unstable();
    let mut store: BTreeMap<String, String> = BTreeMap::new();
    for (_, i) in points {
        let op = &mut out[i];
        let key = op.key.clone().unwrap_or_default();
        let value = store.entry(key).or_default();
        match (&op.f, &op.input) {
            (Func::Get, _) => op.output = Value::Str(value.clone()),
            (Func::Append, Value::Str(s)) => value.push_str(s),
            (Func::Put, Value::Str(s)) => *value = s.clone(),
            _ => {}
        }
    }
    History { ops: out }
}

/// A linearizable compare-and-set register history on one key: `clients` clients run
/// reads, writes and CASes over a few values; about `info_pct`% of the operations time
/// out (`info`: they take effect at a random later point, or never, and their client is
/// replaced, as in Jepsen).
fn generate_register(ops: usize, clients: usize, info_pct: u32, seed: u64) -> History {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut free_at = vec![0u64; clients];
    let mut ids: Vec<u64> = (0..clients as u64).collect();
    let mut next_id = clients as u64;
    let mut points: Vec<(u64, usize)> = Vec::with_capacity(ops);
    let mut out: Vec<Operation> = Vec::with_capacity(ops);
    for i in 0..ops {
        let c = (0..clients).min_by_key(|&c| (free_at[c], c)).unwrap_or(0);
        let call = free_at[c] + rng.gen_range(0..3);
        let ret = call + rng.gen_range(1..40);
        free_at[c] = ret + 1;
        let roll: u32 = rng.gen_range(0..100);
        let (f, input) = match roll {
            0..=49 => (Func::Read, Value::Nil),
            50..=79 => (Func::Write, Value::Int(rng.gen_range(0..5))),
            _ => (
                Func::Cas,
                Value::List(vec![
                    Value::Int(rng.gen_range(0..5)),
                    Value::Int(rng.gen_range(0..5)),
                ]),
            ),
        };
        let info = rng.gen_range(0..100) < info_pct;
        let status = if info { Status::Info } else { Status::Ok };
        if info {
            // Takes effect half the time, somewhere after its call.
            if rng.gen_bool(0.5) {
                points.push((rng.gen_range(call..call + 200), i));
            }
        } else {
            points.push((rng.gen_range(call..=ret), i));
        }
        out.push(Operation {
            client: ids[c],
            call,
            ret: (!info).then_some(ret),
            status,
            f,
            key: None,
            input,
            output: Value::Nil,
        });
        if info {
            ids[c] = next_id;
            next_id += 1;
        }
    }
    points.sort_unstable();
    let mut value: Option<i64> = None;
    for (_, i) in points {
        let op = &mut out[i];
        let known = op.status == Status::Ok;
        match (&op.f, &op.input) {
            (Func::Read, _) if known => {
                op.output = value.map_or(Value::Nil, Value::Int);
            }
            (Func::Write, Value::Int(v)) => value = Some(*v),
            (Func::Cas, Value::List(items)) => {
                let swap = items.first() == Some(&value.map_or(Value::Nil, Value::Int));
                if swap {
                    if let Some(Value::Int(new)) = items.get(1) {
                        value = Some(*new);
                    }
                }
                if known {
                    op.output = Value::Bool(swap);
                }
            }
            _ => {}
        }
    }
    // Reads that never took effect (info) report nothing; successful ones are filled in.
    for op in &mut out {
        if op.status == Status::Ok && op.f == Func::Cas && op.output == Value::Nil {
            op.output = Value::Bool(false);
        }
    }
    History { ops: out }
}

fn scaling() {
    println!("## Scaling with history length (linearizable kv, 8 clients, 1 key per 50 ops)\n");
    println!("| ops | keys | steps | median ms | µs per op |");
    println!("| ---: | ---: | ---: | ---: | ---: |");
    for ops in [1_000usize, 10_000, 100_000] {
        let keys = ops / 50;
        let h = generate_kv(ops, keys, 8, 7);
        let (t, report) = measure(&h, ModelKind::Kv);
        assert!(
            matches!(report.verdict, Verdict::Valid),
            "generated history is valid"
        );
        println!(
            "| {ops} | {keys} | {} | {:.2} | {:.2} |",
            report.steps,
            t.as_secs_f64() * 1e3,
            us(t) / ops as f64
        );
    }
    println!();
    println!(
        "## One register, no partitioning (linearizable cas-register, 8 clients, 5% \
         operations with unknown outcome)\n"
    );
    println!("| ops | steps | median ms | µs per op |");
    println!("| ---: | ---: | ---: | ---: |");
    for ops in [1_000usize, 10_000, 100_000] {
        let h = generate_register(ops, 8, 5, 3);
        let (t, report) = measure(&h, ModelKind::CasRegister);
        assert!(
            matches!(report.verdict, Verdict::Valid),
            "generated history is valid"
        );
        println!(
            "| {ops} | {} | {:.2} | {:.2} |",
            report.steps,
            t.as_secs_f64() * 1e3,
            us(t) / ops as f64
        );
    }
    println!();
    println!("## Scaling with concurrency (linearizable kv, 10k ops, 100 keys)\n");
    println!("| clients | steps | median ms | µs per op |");
    println!("| ---: | ---: | ---: | ---: |");
    for clients in [2usize, 4, 8, 16, 32, 64] {
        let h = generate_kv(10_000, 100, clients, 11);
        let (t, report) = measure(&h, ModelKind::Kv);
        assert!(
            matches!(report.verdict, Verdict::Valid),
            "generated history is valid"
        );
        println!(
            "| {clients} | {} | {:.2} | {:.2} |",
            report.steps,
            t.as_secs_f64() * 1e3,
            us(t) / 10_000.0
        );
    }
    println!();
}

/// The history with a stale read at its end: a write of a value no other operation
/// writes, done before everything, and after every operation returned a read that still
/// sees it — although later writes completed in between. The read is late, and of a value
/// that was written: the search cannot refute it from values alone.
fn with_stale_read(h: &History) -> History {
    const STALE: i64 = 1_000;
    let fresh = h.ops.iter().map(|o| o.client).max().unwrap_or(0) + 1;
    let end = h.ops.iter().filter_map(|o| o.ret).max().unwrap_or(0);
    let op = |client, call, f, input, output| Operation {
        client,
        call,
        ret: Some(call + 1),
        status: Status::Ok,
        f,
        key: None,
        input,
        output,
    };
    let mut ops = vec![op(fresh, 0, Func::Write, Value::Int(STALE), Value::Nil)];
    ops.extend(h.ops.iter().cloned());
    ops.push(op(
        fresh + 1,
        end + 2,
        Func::Read,
        Value::Nil,
        Value::Int(STALE),
    ));
    History { ops }
}

/// The history with its last successful read (by return) changed to another of the
/// values the clients write: a stale or wrong read late in the history that only the
/// search can refute, since the value is written again and again.
fn with_late_read_changed(h: &History) -> History {
    let mut h = h.clone();
    let last = (h.ops.iter_mut())
        .filter(|o| o.status == Status::Ok && o.f == Func::Read)
        .max_by_key(|o| o.ret);
    if let Some(op) = last {
        op.output = match op.output {
            Value::Int(v) => Value::Int((v + 1) % 5),
            _ => Value::Int(0),
        };
    }
    h
}

/// One check under a wall-clock budget: its time, its report and its peak memory.
fn check_measured(h: &History, budget: &Budget) -> (Duration, Report, u64) {
    let window = faultline::guard::MemoryWindow::open();
    let start = Instant::now();
    let report = check_history(h, ModelKind::CasRegister, budget).expect("model accepts");
    (start.elapsed(), report, window.peak_bytes())
}

fn scaling_table() {
    println!(
        "## The scaling table (one cas-register, 8 clients, no partitioning; median of 3, \
         budget 20 s)\n"
    );
    println!("| ops | unknown outcome | history | verdict | median ms | steps | peak memory MB |");
    println!("| ---: | ---: | --- | --- | ---: | ---: | ---: |");
    let budget = Budget {
        wall: Some(Duration::from_secs(20)),
        ..Budget::default()
    };
    for ops in [1_000usize, 5_000, 20_000] {
        for info_pct in [0u32, 5, 15] {
            let valid = generate_register(ops, 8, info_pct, 5);
            let kinds = [
                ("valid", valid.clone()),
                ("stale read", with_stale_read(&valid)),
                ("last read changed", with_late_read_changed(&valid)),
            ];
            for (kind, h) in kinds {
                let mut runs: Vec<(Duration, Report, u64)> =
                    (0..3).map(|_| check_measured(&h, &budget)).collect();
                runs.sort_by_key(|r| r.0);
                let (t, report, peak) = &runs[1];
                println!(
                    "| {ops} | {info_pct}% | {kind} | {} | {:.1} | {} | {:.1} |",
                    verdict(report),
                    t.as_secs_f64() * 1e3,
                    report.steps,
                    *peak as f64 / 1e6
                );
            }
        }
    }
    println!();
}

fn main() {
    let filter = std::env::var("FILTER").unwrap_or_default();
    if filter == "table" {
        scaling_table();
        return;
    }
    println!(
        "Machine: {} cores available.\n",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    corpus(&filter);
    if filter.is_empty() {
        scaling();
        scaling_table();
    }
}
