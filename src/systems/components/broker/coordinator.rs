//! The transaction coordinator's replicated state and its decisions.
//!
//! Kafka keeps each `transactional.id`'s metadata — producer id, epoch, state, the
//! partitions its open transaction wrote to — in a replicated topic partition, and the
//! leader of that partition is the id's coordinator. Here partition 0's log holds it
//! (partition 0's leader is already the consumer groups' coordinator): every transition is
//! a [`super::Payload::Txn`] entry carrying the id's whole new metadata, so a new leader
//! knows every transaction's state once its log is applied.
//!
//! The states, as Kafka's `TransactionState`:
//!
//! ```text
//! Empty ──AddPartitions──▶ Ongoing ──EndTxn──▶ PrepareCommit ──markers written──▶ CompleteCommit
//!                             │                PrepareAbort  ──markers written──▶ CompleteAbort
//!                             └─InitProducerId / timeout──▶ PrepareAbort (epoch bumped)
//! ```
//!
//! `InitProducerId` gives a new id a fresh producer id, and an id seen before its epoch
//! plus one: the previous instance (a zombie) is fenced — its produces, its `EndTxn` and
//! its markers carry the old epoch. An open transaction is aborted first (the caller hears
//! "concurrent transactions" and asks again). Each `EndTxn` bumps the epoch too (KIP-890
//! part 2): the markers carry the new epoch, so a delayed marker or `EndTxn` of an older
//! transaction can never end a newer one. The decisions are pure functions of the applied
//! (or leader's tail) state, below; the messages and the marker rounds are in
//! [`super::txn`].

use std::collections::{BTreeMap, BTreeSet};

/// A transaction's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TxnState {
    /// No transaction open (after `InitProducerId`).
    Empty,
    /// Open: partitions were added.
    Ongoing,
    /// Decided to commit (durably); markers being written.
    PrepareCommit,
    /// Decided to abort (durably); markers being written.
    PrepareAbort,
    /// Committed: every marker written.
    CompleteCommit,
    /// Aborted: every marker written.
    CompleteAbort,
}

impl TxnState {
    /// Decided, markers not all written yet.
    pub fn preparing(self) -> bool {
        matches!(self, TxnState::PrepareCommit | TxnState::PrepareAbort)
    }
}

/// A `transactional.id`'s metadata.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TxnMeta {
    /// Its producer id.
    pub pid: u64,
    /// Its current epoch.
    pub epoch: u32,
    /// The epoch the open (or deciding) transaction's batches carry; its markers name it.
    pub txn_epoch: u32,
    /// Its transaction's state.
    pub state: TxnState,
    /// Partitions the open (or deciding) transaction wrote to.
    pub partitions: BTreeSet<u32>,
    /// When the open transaction began (coordinator's clock, ns).
    pub started_ns: u64,
    /// Abort the open transaction after this long (ms).
    pub timeout_ms: u64,
}

/// Every transactional id's metadata (partition 0's log).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct TxnLog {
    /// By transactional id.
    pub txns: BTreeMap<String, TxnMeta>,
    /// The next producer id to hand out.
    pub next_pid: u64,
}

/// Why the coordinator refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TxnError {
    /// This broker is not the coordinator (maybe that one is).
    NotCoordinator(Option<usize>),
    /// The id's previous transaction is still being ended: ask again.
    Concurrent,
    /// A newer instance (a higher epoch) owns the id, or the producer id is another's.
    Fenced,
    /// The request does not fit the transaction's state (e.g. `EndTxn` with nothing open).
    InvalidState,
}

/// What `InitProducerId` decides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Init {
    /// Log this metadata; answer with its producer id and epoch once it is committed.
    Ready(TxnMeta),
    /// Log this abort of the open transaction (epoch bumped) and write its markers; the
    /// caller is told to ask again.
    AbortFirst(TxnMeta),
}

/// What `EndTxn` decides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    /// Log this decision; answer once it is committed, then write the markers.
    Prepare(TxnMeta),
    /// Nothing to log: answer now with this epoch (a retry of an end already decided).
    Done(u32),
}

impl TxnLog {
    /// Apply a transition logged for `id`.
    pub fn apply(&mut self, id: &str, meta: &TxnMeta) {
        self.next_pid = self.next_pid.max(meta.pid + 1);
        self.txns.insert(id.to_string(), meta.clone());
    }

