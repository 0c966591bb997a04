//! The transactional client: Jepsen's Kafka queue client with transactions, one
//! transactional producer and one reader of every partition per client process
//! (`instances` processes share each transactional id: each fences the other whenever it
//! starts over, as an application's replacement fences the instance it replaces).
//!
//! A client runs its planned transactions one at a time, each as a Kafka application does:
//!
//! 1. `InitProducerId` for its transactional id (`txn-c<i>`) when it has no producer id
//!    and epoch yet, or lost them (after a transaction it gave up on: re-initialising fences
//!    and aborts what it left open);
//! 2. each step in order — a *send*: `AddPartitionsToTxn` before the first produce to a
//!    partition, then a transactional produce (producer id, epoch, sequence number),
//!    waiting for its acknowledgement; a *poll*: one fetch of every partition from the
//!    client's positions at its isolation level;
//! 3. `EndTxn` — commit, or abort for the share of transactions planned to abort.
//!
//! The history records the transaction as Jepsen does: `ok` with each send's offset and
//! each poll's records when the commit is acknowledged; `fail` when it definitely did not
//! commit (the client aborted, or the coordinator fenced it before it asked to commit);
//! left `info` (unknown) when the client gave up waiting. The positions move on only with
//! a committed transaction; otherwise they go back to where the transaction began.

use std::collections::{BTreeMap, BTreeSet};

use super::drain::Drain;
use super::wire::{client_timer, KafkaObs, Micro, Msg, Sent, Timer, TxnOp, KEYS};
use super::Kafka;
use crate::history::{Func, Status, Value};
use crate::sim::Ctx;
use crate::systems::components::broker::client::next_replica;
use crate::systems::components::broker::{
    Fetched, Hint, Isolation, Msg as B, ProduceError, ProducerSeq, Record, Refused, TxnError,
};
use crate::systems::components::clients::{ClientCore, ClientTimer};

type C<'c, 'a> = &'c mut Ctx<'a, Kafka>;

/// What the running transaction waits for.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Waiting {
    /// The producer id and epoch.
    Init,
    /// The coordinator to add this partition.
    Add(u32),
    /// A produce's acknowledgement.
    Produce {
        partition: u32,
        req: u64,
        key: u64,
        value: i64,
    },
    /// Fetches of these partitions.
    Poll(BTreeSet<u32>),
    /// The coordinator's answer to `TxnOffsetCommit` (subscribe).
    Offsets,
    /// The coordinator's answer to `EndTxn`.
    End,
}

/// The transaction in progress.
#[derive(Debug, Clone)]
struct Run {
    op: TxnOp,
    seq: u64,
    history: usize,
    step: usize,
    added: BTreeSet<u32>,
    out: Vec<Value>,
    polled: BTreeMap<i64, Vec<Value>>,
    positions_before: BTreeMap<u32, u64>,
    waiting: Waiting,
    /// The id of the request it waits for (answers to earlier ones are ignored).
    req: u64,
    /// It asked to commit: from then on only an acknowledgement is a definite outcome.
    commit_asked: bool,
    /// It will commit (planned so, and no rebalance moved its input meanwhile).
    commit: bool,
    /// Subscribe: the group generation it consumes in.
    generation: u64,
    /// Subscribe: per partition, the offsets it consumed (from, to exclusive).
    consumed: BTreeMap<u32, (u64, u64)>,
    /// Subscribe: its offsets are in the transaction.
    offsets_sent: bool,
}

/// Subscribe: the client's membership of the consumer group.
#[derive(Debug, Clone, Default)]
struct Member {
    /// The generation it knows (0: none yet).
    generation: u64,
    /// The partitions that generation gives it.
    owned: BTreeSet<u32>,
    /// The generation its history last recorded as an `assign`.
    recorded: u64,
}

/// The consumer group the clients form when they subscribe.
pub const GROUP: &str = "kafka";

