//! `es_cluster` — an event-sourced service made highly available with Raft.
//!
//! The central system of faultline's catalogue. Its pieces:
//!
//! * **Replicas** (`r0..`, or `s<shard>r<i>` when sharded) run the replicated log
//!   ([`crate::systems::components::raft`]) over an *event* log. The leader decides each
//!   command into events ([`ledger`]) and only the leader answers, once the entry is
//!   committed and applied. Consistent reads are log entries too. Term, vote and log are
//!   fsynced before they are acknowledged; a restarted replica recovers from snapshot +
//!   log. The service on top of the log — commands, answers, two-phase commit — is
//!   [`service`].
//! * The **router** (`router`, [`crate::systems::components::router`]) is the clients'
//!   one connection: it finds each shard's leader, forwards commands, follows `NotLeader`
//!   redirects and retries on timeouts, so a client keeps talking to it while leadership
//!   moves.
//! * The **projection** (`proj`, [`projection`]) is a read model: it pulls committed
//!   events from a replica of each shard (the leader, a follower, or any:
//!   `projection_source`) and folds them into a query view; its lag behind the commit is
//!   measured.
//! * **Sharding** (`shards > 1`): accounts and keys are split across Raft groups by hash;
//!   a transfer between shards is a two-phase commit whose coordinator is the source
//!   shard — its state lives in that shard's replicated log, so it survives any single
//!   crash and a new leader finishes what the old one started.
//! * **Clients** (`c0..`) run the bank or key-value workload through the router.
//!
//! Planted bugs: see [`Bug`]. Checks: see [`Check`] and [`checks`].

pub mod checks;
pub mod ledger;
pub mod projection;
pub mod service;

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use self::ledger::{Command, Effect, Ledger, LogEntry, OpResult, TxnId};
use self::projection::Projection;
use super::components::clients::{ClientCore, ClientTimer, InFlight, ReqId, Request};
use super::components::raft::{self, Raft};
use super::components::router::{self, Router, RouterHost};
use super::components::workload::bank::{self, BankOp};
use super::components::workload::kv::{self, KvOp};
use super::Model;
use crate::catalog::catalogue;
use crate::check::fit::HistoryFile;
use crate::check::linearizability::Budget;
use crate::check::CheckOutcome;
use crate::history::{Status, Value};
use crate::knob::{crossed_bounds, knob_section};
use crate::plan::workload::ops_of;
use crate::plan::{points, ClientOp, Draw, NodeSpec, Plan, Role, Site, Spec};
use crate::scenario::load::{raft_heartbeats, Periodic, SystemLoad, Worst};
use crate::scenario::{order, Params, WorkloadParams};
use crate::sim::{Ctx, Message, Process, SimOutput, System, View};

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
    }
    plain {
        /// Where the projection pulls events from: `leader`, `follower` or `any`.
        projection_source: ProjectionSource = ProjectionSource::Any;
        /// How reads are served: `log` or `lease` (consistent: a log entry, or the leader's
        /// state while its lease holds), `leader_local` or `follower` (stale, named options
        /// for studying stale reads; linearizability is not expected).
        read_mode: ReadMode = ReadMode::Log;
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
        /// term, vote and log writes are never fsynced: a crash forgets votes and acknowledged events
        NoFsync = "no-fsync",
        /// the leader answers reads from its own state without confirming it still leads: an old leader serves stale reads after a partition
        StaleLeader = "stale-leader",
        /// the read model resumes from the wrong position when it reconnects: it skips or double-applies events
        ProjectionSkips = "projection-skips",
        /// Raft: a leader commits an entry of an earlier term as soon as a majority holds it (Figure 8): a later leader overwrites it
        CommitOldTerm = "commit-old-term",
        /// Raft: a replica grants its vote without comparing log freshness: a leader without committed entries overwrites them
        NoElectionRestriction = "no-election-restriction",
        /// Raft: a follower deletes the entries after prevLogIndex of every AppendEntries, even matching ones: a delayed or duplicated one loses committed entries
        TruncateOnStaleAppend = "truncate-on-stale-append",
        /// Raft: a follower installs a snapshot older than its committed state: its state and log roll back
        StaleSnapshotInstall = "stale-snapshot-install",
        /// Raft: lease reads (read_mode = "lease") whose lease is not shortened by the clock skew margin: an old leader answers after a new one took over
        LeaseReadIgnoresSkew = "lease-read-ignores-skew",
    }
}

