//! Jepsen-style EDN histories.
//!
//! A Jepsen history is a sequence of events, each an EDN map:
//!
//! ```text
//! {:process 0, :type :invoke, :f :write, :key "x", :value 3, :time 1200}
//! {:process 0, :type :ok,     :f :write, :key "x", :value 3, :time 1850}
//! ```
//!
//! The file holds either one vector (or list) of such maps, or the maps one after the
//! other (usually one per line). Events are paired into operations by `:process` (see
//! `events`):
//!
//! * `:type` is `:invoke`, `:ok`, `:fail` (the operation did not happen) or `:info` (it
//!   may or may not have happened); an invocation that never completes is `:info` too;
//! * `:f` names a [`Func`] (`:read`, `:write`, `:cas`, `:get`, `:put`, `:append`,
//!   `:deposit`, `:withdraw`); `:key` (optional: string, keyword or integer) is the
//!   object; `:value` is the input on the invocation and the output on the completion;
//!   an `:ok` `:cas` or `:withdraw` whose value is not a boolean took effect (`true`);
//! * events whose `:process` is not an integer (Jepsen's `:nemesis`) are ignored;
//! * `:time` (a non-negative integer) is the event's time; if no event has one, the
//!   event's index in the file is used instead. Other keys are ignored.
//!
//! The reader implements the part of EDN that histories use: maps, vectors, lists,
//! sets, keywords, symbols, strings with escapes, integers, floats (read, but refused as
//! operation values), `nil`, `true`/`false`, `;` comments, commas as whitespace, `#_`
//! discards and tagged literals (read, refused as values).

use super::events::{Dialect, Event, EventType, Pairing, Pos};
use super::text::write_quoted;
use super::{Func, History, ParseError, Status, Value};
use std::fmt::Write as _;

/// Read an EDN history. `path` only names the file in errors.
pub fn parse(text: &str, path: &str) -> Result<History, ParseError> {
    let mut reader = Reader::new(text, path);
    let forms = reader.read_all()?;
    let events: Vec<Node> = match forms.as_slice() {
        [] => Vec::new(),
        [first, rest @ ..] if matches!(first.form, Form::Vector(_) | Form::List(_)) => {
            if let Some(extra) = rest.first() {
                return Err(error(
                    path,
                    extra.pos,
                    "unexpected form after the vector of events: a history is either one \
                     vector of event maps or a sequence of event maps",
                ));
            }
            match forms.into_iter().next().map(|n| n.form) {
                Some(Form::Vector(items)) | Some(Form::List(items)) => items,
                _ => Vec::new(),
            }
        }
        _ => forms,
    };
    let mut pairing = Pairing::new(path, Dialect::Jepsen);
    let mut timed: Option<bool> = None;
    for (index, node) in events.into_iter().enumerate() {
        let event = event_of(path, node, index as u64, &mut timed)?;
        if let Some(event) = event {
            pairing.push(event)?;
        }
    }
    Ok(pairing.finish())
}

/// A history that cannot be written as Jepsen EDN.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("operation {index} cannot be written as EDN: {reason}")]
pub struct EncodeError {
    /// The operation's index in the history.
    pub index: usize,
    /// Why.
    pub reason: String,
}

