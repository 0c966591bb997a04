//! The systems under test: one folder per system, behind one interface, in one registry.
//!
//! A system implements two typed traits, each in the layer that uses it:
//!
//! * [`crate::plan::Spec`] — its types (settings, operations, bugs, checks, workloads)
//!   and how it plans a seed: resolve its section, its processes, its operations;
//! * [`crate::sim::System`] — its processes as state machines (boot, settle, finish),
//!   and how a finished run is judged: its checks, the history files a replay writes, its
//!   catalogue sentence, the validation and load estimate of its section.
//!
//! [`Plugin`] turns any system into a [`SystemUnderTest`], the object-safe interface the
//! rest of faultline uses: the scenario loader (through
//! [`crate::scenario::SystemSchema`]), `faultline list`, and the runner, which asks the
//! system for a seed's plan and then to run it to an [`Execution`]. [`SYSTEMS`] lists the
//! built-in systems: adding one is one folder here and one line there
//! (`docs/adding-a-system.md`). The registry is open: a program of its own adds its
//! systems once, at start, with [`install`] (which [`crate::cli::main_with`] calls), and
//! [`all`] and [`find`] see them beside the built-in ones
//! (`docs/testing-your-own-system.md`).
//!
//! Every system folder has the same layout: `mod.rs` (what the system is, its type and
//! process enum, its topology), `settings.rs` (its section and catalogues), `wire.rs`
//! (client operations, messages, timers, disk records, observations), `impls.rs` (the two
//! traits and its components' host traits), `checks.rs` (a folder `checks/` of groups
//! once it outgrows a file), and one file per process kind.
//!
//! [`components`] holds what systems compose: clients, workloads, the replicated log
//! (with its own bugs, checks and observations, which systems include), the broker, the
//! router.

pub mod components;
pub mod es_cluster;
pub mod kafka;
pub mod kv_register;
pub mod outbox;
pub mod saga;

use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::sync::OnceLock;

use crate::catalog::Entry;
use crate::check::fit::HistoryFile;
use crate::check::linearizability::Budget;
use crate::check::{self, CheckOutcome, Verdict};
use crate::history::History;
use crate::knob::{KnobDoc, KnobSection};
use crate::net::LinkStats;
use crate::plan::file::PlanFileError;
use crate::plan::{AnyPlan, Plan};
use crate::scenario::load::{SystemLoad, Worst};
use crate::scenario::{
    section_of, Catalog, LimitsParams, Scenario, Section, SectionError, SystemSchema,
};
use crate::sim::{self, LimitHit, Limits, NodePanic, System, Trace, TraceLevel};

/// The built-in systems, in catalogue order.
pub static SYSTEMS: &[&dyn SystemUnderTest] = &[
    &Plugin::<kv_register::KvRegister>::NEW,
    &Plugin::<es_cluster::EsCluster>::NEW,
    &Plugin::<saga::Saga>::NEW,
    &Plugin::<outbox::Outbox>::NEW,
    &Plugin::<kafka::Kafka>::NEW,
];

/// The systems a program added to the built-in ones ([`install`]).
static INSTALLED: OnceLock<Vec<&'static dyn SystemUnderTest>> = OnceLock::new();

/// Every system this process runs: the built-in ones in catalogue order, then the
/// installed ones in the order they were given.
pub fn all() -> impl Iterator<Item = &'static dyn SystemUnderTest> {
    let installed = INSTALLED.get().map_or(&[][..], Vec::as_slice);
    SYSTEMS.iter().chain(installed).copied()
}

/// Whether a program added systems of its own ([`install`]).
pub fn has_installed() -> bool {
    INSTALLED.get().is_some_and(|v| !v.is_empty())
}

