//! The search's tables: state interning, the transition memo and the visited set.
//!
//! They are small open-addressing hash tables written for this one job rather than
//! `std::collections::HashMap`, for three reasons: they are deterministic by construction
//! (fixed hash function, no random seed, and nothing ever iterates them), they store
//! variable-length keys (trimmed bitsets) in one flat arena instead of one allocation per
//! entry, and the search's hottest operation — "have I seen this configuration?" — needs
//! only one probe sequence over integers most of the time.

use std::hash::{Hash, Hasher};

/// `splitmix64`'s finalizer: a cheap bijective mix with good avalanche, used to derive
/// per-operation Zobrist keys and to spread hashes over table slots.
pub(crate) fn mix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A fast, fixed (hence deterministic) word-at-a-time hasher for model states.
#[derive(Default)]
pub(crate) struct FastHasher(u64);

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FastHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for FastHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(w) ^ ((rest.len() as u64) << 56));
        }
    }

    fn write_u8(&mut self, i: u8) {
        self.add(i as u64);
    }

    fn write_u32(&mut self, i: u32) {
        self.add(i as u64);
    }

    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    fn finish(&self) -> u64 {
        mix64(self.0)
    }
}

pub(crate) fn hash_of<T: Hash + ?Sized>(value: &T) -> u64 {
    let mut h = FastHasher::default();
    value.hash(&mut h);
    h.finish()
}

/// Bytes `v` would allocate to take `extra` more elements (0 when it has room): a
/// growing `Vec` doubles, holding old and new buffers for a moment.
fn vec_growth<T>(v: &Vec<T>, extra: usize) -> u64 {
    if v.len() + extra <= v.capacity() {
        return 0;
    }
    let cap = (v.capacity() * 2).max(v.len() + extra);
    (cap * std::mem::size_of::<T>()) as u64
}

/// Open-addressing slots holding `id + 1` (0 = empty), at most half full.
struct Slots {
    slots: Vec<u32>,
    mask: usize,
}

impl Slots {
    /// Room for `entries` entries before the first growth.
    fn with_capacity(entries: usize) -> Slots {
        let size = entries
            .saturating_mul(2)
            .clamp(16, 1 << 30)
            .next_power_of_two();
        Slots {
            slots: vec![0; size],
            mask: size - 1,
        }
    }

    /// Bytes the slots would allocate to hold `extra` more than `len` entries.
    fn growth(&self, len: usize, extra: usize) -> u64 {
        let mut size = self.slots.len();
        while (len + extra + 1) * 2 > size {
            size *= 2;
        }
        if size == self.slots.len() {
            0
        } else {
            (size * std::mem::size_of::<u32>()) as u64
        }
    }

    /// Make room for one more entry when `len` entries are stored; re-inserts with `rehash`.
    fn reserve(&mut self, len: usize, hashes: &[u64]) {
        if (len + 1) * 2 <= self.slots.len() {
            return;
        }
        let size = self.slots.len() * 2;
        self.slots = vec![0; size];
        self.mask = size - 1;
        for (id, &h) in hashes.iter().enumerate().take(len) {
            self.place(h, id);
        }
    }
}

/// The guard mask for `bits`-bit fields: the top bit of every whole field of a word
/// (0 for one-bit fields, which need none).
fn guard_of(bits: u32) -> u64 {
    if bits <= 1 {
        return 0;
    }
    (0..64 / bits).fold(0u64, |g, f| g | 1u64 << (f * bits + bits - 1))
}

/// Whether every field of `a` is at most the same field of `b`; `guard` (from
/// [`guard_of`]) describes the fields. Fields never straddle words. One-bit fields are
/// set membership (`a` is a subset of `b`); wider fields keep their top bit clear, so
/// setting it in `b` and subtracting `a` leaves it set exactly in the fields where
/// `b >= a`, all at once, with no borrow between fields.
#[inline]
fn at_most(a: &[u64], b: &[u64], guard: u64) -> bool {
    if guard == 0 {
        return a.iter().zip(b).all(|(x, y)| x & !y == 0);
    }
    a.iter()
        .zip(b)
        .all(|(&x, &y)| (y | guard).wrapping_sub(x) & guard == guard)
}

