//! What every transactional history shares, whatever its micro-operations: transactions
//! read from the history, keys and values ([`Atom`]), the reasons behind the dependency
//! graph's edges ([`Why`]), the graph itself ([`Inferred`]) and its order edges — each
//! process's transactions in order, and real time.
//!
//! [`super::list_append`] and [`super::rw_register`] read their micro-operations and infer
//! their data edges on top of it; [`super::search`] searches the graph either way.

use std::collections::BTreeMap;

use super::models::Anomaly;
use super::Finding;
use crate::check::cycle::{Builder, Kind};
use crate::history::{Func, History, Status, Value};

/// A transaction of the history.
#[derive(Debug, Clone)]
pub struct Txn<M> {
    /// Its operation's index in the history.
    pub op: usize,
    /// The process that ran it.
    pub process: u64,
    /// Invocation and completion times.
    pub call: u64,
    /// `None` when it never completed.
    pub ret: Option<u64>,
    /// How it ended.
    pub status: Status,
    /// Its micro-operations, reads filled in for committed ones.
    pub mops: Vec<M>,
}

/// Why an edge is in the graph: what the history shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Why {
    /// `to` wrote (appended) `after` to `key` right after `from`'s `before`.
    Ww {
        /// The key.
        key: Atom,
        /// `from`'s element.
        before: Atom,
        /// `to`'s element.
        after: Atom,
    },
    /// `to` read `key` ending in (equal to) `from`'s `value`.
    Wr {
        /// The key.
        key: Atom,
        /// The last element read.
        value: Atom,
    },
    /// `from` read `key` ending at (equal to) `last` (`None`: empty, the initial state),
    /// and `to` wrote (appended) `next` after it.
    Rw {
        /// The key.
        key: Atom,
        /// The last element `from` read.
        last: Option<Atom>,
        /// The element `to` appended next.
        next: Atom,
    },
    /// One process ran `from` and then `to`.
    Process {
        /// The process.
        process: u64,
    },
    /// `from` completed (at `ret`) before `to` was invoked (at `call`).
    Realtime {
        /// `from`'s completion time.
        ret: u64,
        /// `to`'s invocation time.
        call: u64,
    },
}

/// A malformed transactional history (exit 254).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("operation {op}: {message}")]
pub struct InputError {
    /// The operation's index in the history.
    pub op: usize,
    /// What is wrong.
    pub message: String,
}

/// A key or element: an integer, or a string (or keyword, by its name).
///
/// Histories are mostly integers; holding them as integers makes the version orders and
/// the writer lookups comparisons of numbers, not of text.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Atom {
    /// An integer.
    Int(i64),
    /// A string or keyword.
    Str(std::sync::Arc<str>),
}

impl std::fmt::Display for Atom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Atom::Int(i) => write!(f, "{i}"),
            Atom::Str(s) => write!(f, "{s}"),
        }
    }
}

impl std::fmt::Debug for Atom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

/// A key or element of a micro-operation.
pub fn atom(op: usize, v: &Value) -> Result<Atom, InputError> {
    match v {
        Value::Str(s) => Ok(Atom::Str(s.as_str().into())),
        Value::Int(i) => Ok(Atom::Int(*i)),
        other => Err(InputError {
            op,
            message: format!("keys and elements are integers or strings, not {other}"),
        }),
    }
}

/// The transactions of `history`: every operation must be a `:txn` of micro-operations
/// `mop_of` reads; `model` names the history's kind in errors.
pub fn parse<M>(
    history: &History,
    model: &str,
    mop_of: fn(usize, &Value) -> Result<M, InputError>,
) -> Result<Vec<Txn<M>>, InputError> {
    let mut out = Vec::with_capacity(history.ops.len());
    for (i, op) in history.ops.iter().enumerate() {
        if op.f != Func::Txn {
            return Err(InputError {
                op: i,
                message: format!(
                    "calls :{}; a {model} history holds :txn operations only",
                    op.f.name()
                ),
            });
        }
        // A committed transaction's completion holds its reads; otherwise the invocation.
        let value = match (op.status, &op.output) {
            (Status::Ok, Value::List(_)) => &op.output,
            _ => &op.input,
        };
        let Value::List(mops) = value else {
            return Err(InputError {
                op: i,
                message: format!(
                    "a transaction's value is a vector of micro-operations, not {value}"
                ),
            });
        };
        let mops = mops
            .iter()
            .map(|m| mop_of(i, m))
            .collect::<Result<_, _>>()?;
        out.push(Txn {
            op: i,
            process: op.client,
            call: op.call,
            ret: op.ret,
            status: op.status,
            mops,
        });
    }
    Ok(out)
}

/// Who wrote each value of each key: `(txn, whether it was the txn's last write to that
/// key)`.
pub type Writers = BTreeMap<(Atom, Atom), (usize, bool)>;

