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
//! simulation. Faults are removed as **episodes** (a partition with its heal, a crash with
//! its restart, a pause with its resume, a clog with its unclog), so a candidate is always
//! a well-formed schedule.
//!
//! The network's per-message draws (latency, loss, duplication) come from the plan's seeds
//! in the order messages are sent; removing an operation changes that order, so a
//! candidate may lose the failure for that reason alone — ddmin then keeps the item. The
//! result is a plan, not a seed: it replays exactly whatever the scenario's random draws
//! would now give.

use std::sync::Arc;

use crate::check::Verdict;
use crate::plan::{AnyPlan, FaultAction, TimedAction};
use crate::report::triage::signature;
use crate::runner::on_fresh_thread;
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
        if let Some(p) = &exec.panic {
            return Some(Target {
                verdict: Verdict::Crash,
                check: None,
                signature: signature(&format!("{} panicked: {}", p.name, p.message)),
            });
        }
        let check = exec
            .checks
            .iter()
            .find(|c| c.verdict == exec.verdict && c.verdict != Verdict::Pass)?;
        matches!(check.verdict, Verdict::Violation | Verdict::Liveness).then(|| Target {
            verdict: check.verdict,
            check: Some(check.check.clone()),
            signature: signature(&check.message),
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

/// ddmin over `n` items: the smallest set (by removing chunks) for which `test` holds,
/// given that it holds for all of them. `test` answers `None` when the budget is spent;
/// then the smallest set so far comes back with `false` (not minimal yet).
pub fn ddmin(n: usize, test: &mut dyn FnMut(&[usize]) -> Option<bool>) -> (Vec<usize>, bool) {
    let mut keep: Vec<usize> = (0..n).collect();
    match (n > 0).then(|| test(&[])) {
        Some(Some(true)) => return (Vec::new(), true),
        Some(None) => return (keep, false),
        _ => {}
    }
    let mut chunks = 2usize;
    // Each round either removes items or doubles the chunk count, so at most 2n rounds.
    for _ in 0..(2 * n + 2) {
        if keep.len() < 2 {
            break;
        }
        let size = keep.len().div_ceil(chunks);
        let mut removed = false;
        let count = chunks;
        for c in 0..count {
            let (lo, hi) = (c * size, ((c + 1) * size).min(keep.len()));
            if lo >= hi {
                continue;
            }
            let candidate: Vec<usize> = keep[..lo].iter().chain(&keep[hi..]).copied().collect();
            match test(&candidate) {
                None => return (keep, false),
                Some(true) => {
                    keep = candidate;
                    chunks = (chunks - 1).max(2);
                    removed = true;
                    break;
                }
                Some(false) => {}
            }
        }
        if !removed {
            if chunks >= keep.len() {
                break;
            }
            chunks = (chunks * 2).min(keep.len());
        }
    }
    (keep, true)
}

/// What a candidate is made of: fault actions (indices into the original schedule),
/// client operations (indices into the original workload), and the chaos phase.
#[derive(Debug, Clone)]
struct Candidate {
    faults: Vec<usize>,
    ops: Vec<usize>,
    chaos_ms: u64,
}

/// Runs candidates against the target.
struct Shrinker<'a> {
    system: &'static dyn SystemUnderTest,
    original: Arc<dyn AnyPlan>,
    target: Target,
    runs: u32,
    out_of_time: &'a dyn Fn() -> bool,
    timed_out: bool,
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
        self.original
            .edited(faults, &|i| keep.contains(&i), c.chaos_ms)
    }

    /// Whether `c` still fails the same way; `None` when time is up.
    fn fails(&mut self, c: &Candidate) -> Option<bool> {
        if (self.out_of_time)() {
            self.timed_out = true;
            return None;
        }
        self.runs += 1;
        let plan = self.plan(c);
        let system = self.system;
        let seed = plan.head().seed;
        let exec = on_fresh_thread(seed, move || system.run(&*plan, &ExecOptions::default()));
        Some(exec.ok().and_then(|e| Target::of(&e)).as_ref() == Some(&self.target))
    }

    fn shrink_faults(&mut self, c: &mut Candidate) {
        let groups: Vec<Vec<usize>> = episodes(&self.original.head().faults)
            .into_iter()
            .map(|ep| ep.into_iter().filter(|i| c.faults.contains(i)).collect())
            .filter(|ep: &Vec<usize>| !ep.is_empty())
            .collect();
        let (kept, _) = ddmin(groups.len(), &mut |chosen| {
            let mut faults: Vec<usize> = chosen.iter().flat_map(|&g| groups[g].clone()).collect();
            faults.sort_unstable();
            self.fails(&Candidate {
                faults,
                ..c.clone()
            })
        });
        c.faults = kept.iter().flat_map(|&g| groups[g].clone()).collect();
        c.faults.sort_unstable();
    }

    fn shrink_ops(&mut self, c: &mut Candidate) {
        let ops = c.ops.clone();
        let (kept, _) = ddmin(ops.len(), &mut |chosen| {
            let ops = chosen.iter().map(|&i| ops[i]).collect();
            self.fails(&Candidate { ops, ..c.clone() })
        });
        c.ops = kept.iter().map(|&i| ops[i]).collect();
    }

    /// The shortest chaos phase that still fails (bisection, at most 16 runs).
    fn shrink_chaos(&mut self, c: &mut Candidate) {
        let (mut lo, mut hi) = (0u64, c.chaos_ms);
        for _ in 0..16 {
            if hi - lo <= 10 {
                break;
            }
            let mid = lo + (hi - lo) / 2;
            match self.fails(&Candidate {
                chaos_ms: mid,
                ..c.clone()
            }) {
                Some(true) => hi = mid,
                Some(false) => lo = mid,
                None => break,
            }
        }
        c.chaos_ms = hi;
    }
}