impl Slots {
    /// Put `id` (whose hash is `h`) in the first free slot of its probe sequence. The
    /// caller has reserved room, so there is one.
    fn place(&mut self, h: u64, id: usize) {
        let mut i = h as usize & self.mask;
        for _ in 0..self.slots.len() {
            if self.slots[i] == 0 {
                self.slots[i] = id as u32 + 1;
                return;
            }
            i = (i + 1) & self.mask;
        }
    }
}

/// Gives each distinct model state a dense `u32` id, so the search stores and compares
/// integers, and each state (which may be a long string) is hashed once.
pub(crate) struct Interner<S> {
    states: Vec<S>,
    hashes: Vec<u64>,
    slots: Slots,
}

impl<S: Hash + Eq> Interner<S> {
    pub fn new() -> Interner<S> {
        Interner::with_capacity(0)
    }

    /// An interner with room for `n` values before it grows.
    pub fn with_capacity(n: usize) -> Interner<S> {
        Interner {
            states: Vec::with_capacity(n),
            hashes: Vec::with_capacity(n),
            slots: Slots::with_capacity(n),
        }
    }

    pub fn get(&self, id: u32) -> Option<&S> {
        self.states.get(id as usize)
    }

    /// Bytes its tables would allocate to take `extra` more states.
    pub fn growth_bytes(&self, extra: usize) -> u64 {
        vec_growth(&self.states, extra)
            + vec_growth(&self.hashes, extra)
            + self.slots.growth(self.states.len(), extra)
    }

    /// The id of `state`, adding it if new: `(id, is_new)`.
    pub fn intern(&mut self, state: S) -> (u32, bool) {
        let h = hash_of(&state);
        let mut i = h as usize & self.slots.mask;
        for _ in 0..self.slots.slots.len() {
            let s = self.slots.slots[i];
            if s == 0 {
                break;
            }
            let id = (s - 1) as usize;
            if self.hashes[id] == h && self.states[id] == state {
                return (id as u32, false);
            }
            i = (i + 1) & self.slots.mask;
        }
        let id = self.states.len();
        self.states.push(state);
        self.hashes.push(h);
        self.slots.reserve(id, &self.hashes);
        self.slots.place(h, id);
        (id as u32, true)
    }
}

/// Not yet computed.
const UNKNOWN: u32 = u32::MAX;
/// The operation is not legal in that state.
pub(crate) const ILLEGAL: u32 = u32::MAX - 1;
/// Cells of the dense part of the memo (at most 4 MiB).
const DENSE_CELLS: usize = 1 << 20;
/// States with a dense row. Models with few states (registers, small balances) live
/// entirely in the dense part; models with many (strings) mostly visit each state once,
/// where a row per state would be mostly empty memory.
const DENSE_ROWS: usize = 64;

/// Memoised transitions `(state id, op) -> state id | ILLEGAL`, so that each model step is
/// computed once per distinct state: a dense table for the first states (row per state),
/// a hash table beyond.
pub(crate) struct Memo {
    ops: usize,
    dense_rows: usize,
    dense: Vec<u32>,
    keys: Vec<u64>,
    values: Vec<u32>,
    hashes: Vec<u64>,
    slots: Slots,
}

impl Memo {
    pub fn new(ops: usize) -> Memo {
        let ops = ops.max(1);
        Memo {
            ops,
            dense_rows: (DENSE_CELLS / ops).clamp(1, DENSE_ROWS),
            dense: Vec::new(),
            keys: Vec::new(),
            values: Vec::new(),
            hashes: Vec::new(),
            slots: Slots::with_capacity(ops),
        }
    }

    /// Bytes its tables would allocate to take `extra` more transitions (and states).
    pub fn growth_bytes(&self, extra: usize) -> u64 {
        let dense = if self.dense.len() < self.dense_rows * self.ops {
            vec_growth(
                &self.dense,
                (extra * self.ops).min(self.dense_rows * self.ops),
            )
        } else {
            0
        };
        dense
            + vec_growth(&self.keys, extra)
            + vec_growth(&self.values, extra)
            + vec_growth(&self.hashes, extra)
            + self.slots.growth(self.keys.len(), extra)
    }

