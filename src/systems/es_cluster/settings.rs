//! The es_cluster system's settings and catalogues: its `[es_cluster]` section (where the
//! projection reads, how reads are served, the log's timings), its planted bugs, checks and
//! workloads, and the switches of the planted bugs a run turns on.

use serde::{Deserialize, Serialize};

use crate::catalog::catalogue;
use crate::knob::knob_section;
use crate::systems::components::raft;

/// Where the projection reads events from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProjectionSource {
    /// The shard's leader (as far as the projection knows it).
    Leader,
    /// A follower.
    Follower,
    /// Whichever replica answers; switch on timeout.
    Any,
}

/// How reads are served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReadMode {
    /// Consistent: a read is a log entry, answered when applied (linearizable).
    Log,
    /// The leader answers from its applied state without confirming it still leads
    /// (stale after a partition; what the `stale-leader` bug does).
    LeaderLocal,
    /// Any replica answers from its applied state (stale; what `follower-reads` does).
    Follower,
    /// Consistent: the leader answers from its applied state while its lease holds
    /// (shortened by the clock skew margin), through the log otherwise
    /// ([`crate::systems::components::raft::lease`]).
    Lease,
}

knob_section! {
    /// `[es_cluster]`: settings of the event-sourced Raft cluster.
    EsClusterSection => EsClusterParams at "es_cluster" {
        /// Raft groups the accounts and keys are split across.
        shards: u64 = 1, swarm [1, 2], valid [1, 4];
        /// Election timeout, lower bound (ms); each wait is drawn in [min, max].
        election_timeout_ms_min: u64 = 150, swarm [100, 200], valid [2, 600_000];
        /// Election timeout, upper bound (ms).
        election_timeout_ms_max: u64 = 300, swarm [200, 500], valid [2, 600_000];
        /// Leader heartbeat interval (ms); must be well below the election timeout.
        heartbeat_ms: u64 = 40, swarm [20, 60], valid [1, 600_000];
        /// Group commit: how long the leader gathers entries before one fsync (ms).
        flush_interval_ms: u64 = 1, swarm [1, 5], valid [1, 10_000];
        /// Most entries in one replication or projection message.
        batch_max: u64 = 64, swarm [4, 128], valid [1, 100_000];
        /// Take a snapshot every this many applied entries (0: never).
        snapshot_every: u64 = 64, swarm [8, 256], valid [0, 10_000_000];
        /// The router re-sends an unanswered command after this long (ms).
        router_retry_ms: u64 = 60, swarm [30, 150], valid [1, 600_000];
        /// A cross-shard transfer whose participant does not prepare in time is aborted (ms).
        txn_timeout_ms: u64 = 400, swarm [200, 1000], valid [1, 600_000];
        /// The coordinator re-sends two-phase-commit messages this often (ms).
        txn_retry_ms: u64 = 40, swarm [20, 100], valid [1, 600_000];
        /// With `read_mode = "lease"`: how long a follower promises not to vote after each
        /// AppendEntries (ms); the leader's lease is this minus the clock skew margin.
        lease_ms: u64 = 400, swarm [200, 800], valid [1, 600_000];
        /// The projection polls for new events this often (ms).
        projection_poll_ms: u64 = 30, swarm [10, 100], valid [1, 600_000];
        /// Routers, each with its own cache of who leads (as separate gateway instances
        /// have): client `c<i>` talks to router `i mod routers`. With more than one, one
        /// router may still send to an old leader while another reaches the new one.
        routers: u64 = 1, swarm [1, 2], valid [1, 8];
    }
    plain {
        /// Where the projection pulls events from: `leader`, `follower` or `any`.
        projection_source: ProjectionSource = ProjectionSource::Any;
        /// How reads are served: `log` or `lease` (consistent: a log entry, or the leader's
        /// state while its lease holds), `leader_local` or `follower` (stale, named options
        /// for studying stale reads; linearizability is not expected).
        read_mode: ReadMode = ReadMode::Log;
        /// A new leader appends a no-op of its term at once (`true`), or ships the earlier
        /// terms' entries alone first and appends it at its first heartbeat unless a command
        /// came first (`false`; Raft without the paper's §8 no-op on election).
        noop_on_election: bool = true;
    }
}

catalogue! {
    /// Planted bugs of this system.
    pub enum Bug {
        /// the log holds commands and every replica decides them itself, with its own randomness and clock: replicas diverge
        ReplicateCommands = "replicate-commands",
        /// the router sends reads to any replica and followers answer from their own state: stale reads
        FollowerReads = "follower-reads",
        /// the leader answers a write when it is in its own log, before a majority has it: acknowledged writes are lost when the leader dies
        AckBeforeCommit = "ack-before-commit",
        /// the leader answers reads from its own state without confirming it still leads: an old leader serves stale reads after a partition
        StaleLeader = "stale-leader",
        /// the read model resumes from the wrong position when it reconnects: it skips or double-applies events
        ProjectionSkips = "projection-skips",
        /// the replicated log's planted bugs
        Raft(raft::Bug),
        /// Raft: lease reads (read_mode = "lease") whose lease is not shortened by the clock skew margin: an old leader answers after a new one took over
        LeaseReadIgnoresSkew = "lease-read-ignores-skew",
    }
}

catalogue! {
    /// Checks of this system.
    pub enum Check: checks {
        /// the client history is linearizable (bank model per account, or key-value model per key)
        Linearizability = "linearizability" (Safety),
        /// the replicated log's checks, for every shard
        Raft(raft::Check),
        /// every acknowledged command is in the committed log
        Durability = "durability" (Safety),
        /// each replica's state (snapshot + tail) equals a full replay of the committed log
        SnapshotReplay = "snapshot_replay" (Safety),
        /// bank: money is conserved across accounts and shards (balances = deposits - withdrawals)
        Conservation = "conservation" (Safety),
        /// the read model applied every committed event once, in order, and equals their fold
        Projection = "projection" (Safety),
        /// after heal every replica and the projection reach the same, fully committed state
        Convergence = "convergence" (Liveness),
    }
}

catalogue! {
    /// Workloads of this system.
    pub enum Workload {
        /// open, read, deposit, withdraw and transfer over a few accounts
        Bank = "bank",
        /// get, put and append over a few keys
        Kv = "kv",
    }
}

/// Planted bugs switched on (the replicated log's own are in its config).
#[derive(Debug, Clone, Copy, Default)]
pub struct Bugs {
    /// `replicate-commands`.
    pub replicate_commands: bool,
    /// `ack-before-commit`.
    pub ack_before_commit: bool,
    /// `projection-skips`.
    pub projection_skips: bool,
}
