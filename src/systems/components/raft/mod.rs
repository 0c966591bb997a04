//! A replicated log: Raft, generic over the state machine it replicates.
//!
//! This is Raft as in the paper (Ongaro & Ousterhout, "In Search of an Understandable
//! Consensus Algorithm"), with the parts that matter for durability made explicit:
//!
//! * **Terms and votes are persisted and fsynced before they are acted on**: a vote is
//!   granted only after `voted_for` is durable, so a crash cannot make a node vote twice
//!   in one term.
//! * **Elections** use randomized timeouts (from the node's own stream); a candidate needs
//!   a majority, and a vote goes only to a candidate whose log is at least as up to date.
//! * **Replication**: the leader appends to its log and fsyncs in groups (every
//!   `flush_interval_ms`); followers check log matching (`prev_index`/`prev_term`),
//!   truncate conflicting suffixes (never a committed entry — asserted), append, **fsync,
//!   then acknowledge**. An entry commits once a majority holds it durably *and* it is
//!   from the leader's current term (Figure 8); earlier entries commit with it.
//! * **Snapshots**: every `snapshot_every` applied entries the state is saved and the log
//!   prefix discarded; a follower too far behind receives the snapshot instead.
//! * **Recovery**: a restarted replica loads the snapshot, the term and vote, and the log
//!   (cut at a torn record), and rebuilds its state by replaying the committed tail as it
//!   learns the commit index again.
//! * **Leader leases** (optional, [`Config::lease`]; [`lease`]): a leader may answer reads
//!   from its own state while a majority has promised, on its own clock, not to vote for
//!   anyone — shortened by the largest possible difference between two clocks.
//!
//! # Using it
//!
//! A system that replicates something with Raft implements [`Host`]: which
//! [`StateMachine`] one group replicates, how Raft's messages, timers and disk records fit
//! in the system's own types, the group's [`Config`], and hooks that Raft calls at fixed
//! points — to apply an entry, after a committed entry was applied (where the service
//! acts on it), when leadership starts and ends, and when a snapshot was installed. Each
//! replica process holds one [`Raft`] and forwards Raft's messages and timers to it.
//!
//! The leader also keeps a *tail* state, the state after every entry in its log committed
//! or not, so a service can validate new commands against pending ones, and a slot of
//! leader-only service state ([`Host::Lead`]) that is dropped when leadership ends.

pub mod checks;
mod election;
pub mod lease;
pub mod liveness;
mod replication;
mod snapshot;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;
use std::hash::Hash;

use serde::{Deserialize, Serialize};

pub use replication::Append;

use crate::catalog::catalogue;
use crate::disk::Slot;
use crate::sim::{Ctx, System};

/// Coverage probes the replicated log can reach (see [`crate::sim::Ctx::probe`]).
pub const PROBES: &[&str] = &[
    "leader_elected",
    "leader_change",
    "new_leader_with_uncommitted_entries",
    "follower_log_gap",
    "follower_truncated_conflicting_entries",
    "snapshot_taken",
    "snapshot_installed",
    "replica_recovered_from_disk",
    "torn_log_tail_cut",
    "election_deferred_by_lease",
    "follower_cut_matching_entries",
    "leader_committed_earlier_term_entry",
    "lease_extended",
    "stale_snapshot_received",
    "vote_for_stale_log_requested",
    "old_term_entry_on_majority",
    "lease_read_unrefreshed",
    "follower_holds_later_term_entry",
];

/// Events of a Raft group that aimed faults may strike right after (see
/// [`crate::plan::aims`]), each reported on the leader: just elected, just elected with
/// entries it has not committed, an entry of an earlier term on a majority but not
/// committed (the window of the Raft paper's Figure 8).
pub const AIM_TARGETS: &[&str] = &[
    "leader_elected",
    "new_leader_with_uncommitted_entries",
    "old_term_entry_on_majority",
];

/// With leader leases, one more: a lease just extended (reported on the leader).
pub const LEASE_AIM_TARGETS: &[&str] = &["lease_extended"];

/// What one Raft group replicates.
pub trait StateMachine: Clone + Debug + Default + PartialEq + Send + 'static {
    /// What a log entry carries.
    type Payload: Clone + Debug + PartialEq + Eq + Hash + Send + 'static;
    /// The payload of a new leader's first entry, which commits its predecessors' entries.
    fn noop() -> Self::Payload;
    /// Index of the last entry folded into this state.
    fn applied(&self) -> u64;
    /// A digest chain over what was applied ([`chain`]): replicas that applied the same
    /// entries to the same effect have the same value (the log agreement check compares
    /// them).
    fn chain(&self) -> u64;
}