/// Why [`install`] refused a set of systems.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstallError {
    /// Two systems, or a system and a built-in one, share a name.
    NameTaken(&'static str),
    /// A name scenario files could not use: empty, or not lowercase letters, digits and `_`
    /// starting with a letter (names are section headers: `[inventory]`).
    BadName(&'static str),
    /// Systems were installed already, and not these.
    AlreadyInstalled,
}

impl std::fmt::Display for InstallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InstallError::NameTaken(name) => {
                write!(f, "two systems are called `{name}`: a system's name must be unique (the built-in ones are {})",
                    SYSTEMS.iter().map(|s| s.name()).collect::<Vec<_>>().join(", "))
            }
            InstallError::BadName(name) => write!(
                f,
                "`{name}` cannot name a system: use lowercase letters, digits and `_`, starting with a letter"
            ),
            InstallError::AlreadyInstalled => {
                f.write_str("other systems were installed already: install them once, at start")
            }
        }
    }
}

impl std::error::Error for InstallError {}

/// Add `systems` to the built-in ones for the rest of the process: scenario files, the
/// runner, `list`, replays, shrinking and reports then know them by name. Once per
/// process (installing the same list again is allowed; another one is refused).
pub fn install(systems: &[&'static dyn SystemUnderTest]) -> Result<(), InstallError> {
    let mut names: Vec<&'static str> = SYSTEMS.iter().map(|s| s.name()).collect();
    for s in systems {
        let name = s.name();
        let good = name.starts_with(|c: char| c.is_ascii_lowercase())
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !good {
            return Err(InstallError::BadName(name));
        }
        if names.contains(&name) {
            return Err(InstallError::NameTaken(name));
        }
        names.push(name);
    }
    let installed = INSTALLED.get_or_init(|| systems.to_vec());
    let same = installed.len() == systems.len()
        && (installed.iter().zip(systems)).all(|(a, b)| a.name() == b.name());
    if same {
        Ok(())
    } else {
        Err(InstallError::AlreadyInstalled)
    }
}

/// The registry as the scenario loader sees it: every system of [`all`].
pub struct Registry;

/// The registry of every system, for [`Scenario::load`].
pub static REGISTRY: Registry = Registry;

impl Catalog for Registry {
    fn systems(&self) -> Vec<&'static dyn SystemSchema> {
        all().map(|s| s as &dyn SystemSchema).collect()
    }
}

/// The system called `name`.
pub fn find(name: &str) -> Option<&'static dyn SystemUnderTest> {
    all().find(|s| s.name() == name)
}

/// The interface faultline uses for every system (object-safe; the registry's type).
/// A system never implements it: [`Plugin`] does, from the system's two traits.
///
/// ```
/// use faultline::scenario::Scenario;
/// use faultline::systems::{self, REGISTRY};
///
/// let text = r#"
/// name = "kv-no-fsync"
/// system = "kv_register"
/// bugs = ["no-fsync"]
/// expect = "violation"
/// "#;
/// let scenario = Scenario::parse("kv.toml".as_ref(), text, &REGISTRY).unwrap();
/// let kv = systems::find("kv_register").unwrap();
/// assert!(kv.bugs().iter().any(|b| b.name == "no-fsync"));
/// // Seed 3's plan: every process, operation and fault of the run, explicit.
/// let plan = kv.plan(&scenario, 3);
/// assert_eq!(plan.bug_names(), ["no-fsync"]);
/// assert!(plan.operations() > 0);
/// assert_eq!(plan.to_json_pretty().unwrap(), kv.plan(&scenario, 3).to_json_pretty().unwrap());
/// ```
pub trait SystemUnderTest: SystemSchema {
    /// The plan of `scenario` (one of this system's) for `seed`.
    fn plan(&self, scenario: &Scenario, seed: u64) -> Box<dyn AnyPlan>;
    /// A plan read back from its `plan.json` (see [`crate::plan::file`]).
    fn plan_from_json(&self, text: &str) -> Result<Box<dyn AnyPlan>, PlanFileError>;
    /// Simulate a plan this system made, and run its checks. Must run on a fresh thread
    /// (see [`crate::sim`]).
    fn run(&self, plan: &dyn AnyPlan, options: &ExecOptions) -> Execution;
    /// Every coverage probe a run of it can reach (the kernel's included), sorted.
    fn probes(&self) -> Vec<&'static str>;
    /// The history files a replay of `plan` writes ([`System::history_files`]).
    fn history_files(&self, plan: &dyn AnyPlan, history: &History) -> Vec<HistoryFile>;
}

