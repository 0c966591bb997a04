//! Fault points: perturbations at code sites inside components, drawn into the plan.
//!
//! The fault schedule ([`super::faults`]) acts from outside — it cuts links, kills
//! processes. Some interleavings need a component to behave unusually at one moment,
//! within what its protocol allows: an fsync that takes long, a kind of message held
//! back, a timer that fires early. FoundationDB calls such sites `BUGGIFY`. Here each
//! site is a [`Site`]; a component asks [`crate::sim::Ctx::at_fault_point`] whether one
//! of the plan's points is active for its process now, and behaves accordingly.
//!
//! A share of seeds ([`SHARE`]) get points: one to three, each a site the system offers
//! ([`super::Spec::fault_sites`]), a server process and a window inside the chaos phase.
//! They are drawn from their own stream (`fault_points`), so a seed without points plans
//! and runs exactly as before points existed, and they are data in the plan: `plan.json`
//! replays them and the shrinker removes those a failure does not need.

use serde::{Deserialize, Serialize};

use super::{NodeSpec, Role};
use crate::rng::{streams, SubStream};

/// Share of seeds that get fault points.
pub const SHARE: f64 = 0.5;
/// Most points one seed gets.
pub const POINTS_MAX: usize = 3;
/// Shortest and longest window of a point (ms).
pub const WINDOW_MS_MIN: u64 = 100;
/// Longest window of a point (ms).
pub const WINDOW_MS_MAX: u64 = 1000;

/// A code site that can misbehave (within its protocol).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "site", rename_all = "snake_case")]
pub enum Site {
    /// Raft: the election timer fires early, its wait drawn between the heartbeat
    /// interval and the election timeout's lower bound.
    EarlyElectionTimer,
    /// Raft: the leader ships one entry per AppendEntries.
    OneEntryPerAppend,
    /// Raft: the leader's group commit (its fsync) is slow.
    SlowFsync,
    /// Raft: a snapshot after every applied entry.
    EagerSnapshot,
    /// Any process: the messages of one kind it sends are held until the window ends.
    Hold {
        /// The message kind (its label in the trace).
        label: String,
    },
}

/// One perturbation: a site misbehaving on one process during a window.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FaultPoint {
    /// What misbehaves.
    #[serde(flatten)]
    pub site: Site,
    /// The process.
    pub node: usize,
    /// Window start (ms).
    pub from_ms: u64,
    /// Window end (ms, exclusive).
    pub until_ms: u64,
}

impl FaultPoint {
    /// Whether it is active on `node` at `now_ns`.
    pub fn active(&self, node: usize, now_ns: u64) -> bool {
        const NS_PER_MS: u64 = 1_000_000;
        self.node == node && (self.from_ms * NS_PER_MS..self.until_ms * NS_PER_MS).contains(&now_ns)
    }
}

/// The fault points of one seed: none for most, up to [`POINTS_MAX`] for [`SHARE`] of
/// them, on server processes, drawn from the `fault_points` stream.
pub fn draw(sites: &[Site], nodes: &[NodeSpec], chaos_ms: u64, seed: u64) -> Vec<FaultPoint> {
    let servers: Vec<usize> = (0..nodes.len())
        .filter(|&i| nodes[i].role == Role::Server)
        .collect();
    if sites.is_empty() || servers.is_empty() || chaos_ms == 0 {
        return Vec::new();
    }
    let mut rng = SubStream::new(seed, streams::FAULT_POINTS);
    if !rng.chance(SHARE) {
        return Vec::new();
    }
    let count = 1 + rng.index(POINTS_MAX);
    let mut points: Vec<FaultPoint> = (0..count)
        .map(|_| {
            let site = sites[rng.index(sites.len())].clone();
            let node = servers[rng.index(servers.len())];
            let from_ms = rng.range_u64(0, chaos_ms - 1);
            let until_ms = (from_ms + rng.range_u64(WINDOW_MS_MIN, WINDOW_MS_MAX)).min(chaos_ms);
            FaultPoint {
                site,
                node,
                from_ms,
                until_ms,
            }
        })
        .collect();
    points.sort_by_key(|p| (p.from_ms, p.node));
    points
}

/// The sites a Raft group offers: its own, and holding each of its message kinds.
pub fn raft_sites(labels: &[&str]) -> Vec<Site> {
    let mut sites = vec![
        Site::EarlyElectionTimer,
        Site::OneEntryPerAppend,
        Site::SlowFsync,
        Site::EagerSnapshot,
    ];
    sites.extend(labels.iter().map(|l| Site::Hold {
        label: (*l).to_string(),
    }));
    sites
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nodes() -> Vec<NodeSpec> {
        (0..4)
            .map(|i| NodeSpec {
                name: format!("n{i}"),
                role: if i < 3 { Role::Server } else { Role::Client },
                crashable: i < 3,
            })
            .collect()
    }

    #[test]
    fn about_half_the_seeds_get_points_inside_the_chaos_phase_on_servers() {
        let sites = raft_sites(&["heartbeat"]);
        let with = (0..400u64)
            .filter(|&seed| {
                let points = draw(&sites, &nodes(), 3000, seed);
                for p in &points {
                    assert!(p.node < 3, "a point on a client: {p:?}");
                    assert!(p.from_ms < p.until_ms && p.until_ms <= 3000, "{p:?}");
                }
                assert!(points.len() <= POINTS_MAX);
                !points.is_empty()
            })
            .count();
        assert!((150..250).contains(&with), "{with} of 400 seeds got points");
        assert_eq!(
            draw(&sites, &nodes(), 3000, 7),
            draw(&sites, &nodes(), 3000, 7)
        );
        assert!(draw(&[], &nodes(), 3000, 7).is_empty());
    }

    #[test]
    fn a_point_is_active_on_its_node_inside_its_window_only() {
        let p = FaultPoint {
            site: Site::SlowFsync,
            node: 1,
            from_ms: 10,
            until_ms: 20,
        };
        assert!(p.active(1, 10_000_000));
        assert!(p.active(1, 19_999_999));
        assert!(!p.active(1, 20_000_000));
        assert!(!p.active(0, 15_000_000));
        assert!(!p.active(1, 9_999_999));
    }
}