/// Write a history as EDN events, one map per line, in time order (at equal times
/// invocations come first), each with its `:time`.
///
/// Reading the result gives the same history back, with the operations in invocation
/// order (so a history already in that order round-trips exactly). Jepsen's format cannot
/// say everything a [`History`] can, so this refuses, with [`EncodeError`]:
///
/// * an `ok`/`fail` operation without a return time, or returning before its call;
/// * an `info` operation with a return time or an output (Jepsen's `:info` says nothing);
/// * two operations of one client that overlap (events are paired by process), or that
///   touch (`ret == call`): the invocation would sort before the completion;
/// * an `ok` `cas`/`withdraw` whose output is not a boolean;
/// * a client or time above `i64::MAX` (EDN integers are 64-bit signed).
pub fn to_string(history: &History) -> Result<String, EncodeError> {
    let err = |index: usize, reason: &str| EncodeError {
        index,
        reason: reason.to_string(),
    };
    // (time, 0 = invocation / 1 = completion, op index)
    let mut events: Vec<(u64, u8, usize)> = Vec::with_capacity(history.ops.len() * 2);
    for (i, op) in history.ops.iter().enumerate() {
        if op.client > i64::MAX as u64 || op.call > i64::MAX as u64 {
            return Err(err(i, "client or time above i64::MAX"));
        }
        events.push((op.call, 0, i));
        match (op.status, op.ret) {
            (Status::Info, Some(_)) => {
                return Err(err(
                    i,
                    "an info operation has no return time in Jepsen's format",
                ))
            }
            (Status::Info, None) if op.output != Value::Nil => {
                return Err(err(i, "an info operation has no output in Jepsen's format"))
            }
            (Status::Info, None) => {}
            (_, None) => return Err(err(i, "an ok or fail operation needs a return time")),
            (_, Some(ret)) if ret < op.call => return Err(err(i, "it returns before its call")),
            (_, Some(ret)) if ret > i64::MAX as u64 => {
                return Err(err(i, "return time above i64::MAX"))
            }
            (_, Some(ret)) => events.push((ret, 1, i)),
        }
        if op.status == Status::Ok
            && matches!(
                op.f,
                Func::Cas | Func::Withdraw | Func::Deposit | Func::Open
            )
            && !matches!(op.output, Value::Bool(_))
        {
            return Err(err(
                i,
                "an ok cas, withdraw, deposit or open needs a boolean output",
            ));
        }
    }
    // Operations of one client must not overlap, or pairing by process would mix them up.
    check_one_at_a_time(history)?;
    events.sort_unstable();
    let mut out = String::new();
    for (time, kind, i) in events {
        let op = &history.ops[i];
        let (ty, value) = if kind == 0 {
            ("invoke", &op.input)
        } else {
            (op.status.name(), &op.output)
        };
        let _ = write!(out, "{{:process {}, :type :{ty}, :f :{}", op.client, op.f);
        if let Some(key) = &op.key {
            out.push_str(", :key ");
            let _ = write_quoted(&mut out, key);
        }
        out.push_str(", :value ");
        write_value(&mut out, op.f, value);
        let _ = writeln!(out, ", :time {time}}}");
    }
    Ok(out)
}

/// `value` as Jepsen writes it: the micro-operations of a queue operation name their
/// function with a keyword (`[:send 3 [0 7]]`, `[:poll {3 [[0 7]]}]`), as Jepsen's Kafka
/// checker reads them; everything else as its EDN text.
fn write_value(out: &mut String, f: Func, value: &Value) {
    let micros = match (f, value) {
        (Func::Send | Func::Poll | Func::Txn, Value::List(micros)) => micros,
        _ => {
            let _ = write!(out, "{value}");
            return;
        }
    };
    out.push('[');
    for (i, micro) in micros.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        match micro {
            Value::List(parts) => match parts.split_first() {
                Some((Value::Str(name), rest)) if name == "send" || name == "poll" => {
                    let _ = write!(out, "[:{name}");
                    for part in rest {
                        let _ = write!(out, " {part}");
                    }
                    out.push(']');
                }
                _ => {
                    let _ = write!(out, "{micro}");
                }
            },
            other => {
                let _ = write!(out, "{other}");
            }
        }
    }
    out.push(']');
}

/// Operations of one client may not overlap (or touch) in Jepsen's format.
/// The history as Jepsen records one: a process whose operation's outcome is unknown
/// (`info`, never returned) is retired, and its client goes on as a new process, numbered
/// past every client of the history. So does a client whose next operation starts at the
/// very time its last one returned (a simulated client invokes its next operation in the
/// handler that completes the last: Jepsen's events at one time would pair up wrongly).
/// Linearizability does not depend on process numbers, so the result checks the same, and
/// [`to_string`] accepts a simulated run's history.
pub fn with_retired_processes(history: &History) -> History {
    let mut next = history
        .ops
        .iter()
        .map(|op| op.client + 1)
        .max()
        .unwrap_or(0);
    let mut order: Vec<usize> = (0..history.ops.len()).collect();
    order.sort_by_key(|&i| (history.ops[i].client, history.ops[i].call, i));
    let mut ops = history.ops.clone();
    // The client being renumbered, the process it is now, and when that process is free.
    let mut current: Option<(u64, u64, Option<u64>)> = None;
    for i in order {
        let op = &history.ops[i];
        let process = match current {
            Some((c, p, Some(free))) if c == op.client && free < op.call => p,
            Some((c, _, _)) if c == op.client => {
                next += 1;
                next - 1
            }
            _ => op.client,
        };
        ops[i].client = process;
        current = Some((op.client, process, op.ret));
    }
    History { ops }
}

