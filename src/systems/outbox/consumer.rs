//! The consumers: the loyalty service (stateless instances over one database) and the
//! shipping service's read-only replica of the orders table.
//!
//! A consumer applies an event's effect and records the event's id in its *inbox* in one
//! local transaction; an event already in the inbox (redelivered after a crash or a
//! rebalance, or duplicated by the relay) changes nothing. Only then does it commit its
//! offset to the broker. The loyalty service runs several instances in one consumer group
//! (`loyalty0..`), each sending its transactions to the service's database process
//! (`loyaltydb`); a partition moves to another instance when its owner stops heartbeating.
//! The shipping service is one instance with its own database: its `replica` table
//! follows every order field the orders service owns (a newer version replaces an older
//! one), and it writes only its own field, `tracking`.
//!
//! Each fetch is recorded as a queue `poll` (and each new assignment as an `assign`) for
//! the queue checker.

use std::collections::BTreeMap;

use super::service::{OrderRow, Row};
use super::{Change, Event, Msg, Outbox, OutboxObs, Timer};
use crate::history::{Func, Status, Value};
use crate::sim::Ctx;
use crate::systems::components::broker::client::{Consumer, Event as Delivery};
use crate::systems::components::broker::{Isolation, Msg as BrokerMsg, Record};
use crate::systems::components::db::{Db, Write};

type C<'c, 'a> = &'c mut Ctx<'a, Outbox>;

const INBOX: &str = "inbox";
const POINTS: &str = "points";
const REPLICA: &str = "replica";
const TRACKING: &str = "tracking";

/// The two consumer services.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A loyalty instance.
    Loyalty,
    /// The shipping service (replica table).
    Shipping,
}

impl Role {
    /// Its consumer group.
    pub fn group(self) -> &'static str {
        match self {
            Role::Loyalty => "loyalty",
            Role::Shipping => "shipping",
        }
    }
}

/// A batch being applied: where it ends, and the events the database has not confirmed.
#[derive(Debug, Clone)]
struct Batch {
    next: u64,
    unconfirmed: BTreeMap<u64, Event>,
    sent_ns: u64,
}

/// A consumer process.
#[derive(Debug)]
pub struct ConsumerProc {
    role: Role,
    consumer: Consumer,
    /// Shipping: its database.
    db: Option<Db<Row>>,
    batches: BTreeMap<u32, Batch>,
    /// Positions applied but whose offset commit is not yet confirmed (re-sent each poll).
    uncommitted: BTreeMap<u32, u64>,
}

impl ConsumerProc {
    /// Boot: join the group; shipping recovers its database.
    pub fn boot(ctx: C<'_, '_>) -> Self {
        let sys = ctx.system();
        let role = if ctx.node() == sys.shipping {
            Role::Shipping
        } else {
            Role::Loyalty
        };
        let db = (role == Role::Shipping).then(|| Db::recover(ctx));
        ctx.set_timer(Timer::Poll, sys.p.consumer_poll_ms);
        let mut consumer = Consumer::new(role.group(), sys.broker.partitions);
        if sys.p.transactional_relay {
            // Records of the relay's aborted or open rounds stay unseen.
            consumer.isolation = Isolation::ReadCommitted;
        }
        ConsumerProc {
            role,
            consumer,
            db,
            batches: BTreeMap::new(),
            uncommitted: BTreeMap::new(),
        }
    }

    /// The poll: heartbeat and fetch; re-send unconfirmed loyalty transactions.
    pub fn on_poll(&mut self, ctx: C<'_, '_>) {
        let p = &ctx.system().p;
        ctx.set_timer(Timer::Poll, p.consumer_poll_ms);
        self.consumer.on_tick(ctx, p.retry_ms);
        for (&partition, &next) in &self.uncommitted {
            self.consumer.commit(ctx, partition, next);
        }
        let now = ctx.now_ns();
        let db = ctx.system().loyalty_db;
        for batch in self.batches.values_mut() {
            if now.saturating_sub(batch.sent_ns) >= p.retry_ms * 1_000_000 {
                batch.sent_ns = now;
                for event in batch.unconfirmed.values() {
                    ctx.send(
                        db,
                        Msg::DbApply {
                            event: event.clone(),
                        },
                    );
                }
            }
        }
    }

