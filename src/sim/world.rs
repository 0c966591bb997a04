//! The world of one run, and the context a process sees.
//!
//! [`World`] holds every process's state machine and the [`Core`]: per-process event
//! queues (arrived messages and timers, in time order), the network, the disks, the
//! random streams, the trace and the client history. A handler gets a [`Ctx`] — its
//! window on the core — and everything it does (send, set a timer, write and fsync, record
//! a client operation) goes through it, so every effect is recorded and deterministic.

use std::collections::BTreeMap;
use std::task::Waker;

use serde::Serialize;

use super::envelope::{LimitHit, Limits, Usage};
use super::trace::{Cause, Event, Phase, Trace, TraceLevel};
use super::{Message, System};
use crate::disk::{CrashModel, Disk, Slot};
use crate::guard::MemoryWindow;
use crate::history::{Func, Operation, Status, Value};
use crate::net::{DropReason, HoldReason, Net, Route};
use crate::plan::{Aim, FaultAction, FaultPoint, Head, Site};
use crate::rng::{streams, SubStream};

pub(crate) const NS_PER_MS: u64 = 1_000_000;

/// Whether a process is running.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeStatus {
    /// Running.
    Up,
    /// Crashed, waiting for its restart.
    Down,
    /// Paused: keeps its memory, runs nothing.
    Paused,
}

/// A panic inside a process: an invariant of the system under test failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodePanic {
    /// Process index.
    pub node: usize,
    /// Process name.
    pub name: String,
    /// When (ns).
    pub t_ns: u64,
    /// Panic message and location.
    pub message: String,
}

/// A verification record with when and where it was made.
#[derive(Debug, Clone)]
pub struct Observed<O> {
    /// When (ns).
    pub t_ns: u64,
    /// Which process.
    pub node: usize,
    /// What.
    pub obs: O,
}

/// Something waiting in a process's queue.
pub(crate) enum Pending<S: System> {
    Msg {
        id: u64,
        from: usize,
        msg: S::Msg,
        copy: bool,
    },
    Timer {
        key: S::Timer,
        generation: u64,
    },
}

/// The shared state of a run, apart from the process state machines.
pub struct Core<S: System> {
    pub(crate) names: Vec<String>,
    skew_ns: Vec<i64>,
    /// The plan's fault points ([`crate::plan::points`]).
    points: Vec<FaultPoint>,
    /// The plan's aimed faults, whether each has fired, the ones that fired and wait for
    /// the supervisor (aim index, process), and the supervisor's waker ([`super::aimer`]).
    pub(crate) aims: Vec<Aim>,
    aims_fired: Vec<bool>,
    pub(crate) aim_hits: Vec<(usize, usize)>,
    pub(crate) aim_waker: Option<Waker>,
    pub(crate) queues: Vec<BTreeMap<(u64, u64), Pending<S>>>,
    timer_generation: Vec<BTreeMap<S::Timer, u64>>,
    /// One slot per process plus one for the supervisor: who to wake, and when it
    /// planned to wake up anyway.
    pub(crate) wakers: Vec<Option<(Waker, u64)>>,
    seq: u64,
    pub(crate) status: Vec<NodeStatus>,
    pub(crate) incarnation: Vec<u32>,
    pub(crate) net: Net,
    pub(crate) disks: Vec<Disk<S::Record>>,
    disk_model: CrashModel,
    disk_rng: SubStream,
    rngs: Vec<SubStream>,
    /// A branched run's switch to its own streams: when (ns) and the number they derive
    /// from ([`crate::plan::branch`]); `None` once switched, and for every other run.
    fork: Option<(u64, u64)>,
    pub(crate) trace: Trace,
    pub(crate) history: Vec<Operation>,
    pub(crate) probes: BTreeMap<&'static str, u64>,
    /// When each probe was first reached (ns): where a branch of this run would start.
    pub(crate) probes_first_ns: BTreeMap<&'static str, u64>,
    /// The system's gauges over time, with a full trace ([`System::gauges`]).
    pub(crate) series: BTreeMap<&'static str, Vec<(u64, f64)>>,
    pub(crate) next_gauge_ns: u64,
    /// What the handler running now is handling (for the trace's causality notes).
    pub(crate) handling: Option<Cause>,
    pub(crate) observations: Vec<Observed<S::Observation>>,
    pub(crate) panic: Option<NodePanic>,
    pub(crate) halted: bool,
    pub(crate) phase: Phase,
    next_msg_id: u64,
    /// What the run has used of its envelope so far.
    pub(crate) usage: Usage,
    /// The limit that stopped the run, if one did.
    pub(crate) limit: Option<LimitHit>,
    /// Whether a stop request (Ctrl-C, SIGTERM) cut the run short.
    pub(crate) interrupted: bool,
}

