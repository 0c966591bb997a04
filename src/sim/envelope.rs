//! The resource envelope of one seed: what a run may use before it is stopped.
//!
//! A scenario can ask for a world that no machine can simulate — 64 clients with 1 ms
//! think times for an hour of simulated time, or heartbeats every millisecond between
//! nine replicas of four shards. Such a seed does not fail; it simply grows. The envelope
//! bounds it: after every handler the driver compares the run's handler calls, messages in
//! flight, history length and memory (the seed thread's allocation count, see
//! [`crate::guard`]) with the scenario's `[limits]`, and the first one exceeded stops the
//! world with a [`LimitHit`]. The seed's verdict is then `limit`: inconclusive, never a
//! finding, since the system under test did nothing wrong.
//!
//! Every figure compared is a deterministic function of the seed (handler calls, queue
//! lengths, requested allocation sizes), so a seed stops at the same event in every run,
//! replays included. The payload text a full-level trace keeps is left out of the memory
//! figure for exactly that reason: a replay keeps more text than a sweep, and must stop at
//! the same point.

use std::fmt;

use serde::Serialize;

use crate::guard::MemoryWindow;
use crate::scenario::LimitsParams;

/// Bounds on one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Handler calls (messages delivered, timers fired). Also what stops a livelock: two
    /// processes answering each other at zero latency make simulated time stand still.
    pub events_max: u64,
    /// Messages sent and not yet delivered or dropped.
    pub messages_in_flight_max: u64,
    /// Operations in the history.
    pub history_ops_max: u64,
    /// Bytes the seed's thread may hold (trace payload text at full level excluded).
    pub memory_bytes_max: u64,
    /// Bytes the seed already holds when the run starts (its plan), counted with what the
    /// run allocates.
    pub memory_held_bytes: u64,
}

impl Limits {
    /// The limits a scenario sets.
    pub fn of(params: &LimitsParams) -> Limits {
        Limits {
            events_max: params.events_max,
            messages_in_flight_max: params.messages_in_flight_max,
            history_ops_max: params.history_ops_max,
            memory_bytes_max: params.memory_mb_max.saturating_mul(1 << 20),
            memory_held_bytes: 0,
        }
    }
}

/// Which limit a run reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Limit {
    /// `limits.events_max`.
    Events,
    /// `limits.messages_in_flight_max`.
    MessagesInFlight,
    /// `limits.history_ops_max`.
    HistoryOps,
    /// `limits.memory_mb_max`.
    Memory,
}

impl Limit {
    /// The scenario knob that sets it.
    pub fn knob(self) -> &'static str {
        match self {
            Limit::Events => "limits.events_max",
            Limit::MessagesInFlight => "limits.messages_in_flight_max",
            Limit::HistoryOps => "limits.history_ops_max",
            Limit::Memory => "limits.memory_mb_max",
        }
    }
}

/// A limit reached: which, by how much, where and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LimitHit {
    /// The limit.
    pub limit: Limit,
    /// The figure that exceeded it (bytes for memory).
    pub value: u64,
    /// The limit (bytes for memory).
    pub max: u64,
    /// The process whose handler had just run.
    pub node: usize,
    /// Its name.
    pub name: String,
    /// Simulated time (ns).
    pub t_ns: u64,
}

impl fmt::Display for LimitHit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (value, max) = match self.limit {
            Limit::Memory => (
                format!("{:.1} MB", self.value as f64 / (1 << 20) as f64),
                format!("{}", self.max >> 20),
            ),
            _ => (self.value.to_string(), self.max.to_string()),
        };
        let what = match self.limit {
            Limit::Events => "simulated events handled",
            Limit::MessagesInFlight => "messages in flight",
            Limit::HistoryOps => "operations in the history",
            Limit::Memory => "of memory in use",
        };
        // The knob first: a line cut to the terminal's width still names what to raise.
        write!(
            f,
            "resource limit `{}` = {max} reached: {value} {what} after a handler of {} at \
             {:.3} ms; the seed was stopped there. Raise it in [limits], or lower the load",
            self.limit.knob(),
            self.name,
            self.t_ns as f64 / 1e6,
        )
    }
}

/// What the driver compares with the limits.
#[derive(Debug)]
pub(crate) struct Usage {
    pub limits: Limits,
    pub memory: MemoryWindow,
    pub handler_calls: u64,
    pub messages_in_flight: u64,
}

impl Usage {
    /// Count from `memory`, opened when the run began (before the plan is copied in).
    pub fn new(limits: Limits, memory: MemoryWindow) -> Usage {
        Usage {
            limits,
            memory,
            handler_calls: 0,
            messages_in_flight: 0,
        }
    }

    /// The first limit the run is over, with its figure and bound; `excluded_bytes` is
    /// memory not to count (trace payload text).
    pub fn over(&self, history_ops: usize, excluded_bytes: u64) -> Option<(Limit, u64, u64)> {
        let l = &self.limits;
        let memory = l.memory_held_bytes + self.memory.used_bytes().saturating_sub(excluded_bytes);
        [
            (Limit::Events, self.handler_calls, l.events_max),
            (
                Limit::MessagesInFlight,
                self.messages_in_flight,
                l.messages_in_flight_max,
            ),
            (Limit::HistoryOps, history_ops as u64, l.history_ops_max),
            (Limit::Memory, memory, l.memory_bytes_max),
        ]
        .into_iter()
        .find(|&(_, value, max)| value > max)
    }
}
