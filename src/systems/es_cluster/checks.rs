//! What `es_cluster` runs are judged by.
//!
//! The checks read three sources: the client history, the final state of every process
//! ([`EsFinal`]), and the observations made while running ([`EsObs`]): the replicated
//! log's own (each entry every replica applies, which its `log_agreement` check judges),
//! leaders' reports of each committed entry itself, and the projection's of each entry it
//! folds.
//! From the leaders' reports the checks rebuild the committed log of every shard — even
//! though replicas compact their logs into snapshots — and replay it.

use std::collections::{BTreeMap, BTreeSet};

use super::ledger::{Decider, Event, Ledger, LogEntry, Payload, ReqId};
use super::projection::ProjectionView;
use super::{Check, EsCluster, EsObs, Proc, Workload};
use crate::catalog::Named;
use crate::check::linearizability::{Budget, ModelKind};
use crate::check::{CheckOutcome, Verdict};
use crate::history::{Func, History, Status, Value};
use crate::plan::Plan;
use crate::rng::SubStream;
use crate::sim::{Observed, SimOutput, View};
use crate::systems::components::raft::{self, Role};

/// A replica at the end of the run.
#[derive(Debug, Clone)]
pub struct ReplicaFinal {
    /// Process index.
    pub node: usize,
    /// Term.
    pub term: u64,
    /// Whether it led.
    pub leader: bool,
    /// Commit index.
    pub commit: u64,
    /// Last log index.
    pub last_index: u64,
    /// Applied state.
    pub state: Ledger,
}

/// What the checks look at.
#[derive(Debug, Clone)]
pub struct EsFinal {
    /// Per shard, each replica (`None` if it was not running).
    pub shards: Vec<Vec<(usize, Option<ReplicaFinal>)>>,
    /// The projection's feeds: next index and view per shard (`None` if not running).
    pub projection: Option<Vec<(u64, ProjectionView)>>,
    /// Why the system had not settled, if it had not.
    pub unsettled: Vec<String>,
}

/// Why the world has not settled (empty when it has).
pub fn unsettled(sys: &EsCluster, view: &View<'_, EsCluster>) -> Vec<String> {
    let mut why = Vec::new();
    for (node, proc) in view.procs.iter().enumerate() {
        match proc {
            Some(Proc::Client(c)) if !c.idle() => {
                why.push(format!("client {node} waits for an answer"))
            }
            Some(Proc::Router(r)) if !r.idle() => {
                why.push(format!("the router waits for {} answers", r.inflight.len()))
            }
            _ => {}
        }
    }
    let commits: Vec<u64> = (0..sys.shards.len())
        .map(|s| shard_unsettled(sys, view, s, &mut why))
        .collect();
    match &view.procs[sys.projection] {
        Some(Proc::Projection(p)) => {
            for (s, feed) in p.feeds.iter().enumerate() {
                if feed.next != commits[s] + 1 {
                    why.push(format!(
                        "projection: shard {s} at {} of {}",
                        feed.next.saturating_sub(1),
                        commits[s]
                    ));
                }
            }
        }
        _ => why.push("the projection is not running".into()),
    }
    why
}

/// Why shard `s` has not settled (pushed to `why`); returns its leader's commit index
/// (0 without a single leader).
fn shard_unsettled(
    sys: &EsCluster,
    view: &View<'_, EsCluster>,
    s: usize,
    why: &mut Vec<String>,
) -> u64 {
    let nodes = &sys.shards[s];
    let replicas: Vec<&super::Replica> = nodes
        .iter()
        .filter_map(|&n| match &view.procs[n] {
            Some(Proc::Replica(r)) => Some(r.as_ref()),
            _ => None,
        })
        .collect();
    if replicas.len() < nodes.len() {
        why.push(format!("shard {s}: a replica is not running"));
        return 0;
    }
    let top = replicas.iter().map(|r| r.term).max().unwrap_or(0);
    let leaders: Vec<&&super::Replica> = replicas
        .iter()
        .filter(|r| r.role == Role::Leader && r.term == top)
        .collect();
    let [leader] = leaders.as_slice() else {
        why.push(format!("shard {s}: no leader in term {top}"));
        return 0;
    };
    let last = leader.last_index();
    if leader.commit < last {
        why.push(format!(
            "shard {s}: leader committed {} of {last}",
            leader.commit
        ));
    }
    for r in &replicas {
        if r.last_index() != last || r.state.applied != leader.commit {
            why.push(format!(
                "shard {s}: a replica holds {} entries and applied {}, the leader {last}/{}",
                r.last_index(),
                r.state.applied,
                leader.commit
            ));
        }
    }
    if let Some(lead) = &leader.lead {
        if !lead.service.parked.is_empty() {
            why.push(format!(
                "shard {s}: {} commands wait on locks",
                lead.service.parked.len()
            ));
        }
    }
    if leader.state.transfers_pending() {
        why.push(format!("shard {s}: cross-shard transfers unfinished"));
    }
    leader.commit
}

