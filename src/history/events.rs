//! Pairing Jepsen-style events into operations.
//!
//! Jepsen records one event when a process invokes an operation and one when the
//! operation completes (`:ok`, `:fail` or `:info`). A process runs one operation at a time,
//! so an event's process is enough to find its invocation. Both the EDN reader and the
//! Jepsen log importer produce [`Event`]s and hand them to a [`Pairing`], which turns them
//! into [`Operation`]s and checks that they make sense.

use super::{Func, History, Operation, ParseError, Status, Value};
use std::collections::BTreeMap;

/// A 1-based position in the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pos {
    pub line: usize,
    pub column: usize,
}

/// The kind of event (Jepsen's `:type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EventType {
    Invoke,
    Ok,
    Fail,
    Info,
}

impl EventType {
    pub fn from_name(name: &str) -> Option<EventType> {
        match name {
            "invoke" => Some(EventType::Invoke),
            "ok" => Some(EventType::Ok),
            "fail" => Some(EventType::Fail),
            "info" => Some(EventType::Info),
            _ => None,
        }
    }
}

/// How completions are read: plain Jepsen semantics, or the etcd log corpus's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    /// `:fail` means the operation did not happen; `:info` that it may have.
    Jepsen,
    /// The etcd logs: `:fail :cas` is a CAS that executed and found another value
    /// (output `false`), and `:fail :read` a read whose result is unknown.
    EtcdLog,
}

/// One event.
#[derive(Debug, Clone)]
pub(crate) struct Event {
    /// The process, or `None` for a non-integer one such as `:nemesis` (ignored).
    pub process: Option<u64>,
    pub ty: EventType,
    pub f: Func,
    pub key: Option<String>,
    pub value: Value,
    pub time: u64,
    /// Where the event starts, for error messages.
    pub pos: Pos,
}

/// Turns a stream of events into a history.
pub(crate) struct Pairing<'p> {
    path: &'p str,
    dialect: Dialect,
    ops: Vec<Operation>,
    /// process -> (index in `ops` of its operation in flight, where it was invoked).
    /// A BTreeMap keeps everything deterministic; it is only ever looked up anyway.
    pending: BTreeMap<u64, (usize, Pos)>,
}

impl<'p> Pairing<'p> {
    pub fn new(path: &'p str, dialect: Dialect) -> Pairing<'p> {
        Pairing {
            path,
            dialect,
            ops: Vec::new(),
            pending: BTreeMap::new(),
        }
    }

    fn error(&self, pos: Pos, message: String) -> ParseError {
        ParseError::new(self.path, pos.line, pos.column, message)
    }

    pub fn push(&mut self, ev: Event) -> Result<(), ParseError> {
        let Some(process) = ev.process else {
            // Jepsen's nemesis and other non-client processes do not take part.
            return Ok(());
        };
        if ev.ty == EventType::Invoke {
            if let Some((_, at)) = self.pending.get(&process) {
                return Err(self.error(
                    ev.pos,
                    format!(
                        "process {process} invokes an operation while its operation invoked \
                         at line {} has not completed; a process runs one operation at a time",
                        at.line
                    ),
                ));
            }
            self.pending.insert(process, (self.ops.len(), ev.pos));
            self.ops.push(Operation {
                client: process,
                call: ev.time,
                ret: None,
                status: Status::Info,
                f: ev.f,
                key: ev.key,
                input: ev.value,
                output: Value::Nil,
            });
            return Ok(());
        }
        let Some((index, _)) = self.pending.remove(&process) else {
            return Err(self.error(
                ev.pos,
                format!(
                    "process {process} completes an operation it never invoked \
                     (expected an :invoke event for process {process} before this one)"
                ),
            ));
        };
        let path = self.path;
        let dialect = self.dialect;
        let Some(op) = self.ops.get_mut(index) else {
            return Err(ParseError::new(
                path,
                ev.pos.line,
                ev.pos.column,
                "internal pairing error",
            ));
        };
        if op.f != ev.f {
            return Err(ParseError::new(
                path,
                ev.pos.line,
                ev.pos.column,
                format!(
                    "process {process} invoked :{} but this completion is for :{}; \
                     a completion must name the function it completes",
                    op.f, ev.f
                ),
            ));
        }
        match (&op.key, ev.key) {
            (_, None) => {}
            (None, Some(key)) => op.key = Some(key),
            (Some(a), Some(b)) if *a == b => {}
            (Some(a), Some(b)) => {
                return Err(ParseError::new(
                    path,
                    ev.pos.line,
                    ev.pos.column,
                    format!("the completion's :key {b:?} differs from the invocation's {a:?}"),
                ))
            }
        }
        if ev.time < op.call {
            return Err(ParseError::new(
                path,
                ev.pos.line,
                ev.pos.column,
                format!(
                    "completion at time {} comes before its invocation at time {}; \
                     times must not go backwards within an operation",
                    ev.time, op.call
                ),
            ));
        }
        let (status, output) = complete(dialect, ev.ty, op.f, ev.value);
        op.status = status;
        op.output = output;
        op.ret = match status {
            Status::Info => None,
            Status::Ok | Status::Fail => Some(ev.time),
        };
        Ok(())
    }

    /// The history. Operations still in flight stay `Info` (they may or may not happen).
    pub fn finish(self) -> History {
        History { ops: self.ops }
    }
}

/// The status and output of an operation completed by an event of type `ty` carrying
/// `value`.
fn complete(dialect: Dialect, ty: EventType, f: Func, value: Value) -> (Status, Value) {
    // Jepsen clients report a successful compare-and-set, withdrawal, deposit or open
    // with the operation's own value (`:ok :cas [1 2]`, `:ok :deposit 5`); the models
    // want whether it took effect.
    let applied = |value: Value| match value {
        Value::Bool(b) => Value::Bool(b),
        _ => Value::Bool(true),
    };
    match (ty, dialect, f) {
        (EventType::Invoke, _, _) | (EventType::Info, _, _) => (Status::Info, Value::Nil),
        (EventType::Ok, _, Func::Cas | Func::Withdraw | Func::Deposit | Func::Open) => {
            (Status::Ok, applied(value))
        }
        (EventType::Ok, _, _) => (Status::Ok, value),
        // The etcd corpus: the CAS ran and its comparison failed.
        (EventType::Fail, Dialect::EtcdLog, Func::Cas) => (Status::Ok, Value::Bool(false)),
        // The etcd corpus: `:fail :read :timed-out`, a read nobody saw the result of.
        (EventType::Fail, Dialect::EtcdLog, Func::Read | Func::Get) => (Status::Info, Value::Nil),
        (EventType::Fail, _, _) => (Status::Fail, value),
    }
}