    /// Make room for state `state` (called when a state is interned).
    pub fn add_state(&mut self, state: u32) {
        let state = state as usize;
        if state < self.dense_rows {
            self.dense.resize((state + 1) * self.ops, UNKNOWN);
        }
    }

    #[inline]
    pub fn get(&self, state: u32, op: u32) -> Option<u32> {
        let (s, o) = (state as usize, op as usize);
        if s < self.dense_rows {
            let v = *self.dense.get(s * self.ops + o)?;
            return (v != UNKNOWN).then_some(v);
        }
        let key = ((state as u64) << 32) | op as u64;
        let h = mix64(key);
        let mut i = h as usize & self.slots.mask;
        for _ in 0..self.slots.slots.len() {
            let slot = self.slots.slots[i];
            if slot == 0 {
                return None;
            }
            let id = (slot - 1) as usize;
            if self.keys[id] == key {
                return Some(self.values[id]);
            }
            i = (i + 1) & self.slots.mask;
        }
        None
    }

    pub fn put(&mut self, state: u32, op: u32, next: u32) {
        let (s, o) = (state as usize, op as usize);
        if s < self.dense_rows {
            if let Some(cell) = self.dense.get_mut(s * self.ops + o) {
                *cell = next;
            }
            return;
        }
        let key = ((state as u64) << 32) | op as u64;
        let h = mix64(key);
        let id = self.keys.len();
        self.keys.push(key);
        self.values.push(next);
        self.hashes.push(h);
        self.slots.reserve(id, &self.hashes);
        self.slots.place(h, id);
    }
}

/// The configurations (linearized set, state) the search has reached, for pruning.
///
/// A configuration's key splits in two: the *group* — the model state and the `ok`
/// operations linearized (trimmed to the words that carry information, see
/// `search::Linearized`) — and the `Info` operations linearized. Within a group, entries
/// are the `Info` sets seen, each marked finished once its configuration has been fully
/// explored (and so failed). A new configuration is pruned when its group holds
///
/// * the same `Info` set (the very same configuration), or
/// * a finished subset of it: that configuration could do everything this one can —
///   its extra unknown operations may still happen later, or never — and it failed.
///
/// Configurations still being explored (on the search path) never prune a superset: the
/// argument above needs the smaller one to have failed.
pub(crate) struct Configs {
    /// Group keys `[state, ok_lo, ok words..]`, one after the other.
    keys: Vec<u64>,
    key_starts: Vec<u32>,
    hashes: Vec<u64>,
    slots: Slots,
    /// Words of an `Info` set (0 when the partition has no `Info` operations: then a
    /// group is a configuration, and the rest is unused).
    width: usize,
    /// An `Info` set is packed counts; "subset" is "every count at most", tested with
    /// this guard mask (see [`at_most`]).
    guard: u64,
    /// Every configuration reached: `[group, Info set..]` (`1 + width` words) per entry.
    seen: Vec<u64>,
    seen_hashes: Vec<u64>,
    seen_slots: Slots,
    /// Per group, the minimal `Info` sets of its finished configurations (`width` words
    /// each): a finished set that contains another is redundant for pruning.
    minimal: Vec<Vec<u64>>,
}

impl Configs {
    /// A table for `Info` sets of `width` words of `field_bits`-bit counts, with room for
    /// about `n` configurations before it grows.
    pub fn new(width: usize, field_bits: u32, n: usize) -> Configs {
        let seen_n = if width > 0 { n } else { 0 };
        Configs {
            keys: Vec::with_capacity(n * 3),
            key_starts: Vec::with_capacity(n),
            hashes: Vec::with_capacity(n),
            slots: Slots::with_capacity(n),
            width,
            guard: guard_of(field_bits),
            seen: Vec::with_capacity(seen_n * (1 + width)),
            seen_hashes: Vec::with_capacity(seen_n),
            seen_slots: Slots::with_capacity(seen_n),
            minimal: Vec::new(),
        }
    }

