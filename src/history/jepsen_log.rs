//! The old Jepsen log format of the etcd register histories.
//!
//! Early Jepsen versions logged every event as a line such as
//!
//! ```text
//! INFO  jepsen.util - 3 :invoke :cas [1 4]
//! INFO  jepsen.util - 3 :fail :cas [1 4]
//! ```
//!
//! i.e. `<process> <type> <f> <value>` after `jepsen.util - `, separated by tabs or runs of
//! spaces (the value, being EDN, may contain spaces: `[1 4]`). Lines without
//! `jepsen.util - ` are other log output and are skipped. There are no timestamps: the
//! order of the lines is the real-time order, and an event's index is its time.
//!
//! The etcd corpus (Porcupine's `test_data/jepsen`) gives two completions a meaning that
//! differs from later Jepsen, and this importer follows the corpus:
//!
//! * `:fail :cas [a b]` — the CAS **executed** and its comparison failed: an `ok` `cas`
//!   with output `false`;
//! * `:fail :read :timed-out` — a read whose result nobody saw: an `info` read;
//! * `:info` — indeterminate (may or may not have happened), like an invocation that never
//!   completes; any other `:fail` means the operation did not happen.
//!
//! A process that is not an integer (`:nemesis`) is not a client; its lines are ignored.

use super::edn::{func_of, value_of, Form, Node, Reader};
use super::events::{Dialect, Event, EventType, Pairing, Pos};
use super::text::column_of;
use super::{History, ParseError, Value};

/// The marker that starts the event on a line.
pub(crate) const MARKER: &str = "jepsen.util - ";

/// Read a Jepsen log. `path` only names the file in errors.
pub fn parse(text: &str, path: &str) -> Result<History, ParseError> {
    let mut pairing = Pairing::new(path, Dialect::EtcdLog);
    let mut index = 0u64;
    for (n, raw) in text.split('\n').enumerate() {
        let line_no = n + 1;
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        let Some(at) = line.find(MARKER) else {
            continue;
        };
        let start = at + MARKER.len();
        let fields = split_fields(line, start);
        let pos_of = |byte: usize| Pos {
            line: line_no,
            column: column_of(line, byte),
        };
        let err = |byte: usize, message: String| {
            let pos = pos_of(byte);
            ParseError::new(path, pos.line, pos.column, message)
        };
        let [Some(process), Some(ty), Some(f)] = [fields.first(), fields.get(1), fields.get(2)]
        else {
            return Err(err(
                line.len(),
                format!(
                    "expected `<process> <type> <f> <value>` after `{MARKER}`, e.g. \
                     `3 :invoke :read nil`"
                ),
            ));
        };
        let time = index;
        index += 1;

        let (p_start, p_text) = *process;
        let process = if let Ok(p) = p_text.parse::<u64>() {
            Some(p)
        } else if p_text.starts_with(':') {
            None
        } else {
            return Err(err(
                p_start,
                format!(
                    "expected a process id (a non-negative integer) or a keyword such as \
                     :nemesis, found `{p_text}`"
                ),
            ));
        };
        if process.is_none() {
            continue;
        }
        let (t_start, t_text) = *ty;
        let ty = t_text
            .strip_prefix(':')
            .and_then(EventType::from_name)
            .ok_or_else(|| {
                err(
                    t_start,
                    format!("expected :invoke, :ok, :fail or :info, found `{t_text}`"),
                )
            })?;
        let (f_start, f_text) = *f;
        let f_node = Node {
            form: match f_text.strip_prefix(':') {
                Some(name) => Form::Keyword(name.to_string()),
                None => Form::Symbol(f_text.to_string()),
            },
            pos: pos_of(f_start),
        };
        let f = func_of(path, &f_node)?;
        let value = match fields.get(3) {
            None => Value::Nil,
            Some(&(v_start, _)) => {
                let rest = line.get(v_start..).unwrap_or("").trim_end();
                let mut reader = Reader::at(rest, path, pos_of(v_start));
                let mut forms = reader.read_all()?;
                if forms.len() > 1 {
                    let extra = &forms[1];
                    return Err(ParseError::new(
                        path,
                        extra.pos.line,
                        extra.pos.column,
                        "expected one value after the function, found more",
                    ));
                }
                match forms.pop() {
                    None => Value::Nil,
                    Some(_) if ty == EventType::Info => Value::Nil,
                    Some(node) => value_of(path, node)?,
                }
            }
        };
        pairing.push(Event {
            process,
            ty,
            f,
            key: None,
            value,
            time,
            pos: pos_of(start),
        })?;
    }
    Ok(pairing.finish())
}

/// Whitespace-separated fields of `line` from byte `start`, with their byte offsets.
fn split_fields(line: &str, start: usize) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let rest = line.get(start..).unwrap_or("");
    let mut field_start: Option<usize> = None;
    for (i, c) in rest.char_indices() {
        if c.is_whitespace() {
            if let Some(s) = field_start.take() {
                out.push((start + s, &rest[s..i]));
            }
        } else if field_start.is_none() {
            field_start = Some(i);
        }
    }
    if let Some(s) = field_start {
        out.push((start + s, &rest[s..]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{Func, Status};

    #[test]
    fn reads_the_corpus_semantics() {
        let text = "INFO  jepsen.util - 0\t:invoke\t:cas\t[1 2]\n\
                    some other line\n\
                    INFO  jepsen.util - 1   :invoke :read   nil\n\
                    INFO  jepsen.util - 0\t:fail\t:cas\t[1 2]\n\
                    INFO  jepsen.util - 1   :fail :read   :timed-out\n\
                    INFO  jepsen.util - 2   :invoke :write   3\n\
                    INFO  jepsen.util - :nemesis :info :start nil\n";
        let h = parse(text, "t.log").unwrap();
        assert_eq!(h.ops.len(), 3);
        let cas = &h.ops[0];
        assert_eq!(
            (cas.f, cas.status, cas.call, cas.ret),
            (Func::Cas, Status::Ok, 0, Some(2))
        );
        assert_eq!(cas.input, Value::List(vec![Value::Int(1), Value::Int(2)]));
        assert_eq!(cas.output, Value::Bool(false));
        assert_eq!((h.ops[1].status, h.ops[1].ret), (Status::Info, None));
        assert_eq!(
            (h.ops[2].status, h.ops[2].input.clone()),
            (Status::Info, Value::Int(3))
        );
    }

    #[test]
    fn errors_have_positions() {
        let e = parse("INFO  jepsen.util - 0 :invoke :frob nil\n", "t").unwrap_err();
        assert_eq!((e.line, e.column), (1, 31));
        let e = parse("x\nINFO  jepsen.util - 0 :invoke :read [1\n", "t").unwrap_err();
        assert_eq!((e.line, e.column), (2, 37));
        let e = parse("INFO  jepsen.util - zero :invoke :read nil\n", "t").unwrap_err();
        assert_eq!((e.line, e.column), (1, 21));
    }
}
