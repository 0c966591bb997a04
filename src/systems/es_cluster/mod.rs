//! `es_cluster` — an event-sourced service made highly available with Raft.
//!
//! The central system of faultline's catalogue. Its pieces:
//!
//! * **Replicas** (`r0..`, or `s<shard>r<i>` when sharded) run the replicated log
//!   ([`crate::systems::components::raft`]) over an *event* log. The leader decides each
//!   command into events ([`ledger`]) and only the leader answers, once the entry is
//!   committed and applied. Consistent reads are log entries too. Term, vote and log are
//!   fsynced before they are acknowledged; a restarted replica recovers from snapshot +
//!   log. The service on top of the log — commands, answers, two-phase commit — is
//!   [`service`].
//! * The **router** (`router`, [`crate::systems::components::router`]) is the clients'
//!   one connection: it finds each shard's leader, forwards commands, follows `NotLeader`
//!   redirects and retries on timeouts, so a client keeps talking to it while leadership
//!   moves. With `routers = n > 1` there are `n` of them (`router0..`), each with its own
//!   idea of who leads, and client `c<i>` talks to router `i mod n`.
//! * The **projection** (`proj`, [`projection`]) is a read model: it pulls committed
//!   events from a replica of each shard (the leader, a follower, or any:
//!   `projection_source`) and folds them into a query view; its lag behind the commit is
//!   measured.
//! * **Sharding** (`shards > 1`): accounts and keys are split across Raft groups by hash;
//!   a transfer between shards is a two-phase commit whose coordinator is the source
//!   shard — its state lives in that shard's replicated log, so it survives any single
//!   crash and a new leader finishes what the old one started.
//! * **Clients** (`c0..`) run the bank or key-value workload through the router.
//!
//! Planted bugs: see [`Bug`]. Checks: see [`Check`] and [`checks`].

pub mod checks;
mod impls;
pub mod ledger;
pub mod projection;
pub mod service;
pub mod settings;
pub mod wire;

pub use settings::*;
pub use wire::*;

use std::collections::BTreeMap;

use self::projection::Projection;
use super::components::clients::ClientCore;
use super::components::raft;
use super::components::router::Router;
use crate::plan::{ClientOp, NodeSpec, Role};
use crate::scenario::{Params, WorkloadParams};
use crate::sim::Ctx;

/// Router `i` of `n`: `router` when it is the only one, `router0..` otherwise.
fn router_name(i: usize, n: usize) -> String {
    match n {
        1 => "router".to_string(),
        _ => format!("router{i}"),
    }
}

/// The processes: replicas (per shard), the routers, the projection, then clients.
fn topology(params: &Params, own: &EsClusterParams) -> Vec<NodeSpec> {
    let shards = own.shards;
    let mut nodes = Vec::new();
    for s in 0..shards {
        for r in 0..params.topology.replicas {
            nodes.push(NodeSpec {
                name: if shards == 1 {
                    format!("r{r}")
                } else {
                    format!("s{s}r{r}")
                },
                role: Role::Server,
                crashable: true,
            });
        }
    }
    let routers = own.routers as usize;
    let router_names = (0..routers).map(|i| router_name(i, routers));
    for name in router_names.chain(["proj".to_string()]) {
        nodes.push(NodeSpec {
            name,
            role: Role::Infra,
            crashable: true,
        });
    }
    nodes.extend(NodeSpec::clients(params.topology.clients));
    nodes
}

/// The system, configured from a plan.
#[derive(Debug)]
pub struct EsCluster {
    /// Settings.
    pub p: EsClusterParams,
    /// The replicated log's settings.
    pub raft: raft::Config,
    /// Replica node indices of each shard.
    pub shards: Vec<Vec<usize>>,
    /// The routers (one unless `routers` says more).
    pub routers: Vec<usize>,
    /// The projection.
    pub projection: usize,
    /// Each client's planned operations.
    pub clients: BTreeMap<usize, Vec<ClientOp<EsOp>>>,
    /// Workload settings.
    pub workload: WorkloadParams,
    /// Bank or key-value.
    pub kind: Workload,
    /// Planted bugs.
    pub bugs: Bugs,
    /// Effective read mode (`read_mode`, or what a read bug forces).
    pub read_mode: ReadMode,
}

/// The shard of a key: FNV-1a of its bytes, modulo the shard count. Stable forever.
pub fn shard_of(key: &str, shards: usize) -> usize {
    (crate::rng::stream_id(key) % shards.max(1) as u64) as usize
}

impl EsCluster {
    /// The shard of a key.
    pub fn shard_of(&self, key: &str) -> usize {
        shard_of(key, self.shards.len())
    }

    /// The router a client talks to: client `c<i>` to router `i mod routers`.
    pub fn router_of(&self, client: usize) -> usize {
        let ordinal =
            (self.clients.keys().position(|&c| c == client)).expect("requests come from clients");
        self.routers[ordinal % self.routers.len()]
    }

    /// (shard, position) of a replica node.
    pub fn replica_of(&self, node: usize) -> Option<(usize, usize)> {
        self.shards
            .iter()
            .enumerate()
            .find_map(|(s, nodes)| nodes.iter().position(|&n| n == node).map(|i| (s, i)))
    }

    /// Send to every replica of a shard (only its leader acts on it).
    pub fn to_shard(&self, ctx: &mut Ctx<'_, EsCluster>, shard: usize, msg: Msg) {
        for &node in &self.shards[shard] {
            ctx.send(node, msg.clone());
        }
    }
}

/// A process of this system.
#[derive(Debug)]
pub enum Proc {
    /// A replica.
    Replica(Box<Replica>),
    /// The router.
    Router(Router<EsCluster>),
    /// The projection.
    Projection(Projection),
    /// A client.
    Client(ClientCore<EsOp>),
}
