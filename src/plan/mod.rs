//! Seed → Plan: everything a run will do, decided up front and written down.
//!
//! A [`Plan`] is explicit data: the processes, every client operation with its start
//! time, and every fault with its time. The simulator only executes it (plus per-message
//! fates, which are drawn from the `network` stream while running because they depend on
//! how many messages the system sends). Because the plan is data, it is written next to a
//! failing seed's trace and can be read, edited and re-run.
//!
//! A plan has a generic part, the [`Head`] (settings, processes, faults), and a part
//! typed by the system: its planted bugs, checks, workload kind, own settings and
//! operations. What the system contributes at plan time is the [`Spec`] trait: resolving
//! its section, its processes, and how its clients' operations are drawn. This module
//! names no system. [`AnyPlan`] is the plan with its system's types erased, for the code
//! that runs and reports seeds of any system.
//!
//! [`Plan::new`] is pure: the same scenario and seed always give the same plan. Each part
//! draws from its own named sub-stream of the seed ([`crate::rng`]), so the fault
//! schedule does not change when the workload changes, and so on.

pub mod aims;
pub mod branch;
pub mod faults;
pub mod file;
pub mod guided;
pub mod points;
pub mod sane;

pub mod workload;

use std::any::Any;
use std::fmt::Debug;

use rand::RngCore;
use serde::de::DeserializeOwned;
use serde::ser::SerializeStruct;
use serde::{Deserialize, Serialize, Serializer};

use crate::catalog::{CheckName, Named};
use crate::knob::KnobSection;
use crate::rng::{streams, SubStream};
use crate::scenario::{Params, Scenario};

pub use crate::rng::{SeedId, SeedIdError};
pub use aims::{Aim, AimAct};
pub use faults::{FaultAction, TimedAction};
pub use points::{FaultPoint, Site};
pub use workload::{ClientOp, Draw};

/// What a process is, for fault targeting and display.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// A server of the system under test: may crash, pause and be partitioned.
    Server,
    /// Infrastructure (router, projection service): may be partitioned and clogged, and
    /// crashed or paused when the system allows it.
    Infra,
    /// A client: issues the workload; never crashes; its links can be clogged.
    Client,
}

/// One simulated process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeSpec {
    /// Display name, e.g. `r0`, `router`, `c2`.
    pub name: String,
    /// Its role.
    pub role: Role,
    /// Whether the fault schedule may crash and pause it.
    pub crashable: bool,
}

impl NodeSpec {
    /// A server called `name`: crashable, paused, partitioned.
    pub fn server(name: impl Into<String>) -> Self {
        NodeSpec {
            name: name.into(),
            role: Role::Server,
            crashable: true,
        }
    }

    /// The clients `c0..c<n-1>` (never crashed: a client's history is what the checks read).
    pub fn clients(n: u64) -> impl Iterator<Item = NodeSpec> {
        (0..n).map(|i| NodeSpec {
            name: format!("c{i}"),
            role: Role::Client,
            crashable: false,
        })
    }
}

