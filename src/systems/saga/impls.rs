//! The saga system behind faultline's interfaces: how it plans a seed ([`Spec`]), boots
//! and settles its processes ([`System`]), is validated and checked ([`Model`]), and
//! hosts its components (the database, the router).

use super::{
    checks, client_timer, coordinator, flow, topology, Bug, Bugs, Check, Msg, Proc, Protocol,
    Record, Saga, SagaObs, SagaOp, SagaParams, SagaSection, Start, Timer, Workload,
};

use super::flow::Flow;
use super::log::SagaResult;
use super::participant::{Participant, Row};
use super::twopc::TwoPc;
use crate::check::linearizability::Budget;
use crate::check::CheckOutcome;
use crate::history::{Status, Value};
use crate::knob::crossed_bounds;
use crate::plan::workload::ops_of;
use crate::plan::{Draw, NodeSpec, Plan, Role, Spec};
use crate::scenario::load::{raft_heartbeats, Periodic, SystemLoad, Worst};
use crate::scenario::{order, Params};
use crate::sim::{Ctx, Process, SimOutput, System, View};
use crate::systems::components::clients::{ClientCore, InFlight, ReqId};
use crate::systems::components::db::{Committed, Stored};
use crate::systems::components::raft::{self, Raft};
use crate::systems::components::router::{Router, RouterHost};

impl Spec for Saga {
    const NAME: &'static str = "saga";
    type Section = SagaSection;
    type Params = SagaParams;
    type Op = SagaOp;
    type Bug = Bug;
    type Check = Check;
    type Workload = Workload;

    fn resolve(section: &SagaSection, swarm: bool, seed: u64, generic: &Params) -> SagaParams {
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

    fn topology(params: &Params, own: &SagaParams, workload: Workload) -> Vec<NodeSpec> {
        topology(params, own, workload)
    }

    fn operation(workload: Workload, draw: &mut Draw<'_>) -> SagaOp {
        flow::draw(workload, draw)
    }

    fn check_op(op: &SagaOp) -> Result<(), (String, String)> {
        match op {
            SagaOp::Order { qty, .. } => {
                crate::systems::components::workload::check_amount("qty", *qty)
            }
            _ => Ok(()),
        }
    }

    fn fault_sites() -> Vec<crate::plan::Site> {
        // The saga log's Raft sites, and holds of the saga's own messages: steps and
        // compensations, their answers, the task list of polling participants and 2PC's
        // prepare and decision rounds.
        let own = [
            "step",
            "compensate",
            "done",
            "tasks",
            "released",
            "prepare",
            "decide",
            "decided",
        ];
        let mut labels = crate::systems::components::raft::LABELS.to_vec();
        labels.extend(own);
        crate::plan::points::raft_sites(&labels)
    }

    fn aim_targets(own: &SagaParams, _bugs: &[Bug]) -> Vec<&'static str> {
        // Two-phase commit's single coordinator keeps no replicated log.
        match own.protocol {
            Protocol::Saga => crate::systems::components::raft::AIM_TARGETS.to_vec(),
            Protocol::TwoPc => Vec::new(),
        }
    }
}

impl System for Saga {
    const ABOUT: &'static str = "business transactions across services with their own databases: an orchestrated saga with a Raft-replicated saga log, idempotent participants, compensations and semantic locks; two-phase commit as the blocking baseline";
    const PROBES: &'static [&'static [&'static str]] = &[
        crate::systems::components::raft::PROBES,
        crate::systems::components::router::PROBES,
        crate::systems::components::db::PROBES,
        crate::systems::components::clients::PROBES,
        &[
            "saga_retry_answered_from_log",
            "step_resent_without_answer",
            "timed_out_step_succeeded",
            "duplicate_during_compensation",
            "duplicate_task_answered_from_record",
            "step_busy_on_semantic_lock",
            "read_waited_for_lock",
            "coordinator_leader_crashed_mid_saga",
            "2pc_unknown_transaction_inquired",
            "2pc_aborted_on_timeout",
            "2pc_participant_in_doubt",
            "2pc_coordinator_crashed_undecided",
        ],
    ];

