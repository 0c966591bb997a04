//! Benchmark of the queue checker: `cargo bench --bench queue`.
//!
//! Generated queue histories of 1k to 1M operations: 4 producers send to 8 keys (each
//! acknowledged with its offset), 4 consumers poll every key in order, 1–8 records per
//! poll, some records delivered twice. Half the operations are sends, half polls. It
//! prints the median check time and the time per operation: linear growth means a flat
//! time per operation. This is a measurement, not a test: it asserts nothing about time.
//!
//! A second table does the same for transactions (`txn` operations of 1–3 sends and a poll
//! of 1–2 keys; 5% abort, 3% end unknown), once committed one after another (no anomaly)
//! and once with a G1c planted at the end (two transactions polling each other's sends),
//! which the check must find: the dependency graph and its cycle search included.

// A benchmark measures wall-clock time: that is its purpose.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use std::time::{Duration, Instant};

use faultline::check::queue;
use faultline::history::{Func, History, Operation, Status, Value};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const KEYS: i64 = 8;
const PRODUCERS: u64 = 4;
const CONSUMERS: u64 = 4;

fn list(items: Vec<Value>) -> Value {
    Value::List(items)
}

fn op(client: u64, call: u64, f: Func, output: Value) -> Operation {
    Operation {
        client,
        call,
        ret: Some(call + 1),
        status: Status::Ok,
        f,
        key: None,
        input: Value::Nil,
        output,
    }
}

/// `ops` operations: sends (with offsets) and polls reading every key in order.
fn generate(ops: usize, seed: u64) -> History {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut logs: Vec<Vec<i64>> = vec![Vec::new(); KEYS as usize];
    let mut read: Vec<Vec<usize>> = vec![vec![0; KEYS as usize]; CONSUMERS as usize];
    let mut out = Vec::with_capacity(ops);
    let mut value = 0i64;
    for t in 0..ops as u64 {
        if t % 2 == 0 {
            let k = rng.gen_range(0..KEYS);
            value += 1;
            let log = &mut logs[k as usize];
            log.push(value);
            let offset = log.len() as i64 - 1;
            let micro = list(vec![
                Value::Str("send".into()),
                Value::Int(k),
                list(vec![Value::Int(offset), Value::Int(value)]),
            ]);
            out.push(op(t % PRODUCERS, 2 * t, Func::Send, list(vec![micro])));
        } else {
            let c = rng.gen_range(0..CONSUMERS);
            let k = rng.gen_range(0..KEYS) as usize;
            let from = read[c as usize][k];
            let to = (from + rng.gen_range(1..=8)).min(logs[k].len());
            let records = (from..to)
                .map(|o| list(vec![Value::Int(o as i64), Value::Int(logs[k][o])]))
                .collect();
            read[c as usize][k] = to;
            let polled = Value::Map(vec![(Value::Int(k as i64), list(records))]);
            let micro = list(vec![Value::Str("poll".into()), polled]);
            out.push(op(PRODUCERS + c, 2 * t, Func::Poll, list(vec![micro])));
        }
    }
    History::new(out)
}

fn micro(f: &str, k: i64, v: Value) -> Value {
    list(vec![Value::Str(f.into()), Value::Int(k), v])
}

fn at(offset: usize, v: i64) -> Value {
    list(vec![Value::Int(offset as i64), Value::Int(v)])
}

/// The generator's state: each key's log, each process's position in each key.
struct Txns {
    rng: ChaCha8Rng,
    logs: Vec<Vec<i64>>,
    read: Vec<Vec<usize>>,
    value: i64,
}

impl Txns {
    /// One transaction of process `p` ending `status`: its micro-operations as completed
    /// and as invoked.
    fn txn(&mut self, p: usize, status: Status) -> (Vec<Value>, Vec<Value>) {
        let mut micros = Vec::new();
        let mut inputs = Vec::new();
        let mut mine = vec![0usize; KEYS as usize];
        for _ in 0..self.rng.gen_range(1..=3) {
            let k = self.rng.gen_range(0..KEYS);
            self.value += 1;
            inputs.push(micro("send", k, Value::Int(self.value)));
            if status != Status::Fail {
                let log = &mut self.logs[k as usize];
                log.push(self.value);
                mine[k as usize] += 1;
                micros.push(micro("send", k, at(log.len() - 1, self.value)));
            }
        }
        let mut polled: Vec<(Value, Value)> = Vec::new();
        for _ in 0..self.rng.gen_range(1..=2) {
            let k = self.rng.gen_range(0..KEYS) as usize;
            let from = self.read[p][k];
            // What committed before this transaction: not its own sends.
            let end = self.logs[k].len() - mine[k];
            let to = (from + self.rng.gen_range(1..=4)).min(end);
            let key = Value::Int(k as i64);
            if to <= from || polled.iter().any(|(seen, _)| *seen == key) {
                continue;
            }
            let records = (from..to).map(|o| at(o, self.logs[k][o])).collect();
            if status == Status::Ok {
                self.read[p][k] = to;
            }
            polled.push((key, list(records)));
        }
        inputs.push(list(vec![Value::Str("poll".into())]));
        if status == Status::Ok && !polled.is_empty() {
            micros.push(list(vec![Value::Str("poll".into()), Value::Map(polled)]));
        }
        (micros, inputs)
    }
}

