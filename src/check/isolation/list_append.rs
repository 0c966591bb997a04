//! Inference on list-append histories, as Elle does it.
//!
//! A transaction is a list of micro-operations on keys whose values are lists: `[append k
//! v]` adds `v` at the end of `k`'s list, `[r k [v1 v2 …]]` reads the whole list. Every
//! value is appended once per key, so a read names exactly which appends it saw and in
//! what order — and the longest read of a key spells out that key's **version order**.
//! From it:
//!
//! * **ww** `T1 → T2`: `T2` appended the element right after `T1`'s;
//! * **wr** `T1 → T2`: `T2` read a list ending in `T1`'s element;
//! * **rw** `T1 → T2`: `T1` read a list that `T2`'s element next extended.
//!
//! A transaction's reads are taken as the state it saw from outside: the first read of
//! each key, without the elements it appended itself before that read. Later reads of
//! the same key must equal that state plus its own appends, or the transaction is
//! *internally* inconsistent. Elements that tell of no single order are anomalies of
//! their own, found before any graph: an element read twice, an element nobody appended
//! (garbage), an element of a transaction that failed (G1a, an aborted read), a list
//! ending in an element its writer later followed with another (G1b, an intermediate
//! read), two reads neither of which is a prefix of the other (incompatible order).
//!
//! Transactions that failed are not in the graph; those whose outcome is unknown are,
//! once a read saw one of their elements (they committed).

use std::collections::BTreeMap;

use super::Finding;
use crate::check::cycle::{Builder, Kind};
use crate::history::{Func, History, Status, Value};

use super::models::Anomaly;

/// One micro-operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mop {
    /// Append `value` to `key`'s list.
    Append {
        /// The key.
        key: Atom,
        /// The element.
        value: Atom,
    },
    /// Read `key`'s list (`None`: not known, the transaction did not complete).
    Read {
        /// The key.
        key: Atom,
        /// The list read.
        list: Option<Vec<Atom>>,
    },
}

/// A transaction of the history.
#[derive(Debug, Clone)]
pub struct Txn {
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
    pub mops: Vec<Mop>,
}

/// Why an edge is in the graph: what the history shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Why {
    /// `to` appended `after` to `key` right after `from`'s `before`.
    Ww {
        /// The key.
        key: Atom,
        /// `from`'s element.
        before: Atom,
        /// `to`'s element.
        after: Atom,
    },
    /// `to` read `key` ending in `from`'s `value`.
    Wr {
        /// The key.
        key: Atom,
        /// The last element read.
        value: Atom,
    },
    /// `from` read `key` ending at `last` (`None`: empty), and `to` appended `next` after it.
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

/// A malformed list-append history (exit 254).
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
fn text(op: usize, v: &Value) -> Result<Atom, InputError> {
    match v {
        Value::Str(s) => Ok(Atom::Str(s.as_str().into())),
        Value::Int(i) => Ok(Atom::Int(*i)),
        other => Err(InputError {
            op,
            message: format!("keys and elements are integers or strings, not {other}"),
        }),
    }
}

fn mop_of(op: usize, m: &Value) -> Result<Mop, InputError> {
    let bad = |what: &str| InputError {
        op,
        message: format!(
            "{what}: a micro-operation is [:append k v] or [:r k list] (list nil when not \
             known), found {m}"
        ),
    };
    let Value::List(parts) = m else {
        return Err(bad("not a vector"));
    };
    match parts.as_slice() {
        [Value::Str(f), k, v] if f == "append" => Ok(Mop::Append {
            key: text(op, k)?,
            value: text(op, v)?,
        }),
        [Value::Str(f), k, v] if f == "r" => Ok(Mop::Read {
            key: text(op, k)?,
            list: match v {
                Value::Nil => None,
                Value::List(items) => Some(
                    items
                        .iter()
                        .map(|i| text(op, i))
                        .collect::<Result<_, _>>()?,
                ),
                _ => return Err(bad("a read's value is not a list")),
            },
        }),
        _ => Err(bad("unknown micro-operation")),
    }
}

