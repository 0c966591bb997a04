//! Workloads that several systems run: what a client asks, how it is drawn, and how it
//! is recorded in the history (for the linearizability checker's models).
//!
//! * [`kv`] — get, put and append over a few keys (the `kv` model);
//! * [`bank`] — open, read, deposit, withdraw and transfer over a few accounts (the
//!   `bank` model).
//!
//! A system that runs one of them uses its operation type as (part of) its own
//! [`crate::plan::Spec::Op`], and draws operations with its `draw` function.

pub mod bank;
pub mod kv;

use crate::history::{Func, Value};
use crate::sim::{Ctx, System};

/// The largest amount (of money, of units) an operation of a plan file may carry: drawn
/// amounts are far below it, and sums of it over any history a plan can hold stay far
/// inside `i64`, so a hand-edited amount cannot overflow a system's arithmetic.
pub const AMOUNT_MAX: i64 = 1_000_000_000;

/// `Err((field, message))` unless `1 <= amount <= AMOUNT_MAX`.
pub fn check_amount(field: &str, amount: i64) -> Result<(), (String, String)> {
    if (1..=AMOUNT_MAX).contains(&amount) {
        Ok(())
    } else {
        Err((
            field.to_string(),
            format!("an amount of {amount}: amounts go from 1 to {AMOUNT_MAX}"),
        ))
    }
}

/// Record one invocation on `key`; returns its history entry as a one-element list.
fn record<S: System>(ctx: &mut Ctx<'_, S>, f: Func, key: &str, input: Value) -> Vec<usize> {
    vec![ctx.invoke(f, Some(key.to_string()), input)]
}