catalogue! {
    /// Checks of this system.
    pub enum Check: checks {
        /// the client history is linearizable (bank model per account, or key-value model per key)
        Linearizability = "linearizability" (Safety),
        /// no two different entries are committed at one index, and replicas applying the same entries reach the same state
        LogAgreement = "log_agreement" (Safety),
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

/// What a client asks: a bank or a key-value operation, as the workload says.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum EsOp {
    /// Bank.
    Bank(BankOp),
    /// Key-value.
    Kv(KvOp),
}

impl fmt::Debug for EsOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EsOp::Bank(op) => op.fmt(f),
            EsOp::Kv(op) => op.fmt(f),
        }
    }
}

impl Request for EsOp {
    fn invoke<S: System>(&self, ctx: &mut Ctx<'_, S>) -> Vec<usize> {
        match self {
            EsOp::Bank(op) => op.invoke(ctx),
            EsOp::Kv(op) => op.invoke(ctx),
        }
    }
}

/// A snapshot of one shard's state.
pub type Snapshot = raft::Snapshot<Ledger>;
/// On-disk records: the replicated log's.
pub type Record = raft::Record<Ledger>;
/// A replica's answer to the router.
pub type Reply = router::Reply<OpResult>;
/// One replica: the replicated log of its shard, with the service on top ([`service`]).
pub type Replica = Raft<EsCluster>;

/// Messages.
#[derive(Debug, Clone)]
pub enum Msg {
    /// Client → router.
    ClientRequest { seq: u64, op: EsOp },
    /// Router → client.
    ClientReply { seq: u64, result: OpResult },
    /// Router → replica.
    Command { req: ReqId, command: Command },
    /// Replica → router.
    CommandReply { req: ReqId, reply: Reply },
    /// Replica → replica: the replicated log.
    Raft(raft::Msg<Ledger>),
    /// 2PC: coordinator → participant shard.
    Prepare {
        txn: TxnId,
        to: String,
        amount: i64,
        coordinator: usize,
    },
    /// 2PC: participant → coordinator shard: its vote (no: the account is not open).
    Prepared { txn: TxnId, vote: bool },
    /// 2PC: coordinator → participant shard.
    Decision {
        txn: TxnId,
        commit: bool,
        coordinator: usize,
    },
    /// 2PC: participant → coordinator shard.
    DecisionApplied { txn: TxnId },
    /// Projection → replica: committed entries from `from`, please.
    Fetch { from: u64 },
    /// Replica → projection: committed entries, and who the replica thinks leads.
    Events {
        shard: usize,
        from: u64,
        entries: Vec<LogEntry>,
        snapshot: Option<Box<Snapshot>>,
        leader: Option<usize>,
    },
}

impl Message for Msg {
    fn label(&self) -> &'static str {
        match self {
            Msg::ClientRequest { .. } => "client_request",
            Msg::ClientReply { .. } => "client_reply",
            Msg::Command { .. } => "command",
            Msg::CommandReply { .. } => "command_reply",
            Msg::Raft(m) => m.label(),
            Msg::Prepare { .. } => "prepare",
            Msg::Prepared { .. } => "prepared",
            Msg::Decision { .. } => "decision",
            Msg::DecisionApplied { .. } => "decision_applied",
            Msg::Fetch { .. } => "fetch",
            Msg::Events { .. } => "events",
        }
    }

    fn describe(&self) -> String {
        match self {
            // Raft's messages read as Raft's RPCs, without the wrapper.
            Msg::Raft(m) => format!("{m:?}"),
            other => format!("{other:?}"),
        }
    }
}

