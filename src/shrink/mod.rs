//! Shrinking a failing seed: from its explicit plan, try smaller plans — fewer faults,
//! fewer client operations, a shorter chaos phase — re-simulate each, and keep a candidate
//! while the same check still fails the same way (the same [`Target`]: verdict, check and
//! the triage signature of its message). What remains is a plan where nothing more could
//! be removed, written as `plan.json` and replayed with `faultline replay --plan`.
//!
//! **Why delta debugging.** The plan is a handful of flat lists, and a failure usually
//! needs a few items of each together (a crash *and* the partition around it *and* the two
//! writes it loses). Zeller's ddmin removes chunks of a list, halving the chunk size when
//! no chunk can go, so it needs O(k log n) runs to isolate k needed items of n, and it
//! tries the empty list first (most faults of a long run are irrelevant). proptest's
//! shrinking walks a value tree one simplification at a time — good for values built from
//! a generator, but our plans are data read from a seed, and each step costs a full
//! simulation. Measured on the first failing seed of all 26 planted-bug scenarios
//! (`cargo bench --bench shrink`, one candidate at a time): ddmin took 2,817 candidate
//! runs and left 297 client operations in all; one-at-a-time removal, the way proptest
//! shrinks a collection ([`one_at_a_time`]), took 4,351 runs and left 660 — it wins on a
//! few plans, where ddmin's chunks keep a failure's neighbours, but loses overall on both
//! counts, because most of a long run is irrelevant and ddmin drops it in a few big cuts. Faults are removed as **episodes** (a partition with its heal, a crash with
//! its restart, a pause with its resume, a clog with its unclog), so a candidate is always
//! a well-formed schedule. Fault points inside components ([`crate::plan::points`]) are
//! removed one by one the same way.
//!
//! The network's per-message draws (latency, loss, duplication) come from the plan's seeds
//! in the order messages are sent; removing an operation changes that order, so a
//! candidate may lose the failure for that reason alone — ddmin then keeps the item. The
//! result is a plan, not a seed: it replays exactly whatever the scenario's random draws
//! would now give.

pub mod pinned;

use std::sync::Arc;

use crate::check::Verdict;
use crate::plan::{Aim, AnyPlan, FaultPoint};
use crate::runner::run_plan;
use crate::runner::triage::signature;
use crate::systems::{ExecOptions, Execution, SystemUnderTest};

/// The failure a candidate must keep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The seed's verdict.
    pub verdict: Verdict,
    /// The failing check (none for a crash).
    pub check: Option<String>,
    /// The triage signature of the message.
    pub signature: String,
}

impl Target {
    /// The failure of an execution; `None` when it passed (or only ran out of budget).
    pub fn of(exec: &Execution) -> Option<Target> {
        let (verdict, check, message) = Self::failure(exec)?;
        Some(Target {
            verdict,
            check,
            signature: signature(&message),
        })
    }

    /// An execution's failure: verdict, failing check and the whole message.
    pub fn failure(exec: &Execution) -> Option<(Verdict, Option<String>, String)> {
        if let Some(p) = &exec.panic {
            let message = format!("{} panicked: {}", p.name, p.message);
            return Some((Verdict::Crash, None, message));
        }
        let check = exec
            .checks
            .iter()
            .find(|c| c.verdict == exec.verdict && c.verdict != Verdict::Pass)?;
        matches!(check.verdict, Verdict::Violation | Verdict::Liveness).then(|| {
            (
                check.verdict,
                Some(check.check.clone()),
                check.message.clone(),
            )
        })
    }
}

/// How big a plan and its run are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Size {
    /// Fault episodes.
    pub faults: usize,
    /// Client operations planned.
    pub operations: usize,
    /// Messages sent.
    pub messages: u64,
    /// Processes.
    pub processes: usize,
    /// Simulated time of the run (ms).
    pub sim_ms: u64,
}

impl Size {
    fn of(plan: &dyn AnyPlan, exec: &Execution) -> Size {
        Size {
            faults: episodes(&plan.head().faults).len(),
            operations: plan.operations(),
            messages: exec.links.values().map(|l| l.sent).sum(),
            processes: plan.head().nodes.len(),
            sim_ms: exec.end_ns / 1_000_000,
        }
    }
}

