//! Transactional isolation: Elle's class of checker, for list-append and read-write
//! register histories.
//!
//! Linearizability judges one object at a time. The patterns faultline simulates move
//! data between objects in transactions, and their failures are Adya's anomalies: a
//! transaction that saw another's intermediate state, two that each missed the other's
//! write (write skew), a read that went back in real time. Elle (Kingsbury & Alvaro, VLDB
//! 2020) finds them without enumerating orders: a history of transactions that *append*
//! unique elements to lists and *read* whole lists tells, by itself, the order of every
//! key's versions, and so which transaction depended on which. This module does the same:
//!
//! 1. [`list_append`] reads the transactions, finds the anomalies that need no graph
//!    (aborted and intermediate reads, internal inconsistency, duplicate or garbage
//!    elements, incompatible orders) and infers the dependency graph: `ww`, `wr`, `rw`
//!    edges from the version orders, `process` and `realtime` edges from the history
//!    ([`txn`] holds what every kind of history shares). [`rw_register`] does the same
//!    for registers written and read whole, whose version orders are only partly known
//!    (Elle's `rw-register`);
//! 2. [`search`] finds the graph's cycles by class (G0, G1c, G-single, G-nonadjacent,
//!    G2-item, and their `-process` and `-realtime` variants) on the cycle engine;
//! 3. [`models`] says which consistency models each anomaly rules out; the history is
//!    valid for a model when nothing it forbids was found.
//!
//! Each anomaly comes with its transactions and, for cycles, every edge with what in the
//! history justifies it. A search that runs out of budget with nothing forbidden found
//! answers *unknown*, never *valid*.

pub mod list_append;
pub mod models;
pub mod rw_register;
pub mod search;
pub mod txn;

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::catalog::Named;
use crate::check::cycle::Step;
use crate::history::History;
pub use models::{Anomaly, Model, MODELS};
pub use txn::InputError;
use txn::{Inferred, Why};

/// Breadth-first search steps a check may spend by default.
pub const BUDGET_DEFAULT: u64 = 50_000_000;
/// Examples kept per anomaly.
pub const EXAMPLES_MAX: usize = 8;

/// One anomaly found: its kind, the transactions (history operation indices) and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// What it is.
    pub anomaly: Anomaly,
    /// The transactions involved, as indices into the transactions (operations).
    pub txns: Vec<usize>,
    /// The explanation, one line per edge for a cycle.
    pub detail: String,
}

impl Finding {
    /// A finding about transactions `txns`.
    pub fn new(anomaly: Anomaly, txns: Vec<usize>, detail: String) -> Finding {
        Finding {
            anomaly,
            txns,
            detail,
        }
    }
}

/// The verdict for the model asked about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Nothing the model forbids was found, and the search was complete.
    Valid,
    /// Something the model forbids was found.
    Invalid,
    /// Nothing forbidden found, but the cycle search ran out of budget.
    Unknown,
}

/// The result of checking a transactional history.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The consistency model checked against.
    pub consistency_model: &'static str,
    /// Its verdict.
    pub verdict: Verdict,
    /// Transactions in the history, and in the dependency graph.
    pub txns: usize,
    /// Transactions in the graph (committed, or read from).
    pub graph_nodes: usize,
    /// Edges inferred.
    pub edges: usize,
    /// Anomalies found, worst first, at most [`EXAMPLES_MAX`] examples of each.
    pub anomalies: Vec<Finding>,
    /// How many of each kind were found: every one without a graph; for cycles, one per
    /// strongly connected component and class, as the search reports them.
    pub counts: BTreeMap<Anomaly, u64>,
    /// Models the anomalies rule out, weakest first.
    pub not: Vec<&'static str>,
    /// Whether the cycle search ran out of budget.
    pub search_exhausted: bool,
}

/// Check a list-append history against `model`, spending at most `budget` search steps.
pub fn check_list_append(
    history: &History,
    model: Model,
    budget: u64,
) -> Result<Report, InputError> {
    let txns = list_append::txns(history)?;
    let inferred = list_append::infer(&txns)?;
    let ops: Vec<usize> = txns.iter().map(|t| t.op).collect();
    Ok(judge(&ops, &inferred, model, budget, Dialect::Append))
}

/// Check a read-write register history against `model`, spending at most `budget` search
/// steps.
pub fn check_rw_register(
    history: &History,
    model: Model,
    budget: u64,
) -> Result<Report, InputError> {
    let txns = rw_register::txns(history)?;
    let inferred = rw_register::infer(&txns)?;
    let ops: Vec<usize> = txns.iter().map(|t| t.op).collect();
    Ok(judge(&ops, &inferred, model, budget, Dialect::Register))
}

/// How explanations name writes and reads.
#[derive(Debug, Clone, Copy)]
enum Dialect {
    /// Appends to lists, reads of whole lists.
    Append,
    /// Writes and reads of registers.
    Register,
}

