//! A Kafka-like broker: topics split into partitions, each partition a replicated log.
//!
//! **Replication.** Each partition is a Raft group ([`super::raft`]) of broker processes:
//! a record is appended by the partition's leader and is *committed* once a quorum holds
//! it durably; the commit index is the partition's high-water mark. Kafka proper uses a
//! leader with an in-sync replica set; Raft is used here because it is the same guarantee
//! (an acknowledged record survives any minority of failures, and a new leader has every
//! committed record) with elections and log repair that the replicated-log component
//! already implements and faultline already checks — nothing new to trust.
//!
//! **Producing.** A produce is acknowledged only when its batch is committed, with the
//! offset of its first record; order within a partition is the log's order. With an
//! *idempotent producer* (a producer id and a sequence number per partition), a batch the
//! producer retries after a lost acknowledgement is recognised and not appended again.
//!
//! **Consuming.** Consumers in a *group* share the partitions. The leader of partition 0
//! is the group coordinator: members heartbeat to it; when one joins or stops
//! heartbeating for `session_timeout_ms`, it starts a new *generation* and reassigns the
//! partitions round-robin. Consumers fetch committed records from the partition leaders
//! and commit their positions (offsets) to the coordinator, which stores them in
//! partition 0's replicated log and refuses commits from an old generation (a consumer
//! that lost its partitions cannot move their offsets). A consumer that takes over a
//! partition resumes from its last committed offset: delivery is at least once.
//!
//! A system using the broker implements [`BrokerHost`] (its record type, message and
//! timer wrappers, settings) on top of [`super::raft::Host`] with [`PartitionLog`] as the
//! state machine; its broker processes hold a [`Raft`] each and call
//! [`Raft::on_broker_message`]. [`client`] has the producer and consumer sides.

pub mod client;
pub mod coordinator;
pub mod partition;
pub mod txn;
mod txn_offsets;
pub mod txn_producer;
mod verify;

pub use coordinator::{TxnError, TxnMeta, TxnState};
pub use partition::{
    Aborted, Effects, Fetched, Isolation, PartitionLog, Payload, ProducerSeq, ProducerState,
    Refused,
};

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::hash::Hash;

use super::raft::{Applied, Entry, Host, Raft, StateMachine};
use crate::catalog::catalogue;
use crate::sim::Ctx;

/// Coverage probes the broker and its clients can reach.
pub const PROBES: &[&str] = &[
    "produce_retried",
    "producer_epoch_bumped",
    "consumer_fenced",
    "offset_commit_fenced",
    "consumer_group_rebalanced",
    "offset_fetch_unstable",
    "txn_aborted_by_new_instance",
    "txn_decision_appended",
    "txn_offset_commit_fenced",
    "txn_partition_not_verified",
    "txn_partition_verifying",
    "txn_timed_out",
];

/// A record: its key (which decides its partition) and its value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Record<V> {
    /// Key (an aggregate id).
    pub key: String,
    /// Value.
    pub value: V,
}

/// The partition a key goes to: FNV-1a of its bytes, modulo the partition count.
pub fn partition_of(key: &str, partitions: usize) -> u32 {
    (crate::rng::stream_id(key) % partitions.max(1) as u64) as u32
}

/// A broker's answer to a request it cannot serve: not the leader (maybe that one is).
pub type Hint = Option<usize>;

/// Why a produce was not acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProduceError {
    /// This broker does not lead the partition (maybe that one does).
    NotLeader(Hint),
    /// The partition refused the batch (sequence gap, fenced epoch).
    Refused(Refused),
}

