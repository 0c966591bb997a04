//! Offsets in transactions: a consume-transform-produce loop commits its input positions
//! with its output, in one transaction (KIP-98's `TxnOffsetCommit`, fenced by the consumer
//! group's generation as KIP-447 has it).
//!
//! The consumer groups' offsets live in partition 0's log, so a transaction that commits
//! offsets first adds partition 0 (Kafka's `AddOffsetsToTxn` adds the group's offsets
//! partition the same way), then sends the offsets to the coordinator, which
//!
//! 1. refuses a producer that is not the id's current instance or has no transaction open
//!    with partition 0 in it ([`super::coordinator::TxnLog::offsets`]);
//! 2. refuses a member whose generation is over or that does not hold the partitions — the
//!    zombie of a rebalance must not commit positions another member now consumes from;
//! 3. appends them as [`Payload::TxnOffsets`] and answers once that is committed.
//!
//! The offsets stay pending in the partition's state until the transaction's marker reaches
//! partition 0: a commit marker makes them the group's positions, an abort drops them. While
//! they pend, an offset fetch of those partitions answers "ask again" (KIP-447's stable
//! offsets): a member that just got the partition must not start from the position before
//! a transaction that may yet commit.

use super::coordinator::TxnError;
use super::txn::{Answer, Asker};
use super::{BrokerHost, Msg, Payload};
use crate::sim::Ctx;
use crate::systems::components::raft::Raft;

type C<'c, 'a, H> = &'c mut Ctx<'a, H>;

/// What a `TxnOffsetCommit` asks, besides who asks.
#[derive(Debug, Clone)]
struct TxnOffsets {
    pid: u64,
    epoch: u32,
    group: String,
    generation: u64,
    member: usize,
    offsets: Vec<(u32, u64)>,
}

impl<H: BrokerHost> Raft<H> {
    /// The group's committed offset in `partition`, or `None` while a transaction's
    /// offsets for it pend (in the applied state, or appended and not yet applied).
    pub(super) fn committed_offset(
        &self,
        ctx: C<'_, '_, H>,
        group: &str,
        partition: u32,
    ) -> Option<u64> {
        let pending = |s: &super::PartitionLog<H::Value>| s.offsets_pending(group, partition);
        if pending(&self.state) || self.tail().is_some_and(pending) {
            ctx.probe("offset_fetch_unstable");
            return None;
        }
        let key = (group.to_string(), partition);
        Some(self.state.offsets.get(&key).copied().unwrap_or(0))
    }

    /// A `TxnOffsetCommit`.
    pub(super) fn on_txn_offset_commit(
        &mut self,
        ctx: C<'_, '_, H>,
        from: usize,
        msg: Msg<H::Value>,
    ) {
        let Msg::TxnOffsetCommit {
            txn_id,
            req,
            pid,
            epoch,
            group,
            generation,
            member,
            offsets,
        } = msg
        else {
            unreachable!("only TxnOffsetCommit comes here")
        };
        let asker = (from, txn_id, req);
        if !(self.is_leader() && self.group == 0) {
            let hint = if self.group == 0 { self.leader } else { None };
            return Self::offsets_reply(ctx, asker, Err(TxnError::NotCoordinator(hint)));
        }
        let t = TxnOffsets {
            pid,
            epoch,
            group,
            generation,
            member,
            offsets,
        };
        self.txn_offset_commit(ctx, asker, t);
    }

    /// `TxnOffsetCommit` at the coordinator (it leads partition 0).
    fn txn_offset_commit(&mut self, ctx: C<'_, '_, H>, asker: Asker, t: TxnOffsets) {
        let tail = &self.tail().expect("the coordinator leads").coordinator;
        if let Err(e) = tail.offsets(&asker.1, (t.pid, t.epoch)) {
            return Self::offsets_reply(ctx, asker, Err(e));
        }
        let lead = self.service_mut().expect("the coordinator leads");
        let current = lead.groups.get(&t.group).is_some_and(|g| {
            g.generation == t.generation
                && (g.assignment.get(&t.member))
                    .is_some_and(|ps| t.offsets.iter().all(|(p, _)| ps.contains(p)))
        });
        if !current {
            ctx.probe("txn_offset_commit_fenced");
            return Self::offsets_reply(ctx, asker, Err(TxnError::Fenced));
        }
        let entry = Payload::TxnOffsets {
            pid: t.pid,
            epoch: t.epoch,
            group: t.group,
            offsets: t.offsets,
        };
        let index = self.append(ctx, entry);
        if let Some(lead) = self.service_mut() {
            lead.txn.answers.insert(index, (asker, Answer::Offsets));
        }
    }

    /// Answer a `TxnOffsetCommit`.
    pub(super) fn offsets_reply(
        ctx: C<'_, '_, H>,
        (to, txn_id, req): Asker,
        result: Result<(), TxnError>,
    ) {
        let msg = Msg::TxnOffsetCommitReply {
            txn_id,
            req,
            result,
        };
        ctx.send(to, H::broker_msg(msg));
    }
}
