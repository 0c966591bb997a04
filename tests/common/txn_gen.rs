//! Generated list-append histories that are strict serializable by construction, and
//! anomalies planted in them: for the isolation checker's tests and its benchmark.
//!
//! Transaction `i` takes effect at its commit point `10 i + 30`, inside its span
//! `[call, ret]` (each side up to 24 time units away), against one store of lists, so
//! the commit order is a serial order that respects real time. Process `i mod P` runs it:
//! a process's spans never overlap, because five processes' commit points are 50 apart.

#![allow(dead_code)]

use std::fmt::Write as _;

/// One generated transaction.
#[derive(Debug, Clone)]
pub struct GenTxn {
    pub process: u64,
    pub call: u64,
    pub ret: u64,
    pub failed: bool,
    /// `(append?, key, value or list)`.
    pub mops: Vec<(bool, u32, Vec<u64>)>,
}

/// A small deterministic generator (xorshift64*).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) % n.max(1)
    }
}

pub const PROCESSES: u64 = 5;

/// `n` transactions over `keys` keys, executed serially in commit order.
pub fn serial(n: usize, keys: u32, seed: u64) -> Vec<GenTxn> {
    rotating(n, keys, u64::MAX, seed)
}

/// Like [`serial`], but a key that has taken `per_key` appends is retired for a fresh
/// one (as Elle's generator bounds its lists), so `active` keys are in use at a time.
pub fn rotating(n: usize, active: u32, per_key: u64, seed: u64) -> Vec<GenTxn> {
    let mut rng = Rng::new(seed);
    let mut slots: Vec<u32> = (0..active).collect();
    let mut lists: Vec<Vec<u64>> = vec![Vec::new(); active as usize];
    let mut out = Vec::with_capacity(n);
    for i in 0..n as u64 {
        let commit = 10 * i + 30;
        let mut mops = Vec::new();
        for _ in 0..1 + rng.below(4) {
            let slot = rng.below(active as u64) as usize;
            let k = slots[slot];
            if rng.below(2) == 0 {
                let v = lists[k as usize].len() as u64 + 1;
                lists[k as usize].push(v);
                mops.push((true, k, vec![v]));
            } else {
                mops.push((false, k, lists[k as usize].clone()));
            }
            if lists[k as usize].len() as u64 >= per_key {
                slots[slot] = lists.len() as u32;
                lists.push(Vec::new());
            }
        }
        out.push(GenTxn {
            process: i % PROCESSES,
            call: commit - rng.below(25),
            ret: commit + rng.below(25),
            failed: false,
            mops,
        });
    }
    out
}

/// The history as Elle's EDN, events in time order: `value(txn, completed)` writes a
/// transaction's micro-operations.
fn edn_with(txns: &[GenTxn], value: impl Fn(&GenTxn, bool) -> String) -> String {
    let mut events: Vec<(u64, bool, usize)> = Vec::with_capacity(2 * txns.len());
    for (i, t) in txns.iter().enumerate() {
        events.push((t.call, false, i));
        events.push((t.ret, true, i));
    }
    events.sort_unstable();
    let mut out = String::new();
    for (time, done, i) in events {
        let t = &txns[i];
        let kind = match (done, t.failed) {
            (false, _) => "invoke",
            (true, false) => "ok",
            (true, true) => "fail",
        };
        let (process, value) = (t.process, value(t, done && !t.failed));
        writeln!(
            out,
            "{{:process {process}, :type :{kind}, :f :txn, :value {value}, :time {time}}}"
        )
        .unwrap();
    }
    out
}

/// The history as Elle's EDN, events in time order.
pub fn edn(txns: &[GenTxn]) -> String {
    edn_with(txns, |t, committed| {
        let mut value = String::from("[");
        for (append, k, v) in &t.mops {
            match (append, committed) {
                (true, _) => write!(value, "[:append {k} {}]", v[0]).unwrap(),
                (false, true) => {
                    let items: Vec<String> = v.iter().map(|x| x.to_string()).collect();
                    write!(value, "[:r {k} [{}]]", items.join(" ")).unwrap()
                }
                (false, false) => write!(value, "[:r {k} nil]").unwrap(),
            }
        }
        value.push(']');
        value
    })
}

