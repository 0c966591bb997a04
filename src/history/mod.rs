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
//!
//! # Files
//!
//! Histories are read from and written to three formats (see `docs/checker.md` for the
//! exact encodings):
//!
//! * [`jsonl`] — one JSON object per line with Porcupine's field names (`ClientId`,
//!   `Input`, `Call`, `Output`, `Return`); faultline's own format, lossless;
//! * [`edn`] — Jepsen-style EDN events (`{:type :invoke, :f :read, :process 0, ...}`),
//!   paired into operations by process;
//! * [`jepsen_log`] — the old Jepsen log lines (`INFO  jepsen.util - 3 :ok :read 4`) of the
//!   etcd histories that Porcupine and other checkers are tested on.
//!
//! [`parse`] reads any of them, detecting the format from the content when asked to.
//! Every reader reports malformed input as a [`ParseError`] with a 1-based line and column
//! and a sentence saying what was expected; none of them panics on any input.

mod events;
mod format;
mod text;

pub mod edn;
pub mod jepsen_log;
pub mod jsonl;

pub use format::{detect_format, parse, Format};

use serde::{Deserialize, Serialize};
use std::fmt;

/// A value carried by an operation: the subset of EDN/JSON that histories need.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
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
    /// A map, in key order as written, e.g. a queue poll's `{partition [[offset value]]}`.
    /// JSON writes it as an object whose keys are the keys' EDN text.
    Map(Vec<(Value, Value)>),
}

impl Serialize for Value {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match self {
            Value::Nil => s.serialize_unit(),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::Int(i) => s.serialize_i64(*i),
            Value::Str(text) => s.serialize_str(text),
            Value::List(items) => items.serialize(s),
            Value::Map(pairs) => {
                let mut map = s.serialize_map(Some(pairs.len()))?;
                for (k, v) in pairs {
                    match k {
                        Value::Str(text) => map.serialize_entry(text, v)?,
                        other => map.serialize_entry(&other.to_string(), v)?,
                    }
                }
                map.end()
            }
        }
    }
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

/// The function an operation calls. Each model accepts a subset; history files carry
/// the functions in [`Func::ALL`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Func {
    /// Register / bank: read the current value or balance. Input `Nil`, output the value
    /// (`Nil` for a register never written, or a bank account not open).
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
    /// Bank: add `Int(amount)` to the account `key`; output `Bool(applied)` (`false`
    /// when the account is not open).
    Deposit,
    /// Bank: take `Int(amount)` from `key` if it is open and its balance allows it;
    /// output `Bool(applied)`.
    Withdraw,
    /// Bank: open the account `key` (balance 0); output `Bool(opened)`, `false` when it
    /// was already open.
    Open,
    /// Queue: send values, input `[["send", k, v] ...]` micro-operations, output the same
    /// with `[offset v]` in place of `v` (Jepsen's Kafka test).
    Send,
    /// Queue: poll, input `[["poll"]]`, output `[["poll", {k [[offset v] ...]}]]`.
    Poll,
    /// A transaction: of send and poll micro-operations (queue), or of `[read k v]` and
    /// `[write k v]` ones (multi-register).
    Txn,
    /// Queue: the consumer now reads exactly these keys (input: the list of keys).
    Assign,
    /// Queue: the consumer subscribes to these keys (its assignment may change).
    Subscribe,
    /// Mutex: take the lock (Knossos's `:acquire`).
    Acquire,
    /// Mutex: give the lock back (Knossos's `:release`).
    Release,
    /// An operation a system defines for its own workload (`order`, `create-project`),
    /// recorded for the timeline and the system's checks; no linearizability model reads
    /// it, and history files do not carry it.
    System(&'static str),
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

impl Func {
    /// Every function, in declaration order.
    pub const ALL: [Func; 16] = [
        Func::Read,
        Func::Write,
        Func::Cas,
        Func::Get,
        Func::Put,
        Func::Append,
        Func::Deposit,
        Func::Withdraw,
        Func::Open,
        Func::Send,
        Func::Poll,
        Func::Txn,
        Func::Assign,
        Func::Subscribe,
        Func::Acquire,
        Func::Release,
    ];

    /// The function's name as it appears in files (`read`, `cas`, `withdraw`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Func::Read => "read",
            Func::Write => "write",
            Func::Cas => "cas",
            Func::Get => "get",
            Func::Put => "put",
            Func::Append => "append",
            Func::Deposit => "deposit",
            Func::Withdraw => "withdraw",
            Func::Open => "open",
            Func::Send => "send",
            Func::Poll => "poll",
            Func::Txn => "txn",
            Func::Assign => "assign",
            Func::Subscribe => "subscribe",
            Func::Acquire => "acquire",
            Func::Release => "release",
            Func::System(name) => name,
        }
    }

    /// The function called `name`, if there is one.
    pub fn from_name(name: &str) -> Option<Func> {
        Func::ALL.into_iter().find(|f| f.name() == name)
    }
}

