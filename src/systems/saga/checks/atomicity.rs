//! Atomicity: a saga ends with all of its steps in effect or none (`saga_atomicity`), and a
//! two-phase-commit transaction commits at every participant or at none (`atomicity_2pc`).

use std::collections::{BTreeMap, BTreeSet};

use crate::check::{CheckOutcome, Verdict};
use crate::plan::Plan;
use crate::systems::saga::flow::{Service, StepOutcome};
use crate::systems::saga::log::{SagaLog, SagaResult};
use crate::systems::saga::participant::Row;
use crate::systems::saga::{Protocol, Saga, SagaId, SagaObs};

use super::{ops_of, started, Out, SagaFinal};

/// Steps in effect per saga, from the services' task records: (saga, step) set.
pub(super) fn in_effect(finals: &SagaFinal) -> BTreeSet<(SagaId, u8)> {
    let mut set = BTreeSet::new();
    for db in finals.dbs.values().flatten() {
        for (key, row) in db.rows("task") {
            let Row::Task {
                outcome: StepOutcome::Ok,
                undone: false,
                ..
            } = row
            else {
                continue;
            };
            let mut parts = key.split('/');
            let (Some(saga), Some(step), _, Some("do")) =
                (parts.next(), parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            if let (Some(saga), Ok(step)) = (SagaId::parse(saga), step.parse()) {
                set.insert((saga, step));
            }
        }
    }
    set
}

/// What became of one saga.
enum Fate {
    Completed,
    Compensated,
    /// Not ended, with the steps in effect.
    Unfinished(Vec<u8>),
    /// Not atomic: what is wrong.
    Broken(String),
    /// Never started anywhere.
    Nothing,
}

/// Judge one saga by the coordinator's log and the steps in effect at the services.
fn fate(saga: SagaId, log: &SagaLog, effects: &BTreeSet<(SagaId, u8)>) -> Fate {
    let applied = |n: usize| -> Vec<u8> {
        (0..n as u8)
            .filter(|&i| effects.contains(&(saga, i)))
            .collect()
    };
    let Some(run) = log.sagas.get(&saga) else {
        let applied = applied(3);
        return if applied.is_empty() {
            Fate::Nothing
        } else {
            Fate::Broken(format!("steps {applied:?} of saga {saga} are in effect, but the coordinator has no record of the saga: nobody will ever finish or undo them"))
        };
    };
    let steps = run.flow.steps().len();
    let applied = applied(steps);
    match run.result() {
        Some(SagaResult::Completed) if applied.len() == steps => Fate::Completed,
        Some(SagaResult::Compensated) if applied.is_empty() => Fate::Compensated,
        Some(result) => Fate::Broken(format!(
            "saga {saga} ended {} but steps {applied:?} of {steps} are in effect",
            result.name()
        )),
        None => Fate::Unfinished(applied),
    }
}

pub(super) fn atomicity(
    check: &str,
    plan: &Plan<Saga>,
    out: &Out,
    finals: &SagaFinal,
) -> CheckOutcome {
    if let Some((service, _)) = finals.dbs.iter().find(|(_, db)| db.is_none()) {
        let message = format!(
            "{} was not running at the end; atomicity cannot be judged",
            service.name()
        );
        return CheckOutcome::fail(check, Verdict::Liveness, message, vec![]);
    }
    let effects = in_effect(finals);
    let empty = SagaLog::default();
    let log = finals.log.as_ref().unwrap_or(&empty);
    let mut sagas = started(&out.history);
    sagas.extend(effects.iter().map(|(s, _)| *s));
    let (mut completed, mut compensated, mut unfinished) = (0, 0, Vec::new());
    for saga in sagas {
        match fate(saga, log, &effects) {
            Fate::Completed => completed += 1,
            Fate::Compensated => compensated += 1,
            Fate::Unfinished(applied) => unfinished.push((saga, applied)),
            Fate::Nothing => {}
            Fate::Broken(message) => {
                return CheckOutcome::fail(
                    check,
                    Verdict::Violation,
                    message,
                    ops_of(&out.history, saga),
                );
            }
        }
    }
    if let Some((saga, applied)) = unfinished.first() {
        let message = format!(
            "{} saga(s) had not ended {} ms after the faults healed, e.g. {saga} with steps {applied:?} in effect",
            unfinished.len(),
            plan.head.params.phases.heal_ms
        );
        return CheckOutcome::fail(
            check,
            Verdict::Liveness,
            message,
            ops_of(&out.history, *saga),
        );
    }
    let chaos_s = plan.head.params.phases.chaos_ms as f64 / 1000.0;
    CheckOutcome::pass(
        check,
        format!(
            "{completed} sagas completed ({:.1} per simulated second of chaos), {compensated} fully compensated; every database agrees",
            completed as f64 / chaos_s.max(1e-9)
        ),
    )
}

pub(super) fn atomicity_2pc(check: &str, plan: &Plan<Saga>, out: &Out) -> CheckOutcome {
    if plan.params.protocol != Protocol::TwoPc {
        return CheckOutcome::pass(check, "a saga run: see saga_atomicity");
    }
    let mut outcome: BTreeMap<SagaId, BTreeMap<Service, bool>> = BTreeMap::new();
    for o in &out.observations {
        let (txn, service, commit) = match o.obs {
            SagaObs::Voted {
                service,
                txn,
                yes: false,
            } => (txn, service, false),
            SagaObs::Resolved {
                service,
                txn,
                commit,
            } => (txn, service, commit),
            _ => continue,
        };
        outcome.entry(txn).or_default().insert(service, commit);
    }
    for (txn, by_service) in &outcome {
        let commits: Vec<&str> = by_service
            .iter()
            .filter(|(_, &c)| c)
            .map(|(s, _)| s.name())
            .collect();
        let aborts: Vec<&str> = by_service
            .iter()
            .filter(|(_, &c)| !c)
            .map(|(s, _)| s.name())
            .collect();
        if !commits.is_empty() && !aborts.is_empty() {
            let message = format!(
                "transaction {txn} committed at {} but aborted at {}",
                commits.join(", "),
                aborts.join(", ")
            );
            return CheckOutcome::fail(
                check,
                Verdict::Violation,
                message,
                ops_of(&out.history, *txn),
            );
        }
    }
    let decisions: BTreeMap<SagaId, bool> = out
        .observations
        .iter()
        .filter_map(|o| match o.obs {
            SagaObs::Decision { txn, commit } => Some((txn, commit)),
            _ => None,
        })
        .collect();
    let committed = decisions.values().filter(|&&c| c).count();
    let chaos_s = plan.head.params.phases.chaos_ms as f64 / 1000.0;
    CheckOutcome::pass(
        check,
        format!(
            "{committed} transactions committed ({:.1} per simulated second of chaos), {} aborted; each committed everywhere or aborted everywhere",
            committed as f64 / chaos_s.max(1e-9),
            decisions.len() - committed
        ),
    )
}
