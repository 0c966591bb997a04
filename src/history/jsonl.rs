//! JSON lines with Porcupine's field names: faultline's own, lossless history format.
//!
//! One operation per line, in history order:
//!
//! ```text
//! {"ClientId":0,"Input":{"f":"cas","key":"x","value":[1,2]},"Call":10,"Output":{"status":"ok","value":true},"Return":25}
//! {"ClientId":1,"Input":{"f":"write","value":3},"Call":12,"Output":{"status":"info","value":null},"Return":null}
//! ```
//!
//! * `ClientId` — the client, a non-negative integer;
//! * `Input` — `f` (the function's name, see [`Func::name`]), `key` (a string; omitted
//!   or `null` when the operation has none) and `value` (the input);
//! * `Call` / `Return` — invocation and completion times, non-negative integers;
//!   `Return` is `null` (or omitted) for an operation that never returned;
//! * `Output` — `status` (`"ok"`, `"fail"` or `"info"`) and `value` (the output).
//!
//! Values are JSON `null`, booleans, integers (64-bit signed), strings and arrays of
//! values; floats and objects are refused. Blank lines are skipped; unknown fields are
//! refused (a typo should not silently lose data). [`to_string`] then [`parse`] gives back
//! exactly the same [`History`].

use super::text::column_of;
use super::{Func, History, Operation, ParseError, Status, Value};
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Read a JSON-lines history. `path` only names the file in errors.
pub fn parse(text: &str, path: &str) -> Result<History, ParseError> {
    let mut ops = Vec::new();
    let mut lines = Vec::new();
    for (n, raw) in text.split('\n').enumerate() {
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if line.trim().is_empty() {
            continue;
        }
        let parsed: JsonOp = serde_json::from_str(line).map_err(|e| {
            // serde_json counts columns in bytes from 1 and appends the position to its
            // message; report the column in characters and keep the message clean.
            let column = if e.classify() == serde_json::error::Category::Eof {
                column_of(line, line.len())
            } else {
                column_of(line, token_start(line, e.column().saturating_sub(1)))
            };
            let message = e.to_string();
            let message = match message.rsplit_once(" at line ") {
                Some((m, _)) => m.to_string(),
                None => message,
            };
            ParseError::new(
                path,
                n + 1,
                column,
                format!(
                    "{message}; each line is {{\"ClientId\":<int>,\"Input\":{{\"f\":<name>,\
                     \"key\":<string>,\"value\":<value>}},\"Call\":<int>,\"Output\":\
                     {{\"status\":\"ok\"|\"fail\"|\"info\",\"value\":<value>}},\
                     \"Return\":<int>|null}}"
                ),
            )
        })?;
        ops.push(Operation {
            client: parsed.client,
            call: parsed.call,
            ret: parsed.ret,
            status: parsed.output.status,
            f: parsed.input.f,
            key: parsed.input.key,
            input: parsed.input.value.0,
            output: parsed.output.value.0,
        });
        lines.push(n + 1);
    }
    check_one_at_a_time(&ops, &lines, path)?;
    Ok(History { ops })
}