/// The outcome of a shrink.
pub struct Shrunk {
    /// The failure kept.
    pub target: Target,
    /// The smallest plan found.
    pub plan: Box<dyn AnyPlan>,
    /// Before and after.
    pub before: Size,
    /// After.
    pub after: Size,
    /// Candidate runs.
    pub runs: u32,
    /// Whether the time limit stopped it before nothing more could be removed.
    pub timed_out: bool,
}

pub use crate::plan::faults::episodes;

/// A test of a batch of candidates: for each, whether it holds (`None`: out of budget).
pub type BatchTest<'a, T> = dyn FnMut(&[T]) -> Vec<Option<bool>> + 'a;

/// ddmin over `n` items: the smallest set (by removing chunks) for which `test` holds,
/// given that it holds for all of them. `test` gets a batch of candidate sets (at most
/// `width`, run at once) and answers for each, in order; `None` means the budget is spent,
/// and then the smallest set so far comes back with `false` (not minimal yet).
///
/// Each round takes the *first* candidate in order that holds, exactly as a sequential
/// ddmin would (a batch only runs ahead of it): the result does not depend on `width`.
pub fn ddmin(n: usize, width: usize, test: &mut BatchTest<'_, Vec<usize>>) -> (Vec<usize>, bool) {
    let mut keep: Vec<usize> = (0..n).collect();
    if n == 0 {
        return (keep, true);
    }
    match test(&[Vec::new()]).first() {
        Some(Some(true)) => return (Vec::new(), true),
        Some(None) | None => return (keep, false),
        Some(Some(false)) => {}
    }
    let mut chunks = 2usize;
    // Each round either removes items or doubles the chunk count, so at most 2n rounds.
    for _ in 0..(2 * n + 2) {
        if keep.len() < 2 {
            break;
        }
        let size = keep.len().div_ceil(chunks);
        let candidates: Vec<Vec<usize>> = (0..chunks)
            .map(|c| (c * size, ((c + 1) * size).min(keep.len())))
            .filter(|(lo, hi)| lo < hi)
            .map(|(lo, hi)| keep[..lo].iter().chain(&keep[hi..]).copied().collect())
            .collect();
        match first_holding(&candidates, width, test) {
            Err(()) => return (keep, false),
            Ok(Some(i)) => {
                keep = candidates[i].clone();
                chunks = (chunks - 1).max(2);
            }
            Ok(None) => {
                if chunks >= keep.len() {
                    break;
                }
                chunks = (chunks * 2).min(keep.len());
            }
        }
    }
    (keep, true)
}

/// The first of `candidates` (in order) for which `test` holds, testing `width` at a
/// time; `Err` when the budget ran out before the answer was known.
fn first_holding<T: Clone>(
    candidates: &[T],
    width: usize,
    test: &mut BatchTest<'_, T>,
) -> Result<Option<usize>, ()> {
    for (wave, batch) in candidates.chunks(width.max(1)).enumerate() {
        for (j, answer) in test(batch).into_iter().enumerate() {
            match answer {
                Some(true) => return Ok(Some(wave * width.max(1) + j)),
                Some(false) => {}
                None => return Err(()),
            }
        }
    }
    Ok(None)
}

/// One item at a time, the way proptest shrinks a `Vec` (remove an element, keep the
/// removal if the failure stays, move on): `(n - k)` runs per pass at best, `O(n²)` at
/// worst. Kept to measure ddmin against (`cargo bench --bench shrink`).
pub fn one_at_a_time(
    n: usize,
    width: usize,
    test: &mut BatchTest<'_, Vec<usize>>,
) -> (Vec<usize>, bool) {
    let mut keep: Vec<usize> = (0..n).collect();
    let mut from = 0;
    // Each round removes one item or ends: at most n + 1 rounds.
    for _ in 0..=n {
        let candidates: Vec<Vec<usize>> = (from..keep.len())
            .map(|i| keep[..i].iter().chain(&keep[i + 1..]).copied().collect())
            .collect();
        match first_holding(&candidates, width, test) {
            Err(()) => return (keep, false),
            Ok(Some(j)) => {
                keep = candidates[j].clone();
                from += j;
            }
            Ok(None) => break,
        }
    }
    (keep, true)
}