fn check_one_at_a_time(history: &History) -> Result<(), EncodeError> {
    let mut by_client: Vec<(u64, u64, usize)> = history
        .ops
        .iter()
        .enumerate()
        .map(|(i, op)| (op.client, op.call, i))
        .collect();
    by_client.sort_unstable();
    for pair in by_client.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        if a.0 != b.0 {
            continue;
        }
        match history.ops[a.2].ret {
            Some(ret) if ret < b.1 => {}
            _ => {
                return Err(EncodeError {
                    index: b.2,
                    reason: "it overlaps another operation of the same client (events are \
                             paired by process, one operation at a time)"
                        .to_string(),
                })
            }
        }
    }
    Ok(())
}

fn error(path: &str, pos: Pos, message: impl Into<String>) -> ParseError {
    ParseError::new(path, pos.line, pos.column, message)
}

/// One event map -> an [`Event`], or `None` for an event to ignore.
fn event_of(
    path: &str,
    node: Node,
    index: u64,
    timed: &mut Option<bool>,
) -> Result<Option<Event>, ParseError> {
    let pos = node.pos;
    let [process, ty, f, value, key, time] = fields_of(path, node)?;
    let Some(process) = process else {
        return Err(error(path, pos, "event map has no :process"));
    };
    let process = process_of(path, process)?;
    // Times are validated for every event, so that a file mixing both styles is refused.
    let time = time_of(path, time, pos, index, timed)?;
    if process.is_none() {
        return Ok(None);
    }
    let Some(ty) = ty else {
        return Err(error(path, pos, "event map has no :type"));
    };
    let ty = type_of(path, &ty)?;
    let Some(f) = f else {
        return Err(error(path, pos, "event map has no :f"));
    };
    let f = func_of(path, &f)?;
    let key = key.map_or(Ok(None), |k| key_of(path, k))?;
    let value = match value {
        None => Value::Nil,
        // An :info completion's value is not an output; do not refuse what is dropped.
        Some(_) if ty == EventType::Info => Value::Nil,
        Some(v) => value_of(path, v)?,
    };
    Ok(Some(Event {
        process,
        ty,
        f,
        key,
        value,
        time,
        pos,
    }))
}

/// The fields of an event map that faultline reads, each at most once: `:process`,
/// `:type`, `:f`, `:value`, `:key`, `:time` (others are ignored).
fn fields_of(path: &str, node: Node) -> Result<[Option<Node>; 6], ParseError> {
    let Form::Map(entries) = node.form else {
        return Err(error(
            path,
            node.pos,
            format!(
                "expected an event map such as {{:process 0, :type :invoke, :f :read, \
                 :value nil}}, found {}",
                node.form.describe()
            ),
        ));
    };
    let mut fields: [Option<Node>; 6] = Default::default();
    const NAMES: [&str; 6] = ["process", "type", "f", "value", "key", "time"];
    for (k, v) in entries {
        let Form::Keyword(name) = &k.form else {
            continue;
        };
        if let Some(slot) = NAMES.iter().position(|n| n == name) {
            if fields[slot].is_some() {
                return Err(error(
                    path,
                    k.pos,
                    format!("duplicate key :{name} in event map"),
                ));
            }
            fields[slot] = Some(v);
        }
    }
    Ok(fields)
}

/// A `:process`: a client's number, or `None` for a keyword such as `:nemesis`.
fn process_of(path: &str, process: Node) -> Result<Option<u64>, ParseError> {
    match process.form {
        Form::Int(p) if p >= 0 => Ok(Some(p as u64)),
        // :nemesis and friends are not clients.
        Form::Keyword(_) => Ok(None),
        other => Err(error(
            path,
            process.pos,
            format!(
                "a :process must be a non-negative integer (or a keyword such as :nemesis), found {}",
                other.describe()
            ),
        )),
    }
}

