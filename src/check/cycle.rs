//! The cycle engine: a graph of dependencies between operations, and the search for the
//! cycles that name isolation anomalies.
//!
//! A transactional checker infers edges between operations, each of a [`Kind`]:
//!
//! * `ww` — write-write: `a` installed a version that `b` overwrote (in a queue: `a`'s
//!   record directly precedes `b`'s in a key's log);
//! * `wr` — write-read: `b` read what `a` wrote;
//! * `rw` — read-write (an anti-dependency): `a` read a version that `b` overwrote;
//! * `process` and `realtime` — `a` came before `b` in one process, or ended before `b`
//!   began.
//!
//! Adya's anomalies are cycles of some kinds of edge with at least one edge of a required
//! kind: G0 is a cycle of `ww` edges only, G1c one of `ww` and `wr` edges with at least one
//! `wr`, G2 one with an `rw`. [`Graph::cycles`] searches as Elle does: the strongly
//! connected components of the graph restricted to the allowed kinds (Kosaraju's algorithm,
//! from petgraph), then in each component a shortest cycle through its first required
//! edge — breadth-first from the edge's head back to its tail, inside the component. A
//! component is strongly connected, so any edge inside it closes a cycle: one
//! breadth-first search per component finds one, and the whole search is linear in the
//! edges. Nodes and edges are visited in index order, so the cycles found are the same on
//! every run.

use std::collections::VecDeque;

use petgraph::graph::{DiGraph, EdgeReference, NodeIndex};
use petgraph::visit::{EdgeFiltered, EdgeRef};
use petgraph::Direction;
use serde::Serialize;

/// The kind of a dependency edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Write-write: `a`'s version directly precedes `b`'s.
    Ww,
    /// Write-read: `b` read what `a` wrote.
    Wr,
    /// Read-write: `a` read a version `b` overwrote.
    Rw,
    /// `a` came before `b` in one process.
    Process,
    /// `a` ended before `b` began.
    Realtime,
}

impl Kind {
    /// Every kind, in the order [`Kinds`] stores them.
    pub const ALL: [Kind; 5] = [Kind::Ww, Kind::Wr, Kind::Rw, Kind::Process, Kind::Realtime];

    /// Its name in reports (`ww`, `wr`, …).
    pub fn name(self) -> &'static str {
        match self {
            Kind::Ww => "ww",
            Kind::Wr => "wr",
            Kind::Rw => "rw",
            Kind::Process => "process",
            Kind::Realtime => "realtime",
        }
    }

    const fn bit(self) -> u8 {
        1 << self as u8
    }
}

/// A set of edge kinds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Kinds(u8);

impl Kinds {
    /// The kinds listed.
    pub const fn of(kinds: &[Kind]) -> Kinds {
        let mut bits = 0;
        let mut i = 0;
        while i < kinds.len() {
            bits |= kinds[i].bit();
            i += 1;
        }
        Kinds(bits)
    }

    /// Whether `kind` is in the set.
    pub fn contains(self, kind: Kind) -> bool {
        self.0 & kind.bit() != 0
    }

    /// Whether the sets share a kind.
    pub fn meets(self, other: Kinds) -> bool {
        self.0 & other.0 != 0
    }

    /// The kinds of either set.
    pub fn union(self, other: Kinds) -> Kinds {
        Kinds(self.0 | other.0)
    }

    /// The set without `kind`.
    pub fn without(self, kind: Kind) -> Kinds {
        Kinds(self.0 & !kind.bit())
    }

    /// The first kind (in [`Kind::ALL`]'s order) in both sets.
    pub fn first_in(self, other: Kinds) -> Option<Kind> {
        Kind::ALL
            .into_iter()
            .find(|&k| self.contains(k) && other.contains(k))
    }
}

/// Which cycles to look for: made of edges with a kind in `allowed`, at least one of them
/// with a kind in `required`.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    /// Kinds a cycle's edges may have.
    pub allowed: Kinds,
    /// Kinds at least one edge of the cycle has.
    pub required: Kinds,
}

