//! `outbox` — reliable events between services: a transactional outbox, a relay, a
//! Kafka-like broker, idempotent consumers and read-only replica tables.
//!
//! Its pieces:
//!
//! * **The orders service** ([`service`], `orders`) owns the orders. A client request
//!   (place, pay, ship, cancel an order) changes the order's row and inserts its event
//!   into the *outbox* table **in the same local transaction** (fsynced before the
//!   answer). Each order is an aggregate: its events carry consecutive versions.
//! * **The relay** (in the orders service, so a crash takes both) publishes outbox events
//!   to the broker, keyed by order id so each order's events stay in one partition in
//!   order, one batch in flight per partition, and marks rows sent only after the
//!   broker's acknowledgement: at least once. Two variants: *polling* the outbox table
//!   (`relay = "polling"`), or *tailing the database's log* (`relay = "log_tailing"`,
//!   change data capture) from a durable checkpoint.
//! * **The broker** ([`crate::systems::components::broker`]): partitions `p<p>r<i>`, each
//!   a Raft group; a produce is acknowledged once a quorum holds it; consumer groups with
//!   offsets committed to the broker and a coordinator that rebalances.
//! * **Consumers** ([`consumer`]): the *loyalty* service (group `loyalty`, processes
//!   `loyalty0..`) credits points for paid orders; the *shipping* service (group
//!   `shipping`) keeps a read-only replica of the orders table. Both apply each event's
//!   effect and record its id in an *inbox* table in one local transaction, so a
//!   redelivered event takes effect once, and commit offsets only after applying. The
//!   loyalty instances are stateless: their transactions go to the service's database
//!   process, `loyaltydb`.
//! * **Field ownership and a schema change**: the orders service owns every field of an
//!   order; the replica only follows. Halfway through the chaos phase the orders service
//!   starts emitting a new field (`currency`, defaulted for older events): both consumers
//!   keep working and the replica converges.
//! * **Dual write** (the `dual-write` bug, a known-bad baseline): the service commits its
//!   row and then publishes the event directly — a crash in between loses the event.
//!
//! The relay's produces and the consumers' polls are recorded as a queue history
//! (`send`/`poll` micro-operations, as Jepsen's Kafka test records them), judged by the
//! queue checker ([`crate::check::queue`]). Planted bugs: [`Bug`]; checks: [`Check`].

pub mod checks;
pub mod consumer;
mod impls;
pub mod service;
pub mod settings;
pub mod wire;

pub use settings::*;
pub use wire::*;

use std::collections::BTreeMap;

use self::consumer::{ConsumerProc, LoyaltyDb};
use self::service::Orders;
use super::components::broker;
use super::components::clients::ClientCore;
use super::components::raft::{self, Raft};
use crate::plan::{ClientOp, NodeSpec, Role};
use crate::scenario::{Params, WorkloadParams};

/// The processes: the orders service, the broker's partition replicas, the consumers,
/// then clients.
fn topology(params: &Params, own: &OutboxParams) -> Vec<NodeSpec> {
    let server = |name: String| NodeSpec {
        name,
        role: Role::Server,
        crashable: true,
    };
    let mut nodes = vec![server("orders".into())];
    for p in 0..own.partitions {
        nodes.extend((0..params.topology.replicas).map(|r| server(format!("p{p}r{r}"))));
    }
    nodes.extend((0..own.loyalty_consumers).map(|i| server(format!("loyalty{i}"))));
    nodes.push(server("loyaltydb".into()));
    nodes.push(server("shipping".into()));
    nodes.extend(NodeSpec::clients(params.topology.clients));
    nodes
}

/// The system, configured from a plan.
#[derive(Debug)]
pub struct Outbox {
    /// Settings.
    pub p: OutboxParams,
    /// The broker's logs' settings.
    pub raft: raft::Config,
    /// The broker's settings.
    pub broker: broker::Config,
    /// The orders service.
    pub orders: usize,
    /// Replicas of each partition.
    pub partitions: Vec<Vec<usize>>,
    /// Loyalty consumers.
    pub loyalty: Vec<usize>,
    /// The loyalty service's database.
    pub loyalty_db: usize,
    /// The shipping service (replica table).
    pub shipping: usize,
    /// Each client's planned operations.
    pub clients: BTreeMap<usize, Vec<ClientOp<OrderOp>>>,
    /// Client settings.
    pub client_params: WorkloadParams,
    /// Planted bugs.
    pub bugs: Bugs,
}

impl Outbox {
    /// The partition and replica position of a broker process.
    pub fn broker_of(&self, node: usize) -> Option<(usize, usize)> {
        self.partitions
            .iter()
            .enumerate()
            .find_map(|(p, rs)| rs.iter().position(|&n| n == node).map(|i| (p, i)))
    }
}

/// A process of this system.
#[derive(Debug)]
pub enum Proc {
    /// The orders service and its relay.
    Orders(Box<Orders>),
    /// A broker replica of one partition.
    Broker(Box<Raft<Outbox>>),
    /// A consumer (loyalty, or the shipping replica table).
    Consumer(Box<ConsumerProc>),
    /// The loyalty service's database.
    LoyaltyDb(Box<LoyaltyDb>),
    /// A client.
    Client(ClientCore<OrderOp>),
}
