//! `saga` — business transactions across services that each own their database: an
//! orchestrated saga with a replicated saga log, and two-phase commit as the blocking
//! baseline over the same services.
//!
//! Its pieces:
//!
//! * **Participant services** ([`participant`]), three per flow, each with its own
//!   database ([`crate::systems::components::db`]): local ACID transactions in a
//!   write-ahead log fsynced before the answer, recovered after a crash. Every step and
//!   every compensation carries an idempotency key; a service applies a key at most once
//!   and answers a duplicate with its first answer. A step can fail for a business reason
//!   (out of stock, card declined, name taken) with `failure_probability`.
//! * **Two flows** ([`flow`]): an *order* (reserve stock and charge payment, in parallel
//!   since they commute, then schedule shipping, retried until it succeeds: forward
//!   recovery) and a *project creation* (the identity service creates the project, then
//!   the delivery service and the code host create theirs in parallel). Many sagas run at
//!   once on shared rows; clients also read rows.
//! * **The saga execution coordinator** ([`coordinator`], processes `sec0..`): its saga
//!   log ([`log`]) is replicated with the Raft component, so a coordinator crash loses
//!   nothing and the next leader resumes every unfinished saga. Every step is logged
//!   before it is sent and every answer when it arrives. A timeout means *unknown*: the
//!   command is re-sent, with the same key, until a definite answer comes. A business
//!   failure compensates the committed steps in reverse order; compensations are retried
//!   until acknowledged. Services are pushed their tasks, or pull them (`dispatch =
//!   "poll"`), as task-queue orchestrators do.
//! * **Isolation**: sagas are not isolated. Reads are recorded, so the `isolation` check
//!   names the anomalies (dirty reads of effects later compensated, updates lost to a
//!   compensation restoring a before-image). `semantic_lock = true` marks touched rows
//!   pending until the saga ends; then those anomalies must not occur.
//! * **Two-phase commit** ([`twopc`], process `coord`, `protocol = "2pc"`): prepare with
//!   locks held, the decision logged before it is sent, in-doubt participants asking the
//!   coordinator after recovery (presumed abort). A coordinator crash after prepare
//!   leaves participants blocked; the `blocking` check measures how long locks were held.
//! * The **router** and **clients** are the shared components.
//!
//! Planted bugs: see [`Bug`]. Checks: see [`Check`] and [`checks`].

pub mod checks;
pub mod coordinator;
pub mod flow;
pub mod log;
pub mod participant;
pub mod twopc;

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use self::flow::{Action, Flow, Service, StepOutcome, Task};
use self::log::{SagaLog, SagaResult};
use self::participant::{Participant, Row};
use self::twopc::TwoPc;
use super::components::clients::{ClientCore, ClientTimer, InFlight, ReqId, Request};
use super::components::db::{self, Committed, Stored};
use super::components::raft::{self, Raft};
use super::components::router::{self, Router, RouterHost};
use super::Model;
use crate::catalog::catalogue;
use crate::check::linearizability::Budget;
use crate::check::CheckOutcome;
use crate::history::{Func, Status, Value};
use crate::knob::{crossed_bounds, knob_section};
use crate::plan::workload::ops_of;
use crate::plan::{ClientOp, Draw, NodeSpec, Plan, Role, Spec};
use crate::scenario::load::{raft_heartbeats, Periodic, SystemLoad, Worst};
use crate::scenario::{order, Params, WorkloadParams};
use crate::sim::{Ctx, Message, Process, SimOutput, System, View};

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

/// A saga (or 2PC transaction): the client operation that started it, `c<client>.<n>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SagaId {
    /// Client number.
    pub client: u32,
    /// The operation's number among the client's operations.
    pub n: u32,
}

impl fmt::Display for SagaId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "c{}.{}", self.client, self.n)
    }
}

impl SagaId {
    /// Parse `c<client>.<n>`.
    pub fn parse(text: &str) -> Option<SagaId> {
        let (client, n) = text.strip_prefix('c')?.split_once('.')?;
        Some(SagaId {
            client: client.parse().ok()?,
            n: n.parse().ok()?,
        })
    }
}

impl Serialize for SagaId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for SagaId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        SagaId::parse(&text)
            .ok_or_else(|| serde::de::Error::custom(format!("`{text}` is not a saga id like c0.3")))
    }
}

/// What a client asks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "f", rename_all = "snake_case")]
pub enum SagaOp {
    /// Place an order (a saga of the order flow).
    Order {
        /// The saga.
        id: SagaId,
        /// Paying customer.
        customer: String,
        /// Item ordered.
        item: String,
        /// Units.
        qty: i64,
    },
    /// Create a project (a saga of the project flow).
    CreateProject {
        /// The saga.
        id: SagaId,
        /// Project name.
        name: String,
    },
    /// Read an item's stock.
    ReadStock {
        /// Item.
        item: String,
    },
    /// Read a customer's balance.
    ReadBalance {
        /// Customer.
        customer: String,
    },
    /// Read who owns a project name.
    ReadProject {
        /// Name.
        name: String,
    },
}

