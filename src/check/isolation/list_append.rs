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

use super::models::Anomaly;
use super::txn::{atom, graph_nodes, order_edges, Findings, Writers};
pub use super::txn::{Atom, Inferred, InputError, Why};
use super::Finding;
use crate::check::cycle::Kind;
use crate::history::{History, Status, Value};

/// A list-append transaction.
pub type Txn = super::txn::Txn<Mop>;

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

/// The transactions of a list-append history.
pub fn txns(history: &History) -> Result<Vec<Txn>, InputError> {
    super::txn::parse(history, "list-append", mop_of)
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
            key: atom(op, k)?,
            value: atom(op, v)?,
        }),
        [Value::Str(f), k, v] if f == "r" => Ok(Mop::Read {
            key: atom(op, k)?,
            list: match v {
                Value::Nil => None,
                Value::List(items) => Some(
                    items
                        .iter()
                        .map(|i| atom(op, i))
                        .collect::<Result<_, _>>()?,
                ),
                _ => return Err(bad("a read's value is not a list")),
            },
        }),
        _ => Err(bad("unknown micro-operation")),
    }
}

fn writers(txns: &[Txn]) -> Result<Writers, InputError> {
    fn write_of(m: &Mop) -> Option<(&Atom, &Atom)> {
        match m {
            Mop::Append { key, value } => Some((key, value)),
            _ => None,
        }
    }
    super::txn::writers(
        txns,
        write_of,
        ("appends", "list-append", "element appended"),
    )
}

/// Each committed transaction's external read of each key: the first read, without the
/// elements it had appended itself before it. Checks the later reads against it.
fn external_reads(t: usize, txn: &Txn, findings: &mut Findings) -> BTreeMap<Atom, Vec<Atom>> {
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
    findings: &mut Findings,
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
    findings: &mut Findings,
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
