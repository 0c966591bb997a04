//! Two-phase commit over the same services: the blocking baseline.
//!
//! One coordinator process (`coord`, not replicated) runs each client transaction: it
//! asks every service of the flow to *prepare* (each validates, locks the rows and keeps
//! the writes, durably, and votes), then decides — commit if every vote is yes, abort on
//! a no or when votes do not come within `txn_timeout_ms` — **logs the decision, fsynced,
//! before sending it**, and re-sends it until every service has applied it. The protocol
//! is presumed abort: a transaction the coordinator has no decision for is aborted (and that
//! abort is logged when a participant asks, so a retry of the transaction cannot run it
//! again), so a coordinator that crashes before deciding loses nothing it promised. Services that stay
//! prepared ask it (`inquire`) for the decision.
//!
//! What 2PC buys (no one sees a half-done transaction: rows are locked while prepared) it
//! pays for with blocking: while the coordinator is down after prepare, the prepared
//! services hold their locks, and readers and writers of those rows wait. The `blocking`
//! check measures it. The planted bug `presumed-commit-without-log` logs no decision and,
//! asked about a transaction it does not know, answers commit.

use std::collections::{BTreeMap, BTreeSet};

use super::flow::{services, Flow, Service};
use super::log::SagaResult;
use super::participant::Row;
use super::{Msg, Reply, Saga, SagaId, SagaObs, Start, Timer};
use crate::history::{Func, Status, Value};
use crate::sim::Ctx;
use crate::systems::components::clients::ReqId;
use crate::systems::components::db::{Db, Write};

type C<'c, 'a> = &'c mut Ctx<'a, Saga>;

const DECISION: &str = "decision";
const DONE: &str = "done";

/// A transaction the coordinator runs.
#[derive(Debug, Clone)]
struct Txn {
    req: Option<ReqId>,
    flow: Option<Flow>,
    votes: BTreeMap<Service, bool>,
    started_ns: u64,
    decided: Option<bool>,
    acked: BTreeSet<Service>,
    op: Option<usize>,
}

/// The 2PC coordinator.
#[derive(Debug)]
pub struct TwoPc {
    db: Db<Row>,
    txns: BTreeMap<SagaId, Txn>,
}

impl TwoPc {
    /// Boot: recover the decision log; decisions not yet applied everywhere are re-sent.
    pub fn boot(ctx: C<'_, '_>) -> Self {
        let db: Db<Row> = Db::recover(ctx);
        let now = ctx.now_ns();
        let mut txns = BTreeMap::new();
        for (key, value) in db.rows(DECISION) {
            let (Some(txn), Row::Vote(commit)) = (SagaId::parse(key), value) else {
                continue;
            };
            if db.get(DONE, key).is_none() {
                txns.insert(
                    txn,
                    Txn {
                        req: None,
                        flow: None,
                        votes: BTreeMap::new(),
                        started_ns: now,
                        decided: Some(*commit),
                        acked: BTreeSet::new(),
                        op: None,
                    },
                );
            }
        }
        ctx.set_timer(Timer::Tick, ctx.system().p.tick_ms);
        TwoPc { db, txns }
    }

    /// Transactions not yet decided.
    pub fn undecided(&self) -> usize {
        self.txns.values().filter(|t| t.decided.is_none()).count()
    }

    /// Whether every decided transaction has been applied everywhere.
    pub fn idle(&self) -> bool {
        self.txns.is_empty()
    }

    /// A message for the coordinator.
    pub fn on_message(&mut self, ctx: C<'_, '_>, from: usize, msg: Msg) {
        match msg {
            Msg::Command { req, command } => self.on_start(ctx, from, req, command),
            Msg::Vote { txn, service, yes } => self.on_vote(ctx, txn, service, yes),
            Msg::Decided { txn, service } => self.on_decided(ctx, txn, service),
            Msg::Inquire { txn, service } => self.on_inquire(ctx, txn, service),
            other => panic!("2pc coordinator got {other:?} from {from}"),
        }
    }

    fn logged(&self, txn: SagaId) -> Option<bool> {
        match self.db.get(DECISION, &txn.to_string()) {
            Some(Row::Vote(commit)) => Some(*commit),
            _ => None,
        }
    }

    fn on_start(&mut self, ctx: C<'_, '_>, router: usize, req: ReqId, start: Start) {
        let txn = start.id;
        let decided = self
            .logged(txn)
            .or_else(|| self.txns.get(&txn).and_then(|t| t.decided));
        if let Some(commit) = decided {
            let reply = Reply::Done(result(commit));
            return ctx.send(router, Msg::CommandReply { req, reply });
        }
        if self.txns.contains_key(&txn) {
            return; // Running; the answer comes with the decision.
        }
        let op = ctx.invoke(Func::System("txn"), Some(txn.to_string()), Value::Nil);
        let t = Txn {
            req: Some(req),
            flow: Some(start.flow),
            votes: BTreeMap::new(),
            started_ns: ctx.now_ns(),
            decided: None,
            acked: BTreeSet::new(),
            op: Some(op),
        };
        self.txns.insert(txn, t);
        self.send_prepares(ctx, txn);
    }