/// Take the final observations.
pub fn finish(sys: &EsCluster, view: &View<'_, EsCluster>) -> EsFinal {
    let shards = sys
        .shards
        .iter()
        .map(|nodes| {
            nodes
                .iter()
                .map(|&n| {
                    let state = match &view.procs[n] {
                        Some(Proc::Replica(r)) => Some(ReplicaFinal {
                            node: n,
                            term: r.term,
                            leader: r.is_leader(),
                            commit: r.commit,
                            last_index: r.last_index(),
                            state: r.state.clone(),
                        }),
                        _ => None,
                    };
                    (n, state)
                })
                .collect()
        })
        .collect();
    let projection = match &view.procs[sys.projection] {
        Some(Proc::Projection(p)) => {
            Some(p.feeds.iter().map(|f| (f.next, f.view.clone())).collect())
        }
        _ => None,
    };
    EsFinal {
        shards,
        projection,
        unsettled: unsettled(sys, view),
    }
}

type Out = SimOutput<EsFinal, EsObs>;

/// The linearizability model of a workload's history.
pub fn model_of(workload: Workload) -> ModelKind {
    match workload {
        Workload::Bank => ModelKind::Bank,
        Workload::Kv => ModelKind::Kv,
    }
}

/// Run one check.
pub fn run(plan: &Plan<EsCluster>, out: &Out, check: Check, budget: &Budget) -> CheckOutcome {
    let finals = out
        .finals
        .as_ref()
        .expect("checks run only on runs that finished");
    let shards = finals.shards.len();
    let name = check.name();
    let log = || committed(&out.observations, shards);
    match check {
        Check::Linearizability => {
            let model = model_of(plan.workload_kind);
            crate::check::linearizability_outcome(
                name,
                &out.history,
                model,
                budget,
                &plan.head.names(),
            )
        }
        Check::Raft(check) => {
            let observed = (out.observations.iter()).filter_map(|o| match &o.obs {
                EsObs::Raft(obs) => Some((o.node, obs)),
                _ => None,
            });
            let process = |n: usize| plan.head.nodes[n].name.clone();
            let shard = |s: usize| format!("shard {s}");
            raft::checks::run(check, name, observed, &process, &shard)
        }
        Check::Durability => durability(name, plan, &out.history, &log()),
        Check::SnapshotReplay => snapshot_replay(name, plan, finals, &log()),
        Check::Conservation => conservation(name, plan, out, finals),
        Check::Projection => projection(name, finals, &out.observations, &log()),
        Check::Convergence => convergence(name, plan, out, finals),
    }
}

/// The committed log of each shard, as leaders reported applying it.
pub struct Committed {
    /// Entries by index, per shard.
    pub shards: Vec<BTreeMap<u64, LogEntry>>,
}

impl Committed {
    /// The committed entries 1..=n of a shard, or the first missing index.
    fn prefix(&self, shard: usize, n: u64) -> Result<Vec<&LogEntry>, u64> {
        (1..=n)
            .map(|i| self.shards[shard].get(&i).ok_or(i))
            .collect()
    }
}

fn committed(obs: &[Observed<EsObs>], shards: usize) -> Committed {
    let mut c = Committed {
        shards: vec![BTreeMap::new(); shards],
    };
    for o in obs {
        if let EsObs::Committed {
            shard,
            index,
            entry,
        } = &o.obs
        {
            c.shards[*shard]
                .entry(*index)
                .or_insert_with(|| entry.clone());
        }
    }
    c
}