/// Shrink the failing run of `plan`. `out_of_time` is asked before each candidate run.
/// Errors when the plan does not fail (nothing to shrink) or faultline fails running it.
pub fn shrink(
    system: &'static dyn SystemUnderTest,
    plan: Box<dyn AnyPlan>,
    out_of_time: &dyn Fn() -> bool,
) -> Result<Shrunk, String> {
    let original: Arc<dyn AnyPlan> = Arc::from(plan);
    let seed = original.head().seed;
    let first = {
        let plan = original.clone_box();
        on_fresh_thread(seed, move || system.run(&*plan, &ExecOptions::default()))?
    };
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
        out_of_time,
        timed_out: false,
    };
    let mut c = Candidate {
        faults: (0..original.head().faults.len()).collect(),
        ops: (0..original.operations()).collect(),
        chaos_ms: original.head().params.phases.chaos_ms,
    };
    // Faults first (cheap, often all irrelevant), then operations, then time; a second
    // round of faults, since fewer operations may make more faults removable.
    s.shrink_faults(&mut c);
    s.shrink_ops(&mut c);
    s.shrink_chaos(&mut c);
    s.shrink_faults(&mut c);
    let plan = s.plan(&c);
    let last = {
        let plan = plan.clone_box();
        on_fresh_thread(seed, move || system.run(&*plan, &ExecOptions::default()))?
    };
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

    #[test]
    fn ddmin_finds_the_two_needed_items_of_a_hundred() {
        let mut runs = 0;
        let (kept, complete) = ddmin(100, &mut |set| {
            runs += 1;
            Some(set.contains(&17) && set.contains(&83))
        });
        assert_eq!(kept, vec![17, 83]);
        assert!(complete);
        assert!(runs < 60, "{runs} runs");
    }

    #[test]
    fn ddmin_tries_nothing_first_and_stops_when_told() {
        let (kept, complete) = ddmin(50, &mut |_| Some(true));
        assert!(kept.is_empty() && complete);
        let mut left = 3;
        let (kept, complete) = ddmin(50, &mut |set| {
            left -= 1;
            (left > 0).then_some(set.len() > 40)
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