/// A client process.
#[derive(Debug, Clone)]
pub struct TxnClient {
    core: ClientCore<TxnOp>,
    txn_id: String,
    identity: Option<(u64, u32)>,
    seqs: BTreeMap<u32, u64>,
    positions: BTreeMap<u32, u64>,
    leaders: BTreeMap<u32, usize>,
    next_req: u64,
    run: Option<Run>,
    member: Option<Member>,
    /// The first client reads every partition when the chaos phase ends.
    drains: bool,
    drain: Option<Drain>,
}

impl TxnClient {
    /// Client `index`, of transactional id `txn-c<index / instances>`, running `core`'s
    /// operations.
    pub fn new(ctx: C<'_, '_>, index: usize, mut core: ClientCore<TxnOp>) -> Self {
        core.start(ctx, client_timer);
        if index == 0 {
            // After the chaos phase no client starts a transaction, and by this long after
            // it every client has heard its last one's outcome or given up on it.
            let sys = ctx.system();
            let at_ms = sys.chaos_ms.saturating_add(sys.client_params.op_timeout_ms);
            let at_ns = at_ms.saturating_mul(1_000_000);
            ctx.set_timer_ns(Timer::Drain, at_ns.saturating_sub(ctx.now_ns()));
        }
        let shared = index / ctx.system().p.instances.max(1) as usize;
        TxnClient {
            core,
            txn_id: format!("txn-c{shared}"),
            identity: None,
            seqs: BTreeMap::new(),
            positions: BTreeMap::new(),
            leaders: BTreeMap::new(),
            next_req: 0,
            run: None,
            member: ctx.system().p.subscribe.then(Member::default),
            drains: index == 0,
            drain: None,
        }
    }

    /// Whether it waits for nothing (the first client: and its final read is done).
    pub fn idle(&self) -> bool {
        self.core.idle() && (!self.drains || self.drain.as_ref().is_some_and(Drain::finished))
    }

    /// The final read's timer: start it once no transaction runs, or fetch again.
    pub fn on_drain_timer(&mut self, ctx: C<'_, '_>) {
        match &mut self.drain {
            Some(drain) => drain.on_timer(ctx),
            None if self.core.idle() => {
                self.next_req += 1;
                self.drain = Some(Drain::start(ctx, self.next_req));
                ctx.set_timer(Timer::Drain, ctx.system().p.retry_ms);
            }
            None => ctx.set_timer(Timer::Drain, ctx.system().p.retry_ms),
        }
    }

    /// A client timer: start the next transaction, re-send, or give up.
    pub fn on_timer(&mut self, ctx: C<'_, '_>, t: ClientTimer) {
        if t == ClientTimer::Next {
            // Before the next operation's invocation: the history's `assign` precedes it.
            self.record_assignment(ctx);
        }
        let out = self.core.on_timer(ctx, t, client_timer);
        match t {
            ClientTimer::Next => {
                let Some(out) = out else { return };
                self.heartbeat(ctx);
                let history = self.core.current().expect("just started").history[0];
                let commit = out.op.roll >= ctx.system().p.abort_pct;
                let generation = self.member.as_ref().map_or(0, |m| m.generation);
                self.run = Some(Run {
                    op: out.op,
                    seq: out.seq,
                    history,
                    step: 0,
                    added: BTreeSet::new(),
                    out: Vec::new(),
                    polled: BTreeMap::new(),
                    positions_before: self.positions.clone(),
                    waiting: Waiting::Init,
                    req: 0,
                    commit_asked: false,
                    commit,
                    generation,
                    consumed: BTreeMap::new(),
                    offsets_sent: false,
                });
                self.advance(ctx);
            }
            ClientTimer::Retry => {
                self.heartbeat(ctx);
                // No answer: ask the next replica of what the transaction waits on.
                let waited: Vec<u32> = match self.run.as_ref().map(|r| &r.waiting) {
                    Some(Waiting::Produce { partition, .. }) => vec![*partition],
                    Some(Waiting::Poll(left)) => left.iter().copied().collect(),
                    Some(_) => vec![0],
                    None => vec![],
                };
                for p in waited {
                    let from = self.leader(ctx, p);
                    self.redirect(ctx, p, from, None);
                }
                self.resend(ctx);
            }
            ClientTimer::GiveUp => {
                if let Some(run) = self.run.take() {
                    // Unknown outcome: the entry stays `info`. Abort what it wrote, as an
                    // application does when a send times out (the answer is not awaited),
                    // then a new instance fences whatever the abort did not end.
                    self.abort_abandoned(ctx, &run);
                    self.identity = None;
                    self.seqs.clear();
                    self.rewind(run.positions_before);
                }
            }
        }
    }

