//! The expected load of a scenario's seeds, estimated from its settings before any runs.
//!
//! Every seed runs inside the envelope of `[limits]` (see `crate::sim`'s envelope), and a
//! seed that outgrows it is stopped with the verdict `limit`. A scenario whose seeds
//! *cannot* fit — 64 clients issuing an operation every millisecond for an hour, or Raft
//! heartbeats every millisecond between nine replicas of four shards — is a mistake in
//! the file, better reported at load time than as thousands of inconclusive seeds. So the
//! loader estimates, at the worst corner of the settings a sweep can draw (most clients,
//! shortest intervals, longest phases), two figures and compares them with the limits:
//!
//! * client operations per seed (each client issues one per mean think time during chaos),
//!   against `limits.history_ops_max`;
//! * simulated events per seed (messages delivered and timers fired): the operations times
//!   what one costs in the system, plus the system's periodic work (heartbeats, polls,
//!   retries) over the whole run, against `limits.events_max`.
//!
//! The system supplies its part ([`SystemLoad`]); the estimate is deliberately simple —
//! a factor of two either way is fine, since it only has to tell a seed that fits from
//! one that is orders of magnitude too big. The runtime envelope catches the rest.

use super::{LimitsParams, ScenarioFile};

/// The generic settings an estimate reads, at their worst corner for load.
#[derive(Debug, Clone, Copy)]
pub struct Worst {
    /// Most clients.
    pub clients: u64,
    /// Most replicas (per group).
    pub replicas: u64,
    /// Shortest mean think time between two operations of a client (ms, at least 1).
    pub op_interval_ms_mean: f64,
    /// Longest chaos phase (ms).
    pub chaos_ms: u64,
    /// Longest heal phase (ms).
    pub heal_ms: u64,
    /// Slowest network: the largest one-way latency (ms).
    pub latency_ms_max: u64,
}

impl Worst {
    /// The worst corner of `file`'s generic settings.
    pub fn of(file: &ScenarioFile) -> Worst {
        let swarm = file.swarm;
        // A seed's think time is uniform between `_min` and `_max` (put in order), so the
        // shortest mean comes with both at their least.
        let low = file.workload.corner(swarm, false);
        let mean = (low.op_interval_ms_min + low.op_interval_ms_max) as f64 / 2.0;
        let topology = file.topology.corner(swarm, true);
        let phases = file.phases.corner(swarm, true);
        let network = file.network.corner(swarm, true);
        Worst {
            latency_ms_max: network.latency_ms_max,
            clients: topology.clients,
            replicas: topology.replicas,
            op_interval_ms_mean: mean.max(1.0),
            chaos_ms: phases.chaos_ms,
            heal_ms: phases.heal_ms,
        }
    }

    /// Simulated seconds of the longest run (chaos and the whole heal bound).
    pub fn run_s(&self) -> f64 {
        (self.chaos_ms + self.heal_ms) as f64 / 1000.0
    }

    /// Client operations of the busiest seed.
    pub fn operations(&self) -> f64 {
        self.clients as f64 * self.chaos_ms as f64 / self.op_interval_ms_mean
    }
}

/// Periodic work of a system: a timer and the messages it sends.
#[derive(Debug, Clone, PartialEq)]
pub struct Periodic {
    /// What it is ("Raft heartbeats of 4 groups × 9 replicas").
    pub what: String,
    /// The knob that sets its period (`es_cluster.heartbeat_ms`).
    pub knob: String,
    /// Simulated events per simulated second.
    pub events_per_s: f64,
}

impl Periodic {
    /// `count` timers every `every_ms`, each firing costing `events` (the timer and the
    /// messages it sends and their replies).
    pub fn every(what: String, knob: &str, count: u64, every_ms: u64, events: f64) -> Periodic {
        Periodic {
            what,
            knob: knob.to_string(),
            events_per_s: count as f64 * events * 1000.0 / every_ms.max(1) as f64,
        }
    }
}

/// What a system adds to the generic estimate.
#[derive(Debug, Clone, PartialEq)]
pub struct SystemLoad {
    /// Simulated events one client operation costs (requests, replication, replies).
    pub events_per_op: f64,
    /// Periodic work, running for the whole seed.
    pub periodic: Vec<Periodic>,
    /// Its settings that contradict the generic ones at the worst corner (an election
    /// timeout too narrow for the network's latency): (key, message).
    pub conflicts: Vec<LoadProblem>,
}

