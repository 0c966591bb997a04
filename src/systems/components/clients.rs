//! Clients: the processes that run the workload and record the history.
//!
//! A client runs its planned operations one at a time. It records the invocation in the
//! history, sends the request, re-sends it with the *same* request id after
//! `request_timeout_ms` without an answer (so the server can deduplicate), and gives up
//! after `op_timeout_ms`. An operation given up on stays `Info` in the history: it may or
//! may not have taken effect, and the checkers treat it so. A client starts no new
//! operation after the chaos phase ends.
//!
//! [`ClientCore`] is the system-independent part: schedule, request ids, timers and
//! history bookkeeping. It is generic over the operation type, which says how it is
//! recorded in the history ([`Request`]). Each system wraps it in its own client process,
//! which decides where requests go and what the replies mean.

use std::fmt::Debug;

use serde::{Deserialize, Serialize};

use crate::plan::ClientOp;
use crate::scenario::WorkloadParams;
use crate::sim::{Ctx, Phase, System};

/// Coverage probes the clients can reach.
pub const PROBES: &[&str] = &["client_retry", "client_gave_up"];

/// An operation a client issues. Example: the `Op` of the example on
/// [`System`].
pub trait Request: Clone + Debug + Send + 'static {
    /// Record its invocation in the history; returns the history entries it made (one
    /// per object it touches, e.g. two for a transfer between accounts).
    fn invoke<S: System>(&self, ctx: &mut Ctx<'_, S>) -> Vec<usize>;
}

/// A client's request: unique per client and operation, kept across every re-send, so
/// servers can recognise a retry or a duplicate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ReqId {
    /// Client process.
    pub client: usize,
    /// Its request number.
    pub seq: u64,
}

/// Timers of a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ClientTimer {
    /// Start the next planned operation.
    Next,
    /// Re-send the current request.
    Retry,
    /// Give up on the current operation.
    GiveUp,
}

/// The operation a client is waiting for.
#[derive(Debug, Clone)]
pub struct InFlight<O> {
    /// Request id, unique per client and operation (kept across re-sends).
    pub seq: u64,
    /// What it asks.
    pub op: O,
    /// History entries it recorded (two for a transfer: one per account).
    pub history: Vec<usize>,
    /// How many times it was sent.
    pub attempts: u32,
}

/// A request the system should send now.
#[derive(Debug, Clone)]
pub struct Outgoing<O> {
    /// Request id.
    pub seq: u64,
    /// What to ask.
    pub op: O,
    /// 1 for the first send, 2+ for re-sends.
    pub attempt: u32,
}

/// The system-independent state of one client.
#[derive(Debug, Clone)]
pub struct ClientCore<O> {
    ops: Vec<ClientOp<O>>,
    next: usize,
    current: Option<InFlight<O>>,
    seq: u64,
    request_timeout_ms: u64,
    op_timeout_ms: u64,
}

impl<O: Request> ClientCore<O> {
    /// A client that will run `ops` (its own planned operations, in time order).
    pub fn new(ops: Vec<ClientOp<O>>, workload: &WorkloadParams) -> Self {
        ClientCore {
            ops,
            next: 0,
            current: None,
            seq: 0,
            request_timeout_ms: workload.request_timeout_ms,
            op_timeout_ms: workload.op_timeout_ms,
        }
    }

    /// Whether the client waits for nothing and will start nothing more.
    pub fn idle(&self) -> bool {
        self.current.is_none()
    }

    /// The operation in flight.
    pub fn current(&self) -> Option<&InFlight<O>> {
        self.current.as_ref()
    }

    /// At boot: schedule the first operation.
    pub fn start<S: System>(&mut self, ctx: &mut Ctx<'_, S>, timer: fn(ClientTimer) -> S::Timer) {
        self.schedule_next(ctx, timer);
    }

    fn schedule_next<S: System>(
        &mut self,
        ctx: &mut Ctx<'_, S>,
        timer: fn(ClientTimer) -> S::Timer,
    ) {
        if let Some(op) = self.ops.get(self.next) {
            let at_ns = op.at_ms.saturating_mul(1_000_000);
            ctx.set_timer_ns(timer(ClientTimer::Next), at_ns.saturating_sub(ctx.now_ns()));
        }
    }

    /// A client timer fired: returns the request to send, if any.
    pub fn on_timer<S: System>(
        &mut self,
        ctx: &mut Ctx<'_, S>,
        which: ClientTimer,
        timer: fn(ClientTimer) -> S::Timer,
    ) -> Option<Outgoing<O>> {
        match which {
            ClientTimer::Next => {
                if self.current.is_some() || ctx.phase() != Phase::Chaos {
                    return None;
                }
                let planned = self.ops.get(self.next)?.clone();
                self.next += 1;
                self.seq += 1;
                let history = planned.op.invoke(ctx);
                self.current = Some(InFlight {
                    seq: self.seq,
                    op: planned.op.clone(),
                    history,
                    attempts: 1,
                });
                ctx.set_timer(timer(ClientTimer::Retry), self.request_timeout_ms);
                ctx.set_timer(timer(ClientTimer::GiveUp), self.op_timeout_ms);
                Some(Outgoing {
                    seq: self.seq,
                    op: planned.op,
                    attempt: 1,
                })
            }
            ClientTimer::Retry => {
                let current = self.current.as_mut()?;
                current.attempts += 1;
                ctx.probe("client_retry");
                ctx.note("retry_op", current.history[0] as i64);
                ctx.set_timer(timer(ClientTimer::Retry), self.request_timeout_ms);
                Some(Outgoing {
                    seq: current.seq,
                    op: current.op.clone(),
                    attempt: current.attempts,
                })
            }
            ClientTimer::GiveUp => {
                if let Some(abandoned) = self.current.take() {
                    // The outcome stays unknown: the history entry is never completed.
                    ctx.probe("client_gave_up");
                    ctx.note("gave_up_op", abandoned.history[0] as i64);
                    ctx.cancel_timer(timer(ClientTimer::Retry));
                    self.schedule_next(ctx, timer);
                }
                None
            }
        }
    }

    /// A reply for request `seq` arrived. Returns the finished operation if it is the one
    /// in flight (the caller completes its history entries); stale and duplicated replies
    /// return `None`.
    pub fn on_reply<S: System>(
        &mut self,
        ctx: &mut Ctx<'_, S>,
        seq: u64,
        timer: fn(ClientTimer) -> S::Timer,
    ) -> Option<InFlight<O>> {
        if self.current.as_ref()?.seq != seq {
            return None;
        }
        let done = self.current.take();
        ctx.cancel_timer(timer(ClientTimer::Retry));
        ctx.cancel_timer(timer(ClientTimer::GiveUp));
        self.schedule_next(ctx, timer);
        done
    }
}
