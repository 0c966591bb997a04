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
/// One replica: the replicated log of its shard, with the service on top ([`super::service`]).
pub type Replica = Raft<EsCluster>;

/// Messages.
#[derive(Debug, Clone)]
pub enum Msg {
    /// Client → router.
    ClientRequest {
        /// The client's request number (kept across re-sends).
        seq: u64,
        /// The operation asked for.
        op: EsOp,
    },
    /// Router → client.
    ClientReply {
        /// The request number it answers.
        seq: u64,
        /// The operation's result.
        result: OpResult,
    },
    /// Router → replica.
    Command {
        /// The client request.
        req: ReqId,
        /// The command, for the shard of its key.
        command: Command,
    },
    /// Replica → router.
    CommandReply {
        /// The client request it answers.
        req: ReqId,
        /// The result, or not the leader (with a hint).
        reply: Reply,
    },
    /// Replica → replica: the replicated log.
    Raft(raft::Msg<Ledger>),
    /// 2PC: coordinator → participant shard.
    Prepare {
        /// The transfer.
        txn: TxnId,
        /// The account to credit (on the participant shard).
        to: String,
        /// The sum to credit.
        amount: i64,
        /// The coordinator shard.
        coordinator: usize,
    },
    /// 2PC: participant → coordinator shard: its vote (no: the account is not open).
    Prepared {
        /// The transfer.
        txn: TxnId,
        /// Yes (prepared) or no (refused).
        vote: bool,
    },
    /// 2PC: coordinator → participant shard.
    Decision {
        /// The transfer.
        txn: TxnId,
        /// Whether it commits (else it aborts).
        commit: bool,
        /// The coordinator shard.
        coordinator: usize,
    },
    /// 2PC: participant → coordinator shard.
    DecisionApplied {
        /// The transfer.
        txn: TxnId,
    },
    /// Projection → replica: committed entries from `from`, please.
    Fetch {
        /// Index of the first entry wanted.
        from: u64,
    },
    /// Replica → projection: committed entries, and who the replica thinks leads.
    Events {
        /// The replica's shard.
        shard: usize,
        /// The index the fetch asked from.
        from: u64,
        /// Committed entries, in order, from `from` or just after the snapshot.
        entries: Vec<LogEntry>,
        /// The replica's snapshot, when `from` is compacted.
        snapshot: Option<Box<Snapshot>>,
        /// Who the replica thinks leads its shard.
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
        /// The leader's shard.
        shard: usize,
        /// The entry's index.
        index: u64,
        /// The entry.
        entry: LogEntry,
    },
    /// The projection applied entry `index` of `shard`.
    Projected {
        /// The shard whose entry it is.
        shard: usize,
        /// The entry's index.
        index: u64,
        /// The projection process's incarnation.
        incarnation: u32,
    },
    /// The projection adopted a snapshot up to `index`.
    ProjectedSnapshot {
        /// The shard whose snapshot it is.
        shard: usize,
        /// Index of the last entry the snapshot includes.
        index: u64,
        /// The projection process's incarnation.
        incarnation: u32,
    },
}

/// The ledger's effects are what applying an entry yields for the service.
pub type Effects = Vec<Effect>;
