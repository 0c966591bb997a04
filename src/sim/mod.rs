//! Plan → trace: run one seed in a fresh madsim runtime.
//!
//! [`simulate`] builds a madsim [`madsim::runtime::Runtime`] seeded from the
//! plan, creates one madsim node per process (each driving a state machine of the system
//! under test, see `driver`), and runs the supervisor as the main task:
//!
//! 1. **chaos** — the workload runs and the fault schedule is applied at its planned
//!    times (partitions, crashes and restarts, pauses, clogs), while the network draws
//!    loss, duplication and reordering per message;
//! 2. **heal** — at the end of chaos every fault is undone (links restored, crashed
//!    processes restarted, paused ones resumed, loss/duplication/reordering off) and the
//!    workload stops; the supervisor then polls [`System::settled`] until the system
//!    reports it has converged or `heal_ms` runs out.
//!
//! The result is plain data ([`SimOutput`]): the trace, the client history and the
//! system's final observations, which the checkers judge after the runtime is gone.
//!
//! Determinism: the caller must run each seed on a freshly spawned thread (std's
//! `RandomState` keys are per thread, and madsim makes them deterministic only for the
//! thread that builds the runtime). Inside, the only randomness is madsim's scheduler
//! (seeded from the plan) and faultline's named sub-streams.

mod aimer;
mod driver;
mod envelope;
mod system;
pub mod trace;
mod world;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, Once};

use madsim::runtime::{Handle, Runtime};
use madsim::time::TimeHandle;

use madsim::task::NodeId;

use crate::guard::MemoryWindow;
use crate::history::History;
use crate::net::LinkStats;
use crate::plan::{FaultAction, Plan};
use driver::{run_node, Shared, WaitDue};
pub use envelope::{Limit, LimitHit, Limits};
pub use system::{
    linearizable_history, replay_only, Message, Process, System, GAUGE_EVERY_MS, GAUGE_POINTS_MAX,
};
pub use trace::{Cause, DiskWrite, Event, Phase, StableHasher, Trace, TraceEvent, TraceLevel};
use world::NS_PER_MS;
pub use world::{Core, Ctx, DiskCtx, NodePanic, NodeStatus, Observed, View, World};

/// What one simulated run produced.
#[derive(Debug)]
pub struct SimOutput<F, O> {
    /// Everything that happened.
    pub trace: Trace,
    /// What the clients saw.
    pub history: History,
    /// The system's final observations (`None` if a panic stopped the world).
    pub finals: Option<F>,
    /// The first panic inside a process, if any.
    pub panic: Option<NodePanic>,
    /// Coverage probes reached, with counts.
    pub probes: BTreeMap<&'static str, u64>,
    /// When each probe was first reached (ns).
    pub probes_first_ns: BTreeMap<&'static str, u64>,
    /// The system's gauges over time: name → (ns, value) (full traces only).
    pub series: BTreeMap<&'static str, Vec<(u64, f64)>>,
    /// Network counters per directed link.
    pub links: BTreeMap<(usize, usize), LinkStats>,
    /// Verification records, in the order they were made.
    pub observations: Vec<Observed<O>>,
    /// Whether the system settled before the heal bound.
    pub settled: bool,
    /// Simulated time at the end (ns).
    pub end_ns: u64,
    /// The limit of the resource envelope that stopped the run, if one did.
    pub limit: Option<LimitHit>,
    /// Whether a stop request (Ctrl-C, SIGTERM) cut the run short.
    pub interrupted: bool,
    /// Handler calls made (messages delivered, timers fired).
    pub handler_calls: u64,
    /// The most memory the seed's thread held at once during the run (bytes, trace
    /// payload text excluded at the end).
    pub memory_peak_bytes: u64,
}

/// Coverage probes the kernel itself counts (a system adds its own, [`Ctx::probe`]).
pub const PROBES: &[&str] = &["duplicate_delivered"];

/// How often the supervisor asks whether the system has settled (ms).
const SETTLE_POLL_MS: u64 = 20;

/// Run `plan` to completion on the current thread (which must be a fresh thread per
/// seed) within the envelope its scenario sets, and return what happened.
pub fn simulate<S: System>(
    plan: &Plan<S>,
    level: TraceLevel,
) -> SimOutput<S::Final, S::Observation> {
    simulate_with::<S>(plan, level, Limits::of(&plan.head.params.limits))
}

/// [`simulate`] with explicit bounds.
pub fn simulate_with<S: System>(
    plan: &Plan<S>,
    level: TraceLevel,
    limits: Limits,
) -> SimOutput<S::Final, S::Observation> {
    install_panic_hook();
    // Everything the run allocates counts, from the runtime and the copy of the plan on.
    let memory = MemoryWindow::open();
    let runtime = Runtime::with_seed_and_config(plan.head.madsim_seed, madsim::Config::default());
    runtime.block_on(supervise::<S>(plan.clone(), level, limits, memory))
}

