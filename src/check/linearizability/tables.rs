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

/// Open-addressing slots holding `id + 1` (0 = empty), at most half full.
struct Slots {
    slots: Vec<u32>,
    mask: usize,
}

impl Slots {
    fn new() -> Slots {
        Slots {
            slots: vec![0; 16],
            mask: 15,
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
            let mut i = h as usize & self.mask;
            // The table is at most half full, so a free slot is always found.
            for _ in 0..size {
                if self.slots[i] == 0 {
                    self.slots[i] = id as u32 + 1;
                    break;
                }
                i = (i + 1) & self.mask;
            }
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
        Interner {
            states: Vec::new(),
            hashes: Vec::new(),
            slots: Slots::new(),
        }
    }

    pub fn get(&self, id: u32) -> Option<&S> {
        self.states.get(id as usize)
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
        let mut i = h as usize & self.slots.mask;
        for _ in 0..self.slots.slots.len() {
            if self.slots.slots[i] == 0 {
                self.slots.slots[i] = id as u32 + 1;
                break;
            }
            i = (i + 1) & self.slots.mask;
        }
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
            slots: Slots::new(),
        }
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
        let mut i = h as usize & self.slots.mask;
        for _ in 0..self.slots.slots.len() {
            if self.slots.slots[i] == 0 {
                self.slots.slots[i] = id as u32 + 1;
                return;
            }
            i = (i + 1) & self.slots.mask;
        }
    }
}

/// The set of configurations (linearized set, state) already explored.
///
/// A key is stored as `[state, ok_lo, ok_len, info_len, ok words.., info words..]` in one
/// arena: the caller trims the bitset of linearized operations to the words that carry
/// information (see `search::Linearized`), so a long history costs a few words per entry
/// rather than one bit per operation.
pub(crate) struct Visited {
    arena: Vec<u64>,
    starts: Vec<u32>,
    hashes: Vec<u64>,
    slots: Slots,
}

impl Visited {
    pub fn new() -> Visited {
        Visited {
            arena: Vec::new(),
            starts: Vec::new(),
            hashes: Vec::new(),
            slots: Slots::new(),
        }
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.starts.len()
    }

    fn key_at(&self, id: usize) -> &[u64] {
        let start = self.starts[id] as usize;
        let end = self
            .starts
            .get(id + 1)
            .map_or(self.arena.len(), |&e| e as usize);
        &self.arena[start..end]
    }

    /// Insert the key `header ++ ok ++ info` with hash `h`; `false` if it was present.
    pub fn insert(&mut self, h: u64, header: [u64; 4], ok: &[u64], info: &[u64]) -> bool {
        let len = 4 + ok.len() + info.len();
        let mut i = h as usize & self.slots.mask;
        for _ in 0..self.slots.slots.len() {
            let s = self.slots.slots[i];
            if s == 0 {
                break;
            }
            let id = (s - 1) as usize;
            if self.hashes[id] == h {
                let key = self.key_at(id);
                if key.len() == len
                    && key[..4] == header
                    && key[4..4 + ok.len()] == *ok
                    && key[4 + ok.len()..] == *info
                {
                    return false;
                }
            }
            i = (i + 1) & self.slots.mask;
        }
        let id = self.starts.len();
        // Arena offsets are u32: a search that large has long exhausted memory anyway, but
        // refuse gracefully by treating the configuration as seen.
        let Ok(start) = u32::try_from(self.arena.len()) else {
            return false;
        };
        self.starts.push(start);
        self.arena.extend_from_slice(&header);
        self.arena.extend_from_slice(ok);
        self.arena.extend_from_slice(info);
        self.hashes.push(h);
        self.slots.reserve(id, &self.hashes);
        let mut i = h as usize & self.slots.mask;
        for _ in 0..self.slots.slots.len() {
            if self.slots.slots[i] == 0 {
                self.slots.slots[i] = id as u32 + 1;
                break;
            }
            i = (i + 1) & self.slots.mask;
        }
        true
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
    fn visited_compares_whole_keys() {
        let mut v = Visited::new();
        for n in 0..500u64 {
            // Same hash for everything: equality must still be exact.
            assert!(v.insert(1, [n, 0, 1, 0], &[n], &[]));
        }
        assert!(!v.insert(1, [3, 0, 1, 0], &[3], &[]));
        assert!(v.insert(1, [3, 0, 1, 1], &[3], &[0]));
        assert_eq!(v.len(), 501);
    }
}