/// A client runs one operation at a time: an operation may not begin while an earlier
/// one of the same client that completed (`ok`, `fail`) is still running. Two entries of
/// one operation that touches several objects (a transfer: the same `Call` and `Return`)
/// are one operation; an `info` operation (the client gave up on it) no longer holds the
/// client. This is the rule Jepsen's EDN histories follow by construction (events are
/// paired by process), so both readers accept the same histories.
fn check_one_at_a_time(ops: &[Operation], lines: &[usize], path: &str) -> Result<(), ParseError> {
    let mut order: Vec<usize> = (0..ops.len()).collect();
    order.sort_by_key(|&i| (ops[i].client, ops[i].call, i));
    for pair in order.windows(2) {
        let (a, b) = (&ops[pair[0]], &ops[pair[1]]);
        if a.client != b.client || a.status == Status::Info {
            continue;
        }
        let same_operation = a.call == b.call && a.ret == b.ret;
        if let Some(ret) = a.ret {
            if b.call < ret && !same_operation {
                return Err(ParseError::new(
                    path,
                    lines[pair[1]],
                    1,
                    format!(
                        "client {} begins this operation at {} while its operation on line {} \
                         (called at {}, returned at {ret}) is still running: a client runs one \
                         operation at a time",
                        b.client, b.call, lines[pair[0]], a.call
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// serde_json reports the last byte of the offending token; point at its first byte
/// instead (the opening quote of a string, the first character of a number).
fn token_start(line: &str, at: usize) -> usize {
    let bytes = line.as_bytes();
    let Some(&b) = bytes.get(at) else {
        return at;
    };
    if b == b'"' {
        let mut i = at;
        while i > 0 {
            i -= 1;
            if bytes[i] == b'"' && (i == 0 || bytes[i - 1] != b'\\') {
                return i;
            }
        }
        return at;
    }
    let numeric = |b: u8| b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.' | b'e' | b'E');
    if numeric(b) {
        let mut i = at;
        while i > 0 && numeric(bytes[i - 1]) {
            i -= 1;
        }
        return i;
    }
    at
}

/// Write a history as JSON lines to `out`, one operation per line, in history order.
pub fn write(history: &History, out: &mut impl std::io::Write) -> std::io::Result<()> {
    out.write_all(to_string(history).as_bytes())
}

/// Write a history as JSON lines, one operation per line, in history order.
pub fn to_string(history: &History) -> String {
    let mut out = String::new();
    for op in &history.ops {
        let line = OutOp {
            client: op.client,
            input: OutInput {
                f: op.f,
                key: op.key.as_deref(),
                value: &op.input,
            },
            call: op.call,
            output: OutOutput {
                status: op.status,
                value: &op.output,
            },
            ret: op.ret,
        };
        // Serializing these plain structs cannot fail (no maps with non-string keys, no
        // custom serializers); fall back to an empty object rather than panic.
        out.push_str(&serde_json::to_string(&line).unwrap_or_else(|_| "{}".to_string()));
        out.push('\n');
    }
    out
}

#[derive(Serialize)]
struct OutOp<'a> {
    #[serde(rename = "ClientId")]
    client: u64,
    #[serde(rename = "Input")]
    input: OutInput<'a>,
    #[serde(rename = "Call")]
    call: u64,
    #[serde(rename = "Output")]
    output: OutOutput<'a>,
    #[serde(rename = "Return")]
    ret: Option<u64>,
}

#[derive(Serialize)]
struct OutInput<'a> {
    f: Func,
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<&'a str>,
    value: &'a Value,
}

#[derive(Serialize)]
struct OutOutput<'a> {
    status: Status,
    value: &'a Value,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonOp {
    #[serde(rename = "ClientId")]
    client: u64,
    #[serde(rename = "Input")]
    input: JsonInput,
    #[serde(rename = "Call")]
    call: u64,
    #[serde(rename = "Output")]
    output: JsonOutput,
    #[serde(rename = "Return", default)]
    ret: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonInput {
    f: Func,
    #[serde(default)]
    key: Option<String>,
    value: JsonValue,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonOutput {
    status: Status,
    value: JsonValue,
}

/// A [`Value`] read with precise errors (an untagged enum would only say "did not match").
struct JsonValue(Value);

impl<'de> Deserialize<'de> for JsonValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<JsonValue, D::Error> {
        d.deserialize_any(ValueVisitor).map(JsonValue)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("null, a boolean, an integer, a string, an array or an object of values")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Nil)
    }

    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Nil)
    }

    fn visit_bool<E: de::Error>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }

    fn visit_i64<E: de::Error>(self, i: i64) -> Result<Value, E> {
        Ok(Value::Int(i))
    }

    fn visit_u64<E: de::Error>(self, u: u64) -> Result<Value, E> {
        i64::try_from(u)
            .map(Value::Int)
            .map_err(|_| E::custom(format!("integer {u} does not fit in 64 signed bits")))
    }

    fn visit_f64<E: de::Error>(self, x: f64) -> Result<Value, E> {
        Err(E::custom(format!(
            "the number {x} is not an integer; values are null, booleans, integers, strings \
             and arrays"
        )))
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Value, E> {
        Ok(Value::Str(s.to_string()))
    }

    fn visit_string<E: de::Error>(self, s: String) -> Result<Value, E> {
        Ok(Value::Str(s))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(JsonValue(v)) = seq.next_element()? {
            items.push(v);
        }
        Ok(Value::List(items))
    }

    /// An object is a map; keys that read as integers are integers (JSON keys are text).
    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut pairs = Vec::new();
        while let Some((key, JsonValue(value))) = map.next_entry::<String, JsonValue>()? {
            let key = key.parse::<i64>().map_or(Value::Str(key), Value::Int);
            pairs.push((key, value));
        }
        Ok(Value::Map(pairs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_it_writes() {
        let line = r#"{"ClientId":2,"Input":{"f":"cas","key":"x","value":[1,2]},"Call":10,"Output":{"status":"ok","value":true},"Return":25}"#;
        let h = parse(&format!("{line}\n\n"), "t").unwrap();
        assert_eq!(
            h.ops[0].input,
            Value::List(vec![Value::Int(1), Value::Int(2)])
        );
        assert_eq!(to_string(&h), format!("{line}\n"));
    }

    #[test]
    fn errors_have_positions() {
        let good = r#"{"ClientId":0,"Input":{"f":"read","value":null},"Call":0,"Output":{"status":"ok","value":1},"Return":1}"#;
        let bad = r#"{"ClientId":0,"Input":{"f":"frob","value":null},"Call":0,"Output":{"status":"ok","value":1},"Return":1}"#;
        let e = parse(&format!("{good}\n{bad}\n"), "h.jsonl").unwrap_err();
        assert_eq!((e.line, e.column), (2, 28));
        assert!(e.message.contains("frob"), "{}", e.message);
        let e = parse(r#"{"ClientId":-1}"#, "h").unwrap_err();
        assert_eq!((e.line, e.column), (1, 13));
        let e = parse(&good.replace("\"value\":1", "\"value\":1.5"), "h").unwrap_err();
        assert!(e.message.contains("not an integer"), "{}", e.message);
        let e = parse("{\"ClientId\":", "h").unwrap_err();
        assert_eq!((e.line, e.column), (1, 13));
    }
}