    /// Ask the coordinator to abort the transaction `run` gives up on, if it wrote and
    /// did not ask to commit. A produce of it may still be in flight: that is the window
    /// KIP-890 closes (with transaction version 1 the abort keeps the epoch, and only
    /// partition verification keeps the late produce from opening a transaction nobody
    /// ends).
    fn abort_abandoned(&mut self, ctx: C<'_, '_>, run: &Run) {
        let Some((pid, epoch)) = self.identity else {
            return;
        };
        if run.added.is_empty() || run.commit_asked {
            return;
        }
        self.next_req += 1;
        let end = B::EndTxn {
            txn_id: self.txn_id.clone(),
            req: self.next_req,
            pid,
            epoch,
            commit: false,
        };
        ctx.probe("txn_abandoned_abort");
        let coordinator = self.leader(ctx, 0);
        ctx.send(coordinator, Msg::Broker(end));
    }

    fn leader(&self, ctx: C<'_, '_>, partition: u32) -> usize {
        let replicas = &ctx.system().partitions[partition as usize];
        *self.leaders.get(&partition).unwrap_or(&replicas[0])
    }

    /// Follow a "not the leader" of `from` for `partition`.
    fn redirect(&mut self, ctx: C<'_, '_>, partition: u32, from: usize, hint: Hint) {
        let next = next_replica(ctx.system(), partition, from, hint);
        self.leaders.insert(partition, next);
    }

    /// Take the transaction's next step.
    fn advance(&mut self, ctx: C<'_, '_>) {
        let partitions = ctx.system().partitions.len() as u64;
        let readable: BTreeSet<u32> = match &self.member {
            Some(m) => m.owned.clone(),
            None => (0..partitions as u32).collect(),
        };
        let Some(run) = self.run.as_mut() else { return };
        self.next_req += 1;
        run.req = self.next_req;
        run.waiting = if self.identity.is_none() {
            Waiting::Init
        } else if let Some(&micro) = run.op.micros.get(run.step) {
            match micro {
                Micro::Send { key, value } => {
                    let partition = (key % partitions) as u32;
                    if run.added.contains(&partition) {
                        Waiting::Produce {
                            partition,
                            req: run.req,
                            key,
                            value,
                        }
                    } else {
                        Waiting::Add(partition)
                    }
                }
                Micro::Poll if readable.is_empty() => {
                    // Subscribed, nothing assigned: the poll reads nothing.
                    run.out.push(poll_value(BTreeMap::new()));
                    run.step += 1;
                    return self.advance(ctx);
                }
                Micro::Poll => Waiting::Poll(readable),
            }
        } else if run.commit && !run.consumed.is_empty() && !run.offsets_sent {
            // Subscribed: the positions commit with the transaction, in partition 0.
            if !run.added.contains(&0) {
                Waiting::Add(0)
            } else {
                let ranges = (run.consumed.iter())
                    .map(|(&p, &(a, b))| (p, a, b))
                    .collect();
                let op = run.history;
                ctx.observe(KafkaObs::Consumed { op, ranges });
                Waiting::Offsets
            }
        } else if run.added.is_empty() {
            // Nothing written: nothing to commit or abort.
            let status = if run.commit { Status::Ok } else { Status::Fail };
            return self.finish(ctx, status);
        } else {
            run.commit_asked = run.commit;
            Waiting::End
        };
        self.resend(ctx);
    }