/// A poll micro-operation of one key.
fn poll_of(k: i64, records: Vec<Value>) -> Value {
    list(vec![
        Value::Str("poll".into()),
        Value::Map(vec![(Value::Int(k), list(records))]),
    ])
}

/// `ops` transactions run one after another by 8 processes: no anomaly but the planted one.
fn generate_txn(ops: usize, seed: u64, plant_g1c: bool) -> History {
    let processes = PRODUCERS + CONSUMERS;
    let mut gen = Txns {
        rng: ChaCha8Rng::seed_from_u64(seed),
        logs: vec![Vec::new(); KEYS as usize],
        read: vec![vec![0; KEYS as usize]; processes as usize],
        value: 0,
    };
    let mut out = Vec::with_capacity(ops);
    for t in 0..ops as u64 {
        let p = t % processes;
        let status = match gen.rng.gen_range(0..100) {
            0..=4 => Status::Fail,
            5..=7 => Status::Info,
            _ => Status::Ok,
        };
        let (micros, inputs) = gen.txn(p as usize, status);
        let mut o = op(p, 2 * t, Func::Txn, list(micros));
        o.status = status;
        if status != Status::Ok {
            o.output = Value::Nil;
            o.input = list(inputs);
            o.ret = (status == Status::Fail).then_some(2 * t + 1);
        }
        out.push(o);
    }
    // A last reader polls every key from the start: every committed send is seen.
    let all = (0..KEYS as usize)
        .map(|k| {
            let records = (0..gen.logs[k].len())
                .map(|o| at(o, gen.logs[k][o]))
                .collect();
            (Value::Int(k as i64), list(records))
        })
        .collect();
    let poll = list(vec![Value::Str("poll".into()), Value::Map(all)]);
    out.push(op(processes, 2 * ops as u64, Func::Poll, list(vec![poll])));
    if plant_g1c {
        // Two transactions on fresh keys, each polling the other's send.
        let (a, b) = (KEYS + 1, KEYS + 2);
        let call = 2 * ops as u64 + 2;
        let t1 = list(vec![
            micro("send", a, at(0, -1)),
            poll_of(b, vec![at(0, -2)]),
        ]);
        let t2 = list(vec![
            micro("send", b, at(0, -2)),
            poll_of(a, vec![at(0, -1)]),
        ]);
        out.push(op(0, call, Func::Txn, t1));
        out.push(op(1, call + 2, Func::Txn, t2));
    }
    History::new(out)
}

fn txn_table() {
    println!("\n## Queue checker on transactions (txn of 1-3 sends and a poll, 5% aborted, 3% unknown)\n");
    println!("| operations | planted | anomalies found | median ms | ns per operation |");
    println!("| ---: | --- | --- | ---: | ---: |");
    for ops in [10_000usize, 100_000] {
        for plant in [false, true] {
            let h = generate_txn(ops, 11, plant);
            let mut times = Vec::new();
            let mut summary = String::new();
            for _ in 0..5 {
                let start = Instant::now();
                let report = queue::check(&h).expect("a queue history");
                times.push(start.elapsed());
                let names: Vec<&str> = report.anomalies.keys().copied().collect();
                let want: &[&str] = if plant { &["G1c"] } else { &[] };
                assert_eq!(names, want, "{}", report.summary());
                summary = report.summary();
            }
            let t = median(times);
            println!(
                "| {} | {} | {summary} | {:.1} | {:.0} |",
                h.ops.len(),
                if plant { "G1c" } else { "none" },
                t.as_secs_f64() * 1e3,
                t.as_secs_f64() * 1e9 / h.ops.len() as f64
            );
        }
    }
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn main() {
    if std::env::var("FILTER").is_ok_and(|f| f == "txn") {
        return txn_table();
    }
    println!("## Queue checker scaling (sends and polls, 8 keys, 4 producers, 4 consumers)\n");
    println!("| operations | records polled | median ms | ns per operation |");
    println!("| ---: | ---: | ---: | ---: |");
    for ops in [1_000usize, 10_000, 100_000, 1_000_000] {
        let h = generate(ops, 7);
        let runs = if ops >= 1_000_000 { 3 } else { 7 };
        let mut times = Vec::new();
        let mut polled = 0;
        for _ in 0..runs {
            let start = Instant::now();
            let report = queue::check(&h).expect("a queue history");
            times.push(start.elapsed());
            polled = report.polled;
            assert!(
                !report.anomalies.contains_key("lost-write"),
                "generated history is clean"
            );
        }
        let t = median(times);
        println!(
            "| {ops} | {polled} | {:.2} | {:.0} |",
            t.as_secs_f64() * 1e3,
            t.as_secs_f64() * 1e9 / ops as f64
        );
    }
    txn_table();
}
