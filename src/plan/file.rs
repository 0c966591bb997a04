//! Reading a plan back from `plan.json`: the explicit form of a seed, which replays
//! without drawing a single random number for the plan (the simulation's own draws still
//! come from the plan's `madsim_seed` and sub-streams). A plan read back is the plan that
//! was written: `from_json(to_json(p)) == p`, and it runs to the same trace.
//!
//! This is what a pinned plan rests on: a plan edited (faults or operations removed, a
//! phase shortened) and written out reproduces without the scenario's random draws, so
//! code changes that alter how plans are drawn do not move it.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::faults::TimedAction;
use super::workload::ClientOp;
use super::{Head, NodeSpec, Plan, Spec};
use crate::catalog::Named;
use crate::scenario::{
    FaultParams, LimitsParams, NetworkParams, Params, PhasesParams, TopologyParams, WorkloadParams,
};

/// Why a plan file cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum PlanFileError {
    /// Not the JSON of a plan (serde's message has line and column).
    #[error("not a plan: {0}")]
    Json(#[from] serde_json::Error),
    /// A plan of another system.
    #[error("a plan of system `{found}`, not `{expected}`")]
    System {
        /// What the file says.
        found: String,
        /// The system reading it.
        expected: &'static str,
    },
    /// A name the system does not know.
    #[error("unknown {what} `{name}` for system `{system}`")]
    Unknown {
        /// Bug, check or workload.
        what: &'static str,
        /// The name.
        name: String,
        /// The system.
        system: &'static str,
    },
    /// The parts do not fit together.
    #[error("inconsistent plan: {0}")]
    Inconsistent(String),
    /// A value that makes no sense where it is (see [`super::sane`]).
    #[error("`{path}`: {message}")]
    At {
        /// The value's path in the plan (`faults[3].at_ms`).
        path: String,
        /// What is wrong.
        message: String,
    },
}

/// `plan.json`, as written by `Plan`'s `Serialize`.
#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    bound(deserialize = "P: DeserializeOwned, O: DeserializeOwned")
)]
struct PlanJson<P, O> {
    scenario: String,
    seed: u64,
    /// Read first, on its own (see `from_json`).
    #[serde(rename = "system")]
    _system: String,
    bugs: Vec<String>,
    checks: Vec<String>,
    params: ParamsJson<P>,
    nodes: Vec<NodeSpec>,
    workload: Vec<ClientOp<O>>,
    faults: Vec<TimedAction>,
    clock_skew_ms: Vec<i64>,
    #[serde(default)]
    fault_points: Vec<super::FaultPoint>,
    #[serde(default)]
    aims: Vec<super::Aim>,
    madsim_seed: u64,
    #[serde(default)]
    branch_ms: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, bound(deserialize = "P: DeserializeOwned"))]
struct ParamsJson<P> {
    topology: TopologyParams,
    workload_kind: String,
    workload: WorkloadParams,
    phases: PhasesParams,
    network: NetworkParams,
    faults: FaultParams,
    limits: LimitsParams,
    system: BTreeMap<String, P>,
}

impl<S: Spec> Plan<S> {
    /// Read a plan written as `plan.json`.
    pub fn from_json(text: &str) -> Result<Plan<S>, PlanFileError> {
        // The system first: another system's plan fails on its fields otherwise.
        #[derive(Deserialize)]
        struct SystemOnly {
            system: String,
        }
        let SystemOnly { system } = serde_json::from_str(text)?;
        if system != S::NAME {
            return Err(PlanFileError::System {
                found: system,
                expected: S::NAME,
            });
        }
        let file: PlanJson<S::Params, S::Op> = serde_json::from_str(text)?;
        let mut own = file.params.system;
        let params = own.remove(S::NAME).ok_or_else(|| {
            PlanFileError::Inconsistent(format!("`params.system` has no `{}` entry", S::NAME))
        })?;
        let plan = Plan {
            head: Head {
                scenario: file.scenario,
                seed: file.seed,
                system: S::NAME,
                params: Params {
                    topology: file.params.topology,
                    workload: file.params.workload,
                    phases: file.params.phases,
                    network: file.params.network,
                    faults: file.params.faults,
                    limits: file.params.limits,
                },
                nodes: file.nodes,
                faults: file.faults,
                clock_skew_ms: file.clock_skew_ms,
                fault_points: file.fault_points,
                aims: file.aims,
                madsim_seed: file.madsim_seed,
                branch_ms: file.branch_ms,
            },
            bugs: names(&file.bugs, "planted bug", S::NAME)?,
            checks: names(&file.checks, "check", S::NAME)?,
            workload_kind: named(&file.params.workload_kind, "workload", S::NAME)?,
            params,
            workload: file.workload,
        };
        plan.check_consistent()?;
        Ok(plan)
    }