    /// Send (again) what the transaction waits for.
    fn resend(&mut self, ctx: C<'_, '_>) {
        self.resend_only(ctx, None);
    }

    /// Send (again) what the transaction waits for; of a poll's fetches, only `partition`'s
    /// if given.
    fn resend_only(&mut self, ctx: C<'_, '_>, partition: Option<u32>) {
        let Some(run) = &self.run else { return };
        let sends: Vec<(usize, B<Sent>)> = match &run.waiting {
            Waiting::Produce {
                partition,
                req,
                key,
                value,
            } => {
                let (pid, epoch) = self.identity.expect("a producer produces");
                let seq = self.seqs.get(partition).copied().unwrap_or(0);
                let produce = B::Produce {
                    partition: *partition,
                    req: *req,
                    records: vec![Record {
                        key: key.to_string(),
                        value: *value,
                    }],
                    producer: Some(ProducerSeq { pid, epoch, seq }),
                    transactional: true,
                };
                vec![(self.leader(ctx, *partition), produce)]
            }
            Waiting::Poll(left) => (left.iter())
                .filter(|&&p| partition.is_none_or(|only| only == p))
                .map(
                    |&p| match self.positions.contains_key(&p) || self.member.is_none() {
                        true => (self.leader(ctx, p), self.fetch(ctx, p)),
                        // Subscribed: where the group left off (it may answer "ask again").
                        false => (
                            self.leader(ctx, 0),
                            B::OffsetFetch {
                                req: run.req,
                                group: GROUP.into(),
                                partition: p,
                            },
                        ),
                    },
                )
                .collect(),
            _ => vec![(self.leader(ctx, 0), self.to_coordinator(ctx, run))],
        };
        for (to, msg) in sends {
            ctx.send(to, Msg::Broker(msg));
        }
    }

    /// A fetch of `partition` from this client's position, at its isolation level.
    fn fetch(&self, ctx: C<'_, '_>, partition: u32) -> B<Sent> {
        let isolation = match ctx.system().p.isolation {
            super::IsolationKnob::ReadCommitted => Isolation::ReadCommitted,
            super::IsolationKnob::ReadUncommitted => Isolation::ReadUncommitted,
        };
        B::Fetch {
            req: 0,
            partition,
            offset: self.positions.get(&partition).copied().unwrap_or(0),
            max: ctx.system().p.fetch_max as u32,
            isolation,
        }
    }

    /// The coordinator request `run` waits for the answer to.
    fn to_coordinator(&self, ctx: C<'_, '_>, run: &Run) -> B<Sent> {
        let (txn_id, req) = (self.txn_id.clone(), run.req);
        let (pid, epoch) = self.identity.unwrap_or((0, 0));
        match &run.waiting {
            Waiting::Init => B::InitPid {
                txn_id,
                req,
                timeout_ms: ctx.system().p.txn_timeout_ms,
            },
            Waiting::Add(p) => B::AddPartitions {
                txn_id,
                req,
                pid,
                epoch,
                partitions: vec![*p],
            },
            Waiting::End => B::EndTxn {
                txn_id,
                req,
                pid,
                epoch,
                commit: run.commit,
            },
            Waiting::Offsets => B::TxnOffsetCommit {
                txn_id,
                req,
                pid,
                epoch,
                group: GROUP.into(),
                generation: run.generation,
                member: ctx.node(),
                offsets: (run.consumed.iter())
                    .map(|(&p, &(_, to))| (p, to))
                    .collect(),
            },
            other => unreachable!("{other:?} is not a coordinator request"),
        }
    }