/// Timers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Timer {
    /// The replicated log's timers.
    Raft(raft::Timer),
    /// Leader: drive unfinished transfers.
    TxnTick,
    /// Router: re-send unanswered commands.
    RouterTick,
    /// Projection: poll for events.
    Poll,
    /// A client timer.
    Client(ClientTimer),
}

fn client_timer(t: ClientTimer) -> Timer {
    Timer::Client(t)
}

/// Verification records for the checks.
#[derive(Debug, Clone)]
pub enum EsObs {
    /// A replica applied a committed entry (leaders include the entry itself).
    Applied {
        shard: usize,
        index: u64,
        term: u64,
        hash: u64,
        chain: u64,
        entry: Option<LogEntry>,
    },
    /// A replica installed a snapshot up to `index`.
    SnapshotInstalled {
        shard: usize,
        index: u64,
        chain: u64,
    },
    /// The projection applied entry `index` of `shard`.
    Projected {
        shard: usize,
        index: u64,
        incarnation: u32,
    },
    /// The projection adopted a snapshot up to `index`.
    ProjectedSnapshot {
        shard: usize,
        index: u64,
        incarnation: u32,
    },
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

/// The processes: replicas (per shard), the router, the projection, then clients.
fn topology(params: &Params, own: &EsClusterParams) -> Vec<NodeSpec> {
    let shards = own.shards;
    let mut nodes = Vec::new();
    for s in 0..shards {
        for r in 0..params.topology.replicas {
            nodes.push(NodeSpec {
                name: if shards == 1 {
                    format!("r{r}")
                } else {
                    format!("s{s}r{r}")
                },
                role: Role::Server,
                crashable: true,
            });
        }
    }
    for name in ["router", "proj"] {
        nodes.push(NodeSpec {
            name: name.into(),
            role: Role::Infra,
            crashable: true,
        });
    }
    nodes.extend((0..params.topology.clients).map(|i| NodeSpec {
        name: format!("c{i}"),
        role: Role::Client,
        crashable: false,
    }));
    nodes
}

/// The system, configured from a plan.
#[derive(Debug)]
pub struct EsCluster {
    /// Settings.
    pub p: EsClusterParams,
    /// The replicated log's settings.
    pub raft: raft::Config,
    /// Replica node indices of each shard.
    pub shards: Vec<Vec<usize>>,
    /// The router.
    pub router: usize,
    /// The projection.
    pub projection: usize,
    /// Each client's planned operations.
    pub clients: BTreeMap<usize, Vec<ClientOp<EsOp>>>,
    /// Workload settings.
    pub workload: WorkloadParams,
    /// Bank or key-value.
    pub kind: Workload,
    /// Planted bugs.
    pub bugs: Bugs,
    /// Effective read mode (`read_mode`, or what a read bug forces).
    pub read_mode: ReadMode,
}

/// The shard of a key: FNV-1a of its bytes, modulo the shard count. Stable forever.
pub fn shard_of(key: &str, shards: usize) -> usize {
    (crate::rng::stream_id(key) % shards.max(1) as u64) as usize
}

impl EsCluster {
    /// The shard of a key.
    pub fn shard_of(&self, key: &str) -> usize {
        shard_of(key, self.shards.len())
    }

    /// (shard, position) of a replica node.
    pub fn replica_of(&self, node: usize) -> Option<(usize, usize)> {
        self.shards
            .iter()
            .enumerate()
            .find_map(|(s, nodes)| nodes.iter().position(|&n| n == node).map(|i| (s, i)))
    }

    /// Send to every replica of a shard (only its leader acts on it).
    pub fn to_shard(&self, ctx: &mut Ctx<'_, EsCluster>, shard: usize, msg: Msg) {
        for &node in &self.shards[shard] {
            ctx.send(node, msg.clone());
        }
    }
}

/// A process of this system.
#[derive(Debug)]
pub enum Proc {
    /// A replica.
    Replica(Box<Replica>),
    /// The router.
    Router(Router<EsCluster>),
    /// The projection.
    Projection(Projection),
    /// A client.
    Client(ClientCore<EsOp>),
}

impl Spec for EsCluster {
    const NAME: &'static str = "es_cluster";
    type Section = EsClusterSection;
    type Params = EsClusterParams;
    type Op = EsOp;
    type Bug = Bug;
    type Check = Check;
    type Workload = Workload;