/// The supervisor: the main task of a run, one phase after another.
async fn supervise<S: System>(
    plan: Plan<S>,
    level: TraceLevel,
    limits: Limits,
    memory: MemoryWindow,
) -> SimOutput<S::Final, S::Observation> {
    let shared = Arc::new(Shared {
        system: S::new(&plan),
        world: Mutex::new(World::new(&plan.head, level, limits, memory)),
        time: TimeHandle::current(),
    });
    let n = plan.head.nodes.len();
    shared.lock().core.trace.push(
        0,
        Event::Phase {
            phase: Phase::Chaos,
        },
    );
    let ids = start_nodes(&shared, &plan);
    let chaos_end_ns = plan.head.params.phases.chaos_ms * NS_PER_MS;
    let schedule = async {
        chaos(&shared, &plan, &ids).await;
        WaitDue::new(&shared, n, Some(chaos_end_ns)).await;
    };
    if plan.head.aims.is_empty() {
        schedule.await;
    } else {
        // The aimer strikes as events happen, beside the schedule, until chaos ends.
        let aimer = aimer::aimer(&shared, &plan, &ids);
        let (schedule, aimer) = (std::pin::pin!(schedule), std::pin::pin!(aimer));
        futures_util::future::select(schedule, aimer).await;
    }
    heal(&shared, &ids);
    let settled = settle(&shared, &plan, chaos_end_ns).await;
    finish(&shared, level, settled)
}

/// One madsim node per process, each running its driver.
fn start_nodes<S: System>(shared: &Arc<Shared<S>>, plan: &Plan<S>) -> Vec<NodeId> {
    let handle = Handle::current();
    (0..plan.head.nodes.len())
        .map(|i| {
            let for_init = shared.clone();
            handle
                .create_node()
                .name(plan.head.nodes[i].name.clone())
                .init(move || run_node(for_init.clone(), i))
                .build()
                .id()
        })
        .collect()
}

/// Chaos: apply the planned faults, in order, at their times.
async fn chaos<S: System>(shared: &Shared<S>, plan: &Plan<S>, ids: &[NodeId]) {
    let n = ids.len();
    let mut partitions: BTreeMap<u32, Vec<(usize, usize)>> = BTreeMap::new();
    for timed in &plan.head.faults {
        WaitDue::new(shared, n, Some(timed.at_ms.saturating_mul(NS_PER_MS))).await;
        let now_ns = shared.now_ns();
        let mut world = shared.lock();
        if world.core.halted {
            break;
        }
        if !world.core.applies(&timed.action) {
            // An aimed fault got there first (a crash of a process already down, a restart
            // of one already up): the schedule's action is moot.
            continue;
        }
        world.core.trace.push(
            now_ns,
            Event::Fault {
                fault: timed.action.clone(),
            },
        );
        let restart = apply_fault(
            shared,
            &mut world,
            &timed.action,
            ids,
            &mut partitions,
            now_ns,
        );
        // The restarted node boots at once and takes the world's lock: release it first.
        drop(world);
        if let Some(id) = restart {
            Handle::current().restart(id);
        }
    }
}

/// Carry out one fault action; a restart is returned for the caller to make once the
/// world is unlocked.
fn apply_fault<S: System>(
    shared: &Shared<S>,
    world: &mut World<S>,
    action: &FaultAction,
    ids: &[NodeId],
    partitions: &mut BTreeMap<u32, Vec<(usize, usize)>>,
    now_ns: u64,
) -> Option<NodeId> {
    let handle = Handle::current();
    match action {
        FaultAction::Partition { id, blocked, .. } => {
            world.core.net.cut(blocked);
            partitions.insert(*id, blocked.clone());
        }
        FaultAction::Heal { id } => {
            if let Some(blocked) = partitions.remove(id) {
                world.core.net.restore(&blocked);
            }
        }
        FaultAction::Crash { node } => {
            handle.kill(ids[*node]);
            if let Some(proc) = world.procs[*node].take() {
                let mut probes = Vec::new();
                shared.system.crash_probes(&proc, &mut probes);
                for probe in probes {
                    world.core.reach(probe, now_ns);
                }
            }
            world.core.crash(*node, now_ns);
        }
        FaultAction::Restart { node } => {
            world.core.prepare_restart(*node, now_ns);
            return Some(ids[*node]);
        }
        FaultAction::Pause { node } => {
            world.core.status[*node] = NodeStatus::Paused;
            handle.pause(ids[*node]);
        }
        FaultAction::Resume { node } => {
            world.core.status[*node] = NodeStatus::Up;
            handle.resume(ids[*node]);
        }
        FaultAction::Clog { from, to, until_ms } => {
            world
                .core
                .net
                .clog(*from, *to, until_ms.saturating_mul(NS_PER_MS));
        }
        FaultAction::Unclog { from, to } => world.core.net.unclog(*from, *to),
    }
    None
}

