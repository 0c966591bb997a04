//! The service on top of each shard's replicated log: commands, answers, and the
//! two-phase commit of cross-shard transfers.
//!
//! The leader decides commands into events against its *tail* state (the state after
//! every entry in its log, committed or not, so validations see earlier pending writes),
//! appends them, and answers the client when the entry is applied. Reads go through the
//! log too. A command on an account locked by an unfinished transfer is parked until the
//! lock is released. The leader also drives cross-shard transfers, whose state lives in
//! the log: a new leader finishes what the old one started.
//!
//! [`EsCluster`]'s [`Host`] implementation is how the replicated log calls in: to apply an
//! entry (deciding with the replica's randomness and clock only for the
//! `replicate-commands` bug's command entries), after a committed entry was applied
//! (observations for the checks; the leader acts on the effects), and when leadership
//! starts and ends (the transfer tick).

use std::collections::BTreeMap;

use super::ledger::{
    Command, CoordState, Decider, Decision, Effect, Event, Ledger, LogEntry, PartState, Payload,
    TxnId,
};
use super::{EsCluster, EsObs, Msg, ReadMode, Record, Replica, Reply, Timer};
use crate::sim::Ctx;
use crate::systems::components::clients::ReqId;
use crate::systems::components::raft::{self, Applied, Host, Raft};

type C<'c, 'a> = &'c mut Ctx<'a, EsCluster>;

/// The leader's service state, fresh for each term it leads.
#[derive(Debug, Clone, Default)]
pub struct LeaderService {
    /// Commands waiting for a lock to be released.
    pub parked: Vec<(ReqId, Command)>,
    /// When this leader first saw each unfinished transfer it coordinates (ns).
    pub txn_seen: BTreeMap<TxnId, u64>,
}

impl Host for EsCluster {
    type Sm = Ledger;
    type Effects = Vec<Effect>;
    type Lead = LeaderService;

    fn raft_config(&self) -> &raft::Config {
        &self.raft
    }
    fn raft_msg(msg: raft::Msg<Ledger>) -> Msg {
        Msg::Raft(msg)
    }
    fn raft_timer(timer: raft::Timer) -> Timer {
        Timer::Raft(timer)
    }
    fn raft_record(record: Record) -> Record {
        record
    }
    fn as_raft_record(record: &Record) -> Option<&Record> {
        Some(record)
    }
    fn raft_observation(obs: raft::Observation) -> EsObs {
        EsObs::Raft(obs)
    }

    fn apply(ctx: C<'_, '_>, group: usize, state: &mut Ledger, entry: &LogEntry) -> Vec<Effect> {
        let mut d = decider(ctx, group);
        state.apply(entry, &mut d)
    }

    fn on_applied(ctx: C<'_, '_>, raft: &mut Replica, applied: Applied<EsCluster>) {
        let Applied { entry, effects } = applied;
        let leader = raft.is_leader();
        if leader {
            ctx.observe(EsObs::Committed {
                shard: raft.group,
                index: entry.index,
                entry,
            });
            raft.act(ctx, effects);
        }
    }

    fn on_lead(ctx: C<'_, '_>, _raft: &mut Replica) {
        ctx.set_timer(Timer::TxnTick, ctx.system().p.txn_retry_ms);
    }

    fn on_step_down(ctx: C<'_, '_>) {
        ctx.cancel_timer(Timer::TxnTick);
    }

    fn on_snapshot_installed(_: C<'_, '_>, _: &Replica, _: u64) {}
}

impl Raft<EsCluster> {
    /// A message for this replica: the log's own, or the service's.
    pub fn on_service_message(&mut self, ctx: C<'_, '_>, from: usize, msg: Msg) {
        match msg {
            Msg::Command { req, command } => self.on_command(ctx, from, req, command),
            Msg::Raft(m) => self.on_message(ctx, from, m),
            Msg::Prepare {
                txn,
                to,
                amount,
                coordinator,
            } => self.on_prepare(ctx, txn, to, amount, coordinator),
            Msg::Prepared { txn, vote } => self.on_prepared(ctx, txn, vote),
            Msg::Decision {
                txn,
                commit,
                coordinator,
            } => self.on_decision(ctx, txn, commit, coordinator),
            Msg::DecisionApplied { txn } => self.on_decision_applied(ctx, txn),
            Msg::Fetch { from: start } => super::projection::serve_fetch(self, ctx, from, start),
            other => panic!("replica got {other:?} from {from}"),
        }
    }

    /// Leader: append events that answer no client request (two-phase-commit steps).
    fn append_events(&mut self, ctx: C<'_, '_>, events: Vec<Event>) {
        self.append(
            ctx,
            Payload::Events {
                req: None,
                events,
                reply: None,
            },
        );
    }

