//! The saga execution coordinator: replicas of the saga log, whose leader drives sagas.
//!
//! The leader turns the log into commands. After every entry it applies, and on a tick,
//! it *drives* the saga: it decides the next entries against its tail (the log with its
//! uncommitted entries, so it never logs a decision twice) — send the next level's steps,
//! or, once nothing is in flight after a failure, the next compensation in reverse order —
//! and sends the commands of the *committed* log (a step is sent only after "sent" is
//! durable on a majority). A command without a definite answer is re-sent with the same
//! key after `step_timeout_ms`; a timeout never counts as a failure. Answers are logged as
//! they arrive. A new leader inherits everything from the log and simply goes on.
//!
//! With `dispatch = "poll"` the leader sends nothing: services poll and get their pending
//! tasks. Every command the leader sends is drawn on the timeline as an operation of the
//! leader's lane, from the first send to its logged answer.

use std::collections::BTreeMap;

use super::flow::{Service, StepOutcome, Task};
use super::log::{CompState, Effects, Payload, Phase, Rules, SagaLog, SagaRun, StepState};
use super::{Dispatch, Msg, Record, Reply, Saga, SagaId, SagaObs, Start, Timer};
use crate::history::{Func, Status, Value};
use crate::sim::Ctx;
use crate::systems::components::clients::ReqId;
use crate::systems::components::raft::{self, Applied, Host, Raft};

type C<'c, 'a> = &'c mut Ctx<'a, Saga>;

/// A replica of the saga log.
pub type Replica = Raft<Saga>;

/// A task's identity: (saga, step, attempt, compensation).
type TaskId = (SagaId, u8, u32, bool);

/// When the leader sent a task, and the timeline operation drawing it.
#[derive(Debug, Clone)]
struct SentTask {
    first_ns: u64,
    last_ns: u64,
    resent: u32,
    op: usize,
}

/// The leader's own memory: send times, and (the `no-saga-log` bug) the only copy of the
/// saga log.
#[derive(Debug, Clone, Default)]
pub struct Leader {
    sent: BTreeMap<TaskId, SentTask>,
    released: BTreeMap<(SagaId, Service), u64>,
    memory: Option<SagaLog>,
}

impl Host for Saga {
    type Sm = SagaLog;
    type Effects = Effects;
    type Lead = Leader;

    fn raft_config(&self) -> &raft::Config {
        &self.raft
    }
    fn raft_msg(msg: raft::Msg<SagaLog>) -> Msg {
        Msg::Raft(msg)
    }
    fn raft_timer(timer: raft::Timer) -> Timer {
        Timer::Raft(timer)
    }
    fn raft_record(record: raft::Record<SagaLog>) -> Record {
        Record::Raft(record)
    }
    fn as_raft_record(record: &Record) -> Option<&raft::Record<SagaLog>> {
        match record {
            Record::Raft(r) => Some(r),
            Record::Db(_) => None,
        }
    }
    fn raft_observation(obs: raft::Observation) -> SagaObs {
        SagaObs::Raft(obs)
    }

    fn apply(ctx: C<'_, '_>, _: usize, sm: &mut SagaLog, e: &raft::Entry<SagaLog>) -> Effects {
        sm.apply(e.index, &e.payload, rules(ctx.system()))
    }

    fn on_applied(ctx: C<'_, '_>, raft: &mut Replica, applied: Applied<Saga>) {
        let Applied { entry, effects } = applied;
        ctx.observe(SagaObs::Logged(Some(entry.index), entry.payload.clone()));
        if raft.is_leader() {
            raft.react(ctx, &entry.payload, effects);
        }
    }

    fn on_lead(ctx: C<'_, '_>, raft: &mut Replica) {
        if ctx.system().bugs.no_saga_log {
            if let Some(lead) = raft.service_mut() {
                lead.memory = Some(SagaLog::default());
            }
        }
    }

    fn on_step_down(_ctx: C<'_, '_>) {}

    fn on_snapshot_installed(_ctx: C<'_, '_>, _raft: &Replica, _index: u64) {}
}

fn rules(sys: &Saga) -> Rules {
    Rules {
        busy_retries_max: sys.p.busy_retries_max as u32,
        semantic_lock: sys.p.semantic_lock,
    }
}

/// The committed saga log as this replica knows it (the leader's memory, with the
/// `no-saga-log` bug).
pub fn view(r: &Replica) -> &SagaLog {
    match r.lead.as_ref().and_then(|l| l.service.memory.as_ref()) {
        Some(memory) => memory,
        None => &r.state,
    }
}

