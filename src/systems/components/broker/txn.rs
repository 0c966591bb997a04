//! Transactions on the broker: the coordinator's requests and its marker rounds.
//!
//! A transactional producer asks partition 0's leader, the coordinator, for its producer id
//! and epoch (`InitProducerId`), adds each partition before its first produce to it
//! (`AddPartitionsToTxn`), produces transactional batches to the partition leaders, and
//! ends with `EndTxn`. The coordinator decides from its log ([`super::coordinator`]):
//! every transition is appended to partition 0's Raft log and answered only once
//! committed. Once a `PrepareCommit` or `PrepareAbort` is committed it writes a *marker*
//! to every partition of the transaction — each partition leader appends the marker to its
//! own log and answers once it is committed — and when all have answered it logs
//! `CompleteCommit` / `CompleteAbort`. A marker round is soft state: a new coordinator
//! leader finds the transactions still preparing in its log and writes their markers
//! again (a marker already written is a no-op). The broker's tick re-sends unanswered
//! markers and aborts transactions open past their timeout.

use std::collections::BTreeMap;

use super::coordinator::{End, Init, TxnError, TxnMeta, TxnState};
use super::{BrokerHost, Hint, Msg, Payload};
use crate::sim::Ctx;
use crate::systems::components::raft::{Applied, Raft};

type C<'c, 'a, H> = &'c mut Ctx<'a, H>;

/// What a committed coordinator entry answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Answer {
    /// `InitProducerId`: the producer id and epoch.
    Init,
    /// `AddPartitionsToTxn`.
    Add,
    /// `EndTxn`: the epoch the next transaction uses.
    End,
    /// `TxnOffsetCommit`.
    Offsets,
}

/// Who asked the coordinator: the client, the transactional id, the request's id.
pub(super) type Asker = (usize, String, u64);

/// A marker round of one transaction: the partitions that have not confirmed yet.
#[derive(Debug, Clone)]
pub(super) struct MarkerRound {
    pid: u64,
    epoch: u32,
    ran: u32,
    commit: bool,
    /// Partition → (the replica asked, when (ns)).
    waiting: BTreeMap<u32, (usize, u64)>,
}

impl MarkerRound {
    fn marker<V>(&self, id: &str) -> Msg<V> {
        Self::marker_of(id, self.pid, self.epoch, self.ran, self.commit)
    }

    fn marker_of<V>(id: &str, pid: u64, epoch: u32, ran: u32, commit: bool) -> Msg<V> {
        Msg::WriteMarker {
            txn_id: id.to_string(),
            pid,
            epoch,
            ran,
            commit,
        }
    }
}

/// The coordinator's and the partition leaders' soft state for transactions.
#[derive(Debug, Clone, Default)]
pub struct TxnLead {
    /// Coordinator entries to answer once committed: index → (client, request, what).
    pub(super) answers: BTreeMap<u64, (Asker, Answer)>,
    /// Marker rounds by transactional id.
    pub(super) rounds: BTreeMap<String, MarkerRound>,
    /// Where each partition's leader was last seen.
    pub(super) leaders: BTreeMap<u32, usize>,
    /// Markers this partition leader appended: index → (coordinator, id, pid, epoch).
    pub(super) markers: BTreeMap<u64, (usize, String, u64, u32)>,
}

impl<H: BrokerHost> Raft<H> {
    fn coordinating(&self) -> bool {
        self.is_leader() && self.group == 0
    }

    fn txn_reply(
        &self,
        ctx: C<'_, '_, H>,
        (to, txn_id, req): Asker,
        answer: Answer,
        result: Result<&TxnMeta, TxnError>,
    ) {
        let msg = match answer {
            Answer::Init => Msg::InitPidReply {
                txn_id,
                req,
                result: result.map(|m| (m.pid, m.epoch)),
            },
            Answer::Add => Msg::AddPartitionsReply {
                txn_id,
                req,
                result: result.map(|_| ()),
            },
            Answer::End => Msg::EndTxnReply {
                txn_id,
                req,
                result: result.map(|m| m.epoch),
            },
            Answer::Offsets => Msg::TxnOffsetCommitReply {
                txn_id,
                req,
                result: result.map(|_| ()),
            },
        };
        ctx.send(to, H::broker_msg(msg));
    }

