//! The fault schedule of the chaos phase.
//!
//! Each fault kind has its own stream (`faults/partition`, `faults/crash`, …) from which
//! it draws exponential inter-arrival times and its parameters (target, shape, duration).
//! The candidates are then merged in time order and admitted under shared limits: at most
//! one partition at a time, a process is crashed or paused only while it is up, and at
//! most `faults.crash.max_down` processes are down at once. A rejected candidate consumes
//! no draws of another kind, so switching one kind on or off leaves the others' schedule
//! unchanged.
//!
//! Every fault that starts also ends, no later than the end of the chaos phase: the heal
//! phase starts from a whole world.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::{NodeSpec, Role};
use crate::rng::{streams, SubStream};
use crate::scenario::{Params, PartitionShape};

/// One thing the fault injector does.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum FaultAction {
    /// Cut the listed directed links.
    Partition {
        /// Partition number (to match its heal).
        id: u32,
        /// The shape it was generated from.
        shape: PartitionShape,
        /// Directed links (from, to) that drop every message.
        blocked: Vec<(usize, usize)>,
    },
    /// Restore the links of partition `id`.
    Heal {
        /// Partition number.
        id: u32,
    },
    /// Kill a process: its memory and unsynced disk writes are lost.
    Crash {
        /// Process index.
        node: usize,
    },
    /// Start a crashed process again; it recovers from its disk.
    Restart {
        /// Process index.
        node: usize,
    },
    /// Stop a process from running (it keeps its memory).
    Pause {
        /// Process index.
        node: usize,
    },
    /// Let a paused process run again.
    Resume {
        /// Process index.
        node: usize,
    },
    /// Hold every message on the link `from → to` until the clog ends.
    Clog {
        /// Sender.
        from: usize,
        /// Receiver.
        to: usize,
        /// When held messages are released (ms).
        until_ms: u64,
    },
    /// End a clog.
    Unclog {
        /// Sender.
        from: usize,
        /// Receiver.
        to: usize,
    },
}

impl FaultAction {
    /// The same action with process indices renumbered by `map`; `None` when it names a
    /// process `map` removes (a partition only loses the links of removed processes).
    pub fn renumbered(&self, map: &dyn Fn(usize) -> Option<usize>) -> Option<FaultAction> {
        use FaultAction::*;
        Some(match self {
            Partition { id, shape, blocked } => Partition {
                id: *id,
                shape: *shape,
                blocked: (blocked.iter())
                    .filter_map(|&(a, b)| Some((map(a)?, map(b)?)))
                    .collect(),
            },
            Heal { id } => Heal { id: *id },
            Crash { node } => Crash { node: map(*node)? },
            Restart { node } => Restart { node: map(*node)? },
            Pause { node } => Pause { node: map(*node)? },
            Resume { node } => Resume { node: map(*node)? },
            Clog { from, to, until_ms } => Clog {
                from: map(*from)?,
                to: map(*to)?,
                until_ms: *until_ms,
            },
            Unclog { from, to } => Unclog {
                from: map(*from)?,
                to: map(*to)?,
            },
        })
    }

    /// The processes it names.
    pub fn nodes(&self) -> Vec<usize> {
        match self {
            FaultAction::Partition { blocked, .. } => {
                blocked.iter().flat_map(|&(a, b)| [a, b]).collect()
            }
            FaultAction::Heal { .. } => Vec::new(),
            FaultAction::Crash { node }
            | FaultAction::Restart { node }
            | FaultAction::Pause { node }
            | FaultAction::Resume { node } => vec![*node],
            FaultAction::Clog { from, to, .. } | FaultAction::Unclog { from, to } => {
                vec![*from, *to]
            }
        }
    }
}

/// A fault action at a time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimedAction {
    /// When (ms of simulated time).
    pub at_ms: u64,
    /// What.
    pub action: FaultAction,
}

/// Bound on candidates per fault kind: a schedule stays small whatever the settings.
pub const CANDIDATES_PER_KIND_MAX: usize = 10_000;

/// Kinds of fault, in the order used to break ties at equal times.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Partition,
    Crash,
    Pause,
    Clog,
}

impl Kind {
    /// The name of its stream (`faults/<name>`).
    fn name(self) -> &'static str {
        match self {
            Kind::Partition => "partition",
            Kind::Crash => "crash",
            Kind::Pause => "pause",
            Kind::Clog => "clog",
        }
    }
}