    /// `InitProducerId` for `id`. `fence`: bump the epoch and abort the previous
    /// instance's open transaction (a correct coordinator does; the planted bug
    /// `no-producer-fencing` hands the old epoch to the new instance and leaves its
    /// transaction open, so the zombie and the new instance write into one transaction and
    /// either may commit it).
    pub fn init(
        &self,
        id: &str,
        timeout_ms: u64,
        now_ns: u64,
        fence: bool,
    ) -> Result<Init, TxnError> {
        let Some(m) = self.txns.get(id) else {
            return Ok(Init::Ready(TxnMeta {
                pid: self.next_pid.max(1),
                epoch: 0,
                txn_epoch: 0,
                state: TxnState::Empty,
                partitions: BTreeSet::new(),
                started_ns: now_ns,
                timeout_ms,
            }));
        };
        match m.state {
            s if s.preparing() => Err(TxnError::Concurrent),
            // Without fencing the new instance joins the open transaction as it is.
            TxnState::Ongoing if !fence => Ok(Init::Ready(m.clone())),
            TxnState::Ongoing => Ok(Init::AbortFirst(TxnMeta {
                epoch: m.epoch + 1,
                state: TxnState::PrepareAbort,
                ..m.clone()
            })),
            _ => Ok(Init::Ready(TxnMeta {
                epoch: m.epoch + u32::from(fence),
                txn_epoch: m.epoch + u32::from(fence),
                state: TxnState::Empty,
                partitions: BTreeSet::new(),
                started_ns: now_ns,
                timeout_ms,
                ..m.clone()
            })),
        }
    }

    /// The metadata of `id` if `(pid, epoch)` is its current instance.
    fn current(&self, id: &str, pid: u64, epoch: u32) -> Result<&TxnMeta, TxnError> {
        let m = self.txns.get(id).ok_or(TxnError::InvalidState)?;
        if m.pid != pid || epoch < m.epoch {
            return Err(TxnError::Fenced);
        }
        if epoch > m.epoch {
            return Err(TxnError::InvalidState);
        }
        Ok(m)
    }

    /// `TxnOffsetCommit`: whether `(pid, epoch)` may send a group's offsets to its open
    /// transaction — it must be the id's current instance, with a transaction open that
    /// added partition 0 (where the offsets live, so its marker reaches them).
    pub fn offsets(&self, id: &str, (pid, epoch): (u64, u32)) -> Result<(), TxnError> {
        let m = self.current(id, pid, epoch)?;
        match m.state {
            s if s.preparing() => Err(TxnError::Concurrent),
            TxnState::Ongoing if m.partitions.contains(&0) => Ok(()),
            _ => Err(TxnError::InvalidState),
        }
    }

    /// Partition verification (KIP-890): whether producer `pid`'s ongoing transaction of
    /// `epoch` holds `partition`.
    pub fn verify(&self, pid: u64, epoch: u32, partition: u32) -> Result<(), TxnError> {
        let m = (self.txns.values())
            .find(|m| m.pid == pid)
            .ok_or(TxnError::InvalidState)?;
        if epoch < m.epoch {
            return Err(TxnError::Fenced);
        }
        match m.state {
            TxnState::Ongoing if epoch == m.epoch && m.partitions.contains(&partition) => Ok(()),
            _ => Err(TxnError::InvalidState),
        }
    }

    /// `AddPartitionsToTxn`: the transaction now writes to `partitions` too.
    pub fn add(
        &self,
        id: &str,
        (pid, epoch): (u64, u32),
        partitions: &[u32],
        now_ns: u64,
    ) -> Result<TxnMeta, TxnError> {
        let m = self.current(id, pid, epoch)?;
        if m.state.preparing() {
            return Err(TxnError::Concurrent);
        }
        let open = m.state == TxnState::Ongoing;
        let mut next = m.clone();
        if !open {
            next.partitions.clear();
            next.started_ns = now_ns;
            next.txn_epoch = epoch;
        }
        next.state = TxnState::Ongoing;
        next.partitions.extend(partitions.iter().copied());
        Ok(next)
    }

