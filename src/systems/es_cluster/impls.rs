//! es_cluster behind faultline's interfaces: how it plans a seed ([`Spec`]), runs and is
//! judged ([`System`]), and hosts its components (the router); process dispatch.

use super::{
    checks, client_timer, topology, Bug, Bugs, Check, EsCluster, EsClusterParams, EsClusterSection,
    EsObs, EsOp, Msg, Proc, ReadMode, Record, Replica, Timer, Workload,
};

use super::ledger::{Command, OpResult};
use super::projection::Projection;
use crate::check::fit::HistoryFile;
use crate::check::linearizability::Budget;
use crate::check::CheckOutcome;
use crate::history::{Status, Value};
use crate::knob::crossed_bounds;
use crate::plan::workload::ops_of;
use crate::plan::{points, Draw, NodeSpec, Plan, Role, Site, Spec};
use crate::scenario::load::{raft_heartbeats, Periodic, SystemLoad, Worst};
use crate::scenario::{order, Params};
use crate::sim::{Ctx, Process, SimOutput, System, View};
use crate::systems::components::clients::{ClientCore, InFlight, ReqId};
use crate::systems::components::raft;
use crate::systems::components::router::{Router, RouterHost};
use crate::systems::components::workload::bank::{self, BankOp};
use crate::systems::components::workload::kv::{self, KvOp};

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

    fn aim_targets(own: &EsClusterParams, bugs: &[Bug]) -> Vec<&'static str> {
        let mut targets = raft::AIM_TARGETS.to_vec();
        if read_mode(own, bugs) == ReadMode::Lease {
            targets.extend(raft::LEASE_AIM_TARGETS);
        }
        targets
    }
}

/// How reads are served: as the settings say, unless a planted bug of reads decides.
fn read_mode(own: &EsClusterParams, bugs: &[Bug]) -> ReadMode {
    if bugs.contains(&Bug::FollowerReads) {
        ReadMode::Follower
    } else if bugs.contains(&Bug::StaleLeader) {
        ReadMode::LeaderLocal
    } else if bugs.contains(&Bug::LeaseReadIgnoresSkew) {
        ReadMode::Lease
    } else {
        own.read_mode
    }
}

impl System for EsCluster {
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
        vec![crate::sim::linearizable_history(
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
        let read_mode = read_mode(&p, &plan.bugs);
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
            noop_on_election: p.noop_on_election,
            bugs: raft::Bugs {
                lease_ignores_skew: plan.has_bug(Bug::LeaseReadIgnoresSkew),
                ..raft::Bugs::planted(&plan.bugs)
            },
        };
        EsCluster {
            routers: (0..p.routers as usize)
                .map(|i| plan.head.node(&super::router_name(i, p.routers as usize)))
                .map(|node| node.expect("topology has every router"))
                .collect(),
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
        if self.routers.contains(&node) {
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
                    ctx.send(sys.router_of(ctx.node()), msg);
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
