//! `es_cluster` — an event-sourced service made highly available with Raft.
//!
//! The central system of faultline's catalogue. Its pieces:
//!
//! * **Replicas** (`r0..`, or `s<shard>r<i>` when sharded) run [`raft`]: consensus over an
//!   *event* log. The leader decides each command into events ([`ledger`]) and only the
//!   leader answers, once the entry is committed and applied. Consistent reads are log
//!   entries too. Term, vote and log are fsynced before they are acknowledged; a
//!   restarted replica recovers from snapshot + log.
//! * The **router** (`router`) is the clients' one connection: it finds each shard's
//!   leader, forwards commands, follows `NotLeader` redirects and retries on timeouts, so
//!   a client keeps talking to it while leadership moves.
//! * The **projection** (`proj`) is a read model: it pulls committed events from a replica
//!   of each shard (the leader, a follower, or any: `projection_source`) and folds them
//!   into a query view; its lag behind the commit is measured.
//! * **Sharding** (`shards > 1`): accounts and keys are split across Raft groups by hash;
//!   a transfer between shards is a two-phase commit whose coordinator is the source
//!   shard — its state lives in that shard's replicated log, so it survives any single
//!   crash and a new leader finishes what the old one started.
//! * **Clients** (`c0..`) run the bank or key-value workload through the router.
//!
//! Planted bugs: `replicate-commands`, `follower-reads`, `ack-before-commit`, `no-fsync`,
//! `stale-leader`, `projection-skips` (see [`BUGS`]). Checks: see [`CHECKS`] and
//! [`checks`].

pub mod checks;
pub mod ledger;
pub mod raft;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use self::ledger::{Command, Event, Ledger, LogEntry, OpResult, Payload, ReqId, TxnId};
use self::raft::Replica;
use super::clients::{self, ClientCore, ClientTimer, InFlight};
use super::{BugInfo, CheckInfo, CheckKind};
use crate::history::{Status, Value};
use crate::plan::{ClientOp, NodeSpec, OpSpec, Plan, Role};
use crate::scenario::knob::knob_section;
use crate::scenario::{Params, WorkloadKind, WorkloadParams};
use crate::sim::{Ctx, Message, Process, System, View};

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
        /// The projection polls for new events this often (ms).
        projection_poll_ms: u64 = 30, swarm [10, 100], valid [1, 600_000];
    }
    plain {
        /// Where the projection pulls events from: `leader`, `follower` or `any`.
        projection_source: ProjectionSource = ProjectionSource::Any;
        /// How reads are served: `log` (consistent), `leader_local` or `follower` (stale,
        /// named options for studying stale reads; linearizability is not expected).
        read_mode: ReadMode = ReadMode::Log;
    }
}

/// Planted bugs of this system.
pub const BUGS: &[BugInfo] = &[
    BugInfo {
        name: "replicate-commands",
        about: "the log holds commands and every replica decides them itself, with its own randomness and clock: replicas diverge",
    },
    BugInfo {
        name: "follower-reads",
        about: "the router sends reads to any replica and followers answer from their own state: stale reads",
    },
    BugInfo {
        name: "ack-before-commit",
        about: "the leader answers a write when it is in its own log, before a majority has it: acknowledged writes are lost when the leader dies",
    },
    BugInfo {
        name: "no-fsync",
        about: "term, vote and log writes are never fsynced: a crash forgets votes and acknowledged events",
    },
    BugInfo {
        name: "stale-leader",
        about: "the leader answers reads from its own state without confirming it still leads: an old leader serves stale reads after a partition",
    },
    BugInfo {
        name: "projection-skips",
        about: "the read model resumes from the wrong position when it reconnects: it skips or double-applies events",
    },
];