    /// End the transaction with `status` (`Info`: unknown, left incomplete); the
    /// positions move on only if it committed.
    fn finish(&mut self, ctx: C<'_, '_>, status: Status) {
        let run = self.run.take().expect("a transaction runs");
        match status {
            Status::Ok => ctx.complete(run.history, Status::Ok, Value::List(run.out)),
            // A failed operation's value is its invocation's, as Jepsen records it.
            Status::Fail => ctx.complete(run.history, status, run.op.input()),
            Status::Info => {}
        }
        if status != Status::Ok {
            self.rewind(run.positions_before);
        }
        self.core.on_reply(ctx, run.seq, client_timer);
    }

    /// Lose the producer identity and end the transaction: not committed — unless it
    /// asked to commit, when the refusal may come from a deposed coordinator and the
    /// outcome is unknown.
    fn fenced(&mut self, ctx: C<'_, '_>) {
        ctx.probe("client_fenced");
        self.identity = None;
        self.seqs.clear();
        let asked = self.run.as_ref().is_some_and(|r| r.commit_asked);
        self.finish(ctx, if asked { Status::Info } else { Status::Fail });
    }

    /// A broker's answer.
    pub fn on_message(&mut self, ctx: C<'_, '_>, from: usize, msg: B<Sent>) {
        let Some(msg) = self.beside_transactions(ctx, from, msg) else {
            return;
        };
        let Some(run) = &self.run else { return };
        let (waiting, current) = (run.waiting.clone(), run.req);
        match (waiting, msg) {
            (Waiting::Init, B::InitPidReply { req, result, .. }) if req == current => {
                match result {
                    Ok(identity) => {
                        self.identity = Some(identity);
                        self.seqs.clear();
                        self.advance(ctx);
                    }
                    Err(e) => self.coordinator_refused(ctx, from, e),
                }
            }
            (Waiting::Add(p), B::AddPartitionsReply { req, result, .. }) if req == current => {
                match result {
                    Ok(()) => {
                        self.run.as_mut().expect("runs").added.insert(p);
                        self.advance(ctx);
                    }
                    Err(TxnError::Fenced | TxnError::InvalidState) => self.fenced(ctx),
                    Err(e) => self.coordinator_refused(ctx, from, e),
                }
            }
            (
                Waiting::Produce {
                    partition,
                    req,
                    key,
                    value,
                },
                B::ProduceAck { req: r, result, .. },
            ) if r == req => self.on_produced(ctx, from, (partition, key, value), result),
            (
                Waiting::Poll(_),
                B::FetchReply {
                    partition,
                    offset,
                    result,
                    ..
                },
            ) => self.on_fetched(ctx, from, partition, offset, result),
            (
                Waiting::Poll(_),
                B::OffsetFetched {
                    req,
                    partition,
                    result,
                },
            ) if req == current => self.on_offset_fetched(ctx, from, partition, result),
            (Waiting::Offsets, B::TxnOffsetCommitReply { req, result, .. }) if req == current => {
                self.on_offsets_added(ctx, from, result)
            }
            (Waiting::End, B::EndTxnReply { req, result, .. }) if req == current => {
                self.on_ended(ctx, from, result)
            }
            _ => {} // A late or duplicated answer.
        }
    }

    /// Answers not to the running transaction: the group's assignments, the final read's
    /// fetches (from then on every fetch answer is the final read's or stale). Returns
    /// any other message.
    fn beside_transactions(
        &mut self,
        ctx: C<'_, '_>,
        from: usize,
        msg: B<Sent>,
    ) -> Option<B<Sent>> {
        if let B::Assignment { result } = msg {
            self.on_assignment(ctx, from, result);
            return None;
        }
        if let (
            Some(drain),
            B::FetchReply {
                req,
                partition,
                offset,
                result,
            },
        ) = (&mut self.drain, &msg)
        {
            if *req == drain.req {
                drain.on_fetched(ctx, from, (*partition, *offset), result.clone());
            }
            return None;
        }
        Some(msg)
    }

