//! `kafka` — the broker alone under Jepsen's transactional queue workload: transactional
//! producers, read-committed readers, the transaction coordinator, markers and the last
//! stable offset, against brokers that crash, restart, pause and partition.
//!
//! Its pieces:
//!
//! * **The broker** ([`crate::systems::components::broker`]): partitions `p<p>r<i>`, each
//!   a Raft group. Partition 0's leader is also the transaction coordinator: every
//!   transactional id's producer id, epoch, state and partitions live in partition 0's log
//!   ([`crate::systems::components::broker::coordinator`]), and its marker rounds end
//!   transactions in every partition they wrote to
//!   ([`crate::systems::components::broker::txn`]). A partition's records, idempotent
//!   producers, open transactions, aborted-transaction index and last stable offset are
//!   its replicated state ([`crate::systems::components::broker::partition`]).
//! * **Clients** ([`client`]) `c<i>`: each a transactional producer (`txn-c<i>`) and a
//!   reader of every partition, running transactions of sends and polls — Jepsen's `:txn`
//!   operations — and recording them in Jepsen's form, so the queue checker (and Jepsen's
//!   own Kafka checker) reads the history. Keys `0..8` map to partitions by modulo; values
//!   are unique in the run. A planned share of transactions is aborted by the client.
//!
//! Checks: `queue` (Jepsen's Kafka anomalies with transactions: aborted reads G1a, G1c
//! cycles, lost writes, …; `G0` and `int-send-skip` allowed as Kafka's model makes them
//! normal), `txn_atomicity` (a committed transaction's sends all readable at read-committed,
//! an aborted one's none), the replicated log's checks per partition, and `lso_progress`
//! (after heal nothing stays open: the last stable offset reaches the end of every
//! partition). Planted bugs: [`Bug`].

mod checks;
pub mod client;
mod drain;
mod impls;
pub mod settings;
pub mod wire;

pub use settings::*;
pub use wire::*;

use std::collections::BTreeMap;

use self::client::TxnClient;
use super::components::broker;
use super::components::raft::{self, Raft};
use crate::plan::{ClientOp, NodeSpec, Role};
use crate::scenario::{Params, WorkloadParams};

/// The processes: the partitions' replicas, then the clients.
fn topology(params: &Params, own: &KafkaParams) -> Vec<NodeSpec> {
    let mut nodes = Vec::new();
    for p in 0..own.partitions {
        nodes.extend((0..params.topology.replicas).map(|r| NodeSpec {
            name: format!("p{p}r{r}"),
            role: Role::Server,
            crashable: true,
        }));
    }
    nodes.extend(NodeSpec::clients(params.topology.clients));
    nodes
}

/// The system, configured from a plan.
#[derive(Debug)]
pub struct Kafka {
    /// Settings.
    pub p: KafkaParams,
    /// The partition logs' settings.
    pub raft: raft::Config,
    /// The broker's settings.
    pub broker: broker::Config,
    /// Replicas of each partition.
    pub partitions: Vec<Vec<usize>>,
    /// Each client's planned transactions.
    pub clients: BTreeMap<usize, Vec<ClientOp<TxnOp>>>,
    /// Client settings.
    pub client_params: WorkloadParams,
    /// When the chaos phase ends (ms): the first client then reads every partition from
    /// the start (the final read).
    pub chaos_ms: u64,
}

impl Kafka {
    /// The partition of a broker process.
    pub fn broker_of(&self, node: usize) -> Option<usize> {
        self.partitions.iter().position(|rs| rs.contains(&node))
    }
}

/// A process of this system.
#[derive(Debug)]
pub enum Proc {
    /// A broker replica of one partition.
    Broker(Box<Raft<Kafka>>),
    /// A client.
    Client(Box<TxnClient>),
}