/// Extend a state machine's digest chain with an applied entry's payload: replicas that
/// applied the same payloads in the same order have the same chain (for agreement checks).
pub fn chain<T: Hash>(previous: u64, payload: &T) -> u64 {
    use std::hash::Hasher;
    let mut hasher = crate::sim::StableHasher::default();
    previous.hash(&mut hasher);
    payload.hash(&mut hasher);
    hasher.finish()
}

/// One entry of the replicated log.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct LogEntry<P> {
    /// Position (1-based).
    pub index: u64,
    /// Term of the leader that created it.
    pub term: u64,
    /// Content.
    pub payload: P,
}

/// A snapshot: the state after `last_index`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot<M> {
    /// Last entry included.
    pub last_index: u64,
    /// Its term.
    pub last_term: u64,
    /// The state.
    pub state: M,
}

/// The entry type of a state machine.
pub type Entry<M> = LogEntry<<M as StateMachine>::Payload>;

/// Raft's records on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record<M: StateMachine> {
    /// Term and vote (file `meta`).
    Meta {
        /// Term.
        term: u64,
        /// Vote in that term.
        voted_for: Option<usize>,
    },
    /// A log entry (file `log`).
    Entry(Entry<M>),
    /// A snapshot (file `snapshot`).
    Snapshot(Snapshot<M>),
}

/// Raft's messages (the fields of the paper's RPCs).
#[derive(Debug, Clone)]
pub enum Msg<M: StateMachine> {
    /// Ask for a vote.
    RequestVote {
        /// The candidate's term.
        term: u64,
        /// Index of the candidate's last log entry.
        last_index: u64,
        /// Term of the candidate's last log entry.
        last_term: u64,
    },
    /// The answer.
    Vote {
        /// The voter's term.
        term: u64,
        /// Whether the vote is granted.
        granted: bool,
    },
    /// Entries (or a heartbeat).
    Append(Append<M>),
    /// The answer. `lease_ns`: the lease end the follower promised (0: none).
    AppendReply {
        /// The follower's term.
        term: u64,
        /// Whether the follower's log matched at `prev_index` and took the entries.
        success: bool,
        /// On success, index of the last entry the follower holds from the leader.
        match_index: u64,
        /// On failure, the index the leader should resume from (0 on success).
        hint: u64,
        /// The lease end the follower promised (leader's clock, ns; 0: none).
        lease_ns: i64,
    },
    /// A snapshot for a follower too far behind.
    InstallSnapshot {
        /// The leader's term.
        term: u64,
        /// The leader's snapshot.
        snapshot: Box<Snapshot<M>>,
    },
    /// The answer.
    SnapshotReply {
        /// The follower's term.
        term: u64,
        /// Index the follower's state now covers (0: refused, stale term).
        match_index: u64,
    },
}

impl<M: StateMachine> Msg<M> {
    /// The message kind, for the trace and the timeline.
    pub fn label(&self) -> &'static str {
        match self {
            Msg::RequestVote { .. } => "request_vote",
            Msg::Vote { .. } => "vote",
            Msg::Append(a) if a.entries.is_empty() => "heartbeat",
            Msg::Append(_) => "append_entries",
            Msg::AppendReply { .. } => "append_reply",
            Msg::InstallSnapshot { .. } => "install_snapshot",
            Msg::SnapshotReply { .. } => "snapshot_reply",
        }
    }
}

/// The kinds of Raft's messages (their labels), for fault points that hold one kind.
pub const LABELS: [&str; 7] = [
    "request_vote",
    "vote",
    "heartbeat",
    "append_entries",
    "append_reply",
    "install_snapshot",
    "snapshot_reply",
];

/// Raft's timers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Timer {
    /// Election timeout.
    Election,
    /// Leader heartbeat.
    Heartbeat,
    /// Leader group commit.
    Flush,
}