    /// A transactional request for the coordinator, or a marker for a partition leader.
    pub(super) fn on_txn_message(&mut self, ctx: C<'_, '_, H>, from: usize, msg: Msg<H::Value>) {
        let refuse = |raft: &Self| {
            TxnError::NotCoordinator(if raft.group == 0 { raft.leader } else { None })
        };
        match msg {
            Msg::InitPid {
                txn_id,
                req,
                timeout_ms,
            } => {
                if !self.coordinating() {
                    let e = refuse(self);
                    return self.txn_reply(ctx, (from, txn_id, req), Answer::Init, Err(e));
                }
                self.init_pid(ctx, (from, txn_id, req), timeout_ms);
            }
            Msg::AddPartitions {
                txn_id,
                req,
                pid,
                epoch,
                partitions,
            } => {
                let asker = (from, txn_id, req);
                if !self.coordinating() {
                    let e = refuse(self);
                    return self.txn_reply(ctx, asker, Answer::Add, Err(e));
                }
                let now = ctx.now_ns();
                let tail = &self.tail().expect("the coordinator leads").coordinator;
                match tail.add(&asker.1, (pid, epoch), &partitions, now) {
                    Ok(meta) => {
                        let id = asker.1.clone();
                        self.log_txn(ctx, Some((asker, Answer::Add)), id, meta)
                    }
                    Err(e) => self.txn_reply(ctx, asker, Answer::Add, Err(e)),
                }
            }
            Msg::EndTxn {
                txn_id,
                req,
                pid,
                epoch,
                commit,
            } => {
                if !self.coordinating() {
                    let e = refuse(self);
                    return self.txn_reply(ctx, (from, txn_id, req), Answer::End, Err(e));
                }
                self.end_txn(ctx, (from, txn_id, req), (pid, epoch), commit);
            }
            msg @ Msg::TxnOffsetCommit { .. } => self.on_txn_offset_commit(ctx, from, msg),
            Msg::WriteMarker {
                txn_id,
                pid,
                epoch,
                ran,
                commit,
            } => self.write_marker(ctx, from, txn_id, pid, (epoch, ran), commit),
            Msg::MarkerWritten {
                txn_id,
                partition,
                pid,
                epoch,
                result,
            } => self.marker_written(ctx, from, &txn_id, partition, (pid, epoch), result),
            other => panic!("broker got {other:?} from {from}"),
        }
    }

    fn init_pid(&mut self, ctx: C<'_, '_, H>, asker: Asker, timeout_ms: u64) {
        let fence = !ctx.system().broker_config().bugs.no_producer_fencing;
        let now = ctx.now_ns();
        let tail = &self.tail().expect("the coordinator leads").coordinator;
        let id = asker.1.clone();
        match tail.init(&id, timeout_ms, now, fence) {
            Ok(Init::Ready(meta)) => self.log_txn(ctx, Some((asker, Answer::Init)), id, meta),
            Ok(Init::AbortFirst(meta)) => {
                ctx.probe("txn_aborted_by_new_instance");
                self.txn_reply(ctx, asker, Answer::Init, Err(TxnError::Concurrent));
                self.log_txn(ctx, None, id, meta);
            }
            Err(e) => self.txn_reply(ctx, asker, Answer::Init, Err(e)),
        }
    }

    fn end_txn(&mut self, ctx: C<'_, '_, H>, asker: Asker, producer: (u64, u32), commit: bool) {
        let config = ctx.system().broker_config();
        let bump = config.epoch_bump_per_txn && !config.bugs.no_epoch_bump_per_txn;
        let tail = &self.tail().expect("the coordinator leads").coordinator;
        let id = asker.1.clone();
        match tail.end(&id, producer, commit, bump) {
            Ok(End::Prepare(meta)) => {
                // An aim target: the decision is in the coordinator's log, not yet durable.
                ctx.probe("txn_decision_appended");
                if ctx
                    .system()
                    .broker_config()
                    .bugs
                    .markers_before_prepare_logged
                {
                    // The planted bug: markers go out before the decision is durable.
                    self.start_round(ctx, &id, &meta);
                }
                self.log_txn(ctx, Some((asker, Answer::End)), id, meta);
            }
            Ok(End::Done(epoch)) => {
                // Decided already — but only a committed decision may be reported: the
                // tail's may still be lost with this leadership.
                let committed = self.state.coordinator.end(&id, producer, commit, bump);
                let result = match committed {
                    Ok(End::Done(e)) if e == epoch => Ok(epoch),
                    _ => Err(TxnError::Concurrent),
                };
                let (to, txn_id, req) = asker;
                let msg = Msg::EndTxnReply {
                    txn_id,
                    req,
                    result,
                };
                ctx.send(to, H::broker_msg(msg));
            }
            Err(e) => self.txn_reply(ctx, asker, Answer::End, Err(e)),
        }
    }