    fn resolve(
        section: &EsClusterSection,
        swarm: bool,
        seed: u64,
        generic: &Params,
    ) -> EsClusterParams {
        let mut p = section.resolve(swarm, seed);
        order(
            &mut p.election_timeout_ms_min,
            &mut p.election_timeout_ms_max,
        );
        // A bound left to its default or to swarm sampling is fitted to this seed's
        // network (`raft::liveness`).
        let (flush_interval_ms, heartbeat_ms) = (p.flush_interval_ms, p.heartbeat_ms);
        raft::liveness::fit_seed(
            (
                &mut p.election_timeout_ms_min,
                &mut p.election_timeout_ms_max,
            ),
            (
                &section.election_timeout_ms_min,
                &section.election_timeout_ms_max,
            ),
            generic,
            flush_interval_ms,
            heartbeat_ms,
        );
        p
    }

    fn topology(params: &Params, own: &EsClusterParams, _: Workload) -> Vec<NodeSpec> {
        topology(params, own)
    }

    fn operation(workload: Workload, draw: &mut Draw<'_>) -> EsOp {
        match workload {
            Workload::Bank => EsOp::Bank(bank::draw(draw)),
            Workload::Kv => EsOp::Kv(kv::draw(draw)),
        }
    }

    fn check_op(op: &EsOp) -> Result<(), (String, String)> {
        match op {
            EsOp::Bank(op) => bank::check(op),
            EsOp::Kv(_) => Ok(()),
        }
    }

    fn fault_sites() -> Vec<Site> {
        points::raft_sites(&raft::LABELS)
    }
}

impl Model for EsCluster {
    const ABOUT: &'static str = "event-sourced service replicated with Raft (events, not commands, in the log): router, consistent reads through the log, projection, sharding with replicated two-phase-commit transfers";
    const PROBES: &'static [&'static [&'static str]] = &[
        crate::systems::components::raft::PROBES,
        crate::systems::components::router::PROBES,
        crate::systems::components::clients::PROBES,
        &[
            "leader_crashed",
            "leader_crashed_with_uncommitted_entries",
            "replica_crashed_with_uncommitted_entries",
            "follower_read_served",
            "lease_read_served",
            "command_parked_on_lock",
            "duplicate_request_answered_from_session",
            "transfer_aborted_on_timeout",
            "projection_reconnected",
        ],
    ];

    fn load(section: &EsClusterSection, swarm: bool, worst: &Worst) -> SystemLoad {
        let (fast, big) = (section.corner(swarm, false), section.corner(swarm, true));
        let r = worst.replicas;
        SystemLoad {
            // Client → router → leader and back, a flush, replication and its acks; a
            // transfer across shards doubles it (two-phase commit).
            events_per_op: 2.0 * (5.0 + 2.0 * r.saturating_sub(1) as f64),
            periodic: vec![
                raft_heartbeats("es_cluster", big.shards, r, fast.heartbeat_ms),
                Periodic::every(
                    "two-phase-commit retry ticks of the shard leaders".into(),
                    "es_cluster.txn_retry_ms",
                    big.shards,
                    fast.txn_retry_ms,
                    1.0,
                ),
                Periodic::every(
                    "router retry ticks".into(),
                    "es_cluster.router_retry_ms",
                    1,
                    fast.router_retry_ms,
                    1.0,
                ),
                Periodic::every(
                    "projection polls".into(),
                    "es_cluster.projection_poll_ms",
                    1,
                    fast.projection_poll_ms,
                    3.0,
                ),
            ],
            conflicts: raft::liveness::section_problem(
                "es_cluster",
                (
                    &section.election_timeout_ms_min,
                    &section.election_timeout_ms_max,
                ),
                big.flush_interval_ms,
                worst,
            )
            .into_iter()
            .collect(),
        }
    }

