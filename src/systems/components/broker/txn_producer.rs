//! A transactional producer: batches for several partitions written in one transaction,
//! all visible at read-committed or none.
//!
//! One transaction at a time, as Kafka's producer runs them: `InitProducerId` for its
//! transactional id when it has no producer id and epoch (the first time, or after a
//! transaction it gave up on: re-initialising fences the previous instance and aborts
//! whatever it left open), `AddPartitionsToTxn` with every partition of the transaction,
//! the batches as transactional produces (the [`Producer`] finds leaders and retries them
//! under their sequence numbers), then `EndTxn` — commit when every batch is acknowledged,
//! abort when a partition refused one. The epoch `EndTxn` answers is the next
//! transaction's (bumped per transaction under version 2).
//!
//! The outcome is [`Outcome::Committed`] with each partition's first offset,
//! [`Outcome::Aborted`] when it definitely did not commit, or [`Outcome::Unknown`] when the
//! producer gave up waiting (after the transaction timeout): then it forgets its identity,
//! so the next transaction starts with a new instance that fences this one.

use std::collections::BTreeMap;

use super::client::{next_replica, Producer};
use super::{BrokerHost, Msg, Record, TxnError};
use crate::sim::Ctx;

type C<'c, 'a, H> = &'c mut Ctx<'a, H>;

/// How a transaction ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Committed: each partition's batch starts at this offset.
    Committed(BTreeMap<u32, u64>),
    /// Definitely not committed.
    Aborted,
    /// Gave up waiting: it may have committed.
    Unknown,
}

/// What the running transaction waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Idle,
    Init,
    Add,
    Produce,
    End { commit: bool },
}

/// The transactional producer.
#[derive(Debug, Clone)]
pub struct TxnProducer<V> {
    txn_id: String,
    timeout_ms: u64,
    producer: Producer<V>,
    identity: Option<(u64, u32)>,
    phase: Phase,
    /// The coordinator request waited for, and where and when it was sent.
    req: u64,
    next_req: u64,
    coordinator: Option<usize>,
    sent_ns: u64,
    started_ns: u64,
    batches: BTreeMap<u32, Vec<Record<V>>>,
    /// Partitions the running transaction writes, and the first offsets acknowledged.
    writes: usize,
    offsets: BTreeMap<u32, u64>,
    /// The coordinator refused the transaction for good: the tick ends it.
    refused: bool,
}

impl<V: Clone> TxnProducer<V> {
    /// A producer of transactional id `txn_id` over `partitions` partitions; the
    /// coordinator aborts a transaction of it open longer than `timeout_ms`, and the
    /// producer gives up on one after as long.
    pub fn new(txn_id: &str, partitions: u32, timeout_ms: u64) -> Self {
        TxnProducer {
            txn_id: txn_id.to_string(),
            timeout_ms,
            producer: Producer::transactional(partitions),
            identity: None,
            phase: Phase::Idle,
            req: 0,
            next_req: 0,
            coordinator: None,
            sent_ns: 0,
            started_ns: 0,
            batches: BTreeMap::new(),
            writes: 0,
            offsets: BTreeMap::new(),
            refused: false,
        }
    }

    /// Whether no transaction runs.
    pub fn idle(&self) -> bool {
        self.phase == Phase::Idle
    }

    /// Start a transaction writing `batches` (partition → records, none empty).
    pub fn begin<H: BrokerHost<Value = V>>(
        &mut self,
        ctx: C<'_, '_, H>,
        batches: BTreeMap<u32, Vec<Record<V>>>,
    ) {
        assert!(self.idle(), "one transaction at a time");
        assert!(
            !batches.is_empty() && batches.values().all(|b| !b.is_empty()),
            "a transaction writes records"
        );
        self.writes = batches.len();
        self.batches = batches;
        self.offsets.clear();
        self.refused = false;
        self.started_ns = ctx.now_ns();
        self.phase = if self.identity.is_some() {
            Phase::Add
        } else {
            Phase::Init
        };
        self.request(ctx);
    }

    /// Send the coordinator request of the phase, under a new id.
    fn request<H: BrokerHost<Value = V>>(&mut self, ctx: C<'_, '_, H>) {
        self.next_req += 1;
        self.req = (u64::from(ctx.incarnation()) << 32) | self.next_req;
        self.resend(ctx);
    }

    fn resend<H: BrokerHost<Value = V>>(&mut self, ctx: C<'_, '_, H>) {
        let (txn_id, req) = (self.txn_id.clone(), self.req);
        let (pid, epoch) = self.identity.unwrap_or((0, 0));
        let msg = match self.phase {
            Phase::Idle | Phase::Produce => return,
            Phase::Init => Msg::InitPid {
                txn_id,
                req,
                timeout_ms: self.timeout_ms,
            },
            Phase::Add => Msg::AddPartitions {
                txn_id,
                req,
                pid,
                epoch,
                partitions: self.batches.keys().copied().collect(),
            },
            Phase::End { commit } => Msg::EndTxn {
                txn_id,
                req,
                pid,
                epoch,
                commit,
            },
        };
        self.sent_ns = ctx.now_ns();
        let to = self
            .coordinator
            .unwrap_or(ctx.system().partition_replicas()[0][0]);
        ctx.send(to, H::broker_msg(msg));
    }