    /// What the simulator relies on: every setting in its valid range (the resource
    /// envelope above all), every process index in range, one clock per process.
    fn check_consistent(&self) -> Result<(), PlanFileError> {
        let n = self.head.nodes.len();
        let bad = |what: String| Err(PlanFileError::Inconsistent(what));
        // Knob paths as the plan file nests them: `params.network.…`,
        // `params.system.<system>.…`.
        let generic = self
            .head
            .params
            .check_values()
            .into_iter()
            .map(|(p, m)| (format!("params.{p}"), m));
        let own = S::check_params(&self.params)
            .into_iter()
            .map(|(p, m)| (format!("params.system.{p}"), m));
        if let Some((path, message)) = generic.chain(own).next() {
            return Err(PlanFileError::At { path, message });
        }
        if self.workload.len() as u64 > self.head.params.limits.history_ops_max {
            return bad(format!(
                "{} client operations, more than `limits.history_ops_max` ({})",
                self.workload.len(),
                self.head.params.limits.history_ops_max
            ));
        }
        if self.head.clock_skew_ms.len() != n {
            return bad(format!(
                "{} clock offsets for {n} processes",
                self.head.clock_skew_ms.len()
            ));
        }
        self.check_branch()?;
        self.check_topology()?;
        let clients = self.head.nodes_with(super::Role::Client).len();
        if let Some(op) = self.workload.iter().find(|op| op.client >= clients) {
            return bad(format!("an operation of client {} of {clients}", op.client));
        }
        if let Some(p) = self.head.fault_points.iter().find(|p| p.node >= n) {
            return bad(format!("a fault point on process {} of {n}", p.node));
        }
        for t in &self.head.faults {
            if let Some(node) = t.action.nodes().into_iter().find(|&i| i >= n) {
                return bad(format!("a fault on process {node} of {n}"));
            }
            if let super::FaultAction::Crash { node }
            | super::FaultAction::Restart { node }
            | super::FaultAction::Pause { node }
            | super::FaultAction::Resume { node } = t.action
            {
                if !self.head.nodes[node].crashable {
                    return bad(format!(
                        "a crash or pause of `{}`, which may not crash",
                        self.head.nodes[node].name
                    ));
                }
            }
        }
        self.check_sane()
    }

    /// A branched run's plan, and only one, has a branch time, and one its id can name.
    fn check_branch(&self) -> Result<(), PlanFileError> {
        let branched = matches!(
            super::SeedId::from_raw(self.head.seed),
            super::SeedId::Branched { .. }
        );
        let message = match self.head.branch_ms {
            None if branched => "a branched run's plan needs its branch time".to_string(),
            Some(_) if !branched => format!(
                "only a branched run has a branch time, and seed {} is not one",
                self.head.id()
            ),
            Some(ms) if ms > crate::rng::seed_id::BRANCH_MS_MAX => format!(
                "{ms} ms is past the latest branch time, {} ms",
                crate::rng::seed_id::BRANCH_MS_MAX
            ),
            _ => return Ok(()),
        };
        Err(PlanFileError::At {
            path: "branch_ms".to_string(),
            message,
        })
    }

    /// The schedule and workload make sense as a run ([`super::sane`]); called once every
    /// process index is known to be in range.
    fn check_sane(&self) -> Result<(), PlanFileError> {
        let ops: Vec<(usize, u64)> = self
            .workload
            .iter()
            .map(|op| (op.client, op.at_ms))
            .collect();
        super::sane::check_faults(&self.head)
            .and_then(|()| super::sane::check_points(&self.head))
            .and_then(|()| super::sane::check_clocks(&self.head))
            .and_then(|()| {
                let targets = S::aim_targets(&self.params, &self.bugs);
                super::aims::check(&self.head.aims, &targets, self.head.params.phases.chaos_ms)
            })
            .and_then(|()| super::sane::check_workload(&self.head, &ops))
            .and_then(|()| {
                for (i, op) in self.workload.iter().enumerate() {
                    S::check_op(&op.op).map_err(|(field, message)| super::sane::Problem {
                        path: format!("workload[{i}].op.{field}"),
                        message,
                    })?;
                }
                Ok(())
            })
            .map_err(|p| PlanFileError::At {
                path: p.path,
                message: p.message,
            })
    }

    /// The processes are the system's for these settings: the same servers and
    /// infrastructure (names, roles, whether they may crash) as it would lay out, and as
    /// many clients as `topology.clients` says (shrinking keeps their original names).
    fn check_topology(&self) -> Result<(), PlanFileError> {
        let expected = S::topology(&self.head.params, &self.params, self.workload_kind);
        let not_clients = |nodes: &[super::NodeSpec]| -> Vec<super::NodeSpec> {
            (nodes.iter())
                .filter(|n| n.role != super::Role::Client)
                .cloned()
                .collect()
        };
        if not_clients(&self.head.nodes) != not_clients(&expected) {
            return Err(PlanFileError::Inconsistent(format!(
                "its processes are not system `{}`'s for its settings (expected {})",
                S::NAME,
                (expected.iter().map(|n| n.name.as_str()))
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        let clients = self.head.nodes_with(super::Role::Client);
        let client_ok = |&i: &usize| !self.head.nodes[i].crashable;
        if clients.len() as u64 != self.head.params.topology.clients
            || !clients.iter().all(client_ok)
            || self.head.nodes[..self.head.nodes.len() - clients.len()]
                .iter()
                .any(|n| n.role == super::Role::Client)
        {
            return Err(PlanFileError::Inconsistent(format!(
                "{} client processes (last, never crashing) where `topology.clients` is {}",
                clients.len(),
                self.head.params.topology.clients
            )));
        }
        Ok(())
    }
}

fn named<N: Named>(
    name: &str,
    what: &'static str,
    system: &'static str,
) -> Result<N, PlanFileError> {
    N::from_name(name).ok_or_else(|| PlanFileError::Unknown {
        what,
        name: name.to_string(),
        system,
    })
}

fn names<N: Named>(
    list: &[String],
    what: &'static str,
    system: &'static str,
) -> Result<Vec<N>, PlanFileError> {
    list.iter().map(|name| named(name, what, system)).collect()
}
