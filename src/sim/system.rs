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

/// A message of a system under test. Example: the `Msg` of [`System`]'s example.
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
///
/// # Example
///
/// A whole system — a register server and its clients, judged for linearizability — with
/// its two traits, its processes' handlers ([`Process`]), its messages ([`Message`]) and
/// its operations ([`Request`](crate::systems::components::clients::Request)). A fuller
/// one, with a disk, a planted bug, a check of its own and a binary, is the crate
/// `examples/own-system` (`docs/testing-your-own-system.md`).
///
/// ```
/// use faultline::catalog::catalogue;
/// use faultline::check::linearizability::{Budget, ModelKind};
/// use faultline::check::{linearizability_outcome, CheckOutcome};
/// use faultline::history::{Func, Status, Value};
/// use faultline::knob::knob_section;
/// use faultline::plan::workload::ops_of;
/// use faultline::plan::{ClientOp, Draw, NodeSpec, Plan, Role, Spec};
/// use faultline::scenario::{Params, WorkloadParams};
/// use faultline::sim::{Ctx, Message, Process, SimOutput, System, View};
/// use faultline::systems::components::clients::{ClientCore, ClientTimer, Request};
/// use std::collections::BTreeMap;
///
/// knob_section! {
///     /// `[register]`: no settings.
///     RegisterSection => RegisterParams at "register" {}
/// }
/// catalogue! {
///     /// Planted bugs.
///     pub enum Bug {
///         /// the server forgets every write (a bug the check must catch)
///         Amnesia = "amnesia",
///     }
/// }
/// catalogue! {
///     /// Checks.
///     pub enum Check: checks {
///         /// the history is linearizable (register model)
///         Linearizability = "linearizability" (Safety),
///     }
/// }
/// catalogue! {
///     /// Workloads.
///     pub enum Workload {
///         /// reads and writes of one register
///         Rw = "rw",
///     }
/// }
///
/// /// An operation: write a value, or read.
/// #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
/// pub enum Op { Write(i64), Read }
///
/// impl Request for Op {
///     fn invoke<S: System>(&self, ctx: &mut Ctx<'_, S>) -> Vec<usize> {
///         let (f, input) = match self {
///             Op::Write(v) => (Func::Write, Value::Int(*v)),
///             Op::Read => (Func::Read, Value::Nil),
///         };
///         vec![ctx.invoke(f, None, input)]
///     }
/// }
///
/// #[derive(Debug, Clone)]
/// pub enum Msg { Ask(u64, Op), Answer(u64, Value) }
///
/// impl Message for Msg {
///     fn label(&self) -> &'static str {
///         match self { Msg::Ask(..) => "ask", Msg::Answer(..) => "answer" }
///     }
/// }
///
/// #[derive(Debug)]
/// pub enum Proc { Server(Value), Client(ClientCore<Op>) }
///
/// pub struct Register {
///     clients: BTreeMap<usize, Vec<ClientOp<Op>>>,
///     workload: WorkloadParams,
///     amnesia: bool,
/// }
///
/// impl Spec for Register {
///     const NAME: &'static str = "register";
///     type Section = RegisterSection;
///     type Params = RegisterParams;
///     type Op = Op;
///     type Bug = Bug;
///     type Check = Check;
///     type Workload = Workload;
///
///     fn topology(params: &Params, _: &RegisterParams, _: Workload) -> Vec<NodeSpec> {
///         let clients = NodeSpec::clients(params.topology.clients);
///         std::iter::once(NodeSpec::server("server")).chain(clients).collect()
///     }
///
///     fn operation(_: Workload, d: &mut Draw<'_>) -> Op {
///         if d.rng.unit() < d.params.read_probability { Op::Read } else { Op::Write(d.index as i64) }
///     }
/// }
///
/// impl System for Register {
///     const ABOUT: &'static str = "one register on one server";
///     type Msg = Msg;
///     type Timer = ClientTimer;
///     type Record = ();
///     type Proc = Proc;
///     type Final = ();
///     type Observation = ();
///
///     fn new(plan: &Plan<Self>) -> Self {
///         let clients = plan.head.nodes_with(Role::Client).into_iter().enumerate();
///         Register {
///             clients: clients.map(|(c, n)| (n, ops_of(&plan.workload, c))).collect(),
///             workload: plan.head.params.workload.clone(),
///             amnesia: plan.has_bug(Bug::Amnesia),
///         }
///     }
///
///     fn boot(&self, ctx: &mut Ctx<'_, Self>) -> Proc {
///         let Some(ops) = self.clients.get(&ctx.node()) else { return Proc::Server(Value::Nil) };
///         let mut core = ClientCore::new(ops.clone(), &self.workload);
///         core.start(ctx, |t| t);
///         Proc::Client(core)
///     }
///
///     fn settled(&self, view: &View<'_, Self>) -> bool {
///         view.procs.iter().flatten().all(|p| !matches!(p, Proc::Client(c) if !c.idle()))
///     }
///
///     fn finish(&self, _: &View<'_, Self>) {}
///
///     fn check(plan: &Plan<Self>, out: &SimOutput<(), ()>, _: Check, budget: &Budget) -> CheckOutcome {
///         let names = plan.head.names();
///         linearizability_outcome("linearizability", &out.history, ModelKind::Register, budget, &names)
///     }
/// }
///
/// impl Process<Register> for Proc {
///     fn on_message(&mut self, ctx: &mut Ctx<'_, Register>, from: usize, msg: Msg) {
///         match (self, msg) {
///             (Proc::Server(value), Msg::Ask(seq, op)) => {
///                 let answer = match op {
///                     Op::Write(v) if !ctx.system().amnesia => { *value = Value::Int(v); Value::Nil }
///                     Op::Write(_) => Value::Nil,
///                     Op::Read => value.clone(),
///                 };
///                 ctx.send(from, Msg::Answer(seq, answer));
///             }
///             (Proc::Client(core), Msg::Answer(seq, answer)) => {
///                 if let Some(done) = core.on_reply(ctx, seq, |t| t) {
///                     ctx.complete(done.history[0], Status::Ok, answer);
///                 }
///             }
///             (proc, msg) => panic!("{msg:?} reached {proc:?}"),
///         }
///     }
///
///     fn on_timer(&mut self, ctx: &mut Ctx<'_, Register>, timer: ClientTimer) {
///         if let Proc::Client(core) = self {
///             if let Some(out) = core.on_timer(ctx, timer, |t| t) {
///                 ctx.send(0, Msg::Ask(out.seq, out.op));
///             }
///         }
///     }
/// }
///
/// // Its plug-in, for `faultline::cli::main_with(&[&REGISTER])`.
/// static REGISTER: faultline::systems::Plugin<Register> = faultline::systems::Plugin::NEW;
/// # let _ = &REGISTER;
/// ```
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

/// A process's state machine: sans-I/O, driven by messages and timers. Example: the
/// `Proc` of [`System`]'s example.
pub trait Process<S: System> {
    /// A message arrived.
    fn on_message(&mut self, ctx: &mut Ctx<'_, S>, from: usize, msg: S::Msg);
    /// A timer fired.
    fn on_timer(&mut self, ctx: &mut Ctx<'_, S>, timer: S::Timer);
}
