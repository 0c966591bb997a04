//! `kv_register` — a replicated key-value store with a fixed primary.
//!
//! The smallest system that exercises every part of the testbed, and a baseline for the
//! consensus-based systems: no elections, so it shows what replication and durability
//! alone guarantee.
//!
//! * Replica `r0` is the primary; `r1..` are backups. Clients send every request to the
//!   primary.
//! * A write is appended to the primary's log; writes arriving within
//!   `flush_interval_ms` share one fsync (group commit). After the fsync the primary ships
//!   the new entries to the backups, which append, **fsync, then acknowledge**. An entry
//!   is committed once it is durable on a majority (the primary included); it is then
//!   applied to the key-value map and the client gets its answer.
//! * Requests carry `(client, seq)`. A retried or duplicated request that is already in
//!   the log is answered from the log, never appended twice (the session table is rebuilt
//!   from the log on recovery).
//! * Reads are answered by the primary from the committed state. After a restart the
//!   primary recovers its log from disk (cutting it at a torn record), re-commits it
//!   through the backups, and serves reads only once everything it recovered is
//!   committed again — otherwise it could answer from an older state than one a client
//!   already saw.
//!
//! Planted bugs (`bugs = [...]`):
//!
//! * `no-fsync` — acknowledge without fsync: a crash loses acknowledged writes;
//! * `follower-reads` — clients read from any replica: backups answer stale values;
//! * `no-dedup` — the primary appends retried/duplicated requests again: appends apply
//!   twice.
//!
//! Checks: `linearizability` (kv model, per key), `durability` (every acknowledged
//! write is in the final log, and no write is in it twice), `convergence` (after heal,
//! every replica holds the primary's log and the state that log folds to).

mod checks;
mod impls;
pub mod replica;
pub mod settings;
pub mod wire;

pub use replica::{Backup, Client, Primary, Replica};
pub use settings::*;
pub use wire::*;

use std::collections::BTreeMap;

use super::components::workload::kv::KvOp;
use crate::plan::{ClientOp, NodeSpec, Role};
use crate::scenario::{Params, WorkloadParams};

/// The processes: replicas `r0..`, then clients `c0..`.
pub fn topology(params: &Params) -> Vec<NodeSpec> {
    let mut nodes: Vec<NodeSpec> = (0..params.topology.replicas)
        .map(|i| NodeSpec {
            name: format!("r{i}"),
            role: Role::Server,
            crashable: true,
        })
        .collect();
    nodes.extend(NodeSpec::clients(params.topology.clients));
    nodes
}

/// The system, configured from a plan.
pub struct KvRegister {
    replicas: Vec<usize>,
    params: KvRegisterParams,
    workload: WorkloadParams,
    client_ops: BTreeMap<usize, Vec<ClientOp<KvOp>>>,
    no_fsync: bool,
    follower_reads: bool,
    no_dedup: bool,
}

/// A process of this system.
#[derive(Debug)]
pub enum Proc {
    /// `r0`.
    Primary(Primary),
    /// `r1..`.
    Backup(Backup),
    /// `c0..`.
    Client(Client),
}

/// What the checks look at.
#[derive(Debug, Clone)]
pub struct KvFinal {
    /// Each replica's state (`None` if it was not running at the end).
    pub replicas: Vec<(usize, Option<Replica>)>,
    /// Why the system had not settled, if it had not.
    pub unsettled: Vec<String>,
}
