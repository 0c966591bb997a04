//! The queue checker: Jepsen's Kafka-test anomalies over a history of sends and polls.
//!
//! A queue history records, per client process, operations of micro-operations, as
//! Jepsen's Kafka workload does:
//!
//! * `send` — input `[["send", k, v] ...]`; completed `ok`, the output carries each
//!   value's offset: `[["send", k, [offset, v]] ...]`;
//! * `poll` — output `[["poll", {k [[offset v] ...]}] ...]`;
//! * `txn` — both kinds of micro-operation in one operation, a transaction: `ok`
//!   committed, `fail` definitely aborted, `info` unknown;
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
//! and, over transactions ([`txn`]): `G1a` (aborted read), `precommitted-read`,
//! `int-send-skip`, `int-nonmonotonic-send`, and the dependency cycles `G0` and `G1c`.
//!
//! Every pass is a walk over the history with ordered maps, and the cycle search is linear
//! in the graph: `O(n log n)` in the number of micro-operations, whatever the interleaving.
//! Some anomalies are normal in Kafka's model and allowed unless a caller says otherwise:
//! [`ALLOWED_BY_DEFAULT`].

mod order;
mod read;
#[cfg(test)]
mod tests;
pub mod txn;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::history::History;
use order::{logs, polls, sends};
use read::step_of;

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
    "G1a",
    "precommitted-read",
    "int-send-skip",
    "int-nonmonotonic-send",
    "G0",
    "G1c",
];

/// What Kafka's transactional model makes normal, as Jepsen's checker allows it: writes of
/// concurrent transactions interleave (`int-send-skip`) and are not isolated from each
/// other (`G0`). An explicit list of allowed anomalies replaces this one.
pub const ALLOWED_BY_DEFAULT: &[&str] = &["G0", "int-send-skip"];

/// One edge of a dependency cycle, with why it is there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Edge {
    /// The operation the edge leaves.
    pub from: usize,
    /// The operation it reaches.
    pub to: usize,
    /// `ww` or `wr`.
    pub kind: &'static str,
    /// The key and values that make the edge, in a sentence.
    pub why: String,
}

/// One anomaly found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Found {
    /// Jepsen's name.
    pub anomaly: &'static str,
    /// What, where, in a sentence.
    pub detail: String,
    /// History operations involved.
    pub ops: Vec<usize>,
    /// A cycle's edges, in order (empty for anomalies that are not cycles).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cycle: Vec<Edge>,
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
        self.add_cycle(anomaly, detail, ops, Vec::new());
    }

    fn add_cycle(
        &mut self,
        anomaly: &'static str,
        detail: String,
        ops: Vec<usize>,
        cycle: Vec<Edge>,
    ) {
        let entry = self.anomalies.entry(anomaly).or_default();
        entry.0 += 1;
        if entry.1.len() < EXAMPLES_MAX {
            entry.1.push(Found {
                anomaly,
                detail,
                ops,
                cycle,
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

/// How to check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// Infer write-write edges from the order of a key's log (Jepsen's `:ww-deps`). Kafka
    /// orders a partition's records but does not isolate transactions' writes from each
    /// other, so cycles through these edges (G0, and G1c that needs one) are normal there;
    /// without them a G1c is a cycle of reads alone — a transaction that saw another's
    /// records before that one committed.
    pub ww_deps: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options { ww_deps: true }
    }
}

/// Check a queue history, inferring write-write edges.
pub fn check(history: &History) -> Result<Report, QueueError> {
    check_with(history, Options::default())
}

/// Check a queue history with `options`.
pub fn check_with(history: &History, options: Options) -> Result<Report, QueueError> {
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
    // Without an aborted operation or one of several micro-operations no transactional
    // anomaly can exist: each operation is one send or one key's poll, and single sends
    // chain along their key's log, which has no cycle. Plain histories skip the passes.
    let transactional =
        (steps.iter()).any(|s| s.status == crate::history::Status::Fail || s.micros.len() > 1);
    if !transactional {
        return Ok(report);
    }
    let index = txn::Index::new(&steps, &logs);
    txn::aborted_reads(&steps, &index, &mut report);
    txn::precommitted_reads(&steps, &mut report);
    txn::internal_sends(&steps, &index, &mut report);
    txn::cycles(
        &steps,
        &index,
        history.ops.len(),
        options.ww_deps,
        &mut report,
    );
    Ok(report)
}
