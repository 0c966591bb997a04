//! Benchmark of the queue checker: `cargo bench --bench queue`.
//!
//! Generated queue histories of 1k to 1M operations: 4 producers send to 8 keys (each
//! acknowledged with its offset), 4 consumers poll every key in order, 1–8 records per
//! poll, some records delivered twice. Half the operations are sends, half polls. It
//! prints the median check time and the time per operation: linear growth means a flat
//! time per operation. This is a measurement, not a test: it asserts nothing about time.

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

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn main() {
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
}
