//! `outbox` — reliable events between services: a transactional outbox, a relay, a
//! Kafka-like broker, idempotent consumers and read-only replica tables.
//!
//! Its pieces:
//!
//! * **The orders service** ([`service`], `orders`) owns the orders. A client request
//!   (place, pay, ship, cancel an order) changes the order's row and inserts its event
//!   into the *outbox* table **in the same local transaction** (fsynced before the
//!   answer). Each order is an aggregate: its events carry consecutive versions.
//! * **The relay** (in the orders service, so a crash takes both) publishes outbox events
//!   to the broker, keyed by order id so each order's events stay in one partition in
//!   order, one batch in flight per partition, and marks rows sent only after the
//!   broker's acknowledgement: at least once. Two variants: *polling* the outbox table
//!   (`relay = "polling"`), or *tailing the database's log* (`relay = "log_tailing"`,
//!   change data capture) from a durable checkpoint.
//! * **The broker** ([`crate::systems::components::broker`]): partitions `p<p>r<i>`, each
//!   a Raft group; a produce is acknowledged once a quorum holds it; consumer groups with
//!   offsets committed to the broker and a coordinator that rebalances.
//! * **Consumers** ([`consumer`]): the *loyalty* service (group `loyalty`, processes
//!   `loyalty0..`) credits points for paid orders; the *shipping* service (group
//!   `shipping`) keeps a read-only replica of the orders table. Both apply each event's
//!   effect and record its id in an *inbox* table in one local transaction, so a
//!   redelivered event takes effect once, and commit offsets only after applying. The
//!   loyalty instances are stateless: their transactions go to the service's database
//!   process, `loyaltydb`.
//! * **Field ownership and a schema change**: the orders service owns every field of an
//!   order; the replica only follows. Halfway through the chaos phase the orders service
//!   starts emitting a new field (`currency`, defaulted for older events): both consumers
//!   keep working and the replica converges.
//! * **Dual write** (the `dual-write` bug, a known-bad baseline): the service commits its
//!   row and then publishes the event directly — a crash in between loses the event.
//!
//! The relay's produces and the consumers' polls are recorded as a queue history
//! (`send`/`poll` micro-operations, as Jepsen's Kafka test records them), judged by the
//! queue checker ([`crate::check::queue`]). Planted bugs: [`Bug`]; checks: [`Check`].

pub mod checks;
pub mod consumer;
pub mod service;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use self::consumer::{ConsumerProc, LoyaltyDb};
use self::service::Orders;
use super::components::broker::{self, BrokerHost, PartitionLog};
use super::components::clients::{ClientCore, ClientTimer, Request};
use super::components::db::{Committed, Stored};
use super::components::raft::{self, Applied, Host, Raft};
use super::Model;
use crate::catalog::catalogue;
use crate::check::fit::{Fit, HistoryFile};
use crate::check::linearizability::Budget;
use crate::check::CheckOutcome;
use crate::history::{Func, Status, Value};
use crate::knob::{crossed_bounds, knob_section};
use crate::plan::workload::ops_of;
use crate::plan::{ClientOp, Draw, NodeSpec, Plan, Role, Spec};
use crate::scenario::load::{raft_heartbeats, Periodic, SystemLoad, Worst};
use crate::scenario::{order, Params, WorkloadParams};
use crate::sim::{Ctx, Message, Process, SimOutput, System, View};

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
        /// the broker acknowledges a produce when its leader has it, before a quorum does: a failover loses it
        AckBeforeReplicate = "ack-before-replicate",
        /// the replica table's service writes a field the orders service owns
        NonOwnerWrite = "non-owner-write",
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

/// What happened to an order (an event's kind).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// Placed (version 1).
    Place,
    /// Paid.
    Pay,
    /// Shipped.
    Ship,
    /// Cancelled (refunded if it was paid).
    Cancel,
}

impl Change {
    /// As the history and the timeline name it.
    pub fn name(self) -> &'static str {
        match self {
            Change::Place => "place",
            Change::Pay => "pay",
            Change::Ship => "ship",
            Change::Cancel => "cancel",
        }
    }
}

/// What a client asks the orders service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderOp {
    /// The change.
    pub f: Change,
    /// The order.
    pub order: String,
    /// Placing: the customer.
    pub customer: String,
    /// Placing: the amount.
    pub amount: i64,
}

impl Request for OrderOp {
    fn invoke<S: System>(&self, ctx: &mut Ctx<'_, S>) -> Vec<usize> {
        let input = match self.f {
            Change::Place => Value::List(vec![
                Value::Str(self.customer.clone()),
                Value::Int(self.amount),
            ]),
            _ => Value::Nil,
        };
        vec![ctx.invoke(Func::System(self.f.name()), Some(self.order.clone()), input)]
    }
}

/// An event, as the outbox and the broker hold it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Event {
    /// Unique id (the committing transaction's log sequence number).
    pub id: u64,
    /// The aggregate.
    pub order: String,
    /// The aggregate's version after this event (1, 2, …).
    pub version: u32,
    /// What happened.
    pub change: Change,
    /// The order's customer.
    pub customer: String,
    /// The order's amount.
    pub amount: i64,
    /// Cancelled after payment: the amount is refunded.
    pub refund: bool,
    /// Schema version: 1, or 2 with `currency`.
    pub schema: u8,
    /// Added by the schema change.
    pub currency: Option<String>,
}