/// The adapter from a typed [`System`] to [`SystemUnderTest`].
pub struct Plugin<S>(PhantomData<fn() -> S>);

impl<S> Plugin<S> {
    /// The plug-in of system `S`.
    pub const NEW: Self = Plugin(PhantomData);
}

impl<S: System> SystemSchema for Plugin<S> {
    fn name(&self) -> &'static str {
        S::NAME
    }
    fn about(&self) -> &'static str {
        S::ABOUT
    }
    fn bugs(&self) -> Vec<Entry> {
        Entry::all::<S::Bug>()
    }
    fn checks(&self) -> Vec<Entry> {
        Entry::checks::<S::Check>()
    }
    fn workloads(&self) -> Vec<Entry> {
        Entry::all::<S::Workload>()
    }
    fn knob_docs(&self) -> Vec<KnobDoc> {
        S::Section::docs()
    }
    fn load_section(&self, text: &str) -> Result<Section, SectionError> {
        let section: S::Section = section_of(text, S::NAME)
            .map_err(SectionError::Parse)?
            .unwrap_or_default();
        let mut problems = Vec::new();
        section.check(&mut problems);
        S::validate(&section, &mut problems);
        if problems.is_empty() {
            Ok(Section::new(section))
        } else {
            Err(SectionError::Problems(problems))
        }
    }
    fn load(&self, section: &Section, swarm: bool, worst: &Worst) -> SystemLoad {
        Self::load_of(section, swarm, worst)
    }
}

impl<S: System> Plugin<S> {
    fn load_of(section: &Section, swarm: bool, worst: &Worst) -> SystemLoad {
        match section.get::<S::Section>() {
            Some(section) => S::load(section, swarm, worst),
            None => S::load(&S::Section::default(), swarm, worst),
        }
    }
}

impl<S: System> SystemUnderTest for Plugin<S> {
    fn plan(&self, scenario: &Scenario, seed: u64) -> Box<dyn AnyPlan> {
        Box::new(Plan::<S>::new(scenario, seed))
    }

    fn plan_from_json(&self, text: &str) -> Result<Box<dyn AnyPlan>, PlanFileError> {
        Ok(Box::new(Plan::<S>::from_json(text)?))
    }

    fn probes(&self) -> Vec<&'static str> {
        let lists = std::iter::once(sim::PROBES).chain(S::PROBES.iter().copied());
        let mut all: Vec<&'static str> = lists.flatten().copied().collect();
        all.sort_unstable();
        all.dedup();
        all
    }

    fn history_files(&self, plan: &dyn AnyPlan, history: &History) -> Vec<HistoryFile> {
        match plan.as_any().downcast_ref::<Plan<S>>() {
            Some(plan) => S::history_files(plan, history),
            None => Vec::new(),
        }
    }

    fn run(&self, plan: &dyn AnyPlan, options: &ExecOptions) -> Execution {
        let plan = plan
            .as_any()
            .downcast_ref::<Plan<S>>()
            .unwrap_or_else(|| panic!("system `{}` asked to run another system's plan", S::NAME));
        let seed_memory = crate::guard::MemoryWindow::open();
        let limits = Limits {
            memory_held_bytes: options.plan_bytes,
            ..Limits::of(&plan.head.params.limits)
        };
        let out = sim::simulate_with::<S>(plan, options.level, limits);
        // The checks share the seed's memory envelope with the simulation. The text a
        // full-level trace keeps is left out, as the simulation leaves it out, so sweeps
        // and replays reach the same verdicts.
        let payload = out.trace.payload_bytes();
        let budget = check_budget(
            &options.budget,
            &plan.head.params.limits,
            options.plan_bytes + seed_memory.used_bytes().saturating_sub(payload),
        );
        let (verdict, checks) = if out.panic.is_some() {
            (Verdict::Crash, Vec::new())
        } else if out.limit.is_some() || out.interrupted {
            // Stopped before the end: nothing to judge.
            (Verdict::Limit, Vec::new())
        } else if out.finals.is_none() {
            (Verdict::Crash, Vec::new())
        } else {
            let checks: Vec<CheckOutcome> = plan
                .checks
                .iter()
                .map(|&c| S::check(plan, &out, c, &budget))
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
            probes_first_ns: out.probes_first_ns,
            series: out.series,
            links: out.links,
            settled: out.settled,
            end_ns: out.end_ns,
            limit: out.limit,
            // A stop request that came while the checks ran may have cut them short too.
            interrupted: out.interrupted || crate::guard::stop_requested(),
            handler_calls: out.handler_calls,
            memory_peak_bytes: out
                .memory_peak_bytes
                .max(options.plan_bytes + seed_memory.peak_bytes().saturating_sub(payload)),
        }
    }
}