/// A drawn fault before admission.
#[derive(Debug, Clone)]
struct Candidate {
    at_ms: u64,
    kind: Kind,
    end_ms: u64,
    /// Crash/pause target, or clog sender.
    node: usize,
    /// Clog receiver.
    peer: usize,
    partition: Option<(PartitionShape, Vec<(usize, usize)>)>,
}

/// Build the fault schedule of one seed.
pub fn schedule(params: &Params, nodes: &[NodeSpec], seed: u64) -> Vec<TimedAction> {
    let chaos_ms = params.phases.chaos_ms;
    let f = &params.faults;
    let crashable: Vec<usize> = (0..nodes.len()).filter(|&i| nodes[i].crashable).collect();
    let partitionable: Vec<usize> = (0..nodes.len())
        .filter(|&i| nodes[i].role != Role::Client)
        .collect();
    // Links that carry traffic: clients talk to servers, never to each other.
    let links: Vec<(usize, usize)> = (0..nodes.len())
        .flat_map(|a| (0..nodes.len()).map(move |b| (a, b)))
        .filter(|&(a, b)| {
            a != b && (nodes[a].role != Role::Client || nodes[b].role != Role::Client)
        })
        .collect();
    let draw = |kind,
                interval_ms_mean,
                bounds,
                pick: &mut dyn FnMut(&mut SubStream, &mut Candidate) -> bool| {
        candidates(kind, interval_ms_mean, bounds, chaos_ms, seed, pick)
    };

    let shapes = &f.partition_shapes;
    let mut all = draw(
        Kind::Partition,
        f.partition.interval_ms_mean,
        (f.partition.duration_ms_min, f.partition.duration_ms_max),
        &mut |rng, c| {
            if partitionable.len() < 2 || shapes.is_empty() {
                return false;
            }
            let shape = shapes[rng.index(shapes.len())];
            c.partition = Some(partition(shape, &partitionable, rng));
            true
        },
    );
    // Crashes and pauses both strike one process that may be taken down.
    let mut pick_crashable = |rng: &mut SubStream, c: &mut Candidate| {
        if crashable.is_empty() {
            return false;
        }
        c.node = crashable[rng.index(crashable.len())];
        true
    };
    all.extend(draw(
        Kind::Crash,
        f.crash.interval_ms_mean,
        (f.crash.restart_delay_ms_min, f.crash.restart_delay_ms_max),
        &mut pick_crashable,
    ));
    all.extend(draw(
        Kind::Pause,
        f.pause.interval_ms_mean,
        (f.pause.duration_ms_min, f.pause.duration_ms_max),
        &mut pick_crashable,
    ));
    all.extend(draw(
        Kind::Clog,
        f.clog.interval_ms_mean,
        (f.clog.duration_ms_min, f.clog.duration_ms_max),
        &mut |rng, c| {
            if links.is_empty() {
                return false;
            }
            (c.node, c.peer) = links[rng.index(links.len())];
            true
        },
    ));
    all.sort_by_key(|c| (c.at_ms, c.kind));
    admit(all, f.crash.max_down as usize)
}

/// Draw the candidates of one fault kind from its own stream (`faults/<kind>`):
/// exponential inter-arrival times, a duration in `[lo, hi]`, and whatever `pick` draws
/// (a target, a shape); `pick` may refuse a candidate.
fn candidates(
    kind: Kind,
    interval_ms_mean: u64,
    (lo, hi): (u64, u64),
    chaos_ms: u64,
    seed: u64,
    pick: &mut dyn FnMut(&mut SubStream, &mut Candidate) -> bool,
) -> Vec<Candidate> {
    let mut out = Vec::new();
    if interval_ms_mean == 0 {
        return out;
    }
    let mut rng = SubStream::new(seed, &format!("{}/{}", streams::FAULTS, kind.name()));
    let mut t = 0.0;
    for _ in 0..CANDIDATES_PER_KIND_MAX {
        t += rng.exponential(interval_ms_mean as f64);
        let at_ms = t as u64;
        if at_ms >= chaos_ms {
            break;
        }
        let duration = rng.range_u64(lo, hi).max(1);
        let mut c = Candidate {
            at_ms,
            kind,
            end_ms: (at_ms + duration).min(chaos_ms),
            node: 0,
            peer: 0,
            partition: None,
        };
        if pick(&mut rng, &mut c) {
            out.push(c);
        }
    }
    out
}