    /// Bytes its tables would allocate to take `extra` more configurations.
    pub fn growth_bytes(&self, extra: usize) -> u64 {
        let groups = self.key_starts.len();
        let words = self.keys.len() / groups.max(1) + 3;
        let seen = if self.width > 0 {
            vec_growth(&self.seen, extra * (1 + self.width))
                + vec_growth(&self.seen_hashes, extra)
                + self.seen_slots.growth(self.seen_hashes.len(), extra)
        } else {
            0
        };
        vec_growth(&self.keys, extra * words)
            + vec_growth(&self.key_starts, extra)
            + vec_growth(&self.hashes, extra)
            + self.slots.growth(groups, extra)
            + seen
    }

    fn key_at(&self, group: usize) -> &[u64] {
        let start = self.key_starts[group] as usize;
        let end = self
            .key_starts
            .get(group + 1)
            .map_or(self.keys.len(), |&e| e as usize);
        &self.keys[start..end]
    }

    /// The group with key `[state, ok_lo] ++ ok` and hash `h`, and whether it is new.
    /// `None` only if the tables are too large to index (u32 offsets).
    fn group(&mut self, h: u64, state: u32, ok_lo: usize, ok: &[u64]) -> Option<(usize, bool)> {
        let mut i = h as usize & self.slots.mask;
        for _ in 0..self.slots.slots.len() {
            let s = self.slots.slots[i];
            if s == 0 {
                break;
            }
            let g = (s - 1) as usize;
            if self.hashes[g] == h {
                let key = self.key_at(g);
                if key.len() == 2 + ok.len()
                    && key[0] == state as u64
                    && key[1] == ok_lo as u64
                    && key[2..] == *ok
                {
                    return Some((g, false));
                }
            }
            i = (i + 1) & self.slots.mask;
        }
        let g = self.key_starts.len();
        let start = u32::try_from(self.keys.len()).ok()?;
        self.key_starts.push(start);
        self.keys.push(state as u64);
        self.keys.push(ok_lo as u64);
        self.keys.extend_from_slice(ok);
        self.hashes.push(h);
        if self.width > 0 {
            self.minimal.push(Vec::new());
        }
        self.slots.reserve(g, &self.hashes);
        self.slots.place(h, g);
        Some((g, true))
    }

    /// Record the configuration, unless it is pruned: `Some(entry)` for a new one (to be
    /// marked [`Configs::finish`]ed when explored), `None` when it was seen or is
    /// dominated by a finished one. `info` is the whole `Info` bitset (`width` words).
    pub fn arrive(
        &mut self,
        h: u64,
        state: u32,
        ok_lo: usize,
        ok: &[u64],
        info: &[u64],
    ) -> Option<u32> {
        let w = self.width;
        if info.len() != w {
            return None;
        }
        let (g, new) = self.group(h, state, ok_lo, ok)?;
        if w == 0 {
            // No unknown operations: the group is the configuration.
            return new.then_some(g as u32);
        }
        let guard = self.guard;
        if self
            .minimal
            .get(g)?
            .chunks_exact(w)
            .any(|set| at_most(set, info, guard))
        {
            return None;
        }
        // Seen before (and still being explored, or it would be dominated)?
        let mut hh = mix64(g as u64 ^ h);
        for &word in info {
            hh = mix64(hh ^ word);
        }
        let mut i = hh as usize & self.seen_slots.mask;
        for _ in 0..self.seen_slots.slots.len() {
            let s = self.seen_slots.slots[i];
            if s == 0 {
                break;
            }
            let e = (s - 1) as usize;
            let key = &self.seen[e * (1 + w)..(e + 1) * (1 + w)];
            if self.seen_hashes[e] == hh && key[0] == g as u64 && key[1..] == *info {
                return None;
            }
            i = (i + 1) & self.seen_slots.mask;
        }
        let entry = self.seen_hashes.len();
        let entry_id = u32::try_from(entry).ok()?;
        self.seen.push(g as u64);
        self.seen.extend_from_slice(info);
        self.seen_hashes.push(hh);
        self.seen_slots.reserve(entry, &self.seen_hashes);
        self.seen_slots.place(hh, entry);
        Some(entry_id)
    }

