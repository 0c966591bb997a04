//! The outbox's transactional relay: each round of the relay is one broker transaction.
//! A round that aborts leaves its records in the partitions' logs — acknowledged to the
//! relay, so they took offsets — yet no consumer, reading at read-committed, ever sees
//! one: every record a consumer polled is one the history reports sent by a committed
//! round.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Command;

use faultline::history::{self, Format, Func, Status, Value};

const SCENARIO: &str = "scenarios/outbox/polling_txn.toml";
const NAME: &str = "outbox-polling-txn";
/// A seed with two aborted rounds and none of unknown outcome (whose records may be
/// visible though the history cannot say they were sent).
const SEED: u64 = 27;

fn replay(dir: &std::path::Path) -> PathBuf {
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["replay", SCENARIO, "--seed", &SEED.to_string(), "--out"])
        .arg(dir)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    dir.join("replays").join(NAME).join(SEED.to_string())
}

/// Records by `(partition, offset)`.
type Offsets = BTreeSet<(i64, i64)>;

/// `(partition, offset)` of each `[p [offset id]]` pair in a send's or poll's output.
fn pairs(partition: i64, list: &Value, into: &mut BTreeSet<(i64, i64)>) {
    let Value::List(items) = list else { return };
    for item in items {
        if let Value::List(pair) = item {
            if let [Value::Int(o), Value::Int(_)] = pair.as_slice() {
                into.insert((partition, *o));
            }
        }
    }
}

/// Offsets the history reports sent by committed rounds, and offsets consumers polled.
fn sent_and_polled(queue: &str) -> (Offsets, Offsets) {
    let h = history::parse(queue, "queue.edn", Some(Format::Edn)).unwrap();
    let (mut sent, mut polled) = (BTreeSet::new(), BTreeSet::new());
    for op in h.ops.iter().filter(|op| op.status == Status::Ok) {
        let Value::List(micros) = &op.output else {
            continue;
        };
        for m in micros {
            let Value::List(parts) = m else { continue };
            match (op.f, parts.as_slice()) {
                (Func::Send, [_, Value::Int(p), pair]) => {
                    pairs(*p, &Value::List(vec![pair.clone()]), &mut sent)
                }
                (Func::Poll, [_, Value::Map(by_partition)]) => {
                    for (p, list) in by_partition {
                        let Value::Int(p) = p else { continue };
                        pairs(*p, list, &mut polled);
                    }
                }
                _ => {}
            }
        }
    }
    (sent, polled)
}

/// Offsets the broker acknowledged to the relay: each produce's records from its
/// acknowledged first offset on.
fn acknowledged(trace: &str, relay: u64) -> Offsets {
    let field = |msg: &str, name: &str| -> i64 {
        let at = msg.find(name).unwrap() + name.len();
        let digits: String = msg[at..].chars().take_while(char::is_ascii_digit).collect();
        digits.parse().unwrap()
    };
    let mut records: BTreeMap<i64, i64> = BTreeMap::new();
    let mut acked = BTreeSet::new();
    for line in trace.lines() {
        let e: serde_json::Value = serde_json::from_str(line).unwrap();
        let (Some(label), Some(msg)) = (e["label"].as_str(), e["msg"].as_str()) else {
            continue;
        };
        let from_relay = e["from"] == relay;
        if label == "produce" && from_relay && e["ev"] == "send" {
            let n = msg.matches("Record {").count() as i64;
            records.insert(field(msg, "req: "), n);
        }
        if label == "produce_ack" && e["to"] == relay && msg.contains("Ok(") {
            let (p, req, first) = (
                field(msg, "partition: "),
                field(msg, "req: "),
                field(msg, "Ok("),
            );
            for o in first..first + records[&req] {
                acked.insert((p, o));
            }
        }
    }
    acked
}

#[test]
fn an_aborted_round_of_the_transactional_relay_is_never_read() {
    let dir = std::env::temp_dir().join(format!("faultline-outbox-txn-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = replay(&dir);
    let verdicts = std::fs::read_to_string(out.join("verdicts.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&verdicts).unwrap();
    assert_eq!(v["probes"]["relay_round_aborted"], 2, "{}", v["probes"]);
    assert!(
        v["probes"]["relay_round_unknown"].is_null(),
        "{}",
        v["probes"]
    );
    let queue = std::fs::read_to_string(out.join("queue.edn")).unwrap();
    let (sent, polled) = sent_and_polled(&queue);
    // The orders service (the relay) is process 0 in the outbox topology.
    let acked = acknowledged(
        &std::fs::read_to_string(out.join("trace.jsonl")).unwrap(),
        0,
    );
    let aborted: BTreeSet<_> = acked.difference(&sent).copied().collect();
    assert!(
        !aborted.is_empty(),
        "an aborted round's records took offsets in the log"
    );
    assert!(polled.len() > 20, "consumers read: {polled:?}");
    let unseen: Vec<_> = polled.difference(&sent).collect();
    assert!(
        unseen.is_empty(),
        "consumers read records no committed round sent: {unseen:?} (aborted: {aborted:?})"
    );
    assert!(polled.is_disjoint(&aborted));
}
