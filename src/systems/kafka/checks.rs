//! What `kafka` runs are judged by: the transactional queue history (Jepsen's anomalies),
//! the partitions' final logs read at read-committed (atomicity of every transaction), the
//! replicated log's checks, and whether every transaction ended after heal.

use std::collections::BTreeMap;

use super::client::GROUP;
use super::{Check, Kafka, KafkaObs, Proc};
use crate::catalog::Named;
use crate::check::{queue, CheckOutcome, Verdict};
use crate::history::{Func, Status, Value};
use crate::plan::Plan;
use crate::sim::{SimOutput, View};
use crate::systems::components::broker::{Isolation, TxnState};
use crate::systems::components::raft::{self, Raft};

/// What the checks look at.
#[derive(Debug, Clone)]
pub struct KafkaFinal {
    /// Per partition: each value readable at read-committed → its offset (`None`: no
    /// caught-up leader at the end).
    pub committed: Vec<Option<BTreeMap<i64, u64>>>,
    /// The consumer group's committed offsets by partition (`None`: partition 0 had no
    /// caught-up leader at the end).
    pub group_offsets: Option<BTreeMap<u32, u64>>,
    /// Why the system had not settled, if it had not.
    pub unsettled: Vec<String>,
}

type Out = SimOutput<KafkaFinal, KafkaObs>;

/// The leader of partition `p` (highest term) whose applied state is complete.
fn leader<'a>(sys: &Kafka, view: &View<'a, Kafka>, p: usize) -> Option<&'a Raft<Kafka>> {
    raft::caught_up_leader(
        sys.partitions[p]
            .iter()
            .filter_map(|&n| match &view.procs[n] {
                Some(Proc::Broker(b)) => Some(b.as_ref()),
                _ => None,
            }),
    )
}

/// Why the world has not settled (empty when it has).
pub fn unsettled(sys: &Kafka, view: &View<'_, Kafka>) -> Vec<String> {
    let mut why = Vec::new();
    for (node, proc) in view.procs.iter().enumerate() {
        match proc {
            None => why.push(format!("process {node} is not running")),
            Some(Proc::Client(c)) if !c.idle() => why.push(format!("client {node} waits")),
            _ => {}
        }
    }
    for p in 0..sys.partitions.len() {
        let Some(l) = leader(sys, view, p) else {
            why.push(format!("partition {p} has no leader"));
            continue;
        };
        let (lso, end) = (l.state.last_stable_offset(), l.state.records.len() as u64);
        if lso < end {
            why.push(format!("partition {p}: last stable offset {lso} of {end}"));
        }
        if p == 0 {
            for (id, m) in &l.state.coordinator.txns {
                if m.state == TxnState::Ongoing || m.state.preparing() {
                    why.push(format!("transaction {id} is {:?}", m.state));
                }
            }
        }
    }
    why
}

/// Take the final observations.
pub fn finish(sys: &Kafka, view: &View<'_, Kafka>) -> KafkaFinal {
    let committed = (0..sys.partitions.len())
        .map(|p| {
            leader(sys, view, p).map(|l| {
                let all = l.state.read(0, u32::MAX, Isolation::ReadCommitted);
                all.records.into_iter().map(|(o, r)| (r.value, o)).collect()
            })
        })
        .collect();
    let group_offsets = leader(sys, view, 0).map(|l| {
        (l.state.offsets.iter())
            .filter(|((g, _), _)| g == GROUP)
            .map(|((_, p), &o)| (*p, o))
            .collect()
    });
    KafkaFinal {
        committed,
        group_offsets,
        unsettled: unsettled(sys, view),
    }
}

