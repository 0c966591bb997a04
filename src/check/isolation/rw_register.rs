//! Inference on read-write register histories, as Elle's `rw-register` does it.
//!
//! A transaction is a list of micro-operations on registers: `[w k v]` writes `v` to `k`,
//! `[r k v]` reads `v` (`nil`: the initial state, never written). Every value is written
//! once per key, so a read names the write it saw. Unlike a list, a register does not
//! spell out its history, so the **version order** of a key is only partly known:
//!
//! * the initial state (`nil`) comes before every write;
//! * a transaction that read `k = v1` and then wrote `k = v2` put `v2` after `v1` (writes
//!   follow reads).
//!
//! Each edge `v1 → v2` of that partial order gives **ww** (`v1`'s writer → `v2`'s) and
//! **rw** (each transaction that read `v1` → `v2`'s writer); each read gives **wr** (the
//! writer of the value → the reader). Orders Elle can also assume — that each key is
//! sequential or linearizable, so process or real-time order orders its versions — are
//! not assumed: the anomalies found hold under any version order the history allows.
//!
//! A transaction's external read of a key is its first read before any write of its own
//! to it; its external write is its last write. A read that its own earlier read or write
//! of the key does not explain is *internal* inconsistency; a value nobody wrote is a
//! garbage read; a value of a failed transaction is G1a; a value its writer overwrote
//! within the same transaction is G1b. Failed transactions are not in the graph; those
//! whose outcome is unknown are once a read saw one of their writes.

use std::collections::{BTreeMap, BTreeSet};

use super::models::Anomaly;
use super::txn::{
    atom, graph_nodes, order_edges, Atom, Findings, Inferred, InputError, Why, Writers,
};
use super::Finding;
use crate::check::cycle::Kind;
use crate::history::{History, Status, Value};

/// One micro-operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mop {
    /// Write `value` to `key`.
    Write {
        /// The key.
        key: Atom,
        /// The value.
        value: Atom,
    },
    /// Read `key` (`None`: the initial state, or not known when the transaction did not
    /// complete).
    Read {
        /// The key.
        key: Atom,
        /// The value read.
        value: Option<Atom>,
    },
}

/// A read-write register transaction.
pub type Txn = super::txn::Txn<Mop>;

/// The transactions of a read-write register history.
pub fn txns(history: &History) -> Result<Vec<Txn>, InputError> {
    super::txn::parse(history, "rw-register", mop_of)
}

fn mop_of(op: usize, m: &Value) -> Result<Mop, InputError> {
    let bad = |what: &str| InputError {
        op,
        message: format!(
            "{what}: a micro-operation is [:w k v] or [:r k v] (v nil for the initial state \
             or when not known), found {m}"
        ),
    };
    let Value::List(parts) = m else {
        return Err(bad("not a vector"));
    };
    match parts.as_slice() {
        [Value::Str(f), _, Value::Nil] if f == "w" => Err(bad("a write of nil")),
        [Value::Str(f), k, v] if f == "w" => Ok(Mop::Write {
            key: atom(op, k)?,
            value: atom(op, v)?,
        }),
        [Value::Str(f), k, v] if f == "r" => Ok(Mop::Read {
            key: atom(op, k)?,
            value: match v {
                Value::Nil => None,
                v => Some(atom(op, v)?),
            },
        }),
        _ => Err(bad("unknown micro-operation")),
    }
}

fn writers(txns: &[Txn]) -> Result<Writers, InputError> {
    fn write_of(m: &Mop) -> Option<(&Atom, &Atom)> {
        match m {
            Mop::Write { key, value } => Some((key, value)),
            _ => None,
        }
    }
    super::txn::writers(txns, write_of, ("writes", "rw-register", "value written"))
}

/// A committed transaction's external reads (key → value, `None` the initial state) and
/// external writes (key → its last value); reports reads its own operations contradict.
type External = (BTreeMap<Atom, Option<Atom>>, BTreeMap<Atom, Atom>);

fn external(t: usize, txn: &Txn, findings: &mut Findings) -> External {
    let mut known: BTreeMap<&Atom, (Option<Atom>, bool)> = BTreeMap::new();
    let (mut reads, mut writes) = (BTreeMap::new(), BTreeMap::new());
    for m in &txn.mops {
        match m {
            Mop::Write { key, value } => {
                known.insert(key, (Some(value.clone()), true));
                writes.insert(key.clone(), value.clone());
            }
            Mop::Read { key, value } => {
                match known.get(key) {
                    Some((before, wrote)) if before != value => {
                        let how = if *wrote { "wrote" } else { "read" };
                        let show =
                            |v: &Option<Atom>| v.as_ref().map_or("nil".into(), |v| v.to_string());
                        let detail = format!(
                            "read {key} = {} after it {how} {key} = {}",
                            show(value),
                            show(before)
                        );
                        findings.push(Finding::new(Anomaly::Internal, vec![t], detail));
                    }
                    Some(_) => {}
                    None => {
                        reads.insert(key.clone(), value.clone());
                    }
                }
                let wrote = known.get(key).is_some_and(|k| k.1);
                known.insert(key, (value.clone(), wrote));
            }
        }
    }
    (reads, writes)
}

