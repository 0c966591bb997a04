//! The orders service: its database with the orders and the outbox, and the relay.
//!
//! A request is one local transaction: the order's new row and its event in the outbox,
//! fsynced before the answer. The event's id is the transaction's log sequence number,
//! so ids are unique and follow commit order. Business rules refuse impossible changes
//! (paying a cancelled order, shipping an unpaid one): no transaction, no event.
//!
//! The relay publishes outbox events to the broker in commit order, one batch in flight
//! per partition (an order's events share its partition), and only after the broker's
//! acknowledgement records them as sent: marks the rows (`polling`), or moves a durable
//! checkpoint over the log (`log_tailing`). A crash anywhere loses nothing: what was not
//! recorded as sent is published again (so at least once).
//!
//! With `transactional_relay` the relay writes each round — the oldest unpublished events
//! of every partition — in one broker transaction of the transactional id `relay`
//! ([`TxnProducer`]) and records the events as sent once it commits; an aborted round, or
//! one of unknown outcome, leaves its sends unknown in the history and is published again. A relay restarted mid-round fences its previous incarnation, whose
//! open transaction is aborted: its records stay invisible to read-committed consumers.
//!
//! Planted bugs change this path: `dual-write` (no outbox: commit, then publish directly
//! from memory), `publish-before-commit` (publish, commit when acknowledged: a crash or a
//! refusal in between leaves a phantom event), `mark-before-ack` and `unordered-relay`.

use std::collections::{BTreeMap, BTreeSet};

use super::{Bugs, Change, Event, Msg, OrderOp, Outbox, OutboxObs, RelayKind, Timer};
use crate::history::{Func, Status, Value};
use crate::plan::Draw;
use crate::sim::Ctx;
use crate::systems::components::broker::client::Producer;
use crate::systems::components::broker::txn_producer::{Outcome, TxnProducer};
use crate::systems::components::broker::{partition_of, Msg as BrokerMsg, Record};
use crate::systems::components::db::{Db, Write};

type C<'c, 'a> = &'c mut Ctx<'a, Outbox>;

const ORDERS: &str = "orders";
const OUTBOX: &str = "outbox";
const RELAY: &str = "relay";
/// The transactional relay's transaction timeout: the coordinator aborts a round open
/// longer, and the relay gives up on it after as long (ms).
const RELAY_TXN_TIMEOUT_MS: u64 = 1000;

/// A value in the orders service's (or a consumer's) database.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Row {
    /// An order (master, or a replica's copy).
    Order(OrderRow),
    /// An outbox entry: the event and whether the broker acknowledged it.
    Outbox {
        /// The event to publish.
        event: Event,
        /// Whether the broker acknowledged it.
        sent: bool,
    },
    /// A number: a checkpoint, points, an inbox mark.
    Int(i64),
}

/// An order's fields. The orders service owns all of them; the replica's `tracking` is
/// the shipping service's own.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OrderRow {
    /// Customer.
    pub customer: String,
    /// Amount.
    pub amount: i64,
    /// Last change.
    pub status: Change,
    /// Version (events so far).
    pub version: u32,
    /// Whether it was paid.
    pub paid: bool,
    /// Added by the schema change (`None`: the default).
    pub currency: Option<String>,
}

/// Draw a client operation: a change to one of `8 × keys` orders.
pub fn draw(d: &mut Draw<'_>) -> OrderOp {
    let order = format!("o{}", d.rng.index(8 * d.params.keys as usize));
    let customer = format!("cust{}", d.rng.index(d.params.keys as usize));
    let amount = d.rng.range_u64(5, 50) as i64;
    let roll = d.rng.unit();
    let f = if roll < 0.4 {
        Change::Place
    } else if roll < 0.7 {
        Change::Pay
    } else if roll < 0.85 {
        Change::Ship
    } else {
        Change::Cancel
    };
    OrderOp {
        f,
        order,
        customer,
        amount,
    }
}

/// The new row a change makes, and whether it refunds, if the business rules allow it.
fn transition(row: Option<&OrderRow>, op: &OrderOp) -> Option<(OrderRow, bool)> {
    let next = |row: &OrderRow, status, paid| OrderRow {
        status,
        paid,
        version: row.version + 1,
        ..row.clone()
    };
    match (row, op.f) {
        (None, Change::Place) => Some((
            OrderRow {
                customer: op.customer.clone(),
                amount: op.amount,
                status: Change::Place,
                version: 1,
                paid: false,
                currency: None,
            },
            false,
        )),
        (Some(r), Change::Pay) if r.status == Change::Place => {
            Some((next(r, Change::Pay, true), false))
        }
        (Some(r), Change::Ship) if r.status == Change::Pay => {
            Some((next(r, Change::Ship, true), false))
        }
        (Some(r), Change::Cancel) if matches!(r.status, Change::Place | Change::Pay) => {
            Some((next(r, Change::Cancel, r.paid), r.paid))
        }
        _ => None,
    }
}