/// Messages between brokers' clients and brokers.
#[derive(Debug, Clone)]
pub enum Msg<V> {
    /// Producer → partition leader.
    Produce {
        /// The partition to append to.
        partition: u32,
        /// The producer's request id, echoed in the acknowledgement.
        req: u64,
        /// The batch's records, in order.
        records: Vec<Record<V>>,
        /// The idempotent producer and the batch's sequence number, if any.
        producer: Option<ProducerSeq>,
        /// Part of the producer's transaction.
        transactional: bool,
    },
    /// The first record's offset once the batch is committed, or why not.
    ProduceAck {
        /// The partition the batch went to.
        partition: u32,
        /// The request id of the produce.
        req: u64,
        /// The first record's offset, or not the leader (with a hint), or refused.
        result: Result<u64, ProduceError>,
    },
    /// Consumer → partition leader: committed records from `offset`.
    Fetch {
        /// The request's id, echoed in its answer (a reader that must tell a late answer
        /// to an earlier fetch from the same offset sets it; others send 0).
        req: u64,
        /// The partition to read.
        partition: u32,
        /// The offset of the first record wanted.
        offset: u64,
        /// Most records to return.
        max: u32,
        /// Read uncommitted, or committed transactions only.
        isolation: Isolation,
    },
    /// Committed records from the asked offset, or not the leader.
    FetchReply {
        /// The request's id.
        req: u64,
        /// The partition read.
        partition: u32,
        /// The offset the fetch asked from.
        offset: u64,
        /// The committed records read from that offset and where the next fetch starts,
        /// or not the leader (with a hint).
        result: Result<Fetched<V>, Hint>,
    },
    /// Consumer → coordinator: I am alive; what is mine?
    Heartbeat {
        /// The consumer group.
        group: String,
        /// The member (the consumer's process).
        member: usize,
    },
    /// Coordinator → consumer: the generation and this member's partitions.
    Assignment {
        /// The generation and the member's partitions, or not the coordinator (with a hint).
        result: Result<(u64, Vec<u32>), Hint>,
    },
    /// Consumer → coordinator: the group's position in a partition.
    OffsetCommit {
        /// The consumer group.
        group: String,
        /// The partition the position is in.
        partition: u32,
        /// The next offset the group will consume.
        offset: u64,
        /// The generation the member holds the partition in.
        generation: u64,
        /// The committing member (the consumer's process).
        member: usize,
    },
    /// Coordinator → consumer: committed (durably), refused (old generation), or not
    /// the coordinator.
    OffsetCommitted {
        /// The partition of the commit.
        partition: u32,
        /// The offset the commit asked for.
        offset: u64,
        /// Whether it was committed (false: old generation), or not the coordinator.
        result: Result<bool, Hint>,
    },
    /// Consumer → coordinator: the group's committed position in a partition.
    OffsetFetch {
        /// The request's id, echoed in its answer (a late or duplicated answer to an
        /// earlier fetch must not be taken for this one's).
        req: u64,
        /// The consumer group.
        group: String,
        /// The partition asked about.
        partition: u32,
    },
    /// Coordinator → consumer.
    OffsetFetched {
        /// The request's id.
        req: u64,
        /// The partition asked about.
        partition: u32,
        /// The group's committed offset (0 if none; `None` while a transaction's offsets
        /// for the partition wait for its outcome: ask again), or not the coordinator
        /// (with a hint).
        result: Result<Option<u64>, Hint>,
    },
    /// Transactional producer → coordinator: my producer id and epoch (`InitProducerId`).
    InitPid {
        /// The transactional id.
        txn_id: String,
        /// The request's id, echoed in its answer.
        req: u64,
        /// Abort a transaction of this id open longer than this (ms).
        timeout_ms: u64,
    },
    /// Coordinator → producer.
    InitPidReply {
        /// The transactional id.
        txn_id: String,
        /// The request's id, echoed in its answer.
        req: u64,
        /// The producer id and epoch, or why not.
        result: Result<(u64, u32), TxnError>,
    },
    /// Producer → coordinator: the transaction writes to these partitions too.
    AddPartitions {
        /// The transactional id.
        txn_id: String,
        /// The request's id, echoed in its answer.
        req: u64,
        /// Producer id.
        pid: u64,
        /// Producer epoch.
        epoch: u32,
        /// The partitions.
        partitions: Vec<u32>,
    },
    /// Coordinator → producer.
    AddPartitionsReply {
        /// The transactional id.
        txn_id: String,
        /// The request's id, echoed in its answer.
        req: u64,
        /// Added (durably), or why not.
        result: Result<(), TxnError>,
    },
    /// Producer → coordinator: commit or abort.
    EndTxn {
        /// The transactional id.
        txn_id: String,
        /// The request's id, echoed in its answer.
        req: u64,
        /// Producer id.
        pid: u64,
        /// Producer epoch.
        epoch: u32,
        /// Commit (else abort).
        commit: bool,
    },
    /// Coordinator → producer: the decision is durable.
    EndTxnReply {
        /// The transactional id.
        txn_id: String,
        /// The request's id, echoed in its answer.
        req: u64,
        /// The epoch the producer's next transaction uses, or why not.
        result: Result<u32, TxnError>,
    },
    /// Transactional producer → coordinator: a consumer group's positions, committed with
    /// the transaction (`TxnOffsetCommit`). The transaction must have added partition 0,
    /// which holds the groups' offsets (what `AddOffsetsToTxn` does); the member's
    /// generation must be the group's and hold the partitions (KIP-447).
    TxnOffsetCommit {
        /// The transactional id.
        txn_id: String,
        /// The request's id, echoed in its answer.
        req: u64,
        /// Producer id.
        pid: u64,
        /// Producer epoch.
        epoch: u32,
        /// The consumer group.
        group: String,
        /// The generation the member consumed in.
        generation: u64,
        /// The member (the consumer's process).
        member: usize,
        /// Partition → the next offset the group will consume.
        offsets: Vec<(u32, u64)>,
    },
    /// Coordinator → producer: the offsets are in the transaction (durably), or why not.
    TxnOffsetCommitReply {
        /// The transactional id.
        txn_id: String,
        /// The request's id, echoed in its answer.
        req: u64,
        /// Added, or why not (`Fenced`: a stale generation or producer epoch).
        result: Result<(), TxnError>,
    },
    /// Coordinator → partition leader: append a transaction marker.
    WriteMarker {
        /// The transactional id.
        txn_id: String,
        /// Producer id.
        pid: u64,
        /// The epoch the transaction ends with.
        epoch: u32,
        /// The epoch the transaction's batches carry.
        ran: u32,
        /// Commit (else abort).
        commit: bool,
    },
    /// Partition leader → coordinator: the marker is committed, or not the leader.
    MarkerWritten {
        /// The transactional id.
        txn_id: String,
        /// The partition.
        partition: u32,
        /// Producer id.
        pid: u64,
        /// The marker's epoch.
        epoch: u32,
        /// Written, or not the leader (with a hint).
        result: Result<(), Hint>,
    },
    /// Partition leader → coordinator: does producer `pid`'s ongoing transaction of
    /// `epoch` hold `partition`? (KIP-890's verification, before a batch opens the
    /// transaction there.)
    VerifyTxn {
        /// The asking partition.
        partition: u32,
        /// The verification's id at the partition leader.
        vid: u64,
        /// Producer id.
        pid: u64,
        /// Producer epoch.
        epoch: u32,
    },
    /// Coordinator → partition leader.
    TxnVerified {
        /// The asking partition.
        partition: u32,
        /// The verification's id.
        vid: u64,
        /// It holds the partition, or why not.
        result: Result<(), TxnError>,
    },
}