/// The writers of a history whose writes `write_of` names (`(key, value)` of a
/// micro-operation that writes). A value written twice to a key is refused: the reads
/// could not tell which write they saw. `what` says it in the error: `("appends",
/// "list-append", "element appended")`.
pub fn writers<M>(
    txns: &[Txn<M>],
    write_of: fn(&M) -> Option<(&Atom, &Atom)>,
    what: (&str, &str, &str),
) -> Result<Writers, InputError> {
    let mut out = Writers::new();
    for (t, txn) in txns.iter().enumerate() {
        for (i, m) in txn.mops.iter().enumerate() {
            let Some((key, value)) = write_of(m) else {
                continue;
            };
            let last =
                !(txn.mops[i + 1..].iter()).any(|n| write_of(n).is_some_and(|(k, _)| k == key));
            if let Some(&(other, _)) = out.get(&(key.clone(), value.clone())) {
                let (verb, model, noun) = what;
                return Err(InputError {
                    op: txn.op,
                    message: format!(
                        "{verb} {value} to {key}, as operation {} did: {model} needs every \
                         {noun} once per key",
                        txns[other].op
                    ),
                });
            }
            out.insert((key.clone(), value.clone()), (t, last));
        }
    }
    Ok(out)
}

/// Anomalies found, each kind counted, the first [`EXAMPLES_MAX`](super::EXAMPLES_MAX) of
/// each kept as examples: memory stays bounded however many a history holds.
#[derive(Debug, Clone, Default)]
pub struct Findings {
    /// The examples kept, in the order found.
    pub examples: Vec<Finding>,
    /// How many of each kind were found.
    pub counts: BTreeMap<Anomaly, u64>,
}

impl Findings {
    /// Count `f`, and keep it if fewer than the cap of its kind are kept.
    pub fn push(&mut self, f: Finding) {
        let count = self.counts.entry(f.anomaly).or_insert(0);
        *count += 1;
        if *count <= super::EXAMPLES_MAX as u64 {
            self.examples.push(f);
        }
    }
}

/// What inference found: anomalies outside any cycle, and the graph's edges with reasons.
#[derive(Debug, Default)]
pub struct Inferred {
    /// Anomalies found without a graph.
    pub findings: Findings,
    /// The graph's nodes: indices into the transactions.
    pub nodes: Vec<usize>,
    /// Edges between node indices, each with the first reason seen for it.
    pub edges: BTreeMap<(usize, usize, Kind), Why>,
}

impl Inferred {
    /// The graph for the cycle engine.
    pub fn builder(&self) -> Builder {
        let mut b = Builder::new(self.nodes.len());
        for &(from, to, kind) in self.edges.keys() {
            b.link(from, to, kind);
        }
        b
    }
}

/// The graph: committed transactions, and those of unknown outcome someone read from.
pub fn graph_nodes<M>(txns: &[Txn<M>], read_from: &[bool]) -> Vec<usize> {
    (0..txns.len())
        .filter(|&t| match txns[t].status {
            Status::Ok => true,
            Status::Info => read_from[t],
            Status::Fail => false,
        })
        .collect()
}

/// Process edges (each process's transactions in invocation order) and real-time edges
/// (completed before invoked), the latter as a transitive reduction: each transaction is
/// linked from the completed ones no later completion had already covered.
pub fn order_edges<M>(
    txns: &[Txn<M>],
    nodes: &[usize],
    edges: &mut BTreeMap<(usize, usize, Kind), Why>,
) {
    let mut by_process: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
    for (n, &t) in nodes.iter().enumerate() {
        by_process.entry(txns[t].process).or_default().push(n);
    }
    for (process, mut ns) in by_process {
        ns.sort_by_key(|&n| (txns[nodes[n]].call, n));
        for pair in ns.windows(2) {
            edges
                .entry((pair[0], pair[1], Kind::Process))
                .or_insert(Why::Process { process });
        }
    }
    // Events in time order, invocations before completions at the same time (an
    // operation that ends when another begins is concurrent with it).
    let mut events: Vec<(u64, bool, usize)> = Vec::with_capacity(2 * nodes.len());
    for (n, &t) in nodes.iter().enumerate() {
        events.push((txns[t].call, false, n));
        if let Some(ret) = txns[t].ret {
            events.push((ret, true, n));
        }
    }
    events.sort_unstable();
    let mut frontier: Vec<usize> = Vec::new();
    let mut preds: Vec<Vec<usize>> = vec![Vec::new(); nodes.len()];
    // A completion covers its predecessors; they leave the frontier at the next
    // invocation, which walks the frontier anyway, so the work is linear in the edges.
    let mut covered = vec![false; nodes.len()];
    for (_, completes, n) in events {
        if completes {
            preds[n].iter().for_each(|&p| covered[p] = true);
            frontier.push(n);
        } else {
            frontier.retain(|&p| !covered[p]);
            for &p in &frontier {
                let why = Why::Realtime {
                    ret: txns[nodes[p]].ret.expect("completed"),
                    call: txns[nodes[n]].call,
                };
                edges.entry((p, n, Kind::Realtime)).or_insert(why);
            }
            preds[n] = frontier.clone();
        }
    }
}