/// The plan-time half of a system: its types and how it plans a seed. Example: the
/// `Register` of the example on `sim::System`, which implements both halves.
pub trait Spec: Sized + Send + Sync + 'static {
    /// The system's name (`system = "..."` and its section's name).
    const NAME: &'static str;
    /// Its own scenario section (`[<name>]`), as parsed and validated at load time.
    type Section: KnobSection<Params = Self::Params>;
    /// Its own settings, resolved for one seed.
    type Params: Clone + Debug + PartialEq + Serialize + DeserializeOwned + Send + Sync + 'static;
    /// What a client asks it.
    type Op: Clone + Debug + PartialEq + Serialize + DeserializeOwned + Send + Sync + 'static;
    /// Its planted bugs.
    type Bug: Named + Serialize;
    /// Its checks.
    type Check: CheckName + Serialize;
    /// The workloads it runs.
    type Workload: Named + Serialize;

    /// The settings of one seed (pure: the same section, seed and generic settings give
    /// the same values). `generic` are the seed's generic settings (its network, its
    /// phases), for settings that must fit them. By default each knob resolves on its own
    /// ([`KnobSection::resolve`]).
    fn resolve(section: &Self::Section, swarm: bool, seed: u64, generic: &Params) -> Self::Params {
        let _ = generic;
        section.resolve(swarm, seed)
    }
    /// The processes of a run; clients come last.
    fn topology(params: &Params, own: &Self::Params, workload: Self::Workload) -> Vec<NodeSpec>;
    /// Draw one client operation of `workload` (see [`workload::generate`]).
    fn operation(workload: Self::Workload, draw: &mut Draw<'_>) -> Self::Op;
    /// Problems with its own settings as a plan file holds them (dotted path, message):
    /// each value in its knob's valid range, and whatever the settings must satisfy
    /// together (a range's lower end not above its upper end).
    fn check_params(own: &Self::Params) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        Self::Section::check_params(own, &mut problems);
        problems
    }
    /// Whether one client operation read from a plan file can run (drawn ones always
    /// can): `Err((field, message))` names the operation's field at fault.
    fn check_op(_op: &Self::Op) -> Result<(), (String, String)> {
        Ok(())
    }
    /// The code sites of its components that fault points may perturb ([`points`]).
    fn fault_sites() -> Vec<Site> {
        Vec::new()
    }
    /// The events (coverage probes reported on the process they happen on) that aimed
    /// faults may strike right after ([`aims`]), for these settings and planted bugs:
    /// only events a run of them can reach.
    fn aim_targets(_own: &Self::Params, _bugs: &[Self::Bug]) -> Vec<&'static str> {
        Vec::new()
    }
}

/// The generic part of a plan: what the simulator and the reports need of any system.
#[derive(Debug, Clone, PartialEq)]
pub struct Head {
    /// Scenario name.
    pub scenario: String,
    /// The number the run's random streams derive from: the raw form of the run's id
    /// ([`Head::id`]).
    pub seed: u64,
    /// The system under test.
    pub system: &'static str,
    /// Generic settings (knobs resolved for this seed).
    pub params: Params,
    /// The processes; clients come last.
    pub nodes: Vec<NodeSpec>,
    /// Fault actions in time order; all within the chaos phase.
    pub faults: Vec<TimedAction>,
    /// Per-process clock offset (ms).
    pub clock_skew_ms: Vec<i64>,
    /// Perturbations at code sites inside components ([`points`]); empty for most seeds.
    pub fault_points: Vec<FaultPoint>,
    /// Faults aimed at the process that reaches an event ([`aims`]); empty for most seeds.
    pub aims: Vec<Aim>,
    /// Seed of madsim's own scheduler randomness.
    pub madsim_seed: u64,
    /// A branched run's branch time (ms): the run is its parent's up to it ([`branch`]).
    pub branch_ms: Option<u64>,
}

impl Head {
    /// The run's id: a plain seed, a guided or a branched run.
    pub fn id(&self) -> SeedId {
        SeedId::from_raw(self.seed).at(self.branch_ms.unwrap_or(0))
    }

    /// The number the run's random streams derive from before its branch time: the
    /// parent's for a branched run, its own for any other.
    pub fn prefix_seed(&self) -> u64 {
        match self.id() {
            SeedId::Branched { parent, .. } => parent,
            id => id.raw(),
        }
    }

    /// Each process's name, by index (`r0`, `c3`): how reports name them.
    pub fn names(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.name.clone()).collect()
    }

    /// Indices of the processes with `role`.
    pub fn nodes_with(&self, role: Role) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|&i| self.nodes[i].role == role)
            .collect()
    }

    /// Index of the process called `name`.
    pub fn node(&self, name: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.name == name)
    }
}