/// The kinds of the broker's answers to its clients (fault points may hold them).
pub const REPLY_LABELS: [&str; 5] = [
    "produce_ack",
    "fetch_reply",
    "assignment",
    "offset_committed",
    "offset_fetched",
];

impl<V> Msg<V> {
    /// The message kind, for the trace and the timeline.
    pub fn label(&self) -> &'static str {
        match self {
            Msg::Produce { .. } => "produce",
            Msg::ProduceAck { .. } => "produce_ack",
            Msg::Fetch { .. } => "fetch",
            Msg::FetchReply { .. } => "fetch_reply",
            Msg::Heartbeat { .. } => "heartbeat_group",
            Msg::Assignment { .. } => "assignment",
            Msg::OffsetCommit { .. } => "offset_commit",
            Msg::OffsetCommitted { .. } => "offset_committed",
            Msg::OffsetFetch { .. } => "offset_fetch",
            Msg::OffsetFetched { .. } => "offset_fetched",
            Msg::InitPid { .. } => "init_pid",
            Msg::InitPidReply { .. } => "init_pid_reply",
            Msg::AddPartitions { .. } => "add_partitions",
            Msg::AddPartitionsReply { .. } => "add_partitions_reply",
            Msg::EndTxn { .. } => "end_txn",
            Msg::EndTxnReply { .. } => "end_txn_reply",
            Msg::TxnOffsetCommit { .. } => "txn_offset_commit",
            Msg::TxnOffsetCommitReply { .. } => "txn_offset_commit_reply",
            Msg::WriteMarker { .. } => "write_marker",
            Msg::MarkerWritten { .. } => "marker_written",
            Msg::VerifyTxn { .. } => "verify_txn",
            Msg::TxnVerified { .. } => "txn_verified",
        }
    }
}

