//! The final read, as Jepsen's Kafka test ends: once the chaos phase is over and every
//! client has heard its last transaction's outcome or given up on it (`op_timeout_ms`
//! later), the first client assigns itself every key and polls every partition from offset 0 at
//! read-committed until it has read each to the end of its log. Recorded as an `:assign`
//! and one `:poll` operation, it shows the queue check every committed value: a value that
//! was acknowledged yet is missing from it was lost, and nothing has to be allowed as
//! merely `unseen`.
//!
//! A partition is read to its end when a fetch's next position reaches the log's end (the
//! high-water mark): at read-committed that needs every transaction on it ended, so the
//! read waits for the last stable offset to catch up. If it never does, the poll stays of
//! unknown outcome and `lso_progress` reports why.

use std::collections::{BTreeMap, BTreeSet};

use super::wire::{Msg, Sent, Timer, KEYS};
use super::Kafka;
use crate::history::{Func, Status, Value};
use crate::sim::Ctx;
use crate::systems::components::broker::client::next_replica;
use crate::systems::components::broker::{Fetched, Hint, Isolation, Msg as B};

type C<'c, 'a> = &'c mut Ctx<'a, Kafka>;

/// The final read in progress.
#[derive(Debug, Clone)]
pub struct Drain {
    /// The id its fetches carry: answers to the transactions' fetches, late, are not its.
    pub req: u64,
    /// Its `:poll` in the history.
    history: usize,
    /// Per partition: where the next fetch starts.
    positions: BTreeMap<u32, u64>,
    /// Partitions read to their end.
    done: BTreeSet<u32>,
    /// Where each partition's leader was last found.
    leaders: BTreeMap<u32, usize>,
    /// What it read: key → [offset, value] pairs.
    polled: BTreeMap<i64, Vec<Value>>,
}

impl Drain {
    /// Record the `:assign` of every key and the `:poll`, and fetch every partition.
    pub fn start(ctx: C<'_, '_>, req: u64) -> Self {
        let keys = (0..KEYS as i64).map(Value::Int).collect();
        let assign = ctx.invoke(Func::Assign, None, Value::List(keys));
        ctx.complete(assign, Status::Ok, Value::Nil);
        let input = Value::List(vec![Value::List(vec![Value::Str("poll".into())])]);
        let history = ctx.invoke(Func::Poll, None, input);
        ctx.probe("final_read_started");
        let partitions = ctx.system().partitions.len() as u32;
        let mut drain = Drain {
            req,
            history,
            positions: (0..partitions).map(|p| (p, 0)).collect(),
            done: BTreeSet::new(),
            leaders: BTreeMap::new(),
            polled: BTreeMap::new(),
        };
        drain.fetch_all(ctx);
        drain
    }

    /// Whether every partition was read to its end (the poll then completed).
    pub fn finished(&self) -> bool {
        self.done.len() == self.positions.len()
    }

    /// The drain's timer: fetch again what is not read to its end.
    pub fn on_timer(&mut self, ctx: C<'_, '_>) {
        if self.finished() {
            return;
        }
        self.fetch_all(ctx);
        ctx.set_timer(Timer::Drain, ctx.system().p.retry_ms);
    }

    fn fetch_all(&mut self, ctx: C<'_, '_>) {
        let left: Vec<u32> = (self.positions.keys())
            .filter(|p| !self.done.contains(p))
            .copied()
            .collect();
        for p in left {
            self.fetch(ctx, p);
        }
    }

    fn fetch(&self, ctx: C<'_, '_>, partition: u32) {
        let replicas = &ctx.system().partitions[partition as usize];
        let to = *self.leaders.get(&partition).unwrap_or(&replicas[0]);
        let msg = B::Fetch {
            req: self.req,
            partition,
            offset: self.positions[&partition],
            max: ctx.system().p.fetch_max as u32,
            isolation: Isolation::ReadCommitted,
        };
        ctx.send(to, Msg::Broker(msg));
    }

    /// A fetch's answer: keep its records, fetch on until the partition's end.
    pub fn on_fetched(
        &mut self,
        ctx: C<'_, '_>,
        from: usize,
        (partition, offset): (u32, u64),
        result: Result<Fetched<Sent>, Hint>,
    ) {
        if self.positions.get(&partition) != Some(&offset) || self.done.contains(&partition) {
            return; // An answer to an earlier fetch.
        }
        let fetched = match result {
            Ok(fetched) => fetched,
            Err(hint) => {
                let next = next_replica(ctx.system(), partition, from, hint);
                self.leaders.insert(partition, next);
                return;
            }
        };
        self.leaders.insert(partition, from);
        for (o, r) in &fetched.records {
            let key: i64 = r.key.parse().expect("keys are numbers");
            let pair = Value::List(vec![Value::Int(*o as i64), Value::Int(r.value)]);
            self.polled.entry(key).or_default().push(pair);
        }
        self.positions.insert(partition, fetched.next);
        if fetched.next >= fetched.end {
            self.done.insert(partition);
            if self.finished() {
                self.complete(ctx);
            }
        } else if !fetched.records.is_empty() || fetched.next > offset {
            // More to read now; an empty answer short of the end waits for the retry.
            self.fetch(ctx, partition);
        }
    }

    fn complete(&mut self, ctx: C<'_, '_>) {
        let map = std::mem::take(&mut self.polled)
            .into_iter()
            .map(|(k, rs)| (Value::Int(k), Value::List(rs)))
            .collect();
        let poll = Value::List(vec![Value::Str("poll".into()), Value::Map(map)]);
        ctx.complete(self.history, Status::Ok, Value::List(vec![poll]));
        ctx.probe("final_read_completed");
    }
}