impl SagaOp {
    /// The saga it starts, if it starts one.
    pub fn saga(&self) -> Option<SagaId> {
        match self {
            SagaOp::Order { id, .. } | SagaOp::CreateProject { id, .. } => Some(*id),
            _ => None,
        }
    }

    /// A read: the service that answers it, and the row.
    pub fn read(&self) -> Option<(Service, flow::RowRef)> {
        match self {
            SagaOp::ReadStock { item } => Some((Service::Stock, flow::RowRef::stock(item))),
            SagaOp::ReadBalance { customer } => {
                Some((Service::Payment, flow::RowRef::balance(customer)))
            }
            SagaOp::ReadProject { name } => Some((Service::Identity, flow::RowRef::project(name))),
            _ => None,
        }
    }
}

impl Request for SagaOp {
    fn invoke<S: System>(&self, ctx: &mut Ctx<'_, S>) -> Vec<usize> {
        let (f, key, input) = match self {
            SagaOp::Order {
                id,
                customer,
                item,
                qty,
            } => (
                "order",
                id.to_string(),
                Value::List(vec![
                    Value::Str(customer.clone()),
                    Value::Str(item.clone()),
                    Value::Int(*qty),
                ]),
            ),
            SagaOp::CreateProject { id, name } => {
                ("create-project", id.to_string(), Value::Str(name.clone()))
            }
            SagaOp::ReadStock { item } => ("read-stock", item.clone(), Value::Nil),
            SagaOp::ReadBalance { customer } => ("read-balance", customer.clone(), Value::Nil),
            SagaOp::ReadProject { name } => ("read-project", name.clone(), Value::Nil),
        };
        vec![ctx.invoke(Func::System(f), Some(key), input)]
    }
}

/// A saga the router forwards to the coordinator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Start {
    /// The saga.
    pub id: SagaId,
    /// Which flow, with its arguments.
    pub flow: Flow,
}

/// A replica's (or the 2PC coordinator's) answer to the router.
pub type Reply = router::Reply<SagaResult>;

/// Messages.
#[derive(Debug, Clone)]
pub enum Msg {
    /// Client → router: start a saga.
    ClientRequest { seq: u64, op: SagaOp },
    /// Router → client: how it ended.
    ClientReply { seq: u64, result: SagaResult },
    /// Router → coordinator.
    Command { req: ReqId, command: Start },
    /// Coordinator → router.
    CommandReply { req: ReqId, reply: Reply },
    /// Coordinator replica ↔ replica: the saga log.
    Raft(raft::Msg<SagaLog>),
    /// Coordinator → participant: do (or undo) this.
    Do { task: Task },
    /// Participant → coordinator: the task's definite answer (or busy).
    Done { task: Task, outcome: StepOutcome },
    /// Participant → coordinator: my pending tasks, please (`dispatch = "poll"`).
    Poll { service: Service },
    /// Coordinator → participant: your pending tasks.
    Tasks { tasks: Vec<Task> },
    /// Coordinator → participant: the saga ended; release its semantic locks.
    Release { saga: SagaId },
    /// Participant → coordinator: released.
    Released { saga: SagaId, service: Service },
    /// 2PC: coordinator → participant.
    Prepare { txn: SagaId, action: Action },
    /// 2PC: participant → coordinator.
    Vote {
        txn: SagaId,
        service: Service,
        yes: bool,
    },
    /// 2PC: coordinator → participant.
    Decide { txn: SagaId, commit: bool },
    /// 2PC: participant → coordinator: applied.
    Decided { txn: SagaId, service: Service },
    /// 2PC: an in-doubt participant asks for the decision.
    Inquire { txn: SagaId, service: Service },
    /// Client → participant: read a row.
    Read { seq: u64, row: flow::RowRef },
    /// Participant → client.
    ReadReply { seq: u64, value: Value },
}

impl Message for Msg {
    fn label(&self) -> &'static str {
        match self {
            Msg::ClientRequest { .. } => "client_request",
            Msg::ClientReply { .. } => "client_reply",
            Msg::Command { .. } => "command",
            Msg::CommandReply { .. } => "command_reply",
            Msg::Raft(m) => m.label(),
            Msg::Do { task } if task.undo => "compensate",
            Msg::Do { .. } => "step",
            Msg::Done { .. } => "done",
            Msg::Poll { .. } => "poll",
            Msg::Tasks { .. } => "tasks",
            Msg::Release { .. } => "release",
            Msg::Released { .. } => "released",
            Msg::Prepare { .. } => "prepare",
            Msg::Vote { .. } => "vote",
            Msg::Decide { .. } => "decide",
            Msg::Decided { .. } => "decided",
            Msg::Inquire { .. } => "inquire",
            Msg::Read { .. } => "read",
            Msg::ReadReply { .. } => "read_reply",
        }
    }
}