/// A produce in flight: the events it carries and its timeline operation.
#[derive(Debug, Clone)]
struct Sending {
    events: Vec<Event>,
    op: usize,
}

/// A request answered only once its event is acknowledged (`publish-before-commit`).
#[derive(Debug, Clone)]
struct Deferred {
    client: usize,
    seq: u64,
    op: OrderOp,
}

/// The orders service.
#[derive(Debug)]
pub struct Orders {
    /// Its database.
    pub db: Db<Row>,
    producer: Producer<Event>,
    sending: BTreeMap<u64, Sending>,
    /// The transactional relay's producer, and its round's sends by partition.
    txn: Option<TxnProducer<Event>>,
    round: BTreeMap<u32, Sending>,
    /// Log tailing: events read from the log and not yet acknowledged, by id.
    tailed: BTreeMap<u64, Event>,
    /// Log tailing: the last log sequence number read.
    read_to: u64,
    /// Events published from memory (`dual-write`, `publish-before-commit`), by id.
    memory: BTreeMap<u64, Event>,
    deferred: BTreeMap<u64, Deferred>,
    next_memory_id: u64,
    relay: RelayKind,
}

impl Orders {
    /// Outbox rows the broker has not acknowledged yet (the relay's backlog; a gauge).
    pub fn backlog(&self) -> usize {
        (self.db.rows(OUTBOX))
            .filter(|(_, row)| matches!(row, Row::Outbox { sent: false, .. }))
            .count()
    }

    /// Boot: recover the database; the relay starts from what it records as sent.
    pub fn boot(ctx: C<'_, '_>) -> Self {
        let db: Db<Row> = Db::recover(ctx);
        let sys = ctx.system();
        let pid = sys
            .p
            .idempotent_producer
            .then(|| (ctx.node() as u64) << 32 | ctx.incarnation() as u64);
        ctx.set_timer(Timer::Relay, sys.p.relay_poll_ms);
        let read_to = match db.get(RELAY, "checkpoint") {
            Some(Row::Int(lsn)) => *lsn as u64,
            _ => 0,
        };
        Orders {
            db,
            producer: Producer::new(sys.broker.partitions, pid),
            sending: BTreeMap::new(),
            txn: (sys.p.transactional_relay)
                .then(|| TxnProducer::new(RELAY, sys.broker.partitions, RELAY_TXN_TIMEOUT_MS)),
            round: BTreeMap::new(),
            tailed: BTreeMap::new(),
            read_to,
            memory: BTreeMap::new(),
            deferred: BTreeMap::new(),
            next_memory_id: (1 << 40) + ((ctx.incarnation() as u64) << 20),
            relay: sys.p.relay,
        }
    }

    /// A message for the service.
    pub fn on_message(&mut self, ctx: C<'_, '_>, from: usize, msg: Msg) {
        match msg {
            Msg::Request { seq, op } => self.on_request(ctx, from, seq, op),
            Msg::Broker(msg) if self.txn.is_some() => {
                let txn = self.txn.as_mut().expect("just seen");
                if let Some(outcome) = txn.on_message(ctx, from, msg) {
                    self.round_ended(ctx, outcome);
                }
            }
            Msg::Broker(BrokerMsg::ProduceAck { req, result, .. }) => {
                match self.producer.on_ack(ctx, from, req, result) {
                    Some((flight, Ok(offset))) => {
                        self.on_published(ctx, req, flight.partition, offset)
                    }
                    // The relay's producer id is its own (node and incarnation), and only
                    // it raises its epoch: nothing else can fence it.
                    Some((_, Err(refused))) => {
                        panic!("the relay's produce was refused: {refused:?}")
                    }
                    None => {}
                }
            }
            other => panic!("orders got {other:?} from {from}"),
        }
    }

    fn order(&self, id: &str) -> Option<&OrderRow> {
        match self.db.get(ORDERS, id) {
            Some(Row::Order(r)) => Some(r),
            _ => None,
        }
    }

