//! Reading a queue history: each operation's micro-operations, in the order its process
//! issued them.

use super::QueueError;
use crate::history::{Func, Operation, Status, Value};

/// A micro-operation, read from an operation.
#[derive(Debug, Clone)]
pub(super) enum Micro {
    /// A send, with its offset once acknowledged.
    Send {
        key: Value,
        value: Value,
        offset: Option<i64>,
    },
    /// A poll's records of one key, in order.
    Poll {
        key: Value,
        records: Vec<(i64, Value)>,
    },
}

/// What one operation did, in the order the process did it.
pub(super) struct Step {
    /// The operation's index in the history.
    pub op: usize,
    /// Its process.
    pub process: u64,
    /// When it was invoked.
    pub call: u64,
    /// An `assign` or `subscribe`: the process's positions start over.
    pub reset: bool,
    /// How it completed: `fail` is definitely aborted, `info` unknown.
    pub status: Status,
    /// Its micro-operations (the completion's for `ok`, the invocation's otherwise).
    pub micros: Vec<Micro>,
}

impl Step {
    /// Whether it completed.
    pub fn ok(&self) -> bool {
        self.status == Status::Ok
    }

    /// Its sends: (key, value, offset if acknowledged).
    pub fn sends(&self) -> impl Iterator<Item = (&Value, &Value, Option<i64>)> {
        self.micros.iter().filter_map(|m| match m {
            Micro::Send { key, value, offset } => Some((key, value, *offset)),
            Micro::Poll { .. } => None,
        })
    }

    /// What it polled: (key, offset, value), in order (nothing unless it completed).
    pub fn reads(&self) -> impl Iterator<Item = (&Value, i64, &Value)> {
        let ok = self.ok();
        self.micros
            .iter()
            .filter_map(move |m| match m {
                Micro::Poll { key, records } if ok => Some((key, records)),
                _ => None,
            })
            .flat_map(|(key, records)| records.iter().map(move |(o, v)| (key, *o, v)))
    }
}

pub(super) fn step_of(index: usize, op: &Operation) -> Result<Step, QueueError> {
    let err = |message: String| QueueError { index, message };
    let (reset, source) = match op.f {
        Func::Assign | Func::Subscribe => (true, None),
        Func::Send | Func::Poll | Func::Txn => {
            let ok = op.status == Status::Ok;
            (false, Some(if ok { &op.output } else { &op.input }))
        }
        other => {
            return Err(err(format!(
                "`{other}` is not a queue operation: send, poll, txn, assign or subscribe"
            )))
        }
    };
    let micros = match source {
        None => Vec::new(),
        Some(Value::List(items)) => items
            .iter()
            .map(|m| micro_of(m).map_err(&err))
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .flatten()
            .collect(),
        Some(other) => {
            return Err(err(format!(
                "the value {other} is not a list of micro-operations"
            )))
        }
    };
    Ok(Step {
        op: index,
        process: op.client,
        call: op.call,
        reset,
        status: op.status,
        micros,
    })
}

/// `["send", k, v]`, `["send", k, [offset v]]`, `["poll"]` or `["poll", {k [[o v] ...]}]`.
fn micro_of(m: &Value) -> Result<Vec<Micro>, String> {
    let Value::List(parts) = m else {
        return Err(format!("the micro-operation {m} is not a list"));
    };
    match parts.as_slice() {
        [Value::Str(f), key, sent] if f == "send" => {
            let (value, offset) = match sent {
                Value::List(pair) => match pair.as_slice() {
                    [Value::Int(o), v] => (v.clone(), Some(*o)),
                    [Value::Nil, v] => (v.clone(), None),
                    _ => return Err(format!("a send's [offset value] pair is malformed: {sent}")),
                },
                v => (v.clone(), None),
            };
            Ok(vec![Micro::Send { key: key.clone(), value, offset }])
        }
        [Value::Str(f)] if f == "poll" => Ok(Vec::new()),
        [Value::Str(f), Value::Map(by_key)] if f == "poll" => by_key
            .iter()
            .map(|(key, records)| {
                let Value::List(records) = records else {
                    return Err(format!("a poll's records of key {key} are not a list"));
                };
                let records = records
                    .iter()
                    .map(|r| match r {
                        Value::List(pair) => match pair.as_slice() {
                            [Value::Int(o), v] => Ok((*o, v.clone())),
                            _ => Err(format!("a polled record is not [offset value]: {r}")),
                        },
                        _ => Err(format!("a polled record is not [offset value]: {r}")),
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(Micro::Poll { key: key.clone(), records })
            })
            .collect(),
        _ => Err(format!("unknown micro-operation {m}: expected [\"send\" k v] or [\"poll\" {{k [[offset value] ...]}}]")),
    }
}
