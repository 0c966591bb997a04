//! A participant service: its own database, idempotent steps and compensations, semantic
//! locks, and the participant side of two-phase commit.
//!
//! Every command is handled as one local transaction on the service's database: the
//! business change, the record of the idempotency key with its answer, and any lock rows
//! are written together and fsynced before the answer leaves. So a duplicate (the network
//! copied it, the coordinator retried it after a timeout, a new coordinator leader re-sent
//! it) finds its key and gets the first answer again, and a crash loses either the whole
//! transaction or nothing.
//!
//! A compensation undoes its step only if the step took effect here; if the step never
//! arrived, the compensation leaves a tombstone, so a late step is refused instead of
//! applied after its own undo. A business failure (out of stock, card declined, name
//! taken) is drawn once per key from the service's own random stream.
//!
//! With `semantic_lock`, a step marks the rows it changes as pending until its saga ends
//! (the coordinator's `Release`); other sagas' steps on those rows are answered busy and
//! reads of them wait. Two-phase commit locks the rows of a prepared transaction the same
//! way until the decision arrives; an in-doubt participant asks the coordinator.

use std::collections::BTreeMap;

use super::flow::{Action, RowRef, Service, StepOutcome, Task};
use super::{Msg, Protocol, Saga, SagaId, SagaObs, Timer};
use crate::history::Value;
use crate::sim::Ctx;
use crate::systems::components::db::{Db, Write};

type C<'c, 'a> = &'c mut Ctx<'a, Saga>;

/// A value in a service's database.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Row {
    /// A count or an amount.
    Int(i64),
    /// A saga (owner of a name, a customer's last order), or none.
    Saga(Option<SagaId>),
    /// The answer recorded for an idempotency key, whether a compensation undid it, and
    /// the before-image a compensation restores.
    Task {
        /// The answer given for the key.
        outcome: StepOutcome,
        /// Whether a compensation undid the step.
        undone: bool,
        /// The before-image a compensation restores (only a charge keeps one).
        before: Option<Box<Row>>,
    },
    /// A row locked by a saga (semantic lock) or a prepared transaction.
    Lock(SagaId),
    /// 2PC: what a prepared transaction will do if committed (its rows are locked, so
    /// its validation still holds then).
    Prepared(Action),
    /// 2PC: this service's vote, or how the transaction was resolved here.
    Vote(bool),
}

const TASK: &str = "task";
const LOCK: &str = "lock";
const PREPARED: &str = "prepared";
const VOTE: &str = "vote";

/// One participant service.
#[derive(Debug)]
pub struct Participant {
    /// Which service.
    pub service: Service,
    /// Its database.
    pub db: Db<Row>,
    /// Reads waiting for a lock to be released: (client, seq, row).
    parked: Vec<(usize, u64, RowRef)>,
    /// Poll mode: the coordinator replica asked, and since when without an answer.
    poll_target: usize,
    poll_since: Option<u64>,
    /// 2PC: when each prepared transaction was first seen in doubt (ns).
    in_doubt: BTreeMap<SagaId, u64>,
}

impl Participant {
    /// Boot: recover the database; start polling (poll mode, or 2PC inquiries).
    pub fn boot(ctx: C<'_, '_>, service: Service) -> Self {
        let db = Db::recover(ctx);
        let sys = ctx.system();
        let poll = sys.p.dispatch == super::Dispatch::Poll || sys.p.protocol == Protocol::TwoPc;
        if poll {
            let every = if sys.p.protocol == Protocol::TwoPc {
                sys.p.inquiry_ms
            } else {
                sys.p.poll_ms
            };
            ctx.set_timer(Timer::Poll, every);
        }
        Participant {
            service,
            db,
            parked: Vec::new(),
            poll_target: 0,
            poll_since: None,
            in_doubt: BTreeMap::new(),
        }
    }

