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

/// Record one invocation on `key`; returns its history entry as a one-element list.
fn record<S: System>(ctx: &mut Ctx<'_, S>, f: Func, key: &str, input: Value) -> Vec<usize> {
    vec![ctx.invoke(f, Some(key.to_string()), input)]
}
