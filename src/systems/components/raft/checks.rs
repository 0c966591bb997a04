//! The replicated log's own checks, over the [`Observation`]s its replicas report.
//!
//! They judge Raft itself, whatever it replicates, so every system built on it runs them
//! for every group (`Raft(raft::Check)` in the system's catalogue):
//!
//! * **log agreement** — Raft's State Machine Safety: no two replicas apply different
//!   entries at one index of a group; replicas that applied the same entries reached the
//!   same state (their digest chains agree); a snapshot a replica installs holds the state
//!   the others reached at its index.

use std::collections::BTreeMap;

use super::{Check, Observation};
use crate::check::{CheckOutcome, Verdict};
use crate::plan::Head;
use crate::sim::Observed;

/// Run one of the log's checks on the observations of a finished run: `observed` yields
/// (process, observation) in the order they were made; `process` names a process and
/// `group` a group ("shard 0", "the saga log", "partition 2").
pub fn run<'o>(
    check: Check,
    name: &str,
    observed: impl Iterator<Item = (usize, &'o Observation)>,
    process: &dyn Fn(usize) -> String,
    group: &dyn Fn(usize) -> String,
) -> CheckOutcome {
    match check {
        Check::LogAgreement => match agreement(observed, process, group) {
            Ok(entries) => CheckOutcome::pass(
                name,
                format!(
                    "{entries} committed entries, every replica applied the same ones to the same effect"
                ),
            ),
            Err(message) => CheckOutcome::fail(name, Verdict::Violation, message, vec![]),
        },
    }
}

/// [`run`] for a system whose verification records include Raft's: `raft_of` picks them
/// out of the system's records (the inverse of [`super::Host::raft_observation`]), and
/// processes are named as the plan names them.
pub fn run_over<O>(
    check: Check,
    name: &str,
    observations: &[Observed<O>],
    raft_of: fn(&O) -> Option<&Observation>,
    head: &Head,
    group: &dyn Fn(usize) -> String,
) -> CheckOutcome {
    let observed = (observations.iter()).filter_map(|o| raft_of(&o.obs).map(|r| (o.node, r)));
    let process = |n: usize| head.nodes[n].name.clone();
    run(check, name, observed, &process, group)
}

/// The first report of one committed index: (process, term, entry digest, chain).
type First = (usize, u64, u64, u64);

/// Compare every replica's report of each committed index (and each installed snapshot)
/// with the first report of it. Returns how many indices were reported, or what differs.
fn agreement<'o>(
    observed: impl Iterator<Item = (usize, &'o Observation)>,
    process: &dyn Fn(usize) -> String,
    group: &dyn Fn(usize) -> String,
) -> Result<usize, String> {
    let mut first: BTreeMap<(usize, u64), First> = BTreeMap::new();
    let mut installed = Vec::new();
    for (node, obs) in observed {
        match *obs {
            Observation::Applied {
                group: g,
                index,
                term,
                hash,
                chain,
            } => {
                let (node0, term0, hash0, chain0) =
                    *first.entry((g, index)).or_insert((node, term, hash, chain));
                if hash != hash0 {
                    return Err(format!(
                        "two different entries committed at index {index} of {}: {} applied one of term {term0}, {} one of term {term}",
                        group(g),
                        process(node0),
                        process(node)
                    ));
                }
                if chain != chain0 {
                    return Err(format!(
                        "replicas diverged: {} and {} applied the same entry {index} of {} but reached different states",
                        process(node0),
                        process(node),
                        group(g)
                    ));
                }
            }
            Observation::SnapshotInstalled {
                group: g,
                index,
                chain,
            } => installed.push((node, g, index, chain)),
        }
    }
    for (node, g, index, chain) in installed {
        if let Some(&(node0, _, _, chain0)) = first.get(&(g, index)) {
            if chain != chain0 {
                return Err(format!(
                    "{} installed a snapshot at index {index} of {} whose state differs from what {} applied",
                    process(node),
                    group(g),
                    process(node0)
                ));
            }
        }
    }
    Ok(first.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn applied(group: usize, index: u64, term: u64, hash: u64, chain: u64) -> Observation {
        Observation::Applied {
            group,
            index,
            term,
            hash,
            chain,
        }
    }

    fn judge(observed: &[(usize, Observation)]) -> CheckOutcome {
        let process = |n: usize| format!("r{n}");
        let group = |g: usize| format!("shard {g}");
        let it = observed.iter().map(|(n, o)| (*n, o));
        run(Check::LogAgreement, "log_agreement", it, &process, &group)
    }

    #[test]
    fn agreeing_replicas_pass() {
        let obs = [
            (0, applied(0, 1, 1, 11, 101)),
            (1, applied(0, 1, 1, 11, 101)),
            (0, applied(1, 1, 2, 12, 102)), // another group, same index
            (
                2,
                Observation::SnapshotInstalled {
                    group: 0,
                    index: 1,
                    chain: 101,
                },
            ),
        ];
        let outcome = judge(&obs);
        assert_eq!(outcome.verdict, Verdict::Pass, "{}", outcome.message);
        assert!(outcome.message.starts_with("2 committed entries"));
    }

    #[test]
    fn two_entries_at_one_index_are_a_violation() {
        let obs = [(0, applied(0, 3, 1, 11, 5)), (1, applied(0, 3, 2, 99, 5))];
        let outcome = judge(&obs);
        assert_eq!(outcome.verdict, Verdict::Violation);
        assert_eq!(
            outcome.message,
            "two different entries committed at index 3 of shard 0: r0 applied one of term 1, r1 one of term 2"
        );
    }

    #[test]
    fn diverged_states_and_stale_snapshots_are_violations() {
        let diverged = [(0, applied(2, 1, 1, 11, 5)), (1, applied(2, 1, 1, 11, 6))];
        let outcome = judge(&diverged);
        assert_eq!(outcome.verdict, Verdict::Violation);
        assert!(outcome
            .message
            .contains("r0 and r1 applied the same entry 1 of shard 2"));
        let snapshot = [
            (0, applied(0, 4, 1, 11, 5)),
            (
                1,
                Observation::SnapshotInstalled {
                    group: 0,
                    index: 4,
                    chain: 7,
                },
            ),
        ];
        let outcome = judge(&snapshot);
        assert_eq!(outcome.verdict, Verdict::Violation);
        assert!(outcome
            .message
            .starts_with("r1 installed a snapshot at index 4 of shard 0"));
    }
}
