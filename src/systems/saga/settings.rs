//! The saga system's settings and catalogues: its `[saga]` section (protocol, dispatch,
//! timings, the saga log's Raft timings), its planted bugs, checks and workloads, and the
//! switches of the planted bugs a run turns on.

use serde::{Deserialize, Serialize};

use crate::catalog::catalogue;
use crate::knob::knob_section;
use crate::systems::components::raft;

/// Saga or two-phase commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Protocol {
    /// An orchestrated saga with a replicated saga log.
    #[serde(rename = "saga")]
    Saga,
    /// Two-phase commit with a single coordinator (the blocking baseline).
    #[serde(rename = "2pc")]
    TwoPc,
}

/// How participants get their tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dispatch {
    /// The coordinator sends each command.
    Push,
    /// Participants ask the coordinator for their pending tasks.
    Poll,
}

/// An isolation anomaly between sagas.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Anomaly {
    /// A read saw an effect that a compensation later undid.
    DirtyRead,
    /// A compensation restored a before-image over another saga's update.
    LostUpdate,
}

knob_section! {
    /// `[saga]`: settings of the saga system and its two-phase-commit baseline.
    SagaSection => SagaParams at "saga" {
        /// Probability that a step fails for a business reason (checked once per key).
        failure_probability: f64 = 0.1, swarm [0.0, 0.3], valid [0.0, 1.0];
        /// The coordinator re-sends a command without a definite answer after this long (ms).
        step_timeout_ms: u64 = 60, swarm [30, 200], valid [1, 600_000];
        /// How often the coordinator drives unfinished sagas and re-sends (ms).
        tick_ms: u64 = 20, swarm [10, 50], valid [1, 60_000];
        /// A step refused as busy (semantic lock) this many times fails the saga.
        busy_retries_max: u64 = 8, swarm [3, 12], valid [1, 1000];
        /// Units of each item in stock at the start.
        initial_stock: u64 = 30, swarm [5, 60], valid [0, 1_000_000];
        /// Money in each customer's account at the start.
        initial_balance: u64 = 500, swarm [50, 1000], valid [0, 1_000_000_000];
        /// Price of one unit.
        price: u64 = 10, swarm [5, 20], valid [1, 1_000_000];
        /// Participants poll for tasks this often (`dispatch = "poll"`) (ms).
        poll_ms: u64 = 25, swarm [10, 60], valid [1, 60_000];
        /// 2PC: a transaction not decided after this long is aborted (ms).
        txn_timeout_ms: u64 = 300, swarm [150, 800], valid [1, 600_000];
        /// 2PC: an in-doubt participant asks the coordinator this often (ms).
        inquiry_ms: u64 = 100, swarm [50, 300], valid [1, 600_000];
        /// `blocking`: locks held longer than this are a liveness finding (ms).
        lock_hold_ms_max: u64 = 1000, swarm [1000, 1000], valid [1, 3_600_000];
        /// Saga log: election timeout, lower bound (ms).
        election_timeout_ms_min: u64 = 150, swarm [100, 200], valid [2, 600_000];
        /// Saga log: election timeout, upper bound (ms).
        election_timeout_ms_max: u64 = 300, swarm [200, 500], valid [2, 600_000];
        /// Saga log: leader heartbeat (ms).
        heartbeat_ms: u64 = 40, swarm [20, 60], valid [1, 600_000];
        /// Saga log: group commit interval (ms).
        flush_interval_ms: u64 = 1, swarm [1, 5], valid [1, 10_000];
        /// Saga log: snapshot every this many applied entries (0: never).
        snapshot_every: u64 = 128, swarm [16, 256], valid [0, 10_000_000];
        /// The router re-sends an unanswered request after this long (ms).
        router_retry_ms: u64 = 150, swarm [80, 300], valid [1, 600_000];
    }
    plain {
        /// `saga` (orchestrated saga, replicated log) or `2pc` (two-phase commit).
        protocol: Protocol = Protocol::Saga;
        /// `push` (the coordinator sends commands) or `poll` (participants pull tasks).
        dispatch: Dispatch = Dispatch::Push;
        /// Mark rows pending until their saga ends (the countermeasure to isolation anomalies).
        semantic_lock: bool = false;
        /// Isolation anomalies that fail the `isolation` check (`dirty_read`, `lost_update`).
        forbid: Vec<Anomaly> = Vec::<Anomaly>::new();
    }
}

catalogue! {
    /// Planted bugs of this system.
    pub enum Bug {
        /// participants apply a duplicated or retried command again: effects happen twice
        NonIdempotentParticipant = "non-idempotent-participant",
        /// a step without an answer is taken as failed and the others compensated: if it later succeeds it is never undone
        CompensateOnTimeout = "compensate-on-timeout",
        /// the coordinator keeps sagas only in memory: a coordinator crash strands them half done
        NoSagaLog = "no-saga-log",
        /// compensations run in the order of the steps, not in reverse
        ForwardOrderCompensation = "forward-order-compensation",
        /// a compensation is sent once and never retried: a lost one leaves its step in effect
        LostCompensationRetry = "lost-compensation-retry",
        /// failed steps are compensated too, though they never applied
        CompensateUncommitted = "compensate-uncommitted",
        /// 2PC: the decision is not logged, and after a crash an unknown transaction is presumed committed
        PresumedCommitWithoutLog = "presumed-commit-without-log",
        /// the saga log's replicated log: its planted bugs
        Raft(raft::Bug),
    }
}

catalogue! {
    /// Checks of this system.
    pub enum Check: checks {
        /// after heal every started saga is completed or fully compensated, and every service's database agrees
        SagaAtomicity = "saga_atomicity" (Safety),
        /// only committed steps are compensated, in reverse order, each at most once in effect
        CompensationOrder = "compensation_order" (Safety),
        /// every command takes effect at most once despite duplicates and retries
        ExactlyOnce = "exactly_once" (Safety),
        /// money and stock are conserved across the services
        Conservation = "conservation" (Safety),
        /// isolation anomalies by name and count (a scenario may forbid some; none with the semantic lock)
        Isolation = "isolation" (Safety),
        /// 2PC: no participant commits what another aborts
        Atomicity2pc = "atomicity_2pc" (Safety),
        /// the saga log's replicated log: its checks
        Raft(raft::Check),
        /// no lock (2PC prepare lock, semantic lock) is held longer than `lock_hold_ms_max`
        Blocking = "blocking" (Liveness),
        /// after heal every transaction has ended and the services have settled
        Convergence = "convergence" (Liveness),
    }
}

catalogue! {
    /// Workloads (flows) of this system.
    pub enum Workload {
        /// place an order: reserve stock and charge payment, then schedule shipping
        Order = "order",
        /// create a project: identity service, then delivery service and code host group
        Project = "project",
    }
}

/// Planted bugs switched on.
#[derive(Debug, Clone, Copy, Default)]
pub struct Bugs {
    /// `non-idempotent-participant`.
    pub non_idempotent: bool,
    /// `compensate-on-timeout`.
    pub compensate_on_timeout: bool,
    /// `no-saga-log`.
    pub no_saga_log: bool,
    /// `forward-order-compensation`.
    pub forward_order: bool,
    /// `lost-compensation-retry`.
    pub lost_compensation_retry: bool,
    /// `compensate-uncommitted`.
    pub compensate_uncommitted: bool,
    /// `presumed-commit-without-log`.
    pub presumed_commit: bool,
}
