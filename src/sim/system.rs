//! The traits a system under test implements for the simulator: [`System`] (its types,
//! processes, end-of-run observations and checks), [`Process`] (one process's state
//! machine) and [`Message`].

use std::fmt;

use crate::catalog::Named;
use crate::check::fit::{Fit, HistoryFile};
use crate::check::linearizability::{Budget, ModelKind};
use crate::check::CheckOutcome;
use crate::history::History;
use crate::plan::{Plan, Spec};
use crate::scenario::load::{SystemLoad, Worst};

use super::{Ctx, SimOutput, View};

/// A message of a system under test.
pub trait Message: Clone + fmt::Debug + Send + 'static {
    /// A short kind name for the trace and the timeline (`"append_entries"`).
    fn label(&self) -> &'static str;
    /// The message's content as the full trace and the timeline show it (default: its
    /// `Debug` form).
    fn describe(&self) -> String {
        format!("{self:?}")
    }
}

/// A system under test, at run time and after: how to boot its processes, when it has
/// settled, what to observe at the end, and how the run is judged (its checks, the
/// history files a replay writes, its load estimate and catalogue sentence).
/// Implementations live in [`crate::systems`]; the plan-time half (its settings,
/// processes and workload) is [`Spec`], the layer below. These two traits are the whole
/// of what a system implements; the registry adapts them (`systems::Plugin`).
pub trait System: Spec {
    /// Messages between processes.
    type Msg: Message;
    /// Timer keys (a process has at most one pending timer per key).
    type Timer: Copy + Ord + fmt::Debug + Send + 'static;
    /// Records on disk.
    type Record: Clone + fmt::Debug + Send + 'static;
    /// A process's state machine.
    type Proc: Process<Self> + Send + 'static;
    /// What the checks need from the end of the run.
    type Final: Send + 'static;
    /// Verification records processes emit while running ([`Ctx::observe`]): facts the
    /// checks need that no single process keeps to the end (e.g. every committed entry,
    /// when logs are compacted). Not part of any protocol; `()` when unused.
    type Observation: Send + 'static;

    /// Set up from the plan (processes, bugs, workload).
    fn new(plan: &Plan<Self>) -> Self;
    /// Start process `ctx.node()`: fresh, or recovering from `ctx.disk()` after a crash.
    fn boot(&self, ctx: &mut Ctx<'_, Self>) -> Self::Proc;
    /// Heal phase: whether the system has converged and every client is idle.
    fn settled(&self, view: &View<'_, Self>) -> bool;
    /// Observations for the checks, taken when the run ends.
    fn finish(&self, view: &View<'_, Self>) -> Self::Final;
    /// Coverage probes for the moment a process crashes: name the risky window it was
    /// in (e.g. a leader with entries not yet replicated). Default: none.
    fn crash_probes(&self, _proc: &Self::Proc, _probes: &mut Vec<&'static str>) {
        // No probes unless the system names its risky windows.
    }
    /// Gauges worth charting over time (projection lag, outbox backlog, consumer lag…):
    /// `(name, value)` pairs read off the processes. Called every [`GAUGE_EVERY_MS`] of
    /// simulated time in replays (full traces) only, between handlers; it must only read.
    /// The timeline charts each gauge with the run's faults behind it. Default: none.
    fn gauges(&self, _view: &View<'_, Self>, _out: &mut Vec<(&'static str, f64)>) {
        // No gauges unless the system reports some.
    }

    /// What it is, in a sentence (`faultline list systems`).
    const ABOUT: &'static str;
    /// The coverage probes its processes can reach, as lists: its components' (e.g.
    /// `raft::PROBES`) and its own. The sweep report calls out the ones a scenario never
    /// reached; a test checks that every probe a run reaches is listed.
    const PROBES: &'static [&'static [&'static str]] = &[];

    /// Validate its section beyond single knobs (contradictions between its knobs).
    fn validate(_section: &Self::Section, _problems: &mut Vec<(String, String)>) {}

    /// What its seeds cost at the worst corner of its section (`swarm`: unset knobs are
    /// sampled), for the loader's load estimate (`crate::scenario::load`). Default: a
    /// request and a reply per client operation, no periodic work.
    fn load(_section: &Self::Section, _swarm: bool, _worst: &Worst) -> SystemLoad {
        SystemLoad {
            events_per_op: 2.0,
            periodic: Vec::new(),
            conflicts: Vec::new(),
        }
    }

    /// The history files a replay writes, and the checker that reads each on its own
    /// (`crate::check::fit`). Default: the whole client history, read by no checker on
    /// its own — every check needs the replay.
    fn history_files(plan: &Plan<Self>, _history: &History) -> Vec<HistoryFile> {
        vec![replay_only(plan)]
    }

    /// Run one of its checks on a finished run.
    fn check(
        plan: &Plan<Self>,
        out: &SimOutput<Self::Final, Self::Observation>,
        check: Self::Check,
        budget: &Budget,
    ) -> CheckOutcome;
}

/// The whole client history, read by no checker on its own: each of `plan`'s checks
/// needs the replay.
pub fn replay_only<S: System>(plan: &Plan<S>) -> HistoryFile {
    let checks = plan.checks.iter().map(|c| c.name().to_string()).collect();
    HistoryFile::whole(Fit::Replay { checks }, None)
}

/// The whole client history, checked for linearizability against `model` when `plan`
/// runs its linearizability check (`is_it`), else as [`replay_only`].
pub fn linearizable_history<S: System>(
    plan: &Plan<S>,
    is_it: impl Fn(&S::Check) -> bool,
    model: ModelKind,
) -> HistoryFile {
    if plan.checks.iter().any(is_it) {
        HistoryFile::whole(Fit::Linearizability { model }, Some("linearizability"))
    } else {
        replay_only(plan)
    }
}

/// How often a replay samples the system's gauges (simulated ms).
pub const GAUGE_EVERY_MS: u64 = 10;
/// The most samples one gauge keeps (a run of 100 s at [`GAUGE_EVERY_MS`]).
pub const GAUGE_POINTS_MAX: usize = 10_000;

/// A process's state machine: sans-I/O, driven by messages and timers.
pub trait Process<S: System> {
    /// A message arrived.
    fn on_message(&mut self, ctx: &mut Ctx<'_, S>, from: usize, msg: S::Msg);
    /// A timer fired.
    fn on_timer(&mut self, ctx: &mut Ctx<'_, S>, timer: S::Timer);
}
