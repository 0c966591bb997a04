//! The kafka system's settings and catalogues: its `[kafka]` section (partitions, the
//! broker's timings, the transactional workload), its planted bugs, checks and workloads.

use serde::{Deserialize, Serialize};

use crate::catalog::catalogue;
use crate::knob::knob_section;
use crate::systems::components::raft;

/// How the clients' polls read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IsolationKnob {
    /// Committed transactions only, up to the last stable offset.
    ReadCommitted,
    /// Everything replicated, open and aborted transactions included.
    ReadUncommitted,
}

knob_section! {
    /// `[kafka]`: settings of the broker and its transactional clients.
    KafkaSection => KafkaParams at "kafka" {
        /// Partitions of the topic (a key's partition is the key modulo this).
        partitions: u64 = 3, swarm [1, 4], valid [1, 16];
        /// A request without an answer is re-sent after this long (ms).
        retry_ms: u64 = 60, swarm [30, 150], valid [1, 600_000];
        /// The coordinator aborts a transaction open longer than this (ms).
        txn_timeout_ms: u64 = 1000, swarm [500, 2000], valid [1, 3_600_000];
        /// Percent of transactions the client aborts itself (they end `fail`).
        abort_pct: u64 = 10, swarm [0, 30], valid [0, 100];
        /// The transaction protocol's version: 2 bumps the producer's epoch at the end of
        /// every transaction (KIP-890 part 2), so a late produce, marker or end of an
        /// older transaction is fenced; 1 keeps the epoch between transactions (Kafka's
        /// protocol before 4.0), where partitions verifying a transaction before it opens
        /// there (KIP-890 part 1) is the defence against a late produce.
        transaction_version: u64 = 2, swarm [2, 2], valid [1, 2];
        /// Client processes sharing each transactional id (`txn-c<i / instances>`): with
        /// 2, each id has an instance and its replacement running at once, as when an
        /// application's instance is replaced while the old one still runs (a zombie).
        instances: u64 = 1, swarm [1, 2], valid [1, 8];
        /// Most records in one fetch.
        fetch_max: u64 = 16, swarm [2, 64], valid [1, 10_000];
        /// Broker log: election timeout, lower bound (ms).
        election_timeout_ms_min: u64 = 150, swarm [100, 200], valid [2, 600_000];
        /// Broker log: election timeout, upper bound (ms).
        election_timeout_ms_max: u64 = 300, swarm [200, 500], valid [2, 600_000];
        /// Broker log: leader heartbeat (ms).
        heartbeat_ms: u64 = 40, swarm [20, 60], valid [1, 600_000];
    }
    plain {
        /// Read as one consumer group (Jepsen's `:subscribe`): each client polls the
        /// partitions the group gives it, starts from the group's committed offsets, and
        /// commits its positions in its transactions (consume-transform-produce); else
        /// every client reads every partition from its own positions (`:assign`).
        subscribe: bool = false;
        /// How the clients' polls read: `read_committed` or `read_uncommitted`.
        isolation: IsolationKnob = IsolationKnob::ReadCommitted;
        /// Queue anomalies the `queue` check allows (Jepsen's names).
        allow: Vec<String> = vec!["int-send-skip".to_string()];
    }
}

catalogue! {
    /// Planted bugs of this system.
    pub enum Bug {
        /// read-committed fetches read up to the high-water mark: open and aborted transactions' records are seen
        FetchIgnoresLso = "fetch-ignores-lso",
        /// the coordinator writes markers before its commit or abort decision is durable: a coordinator failover tears the transaction
        MarkersBeforePrepareLogged = "markers-before-prepare-logged",
        /// a new instance of a transactional id gets the old epoch and joins the open transaction instead of fencing the previous instance: the zombie keeps writing and committing
        NoProducerFencing = "no-producer-fencing",
        /// partitions check producers' epochs but not their sequence numbers: a retried produce is appended again
        NoSequenceCheck = "no-sequence-check",
        /// a consumer group's offsets sent to a transaction take effect when appended, before it commits: an aborted transaction's input is skipped by whoever consumes next
        TxnOffsetsAppliedEarly = "txn-offsets-applied-early",
        /// a transaction ends with the epoch it ran with, so the producer's next one runs with it too: a late marker or end of the older transaction ends the newer one
        NoEpochBumpPerTxn = "no-epoch-bump-per-txn",
        /// partition leaders append a transactional batch that opens a transaction without asking the coordinator whether the producer's ongoing transaction holds the partition (KIP-890 part 1): with transaction version 1 a late produce of an aborted transaction opens one nobody ends, pinning the last stable offset
        NoPartitionVerification = "no-partition-verification",
        /// the broker's partition logs: the replicated log's planted bugs
        Raft(raft::Bug),
    }
}

catalogue! {
    /// Checks of this system.
    pub enum Check: checks {
        /// the transactional queue history shows none of Jepsen's Kafka anomalies but the allowed ones (G1a, G1c, lost writes, ...)
        Queue = "queue" (Safety),
        /// every committed transaction's sends are all readable at read-committed, no aborted transaction's send is, and one of unknown outcome is whole or absent
        TxnAtomicity = "txn_atomicity" (Safety),
        /// with subscribe: every record below the group's committed offset was consumed by exactly one committed transaction (none skipped, none twice)
        ConsumedOnce = "consumed_once" (Safety),
        /// the broker's partition logs: the replicated log's checks, for every partition
        Raft(raft::Check),
        /// after heal no transaction stays open or undecided: every partition's last stable offset reaches its end
        LsoProgress = "lso_progress" (Liveness),
    }
}

catalogue! {
    /// Workloads of this system.
    pub enum Workload {
        /// Jepsen's transactional queue workload: transactions of sends and polls
        Txn = "txn",
    }
}