catalogue! {
    /// Planted bugs of the replicated log: every system built on it includes them in its
    /// own catalogue (`Raft(raft::Bug)`), so each can be planted in any of them.
    pub enum Bug {
        /// Raft: term, vote, log and snapshot writes are never fsynced: a crash forgets votes and acknowledged entries
        NoFsync = "no-fsync",
        /// Raft: a leader commits an entry of an earlier term as soon as a majority holds it (Figure 8): a later leader overwrites it
        CommitOldTerm = "commit-old-term",
        /// Raft: a replica grants its vote without comparing log freshness: a leader without committed entries overwrites them
        NoElectionRestriction = "no-election-restriction",
        /// Raft: a follower deletes the entries after prevLogIndex of every AppendEntries, even matching ones: a delayed or duplicated one loses committed entries
        TruncateOnStaleAppend = "truncate-on-stale-append",
        /// Raft: a follower installs a snapshot older than its committed state: its state and log roll back
        StaleSnapshotInstall = "stale-snapshot-install",
    }
}

catalogue! {
    /// Checks of the replicated log, over its own observations ([`Observation`]): every
    /// system built on it includes them (`Raft(raft::Check)`), and they judge every group.
    pub enum Check: checks {
        /// no two different entries are committed at one index, and replicas applying the same entries reach the same state
        LogAgreement = "log_agreement" (Safety),
    }
}

/// Planted bugs of the replicated log, which every system built on it can switch on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Bugs {
    /// Term, vote, log and snapshot writes are never fsynced.
    pub no_fsync: bool,
    /// A leader commits an entry of an earlier term as soon as a majority holds it (the
    /// paper's Figure 8): a later leader may overwrite it.
    pub commit_old_term: bool,
    /// A replica grants its vote without comparing how up to date the logs are.
    pub no_election_restriction: bool,
    /// A follower deletes the entries after `prev_index` of every AppendEntries, even
    /// when they match: a delayed or duplicated one loses entries it acknowledged.
    pub truncate_on_stale_append: bool,
    /// A follower installs any snapshot from the leader, even one older than its
    /// committed state: its state and log roll back.
    pub stale_snapshot_install: bool,
    /// A leader's lease is not shortened by the clock skew margin.
    pub lease_ignores_skew: bool,
}

impl Bugs {
    /// The switches of Raft's bugs among a system's planted `bugs` (the system's catalogue
    /// includes Raft's). The lease bug belongs to the reads a system serves from leases,
    /// so the system sets it.
    pub fn planted<B: Copy>(bugs: &[B]) -> Bugs
    where
        Bug: TryFrom<B>,
    {
        let mut on = Bugs::default();
        for bug in bugs.iter().filter_map(|&b| Bug::try_from(b).ok()) {
            match bug {
                Bug::NoFsync => on.no_fsync = true,
                Bug::CommitOldTerm => on.commit_old_term = true,
                Bug::NoElectionRestriction => on.no_election_restriction = true,
                Bug::TruncateOnStaleAppend => on.truncate_on_stale_append = true,
                Bug::StaleSnapshotInstall => on.stale_snapshot_install = true,
            }
        }
        on
    }
}

/// What a replica reports for the log's checks ([`checks`]), through
/// [`Host::raft_observation`]: facts no replica keeps to the end, since logs are compacted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Observation {
    /// A replica applied a committed entry.
    Applied {
        /// The group.
        group: usize,
        /// The entry's index.
        index: u64,
        /// Its term.
        term: u64,
        /// A digest of the entry (index, term, payload).
        hash: u64,
        /// The state machine's digest chain after applying it ([`StateMachine::chain`]).
        chain: u64,
    },
    /// A replica installed a snapshot from its leader.
    SnapshotInstalled {
        /// The group.
        group: usize,
        /// The snapshot's last index.
        index: u64,
        /// The state's digest chain.
        chain: u64,
    },
}

/// A digest of a log entry, stable across runs and platforms.
pub fn entry_hash<P: Hash>(entry: &LogEntry<P>) -> u64 {
    use std::hash::Hasher;
    let mut hasher = crate::sim::StableHasher::default();
    entry.hash(&mut hasher);
    hasher.finish()
}

/// Leader leases: see [`lease`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseConfig {
    /// How long a follower promises not to vote after it accepts an AppendEntries (ms):
    /// the lease a leader asks for.
    pub promise_ms: u64,
    /// The largest difference between two processes' clocks (ms): a lease ends this much
    /// earlier on the leader's clock than the followers' promises do on theirs.
    pub clock_skew_ms_max: u64,
}

