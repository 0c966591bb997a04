//! A partition's replicated state: its records, the idempotent producers it knows, the
//! transactions open in it, the aborted-transaction index and the offsets committed to it.
//!
//! Every replica applies the same entries of the partition's Raft log in the same order,
//! so every decision made here — a duplicate recognised, a sequence gap refused, a zombie
//! fenced, a transaction aborted — is made from *replicated* state and survives failover,
//! as Kafka's producer state does (`ProducerStateManager`, rebuilt from the log).
//!
//! **Idempotent producers.** A batch carries its producer id, epoch and the sequence
//! number of its first record in this partition. For the producer's current epoch the
//! partition keeps its last [`BATCHES_CACHED`] batches (first and last sequence number,
//! first offset): a batch equal to one of them is a retry and is acknowledged at its
//! original offset without being appended again; the next batch must start right after
//! the last (`last + 1`), and anything else is refused as [`Refused::OutOfOrderSequence`].
//! A batch of a lower epoch than the partition knows is refused as [`Refused::Fenced`]
//! (a zombie: the producer was re-initialised since). A higher epoch starts over at
//! sequence 0.
//!
//! **Transactions.** A transactional batch opens its producer's transaction in this
//! partition at its first offset, if none is open. A *marker* — a control entry the
//! transaction coordinator writes — ends it: commit makes its records readable at
//! `read_committed`, abort adds `(producer, first, last offset)` to the aborted-transaction
//! index, which `read_committed` fetches filter out. A marker of an epoch lower than the
//! producer's is stale and refused (KIP-890: a delayed marker of an older transaction must
//! not end a newer one). The **last stable offset** (LSO) is the first offset of the
//! earliest open transaction, or the end of the log: `read_committed` reads stop there.
//!
//! Offsets are record indices: a marker is a replicated entry of its own but takes no
//! offset here (Kafka gives its control records an offset, which readers skip; the gap
//! carries no information a reader could act on).

use std::collections::{BTreeMap, VecDeque};
use std::fmt::Debug;
use std::hash::Hash;

use super::coordinator::{TxnLog, TxnMeta};
use super::Record;
use super::TxnBugs;
use crate::systems::components::raft::{self, StateMachine};

/// Batches per producer remembered for recognising retries (Kafka's
/// `NUM_BATCHES_TO_RETAIN`, the most a producer may have in flight per partition).
pub const BATCHES_CACHED: usize = 5;

/// A producer's identity and the sequence number of a batch's first record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProducerSeq {
    /// Producer id.
    pub pid: u64,
    /// Producer epoch: a re-initialised producer has a higher one and fences the lower.
    pub epoch: u32,
    /// Sequence number of the batch's first record in this partition (per epoch).
    pub seq: u64,
}

/// A batch the partition remembers for a producer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Batch {
    /// Sequence number of its first record.
    pub first_seq: u64,
    /// Sequence number of its last record.
    pub last_seq: u64,
    /// Offset of its first record.
    pub first_offset: u64,
}

/// What a partition knows of one producer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ProducerState {
    /// Its current epoch.
    pub epoch: u32,
    /// Its last batches of this epoch, oldest first (at most [`BATCHES_CACHED`]).
    pub batches: VecDeque<Batch>,
    /// Its open transaction in this partition, if one is open: its first offset and the
    /// epoch its batches carry.
    pub open_txn: Option<(u64, u32)>,
    /// Markers applied here for it. A verification names the count it saw: a marker
    /// applied since voids it (the transaction it verified may be the one that ended).
    pub markers: u64,
}

/// Why a batch was not appended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Refused {
    /// Its sequence number is not the next one (a batch before it is missing).
    OutOfOrderSequence {
        /// The sequence number the partition expected.
        expected: u64,
        /// The batch's.
        got: u64,
    },
    /// Its epoch is lower than the producer's current one: a zombie.
    Fenced {
        /// The producer's current epoch.
        current: u32,
    },
    /// A transactional batch would open a transaction here that the coordinator did not
    /// verify as the producer's ongoing one holding this partition (KIP-890 part 1), or a
    /// marker ended the transaction since the verification.
    NotInTransaction,
}

/// How a fetch reads a partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Isolation {
    /// Up to the high-water mark, records of open and aborted transactions included.
    #[default]
    ReadUncommitted,
    /// Up to the last stable offset, records of aborted transactions left out.
    ReadCommitted,
}

