//! The systems under test, and the per-seed pipeline that runs and judges them.
//!
//! Each system is a set of sans-I/O state machines (implementing [`crate::sim::System`]
//! and [`crate::sim::Process`]) plus its checks ([`Checked`]). The catalogue
//! ([`SystemKind::info`]) names each system's planted bugs and checks; scenario
//! validation and `faultline list` read it.
//!
//! [`execute`] is the whole flow of one seed after planning: simulate, then run the
//! scenario's checks on the plain data the simulation returned.

pub mod clients;
pub mod es_cluster;
pub mod kv_register;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::check::linearizability::Budget;
use crate::check::{self, CheckOutcome, Verdict};
use crate::history::History;
use crate::net::LinkStats;
use crate::plan::{NodeSpec, Plan};
use crate::scenario::{Params, ScenarioFile, WorkloadKind};
use crate::sim::{self, NodePanic, SimOutput, System, Trace, TraceLevel};

/// The systems faultline can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SystemKind {
    /// A replicated key-value store with a fixed primary.
    KvRegister,
    /// An event-sourced service replicated with Raft, optionally sharded.
    EsCluster,
}

/// A planted bug.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct BugInfo {
    /// Name used in `bugs = [...]`.
    pub name: &'static str,
    /// What it does.
    pub about: &'static str,
}

/// Whether a check judges safety or liveness.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckKind {
    /// Nothing bad happens.
    Safety,
    /// Something good eventually happens (after the faults heal).
    Liveness,
}

/// A check a system supports.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct CheckInfo {
    /// Name used in `checks = [...]`.
    pub name: &'static str,
    /// Safety or liveness.
    pub kind: CheckKind,
    /// What it checks.
    pub about: &'static str,
}

/// A system's catalogue entry.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct SystemInfo {
    /// Name used in `system = "..."`.
    pub name: &'static str,
    /// What it is.
    pub about: &'static str,
    /// Planted bugs.
    pub bugs: &'static [BugInfo],
    /// Checks.
    pub checks: &'static [CheckInfo],
    /// Workloads it runs (the first is the default).
    pub workloads: &'static [WorkloadKind],
}

/// Settings specific to one system, resolved for a seed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SystemParams {
    /// `[kv_register]`.
    KvRegister(kv_register::KvRegisterParams),
    /// `[es_cluster]`.
    EsCluster(es_cluster::EsClusterParams),
}

impl SystemKind {
    /// Every system.
    pub const ALL: &'static [SystemKind] = &[SystemKind::KvRegister, SystemKind::EsCluster];

    /// The system called `name`.
    pub fn from_name(name: &str) -> Option<SystemKind> {
        Self::ALL.iter().copied().find(|s| s.info().name == name)
    }

    /// Its catalogue entry.
    pub fn info(self) -> &'static SystemInfo {
        match self {
            SystemKind::KvRegister => &SystemInfo {
                name: "kv_register",
                about: "replicated key-value store with a fixed primary: group commit, fsync before ack, majority replication, request dedup, recovery from disk",
                bugs: kv_register::BUGS,
                checks: kv_register::CHECKS,
                workloads: &[WorkloadKind::Kv],
            },
            SystemKind::EsCluster => &SystemInfo {
                name: "es_cluster",
                about: "event-sourced service replicated with Raft (events, not commands, in the log): router, consistent reads through the log, projection, sharding with replicated two-phase-commit transfers",
                bugs: es_cluster::BUGS,
                checks: es_cluster::CHECKS,
                workloads: &[WorkloadKind::Bank, WorkloadKind::Kv],
            },
        }
    }

    /// The processes of a run.
    pub fn topology(self, params: &Params) -> Vec<NodeSpec> {
        match self {
            SystemKind::KvRegister => kv_register::topology(params),
            SystemKind::EsCluster => es_cluster::topology(params),
        }
    }

    /// Resolve the system's own section for a seed.
    pub fn resolve_params(self, file: &ScenarioFile, swarm: bool, seed: u64) -> SystemParams {
        match self {
            SystemKind::KvRegister => SystemParams::KvRegister(
                file.kv_register
                    .clone()
                    .unwrap_or_default()
                    .resolve(swarm, seed),
            ),
            SystemKind::EsCluster => {
                let mut p = file
                    .es_cluster
                    .clone()
                    .unwrap_or_default()
                    .resolve(swarm, seed);
                if p.election_timeout_ms_min > p.election_timeout_ms_max {
                    std::mem::swap(
                        &mut p.election_timeout_ms_min,
                        &mut p.election_timeout_ms_max,
                    );
                }
                SystemParams::EsCluster(p)
            }
        }
    }

    /// Validate the system's own section (and that no other system's section is present).
    pub fn check_file(self, file: &ScenarioFile, problems: &mut Vec<(String, String)>) {
        let mut foreign = |section: &str| {
            problems.push((
                section.to_string(),
                format!(
                    "a [{section}] section in a scenario of system `{}`: it only applies to system `{section}`",
                    self.info().name
                ),
            ));
        };
        match (self, &file.kv_register, &file.es_cluster) {
            (SystemKind::KvRegister, _, Some(_)) => foreign("es_cluster"),
            (SystemKind::EsCluster, Some(_), _) => foreign("kv_register"),
            _ => {}
        }
        match self {
            SystemKind::KvRegister => {
                if let Some(section) = &file.kv_register {
                    section.check(problems);
                }
            }
            SystemKind::EsCluster => {
                if let Some(section) = &file.es_cluster {
                    es_cluster::check_section(section, problems);
                }
            }
        }
    }

    /// Knob reference of the system's own section.
    pub fn knob_docs(self) -> Vec<crate::scenario::knob::KnobDoc> {
        match self {
            SystemKind::KvRegister => kv_register::KvRegisterSection::docs(),
            SystemKind::EsCluster => es_cluster::EsClusterSection::docs(),
        }
    }
}

