//! The Wing–Gong–Lowe search for one partition.
//!
//! # The idea
//!
//! Lay out the partition's events on a line in real-time order: one *call* entry per
//! operation and one *return* entry per operation that returned. A linearization picks
//! operations one at a time; an operation may go next iff its call comes before the
//! earliest return of every operation not yet picked (nothing still pending finished
//! before it started). In list terms: walking from the head, every call entry met before
//! the first return entry is a *candidate*.
//!
//! The search is a depth-first search over these choices. Picking an operation *lifts* its
//! call and return entries out of the doubly linked list (O(1), and O(1) to put back when
//! backtracking — "dancing links"), and the model steps the state. When no candidate can
//! go, the operation owning the first return entry can never be placed in time: a dead end,
//! so backtrack and try the next candidate instead.
//!
//! Lowe's improvement makes this practical: the future of the search depends only on the
//! *configuration* — which operations are linearized (a bitset) and the model state — so
//! every configuration is explored at most once ([`Configs`]).
//!
//! # What faultline adds
//!
//! * **Unknown outcomes.** `Info` operations have no return entry: they may be picked any
//!   time after their call, or never. The search succeeds as soon as every `ok` operation
//!   is linearized, and it tries `Info` candidates after the others, so unknown operations
//!   are only used when something needs them.
//! * **Read-only operations are greedy.** If an operation that never changes the state (a
//!   read, a failed CAS) can go next, putting it first is never worse: any completion that
//!   places it later can move it to the front (the state is unchanged, and one fewer
//!   pending return only frees the others). So it is taken without trying alternatives,
//!   and if what follows it fails, the configuration fails. `Info` operations nobody could
//!   notice (a read nobody saw, what the model names) are dropped (`super::dropped`).
//! * **Doomed configurations are abandoned early.** When an `ok` operation cannot happen in
//!   the current state, the model is asked ([`Model::can_become_possible`]) whether any
//!   of the operations that may still run before its return could make it possible; if
//!   not, the configuration is a dead end now rather than after exploring every
//!   interleaving of those operations. On Porcupine's 50-client key-value history this
//!   cuts the search by an order of magnitude.
//! * **Identical unknown operations are interchangeable.** Two pending `Info` operations
//!   with equal model ops (say two timed-out `write 3`) behave the same and neither has a
//!   deadline, so only the earliest-called unpicked one is ever tried. Unknown operations
//!   are kept off the main list, on a list of these representatives, so a long history
//!   with many operations that never took effect costs one entry per distinct operation.
//! * **Fewer unknown operations is better.** A configuration is also pruned when one
//!   with the same state and `ok` operations but only a subset of its unknown operations
//!   was explored and failed: the missing ones could still happen later, or never, so the
//!   smaller configuration could do anything this one can ([`Configs`]). On the etcd
//!   histories this removes about two thirds of the search.
//! * **Integers everywhere.** States are interned to ids and each (state, operation)
//!   transition is computed once ([`Memo`]); the linearized bitset carries an incremental
//!   Zobrist hash and is trimmed to the words that carry information before it is stored,
//!   so long histories cost a few words per configuration.
//! * **Resumable.** [`Search::run`] stops after a given number of steps and continues
//!   later, so the caller can interleave partitions (see the parent module).
//!
//! Everything is a function of the partition's operations in a fixed order: no clock is
//! read except to honour a wall-clock budget, and no table is ever iterated.

use super::model::Model;
use super::tables::{mix64, Configs, Interner, Memo, ILLEGAL};
use super::Budget;
use crate::guard::MemoryWindow;
use std::time::Duration;

/// The wall clock. Read only for the wall-clock budget, whose expiry is the one
/// documented source of non-determinism (the verdict becomes Unknown).
#[allow(clippy::disallowed_types)]
type WallClock = std::time::Instant;

/// One operation of a partition, as handed to the search.
pub(crate) struct PartOp<'a, Op> {
    /// Index in the history.
    pub index: usize,
    /// The model's view of it.
    pub op: &'a Op,
    /// Invocation time.
    pub call: u64,
    /// Completion time; `None` for an operation with an unknown outcome (`Info`).
    pub ret: Option<u64>,
}

/// Why a search stopped without an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stop {
    Steps,
    Wall,
    Memory,
}

/// Counts search steps (model transitions evaluated) against the budget.
pub(crate) struct Meter {
    pub steps: u64,
    max_steps: Option<u64>,
    wall: Option<(WallClock, Duration)>,
    /// The memory budget and the window that measures the search's allocations.
    memory: Option<(MemoryWindow, u64)>,
    next_clock: u64,
}

/// Steps between two looks at the clock.
const CLOCK_EVERY: u64 = 1 << 12;

