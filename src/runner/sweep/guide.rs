//! Coverage-guided scheduling: a share of a sweep's runs explore around interesting seeds.
//!
//! A fuzzer keeps the inputs that reach new code and mutates them. Here the "code" is the
//! coverage probes a run reaches (`ctx.probe`): after a warm-up of plain seeds, a share of
//! the sweep's positions (`Guide::share`) run a *mutant* ([`crate::plan::guided`]) of a
//! seed from the corpus instead of a new seed. A plain seed enters the corpus when its run
//! reached a probe that at most 1% of the runs so far reached (with more energy: it is
//! picked more often), or a combination of probes no earlier run reached.
//!
//! A parent that reached a rare probe also offers a *branch point*: the time its run first
//! reached its rarest probe. A share of the positions that pick such a parent
//! (`Guide::branch_share`) run a *branch* of it ([`crate::plan::branch`]) instead of a
//! mutant: the parent's run replayed up to that time, everything after it drawn anew — so
//! the rare state is kept and what follows it explored.
//!
//! Determinism: which parent position `p` mutates depends only on the runs at positions
//! below `p - LAG`, folded in position order — never on which seeds happened to finish
//! first on the pool. The job iterator waits (rarely: the pool runs far fewer than `LAG`
//! seeds at once) until those runs are in. So a sweep's guided runs are the same for any
//! `--jobs`, and each is named by an id that replays it alone. A sharded sweep runs no
//! guided runs: a shard does not see the others' results.

use std::collections::{BTreeMap, BTreeSet};
use std::hash::{Hash, Hasher};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

use crate::guard;
use crate::plan::SeedId;
use crate::rng::{streams, SubStream};
use crate::sim::StableHasher;

/// Plain seeds first: the corpus needs something to start from.
pub const WARMUP: u64 = 100;
/// A position's parent comes from runs at least this many positions earlier.
pub const LAG: u64 = 64;
/// A probe reached by at most this share of the runs so far is rare.
pub const RARE_SHARE: f64 = 0.01;
/// How much more often a seed that reached a rare probe is picked than one that only
/// reached a new combination.
pub const RARE_ENERGY: u64 = 8;
/// Default share of the positions after the warm-up that run mutants.
pub const SHARE_DEFAULT: f64 = 0.5;
/// Default share of the guided positions whose parent has a branch point that branch it.
pub const BRANCH_SHARE_DEFAULT: f64 = 0.5;

/// One finished run as the guide folds it: whether it is a plain seed, and the probes it
/// reached with when each was first reached (ms).
pub type Reached = (bool, Vec<(String, u64)>);

/// A seed kept to explore around.
#[derive(Debug, Clone, Copy)]
struct Parent {
    seed: u64,
    energy: u64,
    /// When its run first reached its rarest probe (ms), if it reached a rare one.
    branch_ms: Option<u64>,
}

/// What one scenario's sweep learned so far.
#[derive(Debug, Default)]
struct Coverage {
    first_seed: u64,
    /// Finished runs not folded yet, by position.
    pending: BTreeMap<u64, Reached>,
    /// Runs folded: every position below `first_seed + folded`.
    folded: u64,
    /// Runs that reached each probe.
    counts: BTreeMap<String, u64>,
    /// Hashes of the probe combinations reached.
    combinations: BTreeSet<u64>,
    /// Parents and their energy.
    corpus: Vec<Parent>,
    /// Guided runs scheduled (branches included).
    guided: u64,
    /// Branched runs scheduled.
    branched: u64,
}

impl Coverage {
    /// Fold the finished runs in position order, up to (not including) `until`.
    fn fold_until(&mut self, until: u64) -> bool {
        while self.first_seed + self.folded < until {
            let position = self.first_seed + self.folded;
            let Some((plain, probes)) = self.pending.remove(&position) else {
                return false;
            };
            self.fold(position, plain, &probes);
        }
        true
    }