    /// A message: the broker's, or the loyalty database's confirmation.
    pub fn on_message(&mut self, ctx: C<'_, '_>, from: usize, msg: Msg) {
        let msg = match msg {
            Msg::DbApplied { event } => return self.confirmed(ctx, event),
            Msg::Broker(m) => m,
            other => panic!("consumer got {other:?} from {from}"),
        };
        if let BrokerMsg::OffsetCommitted {
            partition,
            offset,
            result: Ok(true),
        } = &msg
        {
            if self
                .uncommitted
                .get(partition)
                .is_some_and(|next| next <= offset)
            {
                self.uncommitted.remove(partition);
            }
        }
        match self.consumer.on_message(ctx, from, msg) {
            Some(Delivery::Assigned(partitions)) => {
                self.batches.clear();
                self.uncommitted.clear();
                let keys = partitions.iter().map(|&p| Value::Int(p as i64)).collect();
                let op = ctx.invoke(Func::Assign, None, Value::List(keys));
                ctx.complete(op, Status::Ok, Value::Nil);
            }
            Some(Delivery::Records {
                partition,
                offset,
                records,
                next,
            }) => self.on_records(ctx, partition, offset, records, next),
            Some(Delivery::Fenced) => {
                self.batches.clear();
                self.uncommitted.clear();
            }
            None => {}
        }
    }

    /// Fetched records: record the poll, apply them, then commit the offset.
    fn on_records(
        &mut self,
        ctx: C<'_, '_>,
        partition: u32,
        offset: u64,
        records: Vec<(u64, Record<Event>)>,
        next: u64,
    ) {
        if next == offset || self.batches.contains_key(&partition) {
            return; // Nothing new, or a re-fetch while the batch is applied.
        }
        if !records.is_empty() {
            record_poll(ctx, partition, &records);
        }
        if records.is_empty() {
            // Every record read was left out (an aborted transaction's): move past them.
            return self.finish_batch(ctx, partition, next);
        }
        let records: Vec<Record<Event>> = records.into_iter().map(|(_, r)| r).collect();
        if ctx.system().bugs.commit_offset_before_apply {
            // The planted bug: the position moves before the effects are durable.
            self.consumer.advance(ctx, partition, next);
            self.uncommitted.insert(partition, next);
        }
        match self.role {
            Role::Shipping => {
                for r in &records {
                    self.apply_replica(ctx, &r.value);
                }
                self.finish_batch(ctx, partition, next);
            }
            Role::Loyalty => {
                let db = ctx.system().loyalty_db;
                let unconfirmed: BTreeMap<u64, Event> =
                    records.into_iter().map(|r| (r.value.id, r.value)).collect();
                for event in unconfirmed.values() {
                    ctx.send(
                        db,
                        Msg::DbApply {
                            event: event.clone(),
                        },
                    );
                }
                let batch = Batch {
                    next,
                    unconfirmed,
                    sent_ns: ctx.now_ns(),
                };
                self.batches.insert(partition, batch);
            }
        }
    }

    /// The loyalty database confirmed an event; a fully confirmed batch commits its offset.
    fn confirmed(&mut self, ctx: C<'_, '_>, event: u64) {
        let done = self.batches.iter_mut().find_map(|(&p, b)| {
            b.unconfirmed.remove(&event);
            b.unconfirmed.is_empty().then_some((p, b.next))
        });
        if let Some((partition, next)) = done {
            self.batches.remove(&partition);
            self.finish_batch(ctx, partition, next);
        }
    }

    fn finish_batch(&mut self, ctx: C<'_, '_>, partition: u32, next: u64) {
        if !ctx.system().bugs.commit_offset_before_apply {
            self.consumer.advance(ctx, partition, next);
            self.uncommitted.insert(partition, next);
        }
    }

    /// The shipping replica: follow the owner's fields (a newer version wins), write the
    /// own `tracking` field, all with the inbox mark in one transaction.
    fn apply_replica(&mut self, ctx: C<'_, '_>, event: &Event) {
        let bugs = ctx.system().bugs;
        let db = self.db.as_mut().expect("shipping has its database");
        let key = event.id.to_string();
        if db.get(INBOX, &key).is_some() && !bugs.non_idempotent_consumer {
            ctx.probe("redelivered_event_ignored");
            return ctx.observe(OutboxObs::Applied {
                group: "shipping",
                event: event.id,
                fresh: false,
            });
        }
        let mut writes = vec![Write::set(INBOX, key, Row::Int(1))];
        let current = match db.get(REPLICA, &event.order) {
            Some(Row::Order(r)) => r.version,
            _ => 0,
        };
        if event.version > current {
            let mut row = OrderRow {
                customer: event.customer.clone(),
                amount: event.amount,
                status: event.change,
                version: event.version,
                paid: matches!(event.change, Change::Pay | Change::Ship) || event.refund,
                currency: event.currency.clone(),
            };
            if bugs.non_owner_write && event.change == Change::Ship {
                // The planted bug: the replica sets a field only the orders service owns.
                row.status = Change::Cancel;
                ctx.observe(OutboxObs::FieldWrite {
                    service: "shipping",
                    field: "status",
                });
            }
            writes.push(Write::set(REPLICA, &event.order, Row::Order(row)));
        }
        if event.change == Change::Ship {
            writes.push(Write::set(
                TRACKING,
                &event.order,
                Row::Int(event.id as i64),
            ));
            ctx.observe(OutboxObs::FieldWrite {
                service: "shipping",
                field: TRACKING,
            });
        }
        db.commit(ctx, writes, true);
        ctx.observe(OutboxObs::Applied {
            group: "shipping",
            event: event.id,
            fresh: true,
        });
    }