/// The transaction that appended `v` to key `k`.
fn writer_of(txns: &[GenTxn], k: u32, v: u64) -> Option<usize> {
    (txns.iter()).position(|t| {
        t.mops
            .iter()
            .any(|(a, key, x)| *a && *key == k && x[0] == v)
    })
}

/// Plant a stale read: a read that misses the last element of its list although that
/// element's writer completed before the reader began. Returns whether one was planted.
pub fn plant_stale_read(txns: &mut [GenTxn]) -> bool {
    for r in (0..txns.len()).rev() {
        for m in 0..txns[r].mops.len() {
            let (append, k, list) = txns[r].mops[m].clone();
            let Some(&last) = list.last() else { continue };
            if append {
                continue;
            }
            // Only the transaction's first access to the key, so it stays internally consistent.
            if txns[r].mops[..m].iter().any(|(_, key, _)| *key == k) {
                continue;
            }
            let w = writer_of(txns, k, last).expect("a writer");
            // Another read must show the element, or nothing tells it was missed.
            let seen = (txns.iter().enumerate()).any(|(o, t)| {
                o != r
                    && t.mops
                        .iter()
                        .any(|(a, key, l)| !a && *key == k && l.contains(&last))
            });
            if txns[w].ret < txns[r].call && seen {
                txns[r].mops[m].2.pop();
                return true;
            }
        }
    }
    false
}

/// Plant an aborted read: a transaction whose append someone read is reported failed.
pub fn plant_aborted_read(txns: &mut [GenTxn]) -> bool {
    for r in (0..txns.len()).rev() {
        let read = txns[r]
            .mops
            .iter()
            .find(|(a, _, l)| !a && !l.is_empty())
            .cloned();
        if let Some((_, k, list)) = read {
            let v = *list.last().unwrap();
            let w = writer_of(txns, k, v).expect("a writer");
            if w != r {
                txns[w].failed = true;
                return true;
            }
        }
    }
    false
}

/// Elle's `huge-scc` stress: every transaction overlaps every other, and each read
/// returns a random prefix of its key's list, so reads and appends tie most of the
/// history into one strongly connected component.
pub fn huge_scc(n: usize, keys: u32, seed: u64) -> Vec<GenTxn> {
    let mut rng = Rng::new(seed);
    let mut txns = rotating(n, keys, 32, seed);
    let end = 10 * n as u64 + 100;
    for (i, t) in txns.iter_mut().enumerate() {
        t.process = i as u64;
        t.call = i as u64;
        t.ret = end + i as u64;
        for (append, _, list) in &mut t.mops {
            if !*append {
                let keep = rng.below(list.len() as u64 + 1) as usize;
                list.truncate(keep);
            }
        }
    }
    txns
}

/// `n` read-write register transactions over `active` keys in use at a time, executed
/// serially in commit order (as [`rotating`]): a write stores a value unique per key (its
/// count of writes), a read returns the last one (`[]` for the initial state, `[v]`
/// otherwise); a key that has taken `per_key` writes is retired for a fresh one.
pub fn rw_rotating(n: usize, active: u32, per_key: u64, seed: u64) -> Vec<GenTxn> {
    let mut txns = rotating(n, active, per_key, seed);
    // The same shape, read as registers: an append of `v` writes `v`, a read of a list
    // returns its last element.
    for t in &mut txns {
        for (_, _, v) in &mut t.mops {
            if v.len() > 1 {
                *v = vec![*v.last().unwrap()];
            }
        }
    }
    txns
}

/// A register history ([`rw_rotating`]) as Elle's EDN, events in time order.
pub fn edn_rw(txns: &[GenTxn]) -> String {
    edn_with(txns, |t, committed| {
        let mut value = String::from("[");
        for (write, k, v) in &t.mops {
            match (write, committed, v.first()) {
                (true, _, Some(x)) => write!(value, "[:w {k} {x}]").unwrap(),
                (false, true, Some(x)) => write!(value, "[:r {k} {x}]").unwrap(),
                _ => write!(value, "[:r {k} nil]").unwrap(),
            }
        }
        value.push(']');
        value
    })
}
