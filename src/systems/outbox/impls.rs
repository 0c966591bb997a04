//! The outbox system behind faultline's interfaces: how it plans a seed ([`Spec`]), runs
//! and is judged ([`System`]), and hosts its components (the database, the broker's
//! partition logs); process dispatch.

use super::{
    checks, client_timer, service, topology, Bug, Bugs, Check, Event, Msg, OrderOp, Outbox,
    OutboxObs, OutboxParams, OutboxSection, Proc, Record, Timer, Workload,
};

use super::consumer::{ConsumerProc, LoyaltyDb};
use super::service::Orders;
use crate::check::fit::{Fit, HistoryFile};
use crate::check::linearizability::Budget;
use crate::check::CheckOutcome;
use crate::history::{Status, Value};
use crate::knob::crossed_bounds;
use crate::plan::workload::ops_of;
use crate::plan::{Draw, NodeSpec, Plan, Role, Spec};
use crate::scenario::load::{raft_heartbeats, Periodic, SystemLoad, Worst};
use crate::scenario::{order, Params};
use crate::sim::{Ctx, Process, SimOutput, System, View};
use crate::systems::components::broker::{self, BrokerHost, PartitionLog};
use crate::systems::components::clients::ClientCore;
use crate::systems::components::db::{Committed, Stored};
use crate::systems::components::raft::{self, Applied, Host, Raft};

impl Spec for Outbox {
    const NAME: &'static str = "outbox";
    type Section = OutboxSection;
    type Params = OutboxParams;
    type Op = OrderOp;
    type Bug = Bug;
    type Check = Check;
    type Workload = Workload;

    fn resolve(section: &OutboxSection, swarm: bool, seed: u64, generic: &Params) -> OutboxParams {
        let mut p = section.resolve(swarm, seed);
        order(
            &mut p.election_timeout_ms_min,
            &mut p.election_timeout_ms_max,
        );
        // A bound left to its default or to swarm sampling is fitted to this seed's
        // network (`raft::liveness`).
        let (flush_interval_ms, heartbeat_ms) = (1, p.heartbeat_ms);
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

    fn topology(params: &Params, own: &OutboxParams, _: Workload) -> Vec<NodeSpec> {
        topology(params, own)
    }

    fn operation(_: Workload, d: &mut Draw<'_>) -> OrderOp {
        service::draw(d)
    }

    fn check_op(op: &OrderOp) -> Result<(), (String, String)> {
        crate::systems::components::workload::check_amount("amount", op.amount)
    }

    fn fault_sites() -> Vec<crate::plan::Site> {
        // The partitions' Raft sites, and holds of the broker's answers to its clients.
        let mut labels = crate::systems::components::raft::LABELS.to_vec();
        labels.extend(crate::systems::components::broker::REPLY_LABELS);
        crate::plan::points::raft_sites(&labels)
    }

    fn aim_targets(_own: &OutboxParams, _bugs: &[Bug]) -> Vec<&'static str> {
        crate::systems::components::raft::AIM_TARGETS.to_vec()
    }
}

impl System for Outbox {
    const ABOUT: &'static str = "reliable events: a transactional outbox and its relay (polling or log tailing), a Kafka-like broker on Raft-replicated partitions with consumer groups, idempotent consumers, a read-only replica table across a schema change; dual write as the known-bad baseline";
    const PROBES: &'static [&'static [&'static str]] = &[
        crate::systems::components::raft::PROBES,
        crate::systems::components::broker::PROBES,
        crate::systems::components::db::PROBES,
        crate::systems::components::clients::PROBES,
        &[
            "redelivered_event_ignored",
            "consumer_crash_between_apply_and_offset_commit",
            "partition_leader_crashed",
            "partition_leader_change",
            "crash_between_commit_and_publish",
            "crash_between_publish_and_mark_sent",
            "phantom_event_published",
            "relay_round_committed",
            "relay_round_aborted",
            "relay_round_unknown",
        ],
    ];