/// What a partition's log replicates.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Payload<V> {
    /// A new leader's first entry.
    Noop,
    /// Records appended (offsets follow the log's order).
    Append {
        /// The batch's records, in order.
        records: Vec<Record<V>>,
        /// The idempotent producer and the batch's sequence number, if any.
        producer: Option<ProducerSeq>,
        /// Part of the producer's transaction (then `producer` is set).
        transactional: bool,
        /// A transactional batch that opens its transaction here: the count of the
        /// producer's markers this partition had applied when the coordinator verified the
        /// transaction holds it (`None`: not verified — it may only join a transaction
        /// already open here).
        verified: Option<u64>,
    },
    /// A transaction marker: the producer's transaction in this partition ends.
    Marker {
        /// The producer.
        pid: u64,
        /// The epoch the coordinator ends it with.
        epoch: u32,
        /// The epoch the transaction's batches carry: a marker ends only that transaction
        /// (a marker delivered twice, or late, must not end the producer's next one).
        ran: u32,
        /// Commit (else abort).
        commit: bool,
    },
    /// A transactional id's new metadata (partition 0: the transaction coordinator's log).
    Txn {
        /// The transactional id.
        id: String,
        /// Its metadata after the transition.
        meta: TxnMeta,
    },
    /// A transaction's positions of a consumer group (`TxnOffsetCommit`, partition 0):
    /// pending until the transaction's marker reaches partition 0, then committed with it
    /// or dropped.
    TxnOffsets {
        /// The transaction's producer.
        pid: u64,
        /// The epoch the transaction runs with (its marker names it).
        epoch: u32,
        /// The consumer group.
        group: String,
        /// Partition → the next offset the group will consume.
        offsets: Vec<(u32, u64)>,
    },
    /// A consumer group's committed position in a partition (partition 0 stores them all).
    Offset {
        /// The consumer group.
        group: String,
        /// The partition the position is in.
        partition: u32,
        /// The next offset the group will consume.
        offset: u64,
    },
}

/// An aborted transaction's records in this partition (Kafka's aborted-transaction index).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Aborted {
    /// The producer.
    pub pid: u64,
    /// The transaction's first offset here.
    pub first: u64,
    /// Its last offset here.
    pub last: u64,
}

/// A consumer group's positions sent to a producer's open transaction.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PendingOffsets {
    /// The epoch the transaction runs with.
    pub epoch: u32,
    /// The consumer group.
    pub group: String,
    /// Partition → the next offset the group will consume.
    pub offsets: BTreeMap<u32, u64>,
}

/// A partition's state.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PartitionLog<V> {
    /// Records; a record's offset is its index.
    pub records: Vec<Record<V>>,
    /// Idempotent producers by id.
    pub producers: BTreeMap<u64, ProducerState>,
    /// Transactional batches: first offset → (producer, records).
    pub txn_batches: BTreeMap<u64, (u64, u64)>,
    /// Aborted transactions by (producer, first offset).
    pub aborted: BTreeMap<(u64, u64), Aborted>,
    /// Committed offsets per (group, partition).
    pub offsets: BTreeMap<(String, u32), u64>,
    /// Offsets sent to open transactions, by producer (partition 0).
    pub pending_offsets: BTreeMap<u64, PendingOffsets>,
    /// Transactional ids (partition 0: the transaction coordinator's state).
    pub coordinator: TxnLog,
    /// Entries applied.
    pub applied: u64,
    /// Digest chain over applied entries.
    pub chain: u64,
}

impl<V> Default for PartitionLog<V> {
    fn default() -> Self {
        PartitionLog {
            records: Vec::new(),
            producers: BTreeMap::new(),
            txn_batches: BTreeMap::new(),
            aborted: BTreeMap::new(),
            offsets: BTreeMap::new(),
            pending_offsets: BTreeMap::new(),
            coordinator: TxnLog::default(),
            applied: 0,
            chain: 0,
        }
    }
}

impl<V: Clone + Debug + PartialEq + Eq + Hash + Send + 'static> StateMachine for PartitionLog<V> {
    type Payload = Payload<V>;
    fn noop() -> Payload<V> {
        Payload::Noop
    }
    fn applied(&self) -> u64 {
        self.applied
    }
    fn chain(&self) -> u64 {
        self.chain
    }
}

