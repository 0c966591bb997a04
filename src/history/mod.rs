//! Client histories: operations as recorded at the client boundary.
//!
//! A history is what the clients of a system saw: for each operation, who called it, when
//! it was invoked, when (and whether) it returned, what went in and what came out. It is
//! the only input of the linearizability checker, and the simulator produces one per seed.
//!
//! Three completions, with Jepsen's meaning:
//!
//! * [`Status::Ok`] — the operation happened, and `output` is what it returned;
//! * [`Status::Fail`] — the operation definitely did **not** happen (it has no effect and
//!   the checker drops it);
//! * [`Status::Info`] — unknown: it may have taken effect at any point after its
//!   invocation, or never. Operations still pending at the end of a run are `Info`, and
//!   an `Info` operation has no return time (`ret == None`).
//!
//! Times are plain integers in one monotonic unit per history: the simulator records
//! nanoseconds of simulated time; imported histories that only have an order of events
//! use the event's index. Operation A precedes B in real time iff `A.ret < B.call`.

use serde::{Deserialize, Serialize};

/// A value carried by an operation: the subset of EDN/JSON that histories need.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Value {
    /// No value (`nil` / `null`): a read's input, a register never written.
    Nil,
    /// A boolean, e.g. whether a compare-and-set or a withdrawal took effect.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A string.
    Str(String),
    /// A list, e.g. a compare-and-set's `[expected, new]`.
    List(Vec<Value>),
}

/// How an operation completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// It happened; `output` holds its result.
    Ok,
    /// It definitely did not happen.
    Fail,
    /// Unknown: it may or may not have happened, at any time after its call.
    Info,
}

/// The function an operation calls. Each model accepts a subset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Func {
    /// Register / bank: read the current value or balance. Input `Nil`, output the value.
    Read,
    /// Register: write `input`.
    Write,
    /// Compare-and-set register: input `List[expected, new]`, output `Bool(swapped)`.
    Cas,
    /// Key-value: read `key`; output `Str` (the empty string if never written).
    Get,
    /// Key-value: set `key` to `input`.
    Put,
    /// Key-value: append `input` to the value of `key`.
    Append,
    /// Bank: add `Int(amount)` to the account `key`.
    Deposit,
    /// Bank: take `Int(amount)` from `key` if the balance allows it; output `Bool(applied)`.
    Withdraw,
}

/// One client operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Operation {
    /// The client (Porcupine's `ClientId`, Jepsen's `:process`).
    pub client: u64,
    /// Invocation time.
    pub call: u64,
    /// Completion time; `None` when the operation never returned (`Info`).
    pub ret: Option<u64>,
    /// How it completed.
    pub status: Status,
    /// What it calls.
    pub f: Func,
    /// The object it addresses; the checker partitions the history by key.
    pub key: Option<String>,
    /// The argument.
    pub input: Value,
    /// The result (`Nil` when there is none or it is unknown).
    pub output: Value,
}

/// A whole history, in no particular order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct History {
    /// The operations.
    pub ops: Vec<Operation>,
}

/// A malformed history file: where, and what is wrong. Maps to exit code 254.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}:{line}:{column}: {message}")]
pub struct ParseError {
    /// The file (as given on the command line).
    pub path: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// What is wrong and what is allowed.
    pub message: String,
}