    /// The coordinator's answer to `TxnOffsetCommit`.
    fn on_offsets_added(&mut self, ctx: C<'_, '_>, from: usize, result: Result<(), TxnError>) {
        match result {
            Ok(()) => {
                self.run.as_mut().expect("runs").offsets_sent = true;
                self.advance(ctx);
            }
            // A stale generation or producer: this transaction must not commit; starting
            // over aborts it.
            Err(TxnError::Fenced | TxnError::InvalidState) => self.fenced(ctx),
            Err(e) => self.coordinator_refused(ctx, from, e),
        }
    }

    /// The coordinator's answer to `EndTxn`.
    fn on_ended(&mut self, ctx: C<'_, '_>, from: usize, result: Result<u32, TxnError>) {
        match result {
            Ok(epoch) => {
                let (pid, old) = self.identity.expect("a transaction has a producer");
                if epoch != old {
                    self.seqs.clear();
                }
                self.identity = Some((pid, epoch));
                let commit = self.run.as_ref().expect("runs").commit;
                self.finish(ctx, if commit { Status::Ok } else { Status::Fail });
            }
            // Fenced before the decision: the coordinator aborted it.
            Err(TxnError::Fenced) => self.fenced(ctx),
            Err(e) => self.coordinator_refused(ctx, from, e),
        }
    }

    /// The coordinator could not serve: follow its hint now, or ask again at the retry.
    fn coordinator_refused(&mut self, ctx: C<'_, '_>, from: usize, e: TxnError) {
        if let TxnError::NotCoordinator(hint) = e {
            self.redirect(ctx, 0, from, hint);
            // With a hint, follow it now; without one (an election), at the retry.
            if hint.is_some() {
                self.resend(ctx);
            }
        }
    }

    fn on_produced(
        &mut self,
        ctx: C<'_, '_>,
        from: usize,
        (partition, key, value): (u32, u64, i64),
        result: Result<u64, ProduceError>,
    ) {
        match result {
            Ok(offset) => {
                self.leaders.insert(partition, from);
                *self.seqs.entry(partition).or_insert(0) += 1;
                let run = self.run.as_mut().expect("runs");
                run.out.push(Value::List(vec![
                    Value::Str("send".into()),
                    Value::Int(key as i64),
                    Value::List(vec![Value::Int(offset as i64), Value::Int(value)]),
                ]));
                run.step += 1;
                self.advance(ctx);
            }
            Err(ProduceError::NotLeader(hint)) => {
                self.redirect(ctx, partition, from, hint);
                if hint.is_some() {
                    self.resend(ctx);
                }
            }
            // A zombie, a batch before this one lost, or the transaction is no longer
            // open at the coordinator: this transaction cannot commit.
            Err(ProduceError::Refused(
                Refused::Fenced { .. }
                | Refused::OutOfOrderSequence { .. }
                | Refused::NotInTransaction,
            )) => self.fenced(ctx),
        }
    }

    fn on_fetched(
        &mut self,
        ctx: C<'_, '_>,
        from: usize,
        partition: u32,
        offset: u64,
        result: Result<Fetched<Sent>, Hint>,
    ) {
        let at = match (self.positions.get(&partition), &self.member) {
            (Some(&at), _) => at,
            (None, None) => 0,
            // Subscribed, position not known yet: an answer to a fetch from before.
            (None, Some(_)) => return,
        };
        let run = self.run.as_mut().expect("runs");
        let Waiting::Poll(left) = &mut run.waiting else {
            return;
        };
        if offset != at || !left.contains(&partition) {
            return; // An answer to an earlier fetch.
        }
        match result {
            Ok(fetched) => {
                left.remove(&partition);
                for (o, r) in &fetched.records {
                    let key: i64 = r.key.parse().expect("keys are numbers");
                    let pair = Value::List(vec![Value::Int(*o as i64), Value::Int(r.value)]);
                    run.polled.entry(key).or_default().push(pair);
                }
                self.positions.insert(partition, fetched.next);
                self.leaders.insert(partition, from);
                if self.member.is_some() {
                    run.consumed.entry(partition).or_insert((at, at)).1 = fetched.next;
                }
                if left.is_empty() {
                    let polled = std::mem::take(&mut run.polled);
                    run.out.push(poll_value(polled));
                    run.step += 1;
                    self.advance(ctx);
                }
            }
            Err(hint) => {
                self.redirect(ctx, partition, from, hint);
                if hint.is_some() {
                    self.resend_only(ctx, Some(partition));
                }
            }
        }
    }
}

