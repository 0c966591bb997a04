//! Per-process simulated durable storage.
//!
//! A disk holds named files, each a sequence of records. Writes (append, truncate,
//! replace) are visible to the running process at once but are only *durable* after
//! [`Disk::sync`] — the fsync. A crash ([`Disk::crash`]) keeps what was synced and, by
//! default, loses everything else. Real disks are less kind, and two knobs model that:
//! with `unsynced_survive_probability` an in-order prefix of the unsynced writes reached
//! the platter anyway, and with `torn_write_probability` the last of those is torn (half
//! written): it reads back as [`Slot::Torn`], as a record whose checksum fails, and
//! recovery code must notice and cut the file there.
//!
//! The disk belongs to the world, not to the process: it survives the crash that wipes
//! the process's memory, and the restarted process recovers from it. Records are typed
//! (each system has its own record type) rather than bytes; a torn record stands for the
//! checksum failure that a byte-level format would detect.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::rng::SubStream;

/// One record slot as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Slot<R> {
    /// A whole record.
    Ok(R),
    /// A torn record: its checksum fails on read.
    Torn,
}

impl<R> Slot<R> {
    /// The record, if it is whole.
    pub fn ok(&self) -> Option<&R> {
        match self {
            Slot::Ok(r) => Some(r),
            Slot::Torn => None,
        }
    }
}

/// An unsynced write, kept so a crash can persist a prefix of them.
#[derive(Debug, Clone)]
enum Write<R> {
    Append(R),
    Truncate(usize),
    /// Whole-file replacement, atomic like write-to-temp-then-rename.
    Replace(Vec<R>),
}

#[derive(Debug, Clone)]
struct File<R> {
    /// What survives a crash.
    durable: Vec<Slot<R>>,
    /// What the running process sees: `durable` with `pending` applied.
    view: Vec<Slot<R>>,
    /// Writes since the last sync, in order.
    pending: Vec<Write<R>>,
}

impl<R> Default for File<R> {
    fn default() -> Self {
        File {
            durable: Vec::new(),
            view: Vec::new(),
            pending: Vec::new(),
        }
    }
}

fn apply<R: Clone>(slots: &mut Vec<Slot<R>>, write: &Write<R>) {
    match write {
        Write::Append(r) => slots.push(Slot::Ok(r.clone())),
        Write::Truncate(len) => slots.truncate(*len),
        Write::Replace(rs) => *slots = rs.iter().cloned().map(Slot::Ok).collect(),
    }
}

/// What a crash did to one file.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct CrashLoss {
    /// The file.
    pub file: &'static str,
    /// Unsynced writes lost.
    pub lost: u64,
    /// Unsynced writes that survived anyway.
    pub kept: u64,
    /// Whether the last surviving write is torn.
    pub torn: bool,
}

/// How a crash treats unsynced writes (from `[faults.disk]`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CrashModel {
    /// Probability that a prefix of the unsynced writes survives.
    pub unsynced_survive_probability: f64,
    /// Probability that the last surviving unsynced append is torn.
    pub torn_write_probability: f64,
}

/// A process's disk.
#[derive(Debug, Clone)]
pub struct Disk<R> {
    files: BTreeMap<&'static str, File<R>>,
}

impl<R> Default for Disk<R> {
    fn default() -> Self {
        Disk {
            files: BTreeMap::new(),
        }
    }
}

impl<R: Clone> Disk<R> {
    /// An empty disk.
    pub fn new() -> Self {
        Self::default()
    }

    fn file(&mut self, name: &'static str) -> &mut File<R> {
        self.files.entry(name).or_default()
    }

    /// Append a record (unsynced).
    pub fn append(&mut self, file: &'static str, record: R) {
        let f = self.file(file);
        f.view.push(Slot::Ok(record.clone()));
        f.pending.push(Write::Append(record));
    }

    /// Cut the file to `len` records (unsynced).
    pub fn truncate(&mut self, file: &'static str, len: usize) {
        let f = self.file(file);
        if len < f.view.len() {
            f.view.truncate(len);
            f.pending.push(Write::Truncate(len));
        }
    }

    /// Replace the whole file atomically (unsynced): for metadata and snapshots.
    pub fn replace(&mut self, file: &'static str, records: Vec<R>) {
        let f = self.file(file);
        f.view = records.iter().cloned().map(Slot::Ok).collect();
        f.pending.push(Write::Replace(records));
    }

