//! `saga` — business transactions across services that each own their database: an
//! orchestrated saga with a replicated saga log, and two-phase commit as the blocking
//! baseline over the same services.
//!
//! Its pieces:
//!
//! * **Participant services** ([`participant`]), three per flow, each with its own
//!   database ([`crate::systems::components::db`]): local ACID transactions in a
//!   write-ahead log fsynced before the answer, recovered after a crash. Every step and
//!   every compensation carries an idempotency key; a service applies a key at most once
//!   and answers a duplicate with its first answer. A step can fail for a business reason
//!   (out of stock, card declined, name taken) with `failure_probability`.
//! * **Two flows** ([`flow`]): an *order* (reserve stock and charge payment, in parallel
//!   since they commute, then schedule shipping, retried until it succeeds: forward
//!   recovery) and a *project creation* (the identity service creates the project, then
//!   the delivery service and the code host create theirs in parallel). Many sagas run at
//!   once on shared rows; clients also read rows.
//! * **The saga execution coordinator** ([`coordinator`], processes `sec0..`): its saga
//!   log ([`log`]) is replicated with the Raft component, so a coordinator crash loses
//!   nothing and the next leader resumes every unfinished saga. Every step is logged
//!   before it is sent and every answer when it arrives. A timeout means *unknown*: the
//!   command is re-sent, with the same key, until a definite answer comes. A business
//!   failure compensates the committed steps in reverse order; compensations are retried
//!   until acknowledged. Services are pushed their tasks, or pull them (`dispatch =
//!   "poll"`), as task-queue orchestrators do.
//! * **Isolation**: sagas are not isolated. Reads are recorded, so the `isolation` check
//!   names the anomalies (dirty reads of effects later compensated, updates lost to a
//!   compensation restoring a before-image). `semantic_lock = true` marks touched rows
//!   pending until the saga ends; then those anomalies must not occur.
//! * **Two-phase commit** ([`twopc`], process `coord`, `protocol = "2pc"`): prepare with
//!   locks held, the decision logged before it is sent, in-doubt participants asking the
//!   coordinator after recovery (presumed abort). A coordinator crash after prepare
//!   leaves participants blocked; the `blocking` check measures how long locks were held.
//! * The **router** and **clients** are the shared components.
//!
//! Planted bugs: see [`Bug`]. Checks: see [`Check`] and [`checks`].

pub mod checks;
pub mod coordinator;
pub mod flow;
mod impls;
pub mod log;
pub mod participant;
pub mod settings;
pub mod twopc;
pub mod wire;

use std::collections::BTreeMap;

use self::flow::Service;
use self::participant::Participant;
use self::twopc::TwoPc;
use super::components::clients::ClientCore;
use super::components::raft;
use super::components::router::Router;
use crate::plan::{ClientOp, NodeSpec, Role};
use crate::scenario::{Params, WorkloadParams};

pub use settings::*;
pub use wire::*;

/// The processes: the flow's three services, the coordinator (replicas `sec0..` of the
/// saga log, or the single 2PC `coord`), the router, then clients.
pub fn topology(params: &Params, own: &SagaParams, workload: Workload) -> Vec<NodeSpec> {
    let server = |name: String| NodeSpec {
        name,
        role: Role::Server,
        crashable: true,
    };
    let mut nodes: Vec<NodeSpec> = flow::services(workload)
        .iter()
        .map(|s| server(s.name().to_string()))
        .collect();
    match own.protocol {
        Protocol::Saga => {
            nodes.extend((0..params.topology.replicas).map(|i| server(format!("sec{i}"))))
        }
        Protocol::TwoPc => nodes.push(server("coord".into())),
    }
    nodes.push(NodeSpec {
        name: "router".into(),
        role: Role::Infra,
        crashable: true,
    });
    nodes.extend(NodeSpec::clients(params.topology.clients));
    nodes
}

/// The system, configured from a plan.
#[derive(Debug)]
pub struct Saga {
    /// Settings.
    pub p: SagaParams,
    /// The saga log's settings.
    pub raft: raft::Config,
    /// The flow the clients run.
    pub workload: Workload,
    /// Each service's process.
    pub services: BTreeMap<Service, usize>,
    /// Coordinator processes (one for 2PC).
    pub coordinators: Vec<usize>,
    /// `coordinators` as the router's one group.
    pub groups: Vec<Vec<usize>>,
    /// The router.
    pub router: usize,
    /// Each client's planned operations.
    pub clients: BTreeMap<usize, Vec<ClientOp<SagaOp>>>,
    /// Client settings.
    pub client_params: WorkloadParams,
    /// Planted bugs.
    pub bugs: Bugs,
    /// Customers, items or project names in play.
    pub keys: u64,
}

impl Saga {
    /// The process of a service.
    pub fn node_of(&self, service: Service) -> usize {
        self.services[&service]
    }

    /// The service a process runs, if it runs one.
    pub fn service_at(&self, node: usize) -> Option<Service> {
        self.services
            .iter()
            .find(|(_, &n)| n == node)
            .map(|(&s, _)| s)
    }
}

/// A process of this system.
#[derive(Debug)]
pub enum Proc {
    /// A participant service.
    Participant(Box<Participant>),
    /// A saga-log replica.
    Coordinator(Box<coordinator::Replica>),
    /// The 2PC coordinator.
    TwoPc(Box<TwoPc>),
    /// The router.
    Router(Router<Saga>),
    /// A client.
    Client(ClientCore<SagaOp>),
}