/// Everything one seed of one scenario will do.
pub struct Plan<S: Spec> {
    /// The generic part.
    pub head: Head,
    /// Planted bugs switched on.
    pub bugs: Vec<S::Bug>,
    /// Checks to run on the result, in catalogue order.
    pub checks: Vec<S::Check>,
    /// The workload the clients run.
    pub workload_kind: S::Workload,
    /// The system's own settings for this seed.
    pub params: S::Params,
    /// Client operations, by client then time.
    pub workload: Vec<ClientOp<S::Op>>,
}

// By hand: derived impls would ask the system type itself to be Clone, Debug, PartialEq.
impl<S: Spec> Clone for Plan<S> {
    fn clone(&self) -> Self {
        Plan {
            head: self.head.clone(),
            bugs: self.bugs.clone(),
            checks: self.checks.clone(),
            workload_kind: self.workload_kind,
            params: self.params.clone(),
            workload: self.workload.clone(),
        }
    }
}

impl<S: Spec> PartialEq for Plan<S> {
    fn eq(&self, other: &Self) -> bool {
        self.head == other.head
            && self.bugs == other.bugs
            && self.checks == other.checks
            && self.workload_kind == other.workload_kind
            && self.params == other.params
            && self.workload == other.workload
    }
}

impl<S: Spec> Debug for Plan<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plan")
            .field("head", &self.head)
            .field("bugs", &self.bugs)
            .field("checks", &self.checks)
            .field("workload_kind", &self.workload_kind)
            .field("params", &self.params)
            .field("workload", &self.workload)
            .finish()
    }
}

impl<S: Spec> Plan<S> {
    /// The plan of `scenario` (a scenario of system `S`) for `seed`.
    pub fn new(scenario: &Scenario, seed: u64) -> Plan<S> {
        let section = scenario.section.get::<S::Section>().unwrap_or_else(|| {
            panic!(
                "scenario `{}` of system `{}` planned as system `{}`",
                scenario.name,
                scenario.system.name(),
                S::NAME
            )
        });
        let generic = scenario.resolve(seed);
        Self::with_params(
            scenario,
            seed,
            S::resolve(section, scenario.file.swarm, seed, &generic),
        )
    }

    /// The plan of `scenario` for `seed`, with the system's own settings given.
    pub fn with_params(scenario: &Scenario, seed: u64, params: S::Params) -> Plan<S> {
        let generic = scenario.resolve(seed);
        let workload_kind = S::Workload::from_name(scenario.workload)
            .expect("the scenario's workload was validated against the system's");
        let nodes = S::topology(&generic, &params, workload_kind);
        let clients = nodes.iter().filter(|n| n.role == Role::Client).count();
        let workload = workload::generate(&generic, clients, seed, |draw| {
            S::operation(workload_kind, draw)
        });
        let faults = faults::schedule(&generic, &nodes, seed);
        let clock_skew_ms = clock_skew(&generic, nodes.len(), seed);
        let fault_points = points::draw(&S::fault_sites(), &nodes, generic.phases.chaos_ms, seed);
        let f = &generic.faults;
        let durations = aims::Durations {
            restart_ms: (f.crash.restart_delay_ms_min, f.crash.restart_delay_ms_max),
            partition_ms: (f.partition.duration_ms_min, f.partition.duration_ms_max),
        };
        let bugs: Vec<S::Bug> = named(&scenario.file.bugs, "bug");
        let targets = S::aim_targets(&params, &bugs);
        let aimed = (f.aimed.share, durations);
        let aims = aims::draw(&targets, aimed, generic.phases.chaos_ms, seed);
        Plan {
            head: Head {
                scenario: scenario.name.clone(),
                seed,
                system: S::NAME,
                params: generic,
                nodes,
                faults,
                clock_skew_ms,
                fault_points,
                aims,
                madsim_seed: SubStream::new(seed, streams::MADSIM).next_u64(),
                branch_ms: None,
            },
            bugs,
            checks: named(&scenario.checks, "check"),
            workload_kind,
            params,
            workload,
        }
    }

