//! The broker's clients: a producer that finds partition leaders and retries, and a
//! consumer that keeps its group membership, fetches and commits offsets.
//!
//! Both follow "not the leader" hints and, when a request gets no answer, try the next
//! replica of the partition after `retry_ms`. A retried produce carries the same producer
//! sequence number, so an idempotent broker recognises it; without one the retry may
//! append the records a second time (at least once).
//!
//! An idempotent producer numbers each partition's records from 0 within its epoch. When a
//! partition refuses a batch as out of sequence (a batch before it was lost: acknowledged
//! by a broker that then lost it), the producer bumps its epoch and sends everything in
//! flight again numbered from 0, under new request ids, as Kafka's producer does since
//! KIP-360; the partition starts the higher epoch over. Answers to the old requests are
//! then ignored.
//!
//! A produce's request id is what its acknowledgement is matched by, so it must never be
//! reused: not after a restart either, when an acknowledgement of the previous
//! incarnation's request with the same number may still arrive (a delayed or replayed
//! packet) and would be taken for the new request's, acknowledging records the broker
//! never got. Ids carry the process's incarnation in their upper 32 bits, as Kafka's
//! correlation ids live on one connection.

use std::collections::BTreeMap;

use super::{
    BrokerHost, Fetched, Hint, Isolation, Msg, ProduceError, ProducerSeq, Record, Refused,
};
use crate::sim::Ctx;

type C<'c, 'a, H> = &'c mut Ctx<'a, H>;

/// A produce waiting for its acknowledgement.
#[derive(Debug, Clone)]
pub struct InFlight<V> {
    /// Partition.
    pub partition: u32,
    /// The records.
    pub records: Vec<Record<V>>,
    /// Idempotence.
    pub producer: Option<ProducerSeq>,
    target: usize,
    sent_ns: u64,
}

/// The producer side.
#[derive(Debug, Clone)]
pub struct Producer<V> {
    leaders: Vec<Option<usize>>,
    /// Produces waiting, by request id.
    pub inflight: BTreeMap<u64, InFlight<V>>,
    next_req: u64,
    /// Producer id and epoch, if idempotent.
    identity: Option<(u64, u32)>,
    seqs: BTreeMap<u32, u64>,
    /// Its produces belong to its transactions (the coordinator hands out its identity).
    transactional: bool,
}

impl<V: Clone> Producer<V> {
    /// A producer for `partitions` partitions; `pid` makes it idempotent (a new id per
    /// producer incarnation, as Kafka assigns them).
    pub fn new(partitions: u32, pid: Option<u64>) -> Self {
        Producer {
            leaders: vec![None; partitions as usize],
            inflight: BTreeMap::new(),
            next_req: 0,
            identity: pid.map(|pid| (pid, 0)),
            seqs: BTreeMap::new(),
            transactional: false,
        }
    }

    /// The producer of a [`super::txn_producer::TxnProducer`]: transactional produces
    /// under the identity its coordinator hands out.
    pub fn transactional(partitions: u32) -> Self {
        Producer {
            transactional: true,
            ..Producer::new(partitions, None)
        }
    }

    /// A new producer id or epoch: sequence numbers start over.
    pub fn set_identity(&mut self, identity: (u64, u32)) {
        self.identity = Some(identity);
        self.seqs.clear();
    }

    /// Whether a produce to `partition` waits for its acknowledgement.
    pub fn busy(&self, partition: u32) -> bool {
        self.inflight.values().any(|f| f.partition == partition)
    }

    /// Send records to a partition; returns the request id.
    pub fn send<H: BrokerHost<Value = V>>(
        &mut self,
        ctx: C<'_, '_, H>,
        partition: u32,
        records: Vec<Record<V>>,
    ) -> u64 {
        let req = self.next_req(ctx);
        let producer = self.sequence(partition, records.len());
        let replicas = &ctx.system().partition_replicas()[partition as usize];
        let target = self.leaders[partition as usize].unwrap_or(replicas[0]);
        let flight = InFlight {
            partition,
            records,
            producer,
            target,
            sent_ns: ctx.now_ns(),
        };
        self.transmit(ctx, req, &flight);
        self.inflight.insert(req, flight);
        req
    }

