//! `kv_register` — a replicated key-value store with a fixed primary.
//!
//! The smallest system that exercises every part of the testbed, and a baseline for the
//! consensus-based systems: no elections, so it shows what replication and durability
//! alone guarantee.
//!
//! * Replica `r0` is the primary; `r1..` are backups. Clients send every request to the
//!   primary.
//! * A write is appended to the primary's log; writes arriving within
//!   `flush_interval_ms` share one fsync (group commit). After the fsync the primary ships
//!   the new entries to the backups, which append, **fsync, then acknowledge**. An entry
//!   is committed once it is durable on a majority (the primary included); it is then
//!   applied to the key-value map and the client gets its answer.
//! * Requests carry `(client, seq)`. A retried or duplicated request that is already in
//!   the log is answered from the log, never appended twice (the session table is rebuilt
//!   from the log on recovery).
//! * Reads are answered by the primary from the committed state. After a restart the
//!   primary recovers its log from disk (cutting it at a torn record), re-commits it
//!   through the backups, and serves reads only once everything it recovered is
//!   committed again — otherwise it could answer from an older state than one a client
//!   already saw.
//!
//! Planted bugs (`bugs = [...]`):
//!
//! * `no-fsync` — acknowledge without fsync: a crash loses acknowledged writes;
//! * `follower-reads` — clients read from any replica: backups answer stale values;
//! * `no-dedup` — the primary appends retried/duplicated requests again: appends apply
//!   twice.
//!
//! Checks: `linearizability` (kv model, per key), `durability` (every acknowledged
//! write is in the final log, and no write is in it twice), `convergence` (after heal,
//! every replica holds the primary's log and the state that log folds to).

mod checks;

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::components::clients::{ClientCore, ClientTimer, Outgoing};
use super::components::workload::kv::{self, KvOp};
use super::Model;
use crate::catalog::catalogue;
use crate::check::fit::HistoryFile;
use crate::check::linearizability::Budget;
use crate::check::CheckOutcome;
use crate::disk::Slot;
use crate::history::{Status, Value};
use crate::knob::knob_section;
use crate::plan::workload::ops_of;
use crate::plan::{ClientOp, Draw, NodeSpec, Plan, Role, Spec};
use crate::scenario::load::{Periodic, SystemLoad, Worst};
use crate::scenario::{Params, WorkloadParams};
use crate::sim::{Ctx, Message, Process, SimOutput, System, View};

knob_section! {
    /// `[kv_register]`: settings of the fixed-primary key-value store.
    KvRegisterSection => KvRegisterParams at "kv_register" {
        /// Group commit: how long the primary gathers writes before one fsync (ms).
        flush_interval_ms: u64 = 2, swarm [1, 10], valid [1, 10_000];
        /// How often the primary re-sends unacknowledged entries and the commit index (ms).
        replicate_interval_ms: u64 = 30, swarm [10, 100], valid [1, 60_000];
    }
}

catalogue! {
    /// Planted bugs of this system.
    pub enum Bug {
        /// replicas acknowledge writes without fsync; a crash loses acknowledged writes
        NoFsync = "no-fsync",
        /// clients read from any replica; backups answer with stale values
        FollowerReads = "follower-reads",
        /// the primary appends retried or duplicated requests again; appends apply twice
        NoDedup = "no-dedup",
    }
}

catalogue! {
    /// Checks of this system.
    pub enum Check: checks {
        /// the client history is linearizable (key-value model, per key)
        Linearizability = "linearizability" (Safety),
        /// every acknowledged write is in the final log, and no write is in it twice
        Durability = "durability" (Safety),
        /// after heal every replica holds the primary's log and the state it folds to
        Convergence = "convergence" (Liveness),
    }
}

catalogue! {
    /// Workloads of this system.
    pub enum Workload {
        /// get, put and append over a few keys
        Kv = "kv",
    }
}

/// The log file.
const LOG: &str = "log";
/// Most entries in one replication message.
const BATCH_MAX: usize = 64;

