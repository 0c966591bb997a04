//! What `outbox` runs are judged by.
//!
//! Sources: the queue history (the relay's sends, the consumers' polls and assignments),
//! the observations (every event a committed transaction produced, every record a
//! partition appended — on commit, so these are the broker's committed logs — every
//! effect a consumer applied, every field a replica service wrote), and the final state
//! (the orders table and its replica, loyalty points, committed offsets, whether the
//! outbox drained).

use std::collections::BTreeMap;

use super::consumer::ConsumerProc;
use super::service::OrderRow;
use super::{Check, Outbox, OutboxObs, Proc};
use crate::catalog::Named;
use crate::check::{queue, CheckOutcome, Verdict};
use crate::history::{Func, History, Value};
use crate::plan::Plan;
use crate::sim::{SimOutput, View};
use crate::systems::components::raft;

mod delivery;
mod replicas;

use delivery::{aggregate_order, exactly_once, published_committed};
use replicas::{convergence, field_ownership};

/// What the checks look at.
#[derive(Debug, Clone)]
pub struct OutboxFinal {
    /// The orders table (`None`: the service was down at the end).
    pub master: Option<BTreeMap<String, OrderRow>>,
    /// Whether every committed event is recorded as published.
    pub drained: bool,
    /// The shipping replica (`None`: down at the end).
    pub replica: Option<BTreeMap<String, OrderRow>>,
    /// Loyalty points per customer (`None`: its database was down).
    pub points: Option<BTreeMap<String, i64>>,
    /// Committed offsets per (group, partition), from the coordinator.
    pub offsets: BTreeMap<(String, u32), u64>,
    /// Per partition (where a leader is known): its last stable offset and its aborted
    /// transactions' offset ranges — records a read-committed consumer never sees (the
    /// transactional relay's aborted or unfinished rounds).
    pub invisible: BTreeMap<u32, (u64, Vec<(u64, u64)>)>,
    /// Why the system had not settled, if it had not.
    pub unsettled: Vec<String>,
}

type Out = SimOutput<OutboxFinal, OutboxObs>;

/// The leader of partition `p` (highest term) whose applied state is complete, if one
/// runs.
fn leader<'a>(
    sys: &Outbox,
    view: &View<'a, Outbox>,
    p: usize,
) -> Option<&'a crate::systems::components::raft::Raft<Outbox>> {
    raft::caught_up_leader(
        sys.partitions[p]
            .iter()
            .filter_map(|&n| match &view.procs[n] {
                Some(Proc::Broker(b)) => Some(b.as_ref()),
                _ => None,
            }),
    )
}

fn consumer_at<'a>(view: &View<'a, Outbox>, node: usize) -> Option<&'a ConsumerProc> {
    match &view.procs[node] {
        Some(Proc::Consumer(c)) => Some(c),
        _ => None,
    }
}

/// Why the world has not settled (empty when it has).
pub fn unsettled(sys: &Outbox, view: &View<'_, Outbox>) -> Vec<String> {
    let mut why = Vec::new();
    for (node, proc) in view.procs.iter().enumerate() {
        match proc {
            None => why.push(format!("process {node} is not running")),
            Some(Proc::Client(c)) if !c.idle() => why.push(format!("client {node} waits")),
            Some(Proc::Orders(o)) if !o.drained() => why.push("the outbox has not drained".into()),
            Some(Proc::Consumer(c)) if !c.idle() => {
                why.push(format!("consumer {node} is applying"))
            }
            _ => {}
        }
    }
    let Some(coordinator) = leader(sys, view, 0) else {
        why.push("partition 0 has no leader".into());
        return why;
    };
    for p in 0..sys.partitions.len() {
        let Some(l) = leader(sys, view, p) else {
            why.push(format!("partition {p} has no leader"));
            continue;
        };
        let end = l.state.records.len() as u64;
        for group in ["loyalty", "shipping"] {
            let at = coordinator
                .state
                .offsets
                .get(&(group.to_string(), p as u32))
                .copied()
                .unwrap_or(0);
            if at < end {
                why.push(format!(
                    "group {group} is at {at} of {end} in partition {p}"
                ));
            }
        }
    }
    if let (Some(Proc::Orders(o)), Some(c)) =
        (&view.procs[sys.orders], consumer_at(view, sys.shipping))
    {
        if rows(&o.db) != c.replica() {
            why.push("the replica differs from the orders table".into());
        }
    }
    why
}

fn rows(
    db: &crate::systems::components::db::Db<super::service::Row>,
) -> BTreeMap<String, OrderRow> {
    db.rows("orders")
        .filter_map(|(k, v)| match v {
            super::service::Row::Order(r) => Some((k.clone(), r.clone())),
            _ => None,
        })
        .collect()
}