    /// A request id never used before, not by an earlier incarnation either.
    fn next_req<H: BrokerHost<Value = V>>(&mut self, ctx: C<'_, '_, H>) -> u64 {
        self.next_req += 1;
        assert!(
            self.next_req < 1 << 32,
            "request numbers of one incarnation fit 32 bits"
        );
        (u64::from(ctx.incarnation()) << 32) | self.next_req
    }

    /// The next batch's producer id, epoch and first sequence number in `partition`.
    fn sequence(&mut self, partition: u32, len: usize) -> Option<ProducerSeq> {
        let (pid, epoch) = self.identity?;
        let seq = self.seqs.entry(partition).or_insert(0);
        let first = *seq;
        *seq += len as u64;
        Some(ProducerSeq {
            pid,
            epoch,
            seq: first,
        })
    }

    /// A partition refused a batch as out of sequence: bump the epoch and send everything
    /// in flight again, numbered from 0, under new request ids.
    fn restart_sequences<H: BrokerHost<Value = V>>(&mut self, ctx: C<'_, '_, H>) {
        let Some((pid, epoch)) = self.identity else {
            return;
        };
        self.identity = Some((pid, epoch + 1));
        self.seqs.clear();
        let flights = std::mem::take(&mut self.inflight);
        for (_, mut f) in flights {
            let req = self.next_req(ctx);
            f.producer = self.sequence(f.partition, f.records.len());
            f.sent_ns = ctx.now_ns();
            self.transmit(ctx, req, &f);
            self.inflight.insert(req, f);
        }
    }

    fn transmit<H: BrokerHost<Value = V>>(&self, ctx: C<'_, '_, H>, req: u64, f: &InFlight<V>) {
        let msg = Msg::Produce {
            partition: f.partition,
            req,
            records: f.records.clone(),
            producer: f.producer,
            transactional: self.transactional,
        };
        ctx.send(f.target, H::broker_msg(msg));
    }

    /// An acknowledgement: the finished produce and its first offset, or why the
    /// partition refused it for good (fenced); `None` for a redirect or a sequence gap
    /// (both re-send) and for a stale answer.
    pub fn on_ack<H: BrokerHost<Value = V>>(
        &mut self,
        ctx: C<'_, '_, H>,
        from: usize,
        req: u64,
        result: Result<u64, ProduceError>,
    ) -> Option<(InFlight<V>, Result<u64, Refused>)> {
        let partition = self.inflight.get(&req)?.partition;
        match result {
            Ok(offset) => {
                self.leaders[partition as usize] = Some(from);
                self.inflight.remove(&req).map(|f| (f, Ok(offset)))
            }
            // (A transactional producer's epoch is its coordinator's: the transaction
            // fails instead.)
            Err(ProduceError::Refused(Refused::OutOfOrderSequence { .. }))
                if !self.transactional =>
            {
                ctx.probe("producer_epoch_bumped");
                self.restart_sequences(ctx);
                None
            }
            Err(ProduceError::Refused(fenced)) => {
                self.inflight.remove(&req).map(|f| (f, Err(fenced)))
            }
            Err(ProduceError::NotLeader(hint)) => {
                // Only the replica the produce was last sent to redirects it: a duplicated
                // or late redirect must not fork a second copy of the produce.
                if self.inflight.get(&req)?.target != from {
                    return None;
                }
                let next = next_replica(ctx.system(), partition, from, hint);
                self.leaders[partition as usize] = Some(next);
                let f = self.inflight.get_mut(&req)?;
                f.target = next;
                f.sent_ns = ctx.now_ns();
                let f = f.clone();
                self.transmit(ctx, req, &f);
                None
            }
        }
    }

    /// Re-send produces unanswered for `retry_ms`, to the next replica.
    pub fn on_tick<H: BrokerHost<Value = V>>(&mut self, ctx: C<'_, '_, H>, retry_ms: u64) {
        let now = ctx.now_ns();
        let due: Vec<u64> = self
            .inflight
            .iter()
            .filter(|(_, f)| now.saturating_sub(f.sent_ns) >= retry_ms * 1_000_000)
            .map(|(&r, _)| r)
            .collect();
        for req in due {
            let f = self
                .inflight
                .get_mut(&req)
                .expect("due requests are in flight");
            let replicas = &ctx.system().partition_replicas()[f.partition as usize];
            let pos = replicas.iter().position(|&n| n == f.target).unwrap_or(0);
            f.target = replicas[(pos + 1) % replicas.len()];
            f.sent_ns = now;
            self.leaders[f.partition as usize] = None;
            ctx.probe("produce_retried");
            let f = f.clone();
            self.transmit(ctx, req, &f);
        }
    }
}