/// Process state machines plus the core.
pub struct World<S: System> {
    /// The state machine of each process; `None` while it is crashed.
    pub procs: Vec<Option<S::Proc>>,
    /// Everything else.
    pub core: Core<S>,
}

impl<S: System> World<S> {
    pub(crate) fn new(
        plan: &Head,
        level: TraceLevel,
        limits: Limits,
        memory: MemoryWindow,
    ) -> Self {
        let n = plan.nodes.len();
        let disk = &plan.params.faults.disk;
        World {
            procs: (0..n).map(|_| None).collect(),
            core: Core {
                names: plan.nodes.iter().map(|n| n.name.clone()).collect(),
                skew_ns: plan
                    .clock_skew_ms
                    .iter()
                    .map(|ms| ms * NS_PER_MS as i64)
                    .collect(),
                points: plan.fault_points.clone(),
                aims: plan.aims.clone(),
                aims_fired: vec![false; plan.aims.len()],
                aim_hits: Vec::new(),
                aim_waker: None,
                queues: (0..n).map(|_| BTreeMap::new()).collect(),
                timer_generation: (0..n).map(|_| BTreeMap::new()).collect(),
                wakers: (0..=n).map(|_| None).collect(),
                seq: 0,
                status: vec![NodeStatus::Up; n],
                incarnation: vec![0; n],
                net: Net::new(
                    plan.params.network.clone(),
                    SubStream::new(plan.prefix_seed(), streams::NETWORK),
                ),
                disks: (0..n).map(|_| Disk::new()).collect(),
                disk_model: CrashModel {
                    unsynced_survive_probability: disk.unsynced_survive_probability,
                    torn_write_probability: disk.torn_write_probability,
                },
                disk_rng: SubStream::new(plan.prefix_seed(), streams::DISK),
                rngs: node_streams(plan.prefix_seed(), n),
                fork: (plan.branch_ms).map(|ms| (ms.saturating_mul(NS_PER_MS), plan.seed)),
                trace: Trace::new(level),
                history: Vec::new(),
                probes: BTreeMap::new(),
                probes_first_ns: BTreeMap::new(),
                series: BTreeMap::new(),
                next_gauge_ns: 0,
                handling: None,
                observations: Vec::new(),
                panic: None,
                halted: false,
                phase: Phase::Chaos,
                next_msg_id: 0,
                usage: Usage::new(limits, memory),
                limit: None,
                interrupted: false,
            },
        }
    }
}

/// Each process's private stream (`node/<i>`) of `seed`.
fn node_streams(seed: u64, n: usize) -> Vec<SubStream> {
    (0..n)
        .map(|i| SubStream::indexed(seed, streams::NODE, i))
        .collect()
}

impl<S: System> Core<S> {
    /// A branched run past its branch time draws from its own streams from now on: the
    /// network's, the disks' and every process's. Called before each draw, so everything
    /// before the branch time draws exactly what the parent drew.
    fn fork_if_due(&mut self, now_ns: u64) {
        let Some((at_ns, seed)) = self.fork else {
            return;
        };
        if now_ns >= at_ns {
            self.fork = None;
            self.net.set_rng(SubStream::new(seed, streams::NETWORK));
            self.disk_rng = SubStream::new(seed, streams::DISK);
            self.rngs = node_streams(seed, self.rngs.len());
        }
    }

    /// Count a coverage probe reached at `now_ns`.
    pub(crate) fn reach(&mut self, name: &'static str, now_ns: u64) {
        *self.probes.entry(name).or_insert(0) += 1;
        self.probes_first_ns.entry(name).or_insert(now_ns);
    }

    /// Number of processes.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether there are no processes.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// When the next queued event of `node` is due.
    pub(crate) fn next_due(&self, node: usize) -> Option<u64> {
        self.queues[node].keys().next().map(|&(t, _)| t)
    }