impl Raft<Saga> {
    fn tail_view(&self) -> &SagaLog {
        let lead = self.lead.as_ref().expect("only the leader decides");
        lead.service.memory.as_ref().unwrap_or(&lead.tail)
    }

    fn leader(&mut self) -> &mut Leader {
        self.service_mut().expect("only the leader sends")
    }

    /// A message for a coordinator replica.
    pub fn on_saga_message(&mut self, ctx: C<'_, '_>, from: usize, msg: Msg) {
        match msg {
            Msg::Raft(m) => self.on_message(ctx, from, m),
            Msg::Command { req, command } => self.on_start(ctx, from, req, command),
            _ if !self.is_leader() => {} // Answers to an old leadership: the new one re-sends.
            Msg::Done { task, outcome } => self.on_done(ctx, task, outcome),
            Msg::Poll { service } => self.on_poll(ctx, from, service),
            Msg::Released { saga, service } => {
                let pending = self
                    .tail_view()
                    .sagas
                    .get(&saga)
                    .is_some_and(|s| s.releases.contains(&service));
                if pending {
                    self.record(ctx, Payload::Released { saga, service });
                }
            }
            other => panic!("coordinator got {other:?} from {from}"),
        }
    }

    /// The router forwards a saga to start (or a retry of one).
    fn on_start(&mut self, ctx: C<'_, '_>, router: usize, req: ReqId, start: Start) {
        if !self.is_leader() {
            let reply = Reply::NotLeader(self.leader);
            return ctx.send(router, Msg::CommandReply { req, reply });
        }
        if let Some(result) = view(self).sagas.get(&start.id).and_then(SagaRun::result) {
            ctx.probe("saga_retry_answered_from_log");
            let reply = Reply::Done(result);
            return ctx.send(router, Msg::CommandReply { req, reply });
        }
        if !self.tail_view().sagas.contains_key(&start.id) {
            let payload = Payload::Start {
                saga: start.id,
                req,
                flow: start.flow,
            };
            self.record(ctx, payload);
        }
    }

    /// Log a fact: append it to the replicated log, or (the `no-saga-log` bug) apply it to
    /// the leader's memory at once.
    fn record(&mut self, ctx: C<'_, '_>, payload: Payload) {
        let rules = rules(ctx.system());
        let Some(memory) = self.leader().memory.as_mut() else {
            self.append(ctx, payload);
            return;
        };
        let effects = memory.apply(0, &payload, rules);
        ctx.observe(SagaObs::Logged(None, payload.clone()));
        self.react(ctx, &payload, effects);
    }

    /// Leader: act on an applied entry — answer the client if the saga ended, finish the
    /// timeline operation of an answered task, drive the saga on.
    fn react(&mut self, ctx: C<'_, '_>, payload: &Payload, effects: Effects) {
        if let Some((req, result)) = effects.ended {
            let router = ctx.system().router;
            let reply = Reply::Done(result);
            ctx.send(router, Msg::CommandReply { req, reply });
        }
        match *payload {
            Payload::Answered {
                saga,
                step,
                attempt,
                outcome,
            } => self.finish_op(ctx, (saga, step, attempt, false), outcome),
            Payload::CompDone { saga, step } => {
                let attempt = view(self).sagas[&saga].steps[step as usize].attempt;
                self.finish_op(ctx, (saga, step, attempt, true), StepOutcome::Ok);
            }
            _ => {}
        }
        if let Some(saga) = effects.saga {
            self.drive(ctx, saga, false);
        }
    }

    fn finish_op(&mut self, ctx: C<'_, '_>, id: TaskId, outcome: StepOutcome) {
        if let Some(sent) = self.leader().sent.remove(&id) {
            let text = match outcome {
                StepOutcome::Ok => "ok",
                StepOutcome::Failed(reason) => reason,
                StepOutcome::Busy => "busy",
            };
            ctx.complete(sent.op, Status::Ok, Value::Str(text.into()));
        }
    }

    /// Log the saga's next decisions (against the tail), then send what the committed
    /// log says is in flight. `tick`: also retry busy steps and re-send overdue commands.
    fn drive(&mut self, ctx: C<'_, '_>, saga: SagaId, tick: bool) {
        let bugs = ctx.system().bugs;
        let next = match self.tail_view().sagas.get(&saga) {
            Some(run) => next_entries(
                saga,
                run,
                tick,
                bugs.forward_order,
                bugs.compensate_uncommitted,
            ),
            None => Vec::new(),
        };
        for payload in next {
            self.record(ctx, payload);
        }
        if ctx.system().p.dispatch == Dispatch::Push {
            self.send_in_flight(ctx, saga);
        }
    }