    fn validate(section: &EsClusterSection, problems: &mut Vec<(String, String)>) {
        problems.extend(crossed_bounds(
            "es_cluster.election_timeout_ms",
            &section.election_timeout_ms_min,
            &section.election_timeout_ms_max,
        ));
        if let (Some(hb), Some(lo)) = (&section.heartbeat_ms, &section.election_timeout_ms_min) {
            if hb.min() >= lo.max() {
                problems.push((
                    "es_cluster.heartbeat_ms".into(),
                    "contradictory settings: `es_cluster.heartbeat_ms` must be below the election timeout, or followers start elections against a live leader".into(),
                ));
            }
        }
    }

    fn history_files(plan: &Plan<Self>, _: &crate::history::History) -> Vec<HistoryFile> {
        let model = checks::model_of(plan.workload_kind);
        vec![super::linearizable_history(
            plan,
            |c| *c == Check::Linearizability,
            model,
        )]
    }

    fn check(
        plan: &Plan<Self>,
        out: &SimOutput<checks::EsFinal, EsObs>,
        check: Check,
        budget: &Budget,
    ) -> CheckOutcome {
        checks::run(plan, out, check, budget)
    }
}

impl System for EsCluster {
    type Msg = Msg;
    type Timer = Timer;
    type Record = Record;
    type Proc = Proc;
    type Final = checks::EsFinal;
    type Observation = EsObs;

    fn new(plan: &Plan<Self>) -> Self {
        let p = plan.params.clone();
        let servers = plan.head.nodes_with(Role::Server);
        let per_shard = plan.head.params.topology.replicas as usize;
        let shards: Vec<Vec<usize>> = servers.chunks(per_shard).map(<[usize]>::to_vec).collect();
        let client_nodes = plan.head.nodes_with(Role::Client);
        let bugs = Bugs {
            replicate_commands: plan.has_bug(Bug::ReplicateCommands),
            ack_before_commit: plan.has_bug(Bug::AckBeforeCommit),
            projection_skips: plan.has_bug(Bug::ProjectionSkips),
        };
        let read_mode = if plan.has_bug(Bug::FollowerReads) {
            ReadMode::Follower
        } else if plan.has_bug(Bug::StaleLeader) {
            ReadMode::LeaderLocal
        } else if plan.has_bug(Bug::LeaseReadIgnoresSkew) {
            ReadMode::Lease
        } else {
            p.read_mode
        };
        // Any two clocks differ by up to twice the bound each keeps to true time.
        let lease = (read_mode == ReadMode::Lease).then(|| raft::LeaseConfig {
            promise_ms: p.lease_ms,
            clock_skew_ms_max: 2 * plan.head.params.faults.clock.skew_ms_max,
        });
        let raft = raft::Config {
            election_timeout_ms_min: p.election_timeout_ms_min,
            election_timeout_ms_max: p.election_timeout_ms_max,
            heartbeat_ms: p.heartbeat_ms,
            flush_interval_ms: p.flush_interval_ms,
            batch_max: p.batch_max,
            snapshot_every: p.snapshot_every,
            lease,
            bugs: raft::Bugs {
                no_fsync: plan.has_bug(Bug::NoFsync),
                commit_old_term: plan.has_bug(Bug::CommitOldTerm),
                no_election_restriction: plan.has_bug(Bug::NoElectionRestriction),
                truncate_on_stale_append: plan.has_bug(Bug::TruncateOnStaleAppend),
                stale_snapshot_install: plan.has_bug(Bug::StaleSnapshotInstall),
                lease_ignores_skew: plan.has_bug(Bug::LeaseReadIgnoresSkew),
            },
        };
        EsCluster {
            router: plan.head.node("router").expect("topology has a router"),
            projection: plan.head.node("proj").expect("topology has a projection"),
            clients: client_nodes
                .iter()
                .enumerate()
                .map(|(c, &node)| (node, ops_of(&plan.workload, c)))
                .collect(),
            workload: plan.head.params.workload.clone(),
            kind: plan.workload_kind,
            shards,
            p,
            raft,
            bugs,
            read_mode,
        }
    }

