//! Partition verification (KIP-890 part 1): before a transactional batch *opens* its
//! producer's transaction in a partition, the partition's leader asks the coordinator
//! whether that producer's ongoing transaction, of that epoch, holds the partition.
//!
//! Without it a produce that arrives late — after its transaction was aborted and its
//! marker written here — opens a transaction the coordinator knows nothing of: no marker
//! will ever end it, so it pins the partition's last stable offset for good (a *hanging
//! transaction*), or the producer's next transaction adding the partition ends it and
//! commits a record its client saw aborted. With the epoch bumped per transaction
//! (transaction version 2) the abort marker's higher epoch fences such a produce too;
//! with version 1 markers keep the epoch and verification is the defence.
//!
//! The answer is only good until the next marker for the producer lands here, so the
//! batch carries the count of the producer's markers the partition had applied when the
//! verification began, and the partition refuses it when applied if a marker came since
//! ([`super::partition`]). Pending verifications are the leader's soft state: a new
//! leader starts with none, and an unanswered one is asked again at the tick, a few
//! times, then dropped (the producer's own retry starts another).

use super::{BrokerHost, Msg, Payload, ProduceError, Refused, TxnError};
use crate::sim::Ctx;
use crate::systems::components::raft::Raft;

type C<'c, 'a, H> = &'c mut Ctx<'a, H>;

/// Times a verification is asked before it is dropped.
const VERIFY_TRIES: u32 = 4;

/// A transactional produce waiting for the coordinator's verification.
#[derive(Debug, Clone)]
pub struct Verifying<V> {
    /// The producer process and its request.
    from: usize,
    req: u64,
    /// The batch to append once verified, and its producer.
    batch: Payload<V>,
    pid: u64,
    epoch: u32,
    /// The producer's markers applied here when the verification began.
    guard: u64,
    /// Where the coordinator was asked, when (ns), how many times.
    asked: usize,
    sent_ns: u64,
    tries: u32,
}

impl<V> Verifying<V> {
    /// The question to the coordinator.
    fn ask(&self, partition: u32, vid: u64) -> Msg<V> {
        Msg::VerifyTxn {
            partition,
            vid,
            pid: self.pid,
            epoch: self.epoch,
        }
    }
}

impl<H: BrokerHost> Raft<H> {
    /// A transactional produce: ask the coordinator first if it opens the transaction
    /// here. Returns the batch when it may be appended at once.
    pub(super) fn verify_produce(
        &mut self,
        ctx: C<'_, '_, H>,
        (from, req): (usize, u64),
        batch: Payload<H::Value>,
    ) -> Option<Payload<H::Value>> {
        let Payload::Append {
            producer: Some(p),
            transactional: true,
            ..
        } = &batch
        else {
            return Some(batch);
        };
        let (pid, epoch) = (p.pid, p.epoch);
        // Only a batch that would open the transaction in the leader's log is verified.
        let tail = self.tail().expect("a leader has a log");
        if ctx.system().broker_config().bugs.no_partition_verification
            || !tail.opens_txn(pid, epoch)
        {
            return Some(batch);
        }
        let guard = tail.markers_of(pid);
        let partition = self.group as u32;
        let replicas = ctx.system().partition_replicas();
        let lead = self.service_mut().expect("a leader serves");
        if (lead.verifying.values()).any(|v| v.from == from && v.req == req) {
            return None; // A retry of a produce already being verified.
        }
        let asked = *lead.txn.leaders.get(&0).unwrap_or(&replicas[0][0]);
        lead.next_vid += 1;
        let vid = lead.next_vid;
        let now = ctx.now_ns();
        let entry = Verifying {
            from,
            req,
            batch,
            pid,
            epoch,
            guard,
            asked,
            sent_ns: now,
            tries: 1,
        };
        let ask = entry.ask(partition, vid);
        lead.verifying.insert(vid, entry);
        ctx.probe("txn_partition_verifying");
        self.send_verify(ctx, asked, ask);
        None
    }