    /// A message for this service.
    pub fn on_message(&mut self, ctx: C<'_, '_>, from: usize, msg: Msg) {
        match msg {
            Msg::Do { task } => {
                let outcome = self.handle(ctx, &task);
                ctx.send(from, Msg::Done { task, outcome });
            }
            Msg::Tasks { tasks } => {
                self.poll_since = None;
                self.poll_target = ctx
                    .system()
                    .coordinators
                    .iter()
                    .position(|&n| n == from)
                    .unwrap_or(0);
                for task in tasks {
                    let outcome = self.handle(ctx, &task);
                    ctx.send(from, Msg::Done { task, outcome });
                }
            }
            Msg::Release { saga } => {
                self.unlock(ctx, saga);
                let service = self.service;
                ctx.send(from, Msg::Released { saga, service });
            }
            Msg::Read { seq, row } => self.read(ctx, from, seq, row),
            Msg::Prepare { txn, action } => self.prepare(ctx, from, txn, &action),
            Msg::Decide { txn, commit } => {
                self.decide(ctx, txn, commit);
                let service = self.service;
                ctx.send(from, Msg::Decided { txn, service });
            }
            other => panic!("service {} got {other:?} from {from}", self.service.name()),
        }
    }

    /// A step or compensation, exactly once per key.
    fn handle(&mut self, ctx: C<'_, '_>, task: &Task) -> StepOutcome {
        let key = task.key();
        let undo_key = Task {
            undo: true,
            ..task.clone()
        }
        .key();
        if !task.undo && self.db.get(TASK, &undo_key).is_some() {
            ctx.probe("duplicate_during_compensation");
        }
        if let Some(Row::Task { outcome, .. }) = self.db.get(TASK, &key) {
            if !ctx.system().bugs.non_idempotent {
                let outcome = *outcome;
                ctx.probe("duplicate_task_answered_from_record");
                self.observe_task(ctx, task, outcome, false, false);
                return outcome;
            }
        }
        if task.undo {
            self.undo(ctx, task)
        } else {
            self.step(ctx, task, &undo_key)
        }
    }

    fn observe_task(
        &self,
        ctx: C<'_, '_>,
        task: &Task,
        outcome: StepOutcome,
        fresh: bool,
        effect: bool,
    ) {
        ctx.observe(SagaObs::Task {
            service: self.service,
            task: task.clone(),
            outcome,
            fresh,
            effect,
        });
    }

    /// A step: refused if its compensation came first, busy if another saga holds a row
    /// it needs, else the business change (or a business failure), recorded with its key.
    fn step(&mut self, ctx: C<'_, '_>, task: &Task, undo_key: &str) -> StepOutcome {
        let key = task.key();
        if self.db.get(TASK, undo_key).is_some() {
            // Compensated before it arrived: it must never take effect now.
            let outcome = StepOutcome::Failed("already compensated");
            self.record(ctx, &key, outcome, None, Vec::new());
            self.observe_task(ctx, task, outcome, true, false);
            return outcome;
        }
        let semantic = ctx.system().p.semantic_lock;
        if semantic && self.locked_by_other(&task.action, task.saga) {
            // Recorded like any answer: a late copy of this key must not apply after all
            // (the coordinator retries busy steps under a new attempt).
            ctx.probe("step_busy_on_semantic_lock");
            self.record(ctx, &key, StepOutcome::Busy, None, Vec::new());
            self.observe_task(ctx, task, StepOutcome::Busy, true, false);
            return StepOutcome::Busy;
        }
        let (outcome, mut writes, before) = self.business(ctx, task);
        let effect = outcome == StepOutcome::Ok;
        let rows = rows_of(&task.action);
        if effect && semantic && !rows.is_empty() {
            for row in rows {
                writes.push(Write::set(LOCK, lock_key(&row), Row::Lock(task.saga)));
            }
            ctx.observe(SagaObs::Locked {
                service: self.service,
                txn: task.saga,
            });
        }
        if effect {
            self.observe_writes(ctx, &task.action, task.saga, false);
        }
        self.record(ctx, &key, outcome, before, writes);
        self.observe_task(ctx, task, outcome, true, effect);
        outcome
    }

    /// Commit `writes` together with the key's record.
    fn record(
        &mut self,
        ctx: C<'_, '_>,
        key: &str,
        outcome: StepOutcome,
        before: Option<Row>,
        mut writes: Vec<Write<Row>>,
    ) {
        writes.push(Write::set(
            TASK,
            key,
            Row::Task {
                outcome,
                undone: false,
                before: before.map(Box::new),
            },
        ));
        self.db.commit(ctx, writes, true);
    }

    /// The business change of a step: its outcome, its writes (none on failure) and the
    /// before-image a compensation restores.
    fn business(&self, ctx: C<'_, '_>, task: &Task) -> (StepOutcome, Vec<Write<Row>>, Option<Row>) {
        if let Some(reason) = self.refusal(ctx, &task.action) {
            return (StepOutcome::Failed(reason), Vec::new(), None);
        }
        let before = match &task.action {
            Action::Charge { customer, .. } => Some(
                self.db
                    .get("last_order", customer)
                    .cloned()
                    .unwrap_or(Row::Saga(None)),
            ),
            _ => None,
        };
        let writes = self.effect(ctx, &task.action, task.saga);
        (StepOutcome::Ok, writes, before)
    }