/// A system's checks, run on plain data after the simulation.
pub trait Checked: System {
    /// Run the check called `check` (one of the system's catalogue checks).
    fn check(
        plan: &Plan,
        out: &SimOutput<Self::Final, Self::Observation>,
        check: &str,
        budget: &Budget,
    ) -> CheckOutcome;
}

/// How to execute a seed.
#[derive(Debug, Clone)]
pub struct ExecOptions {
    /// How much the trace keeps.
    pub level: TraceLevel,
    /// Budget of the linearizability checker (deterministic: steps, not time).
    pub budget: Budget,
}

impl Default for ExecOptions {
    fn default() -> Self {
        ExecOptions {
            level: TraceLevel::Fates,
            budget: Budget {
                max_steps: Some(DEFAULT_CHECK_STEPS),
                wall: None,
            },
        }
    }
}

/// Default step budget of the linearizability check in sweeps: generous for the histories
/// a seed produces, bounded so a pathological one ends as `unknown` instead of hanging CI.
pub const DEFAULT_CHECK_STEPS: u64 = 20_000_000;

/// Everything one seed produced and what the checks made of it.
#[derive(Debug)]
pub struct Execution {
    /// The seed's verdict: the worst of its checks (or `crash` after a panic).
    pub verdict: Verdict,
    /// Each check's outcome (empty after a panic: the run did not finish).
    pub checks: Vec<CheckOutcome>,
    /// The panic that stopped the run, if any.
    pub panic: Option<NodePanic>,
    /// The trace.
    pub trace: Trace,
    /// The client history.
    pub history: History,
    /// Coverage probes reached.
    pub probes: BTreeMap<&'static str, u64>,
    /// Network counters per directed link.
    pub links: BTreeMap<(usize, usize), LinkStats>,
    /// Whether the system settled in the heal phase.
    pub settled: bool,
    /// Simulated time at the end (ns).
    pub end_ns: u64,
}

/// Simulate `plan` and run its checks. Must run on a fresh thread (see [`crate::sim`]).
pub fn execute(plan: &Plan, options: &ExecOptions) -> Execution {
    match plan.system {
        SystemKind::KvRegister => execute_with::<kv_register::KvRegister>(plan, options),
        SystemKind::EsCluster => execute_with::<es_cluster::EsCluster>(plan, options),
    }
}

fn execute_with<S: Checked>(plan: &Plan, options: &ExecOptions) -> Execution {
    let out = sim::simulate::<S>(plan, options.level);
    let (verdict, checks) = if out.panic.is_some() || out.finals.is_none() {
        (Verdict::Crash, Vec::new())
    } else {
        let checks: Vec<CheckOutcome> = plan
            .checks
            .iter()
            .map(|name| S::check(plan, &out, name, &options.budget))
            .collect();
        (check::worst(&checks), checks)
    };
    Execution {
        verdict,
        checks,
        panic: out.panic,
        trace: out.trace,
        history: out.history,
        probes: out.probes,
        links: out.links,
        settled: out.settled,
        end_ns: out.end_ns,
    }
}
