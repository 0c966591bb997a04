//! What moves between the saga system's processes and what they keep: client operations,
//! messages, timers, disk records, and the observations the checks read.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::flow::{Action, Flow, Service, StepOutcome, Task};
use super::log::{SagaLog, SagaResult};
use super::participant::Row;
use super::{flow, log};
use crate::history::{Func, Value};
use crate::sim::{Ctx, Message, System};
use crate::systems::components::clients::{ClientTimer, ReqId, Request};
use crate::systems::components::db::Committed;
use crate::systems::components::raft;
use crate::systems::components::router;

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
    ClientRequest {
        /// The client's request number (kept across re-sends).
        seq: u64,
        /// The operation asked for.
        op: SagaOp,
    },
    /// Router → client: how it ended.
    ClientReply {
        /// The request number it answers.
        seq: u64,
        /// How the saga ended.
        result: SagaResult,
    },
    /// Router → coordinator.
    Command {
        /// The client request.
        req: ReqId,
        /// The saga to start.
        command: Start,
    },
    /// Coordinator → router.
    CommandReply {
        /// The client request it answers.
        req: ReqId,
        /// How the saga ended, or not the leader (with a hint).
        reply: Reply,
    },
    /// Coordinator replica ↔ replica: the saga log.
    Raft(raft::Msg<SagaLog>),
    /// Coordinator → participant: do (or undo) this.
    Do {
        /// The step or compensation.
        task: Task,
    },
    /// Participant → coordinator: the task's definite answer (or busy).
    Done {
        /// The task answered.
        task: Task,
        /// The service's answer.
        outcome: StepOutcome,
    },
    /// Participant → coordinator: my pending tasks, please (`dispatch = "poll"`).
    Poll {
        /// The asking service.
        service: Service,
    },
    /// Coordinator → participant: your pending tasks.
    Tasks {
        /// The service's tasks in flight.
        tasks: Vec<Task>,
    },
    /// Coordinator → participant: the saga ended; release its semantic locks.
    Release {
        /// The saga that ended.
        saga: SagaId,
    },
    /// Participant → coordinator: released.
    Released {
        /// The saga whose locks are released.
        saga: SagaId,
        /// The service that released them.
        service: Service,
    },
    /// 2PC: coordinator → participant.
    Prepare {
        /// The 2PC transaction.
        txn: SagaId,
        /// What the participant will do if it commits.
        action: Action,
    },
    /// 2PC: participant → coordinator.
    Vote {
        /// The 2PC transaction.
        txn: SagaId,
        /// The voting service.
        service: Service,
        /// Yes (prepared, rows locked) or no.
        yes: bool,
    },
    /// 2PC: coordinator → participant.
    Decide {
        /// The 2PC transaction.
        txn: SagaId,
        /// Whether it commits (else it aborts).
        commit: bool,
    },
    /// 2PC: participant → coordinator: applied.
    Decided {
        /// The 2PC transaction.
        txn: SagaId,
        /// The service that applied the decision.
        service: Service,
    },
    /// 2PC: an in-doubt participant asks for the decision.
    Inquire {
        /// The 2PC transaction.
        txn: SagaId,
        /// The asking service.
        service: Service,
    },
    /// Client → participant: read a row.
    Read {
        /// The client's request number.
        seq: u64,
        /// The row to read.
        row: flow::RowRef,
    },
    /// Participant → client.
    ReadReply {
        /// The request number it answers.
        seq: u64,
        /// The row's value.
        value: Value,
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

pub(super) fn client_timer(t: ClientTimer) -> Timer {
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
    /// The saga log's replicated log: applied entries and installed snapshots.
    Raft(raft::Observation),
    /// A coordinator replica applied saga-log entry `index` (`None`: an entry kept only
    /// in the leader's memory, the `no-saga-log` bug).
    Logged(Option<u64>, log::Payload),
    /// A participant handled a task: `fresh` when it applied it now (not answered from
    /// its idempotency record), `effect` when it changed data.
    Task {
        /// The participant.
        service: Service,
        /// The task handled.
        task: Task,
        /// The answer it gave.
        outcome: StepOutcome,
        /// Whether it applied the task now (not answered from its idempotency record).
        fresh: bool,
        /// Whether it changed data.
        effect: bool,
    },
    /// A participant wrote a row for a saga (for lost updates): `restores` when it wrote
    /// back a before-image.
    Wrote {
        /// The row written.
        row: flow::RowRef,
        /// The saga it was written for.
        saga: SagaId,
        /// Whether it wrote back a before-image (a compensation).
        restores: bool,
    },
    /// A participant answered a read of a row.
    Read {
        /// The row read.
        row: flow::RowRef,
    },
    /// A row was locked (semantic lock, or 2PC prepare) by a transaction.
    Locked {
        /// The participant holding the row.
        service: Service,
        /// The locking saga or 2PC transaction.
        txn: SagaId,
    },
    /// Its locks were released.
    Unlocked {
        /// The participant holding the rows.
        service: Service,
        /// The saga or 2PC transaction that held them.
        txn: SagaId,
    },
    /// 2PC: a participant voted.
    Voted {
        /// The voting participant.
        service: Service,
        /// The 2PC transaction.
        txn: SagaId,
        /// Yes (prepared) or no.
        yes: bool,
    },
    /// 2PC: a participant applied a decision (`commit`), or aborted unilaterally.
    Resolved {
        /// The participant.
        service: Service,
        /// The 2PC transaction.
        txn: SagaId,
        /// Whether it committed (else it aborted).
        commit: bool,
    },
    /// 2PC: the coordinator decided.
    Decision {
        /// The 2PC transaction.
        txn: SagaId,
        /// Whether it commits (else it aborts).
        commit: bool,
    },
}