    /// The event a change makes (`id`: its transaction's log sequence number).
    fn event(ctx: C<'_, '_>, id: u64, op: &OrderOp, row: &mut OrderRow, refund: bool) -> Event {
        let v2 = ctx.now_ns() >= ctx.system().p.schema_change_at_ms * 1_000_000;
        if v2 {
            row.currency = Some("EUR".into());
        }
        Event {
            id,
            order: op.order.clone(),
            version: row.version,
            change: op.f,
            customer: row.customer.clone(),
            amount: row.amount,
            refund,
            schema: if v2 { 2 } else { 1 },
            currency: row.currency.clone(),
        }
    }

    fn on_request(&mut self, ctx: C<'_, '_>, client: usize, seq: u64, op: OrderOp) {
        let bugs = ctx.system().bugs;
        if bugs.publish_before_commit {
            return self.publish_first(ctx, client, seq, op);
        }
        let Some((mut row, refund)) = transition(self.order(&op.order), &op) else {
            return ctx.send(client, Msg::Reply { seq, ok: false });
        };
        let id = self.db.lsn() + 1;
        let event = Self::event(ctx, id, &op, &mut row, refund);
        let mut writes = vec![Write::set(ORDERS, &op.order, Row::Order(row))];
        if !bugs.dual_write {
            let outbox = Row::Outbox {
                event: event.clone(),
                sent: false,
            };
            writes.push(Write::set(OUTBOX, key(id), outbox));
        }
        self.db.commit(ctx, writes, true);
        ctx.observe(OutboxObs::Committed(event.clone()));
        ctx.send(client, Msg::Reply { seq, ok: true });
        if bugs.dual_write {
            // The known-bad baseline: publish straight from memory after the commit.
            self.memory.insert(id, event.clone());
            self.publish(ctx, vec![event]);
        }
    }

    /// The `publish-before-commit` bug: publish the event now, commit when it is
    /// acknowledged (if the business rules still allow it then).
    fn publish_first(&mut self, ctx: C<'_, '_>, client: usize, seq: u64, op: OrderOp) {
        let Some((mut row, refund)) = transition(self.order(&op.order), &op) else {
            return ctx.send(client, Msg::Reply { seq, ok: false });
        };
        self.next_memory_id += 1;
        let id = self.next_memory_id;
        let event = Self::event(ctx, id, &op, &mut row, refund);
        self.memory.insert(id, event.clone());
        self.deferred.insert(id, Deferred { client, seq, op });
        self.publish(ctx, vec![event]);
    }

    /// Send events (of one partition) to the broker, as one produce.
    fn publish(&mut self, ctx: C<'_, '_>, events: Vec<Event>) -> u64 {
        let partitions = ctx.system().broker.partitions as usize;
        let partition = partition_of(&events[0].order, partitions);
        let op = ctx.invoke(Func::Send, None, send_input(partition, &events));
        let req = self.producer.send(ctx, partition, records(&events));
        self.sending.insert(req, Sending { events, op });
        req
    }

    /// The transactional relay: publish the oldest unpublished events of every partition
    /// in one transaction, when none runs.
    fn publish_round(&mut self, ctx: C<'_, '_>, pending: Vec<Event>) {
        if !self.txn.as_ref().is_some_and(TxnProducer::idle) {
            return;
        }
        let partitions = ctx.system().broker.partitions as usize;
        let batch_max = ctx.system().p.relay_batch as usize;
        let mut batches: BTreeMap<u32, Vec<Event>> = BTreeMap::new();
        for event in pending {
            let batch = batches
                .entry(partition_of(&event.order, partitions))
                .or_default();
            if batch.len() < batch_max {
                batch.push(event);
            }
        }
        if batches.is_empty() {
            return;
        }
        let mut writes = BTreeMap::new();
        for (partition, events) in batches {
            let op = ctx.invoke(Func::Send, None, send_input(partition, &events));
            writes.insert(partition, records(&events));
            self.round.insert(partition, Sending { events, op });
        }
        self.txn.as_mut().expect("idle above").begin(ctx, writes);
    }

    /// The transactional relay's round ended: committed rounds are recorded as sent; the
    /// events of the others are published again.
    fn round_ended(&mut self, ctx: C<'_, '_>, outcome: Outcome) {
        let round = std::mem::take(&mut self.round);
        match outcome {
            Outcome::Committed(offsets) => {
                ctx.probe("relay_round_committed");
                for (partition, sent) in round {
                    self.published(ctx, sent, partition, offsets[&partition]);
                }
            }
            // The sends stay unknown (`info`) even when the round definitely aborted: the
            // relay sends the same events again, and a queue history whose value was sent
            // twice cannot say which send a read saw (an aborted read would be claimed of
            // the committed copy).
            Outcome::Aborted => ctx.probe("relay_round_aborted"),
            Outcome::Unknown => ctx.probe("relay_round_unknown"),
        }
    }

