//! The transactional passes, as Jepsen's Kafka checker has them.
//!
//! A `txn` operation is a transaction of sends and polls; so, for these passes, is a lone
//! `send` or `poll`. Its completion says what is known: `ok` committed, `fail` definitely
//! aborted, `info` unknown. From the history the passes build:
//!
//! * each key's **version order** — the values in the order of their first offset in the
//!   key's log (a value seen at two offsets is a `duplicate`, counted at its first);
//! * the **writer** of each value: the operation that sent it, if it committed or may
//!   have (`ok`, `info`); the sends of `fail` operations are kept apart as **aborted**.
//!
//! and report:
//!
//! | anomaly | meaning |
//! |---|---|
//! | `G1a` | a committed operation polled a value an aborted one sent (an aborted read) |
//! | `precommitted-read` | a transaction polled a value it sent itself: Kafka hides a transaction's records from every reader until it commits |
//! | `int-send-skip` | two sends of one transaction to a key landed with other values between them (normal in Kafka: transactions interleave; allowed by default) |
//! | `int-nonmonotonic-send` | two sends of one transaction to a key landed out of order |
//! | `G0` | a cycle of write-write edges (Kafka does not isolate writes: allowed by default) |
//! | `G1c` | a cycle of write-write and write-read edges with at least one write-read edge |
//!
//! The dependency graph is Jepsen's for Kafka: `a →ww b` when `a`'s value directly
//! precedes `b`'s in a key's version order, `a →wr b` when `b` polled a value `a` sent; no
//! read-write edges (a poll does not overwrite). Cycles are found by [`crate::check::cycle`],
//! one per strongly connected component, each reported with its edges and the key and
//! values that justify each edge.

use std::collections::{BTreeMap, BTreeSet};

use super::order::Logs;
use super::read::Step;
use super::{Edge, Report};
use crate::check::cycle::{self, Kind, Kinds, Spec};
use crate::history::{Status, Value};

/// Cycles spelled out per anomaly (the rest are counted).
const CYCLES_MAX: usize = super::EXAMPLES_MAX;

/// Writers, aborted sends and version orders.
pub(super) struct Index<'h> {
    /// (key, value) → the operation that sent it (`ok` or `info`).
    writer: BTreeMap<(&'h Value, &'h Value), usize>,
    /// (key, value) → the `fail` operation that sent it.
    aborted: BTreeMap<(&'h Value, &'h Value), usize>,
    /// Per key, the values in version order with the offset each was first seen at.
    orders: BTreeMap<&'h Value, Vec<(i64, &'h Value)>>,
    /// (key, value) → its position in the key's version order.
    position: BTreeMap<(&'h Value, &'h Value), usize>,
    /// History operation → its step.
    step_of: BTreeMap<usize, usize>,
}

impl<'h> Index<'h> {
    pub(super) fn new(steps: &'h [Step], logs: &'h Logs) -> Self {
        let mut index = Index {
            writer: BTreeMap::new(),
            aborted: BTreeMap::new(),
            orders: BTreeMap::new(),
            position: BTreeMap::new(),
            step_of: BTreeMap::new(),
        };
        for (i, s) in steps.iter().enumerate() {
            index.step_of.insert(s.op, i);
            let into = match s.status {
                Status::Fail => &mut index.aborted,
                Status::Ok | Status::Info => &mut index.writer,
            };
            for (key, value, _) in s.sends() {
                into.entry((key, value)).or_insert(s.op);
            }
        }
        for (key, log) in logs {
            let order = index.orders.entry(key).or_default();
            for (offset, (value, _)) in log {
                if let std::collections::btree_map::Entry::Vacant(v) =
                    index.position.entry((key, value))
                {
                    v.insert(order.len());
                    order.push((*offset, value));
                }
            }
        }
        index
    }

    fn writer(&self, key: &Value, value: &Value) -> Option<usize> {
        self.writer.get(&(key, value)).copied()
    }
}

/// Aborted reads: a committed operation polled a value that a `fail` operation sent.
pub(super) fn aborted_reads(steps: &[Step], index: &Index<'_>, report: &mut Report) {
    for s in steps {
        for (key, offset, value) in s.reads() {
            if let Some(&writer) = index.aborted.get(&(key, value)) {
                report.add(
                    "G1a",
                    format!("operation {} polled {value} from key {key} at offset {offset}, sent by operation {writer}, which aborted", s.op),
                    vec![writer, s.op],
                );
            }
        }
    }
}