/// What applying an entry yields.
#[derive(Debug, Clone, Copy, Default)]
pub struct Effects {
    /// First offset of an appended batch (also of a batch recognised as a retry).
    pub first_offset: Option<u64>,
    /// The batch was a retry of one already appended (idempotent producer).
    pub duplicate: bool,
    /// The batch was refused.
    pub refused: Option<Refused>,
}

/// What a fetch returns: records with their offsets, and where the next fetch starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched<V> {
    /// The records read, with their offsets, in order.
    pub records: Vec<(u64, Record<V>)>,
    /// The offset after the range read (past records left out as aborted, too).
    pub next: u64,
    /// The end of the partition's log (its high-water mark): a reader that reached it has
    /// read everything (at read-committed, once no transaction is open).
    pub end: u64,
}

impl<V: Clone + Hash> PartitionLog<V> {
    /// Apply entry `index`.
    pub fn apply(&mut self, index: u64, payload: &Payload<V>) -> Effects {
        self.apply_with(index, payload, &TxnBugs::default())
    }

    /// Apply entry `index` with the transaction protocol's planted `bugs` switched on
    /// (`no-sequence-check`: producers' sequence numbers are not checked, so a retried
    /// batch is appended again; `txn-offsets-applied-early`: a transaction's offsets take
    /// effect when sent, before it commits).
    pub fn apply_with(&mut self, index: u64, payload: &Payload<V>, bugs: &TxnBugs) -> Effects {
        let sequences = !bugs.no_sequence_check;
        assert_eq!(
            index,
            self.applied + 1,
            "entries apply in order without gaps"
        );
        self.applied = index;
        self.chain = raft::chain(self.chain, payload);
        match payload {
            Payload::Noop => Effects::default(),
            Payload::Append {
                records,
                producer,
                transactional,
                verified,
            } => {
                let txn = transactional.then_some(*verified);
                self.append(
                    records,
                    *producer,
                    txn,
                    (sequences, !bugs.no_partition_verification),
                )
            }
            Payload::Marker {
                pid,
                epoch,
                ran,
                commit,
            } => {
                self.mark(*pid, (*epoch, *ran), *commit);
                Effects::default()
            }
            Payload::Txn { id, meta } => {
                self.coordinator.apply(id, meta);
                Effects::default()
            }
            Payload::TxnOffsets {
                pid,
                epoch,
                group,
                offsets,
            } => {
                self.txn_offsets(
                    (*pid, *epoch),
                    group,
                    offsets,
                    bugs.txn_offsets_applied_early,
                );
                Effects::default()
            }
            Payload::Offset {
                group,
                partition,
                offset,
            } => {
                self.commit_offset(group, *partition, *offset);
                Effects::default()
            }
        }
    }

    /// A transaction's offsets for `group`: pending until its marker (or, under the
    /// planted bug `early`, committed at once).
    fn txn_offsets(
        &mut self,
        (pid, epoch): (u64, u32),
        group: &str,
        offsets: &[(u32, u64)],
        early: bool,
    ) {
        if early {
            for &(partition, offset) in offsets {
                self.commit_offset(group, partition, offset);
            }
            return;
        }
        let pending = (self.pending_offsets)
            .entry(pid)
            .or_insert_with(|| PendingOffsets {
                epoch,
                group: group.to_string(),
                offsets: BTreeMap::new(),
            });
        if pending.epoch != epoch || pending.group != group {
            // The coordinator only takes offsets of the producer's open transaction, and a
            // marker ends each before the next opens.
            panic!("offsets of {pid} epoch {epoch} for {group} while {pending:?} pends");
        }
        pending.offsets.extend(offsets.iter().copied());
    }

