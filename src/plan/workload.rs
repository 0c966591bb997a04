//! The client workload: when each client issues an operation.
//!
//! Each client has its own stream (`workload/<client>`), so adding a client leaves the
//! others' operations unchanged. A client issues its next operation at its planned time
//! or, if the previous one is still running, as soon as that one finishes: the times here
//! are earliest start times. Operations are only planned inside the chaos phase.
//!
//! This module owns the schedule; *what* each operation is comes from the system
//! ([`super::Spec::operation`]), which draws it from the same client stream through a
//! [`Draw`].

use serde::{Deserialize, Serialize};

use crate::rng::{streams, SubStream};
use crate::scenario::{Params, WorkloadParams};

/// One planned client operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientOp<O> {
    /// Client number (0-based among clients).
    pub client: usize,
    /// Earliest start (ms of simulated time).
    pub at_ms: u64,
    /// What to do.
    pub op: O,
}

/// What a system's operation generator may draw from: the client's stream, which
/// operation of the client this is, and the workload settings.
pub struct Draw<'a> {
    /// The client's stream (`workload/<client>`).
    pub rng: &'a mut SubStream,
    /// Client number.
    pub client: usize,
    /// The operation's number within the client's operations.
    pub index: usize,
    /// Workload settings.
    pub params: &'a WorkloadParams,
}

/// Upper bound on operations per client, whatever the settings: keeps a sweep bounded.
pub const OPS_PER_CLIENT_MAX: usize = 100_000;

/// Plan the operations of `clients` clients; `op` draws each operation.
pub fn generate<O>(
    params: &Params,
    clients: usize,
    seed: u64,
    mut op: impl FnMut(&mut Draw<'_>) -> O,
) -> Vec<ClientOp<O>> {
    let w = &params.workload;
    let chaos_ms = params.phases.chaos_ms;
    let mut ops = Vec::new();
    for client in 0..clients {
        let mut rng = SubStream::indexed(seed, streams::WORKLOAD, client);
        let mut at_ms = rng.range_u64(0, w.op_interval_ms_max);
        for index in 0..OPS_PER_CLIENT_MAX {
            if at_ms >= chaos_ms {
                break;
            }
            let mut draw = Draw {
                rng: &mut rng,
                client,
                index,
                params: w,
            };
            let op = op(&mut draw);
            ops.push(ClientOp { client, at_ms, op });
            at_ms += rng.range_u64(w.op_interval_ms_min, w.op_interval_ms_max);
        }
    }
    ops
}

/// The planned operations of client number `client`.
pub fn ops_of<O: Clone>(workload: &[ClientOp<O>], client: usize) -> Vec<ClientOp<O>> {
    workload
        .iter()
        .filter(|op| op.client == client)
        .cloned()
        .collect()
}
