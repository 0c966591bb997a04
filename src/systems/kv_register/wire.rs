//! What moves between kv_register's processes and what they keep: log entries, messages
//! and timers.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::sim::Message;
use crate::systems::components::clients::ClientTimer;
use crate::systems::components::workload::kv::KvOp;

/// A write, as logged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Requesting client (process index).
    pub client: usize,
    /// Its request id.
    pub seq: u64,
    /// Key (shared: an entry is copied into every replica's log, disk and message, and
    /// all of it again at each recovery; a shared string makes those copies cheap).
    pub key: Arc<str>,
    /// Append (true) or put (false).
    pub append: bool,
    /// Value or appended token.
    pub value: Arc<str>,
}

/// Messages.
#[derive(Debug, Clone)]
pub enum Msg {
    /// Client → replica.
    Request {
        /// Request id.
        seq: u64,
        /// What.
        op: KvOp,
    },
    /// Replica → client: the value read, or `None` for a write.
    Response {
        /// Request id.
        seq: u64,
        /// Read result.
        value: Option<String>,
    },
    /// Primary → backup: entries from position `from`, and the commit point.
    Replicate {
        /// Position of the first entry.
        from: u64,
        /// Entries.
        entries: Vec<Entry>,
        /// Entries committed.
        commit: u64,
    },
    /// Backup → primary: my log is this long (and durable).
    Ack {
        /// Log length.
        len: u64,
    },
}

impl Message for Msg {
    fn label(&self) -> &'static str {
        match self {
            Msg::Request { .. } => "request",
            Msg::Response { .. } => "response",
            Msg::Replicate { .. } => "replicate",
            Msg::Ack { .. } => "ack",
        }
    }
}

/// Timers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Timer {
    /// Group commit: fsync and ship.
    Flush,
    /// Periodic re-send and commit propagation.
    Replicate,
    /// A client timer.
    Client(ClientTimer),
}

pub(super) fn client_timer(t: ClientTimer) -> Timer {
    Timer::Client(t)
}