/// Where to turn after a "not the leader" from `from`: its hint, or the next replica.
pub fn next_replica<H: BrokerHost>(host: &H, partition: u32, from: usize, hint: Hint) -> usize {
    let replicas = &host.partition_replicas()[partition as usize];
    match hint.filter(|h| replicas.contains(h) && *h != from) {
        Some(h) => h,
        None => {
            replicas[(replicas.iter().position(|&n| n == from).unwrap_or(0) + 1) % replicas.len()]
        }
    }
}

/// A partition a consumer owns.
#[derive(Debug, Clone, Default)]
pub struct Position {
    /// The next offset to fetch (`None` until the committed offset is known).
    pub next: Option<u64>,
    /// A fetch or offset request is out, since (ns).
    pub waiting: Option<u64>,
}

/// What a consumer learned from a broker message.
#[derive(Debug, Clone)]
pub enum Event<V> {
    /// A new generation gave it these partitions (positions start from the committed
    /// offsets).
    Assigned(Vec<u32>),
    /// Records fetched from `partition`, starting at `offset`.
    Records {
        /// The partition they come from.
        partition: u32,
        /// The offset the fetch started at.
        offset: u64,
        /// The records with their offsets, in order (at `read_committed`, aborted
        /// transactions' records are left out).
        records: Vec<(u64, Record<V>)>,
        /// Where the next fetch starts (past the records left out, too).
        next: u64,
    },
    /// The coordinator refused an offset commit: this member's generation is over.
    Fenced,
}

/// The consumer side: group membership, positions, fetching, committing.
#[derive(Debug, Clone)]
pub struct Consumer {
    /// Its group.
    pub group: String,
    /// Its generation (0: none yet).
    pub generation: u64,
    /// Its partitions and positions.
    pub owned: BTreeMap<u32, Position>,
    /// How it reads: uncommitted, or committed transactions only.
    pub isolation: Isolation,
    coordinator: usize,
    leaders: Vec<Option<usize>>,
}

impl Consumer {
    /// A consumer of `group` over `partitions` partitions.
    pub fn new(group: &str, partitions: u32) -> Self {
        Consumer {
            group: group.to_string(),
            generation: 0,
            owned: BTreeMap::new(),
            isolation: Isolation::ReadUncommitted,
            coordinator: 0,
            leaders: vec![None; partitions as usize],
        }
    }

    /// The tick: heartbeat, then fetch (or learn the committed offset of) each owned
    /// partition that waits for nothing — or for too long.
    pub fn on_tick<H: BrokerHost>(&mut self, ctx: C<'_, '_, H>, retry_ms: u64) {
        let host = ctx.system();
        let coordinators = &host.partition_replicas()[0];
        let heartbeat = Msg::Heartbeat {
            group: self.group.clone(),
            member: ctx.node(),
        };
        ctx.send(
            coordinators[self.coordinator % coordinators.len()],
            H::broker_msg(heartbeat),
        );
        let now = ctx.now_ns();
        let fetch_max = host.broker_config().fetch_max;
        for (&partition, pos) in self.owned.iter_mut() {
            if pos
                .waiting
                .is_some_and(|t| now.saturating_sub(t) < retry_ms * 1_000_000)
            {
                continue;
            }
            if pos.waiting.is_some() {
                // No answer: try another replica.
                self.leaders[partition as usize] = None;
                self.coordinator += 1;
            }
            pos.waiting = Some(now);
            let msg = match pos.next {
                None => {
                    let to = coordinators[self.coordinator % coordinators.len()];
                    let group = self.group.clone();
                    // The request's id is when it was sent: unique per partition.
                    let req = now;
                    let msg = Msg::OffsetFetch {
                        req,
                        group,
                        partition,
                    };
                    ctx.send(to, H::broker_msg(msg));
                    continue;
                }
                Some(offset) => Msg::Fetch {
                    req: 0,
                    partition,
                    offset,
                    max: fetch_max,
                    isolation: self.isolation,
                },
            };
            let replicas = &host.partition_replicas()[partition as usize];
            let to = self.leaders[partition as usize].unwrap_or(replicas[0]);
            ctx.send(to, H::broker_msg(msg));
        }
    }