/// How each list of a plan is minimised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// Zeller's delta debugging (the default).
    Ddmin,
    /// One item at a time, as proptest shrinks a collection.
    OneAtATime,
}

/// Minimise a list of `n` items with `strategy`, `width` candidates at a time.
fn minimize(
    strategy: Strategy,
    width: usize,
    n: usize,
    test: &mut BatchTest<'_, Vec<usize>>,
) -> (Vec<usize>, bool) {
    match strategy {
        Strategy::Ddmin => ddmin(n, width, test),
        Strategy::OneAtATime => one_at_a_time(n, width, test),
    }
}

/// The network probabilities a candidate runs with (loss, duplication, reordering).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Chances {
    loss: f64,
    duplicate: f64,
    reorder: f64,
}

impl Chances {
    fn get(&self, which: usize) -> f64 {
        [self.loss, self.duplicate, self.reorder][which]
    }
    fn with(mut self, which: usize, p: f64) -> Chances {
        *[&mut self.loss, &mut self.duplicate, &mut self.reorder][which] = p;
        self
    }
}

/// What a candidate is made of: fault actions (indices into the original schedule),
/// client operations (indices into the original workload), the chaos phase, the clients
/// removed (by number among clients) and the network's probabilities.
#[derive(Debug, Clone)]
struct Candidate {
    faults: Vec<usize>,
    /// Fault points kept (indices into the plan's).
    points: Vec<usize>,
    ops: Vec<usize>,
    chaos_ms: u64,
    dropped_clients: Vec<usize>,
    chances: Chances,
}

/// Runs candidates against the target, `width` at a time on fresh seed threads.
struct Shrinker<'a> {
    system: &'static dyn SystemUnderTest,
    original: Arc<dyn AnyPlan>,
    target: Target,
    runs: u32,
    width: usize,
    out_of_time: &'a dyn Fn(u32) -> bool,
    timed_out: bool,
    strategy: Strategy,
}