/// The admission of candidates under the shared limits, in time order.
struct Admission {
    /// (time, admission order, action): the order keeps equal times as admitted.
    actions: Vec<(u64, u64, FaultAction)>,
    order: u64,
    /// Processes down (crashed or paused) and when they come back.
    down: Vec<(usize, u64)>,
    max_down: usize,
    partition_until: u64,
    partition_id: u32,
    clogged: Vec<((usize, usize), u64)>,
}

impl Admission {
    fn push(&mut self, at: u64, action: FaultAction) {
        self.order += 1;
        self.actions.push((at, self.order, action));
    }

    fn partition(&mut self, c: Candidate) {
        if c.at_ms < self.partition_until {
            return;
        }
        let (shape, blocked) = c.partition.expect("partition candidates carry a shape");
        if blocked.is_empty() {
            return;
        }
        self.partition_id += 1;
        self.partition_until = c.end_ms;
        let id = self.partition_id;
        self.push(c.at_ms, FaultAction::Partition { id, shape, blocked });
        self.push(c.end_ms, FaultAction::Heal { id });
    }

    fn take_down(&mut self, c: Candidate) {
        if self.down.len() >= self.max_down || self.down.iter().any(|&(n, _)| n == c.node) {
            return;
        }
        self.down.push((c.node, c.end_ms));
        let node = c.node;
        let (start, end) = if c.kind == Kind::Crash {
            (FaultAction::Crash { node }, FaultAction::Restart { node })
        } else {
            (FaultAction::Pause { node }, FaultAction::Resume { node })
        };
        self.push(c.at_ms, start);
        self.push(c.end_ms, end);
    }

    fn clog(&mut self, c: Candidate) {
        let (from, to) = (c.node, c.peer);
        if self.clogged.iter().any(|&(l, _)| l == (from, to)) {
            return;
        }
        self.clogged.push(((from, to), c.end_ms));
        let until_ms = c.end_ms;
        self.push(c.at_ms, FaultAction::Clog { from, to, until_ms });
        self.push(c.end_ms, FaultAction::Unclog { from, to });
    }
}

/// Admit candidates in time order under the shared limits; emit start and end actions.
fn admit(candidates: Vec<Candidate>, max_down: usize) -> Vec<TimedAction> {
    let mut a = Admission {
        actions: Vec::new(),
        order: 0,
        down: Vec::new(),
        max_down,
        partition_until: 0,
        partition_id: 0,
        clogged: Vec::new(),
    };
    for c in candidates {
        a.down.retain(|&(_, back)| back > c.at_ms);
        a.clogged.retain(|&(_, until)| until > c.at_ms);
        match c.kind {
            Kind::Partition => a.partition(c),
            Kind::Crash | Kind::Pause => a.take_down(c),
            Kind::Clog => a.clog(c),
        }
    }
    a.actions.sort_by_key(|&(at, order, _)| (at, order));
    a.actions
        .into_iter()
        .map(|(at_ms, _, action)| TimedAction { at_ms, action })
        .collect()
}

/// The directed links a partition of `shape` cuts among `nodes`.
fn partition(
    shape: PartitionShape,
    nodes: &[usize],
    rng: &mut SubStream,
) -> (PartitionShape, Vec<(usize, usize)>) {
    let n = nodes.len();
    let mut order = nodes.to_vec();
    rng.shuffle(&mut order);
    // Small clusters cannot form every shape; fall back to the nearest one that exists.
    let shape = match shape {
        PartitionShape::Ring if n < 4 => PartitionShape::Split,
        PartitionShape::Bridge if n < 3 => PartitionShape::Isolate,
        s => s,
    };
    let connected = connected(shape, &order, rng);
    let mut blocked = Vec::new();
    for &a in nodes {
        for &b in nodes {
            if a != b && !connected.contains(&(a, b)) {
                blocked.push((a, b));
            }
        }
    }
    (shape, blocked)
}