    /// Send (or re-send, when overdue) every command of `saga` the committed log has in
    /// flight, and its lock releases.
    fn send_in_flight(&mut self, ctx: C<'_, '_>, saga: SagaId) {
        for task in tasks_in_flight(view(self), saga, ctx.system().p.price as i64) {
            self.send_task(ctx, task);
        }
        let Some(run) = view(self).sagas.get(&saga) else {
            return;
        };
        let releases: Vec<Service> = run.releases.iter().copied().collect();
        let now = ctx.now_ns();
        let timeout_ns = ctx.system().p.step_timeout_ms * 1_000_000;
        for service in releases {
            let last = self.leader().released.get(&(saga, service)).copied();
            if last.is_none_or(|t| now.saturating_sub(t) >= timeout_ns) {
                self.leader().released.insert((saga, service), now);
                let node = ctx.system().node_of(service);
                ctx.send(node, Msg::Release { saga });
            }
        }
    }

    /// Send a task if it was never sent by this leader, or is overdue.
    fn send_task(&mut self, ctx: C<'_, '_>, task: Task) {
        let sys = ctx.system();
        let now = ctx.now_ns();
        let id = (task.saga, task.step, task.attempt, task.undo);
        let due = match self.leader().sent.get(&id) {
            None => true,
            Some(_) if task.undo && sys.bugs.lost_compensation_retry => false,
            Some(s) => now.saturating_sub(s.last_ns) >= sys.p.step_timeout_ms * 1_000_000,
        };
        if !due {
            return;
        }
        self.note_sent(ctx, &task, now);
        let node = sys.node_of(task_service(view(self), &task));
        ctx.send(node, Msg::Do { task });
    }

    /// Remember a send; the first one opens the task's timeline operation.
    fn note_sent(&mut self, ctx: C<'_, '_>, task: &Task, now: u64) {
        let id = (task.saga, task.step, task.attempt, task.undo);
        if let Some(s) = self.leader().sent.get_mut(&id) {
            s.last_ns = now;
            s.resent += 1;
            ctx.probe("step_resent_without_answer");
            return;
        }
        let def = view(self).sagas[&task.saga].flow.steps()[task.step as usize];
        let name = if task.undo { def.undo } else { def.name };
        let op = ctx.invoke(
            Func::System(name),
            Some(task.saga.to_string()),
            Value::Str(def.service.name().into()),
        );
        let sent = SentTask {
            first_ns: now,
            last_ns: now,
            resent: 0,
            op,
        };
        self.leader().sent.insert(id, sent);
    }

    /// A service's answer: logged if the tail still waits for it.
    fn on_done(&mut self, ctx: C<'_, '_>, task: Task, outcome: StepOutcome) {
        let Some(run) = self.tail_view().sagas.get(&task.saga) else {
            return;
        };
        let step = &run.steps[task.step as usize];
        let waiting = if task.undo {
            step.comp == CompState::Sent
        } else {
            step.state == StepState::Sent && step.attempt == task.attempt
        };
        if !waiting {
            return;
        }
        let id = (task.saga, task.step, task.attempt, task.undo);
        if outcome == StepOutcome::Ok && self.leader().sent.get(&id).is_some_and(|s| s.resent > 0) {
            ctx.probe("timed_out_step_succeeded");
        }
        let (saga, step) = (task.saga, task.step);
        let payload = if task.undo {
            Payload::CompDone { saga, step }
        } else {
            let attempt = task.attempt;
            Payload::Answered {
                saga,
                step,
                attempt,
                outcome,
            }
        };
        self.record(ctx, payload);
    }

    /// Poll mode: a service asks for its pending tasks.
    fn on_poll(&mut self, ctx: C<'_, '_>, from: usize, service: Service) {
        let price = ctx.system().p.price as i64;
        let log = view(self);
        let tasks: Vec<Task> = log
            .sagas
            .keys()
            .flat_map(|&saga| tasks_in_flight(log, saga, price))
            .filter(|t| task_service(log, t) == service)
            .collect();
        let now = ctx.now_ns();
        for task in &tasks {
            self.note_sent(ctx, task, now);
        }
        ctx.send(from, Msg::Tasks { tasks });
    }

