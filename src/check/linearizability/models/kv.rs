//! A key-value store of strings with get, put and append, partitioned by key.

use super::require_key;
use crate::check::linearizability::Model;
use crate::history::{Func, Operation, Value};

/// A key-value operation as the [`Kv`] model sees it (for the operation's own key).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum KvOp {
    /// A get that returned this string; `None` when its result is unknown.
    Get(Option<String>),
    /// Replace the value.
    Put(String),
    /// Append to the value.
    Append(String),
}

/// A key-value store: `get` returns the key's string (`""` if never written; a `nil`
/// output is read as `""` too, as many clients report a missing key that way), `put`
/// replaces it, `append` concatenates. Keys are independent, so the model partitions by
/// key and its state is one key's string.
#[derive(Debug, Clone, Copy, Default)]
pub struct Kv;

impl Model for Kv {
    type State = String;
    type Op = KvOp;

    fn name(&self) -> &str {
        "kv"
    }

    fn init(&self) -> String {
        String::new()
    }

    fn prepare(&self, op: &Operation) -> Result<KvOp, String> {
        require_key("kv", op)?;
        let text = |what: &str| match &op.input {
            Value::Str(s) => Ok(s.clone()),
            other => Err(format!("{what}'s input is a string, not {other}")),
        };
        match op.f {
            Func::Get => match op.known_output() {
                None => Ok(KvOp::Get(None)),
                Some(Value::Str(s)) => Ok(KvOp::Get(Some(s.clone()))),
                Some(Value::Nil) => Ok(KvOp::Get(Some(String::new()))),
                Some(other) => Err(format!("a get returns a string, not {other}")),
            },
            Func::Put => text("a put").map(KvOp::Put),
            Func::Append => text("an append").map(KvOp::Append),
            f => Err(format!("the kv model accepts get, put and append, not {f}")),
        }
    }

    fn partition_key<'a>(&self, op: &'a Operation) -> Option<&'a str> {
        op.key.as_deref()
    }

    fn step(&self, state: &String, op: &KvOp) -> Option<String> {
        match op {
            KvOp::Get(None) => Some(state.clone()),
            KvOp::Get(Some(v)) => (state == v).then(|| state.clone()),
            KvOp::Put(v) => Some(v.clone()),
            KvOp::Append(v) => {
                let mut next = String::with_capacity(state.len() + v.len());
                next.push_str(state);
                next.push_str(v);
                Some(next)
            }
        }
    }

    fn is_read_only(&self, op: &KvOp) -> bool {
        matches!(op, KvOp::Get(_))
    }

    fn can_become_possible<'a>(
        &self,
        state: &String,
        op: &KvOp,
        mut later: impl Iterator<Item = &'a KvOp>,
    ) -> bool {
        // Appends only extend the value, so a get of `v` stays possible only while the
        // value is a prefix of `v`, or if a put of a prefix of `v` may still come.
        match op {
            KvOp::Get(Some(v)) => {
                v.starts_with(state.as_str())
                    || later.any(|o| matches!(o, KvOp::Put(p) if v.starts_with(p.as_str())))
            }
            _ => true,
        }
    }

    fn describe_state(&self, state: &String) -> String {
        format!("{state:?}")
    }
}
