//! The key-value store's processes: the fixed primary, which orders writes into its log,
//! and the backups it replicates to; what each keeps on disk and recovers after a crash.

use super::{Entry, KvRegister, Msg, Proc, Timer};
use std::collections::BTreeMap;

use crate::disk::Slot;
use crate::sim::{Ctx, View};
use crate::systems::components::clients::{ClientCore, Outgoing};
use crate::systems::components::workload::kv::KvOp;

/// The log file.
pub(super) const LOG: &str = "log";
/// Most entries in one replication message.
pub(super) const BATCH_MAX: usize = 64;

/// Replicated state common to primary and backups.
#[derive(Debug, Clone, Default)]
pub struct Replica {
    /// The log.
    pub log: Vec<Entry>,
    /// Entries known committed.
    pub commit: u64,
    /// Entries applied to `kv`.
    pub applied: u64,
    /// The key-value state.
    pub kv: BTreeMap<String, String>,
}

impl Replica {
    /// Recover the log from disk, cutting it at the first torn record.
    pub(super) fn recover(ctx: &mut Ctx<'_, KvRegister>) -> Replica {
        // One copy of each record (the disk keeps its own): recovery runs on every restart,
        // and its cost grows with the log.
        let (log, slots): (Vec<Entry>, usize) = {
            let disk = ctx.disk();
            let slots = disk.read(LOG);
            let log = (slots.iter())
                .map_while(|slot| match slot {
                    Slot::Ok(e) => Some(e.clone()),
                    Slot::Torn => None,
                })
                .collect();
            (log, slots.len())
        };
        if log.len() < slots {
            ctx.probe("torn_log_tail_cut");
            let mut disk = ctx.disk();
            disk.truncate(LOG, log.len());
            disk.sync(LOG);
        }
        if !log.is_empty() {
            ctx.probe("recovered_nonempty_log");
        }
        ctx.note("recovered_log", log.len() as i64);
        tracing::debug!(
            entries = log.len(),
            cut = slots - log.len(),
            "recovered log"
        );
        Replica {
            log,
            ..Replica::default()
        }
    }

    /// Apply committed entries.
    fn apply(&mut self) {
        let upto = self.commit.min(self.log.len() as u64);
        while self.applied < upto {
            let e = &self.log[self.applied as usize];
            apply_entry(&mut self.kv, e);
            self.applied += 1;
        }
    }

    fn read(&self, key: &str) -> String {
        self.kv.get(key).cloned().unwrap_or_default()
    }
}

pub(super) fn apply_entry(kv: &mut BTreeMap<String, String>, e: &Entry) {
    // The key is copied only when it is new (keys are few, writes many).
    match kv.get_mut(&*e.key) {
        Some(v) if e.append => v.push_str(&e.value),
        Some(v) => {
            v.clear();
            v.push_str(&e.value);
        }
        None => {
            kv.insert(e.key.to_string(), e.value.to_string());
        }
    }
}

/// The primary.
#[derive(Debug)]
pub struct Primary {
    /// Replicated state.
    pub state: Replica,
    pub(super) synced: u64,
    pub(super) recovered: u64,
    pub(super) sessions: BTreeMap<usize, (u64, u64)>,
    pub(super) waiting: BTreeMap<u64, (usize, u64)>,
    pub(super) deferred_reads: Vec<(usize, u64, String)>,
    pub(super) matched: BTreeMap<usize, u64>,
    pub(super) next: BTreeMap<usize, u64>,
    pub(super) flush_pending: bool,
}

/// A backup.
#[derive(Debug)]
pub struct Backup {
    /// Replicated state.
    pub state: Replica,
}

/// A client.
#[derive(Debug)]
pub struct Client {
    pub(super) core: ClientCore<KvOp>,
}

impl KvRegister {
    fn majority(&self) -> usize {
        self.replicas.len() / 2 + 1
    }