/// Checks of this system.
pub const CHECKS: &[CheckInfo] = &[
    CheckInfo {
        name: "linearizability",
        kind: CheckKind::Safety,
        about: "the client history is linearizable (bank model per account, or key-value model per key)",
    },
    CheckInfo {
        name: "log_agreement",
        kind: CheckKind::Safety,
        about: "no two different entries are committed at one index, and replicas applying the same entries reach the same state",
    },
    CheckInfo {
        name: "durability",
        kind: CheckKind::Safety,
        about: "every acknowledged command is in the committed log",
    },
    CheckInfo {
        name: "snapshot_replay",
        kind: CheckKind::Safety,
        about: "each replica's state (snapshot + tail) equals a full replay of the committed log",
    },
    CheckInfo {
        name: "conservation",
        kind: CheckKind::Safety,
        about: "bank: money is conserved across accounts and shards (balances = deposits - withdrawals)",
    },
    CheckInfo {
        name: "projection",
        kind: CheckKind::Safety,
        about: "the read model applied every committed event once, in order, and equals their fold",
    },
    CheckInfo {
        name: "convergence",
        kind: CheckKind::Liveness,
        about: "after heal every replica and the projection reach the same, fully committed state",
    },
];

/// A snapshot: the state after `last_index`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Last entry included.
    pub last_index: u64,
    /// Its term.
    pub last_term: u64,
    /// The state.
    pub state: Ledger,
}

/// On-disk records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// Term and vote (file `meta`).
    Meta {
        /// Term.
        term: u64,
        /// Vote in that term.
        voted_for: Option<usize>,
    },
    /// A log entry (file `log`).
    Entry(LogEntry),
    /// A snapshot (file `snapshot`).
    Snapshot(Snapshot),
}

/// A replica's answer to the router.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// Done.
    Done(OpResult),
    /// Not the leader; maybe this one is.
    NotLeader(Option<usize>),
}

/// Messages.
#[derive(Debug, Clone)]
pub enum Msg {
    /// Client → router.
    ClientRequest { seq: u64, op: OpSpec },
    /// Router → client.
    ClientReply { seq: u64, result: OpResult },
    /// Router → replica.
    Command { req: ReqId, command: Command },
    /// Replica → router.
    CommandReply { req: ReqId, reply: Reply },
    /// Raft: ask for a vote.
    RequestVote {
        term: u64,
        last_index: u64,
        last_term: u64,
    },
    /// Raft: the answer.
    Vote { term: u64, granted: bool },
    /// Raft: entries (or a heartbeat).
    Append {
        term: u64,
        prev_index: u64,
        prev_term: u64,
        entries: Vec<LogEntry>,
        commit: u64,
    },
    /// Raft: the answer.
    AppendReply {
        term: u64,
        success: bool,
        match_index: u64,
        hint: u64,
    },
    /// Raft: a snapshot for a follower too far behind.
    InstallSnapshot { term: u64, snapshot: Box<Snapshot> },
    /// Raft: the answer.
    SnapshotReply { term: u64, match_index: u64 },
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
            Msg::RequestVote { .. } => "request_vote",
            Msg::Vote { .. } => "vote",
            Msg::Append { entries, .. } if entries.is_empty() => "heartbeat",
            Msg::Append { .. } => "append_entries",
            Msg::AppendReply { .. } => "append_reply",
            Msg::InstallSnapshot { .. } => "install_snapshot",
            Msg::SnapshotReply { .. } => "snapshot_reply",
            Msg::Prepare { .. } => "prepare",
            Msg::Prepared { .. } => "prepared",
            Msg::Decision { .. } => "decision",
            Msg::DecisionApplied { .. } => "decision_applied",
            Msg::Fetch { .. } => "fetch",
            Msg::Events { .. } => "events",
        }
    }
}

/// Timers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Timer {
    /// Raft election timeout.
    Election,
    /// Leader heartbeat.
    Heartbeat,
    /// Leader group commit.
    Flush,
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

/// Planted bugs switched on.
#[derive(Debug, Clone, Copy, Default)]
pub struct Bugs {
    /// `replicate-commands`.
    pub replicate_commands: bool,
    /// `follower-reads`.
    pub follower_reads: bool,
    /// `ack-before-commit`.
    pub ack_before_commit: bool,
    /// `no-fsync`.
    pub no_fsync: bool,
    /// `stale-leader`.
    pub stale_leader: bool,
    /// `projection-skips`.
    pub projection_skips: bool,
}