    fn enqueue(&mut self, node: usize, at_ns: u64, pending: Pending<S>) {
        self.seq += 1;
        if matches!(pending, Pending::Msg { .. }) {
            self.usage.messages_in_flight += 1;
        }
        self.queues[node].insert((at_ns, self.seq), pending);
        if let Some((waker, planned)) = &self.wakers[node] {
            if at_ns < *planned {
                waker.wake_by_ref();
            }
        }
    }

    /// A fault point holding this kind of message from `from`: it leaves when the point's
    /// window ends, with its latency then (shown as held on a clogged link). A duplicate
    /// copy keeps its own time: the held original then arrives late and stale.
    fn hold_at_point(&self, from: usize, label: &str, now_ns: u64, route: &mut Route) {
        let Route::InFlight {
            arrive_ns, held, ..
        } = route
        else {
            return;
        };
        let until_ms = (self.points.iter())
            .filter(|p| matches!(&p.site, Site::Hold { label: l } if l == label))
            .filter(|p| p.active(from, now_ns))
            .map(|p| p.until_ms)
            .max();
        if let Some(until_ms) = until_ms {
            *arrive_ns = until_ms.saturating_mul(NS_PER_MS) + (*arrive_ns - now_ns);
            *held = Some(HoldReason::Clog);
        }
    }

    fn send(&mut self, from: usize, to: usize, msg: S::Msg, now_ns: u64) {
        self.next_msg_id += 1;
        let id = self.next_msg_id;
        let label = msg.label();
        self.fork_if_due(now_ns);
        let mut route = self.net.route(from, to, now_ns);
        self.hold_at_point(from, label, now_ns, &mut route);
        let (arrive_ns, held) = match route {
            Route::Dropped(_) => (now_ns, None),
            Route::InFlight {
                arrive_ns, held, ..
            } => (arrive_ns, held),
        };
        if let Some(cause) = self.handling {
            self.trace.note_cause(id, cause);
        }
        self.trace.push_send(
            now_ns,
            Event::Send {
                id,
                from,
                to,
                label,
                arrive_ns,
                held,
            },
            || msg.describe(),
        );
        match route {
            Route::Dropped(reason) => self.trace.push(now_ns, Event::Drop { id, reason }),
            Route::InFlight {
                duplicate_ns,
                replay_ns,
                ..
            } => {
                // A duplicate and a replayed (stale) copy travel alike: a copy of the
                // message with its own id and arrival.
                for copy_ns in [duplicate_ns, replay_ns].into_iter().flatten() {
                    self.send_copy((id, from, to), &msg, copy_ns, now_ns);
                }
                self.enqueue(
                    to,
                    arrive_ns,
                    Pending::Msg {
                        id,
                        from,
                        msg,
                        copy: false,
                    },
                );
            }
        }
    }

    /// A copy of message `id` from `from` to `to`, arriving at `copy_ns`.
    fn send_copy(
        &mut self,
        (id, from, to): (u64, usize, usize),
        msg: &S::Msg,
        copy_ns: u64,
        now_ns: u64,
    ) {
        self.next_msg_id += 1;
        let copy = self.next_msg_id;
        self.trace.push(
            now_ns,
            Event::Duplicate {
                id,
                copy,
                arrive_ns: copy_ns,
            },
        );
        let copy_msg = Pending::Msg {
            id: copy,
            from,
            msg: msg.clone(),
            copy: true,
        };
        self.enqueue(to, copy_ns, copy_msg);
    }

    /// Drop queued messages of `node` that arrived by `now_ns` (it was down), and, when
    /// `timers` is set, every timer.
    fn purge(&mut self, node: usize, now_ns: u64, timers: bool) {
        let queue = std::mem::take(&mut self.queues[node]);
        for ((t, seq), pending) in queue {
            match pending {
                Pending::Msg { id, from, .. } if t <= now_ns => {
                    self.usage.messages_in_flight -= 1;
                    self.trace.push(
                        now_ns,
                        Event::Drop {
                            id,
                            reason: DropReason::NodeDown,
                        },
                    );
                    self.net
                        .count_arrival(from, node, Err(DropReason::NodeDown));
                }
                Pending::Timer { .. } if timers => {}
                kept => {
                    self.queues[node].insert((t, seq), kept);
                }
            }
        }
    }