/// The checks' budget in a seed: the sweep's, with a third of the memory the simulation
/// left of `limits.memory_mb_max`. A third, because the search looks at its memory only
/// every few thousand steps and its tables grow by doubling: a table of `n` bytes holds
/// `3n` while it moves into its new array, so stopping at a third keeps the seed inside.
fn check_budget(budget: &Budget, limits: &LimitsParams, used_bytes: u64) -> Budget {
    let left = limits
        .memory_mb_max
        .saturating_mul(1 << 20)
        .saturating_sub(used_bytes)
        / 3;
    Budget {
        memory_bytes_max: Some(budget.memory_bytes_max.map_or(left, |b| b.min(left))),
        ..*budget
    }
}

/// How to execute a seed.
#[derive(Debug, Clone)]
pub struct ExecOptions {
    /// How much the trace keeps.
    pub level: TraceLevel,
    /// Budget of the linearizability checker (deterministic: steps, not time).
    pub budget: Budget,
    /// Bytes the seed's plan holds: counted against `limits.memory_mb_max` with what the
    /// run allocates (set by the runner, which builds the plan).
    pub plan_bytes: u64,
    /// The runner drops the plan's fault points (`faultline run --fault-points off`: to
    /// measure what they add).
    pub without_fault_points: bool,
}

impl Default for ExecOptions {
    fn default() -> Self {
        ExecOptions {
            level: TraceLevel::Fates,
            budget: Budget {
                max_steps: Some(DEFAULT_CHECK_STEPS),
                wall: None,
                memory_bytes_max: None,
                memory_knob: "`limits.memory_mb_max`",
                memory_held_bytes: 0,
            },
            plan_bytes: 0,
            without_fault_points: false,
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
    /// When each probe was first reached (ns).
    pub probes_first_ns: BTreeMap<&'static str, u64>,
    /// The system's gauges over time: name → (ns, value) (replays only).
    pub series: BTreeMap<&'static str, Vec<(u64, f64)>>,
    /// Network counters per directed link.
    pub links: BTreeMap<(usize, usize), LinkStats>,
    /// Whether the system settled in the heal phase.
    pub settled: bool,
    /// Simulated time at the end (ns).
    pub end_ns: u64,
    /// The limit of the resource envelope that stopped the run (verdict `limit`).
    pub limit: Option<LimitHit>,
    /// Whether a stop request (Ctrl-C, SIGTERM) came before the seed was judged: its
    /// result is not to be counted.
    pub interrupted: bool,
    /// Handler calls the simulation made.
    pub handler_calls: u64,
    /// The most memory the simulation held at once (bytes).
    pub memory_peak_bytes: u64,
}