    /// Append a batch. `txn`: transactional, with its verification if it has one;
    /// `(sequences, verify)`: check sequence numbers, check that a transaction opened here
    /// was verified (each off under its planted bug).
    fn append(
        &mut self,
        records: &[Record<V>],
        producer: Option<ProducerSeq>,
        txn: Option<Option<u64>>,
        (sequences, verify): (bool, bool),
    ) -> Effects {
        let transactional = txn.is_some();
        assert!(
            !transactional || producer.is_some(),
            "a transactional batch has a producer"
        );
        assert!(!records.is_empty(), "a batch holds records");
        let first = self.records.len() as u64;
        if let Some(p) = producer {
            if let (Some(verified), true) = (txn, verify) {
                if let Err(refused) = self.verification(p, verified) {
                    return Effects {
                        refused: Some(refused),
                        ..Effects::default()
                    };
                }
            }
            match self.sequence(p, records.len() as u64, sequences) {
                Ok(None) => {}
                Ok(Some(offset)) => {
                    return Effects {
                        first_offset: Some(offset),
                        duplicate: true,
                        refused: None,
                    }
                }
                Err(refused) => {
                    return Effects {
                        refused: Some(refused),
                        ..Effects::default()
                    }
                }
            }
            let state = self.producers.get_mut(&p.pid).expect("sequence() made it");
            if state.batches.len() == BATCHES_CACHED {
                state.batches.pop_front();
            }
            state.batches.push_back(Batch {
                first_seq: p.seq,
                last_seq: p.seq + records.len() as u64 - 1,
                first_offset: first,
            });
            if transactional {
                state.open_txn.get_or_insert((first, p.epoch));
                self.txn_batches
                    .insert(first, (p.pid, records.len() as u64));
            }
        }
        self.records.extend(records.iter().cloned());
        Effects {
            first_offset: Some(first),
            duplicate: false,
            refused: None,
        }
    }

    /// Whether a transactional batch may be appended: it joins the producer's transaction
    /// open here, or opens one the coordinator verified with no marker applied since.
    /// A zombie's batch is left to the epoch check, which names the current epoch.
    fn verification(&self, p: ProducerSeq, verified: Option<u64>) -> Result<(), Refused> {
        if !self.opens_txn(p.pid, p.epoch) || verified == Some(self.markers_of(p.pid)) {
            return Ok(());
        }
        Err(Refused::NotInTransaction)
    }

    /// Whether a transactional batch of `(pid, epoch)` would open the producer's
    /// transaction here: none of that epoch is open, and the producer is no zombie (the
    /// epoch check refuses those, naming the current epoch).
    pub fn opens_txn(&self, pid: u64, epoch: u32) -> bool {
        self.producers
            .get(&pid)
            .is_none_or(|s| epoch >= s.epoch && s.open_txn.is_none_or(|(_, e)| e != epoch))
    }

    /// Markers applied here for producer `pid` (what a verification names).
    pub fn markers_of(&self, pid: u64) -> u64 {
        self.producers.get(&pid).map_or(0, |s| s.markers)
    }

    /// Check a producer's batch of `len` records: `Ok(None)` to append it, `Ok(Some(offset))`
    /// for a retry of a batch already at `offset`, or why it is refused.
    /// Without `check` (the planted bug) only epochs are checked.
    fn sequence(&mut self, p: ProducerSeq, len: u64, check: bool) -> Result<Option<u64>, Refused> {
        let state = self.producers.entry(p.pid).or_default();
        if p.epoch < state.epoch {
            return Err(Refused::Fenced {
                current: state.epoch,
            });
        }
        if p.epoch > state.epoch {
            // A new epoch starts its sequence over; its transaction state carries over
            // (the coordinator ends an open transaction with a marker of the new epoch).
            if p.seq != 0 {
                return Err(Refused::OutOfOrderSequence {
                    expected: 0,
                    got: p.seq,
                });
            }
            state.epoch = p.epoch;
            state.batches.clear();
            return Ok(None);
        }
        if !check {
            return Ok(None);
        }
        if let Some(b) = state.batches.iter().find(|b| b.first_seq == p.seq) {
            assert_eq!(
                b.last_seq + 1 - b.first_seq,
                len,
                "a retried batch holds the records it held"
            );
            return Ok(Some(b.first_offset));
        }
        let expected = state.batches.back().map_or(0, |b| b.last_seq + 1);
        if p.seq != expected {
            return Err(Refused::OutOfOrderSequence {
                expected,
                got: p.seq,
            });
        }
        Ok(None)
    }

    /// A consumer group's position in `partition` moves to `offset`.
    fn commit_offset(&mut self, group: &str, partition: u32, offset: u64) {
        let at = self
            .offsets
            .entry((group.to_string(), partition))
            .or_insert(0);
        // Offsets only move forward: a late commit of an older position is moot.
        *at = (*at).max(offset);
    }