    fn load(section: &OutboxSection, swarm: bool, worst: &Worst) -> SystemLoad {
        let (fast, big) = (section.corner(swarm, false), section.corner(swarm, true));
        let r = worst.replicas;
        let consumers = big.loyalty_consumers + 1;
        SystemLoad {
            // The order's transaction, its event relayed, replicated in the partition,
            // acknowledged, then fetched and applied by each consumer group.
            events_per_op: 8.0 + 2.0 * r.saturating_sub(1) as f64 + 4.0 * consumers as f64,
            periodic: vec![
                raft_heartbeats("outbox", big.partitions, r, fast.heartbeat_ms),
                Periodic::every(
                    "relay polls".into(),
                    "outbox.relay_poll_ms",
                    1,
                    fast.relay_poll_ms,
                    3.0,
                ),
                Periodic::every(
                    format!("consumer polls ({consumers} consumers)"),
                    "outbox.consumer_poll_ms",
                    consumers,
                    fast.consumer_poll_ms,
                    3.0,
                ),
            ],
            conflicts: raft::liveness::section_problem(
                "outbox",
                (
                    &section.election_timeout_ms_min,
                    &section.election_timeout_ms_max,
                ),
                1,
                worst,
            )
            .into_iter()
            .collect(),
        }
    }

    fn validate(section: &OutboxSection, problems: &mut Vec<(String, String)>) {
        problems.extend(crossed_bounds(
            "outbox.election_timeout_ms",
            &section.election_timeout_ms_min,
            &section.election_timeout_ms_max,
        ));
        if let Some(allowed) = &section.allow {
            for (i, name) in allowed.iter().enumerate() {
                if !crate::check::queue::ANOMALIES.contains(&name.as_str()) {
                    problems.push((
                        format!("outbox.allow[{i}]"),
                        format!(
                            "unknown queue anomaly `{name}`: expected one of {}",
                            crate::check::queue::ANOMALIES.join(", ")
                        ),
                    ));
                }
            }
        }
    }

    /// The whole history (orders and the queue's operations) needs the replay; the sends,
    /// polls and assignments alone are the queue history Jepsen's checker reads.
    fn history_files(plan: &Plan<Self>, history: &crate::history::History) -> Vec<HistoryFile> {
        let queue = HistoryFile {
            name: "queue",
            ops: Some(checks::queue_ops(history)),
            fit: Fit::Queue {
                allow: plan.params.allow.clone(),
                ww_deps: true,
            },
            check: plan.checks.contains(&Check::Queue).then_some("queue"),
            jepsen_processes: true,
        };
        vec![crate::sim::replay_only(plan), queue]
    }

    fn check(
        plan: &Plan<Self>,
        out: &SimOutput<checks::OutboxFinal, OutboxObs>,
        check: Check,
        _budget: &Budget,
    ) -> CheckOutcome {
        checks::run(plan, out, check)
    }

    type Msg = Msg;
    type Timer = Timer;
    type Record = Record;
    type Proc = Proc;
    type Final = checks::OutboxFinal;
    type Observation = OutboxObs;