    fn load(section: &SagaSection, swarm: bool, worst: &Worst) -> SystemLoad {
        let fast = section.corner(swarm, false);
        let r = worst.replicas;
        let services = flow::services(Workload::Order)
            .len()
            .max(flow::services(Workload::Project).len()) as u64;
        SystemLoad {
            // Per step and compensation: a saga-log append replicated, a request to the
            // participant, its own write and the reply.
            events_per_op: services as f64 * 2.0 * (6.0 + 2.0 * r.saturating_sub(1) as f64),
            periodic: vec![
                raft_heartbeats("saga", 1, r, fast.heartbeat_ms),
                Periodic::every(
                    "coordinator ticks".into(),
                    "saga.tick_ms",
                    1,
                    fast.tick_ms,
                    1.0,
                ),
                Periodic::every(
                    "participant polls".into(),
                    "saga.poll_ms",
                    services,
                    fast.poll_ms.min(fast.inquiry_ms),
                    3.0,
                ),
                Periodic::every(
                    "router retry ticks".into(),
                    "saga.router_retry_ms",
                    1,
                    fast.router_retry_ms,
                    1.0,
                ),
            ],
            conflicts: raft::liveness::section_problem(
                "saga",
                (
                    &section.election_timeout_ms_min,
                    &section.election_timeout_ms_max,
                ),
                section.corner(swarm, true).flush_interval_ms,
                worst,
            )
            .into_iter()
            .collect(),
        }
    }

    fn validate(section: &SagaSection, problems: &mut Vec<(String, String)>) {
        problems.extend(crossed_bounds(
            "saga.election_timeout_ms",
            &section.election_timeout_ms_min,
            &section.election_timeout_ms_max,
        ));
        if let (Some(hb), Some(lo)) = (&section.heartbeat_ms, &section.election_timeout_ms_min) {
            if hb.min() >= lo.max() {
                problems.push((
                    "saga.heartbeat_ms".into(),
                    "contradictory settings: `saga.heartbeat_ms` must be below the election timeout".into(),
                ));
            }
        }
    }

    fn check(
        plan: &Plan<Self>,
        out: &SimOutput<checks::SagaFinal, SagaObs>,
        check: Check,
        budget: &Budget,
    ) -> CheckOutcome {
        checks::run(plan, out, check, budget)
    }

    type Msg = Msg;
    type Timer = Timer;
    type Record = Record;
    type Proc = Proc;
    type Final = checks::SagaFinal;
    type Observation = SagaObs;

    fn new(plan: &Plan<Self>) -> Self {
        let p = plan.params.clone();
        let head = &plan.head;
        let services = flow::services(plan.workload_kind)
            .iter()
            .enumerate()
            .map(|(i, &s)| (s, i))
            .collect();
        let coordinators: Vec<usize> = head
            .nodes_with(Role::Server)
            .into_iter()
            .filter(|&n| head.nodes[n].name.starts_with("sec") || head.nodes[n].name == "coord")
            .collect();
        let clients = head.nodes_with(Role::Client);
        Saga {
            raft: raft::Config {
                election_timeout_ms_min: p.election_timeout_ms_min,
                election_timeout_ms_max: p.election_timeout_ms_max,
                heartbeat_ms: p.heartbeat_ms,
                flush_interval_ms: p.flush_interval_ms,
                batch_max: 64,
                snapshot_every: p.snapshot_every,
                lease: None,
                noop_on_election: true,
                bugs: raft::Bugs::planted(&plan.bugs),
            },
            workload: plan.workload_kind,
            services,
            groups: vec![coordinators.clone()],
            coordinators,
            router: head.node("router").expect("topology has a router"),
            clients: clients
                .iter()
                .enumerate()
                .map(|(c, &node)| (node, ops_of(&plan.workload, c)))
                .collect(),
            client_params: head.params.workload.clone(),
            bugs: bugs_of(plan),
            keys: head.params.workload.keys,
            p,
        }
    }