    /// Append a transition; answer the asker once it is committed.
    fn log_txn(
        &mut self,
        ctx: C<'_, '_, H>,
        asker: Option<(Asker, Answer)>,
        id: String,
        meta: TxnMeta,
    ) {
        let index = self.append(ctx, Payload::Txn { id, meta });
        if let (Some(asked), Some(lead)) = (asker, self.service_mut()) {
            lead.txn.answers.insert(index, asked);
        }
    }

    /// After a coordinator entry committed (leader): answer, start markers of a decision.
    pub(super) fn on_txn_applied(&mut self, ctx: C<'_, '_, H>, applied: &Applied<H>) {
        let index = applied.entry.index;
        if let Some((coordinator, txn_id, pid, epoch)) =
            (self.service_mut()).and_then(|l| l.txn.markers.remove(&index))
        {
            let partition = self.group as u32;
            let msg = Msg::MarkerWritten {
                txn_id,
                partition,
                pid,
                epoch,
                result: Ok(()),
            };
            self.deliver(ctx, coordinator, msg);
        }
        if let Payload::TxnOffsets { .. } = &applied.entry.payload {
            if let Some((asker, _)) =
                (self.service_mut()).and_then(|l| l.txn.answers.remove(&index))
            {
                Self::offsets_reply(ctx, asker, Ok(()));
            }
            return;
        }
        let Payload::Txn { id, meta } = &applied.entry.payload else {
            return;
        };
        if let Some((asker, answer)) =
            (self.service_mut()).and_then(|l| l.txn.answers.remove(&index))
        {
            self.txn_reply(ctx, asker, answer, Ok(meta));
        }
        // Only a decision still current: a leader applying its log from far back (after a
        // restart) passes decisions completed long ago, and a round for one of those
        // would, when it completes, complete the transaction current now.
        let current = (self.tail()).is_some_and(|t| t.coordinator.txns.get(id) == Some(meta));
        if meta.state.preparing() && current {
            self.start_round(ctx, id, meta);
        }
    }

    /// Write `meta`'s markers to every partition of its transaction.
    fn start_round(&mut self, ctx: C<'_, '_, H>, id: &str, meta: &TxnMeta) {
        let Some(lead) = self.service_mut() else {
            return;
        };
        let commit = meta.state == TxnState::PrepareCommit;
        if (lead.txn.rounds.get(id))
            .is_some_and(|r| r.epoch == meta.epoch && r.pid == meta.pid && r.commit == commit)
        {
            return;
        }
        let replicas = ctx.system().partition_replicas().to_vec();
        let now = ctx.now_ns();
        let waiting = (meta.partitions.iter())
            .map(|&p| {
                (
                    p,
                    (
                        *lead.txn.leaders.get(&p).unwrap_or(&replicas[p as usize][0]),
                        now,
                    ),
                )
            })
            .collect();
        let round = MarkerRound {
            pid: meta.pid,
            epoch: meta.epoch,
            ran: meta.txn_epoch,
            commit,
            waiting,
        };
        lead.txn.rounds.insert(id.to_string(), round.clone());
        if round.waiting.is_empty() {
            return self.complete(ctx, id);
        }
        for &(target, _) in round.waiting.values() {
            let msg = round.marker(id);
            self.deliver(ctx, target, msg);
        }
    }

    /// Send `msg` to `to`, or handle it here when `to` is this process.
    fn deliver(&mut self, ctx: C<'_, '_, H>, to: usize, msg: Msg<H::Value>) {
        if to == ctx.node() {
            self.on_txn_message(ctx, to, msg);
        } else {
            ctx.send(to, H::broker_msg(msg));
        }
    }

    /// A partition leader: append the marker, answer the coordinator once committed.
    fn write_marker(
        &mut self,
        ctx: C<'_, '_, H>,
        from: usize,
        txn_id: String,
        pid: u64,
        (epoch, ran): (u32, u32),
        commit: bool,
    ) {
        if !self.is_leader() {
            let partition = self.group as u32;
            let msg = Msg::MarkerWritten {
                txn_id,
                partition,
                pid,
                epoch,
                result: Err(self.leader),
            };
            return self.deliver(ctx, from, msg);
        }
        let index = self.append(
            ctx,
            Payload::Marker {
                pid,
                epoch,
                ran,
                commit,
            },
        );
        if let Some(lead) = self.service_mut() {
            lead.txn.markers.insert(index, (from, txn_id, pid, epoch));
        }
    }

