//! Durability: every request a client saw acknowledged is in the committed log of its
//! shard, exactly once.

use std::collections::{BTreeMap, BTreeSet};

use crate::check::{CheckOutcome, Verdict};
use crate::history::{Func, History, Status, Value};
use crate::plan::Plan;
use crate::systems::es_cluster::ledger::{Event, Payload, ReqId};
use crate::systems::es_cluster::EsCluster;

use super::Committed;

/// The request of each history operation: per client, the n-th request (a transfer is
/// two history entries with the same invocation time) has sequence number n.
fn requests(history: &History) -> Vec<ReqId> {
    let mut last: BTreeMap<u64, (u64, u64)> = BTreeMap::new(); // client → (call, seq)
    history
        .ops
        .iter()
        .map(|op| {
            let entry = last.entry(op.client).or_insert((u64::MAX, 0));
            if entry.0 != op.call {
                *entry = (op.call, entry.1 + 1);
            }
            ReqId {
                client: op.client as usize,
                seq: entry.1,
            }
        })
        .collect()
}

/// What the committed log says about requests: the requests it holds, the transfer each
/// cross-shard request started, and each transfer's first decision.
#[allow(clippy::type_complexity)]
fn logged_requests(
    committed: &Committed,
) -> (BTreeSet<ReqId>, BTreeMap<ReqId, u64>, BTreeMap<u64, bool>) {
    let mut reqs: BTreeSet<ReqId> = BTreeSet::new();
    let mut txn_of: BTreeMap<ReqId, u64> = BTreeMap::new();
    let mut decided: BTreeMap<u64, bool> = BTreeMap::new();
    for entries in &committed.shards {
        for entry in entries.values() {
            match &entry.payload {
                Payload::Events { req, events, .. } => {
                    reqs.extend(*req);
                    for e in events {
                        match e {
                            Event::TxnStarted { txn, req, .. } => {
                                txn_of.insert(*req, *txn);
                            }
                            Event::TxnDecided { txn, commit, .. } => {
                                decided.entry(*txn).or_insert(*commit);
                            }
                            _ => {}
                        }
                    }
                }
                Payload::Command { req, .. } => {
                    reqs.insert(*req);
                }
                Payload::Noop | Payload::Read { .. } => {}
            }
        }
    }
    (reqs, txn_of, decided)
}

pub(super) fn durability(
    check: &str,
    plan: &Plan<EsCluster>,
    history: &History,
    committed: &Committed,
) -> CheckOutcome {
    let (reqs, txn_of, decided) = logged_requests(committed);
    let ids = requests(history);
    let mut lost = Vec::new();
    let mut acknowledged = 0;
    for (i, op) in history.ops.iter().enumerate() {
        let write = matches!(
            op.f,
            Func::Put | Func::Append | Func::Deposit | Func::Withdraw | Func::Open
        );
        if !write || op.status != Status::Ok {
            continue;
        }
        acknowledged += 1;
        let req = ids[i];
        let present = match txn_of.get(&req) {
            // A cross-shard transfer: acknowledged as applied only after its commit.
            Some(txn) => op.output != Value::Bool(true) || decided.get(txn) == Some(&true),
            None => reqs.contains(&req),
        };
        if !present {
            lost.push(i);
        }
    }
    if let Some(&i) = lost.first() {
        let op = &history.ops[i];
        return CheckOutcome::fail(
            check,
            Verdict::Violation,
            format!(
                "{} acknowledged command(s) missing from the committed log, e.g. {:?} {} {:?} by client {} acknowledged at {:.1} ms",
                lost.len(),
                op.f,
                op.key.as_deref().unwrap_or(""),
                op.input,
                plan.head.nodes[op.client as usize].name,
                op.ret.unwrap_or(0) as f64 / 1e6
            ),
            lost,
        );
    }
    CheckOutcome::pass(
        check,
        format!("all {acknowledged} acknowledged commands are in the committed log"),
    )
}