    /// The relay's tick: re-send what is unanswered, publish what is new.
    pub fn on_relay(&mut self, ctx: C<'_, '_>) {
        let sys = ctx.system();
        ctx.set_timer(Timer::Relay, sys.p.relay_poll_ms);
        self.producer.on_tick(ctx, sys.p.retry_ms);
        if let Some(outcome) = (self.txn.as_mut()).and_then(|t| t.on_tick(ctx, sys.p.retry_ms)) {
            self.round_ended(ctx, outcome);
        }
        if sys.bugs.dual_write || sys.bugs.publish_before_commit {
            return;
        }
        let pending = match sys.p.relay {
            RelayKind::Polling => self.unsent(),
            RelayKind::LogTailing => self.tail(ctx),
        };
        if self.txn.is_some() {
            return self.publish_round(ctx, pending);
        }
        self.publish_batches(ctx, pending, sys.bugs);
    }

    /// Polling: outbox rows not marked sent, in commit order.
    fn unsent(&self) -> Vec<Event> {
        self.db
            .rows(OUTBOX)
            .filter_map(|(_, row)| match row {
                Row::Outbox { event, sent: false } => Some(event.clone()),
                _ => None,
            })
            .collect()
    }

    /// Log tailing: read the log past what was read, keep the outbox inserts found.
    fn tail(&mut self, ctx: C<'_, '_>) -> Vec<Event> {
        const READ_MAX: usize = 256;
        for record in Db::log_after(ctx, self.read_to, READ_MAX) {
            self.read_to = record.lsn;
            for write in &record.writes {
                if let (OUTBOX, Some(Row::Outbox { event, sent: false })) =
                    (write.table, &write.value)
                {
                    self.tailed.insert(event.id, event.clone());
                }
            }
        }
        self.tailed.values().cloned().collect()
    }

    /// Publish the oldest unpublished events of each partition that has nothing in flight
    /// (the `unordered-relay` bug: every event at once, each in its own produce).
    fn publish_batches(&mut self, ctx: C<'_, '_>, pending: Vec<Event>, bugs: Bugs) {
        let in_flight: BTreeSet<u64> = self
            .sending
            .values()
            .flat_map(|s| s.events.iter().map(|e| e.id))
            .collect();
        let partitions = ctx.system().broker.partitions as usize;
        let batch_max = ctx.system().p.relay_batch as usize;
        let mut batches: BTreeMap<u32, Vec<Event>> = BTreeMap::new();
        for event in pending.into_iter().filter(|e| !in_flight.contains(&e.id)) {
            if bugs.unordered_relay {
                self.send_batch(ctx, vec![event], bugs);
                continue;
            }
            let partition = partition_of(&event.order, partitions);
            if self.producer.busy(partition) {
                continue;
            }
            let batch = batches.entry(partition).or_default();
            if batch.len() < batch_max {
                batch.push(event);
            }
        }
        for (_, batch) in batches {
            self.send_batch(ctx, batch, bugs);
        }
    }

    fn send_batch(&mut self, ctx: C<'_, '_>, batch: Vec<Event>, bugs: Bugs) {
        if bugs.mark_before_ack && ctx.system().p.relay == RelayKind::Polling {
            // The planted bug: recorded as sent before anyone acknowledged it.
            self.mark_sent(ctx, &batch);
        }
        self.publish(ctx, batch);
    }

    /// The broker acknowledged a produce.
    fn on_published(&mut self, ctx: C<'_, '_>, req: u64, partition: u32, offset: u64) {
        let Some(sent) = self.sending.remove(&req) else {
            return;
        };
        self.published(ctx, sent, partition, offset);
    }