    /// `EndTxn`: commit or abort the open transaction. `bump`: end it with the epoch plus
    /// one (a correct coordinator does, KIP-890; the planted bug `no-epoch-bump-per-txn`
    /// keeps the epoch).
    pub fn end(
        &self,
        id: &str,
        (pid, epoch): (u64, u32),
        commit: bool,
        bump: bool,
    ) -> Result<End, TxnError> {
        let m = self.txns.get(id).ok_or(TxnError::InvalidState)?;
        let same_end = match m.state {
            TxnState::PrepareCommit | TxnState::CompleteCommit => commit,
            TxnState::PrepareAbort | TxnState::CompleteAbort => !commit,
            _ => false,
        };
        // A retry of the end already decided, sent with the epoch it had before the bump.
        if same_end && m.pid == pid && epoch + u32::from(bump) == m.epoch {
            return Ok(End::Done(m.epoch));
        }
        let m = self.current(id, pid, epoch)?;
        match m.state {
            TxnState::Ongoing => Ok(End::Prepare(TxnMeta {
                epoch: m.epoch + u32::from(bump),
                state: if commit {
                    TxnState::PrepareCommit
                } else {
                    TxnState::PrepareAbort
                },
                ..m.clone()
            })),
            // Nothing open: the producer's transaction is not this coordinator's to end
            // (a deposed coordinator's view, or a transaction already ended otherwise).
            TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort => {
                Err(TxnError::InvalidState)
            }
            _ => Err(TxnError::Concurrent),
        }
    }