/// Messages.
#[derive(Debug, Clone)]
pub enum Msg {
    /// Client → orders service.
    Request { seq: u64, op: OrderOp },
    /// Orders service → client: applied (`true`) or refused by business rules.
    Reply { seq: u64, ok: bool },
    /// Broker replica ↔ replica: a partition's log.
    Raft(raft::Msg<PartitionLog<Event>>),
    /// Producer, consumer ↔ broker.
    Broker(broker::Msg<Event>),
    /// Loyalty instance → its database: apply this event (exactly once).
    DbApply { event: Event },
    /// The database → the instance: applied (or already applied).
    DbApplied { event: u64 },
}

impl Message for Msg {
    fn label(&self) -> &'static str {
        match self {
            Msg::Request { .. } => "request",
            Msg::Reply { .. } => "reply",
            Msg::Raft(m) => m.label(),
            Msg::Broker(m) => m.label(),
            Msg::DbApply { .. } => "db_apply",
            Msg::DbApplied { .. } => "db_applied",
        }
    }
}

/// Timers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Timer {
    /// A partition's log.
    Raft(raft::Timer),
    /// The relay's poll.
    Relay,
    /// A consumer's poll.
    Poll,
    /// A client timer.
    Client(ClientTimer),
}

fn client_timer(t: ClientTimer) -> Timer {
    Timer::Client(t)
}

/// Disk records.
#[derive(Debug, Clone)]
pub enum Record {
    /// Broker replicas.
    Raft(raft::Record<PartitionLog<Event>>),
    /// The services' databases.
    Db(Committed<service::Row>),
}

/// Verification records for the checks.
#[derive(Debug, Clone)]
pub enum OutboxObs {
    /// The orders service committed a transaction producing this event.
    Committed(Event),
    /// A broker replica applied a partition entry: the records appended at `offset`.
    Appended {
        partition: u32,
        index: u64,
        offset: u64,
        records: Vec<u64>,
    },
    /// A consumer applied an event's effect (`fresh`: not already in its inbox).
    Applied {
        group: &'static str,
        event: u64,
        fresh: bool,
    },
    /// A service wrote a field of a replicated row.
    FieldWrite {
        service: &'static str,
        field: &'static str,
    },
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

/// The processes: the orders service, the broker's partition replicas, the consumers,
/// then clients.
fn topology(params: &Params, own: &OutboxParams) -> Vec<NodeSpec> {
    let server = |name: String| NodeSpec {
        name,
        role: Role::Server,
        crashable: true,
    };
    let mut nodes = vec![server("orders".into())];
    for p in 0..own.partitions {
        nodes.extend((0..params.topology.replicas).map(|r| server(format!("p{p}r{r}"))));
    }
    nodes.extend((0..own.loyalty_consumers).map(|i| server(format!("loyalty{i}"))));
    nodes.push(server("loyaltydb".into()));
    nodes.push(server("shipping".into()));
    nodes.extend((0..params.topology.clients).map(|i| NodeSpec {
        name: format!("c{i}"),
        role: Role::Client,
        crashable: false,
    }));
    nodes
}

/// The system, configured from a plan.
#[derive(Debug)]
pub struct Outbox {
    /// Settings.
    pub p: OutboxParams,
    /// The broker's logs' settings.
    pub raft: raft::Config,
    /// The broker's settings.
    pub broker: broker::Config,
    /// The orders service.
    pub orders: usize,
    /// Replicas of each partition.
    pub partitions: Vec<Vec<usize>>,
    /// Loyalty consumers.
    pub loyalty: Vec<usize>,
    /// The loyalty service's database.
    pub loyalty_db: usize,
    /// The shipping service (replica table).
    pub shipping: usize,
    /// Each client's planned operations.
    pub clients: BTreeMap<usize, Vec<ClientOp<OrderOp>>>,
    /// Client settings.
    pub client_params: WorkloadParams,
    /// Planted bugs.
    pub bugs: Bugs,
}

impl Outbox {
    /// The partition and replica position of a broker process.
    pub fn broker_of(&self, node: usize) -> Option<(usize, usize)> {
        self.partitions
            .iter()
            .enumerate()
            .find_map(|(p, rs)| rs.iter().position(|&n| n == node).map(|i| (p, i)))
    }
}

/// A process of this system.
#[derive(Debug)]
pub enum Proc {
    /// The orders service and its relay.
    Orders(Box<Orders>),
    /// A broker replica of one partition.
    Broker(Box<Raft<Outbox>>),
    /// A consumer (loyalty, or the shipping replica table).
    Consumer(Box<ConsumerProc>),
    /// The loyalty service's database.
    LoyaltyDb(Box<LoyaltyDb>),
    /// A client.
    Client(ClientCore<OrderOp>),
}

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
}

impl Model for Outbox {
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
            },
            check: plan.checks.contains(&Check::Queue).then_some("queue"),
            jepsen_processes: true,
        };
        vec![super::replay_only(plan), queue]
    }

    fn check(
        plan: &Plan<Self>,
        out: &SimOutput<checks::OutboxFinal, OutboxObs>,
        check: Check,
        _budget: &Budget,
    ) -> CheckOutcome {
        checks::run(plan, out, check)
    }
}

impl System for Outbox {
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
                bugs: raft::Bugs::default(),
            },
            broker: broker::Config {
                partitions: p.partitions as u32,
                session_timeout_ms: p.session_timeout_ms,
                fetch_max: p.fetch_max as u32,
                ack_before_replicate: plan.has_bug(Bug::AckBeforeReplicate),
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
    type Lead = broker::Leader;

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
    fn apply(
        _: &mut Ctx<'_, Self>,
        _: usize,
        sm: &mut PartitionLog<Event>,
        e: &raft::Entry<PartitionLog<Event>>,
    ) -> broker::Effects {
        broker::apply(sm, e)
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
