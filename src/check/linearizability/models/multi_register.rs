//! Registers addressed by key, read and written in transactions (Knossos's
//! `multi-register`).
//!
//! Every operation is a `txn` whose value is a list of micro-operations, `[:read k v]` and
//! `[:write k v]`, applied in order and atomically: a read sees the value the last write to
//! `k` left (before this transaction or inside it). As in Knossos, a read of `nil` is a read
//! whose value is not known — an invocation's reads, or those of a transaction that never
//! returned — and matches any value, so a register never written cannot be told apart from
//! an unknown read. Values are integers; keys are keywords, strings or integers. A
//! transaction may touch several keys, so the history is one partition.

use std::collections::BTreeMap;

use crate::check::linearizability::Model;
use crate::history::{Func, Operation, Value};

/// One micro-operation of a transaction.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Micro {
    /// A read of a key that saw this value (`None`: not known, matches anything).
    Read(String, Option<i64>),
    /// A write of a key.
    Write(String, i64),
}

/// A transaction as the model sees it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MultiRegisterOp(pub Vec<Micro>);

/// Integer registers by key, read and written in transactions.
#[derive(Debug, Clone, Copy, Default)]
pub struct MultiRegister;

fn key_of(v: &Value) -> Option<String> {
    match v {
        Value::Str(s) => Some(s.clone()),
        Value::Int(i) => Some(i.to_string()),
        _ => None,
    }
}

fn micro(v: &Value) -> Result<Micro, String> {
    let shape = || format!("a micro-operation is [:read k v] or [:write k v], not {v}");
    let Value::List(items) = v else {
        return Err(shape());
    };
    let [Value::Str(f), k, value] = items.as_slice() else {
        return Err(shape());
    };
    let key = key_of(k).ok_or_else(shape)?;
    match (f.as_str(), value) {
        ("read", Value::Nil) => Ok(Micro::Read(key, None)),
        ("read", Value::Int(x)) => Ok(Micro::Read(key, Some(*x))),
        ("write", Value::Int(x)) => Ok(Micro::Write(key, *x)),
        _ => Err(shape()),
    }
}

fn transaction(v: &Value) -> Result<MultiRegisterOp, String> {
    match v {
        Value::List(ops) => ops
            .iter()
            .map(micro)
            .collect::<Result<_, _>>()
            .map(MultiRegisterOp),
        other => Err(format!(
            "a txn's value is a list of micro-operations, not {other}"
        )),
    }
}

impl Model for MultiRegister {
    /// Each written key's value.
    type State = BTreeMap<String, i64>;
    type Op = MultiRegisterOp;

    fn name(&self) -> &str {
        "multi-register"
    }

    fn init(&self) -> Self::State {
        BTreeMap::new()
    }

    fn prepare(&self, op: &Operation) -> Result<MultiRegisterOp, String> {
        if op.f != Func::Txn {
            return Err(format!(
                "the multi-register model accepts txn, not {}",
                op.f
            ));
        }
        let invoked = transaction(&op.input)?;
        let Some(out) = op.known_output() else {
            return Ok(invoked);
        };
        let done = transaction(out)?;
        // The completion fills in the reads; it must be the transaction that was invoked.
        let same_shape = invoked.0.len() == done.0.len()
            && invoked.0.iter().zip(&done.0).all(|pair| match pair {
                (Micro::Read(a, _), Micro::Read(b, _)) => a == b,
                (Micro::Write(a, x), Micro::Write(b, y)) => a == b && x == y,
                _ => false,
            });
        if !same_shape {
            return Err(format!(
                "a txn completes the transaction it invoked: {} then {out}",
                op.input
            ));
        }
        Ok(done)
    }

    fn step(&self, state: &Self::State, op: &MultiRegisterOp) -> Option<Self::State> {
        let mut next: Option<Self::State> = None;
        for m in &op.0 {
            let now = next.as_ref().unwrap_or(state);
            match m {
                Micro::Read(k, Some(v)) if now.get(k) != Some(v) => return None,
                Micro::Read(..) => {}
                Micro::Write(k, v) => {
                    next.get_or_insert_with(|| state.clone())
                        .insert(k.clone(), *v);
                }
            }
        }
        Some(next.unwrap_or_else(|| state.clone()))
    }

    fn is_read_only(&self, op: &MultiRegisterOp) -> bool {
        op.0.iter().all(|m| matches!(m, Micro::Read(..)))
    }

    fn describe_state(&self, state: &Self::State) -> String {
        let parts: Vec<String> = state.iter().map(|(k, v)| format!("{k} {v}")).collect();
        format!("{{{}}}", parts.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(pairs: &[(&str, i64)]) -> BTreeMap<String, i64> {
        pairs.iter().map(|&(k, v)| (k.to_string(), v)).collect()
    }

    #[test]
    fn reads_see_earlier_writes_of_the_same_transaction_and_nil_reads_match_anything() {
        let m = MultiRegister;
        let txn = MultiRegisterOp(vec![
            Micro::Write("x".into(), 1),
            Micro::Read("x".into(), Some(1)),
            Micro::Read("y".into(), None),
        ]);
        assert_eq!(m.step(&state(&[]), &txn), Some(state(&[("x", 1)])));
        let stale = MultiRegisterOp(vec![Micro::Read("x".into(), Some(2))]);
        assert_eq!(m.step(&state(&[("x", 1)]), &stale), None);
        assert!(m.is_read_only(&stale));
        assert!(!m.is_read_only(&txn));
    }
}
