//! What moves between the kafka system's processes and what they keep: the transactional
//! client operation, messages, timers, disk records and the observations the checks read.

use serde::{Deserialize, Serialize};

use crate::history::{Func, Value};
use crate::sim::{Ctx, Message, System};
use crate::systems::components::broker::{self, PartitionLog};
use crate::systems::components::clients::{ClientTimer, Request};
use crate::systems::components::raft;

/// Keys a transaction sends to (a key's partition is the key modulo the partition count).
pub const KEYS: u64 = 8;

/// One step of a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Micro {
    /// Send `value` to `key`.
    Send {
        /// The key.
        key: u64,
        /// The value (unique in the run).
        value: i64,
    },
    /// Poll every partition once.
    Poll,
}

/// A client's transaction: Jepsen's `:txn` of `:send` and `:poll` micro-operations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxnOp {
    /// Its steps, in order.
    pub micros: Vec<Micro>,
    /// A percentile drawn for it: the client aborts it (recorded `fail`) when this is below
    /// `abort_pct`.
    pub roll: u64,
}

impl TxnOp {
    /// The invocation's value, as Jepsen writes it: `[["send" k v] ["poll"]]`.
    pub fn input(&self) -> Value {
        let micro = |m: &Micro| match *m {
            Micro::Send { key, value } => Value::List(vec![
                Value::Str("send".into()),
                Value::Int(key as i64),
                Value::Int(value),
            ]),
            Micro::Poll => Value::List(vec![Value::Str("poll".into())]),
        };
        Value::List(self.micros.iter().map(micro).collect())
    }
}

impl Request for TxnOp {
    fn invoke<S: System>(&self, ctx: &mut Ctx<'_, S>) -> Vec<usize> {
        vec![ctx.invoke(Func::Txn, None, self.input())]
    }
}

/// A record's value: the value a transaction sent.
pub type Sent = i64;

/// Messages.
#[derive(Debug, Clone)]
pub enum Msg {
    /// Broker replica ↔ replica: a partition's log.
    Raft(raft::Msg<PartitionLog<Sent>>),
    /// Client ↔ broker, coordinator ↔ partition leaders.
    Broker(broker::Msg<Sent>),
}

impl Message for Msg {
    fn label(&self) -> &'static str {
        match self {
            Msg::Raft(m) => m.label(),
            Msg::Broker(m) => m.label(),
        }
    }
}

/// Timers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Timer {
    /// A partition's log.
    Raft(raft::Timer),
    /// A broker's periodic work: re-send markers, abort expired transactions.
    Tick,
    /// A client timer.
    Client(ClientTimer),
    /// The final read: start it, or re-send its fetches.
    Drain,
}

pub(super) fn client_timer(t: ClientTimer) -> Timer {
    Timer::Client(t)
}

/// Disk records: the broker replicas' logs.
#[derive(Debug, Clone)]
pub enum Record {
    /// Broker replicas.
    Raft(raft::Record<PartitionLog<Sent>>),
}

/// Verification records for the checks.
#[derive(Debug, Clone)]
pub enum KafkaObs {
    /// The broker's partition logs: applied entries and installed snapshots.
    Raft(raft::Observation),
    /// Subscribed: what a transaction consumed, as it sends its offsets to the
    /// transaction (it may commit even if its client never learns so).
    Consumed {
        /// The transaction's operation in the history.
        op: usize,
        /// (partition, first offset, offset after the last) per partition it read.
        ranges: Vec<(u32, u64, u64)>,
    },
}