    /// The crash of `node`: its memory is gone (the caller drops the state machine), its
    /// queued messages and timers are lost, and its disk loses unsynced writes.
    pub(crate) fn crash(&mut self, node: usize, now_ns: u64) {
        self.status[node] = NodeStatus::Down;
        self.wakers[node] = None;
        self.timer_generation[node].clear();
        self.purge(node, now_ns, true);
        self.fork_if_due(now_ns);
        for loss in self.disks[node].crash(self.disk_model, &mut self.disk_rng) {
            self.trace.push(
                now_ns,
                Event::DiskLoss {
                    node,
                    file: loss.file,
                    lost: loss.lost,
                    kept: loss.kept,
                    torn: loss.torn,
                },
            );
        }
    }

    /// Whether a scheduled fault action still applies: a crash of a process that is not
    /// down, a pause of one that is up, a restart of one that is down, a resume of one that is paused.
    pub(crate) fn applies(&self, action: &FaultAction) -> bool {
        match *action {
            FaultAction::Crash { node } => self.status[node] != NodeStatus::Down,
            FaultAction::Pause { node } => self.status[node] == NodeStatus::Up,
            FaultAction::Restart { node } => self.status[node] == NodeStatus::Down,
            FaultAction::Resume { node } => self.status[node] == NodeStatus::Paused,
            _ => true,
        }
    }

    /// An event was reached: the first armed aim at it fires on `node` (once), and the
    /// supervisor carries it out as soon as this handler returns.
    fn aim_at(&mut self, name: &str, node: usize, now_ns: u64) {
        let hit = (self.aims.iter().enumerate())
            .find(|&(i, a)| !self.aims_fired[i] && a.probe == name && a.armed(now_ns));
        if let Some((i, _)) = hit {
            self.aims_fired[i] = true;
            self.aim_hits.push((i, node));
            if let Some(waker) = self.aim_waker.take() {
                waker.wake();
            }
        }
    }

    /// Before a restart: messages that arrived while `node` was down are lost.
    pub(crate) fn prepare_restart(&mut self, node: usize, now_ns: u64) {
        self.purge(node, now_ns, true);
        self.status[node] = NodeStatus::Up;
    }

    /// Record a panic and stop the world.
    pub(crate) fn record_panic(&mut self, node: usize, now_ns: u64, message: String) {
        self.trace.push(
            now_ns,
            Event::Panic {
                node,
                message: message.clone(),
            },
        );
        if self.panic.is_none() {
            self.panic = Some(NodePanic {
                node,
                name: self.names[node].clone(),
                t_ns: now_ns,
                message,
            });
        }
        self.halt();
    }

    /// Take the next event of `node` if it is due by `now_ns`.
    pub(crate) fn take_due(&mut self, node: usize, now_ns: u64) -> Option<Pending<S>> {
        let entry = self.queues[node].first_entry()?;
        if entry.key().0 > now_ns {
            return None;
        }
        let pending = entry.remove();
        if matches!(pending, Pending::Msg { .. }) {
            self.usage.messages_in_flight -= 1;
        }
        Some(pending)
    }

    /// After a handler of `node` (or its boot): stop the world if the run is over a
    /// limit of its envelope, or if a stop was requested.
    pub(crate) fn enforce_envelope(&mut self, node: usize, now_ns: u64) {
        /// Handler calls between two looks at the stop flag: a few milliseconds of work.
        const STOP_CHECK_EVERY: u64 = 1 << 10;
        if self.halted {
            return;
        }
        let excluded = self.trace.payload_bytes();
        if let Some((limit, value, max)) = self.usage.over(self.history.len(), excluded) {
            self.trace.push(now_ns, Event::Limit { node, limit });
            self.limit = Some(LimitHit {
                limit,
                value,
                max,
                node,
                name: self.names[node].clone(),
                t_ns: now_ns,
            });
            self.halt();
        } else if self.usage.handler_calls % STOP_CHECK_EVERY == 0 && crate::guard::stop_requested()
        {
            self.interrupted = true;
            self.halt();
        }
    }

    /// Stop every process and the supervisor.
    pub(crate) fn halt(&mut self) {
        self.halted = true;
        for (waker, _) in self.wakers.iter().flatten() {
            waker.wake_by_ref();
        }
    }

    /// The current phase.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// The client history recorded so far.
    pub fn history(&self) -> &[Operation] {
        &self.history
    }
}