/// Run one check.
pub fn run(plan: &Plan<Kafka>, out: &Out, check: Check) -> CheckOutcome {
    let finals = out
        .finals
        .as_ref()
        .expect("checks run only on runs that finished");
    let name = check.name();
    match check {
        Check::Queue => queue_check(name, plan, out),
        Check::TxnAtomicity => txn_atomicity(name, plan, out, finals),
        Check::ConsumedOnce => consumed_once(name, plan, out, finals),
        Check::Raft(check) => {
            let raft_of: fn(&KafkaObs) -> Option<&raft::Observation> = |o| match o {
                KafkaObs::Raft(obs) => Some(obs),
                KafkaObs::Consumed { .. } => None,
            };
            let partition = |p: usize| format!("partition {p}");
            raft::checks::run_over(
                check,
                name,
                &out.observations,
                raft_of,
                &plan.head,
                &partition,
            )
        }
        Check::LsoProgress => {
            if out.settled {
                CheckOutcome::pass(name, "after heal every transaction ended and every partition's last stable offset reached its end")
            } else {
                CheckOutcome::not_settled(
                    name,
                    "settled",
                    plan.head.params.phases.heal_ms,
                    &finals.unsettled,
                    "",
                )
            }
        }
    }
}

fn queue_check(check: &str, plan: &Plan<Kafka>, out: &Out) -> CheckOutcome {
    let history = crate::history::edn::with_retired_processes(&out.history);
    // Kafka does not isolate transactions' writes: no write-write edges (module docs).
    let report = match queue::check_with(&history, queue::Options { ww_deps: false }) {
        Ok(report) => report,
        Err(e) => {
            let message = format!("the queue history is malformed: {e}");
            return CheckOutcome::fail(check, Verdict::Crash, message, vec![]);
        }
    };
    let allowed = &plan.params.allow;
    if let Some((anomaly, (count, examples))) = report.forbidden(allowed).next() {
        let example = examples.first().map_or(String::new(), |e| e.detail.clone());
        let ops = examples.first().map_or(Vec::new(), |e| e.ops.clone());
        let message = format!(
            "{anomaly} ×{count} (anomalies: {}), e.g. {example}",
            report.summary()
        );
        return CheckOutcome::fail(check, Verdict::Violation, message, ops);
    }
    CheckOutcome::pass(
        check,
        format!(
            "{} sends, {} records polled over {} keys; anomalies: {} (allowed: {})",
            report.sends,
            report.polled,
            report.keys,
            report.summary(),
            allowed.join(", ")
        ),
    )
}

/// The sends of operation `op`: (key, value, offset if acknowledged).
fn sends(op: &crate::history::Operation) -> Vec<(i64, i64, Option<i64>)> {
    let source = if op.status == Status::Ok {
        &op.output
    } else {
        &op.input
    };
    let Value::List(micros) = source else {
        return Vec::new();
    };
    micros
        .iter()
        .filter_map(|m| match m {
            Value::List(parts) => match parts.as_slice() {
                [Value::Str(f), Value::Int(k), Value::Int(v)] if f == "send" => {
                    Some((*k, *v, None))
                }
                [Value::Str(f), Value::Int(k), Value::List(pair)] if f == "send" => {
                    match pair.as_slice() {
                        [Value::Int(o), Value::Int(v)] => Some((*k, *v, Some(*o))),
                        _ => None,
                    }
                }
                _ => None,
            },
            _ => None,
        })
        .collect()
}

/// A send of a transaction: key, value, acknowledged offset, and where read-committed
/// readers find it at the end (`None`: its partition had no leader; `Some(None)`: nowhere).
type Seen = (i64, i64, Option<i64>, Option<Option<i64>>);