    /// A batch is in the broker from `offset` on: its send completes, its events are
    /// recorded as sent.
    fn published(&mut self, ctx: C<'_, '_>, sent: Sending, partition: u32, offset: u64) {
        let micro = |(i, e): (usize, &Event)| {
            Value::List(vec![
                Value::Str("send".into()),
                Value::Int(partition as i64),
                Value::List(vec![
                    Value::Int((offset + i as u64) as i64),
                    Value::Int(e.id as i64),
                ]),
            ])
        };
        let output = Value::List(sent.events.iter().enumerate().map(micro).collect());
        ctx.complete(sent.op, Status::Ok, output);
        for e in &sent.events {
            self.memory.remove(&e.id);
            if let Some(d) = self.deferred.remove(&e.id) {
                self.commit_deferred(ctx, e, d);
            }
        }
        let sys = ctx.system();
        if sys.bugs.dual_write || sys.bugs.publish_before_commit {
            return;
        }
        match sys.p.relay {
            RelayKind::Polling if !sys.bugs.mark_before_ack => self.mark_sent(ctx, &sent.events),
            RelayKind::Polling => {}
            RelayKind::LogTailing => self.checkpoint(ctx, &sent.events),
        }
    }

    /// `publish-before-commit`: the event is out; commit its transaction now, if the rules
    /// still allow it (if not, the event already published is a phantom).
    fn commit_deferred(&mut self, ctx: C<'_, '_>, event: &Event, d: Deferred) {
        let Some((row, _)) = transition(self.order(&d.op.order), &d.op) else {
            ctx.probe("phantom_event_published");
            return ctx.send(
                d.client,
                Msg::Reply {
                    seq: d.seq,
                    ok: false,
                },
            );
        };
        let row = OrderRow {
            currency: event.currency.clone(),
            ..row
        };
        self.db.commit(
            ctx,
            vec![Write::set(ORDERS, &d.op.order, Row::Order(row))],
            true,
        );
        ctx.observe(OutboxObs::Committed(event.clone()));
        ctx.send(
            d.client,
            Msg::Reply {
                seq: d.seq,
                ok: true,
            },
        );
    }

    /// Polling: mark rows sent, durably.
    fn mark_sent(&mut self, ctx: C<'_, '_>, events: &[Event]) {
        let writes = events
            .iter()
            .map(|e| {
                let row = Row::Outbox {
                    event: e.clone(),
                    sent: true,
                };
                Write::set(OUTBOX, key(e.id), row)
            })
            .collect();
        self.db.commit(ctx, writes, true);
    }

    /// Log tailing: move the durable checkpoint past every event acknowledged in a row.
    fn checkpoint(&mut self, ctx: C<'_, '_>, acked: &[Event]) {
        for e in acked {
            self.tailed.remove(&e.id);
        }
        // Everything read before the oldest event still unacknowledged is done.
        let upto = match self.tailed.keys().next() {
            Some(&oldest) => oldest - 1,
            None => self.read_to,
        };
        let current = match self.db.get(RELAY, "checkpoint") {
            Some(Row::Int(lsn)) => *lsn as u64,
            _ => 0,
        };
        if upto > current {
            let writes = vec![Write::set(RELAY, "checkpoint", Row::Int(upto as i64))];
            self.db.commit(ctx, writes, true);
        }
    }

    /// Events committed but not yet recorded as published.
    fn unpublished(&self) -> bool {
        let last = self.db.rows(OUTBOX).next_back().map(|(k, _)| k.clone());
        match self.relay {
            RelayKind::Polling => !self.unsent().is_empty(),
            RelayKind::LogTailing => {
                !self.tailed.is_empty() || last.is_some_and(|k| k > key(self.read_to))
            }
        }
    }

    /// Whether every committed event has been published and recorded as such.
    pub fn drained(&self) -> bool {
        self.sending.is_empty()
            && self.round.is_empty()
            && self.memory.is_empty()
            && !self.unpublished()
    }

    /// Coverage probes for a crash of this service.
    pub fn crash_probes(&self, probes: &mut Vec<&'static str>) {
        if !self.sending.is_empty() {
            probes.push("crash_between_publish_and_mark_sent");
        }
        if self.unpublished() || !self.memory.is_empty() {
            probes.push("crash_between_commit_and_publish");
        }
    }
}

/// The outbox key of an event: its id, padded so keys sort in commit order.
/// A send operation's input: `[:send partition id]` per event.
fn send_input(partition: u32, events: &[Event]) -> Value {
    let micro = |e: &Event| {
        Value::List(vec![
            Value::Str("send".into()),
            Value::Int(partition as i64),
            Value::Int(e.id as i64),
        ])
    };
    Value::List(events.iter().map(micro).collect())
}

/// Events as records keyed by their order.
fn records(events: &[Event]) -> Vec<Record<Event>> {
    (events.iter())
        .map(|e| Record {
            key: e.order.clone(),
            value: e.clone(),
        })
        .collect()
}

fn key(id: u64) -> String {
    format!("{id:012}")
}
