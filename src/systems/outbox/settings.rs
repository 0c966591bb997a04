//! The outbox system's settings and catalogues: its `[outbox]` section (the relay, the
//! broker's partitions and timings, the consumers), its planted bugs, checks and workloads,
//! and the switches of the planted bugs a run turns on.

use serde::{Deserialize, Serialize};

use crate::catalog::catalogue;
use crate::knob::knob_section;
use crate::systems::components::{broker, raft};

/// How the relay finds events to publish.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RelayKind {
    /// Poll the outbox table for unsent rows; mark them sent after the acknowledgement.
    Polling,
    /// Tail the database's write-ahead log from a durable checkpoint (change data capture).
    LogTailing,
}

knob_section! {
    /// `[outbox]`: settings of the outbox pipeline and its broker.
    OutboxSection => OutboxParams at "outbox" {
        /// Partitions of the topic.
        partitions: u64 = 2, swarm [1, 4], valid [1, 16];
        /// Loyalty consumers sharing the `loyalty` group.
        loyalty_consumers: u64 = 2, swarm [1, 3], valid [1, 8];
        /// The relay looks for events to publish this often (ms).
        relay_poll_ms: u64 = 15, swarm [5, 40], valid [1, 60_000];
        /// Most events in one produce.
        relay_batch: u64 = 8, swarm [1, 32], valid [1, 1000];
        /// A produce or fetch without an answer is retried after this long (ms).
        retry_ms: u64 = 80, swarm [40, 200], valid [1, 600_000];
        /// Consumers poll (heartbeat, fetch) this often (ms).
        consumer_poll_ms: u64 = 20, swarm [10, 50], valid [1, 60_000];
        /// A consumer silent for this long leaves its group (ms).
        session_timeout_ms: u64 = 300, swarm [150, 600], valid [1, 600_000];
        /// Most records in one fetch.
        fetch_max: u64 = 16, swarm [1, 64], valid [1, 10_000];
        /// When the orders service starts emitting the new `currency` field (ms; beyond the
        /// chaos phase: never).
        schema_change_at_ms: u64 = 1500, swarm [0, 3000], valid [0, 3_600_000];
        /// `convergence`: replicas must equal their master within this long after heal (ms).
        replica_lag_ms_max: u64 = 3000, swarm [3000, 3000], valid [1, 3_600_000];
        /// Broker log: election timeout, lower bound (ms).
        election_timeout_ms_min: u64 = 150, swarm [100, 200], valid [2, 600_000];
        /// Broker log: election timeout, upper bound (ms).
        election_timeout_ms_max: u64 = 300, swarm [200, 500], valid [2, 600_000];
        /// Broker log: leader heartbeat (ms).
        heartbeat_ms: u64 = 40, swarm [20, 60], valid [1, 600_000];
        /// Broker log: snapshot every this many applied entries (0: never).
        snapshot_every: u64 = 0, swarm [0, 0], valid [0, 10_000_000];
    }
    plain {
        /// `polling` (the outbox table) or `log_tailing` (the database's log).
        relay: RelayKind = RelayKind::Polling;
        /// Idempotent producer: the broker recognises a retried batch (producer id + sequence).
        idempotent_producer: bool = false;
        /// The relay writes each round's batches (one per partition) in one transaction of
        /// the transactional id `relay`, which a restarted relay re-initialises (fencing
        /// its previous incarnation and aborting what it left open); consumers read at
        /// read-committed. Else each batch is a produce of its own.
        transactional_relay: bool = false;
        /// Queue anomalies the `queue` check allows (Jepsen's names, e.g. `duplicate`).
        allow: Vec<String> = vec!["duplicate".to_string()];
    }
}

catalogue! {
    /// Planted bugs of this system.
    pub enum Bug {
        /// the service writes its row, then publishes the event itself, without an outbox: a crash in between loses the event
        DualWrite = "dual-write",
        /// the event is published before its transaction commits: a rolled-back or crashed transaction leaves a phantom event
        PublishBeforeCommit = "publish-before-commit",
        /// the relay marks rows sent when it sends them, before the broker acknowledges: a lost produce loses the event
        MarkBeforeAck = "mark-before-ack",
        /// consumers apply a redelivered event again
        NonIdempotentConsumer = "non-idempotent-consumer",
        /// consumers commit the offset before applying: a crash in between skips events
        CommitOffsetBeforeApply = "commit-offset-before-apply",
        /// the relay publishes every event at once, one per produce, many in flight: an order's events can land out of order
        UnorderedRelay = "unordered-relay",
        /// the broker's planted bugs
        Broker(broker::Bug),
        /// the replica table's service writes a field the orders service owns
        NonOwnerWrite = "non-owner-write",
        /// the broker's partition logs: the replicated log's planted bugs
        Raft(raft::Bug),
    }
}

catalogue! {
    /// Checks of this system.
    pub enum Check: checks {
        /// the queue history of sends and polls shows none of Jepsen's Kafka anomalies but the allowed ones
        Queue = "queue" (Safety),
        /// every committed event reaches the broker, and no event of a transaction that did not commit does
        PublishedCommitted = "published_committed" (Safety),
        /// each order's events are in the broker in version order, without gaps or repeats of a version
        AggregateOrder = "aggregate_order" (Safety),
        /// every event's effect is applied exactly once by each consumer group
        ExactlyOnce = "exactly_once" (Safety),
        /// replica tables never write a field their service does not own
        FieldOwnership = "field_ownership" (Safety),
        /// the broker's partition logs: the replicated log's checks, for every partition
        Raft(raft::Check),
        /// after heal the outbox drains, consumers catch up, and every replica equals its master
        Convergence = "convergence" (Liveness),
    }
}

catalogue! {
    /// Workloads of this system.
    pub enum Workload {
        /// place, pay, ship and cancel orders
        Orders = "orders",
    }
}

/// Planted bugs switched on.
#[derive(Debug, Clone, Copy, Default)]
pub struct Bugs {
    /// `dual-write`.
    pub dual_write: bool,
    /// `publish-before-commit`.
    pub publish_before_commit: bool,
    /// `mark-before-ack`.
    pub mark_before_ack: bool,
    /// `non-idempotent-consumer`.
    pub non_idempotent_consumer: bool,
    /// `commit-offset-before-apply`.
    pub commit_offset_before_apply: bool,
    /// `unordered-relay`.
    pub unordered_relay: bool,
    /// `non-owner-write`.
    pub non_owner_write: bool,
}
