//! The kafka system behind faultline's interfaces: how it plans a seed ([`Spec`]), runs and
//! is judged ([`System`]), and hosts its components (the broker's partition logs);
//! process dispatch.

use super::checks::{self, KafkaFinal};
use super::client::TxnClient;
use super::{
    topology, Bug, Check, Kafka, KafkaObs, KafkaParams, KafkaSection, Micro, Msg, Proc, Record,
    Sent, Timer, TxnOp, Workload, KEYS,
};
use crate::check::fit::{Fit, HistoryFile};
use crate::check::linearizability::Budget;
use crate::check::CheckOutcome;
use crate::knob::crossed_bounds;
use crate::plan::workload::ops_of;
use crate::plan::{Draw, NodeSpec, Plan, Role, Spec};
use crate::scenario::load::{raft_heartbeats, Periodic, SystemLoad, Worst};
use crate::scenario::{order, Params};
use crate::sim::{Ctx, Process, SimOutput, System, View};
use crate::systems::components::broker::{self, BrokerHost, PartitionLog};
use crate::systems::components::clients::ClientCore;
use crate::systems::components::raft::{self, Applied, Host, Raft};

/// Steps of one transaction, at most.
const STEPS_MAX: u64 = 4;

impl Spec for Kafka {
    const NAME: &'static str = "kafka";
    type Section = KafkaSection;
    type Params = KafkaParams;
    type Op = TxnOp;
    type Bug = Bug;
    type Check = Check;
    type Workload = Workload;

    fn resolve(section: &KafkaSection, swarm: bool, seed: u64, generic: &Params) -> KafkaParams {
        let mut p = section.resolve(swarm, seed);
        order(
            &mut p.election_timeout_ms_min,
            &mut p.election_timeout_ms_max,
        );
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
            1,
            p.heartbeat_ms,
        );
        p
    }

    fn topology(params: &Params, own: &KafkaParams, _: Workload) -> Vec<NodeSpec> {
        topology(params, own)
    }

    fn operation(_: Workload, d: &mut Draw<'_>) -> TxnOp {
        let steps = d.rng.range_u64(1, STEPS_MAX);
        let micros = (0..steps)
            .map(|i| {
                if d.rng.chance(0.6) {
                    // Unique in the run: client, operation, step.
                    let value = ((d.client as i64 + 1) << 32) | ((d.index as i64) << 3) | i as i64;
                    Micro::Send {
                        key: d.rng.range_u64(0, KEYS - 1),
                        value,
                    }
                } else {
                    Micro::Poll
                }
            })
            .collect();
        TxnOp {
            micros,
            roll: d.rng.range_u64(0, 99),
        }
    }

    fn fault_sites() -> Vec<crate::plan::Site> {
        let mut labels = raft::LABELS.to_vec();
        labels.extend(broker::REPLY_LABELS);
        crate::plan::points::raft_sites(&labels)
    }

    fn aim_targets(_own: &KafkaParams, _bugs: &[Bug]) -> Vec<&'static str> {
        // The Raft groups' moments, and the coordinator's decision appended but not yet
        // durable (a crash then is a coordinator failover mid-decision).
        let mut targets = raft::AIM_TARGETS.to_vec();
        targets.push("txn_decision_appended");
        targets
    }
}

impl System for Kafka {
    const ABOUT: &'static str = "the broker alone under Jepsen's transactional queue workload: transactional producers and read-committed readers, the transaction coordinator on partition 0's log, markers, the last stable offset";
    const PROBES: &'static [&'static [&'static str]] = &[
        raft::PROBES,
        broker::PROBES,
        crate::systems::components::clients::PROBES,
        &[
            "txn_abandoned_abort",
            "client_fenced",
            "txn_input_moved",
            "final_read_started",
            "final_read_completed",
            "partition_leader_change",
            "partition_leader_crashed",
        ],
    ];