/// One edge of a cycle found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Step {
    /// The edge's tail (the node's index, as the checker numbered it).
    pub from: usize,
    /// Its head.
    pub to: usize,
    /// The kind it is taken as (a required kind for the edge that closes the search).
    pub kind: Kind,
}

/// Collects edges, merging the kinds of repeated pairs; [`Builder::build`] freezes them.
#[derive(Debug, Default)]
pub struct Builder {
    nodes: usize,
    edges: Vec<(u32, u32, Kinds)>,
}

impl Builder {
    /// A graph of `nodes` nodes, numbered `0..nodes`.
    pub fn new(nodes: usize) -> Self {
        assert!(nodes < u32::MAX as usize, "node indices fit in u32");
        Builder {
            nodes,
            edges: Vec::new(),
        }
    }

    /// An edge `from → to` of `kind`. An edge from a node to itself is not a dependency
    /// and is dropped.
    pub fn link(&mut self, from: usize, to: usize, kind: Kind) {
        assert!(from < self.nodes && to < self.nodes, "nodes are in range");
        if from != to {
            self.edges
                .push((from as u32, to as u32, Kinds::of(&[kind])));
        }
    }

    /// The graph, each pair of nodes linked by at most one edge holding all its kinds.
    pub fn build(mut self) -> Graph {
        self.edges.sort_unstable_by_key(|&(a, b, _)| (a, b));
        let mut g: DiGraph<(), Kinds, u32> = DiGraph::with_capacity(self.nodes, self.edges.len());
        for _ in 0..self.nodes {
            g.add_node(());
        }
        let mut last: Option<(u32, u32)> = None;
        let mut kinds = Kinds::default();
        for (a, b, k) in self.edges {
            if last == Some((a, b)) {
                kinds.0 |= k.0;
                continue;
            }
            if let Some((x, y)) = last {
                g.add_edge(
                    NodeIndex::new(x as usize),
                    NodeIndex::new(y as usize),
                    kinds,
                );
            }
            last = Some((a, b));
            kinds = k;
        }
        if let Some((x, y)) = last {
            g.add_edge(
                NodeIndex::new(x as usize),
                NodeIndex::new(y as usize),
                kinds,
            );
        }
        Graph { g }
    }
}

/// A frozen dependency graph.
#[derive(Debug)]
pub struct Graph {
    g: DiGraph<(), Kinds, u32>,
}

/// What a search found: how many components hold a cycle of the spec, and a shortest cycle
/// in each of the first `max` of them.
#[derive(Debug, Clone, Default)]
pub struct Found {
    /// Strongly connected components with a cycle of the spec.
    pub components: usize,
    /// One cycle per component (at most the `max` asked for), each a closed walk of steps.
    pub cycles: Vec<Vec<Step>>,
}

impl Graph {
    /// Edges in the graph (a pair counts once, whatever its kinds).
    pub fn edges(&self) -> usize {
        self.g.edge_count()
    }