    /// Why the system has not settled (empty when it has).
    pub(super) fn unsettled(&self, view: &View<'_, Self>) -> Vec<String> {
        let mut why = Vec::new();
        for (node, proc) in view.procs.iter().enumerate() {
            if let Some(Proc::Client(c)) = proc {
                if !c.core.idle() {
                    why.push(format!("client {node} still waits for an answer"));
                }
            }
        }
        let Some(Proc::Primary(p)) = &view.procs[self.replicas[0]] else {
            why.push("the primary is not running".into());
            return why;
        };
        let len = p.state.log.len() as u64;
        if p.state.commit < len {
            why.push(format!(
                "the primary has committed {} of {len} entries",
                p.state.commit
            ));
        }
        for &r in &self.replicas[1..] {
            match &view.procs[r] {
                Some(Proc::Backup(b)) => {
                    if b.state.log != p.state.log {
                        why.push(format!(
                            "backup {r} holds {} entries, the primary {len}",
                            b.state.log.len()
                        ));
                    } else if b.state.applied < len {
                        why.push(format!(
                            "backup {r} has applied {} of {len}",
                            b.state.applied
                        ));
                    }
                }
                _ => why.push(format!("backup {r} is not running")),
            }
        }
        why
    }

    /// Advance the commit point to what a majority holds durably; apply; answer.
    pub(super) fn try_commit(&self, p: &mut Primary, ctx: &mut Ctx<'_, Self>) {
        let mut candidate = p.synced;
        while candidate > p.state.commit {
            let holders = 1 + p.matched.values().filter(|&&m| m >= candidate).count();
            if holders >= self.majority() {
                break;
            }
            candidate -= 1;
        }
        if candidate <= p.state.commit {
            return;
        }
        p.state.commit = candidate;
        ctx.note("commit", candidate as i64);
        tracing::debug!(
            commit = candidate,
            answered = p.waiting.range(..candidate).count(),
            "committed"
        );
        p.state.apply();
        let done: Vec<u64> = p.waiting.range(..candidate).map(|(&i, _)| i).collect();
        for index in done {
            if let Some((client, seq)) = p.waiting.remove(&index) {
                ctx.send(client, Msg::Response { seq, value: None });
            }
        }
        if p.state.commit >= p.recovered && !p.deferred_reads.is_empty() {
            for (client, seq, key) in std::mem::take(&mut p.deferred_reads) {
                let value = p.state.read(&key);
                ctx.send(
                    client,
                    Msg::Response {
                        seq,
                        value: Some(value),
                    },
                );
            }
        }
    }

    pub(super) fn replicate(&self, p: &mut Primary, ctx: &mut Ctx<'_, Self>) {
        for &backup in &self.replicas[1..] {
            let from = p.next.get(&backup).copied().unwrap_or(0).min(p.synced);
            let to = (from as usize + BATCH_MAX).min(p.synced as usize);
            let entries = p.state.log[from as usize..to].to_vec();
            ctx.send(
                backup,
                Msg::Replicate {
                    from,
                    entries,
                    commit: p.state.commit,
                },
            );
        }
    }

    pub(super) fn on_primary_msg(
        &self,
        p: &mut Primary,
        ctx: &mut Ctx<'_, Self>,
        from: usize,
        msg: Msg,
    ) {
        match msg {
            Msg::Request { seq, op } => self.on_request(p, ctx, from, seq, op),
            Msg::Ack { len } => {
                let matched = p.matched.entry(from).or_insert(0);
                *matched = (*matched).max(len.min(p.state.log.len() as u64));
                p.next.insert(from, len);
                self.try_commit(p, ctx);
            }
            Msg::Replicate { .. } | Msg::Response { .. } => {
                panic!("primary received {msg:?} from {from}: only backups and clients get those")
            }
        }
    }