impl Meter {
    pub fn new(budget: &Budget) -> Meter {
        // See `WallClock`: only when a wall-clock budget is set.
        #[allow(clippy::disallowed_methods)]
        let wall = budget.wall.map(|w| (WallClock::now(), w));
        Meter {
            steps: 0,
            max_steps: budget.max_steps,
            wall,
            memory: budget.memory_bytes_max.map(|max| {
                (
                    MemoryWindow::open(),
                    max.saturating_sub(budget.memory_held_bytes),
                )
            }),
            next_clock: CLOCK_EVERY,
        }
    }

    #[inline]
    fn tick(&mut self) {
        self.steps += 1;
    }

    /// Whether the memory budget ran out, or would before the next look: the peak so far
    /// (a table that doubled held its old and new arrays at once), or what is in use plus
    /// `growth`, the bytes the search's tables would allocate to grow in the steps until
    /// the next look. So a search stops *before* a doubling that would pass the budget,
    /// and what it holds stays within it.
    pub fn memory_exhausted(&self, growth: u64) -> Option<Stop> {
        let (window, max) = self.memory.as_ref()?;
        let over =
            window.peak_bytes() >= *max || window.used_bytes().saturating_add(growth) >= *max;
        over.then_some(Stop::Memory)
    }

    /// Whether a budget ran out (`growth`: see [`Meter::memory_exhausted`]). Checked only
    /// between candidates, so a search stops at the same point every time (at most a
    /// configuration's worth of steps past the budget).
    #[inline]
    fn exhausted(&mut self, growth: &dyn Fn() -> u64) -> Option<Stop> {
        if let Some(max) = self.max_steps {
            if self.steps >= max {
                return Some(Stop::Steps);
            }
        }
        if self.steps >= self.next_clock {
            self.next_clock = self.steps + CLOCK_EVERY;
            if self.memory.is_some() {
                if let Some(stop) = self.memory_exhausted(growth()) {
                    return Some(stop);
                }
            }
            if let Some((start, wall)) = self.wall {
                if start.elapsed() >= wall {
                    return Some(Stop::Wall);
                }
            }
        }
        None
    }
}

/// What the search found.
pub(crate) enum Outcome {
    Linearizable,
    Violation(Violation),
    Stopped(Stop),
}

/// No linearization exists: the deepest configuration the search reached.
pub(crate) struct Violation {
    /// History indices, in linearization order.
    pub prefix: Vec<usize>,
    /// The model state after the prefix, described.
    pub state: String,
    /// History indices of the operations that could go next but cannot happen, in call
    /// order; or, when `doomed`, the one operation that cannot happen and never will
    /// before it returns.
    pub stuck: Vec<usize>,
    /// The prefix ends where an operation became impossible for good, rather than where
    /// nothing at all could happen.
    pub doomed: bool,
}

/// How one slice of search ended.
pub(crate) enum Poll {
    Done(Outcome),
    /// The slice ran out; call [`Search::run`] again to continue.
    Paused,
}