/// The anomalies of single reads: garbage, aborted and intermediate reads. Marks in
/// `read_from` every transaction whose write a read saw.
fn check_reads(
    t: usize,
    txns: &[Txn],
    writers: &Writers,
    read_from: &mut [bool],
    findings: &mut Findings,
) {
    for m in &txns[t].mops {
        let Mop::Read {
            key,
            value: Some(v),
        } = m
        else {
            continue;
        };
        match writers.get(&(key.clone(), v.clone())) {
            None => findings.push(Finding::new(
                Anomaly::GarbageRead,
                vec![t],
                format!("read {key} = {v}, which no transaction wrote"),
            )),
            Some(&(w, _)) if txns[w].status == Status::Fail => findings.push(Finding::new(
                Anomaly::G1a,
                vec![w, t],
                format!("read {key} = {v}, written by a transaction that failed"),
            )),
            Some(&(w, last)) => {
                read_from[w] = true;
                if !last && w != t {
                    let detail = format!(
                        "read {key} = {v}, which its writer overwrote before it committed: \
                         an intermediate state"
                    );
                    findings.push(Finding::new(Anomaly::G1b, vec![w, t], detail));
                }
            }
        }
    }
}

/// Infer the anomalies without cycles and the dependency graph of a read-write register
/// history.
pub fn infer(txns: &[Txn]) -> Result<Inferred, InputError> {
    let writers = writers(txns)?;
    let mut inf = Inferred::default();
    let mut read_from = vec![false; txns.len()];
    let mut ext: BTreeMap<usize, External> = BTreeMap::new();
    for t in (0..txns.len()).filter(|&t| txns[t].status == Status::Ok) {
        check_reads(t, txns, &writers, &mut read_from, &mut inf.findings);
        ext.insert(t, external(t, &txns[t], &mut inf.findings));
    }
    inf.nodes = graph_nodes(txns, &read_from);
    let mut node_of = vec![usize::MAX; txns.len()];
    for (n, &t) in inf.nodes.iter().enumerate() {
        node_of[t] = n;
    }
    indeterminate_writes(txns, &inf.nodes, &mut ext);
    let node = |t: usize| (node_of[t] != usize::MAX).then_some(node_of[t]);
    let writer = |key: &Atom, v: &Atom| {
        writers
            .get(&(key.clone(), v.clone()))
            .and_then(|&(w, _)| node(w))
    };
    data_edges(&mut inf, &ext, &node, &writer);
    order_edges(txns, &inf.nodes.clone(), &mut inf.edges);
    Ok(inf)
}

/// A transaction of unknown outcome that someone read from wrote what it meant to: its
/// last write of each key is its external write.
fn indeterminate_writes(txns: &[Txn], nodes: &[usize], ext: &mut BTreeMap<usize, External>) {
    for &t in nodes {
        if txns[t].status == Status::Info {
            let writes = txns[t].mops.iter().filter_map(|m| match m {
                Mop::Write { key, value } => Some((key.clone(), value.clone())),
                Mop::Read { .. } => None,
            });
            ext.insert(t, (BTreeMap::new(), writes.collect()));
        }
    }
}

/// The wr edges of every external read, and the ww and rw edges of every known edge of
/// the version orders.
fn data_edges(
    inf: &mut Inferred,
    ext: &BTreeMap<usize, External>,
    node: &dyn Fn(usize) -> Option<usize>,
    writer: &dyn Fn(&Atom, &Atom) -> Option<usize>,
) {
    let mut readers: BTreeMap<(&Atom, &Option<Atom>), Vec<usize>> = BTreeMap::new();
    for (&t, (reads, _)) in ext {
        let reader = node(t).expect("committed transactions are nodes");
        for (key, v) in reads {
            readers.entry((key, v)).or_default().push(reader);
            if let Some(w) = v
                .as_ref()
                .and_then(|v| writer(key, v))
                .filter(|&w| w != reader)
            {
                let why = Why::Wr {
                    key: key.clone(),
                    value: v.clone().expect("read"),
                };
                inf.edges.entry((w, reader, Kind::Wr)).or_insert(why);
            }
        }
    }
    for (key, v1, v2) in version_order(ext) {
        let Some(w2) = writer(&key, &v2) else {
            continue;
        };
        if let Some(w1) = v1
            .as_ref()
            .and_then(|v| writer(&key, v))
            .filter(|&w1| w1 != w2)
        {
            let why = Why::Ww {
                key: key.clone(),
                before: v1.clone().expect("written"),
                after: v2.clone(),
            };
            inf.edges.entry((w1, w2, Kind::Ww)).or_insert(why);
        }
        for &r in readers.get(&(&key, &v1)).into_iter().flatten() {
            if r != w2 {
                let why = Why::Rw {
                    key: key.clone(),
                    last: v1.clone(),
                    next: v2.clone(),
                };
                inf.edges.entry((r, w2, Kind::Rw)).or_insert(why);
            }
        }
    }
}

/// The known edges of each key's version order, `(key, before, after)`: the initial state
/// before every external write, and a transaction's external read before its write.
fn version_order(ext: &BTreeMap<usize, External>) -> BTreeSet<(Atom, Option<Atom>, Atom)> {
    let mut out = BTreeSet::new();
    for (reads, writes) in ext.values() {
        for (key, v2) in writes {
            out.insert((key.clone(), None, v2.clone()));
            if let Some(Some(v1)) = reads.get(key) {
                if v1 != v2 {
                    out.insert((key.clone(), Some(v1.clone()), v2.clone()));
                }
            }
        }
    }
    out
}
