//! What moves between the outbox system's processes and what they keep: client operations,
//! events, messages, timers, disk records, and the observations the checks read.

use super::service;

use serde::{Deserialize, Serialize};

use crate::history::{Func, Value};
use crate::sim::{Ctx, Message, System};
use crate::systems::components::broker::{self, PartitionLog};
use crate::systems::components::clients::{ClientTimer, Request};
use crate::systems::components::db::Committed;
use crate::systems::components::raft;

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
    Request {
        /// The client's request number (kept across re-sends).
        seq: u64,
        /// The change asked for.
        op: OrderOp,
    },
    /// Orders service → client: applied (`true`) or refused by business rules.
    Reply {
        /// The request number it answers.
        seq: u64,
        /// Applied, or refused by business rules.
        ok: bool,
    },
    /// Broker replica ↔ replica: a partition's log.
    Raft(raft::Msg<PartitionLog<Event>>),
    /// Producer, consumer ↔ broker.
    Broker(broker::Msg<Event>),
    /// Loyalty instance → its database: apply this event (exactly once).
    DbApply {
        /// The event to apply.
        event: Event,
    },
    /// The database → the instance: applied (or already applied).
    DbApplied {
        /// The applied event's id.
        event: u64,
    },
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
    /// A broker's transaction work (with `transactional_relay`): markers re-sent, rounds
    /// resumed, expired transactions aborted, verifications asked again.
    Tick,
    /// A client timer.
    Client(ClientTimer),
}

pub(super) fn client_timer(t: ClientTimer) -> Timer {
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
    /// The broker's partition logs: applied entries and installed snapshots.
    Raft(raft::Observation),
    /// The orders service committed a transaction producing this event.
    Committed(Event),
    /// A broker replica applied a partition entry: the records appended at `offset`.
    Appended {
        /// The partition.
        partition: u32,
        /// The entry's index in the partition's log.
        index: u64,
        /// The offset of the first record appended.
        offset: u64,
        /// The ids of the events appended, in offset order.
        records: Vec<u64>,
    },
    /// A consumer applied an event's effect (`fresh`: not already in its inbox).
    Applied {
        /// The consumer group ("shipping" or "loyalty").
        group: &'static str,
        /// The event's id.
        event: u64,
        /// Whether it was new (not already in the inbox).
        fresh: bool,
    },
    /// A service wrote a field of a replicated row.
    FieldWrite {
        /// The writing service.
        service: &'static str,
        /// The field written.
        field: &'static str,
    },
}