    fn boot(&self, ctx: &mut Ctx<'_, Self>) -> Proc {
        let node = ctx.node();
        if let Some(ops) = self.clients.get(&node) {
            let mut core = ClientCore::new(ops.clone(), &self.workload);
            core.start(ctx, client_timer);
            return Proc::Client(core);
        }
        if node == self.router {
            return Proc::Router(Router::boot(ctx));
        }
        if node == self.projection {
            return Proc::Projection(Projection::boot(ctx, self));
        }
        let (shard, _) = self
            .replica_of(node)
            .expect("every other process is a replica");
        let peers = self.shards[shard]
            .iter()
            .copied()
            .filter(|&n| n != node)
            .collect();
        Proc::Replica(Box::new(Replica::recover(ctx, shard, peers)))
    }

    fn settled(&self, view: &View<'_, Self>) -> bool {
        checks::unsettled(self, view).is_empty()
    }

    fn finish(&self, view: &View<'_, Self>) -> checks::EsFinal {
        checks::finish(self, view)
    }

    fn gauges(&self, view: &View<'_, Self>, out: &mut Vec<(&'static str, f64)>) {
        let replica = |n: usize| match &view.procs[n] {
            Some(Proc::Replica(r)) => Some(&**r),
            _ => None,
        };
        let feeds = match &view.procs[self.projection] {
            Some(Proc::Projection(p)) => Some(&p.feeds),
            _ => None,
        };
        let (mut backlog, mut lag) = (0.0, 0.0);
        for (s, nodes) in self.shards.iter().enumerate() {
            backlog += raft::leader_backlog(nodes.iter().filter_map(|&n| replica(n)));
            let committed = (nodes.iter().filter_map(|&n| replica(n)))
                .map(|r| r.commit)
                .max()
                .unwrap_or(0);
            let applied = (feeds.and_then(|f| f.get(s))).map_or(0, |f| f.next.saturating_sub(1));
            lag += committed.saturating_sub(applied) as f64;
        }
        out.push(("projection lag (events)", lag));
        out.push(("uncommitted at the leader (entries)", backlog));
    }

    fn crash_probes(&self, proc: &Proc, probes: &mut Vec<&'static str>) {
        if let Proc::Replica(r) = proc {
            if r.last_index() > r.commit {
                probes.push(if r.is_leader() {
                    "leader_crashed_with_uncommitted_entries"
                } else {
                    "replica_crashed_with_uncommitted_entries"
                });
            }
            if r.is_leader() {
                probes.push("leader_crashed");
            }
        }
    }
}

impl RouterHost for EsCluster {
    type Command = Command;
    type Outcome = OpResult;

    fn groups(&self) -> &[Vec<usize>] {
        &self.shards
    }
    fn group_of(&self, command: &Command) -> usize {
        self.shard_of(command.key())
    }
    fn any_replica_answers(&self, command: &Command) -> bool {
        command.is_read() && self.read_mode == ReadMode::Follower
    }
    fn answer_shows_leader(&self, command: Option<&Command>) -> bool {
        command.is_some_and(|c| !c.is_read())
            || matches!(self.read_mode, ReadMode::Log | ReadMode::Lease)
    }
    fn retry_ms(&self) -> u64 {
        self.p.router_retry_ms
    }
    fn give_up_ms(&self) -> u64 {
        self.workload.op_timeout_ms
    }
    fn tick_timer() -> Timer {
        Timer::RouterTick
    }
    fn forward(req: ReqId, command: Command) -> Msg {
        Msg::Command { req, command }
    }
    fn answer(seq: u64, result: OpResult) -> Msg {
        Msg::ClientReply { seq, result }
    }
}

