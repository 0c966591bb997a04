//! The key-value workload: get, put and append over `workload.keys` keys.
//!
//! Written values are unique per operation (`<client>.<n>;`), so the history shows which
//! write a read saw. Shares: `workload.read_probability` reads, `append_probability`
//! appends, the rest puts.

use serde::{Deserialize, Serialize};

use super::record;
use crate::history::{Func, Value};
use crate::plan::Draw;
use crate::sim::{Ctx, System};
use crate::systems::components::clients::Request;

/// A key-value operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "f", rename_all = "snake_case")]
pub enum KvOp {
    /// Read a key.
    Get {
        /// Key.
        key: String,
    },
    /// Overwrite a key.
    Put {
        /// Key.
        key: String,
        /// New value (unique per operation).
        value: String,
    },
    /// Append to a key.
    Append {
        /// Key.
        key: String,
        /// Appended token (unique per operation, `;`-terminated).
        value: String,
    },
}

impl KvOp {
    /// The key it addresses.
    pub fn key(&self) -> &str {
        match self {
            KvOp::Get { key } | KvOp::Put { key, .. } | KvOp::Append { key, .. } => key,
        }
    }

    /// Whether it only reads.
    pub fn is_read(&self) -> bool {
        matches!(self, KvOp::Get { .. })
    }
}

/// Draw one operation.
pub fn draw(d: &mut Draw<'_>) -> KvOp {
    let w = d.params;
    let key = format!("k{}", d.rng.index(w.keys as usize));
    let roll = d.rng.unit();
    let token = format!("{}.{};", d.client, d.index);
    if roll < w.read_probability {
        KvOp::Get { key }
    } else if roll < w.read_probability + w.append_probability {
        KvOp::Append { key, value: token }
    } else {
        KvOp::Put { key, value: token }
    }
}

impl Request for KvOp {
    fn invoke<S: System>(&self, ctx: &mut Ctx<'_, S>) -> Vec<usize> {
        match self {
            KvOp::Get { key } => record(ctx, Func::Get, key, Value::Nil),
            KvOp::Put { key, value } => record(ctx, Func::Put, key, Value::Str(value.clone())),
            KvOp::Append { key, value } => {
                record(ctx, Func::Append, key, Value::Str(value.clone()))
            }
        }
    }
}