    fn fold(&mut self, seed: u64, plain: bool, probes: &[(String, u64)]) {
        self.folded += 1;
        for (p, _) in probes {
            *self.counts.entry(p.clone()).or_insert(0) += 1;
        }
        let mut hasher = StableHasher::default();
        // The names alone, as before branch points existed: the same combinations.
        let names: Vec<&String> = probes.iter().map(|(p, _)| p).collect();
        names.hash(&mut hasher);
        let new_combination = self.combinations.insert(hasher.finish());
        let rare_max = ((self.folded as f64 * RARE_SHARE) as u64).max(1);
        // The rarest probe reached (ties: the one reached first) is where a branch starts.
        let rarest = (probes.iter())
            .filter(|(p, _)| self.counts[p] <= rare_max)
            .min_by_key(|(p, at_ms)| (self.counts[p], *at_ms));
        if plain && (rarest.is_some() || new_combination) {
            self.corpus.push(Parent {
                seed,
                energy: if rarest.is_some() { RARE_ENERGY } else { 1 },
                branch_ms: rarest.map(|&(_, at_ms)| at_ms),
            });
        }
    }

    /// A parent drawn by energy.
    fn pick(&self, rng: &mut SubStream) -> Option<Parent> {
        let total: u64 = self.corpus.iter().map(|p| p.energy).sum();
        if total == 0 {
            return None;
        }
        let mut at = rng.range_u64(0, total - 1);
        for parent in &self.corpus {
            if at < parent.energy {
                return Some(*parent);
            }
            at -= parent.energy;
        }
        None
    }
}

/// The guide of one sweep: every scenario's coverage, shared by the job iterator (which
/// asks what to run) and the result loop (which reports what ran).
#[derive(Debug)]
pub struct Guide {
    share: f64,
    branch_share: f64,
    state: Mutex<Vec<Coverage>>,
    arrived: Condvar,
}

impl Guide {
    /// A guide for scenarios whose seeds start at `first_seeds`; `share` of the
    /// positions after the warm-up run guided runs (0: none), and `branch_share` of those
    /// whose parent has a branch point branch it (0: only mutants).
    pub fn new(share: f64, branch_share: f64, first_seeds: &[u64]) -> Guide {
        let state = (first_seeds.iter())
            .map(|&first_seed| Coverage {
                first_seed,
                ..Coverage::default()
            })
            .collect();
        Guide {
            share,
            branch_share,
            state: Mutex::new(state),
            arrived: Condvar::new(),
        }
    }

    /// What runs at `seed`'s position of scenario `index`: the seed, or a guided run's id.
    /// `None` when a stop was requested while waiting for earlier runs.
    pub fn plan_seed(&self, index: usize, seed: u64) -> Option<SeedId> {
        let plain = Some(SeedId::Plain(seed));
        let mut slot = SubStream::indexed(seed, streams::GUIDED, 0);
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let first = state[index].first_seed;
        if self.share <= 0.0 || seed < first + WARMUP || !slot.chance(self.share) {
            return plain;
        }
        let until = seed - LAG;
        while !state[index].fold_until(until) {
            if guard::stop_requested() {
                return None;
            }
            let wait = Duration::from_millis(100);
            state = (self.arrived.wait_timeout(state, wait))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        let mut pick = SubStream::indexed(seed, streams::GUIDED, 1);
        let Some(parent) = state[index].pick(&mut pick) else {
            return plain; // nothing interesting yet
        };
        // A branch at 0 ms would replay nothing: such a parent is mutated instead.
        let branch = (parent.branch_ms)
            .filter(|&at_ms| at_ms > 0)
            .filter(|_| pick.chance(self.branch_share));
        let id = match branch {
            Some(at_ms) => SeedId::branched(parent.seed, seed, at_ms),
            None => SeedId::guided(parent.seed, seed),
        };
        let Some(id) = id else { return plain };
        state[index].guided += 1;
        state[index].branched += u64::from(branch.is_some());
        Some(id)
    }

    /// A run of scenario `index` finished (`id`: a seed or a guided or branched run's id)
    /// and reached `probes` (name, first reached in ms).
    pub fn record(&self, index: usize, id: SeedId, probes: Vec<(String, u64)>) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state[index]
            .pending
            .insert(id.position(), (id.is_plain(), probes));
        self.arrived.notify_all();
    }