catalogue! {
    /// Planted bugs of the broker: every system built on it includes them in its own
    /// catalogue (`Broker(broker::Bug)`). Its partitions' logs are Raft's, whose bugs the
    /// system includes too.
    pub enum Bug {
        /// the broker acknowledges a produce when its leader has it, before a quorum does: a failover loses it
        AckBeforeReplicate = "ack-before-replicate",
    }
}

/// Settings of the broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Partitions of the topic.
    pub partitions: u32,
    /// A member that has not heartbeaten for this long leaves its group (ms).
    pub session_timeout_ms: u64,
    /// Most records in one fetch.
    pub fetch_max: u32,
    /// Planted bug `ack-before-replicate`: acknowledge a produce when the leader has
    /// appended it, before a quorum holds it.
    pub ack_before_replicate: bool,
    /// Transaction version 2 (KIP-890 part 2): every `EndTxn` bumps the producer's epoch;
    /// version 1 (false) ends a transaction with the epoch it ran with.
    pub epoch_bump_per_txn: bool,
    /// Planted bugs of the transaction protocol.
    pub bugs: TxnBugs,
}

/// The transaction protocol's planted bugs switched on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TxnBugs {
    /// `no-producer-fencing`: a new instance of a transactional id gets the old epoch.
    pub no_producer_fencing: bool,
    /// `no-epoch-bump-per-txn`: a transaction ends with the epoch it ran with.
    pub no_epoch_bump_per_txn: bool,
    /// `markers-before-prepare-logged`: markers are written before the decision is durable.
    pub markers_before_prepare_logged: bool,
    /// `fetch-ignores-lso`: read-committed fetches read up to the high-water mark.
    pub fetch_ignores_lso: bool,
    /// `no-sequence-check`: partitions check producers' epochs but not their sequence
    /// numbers, so a retried batch is appended again.
    pub no_sequence_check: bool,
    /// `txn-offsets-applied-early`: a consumer group's offsets sent to a transaction take
    /// effect when appended, before the transaction commits.
    pub txn_offsets_applied_early: bool,
    /// `no-partition-verification`: a partition leader appends a transactional batch that
    /// opens a transaction without asking the coordinator whether the producer's ongoing
    /// transaction holds the partition (KIP-890 part 1 missing).
    pub no_partition_verification: bool,
}

/// A consumer group as its coordinator sees it (soft state of partition 0's leader).
#[derive(Debug, Clone, Default)]
pub struct Group {
    /// Live members and when each last heartbeat arrived (ns).
    pub members: BTreeMap<usize, u64>,
    /// Current generation.
    pub generation: u64,
    /// Partitions of each member in this generation.
    pub assignment: BTreeMap<usize, Vec<u32>>,
}

/// A partition leader's soft state.
#[derive(Debug, Clone)]
pub struct Leader<V> {
    /// Produces waiting for their entry to commit: entry index → (producer, request).
    pending: BTreeMap<u64, (usize, u64)>,
    /// Offset commits waiting: entry index → (consumer, partition, offset).
    commits: BTreeMap<u64, (usize, u32, u64)>,
    /// Consumer groups (partition 0's leader is their coordinator).
    pub groups: BTreeMap<String, Group>,
    /// Generations started by this leadership.
    started: u64,
    /// Transactions: the coordinator's answers and marker rounds, partition leaders'
    /// markers.
    pub txn: txn::TxnLead,
    /// Transactional produces waiting for the coordinator's verification, by id.
    verifying: BTreeMap<u64, verify::Verifying<V>>,
    /// The last verification id handed out.
    next_vid: u64,
}

impl<V> Default for Leader<V> {
    fn default() -> Self {
        Leader {
            pending: BTreeMap::new(),
            commits: BTreeMap::new(),
            groups: BTreeMap::new(),
            started: 0,
            txn: txn::TxnLead::default(),
            verifying: BTreeMap::new(),
            next_vid: 0,
        }
    }
}