/// The directed links that stay up in a partition of `shape` over the shuffled `order`.
fn connected(
    shape: PartitionShape,
    order: &[usize],
    rng: &mut SubStream,
) -> BTreeSet<(usize, usize)> {
    let n = order.len();
    let mut connected: BTreeSet<(usize, usize)> = BTreeSet::new();
    let mut both = |a: usize, b: usize| {
        connected.insert((a, b));
        connected.insert((b, a));
    };
    match shape {
        PartitionShape::Isolate | PartitionShape::Split => {
            let k = if shape == PartitionShape::Isolate {
                1
            } else {
                1 + rng.index(((n - 1) / 2).max(1))
            };
            let (minority, majority) = order.split_at(k);
            for side in [minority, majority] {
                for &a in side {
                    for &b in side {
                        both(a, b);
                    }
                }
            }
        }
        PartitionShape::Ring => {
            for i in 0..n {
                both(order[i], order[(i + 1) % n]);
            }
        }
        PartitionShape::Bridge => {
            let bridge = order[0];
            let rest = &order[1..];
            let (left, right) = rest.split_at(rest.len() / 2);
            for side in [left, right] {
                for &a in side {
                    both(a, bridge);
                    for &b in side {
                        both(a, b);
                    }
                }
            }
        }
        PartitionShape::OneWay => {
            let k = 1 + rng.index(n - 1);
            let (sender, receiver) = order.split_at(k);
            for &a in order {
                for &b in order {
                    // Everything flows except receiver → sender.
                    if !(receiver.contains(&a) && sender.contains(&b)) {
                        connected.insert((a, b));
                    }
                }
            }
        }
    }
    connected
}

/// Group a fault schedule into episodes: each start with the end that undoes it.
pub fn episodes(faults: &[TimedAction]) -> Vec<Vec<usize>> {
    let mut out: Vec<Vec<usize>> = Vec::new();
    let mut open: Vec<(FaultAction, usize)> = Vec::new(); // (the end it waits for, episode)
    for (i, t) in faults.iter().enumerate() {
        if let Some(at) = open.iter().position(|(end, _)| *end == t.action) {
            let (_, episode) = open.swap_remove(at);
            out[episode].push(i);
            continue;
        }
        if let Some(end) = end_of(&t.action) {
            open.push((end, out.len()));
        }
        out.push(vec![i]);
    }
    out
}

/// The action that ends the episode `start` begins (a start's own shape, for matching).
fn end_of(start: &FaultAction) -> Option<FaultAction> {
    Some(match *start {
        FaultAction::Partition { id, .. } => FaultAction::Heal { id },
        FaultAction::Crash { node } => FaultAction::Restart { node },
        FaultAction::Pause { node } => FaultAction::Resume { node },
        FaultAction::Clog { from, to, .. } => FaultAction::Unclog { from, to },
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cut(shape: PartitionShape, n: usize, seed: u64) -> Vec<(usize, usize)> {
        let nodes: Vec<usize> = (0..n).collect();
        partition(shape, &nodes, &mut SubStream::new(seed, "t")).1
    }

    #[test]
    fn isolate_cuts_one_node_both_ways() {
        let blocked = cut(PartitionShape::Isolate, 5, 1);
        assert_eq!(blocked.len(), 8);
        let lonely = blocked[0].0.min(blocked[0].1);
        let node = if blocked.iter().all(|&(a, b)| a == lonely || b == lonely) {
            lonely
        } else {
            blocked[0].0.max(blocked[0].1)
        };
        assert!(blocked.iter().all(|&(a, b)| a == node || b == node));
    }

    #[test]
    fn one_way_is_asymmetric() {
        for seed in 0..20 {
            let blocked = cut(PartitionShape::OneWay, 5, seed);
            assert!(!blocked.is_empty());
            for &(a, b) in &blocked {
                assert!(
                    !blocked.contains(&(b, a)),
                    "one-way cut {a}->{b} is symmetric"
                );
            }
        }
    }

    #[test]
    fn ring_keeps_neighbours_only() {
        let blocked = cut(PartitionShape::Ring, 5, 3);
        // 5 nodes: 20 directed links, 10 kept on the ring.
        assert_eq!(blocked.len(), 10);
    }

    #[test]
    fn bridge_node_sees_everyone() {
        let blocked = cut(PartitionShape::Bridge, 5, 4);
        let touched: BTreeSet<usize> = blocked.iter().flat_map(|&(a, b)| [a, b]).collect();
        assert_eq!(
            touched.len(),
            4,
            "exactly one node (the bridge) keeps every link"
        );
    }
}
