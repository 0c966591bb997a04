//! The driver: runs one process's state machine as a madsim task.
//!
//! Each process is a madsim node whose one task loops: sleep until the earliest event in
//! its queue is due (or until a sender queues an earlier one and wakes it), then hand
//! every due event to the state machine, one handler at a time, each under
//! `catch_unwind` — a panic is an invariant failure of the system under test, recorded as
//! a finding that stops the world, never a crash of faultline.
//!
//! Because the process is a madsim node, madsim's `kill` drops this task (the process's
//! memory), `pause` stops it from being polled, and `restart` runs the node's init
//! closure again, which boots a fresh state machine that recovers from its disk.

use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use madsim::time::{Sleep, TimeHandle};

use super::trace::{Event, TraceLevel};
use super::world::{Ctx, Pending, World};
use super::{panic_text, Process, System, GAUGE_EVERY_MS, GAUGE_POINTS_MAX};

/// Bound on the events one wake-up handles before the driver yields to the scheduler.
const EVENTS_PER_WAKE_MAX: usize = 10_000;
/// Bound on a driver's wake-ups; far beyond any run's length.
const WAKES_MAX: u64 = 1 << 40;

/// What a run's tasks share.
pub(crate) struct Shared<S: System> {
    pub system: S,
    pub world: Mutex<World<S>>,
    pub time: TimeHandle,
}

impl<S: System> Shared<S> {
    pub fn lock(&self) -> MutexGuard<'_, World<S>> {
        // A poisoned lock means a harness panic already failed this seed; keep going so
        // the panic is what gets reported.
        self.world.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn now_ns(&self) -> u64 {
        self.time.elapsed().as_nanos() as u64
    }
}

/// The main task of process `node`.
pub(crate) async fn run_node<S: System>(shared: Arc<Shared<S>>, node: usize) {
    boot(&shared, node);
    for _ in 0..WAKES_MAX {
        WaitDue::new(&shared, node, None).await;
        if shared.lock().core.halted {
            return;
        }
        run_due(&shared, node);
    }
}

fn boot<S: System>(shared: &Shared<S>, node: usize) {
    let now_ns = shared.now_ns();
    let mut world = shared.lock();
    let World { procs, core } = &mut *world;
    if core.halted {
        return;
    }
    core.incarnation[node] += 1;
    let incarnation = core.incarnation[node];
    core.trace.push(now_ns, Event::Boot { node, incarnation });
    core.handling = None;
    let mut ctx = Ctx {
        system: &shared.system,
        core: &mut *core,
        node,
        now_ns,
    };
    match catch_unwind(AssertUnwindSafe(|| shared.system.boot(&mut ctx))) {
        Ok(proc) => procs[node] = Some(proc),
        Err(payload) => core.record_panic(node, now_ns, panic_text(payload)),
    }
    // Recovery from a long log can be the biggest allocation of a process.
    core.enforce_envelope(node, now_ns);
}

/// Handle every event of `node` that is due now.
fn run_due<S: System>(shared: &Shared<S>, node: usize) {
    let now_ns = shared.now_ns();
    let mut world = shared.lock();
    sample_gauges(shared, &mut world, now_ns);
    let World { procs, core } = &mut *world;
    for _ in 0..EVENTS_PER_WAKE_MAX {
        if core.halted {
            return;
        }
        let Some(pending) = core.take_due(node, now_ns) else {
            return;
        };
        let Some(proc) = procs[node].as_mut() else {
            // Not booted (or crashed): nothing can run; the queue was purged at the crash.
            return;
        };
        let mut ctx = Ctx {
            system: &shared.system,
            core: &mut *core,
            node,
            now_ns,
        };
        let Some(outcome) = handle(&mut ctx, proc, pending) else {
            continue;
        };
        if let Err(payload) = outcome {
            core.record_panic(node, now_ns, panic_text(payload));
        }
        core.usage.handler_calls += 1;
        core.enforce_envelope(node, now_ns);
    }
}