/// Settings of one replicated log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Election timeout bounds (ms); each wait is drawn in [min, max].
    pub election_timeout_ms_min: u64,
    /// Upper bound.
    pub election_timeout_ms_max: u64,
    /// Leader heartbeat interval (ms).
    pub heartbeat_ms: u64,
    /// Group commit: how long the leader gathers entries before one fsync (ms).
    pub flush_interval_ms: u64,
    /// Most entries in one AppendEntries.
    pub batch_max: u64,
    /// Take a snapshot every this many applied entries (0: never).
    pub snapshot_every: u64,
    /// Leader leases (`None`: off; reads then go through the log).
    pub lease: Option<LeaseConfig>,
    /// A new leader appends a no-op of its term at once (as etcd and most implementations
    /// do). Off, it first ships the earlier terms' entries alone and appends the no-op at
    /// its first heartbeat unless a command of its term came first (the paper's §5.4.2
    /// without §8): earlier entries reach a majority before any entry of the new term,
    /// Figure 8's window, which a correct leader keeps shut by never committing them by
    /// counting.
    pub noop_on_election: bool,
    /// Planted bugs.
    pub bugs: Bugs,
}

/// What a system provides to run Raft groups.
pub trait Host: System {
    /// What a group replicates.
    type Sm: StateMachine;
    /// What applying an entry yields for the service (answers to send, work to start).
    type Effects;
    /// Leader-only service state, fresh for each term led.
    type Lead: Default + Clone + Debug + Send;

    /// The log's settings.
    fn raft_config(&self) -> &Config;
    /// Raft's messages as the system's messages.
    fn raft_msg(msg: Msg<Self::Sm>) -> Self::Msg;
    /// Raft's timers as the system's timers.
    fn raft_timer(timer: Timer) -> Self::Timer;
    /// Raft's records as the system's disk records.
    fn raft_record(record: Record<Self::Sm>) -> Self::Record;
    /// The Raft record in a disk record, if it is one.
    fn as_raft_record(record: &Self::Record) -> Option<&Record<Self::Sm>>;
    /// Raft's verification records as the system's observations (for [`checks`]).
    fn raft_observation(obs: Observation) -> Self::Observation;

    /// Fold an entry into `sm` (the committed state, or the leader's tail).
    fn apply(ctx: C<Self>, group: usize, sm: &mut Self::Sm, e: &Entry<Self::Sm>) -> Self::Effects;
    /// A committed entry was applied to `raft.state`: act on it (`applied.effects`).
    fn on_applied(ctx: C<Self>, raft: &mut Raft<Self>, applied: Applied<Self>);
    /// This replica became leader (after its no-op and first heartbeat were sent).
    fn on_lead(ctx: C<Self>, raft: &mut Raft<Self>);
    /// This replica stopped leading.
    fn on_step_down(ctx: C<Self>);
    /// A snapshot from the leader replaced this replica's state up to `index`.
    fn on_snapshot_installed(ctx: C<Self>, raft: &Raft<Self>, index: u64);
}

/// A committed entry and what applying it yielded.
pub struct Applied<H: Host> {
    /// The entry.
    pub entry: Entry<H::Sm>,
    /// What it yielded.
    pub effects: H::Effects,
}

/// A handler's context, as Raft's functions take it.
pub type C<'c, 'a, H> = &'c mut Ctx<'a, H>;

const META: &str = "meta";
const LOG: &str = "log";
const SNAPSHOT: &str = "snapshot";

/// Raft role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// Following a leader (or waiting for one).
    Follower,
    /// Asking for votes; the set holds who granted one.
    Candidate(BTreeSet<usize>),
    /// Leading its term.
    Leader,
}

/// Leader-only state, dropped when leadership ends.
#[derive(Debug, Clone)]
pub struct Leadership<H: Host> {
    /// Next index to send to each peer.
    pub next: BTreeMap<usize, u64>,
    /// Highest index known replicated (durably) on each peer.
    pub matched: BTreeMap<usize, u64>,
    /// State after every entry in the log: what new commands are decided against.
    pub tail: H::Sm,
    /// The service's leader-only state.
    pub service: H::Lead,
    /// Index of this term's first entry (its no-op, or a first command when the no-op waits
    /// for the first heartbeat): until it is applied, the state may
    /// lack entries earlier leaders committed.
    pub term_start: u64,
    /// With leases: per peer, the latest lease end (own clock, ns) it promised.
    pub lease_promised: BTreeMap<usize, i64>,
}

