//! What `saga` runs are judged by.
//!
//! Three sources: the client history (which sagas were started, and what reads returned),
//! the final state ([`SagaFinal`]: every service's database and the coordinator's saga
//! log), and the observations made while running ([`SagaObs`]): every saga-log entry a
//! coordinator replica applied, every task a service handled (fresh or answered from its
//! record, with or without effect), writes to overwritten rows, reads, lock holds, 2PC
//! votes and decisions.
//!
//! A step is *in effect* when its service's database records its key as done and not
//! undone. A saga is atomic when, after heal, it ended and the databases agree: a
//! completed saga has every step in effect, a compensated one none.

use std::collections::{BTreeMap, BTreeSet};

use super::flow::{RowRef, Service, StepOutcome};
use super::log::{Payload, SagaLog, SagaResult};
use super::participant::Row;
use super::{Anomaly, Check, Proc, Protocol, Saga, SagaId, SagaObs};
use crate::catalog::Named;
use crate::check::linearizability::Budget;
use crate::check::{CheckOutcome, Verdict};
use crate::history::{Func, History, Value};
use crate::plan::Plan;
use crate::sim::{SimOutput, View};
use crate::systems::components::db::Db;
use crate::systems::components::raft;

/// What the checks look at.
#[derive(Debug, Clone)]
pub struct SagaFinal {
    /// Each service's database (`None` if it was down at the end).
    pub dbs: BTreeMap<Service, Option<Db<Row>>>,
    /// The saga log as the coordinator's leader knows it (`None`: no leader at the end).
    pub log: Option<SagaLog>,
    /// Why the system had not settled, if it had not.
    pub unsettled: Vec<String>,
}

type Out = SimOutput<SagaFinal, SagaObs>;

/// Why the world has not settled (empty when it has).
pub fn unsettled(sys: &Saga, view: &View<'_, Saga>) -> Vec<String> {
    let mut why = Vec::new();
    for (node, proc) in view.procs.iter().enumerate() {
        match proc {
            None => why.push(format!("process {node} is not running")),
            Some(Proc::Client(c)) if !c.idle() => why.push(format!("client {node} waits")),
            Some(Proc::Router(r)) if !r.idle() => why.push("the router waits".into()),
            Some(Proc::Participant(p)) if !p.idle() => {
                why.push(format!("{} holds locks or waiting reads", p.service.name()))
            }
            Some(Proc::TwoPc(c)) if !c.idle() => {
                why.push("the 2PC coordinator has transactions in flight".into())
            }
            _ => {}
        }
    }
    if sys.p.protocol == Protocol::Saga {
        match leader_log(sys, view) {
            None => why.push("no coordinator leader".into()),
            Some(log) => {
                let open = log
                    .sagas
                    .values()
                    .filter(|s| !s.ended() || !s.releases.is_empty())
                    .count();
                if open > 0 {
                    why.push(format!("{open} saga(s) not ended or not released"));
                }
            }
        }
    }
    why
}

/// The saga log of the coordinator replica that leads the highest term.
fn leader_log<'a>(sys: &Saga, view: &View<'a, Saga>) -> Option<&'a SagaLog> {
    sys.coordinators
        .iter()
        .filter_map(|&n| match &view.procs[n] {
            Some(Proc::Coordinator(r)) if r.is_leader() => Some(r.as_ref()),
            _ => None,
        })
        .max_by_key(|r| r.term)
        .map(super::coordinator::view)
}

/// Take the final observations.
pub fn finish(sys: &Saga, view: &View<'_, Saga>) -> SagaFinal {
    let dbs = sys
        .services
        .iter()
        .map(|(&service, &node)| {
            let db = match &view.procs[node] {
                Some(Proc::Participant(p)) => Some(p.db.clone()),
                _ => None,
            };
            (service, db)
        })
        .collect();
    SagaFinal {
        dbs,
        log: leader_log(sys, view).cloned(),
        unsettled: unsettled(sys, view),
    }
}