    /// Whether a planted bug is on.
    pub fn has_bug(&self, bug: S::Bug) -> bool {
        self.bugs.contains(&bug)
    }
}

/// Catalogue values from names the scenario loader already validated.
fn named<T: Named>(names: &[String], what: &str) -> Vec<T> {
    names
        .iter()
        .map(|n| {
            T::from_name(n)
                .unwrap_or_else(|| panic!("{what} `{n}` was validated against the catalogue"))
        })
        .collect()
}

/// Each process's clock offset: drawn per process from `clock/<i>` within the skew bound.
fn clock_skew(params: &Params, nodes: usize, seed: u64) -> Vec<i64> {
    let skew = params.faults.clock.skew_ms_max as i64;
    (0..nodes)
        .map(|i| {
            if skew == 0 {
                0
            } else {
                let mut rng = SubStream::indexed(seed, streams::CLOCK, i);
                rng.range_u64(0, 2 * skew as u64) as i64 - skew
            }
        })
        .collect()
}

/// `plan.json`: the generic and the typed parts in one object. `params` holds the
/// generic settings, the workload kind and, under the system's name, its own settings.
impl<S: Spec> Serialize for Plan<S> {
    fn serialize<Ser: Serializer>(&self, s: Ser) -> Result<Ser::Ok, Ser::Error> {
        let h = &self.head;
        let mut st = s.serialize_struct("Plan", 14)?;
        st.serialize_field("scenario", &h.scenario)?;
        st.serialize_field("seed", &h.seed)?;
        st.serialize_field("system", h.system)?;
        st.serialize_field("bugs", &self.bugs)?;
        st.serialize_field("checks", &self.checks)?;
        st.serialize_field("params", &PlanParams { plan: self })?;
        st.serialize_field("nodes", &h.nodes)?;
        st.serialize_field("workload", &self.workload)?;
        st.serialize_field("faults", &h.faults)?;
        st.serialize_field("clock_skew_ms", &h.clock_skew_ms)?;
        if h.fault_points.is_empty() {
            // A plan without points reads as it did before they existed.
            st.skip_field("fault_points")?;
        } else {
            st.serialize_field("fault_points", &h.fault_points)?;
        }
        if h.aims.is_empty() {
            // Likewise a plan without aims.
            st.skip_field("aims")?;
        } else {
            st.serialize_field("aims", &h.aims)?;
        }
        st.serialize_field("madsim_seed", &h.madsim_seed)?;
        match h.branch_ms {
            // Only a branched run's plan has one.
            None => st.skip_field("branch_ms")?,
            Some(at_ms) => st.serialize_field("branch_ms", &at_ms)?,
        }
        st.end()
    }
}

struct PlanParams<'a, S: Spec> {
    plan: &'a Plan<S>,
}

impl<S: Spec> Serialize for PlanParams<'_, S> {
    fn serialize<Ser: Serializer>(&self, s: Ser) -> Result<Ser::Ok, Ser::Error> {
        let p = &self.plan.head.params;
        let mut st = s.serialize_struct("Params", 8)?;
        st.serialize_field("topology", &p.topology)?;
        st.serialize_field("workload_kind", &self.plan.workload_kind)?;
        st.serialize_field("workload", &p.workload)?;
        st.serialize_field("phases", &p.phases)?;
        st.serialize_field("network", &p.network)?;
        st.serialize_field("faults", &p.faults)?;
        st.serialize_field("limits", &p.limits)?;
        let own = std::collections::BTreeMap::from([(S::NAME, &self.plan.params)]);
        st.serialize_field("system", &own)?;
        st.end()
    }
}

