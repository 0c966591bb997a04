//! The cycle search: which cycles of the dependency graph a history holds, by class.
//!
//! Every class is searched per strongly connected component, one example cycle each:
//!
//! * G0 (write edges only) and G1c (write and read edges, at least one read) on the cycle
//!   engine ([`crate::check::cycle`]), which is linear in the edges;
//! * G-single (exactly one anti-dependency): for each `rw` edge `a → b` of a component,
//!   a breadth-first search from `b` back to `a` over the other edges. Complete: if a
//!   cycle with one `rw` edge exists, the search from its `rw` edge finds one;
//! * G-nonadjacent (`rw` edges, no two in a row), in components without a G-single: the
//!   same search over states `(node, whether the last edge was rw)`, which never takes
//!   two `rw` edges in a row and must close on a non-`rw` edge. It finds closed walks,
//!   as Elle's search does;
//! * G2-item (any cycle with an `rw` edge) on the cycle engine.
//!
//! Each class runs in layers: the data edges alone, then with each process's order
//! (`-process`), then with real-time order too (`-realtime`), the layers a model needs.
//! A cycle is named by what it holds (its `rw` edges, then whether it needed a process
//! or real-time edge), so a search of one class may report a cycle of a worse one. The
//! breadth-first searches count the nodes they visit against a budget; when it runs out
//! the report says so, as Elle's "cycle exists but the search timed out" does.

use std::collections::{BTreeMap, VecDeque};

use super::list_append::Inferred;
use super::models::Anomaly;
use crate::check::cycle::{Kind, Kinds, Spec, Step};

/// A cycle found and its class.
#[derive(Debug, Clone)]
pub struct Cycle {
    /// The anomaly it is.
    pub anomaly: Anomaly,
    /// Its edges, a closed walk over graph nodes.
    pub steps: Vec<Step>,
}

/// What the search found.
#[derive(Debug, Default)]
pub struct Found {
    /// Example cycles, one per class and component.
    pub cycles: Vec<Cycle>,
    /// Whether a breadth-first search ran out of its budget (cycles may be missing).
    pub exhausted: bool,
}

const DATA: &[Kind] = &[Kind::Ww, Kind::Wr, Kind::Rw];

/// Each node's out-edges: target and kinds, targets in order.
type Adjacency = Vec<Vec<(usize, Kinds)>>;

/// The class of a closed walk, by the edges it holds.
pub fn classify(steps: &[Step]) -> Anomaly {
    let rw: Vec<bool> = steps.iter().map(|s| s.kind == Kind::Rw).collect();
    let n = rw.len();
    let adjacent = (0..n).any(|i| rw[i] && rw[(i + 1) % n]);
    let count = rw.iter().filter(|&&r| r).count();
    let wr = steps.iter().any(|s| s.kind == Kind::Wr);
    let realtime = steps.iter().any(|s| s.kind == Kind::Realtime);
    let process = steps.iter().any(|s| s.kind == Kind::Process);
    use Anomaly::*;
    let by_layer = |base, p, r| {
        if realtime {
            r
        } else if process {
            p
        } else {
            base
        }
    };
    match count {
        0 if wr => by_layer(G1c, G1cProcess, G1cRealtime),
        0 => by_layer(G0, G0Process, G0Realtime),
        1 => by_layer(GSingle, GSingleProcess, GSingleRealtime),
        _ if !adjacent => by_layer(GNonadjacent, GNonadjacentProcess, GNonadjacentRealtime),
        _ => by_layer(G2Item, G2ItemProcess, G2ItemRealtime),
    }
}

/// Search `inf`'s graph for cycles, with process and real-time layers as asked, visiting
/// at most `budget` nodes in the breadth-first searches; at most `max` cycles per class.
pub fn search(inf: &Inferred, process: bool, realtime: bool, budget: u64, max: usize) -> Found {
    let graph = inf.builder().build();
    let adjacency = graph.adjacency();
    let mut found = Found::default();
    let mut layers = vec![(Kinds::of(&[]), None)];
    if process || realtime {
        layers.push((Kinds::of(&[Kind::Process]), Some(Kind::Process)));
    }
    if realtime {
        layers.push((
            Kinds::of(&[Kind::Process, Kind::Realtime]),
            Some(Kind::Realtime),
        ));
    }
    let mut left = budget;
    for (extra, layer) in layers {
        let required = |base: Kind| Kinds::of(&[layer.unwrap_or(base)]);
        for (kinds, base) in [
            (&[Kind::Ww][..], Kind::Ww),
            (&[Kind::Ww, Kind::Wr][..], Kind::Wr),
        ] {
            let spec = Spec {
                allowed: Kinds::of(kinds).union(extra),
                required: required(base),
            };
            for steps in graph.cycles(spec, max).cycles {
                keep(&mut found, steps, max);
            }
        }
        let allowed = Kinds::of(DATA).union(extra);
        let (members, component_of) = graph.components(allowed);
        for (id, members) in members.iter().enumerate() {
            let component = Scope {
                members,
                component_of: &component_of,
                id,
            };
            let single = single_rw(&adjacency, &component, allowed, &mut left);
            let walk =
                single.or_else(|| nonadjacent_rw(&adjacency, &component, allowed, &mut left));
            if let Some(steps) = walk {
                keep(&mut found, steps, max);
            }
            if left == 0 {
                found.exhausted = true;
                return found;
            }
        }
        let spec = Spec {
            allowed,
            required: required(Kind::Rw),
        };
        for steps in graph.cycles(spec, max).cycles {
            keep(&mut found, steps, max);
        }
    }
    found
}