/// The transactions of `history`: every operation must be a `:txn`.
pub fn txns(history: &History) -> Result<Vec<Txn>, InputError> {
    let mut out = Vec::with_capacity(history.ops.len());
    for (i, op) in history.ops.iter().enumerate() {
        if op.f != Func::Txn {
            return Err(InputError {
                op: i,
                message: format!(
                    "calls :{}; a list-append history holds :txn operations only",
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

/// Who appended each element of each key: `(txn, whether it was the txn's last append to
/// that key)`.
type Writers = BTreeMap<(Atom, Atom), (usize, bool)>;

fn writers(txns: &[Txn]) -> Result<Writers, InputError> {
    let mut out = Writers::new();
    for (t, txn) in txns.iter().enumerate() {
        for (i, m) in txn.mops.iter().enumerate() {
            let Mop::Append { key, value } = m else {
                continue;
            };
            let last = !txn.mops[i + 1..]
                .iter()
                .any(|n| matches!(n, Mop::Append { key: k, .. } if k == key));
            if let Some(&(other, _)) = out.get(&(key.clone(), value.clone())) {
                return Err(InputError {
                    op: txn.op,
                    message: format!(
                        "appends {value} to {key}, as operation {} did: list-append needs \
                         every element appended once per key",
                        txns[other].op
                    ),
                });
            }
            out.insert((key.clone(), value.clone()), (t, last));
        }
    }
    Ok(out)
}

/// What inference found: anomalies outside any cycle, and the graph's edges with reasons.
#[derive(Debug, Default)]
pub struct Inferred {
    /// Anomalies found without a graph.
    pub findings: Vec<Finding>,
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

/// Each committed transaction's external read of each key: the first read, without the
/// elements it had appended itself before it. Checks the later reads against it.
fn external_reads(t: usize, txn: &Txn, findings: &mut Vec<Finding>) -> BTreeMap<Atom, Vec<Atom>> {
    let mut seen: BTreeMap<Atom, (Option<Vec<Atom>>, Vec<Atom>)> = BTreeMap::new();
    let mut external = BTreeMap::new();
    for m in &txn.mops {
        match m {
            Mop::Append { key, value } => {
                seen.entry(key.clone()).or_default().1.push(value.clone())
            }
            Mop::Read {
                key,
                list: Some(list),
            } => {
                let (known, own) = seen.entry(key.clone()).or_default();
                let consistent = match known {
                    Some(prefix) => {
                        list.len() == prefix.len() + own.len()
                            && list.starts_with(prefix)
                            && list.ends_with(own)
                    }
                    None => list.ends_with(own),
                };
                if !consistent {
                    findings.push(Finding::new(
                        Anomaly::Internal,
                        vec![t],
                        format!(
                            "read {key} = {list:?}, which its own earlier reads and appends \
                             to {key} ({:?} then {own:?}) do not explain",
                            known.as_deref().unwrap_or(&[])
                        ),
                    ));
                }
                if known.is_none() {
                    let outside = list[..list.len().saturating_sub(own.len())].to_vec();
                    external.insert(key.clone(), outside);
                }
                *known = Some(list.clone());
                own.clear();
            }
            Mop::Read { .. } => {}
        }
    }
    external
}

/// A transaction's reads whose lists are known: `(key, list)`.
fn reads(txn: &Txn) -> impl Iterator<Item = (&Atom, &Vec<Atom>)> {
    txn.mops.iter().filter_map(|m| match m {
        Mop::Read {
            key,
            list: Some(list),
        } => Some((key, list)),
        _ => None,
    })
}

/// The anomalies of single reads: duplicates, garbage, aborted and intermediate reads.
/// Marks in `read_from` every transaction whose append the reads saw.
fn check_elements(
    t: usize,
    txns: &[Txn],
    writers: &Writers,
    read_from: &mut [bool],
    findings: &mut Vec<Finding>,
) {
    for (key, list) in reads(&txns[t]) {
        let mut sorted: Vec<&Atom> = list.iter().collect();
        sorted.sort();
        if let Some(w) = sorted.windows(2).find(|w| w[0] == w[1]) {
            let detail = format!("read {key} = {list:?}, which holds {} twice", w[0]);
            findings.push(Finding::new(Anomaly::DuplicateElements, vec![t], detail));
        }
        for v in list {
            match writers.get(&(key.clone(), v.clone())) {
                None => findings.push(Finding::new(
                    Anomaly::GarbageRead,
                    vec![t],
                    format!("read {v} in {key}, which no transaction appended"),
                )),
                Some(&(w, _)) if txns[w].status == Status::Fail => findings.push(Finding::new(
                    Anomaly::G1a,
                    vec![w, t],
                    format!("read {v} in {key}, appended by a transaction that failed"),
                )),
                Some(&(w, _)) => read_from[w] = true,
            }
        }
        if let Some(last) = list.last() {
            if let Some(&(w, false)) = writers.get(&(key.clone(), last.clone())) {
                if w != t && txns[w].status != Status::Fail {
                    let detail = format!(
                        "read {key} ending in {last}, which its writer later followed with \
                         another append to {key}: an intermediate state"
                    );
                    findings.push(Finding::new(Anomaly::G1b, vec![w, t], detail));
                }
            }
        }
    }
}

/// Each key's version order: its longest committed read. Reads that are not prefixes of
/// it are an incompatible order.
fn version_orders(
    txns: &[Txn],
    committed: &[usize],
    findings: &mut Vec<Finding>,
) -> BTreeMap<Atom, Vec<Atom>> {
    let mut reads: BTreeMap<&Atom, Vec<(usize, &Vec<Atom>)>> = BTreeMap::new();
    for &t in committed {
        for m in &txns[t].mops {
            if let Mop::Read {
                key,
                list: Some(list),
            } = m
            {
                reads.entry(key).or_default().push((t, list));
            }
        }
    }
    let mut orders = BTreeMap::new();
    for (key, rs) in reads {
        let &(lt, longest) = rs
            .iter()
            .max_by_key(|(t, l)| (l.len(), std::cmp::Reverse(*t)))
            .expect("a read");
        if let Some(&(t, l)) = rs.iter().find(|(_, l)| !longest.starts_with(l)) {
            let detail = format!("read {key} = {l:?} and {longest:?}: neither extends the other");
            findings.push(Finding::new(
                Anomaly::IncompatibleOrder,
                vec![t, lt],
                detail,
            ));
        }
        orders.insert(key.clone(), longest.clone());
    }
    orders
}

/// The graph: committed transactions, and those of unknown outcome someone read from.
fn graph_nodes(txns: &[Txn], read_from: &[bool]) -> Vec<usize> {
    (0..txns.len())
        .filter(|&t| match txns[t].status {
            Status::Ok => true,
            Status::Info => read_from[t],
            Status::Fail => false,
        })
        .collect()
}

/// Infer the anomalies without cycles and the dependency graph of a list-append history.
pub fn infer(txns: &[Txn]) -> Result<Inferred, InputError> {
    let writers = writers(txns)?;
    let mut inf = Inferred::default();
    let committed: Vec<usize> = (0..txns.len())
        .filter(|&t| txns[t].status == Status::Ok)
        .collect();
    let mut external = BTreeMap::new();
    let mut read_from = vec![false; txns.len()];
    for &t in &committed {
        check_elements(t, txns, &writers, &mut read_from, &mut inf.findings);
        external.insert(t, external_reads(t, &txns[t], &mut inf.findings));
    }
    let orders = version_orders(txns, &committed, &mut inf.findings);
    inf.nodes = graph_nodes(txns, &read_from);
    let mut node_of = vec![usize::MAX; txns.len()];
    for (n, &t) in inf.nodes.iter().enumerate() {
        node_of[t] = n;
    }
    let node = |t: usize| (node_of[t] != usize::MAX).then_some(node_of[t]);
    let writer = |key: &Atom, v: &Atom| {
        writers
            .get(&(key.clone(), v.clone()))
            .and_then(|&(w, _)| node(w))
    };
    for (key, order) in &orders {
        for pair in order.windows(2) {
            if let (Some(a), Some(b)) = (writer(key, &pair[0]), writer(key, &pair[1])) {
                let why = Why::Ww {
                    key: key.clone(),
                    before: pair[0].clone(),
                    after: pair[1].clone(),
                };
                inf.edges.entry((a, b, Kind::Ww)).or_insert(why);
            }
        }
    }
    for (&t, reads) in &external {
        let reader = node(t).expect("committed transactions are nodes");
        for (key, list) in reads {
            read_edges(&mut inf, reader, key, list, orders.get(key), &writer);
        }
    }
    order_edges(txns, &inf.nodes.clone(), &mut inf.edges);
    Ok(inf)
}

/// The wr and rw edges of one external read.
fn read_edges(
    inf: &mut Inferred,
    reader: usize,
    key: &Atom,
    list: &[Atom],
    order: Option<&Vec<Atom>>,
    writer: &dyn Fn(&Atom, &Atom) -> Option<usize>,
) {
    if let Some(last) = list.last() {
        if let Some(w) = writer(key, last) {
            let why = Why::Wr {
                key: key.clone(),
                value: last.clone(),
            };
            inf.edges.entry((w, reader, Kind::Wr)).or_insert(why);
        }
    }
    let Some(order) = order.filter(|o| o.starts_with(list)) else {
        return;
    };
    if let Some(next) = order.get(list.len()) {
        if let Some(w) = writer(key, next) {
            let why = Why::Rw {
                key: key.clone(),
                last: list.last().cloned(),
                next: next.clone(),
            };
            inf.edges.entry((reader, w, Kind::Rw)).or_insert(why);
        }
    }
}

/// Process edges (each process's transactions in invocation order) and real-time edges
/// (completed before invoked), the latter as a transitive reduction: each transaction is
/// linked from the completed ones no later completion had already covered.
fn order_edges(txns: &[Txn], nodes: &[usize], edges: &mut BTreeMap<(usize, usize, Kind), Why>) {
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