/// A plan of any system, for code that handles seeds of every system alike (the runner,
/// the reports). The system that made it gets its typed plan back with [`AnyPlan::as_any`].
/// Example: the plan in the example on `systems::SystemUnderTest`.
pub trait AnyPlan: Any + Send + Sync + Debug {
    /// The generic part.
    fn head(&self) -> &Head;
    /// Names of the planted bugs switched on.
    fn bug_names(&self) -> Vec<&'static str>;
    /// Planned client operations.
    fn operations(&self) -> usize;
    /// The whole plan as pretty JSON (`plan.json`).
    fn to_json_pretty(&self) -> serde_json::Result<String>;
    /// For the system to recover its typed plan.
    fn as_any(&self) -> &dyn Any;
    /// A copy.
    fn clone_box(&self) -> Box<dyn AnyPlan>;
    /// When each planned client operation starts (ms), in workload order.
    fn operation_times(&self) -> Vec<u64>;
    /// Which client (number among clients) issues each planned operation, in order.
    fn operation_clients(&self) -> Vec<usize>;
    /// A copy with another fault schedule, only the client operations whose index in the
    /// workload `keep_op` says, and a chaos phase of `chaos_ms` (shrinking).
    fn edited(
        &self,
        faults: Vec<TimedAction>,
        keep_op: &dyn Fn(usize) -> bool,
        chaos_ms: u64,
    ) -> Box<dyn AnyPlan>;
    /// A copy without the clients whose number (among clients) `drop` says: their
    /// processes, operations, clock offsets and the faults that name them go, and the
    /// remaining processes are renumbered (shrinking). At least one client stays.
    fn without_clients(&self, drop: &dyn Fn(usize) -> bool) -> Box<dyn AnyPlan>;
    /// The generic part, to edit (shrinking lowers network probabilities).
    fn head_mut(&mut self) -> &mut Head;
    /// The plan of the guided run `id` ([`guided`]) that mutates this one: fault schedule
    /// moved, an episode perhaps dropped, fault points and client operations jittered,
    /// and the run's own streams.
    fn mutated(&self, id: u64) -> Box<dyn AnyPlan>;
    /// The plan of the branched run `id` ([`branch`]) of this plain seed's plan: the same up
    /// to its branch time, fault schedule and fault points drawn anew after it.
    fn branched(&self, id: SeedId) -> Box<dyn AnyPlan>;
}

impl<S: Spec> AnyPlan for Plan<S> {
    fn head(&self) -> &Head {
        &self.head
    }
    fn bug_names(&self) -> Vec<&'static str> {
        self.bugs.iter().map(|b| b.name()).collect()
    }
    fn operations(&self) -> usize {
        self.workload.len()
    }
    fn to_json_pretty(&self) -> serde_json::Result<String> {
        serde_json::to_string_pretty(self)
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn clone_box(&self) -> Box<dyn AnyPlan> {
        Box::new(self.clone())
    }
    fn operation_times(&self) -> Vec<u64> {
        self.workload.iter().map(|op| op.at_ms).collect()
    }
    fn operation_clients(&self) -> Vec<usize> {
        self.workload.iter().map(|op| op.client).collect()
    }
    fn edited(
        &self,
        faults: Vec<TimedAction>,
        keep_op: &dyn Fn(usize) -> bool,
        chaos_ms: u64,
    ) -> Box<dyn AnyPlan> {
        let mut plan = self.clone();
        plan.head.faults = faults;
        plan.head.params.phases.chaos_ms = chaos_ms;
        plan.workload = (self.workload.iter().enumerate())
            .filter(|&(i, _)| keep_op(i))
            .map(|(_, op)| op.clone())
            .collect();
        Box::new(plan)
    }
    fn without_clients(&self, drop: &dyn Fn(usize) -> bool) -> Box<dyn AnyPlan> {
        Box::new(self.clients_dropped(drop))
    }
    fn head_mut(&mut self) -> &mut Head {
        &mut self.head
    }
    fn mutated(&self, id: u64) -> Box<dyn AnyPlan> {
        let mut plan = self.clone();
        let chaos_ms = self.head.params.phases.chaos_ms;
        let mut rng = guided::stream(id);
        plan.head.seed = id;
        plan.head.madsim_seed = SubStream::new(id, streams::MADSIM).next_u64();
        plan.head.faults = guided::mutate_faults(&self.head.faults, chaos_ms, &mut rng);
        plan.head.fault_points = guided::mutate_points(&self.head.fault_points, chaos_ms, &mut rng);
        for op in &mut plan.workload {
            op.at_ms = guided::mutate_time(op.at_ms, chaos_ms, &mut rng);
        }
        // Client operations stay in client, then time order (a stable sort).
        plan.workload.sort_by_key(|op| (op.client, op.at_ms));
        Box::new(plan)
    }
    fn branched(&self, id: SeedId) -> Box<dyn AnyPlan> {
        let SeedId::Branched { at_ms, .. } = id else {
            panic!("{id} is not a branched run's id")
        };
        let mut plan = self.clone();
        let h = &mut plan.head;
        let (raw, chaos_ms) = (id.raw(), h.params.phases.chaos_ms);
        let fresh = faults::schedule(&h.params, &h.nodes, raw);
        h.faults = branch::faults(&self.head.faults, &fresh, at_ms);
        let fresh = points::draw(&S::fault_sites(), &h.nodes, chaos_ms, raw);
        h.fault_points = branch::points(&self.head.fault_points, fresh, at_ms);
        h.seed = raw;
        h.branch_ms = Some(at_ms);
        Box::new(plan)
    }
}