/// A process's window on the world while one of its handlers runs.
///
/// Time does not move during a handler: handlers are atomic, as in an event loop. A
/// crash can only fall between two handlers — so a write is at risk exactly until the
/// handler that fsyncs it.
pub struct Ctx<'a, S: System> {
    pub(crate) system: &'a S,
    pub(crate) core: &'a mut Core<S>,
    pub(crate) node: usize,
    pub(crate) now_ns: u64,
}

impl<'a, S: System> Ctx<'a, S> {
    /// The system's configuration (settings, planted bugs, workload).
    pub fn system(&self) -> &'a S {
        self.system
    }

    /// This process's index.
    pub fn node(&self) -> usize {
        self.node
    }

    /// Number of processes in the world.
    pub fn nodes(&self) -> usize {
        self.core.len()
    }

    /// A process's name.
    pub fn name(&self, node: usize) -> &str {
        &self.core.names[node]
    }

    /// Simulated time (ns since the start), as the world knows it.
    pub fn now_ns(&self) -> u64 {
        self.now_ns
    }

    /// This process's own clock (ms), which may be skewed (`[faults.clock]`).
    pub fn local_clock_ms(&self) -> i64 {
        (self.now_ns as i64 + self.core.skew_ns[self.node]) / NS_PER_MS as i64
    }

    /// This process's own clock (ns), which may be skewed (`[faults.clock]`): the reading
    /// leases compare against timestamps another process's clock wrote.
    pub fn local_clock_ns(&self) -> i64 {
        self.now_ns as i64 + self.core.skew_ns[self.node]
    }

    /// How many times this process has started (1 on the first boot).
    pub fn incarnation(&self) -> u32 {
        self.core.incarnation[self.node]
    }

    /// Chaos or heal.
    pub fn phase(&self) -> Phase {
        self.core.phase
    }

    /// Send a message; the network decides its fate.
    pub fn send(&mut self, to: usize, msg: S::Msg) {
        self.core.send(self.node, to, msg, self.now_ns);
    }

    /// Fire `key` after `after_ms`, replacing an earlier setting of the same key.
    pub fn set_timer(&mut self, key: S::Timer, after_ms: u64) {
        self.set_timer_ns(key, after_ms * NS_PER_MS);
    }

    /// Fire `key` after `after_ns` nanoseconds, replacing an earlier setting.
    pub fn set_timer_ns(&mut self, key: S::Timer, after_ns: u64) {
        let generation = self.core.timer_generation[self.node]
            .entry(key)
            .or_insert(0);
        *generation += 1;
        let generation = *generation;
        let at = self.now_ns + after_ns;
        self.core
            .enqueue(self.node, at, Pending::Timer { key, generation });
    }

    /// Cancel timer `key` if it is set.
    pub fn cancel_timer(&mut self, key: S::Timer) {
        if let Some(generation) = self.core.timer_generation[self.node].get_mut(&key) {
            *generation += 1;
        }
    }

    /// Whether a timer event is the current setting of its key.
    pub(crate) fn timer_is_current(&self, key: S::Timer, generation: u64) -> bool {
        self.core.timer_generation[self.node].get(&key) == Some(&generation)
    }

    /// This process's private random stream (`node/<index>`; it continues across restarts).
    pub fn rng(&mut self) -> &mut SubStream {
        self.core.fork_if_due(self.now_ns);
        &mut self.core.rngs[self.node]
    }

    /// This process's disk.
    pub fn disk(&mut self) -> DiskCtx<'_, S::Record> {
        DiskCtx {
            disk: &mut self.core.disks[self.node],
            trace: &mut self.core.trace,
            node: self.node,
            now_ns: self.now_ns,
            cause: self.core.handling,
        }
    }

    /// Client side: record the invocation of an operation; returns its history index.
    pub fn invoke(&mut self, f: Func, key: Option<String>, input: Value) -> usize {
        let op = self.core.history.len();
        // What this handler sends or writes from now on serves the new operation.
        self.core.handling = Some(Cause::Op(op));
        self.core.trace.push(
            self.now_ns,
            Event::Invoke {
                op,
                node: self.node,
                f,
                key: key.clone(),
                input: input.clone(),
            },
        );
        self.core.history.push(Operation {
            client: self.node as u64,
            call: self.now_ns,
            ret: None,
            status: Status::Info,
            f,
            key,
            input,
            output: Value::Nil,
        });
        op
    }

    /// Client side: record how operation `op` completed (`Ok` or `Fail`; an operation
    /// whose outcome is unknown is simply never completed).
    pub fn complete(&mut self, op: usize, status: Status, output: Value) {
        let entry = &mut self.core.history[op];
        assert!(entry.ret.is_none(), "operation {op} completed twice");
        assert!(
            status != Status::Info,
            "Info is the absence of a completion"
        );
        entry.ret = Some(self.now_ns);
        entry.status = status;
        entry.output = output.clone();
        self.core
            .trace
            .push(self.now_ns, Event::Return { op, status, output });
    }

    /// Put a fact on the timeline.
    pub fn note(&mut self, label: &'static str, value: i64) {
        self.core.trace.push(
            self.now_ns,
            Event::Note {
                node: self.node,
                label,
                value,
            },
        );
    }

    /// Whether a fault point at `site` is active on this process now (see
    /// [`crate::plan::points`]): the component then misbehaves as the site says.
    pub fn at_fault_point(&self, site: &Site) -> bool {
        (self.core.points.iter()).any(|p| p.site == *site && p.active(self.node, self.now_ns))
    }

    /// Count a coverage probe: a risky window this run actually reached.
    pub fn probe(&mut self, name: &'static str) {
        self.core.reach(name, self.now_ns);
        if !self.core.aims.is_empty() {
            self.core.aim_at(name, self.node, self.now_ns);
        }
    }

    /// Record a verification fact for the checks (see [`System::Observation`]).
    pub fn observe(&mut self, obs: S::Observation) {
        self.core.observations.push(Observed {
            t_ns: self.now_ns,
            node: self.node,
            obs,
        });
    }
}

