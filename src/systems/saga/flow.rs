//! The two business flows: their services, steps and operations.
//!
//! A flow is a list of steps, each a local transaction at one service. Steps of the same
//! *level* commute and run in parallel; a level starts when the previous one has fully
//! succeeded. A step is either compensable (undone by its compensation when the saga
//! fails) or *retriable*: forward recovery, it is retried until it succeeds and needs no
//! compensation (it comes after every step that can fail for good).
//!
//! * **order** — `reserve` stock and `charge` the customer (level 0, in parallel), then
//!   `ship` (level 1, retriable). Money and stock are conserved.
//! * **project** — the identity service creates the project (level 0), then the delivery
//!   service creates its pipeline and the code host its group (level 1, in parallel).
//!   Names are unique per service: "name taken" is a business failure. Names come from
//!   `8 × workload.keys` candidates, so most are free and some clash.

use serde::{Deserialize, Serialize};

use super::{SagaId, SagaOp, Workload};
use crate::plan::Draw;

/// A participant service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Service {
    /// Order flow: the warehouse's stock.
    Stock,
    /// Order flow: customers' accounts and the merchant's.
    Payment,
    /// Order flow: shipments.
    Shipping,
    /// Project flow: the identity service.
    Identity,
    /// Project flow: the delivery service.
    Delivery,
    /// Project flow: the code host.
    Codehost,
}

impl Service {
    /// Its process name.
    pub fn name(self) -> &'static str {
        match self {
            Service::Stock => "stock",
            Service::Payment => "payment",
            Service::Shipping => "shipping",
            Service::Identity => "identity",
            Service::Delivery => "delivery",
            Service::Codehost => "codehost",
        }
    }
}

/// The services of a flow.
pub fn services(workload: Workload) -> &'static [Service] {
    match workload {
        Workload::Order => &[Service::Stock, Service::Payment, Service::Shipping],
        Workload::Project => &[Service::Identity, Service::Delivery, Service::Codehost],
    }
}

/// One step of a flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepDef {
    /// Its name (on the timeline).
    pub name: &'static str,
    /// Its compensation's name.
    pub undo: &'static str,
    /// Where it runs.
    pub service: Service,
    /// Steps of one level run in parallel.
    pub level: u8,
    /// Retried until it succeeds (forward recovery) instead of compensated.
    pub retriable: bool,
}

const ORDER: &[StepDef] = &[
    StepDef {
        name: "reserve",
        undo: "release",
        service: Service::Stock,
        level: 0,
        retriable: false,
    },
    StepDef {
        name: "charge",
        undo: "refund",
        service: Service::Payment,
        level: 0,
        retriable: false,
    },
    StepDef {
        name: "ship",
        undo: "cancel-shipment",
        service: Service::Shipping,
        level: 1,
        retriable: true,
    },
];

const PROJECT: &[StepDef] = &[
    StepDef {
        name: "create-project",
        undo: "delete-project",
        service: Service::Identity,
        level: 0,
        retriable: false,
    },
    StepDef {
        name: "create-pipeline",
        undo: "delete-pipeline",
        service: Service::Delivery,
        level: 1,
        retriable: false,
    },
    StepDef {
        name: "create-group",
        undo: "delete-group",
        service: Service::Codehost,
        level: 1,
        retriable: false,
    },
];

/// A business transaction with its arguments.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Flow {
    /// An order.
    Order {
        /// Paying customer.
        customer: String,
        /// Item.
        item: String,
        /// Units.
        qty: i64,
    },
    /// A project.
    Project {
        /// Its name.
        name: String,
    },
}

impl Flow {
    /// Its steps.
    pub fn steps(&self) -> &'static [StepDef] {
        match self {
            Flow::Order { .. } => ORDER,
            Flow::Project { .. } => PROJECT,
        }
    }

    /// What step `step` does at its service (`price`: of one unit).
    pub fn action(&self, step: usize, price: i64) -> Action {
        match (self, step) {
            (Flow::Order { item, qty, .. }, 0) => Action::Reserve {
                item: item.clone(),
                qty: *qty,
            },
            (Flow::Order { customer, qty, .. }, 1) => Action::Charge {
                customer: customer.clone(),
                amount: qty * price,
            },
            (Flow::Order { item, qty, .. }, 2) => Action::Ship {
                item: item.clone(),
                qty: *qty,
            },
            (Flow::Project { name }, 0) => Action::CreateProject { name: name.clone() },
            (Flow::Project { name }, 1) => Action::CreatePipeline { name: name.clone() },
            (Flow::Project { name }, 2) => Action::CreateGroup { name: name.clone() },
            (flow, step) => panic!("{flow:?} has no step {step}"),
        }
    }
}