    /// Open transactions past their timeout at `now_ns`: each with its abort (epoch bumped).
    pub fn expired(&self, now_ns: u64) -> Vec<(String, TxnMeta)> {
        (self.txns.iter())
            .filter(|(_, m)| {
                m.state == TxnState::Ongoing
                    && now_ns.saturating_sub(m.started_ns) >= m.timeout_ms * 1_000_000
            })
            .map(|(id, m)| {
                let abort = TxnMeta {
                    epoch: m.epoch + 1,
                    state: TxnState::PrepareAbort,
                    ..m.clone()
                };
                (id.clone(), abort)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ready(r: Result<Init, TxnError>) -> TxnMeta {
        match r {
            Ok(Init::Ready(m)) => m,
            other => panic!("expected ready, got {other:?}"),
        }
    }

    #[test]
    fn init_hands_out_a_producer_id_then_fences_the_previous_instance() {
        let mut log = TxnLog::default();
        let first = ready(log.init("t", 1000, 0, true));
        assert_eq!((first.pid, first.epoch), (1, 0));
        log.apply("t", &first);
        let second = ready(log.init("t", 1000, 5, true));
        assert_eq!((second.pid, second.epoch), (1, 1));
        log.apply("t", &second);
        assert_eq!(log.add("t", (1, 0), &[2], 6), Err(TxnError::Fenced));
        assert_eq!(ready(log.init("u", 1000, 7, true)).pid, 2);
        // The planted bug: the new instance shares the old epoch.
        assert_eq!(ready(log.init("t", 1000, 8, false)).epoch, 1);
    }

    #[test]
    fn an_open_transaction_is_aborted_before_a_new_instance_starts() {
        let mut log = TxnLog::default();
        log.apply("t", &ready(log.init("t", 1000, 0, true)));
        let open = log.add("t", (1, 0), &[0, 3], 10).unwrap();
        assert_eq!(open.state, TxnState::Ongoing);
        log.apply("t", &open);
        // The planted bug: the new instance joins the open transaction, epoch unchanged.
        let joined = ready(log.init("t", 1000, 20, false));
        assert_eq!((joined.state, joined.epoch), (TxnState::Ongoing, 0));
        assert_eq!(joined.partitions, BTreeSet::from([0, 3]));
        let Ok(Init::AbortFirst(abort)) = log.init("t", 1000, 20, true) else {
            panic!("the open transaction is aborted first")
        };
        assert_eq!((abort.state, abort.epoch), (TxnState::PrepareAbort, 1));
        assert_eq!(abort.partitions, BTreeSet::from([0, 3]));
        log.apply("t", &abort);
        assert_eq!(log.init("t", 1000, 21, true), Err(TxnError::Concurrent));
    }

    #[test]
    fn offsets_join_only_an_open_transaction_holding_partition_0() {
        let mut log = TxnLog::default();
        assert_eq!(log.offsets("t", (1, 0)), Err(TxnError::InvalidState));
        log.apply("t", &ready(log.init("t", 1000, 0, true)));
        assert_eq!(log.offsets("t", (1, 0)), Err(TxnError::InvalidState));
        log.apply("t", &log.add("t", (1, 0), &[2], 10).unwrap());
        assert_eq!(log.offsets("t", (1, 0)), Err(TxnError::InvalidState));
        log.apply("t", &log.add("t", (1, 0), &[0], 11).unwrap());
        assert_eq!(log.offsets("t", (1, 0)), Ok(()));
        let Ok(Init::AbortFirst(abort)) = log.init("t", 1000, 12, true) else {
            panic!("a new instance aborts the open transaction")
        };
        log.apply("t", &abort);
        assert_eq!(log.offsets("t", (1, 0)), Err(TxnError::Fenced));
        assert_eq!(log.offsets("t", (1, 1)), Err(TxnError::Concurrent));
    }

    #[test]
    fn end_bumps_the_epoch_and_a_retry_is_answered_alike() {
        let mut log = TxnLog::default();
        log.apply("t", &ready(log.init("t", 1000, 0, true)));
        log.apply("t", &log.add("t", (1, 0), &[1], 10).unwrap());
        let Ok(End::Prepare(prep)) = log.end("t", (1, 0), true, true) else {
            panic!("an open transaction prepares")
        };
        assert_eq!((prep.state, prep.epoch), (TxnState::PrepareCommit, 1));
        log.apply("t", &prep);
        assert_eq!(log.end("t", (1, 0), true, true), Ok(End::Done(1)));
        // An abort sent with the old epoch cannot undo the commit.
        assert_eq!(log.end("t", (1, 0), false, true), Err(TxnError::Fenced));
        // The next transaction uses epoch 1; the old epoch is fenced from it.
        assert!(log.add("t", (1, 1), &[2], 20).is_err(), "still preparing");
        log.apply(
            "t",
            &TxnMeta {
                state: TxnState::CompleteCommit,
                ..prep
            },
        );
        assert_eq!(log.add("t", (1, 0), &[2], 20), Err(TxnError::Fenced));
        let next = log.add("t", (1, 1), &[2], 20).unwrap();
        assert_eq!(
            next.partitions,
            BTreeSet::from([2]),
            "a new transaction starts empty"
        );
    }

    #[test]
    fn verification_holds_only_the_ongoing_transactions_partitions_of_its_epoch() {
        let mut log = TxnLog::default();
        assert_eq!(log.verify(1, 0, 2), Err(TxnError::InvalidState), "unknown");
        log.apply("t", &ready(log.init("t", 1000, 0, true)));
        assert_eq!(
            log.verify(1, 0, 2),
            Err(TxnError::InvalidState),
            "nothing open"
        );
        log.apply("t", &log.add("t", (1, 0), &[2], 10).unwrap());
        assert_eq!(log.verify(1, 0, 2), Ok(()));
        assert_eq!(
            log.verify(1, 0, 1),
            Err(TxnError::InvalidState),
            "not added"
        );
        assert_eq!(
            log.verify(1, 1, 2),
            Err(TxnError::InvalidState),
            "a later epoch"
        );
        // Version 1: the abort keeps the epoch, and the transaction no longer holds 2.
        let Ok(End::Prepare(abort)) = log.end("t", (1, 0), false, false) else {
            panic!("an open transaction prepares")
        };
        assert_eq!(abort.epoch, 0);
        log.apply("t", &abort);
        assert_eq!(log.verify(1, 0, 2), Err(TxnError::InvalidState), "ending");
        log.apply(
            "t",
            &TxnMeta {
                state: TxnState::CompleteAbort,
                ..abort
            },
        );
        assert_eq!(log.verify(1, 0, 2), Err(TxnError::InvalidState), "ended");
        // A new instance bumps the epoch: the old one is fenced.
        log.apply("t", &ready(log.init("t", 1000, 30, true)));
        assert_eq!(log.verify(1, 0, 2), Err(TxnError::Fenced));
    }

    #[test]
    fn open_transactions_expire_after_their_timeout() {
        let mut log = TxnLog::default();
        log.apply("t", &ready(log.init("t", 100, 0, true)));
        log.apply("t", &log.add("t", (1, 0), &[1], 1_000_000).unwrap());
        assert!(log.expired(100_000_000).is_empty());
        let expired = log.expired(101_000_000);
        assert_eq!(expired.len(), 1);
        assert_eq!(expired[0].1.state, TxnState::PrepareAbort);
        assert_eq!(expired[0].1.epoch, 1);
    }
}