/// What a system provides to run broker partitions.
pub trait BrokerHost:
    Host<Sm = PartitionLog<Self::Value>, Effects = Effects, Lead = Leader<Self::Value>>
{
    /// What records carry.
    type Value: Clone + Debug + PartialEq + Eq + Hash + Send + 'static;
    /// The broker's settings.
    fn broker_config(&self) -> &Config;
    /// A broker message as the system's message.
    fn broker_msg(msg: Msg<Self::Value>) -> Self::Msg;
    /// The replica processes of each partition.
    fn partition_replicas(&self) -> &[Vec<usize>];
}

/// Apply an entry to a partition (for [`Host::apply`]).
pub fn apply<V: Clone + Hash>(
    sm: &mut PartitionLog<V>,
    entry: &Entry<PartitionLog<V>>,
    bugs: &TxnBugs,
) -> Effects
where
    PartitionLog<V>: StateMachine<Payload = Payload<V>>,
{
    sm.apply_with(entry.index, &entry.payload, bugs)
}

type C<'c, 'a, H> = &'c mut Ctx<'a, H>;

impl<H: BrokerHost> Raft<H> {
    /// A broker request (the partition is this replica's group).
    pub fn on_broker_message(&mut self, ctx: C<'_, '_, H>, from: usize, msg: Msg<H::Value>) {
        let hint = self.leader;
        let not_leader = !self.is_leader();
        match msg {
            Msg::Produce { partition, req, .. } if not_leader => {
                let result = Err(ProduceError::NotLeader(hint));
                ctx.send(
                    from,
                    H::broker_msg(Msg::ProduceAck {
                        partition,
                        req,
                        result,
                    }),
                );
            }
            Msg::Produce {
                partition,
                req,
                records,
                producer,
                transactional,
            } => {
                let batch = Payload::Append {
                    records,
                    producer,
                    transactional,
                    verified: None,
                };
                if let Some(batch) = self.verify_produce(ctx, (from, req), batch) {
                    self.append_produce(ctx, from, partition, req, batch)
                }
            }
            Msg::Fetch {
                req,
                partition,
                offset,
                max,
                isolation,
            } => {
                let result = if not_leader {
                    Err(hint)
                } else if ctx.system().broker_config().bugs.fetch_ignores_lso {
                    // The planted bug: read committed reads what is not yet stable.
                    Ok(self.state.read(offset, max, Isolation::ReadUncommitted))
                } else {
                    Ok(self.state.read(offset, max, isolation))
                };
                ctx.send(
                    from,
                    H::broker_msg(Msg::FetchReply {
                        req,
                        partition,
                        offset,
                        result,
                    }),
                );
            }
            other => self.on_coordinator_message(ctx, from, other),
        }
    }

    /// Append a produce's batch; acknowledge it once committed.
    fn append_produce(
        &mut self,
        ctx: C<'_, '_, H>,
        from: usize,
        partition: u32,
        req: u64,
        batch: Payload<H::Value>,
    ) {
        let early = ctx.system().broker_config().ack_before_replicate;
        let offset = self.tail().map_or(0, |t| t.records.len() as u64);
        let index = self.append(ctx, batch);
        if early {
            // The planted bug: acknowledge what only this leader holds.
            let result = Ok(offset);
            ctx.send(
                from,
                H::broker_msg(Msg::ProduceAck {
                    partition,
                    req,
                    result,
                }),
            );
        } else if let Some(lead) = self.service_mut() {
            lead.pending.insert(index, (from, req));
        }
    }

    /// After an entry committed and applied (leader): acknowledge what waited for it.
    pub fn acknowledge(&mut self, ctx: C<'_, '_, H>, applied: &Applied<H>) {
        let index = applied.entry.index;
        let partition = self.group as u32;
        let Some(lead) = self.service_mut() else {
            return;
        };
        if let Some((producer, req)) = lead.pending.remove(&index) {
            let result = match (applied.effects.first_offset, applied.effects.refused) {
                (Some(first), _) => Some(Ok(first)),
                (None, Some(refused)) => Some(Err(ProduceError::Refused(refused))),
                (None, None) => None,
            };
            if let Some(result) = result {
                ctx.send(
                    producer,
                    H::broker_msg(Msg::ProduceAck {
                        partition,
                        req,
                        result,
                    }),
                );
            }
        }
        if let Some((consumer, p, offset)) = lead.commits.remove(&index) {
            let reply = Msg::OffsetCommitted {
                partition: p,
                offset,
                result: Ok(true),
            };
            ctx.send(consumer, H::broker_msg(reply));
        }
        self.on_txn_applied(ctx, applied);
    }

