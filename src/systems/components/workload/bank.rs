//! The bank workload: open, read, deposit, withdraw and transfer over `workload.keys`
//! accounts.
//!
//! An account exists only once opened: every client starts by opening one, and opens
//! turn up now and then (often for accounts already open). Shares:
//! `workload.read_probability` reads, `append_probability` withdrawals; of the rest, half
//! transfer between two accounts and half deposit. A transfer is recorded in the history
//! as a withdrawal from one account and a deposit to the other, so the per-account
//! histories stay checkable (each projection of a linearizable history is linearizable).

use serde::{Deserialize, Serialize};

use super::record;
use crate::history::{Func, Value};
use crate::plan::Draw;
use crate::sim::{Ctx, System};
use crate::systems::components::clients::Request;

/// A bank operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "f", rename_all = "snake_case")]
pub enum BankOp {
    /// Open an account (balance 0; it exists only once opened).
    Open {
        /// Account.
        account: String,
    },
    /// Read an account's balance.
    Read {
        /// Account.
        account: String,
    },
    /// Deposit into an account.
    Deposit {
        /// Account.
        account: String,
        /// Amount.
        amount: i64,
    },
    /// Withdraw from an account (refused if the balance would go negative).
    Withdraw {
        /// Account.
        account: String,
        /// Amount.
        amount: i64,
    },
    /// Move money between two accounts (refused if `from` cannot cover it).
    Transfer {
        /// Source account.
        from: String,
        /// Destination account.
        to: String,
        /// Amount.
        amount: i64,
    },
}

impl BankOp {
    /// The account it addresses first.
    pub fn account(&self) -> &str {
        match self {
            BankOp::Read { account }
            | BankOp::Open { account }
            | BankOp::Deposit { account, .. }
            | BankOp::Withdraw { account, .. } => account,
            BankOp::Transfer { from, .. } => from,
        }
    }

    /// Whether it only reads.
    pub fn is_read(&self) -> bool {
        matches!(self, BankOp::Read { .. })
    }
}

/// Share of operations (after each client's first) that open an account.
pub const OPEN_PROBABILITY: f64 = 0.05;

/// Draw one operation.
/// Whether a bank operation read from a plan file can run: its amount in range.
pub fn check(op: &BankOp) -> Result<(), (String, String)> {
    match op {
        BankOp::Deposit { amount, .. }
        | BankOp::Withdraw { amount, .. }
        | BankOp::Transfer { amount, .. } => super::check_amount("amount", *amount),
        BankOp::Open { .. } | BankOp::Read { .. } => Ok(()),
    }
}

/// Draw one bank operation.
pub fn draw(d: &mut Draw<'_>) -> BankOp {
    let w = d.params;
    let key_index = d.rng.index(w.keys as usize);
    let roll = d.rng.unit();
    let account = format!("a{key_index}");
    let amount = d.rng.range_u64(1, 50) as i64;
    let write_roll = d.rng.unit();
    if d.index == 0 {
        BankOp::Open {
            account: format!("a{}", d.client % w.keys as usize),
        }
    } else if write_roll < OPEN_PROBABILITY {
        BankOp::Open { account }
    } else if roll < w.read_probability {
        BankOp::Read { account }
    } else if roll < w.read_probability + w.append_probability {
        BankOp::Withdraw { account, amount }
    } else if write_roll < 0.5 && w.keys > 1 {
        let mut other = d.rng.index(w.keys as usize - 1);
        if other >= key_index {
            other += 1;
        }
        BankOp::Transfer {
            from: account,
            to: format!("a{other}"),
            amount,
        }
    } else {
        BankOp::Deposit { account, amount }
    }
}

impl Request for BankOp {
    fn invoke<S: System>(&self, ctx: &mut Ctx<'_, S>) -> Vec<usize> {
        match self {
            BankOp::Read { account } => record(ctx, Func::Read, account, Value::Nil),
            BankOp::Open { account } => record(ctx, Func::Open, account, Value::Nil),
            BankOp::Deposit { account, amount } => {
                record(ctx, Func::Deposit, account, Value::Int(*amount))
            }
            BankOp::Withdraw { account, amount } => {
                record(ctx, Func::Withdraw, account, Value::Int(*amount))
            }
            BankOp::Transfer { from, to, amount } => {
                let mut ops = record(ctx, Func::Withdraw, from, Value::Int(*amount));
                ops.extend(record(ctx, Func::Deposit, to, Value::Int(*amount)));
                ops
            }
        }
    }
}