    /// Whether a transaction's offsets for `group` in `partition` wait for its marker
    /// (a fetch of the committed offset must wait too: KIP-447's stable offsets).
    pub fn offsets_pending(&self, group: &str, partition: u32) -> bool {
        (self.pending_offsets.values())
            .any(|p| p.group == group && p.offsets.contains_key(&partition))
    }

    /// A transaction marker: end `pid`'s open transaction here, unless the marker is stale.
    fn mark(&mut self, pid: u64, (epoch, ran): (u32, u32), commit: bool) {
        let end = self.records.len() as u64;
        let state = self.producers.entry(pid).or_default();
        state.markers += 1;
        if epoch < state.epoch {
            return; // A delayed marker of an older transaction.
        }
        if epoch > state.epoch {
            // The coordinator bumped the epoch: its sequence numbers start over, and a
            // batch of the new epoch must never be taken for a retry of an old one.
            state.epoch = epoch;
            state.batches.clear();
        }
        if self
            .pending_offsets
            .get(&pid)
            .is_some_and(|p| p.epoch == ran)
        {
            let pending = self.pending_offsets.remove(&pid).expect("just seen");
            if commit {
                for (partition, offset) in pending.offsets {
                    self.commit_offset(&pending.group, partition, offset);
                }
            }
        }
        let state = self.producers.get_mut(&pid).expect("made above");
        let Some((first, _)) = state.open_txn.filter(|&(_, e)| e == ran) else {
            // Nothing open here (a coordinator re-sent a marker already written), or a
            // newer transaction is open: this marker is not its.
            return;
        };
        state.open_txn = None;
        if !commit {
            assert!(end > first, "an open transaction holds records");
            self.aborted.insert(
                (pid, first),
                Aborted {
                    pid,
                    first,
                    last: end - 1,
                },
            );
        }
    }

    /// The last stable offset: the first offset of the earliest open transaction, or the
    /// end of the log.
    pub fn last_stable_offset(&self) -> u64 {
        (self.producers.values())
            .filter_map(|p| p.open_txn.map(|(first, _)| first))
            .min()
            .unwrap_or(self.records.len() as u64)
    }

    /// Whether the record at `offset` belongs to an aborted transaction.
    pub fn is_aborted(&self, offset: u64) -> bool {
        let Some((&first, &(pid, len))) = self.txn_batches.range(..=offset).next_back() else {
            return false;
        };
        if offset >= first + len {
            return false; // Not a transactional record.
        }
        (self.aborted.range((pid, 0)..=(pid, offset)).next_back())
            .is_some_and(|(_, a)| a.last >= offset)
    }