    /// Whether it holds nothing unapplied or uncommitted.
    pub fn idle(&self) -> bool {
        self.batches.is_empty() && self.uncommitted.is_empty()
    }

    /// The shipping replica's rows.
    pub fn replica(&self) -> BTreeMap<String, OrderRow> {
        let Some(db) = &self.db else {
            return BTreeMap::new();
        };
        db.rows(REPLICA)
            .filter_map(|(k, v)| match v {
                Row::Order(r) => Some((k.clone(), r.clone())),
                _ => None,
            })
            .collect()
    }

    /// Its consumer: generation and positions.
    pub fn consumer(&self) -> &Consumer {
        &self.consumer
    }

    /// Coverage probes for a crash of this consumer.
    pub fn crash_probes(&self, probes: &mut Vec<&'static str>) {
        if !self.uncommitted.is_empty() || !self.batches.is_empty() {
            probes.push("consumer_crash_between_apply_and_offset_commit");
        }
    }
}

/// A fetch as a queue poll: `[["poll", {partition [[offset id] ...]}]]`.
fn record_poll(ctx: C<'_, '_>, partition: u32, records: &[(u64, Record<Event>)]) {
    let pairs = records
        .iter()
        .map(|(offset, r)| {
            Value::List(vec![
                Value::Int(*offset as i64),
                Value::Int(r.value.id as i64),
            ])
        })
        .collect();
    let polled = Value::Map(vec![(Value::Int(partition as i64), Value::List(pairs))]);
    let input = Value::List(vec![Value::List(vec![Value::Str("poll".into())])]);
    let op = ctx.invoke(Func::Poll, None, input);
    let output = Value::List(vec![Value::List(vec![Value::Str("poll".into()), polled])]);
    ctx.complete(op, Status::Ok, output);
}

/// The loyalty service's database: points per customer, and the inbox.
#[derive(Debug)]
pub struct LoyaltyDb {
    /// Its database.
    pub db: Db<Row>,
}

impl LoyaltyDb {
    /// Boot: recover.
    pub fn boot(ctx: C<'_, '_>) -> Self {
        LoyaltyDb {
            db: Db::recover(ctx),
        }
    }

    /// An instance asks to apply an event: credit points (paid) or take them back
    /// (refunded), with the inbox mark, in one transaction; confirm either way.
    pub fn on_message(&mut self, ctx: C<'_, '_>, from: usize, msg: Msg) {
        let Msg::DbApply { event } = msg else {
            panic!("loyaltydb got {msg:?} from {from}");
        };
        let key = event.id.to_string();
        let duplicate = self.db.get(INBOX, &key).is_some();
        if duplicate && !ctx.system().bugs.non_idempotent_consumer {
            ctx.observe(OutboxObs::Applied {
                group: "loyalty",
                event: event.id,
                fresh: false,
            });
        } else {
            let delta = match event.change {
                Change::Pay => event.amount,
                Change::Cancel if event.refund => -event.amount,
                _ => 0,
            };
            let points = match self.db.get(POINTS, &event.customer) {
                Some(Row::Int(p)) => *p,
                _ => 0,
            };
            let writes = vec![
                Write::set(INBOX, key, Row::Int(1)),
                Write::set(POINTS, &event.customer, Row::Int(points + delta)),
            ];
            self.db.commit(ctx, writes, true);
            ctx.observe(OutboxObs::Applied {
                group: "loyalty",
                event: event.id,
                fresh: true,
            });
        }
        ctx.send(from, Msg::DbApplied { event: event.id });
    }

    /// Points per customer.
    pub fn points(&self) -> BTreeMap<String, i64> {
        self.db
            .rows(POINTS)
            .filter_map(|(k, v)| match v {
                Row::Int(p) => Some((k.clone(), *p)),
                _ => None,
            })
            .collect()
    }
}