/// The processes: replicas `r0..`, then clients `c0..`.
pub fn topology(params: &Params) -> Vec<NodeSpec> {
    let mut nodes: Vec<NodeSpec> = (0..params.topology.replicas)
        .map(|i| NodeSpec {
            name: format!("r{i}"),
            role: Role::Server,
            crashable: true,
        })
        .collect();
    nodes.extend((0..params.topology.clients).map(|i| NodeSpec {
        name: format!("c{i}"),
        role: Role::Client,
        crashable: false,
    }));
    nodes
}

/// A write, as logged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Requesting client (process index).
    pub client: usize,
    /// Its request id.
    pub seq: u64,
    /// Key (shared: an entry is copied into every replica's log, disk and message, and
    /// all of it again at each recovery; a shared string makes those copies cheap).
    pub key: Arc<str>,
    /// Append (true) or put (false).
    pub append: bool,
    /// Value or appended token.
    pub value: Arc<str>,
}

/// Messages.
#[derive(Debug, Clone)]
pub enum Msg {
    /// Client → replica.
    Request {
        /// Request id.
        seq: u64,
        /// What.
        op: KvOp,
    },
    /// Replica → client: the value read, or `None` for a write.
    Response {
        /// Request id.
        seq: u64,
        /// Read result.
        value: Option<String>,
    },
    /// Primary → backup: entries from position `from`, and the commit point.
    Replicate {
        /// Position of the first entry.
        from: u64,
        /// Entries.
        entries: Vec<Entry>,
        /// Entries committed.
        commit: u64,
    },
    /// Backup → primary: my log is this long (and durable).
    Ack {
        /// Log length.
        len: u64,
    },
}

impl Message for Msg {
    fn label(&self) -> &'static str {
        match self {
            Msg::Request { .. } => "request",
            Msg::Response { .. } => "response",
            Msg::Replicate { .. } => "replicate",
            Msg::Ack { .. } => "ack",
        }
    }
}

/// Timers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Timer {
    /// Group commit: fsync and ship.
    Flush,
    /// Periodic re-send and commit propagation.
    Replicate,
    /// A client timer.
    Client(ClientTimer),
}

fn client_timer(t: ClientTimer) -> Timer {
    Timer::Client(t)
}

