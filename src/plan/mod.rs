//! Seed → Plan: everything a run will do, decided up front and written down.
//!
//! A [`Plan`] is explicit data: the processes, every client operation with its start
//! time, and every fault with its time. The simulator only executes it (plus per-message
//! fates, which are drawn from the `network` stream while running because they depend on
//! how many messages the system sends). Because the plan is data, it is written next to a
//! failing seed's trace and can be read, edited and re-run.
//!
//! [`Plan::new`] is pure: the same scenario and seed always give the same plan. Each part
//! draws from its own named sub-stream of the seed ([`rng`]), so the fault schedule does
//! not change when the workload changes, and so on.

pub mod faults;
pub mod rng;
pub mod workload;

use rand::RngCore;
use serde::{Deserialize, Serialize};

use crate::scenario::{Params, Scenario};
use crate::systems::SystemKind;
use rng::{streams, SubStream};

pub use faults::{FaultAction, TimedAction};
pub use workload::{ClientOp, OpSpec};

/// What a process is, for fault targeting and display.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// A server of the system under test: may crash, pause and be partitioned.
    Server,
    /// Infrastructure (router, projection service): may be partitioned and clogged, and
    /// crashed or paused when the system allows it.
    Infra,
    /// A client: issues the workload; never crashes; its links can be clogged.
    Client,
}

/// One simulated process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeSpec {
    /// Display name, e.g. `r0`, `router`, `c2`.
    pub name: String,
    /// Its role.
    pub role: Role,
    /// Whether the fault schedule may crash and pause it.
    pub crashable: bool,
}

/// Everything one seed of one scenario will do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// Scenario name.
    pub scenario: String,
    /// The seed.
    pub seed: u64,
    /// The system under test.
    pub system: SystemKind,
    /// Planted bugs switched on.
    pub bugs: Vec<String>,
    /// Checks to run on the result.
    pub checks: Vec<String>,
    /// Concrete settings (knobs resolved for this seed).
    pub params: Params,
    /// The processes; clients come last.
    pub nodes: Vec<NodeSpec>,
    /// Client operations, by client then time.
    pub workload: Vec<ClientOp>,
    /// Fault actions in time order; all within the chaos phase.
    pub faults: Vec<TimedAction>,
    /// Per-process clock offset (ms).
    pub clock_skew_ms: Vec<i64>,
    /// Seed of madsim's own scheduler randomness.
    pub madsim_seed: u64,
}

impl Plan {
    /// The plan of `scenario` for `seed`.
    pub fn new(scenario: &Scenario, seed: u64) -> Plan {
        let params = scenario.resolve(seed);
        let nodes = scenario.system.topology(&params);
        let clients: Vec<usize> = nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| n.role == Role::Client)
            .map(|(i, _)| i)
            .collect();
        let workload = workload::generate(&params, &clients, seed);
        let faults = faults::schedule(&params, &nodes, seed);
        let skew = params.faults.clock.skew_ms_max as i64;
        let clock_skew_ms = (0..nodes.len())
            .map(|i| {
                if skew == 0 {
                    0
                } else {
                    let mut rng = SubStream::indexed(seed, streams::CLOCK, i);
                    rng.range_u64(0, 2 * skew as u64) as i64 - skew
                }
            })
            .collect();
        Plan {
            scenario: scenario.name.clone(),
            seed,
            system: scenario.system,
            bugs: scenario.file.bugs.clone(),
            checks: scenario.checks.clone(),
            params,
            nodes,
            workload,
            faults,
            clock_skew_ms,
            madsim_seed: SubStream::new(seed, streams::MADSIM).next_u64(),
        }
    }

    /// Whether a planted bug is on.
    pub fn has_bug(&self, bug: &str) -> bool {
        self.bugs.iter().any(|b| b == bug)
    }

    /// Indices of the processes with `role`.
    pub fn nodes_with(&self, role: Role) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|&i| self.nodes[i].role == role)
            .collect()
    }

    /// Index of the process called `name`.
    pub fn node(&self, name: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.name == name)
    }
}
