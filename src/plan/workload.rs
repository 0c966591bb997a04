//! The client workload: which operation each client issues, and when.
//!
//! Each client has its own stream (`workload/<client>`), so adding a client leaves the
//! others' operations unchanged. A client issues its next operation at its planned time
//! or, if the previous one is still running, as soon as that one finishes: the times here
//! are earliest start times. Operations are only planned inside the chaos phase.

use serde::{Deserialize, Serialize};

use super::rng::{streams, SubStream};
use crate::scenario::{Params, WorkloadKind};

/// One planned client operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientOp {
    /// Client number (0-based among clients).
    pub client: usize,
    /// Earliest start (ms of simulated time).
    pub at_ms: u64,
    /// What to do.
    pub op: OpSpec,
}

/// An operation, as the workload asks for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "f", rename_all = "snake_case")]
pub enum OpSpec {
    /// Key-value: read a key.
    Get {
        /// Key.
        key: String,
    },
    /// Key-value: overwrite a key.
    Put {
        /// Key.
        key: String,
        /// New value (unique per operation).
        value: String,
    },
    /// Key-value: append to a key.
    Append {
        /// Key.
        key: String,
        /// Appended token (unique per operation, `;`-terminated).
        value: String,
    },
    /// Bank: open an account (balance 0; it exists only once opened).
    Open {
        /// Account.
        account: String,
    },
    /// Bank: read an account's balance.
    Read {
        /// Account.
        account: String,
    },
    /// Bank: deposit into an account.
    Deposit {
        /// Account.
        account: String,
        /// Amount.
        amount: i64,
    },
    /// Bank: withdraw from an account (refused if the balance would go negative).
    Withdraw {
        /// Account.
        account: String,
        /// Amount.
        amount: i64,
    },
    /// Bank: move money between two accounts (refused if `from` cannot cover it).
    Transfer {
        /// Source account.
        from: String,
        /// Destination account.
        to: String,
        /// Amount.
        amount: i64,
    },
}

impl OpSpec {
    /// Whether the operation only reads.
    pub fn is_read(&self) -> bool {
        matches!(self, OpSpec::Get { .. } | OpSpec::Read { .. })
    }

    /// The key or account the operation addresses first.
    pub fn key(&self) -> &str {
        match self {
            OpSpec::Get { key } | OpSpec::Put { key, .. } | OpSpec::Append { key, .. } => key,
            OpSpec::Read { account }
            | OpSpec::Open { account }
            | OpSpec::Deposit { account, .. }
            | OpSpec::Withdraw { account, .. } => account,
            OpSpec::Transfer { from, .. } => from,
        }
    }
}

/// Share of bank operations (after each client's first) that open an account.
pub const OPEN_PROBABILITY: f64 = 0.05;

/// Upper bound on operations per client, whatever the settings: keeps a sweep bounded.
pub const OPS_PER_CLIENT_MAX: usize = 100_000;

/// Plan the operations of every client (`clients` are their node indices).
pub fn generate(params: &Params, clients: &[usize], seed: u64) -> Vec<ClientOp> {
    let w = &params.workload;
    let chaos_ms = params.phases.chaos_ms;
    let mut ops = Vec::new();
    for client in 0..clients.len() {
        let mut rng = SubStream::indexed(seed, streams::WORKLOAD, client);
        let mut at_ms = rng.range_u64(0, w.op_interval_ms_max);
        for i in 0..OPS_PER_CLIENT_MAX {
            if at_ms >= chaos_ms {
                break;
            }
            let key_index = rng.index(w.keys as usize);
            let roll = rng.unit();
            let token = format!("{client}.{i};");
            let op = match params.workload_kind {
                WorkloadKind::Kv => {
                    let key = format!("k{key_index}");
                    if roll < w.read_probability {
                        OpSpec::Get { key }
                    } else if roll < w.read_probability + w.append_probability {
                        OpSpec::Append { key, value: token }
                    } else {
                        OpSpec::Put { key, value: token }
                    }
                }
                WorkloadKind::Bank => {
                    let account = format!("a{key_index}");
                    let amount = rng.range_u64(1, 50) as i64;
                    let write_roll = rng.unit();
                    if i == 0 {
                        // Accounts exist only once opened: every client starts by opening
                        // one, and opens turn up now and then (often for open accounts).
                        OpSpec::Open {
                            account: format!("a{}", client % w.keys as usize),
                        }
                    } else if write_roll < OPEN_PROBABILITY {
                        OpSpec::Open { account }
                    } else if roll < w.read_probability {
                        OpSpec::Read { account }
                    } else if roll < w.read_probability + w.append_probability {
                        OpSpec::Withdraw { account, amount }
                    } else if write_roll < 0.5 && w.keys > 1 {
                        // Half of the remaining writes move money between two accounts.
                        let mut other = rng.index(w.keys as usize - 1);
                        if other >= key_index {
                            other += 1;
                        }
                        OpSpec::Transfer {
                            from: account,
                            to: format!("a{other}"),
                            amount,
                        }
                    } else {
                        OpSpec::Deposit { account, amount }
                    }
                }
            };
            ops.push(ClientOp { client, at_ms, op });
            at_ms += rng.range_u64(w.op_interval_ms_min, w.op_interval_ms_max);
        }
    }
    ops
}
