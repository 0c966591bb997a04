//! The read-only replicas: each field written only by its owner (`field_ownership`), and
//! every replica caught up with its source after heal (`convergence`).

use std::collections::BTreeMap;

use crate::check::CheckOutcome;
use crate::plan::Plan;
use crate::systems::outbox::{Outbox, OutboxObs};

use super::{fail, Out, OutboxFinal};

pub(super) fn field_ownership(check: &str, out: &Out) -> CheckOutcome {
    let owner = |field: &str| {
        if field == "tracking" {
            "shipping"
        } else {
            "orders"
        }
    };
    let mut writes = 0;
    for o in &out.observations {
        if let OutboxObs::FieldWrite { service, field } = o.obs {
            writes += 1;
            if owner(field) != service {
                return fail(
                    check,
                    format!(
                        "{service} wrote field `{field}` of an order, which only {} owns",
                        owner(field)
                    ),
                    vec![],
                );
            }
        }
    }
    CheckOutcome::pass(
        check,
        format!("{writes} local field writes, each by the field's owner"),
    )
}

pub(super) fn convergence(
    check: &str,
    plan: &Plan<Outbox>,
    out: &Out,
    finals: &OutboxFinal,
) -> CheckOutcome {
    let lags = replica_lags_ms(out);
    let pct = |q: f64| {
        lags.get(((lags.len() as f64 - 1.0) * q) as usize)
            .copied()
            .unwrap_or(0.0)
    };
    let lag = format!(
        "replica lag p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms over {} events",
        pct(0.5),
        pct(0.99),
        pct(1.0),
        lags.len()
    );
    if !out.settled {
        return CheckOutcome::not_settled(
            check,
            "converged",
            plan.head.params.phases.heal_ms,
            &finals.unsettled,
            &format!("; {lag}"),
        );
    }
    CheckOutcome::pass(
        check,
        format!("outbox drained, consumers caught up, replica equals master; {lag}"),
    )
}

/// For every event the replica applied: the time from its commit to its application.
fn replica_lags_ms(out: &Out) -> Vec<f64> {
    let mut committed_at = BTreeMap::new();
    let mut lags = Vec::new();
    for o in &out.observations {
        match &o.obs {
            OutboxObs::Committed(e) => {
                committed_at.insert(e.id, o.t_ns);
            }
            OutboxObs::Applied {
                group: "shipping",
                event,
                fresh: true,
            } => {
                if let Some(t) = committed_at.get(event) {
                    lags.push(o.t_ns.saturating_sub(*t) as f64 / 1e6);
                }
            }
            _ => {}
        }
    }
    lags.sort_by(f64::total_cmp);
    lags
}