impl Shrinker<'_> {
    fn plan(&self, c: &Candidate) -> Box<dyn AnyPlan> {
        let head = self.original.head();
        let faults = (c.faults.iter())
            .filter(|&&i| head.faults[i].at_ms < c.chaos_ms)
            .map(|&i| head.faults[i].clone())
            .collect();
        let at_ms = self.original.operation_times();
        let keep: std::collections::BTreeSet<usize> = (c.ops.iter())
            .copied()
            .filter(|&i| at_ms[i] < c.chaos_ms)
            .collect();
        let edited = self
            .original
            .edited(faults, &|i| keep.contains(&i), c.chaos_ms);
        let mut plan = if c.dropped_clients.is_empty() {
            edited
        } else {
            edited.without_clients(&|k| c.dropped_clients.contains(&k))
        };
        plan.head_mut().fault_points = (c.points.iter())
            .map(|&i| &head.fault_points[i])
            .filter(|p| p.from_ms < c.chaos_ms)
            .map(|p| FaultPoint {
                until_ms: p.until_ms.min(c.chaos_ms),
                ..p.clone()
            })
            .collect();
        // Aims stay (a failure that needs one keeps it), inside the shortened chaos phase.
        plan.head_mut().aims = (head.aims.iter())
            .filter(|a| a.from_ms < c.chaos_ms)
            .map(|a| Aim {
                until_ms: a.until_ms.min(c.chaos_ms),
                ..a.clone()
            })
            .collect();
        let network = &mut plan.head_mut().params.network;
        network.loss_probability = c.chances.loss;
        network.duplicate_probability = c.chances.duplicate;
        network.reorder_probability = c.chances.reorder;
        plan
    }

    /// Whether each candidate still fails the same way (all run at once); `None` for
    /// every candidate once time is up.
    fn fail(&mut self, candidates: &[Candidate]) -> Vec<Option<bool>> {
        if (self.out_of_time)(self.runs) {
            self.timed_out = true;
            return vec![None; candidates.len()];
        }
        self.runs += candidates.len() as u32;
        let plans: Vec<Box<dyn AnyPlan>> = candidates.iter().map(|c| self.plan(c)).collect();
        let system = self.system;
        let target = &self.target;
        let answers: Vec<Option<bool>> = std::thread::scope(|scope| {
            let runs: Vec<_> = (plans.into_iter())
                .map(|plan| scope.spawn(move || run_plan(system, plan, ExecOptions::default())))
                .collect();
            (runs.into_iter())
                .map(|run| {
                    let exec = run.join().ok().and_then(Result::ok);
                    // A run a stop request cut short says nothing about the candidate.
                    if exec.as_ref().is_some_and(|e| e.interrupted) {
                        return None;
                    }
                    Some(exec.and_then(|e| Target::of(&e)).as_ref() == Some(target))
                })
                .collect()
        });
        if answers.contains(&None) {
            self.timed_out = true;
        }
        answers
    }

    fn shrink_faults(&mut self, c: &mut Candidate) {
        let groups: Vec<Vec<usize>> = episodes(&self.original.head().faults)
            .into_iter()
            .map(|ep| ep.into_iter().filter(|i| c.faults.contains(i)).collect())
            .filter(|ep: &Vec<usize>| !ep.is_empty())
            .collect();
        let faults_of = |chosen: &[usize]| {
            let mut faults: Vec<usize> = chosen.iter().flat_map(|&g| groups[g].clone()).collect();
            faults.sort_unstable();
            faults
        };
        let base = c.clone();
        let (kept, _) = minimize(self.strategy, self.width, groups.len(), &mut |sets| {
            let cands: Vec<Candidate> = (sets.iter())
                .map(|set| Candidate {
                    faults: faults_of(set),
                    ..base.clone()
                })
                .collect();
            self.fail(&cands)
        });
        c.faults = faults_of(&kept);
    }

    /// Fault points, one by one (a plan has at most a few).
    fn shrink_points(&mut self, c: &mut Candidate) {
        let points = c.points.clone();
        let base = c.clone();
        let (kept, _) = minimize(self.strategy, self.width, points.len(), &mut |sets| {
            let cands: Vec<Candidate> = (sets.iter())
                .map(|set| Candidate {
                    points: set.iter().map(|&i| points[i]).collect(),
                    ..base.clone()
                })
                .collect();
            self.fail(&cands)
        });
        c.points = kept.iter().map(|&i| points[i]).collect();
    }

    fn shrink_ops(&mut self, c: &mut Candidate) {
        let ops = c.ops.clone();
        let base = c.clone();
        let (kept, _) = minimize(self.strategy, self.width, ops.len(), &mut |sets| {
            let cands: Vec<Candidate> = (sets.iter())
                .map(|set| Candidate {
                    ops: set.iter().map(|&i| ops[i]).collect(),
                    ..base.clone()
                })
                .collect();
            self.fail(&cands)
        });
        c.ops = kept.iter().map(|&i| ops[i]).collect();
    }

    /// Fewer clients: ddmin over the clients still in the plan (a removed client takes
    /// its operations with it).
    fn shrink_clients(&mut self, c: &mut Candidate) {
        let n = self
            .original
            .head()
            .nodes_with(crate::plan::Role::Client)
            .len();
        let present: Vec<usize> = (0..n).filter(|k| !c.dropped_clients.contains(k)).collect();
        let client_of = self.original.operation_clients();
        let base = c.clone();
        let drop_all_but = |set: &[usize]| -> Candidate {
            let kept: Vec<usize> = set.iter().map(|&i| present[i]).collect();
            Candidate {
                dropped_clients: (0..n).filter(|k| !kept.contains(k)).collect(),
                ops: (base.ops.iter())
                    .copied()
                    .filter(|&i| kept.contains(&client_of[i]))
                    .collect(),
                ..base.clone()
            }
        };
        let (kept, _) = minimize(self.strategy, self.width, present.len(), &mut |sets| {
            // A plan keeps one client at least: the empty set is the same as one client.
            let cands: Vec<Candidate> = sets.iter().map(|set| drop_all_but(set)).collect();
            self.fail(&cands)
        });
        if kept.is_empty() {
            return; // only "no client" failed, which a plan cannot be
        }
        *c = drop_all_but(&kept);
    }

    /// The shortest chaos phase that still fails: a search that splits the interval into
    /// `width + 1` parts per step (bisection on one core), at most 16 steps.
    fn shrink_chaos(&mut self, c: &mut Candidate) {
        let (mut lo, mut hi) = (0u64, c.chaos_ms);
        for _ in 0..16 {
            if hi - lo <= 10 {
                break;
            }
            let w = self.width as u64;
            let points: Vec<u64> = (1..=w).map(|i| lo + (hi - lo) * i / (w + 1)).collect();
            let cands: Vec<Candidate> = (points.iter())
                .map(|&chaos_ms| Candidate {
                    chaos_ms,
                    ..c.clone()
                })
                .collect();
            let answers = self.fail(&cands);
            if answers.contains(&None) {
                break;
            }
            // The shortest failing point is the new top; the point below it the bottom.
            match answers.iter().position(|a| *a == Some(true)) {
                Some(i) => {
                    hi = points[i];
                    lo = if i == 0 { lo } else { points[i - 1] };
                }
                None => lo = points[points.len() - 1],
            }
        }
        c.chaos_ms = hi;
    }

    /// Lower loss, duplication and reordering probabilities: the smallest of 0, p/8, p/4,
    /// p/2 that still fails, for each.
    fn shrink_chances(&mut self, c: &mut Candidate) {
        for which in 0..3 {
            let p = c.chances.get(which);
            if p == 0.0 {
                continue;
            }
            let cands: Vec<Candidate> = ([0.0, p / 8.0, p / 4.0, p / 2.0].iter())
                .map(|&q| Candidate {
                    chances: c.chances.with(which, q),
                    ..c.clone()
                })
                .collect();
            let width = self.width;
            if let Ok(Some(i)) = first_holding(&cands, width, &mut |batch| self.fail(batch)) {
                c.chances = cands[i].chances;
            }
        }
    }
}