/// One replica of a Raft group.
#[derive(Debug, Clone)]
pub struct Raft<H: Host> {
    /// The group (shard) this replica belongs to.
    pub group: usize,
    /// The other replicas of the group.
    pub peers: Vec<usize>,
    /// Current term (persistent).
    pub term: u64,
    /// Vote in the current term (persistent).
    pub voted_for: Option<usize>,
    /// Entries after the snapshot (persistent).
    pub log: Vec<Entry<H::Sm>>,
    /// The latest snapshot (persistent); `last_index == 0` means none.
    pub snapshot: Snapshot<H::Sm>,
    /// Role.
    pub role: Role,
    /// Known leader of the current term.
    pub leader: Option<usize>,
    /// Highest index known committed.
    pub commit: u64,
    /// Applied state.
    pub state: H::Sm,
    /// Highest index durable on this replica's disk.
    pub synced: u64,
    /// Leader-only state.
    pub lead: Option<Leadership<H>>,
    /// With leases: no vote for anyone (itself included) until the own clock reads this
    /// (ns): the promise its acknowledgements gave a leader.
    pub vote_after_ns: i64,
    flush_pending: bool,
}

/// A gauge for the timeline's charts: the entries the group's leader holds that are not
/// yet committed (its replication backlog; 0 while no replica leads). With several leaders
/// of different terms at once (a partitioned old leader), the largest.
pub fn leader_backlog<'a, H: Host + 'a>(replicas: impl IntoIterator<Item = &'a Raft<H>>) -> f64 {
    (replicas.into_iter())
        .filter(|r| r.is_leader())
        .map(|r| r.last_index().saturating_sub(r.commit) as f64)
        .fold(0.0, f64::max)
}

/// The group's leader of the highest term whose applied state is complete, if one runs (a
/// leader just elected may not have applied what it holds yet): the group's final state
/// as the checks read it.
pub fn caught_up_leader<'a, H: Host + 'a>(
    replicas: impl IntoIterator<Item = &'a Raft<H>>,
) -> Option<&'a Raft<H>> {
    (replicas.into_iter())
        .filter(|r| r.leads_caught_up())
        .max_by_key(|r| r.term)
}

impl<H: Host> Raft<H> {
    /// Boot: fresh, or recovering from disk.
    pub fn recover(ctx: C<'_, '_, H>, group: usize, peers: Vec<usize>) -> Raft<H> {
        let (term, voted_for) = Self::read_meta(ctx);
        let snapshot = Self::read_snapshot(ctx);
        let log = Self::read_log(ctx, snapshot.last_index);
        if term > 0 || !log.is_empty() {
            ctx.probe("replica_recovered_from_disk");
        }
        let state = snapshot.state.clone();
        let mut raft = Raft {
            group,
            peers,
            term,
            voted_for,
            synced: 0,
            log,
            commit: snapshot.last_index,
            snapshot,
            role: Role::Follower,
            leader: None,
            state,
            lead: None,
            vote_after_ns: 0,
            flush_pending: false,
        };
        raft.synced = raft.last_index();
        raft.vote_after_ns = lease::after_boot(ctx);
        tracing::debug!(
            group,
            term,
            last = raft.last_index(),
            snapshot = raft.snapshot.last_index,
            "recovered"
        );
        raft.reset_election_timer(ctx);
        raft
    }

    fn read_meta(ctx: C<'_, '_, H>) -> (u64, Option<usize>) {
        let mut meta = (0, None);
        for slot in ctx.disk().read(META) {
            if let Some(Record::Meta { term, voted_for }) = slot.ok().and_then(H::as_raft_record) {
                meta = (*term, *voted_for);
            }
        }
        meta
    }

    fn read_snapshot(ctx: C<'_, '_, H>) -> Snapshot<H::Sm> {
        match ctx
            .disk()
            .read(SNAPSHOT)
            .last()
            .and_then(Slot::ok)
            .and_then(H::as_raft_record)
        {
            Some(Record::Snapshot(s)) => s.clone(),
            _ => Snapshot::default(),
        }
    }

    /// The log after the snapshot, cut at the first torn record or gap.
    fn read_log(ctx: C<'_, '_, H>, snapshot_index: u64) -> Vec<Entry<H::Sm>> {
        let slots = ctx.disk().read(LOG).to_vec();
        let mut log: Vec<Entry<H::Sm>> = Vec::with_capacity(slots.len());
        for slot in &slots {
            match slot.ok().and_then(H::as_raft_record) {
                Some(Record::Entry(e)) => {
                    let expected = log.last().map_or(snapshot_index + 1, |l| l.index + 1);
                    if e.index <= snapshot_index && log.is_empty() {
                        continue; // covered by the snapshot
                    }
                    if e.index != expected {
                        break; // a gap: nothing after it can be trusted
                    }
                    log.push(e.clone());
                }
                _ => {
                    // A torn (half-written) record: everything from here is unusable.
                    ctx.probe("torn_log_tail_cut");
                    break;
                }
            }
        }
        if log.len() != slots.len() {
            // The file must hold exactly the log kept in memory (later truncations go by
            // position): rewrite it without what was skipped or cut.
            let mut disk = ctx.disk();
            disk.replace(LOG, log.iter().cloned().map(entry_record::<H>).collect());
            disk.sync(LOG);
        }
        log
    }

