//! A service's own database: tables of rows, local ACID transactions, a write-ahead log.
//!
//! Each service that owns its data keeps it in one of these. A transaction is a list of
//! writes (set or delete a row) applied all at once: it is appended to the write-ahead
//! log on the process's simulated disk and **fsynced before it counts as committed** —
//! only then are the writes applied to the tables and may the service answer. A crash
//! loses exactly the transactions that were not fsynced (a torn last record included);
//! recovery replays the log into empty tables. Every committed transaction has a log
//! sequence number (LSN), and the log can be read from any LSN: that is the change feed a
//! log-tailing relay follows.
//!
//! Handlers are atomic, so a transaction's writes and its fsync happen in one handler: a
//! crash falls before or after it, never inside. A system plants a "no fsync" bug by
//! committing with `fsync = false`.

use std::collections::BTreeMap;
use std::fmt::Debug;

use crate::disk::Slot;
use crate::sim::{Ctx, System};

/// Coverage probes the simulated database can reach.
pub const PROBES: &[&str] = &["db_recovered_from_log", "db_torn_log_tail_cut"];

/// One write of a transaction.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Write<V> {
    /// Table.
    pub table: &'static str,
    /// Row key.
    pub key: String,
    /// New value; `None` deletes the row.
    pub value: Option<V>,
}

impl<V> Write<V> {
    /// Set `table[key] = value`.
    pub fn set(table: &'static str, key: impl Into<String>, value: V) -> Self {
        Write {
            table,
            key: key.into(),
            value: Some(value),
        }
    }

    /// Delete `table[key]`.
    pub fn delete(table: &'static str, key: impl Into<String>) -> Self {
        Write {
            table,
            key: key.into(),
            value: None,
        }
    }
}

/// A committed transaction, as the write-ahead log holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed<V> {
    /// Log sequence number (1-based, consecutive).
    pub lsn: u64,
    /// Its writes, in order.
    pub writes: Vec<Write<V>>,
}

/// How a system stores the database's log records among its own disk records.
pub trait Stored<V>: System {
    /// A log record as a disk record.
    fn db_record(record: Committed<V>) -> Self::Record;
    /// The log record in a disk record, if it is one.
    fn as_db_record(record: &Self::Record) -> Option<&Committed<V>>;
}

/// The write-ahead log's file.
pub const WAL: &str = "wal";

/// The database of one service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Db<V> {
    tables: BTreeMap<&'static str, BTreeMap<String, V>>,
    lsn: u64,
}

impl<V: Clone + Debug> Default for Db<V> {
    fn default() -> Self {
        Db {
            tables: BTreeMap::new(),
            lsn: 0,
        }
    }
}

impl<V: Clone + Debug> Db<V> {
    /// Recover from the process's disk: replay every whole record of the log (cutting a
    /// torn tail off the file, durably, so later appends follow the last whole record).
    pub fn recover<S: Stored<V>>(ctx: &mut Ctx<'_, S>) -> Self {
        let slots = ctx.disk().read(WAL).to_vec();
        let mut db = Db::default();
        let mut whole = 0;
        for slot in &slots {
            let Some(record) = slot.ok().and_then(S::as_db_record) else {
                ctx.probe("db_torn_log_tail_cut");
                break;
            };
            assert_eq!(
                record.lsn,
                db.lsn + 1,
                "the log holds consecutive transactions"
            );
            db.apply(&record.writes);
            db.lsn = record.lsn;
            whole += 1;
        }
        if whole < slots.len() {
            let mut disk = ctx.disk();
            disk.truncate(WAL, whole);
            disk.sync(WAL);
        }
        if db.lsn > 0 {
            ctx.probe("db_recovered_from_log");
        }
        db
    }

    /// Commit a transaction: log it, fsync (unless `fsync` is off: a planted bug), apply
    /// it. Returns its LSN.
    pub fn commit<S: Stored<V>>(
        &mut self,
        ctx: &mut Ctx<'_, S>,
        writes: Vec<Write<V>>,
        fsync: bool,
    ) -> u64 {
        self.lsn += 1;
        self.apply(&writes);
        let record = Committed {
            lsn: self.lsn,
            writes,
        };
        let mut disk = ctx.disk();
        disk.append(WAL, S::db_record(record));
        if fsync {
            disk.sync(WAL);
        }
        self.lsn
    }

    fn apply(&mut self, writes: &[Write<V>]) {
        for w in writes {
            let table = self.tables.entry(w.table).or_default();
            match &w.value {
                Some(v) => {
                    table.insert(w.key.clone(), v.clone());
                }
                None => {
                    table.remove(&w.key);
                }
            }
        }
    }

    /// A row.
    pub fn get(&self, table: &str, key: &str) -> Option<&V> {
        self.tables.get(table)?.get(key)
    }

    /// Every row of a table, in key order.
    pub fn rows(&self, table: &str) -> impl DoubleEndedIterator<Item = (&String, &V)> {
        self.tables.get(table).into_iter().flat_map(|t| t.iter())
    }

    /// The LSN of the last committed transaction.
    pub fn lsn(&self) -> u64 {
        self.lsn
    }

    /// The committed transactions after `lsn`, read from the log on disk (the change
    /// feed), at most `max` of them.
    pub fn log_after<S: Stored<V>>(
        ctx: &mut Ctx<'_, S>,
        lsn: u64,
        max: usize,
    ) -> Vec<Committed<V>> {
        // Record i of the file is transaction i + 1: appends are consecutive, and recovery
        // cuts the file at its first torn record.
        let disk = ctx.disk();
        let slots = disk.read(WAL);
        slots[(lsn as usize).min(slots.len())..]
            .iter()
            .filter_map(Slot::ok)
            .filter_map(S::as_db_record)
            .filter(|r| r.lsn > lsn)
            .take(max)
            .cloned()
            .collect()
    }
}