/// Shrink the failing run of `plan`, running `width` candidates at once. `out_of_time` is
/// asked before each batch, with the candidate runs so far. Errors when the plan does not
/// fail (nothing to shrink) or faultline fails running it.
pub fn shrink(
    system: &'static dyn SystemUnderTest,
    plan: Box<dyn AnyPlan>,
    width: usize,
    out_of_time: &dyn Fn(u32) -> bool,
) -> Result<Shrunk, String> {
    shrink_with(system, plan, width, Strategy::Ddmin, out_of_time)
}

/// [`shrink`] with a chosen [`Strategy`].
pub fn shrink_with(
    system: &'static dyn SystemUnderTest,
    plan: Box<dyn AnyPlan>,
    width: usize,
    strategy: Strategy,
    out_of_time: &dyn Fn(u32) -> bool,
) -> Result<Shrunk, String> {
    let original: Arc<dyn AnyPlan> = Arc::from(plan);
    let seed = original.head().id();
    let first = run_plan(system, original.clone_box(), ExecOptions::default())?;
    let target = Target::of(&first).ok_or_else(|| {
        format!(
            "seed {seed} does not fail ({:?}): nothing to shrink",
            first.verdict
        )
    })?;
    let before = Size::of(&*original, &first);
    let mut s = Shrinker {
        system,
        original: original.clone(),
        target,
        runs: 1,
        width: width.max(1),
        out_of_time,
        timed_out: false,
        strategy,
    };
    let network = &original.head().params.network;
    let mut c = Candidate {
        faults: (0..original.head().faults.len()).collect(),
        points: (0..original.head().fault_points.len()).collect(),
        ops: (0..original.operations()).collect(),
        chaos_ms: original.head().params.phases.chaos_ms,
        dropped_clients: Vec::new(),
        chances: Chances {
            loss: network.loss_probability,
            duplicate: network.duplicate_probability,
            reorder: network.reorder_probability,
        },
    };
    // Faults first (cheap, often all irrelevant), then operations, clients and time; a
    // second round of faults, since fewer operations may make more faults removable; the
    // network's probabilities last, on the smallest run.
    s.shrink_faults(&mut c);
    s.shrink_points(&mut c);
    s.shrink_ops(&mut c);
    s.shrink_clients(&mut c);
    s.shrink_chaos(&mut c);
    s.shrink_faults(&mut c);
    s.shrink_chances(&mut c);
    let plan = s.plan(&c);
    // A stop request (Ctrl-C) ended the candidates; the smallest plan's own run is not a
    // candidate and must run whole, or its sizes would be those of a cut-short run.
    crate::guard::clear_stop();
    let last = run_plan(system, plan.clone_box(), ExecOptions::default())?;
    Ok(Shrunk {
        after: Size::of(&*plan, &last),
        target: s.target,
        plan,
        before,
        runs: s.runs + 1,
        timed_out: s.timed_out,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{FaultAction, TimedAction};

    #[test]
    fn ddmin_finds_the_two_needed_items_of_a_hundred() {
        let mut runs = 0;
        let (kept, complete) = ddmin(100, 1, &mut |sets| {
            runs += 1;
            sets.iter()
                .map(|set| Some(set.contains(&17) && set.contains(&83)))
                .collect()
        });
        assert_eq!(kept, vec![17, 83]);
        assert!(complete);
        assert!(runs < 60, "{runs} runs");
    }

    #[test]
    fn ddmin_gives_the_same_result_at_any_width() {
        let needed = |set: &Vec<usize>| [3, 4, 40, 77].iter().all(|i| set.contains(i));
        let results: Vec<(Vec<usize>, u32)> = [1, 2, 3, 8]
            .iter()
            .map(|&width| {
                let mut batches = 0;
                let (kept, complete) = ddmin(90, width, &mut |sets| {
                    assert!(sets.len() <= width);
                    batches += 1;
                    sets.iter().map(|s| Some(needed(s))).collect()
                });
                assert!(complete);
                (kept, batches)
            })
            .collect();
        assert!(results.iter().all(|(k, _)| *k == vec![3, 4, 40, 77]));
        assert!(
            results[3].1 < results[0].1,
            "wider batches, fewer rounds: {results:?}"
        );
    }

    #[test]
    fn one_at_a_time_keeps_what_is_needed_in_about_n_runs() {
        let mut runs = 0;
        let (kept, complete) = one_at_a_time(40, 1, &mut |sets| {
            runs += sets.len();
            sets.iter()
                .map(|s| Some(s.contains(&5) && s.contains(&30)))
                .collect()
        });
        assert_eq!((kept, complete), (vec![5, 30], true));
        assert!((40..=80).contains(&runs), "{runs} runs");
    }

    #[test]
    fn ddmin_tries_nothing_first_and_stops_when_told() {
        let (kept, complete) = ddmin(50, 2, &mut |sets| vec![Some(true); sets.len()]);
        assert!(kept.is_empty() && complete);
        let mut left = 3;
        let (kept, complete) = ddmin(50, 1, &mut |sets| {
            left -= 1;
            vec![(left > 0).then_some(sets[0].len() > 40)]
        });
        assert!(!complete);
        assert!(kept.len() >= 41);
    }

    #[test]
    fn episodes_pair_each_fault_with_its_end() {
        let t = |at_ms, action| TimedAction { at_ms, action };
        let faults = vec![
            t(1, FaultAction::Crash { node: 1 }),
            t(
                2,
                FaultAction::Partition {
                    id: 7,
                    shape: crate::scenario::PartitionShape::Split,
                    blocked: vec![],
                },
            ),
            t(3, FaultAction::Restart { node: 1 }),
            t(4, FaultAction::Crash { node: 1 }),
            t(5, FaultAction::Heal { id: 7 }),
        ];
        assert_eq!(episodes(&faults), vec![vec![0, 2], vec![1, 4], vec![3]]);
    }
}