/// The fast path for a partition whose operations all returned and never overlap (each
/// returns before the next is called, as with one client per key): real time leaves
/// exactly one order, so the model just runs through it. `None` when the partition does
/// not qualify and needs the search.
pub(crate) fn sequential<M: Model>(
    model: &M,
    ops: &[PartOp<'_, M::Op>],
    meter: &mut Meter,
) -> Option<Outcome> {
    if ops.iter().any(|p| p.ret.is_none()) {
        return None;
    }
    // In call order (usually history order already).
    let sorted = ops.windows(2).all(|w| w[0].call <= w[1].call);
    let order: Vec<usize> = if sorted {
        Vec::new()
    } else {
        let mut o: Vec<usize> = (0..ops.len()).collect();
        o.sort_by_key(|&i| ops[i].call);
        o
    };
    let at = |k: usize| if sorted { &ops[k] } else { &ops[order[k]] };
    for k in 1..ops.len() {
        if !matches!(at(k - 1).ret, Some(ret) if ret < at(k).call) {
            return None;
        }
    }
    let mut state = model.init();
    for k in 0..ops.len() {
        if let Some(stop) = meter.exhausted(&|| 0) {
            return Some(Outcome::Stopped(stop));
        }
        meter.tick();
        let p = at(k);
        match model.step(&state, p.op) {
            Some(next) => state = next,
            None => {
                return Some(Outcome::Violation(Violation {
                    prefix: (0..k).map(|j| at(j).index).collect(),
                    state: model.describe_state(&state),
                    stuck: vec![p.index],
                    doomed: false,
                }))
            }
        }
    }
    Some(Outcome::Linearizable)
}

/// A node's operation, with this bit set for a return entry.
const RET: u32 = 1 << 31;
/// The head and tail sentinels' "operation" (it reads as a return entry).
const SENTINEL: u32 = u32::MAX;
/// No node / no operation.
const NONE: u32 = u32::MAX;
/// The head of the main list (entries of `ok` operations).
const HEAD: usize = 0;

/// The largest partition the search handles (operation ids must leave room for `RET`).
pub(crate) const MAX_OPS: usize = (RET - 2) as usize;

/// A list node. Nodes `1..=E` are the entries in real-time order, so comparing node
/// indices compares times. The main list (node 0 is its head, `E + 1` its tail) threads
/// the entries of `ok` operations. `Info` operations have a call entry (for its position)
/// but are not on the main list: they live on the representatives list (see
/// `Search::reps`), so operations that may never happen cost nothing until needed.
#[derive(Clone, Copy)]
struct Node {
    next: u32,
    prev: u32,
    /// The operation, `| RET` for a return entry.
    op: u32,
}

/// What the search knows about each operation (by local id).
#[derive(Clone, Copy)]
struct OpInfo {
    call_node: u32,
    /// `NONE` for unknown outcomes.
    ret_node: u32,
    /// For an unknown operation, the previous one (in call order) with an equal op.
    twin: u32,
    /// For an unknown operation, the next one (in call order) with an equal op.
    next_twin: u32,
    read_only: bool,
}

/// The set of linearized operations, in a compact canonical form.
///
/// Operations are numbered `ok` ones first, in call order, then `Info` ones in call order.
/// In any configuration, early `ok` operations are all linearized and late ones all
/// pending, so the `ok` part is stored as "all ones below word `ok_lo`" plus the words up
/// to the last non-zero one.
///
/// The `Info` part is a count per *class* of equal unknown operations: the search only
/// ever takes the earliest-called unpicked operation of a class (see `Search::reps`), so
/// the linearized ones of a class are always its first few, and their number says which.
/// Counts are packed in fields of `info_bits` bits, `64 / info_bits` to a word (fields
/// wider than one bit keep their top bit clear, for the comparison in `Configs`). A
/// history with thousands of timed-out writes of a few values costs a few words, not one
/// bit per operation; and "fewer unknown operations" is simply "no count larger".
struct Linearized {
    ok: Vec<u64>,
    info: Vec<u64>,
    n_ok: usize,
    ok_lo: usize,
    ok_hi: usize,
    /// Where each unknown operation's class count lives (by `op - n_ok`): word, shift.
    count_at: Vec<(u32, u32)>,
    info_bits: u32,
    /// Zobrist hash of the `ok` part: the XOR of its members' keys.
    hash: u64,
}

impl Linearized {
    /// `class` gives each unknown operation's class; `largest` is the largest class size.
    fn new(n_ok: usize, class: Vec<u32>, classes: usize, largest: usize) -> Linearized {
        // Bits to hold the largest count, plus a clear guard bit when more than one.
        let needed = (usize::BITS - largest.leading_zeros()).clamp(1, 31);
        let info_bits = if needed == 1 { 1 } else { needed + 1 };
        let per_word = (64 / info_bits) as usize;
        let count_at = class
            .iter()
            .map(|&c| {
                let c = c as usize;
                ((c / per_word) as u32, (c % per_word) as u32 * info_bits)
            })
            .collect();
        Linearized {
            ok: vec![0; n_ok.div_ceil(64)],
            info: vec![0; classes.div_ceil(per_word)],
            n_ok,
            ok_lo: 0,
            ok_hi: 0,
            count_at,
            info_bits,
            hash: 0,
        }
    }

    /// The Zobrist key of an operation (`mix64` is a bijection: keys are distinct).
    #[inline]
    fn key(op: usize) -> u64 {
        mix64(op as u64 ^ 0x6c69_6e65_6172_697a)
    }

    /// The value of word `w` of the `ok` part when all its operations are linearized.
    #[inline]
    fn full(&self, w: usize) -> u64 {
        let rem = self.n_ok % 64;
        if w + 1 == self.ok.len() && rem != 0 {
            (1u64 << rem) - 1
        } else {
            u64::MAX
        }
    }

    #[inline]
    fn insert(&mut self, op: usize) {
        if op < self.n_ok {
            self.hash ^= Linearized::key(op);
            let w = op / 64;
            self.ok[w] |= 1 << (op % 64);
            self.ok_hi = self.ok_hi.max(w + 1);
            while self.ok_lo < self.ok.len() && self.ok[self.ok_lo] == self.full(self.ok_lo) {
                self.ok_lo += 1;
            }
        } else {
            // Counts never exceed their class's size, which fits their field.
            let (w, shift) = self.count_at[op - self.n_ok];
            let w = w as usize;
            self.info[w] = self.info[w].wrapping_add(1 << shift);
        }
    }

    #[inline]
    fn remove(&mut self, op: usize) {
        if op < self.n_ok {
            self.hash ^= Linearized::key(op);
            let w = op / 64;
            self.ok[w] &= !(1 << (op % 64));
            self.ok_lo = self.ok_lo.min(w);
            while self.ok_hi > 0 && self.ok[self.ok_hi - 1] == 0 {
                self.ok_hi -= 1;
            }
        } else {
            let (w, shift) = self.count_at[op - self.n_ok];
            let w = w as usize;
            self.info[w] = self.info[w].wrapping_sub(1 << shift);
        }
    }

    /// Record `(self, state)` in `configs`: its entry, or `None` if it is pruned.
    #[inline]
    fn arrive(&self, configs: &mut Configs, state: u32) -> Option<u32> {
        let ok = &self.ok[self.ok_lo..self.ok_hi.max(self.ok_lo)];
        let h = mix64(self.hash ^ (state as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
        configs.arrive(h, state, self.ok_lo, ok, &self.info)
    }
}

/// Interned states and memoised transitions.
struct Transitions<'m, 'a, M: Model> {
    model: &'m M,
    ops: Vec<&'a M::Op>,
    states: Interner<M::State>,
    memo: Memo,
}

impl<M: Model> Transitions<'_, '_, M> {
    /// The state after `op` in `state`, computing it once per pair.
    #[inline]
    fn step(&mut self, state: u32, op: usize) -> Option<u32> {
        if let Some(next) = self.memo.get(state, op as u32) {
            return (next != ILLEGAL).then_some(next);
        }
        let next = self.model.step(self.states.get(state)?, self.ops[op]);
        let id = next.and_then(|s| {
            let (id, new) = self.states.intern(s);
            if new {
                self.memo.add_state(id);
            }
            // Ids at or above ILLEGAL cannot be memoised; no realistic search gets there.
            (id < ILLEGAL).then_some(id)
        });
        self.memo.put(state, op as u32, id.unwrap_or(ILLEGAL));
        id
    }
}

/// One configuration on the current search path.
struct Level {
    /// The model state here.
    state: u32,
    /// This level's candidates are `cands[start..end]`; `next` is the next to try.
    start: u32,
    end: u32,
    next: u32,
    /// The operation taken to reach the level above (`NONE` at the top).
    chosen: u32,
    /// That operation was read-only and taken greedily: if the level above fails, so does
    /// this one.
    greedy: bool,
    /// The first return entry of the main list here: candidates are called before it.
    first_ret: u32,
    /// The `Info` candidates are still to be added (they are tried last, if at all).
    info_pending: bool,
    /// This configuration's entry in [`Configs`], marked finished when it is popped.
    entry: u32,
    /// An `ok` operation that can never happen in time from here (`NONE` if none).
    doomed: u32,
}

/// A resumable search of one partition.
pub(crate) struct Search<'m, 'a, M: Model> {
    ops: &'a [PartOp<'a, M::Op>],
    /// Local operation id -> index in `ops`.
    order: Vec<usize>,
    n_ok: usize,
    nodes: Vec<Node>,
    info: Vec<OpInfo>,
    /// The representatives list: a circular doubly linked list over unknown operations
    /// (`reps[n]` is its head) holding, for each group of equal unknown operations, the
    /// earliest-called one not yet linearized — the only one worth trying.
    reps: Vec<(u32, u32)>,
    tr: Transitions<'m, 'a, M>,
    lin: Linearized,
    configs: Configs,
    /// The current path, from the initial configuration.
    levels: Vec<Level>,
    /// Candidates of the levels on the path: (operation, state after it).
    cands: Vec<(u32, u32)>,
    /// Scratch: the current window of candidates.
    window: Vec<u32>,
    /// `ok` operations not linearized yet.
    remaining: usize,
    /// The deepest leaf so far (a configuration where nothing can happen, or a doomed
    /// one): its prefix, its state and its doomed operation (`NONE` if not doomed).
    best: Option<(Vec<u32>, u32, u32)>,
    /// How many leading operations of the best prefix are still those of the current
    /// path, so recording a deeper leaf copies only what changed since the last one
    /// (copying whole paths would make long histories quadratic).
    common: usize,
    init: u32,
    /// The initial configuration's entry.
    root: u32,
    started: bool,
}

impl<'m, 'a, M: Model> Search<'m, 'a, M> {
    /// Bytes the search's tables would allocate to grow in the steps until the meter's
    /// next look (each step adds at most one state, transition and configuration).
    fn growth_bytes(&self) -> u64 {
        let steps = CLOCK_EVERY as usize;
        self.tr.states.growth_bytes(steps)
            + self.tr.memo.growth_bytes(steps)
            + self.configs.growth_bytes(steps)
    }

    /// Prepare the search of a partition. `ops` are its operations that did not fail.
    pub fn new(model: &'m M, ops: &'a [PartOp<'a, M::Op>]) -> Search<'m, 'a, M> {
        // Local numbering: ok operations in call order, then unknown ones in call order,
        // but for the unknown ones nobody could tell from never happening ([`dropped`]).
        let dropped = super::dropped::unknowns(model, ops);
        let mut keyed: Vec<(bool, u64, usize)> = ops
            .iter()
            .enumerate()
            .filter(|&(i, _)| !dropped[i])
            .map(|(i, p)| (p.ret.is_none(), p.call, i))
            .collect();
        // Histories usually come in invocation order: sort only when they do not.
        if !keyed.windows(2).all(|w| w[0] <= w[1]) {
            keyed.sort_unstable();
        }
        let n = keyed.len();
        let n_ok = keyed.iter().take_while(|k| !k.0).count();
        let order: Vec<usize> = keyed.iter().map(|k| k.2).collect();
        let model_ops: Vec<&'a M::Op> = order.iter().map(|&i| ops[i].op).collect();

        // Entries in real-time order; at equal times calls come first (those operations
        // overlap), then by operation.
        // Merge three sorted runs into real-time order: the calls of ok operations and
        // those of unknown ones (each in id order, which is call order), and the returns
        // (sorted here). Ties go by (time, calls before returns, id), so operations that
        // touch at one instant overlap.
        let mut rets: Vec<(u64, u32)> = (0..n_ok)
            .filter_map(|id| ops[order[id]].ret.map(|r| (r, id as u32)))
            .collect();
        if !rets.windows(2).all(|w| w[0] <= w[1]) {
            rets.sort_unstable();
        }
        let call: Vec<u64> = order.iter().map(|&i| ops[i].call).collect();
        // Calls of ok and unknown operations interleaved (ties: lower id first).
        let mut calls: Vec<u32> = Vec::with_capacity(n);
        let (mut a, mut b) = (0usize, n_ok);
        while a < n_ok && b < n {
            if call[b] < call[a] {
                calls.push(b as u32);
                b += 1;
            } else {
                calls.push(a as u32);
                a += 1;
            }
        }
        calls.extend((a..n_ok).map(|id| id as u32));
        calls.extend((b..n).map(|id| id as u32));
        // Then with the returns (ties: calls first).
        let mut entries: Vec<(u64, u32)> = Vec::with_capacity(n + rets.len());
        let mut r = 0usize;
        for &id in &calls {
            let t = call[id as usize];
            while r < rets.len() && rets[r].0 < t {
                entries.push((rets[r].0, rets[r].1 | RET));
                r += 1;
            }
            entries.push((t, id));
        }
        entries.extend(rets[r..].iter().map(|&(t, id)| (t, id | RET)));
        let mut nodes: Vec<Node> = Vec::with_capacity(entries.len() + 2);
        let mut info: Vec<OpInfo> = model_ops
            .iter()
            .map(|op| OpInfo {
                call_node: NONE,
                ret_node: NONE,
                twin: NONE,
                next_twin: NONE,
                read_only: model.is_read_only(op),
            })
            .collect();
        let e_len = entries.len() as u32;
        let main_tail = e_len + 1;
        nodes.resize(
            entries.len() + 2,
            Node {
                next: NONE,
                prev: NONE,
                op: SENTINEL,
            },
        );
        let mut last = HEAD as u32;
        for (k, &(_, e)) in entries.iter().enumerate() {
            let node = k as u32 + 1;
            let id = (e & !RET) as usize;
            nodes[node as usize].op = e;
            if let Some(i) = info.get_mut(id) {
                if e & RET == 0 {
                    i.call_node = node;
                } else {
                    i.ret_node = node;
                }
            }
            if id < n_ok {
                nodes[last as usize].next = node;
                nodes[node as usize].prev = last;
                last = node;
            }
        }
        nodes[last as usize].next = main_tail;
        nodes[main_tail as usize].prev = last;
        // Classes of equal unknown operations: ids, sizes, and each operation's class.
        let mut class_of: Vec<u32> = Vec::with_capacity(n - n_ok);
        let mut class_size: Vec<usize> = Vec::new();
        if n > n_ok {
            let mut classes: Interner<&M::Op> = Interner::new();
            let mut last: Vec<u32> = Vec::new();
            for id in n_ok..n {
                let (class, new) = classes.intern(model_ops[id]);
                if new {
                    last.push(NONE);
                    class_size.push(0);
                }
                class_of.push(class);
                if let Some(size) = class_size.get_mut(class as usize) {
                    *size += 1;
                }
                if let Some(slot) = last.get_mut(class as usize) {
                    info[id].twin = *slot;
                    if let Some(prev) = info.get_mut(*slot as usize) {
                        prev.next_twin = id as u32;
                    }
                    *slot = id as u32;
                }
            }
        }
        // The representatives list starts with the first of each group, in call order.
        let mut reps = vec![(NONE, NONE); n + 1];
        let mut tail = n;
        for id in n_ok..n {
            if info[id].twin == NONE {
                reps[tail].1 = id as u32;
                reps[id].0 = tail as u32;
                tail = id;
            }
        }
        reps[tail].1 = n as u32;
        reps[n].0 = tail as u32;

        let mut tr = Transitions {
            model,
            ops: model_ops,
            states: Interner::with_capacity(n),
            memo: Memo::new(n),
        };
        let (init, _) = tr.states.intern(model.init());
        tr.memo.add_state(init);
        let largest = class_size.iter().copied().max().unwrap_or(0);
        let lin = Linearized::new(n_ok, class_of, class_size.len(), largest);
        let mut configs = Configs::new(lin.info.len(), lin.info_bits, 2 * n);
        let root = lin.arrive(&mut configs, init).unwrap_or(NONE);
        Search {
            ops,
            order,
            n_ok,
            nodes,
            info,
            reps,
            tr,
            lin,
            configs,
            levels: Vec::new(),
            cands: Vec::new(),
            window: Vec::new(),
            remaining: n_ok,
            best: None,
            common: 0,
            init,
            root,
            started: false,
        }
    }

    /// Search until an answer, a budget runs out, or the meter passes `until` steps
    /// (then [`Poll::Paused`]; calling again resumes exactly where it stopped).
    pub fn run(&mut self, meter: &mut Meter, until: u64) -> Poll {
        if !self.started {
            self.started = true;
            if self.remaining == 0 {
                return Poll::Done(Outcome::Linearizable);
            }
            if let Some(done) = self.enter(self.init, self.root, meter) {
                return Poll::Done(done);
            }
        }
        // Every iteration tries one candidate, descends (at most n deep) or backtracks; the
        // configurations table bounds the descents, and the meter bounds the loop under a
        // budget.
        loop {
            if self.remaining == 0 {
                return Poll::Done(Outcome::Linearizable);
            }
            if let Some(stop) = meter.exhausted(&|| self.growth_bytes()) {
                return Poll::Done(Outcome::Stopped(stop));
            }
            if meter.steps >= until {
                return Poll::Paused;
            }
            let Some(top) = self.levels.last_mut() else {
                return Poll::Done(self.violation());
            };
            if top.next == top.end && top.info_pending {
                // The other candidates are exhausted: now the unknown operations.
                top.info_pending = false;
                let (state, first_ret) = (top.state, top.first_ret);
                self.expand_info(state, first_ret, meter);
                continue;
            }
            if top.next == top.end {
                // A dead end: every candidate failed or leads somewhere explored. The
                // explanation is the deepest *leaf*: a configuration where no operation
                // can happen at all, or one that is doomed (pruning by the
                // configurations table says nothing about what is stuck here).
                let leaf = top.start == top.end || top.doomed != NONE;
                let (state, doomed) = (top.state, top.doomed);
                let depth = self.levels.len() - 1;
                let deeper = match &self.best {
                    Some((b, _, _)) => depth > b.len(),
                    None => true,
                };
                if leaf && deeper {
                    let (mut prefix, common) = match self.best.take() {
                        Some((b, _, _)) => (b, self.common),
                        None => (Vec::new(), 0),
                    };
                    prefix.truncate(common);
                    prefix.extend(self.levels[common..depth].iter().map(|l| l.chosen));
                    self.common = depth;
                    self.best = Some((prefix, state, doomed));
                }
                if self.backtrack() {
                    continue;
                }
                return Poll::Done(self.violation());
            }
            let (op, next) = self.cands[top.next as usize];
            top.next += 1;
            let op = op as usize;
            let Some(entry) = self.arrive(op, next) else {
                continue;
            };
            if let Some(top) = self.levels.last_mut() {
                top.chosen = op as u32;
            }
            self.lift(op);
            if let Some(done) = self.enter(next, entry, meter) {
                return Poll::Done(done);
            }
        }
    }

    /// Add `op` to the linearized set, arriving in a configuration with state `next`, if
    /// that configuration is worth exploring (see [`Configs`]): its entry, or `None` (and
    /// `op` not added).
    #[inline]
    fn arrive(&mut self, op: usize, next: u32) -> Option<u32> {
        self.lin.insert(op);
        let entry = self.lin.arrive(&mut self.configs, next);
        if entry.is_none() {
            self.lin.remove(op);
        }
        entry
    }

    #[inline]
    fn unlink(&mut self, n: u32) {
        let Node { next, prev, .. } = self.nodes[n as usize];
        self.nodes[prev as usize].next = next;
        self.nodes[next as usize].prev = prev;
    }

    #[inline]
    fn relink(&mut self, n: u32) {
        let Node { next, prev, .. } = self.nodes[n as usize];
        self.nodes[prev as usize].next = n;
        self.nodes[next as usize].prev = n;
    }

    /// Take `op` out of the lists (it is linearized).
    #[inline]
    fn lift(&mut self, op: usize) {
        let OpInfo {
            call_node,
            ret_node,
            next_twin,
            ..
        } = self.info[op];
        if op < self.n_ok {
            self.unlink(call_node);
            if ret_node != NONE {
                self.unlink(ret_node);
            }
            self.remaining -= 1;
        } else {
            // The next equal operation, if any, takes its place as the representative.
            let (prev, next) = self.reps[op];
            let (prev, next) = (prev as usize, next as usize);
            if next_twin != NONE {
                self.reps[next_twin as usize] = (prev as u32, next as u32);
                self.reps[prev].1 = next_twin;
                self.reps[next].0 = next_twin;
            } else {
                self.reps[prev].1 = next as u32;
                self.reps[next].0 = prev as u32;
            }
        }
    }

    /// Put `op` back, undoing [`Search::lift`] (in the reverse order).
    #[inline]
    fn unlift(&mut self, op: usize) {
        let OpInfo {
            call_node,
            ret_node,
            ..
        } = self.info[op];
        if op < self.n_ok {
            if ret_node != NONE {
                self.relink(ret_node);
            }
            self.relink(call_node);
            self.remaining += 1;
        } else {
            // `op`'s own links are as they were when it was lifted.
            let (prev, next) = self.reps[op];
            self.reps[prev as usize].1 = op as u32;
            self.reps[next as usize].0 = op as u32;
        }
    }

    /// Expand a new configuration with state `state`: take a read-only candidate greedily
    /// if one can go, otherwise push a level with the candidates to try, in order.
    /// `Some` when that decides the search.
    fn enter(&mut self, mut state: u32, mut entry: u32, meter: &mut Meter) -> Option<Outcome> {
        // Greedy read-only steps chain; each lifts an operation, so this ends.
        'config: loop {
            if self.remaining == 0 {
                return Some(Outcome::Linearizable);
            }
            self.window.clear();
            let mut node = self.nodes[HEAD].next as usize;
            loop {
                let e = self.nodes[node].op;
                if e & RET != 0 {
                    break;
                }
                self.window.push(e);
                node = self.nodes[node].next as usize;
            }
            let start = self.cands.len();
            self.levels.push(Level {
                state,
                start: start as u32,
                end: start as u32,
                next: start as u32,
                chosen: NONE,
                greedy: false,
                first_ret: node as u32,
                info_pending: false,
                entry,
                doomed: NONE,
            });
            // Read-only operations first, greedily.
            for k in 0..self.window.len() {
                let op = self.window[k] as usize;
                if !self.info[op].read_only {
                    continue;
                }
                meter.tick();
                let Some(next) = self.tr.step(state, op) else {
                    continue;
                };
                let Some(next_entry) = self.arrive(op, next) else {
                    // What follows this read was explored and failed; so does this
                    // configuration, since taking the read first is never worse.
                    return if self.backtrack() {
                        None
                    } else {
                        Some(self.violation())
                    };
                };
                if let Some(top) = self.levels.last_mut() {
                    top.chosen = op as u32;
                    top.greedy = true;
                }
                self.lift(op);
                state = next;
                entry = next_entry;
                continue 'config;
            }
            // No read-only operation can go: the other ok operations (in call order), then,
            // once those are exhausted, unknown ones — unless the configuration is doomed.
            for k in 0..self.window.len() {
                let op = self.window[k] as usize;
                if !self.info[op].read_only {
                    meter.tick();
                    if let Some(next) = self.tr.step(state, op) {
                        self.cands.push((op as u32, next));
                    }
                }
            }
            if let Some(doomed) = self.doomed(state) {
                self.cands.truncate(start);
                if let Some(top) = self.levels.last_mut() {
                    top.doomed = doomed as u32;
                }
                return None;
            }
            let head = self.order.len();
            let has_info = self.reps[head].1 as usize != head;
            if let Some(top) = self.levels.last_mut() {
                top.end = self.cands.len() as u32;
                top.info_pending = has_info;
            }
            return None;
        }
    }

    /// Add the top level's `Info` candidates: the representatives called before its first
    /// return entry.
    fn expand_info(&mut self, state: u32, first_ret: u32, meter: &mut Meter) {
        let head = self.order.len();
        let mut op = self.reps[head].1 as usize;
        // Each representative once, around the circular list; tried in call order.
        self.window.clear();
        while op != head {
            if self.info[op].call_node < first_ret {
                self.window.push(op as u32);
            }
            op = self.reps[op].1 as usize;
        }
        let info = &self.info;
        self.window
            .sort_unstable_by_key(|&op| info[op as usize].call_node);
        for k in 0..self.window.len() {
            let op = self.window[k] as usize;
            meter.tick();
            if let Some(to) = self.tr.step(state, op) {
                self.cands.push((op as u32, to));
            }
        }
        if let Some(top) = self.levels.last_mut() {
            top.end = self.cands.len() as u32;
        }
    }

    /// An ok operation of the window that cannot happen in `state` and never can before
    /// its return, by the model's [`Model::can_become_possible`]. The window's
    /// transitions from `state` are all memoised by the caller.
    fn doomed(&self, state: u32) -> Option<usize> {
        let current = self.tr.states.get(state)?;
        for &x in &self.window {
            let x = x as usize;
            if x >= self.n_ok || self.tr.memo.get(state, x as u32) != Some(ILLEGAL) {
                continue;
            }
            let later = Later {
                search: self,
                node: self.nodes[HEAD].next as usize,
                stop: self.info[x].ret_node as usize,
                skip: x,
                in_info: false,
            };
            if !self
                .tr
                .model
                .can_become_possible(current, self.tr.ops[x], later)
            {
                return Some(x);
            }
        }
        None
    }

    /// Undo choices up to the most recent level with candidates left. `false` when the
    /// whole search space is exhausted.
    fn backtrack(&mut self) -> bool {
        while let Some(dead) = self.levels.pop() {
            self.cands.truncate(dead.start as usize);
            self.configs.finish(dead.entry);
            let Some(parent) = self.levels.last_mut() else {
                return false;
            };
            let op = parent.chosen as usize;
            let greedy = parent.greedy;
            parent.chosen = NONE;
            parent.greedy = false;
            // The parent's choice changes: the best prefix now agrees only below it.
            self.common = self.common.min(self.levels.len() - 1);
            self.unlift(op);
            self.lin.remove(op);
            if !greedy {
                return true;
            }
            // The parent took a read-only operation greedily: it is dead too.
        }
        false
    }

    /// The violation found: the deepest leaf reached, described.
    fn violation(&mut self) -> Outcome {
        let (prefix, at, doomed) = self.best.take().unwrap_or((Vec::new(), self.init, NONE));
        Outcome::Violation(self.explain(&prefix, at, doomed))
    }

    /// The prefix, its state, and the operations that could go next but cannot happen
    /// (or the doomed one).
    fn explain(&mut self, prefix: &[u32], at: u32, doomed: u32) -> Violation {
        let n = self.order.len();
        let mut placed = vec![false; n];
        for &op in prefix {
            placed[op as usize] = true;
        }
        // The earliest return among pending ok operations bounds the candidates.
        let deadline = (0..self.n_ok)
            .filter(|&op| !placed[op])
            .map(|op| self.info[op].ret_node)
            .min()
            .unwrap_or(NONE);
        let mut candidates: Vec<usize> = (0..n)
            .filter(|&op| !placed[op] && self.info[op].call_node < deadline)
            .collect();
        candidates.sort_unstable_by_key(|&op| self.info[op].call_node);
        let mut stuck: Vec<usize> = if doomed != NONE {
            vec![doomed as usize]
        } else {
            candidates
                .iter()
                .copied()
                .filter(|&op| self.tr.step(at, op).is_none())
                .collect()
        };
        if stuck.is_empty() {
            stuck = candidates;
        }
        let state = self
            .tr
            .states
            .get(at)
            .map_or_else(String::new, |s| self.tr.model.describe_state(s));
        Violation {
            prefix: prefix
                .iter()
                .map(|&op| self.ops[self.order[op as usize]].index)
                .collect(),
            state,
            stuck: stuck
                .into_iter()
                .map(|op| self.ops[self.order[op]].index)
                .collect(),
            doomed: doomed != NONE,
        }
    }
}

/// The state-changing operations that may take effect before the return entry `stop`:
/// the `ok` ones whose call entry is still on the main list before it, then the
/// representatives of the unknown ones called before it.
struct Later<'s, 'm, 'a, M: Model> {
    search: &'s Search<'m, 'a, M>,
    node: usize,
    stop: usize,
    skip: usize,
    in_info: bool,
}

impl<'s, M: Model> Iterator for Later<'s, '_, '_, M> {
    type Item = &'s M::Op;

    fn next(&mut self) -> Option<&'s M::Op> {
        let s = self.search;
        if !self.in_info {
            // Nodes are in time order, and the main tail has a larger index than `stop`.
            while self.node < self.stop {
                let e = s.nodes[self.node].op;
                self.node = s.nodes[self.node].next as usize;
                if e & RET == 0 {
                    let op = e as usize;
                    if op != self.skip && !s.info[op].read_only {
                        return Some(s.tr.ops[op]);
                    }
                }
            }
            self.in_info = true;
            self.node = s.reps[s.order.len()].1 as usize;
        }
        let head = s.order.len();
        while self.node != head {
            let op = self.node;
            self.node = s.reps[op].1 as usize;
            if (s.info[op].call_node as usize) < self.stop {
                return Some(s.tr.ops[op]);
            }
        }
        None
    }
}
