//! Replaying the committed log: a full replay from the start reaches every replica's state
//! (snapshot plus tail, `snapshot_replay`) without breaking the ledger's invariants, and
//! money is conserved across shards (`conservation`).

use crate::check::{CheckOutcome, Verdict};
use crate::plan::Plan;
use crate::rng::SubStream;
use crate::systems::es_cluster::ledger::{Decider, Ledger, LogEntry};
use crate::systems::es_cluster::{EsCluster, Workload};

use super::{Committed, EsFinal, Out, ReplicaFinal};

/// Replay `entries` into a fresh ledger (decisions of undecided command entries use a
/// fixed stream: they are not reproducible, which is the point of that bug).
fn replay_into(ledger: &mut Ledger, entries: &[&LogEntry], shard: usize, shards: usize) {
    let mut rng = SubStream::new(0, "replay");
    for entry in entries {
        let mut d = Decider {
            rng: &mut rng,
            clock_ms: 0,
            shard,
            shards,
        };
        ledger.apply(entry, &mut d);
    }
}

pub(super) fn snapshot_replay(
    check: &str,
    plan: &Plan<EsCluster>,
    finals: &EsFinal,
    committed: &Committed,
) -> CheckOutcome {
    let shards = finals.shards.len();
    let mut compared = 0;
    for (s, replicas) in finals.shards.iter().enumerate() {
        let mut states: Vec<&ReplicaFinal> =
            replicas.iter().filter_map(|(_, r)| r.as_ref()).collect();
        states.sort_by_key(|r| r.state.applied);
        let Some(max) = states.last().map(|r| r.state.applied) else {
            continue;
        };
        let entries = match committed.prefix(s, max) {
            Ok(entries) => entries,
            Err(missing) => {
                return CheckOutcome::fail(
                    check,
                    Verdict::Unknown,
                    format!("shard {s}: committed entry {missing} was never reported by a leader; cannot replay"),
                    vec![],
                )
            }
        };
        let mut replay = Ledger::default();
        let mut at = 0usize;
        for r in states {
            let upto = r.state.applied as usize;
            // The ledger asserts its invariants while applying (no negative balance, no
            // transfer started twice): a committed log that trips them cannot be replayed.
            let replayed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                replay_into(&mut replay, &entries[at..upto], s, shards)
            }));
            if let Err(payload) = replayed {
                return CheckOutcome::fail(
                    check,
                    Verdict::Violation,
                    format!(
                        "replaying the committed log of shard {s} breaks an invariant: {}",
                        crate::sim::panic_text(payload)
                    ),
                    vec![],
                );
            }
            at = upto;
            compared += 1;
            if replay != r.state {
                return CheckOutcome::fail(
                    check,
                    Verdict::Violation,
                    format!(
                        "{}'s state at index {upto} (snapshot + tail) differs from a full replay of the committed log: {}",
                        plan.head.nodes[r.node].name,
                        describe_difference(&r.state, &replay)
                    ),
                    vec![],
                );
            }
        }
    }
    CheckOutcome::pass(
        check,
        format!("{compared} replica states equal a full replay of the committed log"),
    )
}

pub(super) fn describe_difference(a: &Ledger, b: &Ledger) -> String {
    if a.balances != b.balances {
        let first = a
            .balances
            .keys()
            .chain(b.balances.keys())
            .find(|k| a.balances.get(*k) != b.balances.get(*k))
            .cloned()
            .unwrap_or_default();
        return format!(
            "account {first}: {} vs replay {}",
            a.balance(&first),
            b.balance(&first)
        );
    }
    if a.kv != b.kv {
        let first =
            a.kv.keys()
                .chain(b.kv.keys())
                .find(|k| a.kv.get(*k) != b.kv.get(*k))
                .cloned()
                .unwrap_or_default();
        return format!(
            "key {first}: {:?} vs replay {:?}",
            a.value(&first),
            b.value(&first)
        );
    }
    if a.sessions != b.sessions {
        return "client sessions differ".into();
    }
    if a.coord != b.coord || a.part != b.part {
        return "transfer records differ".into();
    }
    "event metadata (ids, timestamps) differ".into()
}

pub(super) fn conservation(
    check: &str,
    plan: &Plan<EsCluster>,
    out: &Out,
    finals: &EsFinal,
) -> CheckOutcome {
    if plan.workload_kind != Workload::Bank {
        return CheckOutcome::pass(check, "not a bank workload: nothing to conserve");
    }
    if !out.settled {
        return CheckOutcome::fail(
            check,
            Verdict::Unknown,
            "not judged: the run did not settle, so transfers may be in flight",
            vec![],
        );
    }
    let (mut balances, mut deposited, mut withdrawn) = (0i64, 0i64, 0i64);
    for (s, replicas) in finals.shards.iter().enumerate() {
        let Some(leader) = replicas
            .iter()
            .filter_map(|(_, r)| r.as_ref())
            .find(|r| r.leader)
        else {
            return CheckOutcome::fail(
                check,
                Verdict::Unknown,
                format!("shard {s} has no leader at the end"),
                vec![],
            );
        };
        for (account, v) in &leader.state.balances {
            if v.value < 0 {
                return CheckOutcome::fail(
                    check,
                    Verdict::Violation,
                    format!("account {account} has a negative balance {}", v.value),
                    vec![],
                );
            }
            balances += v.value;
        }
        deposited += leader.state.deposited;
        withdrawn += leader.state.withdrawn;
    }
    if balances != deposited - withdrawn {
        return CheckOutcome::fail(
            check,
            Verdict::Violation,
            format!(
                "money not conserved: balances sum to {balances}, but {deposited} was deposited and {withdrawn} withdrawn ({} missing)",
                deposited - withdrawn - balances
            ),
            vec![],
        );
    }
    CheckOutcome::pass(
        check,
        format!("balances sum to {balances} = {deposited} deposited - {withdrawn} withdrawn, across {} shard(s)", finals.shards.len()),
    )
}