/// Heal: undo whatever is still in effect, stop the faulty network rules.
fn heal<S: System>(shared: &Shared<S>, ids: &[NodeId]) {
    let handle = Handle::current();
    let now_ns = shared.now_ns();
    let mut world = shared.lock();
    if world.core.halted {
        return;
    }
    world.core.phase = Phase::Heal;
    world
        .core
        .trace
        .push(now_ns, Event::Phase { phase: Phase::Heal });
    world.core.net.restore_all();
    world.core.net.set_faulty(false);
    let mut restarts = Vec::new();
    for (node, &id) in ids.iter().enumerate() {
        match world.core.status[node] {
            NodeStatus::Up => {}
            NodeStatus::Paused => {
                world.core.status[node] = NodeStatus::Up;
                handle.resume(id);
            }
            NodeStatus::Down => {
                world.core.prepare_restart(node, now_ns);
                restarts.push(node);
            }
        }
    }
    drop(world);
    for node in restarts {
        handle.restart(ids[node]);
    }
}

/// Poll [`System::settled`] until it holds or the heal phase runs out.
async fn settle<S: System>(shared: &Shared<S>, plan: &Plan<S>, chaos_end_ns: u64) -> bool {
    let n = plan.head.nodes.len();
    let heal_ms = plan.head.params.phases.heal_ms;
    let heal_end_ns = chaos_end_ns + heal_ms * NS_PER_MS;
    let polls_max = heal_ms / SETTLE_POLL_MS + 2;
    for _ in 0..polls_max {
        let now_ns = shared.now_ns();
        {
            let mut world = shared.lock();
            if world.core.halted {
                return false;
            }
            let view = world.view(now_ns);
            match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                shared.system.settled(&view)
            })) {
                Ok(true) => return true,
                Ok(false) => {}
                Err(payload) => {
                    world.core.record_panic(0, now_ns, panic_text(payload));
                    return false;
                }
            }
        }
        if now_ns >= heal_end_ns {
            break;
        }
        let next = (now_ns + SETTLE_POLL_MS * NS_PER_MS).min(heal_end_ns);
        WaitDue::new(shared, n, Some(next)).await;
    }
    false
}

/// End: stop everything and take the observations.
fn finish<S: System>(
    shared: &Shared<S>,
    level: TraceLevel,
    settled: bool,
) -> SimOutput<S::Final, S::Observation> {
    let now_ns = shared.now_ns();
    let mut world = shared.lock();
    world.core.trace.push(now_ns, Event::End { settled });
    let stopped = world.core.limit.is_some() || world.core.interrupted;
    let finals = if world.core.panic.is_none() && !stopped {
        let view = world.view(now_ns);
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| shared.system.finish(&view)))
        {
            Ok(finals) => Some(finals),
            Err(payload) => {
                world.core.record_panic(0, now_ns, panic_text(payload));
                None
            }
        }
    } else {
        None
    };
    world.core.halt();
    let core = &mut world.core;
    let memory_peak_bytes = core.usage.limits.memory_held_bytes
        + core
            .usage
            .memory
            .peak_bytes()
            .saturating_sub(core.trace.payload_bytes());
    SimOutput {
        trace: std::mem::replace(&mut core.trace, Trace::new(level)),
        history: History {
            ops: std::mem::take(&mut core.history),
        },
        finals,
        panic: core.panic.clone(),
        probes: std::mem::take(&mut core.probes),
        probes_first_ns: std::mem::take(&mut core.probes_first_ns),
        series: std::mem::take(&mut core.series),
        links: core.net.links().clone(),
        observations: std::mem::take(&mut core.observations),
        settled,
        end_ns: now_ns,
        limit: core.limit.clone(),
        interrupted: core.interrupted,
        handler_calls: core.usage.handler_calls,
        memory_peak_bytes,
    }
}

/// Name prefix of the threads that run seeds; the panic hook stays quiet on them.
pub const SEED_THREAD_PREFIX: &str = "faultline-seed";

thread_local! {
    static LAST_PANIC_LOCATION: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Install (once per process) a panic hook that keeps panics on seed threads off the
/// terminal — they are findings, reported in the summary — and remembers their location.
pub fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let on_seed_thread = std::thread::current()
                .name()
                .is_some_and(|n| n.starts_with(SEED_THREAD_PREFIX));
            if on_seed_thread {
                let location = info
                    .location()
                    .map(|l| format!("{}:{}", l.file(), l.line()));
                LAST_PANIC_LOCATION.with(|slot| *slot.borrow_mut() = location);
            } else {
                previous(info);
            }
        }));
    });
}

/// A panic payload as text, with its location when the hook saw it.
pub fn panic_text(payload: Box<dyn std::any::Any + Send>) -> String {
    let message = if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-text payload".to_string()
    };
    match LAST_PANIC_LOCATION.with(|slot| slot.borrow_mut().take()) {
        Some(location) => format!("{message} (at {location})"),
        None => message,
    }
}