/// The request of each history operation: per client, the n-th request (a transfer is
/// two history entries with the same invocation time) has sequence number n.
fn requests(history: &History) -> Vec<ReqId> {
    let mut last: BTreeMap<u64, (u64, u64)> = BTreeMap::new(); // client → (call, seq)
    history
        .ops
        .iter()
        .map(|op| {
            let entry = last.entry(op.client).or_insert((u64::MAX, 0));
            if entry.0 != op.call {
                *entry = (op.call, entry.1 + 1);
            }
            ReqId {
                client: op.client as usize,
                seq: entry.1,
            }
        })
        .collect()
}

/// What the committed log says about requests: the requests it holds, the transfer each
/// cross-shard request started, and each transfer's first decision.
#[allow(clippy::type_complexity)]
fn logged_requests(
    committed: &Committed,
) -> (BTreeSet<ReqId>, BTreeMap<ReqId, u64>, BTreeMap<u64, bool>) {
    let mut reqs: BTreeSet<ReqId> = BTreeSet::new();
    let mut txn_of: BTreeMap<ReqId, u64> = BTreeMap::new();
    let mut decided: BTreeMap<u64, bool> = BTreeMap::new();
    for entries in &committed.shards {
        for entry in entries.values() {
            match &entry.payload {
                Payload::Events { req, events, .. } => {
                    reqs.extend(*req);
                    for e in events {
                        match e {
                            Event::TxnStarted { txn, req, .. } => {
                                txn_of.insert(*req, *txn);
                            }
                            Event::TxnDecided { txn, commit, .. } => {
                                decided.entry(*txn).or_insert(*commit);
                            }
                            _ => {}
                        }
                    }
                }
                Payload::Command { req, .. } => {
                    reqs.insert(*req);
                }
                Payload::Noop | Payload::Read { .. } => {}
            }
        }
    }
    (reqs, txn_of, decided)
}

fn durability(
    check: &str,
    plan: &Plan<EsCluster>,
    history: &History,
    committed: &Committed,
) -> CheckOutcome {
    let (reqs, txn_of, decided) = logged_requests(committed);
    let ids = requests(history);
    let mut lost = Vec::new();
    let mut acknowledged = 0;
    for (i, op) in history.ops.iter().enumerate() {
        let write = matches!(
            op.f,
            Func::Put | Func::Append | Func::Deposit | Func::Withdraw | Func::Open
        );
        if !write || op.status != Status::Ok {
            continue;
        }
        acknowledged += 1;
        let req = ids[i];
        let present = match txn_of.get(&req) {
            // A cross-shard transfer: acknowledged as applied only after its commit.
            Some(txn) => op.output != Value::Bool(true) || decided.get(txn) == Some(&true),
            None => reqs.contains(&req),
        };
        if !present {
            lost.push(i);
        }
    }
    if let Some(&i) = lost.first() {
        let op = &history.ops[i];
        return CheckOutcome::fail(
            check,
            Verdict::Violation,
            format!(
                "{} acknowledged command(s) missing from the committed log, e.g. {:?} {} {:?} by client {} acknowledged at {:.1} ms",
                lost.len(),
                op.f,
                op.key.as_deref().unwrap_or(""),
                op.input,
                plan.head.nodes[op.client as usize].name,
                op.ret.unwrap_or(0) as f64 / 1e6
            ),
            lost,
        );
    }
    CheckOutcome::pass(
        check,
        format!("all {acknowledged} acknowledged commands are in the committed log"),
    )
}

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