    /// A broker's answer; the transaction's outcome once it has one.
    pub fn on_message<H: BrokerHost<Value = V>>(
        &mut self,
        ctx: C<'_, '_, H>,
        from: usize,
        msg: Msg<V>,
    ) -> Option<Outcome> {
        match (self.phase, msg) {
            (Phase::Init, Msg::InitPidReply { req, result, .. }) if req == self.req => {
                let identity = self.answered(ctx, from, result)?;
                self.identity = Some(identity);
                self.producer.set_identity(identity);
                self.phase = Phase::Add;
                self.request(ctx);
                None
            }
            (Phase::Add, Msg::AddPartitionsReply { req, result, .. }) if req == self.req => {
                self.answered(ctx, from, result)?;
                self.phase = Phase::Produce;
                for (partition, records) in std::mem::take(&mut self.batches) {
                    self.producer.send(ctx, partition, records);
                }
                None
            }
            (Phase::Produce, Msg::ProduceAck { req, result, .. }) => {
                match self.producer.on_ack(ctx, from, req, result)? {
                    (flight, Ok(offset)) => {
                        self.offsets.insert(flight.partition, offset);
                    }
                    // Refused (fenced, or no longer in the transaction): abort it.
                    (_, Err(_)) => self.producer.inflight.clear(),
                }
                if self.producer.inflight.is_empty() {
                    let commit = self.offsets.len() == self.writes;
                    self.phase = Phase::End { commit };
                    self.request(ctx);
                }
                None
            }
            (Phase::End { commit }, Msg::EndTxnReply { req, result, .. }) if req == self.req => {
                let epoch = self.answered(ctx, from, result)?;
                let (pid, old) = self.identity.expect("a transaction has a producer");
                if epoch != old {
                    self.identity = Some((pid, epoch));
                    self.producer.set_identity((pid, epoch));
                }
                self.phase = Phase::Idle;
                Some(match commit {
                    true => Outcome::Committed(std::mem::take(&mut self.offsets)),
                    false => Outcome::Aborted,
                })
            }
            _ => None, // A late or duplicated answer.
        }
    }

    /// A coordinator's answer: its value, or `None` after following a redirect, waiting
    /// for the tick (busy), or — refused for good — losing the identity, so that the next
    /// transaction starts with a new instance (the tick reports this one's outcome).
    fn answered<T, H: BrokerHost<Value = V>>(
        &mut self,
        ctx: C<'_, '_, H>,
        from: usize,
        result: Result<T, TxnError>,
    ) -> Option<T> {
        match result {
            Ok(value) => {
                self.coordinator = Some(from);
                Some(value)
            }
            Err(TxnError::NotCoordinator(hint)) => {
                self.coordinator = Some(next_replica(ctx.system(), 0, from, hint));
                if hint.is_some() {
                    self.resend(ctx);
                }
                None
            }
            Err(TxnError::Concurrent) => None,
            Err(TxnError::Fenced | TxnError::InvalidState) => {
                // Another instance owns the id, or the coordinator ended the transaction:
                // start over with a new instance; the outcome is decided at the tick.
                self.identity = None;
                self.refused = true;
                None
            }
        }
    }

    /// The tick: re-send what is unanswered; give up on a transaction past its timeout
    /// (or refused for good), reporting its outcome.
    pub fn on_tick<H: BrokerHost<Value = V>>(
        &mut self,
        ctx: C<'_, '_, H>,
        retry_ms: u64,
    ) -> Option<Outcome> {
        if self.idle() {
            return None;
        }
        let now = ctx.now_ns();
        if self.refused || now.saturating_sub(self.started_ns) >= self.timeout_ms * 1_000_000 {
            let outcome = match self.phase {
                // Nothing written yet.
                Phase::Init | Phase::Add => Outcome::Aborted,
                // Refused before it asked to commit: the coordinator aborted it.
                Phase::Produce | Phase::End { commit: false } if self.refused => Outcome::Aborted,
                _ => Outcome::Unknown,
            };
            self.identity = None;
            self.producer.inflight.clear();
            self.batches.clear();
            self.offsets.clear();
            self.phase = Phase::Idle;
            return Some(outcome);
        }
        self.producer.on_tick(ctx, retry_ms);
        if now.saturating_sub(self.sent_ns) >= retry_ms * 1_000_000 {
            let from = self
                .coordinator
                .unwrap_or(ctx.system().partition_replicas()[0][0]);
            self.coordinator = Some(next_replica(ctx.system(), 0, from, None));
            self.resend(ctx);
        }
        None
    }
}