    /// A broker's answer.
    pub fn on_message<H: BrokerHost>(
        &mut self,
        ctx: C<'_, '_, H>,
        from: usize,
        msg: Msg<H::Value>,
    ) -> Option<Event<H::Value>> {
        match msg {
            Msg::Assignment { result } => self.on_assignment(ctx, from, result),
            Msg::OffsetFetched {
                req,
                partition,
                result,
            } => {
                let coordinators = &ctx.system().partition_replicas()[0];
                let pos = self.owned.get_mut(&partition)?;
                if pos.next.is_some() || pos.waiting != Some(req) {
                    return None; // A late answer: the position has moved on since.
                }
                pos.waiting = None;
                match result {
                    // `None`: a transaction's offsets pend; the next tick asks again.
                    Ok(offset) => pos.next = offset,
                    Err(hint) => {
                        self.coordinator = hint_index(coordinators, hint, self.coordinator + 1)
                    }
                }
                None
            }
            Msg::FetchReply {
                partition,
                offset,
                result,
                ..
            } => self.on_fetched(ctx, from, partition, offset, result),
            Msg::OffsetCommitted { result, .. } => match result {
                Ok(true) => None,
                Ok(false) => {
                    ctx.probe("consumer_fenced");
                    self.generation = 0;
                    self.owned.clear();
                    Some(Event::Fenced)
                }
                Err(hint) => {
                    let coordinators = &ctx.system().partition_replicas()[0];
                    self.coordinator = hint_index(coordinators, hint, self.coordinator + 1);
                    None
                }
            },
            other => panic!("consumer got {other:?} from {from}"),
        }
    }

    fn on_assignment<H: BrokerHost>(
        &mut self,
        ctx: C<'_, '_, H>,
        from: usize,
        result: Result<(u64, Vec<u32>), Hint>,
    ) -> Option<Event<H::Value>> {
        let coordinators = &ctx.system().partition_replicas()[0];
        match result {
            Err(hint) => {
                self.coordinator = hint_index(coordinators, hint, self.coordinator + 1);
                None
            }
            Ok((generation, partitions)) => {
                self.coordinator = coordinators.iter().position(|&n| n == from).unwrap_or(0);
                if generation == self.generation {
                    return None;
                }
                // A new generation: every owned partition restarts from its committed
                // offset (another member may have moved it meanwhile).
                self.generation = generation;
                self.owned = partitions
                    .iter()
                    .map(|&p| (p, Position::default()))
                    .collect();
                Some(Event::Assigned(partitions))
            }
        }
    }

    fn on_fetched<H: BrokerHost>(
        &mut self,
        ctx: C<'_, '_, H>,
        from: usize,
        partition: u32,
        offset: u64,
        result: Result<Fetched<H::Value>, Hint>,
    ) -> Option<Event<H::Value>> {
        let pos = self.owned.get_mut(&partition)?;
        if pos.next != Some(offset) {
            return None; // An answer to an older fetch.
        }
        pos.waiting = None;
        match result {
            Ok(Fetched { records, next, .. }) => {
                self.leaders[partition as usize] = Some(from);
                Some(Event::Records {
                    partition,
                    offset,
                    records,
                    next,
                })
            }
            Err(hint) => {
                let next = next_replica(ctx.system(), partition, from, hint);
                self.leaders[partition as usize] = Some(next);
                None
            }
        }
    }

    /// Records up to (not including) `next` are handled: move on, and commit `next` as
    /// the group's position.
    pub fn advance<H: BrokerHost>(&mut self, ctx: C<'_, '_, H>, partition: u32, next: u64) {
        if let Some(pos) = self.owned.get_mut(&partition) {
            pos.next = Some(next);
        }
        self.commit(ctx, partition, next);
    }

    /// Commit `offset` as the group's position in `partition`.
    pub fn commit<H: BrokerHost>(&mut self, ctx: C<'_, '_, H>, partition: u32, offset: u64) {
        let coordinators = &ctx.system().partition_replicas()[0];
        let msg = Msg::OffsetCommit {
            group: self.group.clone(),
            partition,
            offset,
            generation: self.generation,
            member: ctx.node(),
        };
        ctx.send(
            coordinators[self.coordinator % coordinators.len()],
            H::broker_msg(msg),
        );
    }
}

fn hint_index(replicas: &[usize], hint: Hint, otherwise: usize) -> usize {
    hint.and_then(|h| replicas.iter().position(|&n| n == h))
        .unwrap_or(otherwise)
}