    /// A command from the router.
    pub fn on_command(&mut self, ctx: C<'_, '_>, from: usize, req: ReqId, command: Command) {
        let sys = ctx.system();
        let reply = |ctx: C<'_, '_>, reply: Reply| ctx.send(from, Msg::CommandReply { req, reply });
        if command.is_read() {
            match sys.read_mode {
                ReadMode::Follower if !self.is_leader() => {
                    ctx.probe("follower_read_served");
                    return reply(ctx, Reply::Done(self.state.read(&command)));
                }
                ReadMode::LeaderLocal if self.is_leader() => {
                    return reply(ctx, Reply::Done(self.state.read(&command)));
                }
                ReadMode::Lease if self.lease_holds(ctx) => {
                    ctx.probe("lease_read_served");
                    return reply(ctx, Reply::Done(self.state.read(&command)));
                }
                _ => {}
            }
        }
        if !self.is_leader() {
            return reply(ctx, Reply::NotLeader(self.leader));
        }
        let shard = self.group;
        let decision = {
            let tail = &self.lead.as_ref().expect("leaders lead").tail;
            let mut d = decider(ctx, shard);
            tail.decide(req, &command, &mut d)
        };
        match decision {
            Decision::Append(payload) => {
                let early = match &payload {
                    Payload::Events { reply: Some(r), .. } if sys.bugs.ack_before_commit => {
                        Some(r.clone())
                    }
                    _ => None,
                };
                let payload = match payload {
                    Payload::Events { req: Some(req), .. } if sys.bugs.replicate_commands => {
                        Payload::Command { req, command }
                    }
                    other => other,
                };
                self.append(ctx, payload);
                if let Some(r) = early {
                    // The planted bug: answer before a majority holds the entry.
                    reply(ctx, Reply::Done(r));
                }
            }
            Decision::Park => {
                ctx.probe("command_parked_on_lock");
                self.service_mut()
                    .expect("leaders lead")
                    .parked
                    .push((req, command));
            }
            Decision::Reply(result) => {
                // The tail knows the answer, but the tail includes uncommitted entries:
                // answer only once the request is applied (committed), never before.
                let applied = self.state.sessions.get(&req.client);
                if applied.is_some_and(|s| s.seq == req.seq && s.result.is_some()) {
                    ctx.probe("duplicate_request_answered_from_session");
                    reply(ctx, Reply::Done(result));
                }
            }
            Decision::Ignore => {}
        }
    }

    /// Leader: act on the effects of an applied entry.
    pub(super) fn act(&mut self, ctx: C<'_, '_>, effects: Vec<Effect>) {
        let sys = ctx.system();
        for effect in effects {
            match effect {
                Effect::Reply(req, result) => {
                    ctx.send(
                        sys.router_of(req.client),
                        Msg::CommandReply {
                            req,
                            reply: Reply::Done(result),
                        },
                    );
                }
                Effect::SendPrepare(txn) => self.send_prepare(ctx, txn),
                Effect::SendDecision(txn) => self.send_decision(ctx, txn),
                Effect::AckPrepared(txn) => {
                    if let Some(t) = self.state.part.get(&txn) {
                        let vote = t.state != PartState::Aborted;
                        sys.to_shard(ctx, t.coordinator, Msg::Prepared { txn, vote });
                    }
                }
                Effect::AckDecision(txn) => {
                    if let Some(t) = self.state.part.get(&txn) {
                        if t.state != PartState::Prepared {
                            sys.to_shard(ctx, t.coordinator, Msg::DecisionApplied { txn });
                        }
                    }
                }
                Effect::Unlocked => {
                    let parked =
                        std::mem::take(&mut self.service_mut().expect("leaders lead").parked);
                    for (req, command) in parked {
                        self.on_command(ctx, sys.router_of(req.client), req, command);
                    }
                }
            }
        }
    }

    fn send_prepare(&self, ctx: C<'_, '_>, txn: TxnId) {
        if let Some(t) = self.state.coord.get(&txn) {
            let msg = Msg::Prepare {
                txn,
                to: t.to.clone(),
                amount: t.amount,
                coordinator: self.group,
            };
            ctx.system().to_shard(ctx, t.to_shard, msg);
        }
    }

    fn send_decision(&self, ctx: C<'_, '_>, txn: TxnId) {
        if let Some(t) = self.state.coord.get(&txn) {
            let commit = match t.state {
                CoordState::Committed => true,
                CoordState::Aborted => false,
                CoordState::Started | CoordState::Done => return,
            };
            let msg = Msg::Decision {
                txn,
                commit,
                coordinator: self.group,
            };
            ctx.system().to_shard(ctx, t.to_shard, msg);
        }
    }