/// What a step does at its service.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Action {
    /// Take `qty` units of `item` out of stock.
    Reserve {
        /// The item reserved.
        item: String,
        /// Units.
        qty: i64,
    },
    /// Move `amount` from the customer's account to the merchant's.
    Charge {
        /// The paying customer.
        customer: String,
        /// The sum charged (units × price).
        amount: i64,
    },
    /// Book a shipment.
    Ship {
        /// The item shipped.
        item: String,
        /// Units.
        qty: i64,
    },
    /// Register a project name (identity service).
    CreateProject {
        /// The project's name.
        name: String,
    },
    /// Create the project's pipeline (delivery service).
    CreatePipeline {
        /// The project's name.
        name: String,
    },
    /// Create the project's group (code host).
    CreateGroup {
        /// The project's name.
        name: String,
    },
}

/// A command to a service: a step, or the compensation of one. `(saga, step, attempt,
/// undo)` is its idempotency key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Task {
    /// The saga.
    pub saga: SagaId,
    /// Which step of its flow.
    pub step: u8,
    /// The attempt (a retriable step's retries get new keys); for a compensation, the
    /// attempt it undoes.
    pub attempt: u32,
    /// A compensation.
    pub undo: bool,
    /// What to do.
    pub action: Action,
}

impl Task {
    /// The idempotency key, as the service's database stores it.
    pub fn key(&self) -> String {
        let kind = if self.undo { "undo" } else { "do" };
        format!("{}/{}/{}/{kind}", self.saga, self.step, self.attempt)
    }
}

/// A service's answer to a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StepOutcome {
    /// Done (a compensation always ends so).
    Ok,
    /// Refused for a business reason; nothing changed.
    Failed(&'static str),
    /// A row it needs is locked by another saga (semantic lock); nothing changed. The
    /// coordinator tries again under a new attempt.
    Busy,
}

/// A row of a service's database.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RowRef {
    /// Table.
    pub table: &'static str,
    /// Key.
    pub key: String,
}

impl RowRef {
    /// An item's stock.
    pub fn stock(item: &str) -> Self {
        RowRef {
            table: "stock",
            key: item.to_string(),
        }
    }
    /// A customer's balance.
    pub fn balance(customer: &str) -> Self {
        RowRef {
            table: "balance",
            key: customer.to_string(),
        }
    }
    /// A project name's owner.
    pub fn project(name: &str) -> Self {
        RowRef {
            table: "project",
            key: name.to_string(),
        }
    }
}

/// Draw one client operation of `workload`.
pub fn draw(workload: Workload, d: &mut Draw<'_>) -> SagaOp {
    let key = d.rng.index(d.params.keys as usize);
    let roll = d.rng.unit();
    let id = SagaId {
        client: d.client as u32,
        n: d.index as u32,
    };
    match workload {
        Workload::Order => {
            let customer = format!("cust{}", d.rng.index(d.params.keys as usize));
            let qty = d.rng.range_u64(1, 3) as i64;
            let item = format!("item{key}");
            if roll < d.params.read_probability / 2.0 {
                SagaOp::ReadStock { item }
            } else if roll < d.params.read_probability {
                SagaOp::ReadBalance { customer }
            } else {
                SagaOp::Order {
                    id,
                    customer,
                    item,
                    qty,
                }
            }
        }
        Workload::Project => {
            // Names are drawn from a wider space than accounts: most are free, some clash.
            let name = format!("p{}", d.rng.index(8 * d.params.keys as usize));
            if roll < d.params.read_probability {
                SagaOp::ReadProject { name }
            } else {
                SagaOp::CreateProject { id, name }
            }
        }
    }
}