    fn new(plan: &Plan<Self>) -> Self {
        let p = plan.params.clone();
        let head = &plan.head;
        let node = |name: &str| head.node(name).expect("topology names it");
        let clients = head.nodes_with(Role::Client);
        Outbox {
            raft: raft::Config {
                election_timeout_ms_min: p.election_timeout_ms_min,
                election_timeout_ms_max: p.election_timeout_ms_max,
                heartbeat_ms: p.heartbeat_ms,
                flush_interval_ms: 1,
                batch_max: 64,
                snapshot_every: p.snapshot_every,
                lease: None,
                noop_on_election: true,
                bugs: raft::Bugs::planted(&plan.bugs),
            },
            broker: broker::Config {
                partitions: p.partitions as u32,
                session_timeout_ms: p.session_timeout_ms,
                fetch_max: p.fetch_max as u32,
                ack_before_replicate: plan.has_bug(Bug::Broker(broker::Bug::AckBeforeReplicate)),
                epoch_bump_per_txn: true,
                bugs: broker::TxnBugs::default(),
            },
            orders: node("orders"),
            partitions: (0..p.partitions)
                .map(|q| {
                    (0..head.params.topology.replicas)
                        .map(|r| node(&format!("p{q}r{r}")))
                        .collect()
                })
                .collect(),
            loyalty: (0..p.loyalty_consumers)
                .map(|i| node(&format!("loyalty{i}")))
                .collect(),
            loyalty_db: node("loyaltydb"),
            shipping: node("shipping"),
            clients: clients
                .iter()
                .enumerate()
                .map(|(c, &n)| (n, ops_of(&plan.workload, c)))
                .collect(),
            client_params: head.params.workload.clone(),
            bugs: Bugs {
                dual_write: plan.has_bug(Bug::DualWrite),
                publish_before_commit: plan.has_bug(Bug::PublishBeforeCommit),
                mark_before_ack: plan.has_bug(Bug::MarkBeforeAck),
                non_idempotent_consumer: plan.has_bug(Bug::NonIdempotentConsumer),
                commit_offset_before_apply: plan.has_bug(Bug::CommitOffsetBeforeApply),
                unordered_relay: plan.has_bug(Bug::UnorderedRelay),
                non_owner_write: plan.has_bug(Bug::NonOwnerWrite),
            },
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
        if node == self.orders {
            return Proc::Orders(Box::new(Orders::boot(ctx)));
        }
        if node == self.loyalty_db {
            return Proc::LoyaltyDb(Box::new(LoyaltyDb::boot(ctx)));
        }
        if let Some((partition, _)) = self.broker_of(node) {
            let peers = self.partitions[partition]
                .iter()
                .copied()
                .filter(|&n| n != node)
                .collect();
            if self.p.transactional_relay {
                ctx.set_timer(Timer::Tick, self.p.retry_ms);
            }
            return Proc::Broker(Box::new(Raft::recover(ctx, partition, peers)));
        }
        Proc::Consumer(Box::new(ConsumerProc::boot(ctx)))
    }

    fn settled(&self, view: &View<'_, Self>) -> bool {
        checks::unsettled(self, view).is_empty()
    }

    fn gauges(&self, view: &View<'_, Self>, out: &mut Vec<(&'static str, f64)>) {
        if let Some(Proc::Orders(o)) = &view.procs[self.orders] {
            out.push((
                "outbox backlog (events not yet acknowledged)",
                o.backlog() as f64,
            ));
        }
        let mut backlog = 0.0;
        for nodes in &self.partitions {
            backlog += raft::leader_backlog(nodes.iter().filter_map(|&n| match &view.procs[n] {
                Some(Proc::Broker(b)) => Some(&**b),
                _ => None,
            }));
        }
        out.push((
            "broker: uncommitted at partition leaders (records)",
            backlog,
        ));
    }

    fn finish(&self, view: &View<'_, Self>) -> checks::OutboxFinal {
        checks::finish(self, view)
    }

    fn crash_probes(&self, proc: &Proc, probes: &mut Vec<&'static str>) {
        match proc {
            Proc::Orders(o) => o.crash_probes(probes),
            Proc::Consumer(c) => c.crash_probes(probes),
            Proc::Broker(b) if b.is_leader() => probes.push("partition_leader_crashed"),
            _ => {}
        }
    }
}

impl Stored<service::Row> for Outbox {
    fn db_record(record: Committed<service::Row>) -> Record {
        Record::Db(record)
    }
    fn as_db_record(record: &Record) -> Option<&Committed<service::Row>> {
        match record {
            Record::Db(r) => Some(r),
            Record::Raft(_) => None,
        }
    }
}

impl Host for Outbox {
    type Sm = PartitionLog<Event>;
    type Effects = broker::Effects;
    type Lead = broker::Leader<Event>;