/// Search `inferred`'s graph and judge the history; `ops[t]` is transaction `t`'s
/// operation in the history.
fn judge(
    ops: &[usize],
    inferred: &Inferred,
    model: Model,
    budget: u64,
    dialect: Dialect,
) -> Report {
    // Every layer, whatever the model: the report names every model the history rules out.
    let found = search::search(inferred, true, true, budget, EXAMPLES_MAX);
    let mut anomalies: Vec<Finding> = inferred.findings.examples.clone();
    let mut counts = inferred.findings.counts.clone();
    for cycle in &found.cycles {
        let txns_of: Vec<usize> = cycle.steps.iter().map(|s| inferred.nodes[s.from]).collect();
        let detail = explain(ops, inferred, &cycle.steps, dialect);
        anomalies.push(Finding::new(cycle.anomaly, txns_of, detail));
        *counts.entry(cycle.anomaly).or_insert(0) += 1;
    }
    anomalies.sort_by_key(|f| f.anomaly);
    let mut kept: Vec<Finding> = Vec::new();
    for f in anomalies {
        if kept.iter().filter(|k| k.anomaly == f.anomaly).count() < EXAMPLES_MAX {
            kept.push(f);
        }
    }
    for f in &mut kept {
        f.txns = f.txns.iter().map(|&t| ops[t]).collect();
    }
    let forbidden = kept.iter().any(|f| model.forbids(f.anomaly));
    let verdict = match (forbidden, found.exhausted) {
        (true, _) => Verdict::Invalid,
        (false, true) => Verdict::Unknown,
        (false, false) => Verdict::Valid,
    };
    let not = (MODELS.iter())
        .filter(|m| kept.iter().any(|f| m.forbids(f.anomaly)))
        .map(|m| m.name())
        .collect();
    Report {
        consistency_model: model.name(),
        verdict,
        txns: ops.len(),
        graph_nodes: inferred.nodes.len(),
        edges: inferred.edges.len(),
        anomalies: kept,
        counts,
        not,
        search_exhausted: found.exhausted,
    }
}

/// A cycle, one line per edge: `T3 -rw-> T7: T3 read x ending at 4; T7 appended 5 next`.
fn explain(ops: &[usize], inferred: &Inferred, steps: &[Step], dialect: Dialect) -> String {
    let mut out = String::new();
    for s in steps {
        let (ta, tb) = (ops[inferred.nodes[s.from]], ops[inferred.nodes[s.to]]);
        let why = inferred.edges.get(&(s.from, s.to, s.kind));
        let reason = match why {
            Some(why) => reason(why, ta, tb, dialect),
            None => "edge".to_string(),
        };
        let _ = writeln!(out, "T{ta} -{}-> T{tb}: {reason}", s.kind.name());
    }
    out
}

/// What in the history put the edge `T{ta} → T{tb}` in the graph.
fn reason(why: &Why, ta: usize, tb: usize, dialect: Dialect) -> String {
    let register = matches!(dialect, Dialect::Register);
    match why {
        Why::Ww { key, before, after } if register => {
            format!("T{tb} wrote {key} = {after} over T{ta}'s {before}, which it had read")
        }
        Why::Ww { key, before, after } => {
            format!("T{tb} appended {after} to {key} right after T{ta}'s {before}")
        }
        Why::Wr { key, value } if register => format!("T{tb} read {key} = T{ta}'s {value}"),
        Why::Wr { key, value } => format!("T{tb} read {key} ending in T{ta}'s {value}"),
        Why::Rw { key, last, next } if register => {
            let read = last
                .as_ref()
                .map_or("nil (the initial state)".to_string(), |l| l.to_string());
            format!("T{ta} read {key} = {read}; T{tb} wrote {key} = {next}, a later version")
        }
        Why::Rw { key, last, next } => format!(
            "T{ta} read {key} {}; T{tb} appended {next} next",
            last.as_ref()
                .map_or("empty".to_string(), |l| format!("ending at {l}"))
        ),
        Why::Process { process } => format!("process {process} ran T{ta} before T{tb}"),
        Why::Realtime { ret, call } => {
            format!("T{ta} completed at {ret} before T{tb} began at {call}")
        }
    }
}

/// The report as text: the verdict line, then each anomaly and its explanation.
pub fn render(path: &str, report: &Report) -> String {
    let mut out = String::new();
    let verdict = match report.verdict {
        Verdict::Valid => "valid",
        Verdict::Invalid => "INVALID",
        Verdict::Unknown => "unknown",
    };
    let _ = writeln!(
        out,
        "{path}: {verdict} under {} ({} transactions, {} in the graph, {} edges)",
        report.consistency_model, report.txns, report.graph_nodes, report.edges
    );
    for (i, f) in report.anomalies.iter().enumerate() {
        let txns: Vec<String> = f.txns.iter().map(|t| format!("T{t}")).collect();
        let _ = writeln!(out, "  {} ({})", f.anomaly.name(), txns.join(", "));
        for line in f.detail.lines() {
            let _ = writeln!(out, "    {line}");
        }
        let last_of_kind = report
            .anomalies
            .get(i + 1)
            .is_none_or(|n| n.anomaly != f.anomaly);
        let shown = report
            .anomalies
            .iter()
            .filter(|g| g.anomaly == f.anomaly)
            .count() as u64;
        let count = report.counts.get(&f.anomaly).copied().unwrap_or(shown);
        if last_of_kind && count > shown {
            let _ = writeln!(
                out,
                "  … {count} {} in all, {shown} shown",
                f.anomaly.name()
            );
        }
    }
    if !report.not.is_empty() {
        let _ = writeln!(out, "  ruled out: {}", report.not.join(", "));
    }
    if report.search_exhausted {
        let _ = writeln!(
            out,
            "  the cycle search ran out of budget: cycles may exist that it did not reach"
        );
    }
    out
}