/// An event's time: its `:time`, or its index when no event has one (a file must not
/// mix both; `timed` remembers which it is).
fn time_of(
    path: &str,
    time: Option<Node>,
    pos: Pos,
    index: u64,
    timed: &mut Option<bool>,
) -> Result<u64, ParseError> {
    let Some(t) = time else {
        if *timed == Some(true) {
            return Err(error(
                path,
                pos,
                "this event has no :time but earlier ones do: either every event has a \
                 :time or none does (then the event index is the time)",
            ));
        }
        *timed = Some(false);
        return Ok(index);
    };
    if *timed == Some(false) {
        return Err(error(
            path,
            t.pos,
            "this event has a :time but earlier ones do not: either every event has \
             a :time or none does (then the event index is the time)",
        ));
    }
    *timed = Some(true);
    match t.form {
        Form::Int(t) if t >= 0 => Ok(t as u64),
        _ => Err(error(path, t.pos, ":time must be a non-negative integer")),
    }
}

/// A `:type`: invoke, ok, fail or info.
fn type_of(path: &str, ty: &Node) -> Result<EventType, ParseError> {
    match &ty.form {
        Form::Keyword(name) => EventType::from_name(name),
        _ => None,
    }
    .ok_or_else(|| {
        error(
            path,
            ty.pos,
            ":type must be one of :invoke, :ok, :fail, :info",
        )
    })
}

/// A `:key`: a string, keyword or integer, or `nil` for none.
fn key_of(path: &str, k: Node) -> Result<Option<String>, ParseError> {
    match k.form {
        Form::Nil => Ok(None),
        Form::Str(s) | Form::Keyword(s) => Ok(Some(s)),
        Form::Int(i) => Ok(Some(i.to_string())),
        other => Err(error(
            path,
            k.pos,
            format!(
                ":key must be a string, a keyword or an integer, found {}",
                other.describe()
            ),
        )),
    }
}

/// The [`Func`] named by an `:f` field.
pub(crate) fn func_of(path: &str, node: &Node) -> Result<Func, ParseError> {
    let name = match &node.form {
        Form::Keyword(name) | Form::Str(name) => Some(name.as_str()),
        _ => None,
    };
    name.and_then(Func::from_name).ok_or_else(|| {
        let allowed: Vec<String> = Func::ALL.iter().map(|f| format!(":{f}")).collect();
        error(
            path,
            node.pos,
            format!(
                "unknown function {}; :f must be one of {}",
                node.form.describe(),
                allowed.join(", ")
            ),
        )
    })
}

/// An operation value from an EDN form.
pub(crate) fn value_of(path: &str, node: Node) -> Result<Value, ParseError> {
    Ok(match node.form {
        Form::Nil => Value::Nil,
        Form::Bool(b) => Value::Bool(b),
        Form::Int(i) => Value::Int(i),
        Form::Str(s) => Value::Str(s),
        // A keyword value (`:timed-out`) is kept as its name.
        Form::Keyword(k) => Value::Str(k),
        Form::Vector(items) | Form::List(items) => {
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                out.push(value_of(path, item)?);
            }
            Value::List(out)
        }
        Form::Map(pairs) => {
            let mut out = Vec::with_capacity(pairs.len());
            for (k, v) in pairs {
                out.push((value_of(path, k)?, value_of(path, v)?));
            }
            Value::Map(out)
        }
        other => {
            return Err(error(
                path,
                node.pos,
                format!(
                    "{} cannot be an operation value; allowed are nil, true/false, integers, \
                     strings, keywords, and vectors, lists and maps of these",
                    other.describe()
                ),
            ))
        }
    })
}

/// A parsed EDN form.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Form {
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    /// Without the leading colon.
    Keyword(String),
    Symbol(String),
    Vector(Vec<Node>),
    List(Vec<Node>),
    Set(Vec<Node>),
    Map(Vec<(Node, Node)>),
    Tagged(String, Box<Node>),
}

impl Form {
    fn describe(&self) -> String {
        match self {
            Form::Nil => "nil".into(),
            Form::Bool(b) => format!("{b}"),
            Form::Int(i) => format!("the integer {i}"),
            Form::Float(x) => format!("the float {x}"),
            Form::Str(s) => format!("the string {s:?}"),
            Form::Keyword(k) => format!(":{k}"),
            Form::Symbol(s) => format!("the symbol {s}"),
            Form::Vector(_) => "a vector".into(),
            Form::List(_) => "a list".into(),
            Form::Set(_) => "a set".into(),
            Form::Map(_) => "a map".into(),
            Form::Tagged(t, _) => format!("the tagged literal #{t}"),
        }
    }
}

/// A form and where it starts.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    pub form: Form,
    pub pos: Pos,
}