    /// Per scenario: the branched runs scheduled so far.
    pub fn branched(&self) -> Vec<u64> {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.iter().map(|c| c.branched).collect()
    }

    /// Per scenario: probe combinations reached by the folded runs, guided runs
    /// scheduled, and corpus size. Folds every finished run first.
    pub fn coverage(&self) -> Vec<(usize, u64, usize)> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        (state.iter_mut())
            .map(|c| {
                c.fold_until(u64::MAX);
                (c.combinations.len(), c.guided, c.corpus.len())
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probes(names: &[&str]) -> Vec<(String, u64)> {
        (names.iter().enumerate())
            .map(|(i, s)| (s.to_string(), 10 * i as u64))
            .collect()
    }

    #[test]
    fn rare_probes_and_new_combinations_enter_the_corpus_in_position_order() {
        let guide = Guide::new(1.0, 0.0, &[0]);
        // Out of order: folding still goes by position.
        for seed in (0..300u64).rev() {
            let p = if seed == 150 {
                probes(&["a", "rare"])
            } else {
                probes(&["a"])
            };
            guide.record(0, SeedId::Plain(seed), p);
        }
        let id = guide.plan_seed(0, 299).expect("not stopped");
        let SeedId::Guided { parent, index } = id else {
            panic!("a guided run")
        };
        assert!(parent == 0 || parent == 150, "parent {parent}");
        assert_eq!(index, 299);
        let coverage = guide.coverage();
        assert_eq!(
            coverage,
            vec![(2, 1, 2)],
            "two combinations, seeds 0 and 150 kept"
        );
        // The warm-up runs plain seeds, and so does a share of 0.
        assert_eq!(guide.plan_seed(0, 10), Some(SeedId::Plain(10)));
        assert_eq!(
            Guide::new(0.0, 0.0, &[0]).plan_seed(0, 299),
            Some(SeedId::Plain(299))
        );
    }

    #[test]
    fn a_parent_that_reached_a_rare_probe_is_branched_where_it_first_reached_it() {
        let guide = Guide::new(1.0, 1.0, &[0]);
        for seed in 0..400u64 {
            let p = if seed == 150 {
                probes(&["a", "rare"]) // "rare" first reached at 10 ms
            } else {
                probes(&["a"])
            };
            guide.record(0, SeedId::Plain(seed), p);
        }
        let ids: Vec<SeedId> = (300..400).filter_map(|s| guide.plan_seed(0, s)).collect();
        for id in &ids {
            match *id {
                SeedId::Branched {
                    parent,
                    index,
                    at_ms,
                } => assert_eq!((parent, at_ms), (150, 10), "{id} at {index}"),
                // Seed 0 was rare when it was the only run, but at 0 ms: no branch.
                SeedId::Guided { parent, .. } => assert_eq!(parent, 0, "{id}"),
                SeedId::Plain(_) => panic!("a share of 1 runs no plain seed after the warm-up"),
            }
        }
        let branched = ids
            .iter()
            .filter(|id| matches!(id, SeedId::Branched { .. }));
        // Seeds 0 (rare as the first run) and 150 are the corpus, with the same energy.
        let n = branched.count();
        assert!((30..=70).contains(&n), "{n} of 100 branch: {ids:?}");
        assert_eq!(
            guide.branched(),
            vec![
                ids.len() as u64
                    - ids
                        .iter()
                        .filter(|i| matches!(i, SeedId::Guided { .. }))
                        .count() as u64
            ]
        );
    }
}