    /// Ask every service that has not voted to prepare.
    fn send_prepares(&self, ctx: C<'_, '_>, txn: SagaId) {
        let t = &self.txns[&txn];
        let Some(flow) = &t.flow else { return };
        let sys = ctx.system();
        for (i, def) in flow.steps().iter().enumerate() {
            if !t.votes.contains_key(&def.service) {
                let action = flow.action(i, sys.p.price as i64);
                ctx.send(sys.node_of(def.service), Msg::Prepare { txn, action });
            }
        }
    }

    fn on_vote(&mut self, ctx: C<'_, '_>, txn: SagaId, service: Service, yes: bool) {
        let Some(t) = self.txns.get_mut(&txn) else {
            return;
        };
        if t.decided.is_some() {
            return;
        }
        t.votes.insert(service, yes);
        let all = t.flow.as_ref().map_or(0, |f| f.steps().len());
        if !yes {
            self.decide(ctx, txn, false);
        } else if t.votes.len() == all {
            self.decide(ctx, txn, true);
        }
    }

    /// Decide, log the decision (fsynced) before anyone hears it, then send it.
    fn decide(&mut self, ctx: C<'_, '_>, txn: SagaId, commit: bool) {
        if !ctx.system().bugs.presumed_commit {
            let key = txn.to_string();
            self.db.commit(
                ctx,
                vec![Write::set(DECISION, key, Row::Vote(commit))],
                true,
            );
        }
        ctx.observe(SagaObs::Decision { txn, commit });
        let t = self
            .txns
            .get_mut(&txn)
            .expect("deciding a known transaction");
        t.decided = Some(commit);
        if let Some(op) = t.op.take() {
            ctx.complete(op, Status::Ok, Value::Str(result(commit).name().into()));
        }
        if let Some(req) = t.req {
            let router = ctx.system().router;
            let reply = Reply::Done(result(commit));
            ctx.send(router, Msg::CommandReply { req, reply });
        }
        self.send_decision(ctx, txn);
    }

    fn send_decision(&self, ctx: C<'_, '_>, txn: SagaId) {
        let t = &self.txns[&txn];
        let Some(commit) = t.decided else { return };
        let sys = ctx.system();
        for &service in services(sys.workload) {
            if !t.acked.contains(&service) {
                ctx.send(sys.node_of(service), Msg::Decide { txn, commit });
            }
        }
    }

    fn on_decided(&mut self, ctx: C<'_, '_>, txn: SagaId, service: Service) {
        let Some(t) = self.txns.get_mut(&txn) else {
            return;
        };
        t.acked.insert(service);
        if t.acked.len() == services(ctx.system().workload).len() {
            self.txns.remove(&txn);
            if !ctx.system().bugs.presumed_commit {
                let key = txn.to_string();
                self.db
                    .commit(ctx, vec![Write::set(DONE, key, Row::Vote(true))], true);
            }
        }
    }

    /// An in-doubt service asks. Unknown transactions are aborted (presumed abort); the
    /// planted bug presumes commit.
    fn on_inquire(&mut self, ctx: C<'_, '_>, txn: SagaId, service: Service) {
        let known = self
            .logged(txn)
            .or_else(|| self.txns.get(&txn).and_then(|t| t.decided));
        let commit = match known {
            Some(commit) => commit,
            None if self.txns.contains_key(&txn) => return, // still collecting votes
            None => {
                ctx.probe("2pc_unknown_transaction_inquired");
                let presumed = ctx.system().bugs.presumed_commit;
                if !presumed {
                    // Presumed abort, made binding: a retry of the transaction from the
                    // router must find it aborted, never run it again.
                    let key = txn.to_string();
                    let writes = vec![Write::set(DECISION, key, Row::Vote(false))];
                    self.db.commit(ctx, writes, true);
                }
                presumed
            }
        };
        let node = ctx.system().node_of(service);
        ctx.send(node, Msg::Decide { txn, commit });
    }

    /// The tick: abort transactions that waited too long for votes, re-send prepares and
    /// decisions.
    pub fn on_tick(&mut self, ctx: C<'_, '_>) {
        let sys = ctx.system();
        ctx.set_timer(Timer::Tick, sys.p.tick_ms);
        let now = ctx.now_ns();
        let timeout_ns = sys.p.txn_timeout_ms * 1_000_000;
        let ids: Vec<SagaId> = self.txns.keys().copied().collect();
        for txn in ids {
            let t = &self.txns[&txn];
            match t.decided {
                Some(_) => self.send_decision(ctx, txn),
                None if now.saturating_sub(t.started_ns) >= timeout_ns => {
                    ctx.probe("2pc_aborted_on_timeout");
                    self.decide(ctx, txn, false);
                }
                None => self.send_prepares(ctx, txn),
            }
        }
    }
}

fn result(commit: bool) -> SagaResult {
    if commit {
        SagaResult::Committed
    } else {
        SagaResult::Aborted
    }
}
