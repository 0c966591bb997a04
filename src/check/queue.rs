//! The queue checker: Jepsen's Kafka-test anomalies over a history of sends and polls.
//!
//! A queue history records, per client process, operations of micro-operations, as
//! Jepsen's Kafka workload does:
//!
//! * `send` — input `[["send", k, v] ...]`; completed `ok`, the output carries each
//!   value's offset: `[["send", k, [offset, v]] ...]`;
//! * `poll` — output `[["poll", {k [[offset v] ...]}] ...]`;
//! * `txn` — both kinds of micro-operation in one operation;
//! * `assign` / `subscribe` — the process now reads these keys: its positions start over.
//!
//! From every offset any operation saw, the checker builds each key's log (offset →
//! value) and reports, by Jepsen's names:
//!
//! | anomaly | meaning |
//! |---|---|
//! | `inconsistent-offsets` | one offset of a key seen holding two different values |
//! | `duplicate` | a value at two offsets of a key |
//! | `lost-write` | an acknowledged send nobody polled, though a later offset of its key was polled |
//! | `unseen` | an acknowledged send nobody polled, and nothing after it either |
//! | `nonmonotonic-send` | a process's sends to a key got offsets that go backwards |
//! | `poll-skip` | a process's next poll of a key skipped over offsets that hold values |
//! | `nonmonotonic-poll` | a process's next poll of a key started at or before what it already read |
//! | `int-poll-skip` | a skip inside one poll |
//! | `int-nonmonotonic-poll` | offsets going backwards inside one poll |
//!
//! Every pass is a walk over the history with ordered maps: `O(n log n)` in the number of
//! micro-operations, whatever the interleaving.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::history::{Func, History, Status, Value};

/// Every anomaly name, as scenarios and reports spell it.
pub const ANOMALIES: &[&str] = &[
    "lost-write",
    "unseen",
    "duplicate",
    "poll-skip",
    "nonmonotonic-poll",
    "nonmonotonic-send",
    "int-poll-skip",
    "int-nonmonotonic-poll",
    "inconsistent-offsets",
];

/// One anomaly found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Found {
    /// Jepsen's name.
    pub anomaly: &'static str,
    /// What, where, in a sentence.
    pub detail: String,
    /// History operations involved.
    pub ops: Vec<usize>,
}

/// The checker's result.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// Micro-operations read: sends and polled records.
    pub sends: usize,
    /// Records polled.
    pub polled: usize,
    /// Keys seen.
    pub keys: usize,
    /// Anomalies by name (at most [`EXAMPLES_MAX`] examples each), with counts.
    pub anomalies: BTreeMap<&'static str, (usize, Vec<Found>)>,
}

/// Examples kept per anomaly.
pub const EXAMPLES_MAX: usize = 5;

impl Report {
    fn add(&mut self, anomaly: &'static str, detail: String, ops: Vec<usize>) {
        let entry = self.anomalies.entry(anomaly).or_default();
        entry.0 += 1;
        if entry.1.len() < EXAMPLES_MAX {
            entry.1.push(Found {
                anomaly,
                detail,
                ops,
            });
        }
    }

