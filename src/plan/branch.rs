//! Branched runs: a seed's run replayed up to a moment, then everything after it drawn anew.
//!
//! Coverage-guided mutation ([`super::guided`]) changes a whole plan from time 0, so the rare
//! state that made a seed interesting — a leader holding an earlier term's entry on a
//! majority, a follower a snapshot behind — is usually gone in its mutants. A *branch* keeps
//! it: the run of seed `p` is replayed exactly up to the time `t` it reached the rare state,
//! and from `t` on every random decision comes from the branch's own streams. What Antithesis
//! does with snapshots of a virtual machine, determinism does here by replaying the prefix.
//!
//! A branched run is named `p.b<position>@<t>` ([`super::SeedId::Branched`]); its plan is
//! seed `p`'s plan with
//!
//! * the fault episodes that start before `t` kept whole (a crash before `t` still restarts
//!   when it did), and the episodes of a fresh schedule drawn from the branch's id that
//!   start after `t` and after every kept episode has ended (so the schedule's limits — one
//!   partition at a time, processes down at once — still hold);
//! * the fault points whose window opens before `t` kept, and those of a fresh draw that
//!   open at or after `t`;
//! * the same client operations, clock offsets, aims and madsim seed;
//! * `branch_ms = t`, which tells the simulator to switch its network, disk and process
//!   streams from the parent's to the branch's at `t` ([`crate::sim`]).
//!
//! So the prefix is byte-identical to the parent's (`tests/branch.rs` compares the traces),
//! and the id alone rebuilds the plan: `faultline replay --seed 41.b9999@1530` plans seed 41
//! and branches it the same way. A branch is one level deep, like a mutant: its parent is
//! always a plain seed.

use super::{FaultAction, FaultPoint, TimedAction};

/// The end of a fault episode's effect (ms): its last action, or a clog's planned end.
fn episode_end(faults: &[TimedAction], episode: &[usize]) -> u64 {
    (episode.iter())
        .map(|&i| match faults[i].action {
            FaultAction::Clog { until_ms, .. } => until_ms.max(faults[i].at_ms),
            _ => faults[i].at_ms,
        })
        .max()
        .unwrap_or(0)
}

/// The highest partition number in `faults` (`None`: no partitions).
fn last_partition_id(faults: &[TimedAction]) -> Option<u32> {
    (faults.iter())
        .filter_map(|t| match t.action {
            FaultAction::Partition { id, .. } | FaultAction::Heal { id } => Some(id),
            _ => None,
        })
        .max()
}

/// The parent's episodes that start before `at_ms`, then `fresh`'s episodes that start at or
/// after `at_ms` and after every kept one has ended, their partitions renumbered past the
/// kept ones'. Time order holds: every fresh action comes after every kept one.
pub fn faults(parent: &[TimedAction], fresh: &[TimedAction], at_ms: u64) -> Vec<TimedAction> {
    let kept: Vec<Vec<usize>> = (super::faults::episodes(parent).into_iter())
        .filter(|e| parent[e[0]].at_ms < at_ms)
        .collect();
    let busy_until = (kept.iter()).map(|e| episode_end(parent, e)).max();
    let from_ms = match busy_until {
        Some(end) if end >= at_ms => end + 1,
        _ => at_ms,
    };
    let mut kept_indices: Vec<usize> = kept.into_iter().flatten().collect();
    kept_indices.sort_unstable();
    let mut out: Vec<TimedAction> = kept_indices.iter().map(|&i| parent[i].clone()).collect();
    let id_base = last_partition_id(&out).map_or(0, |id| id + 1);
    let renumber = |action: &FaultAction| match action.clone() {
        FaultAction::Partition { id, shape, blocked } => FaultAction::Partition {
            id: id + id_base,
            shape,
            blocked,
        },
        FaultAction::Heal { id } => FaultAction::Heal { id: id + id_base },
        other => other,
    };
    let mut fresh_indices: Vec<usize> = (super::faults::episodes(fresh).into_iter())
        .filter(|e| fresh[e[0]].at_ms >= from_ms)
        .flatten()
        .collect();
    fresh_indices.sort_unstable();
    out.extend(fresh_indices.iter().map(|&i| TimedAction {
        at_ms: fresh[i].at_ms,
        action: renumber(&fresh[i].action),
    }));
    out
}

/// The parent's fault points whose window opens before `at_ms`, then `fresh`'s that open at
/// or after it.
pub fn points(parent: &[FaultPoint], fresh: Vec<FaultPoint>, at_ms: u64) -> Vec<FaultPoint> {
    let kept = parent.iter().filter(|p| p.from_ms < at_ms).cloned();
    kept.chain(fresh.into_iter().filter(|p| p.from_ms >= at_ms))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::faults::episodes;

    fn at(at_ms: u64, action: FaultAction) -> TimedAction {
        TimedAction { at_ms, action }
    }

    #[test]
    fn episodes_before_the_branch_stay_whole_and_fresh_ones_start_after_them() {
        let parent = vec![
            at(100, FaultAction::Crash { node: 0 }),
            at(300, FaultAction::Pause { node: 1 }),
            at(500, FaultAction::Restart { node: 0 }),
            at(900, FaultAction::Resume { node: 1 }),
            at(1200, FaultAction::Crash { node: 2 }),
            at(1500, FaultAction::Restart { node: 2 }),
        ];
        let fresh = vec![
            at(400, FaultAction::Crash { node: 1 }),
            at(700, FaultAction::Restart { node: 1 }),
            at(950, FaultAction::Pause { node: 0 }),
            at(1100, FaultAction::Resume { node: 0 }),
        ];
        let out = faults(&parent, &fresh, 400);
        // Kept: the crash of 0 and the pause of 1 (both start before 400), whole; the crash
        // of 2 starts after the branch and goes. Fresh: the crash of 1 starts at 400 but
        // while the kept pause lasts (until 900), so it goes; the pause of 0 at 950 stays.
        let want = vec![
            at(100, FaultAction::Crash { node: 0 }),
            at(300, FaultAction::Pause { node: 1 }),
            at(500, FaultAction::Restart { node: 0 }),
            at(900, FaultAction::Resume { node: 1 }),
            at(950, FaultAction::Pause { node: 0 }),
            at(1100, FaultAction::Resume { node: 0 }),
        ];
        assert_eq!(out, want);
        assert!(out.windows(2).all(|w| w[0].at_ms <= w[1].at_ms));
        assert!(episodes(&out).iter().all(|e| e.len() == 2));
        // Branching at 0 keeps nothing of the parent.
        assert_eq!(faults(&parent, &fresh, 0), fresh);
    }

    #[test]
    fn fresh_partitions_never_reuse_a_kept_partition_number() {
        let partition = |id| FaultAction::Partition {
            id,
            shape: crate::scenario::PartitionShape::Split,
            blocked: vec![(0, 1)],
        };
        let parent = vec![at(100, partition(0)), at(200, FaultAction::Heal { id: 0 })];
        let fresh = vec![
            at(50, partition(0)),
            at(90, FaultAction::Heal { id: 0 }),
            at(300, partition(1)),
            at(400, FaultAction::Heal { id: 1 }),
        ];
        let out = faults(&parent, &fresh, 250);
        assert_eq!(out[2], at(300, partition(2)));
        assert_eq!(out[3], at(400, FaultAction::Heal { id: 2 }));
        assert_eq!(out.len(), 4);
    }
}
