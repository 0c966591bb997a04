//! Read/write registers, with or without compare-and-set.

use crate::check::linearizability::Model;
use crate::history::{Func, Operation, Value};

/// A register operation as the register models see it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RegisterOp {
    /// A read that returned this value (`None`: the register was never written).
    Read(Option<i64>),
    /// A read whose result is unknown: always possible, changes nothing.
    ReadAny,
    /// A write.
    Write(i64),
    /// A compare-and-set from `expected` (`None` matches a never-written register) to
    /// `new`; `swapped` is its output, `None` when unknown.
    Cas {
        /// The value it compares with.
        expected: Option<i64>,
        /// The value it writes when the comparison holds.
        new: i64,
        /// Whether it reported swapping.
        swapped: Option<bool>,
    },
}

/// A read/write register: `read` returns the last value written (`nil` before any write).
#[derive(Debug, Clone, Copy, Default)]
pub struct Register;

/// A register with compare-and-set: `cas [expected new]` writes `new` iff the value is
/// `expected`, and returns whether it did.
#[derive(Debug, Clone, Copy, Default)]
pub struct CasRegister;

fn int_or_nil(v: &Value) -> Option<Option<i64>> {
    match v {
        Value::Nil => Some(None),
        Value::Int(i) => Some(Some(*i)),
        _ => None,
    }
}

fn prepare(op: &Operation, cas: bool) -> Result<RegisterOp, String> {
    match op.f {
        Func::Read => match op.known_output() {
            None => Ok(RegisterOp::ReadAny),
            Some(out) => int_or_nil(out)
                .map(RegisterOp::Read)
                .ok_or_else(|| format!("a read returns an integer or nil, not {out}")),
        },
        Func::Write => match op.input {
            Value::Int(v) => Ok(RegisterOp::Write(v)),
            ref other => Err(format!("a write's input is an integer, not {other}")),
        },
        Func::Cas if cas => {
            let (expected, new) = match &op.input {
                Value::List(items) => match items.as_slice() {
                    [e, Value::Int(n)] => match int_or_nil(e) {
                        Some(e) => (e, *n),
                        None => return Err(cas_input_error(&op.input)),
                    },
                    _ => return Err(cas_input_error(&op.input)),
                },
                _ => return Err(cas_input_error(&op.input)),
            };
            let swapped = match op.known_output() {
                None => None,
                Some(Value::Bool(b)) => Some(*b),
                Some(out) => {
                    return Err(format!(
                        "a cas returns true (swapped) or false (did not), not {out}"
                    ))
                }
            };
            Ok(RegisterOp::Cas {
                expected,
                new,
                swapped,
            })
        }
        f => Err(if cas {
            format!("the cas-register model accepts read, write and cas, not {f}")
        } else {
            format!("the register model accepts read and write, not {f}")
        }),
    }
}

fn cas_input_error(input: &Value) -> String {
    format!(
        "a cas's input is [expected new] (expected an integer or nil, new an integer), not {input}"
    )
}

fn step(state: &Option<i64>, op: &RegisterOp) -> Option<Option<i64>> {
    match *op {
        RegisterOp::Read(v) => (*state == v).then_some(*state),
        RegisterOp::ReadAny => Some(*state),
        RegisterOp::Write(v) => Some(Some(v)),
        RegisterOp::Cas {
            expected,
            new,
            swapped,
        } => match swapped {
            Some(true) => (*state == expected).then_some(Some(new)),
            Some(false) => (*state != expected).then_some(*state),
            None if *state == expected => Some(Some(new)),
            None => Some(*state),
        },
    }
}

fn is_read_only(op: &RegisterOp) -> bool {
    matches!(
        op,
        RegisterOp::Read(_)
            | RegisterOp::ReadAny
            | RegisterOp::Cas {
                swapped: Some(false),
                ..
            }
    )
}

/// Whether `op` may write `v` when it takes effect.
fn may_write(op: &RegisterOp, v: Option<i64>) -> bool {
    match *op {
        RegisterOp::Write(w) => Some(w) == v,
        RegisterOp::Cas { new, swapped, .. } => swapped != Some(false) && Some(new) == v,
        RegisterOp::Read(_) | RegisterOp::ReadAny => false,
    }
}

