//! What `es_cluster` runs are judged by.
//!
//! The checks read three sources: the client history, the final state of every process
//! ([`EsFinal`]), and the observations made while running ([`EsObs`]): the replicated
//! log's own (each entry every replica applies, which its `log_agreement` check judges),
//! leaders' reports of each committed entry itself, and the projection's of each entry it
//! folds.
//! From the leaders' reports the checks rebuild the committed log of every shard — even
//! though replicas compact their logs into snapshots — and replay it.

use std::collections::BTreeMap;

use super::ledger::{Ledger, LogEntry};
use super::projection::ProjectionView;
use super::{Check, EsCluster, EsObs, Proc, Workload};
use crate::catalog::Named;
use crate::check::linearizability::{Budget, ModelKind};
use crate::check::CheckOutcome;
use crate::plan::Plan;
use crate::sim::{Observed, SimOutput, View};
use crate::systems::components::raft::{self, Role};

mod durability;
mod read_model;
mod replay;

use durability::durability;
use read_model::{convergence, projection};
use replay::{conservation, snapshot_replay};

/// A replica at the end of the run.
#[derive(Debug, Clone)]
pub struct ReplicaFinal {
    /// Process index.
    pub node: usize,
    /// Term.
    pub term: u64,
    /// Whether it led.
    pub leader: bool,
    /// Commit index.
    pub commit: u64,
    /// Last log index.
    pub last_index: u64,
    /// Applied state.
    pub state: Ledger,
}

/// What the checks look at.
#[derive(Debug, Clone)]
pub struct EsFinal {
    /// Per shard, each replica (`None` if it was not running).
    pub shards: Vec<Vec<(usize, Option<ReplicaFinal>)>>,
    /// The projection's feeds: next index and view per shard (`None` if not running).
    pub projection: Option<Vec<(u64, ProjectionView)>>,
    /// Why the system had not settled, if it had not.
    pub unsettled: Vec<String>,
}

/// Why the world has not settled (empty when it has).
pub fn unsettled(sys: &EsCluster, view: &View<'_, EsCluster>) -> Vec<String> {
    let mut why = Vec::new();
    for (node, proc) in view.procs.iter().enumerate() {
        match proc {
            Some(Proc::Client(c)) if !c.idle() => {
                why.push(format!("client {node} waits for an answer"))
            }
            Some(Proc::Router(r)) if !r.idle() => why.push(format!(
                "router {node} waits for {} answers",
                r.inflight.len()
            )),
            _ => {}
        }
    }
    let commits: Vec<u64> = (0..sys.shards.len())
        .map(|s| shard_unsettled(sys, view, s, &mut why))
        .collect();
    match &view.procs[sys.projection] {
        Some(Proc::Projection(p)) => {
            for (s, feed) in p.feeds.iter().enumerate() {
                if feed.next != commits[s] + 1 {
                    why.push(format!(
                        "projection: shard {s} at {} of {}",
                        feed.next.saturating_sub(1),
                        commits[s]
                    ));
                }
            }
        }
        _ => why.push("the projection is not running".into()),
    }
    why
}

/// Why shard `s` has not settled (pushed to `why`); returns its leader's commit index
/// (0 without a single leader).
fn shard_unsettled(
    sys: &EsCluster,
    view: &View<'_, EsCluster>,
    s: usize,
    why: &mut Vec<String>,
) -> u64 {
    let nodes = &sys.shards[s];
    let replicas: Vec<&super::Replica> = nodes
        .iter()
        .filter_map(|&n| match &view.procs[n] {
            Some(Proc::Replica(r)) => Some(r.as_ref()),
            _ => None,
        })
        .collect();
    if replicas.len() < nodes.len() {
        why.push(format!("shard {s}: a replica is not running"));
        return 0;
    }
    let top = replicas.iter().map(|r| r.term).max().unwrap_or(0);
    let leaders: Vec<&&super::Replica> = replicas
        .iter()
        .filter(|r| r.role == Role::Leader && r.term == top)
        .collect();
    let [leader] = leaders.as_slice() else {
        why.push(format!("shard {s}: no leader in term {top}"));
        return 0;
    };
    let last = leader.last_index();
    if leader.commit < last {
        why.push(format!(
            "shard {s}: leader committed {} of {last}",
            leader.commit
        ));
    }
    for r in &replicas {
        if r.last_index() != last || r.state.applied != leader.commit {
            why.push(format!(
                "shard {s}: a replica holds {} entries and applied {}, the leader {last}/{}",
                r.last_index(),
                r.state.applied,
                leader.commit
            ));
        }
    }
    if let Some(lead) = &leader.lead {
        if !lead.service.parked.is_empty() {
            why.push(format!(
                "shard {s}: {} commands wait on locks",
                lead.service.parked.len()
            ));
        }
    }
    if leader.state.transfers_pending() {
        why.push(format!("shard {s}: cross-shard transfers unfinished"));
    }
    leader.commit
}