    /// The strongly connected components over edges of `allowed` kinds that hold more
    /// than one node, each sorted, in order of their first node; and each node's
    /// component (`usize::MAX` for the nodes of none).
    ///
    /// Kosaraju's algorithm: its depth-first searches keep their stack on the heap, where
    /// petgraph's Tarjan recurses once per node of a path and overflowed the thread's stack
    /// on a history of a million transactions.
    pub fn components(&self, allowed: Kinds) -> (Vec<Vec<usize>>, Vec<usize>) {
        let view = EdgeFiltered::from_fn(&self.g, |e: EdgeReference<'_, Kinds, u32>| {
            e.weight().meets(allowed)
        });
        let mut components: Vec<Vec<usize>> = petgraph::algo::kosaraju_scc(&view)
            .into_iter()
            .filter(|c| c.len() > 1)
            .map(|c| {
                let mut members: Vec<usize> = c.iter().map(|n| n.index()).collect();
                members.sort_unstable();
                members
            })
            .collect();
        components.sort_unstable_by_key(|c| c[0]);
        let mut component_of = vec![usize::MAX; self.g.node_count()];
        for (c, members) in components.iter().enumerate() {
            members.iter().for_each(|&n| component_of[n] = c);
        }
        (components, component_of)
    }

    /// Each node's out-edges with their kinds, targets in order.
    pub fn adjacency(&self) -> Vec<Vec<(usize, Kinds)>> {
        let mut adj = vec![Vec::new(); self.g.node_count()];
        for e in self.g.edge_references() {
            adj[e.source().index()].push((e.target().index(), *e.weight()));
        }
        adj.iter_mut()
            .for_each(|outs| outs.sort_unstable_by_key(|&(t, _)| t));
        adj
    }

    /// Cycles of `spec`: one per strongly connected component that holds one, at most
    /// `max` of them spelled out.
    pub fn cycles(&self, spec: Spec, max: usize) -> Found {
        let allowed = |e: EdgeReference<'_, Kinds, u32>| e.weight().meets(spec.allowed);
        let (components, component_of) = self.components(spec.allowed);
        let mut found = Found::default();
        for (c, members) in components.iter().enumerate() {
            // The component's first edge of a required kind, staying inside it.
            let seed = members.iter().find_map(|&n| {
                let n = NodeIndex::new(n);
                self.g
                    .edges_directed(n, Direction::Outgoing)
                    .filter(|e| component_of[e.target().index()] == c)
                    .filter(|e| e.weight().meets(spec.required) && allowed(*e))
                    .min_by_key(|e| e.target())
                    .map(|e| (e.source(), e.target(), *e.weight()))
            });
            let Some((tail, head, kinds)) = seed else {
                continue;
            };
            found.components += 1;
            if found.cycles.len() < max {
                let kind = kinds.first_in(spec.required).expect("a required kind");
                let mut cycle = vec![Step {
                    from: tail.index(),
                    to: head.index(),
                    kind,
                }];
                cycle.extend(self.path(head, tail, spec.allowed, &component_of, c));
                found.cycles.push(cycle);
            }
        }
        found
    }

    /// A shortest path `from → to` over edges of `allowed` kinds inside component `c`.
    fn path(
        &self,
        from: NodeIndex<u32>,
        to: NodeIndex<u32>,
        allowed: Kinds,
        component_of: &[usize],
        c: usize,
    ) -> Vec<Step> {
        let mut parent: std::collections::BTreeMap<usize, (usize, Kind)> = Default::default();
        let mut queue = VecDeque::from([from]);
        parent.insert(from.index(), (from.index(), Kind::Ww));
        // Each node enters the queue once: the loop is bounded by the component's size.
        while let Some(n) = queue.pop_front() {
            if n == to {
                break;
            }
            let mut next: Vec<_> = self
                .g
                .edges_directed(n, Direction::Outgoing)
                .filter(|e| component_of[e.target().index()] == c)
                .filter_map(|e| e.weight().first_in(allowed).map(|k| (e.target(), k)))
                .collect();
            next.sort_unstable_by_key(|(t, _)| *t);
            for (t, kind) in next {
                if let std::collections::btree_map::Entry::Vacant(v) = parent.entry(t.index()) {
                    v.insert((n.index(), kind));
                    queue.push_back(t);
                }
            }
        }
        let mut steps = Vec::new();
        let mut at = to.index();
        while at != from.index() {
            let (p, kind) = parent[&at];
            steps.push(Step {
                from: p,
                to: at,
                kind,
            });
            at = p;
        }
        steps.reverse();
        steps
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const G0: Spec = Spec {
        allowed: Kinds::of(&[Kind::Ww]),
        required: Kinds::of(&[Kind::Ww]),
    };
    const G1C: Spec = Spec {
        allowed: Kinds::of(&[Kind::Ww, Kind::Wr]),
        required: Kinds::of(&[Kind::Wr]),
    };

    fn graph(nodes: usize, edges: &[(usize, usize, Kind)]) -> Graph {
        let mut b = Builder::new(nodes);
        for &(a, c, k) in edges {
            b.link(a, c, k);
        }
        b.build()
    }

    fn closed(cycle: &[Step]) -> bool {
        cycle.windows(2).all(|w| w[0].to == w[1].from)
            && cycle.first().map(|s| s.from) == cycle.last().map(|s| s.to)
    }

    #[test]
    fn a_ww_cycle_is_g0_and_not_g1c() {
        let g = graph(3, &[(0, 1, Kind::Ww), (1, 2, Kind::Ww), (2, 0, Kind::Ww)]);
        let f = g.cycles(G0, 5);
        assert_eq!(f.components, 1);
        assert_eq!(f.cycles[0].len(), 3);
        assert!(closed(&f.cycles[0]));
        assert_eq!(g.cycles(G1C, 5).components, 0);
    }

    #[test]
    fn a_cycle_through_a_wr_edge_is_g1c_and_not_g0() {
        let g = graph(3, &[(0, 1, Kind::Ww), (1, 2, Kind::Wr), (2, 0, Kind::Ww)]);
        assert_eq!(g.cycles(G0, 5).components, 0);
        let f = g.cycles(G1C, 5);
        assert_eq!(f.components, 1);
        let cycle = &f.cycles[0];
        assert!(closed(cycle));
        assert_eq!(
            cycle[0],
            Step {
                from: 1,
                to: 2,
                kind: Kind::Wr
            }
        );
        assert!(cycle.iter().any(|s| s.kind == Kind::Wr));
    }

    #[test]
    fn no_cycle_no_finding_and_self_links_are_dropped() {
        let g = graph(
            4,
            &[
                (0, 1, Kind::Ww),
                (1, 2, Kind::Wr),
                (0, 2, Kind::Ww),
                (3, 3, Kind::Ww),
            ],
        );
        assert_eq!(g.cycles(G0, 5).components, 0);
        assert_eq!(g.cycles(G1C, 5).components, 0);
        assert_eq!(g.edges(), 3);
    }

    #[test]
    fn kinds_of_one_pair_merge_and_disallowed_edges_break_cycles() {
        // 0 → 1 is both ww and rw; 1 → 0 only rw: no G0, no G1c.
        let g = graph(2, &[(0, 1, Kind::Ww), (0, 1, Kind::Rw), (1, 0, Kind::Rw)]);
        assert_eq!(g.edges(), 2);
        assert_eq!(g.cycles(G0, 5).components, 0);
        let g2 = Spec {
            allowed: Kinds::of(&[Kind::Ww, Kind::Wr, Kind::Rw]),
            required: Kinds::of(&[Kind::Rw]),
        };
        let f = g.cycles(g2, 5);
        assert_eq!(f.components, 1);
        assert!(closed(&f.cycles[0]));
    }

    #[test]
    fn the_shortest_cycle_through_the_seed_edge_is_returned() {
        // A long way round (1 → 2 → 3 → 0) and a short one (1 → 0).
        let g = graph(
            4,
            &[
                (0, 1, Kind::Wr),
                (1, 2, Kind::Ww),
                (2, 3, Kind::Ww),
                (3, 0, Kind::Ww),
                (1, 0, Kind::Ww),
            ],
        );
        let f = g.cycles(G1C, 5);
        assert_eq!(f.cycles[0].len(), 2);
        assert!(closed(&f.cycles[0]));
    }

    #[test]
    fn components_are_counted_and_examples_bounded() {
        let mut edges = Vec::new();
        for c in 0..10 {
            edges.push((2 * c, 2 * c + 1, Kind::Ww));
            edges.push((2 * c + 1, 2 * c, Kind::Ww));
        }
        let f = graph(20, &edges).cycles(G0, 3);
        assert_eq!(f.components, 10);
        assert_eq!(f.cycles.len(), 3);
        assert!(f.cycles.iter().all(|c| closed(c)));
    }
}