impl<S: Spec> Plan<S> {
    fn clients_dropped(&self, drop: &dyn Fn(usize) -> bool) -> Plan<S> {
        let clients = self.head.nodes_with(Role::Client);
        let mut dropped: Vec<bool> = (0..clients.len()).map(drop).collect();
        if let Some(last) = dropped
            .iter()
            .rposition(|&d| d)
            .filter(|_| dropped.iter().all(|&d| d))
        {
            dropped[last] = false; // keep one client: a run needs one
        }
        let gone =
            |node: usize| (clients.iter().position(|&c| c == node)).is_some_and(|k| dropped[k]);
        // Old process index → new one (None: removed).
        let mut next = 0;
        let renumber: Vec<Option<usize>> = (0..self.head.nodes.len())
            .map(|i| (!gone(i)).then(|| (next, next += 1).0))
            .collect();
        let client_rank: Vec<Option<usize>> = {
            let mut rank = 0;
            (dropped.iter())
                .map(|&d| (!d).then(|| (rank, rank += 1).0))
                .collect()
        };
        let mut plan = self.clone();
        let h = &mut plan.head;
        h.nodes = keep_indexed(&self.head.nodes, &renumber);
        h.clock_skew_ms = keep_indexed(&self.head.clock_skew_ms, &renumber);
        h.fault_points = (self.head.fault_points.iter())
            .filter_map(|p| {
                let node = renumber.get(p.node).copied().flatten()?;
                Some(FaultPoint { node, ..p.clone() })
            })
            .collect();
        h.faults = (self.head.faults.iter())
            .filter_map(|t| {
                let action = t
                    .action
                    .renumbered(&|i| renumber.get(i).copied().flatten())?;
                Some(TimedAction {
                    at_ms: t.at_ms,
                    action,
                })
            })
            .collect();
        h.params.topology.clients = client_rank.iter().flatten().count() as u64;
        plan.workload = (self.workload.iter())
            .filter_map(|op| {
                let client = client_rank.get(op.client).copied().flatten()?;
                Some(ClientOp {
                    client,
                    ..op.clone()
                })
            })
            .collect();
        plan
    }
}

/// The items of `items` whose index `renumber` keeps, in order.
fn keep_indexed<T: Clone>(items: &[T], renumber: &[Option<usize>]) -> Vec<T> {
    (items.iter().zip(renumber))
        .filter(|(_, r)| r.is_some())
        .map(|(item, _)| item.clone())
        .collect()
}

impl Clone for Box<dyn AnyPlan> {
    fn clone(&self) -> Self {
        self.clone_box()
    }
}
