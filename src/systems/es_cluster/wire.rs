//! What moves between es_cluster's processes and what they keep: client operations,
//! messages, timers, disk records, and the observations the checks read.

use super::EsCluster;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::ledger::{Command, Effect, Ledger, LogEntry, OpResult, TxnId};
use crate::sim::{Ctx, Message, System};
use crate::systems::components::clients::{ClientTimer, ReqId, Request};
use crate::systems::components::raft::{self, Raft};
use crate::systems::components::router;
use crate::systems::components::workload::bank::BankOp;
use crate::systems::components::workload::kv::KvOp;

/// What a client asks: a bank or a key-value operation, as the workload says.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum EsOp {
    /// Bank.
    Bank(BankOp),
    /// Key-value.
    Kv(KvOp),
}

impl fmt::Debug for EsOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EsOp::Bank(op) => op.fmt(f),
            EsOp::Kv(op) => op.fmt(f),
        }
    }
}

impl Request for EsOp {
    fn invoke<S: System>(&self, ctx: &mut Ctx<'_, S>) -> Vec<usize> {
        match self {
            EsOp::Bank(op) => op.invoke(ctx),
            EsOp::Kv(op) => op.invoke(ctx),
        }
    }
}

/// A snapshot of one shard's state.
pub type Snapshot = raft::Snapshot<Ledger>;
/// On-disk records: the replicated log's.
pub type Record = raft::Record<Ledger>;
/// A replica's answer to the router.
pub type Reply = router::Reply<OpResult>;
/// One replica: the replicated log of its shard, with the service on top ([`service`]).
pub type Replica = Raft<EsCluster>;

/// Messages.
#[derive(Debug, Clone)]
pub enum Msg {
    /// Client → router.
    ClientRequest { seq: u64, op: EsOp },
    /// Router → client.
    ClientReply { seq: u64, result: OpResult },
    /// Router → replica.
    Command { req: ReqId, command: Command },
    /// Replica → router.
    CommandReply { req: ReqId, reply: Reply },
    /// Replica → replica: the replicated log.
    Raft(raft::Msg<Ledger>),
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
            Msg::Raft(m) => m.label(),
            Msg::Prepare { .. } => "prepare",
            Msg::Prepared { .. } => "prepared",
            Msg::Decision { .. } => "decision",
            Msg::DecisionApplied { .. } => "decision_applied",
            Msg::Fetch { .. } => "fetch",
            Msg::Events { .. } => "events",
        }
    }

    fn describe(&self) -> String {
        match self {
            // Raft's messages read as Raft's RPCs, without the wrapper.
            Msg::Raft(m) => format!("{m:?}"),
            other => format!("{other:?}"),
        }
    }
}

/// Timers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Timer {
    /// The replicated log's timers.
    Raft(raft::Timer),
    /// Leader: drive unfinished transfers.
    TxnTick,
    /// Router: re-send unanswered commands.
    RouterTick,
    /// Projection: poll for events.
    Poll,
    /// A client timer.
    Client(ClientTimer),
}

pub(super) fn client_timer(t: ClientTimer) -> Timer {
    Timer::Client(t)
}

/// Verification records for the checks.
#[derive(Debug, Clone)]
pub enum EsObs {
    /// The replicated log's own: applied entries and installed snapshots, per replica.
    Raft(raft::Observation),
    /// A leader applied a committed entry: the entry itself, for the checks that replay
    /// the committed log.
    Committed {
        shard: usize,
        index: u64,
        entry: LogEntry,
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

/// The ledger's effects are what applying an entry yields for the service.
pub type Effects = Vec<Effect>;
