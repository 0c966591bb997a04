//! What `kv_register` runs are judged by: the client history (linearizability, and
//! durability of every acknowledged write) and the replicas' final logs and states.

use std::collections::BTreeMap;

use super::replica::apply_entry;
use super::{Check, KvFinal, KvRegister};
use crate::catalog::Named;
use crate::check::linearizability::{Budget, ModelKind};
use crate::check::{CheckOutcome, Verdict};
use crate::history::{Func, Operation, Status, Value};
use crate::plan::Plan;
use crate::sim::SimOutput;

type Out = SimOutput<KvFinal, ()>;

/// Run one check.
pub fn run(plan: &Plan<KvRegister>, out: &Out, check: Check, budget: &Budget) -> CheckOutcome {
    let finals = out
        .finals
        .as_ref()
        .expect("checks run only on runs that finished");
    let name = check.name();
    match check {
        Check::Linearizability => crate::check::linearizability_outcome(
            name,
            &out.history,
            ModelKind::Kv,
            budget,
            &plan.head.names(),
        ),
        Check::Durability => durability(name, plan, out, finals),
        Check::Convergence => convergence(name, plan, out, finals),
    }
}

fn is_write(op: &Operation) -> bool {
    matches!(op.f, Func::Put | Func::Append)
}

/// History indices of writes acknowledged but missing from `log`, and of writes in it
/// more than once.
fn lost_and_doubled(out: &Out, log: &[super::Entry]) -> (Vec<usize>, Vec<usize>) {
    let mut count: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for e in log {
        *count.entry((&*e.key, &*e.value)).or_insert(0) += 1;
    }
    let mut lost = Vec::new();
    let mut twice = Vec::new();
    for (i, op) in out.history.ops.iter().enumerate() {
        if !is_write(op) {
            continue;
        }
        let (Some(key), Value::Str(value)) = (&op.key, &op.input) else {
            continue;
        };
        let n = count
            .get(&(key.as_str(), value.as_str()))
            .copied()
            .unwrap_or(0);
        if op.status == Status::Ok && n == 0 {
            lost.push(i);
        }
        if n > 1 {
            twice.push(i);
        }
    }
    (lost, twice)
}

fn durability(check: &str, plan: &Plan<KvRegister>, out: &Out, finals: &KvFinal) -> CheckOutcome {
    let name = |client: u64| plan.head.nodes[client as usize].name.as_str();
    let Some((_, Some(primary))) = finals.replicas.first() else {
        return CheckOutcome::fail(
            check,
            Verdict::Liveness,
            "the primary was not running at the end; durability cannot be judged",
            vec![],
        );
    };
    let (lost, twice) = lost_and_doubled(out, &primary.log);
    if !lost.is_empty() {
        let op = &out.history.ops[lost[0]];
        return CheckOutcome::fail(
            check,
            Verdict::Violation,
            format!(
                "{} acknowledged write(s) missing from the primary's final log, e.g. {:?} {:?} = {:?} by client {} (acknowledged at {} ms)",
                lost.len(),
                op.f,
                op.key.as_deref().unwrap_or(""),
                op.input,
                name(op.client),
                op.ret.unwrap_or(0) / 1_000_000
            ),
            lost,
        );
    }
    if !twice.is_empty() {
        let op = &out.history.ops[twice[0]];
        return CheckOutcome::fail(
            check,
            Verdict::Violation,
            format!(
                "{} write(s) appear more than once in the primary's log, e.g. {:?} {:?} = {:?} by client {}",
                twice.len(),
                op.f,
                op.key.as_deref().unwrap_or(""),
                op.input,
                name(op.client)
            ),
            twice,
        );
    }
    let acknowledged = out
        .history
        .ops
        .iter()
        .filter(|o| o.status == Status::Ok && is_write(o))
        .count();
    CheckOutcome::pass(
        check,
        format!("all {acknowledged} acknowledged writes are in the final log exactly once"),
    )
}

fn convergence(check: &str, plan: &Plan<KvRegister>, out: &Out, finals: &KvFinal) -> CheckOutcome {
    for (node, state) in &finals.replicas {
        if let Some(state) = state {
            let mut folded = BTreeMap::new();
            for e in &state.log[..state.applied as usize] {
                apply_entry(&mut folded, e);
            }
            if folded != state.kv {
                return CheckOutcome::fail(
                    check,
                    Verdict::Violation,
                    format!(
                        "replica {} state differs from the fold of its first {} log entries",
                        plan.head.nodes[*node].name, state.applied
                    ),
                    vec![],
                );
            }
        }
    }
    if !out.settled {
        return CheckOutcome::not_settled(
            check,
            "converged",
            plan.head.params.phases.heal_ms,
            &finals.unsettled,
            "",
        );
    }
    CheckOutcome::pass(
        check,
        format!(
            "all {} replicas converged to the same {}-entry log and state",
            finals.replicas.len(),
            finals
                .replicas
                .first()
                .and_then(|(_, s)| s.as_ref())
                .map_or(0, |s| s.log.len())
        ),
    )
}