    fn on_request(
        &self,
        p: &mut Primary,
        ctx: &mut Ctx<'_, Self>,
        client: usize,
        seq: u64,
        op: KvOp,
    ) {
        let (key, value, append) = match op {
            KvOp::Get { key } => {
                if p.state.commit >= p.recovered {
                    let value = p.state.read(&key);
                    ctx.send(
                        client,
                        Msg::Response {
                            seq,
                            value: Some(value),
                        },
                    );
                } else {
                    ctx.probe("read_deferred_after_recovery");
                    p.deferred_reads.push((client, seq, key));
                }
                return;
            }
            KvOp::Put { key, value } => (key, value, false),
            KvOp::Append { key, value } => (key, value, true),
        };
        if let Some(&(last_seq, index)) = p.sessions.get(&client) {
            if seq < last_seq {
                return; // An old request overtaken by a newer one from the same client.
            }
            if seq == last_seq {
                ctx.probe("duplicate_write_request");
                if !self.no_dedup {
                    if index < p.state.commit {
                        ctx.send(client, Msg::Response { seq, value: None });
                    } else {
                        p.waiting.insert(index, (client, seq));
                    }
                    return;
                }
            }
        }
        let index = p.state.log.len() as u64;
        let entry = Entry {
            client,
            seq,
            key: key.into(),
            append,
            value: value.into(),
        };
        ctx.disk().append(LOG, entry.clone());
        p.state.log.push(entry);
        p.sessions.insert(client, (seq, index));
        p.waiting.insert(index, (client, seq));
        if !p.flush_pending {
            p.flush_pending = true;
            ctx.set_timer(Timer::Flush, self.params.flush_interval_ms);
        }
    }

    pub(super) fn on_backup_msg(
        &self,
        b: &mut Backup,
        ctx: &mut Ctx<'_, Self>,
        from: usize,
        msg: Msg,
    ) {
        match msg {
            Msg::Replicate {
                from: start,
                entries,
                commit,
            } => self.on_replicate(b, ctx, from, start, entries, commit),
            Msg::Request {
                seq,
                op: KvOp::Get { key },
            } if self.follower_reads => {
                let value = b.state.read(&key);
                ctx.send(
                    from,
                    Msg::Response {
                        seq,
                        value: Some(value),
                    },
                );
            }
            Msg::Request { .. } => {} // Not the primary: the client will retry there.
            Msg::Ack { .. } | Msg::Response { .. } => {
                panic!("backup received {msg:?} from {from}: only the primary gets those")
            }
        }
    }

    /// A backup gets its primary's entries from `start`: it appends what it lacks (a
    /// conflicting uncommitted suffix is cut), fsyncs, applies what is committed, and
    /// acknowledges its log length.
    fn on_replicate(
        &self,
        b: &mut Backup,
        ctx: &mut Ctx<'_, Self>,
        from: usize,
        start: u64,
        entries: Vec<Entry>,
        commit: u64,
    ) {
        let s = &mut b.state;
        if start > s.log.len() as u64 {
            ctx.probe("backup_log_gap");
            ctx.send(
                from,
                Msg::Ack {
                    len: s.log.len() as u64,
                },
            );
            return;
        }
        let mut appended = false;
        for (i, entry) in entries.into_iter().enumerate() {
            let pos = start as usize + i;
            if pos < s.log.len() {
                if s.log[pos] == entry {
                    continue;
                }
                assert!(
                    (pos as u64) >= s.commit,
                    "committed entry {pos} of backup {} overwritten: {:?} replaced by {entry:?}",
                    ctx.node(),
                    s.log[pos]
                );
                s.log.truncate(pos);
                ctx.disk().truncate(LOG, pos);
            }
            ctx.disk().append(LOG, entry.clone());
            s.log.push(entry);
            appended = true;
        }
        if appended && !self.no_fsync {
            ctx.disk().sync(LOG);
        }
        s.commit = s.commit.max(commit.min(s.log.len() as u64));
        s.apply();
        ctx.send(
            from,
            Msg::Ack {
                len: s.log.len() as u64,
            },
        );
    }

    pub(super) fn send_request(&self, ctx: &mut Ctx<'_, Self>, out: Outgoing<KvOp>) {
        let target = if self.follower_reads && out.op.is_read() {
            self.replicas[ctx.rng().index(self.replicas.len())]
        } else {
            self.replicas[0]
        };
        ctx.send(
            target,
            Msg::Request {
                seq: out.seq,
                op: out.op,
            },
        );
    }
}