/// Keep a cycle unless `max` of its class are kept or the same nodes already are.
fn keep(found: &mut Found, steps: Vec<Step>, max: usize) {
    let anomaly = classify(&steps);
    let mut nodes: Vec<usize> = steps.iter().map(|s| s.from).collect();
    nodes.sort_unstable();
    let same = |c: &Cycle| {
        let mut m: Vec<usize> = c.steps.iter().map(|s| s.from).collect();
        m.sort_unstable();
        c.anomaly == anomaly && m == nodes
    };
    let of_class = found.cycles.iter().filter(|c| c.anomaly == anomaly).count();
    if of_class < max && !found.cycles.iter().any(same) {
        found.cycles.push(Cycle { anomaly, steps });
    }
}

/// One strongly connected component: its nodes, and every node's component, so that
/// membership is one lookup and nothing is sized by the whole graph per component.
struct Scope<'a> {
    members: &'a [usize],
    component_of: &'a [usize],
    id: usize,
}

impl Scope<'_> {
    fn has(&self, n: usize) -> bool {
        self.component_of[n] == self.id
    }
}

/// The `rw` edges inside a component, in order.
fn rw_edges(adj: &Adjacency, inside: &Scope) -> Vec<(usize, usize)> {
    let rw = Kinds::of(&[Kind::Rw]);
    (inside.members.iter())
        .flat_map(|&a| {
            (adj[a].iter())
                .filter(|(b, k)| inside.has(*b) && k.meets(rw))
                .map(move |&(b, _)| (a, b))
        })
        .collect()
}

/// A cycle with exactly one `rw` edge inside the component, if one exists.
fn single_rw(adj: &Adjacency, inside: &Scope, allowed: Kinds, left: &mut u64) -> Option<Vec<Step>> {
    // The search from the rw edge's head never takes another rw edge.
    through_rw(adj, inside, allowed, left, false)
}

/// A closed walk whose `rw` edges are never adjacent, through one of the component's.
fn nonadjacent_rw(
    adj: &Adjacency,
    inside: &Scope,
    allowed: Kinds,
    left: &mut u64,
) -> Option<Vec<Step>> {
    // After an rw edge only a non-rw edge; the walk closes on a non-rw edge.
    through_rw(adj, inside, allowed, left, true)
}

/// A closed walk through one of the component's `rw` edges `a → b`: a search from `b`
/// back to `a` over the other allowed edges, and — when `more_rw` — further `rw` edges,
/// never two in a row. `None` when none exists or the budget ran out.
fn through_rw(
    adj: &Adjacency,
    inside: &Scope,
    allowed: Kinds,
    left: &mut u64,
    more_rw: bool,
) -> Option<Vec<Step>> {
    let rw = Kinds::of(&[Kind::Rw]);
    let others = allowed.without(Kind::Rw);
    let step = |last_rw: bool, k: Kinds| match k.first_in(others) {
        Some(kind) => Some((kind, false)),
        None if more_rw && !last_rw && k.meets(rw) => Some((Kind::Rw, true)),
        None => None,
    };
    for (a, b) in rw_edges(adj, inside) {
        if let Some(path) = bfs(adj, inside, (b, true), (a, false), left, step)? {
            let mut steps = vec![Step {
                from: a,
                to: b,
                kind: Kind::Rw,
            }];
            steps.extend(path);
            return Some(steps);
        }
    }
    None
}

/// Breadth-first search over states `(node, flag)` inside a component, from `start` to
/// `goal`, taking an edge when `step(flag, kinds)` gives its kind and the next flag.
/// `None` when the budget ran out; `Some(None)` when the goal is unreachable.
fn bfs(
    adj: &Adjacency,
    inside: &Scope,
    start: (usize, bool),
    goal: (usize, bool),
    left: &mut u64,
    step: impl Fn(bool, Kinds) -> Option<(Kind, bool)>,
) -> Option<Option<Vec<Step>>> {
    let mut parent: BTreeMap<(usize, bool), ((usize, bool), Kind)> = BTreeMap::new();
    let mut queue = VecDeque::from([start]);
    parent.insert(start, (start, Kind::Ww));
    // Each state enters the queue once: bounded by twice the component's size.
    while let Some(state) = queue.pop_front() {
        if state == goal {
            break;
        }
        if *left == 0 {
            return None;
        }
        *left -= 1;
        for &(next, kinds) in adj[state.0].iter().filter(|(n, _)| inside.has(*n)) {
            let Some((kind, flag)) = step(state.1, kinds) else {
                continue;
            };
            if let std::collections::btree_map::Entry::Vacant(v) = parent.entry((next, flag)) {
                v.insert((state, kind));
                queue.push_back((next, flag));
            }
        }
    }
    if !parent.contains_key(&goal) || start == goal {
        return Some(None);
    }
    let mut steps = Vec::new();
    let mut at = goal;
    while at != start {
        let (p, kind) = parent[&at];
        steps.push(Step {
            from: p.0,
            to: at.0,
            kind,
        });
        at = p;
    }
    steps.reverse();
    Some(Some(steps))
}