    /// Up to `max` records from `offset`, read with `isolation`.
    pub fn read(&self, offset: u64, max: u32, isolation: Isolation) -> Fetched<V> {
        let end = match isolation {
            Isolation::ReadUncommitted => self.records.len() as u64,
            Isolation::ReadCommitted => self.last_stable_offset(),
        };
        let next = (offset.saturating_add(u64::from(max))).min(end).max(offset);
        let records = (offset..next)
            .filter(|&o| isolation == Isolation::ReadUncommitted || !self.is_aborted(o))
            .map(|o| (o, self.records[o as usize].clone()))
            .collect();
        Fetched {
            records,
            next,
            end: self.records.len() as u64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Log = PartitionLog<u32>;

    fn rec(v: u32) -> Record<u32> {
        Record {
            key: "k".into(),
            value: v,
        }
    }

    fn batch(values: &[u32], pid: u64, epoch: u32, seq: u64, txn: bool) -> Payload<u32> {
        Payload::Append {
            records: values.iter().map(|&v| rec(v)).collect(),
            producer: Some(ProducerSeq { pid, epoch, seq }),
            transactional: txn,
            verified: None,
        }
    }

    /// Apply `p`, a transactional batch verified by the coordinator just now (as a correct
    /// partition leader appends one).
    fn apply(log: &mut Log, mut p: Payload<u32>) -> Effects {
        if let Payload::Append {
            producer: Some(q),
            transactional: true,
            verified,
            ..
        } = &mut p
        {
            *verified = Some(log.producers.get(&q.pid).map_or(0, |s| s.markers));
        }
        log.apply(log.applied + 1, &p)
    }

    #[test]
    fn a_transaction_opens_here_only_as_verified_with_no_marker_since() {
        let mut log = Log::default();
        // Not verified: refused, nothing appended.
        let unverified = log.apply(1, &batch(&[1], 7, 0, 0, true));
        assert_eq!(unverified.refused, Some(Refused::NotInTransaction));
        assert!(log.records.is_empty());
        // Verified with no marker seen: it opens; the next batch joins without one.
        let mut opens = batch(&[1], 7, 0, 0, true);
        let Payload::Append { verified, .. } = &mut opens else {
            unreachable!()
        };
        *verified = Some(0);
        assert_eq!(log.apply(2, &opens).first_offset, Some(0));
        assert_eq!(
            log.apply(3, &batch(&[2], 7, 0, 1, true)).first_offset,
            Some(1)
        );
        // The transaction aborts (TV1: the marker keeps the epoch). A late batch of it,
        // verified before the marker, must not open a transaction nobody will end.
        let marker = Payload::Marker {
            pid: 7,
            epoch: 0,
            ran: 0,
            commit: false,
        };
        log.apply(4, &marker);
        let mut late = batch(&[3], 7, 0, 2, true);
        let Payload::Append { verified, .. } = &mut late else {
            unreachable!()
        };
        *verified = Some(0);
        assert_eq!(log.apply(5, &late).refused, Some(Refused::NotInTransaction));
        assert_eq!(log.last_stable_offset(), 2, "nothing holds the LSO");
        // The planted bug `no-partition-verification` appends it: the LSO hangs there.
        let bugs = TxnBugs {
            no_partition_verification: true,
            ..TxnBugs::default()
        };
        assert_eq!(log.apply_with(6, &late, &bugs).first_offset, Some(2));
        assert_eq!(log.last_stable_offset(), 2);
        assert_eq!(
            log.apply(7, &batch(&[4], 8, 0, 0, false)).first_offset,
            Some(3)
        );
        assert_eq!(
            log.last_stable_offset(),
            2,
            "the hanging transaction pins the LSO"
        );
    }

    fn values(f: &Fetched<u32>) -> Vec<(u64, u32)> {
        f.records.iter().map(|(o, r)| (*o, r.value)).collect()
    }

    #[test]
    fn a_retried_batch_is_acknowledged_where_it_is() {
        let mut log = Log::default();
        assert_eq!(
            apply(&mut log, batch(&[1, 2], 7, 0, 0, false)).first_offset,
            Some(0)
        );
        assert_eq!(
            apply(&mut log, batch(&[3], 7, 0, 2, false)).first_offset,
            Some(2)
        );
        let retry = apply(&mut log, batch(&[1, 2], 7, 0, 0, false));
        assert_eq!((retry.first_offset, retry.duplicate), (Some(0), true));
        assert_eq!(log.records.len(), 3, "nothing appended twice");
    }

    fn offsets(pid: u64, epoch: u32, at: &[(u32, u64)]) -> Payload<u32> {
        Payload::TxnOffsets {
            pid,
            epoch,
            group: "g".into(),
            offsets: at.to_vec(),
        }
    }

    fn marker(pid: u64, epoch: u32, ran: u32, commit: bool) -> Payload<u32> {
        Payload::Marker {
            pid,
            epoch,
            ran,
            commit,
        }
    }

    #[test]
    fn a_transactions_offsets_take_effect_with_its_commit_marker_only() {
        let mut log = Log::default();
        apply(&mut log, offsets(7, 0, &[(1, 5), (2, 9)]));
        assert!(log.offsets_pending("g", 1) && log.offsets_pending("g", 2));
        assert!(!log.offsets_pending("g", 0) && !log.offsets_pending("h", 1));
        assert!(
            log.offsets.is_empty(),
            "nothing committed before the marker"
        );
        apply(&mut log, marker(7, 1, 0, true));
        assert_eq!(log.offsets.get(&("g".into(), 1)), Some(&5));
        assert_eq!(log.offsets.get(&("g".into(), 2)), Some(&9));
        assert!(!log.offsets_pending("g", 1));
        // The next transaction (epoch 1) aborts: its offsets are dropped.
        apply(&mut log, offsets(7, 1, &[(1, 8)]));
        apply(&mut log, marker(7, 0, 0, false)); // A stale marker: nothing happens.
        assert!(log.offsets_pending("g", 1));
        apply(&mut log, marker(7, 2, 1, false));
        assert_eq!(log.offsets.get(&("g".into(), 1)), Some(&5), "abort keeps 5");
        assert!(!log.offsets_pending("g", 1));
    }

    #[test]
    fn the_planted_bug_applies_a_transactions_offsets_before_it_commits() {
        let mut log = Log::default();
        let bugs = TxnBugs {
            txn_offsets_applied_early: true,
            ..TxnBugs::default()
        };
        log.apply_with(1, &offsets(7, 0, &[(1, 5)]), &bugs);
        assert!(!log.offsets_pending("g", 1));
        log.apply_with(2, &marker(7, 1, 0, false), &bugs);
        assert_eq!(
            log.offsets.get(&("g".into(), 1)),
            Some(&5),
            "the abort is moot"
        );
    }

    #[test]
    fn without_the_sequence_check_a_retry_is_appended_again() {
        let mut log = Log::default();
        let bugs = TxnBugs {
            no_sequence_check: true,
            ..TxnBugs::default()
        };
        log.apply_with(1, &batch(&[1, 2], 7, 0, 0, false), &bugs);
        let retry = log.apply_with(2, &batch(&[1, 2], 7, 0, 0, false), &bugs);
        assert_eq!((retry.first_offset, retry.duplicate), (Some(2), false));
        assert_eq!(log.records.len(), 4, "the planted bug duplicates");
        let stale = log.apply_with(3, &batch(&[3], 7, 1, 0, false), &bugs);
        assert_eq!(stale.first_offset, Some(4), "a new epoch starts over");
        let fenced = log.apply_with(4, &batch(&[4], 7, 0, 9, false), &bugs);
        assert_eq!(fenced.refused, Some(Refused::Fenced { current: 1 }));
    }

    #[test]
    fn a_sequence_gap_is_refused() {
        let mut log = Log::default();
        apply(&mut log, batch(&[1], 7, 0, 0, false));
        let gap = apply(&mut log, batch(&[3], 7, 0, 2, false));
        assert_eq!(
            gap.refused,
            Some(Refused::OutOfOrderSequence {
                expected: 1,
                got: 2
            })
        );
        assert_eq!(gap.first_offset, None);
        assert_eq!(log.records.len(), 1);
        // A first batch must start at 0.
        let first = apply(&mut log, batch(&[9], 8, 0, 4, false));
        assert!(matches!(
            first.refused,
            Some(Refused::OutOfOrderSequence { .. })
        ));
    }

    #[test]
    fn a_lower_epoch_is_fenced_and_a_higher_one_starts_over() {
        let mut log = Log::default();
        apply(&mut log, batch(&[1], 7, 0, 0, false));
        assert_eq!(
            apply(&mut log, batch(&[2], 7, 1, 0, false)).first_offset,
            Some(1)
        );
        let zombie = apply(&mut log, batch(&[3], 7, 0, 1, false));
        assert_eq!(zombie.refused, Some(Refused::Fenced { current: 1 }));
        let jump = apply(&mut log, batch(&[4], 7, 2, 5, false));
        assert!(matches!(
            jump.refused,
            Some(Refused::OutOfOrderSequence { .. })
        ));
        assert_eq!(log.records.len(), 2);
    }

    #[test]
    fn only_the_last_five_batches_are_recognised() {
        let mut log = Log::default();
        for i in 0..7 {
            apply(&mut log, batch(&[i], 7, 0, i as u64, false));
        }
        assert!(apply(&mut log, batch(&[2], 7, 0, 2, false)).duplicate);
        let old = apply(&mut log, batch(&[1], 7, 0, 1, false));
        assert!(matches!(
            old.refused,
            Some(Refused::OutOfOrderSequence { .. })
        ));
    }

    #[test]
    fn an_open_transaction_holds_the_last_stable_offset() {
        let mut log = Log::default();
        apply(&mut log, batch(&[1], 1, 0, 0, false));
        apply(&mut log, batch(&[2, 3], 7, 0, 0, true));
        apply(&mut log, batch(&[4], 1, 0, 1, false));
        assert_eq!(log.last_stable_offset(), 1);
        let committed = log.read(0, 10, Isolation::ReadCommitted);
        assert_eq!(values(&committed), [(0, 1)]);
        assert_eq!(committed.next, 1, "nothing past the open transaction");
        assert_eq!(log.read(0, 10, Isolation::ReadUncommitted).records.len(), 4);
        apply(
            &mut log,
            Payload::Marker {
                pid: 7,
                epoch: 0,
                ran: 0,
                commit: true,
            },
        );
        assert_eq!(log.last_stable_offset(), 4);
        let all = log.read(1, 10, Isolation::ReadCommitted);
        assert_eq!(values(&all), [(1, 2), (2, 3), (3, 4)]);
        assert_eq!(all.next, 4);
    }

    #[test]
    fn an_aborted_transaction_is_left_out_at_read_committed() {
        let mut log = Log::default();
        apply(&mut log, batch(&[1, 2], 7, 0, 0, true));
        apply(&mut log, batch(&[5], 1, 0, 0, false));
        apply(&mut log, batch(&[3], 7, 0, 2, true));
        apply(
            &mut log,
            Payload::Marker {
                pid: 7,
                epoch: 0,
                ran: 0,
                commit: false,
            },
        );
        assert_eq!(log.aborted.len(), 1);
        assert_eq!(
            log.aborted[&(7, 0)],
            Aborted {
                pid: 7,
                first: 0,
                last: 3
            }
        );
        let read = log.read(0, 10, Isolation::ReadCommitted);
        assert_eq!(values(&read), [(2, 5)], "the other producer's record stays");
        assert_eq!(read.next, 4, "the reader moves past the aborted records");
        // The producer's next transaction is readable once committed.
        apply(&mut log, batch(&[6], 7, 0, 3, true));
        apply(
            &mut log,
            Payload::Marker {
                pid: 7,
                epoch: 0,
                ran: 0,
                commit: true,
            },
        );
        assert_eq!(values(&log.read(4, 10, Isolation::ReadCommitted)), [(4, 6)]);
        assert!(log.is_aborted(3) && !log.is_aborted(4) && !log.is_aborted(2));
    }

    #[test]
    fn a_marker_of_a_higher_epoch_starts_the_sequence_over() {
        let mut log = Log::default();
        apply(&mut log, batch(&[1], 7, 0, 0, true));
        // The transaction ends with the epoch bumped (KIP-890): the producer's next
        // transaction starts at sequence 0, which is not a retry of the first batch.
        apply(
            &mut log,
            Payload::Marker {
                pid: 7,
                epoch: 1,
                ran: 0,
                commit: true,
            },
        );
        let next = apply(&mut log, batch(&[2], 7, 1, 0, true));
        assert_eq!((next.first_offset, next.duplicate), (Some(1), false));
        assert_eq!(log.records.len(), 2);
        // The same marker delivered again does not end the new transaction.
        apply(
            &mut log,
            Payload::Marker {
                pid: 7,
                epoch: 1,
                ran: 0,
                commit: true,
            },
        );
        assert_eq!(log.producers[&7].open_txn, Some((1, 1)));
        assert_eq!(log.last_stable_offset(), 1);
    }

    #[test]
    fn a_stale_marker_does_not_end_a_newer_transaction() {
        let mut log = Log::default();
        apply(&mut log, batch(&[1], 7, 1, 0, true));
        // A delayed abort of epoch 0's transaction arrives while epoch 1's is open.
        apply(
            &mut log,
            Payload::Marker {
                pid: 7,
                epoch: 0,
                ran: 0,
                commit: false,
            },
        );
        assert_eq!(log.producers[&7].open_txn, Some((0, 1)));
        assert!(log.aborted.is_empty());
        // A marker repeated by a new coordinator after the end changes nothing.
        apply(
            &mut log,
            Payload::Marker {
                pid: 7,
                epoch: 1,
                ran: 1,
                commit: true,
            },
        );
        apply(
            &mut log,
            Payload::Marker {
                pid: 7,
                epoch: 1,
                ran: 1,
                commit: false,
            },
        );
        assert!(log.aborted.is_empty());
        assert_eq!(log.last_stable_offset(), 1);
    }
}
