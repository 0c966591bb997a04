//! Isolation anomalies between sagas: a read of an effect a compensation later undid
//! (dirty read), a compensation's before-image restored over another saga's update (lost
//! update); the scenario's `forbid` list says which fail the check.

use std::collections::{BTreeMap, BTreeSet};

use crate::check::{CheckOutcome, Verdict};
use crate::plan::Plan;
use crate::systems::saga::flow::RowRef;
use crate::systems::saga::{Anomaly, Protocol, Saga, SagaId, SagaObs};

use super::{ops_of, Out};

/// Count the isolation anomalies of a run.
fn anomalies(out: &Out) -> BTreeMap<Anomaly, Vec<SagaId>> {
    // Per row: sagas whose step on it is in effect now, in order; reads seeing them.
    let mut holders: BTreeMap<RowRef, Vec<SagaId>> = BTreeMap::new();
    let mut seen: Vec<(SagaId, RowRef)> = Vec::new();
    let mut undone: BTreeSet<SagaId> = BTreeSet::new();
    let mut last_writer: BTreeMap<RowRef, SagaId> = BTreeMap::new();
    let mut found: BTreeMap<Anomaly, Vec<SagaId>> = BTreeMap::new();
    for o in &out.observations {
        match &o.obs {
            SagaObs::Task {
                task, effect: true, ..
            } => {
                for row in super::super::participant::rows_of(&task.action) {
                    let h = holders.entry(row).or_default();
                    if task.undo {
                        h.retain(|s| *s != task.saga);
                        undone.insert(task.saga);
                    } else {
                        h.push(task.saga);
                    }
                }
            }
            SagaObs::Read { row } => {
                for &s in holders.get(row).into_iter().flatten() {
                    seen.push((s, row.clone()));
                }
            }
            SagaObs::Wrote {
                row,
                saga,
                restores,
            } => {
                if *restores {
                    if let Some(&other) = last_writer.get(row).filter(|w| *w != saga) {
                        found.entry(Anomaly::LostUpdate).or_default().push(other);
                    }
                }
                last_writer.insert(row.clone(), *saga);
            }
            _ => {}
        }
    }
    for (saga, _) in seen {
        if undone.contains(&saga) {
            found.entry(Anomaly::DirtyRead).or_default().push(saga);
        }
    }
    found
}

pub(super) fn isolation(check: &str, plan: &Plan<Saga>, out: &Out) -> CheckOutcome {
    let found = anomalies(out);
    let p = &plan.params;
    let isolated = p.semantic_lock || p.protocol == Protocol::TwoPc;
    let summary = if found.is_empty() {
        "no isolation anomaly".to_string()
    } else {
        found
            .iter()
            .map(|(a, s)| format!("{} {}", anomaly_name(*a), s.len()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let forbidden = found.iter().find(|(a, _)| isolated || p.forbid.contains(a));
    if let Some((anomaly, sagas)) = forbidden {
        let why = if isolated {
            "with the semantic lock (or 2PC) there must be none"
        } else {
            "the scenario forbids it"
        };
        let message = format!(
            "{summary}: {} ({why}), e.g. saga {}",
            anomaly_name(*anomaly),
            sagas[0]
        );
        return CheckOutcome::fail(
            check,
            Verdict::Violation,
            message,
            ops_of(&out.history, sagas[0]),
        );
    }
    CheckOutcome::pass(
        check,
        format!("{summary} (allowed: sagas are not isolated)"),
    )
}

fn anomaly_name(a: Anomaly) -> &'static str {
    match a {
        Anomaly::DirtyRead => "dirty_read",
        Anomaly::LostUpdate => "lost_update",
    }
}