/// Every committed transaction's sends readable at read-committed where it was told, every
/// aborted one's nowhere, and every transaction of unknown outcome all or nothing.
fn txn_atomicity(check: &str, plan: &Plan<Kafka>, out: &Out, finals: &KafkaFinal) -> CheckOutcome {
    let partitions = plan.params.partitions as i64;
    let (mut committed, mut aborted, mut unknown) = (0, 0, 0);
    for (i, op) in out.history.ops.iter().enumerate() {
        if op.f != Func::Txn {
            continue;
        }
        // Where each send is readable at the end (`None`: partition without a leader).
        let seen: Vec<Seen> = sends(op)
            .into_iter()
            .map(|(key, value, offset)| {
                let log = &finals.committed[(key % partitions) as usize];
                let at = log.as_ref().map(|l| l.get(&value).map(|&o| o as i64));
                (key, value, offset, at)
            })
            .collect();
        let wrong = match op.status {
            Status::Ok => seen.iter().find_map(|&(key, value, offset, at)| {
                committed += 1;
                let at = at?;
                (at != offset).then(|| format!("operation {i} committed {value} to key {key} at offset {}, but read-committed readers find {}", offset.unwrap_or(-1), at.map_or("nothing".into(), |o| format!("it at offset {o}"))))
            }),
            Status::Fail => seen.iter().find_map(|&(key, value, _, at)| {
                aborted += 1;
                at?.map(|o| format!("operation {i} aborted, but its {value} for key {key} is readable at read-committed (offset {o})"))
            }),
            Status::Info => {
                unknown += 1;
                let known: Vec<_> = seen.iter().filter_map(|&(k, v, _, at)| at.map(|a| (k, v, a))).collect();
                let visible = known.iter().filter(|(_, _, a)| a.is_some()).count();
                (visible > 0 && visible < known.len()).then(|| {
                    let (k, v, _) = known.iter().find(|(_, _, a)| a.is_none()).expect("one is missing");
                    format!("operation {i} (outcome unknown) is torn: {visible} of its {} sends are readable at read-committed, but not {v} for key {k}", known.len())
                })
            }
        };
        if let Some(message) = wrong {
            return CheckOutcome::fail(check, Verdict::Violation, message, vec![i]);
        }
    }
    CheckOutcome::pass(check, format!("{committed} committed sends readable where acknowledged, {aborted} aborted sends invisible, {unknown} transactions of unknown outcome whole or absent"))
}

/// Subscribed: every record below the group's committed offset of its partition was
/// consumed by exactly one committed transaction — none skipped (an aborted transaction's
/// offsets took effect), none consumed twice (a zombie of a rebalance committed its input).
/// Transactions of unknown outcome may have committed: a record only they consumed is not
/// skipped, and they never count as a second consumer.
fn consumed_once(check: &str, plan: &Plan<Kafka>, out: &Out, finals: &KafkaFinal) -> CheckOutcome {
    if !plan.params.subscribe {
        return CheckOutcome::pass(
            check,
            "the clients read by assignment, not as a consumer group: nothing to check",
        );
    }
    let Some(group) = &finals.group_offsets else {
        return CheckOutcome::pass(
            check,
            "partition 0 had no caught-up leader at the end: the group's offsets are unknown",
        );
    };
    // Per partition and offset: the committed transactions that consumed it, and whether
    // one of unknown outcome did.
    let mut by: BTreeMap<(u32, u64), (Vec<usize>, bool)> = BTreeMap::new();
    let (mut checked, mut ranges) = (0, 0);
    for o in &out.observations {
        let KafkaObs::Consumed { op, ranges: rs } = &o.obs else {
            continue;
        };
        let status = out.history.ops[*op].status;
        for &(p, from, to) in rs.iter().filter(|_| status != Status::Fail) {
            ranges += 1;
            let Some(Some(log)) = finals.committed.get(p as usize) else {
                continue;
            };
            for &offset in log.values().filter(|&&o| from <= o && o < to) {
                let seen = by.entry((p, offset)).or_default();
                match status {
                    Status::Ok => seen.0.push(*op),
                    _ => seen.1 = true,
                }
            }
        }
    }
    for (&p, &upto) in group {
        let Some(Some(log)) = finals.committed.get(p as usize) else {
            continue;
        };
        for (&value, &offset) in log.iter().filter(|(_, &o)| o < upto) {
            checked += 1;
            let (ok, unknown) = by.get(&(p, offset)).cloned().unwrap_or_default();
            if ok.len() > 1 {
                let message = format!("partition {p}: the record at offset {offset} (value {value}) was consumed by {} committed transactions, operations {ok:?}", ok.len());
                return CheckOutcome::fail(check, Verdict::Violation, message, ok);
            }
            if ok.is_empty() && !unknown {
                let message = format!("partition {p}: the group's committed offset is {upto}, but no committed transaction consumed the record at offset {offset} (value {value}): skipped");
                return CheckOutcome::fail(check, Verdict::Violation, message, vec![]);
            }
        }
    }
    CheckOutcome::pass(check, format!("{checked} records below the group's committed offsets, each consumed by one committed transaction ({ranges} ranges consumed by committed or unknown transactions)"))
}