    /// The anomalies not in `allowed`, by name, with their counts.
    pub fn forbidden<'a>(
        &'a self,
        allowed: &'a [String],
    ) -> impl Iterator<Item = (&'static str, &'a (usize, Vec<Found>))> {
        self.anomalies
            .iter()
            .filter(move |(name, _)| !allowed.iter().any(|a| a == *name))
            .map(|(name, v)| (*name, v))
    }

    /// `name 3, name 1` for the anomalies found, or `none`.
    pub fn summary(&self) -> String {
        if self.anomalies.is_empty() {
            return "none".into();
        }
        self.anomalies
            .iter()
            .map(|(name, (n, _))| format!("{name} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// A history that is not a queue history.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("operation {index}: {message}")]
pub struct QueueError {
    /// The operation.
    pub index: usize,
    /// What is wrong.
    pub message: String,
}

/// A micro-operation, read from an operation.
#[derive(Debug, Clone)]
enum Micro {
    /// A send, with its offset once acknowledged.
    Send {
        key: Value,
        value: Value,
        offset: Option<i64>,
    },
    /// A poll's records of one key, in order.
    Poll {
        key: Value,
        records: Vec<(i64, Value)>,
    },
}

/// What one operation did, in the order the process did it.
struct Step {
    op: usize,
    process: u64,
    call: u64,
    reset: bool,
    ok: bool,
    micros: Vec<Micro>,
}

/// Check a queue history.
pub fn check(history: &History) -> Result<Report, QueueError> {
    let mut steps = Vec::new();
    for (i, op) in history.ops.iter().enumerate() {
        steps.push(step_of(i, op)?);
    }
    // Each process's operations in the order it issued them.
    steps.sort_by_key(|s| (s.process, s.call, s.op));
    let mut report = Report::default();
    let logs = logs(&steps, &mut report);
    report.keys = logs.len();
    sends(&steps, &logs, &mut report);
    polls(&steps, &logs, &mut report);
    Ok(report)
}

fn step_of(index: usize, op: &crate::history::Operation) -> Result<Step, QueueError> {
    let err = |message: String| QueueError { index, message };
    let (reset, source) = match op.f {
        Func::Assign | Func::Subscribe => (true, None),
        Func::Send | Func::Poll | Func::Txn => {
            let ok = op.status == Status::Ok;
            (false, Some(if ok { &op.output } else { &op.input }))
        }
        other => {
            return Err(err(format!(
                "`{other}` is not a queue operation: send, poll, txn, assign or subscribe"
            )))
        }
    };
    let micros = match source {
        None => Vec::new(),
        Some(Value::List(items)) => items
            .iter()
            .map(|m| micro_of(m).map_err(&err))
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .flatten()
            .collect(),
        Some(other) => {
            return Err(err(format!(
                "the value {other} is not a list of micro-operations"
            )))
        }
    };
    Ok(Step {
        op: index,
        process: op.client,
        call: op.call,
        reset,
        ok: op.status == Status::Ok,
        micros,
    })
}

/// `["send", k, v]`, `["send", k, [offset v]]`, `["poll"]` or `["poll", {k [[o v] ...]}]`.
fn micro_of(m: &Value) -> Result<Vec<Micro>, String> {
    let Value::List(parts) = m else {
        return Err(format!("the micro-operation {m} is not a list"));
    };
    match parts.as_slice() {
        [Value::Str(f), key, sent] if f == "send" => {
            let (value, offset) = match sent {
                Value::List(pair) => match pair.as_slice() {
                    [Value::Int(o), v] => (v.clone(), Some(*o)),
                    [Value::Nil, v] => (v.clone(), None),
                    _ => return Err(format!("a send's [offset value] pair is malformed: {sent}")),
                },
                v => (v.clone(), None),
            };
            Ok(vec![Micro::Send { key: key.clone(), value, offset }])
        }
        [Value::Str(f)] if f == "poll" => Ok(Vec::new()),
        [Value::Str(f), Value::Map(by_key)] if f == "poll" => by_key
            .iter()
            .map(|(key, records)| {
                let Value::List(records) = records else {
                    return Err(format!("a poll's records of key {key} are not a list"));
                };
                let records = records
                    .iter()
                    .map(|r| match r {
                        Value::List(pair) => match pair.as_slice() {
                            [Value::Int(o), v] => Ok((*o, v.clone())),
                            _ => Err(format!("a polled record is not [offset value]: {r}")),
                        },
                        _ => Err(format!("a polled record is not [offset value]: {r}")),
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(Micro::Poll { key: key.clone(), records })
            })
            .collect(),
        _ => Err(format!("unknown micro-operation {m}: expected [\"send\" k v] or [\"poll\" {{k [[offset value] ...]}}]")),
    }
}

/// Each key's log, offset → value, from everything seen; reports inconsistent offsets
/// and duplicates on the way.
fn logs(steps: &[Step], report: &mut Report) -> BTreeMap<Value, BTreeMap<i64, (Value, usize)>> {
    let mut logs: BTreeMap<Value, BTreeMap<i64, (Value, usize)>> = BTreeMap::new();
    let mut seen = |key: &Value, offset: i64, value: &Value, op: usize, report: &mut Report| {
        let log = logs.entry(key.clone()).or_default();
        match log.get(&offset) {
            Some((v, first)) if v != value => report.add(
                "inconsistent-offsets",
                format!("key {key} offset {offset} holds {v} (operation {first}) and {value} (operation {op})"),
                vec![*first, op],
            ),
            Some(_) => {}
            None => {
                log.insert(offset, (value.clone(), op));
            }
        }
    };
    for s in steps.iter().filter(|s| s.ok) {
        for m in &s.micros {
            match m {
                Micro::Send {
                    key,
                    value,
                    offset: Some(o),
                } => seen(key, *o, value, s.op, report),
                Micro::Send { .. } => {}
                Micro::Poll { key, records } => {
                    report.polled += records.len();
                    for (o, v) in records {
                        seen(key, *o, v, s.op, report);
                    }
                }
            }
        }
    }
    for (key, log) in &logs {
        let mut at: BTreeMap<&Value, Vec<(i64, usize)>> = BTreeMap::new();
        for (o, (v, op)) in log {
            at.entry(v).or_default().push((*o, *op));
        }
        for (v, places) in at.into_iter().filter(|(_, p)| p.len() > 1) {
            let offsets: Vec<i64> = places.iter().map(|p| p.0).collect();
            report.add(
                "duplicate",
                format!("key {key}: value {v} at offsets {offsets:?}"),
                places.iter().map(|p| p.1).collect(),
            );
        }
    }
    logs
}

/// Lost and unseen writes, and sends whose offsets go backwards.
fn sends(
    steps: &[Step],
    logs: &BTreeMap<Value, BTreeMap<i64, (Value, usize)>>,
    report: &mut Report,
) {
    // What polls saw: per key, the values and the highest offset.
    let mut polled: BTreeMap<&Value, (BTreeSet<&Value>, i64)> = BTreeMap::new();
    for s in steps.iter().filter(|s| s.ok) {
        for m in &s.micros {
            if let Micro::Poll { key, records } = m {
                let entry = polled.entry(key).or_insert((BTreeSet::new(), i64::MIN));
                for (o, v) in records {
                    entry.0.insert(v);
                    entry.1 = entry.1.max(*o);
                }
            }
        }
    }
    let mut last_send: BTreeMap<(u64, &Value), i64> = BTreeMap::new();
    for s in steps.iter().filter(|s| s.ok) {
        for m in &s.micros {
            let Micro::Send {
                key,
                value,
                offset: Some(o),
            } = m
            else {
                continue;
            };
            report.sends += 1;
            if let Some(prev) = last_send.insert((s.process, key), *o) {
                if *o <= prev {
                    report.add(
                        "nonmonotonic-send",
                        format!(
                            "process {} sent to key {key} at offset {o} after offset {prev}",
                            s.process
                        ),
                        vec![s.op],
                    );
                }
            }
            let (values, highest) = polled
                .get(key)
                .map_or((None, i64::MIN), |(vs, h)| (Some(vs), *h));
            if values.is_some_and(|vs| vs.contains(value)) {
                continue;
            }
            let later = logs
                .get(key)
                .and_then(|l| o.checked_add(1).and_then(|next| l.range(next..).next()))
                .is_some()
                && highest > *o;
            if later {
                report.add("lost-write", format!("key {key}: {value} acknowledged at offset {o}, never polled, though offset {highest} was"), vec![s.op]);
            } else {
                report.add(
                    "unseen",
                    format!("key {key}: {value} acknowledged at offset {o}, not polled yet"),
                    vec![s.op],
                );
            }
        }
    }
}

/// Skips and going backwards, within one poll and between a process's polls of a key
/// (until it is assigned keys anew).
fn polls(
    steps: &[Step],
    logs: &BTreeMap<Value, BTreeMap<i64, (Value, usize)>>,
    report: &mut Report,
) {
    let mut last: BTreeMap<(u64, &Value), (i64, usize)> = BTreeMap::new();
    // Offsets strictly between a and b (none when they are adjacent, equal or reversed,
    // and no overflow at the ends of the offset range).
    let holds_between = |key: &Value, a: i64, b: i64| {
        let from = a.checked_add(1).filter(|&from| from < b)?;
        logs.get(key)
            .and_then(|l| l.range(from..b).next())
            .map(|(o, _)| *o)
    };
    for s in steps {
        if s.reset || !s.ok {
            // A new assignment, or a poll whose outcome is unknown (a crashed client).
            last.retain(|(p, _), _| *p != s.process);
            continue;
        }
        for m in &s.micros {
            let Micro::Poll { key, records } = m else {
                continue;
            };
            for (i, &(o, _)) in records.iter().enumerate() {
                let internal = i > 0;
                let prev = if internal {
                    Some((records[i - 1].0, s.op))
                } else {
                    last.get(&(s.process, key)).copied()
                };
                let Some((p, prev_op)) = prev else { continue };
                let (back, skip) = if internal {
                    ("int-nonmonotonic-poll", "int-poll-skip")
                } else {
                    ("nonmonotonic-poll", "poll-skip")
                };
                if o <= p {
                    report.add(
                        back,
                        format!(
                            "process {} polled key {key} at offset {o} after {p}",
                            s.process
                        ),
                        vec![prev_op, s.op],
                    );
                } else if let Some(missed) = holds_between(key, p, o) {
                    report.add(skip, format!("process {} polled key {key} at offset {o} after {p}, skipping offset {missed}", s.process), vec![prev_op, s.op]);
                }
            }
            if let Some(&(o, _)) = records.last() {
                last.insert((s.process, key), (o, s.op));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Operation;

    fn op(client: u64, call: u64, f: Func, status: Status, output: Value) -> Operation {
        Operation {
            client,
            call,
            ret: (status != Status::Info).then_some(call + 1),
            status,
            f,
            key: None,
            input: Value::Nil,
            output,
        }
    }

    fn l(items: Vec<Value>) -> Value {
        Value::List(items)
    }

    fn send(client: u64, call: u64, k: i64, o: i64, v: i64) -> Operation {
        let m = l(vec![
            Value::Str("send".into()),
            Value::Int(k),
            l(vec![Value::Int(o), Value::Int(v)]),
        ]);
        op(client, call, Func::Send, Status::Ok, l(vec![m]))
    }

    fn poll(client: u64, call: u64, k: i64, records: &[(i64, i64)]) -> Operation {
        let recs = records
            .iter()
            .map(|&(o, v)| l(vec![Value::Int(o), Value::Int(v)]))
            .collect();
        let m = l(vec![
            Value::Str("poll".into()),
            Value::Map(vec![(Value::Int(k), l(recs))]),
        ]);
        op(client, call, Func::Poll, Status::Ok, l(vec![m]))
    }

    fn names(ops: Vec<Operation>) -> Vec<&'static str> {
        check(&History::new(ops))
            .unwrap()
            .anomalies
            .keys()
            .copied()
            .collect()
    }

    #[test]
    fn a_clean_history_has_none() {
        let ops = vec![
            send(0, 1, 5, 0, 10),
            send(0, 2, 5, 1, 11),
            poll(1, 3, 5, &[(0, 10), (1, 11)]),
        ];
        assert!(names(ops).is_empty());
    }

    #[test]
    fn each_anomaly_is_named() {
        assert_eq!(
            names(vec![
                send(0, 1, 5, 0, 10),
                send(0, 2, 5, 1, 11),
                poll(1, 3, 5, &[(1, 11)])
            ]),
            ["lost-write"]
        );
        assert_eq!(names(vec![send(0, 1, 5, 0, 10)]), ["unseen"]);
        assert_eq!(
            names(vec![
                send(0, 1, 5, 0, 10),
                send(0, 2, 5, 1, 10),
                poll(1, 3, 5, &[(0, 10), (1, 10)])
            ]),
            ["duplicate"]
        );
        assert_eq!(
            names(vec![
                send(0, 1, 5, 1, 10),
                send(0, 2, 5, 0, 11),
                poll(1, 3, 5, &[(0, 11), (1, 10)])
            ]),
            ["nonmonotonic-send"]
        );
        assert_eq!(
            names(vec![poll(1, 1, 5, &[(0, 10)]), poll(1, 2, 5, &[(0, 10)])]),
            ["nonmonotonic-poll"]
        );
        assert_eq!(
            names(vec![poll(1, 1, 5, &[(1, 11), (0, 10)])]),
            ["int-nonmonotonic-poll"]
        );
        assert_eq!(
            names(vec![
                poll(2, 1, 5, &[(0, 10), (1, 11), (2, 12)]),
                poll(1, 2, 5, &[(0, 10), (2, 12)])
            ]),
            ["int-poll-skip"]
        );
        assert_eq!(
            names(vec![
                poll(2, 1, 5, &[(0, 10), (1, 11), (2, 12)]),
                poll(1, 2, 5, &[(0, 10)]),
                poll(1, 3, 5, &[(2, 12)])
            ]),
            ["poll-skip"]
        );
        assert_eq!(
            names(vec![poll(1, 1, 5, &[(0, 10)]), poll(2, 2, 5, &[(0, 99)])]),
            ["inconsistent-offsets"]
        );
    }

    #[test]
    fn an_assignment_starts_positions_over() {
        let assign = op(1, 2, Func::Assign, Status::Ok, Value::Nil);
        assert!(names(vec![
            poll(1, 1, 5, &[(0, 10)]),
            assign,
            poll(1, 3, 5, &[(0, 10)])
        ])
        .is_empty());
    }
}