/// Nesting deeper than this is refused (it would only be an attack on the stack).
const MAX_DEPTH: usize = 128;

/// A byte-level EDN reader that tracks line and column (in characters) as it goes.
pub(crate) struct Reader<'a> {
    path: &'a str,
    src: &'a [u8],
    text: &'a str,
    i: usize,
    line: usize,
    column: usize,
}

fn is_whitespace(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | b',' | 0x0b | 0x0c)
}

fn is_delimiter(b: u8) -> bool {
    is_whitespace(b) || matches!(b, b'(' | b')' | b'[' | b']' | b'{' | b'}' | b'"' | b';')
}

impl<'a> Reader<'a> {
    pub fn new(text: &'a str, path: &'a str) -> Reader<'a> {
        Reader::at(text, path, Pos { line: 1, column: 1 })
    }

    /// A reader for `text` that starts at `origin` of a larger file.
    pub fn at(text: &'a str, path: &'a str, origin: Pos) -> Reader<'a> {
        Reader {
            path,
            src: text.as_bytes(),
            text,
            i: 0,
            line: origin.line,
            column: origin.column,
        }
    }

    fn pos(&self) -> Pos {
        Pos {
            line: self.line,
            column: self.column,
        }
    }

    fn err(&self, pos: Pos, message: impl Into<String>) -> ParseError {
        error(self.path, pos, message)
    }

    fn peek(&self) -> Option<u8> {
        self.src.get(self.i).copied()
    }

    fn bump(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.i += 1;
        if b == b'\n' {
            self.line += 1;
            self.column = 1;
        } else if b & 0xC0 != 0x80 {
            // Not a UTF-8 continuation byte: a new character.
            self.column += 1;
        }
        Some(b)
    }

    fn skip_whitespace(&mut self) {
        while let Some(b) = self.peek() {
            if is_whitespace(b) {
                self.bump();
            } else if b == b';' {
                while let Some(b) = self.peek() {
                    if b == b'\n' {
                        break;
                    }
                    self.bump();
                }
            } else {
                break;
            }
        }
    }

    /// Every top-level form.
    pub fn read_all(&mut self) -> Result<Vec<Node>, ParseError> {
        let mut out = Vec::new();
        while let Some(node) = self.read_next(0)? {
            out.push(node);
        }
        match self.peek() {
            None => Ok(out),
            Some(b) => Err(self.err(
                self.pos(),
                format!("unexpected `{}`: nothing is open here", b as char),
            )),
        }
    }

    /// The next form at this level, skipping `#_` discards; `None` at the end of input or
    /// before a closing delimiter (left for the caller).
    fn read_next(&mut self, depth: usize) -> Result<Option<Node>, ParseError> {
        loop {
            self.skip_whitespace();
            match self.peek() {
                None | Some(b')' | b']' | b'}') => return Ok(None),
                Some(b'#') if self.src.get(self.i + 1) == Some(&b'_') => {
                    let pos = self.pos();
                    self.bump();
                    self.bump();
                    if self.read_next(depth)?.is_none() {
                        return Err(self.err(pos, "#_ must be followed by a form to discard"));
                    }
                }
                Some(_) => return self.read_form(depth).map(Some),
            }
        }
    }

    fn read_form(&mut self, depth: usize) -> Result<Node, ParseError> {
        let pos = self.pos();
        if depth > MAX_DEPTH {
            return Err(self.err(pos, format!("forms nested deeper than {MAX_DEPTH} levels")));
        }
        let Some(b) = self.peek() else {
            return Err(self.err(pos, "unexpected end of input: expected a form"));
        };
        let form = match b {
            b'(' => {
                self.bump();
                Form::List(self.read_seq(depth, b')', pos)?)
            }
            b'[' => {
                self.bump();
                Form::Vector(self.read_seq(depth, b']', pos)?)
            }
            b'{' => {
                self.bump();
                self.read_map(depth, pos)?
            }
            b'"' => Form::Str(self.read_string(pos)?),
            b'#' => {
                self.bump();
                self.read_dispatch(depth, pos)?
            }
            b')' | b']' | b'}' => {
                return Err(self.err(pos, format!("unexpected `{}`", b as char)));
            }
            b'\\' => {
                return Err(self.err(
                    pos,
                    "character literals are not supported; use a string instead",
                ))
            }
            _ => {
                let token = self.read_token();
                self.atom(token, pos)?
            }
        };
        Ok(Node { form, pos })
    }

    /// A map's entries, after its `{` (opened at `pos`).
    fn read_map(&mut self, depth: usize, pos: Pos) -> Result<Form, ParseError> {
        let items = self.read_seq(depth, b'}', pos)?;
        if items.len() % 2 != 0 {
            return Err(self.err(pos, "a map needs an even number of forms (key value pairs)"));
        }
        let mut entries = Vec::with_capacity(items.len() / 2);
        let mut it = items.into_iter();
        while let (Some(k), Some(v)) = (it.next(), it.next()) {
            entries.push((k, v));
        }
        Ok(Form::Map(entries))
    }

    /// What follows a `#` (at `pos`): a set or a tagged literal.
    fn read_dispatch(&mut self, depth: usize, pos: Pos) -> Result<Form, ParseError> {
        match self.peek() {
            Some(b'{') => {
                self.bump();
                Ok(Form::Set(self.read_seq(depth, b'}', pos)?))
            }
            Some(c) if !is_delimiter(c) && c != b'#' => {
                let tag = self.read_token();
                match self.read_next(depth + 1)? {
                    Some(node) => Ok(Form::Tagged(tag.to_string(), Box::new(node))),
                    None => Err(self.err(pos, format!("#{tag} must be followed by a form"))),
                }
            }
            _ => Err(self.err(
                pos,
                "unsupported dispatch `#`: allowed are #{...} sets, #_ discards \
                 and #tag literals",
            )),
        }
    }

    /// Forms up to the closing delimiter `close` of the collection opened at `open`.
    fn read_seq(&mut self, depth: usize, close: u8, open: Pos) -> Result<Vec<Node>, ParseError> {
        let mut items = Vec::new();
        loop {
            if let Some(node) = self.read_next(depth + 1)? {
                items.push(node);
                continue;
            }
            let here = self.pos();
            match self.peek() {
                Some(b) if b == close => {
                    self.bump();
                    return Ok(items);
                }
                Some(b) => {
                    return Err(self.err(
                        here,
                        format!(
                            "unexpected `{}`: expected `{}` to close the collection opened \
                             at line {} column {}",
                            b as char, close as char, open.line, open.column
                        ),
                    ))
                }
                None => {
                    return Err(self.err(
                        open,
                        format!(
                            "this collection is never closed: expected `{}` before the end \
                             of the input",
                            close as char
                        ),
                    ))
                }
            }
        }
    }

    fn read_token(&mut self) -> &'a str {
        let start = self.i;
        while let Some(b) = self.peek() {
            if is_delimiter(b) {
                break;
            }
            self.bump();
        }
        // Delimiters are ASCII, so the slice ends on a character boundary.
        self.text.get(start..self.i).unwrap_or("")
    }

    fn atom(&self, token: &str, pos: Pos) -> Result<Form, ParseError> {
        match token {
            "nil" => return Ok(Form::Nil),
            "true" => return Ok(Form::Bool(true)),
            "false" => return Ok(Form::Bool(false)),
            _ => {}
        }
        let bytes = token.as_bytes();
        if let Some(name) = token.strip_prefix(':') {
            if name.is_empty() || name.starts_with(':') {
                return Err(self.err(pos, format!("malformed keyword `{token}`")));
            }
            return Ok(Form::Keyword(name.to_string()));
        }
        let numeric = matches!(bytes, [b'0'..=b'9', ..] | [b'+' | b'-', b'0'..=b'9', ..]);
        if numeric {
            return self.number(token, pos);
        }
        Ok(Form::Symbol(token.to_string()))
    }

    fn number(&self, token: &str, pos: Pos) -> Result<Form, ParseError> {
        let int = token.strip_suffix('N').unwrap_or(token);
        let digits = int.strip_prefix(['+', '-']).unwrap_or(int);
        if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
            return int
                .parse::<i64>()
                .map(Form::Int)
                .map_err(|_| self.err(pos, format!("integer `{token}` does not fit in 64 bits")));
        }
        let float = token.strip_suffix('M').unwrap_or(token);
        let plausible = float
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.' | b'e' | b'E'));
        match float.parse::<f64>() {
            Ok(x) if plausible => Ok(Form::Float(x)),
            _ => Err(self.err(
                pos,
                format!("malformed number `{token}`: expected an integer such as 42 or -7"),
            )),
        }
    }

    fn read_string(&mut self, open: Pos) -> Result<String, ParseError> {
        self.bump(); // the opening quote
        let mut out = String::new();
        loop {
            let start = self.i;
            // Copy runs of plain characters at once.
            while let Some(b) = self.peek() {
                if b == b'"' || b == b'\\' {
                    break;
                }
                self.bump();
            }
            out.push_str(self.text.get(start..self.i).unwrap_or(""));
            let here = self.pos();
            match self.bump() {
                None => {
                    return Err(self.err(
                        open,
                        "this string is never closed: expected `\"` before the end of the input",
                    ))
                }
                Some(b'"') => return Ok(out),
                Some(_) => {
                    // A backslash.
                    let c = match self.bump() {
                        Some(b'"') => '"',
                        Some(b'\\') => '\\',
                        Some(b'n') => '\n',
                        Some(b't') => '\t',
                        Some(b'r') => '\r',
                        Some(b'b') => '\u{8}',
                        Some(b'f') => '\u{c}',
                        Some(b'u') => self.read_unicode_escape(here)?,
                        _ => {
                            return Err(self.err(
                                here,
                                "unknown escape in string: allowed are \\\" \\\\ \\n \\t \\r \
                                 \\b \\f and \\uXXXX",
                            ))
                        }
                    };
                    out.push(c);
                }
            }
        }
    }

    fn read_unicode_escape(&mut self, at: Pos) -> Result<char, ParseError> {
        let mut code = 0u32;
        for _ in 0..4 {
            let digit = self.peek().and_then(|b| (b as char).to_digit(16));
            match digit {
                Some(d) => {
                    self.bump();
                    code = code * 16 + d;
                }
                None => return Err(self.err(at, "\\u must be followed by four hexadecimal digits")),
            }
        }
        char::from_u32(code).ok_or_else(|| {
            self.err(
                at,
                format!("\\u{code:04x} is not a character (a lone surrogate)"),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Result<Vec<Node>, ParseError> {
        Reader::new(text, "t").read_all()
    }

    #[test]
    fn reads_scalars_and_collections() {
        let forms =
            read("nil true -3 +4 5N \"a\\nb\\u0041\" :k/x sym [1 (2) #{3}] {:a 1}").unwrap();
        let kinds: Vec<&Form> = forms.iter().map(|n| &n.form).collect();
        assert_eq!(kinds[0], &Form::Nil);
        assert_eq!(kinds[1], &Form::Bool(true));
        assert_eq!(kinds[2], &Form::Int(-3));
        assert_eq!(kinds[3], &Form::Int(4));
        assert_eq!(kinds[4], &Form::Int(5));
        assert_eq!(kinds[5], &Form::Str("a\nbA".into()));
        assert_eq!(kinds[6], &Form::Keyword("k/x".into()));
        assert_eq!(kinds[7], &Form::Symbol("sym".into()));
        assert!(matches!(kinds[8], Form::Vector(v) if v.len() == 3));
        assert!(matches!(kinds[9], Form::Map(m) if m.len() == 1));
    }

    #[test]
    fn comments_commas_and_discards_are_whitespace() {
        let forms = read("; c\n1,,2 #_ 3 #_[4 5] 6 ; end").unwrap();
        let ints: Vec<&Form> = forms.iter().map(|n| &n.form).collect();
        assert_eq!(ints, vec![&Form::Int(1), &Form::Int(2), &Form::Int(6)]);
    }

    #[test]
    fn positions_count_characters() {
        let forms = read("\n  é :x").unwrap();
        assert_eq!(forms[1].pos, Pos { line: 2, column: 5 });
    }

    #[test]
    fn errors_point_at_the_problem() {
        let e = read("[1 2").unwrap_err();
        assert_eq!((e.line, e.column), (1, 1));
        let e = read("{:a 1\n :b}").unwrap_err();
        assert_eq!((e.line, e.column), (1, 1));
        let e = read("[1 2}").unwrap_err();
        assert_eq!((e.line, e.column), (1, 5));
        let e = read("\"abc").unwrap_err();
        assert_eq!((e.line, e.column), (1, 1));
        let e = read("  99999999999999999999").unwrap_err();
        assert_eq!((e.line, e.column), (1, 3));
        let e = read("1.2.3").unwrap_err();
        assert!(e.message.contains("malformed number"));
        let deep = "[".repeat(1000);
        assert!(read(&deep).is_err());
    }
}
