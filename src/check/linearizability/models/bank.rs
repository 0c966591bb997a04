//! Bank accounts with deposits, withdrawals that never overdraw, and balance reads.

use super::require_key;
use crate::check::linearizability::Model;
use crate::history::{Func, Operation, Value};

/// A bank operation as the [`Bank`] model sees it (for the operation's own account).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum BankOp {
    /// A read that returned this balance; `None` when its result is unknown.
    Read(Option<i64>),
    /// Add this (non-negative) amount.
    Deposit(i64),
    /// Take this (non-negative) amount if the balance allows it; `applied` is the
    /// output (`None` when unknown).
    Withdraw {
        /// The amount.
        amount: i64,
        /// Whether it reported taking the money.
        applied: Option<bool>,
    },
}

/// Bank accounts: each key is an account starting at 0; `deposit` adds, `withdraw`
/// subtracts and returns `true` when the balance suffices, otherwise it changes nothing
/// and returns `false` (balances never go negative); `read` returns the balance. Accounts
/// are independent, so the model partitions by account. A deposit that would overflow
/// `i64` cannot happen.
#[derive(Debug, Clone, Copy, Default)]
pub struct Bank;

impl Model for Bank {
    type State = i64;
    type Op = BankOp;

    fn name(&self) -> &str {
        "bank"
    }

    fn init(&self) -> i64 {
        0
    }

    fn prepare(&self, op: &Operation) -> Result<BankOp, String> {
        require_key("bank", op)?;
        let amount = |what: &str| match op.input {
            Value::Int(a) if a >= 0 => Ok(a),
            ref other => Err(format!(
                "{what}'s input is a non-negative integer, not {other}"
            )),
        };
        match op.f {
            Func::Read => match op.known_output() {
                None => Ok(BankOp::Read(None)),
                Some(Value::Int(b)) => Ok(BankOp::Read(Some(*b))),
                Some(other) => Err(format!(
                    "a read returns the balance (an integer), not {other}"
                )),
            },
            Func::Deposit => amount("a deposit").map(BankOp::Deposit),
            Func::Withdraw => {
                let amount = amount("a withdraw")?;
                let applied = match op.known_output() {
                    None => None,
                    Some(Value::Bool(b)) => Some(*b),
                    Some(other) => {
                        return Err(format!(
                            "a withdraw returns true (applied) or false (refused), not {other}"
                        ))
                    }
                };
                Ok(BankOp::Withdraw { amount, applied })
            }
            f => Err(format!(
                "the bank model accepts deposit, withdraw and read, not {f}"
            )),
        }
    }

    fn partition_key<'a>(&self, op: &'a Operation) -> Option<&'a str> {
        op.key.as_deref()
    }

    fn step(&self, balance: &i64, op: &BankOp) -> Option<i64> {
        let b = *balance;
        match *op {
            BankOp::Read(None) => Some(b),
            BankOp::Read(Some(v)) => (b == v).then_some(b),
            BankOp::Deposit(a) => b.checked_add(a),
            BankOp::Withdraw { amount, applied } => {
                let enough = b >= amount;
                match applied {
                    Some(true) => enough.then(|| b - amount),
                    Some(false) => (!enough).then_some(b),
                    None if enough => Some(b - amount),
                    None => Some(b),
                }
            }
        }
    }

    fn is_read_only(&self, op: &BankOp) -> bool {
        matches!(
            op,
            BankOp::Read(_)
                | BankOp::Withdraw {
                    applied: Some(false),
                    ..
                }
        )
    }

    fn can_become_possible<'a>(
        &self,
        balance: &i64,
        op: &BankOp,
        mut later: impl Iterator<Item = &'a BankOp>,
    ) -> bool {
        // Only deposits raise a balance and only withdrawals lower it.
        let raise = |o: &BankOp| matches!(o, BankOp::Deposit(a) if *a > 0);
        let lower = |o: &BankOp| matches!(o, BankOp::Withdraw { amount, applied } if *amount > 0 && *applied != Some(false));
        match *op {
            BankOp::Read(Some(v)) if v > *balance => later.any(raise),
            BankOp::Read(Some(_)) => later.any(lower),
            BankOp::Withdraw {
                applied: Some(true),
                ..
            } => later.any(raise),
            BankOp::Withdraw {
                applied: Some(false),
                ..
            } => later.any(lower),
            BankOp::Deposit(_) => later.any(lower),
            _ => true,
        }
    }

    fn describe_state(&self, balance: &i64) -> String {
        format!("balance {balance}")
    }
}