    /// Why a step fails for a business reason now, if it does (one draw from the
    /// service's stream, whatever the step).
    fn refusal(&self, ctx: C<'_, '_>, action: &Action) -> Option<&'static str> {
        let p = &ctx.system().p;
        let unlucky = ctx.rng().chance(p.failure_probability);
        match action {
            Action::Reserve { item, qty } => {
                let stock = self.int("stock", item, p.initial_stock as i64);
                (stock < *qty || unlucky).then_some("out of stock")
            }
            Action::Charge { customer, amount } => {
                let balance = self.int("balance", customer, p.initial_balance as i64);
                (balance < *amount || unlucky).then_some("card declined")
            }
            Action::Ship { .. } => unlucky.then_some("carrier busy"),
            Action::CreateProject { name }
            | Action::CreatePipeline { name }
            | Action::CreateGroup { name } => {
                (self.db.get(table_of(action), name).is_some() || unlucky).then_some("name taken")
            }
        }
    }

    /// The writes of a step that takes effect now.
    fn effect(&self, ctx: C<'_, '_>, action: &Action, saga: SagaId) -> Vec<Write<Row>> {
        let p = &ctx.system().p;
        match action {
            Action::Reserve { item, qty } => {
                let stock = self.int("stock", item, p.initial_stock as i64);
                vec![Write::set("stock", item, Row::Int(stock - qty))]
            }
            Action::Charge { customer, amount } => {
                let balance = self.int("balance", customer, p.initial_balance as i64);
                let merchant = self.int("merchant", "m", 0);
                vec![
                    Write::set("balance", customer, Row::Int(balance - amount)),
                    Write::set("merchant", "m", Row::Int(merchant + amount)),
                    Write::set("last_order", customer, Row::Saga(Some(saga))),
                ]
            }
            Action::Ship { qty, .. } => {
                vec![Write::set("shipment", saga.to_string(), Row::Int(*qty))]
            }
            Action::CreateProject { name }
            | Action::CreatePipeline { name }
            | Action::CreateGroup { name } => {
                vec![Write::set(table_of(action), name, Row::Saga(Some(saga)))]
            }
        }
    }

    /// A compensation: undo the step if it took effect here, else leave a tombstone.
    fn undo(&mut self, ctx: C<'_, '_>, task: &Task) -> StepOutcome {
        let step_key = Task {
            undo: false,
            ..task.clone()
        }
        .key();
        let mut writes = Vec::new();
        let mut effect = false;
        if let Some(Row::Task {
            outcome: StepOutcome::Ok,
            undone: false,
            before,
        }) = self.db.get(TASK, &step_key).cloned()
        {
            writes = self.inverse(ctx, task, before.map(|b| *b));
            writes.push(Write::set(
                TASK,
                &step_key,
                Row::Task {
                    outcome: StepOutcome::Ok,
                    undone: true,
                    before: None,
                },
            ));
            effect = true;
            self.observe_writes(ctx, &task.action, task.saga, true);
        }
        self.record(ctx, &task.key(), StepOutcome::Ok, None, writes);
        self.observe_task(ctx, task, StepOutcome::Ok, true, effect);
        StepOutcome::Ok
    }

    /// The writes that undo a step.
    fn inverse(&self, ctx: C<'_, '_>, task: &Task, before: Option<Row>) -> Vec<Write<Row>> {
        let p = &ctx.system().p;
        match &task.action {
            Action::Reserve { item, qty } => {
                let stock = self.int("stock", item, p.initial_stock as i64);
                vec![Write::set("stock", item, Row::Int(stock + qty))]
            }
            Action::Charge { customer, amount } => {
                let balance = self.int("balance", customer, p.initial_balance as i64);
                let merchant = self.int("merchant", "m", 0);
                vec![
                    Write::set("balance", customer, Row::Int(balance + amount)),
                    Write::set("merchant", "m", Row::Int(merchant - amount)),
                    // The semantic undo of an overwrite: put back what was there.
                    Write::set("last_order", customer, before.unwrap_or(Row::Saga(None))),
                ]
            }
            Action::Ship { .. } => vec![Write::delete("shipment", task.saga.to_string())],
            Action::CreateProject { name }
            | Action::CreatePipeline { name }
            | Action::CreateGroup { name } => {
                let table = table_of(&task.action);
                match self.db.get(table, name) {
                    Some(Row::Saga(Some(owner))) if *owner == task.saga => {
                        vec![Write::delete(table, name)]
                    }
                    _ => Vec::new(),
                }
            }
        }
    }

    /// Record writes to overwritten rows (a customer's last order) for the isolation check.
    fn observe_writes(&self, ctx: C<'_, '_>, action: &Action, saga: SagaId, restores: bool) {
        if let Action::Charge { customer, .. } = action {
            ctx.observe(SagaObs::Wrote {
                row: RowRef {
                    table: "last_order",
                    key: customer.clone(),
                },
                saga,
                restores,
            });
        }
    }

    /// A numeric row, or its initial value.
    fn int(&self, table: &str, key: &str, initial: i64) -> i64 {
        match self.db.get(table, key) {
            Some(Row::Int(v)) => *v,
            _ => initial,
        }
    }

    fn locked_by_other(&self, action: &Action, saga: SagaId) -> bool {
        rows_of(action).iter().any(|row| {
            matches!(self.db.get(LOCK, &lock_key(row)), Some(Row::Lock(holder)) if *holder != saga)
        })
    }

    fn is_locked(&self, row: &RowRef) -> bool {
        self.db.get(LOCK, &lock_key(row)).is_some()
    }

    /// Release every lock `txn` holds; answer the reads that waited for them.
    fn unlock(&mut self, ctx: C<'_, '_>, txn: SagaId) {
        let held: Vec<Write<Row>> = self
            .db
            .rows(LOCK)
            .filter(|(_, v)| **v == Row::Lock(txn))
            .map(|(k, _)| Write::delete(LOCK, k.clone()))
            .collect();
        if !held.is_empty() {
            self.db.commit(ctx, held, true);
            ctx.observe(SagaObs::Unlocked {
                service: self.service,
                txn,
            });
        }
        self.answer_parked(ctx);
    }

    fn answer_parked(&mut self, ctx: C<'_, '_>) {
        let parked = std::mem::take(&mut self.parked);
        for (client, seq, row) in parked {
            self.read(ctx, client, seq, row);
        }
    }

    /// A client's read: answered now, or when the row's lock is released.
    fn read(&mut self, ctx: C<'_, '_>, client: usize, seq: u64, row: RowRef) {
        if self.is_locked(&row) {
            ctx.probe("read_waited_for_lock");
            self.parked.push((client, seq, row));
            return;
        }
        let p = &ctx.system().p;
        let value = match (row.table, self.db.get(row.table, &row.key)) {
            (_, Some(Row::Int(v))) => Value::Int(*v),
            (_, Some(Row::Saga(Some(owner)))) => Value::Str(owner.to_string()),
            ("stock", _) => Value::Int(p.initial_stock as i64),
            ("balance", _) => Value::Int(p.initial_balance as i64),
            _ => Value::Nil,
        };
        ctx.observe(SagaObs::Read { row });
        ctx.send(client, Msg::ReadReply { seq, value });
    }

    /// The poll timer: ask for tasks (poll mode), or about in-doubt transactions (2PC).
    pub fn on_poll(&mut self, ctx: C<'_, '_>) {
        let sys = ctx.system();
        if sys.p.protocol == Protocol::TwoPc {
            self.inquire(ctx);
            ctx.set_timer(Timer::Poll, sys.p.inquiry_ms);
            return;
        }
        let now = ctx.now_ns();
        if let Some(since) = self.poll_since {
            if now.saturating_sub(since) >= 3 * sys.p.poll_ms * 1_000_000 {
                // No answer: that replica does not lead (or is down). Ask the next one.
                self.poll_target = (self.poll_target + 1) % sys.coordinators.len();
                self.poll_since = None;
            }
        }
        self.poll_since.get_or_insert(now);
        let service = self.service;
        ctx.send(sys.coordinators[self.poll_target], Msg::Poll { service });
        ctx.set_timer(Timer::Poll, sys.p.poll_ms);
    }

    // ----- two-phase commit, participant side --------------------------------------------

    /// Prepare: vote yes (rows locked, writes kept until the decision) or no.
    fn prepare(&mut self, ctx: C<'_, '_>, coordinator: usize, txn: SagaId, action: &Action) {
        let service = self.service;
        let key = txn.to_string();
        if let Some(Row::Vote(yes)) = self.db.get(VOTE, &key) {
            let yes = *yes;
            ctx.send(coordinator, Msg::Vote { txn, service, yes });
            return;
        }
        let busy = rows_of(action).iter().any(|r| self.is_locked(r));
        let yes = !busy && self.refusal(ctx, action).is_none();
        let mut writes = vec![Write::set(VOTE, &key, Row::Vote(yes))];
        if yes {
            writes.push(Write::set(PREPARED, &key, Row::Prepared(action.clone())));
            for row in rows_of(action) {
                writes.push(Write::set(LOCK, lock_key(&row), Row::Lock(txn)));
            }
            ctx.observe(SagaObs::Locked { service, txn });
        }
        self.db.commit(ctx, writes, true);
        ctx.observe(SagaObs::Voted { service, txn, yes });
        ctx.send(coordinator, Msg::Vote { txn, service, yes });
    }

    /// The decision: apply (commit) or drop (abort) the prepared writes, release the locks.
    fn decide(&mut self, ctx: C<'_, '_>, txn: SagaId, commit: bool) {
        let key = txn.to_string();
        let Some(Row::Prepared(action)) = self.db.get(PREPARED, &key).cloned() else {
            if !commit && self.db.get(VOTE, &key).is_none() {
                // The abort overtook the prepare: a late prepare must vote no, not lock.
                self.db
                    .commit(ctx, vec![Write::set(VOTE, &key, Row::Vote(false))], true);
            }
            return; // Decided before (a duplicate), or voted no.
        };
        let mut writes = if commit {
            self.effect(ctx, &action, txn)
        } else {
            Vec::new()
        };
        writes.push(Write::delete(PREPARED, &key));
        // The final word: a prepare retried after this decision gets it as its vote.
        writes.push(Write::set(VOTE, &key, Row::Vote(commit)));
        for (k, v) in self.db.rows(LOCK) {
            if *v == Row::Lock(txn) {
                writes.push(Write::delete(LOCK, k.clone()));
            }
        }
        self.db.commit(ctx, writes, true);
        self.in_doubt.remove(&txn);
        let service = self.service;
        ctx.observe(SagaObs::Resolved {
            service,
            txn,
            commit,
        });
        ctx.observe(SagaObs::Unlocked { service, txn });
        self.answer_parked(ctx);
    }

    /// In doubt for a while: ask the coordinator for the decision.
    fn inquire(&mut self, ctx: C<'_, '_>) {
        let now = ctx.now_ns();
        let wait_ns = ctx.system().p.inquiry_ms * 1_000_000;
        let prepared: Vec<SagaId> = self
            .db
            .rows(PREPARED)
            .filter_map(|(k, _)| SagaId::parse(k))
            .collect();
        let coordinator = ctx.system().coordinators[0];
        for txn in prepared {
            let since = *self.in_doubt.entry(txn).or_insert(now);
            if now.saturating_sub(since) >= wait_ns {
                ctx.probe("2pc_participant_in_doubt");
                let service = self.service;
                ctx.send(coordinator, Msg::Inquire { txn, service });
            }
        }
    }

    /// Whether it waits for nothing: no parked read, no lock, nothing prepared.
    pub fn idle(&self) -> bool {
        self.parked.is_empty()
            && self.db.rows(LOCK).next().is_none()
            && self.db.rows(PREPARED).next().is_none()
    }
}

/// The rows a step changes (the ones it locks).
pub fn rows_of(action: &Action) -> Vec<RowRef> {
    match action {
        Action::Reserve { item, .. } => vec![RowRef::stock(item)],
        Action::Charge { customer, .. } => vec![RowRef::balance(customer)],
        Action::Ship { .. } => Vec::new(),
        Action::CreateProject { name }
        | Action::CreatePipeline { name }
        | Action::CreateGroup { name } => vec![RowRef {
            table: table_of(action),
            key: name.clone(),
        }],
    }
}

fn table_of(action: &Action) -> &'static str {
    match action {
        Action::CreateProject { .. } => "project",
        Action::CreatePipeline { .. } => "pipeline",
        Action::CreateGroup { .. } => "group",
        Action::Reserve { .. } => "stock",
        Action::Charge { .. } => "balance",
        Action::Ship { .. } => "shipment",
    }
}

fn lock_key(row: &RowRef) -> String {
    format!("{}/{}", row.table, row.key)
}