/// Timers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Timer {
    /// The saga log's timers.
    Raft(raft::Timer),
    /// Coordinator: drive sagas, re-send.
    Tick,
    /// Router tick.
    RouterTick,
    /// Participant: poll for tasks, or ask about in-doubt transactions.
    Poll,
    /// A client timer.
    Client(ClientTimer),
}

fn client_timer(t: ClientTimer) -> Timer {
    Timer::Client(t)
}

/// Disk records: the saga log's, and the services' databases'.
#[derive(Debug, Clone)]
pub enum Record {
    /// Saga log (coordinator replicas).
    Raft(raft::Record<SagaLog>),
    /// A service's (or the 2PC coordinator's) database log.
    Db(Committed<Row>),
}

/// Verification records for the checks.
#[derive(Debug, Clone)]
pub enum SagaObs {
    /// A coordinator replica applied saga-log entry `index` (`None`: an entry kept only
    /// in the leader's memory, the `no-saga-log` bug).
    Logged(Option<u64>, log::Payload),
    /// A participant handled a task: `fresh` when it applied it now (not answered from
    /// its idempotency record), `effect` when it changed data.
    Task {
        service: Service,
        task: Task,
        outcome: StepOutcome,
        fresh: bool,
        effect: bool,
    },
    /// A participant wrote a row for a saga (for lost updates): `restores` when it wrote
    /// back a before-image.
    Wrote {
        row: flow::RowRef,
        saga: SagaId,
        restores: bool,
    },
    /// A participant answered a read of a row.
    Read { row: flow::RowRef },
    /// A row was locked (semantic lock, or 2PC prepare) by a transaction.
    Locked { service: Service, txn: SagaId },
    /// Its locks were released.
    Unlocked { service: Service, txn: SagaId },
    /// 2PC: a participant voted.
    Voted {
        service: Service,
        txn: SagaId,
        yes: bool,
    },
    /// 2PC: a participant applied a decision (`commit`), or aborted unilaterally.
    Resolved {
        service: Service,
        txn: SagaId,
        commit: bool,
    },
    /// 2PC: the coordinator decided.
    Decision { txn: SagaId, commit: bool },
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

/// The processes: the flow's three services, the coordinator (replicas `sec0..` of the
/// saga log, or the single 2PC `coord`), the router, then clients.
pub fn topology(params: &Params, own: &SagaParams, workload: Workload) -> Vec<NodeSpec> {
    let server = |name: String| NodeSpec {
        name,
        role: Role::Server,
        crashable: true,
    };
    let mut nodes: Vec<NodeSpec> = flow::services(workload)
        .iter()
        .map(|s| server(s.name().to_string()))
        .collect();
    match own.protocol {
        Protocol::Saga => {
            nodes.extend((0..params.topology.replicas).map(|i| server(format!("sec{i}"))))
        }
        Protocol::TwoPc => nodes.push(server("coord".into())),
    }
    nodes.push(NodeSpec {
        name: "router".into(),
        role: Role::Infra,
        crashable: true,
    });
    nodes.extend((0..params.topology.clients).map(|i| NodeSpec {
        name: format!("c{i}"),
        role: Role::Client,
        crashable: false,
    }));
    nodes
}

/// The system, configured from a plan.
#[derive(Debug)]
pub struct Saga {
    /// Settings.
    pub p: SagaParams,
    /// The saga log's settings.
    pub raft: raft::Config,
    /// The flow the clients run.
    pub workload: Workload,
    /// Each service's process.
    pub services: BTreeMap<Service, usize>,
    /// Coordinator processes (one for 2PC).
    pub coordinators: Vec<usize>,
    /// `coordinators` as the router's one group.
    pub groups: Vec<Vec<usize>>,
    /// The router.
    pub router: usize,
    /// Each client's planned operations.
    pub clients: BTreeMap<usize, Vec<ClientOp<SagaOp>>>,
    /// Client settings.
    pub client_params: WorkloadParams,
    /// Planted bugs.
    pub bugs: Bugs,
    /// Customers, items or project names in play.
    pub keys: u64,
}

impl Saga {
    /// The process of a service.
    pub fn node_of(&self, service: Service) -> usize {
        self.services[&service]
    }

    /// The service a process runs, if it runs one.
    pub fn service_at(&self, node: usize) -> Option<Service> {
        self.services
            .iter()
            .find(|(_, &n)| n == node)
            .map(|(&s, _)| s)
    }
}

/// A process of this system.
#[derive(Debug)]
pub enum Proc {
    /// A participant service.
    Participant(Box<Participant>),
    /// A saga-log replica.
    Coordinator(Box<coordinator::Replica>),
    /// The 2PC coordinator.
    TwoPc(Box<TwoPc>),
    /// The router.
    Router(Router<Saga>),
    /// A client.
    Client(ClientCore<SagaOp>),
}

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
}

impl Model for Saga {
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
}

impl System for Saga {
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
                bugs: raft::Bugs::default(),
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

/// The write-ahead log file of every database here.
pub const WAL: &str = db::WAL;