/// A poll's output, as Jepsen writes it: `["poll", {key [[offset value] ...]}]`.
fn poll_value(polled: BTreeMap<i64, Vec<Value>>) -> Value {
    let map = polled
        .into_iter()
        .map(|(k, rs)| (Value::Int(k), Value::List(rs)))
        .collect();
    Value::List(vec![Value::Str("poll".into()), Value::Map(map)])
}

impl TxnClient {
    /// Subscribed: tell the group coordinator this member lives.
    fn heartbeat(&mut self, ctx: C<'_, '_>) {
        if self.member.is_some() {
            let member = ctx.node();
            let msg = B::Heartbeat {
                group: GROUP.into(),
                member,
            };
            let to = self.leader(ctx, 0);
            ctx.send(to, Msg::Broker(msg));
        }
    }

    /// Subscribed: a new generation becomes an `assign` of its partitions' keys in the
    /// history (the queue check starts the process's positions over there).
    fn record_assignment(&mut self, ctx: C<'_, '_>) {
        let partitions = ctx.system().partitions.len() as u64;
        let Some(m) = self.member.as_mut() else {
            return;
        };
        if m.generation == m.recorded {
            return;
        }
        m.recorded = m.generation;
        let keys = (0..KEYS)
            .filter(|k| m.owned.contains(&((k % partitions) as u32)))
            .map(|k| Value::Int(k as i64))
            .collect();
        let op = ctx.invoke(Func::Assign, None, Value::List(keys));
        ctx.complete(op, Status::Ok, Value::Nil);
    }

    /// Where the next transaction reads from after one that did not commit: a subscribed
    /// client asks the group again (its committed offsets), an assigned one goes back.
    fn rewind(&mut self, before: BTreeMap<u32, u64>) {
        if self.member.is_some() {
            self.positions.clear();
        } else {
            self.positions = before;
        }
    }

    /// The group coordinator's answer to a heartbeat: a new generation moves the
    /// partitions, every position is asked of the group again, and a transaction that
    /// reads cannot commit what it consumed under the old one.
    fn on_assignment(
        &mut self,
        ctx: C<'_, '_>,
        from: usize,
        result: Result<(u64, Vec<u32>), Hint>,
    ) {
        let Some(m) = self.member.as_mut() else {
            return;
        };
        let (generation, owned) = match result {
            Ok(assigned) => assigned,
            Err(hint) => return self.redirect(ctx, 0, from, hint),
        };
        if generation == m.generation {
            return;
        }
        m.generation = generation;
        m.owned = owned.into_iter().collect();
        self.positions.clear();
        if let Some(run) = self.run.as_mut() {
            if run.op.micros.contains(&Micro::Poll) && !run.commit_asked && run.commit {
                ctx.probe("txn_input_moved");
                run.commit = false;
            }
        }
    }

    /// Subscribed: the group's committed offset of a partition to poll (`None`: a
    /// transaction's offsets for it are still pending — ask again at the retry).
    fn on_offset_fetched(
        &mut self,
        ctx: C<'_, '_>,
        from: usize,
        partition: u32,
        result: Result<Option<u64>, Hint>,
    ) {
        let waits = matches!(&self.run, Some(Run { waiting: Waiting::Poll(left), .. }) if left.contains(&partition));
        if !waits || self.positions.contains_key(&partition) {
            return; // A late answer.
        }
        match result {
            Ok(Some(offset)) => {
                self.leaders.insert(0, from);
                self.positions.insert(partition, offset);
                self.resend_only(ctx, Some(partition));
            }
            Ok(None) => {}
            Err(hint) => self.redirect(ctx, 0, from, hint),
        }
    }
}
