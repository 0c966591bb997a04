//! How a saga's steps ran: compensations in the reverse order of their steps
//! (`compensation_order`), and every step's effect at most once however often its command
//! arrived (`exactly_once`).

use std::collections::{BTreeMap, BTreeSet};

use crate::check::{CheckOutcome, Verdict};
use crate::systems::saga::flow::{Service, StepOutcome};
use crate::systems::saga::log::Payload;
use crate::systems::saga::{SagaId, SagaObs};

use super::{logged, ops_of, Out};

pub(super) fn compensation_order(check: &str, out: &Out) -> CheckOutcome {
    let mut ok: BTreeSet<(SagaId, u8)> = BTreeSet::new();
    let mut last: BTreeMap<SagaId, u8> = BTreeMap::new();
    let mut count = 0;
    for payload in logged(out) {
        match *payload {
            Payload::Answered {
                saga,
                step,
                outcome: StepOutcome::Ok,
                ..
            } => {
                ok.insert((saga, step));
            }
            Payload::CompSent { saga, step } => {
                count += 1;
                let fail = |message: String| {
                    CheckOutcome::fail(
                        check,
                        Verdict::Violation,
                        message,
                        ops_of(&out.history, saga),
                    )
                };
                if !ok.contains(&(saga, step)) {
                    return fail(format!(
                        "saga {saga} compensated step {step}, which never took effect"
                    ));
                }
                if let Some(&prev) = last.get(&saga) {
                    if step > prev {
                        return fail(format!("saga {saga} compensated step {prev} before step {step}: compensations must run in reverse order"));
                    }
                }
                last.insert(saga, step);
            }
            _ => {}
        }
    }
    let mut undone: BTreeMap<(SagaId, u8), u32> = BTreeMap::new();
    for o in &out.observations {
        if let SagaObs::Task {
            task, effect: true, ..
        } = &o.obs
        {
            if task.undo {
                let n = undone.entry((task.saga, task.step)).or_insert(0);
                *n += 1;
                if *n > 1 {
                    let message =
                        format!("step {} of saga {} was undone twice", task.step, task.saga);
                    return CheckOutcome::fail(
                        check,
                        Verdict::Violation,
                        message,
                        ops_of(&out.history, task.saga),
                    );
                }
            }
        }
    }
    CheckOutcome::pass(
        check,
        format!(
            "{count} compensations, each of a step that took effect, in reverse order, undone once"
        ),
    )
}

pub(super) fn exactly_once(check: &str, out: &Out) -> CheckOutcome {
    // 2PC: each service commits a transaction at most once.
    let mut committed: BTreeSet<(SagaId, Service)> = BTreeSet::new();
    for o in &out.observations {
        if let SagaObs::Resolved {
            service,
            txn,
            commit: true,
        } = o.obs
        {
            if !committed.insert((txn, service)) {
                let message = format!("{} committed transaction {txn} twice", service.name());
                return CheckOutcome::fail(
                    check,
                    Verdict::Violation,
                    message,
                    ops_of(&out.history, txn),
                );
            }
        }
    }
    let mut applied: BTreeMap<String, u32> = BTreeMap::new();
    let (mut duplicates, mut total) = (0, 0);
    for o in &out.observations {
        if let SagaObs::Task {
            task,
            fresh,
            effect,
            ..
        } = &o.obs
        {
            total += 1;
            if !fresh {
                duplicates += 1;
            }
            if *effect {
                let n = applied.entry(task.key()).or_insert(0);
                *n += 1;
                if *n > 1 {
                    let message = format!(
                        "command {} took effect twice (a duplicated or retried command applied again)",
                        task.key()
                    );
                    return CheckOutcome::fail(
                        check,
                        Verdict::Violation,
                        message,
                        ops_of(&out.history, task.saga),
                    );
                }
            }
        }
    }
    if total == 0 {
        let message = format!("{} commits, none applied twice", committed.len());
        return CheckOutcome::pass(check, message);
    }
    CheckOutcome::pass(
        check,
        format!("{total} commands handled, {duplicates} duplicates answered from the idempotency records, none applied twice"),
    )
}