/// Run one check.
pub fn run(plan: &Plan<Saga>, out: &Out, check: Check, _budget: &Budget) -> CheckOutcome {
    let finals = out
        .finals
        .as_ref()
        .expect("checks run only on runs that finished");
    let name = check.name();
    let saga = plan.params.protocol == Protocol::Saga;
    let not_saga = || CheckOutcome::pass(name, "a 2PC run: see atomicity_2pc and blocking");
    match check {
        Check::SagaAtomicity if saga => atomicity(name, plan, out, finals),
        Check::CompensationOrder if saga => compensation_order(name, out),
        Check::SagaAtomicity | Check::CompensationOrder => not_saga(),
        Check::ExactlyOnce => exactly_once(name, out),
        Check::Conservation => conservation(name, plan, out, finals),
        Check::Isolation => isolation(name, plan, out),
        Check::Atomicity2pc => atomicity_2pc(name, plan, out),
        Check::Blocking => blocking(name, plan, out),
        Check::Raft(check) => {
            let observed = (out.observations.iter()).filter_map(|o| match &o.obs {
                SagaObs::Raft(obs) => Some((o.node, obs)),
                _ => None,
            });
            let process = |n: usize| plan.head.nodes[n].name.clone();
            let log = |_: usize| "the saga log".to_string();
            raft::checks::run(check, name, observed, &process, &log)
        }
        Check::Convergence if out.settled => {
            CheckOutcome::pass(name, "every transaction ended; services settled")
        }
        Check::Convergence => CheckOutcome::fail(
            name,
            Verdict::Liveness,
            format!(
                "not settled {} ms after the faults healed: {}",
                plan.head.params.phases.heal_ms,
                finals.unsettled.join("; ")
            ),
            vec![],
        ),
    }
}

/// History operations about `saga` (its client operation and the coordinator's tasks).
fn ops_of(history: &History, saga: SagaId) -> Vec<usize> {
    let key = saga.to_string();
    (0..history.ops.len())
        .filter(|&i| history.ops[i].key.as_deref() == Some(key.as_str()))
        .collect()
}

/// Sagas the clients started, from the history.
fn started(history: &History) -> BTreeSet<SagaId> {
    history
        .ops
        .iter()
        .filter(|op| matches!(op.f, Func::System("order" | "create-project")))
        .filter_map(|op| op.key.as_deref().and_then(SagaId::parse))
        .collect()
}