    fn send_verify(&mut self, ctx: C<'_, '_, H>, to: usize, msg: Msg<H::Value>) {
        if to == ctx.node() {
            self.on_verify_message(ctx, to, msg);
        } else {
            ctx.send(to, H::broker_msg(msg));
        }
    }

    /// `VerifyTxn` at the coordinator, `TxnVerified` at the partition leader.
    pub(super) fn on_verify_message(&mut self, ctx: C<'_, '_, H>, from: usize, msg: Msg<H::Value>) {
        match msg {
            Msg::VerifyTxn {
                partition,
                vid,
                pid,
                epoch,
            } => {
                let result = if !(self.is_leader() && self.group == 0) {
                    Err(TxnError::NotCoordinator(if self.group == 0 {
                        self.leader
                    } else {
                        None
                    }))
                } else {
                    // Both the committed state and the log's tail must have it open: a
                    // decision appended but not yet committed ends it all the same.
                    let tail = &self.tail().expect("the coordinator leads").coordinator;
                    (self.state.coordinator.verify(pid, epoch, partition))
                        .and(tail.verify(pid, epoch, partition))
                };
                let reply = Msg::TxnVerified {
                    partition,
                    vid,
                    result,
                };
                self.send_verify(ctx, from, reply);
            }
            Msg::TxnVerified { vid, result, .. } => self.on_verified(ctx, from, vid, result),
            other => panic!("not a verification message: {other:?}"),
        }
    }

    fn on_verified(
        &mut self,
        ctx: C<'_, '_, H>,
        from: usize,
        vid: u64,
        result: Result<(), TxnError>,
    ) {
        let partition = self.group as u32;
        let Some(lead) = self.service_mut() else {
            return; // Deposed since: the producer's retry finds the new leader.
        };
        let Some(v) = lead.verifying.get_mut(&vid) else {
            return; // Answered already, or dropped.
        };
        if let Err(TxnError::NotCoordinator(hint)) = result {
            // Follow a hint now; without one (an election) the tick asks the next replica.
            if let Some(to) = hint {
                v.asked = to;
                let ask = v.ask(partition, vid);
                self.send_verify(ctx, to, ask);
            }
            return;
        }
        let mut v = lead.verifying.remove(&vid).expect("just seen");
        lead.txn.leaders.insert(0, from);
        if result.is_err() {
            ctx.probe("txn_partition_not_verified");
            let reply = Msg::ProduceAck {
                partition,
                req: v.req,
                result: Err(ProduceError::Refused(Refused::NotInTransaction)),
            };
            return ctx.send(v.from, H::broker_msg(reply));
        }
        if let Payload::Append { verified, .. } = &mut v.batch {
            *verified = Some(v.guard);
        }
        self.append_produce(ctx, v.from, partition, v.req, v.batch);
    }

    /// The tick: ask again where no answer came, a few times.
    pub(super) fn on_verify_tick(&mut self, ctx: C<'_, '_, H>, retry_ms: u64) {
        let now = ctx.now_ns();
        let host = ctx.system();
        let partition = self.group as u32;
        let Some(lead) = self.service_mut() else {
            return;
        };
        let due = |v: &Verifying<H::Value>| now.saturating_sub(v.sent_ns) >= retry_ms * 1_000_000;
        lead.verifying
            .retain(|_, v| v.tries < VERIFY_TRIES || !due(v));
        let mut again = Vec::new();
        for (&vid, v) in lead.verifying.iter_mut().filter(|(_, v)| due(v)) {
            v.asked = super::client::next_replica(host, 0, v.asked, None);
            v.sent_ns = now;
            v.tries += 1;
            again.push((v.asked, v.ask(partition, vid)));
        }
        for (to, msg) in again {
            self.send_verify(ctx, to, msg);
        }
    }
}