    /// Index of the last entry (or of the snapshot).
    pub fn last_index(&self) -> u64 {
        self.log
            .last()
            .map_or(self.snapshot.last_index, |e| e.index)
    }

    fn last_term(&self) -> u64 {
        self.log.last().map_or(self.snapshot.last_term, |e| e.term)
    }

    /// Term of the entry at `index`, if this replica still knows it.
    pub fn term_at(&self, index: u64) -> Option<u64> {
        if index == self.snapshot.last_index {
            return Some(self.snapshot.last_term);
        }
        self.entry(index).map(|e| e.term)
    }

    /// The entry at `index`, if it is in the log (not compacted into the snapshot).
    pub fn entry(&self, index: u64) -> Option<&Entry<H::Sm>> {
        let first = self.snapshot.last_index + 1;
        if index < first {
            return None;
        }
        self.log.get((index - first) as usize)
    }

    fn majority(&self) -> usize {
        let cluster = self.peers.len() + 1;
        cluster / 2 + 1
    }

    /// Whether this replica leads its term.
    pub fn is_leader(&self) -> bool {
        self.role == Role::Leader
    }

    /// Whether this replica leads and its applied state is complete: its term's first
    /// entry is applied, so the state holds every entry any earlier leader committed. A
    /// leader just elected (above all one just restarted, whose state is its snapshot)
    /// is not, and a check that reads its state as the group's final one would miss
    /// committed entries.
    pub fn leads_caught_up(&self) -> bool {
        self.lead
            .as_ref()
            .is_some_and(|l| self.commit >= l.term_start && self.state.applied() >= l.term_start)
    }

    /// The leader's tail state (every entry in its log applied), if it leads.
    pub fn tail(&self) -> Option<&H::Sm> {
        self.lead.as_ref().map(|l| &l.tail)
    }

    /// The leader's service state, if it leads.
    pub fn service_mut(&mut self) -> Option<&mut H::Lead> {
        self.lead.as_mut().map(|l| &mut l.service)
    }

    /// Dispatch one of Raft's messages.
    pub fn on_message(&mut self, ctx: C<'_, '_, H>, from: usize, msg: Msg<H::Sm>) {
        match msg {
            Msg::RequestVote {
                term,
                last_index,
                last_term,
            } => self.on_request_vote(ctx, from, term, last_index, last_term),
            Msg::Vote { term, granted } => self.on_vote(ctx, from, term, granted),
            Msg::Append(append) => self.on_append(ctx, from, append),
            Msg::AppendReply {
                term,
                success,
                match_index,
                hint,
                lease_ns,
            } => {
                self.note_lease(ctx, from, term, lease_ns);
                self.on_append_reply(ctx, from, term, success, match_index, hint)
            }
            Msg::InstallSnapshot { term, snapshot } => {
                self.on_install_snapshot(ctx, from, term, *snapshot)
            }
            Msg::SnapshotReply { term, match_index } => {
                self.on_snapshot_reply(ctx, from, term, match_index)
            }
        }
    }

    /// Dispatch one of Raft's timers.
    pub fn on_timer(&mut self, ctx: C<'_, '_, H>, timer: Timer) {
        match timer {
            Timer::Election => self.on_election_timeout(ctx),
            Timer::Heartbeat => self.on_heartbeat(ctx),
            Timer::Flush => self.flush(ctx),
        }
    }

    fn send(&self, ctx: C<'_, '_, H>, to: usize, msg: Msg<H::Sm>) {
        ctx.send(to, H::raft_msg(msg));
    }
}

fn entry_record<H: Host>(entry: Entry<H::Sm>) -> H::Record {
    H::raft_record(Record::Entry(entry))
}

fn config<'a, H: Host>(ctx: &Ctx<'a, H>) -> &'a Config {
    ctx.system().raft_config()
}