    fn boot(&self, ctx: &mut Ctx<'_, Self>) -> Proc {
        let node = ctx.node();
        if let Some(ops) = self.clients.get(&node) {
            let mut core = ClientCore::new(ops.clone(), &self.client_params);
            core.start(ctx, client_timer);
            return Proc::Client(core);
        }
        if node == self.router {
            return Proc::Router(Router::boot(ctx));
        }
        if let Some(service) = self.service_at(node) {
            return Proc::Participant(Box::new(Participant::boot(ctx, service)));
        }
        match self.p.protocol {
            Protocol::TwoPc => Proc::TwoPc(Box::new(TwoPc::boot(ctx))),
            Protocol::Saga => {
                let peers = self
                    .coordinators
                    .iter()
                    .copied()
                    .filter(|&n| n != node)
                    .collect();
                let replica = Raft::recover(ctx, 0, peers);
                ctx.set_timer(Timer::Tick, self.p.tick_ms);
                Proc::Coordinator(Box::new(replica))
            }
        }
    }

    fn settled(&self, view: &View<'_, Self>) -> bool {
        checks::unsettled(self, view).is_empty()
    }

    fn gauges(&self, view: &View<'_, Self>, out: &mut Vec<(&'static str, f64)>) {
        let log = (self.coordinators.iter()).filter_map(|&n| match &view.procs[n] {
            Some(Proc::Coordinator(r)) => Some(&**r),
            _ => None,
        });
        if !self.coordinators.is_empty() {
            out.push((
                "saga log: uncommitted at the leader (entries)",
                raft::leader_backlog(log),
            ));
        }
    }

    fn finish(&self, view: &View<'_, Self>) -> checks::SagaFinal {
        checks::finish(self, view)
    }

    fn crash_probes(&self, proc: &Proc, probes: &mut Vec<&'static str>) {
        match proc {
            Proc::Coordinator(r)
                if r.is_leader() && coordinator::view(r).sagas.values().any(|s| !s.ended()) =>
            {
                probes.push("coordinator_leader_crashed_mid_saga");
            }
            Proc::TwoPc(c) if c.undecided() > 0 => probes.push("2pc_coordinator_crashed_undecided"),
            _ => {}
        }
    }
}

fn bugs_of(plan: &Plan<Saga>) -> Bugs {
    Bugs {
        non_idempotent: plan.has_bug(Bug::NonIdempotentParticipant),
        compensate_on_timeout: plan.has_bug(Bug::CompensateOnTimeout),
        no_saga_log: plan.has_bug(Bug::NoSagaLog),
        forward_order: plan.has_bug(Bug::ForwardOrderCompensation),
        lost_compensation_retry: plan.has_bug(Bug::LostCompensationRetry),
        compensate_uncommitted: plan.has_bug(Bug::CompensateUncommitted),
        presumed_commit: plan.has_bug(Bug::PresumedCommitWithoutLog),
    }
}

impl Stored<Row> for Saga {
    fn db_record(record: Committed<Row>) -> Record {
        Record::Db(record)
    }
    fn as_db_record(record: &Record) -> Option<&Committed<Row>> {
        match record {
            Record::Db(r) => Some(r),
            Record::Raft(_) => None,
        }
    }
}

impl RouterHost for Saga {
    type Command = Start;
    type Outcome = SagaResult;