/// Raft's steady cost: each of `groups` leaders sends a heartbeat to every follower and
/// gets a reply, every `heartbeat_ms`.
pub fn raft_heartbeats(system: &str, groups: u64, replicas: u64, heartbeat_ms: u64) -> Periodic {
    Periodic::every(
        format!("Raft heartbeats ({groups} group(s) of {replicas} replicas)"),
        &format!("{system}.heartbeat_ms"),
        groups,
        heartbeat_ms,
        1.0 + 2.0 * replicas.saturating_sub(1) as f64,
    )
}

/// Where a load problem is reported, and what it says.
pub type LoadProblem = (String, String);

/// The estimated load of a scenario's busiest seed.
#[derive(Debug, Clone, PartialEq)]
pub struct Estimate {
    /// Client operations.
    pub operations: f64,
    /// Simulated events in all.
    pub events: f64,
    /// What the events are made of: (what, the knob that sets it, events), largest first.
    pub terms: Vec<(String, String, f64)>,
    /// Simulated seconds of the run.
    pub run_s: f64,
}

/// Estimate the busiest seed's load from the generic settings and the system's part.
pub fn estimate(worst: &Worst, system: &SystemLoad) -> Estimate {
    let operations = worst.operations();
    let run_s = worst.run_s();
    let mut terms: Vec<(String, String, f64)> = vec![(
        format!(
            "{} client operations × {:.0} events each",
            thousands(operations),
            system.events_per_op
        ),
        "workload.op_interval_ms_min".to_string(),
        operations * system.events_per_op,
    )];
    for p in &system.periodic {
        terms.push((p.what.clone(), p.knob.clone(), p.events_per_s * run_s));
    }
    terms.sort_by(|a, b| b.2.total_cmp(&a.2));
    Estimate {
        operations,
        events: terms.iter().map(|t| t.2).sum(),
        terms,
        run_s,
    }
}

/// The problems of a scenario whose busiest seed cannot fit its envelope.
pub fn check(file: &ScenarioFile, worst: &Worst, system: &SystemLoad) -> Vec<LoadProblem> {
    // The least limits any seed can get (a limit may be a range too).
    let limits: LimitsParams = file.limits.corner(file.swarm, false);
    let load = estimate(worst, system);
    let mut problems = system.conflicts.clone();
    if load.operations > limits.history_ops_max as f64 {
        problems.push((
            "workload.op_interval_ms_min".to_string(),
            format!(
                "the expected load does not fit a seed's envelope: about {} client operations per seed \
                 ({} client(s) × {} ms of chaos ÷ {:.1} ms between operations), more than \
                 `limits.history_ops_max` = {}. To fit, raise `workload.op_interval_ms_min`/`_max`, \
                 lower `topology.clients` or `phases.chaos_ms`, or raise `limits.history_ops_max` (up to {})",
                thousands(load.operations),
                worst.clients,
                thousands(worst.chaos_ms as f64),
                worst.op_interval_ms_mean,
                thousands(limits.history_ops_max as f64),
                thousands(super::LimitsSection::history_ops_max().valid.1 as f64)
            ),
        ));
    }
    if load.events > limits.events_max as f64 {
        let parts: Vec<String> = load
            .terms
            .iter()
            .filter(|t| t.2 >= 1.0)
            .map(|(what, knob, events)| format!("{what}: {} (`{knob}`)", thousands(*events)))
            .collect();
        let busiest = &load.terms[0].1;
        problems.push((
            busiest.clone(),
            format!(
                "the expected load does not fit a seed's envelope: about {} simulated events per seed \
                 over {:.1} s of simulated time ({}), more than `limits.events_max` = {}. \
                 To fit, lengthen the busiest period (`{busiest}`), shorten `phases.chaos_ms`/`heal_ms`, \
                 or raise `limits.events_max` (up to {})",
                thousands(load.events),
                load.run_s,
                parts.join("; "),
                thousands(limits.events_max as f64),
                thousands(super::LimitsSection::events_max().valid.1 as f64)
            ),
        ));
    }
    problems
}

/// `1234567.8` as `1,234,568`.
fn thousands(v: f64) -> String {
    let digits = format!("{:.0}", v.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_thousands() {
        assert_eq!(thousands(0.0), "0");
        assert_eq!(thousands(999.4), "999");
        assert_eq!(thousands(1000.0), "1,000");
        assert_eq!(thousands(1234567.8), "1,234,568");
    }

    #[test]
    fn heartbeats_count_the_leader_timer_and_a_round_trip_per_follower() {
        let p = raft_heartbeats("x", 4, 9, 1);
        assert_eq!(p.events_per_s, 4.0 * 17.0 * 1000.0);
        assert_eq!(p.knob, "x.heartbeat_ms");
    }
}
