//! Two-phase commit's blocking: locks held past `lock_hold_ms_max` while participants
//! wait for a decision are a liveness finding.

use std::collections::BTreeMap;

use crate::check::{CheckOutcome, Verdict};
use crate::plan::Plan;
use crate::systems::saga::flow::Service;
use crate::systems::saga::{Saga, SagaId, SagaObs};

use super::{ops_of, Out};

/// Lock hold times: (longest in ms, its holder and service, total ms, holds).
fn lock_holds(out: &Out) -> (f64, Option<(SagaId, Service)>, f64, usize) {
    let mut open: BTreeMap<(Service, SagaId), u64> = BTreeMap::new();
    let mut held: Vec<(u64, SagaId, Service)> = Vec::new();
    for o in &out.observations {
        match o.obs {
            SagaObs::Locked { service, txn } => {
                open.entry((service, txn)).or_insert(o.t_ns);
            }
            SagaObs::Unlocked { service, txn } => {
                if let Some(t) = open.remove(&(service, txn)) {
                    held.push((o.t_ns - t, txn, service));
                }
            }
            _ => {}
        }
    }
    for ((service, txn), t) in open {
        held.push((out.end_ns.saturating_sub(t), txn, service));
    }
    let longest = held.iter().max_by_key(|h| h.0);
    let total: u64 = held.iter().map(|h| h.0).sum();
    (
        longest.map_or(0.0, |h| h.0 as f64 / 1e6),
        longest.map(|h| (h.1, h.2)),
        total as f64 / 1e6,
        held.len(),
    )
}

pub(super) fn blocking(check: &str, plan: &Plan<Saga>, out: &Out) -> CheckOutcome {
    let (longest, holder, total, holds) = lock_holds(out);
    let bound = plan.params.lock_hold_ms_max as f64;
    match holder {
        Some((txn, service)) if longest > bound => CheckOutcome::fail(
            check,
            Verdict::Liveness,
            format!(
                "{txn} held its locks at {} for {longest:.0} ms (bound {bound:.0} ms): blocked; locks held {total:.0} ms in all over {holds} holds",
                service.name()
            ),
            ops_of(&out.history, txn),
        ),
        _ => CheckOutcome::pass(
            check,
            format!("locks held {total:.0} ms in all over {holds} holds, the longest {longest:.0} ms"),
        ),
    }
}