/// Take the final observations.
pub fn finish(sys: &Outbox, view: &View<'_, Outbox>) -> OutboxFinal {
    let (master, drained) = match &view.procs[sys.orders] {
        Some(Proc::Orders(o)) => (Some(rows(&o.db)), o.drained()),
        _ => (None, false),
    };
    let points = match &view.procs[sys.loyalty_db] {
        Some(Proc::LoyaltyDb(db)) => Some(db.points()),
        _ => None,
    };
    OutboxFinal {
        master,
        drained,
        replica: consumer_at(view, sys.shipping).map(ConsumerProc::replica),
        points,
        offsets: leader(sys, view, 0)
            .map(|l| l.state.offsets.clone())
            .unwrap_or_default(),
        invisible: (0..sys.partitions.len())
            .filter_map(|p| {
                let log = &leader(sys, view, p)?.state;
                let aborted = log.aborted.values().map(|a| (a.first, a.last)).collect();
                Some((p as u32, (log.last_stable_offset(), aborted)))
            })
            .collect(),
        unsettled: unsettled(sys, view),
    }
}

/// Run one check.
pub fn run(plan: &Plan<Outbox>, out: &Out, check: Check) -> CheckOutcome {
    let finals = out
        .finals
        .as_ref()
        .expect("checks run only on runs that finished");
    let name = check.name();
    match check {
        Check::Queue => queue_check(name, plan, out),
        Check::Raft(check) => {
            let raft_of: fn(&OutboxObs) -> Option<&raft::Observation> = |o| match o {
                OutboxObs::Raft(obs) => Some(obs),
                _ => None,
            };
            let partition = |p: usize| format!("partition {p}");
            let head = &plan.head;
            raft::checks::run_over(check, name, &out.observations, raft_of, head, &partition)
        }
        Check::PublishedCommitted => published_committed(name, out, finals),
        Check::AggregateOrder => aggregate_order(name, out),
        Check::ExactlyOnce => exactly_once(name, out, finals),
        Check::FieldOwnership => field_ownership(name, out),
        Check::Convergence => convergence(name, plan, out, finals),
    }
}

/// History operations that show an event's path: the client's change of its order, the
/// relay's sends and the consumers' polls that carry it.
fn event_ops(history: &History, event: u64, order: Option<&str>) -> Vec<usize> {
    /// Whether a send or poll value carries event `id` (as a value, not an offset or key).
    fn mentions(v: &Value, id: i64) -> bool {
        let value_of =
            |pair: &Value| matches!(pair, Value::List(p) if p.get(1) == Some(&Value::Int(id)));
        let Value::List(micros) = v else { return false };
        micros.iter().any(|m| match m {
            Value::List(parts) => match parts.as_slice() {
                [Value::Str(f), _, sent] if f == "send" => {
                    *sent == Value::Int(id) || value_of(sent)
                }
                [Value::Str(f), Value::Map(by_key)] if f == "poll" => by_key.iter().any(
                    |(_, records)| matches!(records, Value::List(rs) if rs.iter().any(value_of)),
                ),
                _ => false,
            },
            _ => false,
        })
    }
    (0..history.ops.len())
        .filter(|&i| {
            let op = &history.ops[i];
            match op.f {
                Func::Send | Func::Poll => {
                    mentions(&op.input, event as i64) || mentions(&op.output, event as i64)
                }
                Func::System(_) => order.is_some() && op.key.as_deref() == order,
                _ => false,
            }
        })
        .collect()
}

fn fail(check: &str, message: String, ops: Vec<usize>) -> CheckOutcome {
    CheckOutcome::fail(check, Verdict::Violation, message, ops)
}

/// The queue history's operations (sends, polls, assignments) in the client history.
pub fn queue_ops(history: &History) -> Vec<usize> {
    (0..history.ops.len())
        .filter(|&i| matches!(history.ops[i].f, Func::Send | Func::Poll | Func::Assign))
        .collect()
}

fn queue_check(check: &str, plan: &Plan<Outbox>, out: &Out) -> CheckOutcome {
    let index = queue_ops(&out.history);
    // Processes as Jepsen numbers them (the queue file a replay writes is this history):
    // a client's operations overlapping its previous one, or following one of unknown
    // outcome, are another process's, so each process's sends and polls are sequential.
    let queue_ops = crate::history::edn::with_retired_processes(&History::new(
        index.iter().map(|&i| out.history.ops[i].clone()).collect(),
    ));
    let report = match queue::check(&queue_ops) {
        Ok(report) => report,
        Err(e) => {
            return CheckOutcome::fail(
                check,
                Verdict::Crash,
                format!("the queue history is malformed: {e}"),
                vec![],
            )
        }
    };
    let allowed = &plan.params.allow;
    if let Some((anomaly, (count, examples))) = report.forbidden(allowed).next() {
        let example = examples.first().map_or(String::new(), |e| e.detail.clone());
        let ops = examples
            .first()
            .map_or(Vec::new(), |e| e.ops.iter().map(|&i| index[i]).collect());
        return fail(
            check,
            format!(
                "{anomaly} ×{count} (anomalies: {}), e.g. {example}",
                report.summary()
            ),
            ops,
        );
    }
    CheckOutcome::pass(
        check,
        format!(
            "{} sends, {} records polled over {} partitions; anomalies: {} (allowed: {})",
            report.sends,
            report.polled,
            report.keys,
            report.summary(),
            if allowed.is_empty() {
                "none".to_string()
            } else {
                allowed.join(", ")
            }
        ),
    )
}