    /// Participant leader: the coordinator asks us to prepare a credit.
    pub fn on_prepare(
        &mut self,
        ctx: C<'_, '_>,
        txn: TxnId,
        to: String,
        amount: i64,
        coordinator: usize,
    ) {
        let Some(tail) = self.tail() else { return };
        match tail.part.get(&txn).map(|t| t.state) {
            Some(state) => {
                // Asked again: repeat our vote once it is committed.
                if self.state.part.contains_key(&txn) {
                    let vote = state != PartState::Aborted;
                    ctx.system()
                        .to_shard(ctx, coordinator, Msg::Prepared { txn, vote });
                }
            }
            None => {
                let events = if tail.is_open(&to) {
                    vec![Event::TxnPrepared {
                        txn,
                        to,
                        amount,
                        coordinator,
                    }]
                } else {
                    // No such account here: vote no, durably.
                    vec![Event::TxnRefused { txn, coordinator }]
                };
                self.append_events(ctx, events);
            }
        }
    }

    /// Coordinator leader: the participant voted (prepared, or refused).
    pub fn on_prepared(&mut self, ctx: C<'_, '_>, txn: TxnId, vote: bool) {
        let Some(tail) = self.tail() else { return };
        if tail
            .coord
            .get(&txn)
            .is_some_and(|t| t.state == CoordState::Started)
        {
            let events = vec![Event::TxnDecided {
                txn,
                commit: vote,
                refused: !vote,
            }];
            self.append_events(ctx, events);
        }
    }

    /// Participant leader: the coordinator's decision.
    pub fn on_decision(&mut self, ctx: C<'_, '_>, txn: TxnId, commit: bool, coordinator: usize) {
        let Some(tail) = self.tail() else { return };
        match tail.part.get(&txn).map(|t| t.state) {
            Some(PartState::Prepared) => {
                let events = vec![Event::TxnApplied {
                    txn,
                    commit,
                    coordinator,
                }];
                self.append_events(ctx, events);
            }
            Some(_) => {
                if let Some(t) = self.state.part.get(&txn) {
                    if t.state != PartState::Prepared {
                        ctx.system()
                            .to_shard(ctx, t.coordinator, Msg::DecisionApplied { txn });
                    }
                }
            }
            None if !commit => {
                // The abort overtook the prepare: remember it, so a late prepare is refused.
                let events = vec![Event::TxnApplied {
                    txn,
                    commit: false,
                    coordinator,
                }];
                self.append_events(ctx, events);
            }
            None => {}
        }
    }

    /// Coordinator leader: the participant applied the decision.
    pub fn on_decision_applied(&mut self, ctx: C<'_, '_>, txn: TxnId) {
        let Some(tail) = self.tail() else { return };
        if tail
            .coord
            .get(&txn)
            .is_some_and(|t| matches!(t.state, CoordState::Committed | CoordState::Aborted))
        {
            self.append_events(ctx, vec![Event::TxnDone { txn }]);
        }
    }

    /// Leader: drive unfinished transfers (re-send, or abort after `txn_timeout_ms`).
    pub fn on_txn_tick(&mut self, ctx: C<'_, '_>) {
        if !self.is_leader() {
            return;
        }
        let sys = ctx.system();
        let now = ctx.now_ns();
        let unfinished: Vec<(TxnId, CoordState)> = self
            .state
            .coord
            .iter()
            .filter(|(_, t)| t.state != CoordState::Done)
            .map(|(&id, t)| (id, t.state))
            .collect();
        for (txn, state) in unfinished {
            let seen = *self
                .service_mut()
                .expect("leaders lead")
                .txn_seen
                .entry(txn)
                .or_insert(now);
            let tail_state = self.tail().and_then(|t| t.coord.get(&txn)).map(|t| t.state);
            match state {
                CoordState::Started if tail_state == Some(CoordState::Started) => {
                    if now.saturating_sub(seen) >= sys.p.txn_timeout_ms * 1_000_000 {
                        ctx.probe("transfer_aborted_on_timeout");
                        let events = vec![Event::TxnDecided {
                            txn,
                            commit: false,
                            refused: false,
                        }];
                        self.append_events(ctx, events);
                    } else {
                        self.send_prepare(ctx, txn);
                    }
                }
                CoordState::Committed | CoordState::Aborted => self.send_decision(ctx, txn),
                _ => {}
            }
        }
        ctx.set_timer(Timer::TxnTick, sys.p.txn_retry_ms);
    }
}

/// The decision context of a node of `shard`.
fn decider<'r>(ctx: &'r mut Ctx<'_, EsCluster>, shard: usize) -> Decider<'r> {
    let clock_ms = ctx.local_clock_ms();
    let shards = ctx.system().shards.len();
    Decider {
        clock_ms,
        shard,
        shards,
        rng: ctx.rng(),
    }
}