/// The processes: replicas (per shard), the router, the projection, then clients.
pub fn topology(params: &Params) -> Vec<NodeSpec> {
    let shards = match &params.system {
        super::SystemParams::EsCluster(p) => p.shards,
        _ => 1,
    };
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

/// Validate the section beyond single knobs.
pub fn check_section(section: &EsClusterSection, problems: &mut Vec<(String, String)>) {
    section.check(problems);
    if let (Some(lo), Some(hi)) = (
        &section.election_timeout_ms_min,
        &section.election_timeout_ms_max,
    ) {
        if lo.min() > hi.max() {
            problems.push((
                "es_cluster.election_timeout_ms_max".into(),
                "contradictory settings: `es_cluster.election_timeout_ms_max` is below `es_cluster.election_timeout_ms_min`".into(),
            ));
        }
    }
    if let (Some(hb), Some(lo)) = (&section.heartbeat_ms, &section.election_timeout_ms_min) {
        if hb.min() >= lo.max() {
            problems.push((
                "es_cluster.heartbeat_ms".into(),
                "contradictory settings: `es_cluster.heartbeat_ms` must be below the election timeout, or followers start elections against a live leader".into(),
            ));
        }
    }
}

/// The system, configured from a plan.
pub struct EsCluster {
    /// Settings.
    pub p: EsClusterParams,
    /// Replica node indices of each shard.
    pub shards: Vec<Vec<usize>>,
    /// The router.
    pub router: usize,
    /// The projection.
    pub projection: usize,
    /// Each client's planned operations.
    pub clients: BTreeMap<usize, Vec<ClientOp>>,
    /// Workload settings.
    pub workload: WorkloadParams,
    /// Bank or key-value.
    pub kind: WorkloadKind,
    /// Planted bugs.
    pub bugs: Bugs,
    /// Effective read mode (`read_mode`, or what a read bug forces).
    pub read_mode: ReadMode,
}

/// The shard of a key: FNV-1a of its bytes, modulo the shard count. Stable forever.
pub fn shard_of(key: &str, shards: usize) -> usize {
    (crate::plan::rng::stream_id(key) % shards.max(1) as u64) as usize
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
    Router(Router),
    /// The projection.
    Projection(Projection),
    /// A client.
    Client(ClientCore),
}

impl System for EsCluster {
    type Msg = Msg;
    type Timer = Timer;
    type Record = Record;
    type Proc = Proc;
    type Final = checks::EsFinal;
    type Observation = EsObs;

    fn new(plan: &Plan) -> Self {
        let p = match &plan.params.system {
            super::SystemParams::EsCluster(p) => p.clone(),
            other => panic!("es_cluster planned with {other:?}"),
        };
        let servers = plan.nodes_with(Role::Server);
        let per_shard = plan.params.topology.replicas as usize;
        let shards: Vec<Vec<usize>> = servers.chunks(per_shard).map(<[usize]>::to_vec).collect();
        let client_nodes = plan.nodes_with(Role::Client);
        let bugs = Bugs {
            replicate_commands: plan.has_bug("replicate-commands"),
            follower_reads: plan.has_bug("follower-reads"),
            ack_before_commit: plan.has_bug("ack-before-commit"),
            no_fsync: plan.has_bug("no-fsync"),
            stale_leader: plan.has_bug("stale-leader"),
            projection_skips: plan.has_bug("projection-skips"),
        };
        let read_mode = if bugs.follower_reads {
            ReadMode::Follower
        } else if bugs.stale_leader {
            ReadMode::LeaderLocal
        } else {
            p.read_mode
        };
        EsCluster {
            router: plan.node("router").expect("topology has a router"),
            projection: plan.node("proj").expect("topology has a projection"),
            clients: client_nodes
                .iter()
                .enumerate()
                .map(|(c, &node)| (node, clients::ops_of(&plan.workload, c)))
                .collect(),
            workload: plan.params.workload.clone(),
            kind: plan.params.workload_kind,
            shards,
            p,
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
            ctx.set_timer(Timer::RouterTick, self.p.router_retry_ms);
            return Proc::Router(Router {
                leaders: vec![None; self.shards.len()],
                inflight: BTreeMap::new(),
            });
        }
        if node == self.projection {
            ctx.set_timer(Timer::Poll, self.p.projection_poll_ms);
            let feeds = (0..self.shards.len())
                .map(|s| Feed {
                    next: 1,
                    source: self.shards[s][ctx.rng().index(self.shards[s].len())],
                    waiting_since: None,
                    view: ProjectionView::default(),
                })
                .collect();
            return Proc::Projection(Projection {
                feeds,
                incarnation: ctx.incarnation(),
            });
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

impl Process<EsCluster> for Proc {
    fn on_message(&mut self, ctx: &mut Ctx<'_, EsCluster>, from: usize, msg: Msg) {
        let sys = ctx.system();
        match self {
            Proc::Replica(r) => match msg {
                Msg::Command { req, command } => r.on_command(ctx, from, req, command),
                Msg::RequestVote {
                    term,
                    last_index,
                    last_term,
                } => r.on_request_vote(ctx, from, term, last_index, last_term),
                Msg::Vote { term, granted } => r.on_vote(ctx, from, term, granted),
                Msg::Append {
                    term,
                    prev_index,
                    prev_term,
                    entries,
                    commit,
                } => r.on_append(ctx, from, term, prev_index, prev_term, entries, commit),
                Msg::AppendReply {
                    term,
                    success,
                    match_index,
                    hint,
                } => r.on_append_reply(ctx, from, term, success, match_index, hint),
                Msg::InstallSnapshot { term, snapshot } => {
                    r.on_install_snapshot(ctx, from, term, *snapshot)
                }
                Msg::SnapshotReply { term, match_index } => {
                    r.on_snapshot_reply(ctx, from, term, match_index)
                }
                Msg::Prepare {
                    txn,
                    to,
                    amount,
                    coordinator,
                } => r.on_prepare(ctx, txn, to, amount, coordinator),
                Msg::Prepared { txn, vote } => r.on_prepared(ctx, txn, vote),
                Msg::Decision {
                    txn,
                    commit,
                    coordinator,
                } => r.on_decision(ctx, txn, commit, coordinator),
                Msg::DecisionApplied { txn } => r.on_decision_applied(ctx, txn),
                Msg::Fetch { from: start } => r.on_fetch(ctx, from, start),
                other => panic!("replica got {other:?} from {from}"),
            },
            Proc::Router(router) => router.on_message(ctx, sys, from, msg),
            Proc::Projection(p) => {
                if let Msg::Events {
                    shard,
                    from: start,
                    entries,
                    snapshot,
                    leader,
                } = msg
                {
                    p.on_events(
                        ctx,
                        sys,
                        from,
                        shard,
                        start,
                        entries,
                        snapshot.map(|s| *s),
                        leader,
                    );
                } else {
                    panic!("projection got {msg:?} from {from}");
                }
            }
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
            (Proc::Replica(r), Timer::Election) => r.on_election_timeout(ctx),
            (Proc::Replica(r), Timer::Heartbeat) => r.on_heartbeat(ctx),
            (Proc::Replica(r), Timer::Flush) => r.flush(ctx),
            (Proc::Replica(r), Timer::TxnTick) => r.on_txn_tick(ctx),
            (Proc::Router(router), Timer::RouterTick) => router.on_tick(ctx, sys),
            (Proc::Projection(p), Timer::Poll) => p.on_poll(ctx, sys),
            (Proc::Client(core), Timer::Client(t)) => {
                if let Some(out) = core.on_timer(ctx, t, client_timer) {
                    ctx.send(
                        sys.router,
                        Msg::ClientRequest {
                            seq: out.seq,
                            op: out.op,
                        },
                    );
                }
            }
            (proc, timer) => panic!("timer {timer:?} fired on {proc:?}"),
        }
    }
}

/// Record the outcome of a client operation in the history.
fn complete(ctx: &mut Ctx<'_, EsCluster>, done: &InFlight, result: OpResult) {
    let ops = &done.history;
    let side = |ctx: &mut Ctx<'_, EsCluster>, op: usize, applied: Option<bool>| match applied {
        Some(b) => ctx.complete(op, Status::Ok, Value::Bool(b)),
        // That side did not happen at all (refused by the other, or aborted).
        None => ctx.complete(op, Status::Fail, Value::Nil),
    };
    match (&done.op, result) {
        (
            OpSpec::Transfer { .. },
            OpResult::Transfer {
                withdrew,
                deposited,
            },
        ) => {
            // A transfer is a withdrawal from one account and a deposit to another.
            side(ctx, ops[0], withdrew);
            side(ctx, ops[1], deposited);
        }
        (_, OpResult::Value(value)) if !matches!(done.op, OpSpec::Transfer { .. }) => {
            for &op in ops {
                ctx.complete(op, Status::Ok, value.clone());
            }
        }
        (op, OpResult::Transfer { .. } | OpResult::Value(_)) => {
            panic!("the answer to {op:?} does not fit the operation")
        }
        (_, OpResult::Aborted) => {
            for &op in ops {
                ctx.complete(op, Status::Fail, Value::Nil);
            }
        }
    }
}

/// A command the router is waiting on.
#[derive(Debug, Clone)]
pub struct Forwarded {
    command: Command,
    shard: usize,
    target: usize,
    sent_ns: u64,
    started_ns: u64,
}

/// The router: finds leaders, forwards, retries.
#[derive(Debug)]
pub struct Router {
    /// Known leader per shard.
    pub leaders: Vec<Option<usize>>,
    /// Commands waiting for an answer.
    pub inflight: BTreeMap<ReqId, Forwarded>,
}

impl Router {
    fn target(
        &self,
        ctx: &mut Ctx<'_, EsCluster>,
        sys: &EsCluster,
        shard: usize,
        command: &Command,
    ) -> usize {
        let replicas = &sys.shards[shard];
        if command.is_read() && sys.read_mode == ReadMode::Follower {
            return replicas[ctx.rng().index(replicas.len())];
        }
        self.leaders[shard].unwrap_or(replicas[0])
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, EsCluster>, sys: &EsCluster, from: usize, msg: Msg) {
        match msg {
            Msg::ClientRequest { seq, op } => {
                let req = ReqId { client: from, seq };
                if self.inflight.contains_key(&req) {
                    return; // The client re-sent; we are already on it.
                }
                let command = command_of(op);
                let shard = sys.shard_of(command.key());
                let target = self.target(ctx, sys, shard, &command);
                ctx.send(
                    target,
                    Msg::Command {
                        req,
                        command: command.clone(),
                    },
                );
                let now = ctx.now_ns();
                self.inflight.insert(
                    req,
                    Forwarded {
                        command,
                        shard,
                        target,
                        sent_ns: now,
                        started_ns: now,
                    },
                );
            }
            Msg::CommandReply {
                req,
                reply: Reply::Done(result),
            } => {
                if let Some((s, _)) = sys.replica_of(from) {
                    if self
                        .inflight
                        .get(&req)
                        .is_some_and(|f| !f.command.is_read())
                        || sys.read_mode == ReadMode::Log
                    {
                        self.leaders[s] = Some(from);
                    }
                }
                if self.inflight.remove(&req).is_some() {
                    ctx.send(
                        req.client,
                        Msg::ClientReply {
                            seq: req.seq,
                            result,
                        },
                    );
                }
            }
            Msg::CommandReply {
                req,
                reply: Reply::NotLeader(hint),
            } => {
                let Some(f) = self.inflight.get(&req) else {
                    return;
                };
                let shard = f.shard;
                let replicas = &sys.shards[shard];
                let next = match hint.filter(|h| replicas.contains(h) && *h != from) {
                    Some(h) => h,
                    None => {
                        replicas[(replicas.iter().position(|&n| n == from).unwrap_or(0) + 1)
                            % replicas.len()]
                    }
                };
                self.leaders[shard] = Some(next);
                ctx.probe("router_redirected");
                let command = f.command.clone();
                ctx.send(next, Msg::Command { req, command });
                let now = ctx.now_ns();
                if let Some(f) = self.inflight.get_mut(&req) {
                    f.target = next;
                    f.sent_ns = now;
                }
            }
            other => panic!("router got {other:?} from {from}"),
        }
    }

    fn on_tick(&mut self, ctx: &mut Ctx<'_, EsCluster>, sys: &EsCluster) {
        let now = ctx.now_ns();
        let retry_ns = sys.p.router_retry_ms * 1_000_000;
        let give_up_ns = sys.workload.op_timeout_ms * 1_000_000;
        self.inflight
            .retain(|_, f| now.saturating_sub(f.started_ns) < give_up_ns);
        let due: Vec<ReqId> = self
            .inflight
            .iter()
            .filter(|(_, f)| now.saturating_sub(f.sent_ns) >= retry_ns)
            .map(|(&r, _)| r)
            .collect();
        for req in due {
            let f = self
                .inflight
                .get(&req)
                .expect("due keys are present")
                .clone();
            let replicas = &sys.shards[f.shard];
            // No answer: the target may be down or cut off. Try the next replica.
            let pos = replicas.iter().position(|&n| n == f.target).unwrap_or(0);
            let next = if f.command.is_read() && sys.read_mode == ReadMode::Follower {
                replicas[ctx.rng().index(replicas.len())]
            } else {
                replicas[(pos + 1) % replicas.len()]
            };
            self.leaders[f.shard] = None;
            ctx.probe("router_retry");
            ctx.send(
                next,
                Msg::Command {
                    req,
                    command: f.command.clone(),
                },
            );
            if let Some(f) = self.inflight.get_mut(&req) {
                f.target = next;
                f.sent_ns = now;
            }
        }
        ctx.set_timer(Timer::RouterTick, sys.p.router_retry_ms);
    }
}

/// The command a workload operation becomes.
fn command_of(op: OpSpec) -> Command {
    match op {
        OpSpec::Get { key } => Command::Get { key },
        OpSpec::Put { key, value } => Command::Put { key, value },
        OpSpec::Append { key, value } => Command::Append { key, value },
        OpSpec::Read { account } => Command::Read { account },
        OpSpec::Open { account } => Command::Open { account },
        OpSpec::Deposit { account, amount } => Command::Deposit { account, amount },
        OpSpec::Withdraw { account, amount } => Command::Withdraw { account, amount },
        OpSpec::Transfer { from, to, amount } => Command::Transfer { from, to, amount },
    }
}

/// The projection's query view of one shard: balances and values, folded from events.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProjectionView {
    /// Balances.
    pub balances: BTreeMap<String, i64>,
    /// Key-value pairs.
    pub kv: BTreeMap<String, String>,
    txn_debits: BTreeMap<TxnId, (String, i64)>,
    txn_credits: BTreeMap<TxnId, (String, i64)>,
}

impl ProjectionView {
    /// The view of a replica's state (when the projection adopts a snapshot).
    pub fn of(ledger: &Ledger) -> Self {
        ProjectionView {
            balances: ledger
                .balances
                .iter()
                .map(|(k, v)| (k.clone(), v.value))
                .collect(),
            kv: ledger
                .kv
                .iter()
                .map(|(k, v)| (k.clone(), v.value.clone()))
                .collect(),
            txn_debits: ledger
                .coord
                .iter()
                .map(|(&id, t)| (id, (t.from.clone(), t.amount)))
                .collect(),
            txn_credits: ledger
                .part
                .iter()
                .map(|(&id, t)| (id, (t.to.clone(), t.amount)))
                .collect(),
        }
    }

    /// Fold one entry's events. (Undecided command entries — the `replicate-commands`
    /// bug — carry no events a read model could fold.)
    pub fn apply(&mut self, entry: &LogEntry) {
        let Payload::Events { events, .. } = &entry.payload else {
            return;
        };
        for event in events {
            match event {
                Event::Put { key, value, .. } => {
                    self.kv.insert(key.clone(), value.clone());
                }
                Event::Opened { account, .. } => {
                    self.balances.entry(account.clone()).or_insert(0);
                }
                Event::Appended { key, value, .. } => {
                    self.kv.entry(key.clone()).or_default().push_str(value)
                }
                Event::Deposited {
                    account, amount, ..
                } => *self.balances.entry(account.clone()).or_default() += amount,
                Event::Withdrew {
                    account, amount, ..
                } => *self.balances.entry(account.clone()).or_default() -= amount,
                Event::Transferred {
                    from, to, amount, ..
                } => {
                    *self.balances.entry(from.clone()).or_default() -= amount;
                    *self.balances.entry(to.clone()).or_default() += amount;
                }
                Event::TxnStarted {
                    txn, from, amount, ..
                } => {
                    self.txn_debits.insert(*txn, (from.clone(), *amount));
                }
                Event::TxnDecided {
                    txn, commit: true, ..
                } => {
                    if let Some((from, amount)) = self.txn_debits.remove(txn) {
                        *self.balances.entry(from).or_default() -= amount;
                    }
                }
                Event::TxnPrepared {
                    txn, to, amount, ..
                } => {
                    self.txn_credits.insert(*txn, (to.clone(), *amount));
                }
                Event::TxnApplied {
                    txn, commit: true, ..
                } => {
                    if let Some((to, amount)) = self.txn_credits.remove(txn) {
                        *self.balances.entry(to).or_default() += amount;
                    }
                }
                _ => {}
            }
        }
    }

    /// The query view without transfer bookkeeping, for comparison.
    pub fn visible(&self) -> (BTreeMap<String, i64>, BTreeMap<String, String>) {
        let balances = self
            .balances
            .iter()
            .filter(|(_, &v)| v != 0)
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        (balances, self.kv.clone())
    }
}

/// The projection's feed from one shard.
#[derive(Debug, Clone)]
pub struct Feed {
    /// Next entry index to apply.
    pub next: u64,
    /// Replica it pulls from.
    pub source: usize,
    /// When the outstanding fetch was sent.
    pub waiting_since: Option<u64>,
    /// The view.
    pub view: ProjectionView,
}

/// The projection service.
#[derive(Debug)]
pub struct Projection {
    /// One feed per shard.
    pub feeds: Vec<Feed>,
    incarnation: u32,
}

impl Projection {
    fn pick_source(
        ctx: &mut Ctx<'_, EsCluster>,
        sys: &EsCluster,
        shard: usize,
        current: usize,
    ) -> usize {
        let replicas = &sys.shards[shard];
        let others: Vec<usize> = replicas.iter().copied().filter(|&n| n != current).collect();
        if others.is_empty() {
            current
        } else {
            others[ctx.rng().index(others.len())]
        }
    }

    fn on_poll(&mut self, ctx: &mut Ctx<'_, EsCluster>, sys: &EsCluster) {
        let now = ctx.now_ns();
        let timeout_ns = 3 * sys.p.projection_poll_ms * 1_000_000;
        for shard in 0..self.feeds.len() {
            if let Some(since) = self.feeds[shard].waiting_since {
                if now.saturating_sub(since) < timeout_ns {
                    continue;
                }
                // No answer: reconnect to another replica.
                ctx.probe("projection_reconnected");
                let current = self.feeds[shard].source;
                self.feeds[shard].source = Self::pick_source(ctx, sys, shard, current);
                if sys.bugs.projection_skips {
                    // The planted bug: resume from a wrong position.
                    let feed = &mut self.feeds[shard];
                    feed.next = if ctx.rng().chance(0.5) {
                        feed.next + 1
                    } else {
                        feed.next.saturating_sub(1).max(1)
                    };
                }
            }
            let feed = &mut self.feeds[shard];
            feed.waiting_since = Some(now);
            ctx.send(feed.source, Msg::Fetch { from: feed.next });
        }
        ctx.set_timer(Timer::Poll, sys.p.projection_poll_ms);
    }

    #[allow(clippy::too_many_arguments)]
    fn on_events(
        &mut self,
        ctx: &mut Ctx<'_, EsCluster>,
        sys: &EsCluster,
        from: usize,
        shard: usize,
        start: u64,
        entries: Vec<LogEntry>,
        snapshot: Option<Snapshot>,
        leader: Option<usize>,
    ) {
        let incarnation = self.incarnation;
        let feed = &mut self.feeds[shard];
        if start != feed.next || feed.source != from {
            return; // An answer to an older fetch.
        }
        feed.waiting_since = None;
        if let Some(s) = snapshot {
            if s.last_index >= feed.next {
                feed.view = ProjectionView::of(&s.state);
                feed.next = s.last_index + 1;
                ctx.observe(EsObs::ProjectedSnapshot {
                    shard,
                    index: s.last_index,
                    incarnation,
                });
            }
        }
        for entry in &entries {
            if !sys.bugs.projection_skips {
                if entry.index < feed.next {
                    continue;
                }
                if entry.index > feed.next {
                    break; // A gap: fetch again from `next`.
                }
            }
            feed.view.apply(entry);
            feed.next = entry.index + 1;
            ctx.observe(EsObs::Projected {
                shard,
                index: entry.index,
                incarnation,
            });
        }
        // Keep reading from the kind of replica the settings ask for.
        let switch_to = match sys.p.projection_source {
            ProjectionSource::Leader => {
                leader.filter(|l| *l != from && sys.shards[shard].contains(l))
            }
            ProjectionSource::Follower if leader == Some(from) => {
                Some(Self::pick_source(ctx, sys, shard, from))
            }
            ProjectionSource::Follower | ProjectionSource::Any => None,
        };
        if let Some(source) = switch_to {
            self.feeds[shard].source = source;
        }
    }
}