/// A process's disk, with fsyncs recorded in the trace.
pub struct DiskCtx<'a, R> {
    disk: &'a mut Disk<R>,
    trace: &'a mut Trace,
    node: usize,
    now_ns: u64,
    cause: Option<Cause>,
}

impl<'a, R: Clone> DiskCtx<'a, R> {
    /// Append a record (unsynced).
    pub fn append(&mut self, file: &'static str, record: R) {
        self.disk.append(file, record);
        self.noted(file);
    }

    /// Cut `file` to `len` records (unsynced).
    pub fn truncate(&mut self, file: &'static str, len: usize) {
        let before = self.disk.unsynced(file);
        self.disk.truncate(file, len);
        if self.disk.unsynced(file) > before {
            self.noted(file);
        }
    }

    /// Replace `file` atomically (unsynced).
    pub fn replace(&mut self, file: &'static str, records: Vec<R>) {
        self.disk.replace(file, records);
        self.noted(file);
    }

    fn noted(&mut self, file: &'static str) {
        (self.trace).note_write(self.now_ns, self.node, file, self.cause);
    }

    /// fsync `file`.
    pub fn sync(&mut self, file: &'static str) {
        let writes = self.disk.sync(file) as u64;
        if writes > 0 {
            self.trace.push(
                self.now_ns,
                Event::DiskSync {
                    node: self.node,
                    file,
                    writes,
                },
            );
        }
    }

    /// The records of `file` (as this process sees them: synced or not).
    pub fn read(&self, file: &'static str) -> &[Slot<R>] {
        self.disk.read(file)
    }

    /// Writes to `file` not yet synced.
    pub fn unsynced(&self, file: &'static str) -> usize {
        self.disk.unsynced(file)
    }
}

/// A read-only view of the world for [`System::settled`] and [`System::finish`].
pub struct View<'a, S: System> {
    /// The state machines (`None` while crashed).
    pub procs: &'a [Option<S::Proc>],
    /// Disks.
    pub disks: &'a [Disk<S::Record>],
    /// Process status.
    pub status: &'a [NodeStatus],
    /// Client history so far.
    pub history: &'a [Operation],
    /// Simulated time (ns).
    pub now_ns: u64,
}

impl<S: System> World<S> {
    pub(crate) fn view(&self, now_ns: u64) -> View<'_, S> {
        View {
            procs: &self.procs,
            disks: &self.core.disks,
            status: &self.core.status,
            history: &self.core.history,
            now_ns,
        }
    }
}