impl Process<EsCluster> for Proc {
    fn on_message(&mut self, ctx: &mut Ctx<'_, EsCluster>, from: usize, msg: Msg) {
        match self {
            Proc::Replica(r) => r.on_service_message(ctx, from, msg),
            Proc::Router(router) => match msg {
                Msg::ClientRequest { seq, op } => {
                    let req = ReqId { client: from, seq };
                    router.on_request(ctx, req, command_of(op));
                }
                Msg::CommandReply { req, reply } => router.on_reply(ctx, from, req, reply),
                other => panic!("router got {other:?} from {from}"),
            },
            Proc::Projection(p) => p.on_message(ctx, from, msg),
            Proc::Client(core) => {
                if let Msg::ClientReply { seq, result } = msg {
                    if let Some(done) = core.on_reply(ctx, seq, client_timer) {
                        complete(ctx, &done, result);
                    }
                } else {
                    panic!("client got {msg:?} from {from}");
                }
            }
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, EsCluster>, timer: Timer) {
        let sys = ctx.system();
        match (self, timer) {
            (Proc::Replica(r), Timer::Raft(t)) => r.on_timer(ctx, t),
            (Proc::Replica(r), Timer::TxnTick) => r.on_txn_tick(ctx),
            (Proc::Router(router), Timer::RouterTick) => router.on_tick(ctx),
            (Proc::Projection(p), Timer::Poll) => p.on_poll(ctx, sys),
            (Proc::Client(core), Timer::Client(t)) => {
                if let Some(out) = core.on_timer(ctx, t, client_timer) {
                    let msg = Msg::ClientRequest {
                        seq: out.seq,
                        op: out.op,
                    };
                    ctx.send(sys.router, msg);
                }
            }
            (proc, timer) => panic!("timer {timer:?} fired on {proc:?}"),
        }
    }
}

/// Record the outcome of a client operation in the history.
fn complete(ctx: &mut Ctx<'_, EsCluster>, done: &InFlight<EsOp>, result: OpResult) {
    let ops = &done.history;
    let transfer = matches!(done.op, EsOp::Bank(BankOp::Transfer { .. }));
    let side = |ctx: &mut Ctx<'_, EsCluster>, op: usize, applied: Option<bool>| match applied {
        Some(b) => ctx.complete(op, Status::Ok, Value::Bool(b)),
        // That side did not happen at all (refused by the other, or aborted).
        None => ctx.complete(op, Status::Fail, Value::Nil),
    };
    match result {
        OpResult::Transfer {
            withdrew,
            deposited,
        } if transfer => {
            // A transfer is a withdrawal from one account and a deposit to another.
            side(ctx, ops[0], withdrew);
            side(ctx, ops[1], deposited);
        }
        OpResult::Value(value) if !transfer => {
            for &op in ops {
                ctx.complete(op, Status::Ok, value.clone());
            }
        }
        OpResult::Transfer { .. } | OpResult::Value(_) => {
            panic!("the answer to {:?} does not fit the operation", done.op)
        }
        OpResult::Aborted => {
            for &op in ops {
                ctx.complete(op, Status::Fail, Value::Nil);
            }
        }
    }
}

/// The command a workload operation becomes.
fn command_of(op: EsOp) -> Command {
    match op {
        EsOp::Kv(KvOp::Get { key }) => Command::Get { key },
        EsOp::Kv(KvOp::Put { key, value }) => Command::Put { key, value },
        EsOp::Kv(KvOp::Append { key, value }) => Command::Append { key, value },
        EsOp::Bank(BankOp::Read { account }) => Command::Read { account },
        EsOp::Bank(BankOp::Open { account }) => Command::Open { account },
        EsOp::Bank(BankOp::Deposit { account, amount }) => Command::Deposit { account, amount },
        EsOp::Bank(BankOp::Withdraw { account, amount }) => Command::Withdraw { account, amount },
        EsOp::Bank(BankOp::Transfer { from, to, amount }) => Command::Transfer { from, to, amount },
    }
}

/// The ledger's effects are what applying an entry yields for the service.
pub type Effects = Vec<Effect>;