/// Steps in effect per saga, from the services' task records: (saga, step) set.
fn in_effect(finals: &SagaFinal) -> BTreeSet<(SagaId, u8)> {
    let mut set = BTreeSet::new();
    for db in finals.dbs.values().flatten() {
        for (key, row) in db.rows("task") {
            let Row::Task {
                outcome: StepOutcome::Ok,
                undone: false,
                ..
            } = row
            else {
                continue;
            };
            let mut parts = key.split('/');
            let (Some(saga), Some(step), _, Some("do")) =
                (parts.next(), parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            if let (Some(saga), Ok(step)) = (SagaId::parse(saga), step.parse()) {
                set.insert((saga, step));
            }
        }
    }
    set
}

/// What became of one saga.
enum Fate {
    Completed,
    Compensated,
    /// Not ended, with the steps in effect.
    Unfinished(Vec<u8>),
    /// Not atomic: what is wrong.
    Broken(String),
    /// Never started anywhere.
    Nothing,
}

/// Judge one saga by the coordinator's log and the steps in effect at the services.
fn fate(saga: SagaId, log: &SagaLog, effects: &BTreeSet<(SagaId, u8)>) -> Fate {
    let applied = |n: usize| -> Vec<u8> {
        (0..n as u8)
            .filter(|&i| effects.contains(&(saga, i)))
            .collect()
    };
    let Some(run) = log.sagas.get(&saga) else {
        let applied = applied(3);
        return if applied.is_empty() {
            Fate::Nothing
        } else {
            Fate::Broken(format!("steps {applied:?} of saga {saga} are in effect, but the coordinator has no record of the saga: nobody will ever finish or undo them"))
        };
    };
    let steps = run.flow.steps().len();
    let applied = applied(steps);
    match run.result() {
        Some(SagaResult::Completed) if applied.len() == steps => Fate::Completed,
        Some(SagaResult::Compensated) if applied.is_empty() => Fate::Compensated,
        Some(result) => Fate::Broken(format!(
            "saga {saga} ended {} but steps {applied:?} of {steps} are in effect",
            result.name()
        )),
        None => Fate::Unfinished(applied),
    }
}

fn atomicity(check: &str, plan: &Plan<Saga>, out: &Out, finals: &SagaFinal) -> CheckOutcome {
    if let Some((service, _)) = finals.dbs.iter().find(|(_, db)| db.is_none()) {
        let message = format!(
            "{} was not running at the end; atomicity cannot be judged",
            service.name()
        );
        return CheckOutcome::fail(check, Verdict::Liveness, message, vec![]);
    }
    let effects = in_effect(finals);
    let empty = SagaLog::default();
    let log = finals.log.as_ref().unwrap_or(&empty);
    let mut sagas = started(&out.history);
    sagas.extend(effects.iter().map(|(s, _)| *s));
    let (mut completed, mut compensated, mut unfinished) = (0, 0, Vec::new());
    for saga in sagas {
        match fate(saga, log, &effects) {
            Fate::Completed => completed += 1,
            Fate::Compensated => compensated += 1,
            Fate::Unfinished(applied) => unfinished.push((saga, applied)),
            Fate::Nothing => {}
            Fate::Broken(message) => {
                return CheckOutcome::fail(
                    check,
                    Verdict::Violation,
                    message,
                    ops_of(&out.history, saga),
                );
            }
        }
    }
    if let Some((saga, applied)) = unfinished.first() {
        let message = format!(
            "{} saga(s) had not ended {} ms after the faults healed, e.g. {saga} with steps {applied:?} in effect",
            unfinished.len(),
            plan.head.params.phases.heal_ms
        );
        return CheckOutcome::fail(
            check,
            Verdict::Liveness,
            message,
            ops_of(&out.history, *saga),
        );
    }
    let chaos_s = plan.head.params.phases.chaos_ms as f64 / 1000.0;
    CheckOutcome::pass(
        check,
        format!(
            "{completed} sagas completed ({:.1} per simulated second of chaos), {compensated} fully compensated; every database agrees",
            completed as f64 / chaos_s.max(1e-9)
        ),
    )
}

/// The committed saga log, in order, as the replicas applied it.
fn logged(out: &Out) -> Vec<&Payload> {
    let mut seen = BTreeSet::new();
    out.observations
        .iter()
        .filter_map(|o| match &o.obs {
            SagaObs::Logged(index, payload) => {
                let fresh = index.is_none_or(|i| seen.insert(i));
                fresh.then_some(payload)
            }
            _ => None,
        })
        .collect()
}

fn compensation_order(check: &str, out: &Out) -> CheckOutcome {
    let mut ok: BTreeSet<(SagaId, u8)> = BTreeSet::new();
    let mut last: BTreeMap<SagaId, u8> = BTreeMap::new();
    let mut count = 0;
    for payload in logged(out) {
        match *payload {
            Payload::Answered {
                saga,
                step,
                outcome: StepOutcome::Ok,
                ..
            } => {
                ok.insert((saga, step));
            }
            Payload::CompSent { saga, step } => {
                count += 1;
                let fail = |message: String| {
                    CheckOutcome::fail(
                        check,
                        Verdict::Violation,
                        message,
                        ops_of(&out.history, saga),
                    )
                };
                if !ok.contains(&(saga, step)) {
                    return fail(format!(
                        "saga {saga} compensated step {step}, which never took effect"
                    ));
                }
                if let Some(&prev) = last.get(&saga) {
                    if step > prev {
                        return fail(format!("saga {saga} compensated step {prev} before step {step}: compensations must run in reverse order"));
                    }
                }
                last.insert(saga, step);
            }
            _ => {}
        }
    }
    let mut undone: BTreeMap<(SagaId, u8), u32> = BTreeMap::new();
    for o in &out.observations {
        if let SagaObs::Task {
            task, effect: true, ..
        } = &o.obs
        {
            if task.undo {
                let n = undone.entry((task.saga, task.step)).or_insert(0);
                *n += 1;
                if *n > 1 {
                    let message =
                        format!("step {} of saga {} was undone twice", task.step, task.saga);
                    return CheckOutcome::fail(
                        check,
                        Verdict::Violation,
                        message,
                        ops_of(&out.history, task.saga),
                    );
                }
            }
        }
    }
    CheckOutcome::pass(
        check,
        format!(
            "{count} compensations, each of a step that took effect, in reverse order, undone once"
        ),
    )
}

fn exactly_once(check: &str, out: &Out) -> CheckOutcome {
    // 2PC: each service commits a transaction at most once.
    let mut committed: BTreeSet<(SagaId, Service)> = BTreeSet::new();
    for o in &out.observations {
        if let SagaObs::Resolved {
            service,
            txn,
            commit: true,
        } = o.obs
        {
            if !committed.insert((txn, service)) {
                let message = format!("{} committed transaction {txn} twice", service.name());
                return CheckOutcome::fail(
                    check,
                    Verdict::Violation,
                    message,
                    ops_of(&out.history, txn),
                );
            }
        }
    }
    let mut applied: BTreeMap<String, u32> = BTreeMap::new();
    let (mut duplicates, mut total) = (0, 0);
    for o in &out.observations {
        if let SagaObs::Task {
            task,
            fresh,
            effect,
            ..
        } = &o.obs
        {
            total += 1;
            if !fresh {
                duplicates += 1;
            }
            if *effect {
                let n = applied.entry(task.key()).or_insert(0);
                *n += 1;
                if *n > 1 {
                    let message = format!(
                        "command {} took effect twice (a duplicated or retried command applied again)",
                        task.key()
                    );
                    return CheckOutcome::fail(
                        check,
                        Verdict::Violation,
                        message,
                        ops_of(&out.history, task.saga),
                    );
                }
            }
        }
    }
    if total == 0 {
        let message = format!("{} commits, none applied twice", committed.len());
        return CheckOutcome::pass(check, message);
    }
    CheckOutcome::pass(
        check,
        format!("{total} commands handled, {duplicates} duplicates answered from the idempotency records, none applied twice"),
    )
}

fn int(db: &Db<Row>, table: &str, key: &str, initial: i64) -> i64 {
    match db.get(table, key) {
        Some(Row::Int(v)) => *v,
        _ => initial,
    }
}

/// Orders by saga: (customer, item, qty), from the history.
fn orders(history: &History) -> BTreeMap<SagaId, (String, String, i64)> {
    let mut orders = BTreeMap::new();
    for op in &history.ops {
        if let (Func::System("order"), Some(key), Value::List(args)) = (op.f, &op.key, &op.input) {
            if let (Some(id), [Value::Str(c), Value::Str(i), Value::Int(q)]) =
                (SagaId::parse(key), args.as_slice())
            {
                orders.insert(id, (c.clone(), i.clone(), *q));
            }
        }
    }
    orders
}

/// Sagas (or 2PC transactions) whose change at `service` is in effect.
fn changed_at(
    plan: &Plan<Saga>,
    out: &Out,
    finals: &SagaFinal,
    step: u8,
    service: Service,
) -> BTreeSet<SagaId> {
    if plan.params.protocol == Protocol::Saga {
        return in_effect(finals)
            .into_iter()
            .filter(|&(_, s)| s == step)
            .map(|(id, _)| id)
            .collect();
    }
    out.observations
        .iter()
        .filter_map(|o| match o.obs {
            SagaObs::Resolved {
                service: s,
                txn,
                commit: true,
            } if s == service => Some(txn),
            _ => None,
        })
        .collect()
}

fn conservation(check: &str, plan: &Plan<Saga>, out: &Out, finals: &SagaFinal) -> CheckOutcome {
    let (Some(Some(stock)), Some(Some(pay))) = (
        finals.dbs.get(&Service::Stock),
        finals.dbs.get(&Service::Payment),
    ) else {
        return CheckOutcome::pass(
            check,
            "nothing to conserve in this flow (or a service was down at the end)",
        );
    };
    let p = &plan.params;
    let orders = orders(&out.history);
    let keys = plan.head.params.workload.keys;
    let reserved = changed_at(plan, out, finals, 0, Service::Stock);
    for k in 0..keys {
        let item = format!("item{k}");
        let taken = p.initial_stock as i64 - int(stock, "stock", &item, p.initial_stock as i64);
        let owed: i64 = reserved
            .iter()
            .filter_map(|id| orders.get(id))
            .filter(|o| o.1 == item)
            .map(|o| o.2)
            .sum();
        if taken != owed {
            let message = format!(
                "{item}: {taken} units left the stock, but the orders in effect took {owed}"
            );
            return CheckOutcome::fail(check, Verdict::Violation, message, vec![]);
        }
    }
    let balances: i64 = (0..keys)
        .map(|k| {
            int(
                pay,
                "balance",
                &format!("cust{k}"),
                p.initial_balance as i64,
            )
        })
        .sum();
    let merchant = int(pay, "merchant", "m", 0);
    let charged = changed_at(plan, out, finals, 1, Service::Payment);
    let owed: i64 = charged
        .iter()
        .filter_map(|id| orders.get(id))
        .map(|o| o.2 * p.price as i64)
        .sum();
    let total = keys as i64 * p.initial_balance as i64;
    if balances + merchant != total || merchant != owed {
        let message = format!(
            "money: customers hold {balances} and the merchant {merchant} (sum {}, expected {total}); the charges in effect amount to {owed}",
            balances + merchant
        );
        return CheckOutcome::fail(check, Verdict::Violation, message, vec![]);
    }
    CheckOutcome::pass(
        check,
        format!(
            "stock and money conserved: {} orders charged {owed} in all",
            charged.len()
        ),
    )
}

/// Count the isolation anomalies of a run.
fn anomalies(out: &Out) -> BTreeMap<Anomaly, Vec<SagaId>> {
    // Per row: sagas whose step on it is in effect now, in order; reads seeing them.
    let mut holders: BTreeMap<RowRef, Vec<SagaId>> = BTreeMap::new();
    let mut seen: Vec<(SagaId, RowRef)> = Vec::new();
    let mut undone: BTreeSet<SagaId> = BTreeSet::new();
    let mut last_writer: BTreeMap<RowRef, SagaId> = BTreeMap::new();
    let mut found: BTreeMap<Anomaly, Vec<SagaId>> = BTreeMap::new();
    for o in &out.observations {
        match &o.obs {
            SagaObs::Task {
                task, effect: true, ..
            } => {
                for row in super::participant::rows_of(&task.action) {
                    let h = holders.entry(row).or_default();
                    if task.undo {
                        h.retain(|s| *s != task.saga);
                        undone.insert(task.saga);
                    } else {
                        h.push(task.saga);
                    }
                }
            }
            SagaObs::Read { row } => {
                for &s in holders.get(row).into_iter().flatten() {
                    seen.push((s, row.clone()));
                }
            }
            SagaObs::Wrote {
                row,
                saga,
                restores,
            } => {
                if *restores {
                    if let Some(&other) = last_writer.get(row).filter(|w| *w != saga) {
                        found.entry(Anomaly::LostUpdate).or_default().push(other);
                    }
                }
                last_writer.insert(row.clone(), *saga);
            }
            _ => {}
        }
    }
    for (saga, _) in seen {
        if undone.contains(&saga) {
            found.entry(Anomaly::DirtyRead).or_default().push(saga);
        }
    }
    found
}

fn isolation(check: &str, plan: &Plan<Saga>, out: &Out) -> CheckOutcome {
    let found = anomalies(out);
    let p = &plan.params;
    let isolated = p.semantic_lock || p.protocol == Protocol::TwoPc;
    let summary = if found.is_empty() {
        "no isolation anomaly".to_string()
    } else {
        found
            .iter()
            .map(|(a, s)| format!("{} {}", anomaly_name(*a), s.len()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let forbidden = found.iter().find(|(a, _)| isolated || p.forbid.contains(a));
    if let Some((anomaly, sagas)) = forbidden {
        let why = if isolated {
            "with the semantic lock (or 2PC) there must be none"
        } else {
            "the scenario forbids it"
        };
        let message = format!(
            "{summary}: {} ({why}), e.g. saga {}",
            anomaly_name(*anomaly),
            sagas[0]
        );
        return CheckOutcome::fail(
            check,
            Verdict::Violation,
            message,
            ops_of(&out.history, sagas[0]),
        );
    }
    CheckOutcome::pass(
        check,
        format!("{summary} (allowed: sagas are not isolated)"),
    )
}

fn anomaly_name(a: Anomaly) -> &'static str {
    match a {
        Anomaly::DirtyRead => "dirty_read",
        Anomaly::LostUpdate => "lost_update",
    }
}

fn atomicity_2pc(check: &str, plan: &Plan<Saga>, out: &Out) -> CheckOutcome {
    if plan.params.protocol != Protocol::TwoPc {
        return CheckOutcome::pass(check, "a saga run: see saga_atomicity");
    }
    let mut outcome: BTreeMap<SagaId, BTreeMap<Service, bool>> = BTreeMap::new();
    for o in &out.observations {
        let (txn, service, commit) = match o.obs {
            SagaObs::Voted {
                service,
                txn,
                yes: false,
            } => (txn, service, false),
            SagaObs::Resolved {
                service,
                txn,
                commit,
            } => (txn, service, commit),
            _ => continue,
        };
        outcome.entry(txn).or_default().insert(service, commit);
    }
    for (txn, by_service) in &outcome {
        let commits: Vec<&str> = by_service
            .iter()
            .filter(|(_, &c)| c)
            .map(|(s, _)| s.name())
            .collect();
        let aborts: Vec<&str> = by_service
            .iter()
            .filter(|(_, &c)| !c)
            .map(|(s, _)| s.name())
            .collect();
        if !commits.is_empty() && !aborts.is_empty() {
            let message = format!(
                "transaction {txn} committed at {} but aborted at {}",
                commits.join(", "),
                aborts.join(", ")
            );
            return CheckOutcome::fail(
                check,
                Verdict::Violation,
                message,
                ops_of(&out.history, *txn),
            );
        }
    }
    let decisions: BTreeMap<SagaId, bool> = out
        .observations
        .iter()
        .filter_map(|o| match o.obs {
            SagaObs::Decision { txn, commit } => Some((txn, commit)),
            _ => None,
        })
        .collect();
    let committed = decisions.values().filter(|&&c| c).count();
    let chaos_s = plan.head.params.phases.chaos_ms as f64 / 1000.0;
    CheckOutcome::pass(
        check,
        format!(
            "{committed} transactions committed ({:.1} per simulated second of chaos), {} aborted; each committed everywhere or aborted everywhere",
            committed as f64 / chaos_s.max(1e-9),
            decisions.len() - committed
        ),
    )
}

/// Lock hold times: (longest in ms, its holder and service, total ms, holds).
fn lock_holds(out: &Out) -> (f64, Option<(SagaId, Service)>, f64, usize) {
    let mut open: BTreeMap<(Service, SagaId), u64> = BTreeMap::new();
    let mut held: Vec<(u64, SagaId, Service)> = Vec::new();
    for o in &out.observations {
        match o.obs {
            SagaObs::Locked { service, txn } => {
                open.entry((service, txn)).or_insert(o.t_ns);
            }
            SagaObs::Unlocked { service, txn } => {
                if let Some(t) = open.remove(&(service, txn)) {
                    held.push((o.t_ns - t, txn, service));
                }
            }
            _ => {}
        }
    }
    for ((service, txn), t) in open {
        held.push((out.end_ns.saturating_sub(t), txn, service));
    }
    let longest = held.iter().max_by_key(|h| h.0);
    let total: u64 = held.iter().map(|h| h.0).sum();
    (
        longest.map_or(0.0, |h| h.0 as f64 / 1e6),
        longest.map(|h| (h.1, h.2)),
        total as f64 / 1e6,
        held.len(),
    )
}

fn blocking(check: &str, plan: &Plan<Saga>, out: &Out) -> CheckOutcome {
    let (longest, holder, total, holds) = lock_holds(out);
    let bound = plan.params.lock_hold_ms_max as f64;
    match holder {
        Some((txn, service)) if longest > bound => CheckOutcome::fail(
            check,
            Verdict::Liveness,
            format!(
                "{txn} held its locks at {} for {longest:.0} ms (bound {bound:.0} ms): blocked; locks held {total:.0} ms in all over {holds} holds",
                service.name()
            ),
            ops_of(&out.history, txn),
        ),
        _ => CheckOutcome::pass(
            check,
            format!("locks held {total:.0} ms in all over {holds} holds, the longest {longest:.0} ms"),
        ),
    }
}