    /// The configuration of `entry` has been fully explored (and failed).
    pub fn finish(&mut self, entry: u32) {
        let w = self.width;
        if w == 0 {
            return;
        }
        let e = entry as usize;
        let Some(key) = self.seen.get(e * (1 + w)..(e + 1) * (1 + w)) else {
            return;
        };
        let (g, info) = (key[0] as usize, &key[1..]);
        let Some(minimal) = self.minimal.get_mut(g) else {
            return;
        };
        let guard = self.guard;
        if minimal.chunks_exact(w).any(|m| at_most(m, info, guard)) {
            return;
        }
        // Drop the sets this one makes redundant, then add it.
        let mut kept = 0;
        for k in 0..minimal.len() / w {
            if !at_most(info, &minimal[k * w..(k + 1) * w], guard) {
                minimal.copy_within(k * w..(k + 1) * w, kept * w);
                kept += 1;
            }
        }
        minimal.truncate(kept * w);
        minimal.extend_from_slice(info);
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.seen_hashes.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interner_gives_stable_ids() {
        let mut i = Interner::new();
        for n in 0..1000u32 {
            assert_eq!(i.intern(format!("s{n}")), (n, true));
        }
        for n in 0..1000u32 {
            assert_eq!(i.intern(format!("s{n}")), (n, false));
        }
        assert_eq!(i.get(7).map(String::as_str), Some("s7"));
    }

    #[test]
    fn memo_dense_and_sparse() {
        let mut m = Memo::new(DENSE_CELLS); // one dense row
        for s in 0..3 {
            m.add_state(s);
        }
        assert_eq!(m.get(0, 5), None);
        m.put(0, 5, 9);
        m.put(2, 5, ILLEGAL);
        assert_eq!(m.get(0, 5), Some(9));
        assert_eq!(m.get(2, 5), Some(ILLEGAL));
        assert_eq!(m.get(2, 6), None);
    }

    #[test]
    fn configs_prune_seen_and_dominated() {
        let mut c = Configs::new(1, 1, 0);
        for n in 0..300u64 {
            // Same hash for everything: equality must still be exact.
            assert!(c.arrive(1, n as u32, 0, &[n], &[0]).is_some());
        }
        assert!(c.arrive(1, 3, 0, &[3], &[0]).is_none(), "seen");
        let a = c.arrive(1, 3, 0, &[3], &[0b01]).expect("new info set");
        assert!(
            c.arrive(1, 3, 0, &[3], &[0b11]).is_some(),
            "a is still open"
        );
        c.finish(a);
        assert!(
            c.arrive(1, 3, 0, &[3], &[0b101]).is_none(),
            "dominated by a"
        );
        assert!(
            c.arrive(1, 3, 0, &[3], &[0b100]).is_some(),
            "not a superset of a"
        );
        assert!(c.arrive(1, 3, 1, &[3], &[0b101]).is_some(), "another group");
        assert_eq!(c.len(), 304);
        let mut plain = Configs::new(0, 1, 0);
        assert!(plain.arrive(5, 1, 0, &[7], &[]).is_some());
        assert!(plain.arrive(5, 1, 0, &[7], &[]).is_none());
        // Counts (3 bits and a guard): [1, 2] is dominated by a finished [1, 1], not by
        // an open [0, 3].
        let mut counts = Configs::new(1, 4, 0);
        let a = counts.arrive(9, 0, 0, &[], &[0x11]).expect("new");
        counts.finish(a);
        assert!(counts.arrive(9, 0, 0, &[], &[0x30]).is_some());
        assert!(counts.arrive(9, 0, 0, &[], &[0x21]).is_none());
        let g = guard_of(4);
        assert!(!at_most(&[0x070], &[0x100], g));
        assert!(at_most(&[0x107], &[0x207], g));
        assert!(!at_most(&[0x7], &[0x6], g));
    }
}