/// The system, configured from a plan.
pub struct KvRegister {
    replicas: Vec<usize>,
    params: KvRegisterParams,
    workload: WorkloadParams,
    client_ops: BTreeMap<usize, Vec<ClientOp<KvOp>>>,
    no_fsync: bool,
    follower_reads: bool,
    no_dedup: bool,
}

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
    fn recover(ctx: &mut Ctx<'_, KvRegister>) -> Replica {
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

fn apply_entry(kv: &mut BTreeMap<String, String>, e: &Entry) {
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
    synced: u64,
    recovered: u64,
    sessions: BTreeMap<usize, (u64, u64)>,
    waiting: BTreeMap<u64, (usize, u64)>,
    deferred_reads: Vec<(usize, u64, String)>,
    matched: BTreeMap<usize, u64>,
    next: BTreeMap<usize, u64>,
    flush_pending: bool,
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
    core: ClientCore<KvOp>,
}

/// A process of this system.
#[derive(Debug)]
pub enum Proc {
    /// `r0`.
    Primary(Primary),
    /// `r1..`.
    Backup(Backup),
    /// `c0..`.
    Client(Client),
}

impl Spec for KvRegister {
    const NAME: &'static str = "kv_register";
    type Section = KvRegisterSection;
    type Params = KvRegisterParams;
    type Op = KvOp;
    type Bug = Bug;
    type Check = Check;
    type Workload = Workload;

    fn resolve(
        section: &KvRegisterSection,
        swarm: bool,
        seed: u64,
        _: &Params,
    ) -> KvRegisterParams {
        section.resolve(swarm, seed)
    }

    fn topology(params: &Params, _own: &KvRegisterParams, _: Workload) -> Vec<NodeSpec> {
        topology(params)
    }

    fn operation(workload: Workload, draw: &mut Draw<'_>) -> KvOp {
        match workload {
            Workload::Kv => kv::draw(draw),
        }
    }
}

impl Model for KvRegister {
    const ABOUT: &'static str = "replicated key-value store with a fixed primary: group commit, fsync before ack, majority replication, request dedup, recovery from disk";
    const PROBES: &'static [&'static [&'static str]] = &[
        crate::systems::components::clients::PROBES,
        &[
            "torn_log_tail_cut",
            "recovered_nonempty_log",
            "read_deferred_after_recovery",
            "duplicate_write_request",
            "backup_log_gap",
        ],
    ];

    fn load(section: &KvRegisterSection, swarm: bool, worst: &Worst) -> SystemLoad {
        let fast = section.corner(swarm, false);
        let backups = worst.replicas.saturating_sub(1) as f64;
        SystemLoad {
            // Request and reply, a group-commit flush, a log shipment and its ack per backup.
            events_per_op: 3.0 + 2.0 * backups,
            periodic: vec![Periodic::every(
                format!("log shipments to {backups} backup(s)"),
                "kv_register.replicate_interval_ms",
                1,
                fast.replicate_interval_ms,
                1.0 + 2.0 * backups,
            )],
            conflicts: Vec::new(),
        }
    }

    fn history_files(plan: &Plan<Self>, _: &crate::history::History) -> Vec<HistoryFile> {
        let model = crate::check::linearizability::ModelKind::Kv;
        vec![super::linearizable_history(
            plan,
            |c| *c == Check::Linearizability,
            model,
        )]
    }

    fn check(
        plan: &Plan<Self>,
        out: &SimOutput<KvFinal, ()>,
        check: Check,
        budget: &Budget,
    ) -> CheckOutcome {
        checks::run(plan, out, check, budget)
    }
}

impl System for KvRegister {
    type Msg = Msg;
    type Timer = Timer;
    type Record = Entry;
    type Proc = Proc;
    type Final = KvFinal;
    type Observation = ();

    fn new(plan: &Plan<Self>) -> Self {
        let clients = plan.head.nodes_with(Role::Client);
        KvRegister {
            replicas: plan.head.nodes_with(Role::Server),
            params: plan.params.clone(),
            workload: plan.head.params.workload.clone(),
            client_ops: clients
                .iter()
                .enumerate()
                .map(|(c, &node)| (node, ops_of(&plan.workload, c)))
                .collect(),
            no_fsync: plan.has_bug(Bug::NoFsync),
            follower_reads: plan.has_bug(Bug::FollowerReads),
            no_dedup: plan.has_bug(Bug::NoDedup),
        }
    }

    fn boot(&self, ctx: &mut Ctx<'_, Self>) -> Proc {
        let node = ctx.node();
        if let Some(ops) = self.client_ops.get(&node) {
            let mut core = ClientCore::new(ops.clone(), &self.workload);
            core.start(ctx, client_timer);
            return Proc::Client(Client { core });
        }
        let state = Replica::recover(ctx);
        if node == self.replicas[0] {
            let mut sessions = BTreeMap::new();
            for (i, e) in state.log.iter().enumerate() {
                sessions.insert(e.client, (e.seq, i as u64));
            }
            let len = state.log.len() as u64;
            let mut primary = Primary {
                state,
                synced: len,
                recovered: len,
                sessions,
                waiting: BTreeMap::new(),
                deferred_reads: Vec::new(),
                matched: BTreeMap::new(),
                next: self.replicas[1..].iter().map(|&r| (r, len)).collect(),
                flush_pending: false,
            };
            ctx.set_timer(Timer::Replicate, self.params.replicate_interval_ms);
            self.try_commit(&mut primary, ctx);
            Proc::Primary(primary)
        } else {
            Proc::Backup(Backup { state })
        }
    }

    fn settled(&self, view: &View<'_, Self>) -> bool {
        self.unsettled(view).is_empty()
    }

    fn gauges(&self, view: &View<'_, Self>, out: &mut Vec<(&'static str, f64)>) {
        let logs = (view.procs.iter().flatten()).filter_map(|p| match p {
            Proc::Primary(p) => Some((true, p.state.log.len())),
            Proc::Backup(b) => Some((false, b.state.log.len())),
            Proc::Client(_) => None,
        });
        let (mut primary, mut slowest) = (None, None::<usize>);
        for (is_primary, len) in logs {
            if is_primary {
                primary = Some(len);
            } else {
                slowest = Some(slowest.map_or(len, |s| s.min(len)));
            }
        }
        if let (Some(p), Some(b)) = (primary, slowest) {
            out.push((
                "replication lag of the slowest backup (entries)",
                p.saturating_sub(b) as f64,
            ));
        }
    }

    fn finish(&self, view: &View<'_, Self>) -> KvFinal {
        let replicas = self
            .replicas
            .iter()
            .map(|&r| {
                let state = match &view.procs[r] {
                    Some(Proc::Primary(p)) => Some(p.state.clone()),
                    Some(Proc::Backup(b)) => Some(b.state.clone()),
                    _ => None,
                };
                (r, state)
            })
            .collect();
        KvFinal {
            replicas,
            unsettled: self.unsettled(view),
        }
    }
}

