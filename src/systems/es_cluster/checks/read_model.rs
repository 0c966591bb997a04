//! The read model: the projection folds the committed events in order, each once, and its
//! views equal a fold of the committed log (`projection`); after heal every replica and the
//! projection caught up (`convergence`).

use std::collections::BTreeMap;

use crate::check::{CheckOutcome, Verdict};
use crate::plan::Plan;
use crate::sim::Observed;
use crate::systems::components::raft::{self};
use crate::systems::es_cluster::projection::ProjectionView;
use crate::systems::es_cluster::{EsCluster, EsObs};

use super::replay::describe_difference;
use super::{Committed, EsFinal, Out, ReplicaFinal};

pub(super) fn projection(
    check: &str,
    finals: &EsFinal,
    obs: &[Observed<EsObs>],
    committed: &Committed,
) -> CheckOutcome {
    let fail = |message| CheckOutcome::fail(check, Verdict::Violation, message, vec![]);
    let folded = match projection_order(obs) {
        Ok(folded) => folded,
        Err(message) => return fail(message),
    };
    let Some(feeds) = &finals.projection else {
        return CheckOutcome::pass(
            check,
            format!("{folded} events folded in order (the projection was down at the end)"),
        );
    };
    if let Err(message) = projection_views(feeds, committed) {
        return fail(message);
    }
    CheckOutcome::pass(
        check,
        format!("{folded} events folded once each, in order; views equal the committed fold"),
    )
}

/// Each projection incarnation must fold every shard's entries in order, once each.
/// Returns how many entries were folded.
fn projection_order(obs: &[Observed<EsObs>]) -> Result<usize, String> {
    let mut last: BTreeMap<(u32, usize), u64> = BTreeMap::new();
    let mut folded = 0;
    for o in obs {
        match o.obs {
            EsObs::ProjectedSnapshot {
                shard,
                index,
                incarnation,
            } => {
                last.insert((incarnation, shard), index);
            }
            EsObs::Projected {
                shard,
                index,
                incarnation,
            } => {
                folded += 1;
                let prev = last.get(&(incarnation, shard)).copied().unwrap_or(0);
                if index != prev + 1 {
                    let what = if index <= prev {
                        format!("applied entry {index} of shard {shard} again (after {prev})")
                    } else {
                        format!("skipped from entry {prev} to {index} of shard {shard}")
                    };
                    return Err(format!("the projection {what}"));
                }
                last.insert((incarnation, shard), index);
            }
            _ => {}
        }
    }
    Ok(folded)
}

/// The projection's final view of each shard must equal the fold of the committed
/// entries it has reached.
fn projection_views(feeds: &[(u64, ProjectionView)], committed: &Committed) -> Result<(), String> {
    for (s, (next, view)) in feeds.iter().enumerate() {
        let upto = next.saturating_sub(1);
        let entries = committed.prefix(s, upto).map_err(|missing| {
            format!("the projection of shard {s} is at {upto}, past the committed log (entry {missing} was never committed)")
        })?;
        let mut expected = ProjectionView::default();
        for e in entries {
            expected.apply(e);
        }
        if expected.visible() != view.visible() {
            return Err(format!("the projection of shard {s} differs from the fold of the first {upto} committed entries"));
        }
    }
    Ok(())
}

/// Projection lag: time from an entry's first application (its commit) to its fold.
fn lag_ms(obs: &[Observed<EsObs>]) -> Vec<f64> {
    let mut committed_at: BTreeMap<(usize, u64), u64> = BTreeMap::new();
    let mut lags = Vec::new();
    for o in obs {
        match o.obs {
            EsObs::Raft(raft::Observation::Applied {
                group: shard,
                index,
                ..
            }) => {
                committed_at.entry((shard, index)).or_insert(o.t_ns);
            }
            EsObs::Projected { shard, index, .. } => {
                if let Some(&t) = committed_at.get(&(shard, index)) {
                    lags.push(o.t_ns.saturating_sub(t) as f64 / 1e6);
                }
            }
            _ => {}
        }
    }
    lags.sort_by(|a, b| a.total_cmp(b));
    lags
}

pub(super) fn convergence(
    check: &str,
    plan: &Plan<EsCluster>,
    out: &Out,
    finals: &EsFinal,
) -> CheckOutcome {
    let lags = lag_ms(&out.observations);
    let lag = if lags.is_empty() {
        "no events folded".to_string()
    } else {
        format!(
            "projection lag p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            lags[lags.len() / 2],
            lags[(lags.len() * 99 / 100).min(lags.len() - 1)],
            lags[lags.len() - 1]
        )
    };
    if !out.settled {
        return CheckOutcome::not_settled(
            check,
            "converged",
            plan.head.params.phases.heal_ms,
            &finals.unsettled,
            &format!(" ({lag})"),
        );
    }
    for (s, replicas) in finals.shards.iter().enumerate() {
        let states: Vec<&ReplicaFinal> = replicas.iter().filter_map(|(_, r)| r.as_ref()).collect();
        if let Some(first) = states.first() {
            if let Some(other) = states.iter().find(|r| r.state != first.state) {
                return CheckOutcome::fail(
                    check,
                    Verdict::Violation,
                    format!(
                        "shard {s}: {} and {} applied the same log but hold different states: {}",
                        plan.head.nodes[first.node].name,
                        plan.head.nodes[other.node].name,
                        describe_difference(&first.state, &other.state)
                    ),
                    vec![],
                );
            }
        }
    }
    let entries: u64 = finals
        .shards
        .iter()
        .filter_map(|r| r.iter().find_map(|(_, r)| r.as_ref()).map(|r| r.commit))
        .sum();
    CheckOutcome::pass(
        check,
        format!("every replica and the projection converged on {entries} committed entries; {lag}"),
    )
}