/// With a full trace, record the system's gauges ([`System::gauges`]) once per
/// [`GAUGE_EVERY_MS`] of simulated time, before the handlers due now run. Sampling only
/// reads the state, at a handler boundary, so the run is the same with or without it.
fn sample_gauges<S: System>(shared: &Shared<S>, world: &mut World<S>, now_ns: u64) {
    if world.core.trace.level() != TraceLevel::Full || now_ns < world.core.next_gauge_ns {
        return;
    }
    world.core.next_gauge_ns = now_ns + GAUGE_EVERY_MS * super::world::NS_PER_MS;
    let mut values = Vec::new();
    let view = world.view(now_ns);
    let sampled = catch_unwind(AssertUnwindSafe(|| {
        shared.system.gauges(&view, &mut values)
    }));
    if sampled.is_err() {
        // A gauge is a report figure: one that cannot be read is left out, not a finding.
        return;
    }
    for (name, value) in values {
        let points = world.core.series.entry(name).or_default();
        if points.len() < GAUGE_POINTS_MAX {
            points.push((now_ns, value));
        }
    }
}

/// Hand one due event to the process's handler, under `catch_unwind`. `None` when no
/// handler runs: a message cut off by a partition that began while it was in flight, or
/// a timer that was reset or cancelled.
fn handle<S: System>(
    ctx: &mut Ctx<'_, S>,
    proc: &mut S::Proc,
    pending: Pending<S>,
) -> Option<std::thread::Result<()>> {
    let (node, now_ns) = (ctx.node, ctx.now_ns);
    match pending {
        Pending::Msg {
            id,
            from,
            msg,
            copy,
        } => {
            if ctx.core.net.is_cut(from, node) {
                let reason = crate::net::DropReason::Partition;
                ctx.core.trace.push(now_ns, Event::Drop { id, reason });
                ctx.core.net.count_arrival(from, node, Err(reason));
                return None;
            }
            ctx.core.trace.push(now_ns, Event::Deliver { id, to: node });
            ctx.core.handling = Some(super::trace::Cause::Msg(id));
            ctx.core.net.count_arrival(from, node, Ok(()));
            if copy {
                ctx.probe("duplicate_delivered");
            }
            Some(catch_unwind(AssertUnwindSafe(|| {
                proc.on_message(ctx, from, msg)
            })))
        }
        Pending::Timer { key, generation } => {
            if !ctx.timer_is_current(key, generation) {
                return None;
            }
            ctx.core.handling = None;
            Some(catch_unwind(AssertUnwindSafe(|| proc.on_timer(ctx, key))))
        }
    }
}

/// Resolves when the next event of a process (or the supervisor's deadline) is due, or
/// the world halts.
pub(crate) struct WaitDue<'a, S: System> {
    shared: &'a Shared<S>,
    slot: usize,
    /// The supervisor's fixed deadline; processes use their queue instead.
    deadline: Option<u64>,
    /// The deadline the current madsim timer is set for. A madsim `Sleep` registers a new
    /// timer every time it is polled, so it is polled once per deadline, not per wake.
    armed: Option<u64>,
    sleep: Option<Pin<Box<Sleep>>>,
}

impl<'a, S: System> WaitDue<'a, S> {
    pub fn new(shared: &'a Shared<S>, slot: usize, deadline: Option<u64>) -> Self {
        WaitDue {
            shared,
            slot,
            deadline,
            armed: None,
            sleep: None,
        }
    }
}

impl<S: System> Future for WaitDue<'_, S> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let now_ns = self.shared.now_ns();
        let due = {
            let mut world = self.shared.lock();
            let core = &mut world.core;
            let due = match self.deadline {
                Some(t) => Some(t),
                None => core.next_due(self.slot),
            };
            if core.halted || due.is_some_and(|t| t <= now_ns) {
                core.wakers[self.slot] = None;
                return Poll::Ready(());
            }
            core.wakers[self.slot] = Some((cx.waker().clone(), due.unwrap_or(u64::MAX)));
            due
        };
        if let Some(t) = due {
            if self.armed != Some(t) {
                let mut sleep = Box::pin(self.shared.time.sleep(Duration::from_nanos(t - now_ns)));
                if sleep.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(());
                }
                self.sleep = Some(sleep);
                self.armed = Some(t);
            }
        }
        Poll::Pending
    }
}