impl KvRegister {
    fn majority(&self) -> usize {
        self.replicas.len() / 2 + 1
    }

    /// Why the system has not settled (empty when it has).
    fn unsettled(&self, view: &View<'_, Self>) -> Vec<String> {
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
    fn try_commit(&self, p: &mut Primary, ctx: &mut Ctx<'_, Self>) {
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

    fn replicate(&self, p: &mut Primary, ctx: &mut Ctx<'_, Self>) {
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

    fn on_primary_msg(&self, p: &mut Primary, ctx: &mut Ctx<'_, Self>, from: usize, msg: Msg) {
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

    fn on_backup_msg(&self, b: &mut Backup, ctx: &mut Ctx<'_, Self>, from: usize, msg: Msg) {
        match msg {
            Msg::Replicate {
                from: start,
                entries,
                commit,
            } => {
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

    fn send_request(&self, ctx: &mut Ctx<'_, Self>, out: Outgoing<KvOp>) {
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

impl Process<KvRegister> for Proc {
    fn on_message(&mut self, ctx: &mut Ctx<'_, KvRegister>, from: usize, msg: Msg) {
        let system = ctx.system();
        match self {
            Proc::Primary(p) => system.on_primary_msg(p, ctx, from, msg),
            Proc::Backup(b) => system.on_backup_msg(b, ctx, from, msg),
            Proc::Client(c) => {
                if let Msg::Response { seq, value } = msg {
                    if let Some(done) = c.core.on_reply(ctx, seq, client_timer) {
                        let output = value.map_or(Value::Nil, Value::Str);
                        for op in done.history {
                            ctx.complete(op, Status::Ok, output.clone());
                        }
                    }
                }
            }
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, KvRegister>, timer: Timer) {
        let system = ctx.system();
        match (self, timer) {
            (Proc::Primary(p), Timer::Flush) => {
                p.flush_pending = false;
                if !system.no_fsync {
                    ctx.disk().sync(LOG);
                }
                p.synced = p.state.log.len() as u64;
                system.replicate(p, ctx);
                system.try_commit(p, ctx);
            }
            (Proc::Primary(p), Timer::Replicate) => {
                system.replicate(p, ctx);
                ctx.set_timer(Timer::Replicate, system.params.replicate_interval_ms);
            }
            (Proc::Client(c), Timer::Client(t)) => {
                if let Some(out) = c.core.on_timer(ctx, t, client_timer) {
                    system.send_request(ctx, out);
                }
            }
            (proc, timer) => panic!("timer {timer:?} fired on {proc:?}"),
        }
    }
}

/// What the checks look at.
#[derive(Debug, Clone)]
pub struct KvFinal {
    /// Each replica's state (`None` if it was not running at the end).
    pub replicas: Vec<(usize, Option<Replica>)>,
    /// Why the system had not settled, if it had not.
    pub unsettled: Vec<String>,
}