    /// The tick: drive every unfinished saga, time out (the `compensate-on-timeout` bug).
    pub fn on_tick(&mut self, ctx: C<'_, '_>) {
        let sys = ctx.system();
        ctx.set_timer(Timer::Tick, sys.p.tick_ms);
        if !self.is_leader() {
            return;
        }
        let active: Vec<SagaId> = view(self)
            .sagas
            .iter()
            .filter(|(_, s)| !s.ended() || !s.releases.is_empty())
            .map(|(&id, _)| id)
            .collect();
        if sys.bugs.compensate_on_timeout {
            self.time_out_steps(ctx);
        }
        for saga in active {
            self.drive(ctx, saga, true);
        }
    }

    /// The planted bug: a step without an answer after the timeout is logged as failed.
    fn time_out_steps(&mut self, ctx: C<'_, '_>) {
        let now = ctx.now_ns();
        let timeout_ns = ctx.system().p.step_timeout_ms * 1_000_000;
        let overdue: Vec<TaskId> = self
            .leader()
            .sent
            .iter()
            .filter(|(id, s)| !id.3 && now.saturating_sub(s.first_ns) >= timeout_ns)
            .map(|(&id, _)| id)
            .collect();
        for (saga, step, attempt, _) in overdue {
            let still = self.tail_view().sagas.get(&saga).is_some_and(|r| {
                let s = &r.steps[step as usize];
                s.state == StepState::Sent && s.attempt == attempt
            });
            if still {
                let outcome = StepOutcome::Failed("timed out");
                self.record(
                    ctx,
                    Payload::Answered {
                        saga,
                        step,
                        attempt,
                        outcome,
                    },
                );
            }
        }
    }
}

/// The entries that move a saga on, decided against the leader's tail. Busy steps are
/// retried only on a tick (a back-off); `forward` and `uncommitted` are planted bugs.
fn next_entries(
    saga: SagaId,
    run: &SagaRun,
    tick: bool,
    forward: bool,
    uncommitted: bool,
) -> Vec<Payload> {
    let defs = run.flow.steps();
    match run.phase {
        Phase::Running => {
            let Some(level) = run
                .steps
                .iter()
                .zip(defs)
                .filter(|(s, _)| s.state != StepState::Ok)
                .map(|(_, d)| d.level)
                .min()
            else {
                return Vec::new();
            };
            run.steps
                .iter()
                .zip(defs)
                .enumerate()
                .filter(|(_, (s, d))| {
                    d.level == level && s.state == StepState::Idle && (tick || s.busy == 0)
                })
                .map(|(i, (s, _))| Payload::Sent {
                    saga,
                    step: i as u8,
                    attempt: s.attempt,
                })
                .collect()
        }
        Phase::Compensating => {
            let busy = run
                .steps
                .iter()
                .any(|s| s.state == StepState::Sent || s.comp == CompState::Sent);
            if busy {
                return Vec::new(); // Every answer must be definite before undoing.
            }
            let mut pending = run.steps.iter().enumerate().filter(|(_, s)| {
                s.comp == CompState::None
                    && (s.state == StepState::Ok
                        || (uncommitted && matches!(s.state, StepState::Failed(_))))
            });
            let next = if forward {
                pending.next()
            } else {
                pending.next_back()
            };
            next.map(|(i, _)| Payload::CompSent {
                saga,
                step: i as u8,
            })
            .into_iter()
            .collect()
        }
        Phase::Completed | Phase::Compensated => Vec::new(),
    }
}

/// The commands of `saga` in flight in `log`: steps sent, compensations sent.
fn tasks_in_flight(log: &SagaLog, saga: SagaId, price: i64) -> Vec<Task> {
    let Some(run) = log.sagas.get(&saga) else {
        return Vec::new();
    };
    let mut tasks = Vec::new();
    for (i, s) in run.steps.iter().enumerate() {
        let task = |undo| Task {
            saga,
            step: i as u8,
            attempt: s.attempt,
            undo,
            action: run.flow.action(i, price),
        };
        if s.state == StepState::Sent {
            tasks.push(task(false));
        }
        if s.comp == CompState::Sent {
            tasks.push(task(true));
        }
    }
    tasks
}

fn task_service(log: &SagaLog, task: &Task) -> Service {
    log.sagas[&task.saga].flow.steps()[task.step as usize].service
}