    fn marker_written(
        &mut self,
        ctx: C<'_, '_, H>,
        from: usize,
        txn_id: &str,
        partition: u32,
        (pid, epoch): (u64, u32),
        result: Result<(), Hint>,
    ) {
        if !self.coordinating() {
            return;
        }
        let hint = result.err().flatten();
        let next = super::client::next_replica(ctx.system(), partition, from, hint);
        let now = ctx.now_ns();
        let lead = self.service_mut().expect("the coordinator leads");
        let Some(round) = lead.txn.rounds.get_mut(txn_id) else {
            return;
        };
        if round.pid != pid || round.epoch != epoch || !round.waiting.contains_key(&partition) {
            return; // A late answer to an earlier round.
        }
        match result {
            Ok(()) => {
                lead.txn.leaders.insert(partition, from);
                round.waiting.remove(&partition);
                if round.waiting.is_empty() {
                    self.complete(ctx, txn_id);
                }
            }
            Err(_) => {
                // With a hint, follow it now; without one (an election), the tick tries
                // the next replica.
                if hint.is_some() {
                    round.waiting.insert(partition, (next, now));
                    let msg = round.marker(txn_id);
                    self.deliver(ctx, next, msg);
                }
            }
        }
    }

    /// Every marker of `id`'s round is written: log the transaction complete.
    fn complete(&mut self, ctx: C<'_, '_, H>, id: &str) {
        let lead = self.service_mut().expect("the coordinator leads");
        let round = lead.txn.rounds.remove(id).expect("a round ends once");
        let tail = &self.tail().expect("the coordinator leads").coordinator;
        let (prepared, state) = match round.commit {
            true => (TxnState::PrepareCommit, TxnState::CompleteCommit),
            false => (TxnState::PrepareAbort, TxnState::CompleteAbort),
        };
        // The round's own decision only: with transaction version 1 the producer's next
        // transaction has the same producer id and epoch, and another decision of it must
        // not be completed by this round's markers.
        let Some(meta) = (tail.txns.get(id))
            .filter(|m| m.pid == round.pid && m.epoch == round.epoch && m.state == prepared)
        else {
            return; // Completed already, or a newer transition was logged meanwhile.
        };
        let done = TxnMeta {
            state,
            ..meta.clone()
        };
        self.log_txn(ctx, None, id.to_string(), done);
    }

    /// The broker's periodic work for transactions: verifications asked again (partition
    /// leaders); and at the coordinator: re-send unanswered
    /// markers, resume the rounds of decisions found in the log, abort transactions past
    /// their timeout.
    pub fn on_txn_tick(&mut self, ctx: C<'_, '_, H>, retry_ms: u64) {
        self.on_verify_tick(ctx, retry_ms);
        if !self.coordinating() || !self.leads_caught_up() {
            return;
        }
        let now = ctx.now_ns();
        let host = ctx.system();
        let lead = self.service_mut().expect("the coordinator leads");
        let mut resend = Vec::new();
        for (id, round) in lead.txn.rounds.iter_mut() {
            for (&p, (target, sent)) in round.waiting.iter_mut() {
                if now.saturating_sub(*sent) >= retry_ms * 1_000_000 {
                    *target = super::client::next_replica(host, p, *target, None);
                    *sent = now;
                    resend.push((
                        *target,
                        MarkerRound::marker_of(id, round.pid, round.epoch, round.ran, round.commit),
                    ));
                }
            }
        }
        for (to, msg) in resend {
            self.deliver(ctx, to, msg);
        }
        // Decisions that are durable (applied) and not completed since (the tail): a round
        // restarted for a completed one would write markers into the next transaction's
        // time, and one for a decision not yet durable could be torn by a failover.
        let tail = &self.tail().expect("the coordinator leads").coordinator;
        let preparing: Vec<(String, TxnMeta)> = (self.state.coordinator.txns.iter())
            .filter(|(id, m)| m.state.preparing() && tail.txns.get(*id) == Some(m))
            .map(|(id, m)| (id.clone(), m.clone()))
            .collect();
        for (id, meta) in preparing {
            self.start_round(ctx, &id, &meta);
        }
        let expired = self
            .tail()
            .expect("the coordinator leads")
            .coordinator
            .expired(now);
        for (id, abort) in expired {
            ctx.probe("txn_timed_out");
            self.log_txn(ctx, None, id, abort);
        }
    }
}
