//! Bank accounts with deposits, withdrawals that never overdraw, and balance reads.

use super::require_key;
use crate::check::linearizability::Model;
use crate::history::{Func, Operation, Value};

/// A bank operation as the [`Bank`] model sees it (for the operation's own account).
/// Outputs are `None` when unknown (an operation that never returned).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum BankOp {
    /// Open the account; `true` if this opened it, `false` if it was already open.
    Open(Option<bool>),
    /// A read that returned this balance, or `Some(None)` for "no such account".
    Read(Option<Option<i64>>),
    /// Add this (non-negative) amount; `applied` is `false` when the account is not open.
    Deposit {
        /// The amount.
        amount: i64,
        /// Whether it reported adding the money.
        applied: Option<bool>,
    },
    /// Take this (non-negative) amount if the account is open and its balance allows
    /// it; `applied` reports whether it did.
    Withdraw {
        /// The amount.
        amount: i64,
        /// Whether it reported taking the money.
        applied: Option<bool>,
    },
}

/// Bank accounts. Each key is an account that does not exist until it is opened
/// (`open` returns `true` when it opened it, `false` when it was already open); it then
/// starts at 0. `deposit` adds and returns `true`, or returns `false` and changes
/// nothing when the account is not open; `withdraw` subtracts and returns `true` when the
/// account is open and its balance suffices, otherwise it changes nothing and returns
/// `false` (balances never go negative); `read` returns the balance, or `nil` when the
/// account is not open. Accounts never close. Accounts are independent, so the model
/// partitions by account. A deposit that would overflow `i64` cannot happen.
#[derive(Debug, Clone, Copy, Default)]
pub struct Bank;

/// Whether an operation needs the account open to happen as recorded.
fn needs_open(op: &BankOp) -> bool {
    matches!(
        op,
        BankOp::Open(Some(false))
            | BankOp::Read(Some(Some(_)))
            | BankOp::Deposit {
                applied: Some(true),
                ..
            }
            | BankOp::Withdraw {
                applied: Some(true),
                ..
            }
    )
}

/// Whether an operation needs the account not (yet) open to happen as recorded.
fn needs_unopened(op: &BankOp) -> bool {
    matches!(
        op,
        BankOp::Open(Some(true))
            | BankOp::Read(Some(None))
            | BankOp::Deposit {
                applied: Some(false),
                ..
            }
    )
}

impl Model for Bank {
    /// `None` until the account is opened, then its balance.
    type State = Option<i64>;
    type Op = BankOp;

    fn name(&self) -> &str {
        "bank"
    }

    fn init(&self) -> Option<i64> {
        None
    }

    fn prepare(&self, op: &Operation) -> Result<BankOp, String> {
        require_key("bank", op)?;
        let amount = |what: &str| match op.input {
            Value::Int(a) if a >= 0 => Ok(a),
            ref other => Err(format!(
                "{what}'s input is a non-negative integer, not {other}"
            )),
        };
        let applied = |what: &str| match op.known_output() {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(format!(
                "{what} returns true (applied) or false (refused), not {other}"
            )),
        };
        match op.f {
            Func::Open => applied("an open").map(BankOp::Open),
            Func::Read => match op.known_output() {
                None => Ok(BankOp::Read(None)),
                Some(Value::Int(b)) => Ok(BankOp::Read(Some(Some(*b)))),
                Some(Value::Nil) => Ok(BankOp::Read(Some(None))),
                Some(other) => Err(format!(
                    "a read returns the balance (an integer) or nil (no such account), not {other}"
                )),
            },
            Func::Deposit => Ok(BankOp::Deposit {
                amount: amount("a deposit")?,
                applied: applied("a deposit")?,
            }),
            Func::Withdraw => Ok(BankOp::Withdraw {
                amount: amount("a withdraw")?,
                applied: applied("a withdraw")?,
            }),
            f => Err(format!(
                "the bank model accepts open, deposit, withdraw and read, not {f}"
            )),
        }
    }

    fn partition_key<'a>(&self, op: &'a Operation) -> Option<&'a str> {
        op.key.as_deref()
    }

    fn step(&self, state: &Option<i64>, op: &BankOp) -> Option<Option<i64>> {
        let Some(b) = *state else {
            // Not open: only opening changes anything.
            return match *op {
                BankOp::Open(Some(false)) => None,
                BankOp::Open(_) => Some(Some(0)),
                _ if needs_open(op) => None,
                _ => Some(None),
            };
        };
        if needs_unopened(op) {
            return None;
        }
        match *op {
            BankOp::Read(Some(Some(v))) => (v == b).then_some(Some(b)),
            BankOp::Open(_) | BankOp::Read(_) => Some(Some(b)),
            BankOp::Deposit { amount, .. } => b.checked_add(amount).map(Some),
            BankOp::Withdraw { amount, applied } => {
                let enough = b >= amount;
                match applied {
                    Some(true) => enough.then(|| Some(b - amount)),
                    Some(false) => (!enough).then_some(Some(b)),
                    None if enough => Some(Some(b - amount)),
                    None => Some(Some(b)),
                }
            }
        }
    }

    fn is_read_only(&self, op: &BankOp) -> bool {
        matches!(
            op,
            BankOp::Read(_)
                | BankOp::Open(Some(false))
                | BankOp::Deposit {
                    applied: Some(false),
                    ..
                }
                | BankOp::Withdraw {
                    applied: Some(false),
                    ..
                }
        )
    }

    fn can_become_possible<'a>(
        &self,
        state: &Option<i64>,
        op: &BankOp,
        mut later: impl Iterator<Item = &'a BankOp>,
    ) -> bool {
        let Some(balance) = *state else {
            // Only an open can make an operation that needs an open account possible.
            let opens = |o: &BankOp| matches!(o, BankOp::Open(None) | BankOp::Open(Some(true)));
            return !needs_open(op) || later.any(opens);
        };
        if needs_unopened(op) {
            return false; // accounts never close
        }
        // Only deposits raise a balance and only withdrawals lower it.
        let raise = |o: &BankOp| matches!(o, BankOp::Deposit { amount, applied } if *amount > 0 && *applied != Some(false));
        let lower = |o: &BankOp| matches!(o, BankOp::Withdraw { amount, applied } if *amount > 0 && *applied != Some(false));
        match *op {
            BankOp::Read(Some(Some(v))) if v > balance => later.any(raise),
            BankOp::Read(Some(Some(_))) => later.any(lower),
            BankOp::Withdraw {
                applied: Some(true),
                ..
            } => later.any(raise),
            BankOp::Withdraw {
                applied: Some(false),
                ..
            } => later.any(lower),
            BankOp::Deposit { .. } => later.any(lower),
            _ => true,
        }
    }

    fn describe_state(&self, state: &Option<i64>) -> String {
        match state {
            None => "account not open".into(),
            Some(balance) => format!("balance {balance}"),
        }
    }
}