    fn groups(&self) -> &[Vec<usize>] {
        &self.groups
    }
    fn group_of(&self, _command: &Start) -> usize {
        0
    }
    fn any_replica_answers(&self, _command: &Start) -> bool {
        false
    }
    fn answer_shows_leader(&self, _command: Option<&Start>) -> bool {
        true
    }
    fn retry_ms(&self) -> u64 {
        self.p.router_retry_ms
    }
    fn give_up_ms(&self) -> u64 {
        self.client_params.op_timeout_ms
    }
    fn tick_timer() -> Timer {
        Timer::RouterTick
    }
    fn forward(req: ReqId, command: Start) -> Msg {
        Msg::Command { req, command }
    }
    fn answer(seq: u64, result: SagaResult) -> Msg {
        Msg::ClientReply { seq, result }
    }
}

impl Process<Saga> for Proc {
    fn on_message(&mut self, ctx: &mut Ctx<'_, Saga>, from: usize, msg: Msg) {
        match self {
            Proc::Participant(p) => p.on_message(ctx, from, msg),
            Proc::Coordinator(r) => r.on_saga_message(ctx, from, msg),
            Proc::TwoPc(c) => c.on_message(ctx, from, msg),
            Proc::Router(router) => match msg {
                Msg::ClientRequest { seq, op } => {
                    let req = ReqId { client: from, seq };
                    router.on_request(ctx, req, start_of(&op));
                }
                Msg::CommandReply { req, reply } => router.on_reply(ctx, from, req, reply),
                other => panic!("router got {other:?} from {from}"),
            },
            Proc::Client(core) => on_client_message(core, ctx, from, msg),
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Saga>, timer: Timer) {
        match (self, timer) {
            (Proc::Coordinator(r), Timer::Raft(t)) => r.on_timer(ctx, t),
            (Proc::Coordinator(r), Timer::Tick) => r.on_tick(ctx),
            (Proc::TwoPc(c), Timer::Tick) => c.on_tick(ctx),
            (Proc::Participant(p), Timer::Poll) => p.on_poll(ctx),
            (Proc::Router(router), Timer::RouterTick) => router.on_tick(ctx),
            (Proc::Client(core), Timer::Client(t)) => {
                if let Some(out) = core.on_timer(ctx, t, client_timer) {
                    send_request(ctx, out.seq, out.op);
                }
            }
            (proc, timer) => panic!("timer {timer:?} fired on {proc:?}"),
        }
    }
}

/// The saga a client operation starts (reads never reach the router).
fn start_of(op: &SagaOp) -> Start {
    let flow = match op {
        SagaOp::Order {
            customer,
            item,
            qty,
            ..
        } => Flow::Order {
            customer: customer.clone(),
            item: item.clone(),
            qty: *qty,
        },
        SagaOp::CreateProject { name, .. } => Flow::Project { name: name.clone() },
        other => panic!("{other:?} is a read: clients send reads to the service"),
    };
    Start {
        id: op.saga().expect("sagas have ids"),
        flow,
    }
}

/// A client sends a saga to the router, a read to the service that owns the row.
fn send_request(ctx: &mut Ctx<'_, Saga>, seq: u64, op: SagaOp) {
    let sys = ctx.system();
    match op.read() {
        Some((service, row)) => ctx.send(sys.node_of(service), Msg::Read { seq, row }),
        None => ctx.send(sys.router, Msg::ClientRequest { seq, op }),
    }
}

fn on_client_message(
    core: &mut ClientCore<SagaOp>,
    ctx: &mut Ctx<'_, Saga>,
    from: usize,
    msg: Msg,
) {
    let (seq, output) = match msg {
        Msg::ClientReply { seq, result } => (seq, Value::Str(result.name().into())),
        Msg::ReadReply { seq, value } => (seq, value),
        other => panic!("client got {other:?} from {from}"),
    };
    if let Some(done) = core.on_reply(ctx, seq, client_timer) {
        complete(ctx, &done, output);
    }
}

fn complete(ctx: &mut Ctx<'_, Saga>, done: &InFlight<SagaOp>, output: Value) {
    for &op in &done.history {
        ctx.complete(op, Status::Ok, output.clone());
    }
}