/// A transaction that polled what it sent itself.
pub(super) fn precommitted_reads(steps: &[Step], report: &mut Report) {
    for s in steps.iter().filter(|s| s.ok()) {
        let sent: BTreeSet<(&Value, &Value)> = s.sends().map(|(k, v, _)| (k, v)).collect();
        if sent.is_empty() {
            continue;
        }
        if let Some((key, offset, value)) = s.reads().find(|(k, _, v)| sent.contains(&(*k, *v))) {
            report.add(
                "precommitted-read",
                format!("operation {} polled {value} from key {key} at offset {offset}, which it sent itself before it committed", s.op),
                vec![s.op],
            );
        }
    }
}

/// Successive sends of one transaction to a key that skip over values or go backwards in
/// the key's version order.
pub(super) fn internal_sends(steps: &[Step], index: &Index<'_>, report: &mut Report) {
    for s in steps {
        let mut last: BTreeMap<&Value, (usize, &Value)> = BTreeMap::new();
        for (key, value, _) in s.sends() {
            let Some(&at) = index.position.get(&(key, value)) else {
                continue;
            };
            if let Some((before, prev)) = last.insert(key, (at, value)) {
                let order = &index.orders[key];
                if at <= before {
                    report.add(
                        "int-nonmonotonic-send",
                        format!("operation {} sent {prev} then {value} to key {key}, which landed at offsets {} and {}", s.op, order[before].0, order[at].0),
                        vec![s.op],
                    );
                } else if at > before + 1 {
                    report.add(
                        "int-send-skip",
                        format!("operation {} sent {prev} then {value} to key {key}, which landed at offsets {} and {} with {} between", s.op, order[before].0, order[at].0, order[before + 1].1),
                        vec![s.op],
                    );
                }
            }
        }
    }
}

/// G0 and G1c: cycles of the dependency graph.
pub(super) fn cycles(
    steps: &[Step],
    index: &Index<'_>,
    nodes: usize,
    ww_deps: bool,
    report: &mut Report,
) {
    let mut graph = cycle::Builder::new(nodes);
    for (key, order) in index.orders.iter().filter(|_| ww_deps) {
        for pair in order.windows(2) {
            let (a, b) = (index.writer(key, pair[0].1), index.writer(key, pair[1].1));
            if let (Some(a), Some(b)) = (a, b) {
                graph.link(a, b, Kind::Ww);
            }
        }
    }
    for s in steps {
        for (key, _, value) in s.reads() {
            if let Some(w) = index.writer(key, value) {
                graph.link(w, s.op, Kind::Wr);
            }
        }
    }
    let graph = graph.build();
    let specs = [
        ("G0", Kinds::of(&[Kind::Ww]), Kinds::of(&[Kind::Ww])),
        (
            "G1c",
            Kinds::of(&[Kind::Ww, Kind::Wr]),
            Kinds::of(&[Kind::Wr]),
        ),
    ];
    for (name, allowed, required) in specs {
        let found = graph.cycles(Spec { allowed, required }, CYCLES_MAX);
        for c in &found.cycles {
            let edges: Vec<Edge> = c.iter().map(|s| explain(steps, index, *s)).collect();
            let ops = c.iter().map(|s| s.from).collect();
            let detail = edges
                .iter()
                .map(|e| e.why.as_str())
                .collect::<Vec<_>>()
                .join("; ");
            report.add_cycle(name, detail, ops, edges);
        }
        // Components beyond the examples are counted.
        let rest = found.components - found.cycles.len();
        if rest > 0 {
            report.anomalies.entry(name).or_default().0 += rest;
        }
    }
}

/// An edge of a cycle with the key and values that justify it.
fn explain(steps: &[Step], index: &Index<'_>, step: cycle::Step) -> Edge {
    let (a, b) = (step.from, step.to);
    let target = &steps[index.step_of[&b]];
    let why = match step.kind {
        Kind::Ww => target.sends().find_map(|(key, value, _)| {
            index.writer(key, value).filter(|&w| w == b)?;
            let at = *index.position.get(&(key, value))?;
            let (o1, v1) = index.orders[key][at.checked_sub(1)?];
            (index.writer(key, v1) == Some(a)).then(|| {
                let o2 = index.orders[key][at].0;
                format!("operation {a} sent {v1} to key {key} (offset {o1}) just before operation {b} sent {value} (offset {o2})")
            })
        }),
        _ => target.reads().find_map(|(key, offset, value)| {
            (index.writer(key, value) == Some(a)).then(|| {
                format!("operation {b} polled {value} from key {key} (offset {offset}), sent by operation {a}")
            })
        }),
    };
    Edge {
        from: a,
        to: b,
        kind: step.kind.name(),
        why: why.expect("every edge of the graph has a reason"),
    }
}