impl Serialize for Func {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for Func {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Func::from_name(&name).ok_or_else(|| {
            let known: Vec<&str> = Func::ALL.iter().map(|f| f.name()).collect();
            serde::de::Error::custom(format!(
                "unknown variant `{name}`, expected one of `{}`",
                known.join("`, `")
            ))
        })
    }
}

impl fmt::Display for Func {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Status {
    /// The status's name as it appears in files (`ok`, `fail`, `info`).
    pub fn name(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Fail => "fail",
            Status::Info => "info",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Values print as EDN: `nil`, `true`, `3`, `"text"`, `[1 2]`.
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Nil => f.write_str("nil"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Str(s) => text::write_quoted(f, s),
            Value::List(items) => {
                f.write_str("[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" ")?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_str("]")
            }
            Value::Map(pairs) => {
                f.write_str("{")?;
                for (i, (k, v)) in pairs.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{k} {v}")?;
                }
                f.write_str("}")
            }
        }
    }
}

impl Operation {
    /// The output if it is known: `None` for an `Info` operation, whose result nobody saw.
    pub fn known_output(&self) -> Option<&Value> {
        match self.status {
            Status::Info => None,
            Status::Ok | Status::Fail => Some(&self.output),
        }
    }

    /// Whether this operation must have completed before `other` was invoked, i.e. `self`
    /// precedes `other` in real time. An operation that never returned precedes nothing.
    pub fn precedes(&self, other: &Operation) -> bool {
        matches!(self.ret, Some(ret) if ret < other.call)
    }
}

/// A one-line human description: `client 3 cas key "x" [1 2] -> true (ok, 10..25)`.
impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "client {} {}", self.client, self.f)?;
        if let Some(key) = &self.key {
            f.write_str(" key ")?;
            text::write_quoted(f, key)?;
        }
        if self.input != Value::Nil {
            write!(f, " {}", self.input)?;
        }
        match self.status {
            Status::Info => f.write_str(" -> ?")?,
            Status::Ok | Status::Fail => write!(f, " -> {}", self.output)?,
        }
        write!(f, " ({}, {}..", self.status, self.call)?;
        match self.ret {
            Some(ret) => write!(f, "{ret})"),
            None => f.write_str("never returned)"),
        }
    }
}

impl Operation {
    /// The operation as a simulated run's reports phrase it: its client by process name
    /// (`c3`, as on the timeline) and its times in milliseconds of simulated time (the
    /// history's times are nanoseconds): `c3 get key "k0" -> "0.42;" (ok, 2927.102–3091.881 ms)`.
    pub fn named(&self, names: &[String]) -> String {
        let mut s = match names.get(self.client as usize) {
            Some(name) => name.clone(),
            None => format!("client {}", self.client),
        };
        s.push(' ');
        s.push_str(self.f.name());
        if let Some(key) = &self.key {
            s.push_str(" key ");
            s.push_str(&format!("{key:?}"));
        }
        if self.input != Value::Nil {
            s.push_str(&format!(" {}", self.input));
        }
        match self.status {
            Status::Info => s.push_str(" -> ?"),
            Status::Ok | Status::Fail => s.push_str(&format!(" -> {}", self.output)),
        }
        let ms = |ns: u64| format!("{:.3}", ns as f64 / 1e6);
        match self.ret {
            Some(ret) => s.push_str(&format!(
                " ({}, {}–{} ms)",
                self.status,
                ms(self.call),
                ms(ret)
            )),
            None => s.push_str(&format!(
                " ({}, {} ms–never returned)",
                self.status,
                ms(self.call)
            )),
        }
        s
    }
}

impl History {
    /// A history of these operations.
    pub fn new(ops: Vec<Operation>) -> History {
        History { ops }
    }

    /// The number of operations.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// Whether there are no operations.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
}

impl ParseError {
    /// An error at `line`:`column` of `path`.
    pub fn new(path: &str, line: usize, column: usize, message: impl Into<String>) -> ParseError {
        ParseError {
            path: path.to_string(),
            line,
            column,
            message: message.into(),
        }
    }
}