/// Whether `op` may write something other than `v`.
fn may_write_other(op: &RegisterOp, v: Option<i64>) -> bool {
    match *op {
        RegisterOp::Write(w) => Some(w) != v,
        RegisterOp::Cas { new, swapped, .. } => swapped != Some(false) && Some(new) != v,
        RegisterOp::Read(_) | RegisterOp::ReadAny => false,
    }
}

fn can_become_possible<'a>(
    op: &RegisterOp,
    mut later: impl Iterator<Item = &'a RegisterOp>,
) -> bool {
    // The register only changes through writes and successful CASes, so an impossible
    // read (or CAS) needs one of them to put the right value there.
    match *op {
        RegisterOp::Read(v) => later.any(|o| may_write(o, v)),
        RegisterOp::Cas {
            expected,
            swapped: Some(true),
            ..
        } => later.any(|o| may_write(o, expected)),
        RegisterOp::Cas {
            expected,
            swapped: Some(false),
            ..
        } => later.any(|o| may_write_other(o, expected)),
        _ => true,
    }
}

fn describe(state: &Option<i64>) -> String {
    match state {
        None => "nil (never written)".to_string(),
        Some(v) => v.to_string(),
    }
}

macro_rules! register_model {
    ($ty:ty, $name:literal, $cas:literal) => {
        impl Model for $ty {
            type State = Option<i64>;
            type Op = RegisterOp;

            fn name(&self) -> &str {
                $name
            }

            fn init(&self) -> Option<i64> {
                None
            }

            fn prepare(&self, op: &Operation) -> Result<RegisterOp, String> {
                prepare(op, $cas)
            }

            fn partition_key<'a>(&self, op: &'a Operation) -> Option<&'a str> {
                op.key.as_deref()
            }

            fn step(&self, state: &Option<i64>, op: &RegisterOp) -> Option<Option<i64>> {
                step(state, op)
            }

            fn is_read_only(&self, op: &RegisterOp) -> bool {
                is_read_only(op)
            }

            fn can_become_possible<'a>(
                &self,
                _state: &Option<i64>,
                op: &RegisterOp,
                later: impl Iterator<Item = &'a RegisterOp>,
            ) -> bool {
                can_become_possible(op, later)
            }

            fn describe_state(&self, state: &Option<i64>) -> String {
                describe(state)
            }
        }
    };
}

register_model!(Register, "register", false);
register_model!(CasRegister, "cas-register", true);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Status;

    fn op(f: Func, input: Value, status: Status, output: Value) -> Operation {
        Operation {
            client: 0,
            call: 0,
            ret: Some(1),
            status,
            f,
            key: None,
            input,
            output,
        }
    }

    #[test]
    fn cas_semantics() {
        let m = CasRegister;
        let cas = |out: Status, b: Value| {
            m.prepare(&op(
                Func::Cas,
                Value::List(vec![Value::Int(1), Value::Int(2)]),
                out,
                b,
            ))
            .unwrap()
        };
        let ok = cas(Status::Ok, Value::Bool(true));
        let no = cas(Status::Ok, Value::Bool(false));
        let unknown = cas(Status::Info, Value::Nil);
        assert_eq!(m.step(&Some(1), &ok), Some(Some(2)));
        assert_eq!(m.step(&Some(3), &ok), None);
        assert_eq!(m.step(&Some(3), &no), Some(Some(3)));
        assert_eq!(m.step(&Some(1), &no), None);
        assert_eq!(m.step(&None, &no), Some(None));
        assert_eq!(m.step(&Some(1), &unknown), Some(Some(2)));
        assert_eq!(m.step(&Some(0), &unknown), Some(Some(0)));
        assert!(m.is_read_only(&no) && !m.is_read_only(&ok));
    }

    #[test]
    fn refusals_say_why() {
        let e = Register
            .prepare(&op(Func::Cas, Value::Nil, Status::Ok, Value::Nil))
            .unwrap_err();
        assert!(e.contains("read and write"), "{e}");
        let e = Register
            .prepare(&op(
                Func::Read,
                Value::Nil,
                Status::Ok,
                Value::Str("x".into()),
            ))
            .unwrap_err();
        assert!(e.contains("integer or nil"), "{e}");
    }
}