    fn raft_config(&self) -> &raft::Config {
        &self.raft
    }
    fn raft_msg(msg: raft::Msg<PartitionLog<Event>>) -> Msg {
        Msg::Raft(msg)
    }
    fn raft_timer(timer: raft::Timer) -> Timer {
        Timer::Raft(timer)
    }
    fn raft_record(record: raft::Record<PartitionLog<Event>>) -> Record {
        Record::Raft(record)
    }
    fn as_raft_record(record: &Record) -> Option<&raft::Record<PartitionLog<Event>>> {
        match record {
            Record::Raft(r) => Some(r),
            Record::Db(_) => None,
        }
    }
    fn raft_observation(obs: raft::Observation) -> OutboxObs {
        OutboxObs::Raft(obs)
    }
    fn apply(
        ctx: &mut Ctx<'_, Self>,
        _: usize,
        sm: &mut PartitionLog<Event>,
        e: &raft::Entry<PartitionLog<Event>>,
    ) -> broker::Effects {
        broker::apply(sm, e, &ctx.system().broker_config().bugs)
    }
    fn on_applied(ctx: &mut Ctx<'_, Self>, raft: &mut Raft<Self>, applied: Applied<Self>) {
        if let broker::Payload::Append { records, .. } = &applied.entry.payload {
            if let (Some(offset), false) = (applied.effects.first_offset, applied.effects.duplicate)
            {
                ctx.observe(OutboxObs::Appended {
                    partition: raft.group as u32,
                    index: applied.entry.index,
                    offset,
                    records: records.iter().map(|r| r.value.id).collect(),
                });
            }
        }
        if raft.is_leader() {
            raft.acknowledge(ctx, &applied);
        }
    }
    fn on_lead(ctx: &mut Ctx<'_, Self>, raft: &mut Raft<Self>) {
        if raft.term > 1 {
            ctx.probe("partition_leader_change");
        }
    }
    fn on_step_down(_: &mut Ctx<'_, Self>) {}
    fn on_snapshot_installed(_: &mut Ctx<'_, Self>, _: &Raft<Self>, _: u64) {}
}

impl BrokerHost for Outbox {
    type Value = Event;
    fn broker_config(&self) -> &broker::Config {
        &self.broker
    }
    fn broker_msg(msg: broker::Msg<Event>) -> Msg {
        Msg::Broker(msg)
    }
    fn partition_replicas(&self) -> &[Vec<usize>] {
        &self.partitions
    }
}

impl Process<Outbox> for Proc {
    fn on_message(&mut self, ctx: &mut Ctx<'_, Outbox>, from: usize, msg: Msg) {
        match (self, msg) {
            (Proc::Broker(b), Msg::Raft(m)) => b.on_message(ctx, from, m),
            (Proc::Broker(b), Msg::Broker(m)) => b.on_broker_message(ctx, from, m),
            (Proc::Orders(o), msg) => o.on_message(ctx, from, msg),
            (Proc::Consumer(c), msg) => c.on_message(ctx, from, msg),
            (Proc::LoyaltyDb(db), msg) => db.on_message(ctx, from, msg),
            (Proc::Client(core), Msg::Reply { seq, ok }) => {
                if let Some(done) = core.on_reply(ctx, seq, client_timer) {
                    let output = Value::Str(if ok { "ok" } else { "refused" }.into());
                    for &op in &done.history {
                        ctx.complete(op, Status::Ok, output.clone());
                    }
                }
            }
            (proc, msg) => panic!("{proc:?} got {msg:?} from {from}"),
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Outbox>, timer: Timer) {
        match (self, timer) {
            (Proc::Broker(b), Timer::Raft(t)) => b.on_timer(ctx, t),
            (Proc::Broker(b), Timer::Tick) => {
                let retry_ms = ctx.system().p.retry_ms;
                b.on_txn_tick(ctx, retry_ms);
                ctx.set_timer(Timer::Tick, retry_ms);
            }
            (Proc::Orders(o), Timer::Relay) => o.on_relay(ctx),
            (Proc::Consumer(c), Timer::Poll) => c.on_poll(ctx),
            (Proc::Client(core), Timer::Client(t)) => {
                if let Some(out) = core.on_timer(ctx, t, client_timer) {
                    let orders = ctx.system().orders;
                    ctx.send(
                        orders,
                        Msg::Request {
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