    fn load(section: &KafkaSection, swarm: bool, worst: &Worst) -> SystemLoad {
        let (fast, big) = (section.corner(swarm, false), section.corner(swarm, true));
        let r = worst.replicas;
        SystemLoad {
            // Per transaction: init or add, produces and fetches with their replication,
            // end, markers to each partition and their replication.
            events_per_op: 12.0 + 6.0 * r as f64 + 4.0 * big.partitions as f64 * r as f64,
            periodic: vec![
                raft_heartbeats("kafka", big.partitions, r, fast.heartbeat_ms),
                Periodic::every(
                    "broker ticks".into(),
                    "kafka.retry_ms",
                    big.partitions * r,
                    fast.retry_ms,
                    1.0,
                ),
            ],
            conflicts: raft::liveness::section_problem(
                "kafka",
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

    fn validate(section: &KafkaSection, problems: &mut Vec<(String, String)>) {
        problems.extend(crossed_bounds(
            "kafka.election_timeout_ms",
            &section.election_timeout_ms_min,
            &section.election_timeout_ms_max,
        ));
        let known = crate::check::queue::ANOMALIES;
        for (i, name) in section.allow.iter().flatten().enumerate() {
            if !known.contains(&name.as_str()) {
                let message = format!(
                    "unknown queue anomaly `{name}`: expected one of {}",
                    known.join(", ")
                );
                problems.push((format!("kafka.allow[{i}]"), message));
            }
        }
    }

    /// The whole history is the transactional queue history Jepsen's checker reads.
    fn history_files(plan: &Plan<Self>, _history: &crate::history::History) -> Vec<HistoryFile> {
        let queue = HistoryFile {
            name: "queue",
            ops: None,
            fit: Fit::Queue {
                allow: plan.params.allow.clone(),
                ww_deps: false,
            },
            check: plan.checks.contains(&Check::Queue).then_some("queue"),
            jepsen_processes: true,
        };
        vec![queue]
    }

    fn check(
        plan: &Plan<Self>,
        out: &SimOutput<KafkaFinal, KafkaObs>,
        check: Check,
        _: &Budget,
    ) -> CheckOutcome {
        checks::run(plan, out, check)
    }

    type Msg = Msg;
    type Timer = Timer;
    type Record = Record;
    type Proc = Proc;
    type Final = KafkaFinal;
    type Observation = KafkaObs;

    fn new(plan: &Plan<Self>) -> Self {
        let p = plan.params.clone();
        let head = &plan.head;
        let node = |name: &str| head.node(name).expect("topology names it");
        let clients = head.nodes_with(Role::Client);
        Kafka {
            raft: raft::Config {
                election_timeout_ms_min: p.election_timeout_ms_min,
                election_timeout_ms_max: p.election_timeout_ms_max,
                heartbeat_ms: p.heartbeat_ms,
                flush_interval_ms: 1,
                batch_max: 64,
                snapshot_every: 0,
                lease: None,
                noop_on_election: true,
                bugs: raft::Bugs::planted(&plan.bugs),
            },
            broker: broker::Config {
                partitions: p.partitions as u32,
                session_timeout_ms: 300,
                fetch_max: p.fetch_max as u32,
                ack_before_replicate: false,
                epoch_bump_per_txn: p.transaction_version >= 2,
                bugs: broker::TxnBugs {
                    no_producer_fencing: plan.has_bug(Bug::NoProducerFencing),
                    no_epoch_bump_per_txn: plan.has_bug(Bug::NoEpochBumpPerTxn),
                    markers_before_prepare_logged: plan.has_bug(Bug::MarkersBeforePrepareLogged),
                    fetch_ignores_lso: plan.has_bug(Bug::FetchIgnoresLso),
                    no_sequence_check: plan.has_bug(Bug::NoSequenceCheck),
                    txn_offsets_applied_early: plan.has_bug(Bug::TxnOffsetsAppliedEarly),
                    no_partition_verification: plan.has_bug(Bug::NoPartitionVerification),
                },
            },
            partitions: (0..p.partitions)
                .map(|q| {
                    (0..head.params.topology.replicas)
                        .map(|r| node(&format!("p{q}r{r}")))
                        .collect()
                })
                .collect(),
            clients: clients
                .iter()
                .enumerate()
                .map(|(c, &n)| (n, ops_of(&plan.workload, c)))
                .collect(),
            client_params: head.params.workload.clone(),
            chaos_ms: head.params.phases.chaos_ms,
            p,
        }
    }

    fn boot(&self, ctx: &mut Ctx<'_, Self>) -> Proc {
        let node = ctx.node();
        if let Some(ops) = self.clients.get(&node) {
            let index = self
                .clients
                .keys()
                .position(|&n| n == node)
                .expect("a client");
            let core = ClientCore::new(ops.clone(), &self.client_params);
            return Proc::Client(Box::new(TxnClient::new(ctx, index, core)));
        }
        let partition = self.broker_of(node).expect("a broker replica");
        let peers = self.partitions[partition]
            .iter()
            .copied()
            .filter(|&n| n != node)
            .collect();
        ctx.set_timer(Timer::Tick, self.p.retry_ms);
        Proc::Broker(Box::new(Raft::recover(ctx, partition, peers)))
    }

    fn settled(&self, view: &View<'_, Self>) -> bool {
        checks::unsettled(self, view).is_empty()
    }

    fn gauges(&self, view: &View<'_, Self>, out: &mut Vec<(&'static str, f64)>) {
        let mut open = 0.0;
        for nodes in &self.partitions {
            for &n in nodes {
                if let Some(Proc::Broker(b)) = &view.procs[n] {
                    if b.is_leader() {
                        let s = &b.state;
                        open += (s.records.len() as u64 - s.last_stable_offset()) as f64;
                    }
                }
            }
        }
        out.push(("broker: records past the last stable offset", open));
    }

    fn finish(&self, view: &View<'_, Self>) -> KafkaFinal {
        checks::finish(self, view)
    }

    fn crash_probes(&self, proc: &Proc, probes: &mut Vec<&'static str>) {
        if let Proc::Broker(b) = proc {
            if b.is_leader() {
                probes.push("partition_leader_crashed");
            }
        }
    }
}

impl Host for Kafka {
    type Sm = PartitionLog<Sent>;
    type Effects = broker::Effects;
    type Lead = broker::Leader<Sent>;

    fn raft_config(&self) -> &raft::Config {
        &self.raft
    }
    fn raft_msg(msg: raft::Msg<PartitionLog<Sent>>) -> Msg {
        Msg::Raft(msg)
    }
    fn raft_timer(timer: raft::Timer) -> Timer {
        Timer::Raft(timer)
    }
    fn raft_record(record: raft::Record<PartitionLog<Sent>>) -> Record {
        Record::Raft(record)
    }
    fn as_raft_record(record: &Record) -> Option<&raft::Record<PartitionLog<Sent>>> {
        match record {
            Record::Raft(r) => Some(r),
        }
    }
    fn raft_observation(obs: raft::Observation) -> KafkaObs {
        KafkaObs::Raft(obs)
    }
    fn apply(
        ctx: &mut Ctx<'_, Self>,
        _: usize,
        sm: &mut PartitionLog<Sent>,
        e: &raft::Entry<PartitionLog<Sent>>,
    ) -> broker::Effects {
        broker::apply(sm, e, &ctx.system().broker_config().bugs)
    }
    fn on_applied(ctx: &mut Ctx<'_, Self>, raft: &mut Raft<Self>, applied: Applied<Self>) {
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

impl BrokerHost for Kafka {
    type Value = Sent;
    fn broker_config(&self) -> &broker::Config {
        &self.broker
    }
    fn broker_msg(msg: broker::Msg<Sent>) -> Msg {
        Msg::Broker(msg)
    }
    fn partition_replicas(&self) -> &[Vec<usize>] {
        &self.partitions
    }
}

impl Process<Kafka> for Proc {
    fn on_message(&mut self, ctx: &mut Ctx<'_, Kafka>, from: usize, msg: Msg) {
        match (self, msg) {
            (Proc::Broker(b), Msg::Raft(m)) => b.on_message(ctx, from, m),
            (Proc::Broker(b), Msg::Broker(m)) => b.on_broker_message(ctx, from, m),
            (Proc::Client(c), Msg::Broker(m)) => c.on_message(ctx, from, m),
            (proc, msg) => panic!("{proc:?} got {msg:?} from {from}"),
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Kafka>, timer: Timer) {
        match (self, timer) {
            (Proc::Broker(b), Timer::Raft(t)) => b.on_timer(ctx, t),
            (Proc::Broker(b), Timer::Tick) => {
                let retry_ms = ctx.system().p.retry_ms;
                b.on_txn_tick(ctx, retry_ms);
                ctx.set_timer(Timer::Tick, retry_ms);
            }
            (Proc::Client(c), Timer::Client(t)) => c.on_timer(ctx, t),
            (Proc::Client(c), Timer::Drain) => c.on_drain_timer(ctx),
            (proc, timer) => panic!("timer {timer:?} fired on {proc:?}"),
        }
    }
}
