//! What `saga` runs are judged by.
//!
//! Three sources: the client history (which sagas were started, and what reads returned),
//! the final state ([`SagaFinal`]: every service's database and the coordinator's saga
//! log), and the observations made while running ([`SagaObs`]): every saga-log entry a
//! coordinator replica applied, every task a service handled (fresh or answered from its
//! record, with or without effect), writes to overwritten rows, reads, lock holds, 2PC
//! votes and decisions.
//!
//! A step is *in effect* when its service's database records its key as done and not
//! undone. A saga is atomic when, after heal, it ended and the databases agree: a
//! completed saga has every step in effect, a compensated one none.

use std::collections::{BTreeMap, BTreeSet};

use super::flow::Service;
use super::log::{Payload, SagaLog};
use super::participant::Row;
use super::{Check, Proc, Protocol, Saga, SagaId, SagaObs};
use crate::catalog::Named;
use crate::check::linearizability::Budget;
use crate::check::CheckOutcome;
use crate::history::{Func, History};
use crate::plan::Plan;
use crate::sim::{SimOutput, View};
use crate::systems::components::db::Db;
use crate::systems::components::raft;

mod atomicity;
mod blocking;
mod isolation;
mod money;
mod steps;

use atomicity::{atomicity, atomicity_2pc};
use blocking::blocking;
use isolation::isolation;
use money::conservation;
use steps::{compensation_order, exactly_once};

/// What the checks look at.
#[derive(Debug, Clone)]
pub struct SagaFinal {
    /// Each service's database (`None` if it was down at the end).
    pub dbs: BTreeMap<Service, Option<Db<Row>>>,
    /// The saga log as the coordinator's leader knows it (`None`: no leader at the end).
    pub log: Option<SagaLog>,
    /// Why the system had not settled, if it had not.
    pub unsettled: Vec<String>,
}

type Out = SimOutput<SagaFinal, SagaObs>;

/// Why the world has not settled (empty when it has).
pub fn unsettled(sys: &Saga, view: &View<'_, Saga>) -> Vec<String> {
    let mut why = Vec::new();
    for (node, proc) in view.procs.iter().enumerate() {
        match proc {
            None => why.push(format!("process {node} is not running")),
            Some(Proc::Client(c)) if !c.idle() => why.push(format!("client {node} waits")),
            Some(Proc::Router(r)) if !r.idle() => why.push("the router waits".into()),
            Some(Proc::Participant(p)) if !p.idle() => {
                why.push(format!("{} holds locks or waiting reads", p.service.name()))
            }
            Some(Proc::TwoPc(c)) if !c.idle() => {
                why.push("the 2PC coordinator has transactions in flight".into())
            }
            _ => {}
        }
    }
    if sys.p.protocol == Protocol::Saga {
        match leader_log(sys, view) {
            None => why.push("no coordinator leader with its log applied".into()),
            Some(log) => {
                let open = log
                    .sagas
                    .values()
                    .filter(|s| !s.ended() || !s.releases.is_empty())
                    .count();
                if open > 0 {
                    why.push(format!("{open} saga(s) not ended or not released"));
                }
            }
        }
    }
    why
}

/// The saga log of the coordinator replica that leads the highest term, once its applied
/// state is complete (a leader just elected may not have applied what it holds yet).
fn leader_log<'a>(sys: &Saga, view: &View<'a, Saga>) -> Option<&'a SagaLog> {
    sys.coordinators
        .iter()
        .filter_map(|&n| match &view.procs[n] {
            Some(Proc::Coordinator(r)) if r.leads_caught_up() => Some(r.as_ref()),
            _ => None,
        })
        .max_by_key(|r| r.term)
        .map(super::coordinator::view)
}

/// Take the final observations.
pub fn finish(sys: &Saga, view: &View<'_, Saga>) -> SagaFinal {
    let dbs = sys
        .services
        .iter()
        .map(|(&service, &node)| {
            let db = match &view.procs[node] {
                Some(Proc::Participant(p)) => Some(p.db.clone()),
                _ => None,
            };
            (service, db)
        })
        .collect();
    SagaFinal {
        dbs,
        log: leader_log(sys, view).cloned(),
        unsettled: unsettled(sys, view),
    }
}

/// Run one check.
pub fn run(plan: &Plan<Saga>, out: &Out, check: Check, _budget: &Budget) -> CheckOutcome {
    let finals = out
        .finals
        .as_ref()
        .expect("checks run only on runs that finished");
    let name = check.name();
    let saga = plan.params.protocol == Protocol::Saga;
    let not_saga = || CheckOutcome::pass(name, "a 2PC run: see atomicity_2pc and blocking");
    match check {
        Check::SagaAtomicity if saga => atomicity(name, plan, out, finals),
        Check::CompensationOrder if saga => compensation_order(name, out),
        Check::SagaAtomicity | Check::CompensationOrder => not_saga(),
        Check::ExactlyOnce => exactly_once(name, out),
        Check::Conservation => conservation(name, plan, out, finals),
        Check::Isolation => isolation(name, plan, out),
        Check::Atomicity2pc => atomicity_2pc(name, plan, out),
        Check::Blocking => blocking(name, plan, out),
        Check::Raft(check) => {
            let raft_of: fn(&SagaObs) -> Option<&raft::Observation> = |o| match o {
                SagaObs::Raft(obs) => Some(obs),
                _ => None,
            };
            let log = |_: usize| "the saga log".to_string();
            raft::checks::run_over(check, name, &out.observations, raft_of, &plan.head, &log)
        }
        Check::Convergence if out.settled => {
            CheckOutcome::pass(name, "every transaction ended; services settled")
        }
        Check::Convergence => CheckOutcome::not_settled(
            name,
            "settled",
            plan.head.params.phases.heal_ms,
            &finals.unsettled,
            "",
        ),
    }
}

/// History operations about `saga` (its client operation and the coordinator's tasks).
fn ops_of(history: &History, saga: SagaId) -> Vec<usize> {
    let key = saga.to_string();
    (0..history.ops.len())
        .filter(|&i| history.ops[i].key.as_deref() == Some(key.as_str()))
        .collect()
}

/// Sagas the clients started, from the history.
fn started(history: &History) -> BTreeSet<SagaId> {
    history
        .ops
        .iter()
        .filter(|op| matches!(op.f, Func::System("order" | "create-project")))
        .filter_map(|op| op.key.as_deref().and_then(SagaId::parse))
        .collect()
}

/// The committed saga log, in order, as the replicas applied it.
fn logged(out: &Out) -> Vec<&Payload> {
    let mut seen = BTreeSet::new();
    out.observations
        .iter()
        .filter_map(|o| match &o.obs {
            SagaObs::Logged(index, payload) => {
                let fresh = index.is_none_or(|i| seen.insert(i));
                fresh.then_some(payload)
            }
            _ => None,
        })
        .collect()
}