    /// fsync one file: every write so far becomes durable. Returns how many writes it
    /// made durable.
    pub fn sync(&mut self, file: &'static str) -> usize {
        let f = self.file(file);
        let n = f.pending.len();
        for write in std::mem::take(&mut f.pending) {
            apply(&mut f.durable, &write);
        }
        n
    }

    /// Writes not yet synced in `file`.
    pub fn unsynced(&self, file: &'static str) -> usize {
        self.files.get(file).map_or(0, |f| f.pending.len())
    }

    /// The records of `file` as the running process sees them.
    pub fn read(&self, file: &'static str) -> &[Slot<R>] {
        self.files.get(file).map_or(&[], |f| &f.view)
    }

    /// The records that would survive a crash now.
    pub fn durable(&self, file: &'static str) -> &[Slot<R>] {
        self.files.get(file).map_or(&[], |f| &f.durable)
    }

    /// A crash: keep synced data, lose unsynced writes (or keep a prefix of them, the last
    /// possibly torn, as `model` draws from `rng`). Returns what happened per file that
    /// had unsynced writes.
    pub fn crash(&mut self, model: CrashModel, rng: &mut SubStream) -> Vec<CrashLoss> {
        let mut losses = Vec::new();
        for (&name, f) in self.files.iter_mut() {
            let pending = std::mem::take(&mut f.pending);
            if pending.is_empty() {
                continue;
            }
            let kept = if rng.chance(model.unsynced_survive_probability) {
                1 + rng.index(pending.len())
            } else {
                0
            };
            let mut torn = false;
            for (i, write) in pending.iter().take(kept).enumerate() {
                apply(&mut f.durable, write);
                let last = i + 1 == kept;
                if last
                    && matches!(write, Write::Append(_))
                    && rng.chance(model.torn_write_probability)
                {
                    if let Some(slot) = f.durable.last_mut() {
                        *slot = Slot::Torn;
                        torn = true;
                    }
                }
            }
            f.view = f.durable.clone();
            losses.push(CrashLoss {
                file: name,
                lost: (pending.len() - kept) as u64,
                kept: kept as u64,
                torn,
            });
        }
        losses
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOSE_ALL: CrashModel = CrashModel {
        unsynced_survive_probability: 0.0,
        torn_write_probability: 0.0,
    };

    fn records(slots: &[Slot<u32>]) -> Vec<u32> {
        slots.iter().filter_map(|s| s.ok().copied()).collect()
    }

    #[test]
    fn crash_keeps_synced_and_loses_unsynced() {
        let mut d = Disk::new();
        d.append("log", 1);
        d.append("log", 2);
        assert_eq!(d.sync("log"), 2);
        d.append("log", 3);
        d.truncate("log", 1);
        d.append("log", 4);
        assert_eq!(records(d.read("log")), vec![1, 4]);
        let loss = d.crash(LOSE_ALL, &mut SubStream::new(1, "disk"));
        assert_eq!(records(d.read("log")), vec![1, 2]);
        assert_eq!(
            loss,
            vec![CrashLoss {
                file: "log",
                lost: 3,
                kept: 0,
                torn: false
            }]
        );
    }

    #[test]
    fn replace_is_atomic() {
        let mut d = Disk::new();
        d.replace("meta", vec![7]);
        d.sync("meta");
        d.replace("meta", vec![8]);
        d.crash(LOSE_ALL, &mut SubStream::new(1, "disk"));
        assert_eq!(records(d.read("meta")), vec![7]);
    }

    #[test]
    fn surviving_prefix_may_be_torn() {
        let model = CrashModel {
            unsynced_survive_probability: 1.0,
            torn_write_probability: 1.0,
        };
        let mut d = Disk::new();
        for i in 0..5 {
            d.append("log", i);
        }
        let loss = d.crash(model, &mut SubStream::new(3, "disk"));
        let slots = d.read("log");
        assert_eq!(loss[0].kept as usize, slots.len());
        assert!(loss[0].torn);
        assert_eq!(slots.last(), Some(&Slot::Torn));
        // Every surviving record before the torn one is a prefix of what was written.
        let whole = records(slots);
        assert_eq!(whole, (0..whole.len() as u32).collect::<Vec<_>>());
    }
}