fn snapshot_replay(
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

fn describe_difference(a: &Ledger, b: &Ledger) -> String {
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

fn conservation(check: &str, plan: &Plan<EsCluster>, out: &Out, finals: &EsFinal) -> CheckOutcome {
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

fn projection(
    check: &str,
    finals: &EsFinal,
    obs: &[Observed<EsObs>],
    committed: &Committed,
) -> CheckOutcome {
    let fail = |message| CheckOutcome::fail(check, Verdict::Violation, message, vec![]);
    let folded = match projection_order(obs) {
        Ok(folded) => folded,
        Err(message) => return fail(message),
    };
    let Some(feeds) = &finals.projection else {
        return CheckOutcome::pass(
            check,
            format!("{folded} events folded in order (the projection was down at the end)"),
        );
    };
    if let Err(message) = projection_views(feeds, committed) {
        return fail(message);
    }
    CheckOutcome::pass(
        check,
        format!("{folded} events folded once each, in order; views equal the committed fold"),
    )
}

/// Each projection incarnation must fold every shard's entries in order, once each.
/// Returns how many entries were folded.
fn projection_order(obs: &[Observed<EsObs>]) -> Result<usize, String> {
    let mut last: BTreeMap<(u32, usize), u64> = BTreeMap::new();
    let mut folded = 0;
    for o in obs {
        match o.obs {
            EsObs::ProjectedSnapshot {
                shard,
                index,
                incarnation,
            } => {
                last.insert((incarnation, shard), index);
            }
            EsObs::Projected {
                shard,
                index,
                incarnation,
            } => {
                folded += 1;
                let prev = last.get(&(incarnation, shard)).copied().unwrap_or(0);
                if index != prev + 1 {
                    let what = if index <= prev {
                        format!("applied entry {index} of shard {shard} again (after {prev})")
                    } else {
                        format!("skipped from entry {prev} to {index} of shard {shard}")
                    };
                    return Err(format!("the projection {what}"));
                }
                last.insert((incarnation, shard), index);
            }
            _ => {}
        }
    }
    Ok(folded)
}

/// The projection's final view of each shard must equal the fold of the committed
/// entries it has reached.
fn projection_views(feeds: &[(u64, ProjectionView)], committed: &Committed) -> Result<(), String> {
    for (s, (next, view)) in feeds.iter().enumerate() {
        let upto = next.saturating_sub(1);
        let entries = committed.prefix(s, upto).map_err(|missing| {
            format!("the projection of shard {s} is at {upto}, past the committed log (entry {missing} was never committed)")
        })?;
        let mut expected = ProjectionView::default();
        for e in entries {
            expected.apply(e);
        }
        if expected.visible() != view.visible() {
            return Err(format!("the projection of shard {s} differs from the fold of the first {upto} committed entries"));
        }
    }
    Ok(())
}

/// Projection lag: time from an entry's first application (its commit) to its fold.
fn lag_ms(obs: &[Observed<EsObs>]) -> Vec<f64> {
    let mut committed_at: BTreeMap<(usize, u64), u64> = BTreeMap::new();
    let mut lags = Vec::new();
    for o in obs {
        match o.obs {
            EsObs::Raft(raft::Observation::Applied {
                group: shard,
                index,
                ..
            }) => {
                committed_at.entry((shard, index)).or_insert(o.t_ns);
            }
            EsObs::Projected { shard, index, .. } => {
                if let Some(&t) = committed_at.get(&(shard, index)) {
                    lags.push(o.t_ns.saturating_sub(t) as f64 / 1e6);
                }
            }
            _ => {}
        }
    }
    lags.sort_by(|a, b| a.total_cmp(b));
    lags
}

fn convergence(check: &str, plan: &Plan<EsCluster>, out: &Out, finals: &EsFinal) -> CheckOutcome {
    let lags = lag_ms(&out.observations);
    let lag = if lags.is_empty() {
        "no events folded".to_string()
    } else {
        format!(
            "projection lag p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            lags[lags.len() / 2],
            lags[(lags.len() * 99 / 100).min(lags.len() - 1)],
            lags[lags.len() - 1]
        )
    };
    if !out.settled {
        return CheckOutcome::fail(
            check,
            Verdict::Liveness,
            format!(
                "not converged {} ms after the faults healed: {} ({lag})",
                plan.head.params.phases.heal_ms,
                finals.unsettled.join("; ")
            ),
            vec![],
        );
    }
    for (s, replicas) in finals.shards.iter().enumerate() {
        let states: Vec<&ReplicaFinal> = replicas.iter().filter_map(|(_, r)| r.as_ref()).collect();
        if let Some(first) = states.first() {
            if let Some(other) = states.iter().find(|r| r.state != first.state) {
                return CheckOutcome::fail(
                    check,
                    Verdict::Violation,
                    format!(
                        "shard {s}: {} and {} applied the same log but hold different states: {}",
                        plan.head.nodes[first.node].name,
                        plan.head.nodes[other.node].name,
                        describe_difference(&first.state, &other.state)
                    ),
                    vec![],
                );
            }
        }
    }
    let entries: u64 = finals
        .shards
        .iter()
        .filter_map(|r| r.iter().find_map(|(_, r)| r.as_ref()).map(|r| r.commit))
        .sum();
    CheckOutcome::pass(
        check,
        format!("every replica and the projection converged on {entries} committed entries; {lag}"),
    )
}