    /// Group coordination and offsets: served by partition 0's leader.
    fn on_coordinator_message(&mut self, ctx: C<'_, '_, H>, from: usize, msg: Msg<H::Value>) {
        let serving = self.is_leader() && self.group == 0;
        let hint = if self.group == 0 { self.leader } else { None };
        match msg {
            Msg::Heartbeat { group, member } => {
                let result = if serving {
                    Ok(self.heartbeat(ctx, &group, member))
                } else {
                    Err(hint)
                };
                ctx.send(from, H::broker_msg(Msg::Assignment { result }));
            }
            Msg::OffsetFetch {
                req,
                group,
                partition,
            } => {
                let result = if serving {
                    Ok(self.committed_offset(ctx, &group, partition))
                } else {
                    Err(hint)
                };
                ctx.send(
                    from,
                    H::broker_msg(Msg::OffsetFetched {
                        req,
                        partition,
                        result,
                    }),
                );
            }
            Msg::OffsetCommit {
                group,
                partition,
                offset,
                generation,
                member,
            } => {
                if !serving {
                    let result = Err(hint);
                    let reply = Msg::OffsetCommitted {
                        partition,
                        offset,
                        result,
                    };
                    return ctx.send(from, H::broker_msg(reply));
                }
                self.offset_commit(ctx, from, group, partition, offset, generation, member);
            }
            msg @ (Msg::VerifyTxn { .. } | Msg::TxnVerified { .. }) => {
                self.on_verify_message(ctx, from, msg)
            }
            other => self.on_txn_message(ctx, from, other),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn offset_commit(
        &mut self,
        ctx: C<'_, '_, H>,
        from: usize,
        group: String,
        partition: u32,
        offset: u64,
        generation: u64,
        member: usize,
    ) {
        let lead = self.service_mut().expect("the coordinator leads");
        let current = lead.groups.get(&group).is_some_and(|g| {
            g.generation == generation
                && g.assignment
                    .get(&member)
                    .is_some_and(|ps| ps.contains(&partition))
        });
        if !current {
            ctx.probe("offset_commit_fenced");
            let reply = Msg::OffsetCommitted {
                partition,
                offset,
                result: Ok(false),
            };
            return ctx.send(from, H::broker_msg(reply));
        }
        let index = self.append(
            ctx,
            Payload::Offset {
                group,
                partition,
                offset,
            },
        );
        if let Some(lead) = self.service_mut() {
            lead.commits.insert(index, (from, partition, offset));
        }
    }

    /// A member's heartbeat: note it, expire the silent, rebalance on any change.
    fn heartbeat(&mut self, ctx: C<'_, '_, H>, group: &str, member: usize) -> (u64, Vec<u32>) {
        let now = ctx.now_ns();
        let config = ctx.system().broker_config().clone();
        let term = self.term;
        let lead = self.service_mut().expect("the coordinator leads");
        let g = lead.groups.entry(group.to_string()).or_default();
        let joined = g.members.insert(member, now).is_none();
        let timeout = config.session_timeout_ms * 1_000_000;
        let before = g.members.len();
        g.members
            .retain(|_, seen| now.saturating_sub(*seen) < timeout);
        if joined || g.members.len() != before || g.generation == 0 {
            // A new generation, above any an earlier coordinator handed out.
            lead.started += 1;
            let g = lead.groups.get_mut(group).expect("just touched");
            g.generation = (term << 20) + lead.started;
            g.assignment = assign(&g.members, config.partitions);
            ctx.probe("consumer_group_rebalanced");
        }
        let g = &lead.groups[group];
        let mine = g.assignment.get(&member).cloned().unwrap_or_default();
        (g.generation, mine)
    }
}

/// Round-robin assignment of `partitions` over the members, in member order.
fn assign(members: &BTreeMap<usize, u64>, partitions: u32) -> BTreeMap<usize, Vec<u32>> {
    let ids: Vec<usize> = members.keys().copied().collect();
    let mut out: BTreeMap<usize, Vec<u32>> = ids.iter().map(|&m| (m, Vec::new())).collect();
    if ids.is_empty() {
        return out;
    }
    for p in 0..partitions {
        out.get_mut(&ids[p as usize % ids.len()])
            .expect("every member has a list")
            .push(p);
    }
    out
}