/// Take the final observations.
pub fn finish(sys: &EsCluster, view: &View<'_, EsCluster>) -> EsFinal {
    let shards = sys
        .shards
        .iter()
        .map(|nodes| {
            nodes
                .iter()
                .map(|&n| {
                    let state = match &view.procs[n] {
                        Some(Proc::Replica(r)) => Some(ReplicaFinal {
                            node: n,
                            term: r.term,
                            leader: r.is_leader(),
                            commit: r.commit,
                            last_index: r.last_index(),
                            state: r.state.clone(),
                        }),
                        _ => None,
                    };
                    (n, state)
                })
                .collect()
        })
        .collect();
    let projection = match &view.procs[sys.projection] {
        Some(Proc::Projection(p)) => {
            Some(p.feeds.iter().map(|f| (f.next, f.view.clone())).collect())
        }
        _ => None,
    };
    EsFinal {
        shards,
        projection,
        unsettled: unsettled(sys, view),
    }
}

type Out = SimOutput<EsFinal, EsObs>;

/// The linearizability model of a workload's history.
pub fn model_of(workload: Workload) -> ModelKind {
    match workload {
        Workload::Bank => ModelKind::Bank,
        Workload::Kv => ModelKind::Kv,
    }
}

/// Run one check.
pub fn run(plan: &Plan<EsCluster>, out: &Out, check: Check, budget: &Budget) -> CheckOutcome {
    let finals = out
        .finals
        .as_ref()
        .expect("checks run only on runs that finished");
    let shards = finals.shards.len();
    let name = check.name();
    let log = || committed(&out.observations, shards);
    match check {
        Check::Linearizability => {
            let model = model_of(plan.workload_kind);
            crate::check::linearizability_outcome(
                name,
                &out.history,
                model,
                budget,
                &plan.head.names(),
            )
        }
        Check::Raft(check) => {
            let raft_of: fn(&EsObs) -> Option<&raft::Observation> = |o| match o {
                EsObs::Raft(obs) => Some(obs),
                _ => None,
            };
            let shard = |s: usize| format!("shard {s}");
            raft::checks::run_over(check, name, &out.observations, raft_of, &plan.head, &shard)
        }
        Check::Durability => durability(name, plan, &out.history, &log()),
        Check::SnapshotReplay => snapshot_replay(name, plan, finals, &log()),
        Check::Conservation => conservation(name, plan, out, finals),
        Check::Projection => projection(name, finals, &out.observations, &log()),
        Check::Convergence => convergence(name, plan, out, finals),
    }
}

/// The committed log of each shard, as leaders reported applying it.
pub struct Committed {
    /// Entries by index, per shard.
    pub shards: Vec<BTreeMap<u64, LogEntry>>,
}

impl Committed {
    /// The committed entries 1..=n of a shard, or the first missing index.
    fn prefix(&self, shard: usize, n: u64) -> Result<Vec<&LogEntry>, u64> {
        (1..=n)
            .map(|i| self.shards[shard].get(&i).ok_or(i))
            .collect()
    }
}

fn committed(obs: &[Observed<EsObs>], shards: usize) -> Committed {
    let mut c = Committed {
        shards: vec![BTreeMap::new(); shards],
    };
    for o in obs {
        if let EsObs::Committed {
            shard,
            index,
            entry,
        } = &o.obs
        {
            c.shards[*shard]
                .entry(*index)
                .or_insert_with(|| entry.clone());
        }
    }
    c
}
