//! One replica of a shard: Raft consensus over the event log.
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
//!
//! On top of consensus sits the event-sourced service: the leader decides commands into
//! events against its *tail* state (the state after every entry in its log, committed or
//! not, so validations see earlier pending writes), appends them, and answers the client
//! when the entry is applied. Reads go through the log too. The leader also drives
//! cross-shard transfers (two-phase commit) whose state lives in the log.

use std::collections::{BTreeMap, BTreeSet};

use super::ledger::{
    entry_hash, CoordState, Decider, Decision, Effect, Event, Ledger, LogEntry, PartState, Payload,
    ReqId, TxnId,
};
use super::{EsCluster, EsObs, Msg, ReadMode, Record, Reply, Snapshot, Timer};
use crate::disk::Slot;
use crate::sim::Ctx;

type C<'c, 'a> = &'c mut Ctx<'a, EsCluster>;

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
pub struct Leadership {
    /// Next index to send to each peer.
    pub next: BTreeMap<usize, u64>,
    /// Highest index known replicated (durably) on each peer.
    pub matched: BTreeMap<usize, u64>,
    /// State after every entry in the log: what new commands are decided against.
    pub tail: Ledger,
    /// Commands waiting for a lock to be released.
    pub parked: Vec<(ReqId, super::ledger::Command)>,
    /// When this leader first saw each unfinished transfer it coordinates (ns).
    pub txn_seen: BTreeMap<TxnId, u64>,
}

/// One replica.
#[derive(Debug, Clone)]
pub struct Replica {
    /// Shard.
    pub shard: usize,
    /// The other replicas of the shard.
    pub peers: Vec<usize>,
    /// Current term (persistent).
    pub term: u64,
    /// Vote in the current term (persistent).
    pub voted_for: Option<usize>,
    /// Entries after the snapshot (persistent).
    pub log: Vec<LogEntry>,
    /// The latest snapshot (persistent); `last_index == 0` means none.
    pub snapshot: Snapshot,
    /// Role.
    pub role: Role,
    /// Known leader of the current term.
    pub leader: Option<usize>,
    /// Highest index known committed.
    pub commit: u64,
    /// Applied state.
    pub state: Ledger,
    /// Highest index durable on this replica's disk.
    pub synced: u64,
    /// Leader-only state.
    pub lead: Option<Leadership>,
    flush_pending: bool,
}

impl Replica {
    /// Boot: fresh, or recovering from disk.
    pub fn recover(ctx: C<'_, '_>, shard: usize, peers: Vec<usize>) -> Replica {
        let (mut term, mut voted_for) = (0, None);
        let mut snapshot = Snapshot::default();
        for slot in ctx.disk().read(META) {
            if let Some(Record::Meta {
                term: t,
                voted_for: v,
            }) = slot.ok()
            {
                (term, voted_for) = (*t, *v);
            }
        }
        if let Some(Some(Record::Snapshot(s))) = ctx.disk().read(SNAPSHOT).last().map(Slot::ok) {
            snapshot = s.clone();
        }
        let slots = ctx.disk().read(LOG).to_vec();
        let mut log: Vec<LogEntry> = Vec::with_capacity(slots.len());
        for slot in &slots {
            match slot.ok() {
                Some(Record::Entry(e)) => {
                    let expected = log.last().map_or(snapshot.last_index + 1, |l| l.index + 1);
                    if e.index <= snapshot.last_index && log.is_empty() {
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
            disk.replace(LOG, log.iter().cloned().map(Record::Entry).collect());
            disk.sync(LOG);
        }
        if term > 0 || !log.is_empty() {
            ctx.probe("replica_recovered_from_disk");
        }
        let state = snapshot.state.clone();
        let mut replica = Replica {
            shard,
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
            flush_pending: false,
        };
        replica.synced = replica.last_index();
        tracing::debug!(
            shard,
            term,
            last = replica.last_index(),
            snapshot = replica.snapshot.last_index,
            "recovered"
        );
        replica.reset_election_timer(ctx);
        replica
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
    fn term_at(&self, index: u64) -> Option<u64> {
        if index == self.snapshot.last_index {
            return Some(self.snapshot.last_term);
        }
        self.entry(index).map(|e| e.term)
    }

    fn entry(&self, index: u64) -> Option<&LogEntry> {
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

    fn persist_meta(&self, ctx: C<'_, '_>) {
        let fsync = !ctx.system().bugs.no_fsync;
        let mut disk = ctx.disk();
        disk.replace(
            META,
            vec![Record::Meta {
                term: self.term,
                voted_for: self.voted_for,
            }],
        );
        if fsync {
            disk.sync(META);
        }
    }

    fn reset_election_timer(&self, ctx: C<'_, '_>) {
        let p = &ctx.system().p;
        let (lo, hi) = (p.election_timeout_ms_min, p.election_timeout_ms_max);
        let after = ctx.rng().range_u64(lo * 1_000_000, hi * 1_000_000);
        ctx.set_timer_ns(Timer::Election, after);
    }

    /// Adopt a newer term (or a leader of this term) and follow.
    fn follow(&mut self, ctx: C<'_, '_>, term: u64, leader: Option<usize>) {
        if term > self.term {
            self.term = term;
            self.voted_for = None;
            self.persist_meta(ctx);
        }
        if self.role == Role::Leader {
            ctx.note("stepped_down", self.term as i64);
            ctx.cancel_timer(Timer::Heartbeat);
            ctx.cancel_timer(Timer::TxnTick);
        }
        self.role = Role::Follower;
        self.lead = None;
        if leader.is_some() {
            self.leader = leader;
        } else if term > self.term {
            self.leader = None;
        }
        self.reset_election_timer(ctx);
    }

    // ----- elections -------------------------------------------------------------------

    /// The election timer fired: stand for election.
    pub fn on_election_timeout(&mut self, ctx: C<'_, '_>) {
        if self.is_leader() {
            return;
        }
        self.term += 1;
        self.voted_for = Some(ctx.node());
        self.leader = None;
        self.persist_meta(ctx);
        self.role = Role::Candidate(BTreeSet::from([ctx.node()]));
        ctx.note("candidate", self.term as i64);
        self.reset_election_timer(ctx);
        if self.majority() == 1 {
            self.become_leader(ctx);
            return;
        }
        for &peer in &self.peers {
            ctx.send(
                peer,
                Msg::RequestVote {
                    term: self.term,
                    last_index: self.last_index(),
                    last_term: self.last_term(),
                },
            );
        }
    }

    /// A candidate asks for our vote.
    pub fn on_request_vote(
        &mut self,
        ctx: C<'_, '_>,
        from: usize,
        term: u64,
        last_index: u64,
        last_term: u64,
    ) {
        if term > self.term {
            self.follow(ctx, term, None);
        }
        let up_to_date = last_term > self.last_term()
            || (last_term == self.last_term() && last_index >= self.last_index());
        let granted = term == self.term
            && self.voted_for.is_none_or(|v| v == from)
            && up_to_date
            && !self.is_leader();
        if granted {
            self.voted_for = Some(from);
            // Durable before the answer leaves: a crash must not let us vote again.
            self.persist_meta(ctx);
            self.reset_election_timer(ctx);
        }
        ctx.send(
            from,
            Msg::Vote {
                term: self.term,
                granted,
            },
        );
    }

    /// A vote came back.
    pub fn on_vote(&mut self, ctx: C<'_, '_>, from: usize, term: u64, granted: bool) {
        if term > self.term {
            self.follow(ctx, term, None);
            return;
        }
        let majority = self.majority();
        if let Role::Candidate(votes) = &mut self.role {
            if term == self.term && granted {
                votes.insert(from);
                if votes.len() >= majority {
                    self.become_leader(ctx);
                }
            }
        }
    }

    fn become_leader(&mut self, ctx: C<'_, '_>) {
        self.role = Role::Leader;
        self.leader = Some(ctx.node());
        ctx.note("leader", self.term as i64);
        ctx.probe("leader_elected");
        if self.term > 1 {
            ctx.probe("leader_change");
        }
        if self.last_index() > self.commit {
            ctx.probe("new_leader_with_uncommitted_entries");
        }
        tracing::debug!(
            shard = self.shard,
            term = self.term,
            last = self.last_index(),
            commit = self.commit,
            "became leader"
        );
        ctx.cancel_timer(Timer::Election);
        // The tail state: the applied state plus every later entry in the log.
        let mut tail = self.state.clone();
        let sys = ctx.system();
        for index in tail.applied + 1..=self.last_index() {
            let entry = self.entry(index).expect("log covers the tail").clone();
            let mut d = decider(ctx, self.shard);
            tail.apply(&entry, &mut d);
        }
        let next = self.last_index() + 1;
        self.lead = Some(Leadership {
            next: self.peers.iter().map(|&p| (p, next)).collect(),
            matched: self.peers.iter().map(|&p| (p, 0)).collect(),
            tail,
            parked: Vec::new(),
            txn_seen: BTreeMap::new(),
        });
        // A no-op of our own term: it commits the entries of earlier terms (Figure 8).
        self.append(ctx, Payload::Noop);
        self.flush(ctx);
        ctx.set_timer(Timer::Heartbeat, sys.p.heartbeat_ms);
        ctx.set_timer(Timer::TxnTick, sys.p.txn_retry_ms);
    }

    // ----- replication -----------------------------------------------------------------

    /// Leader: append an entry to the own log (durable at the next flush).
    fn append(&mut self, ctx: C<'_, '_>, payload: Payload) -> u64 {
        let entry = LogEntry {
            index: self.last_index() + 1,
            term: self.term,
            payload,
        };
        ctx.disk().append(LOG, Record::Entry(entry.clone()));
        let shard = self.shard;
        if let Some(lead) = &mut self.lead {
            let mut d = decider(ctx, shard);
            lead.tail.apply(&entry, &mut d);
        }
        self.log.push(entry);
        if !self.flush_pending {
            self.flush_pending = true;
            ctx.set_timer(Timer::Flush, ctx.system().p.flush_interval_ms);
        }
        self.last_index()
    }

    /// Leader: append events that answer no client request (two-phase-commit steps).
    fn append_events(&mut self, ctx: C<'_, '_>, events: Vec<Event>) {
        self.append(
            ctx,
            Payload::Events {
                req: None,
                events,
                reply: None,
            },
        );
    }

    /// Leader: group commit — fsync the log, then ship it.
    pub fn flush(&mut self, ctx: C<'_, '_>) {
        self.flush_pending = false;
        if !self.is_leader() {
            return;
        }
        if !ctx.system().bugs.no_fsync {
            ctx.disk().sync(LOG);
        }
        self.synced = self.last_index();
        for peer in self.peers.clone() {
            self.replicate(ctx, peer);
        }
        self.advance_commit(ctx);
    }

    /// Leader: heartbeat — re-send to every peer.
    pub fn on_heartbeat(&mut self, ctx: C<'_, '_>) {
        if !self.is_leader() {
            return;
        }
        for peer in self.peers.clone() {
            self.replicate(ctx, peer);
        }
        ctx.set_timer(Timer::Heartbeat, ctx.system().p.heartbeat_ms);
    }

    fn replicate(&mut self, ctx: C<'_, '_>, peer: usize) {
        let Some(lead) = &self.lead else { return };
        let next = lead.next[&peer].max(1);
        if next <= self.snapshot.last_index {
            ctx.send(
                peer,
                Msg::InstallSnapshot {
                    term: self.term,
                    snapshot: Box::new(self.snapshot.clone()),
                },
            );
            return;
        }
        let prev_index = next - 1;
        let prev_term = self
            .term_at(prev_index)
            .expect("the leader knows every entry after its snapshot");
        let batch = ctx.system().p.batch_max as usize;
        let entries: Vec<LogEntry> = (next..=self.last_index())
            .take(batch)
            .map(|i| self.entry(i).expect("in log").clone())
            .collect();
        ctx.send(
            peer,
            Msg::Append {
                term: self.term,
                prev_index,
                prev_term,
                entries,
                commit: self.commit,
            },
        );
    }

    /// Follower: entries (or a heartbeat) from a leader. (The arguments are the fields of
    /// Raft's AppendEntries RPC.)
    #[allow(clippy::too_many_arguments)]
    pub fn on_append(
        &mut self,
        ctx: C<'_, '_>,
        from: usize,
        term: u64,
        prev_index: u64,
        prev_term: u64,
        entries: Vec<LogEntry>,
        commit: u64,
    ) {
        if term < self.term {
            return self.reject_append(ctx, from, 0);
        }
        assert!(
            !(self.is_leader() && term == self.term),
            "two leaders in term {term}: {} and {from} (election safety violated)",
            ctx.node()
        );
        self.follow(ctx, term, Some(from));
        if prev_index > self.last_index() {
            ctx.probe("follower_log_gap");
            let hint = self.last_index() + 1;
            return self.reject_append(ctx, from, hint);
        }
        if prev_index >= self.snapshot.last_index && self.term_at(prev_index) != Some(prev_term) {
            // Log matching fails: skip back over the whole conflicting term at once.
            let bad = self.term_at(prev_index);
            let mut hint = prev_index;
            while hint > self.commit + 1
                && hint > self.snapshot.last_index + 1
                && self.term_at(hint - 1) == bad
            {
                hint -= 1;
            }
            return self.reject_append(ctx, from, hint);
        }
        let count = entries.len() as u64;
        let mut changed = false;
        for entry in entries {
            if entry.index <= self.snapshot.last_index {
                continue;
            }
            if entry.index <= self.last_index() {
                if self.term_at(entry.index) == Some(entry.term) {
                    continue;
                }
                assert!(
                    entry.index > self.commit,
                    "replica {} would overwrite committed entry {} (term {:?}) with term {} (log matching violated)",
                    ctx.node(),
                    entry.index,
                    self.term_at(entry.index),
                    entry.term
                );
                ctx.probe("follower_truncated_conflicting_entries");
                let keep = (entry.index - self.snapshot.last_index - 1) as usize;
                self.log.truncate(keep);
                ctx.disk().truncate(LOG, keep);
            }
            ctx.disk().append(LOG, Record::Entry(entry.clone()));
            self.log.push(entry);
            changed = true;
        }
        if changed && !ctx.system().bugs.no_fsync {
            // Durable before acknowledged.
            ctx.disk().sync(LOG);
        }
        self.synced = self.last_index();
        let matched = prev_index + count;
        let new_commit = commit.min(matched);
        if new_commit > self.commit {
            self.commit = new_commit;
            self.apply_committed(ctx);
        }
        ctx.send(
            from,
            Msg::AppendReply {
                term: self.term,
                success: true,
                match_index: matched,
                hint: 0,
            },
        );
    }

    /// Refuse an AppendEntries, telling the leader our term and where to resume.
    fn reject_append(&self, ctx: C<'_, '_>, leader: usize, hint: u64) {
        let reply = Msg::AppendReply {
            term: self.term,
            success: false,
            match_index: 0,
            hint,
        };
        ctx.send(leader, reply);
    }

    /// Leader: a follower answered.
    pub fn on_append_reply(
        &mut self,
        ctx: C<'_, '_>,
        from: usize,
        term: u64,
        success: bool,
        match_index: u64,
        hint: u64,
    ) {
        if term > self.term {
            self.follow(ctx, term, None);
            return;
        }
        if term != self.term || !self.is_leader() {
            return;
        }
        let last = self.last_index();
        let lead = self.lead.as_mut().expect("leaders lead");
        if success {
            let m = lead.matched.entry(from).or_insert(0);
            *m = (*m).max(match_index);
            let n = lead.next.entry(from).or_insert(1);
            *n = (*n).max(match_index + 1);
            self.advance_commit(ctx);
        } else {
            let n = lead.next.entry(from).or_insert(1);
            *n = hint.clamp(1, last + 1).min(*n - 1).max(1);
            self.replicate(ctx, from);
        }
    }

    /// Leader: commit the highest index of the current term a majority holds durably.
    fn advance_commit(&mut self, ctx: C<'_, '_>) {
        let Some(lead) = &self.lead else { return };
        let mut n = self.last_index();
        while n > self.commit {
            if self.term_at(n) == Some(self.term) {
                let holders = lead.matched.values().filter(|&&m| m >= n).count()
                    + usize::from(self.synced >= n);
                if holders >= self.majority() {
                    break;
                }
            } else if self.term_at(n).is_some_and(|t| t < self.term) {
                // Entries of earlier terms never commit by counting (Figure 8).
                n = self.commit;
                break;
            }
            n -= 1;
        }
        if n > self.commit {
            self.commit = n;
            self.apply_committed(ctx);
        }
    }

    /// Apply committed entries; a leader acts on their effects. Then snapshot if due.
    fn apply_committed(&mut self, ctx: C<'_, '_>) {
        while self.state.applied < self.commit {
            let index = self.state.applied + 1;
            let Some(entry) = self.entry(index).cloned() else {
                panic!("replica {} lacks committed entry {index}", ctx.node());
            };
            let effects = {
                let mut d = decider(ctx, self.shard);
                self.state.apply(&entry, &mut d)
            };
            let leader = self.is_leader();
            ctx.observe(EsObs::Applied {
                shard: self.shard,
                index,
                term: entry.term,
                hash: entry_hash(&entry),
                chain: self.state.chain,
                entry: leader.then(|| entry.clone()),
            });
            if leader {
                self.act(ctx, effects);
            }
        }
        let every = ctx.system().p.snapshot_every;
        if every > 0 && self.state.applied >= self.snapshot.last_index + every {
            self.take_snapshot(ctx);
        }
    }

    fn take_snapshot(&mut self, ctx: C<'_, '_>) {
        let index = self.state.applied;
        let last_term = self.term_at(index).expect("applied entries are known");
        let keep: Vec<LogEntry> = self
            .log
            .iter()
            .filter(|e| e.index > index)
            .cloned()
            .collect();
        self.snapshot = Snapshot {
            last_index: index,
            last_term,
            state: self.state.clone(),
        };
        self.persist_snapshot(ctx, keep);
        ctx.probe("snapshot_taken");
    }

    /// Make the current snapshot durable, then replace the log with the entries after it.
    fn persist_snapshot(&mut self, ctx: C<'_, '_>, keep: Vec<LogEntry>) {
        let fsync = !ctx.system().bugs.no_fsync;
        let mut disk = ctx.disk();
        disk.replace(SNAPSHOT, vec![Record::Snapshot(self.snapshot.clone())]);
        if fsync {
            disk.sync(SNAPSHOT);
        }
        // The snapshot is durable first; only then may the log prefix go.
        disk.replace(LOG, keep.iter().cloned().map(Record::Entry).collect());
        if fsync {
            disk.sync(LOG);
        }
        self.log = keep;
    }

    /// Follower: a snapshot from the leader.
    pub fn on_install_snapshot(
        &mut self,
        ctx: C<'_, '_>,
        from: usize,
        term: u64,
        snapshot: Snapshot,
    ) {
        if term < self.term {
            ctx.send(
                from,
                Msg::SnapshotReply {
                    term: self.term,
                    match_index: 0,
                },
            );
            return;
        }
        self.follow(ctx, term, Some(from));
        let index = snapshot.last_index;
        if index > self.commit {
            ctx.probe("snapshot_installed");
            let keep: Vec<LogEntry> = if self.term_at(index) == Some(snapshot.last_term) {
                self.log
                    .iter()
                    .filter(|e| e.index > index)
                    .cloned()
                    .collect()
            } else {
                Vec::new()
            };
            self.state = snapshot.state.clone();
            self.commit = index;
            self.snapshot = snapshot;
            self.persist_snapshot(ctx, keep);
            self.synced = self.last_index();
            ctx.observe(EsObs::SnapshotInstalled {
                shard: self.shard,
                index,
                chain: self.state.chain,
            });
        }
        ctx.send(
            from,
            Msg::SnapshotReply {
                term: self.term,
                match_index: index.max(self.commit),
            },
        );
    }

    /// Leader: a follower installed a snapshot.
    pub fn on_snapshot_reply(&mut self, ctx: C<'_, '_>, from: usize, term: u64, match_index: u64) {
        self.on_append_reply(
            ctx,
            from,
            term,
            match_index > 0,
            match_index,
            match_index + 1,
        );
    }

    // ----- the service -----------------------------------------------------------------

    /// A command from the router.
    pub fn on_command(
        &mut self,
        ctx: C<'_, '_>,
        from: usize,
        req: ReqId,
        command: super::ledger::Command,
    ) {
        let sys = ctx.system();
        let reply = |ctx: C<'_, '_>, reply: Reply| ctx.send(from, Msg::CommandReply { req, reply });
        if command.is_read() {
            match sys.read_mode {
                ReadMode::Follower if !self.is_leader() => {
                    ctx.probe("follower_read_served");
                    return reply(ctx, Reply::Done(self.state.read(&command)));
                }
                ReadMode::LeaderLocal if self.is_leader() => {
                    return reply(ctx, Reply::Done(self.state.read(&command)));
                }
                _ => {}
            }
        }
        if !self.is_leader() {
            return reply(ctx, Reply::NotLeader(self.leader));
        }
        let shard = self.shard;
        let decision = {
            let tail = &self.lead.as_ref().expect("leaders lead").tail;
            let mut d = decider(ctx, shard);
            tail.decide(req, &command, &mut d)
        };
        match decision {
            Decision::Append(payload) => {
                let early = match &payload {
                    Payload::Events { reply: Some(r), .. } if sys.bugs.ack_before_commit => {
                        Some(r.clone())
                    }
                    _ => None,
                };
                let payload = match payload {
                    Payload::Events { req: Some(req), .. } if sys.bugs.replicate_commands => {
                        Payload::Command { req, command }
                    }
                    other => other,
                };
                self.append(ctx, payload);
                if let Some(r) = early {
                    // The planted bug: answer before a majority holds the entry.
                    reply(ctx, Reply::Done(r));
                }
            }
            Decision::Park => {
                ctx.probe("command_parked_on_lock");
                self.lead
                    .as_mut()
                    .expect("leaders lead")
                    .parked
                    .push((req, command));
            }
            Decision::Reply(result) => {
                // The tail knows the answer, but the tail includes uncommitted entries:
                // answer only once the request is applied (committed), never before.
                let applied = self.state.sessions.get(&req.client);
                if applied.is_some_and(|s| s.seq == req.seq && s.result.is_some()) {
                    ctx.probe("duplicate_request_answered_from_session");
                    reply(ctx, Reply::Done(result));
                }
            }
            Decision::Ignore => {}
        }
    }

    /// Leader: act on the effects of an applied entry.
    fn act(&mut self, ctx: C<'_, '_>, effects: Vec<Effect>) {
        let sys = ctx.system();
        for effect in effects {
            match effect {
                Effect::Reply(req, result) => {
                    ctx.send(
                        sys.router,
                        Msg::CommandReply {
                            req,
                            reply: Reply::Done(result),
                        },
                    );
                }
                Effect::SendPrepare(txn) => self.send_prepare(ctx, txn),
                Effect::SendDecision(txn) => self.send_decision(ctx, txn),
                Effect::AckPrepared(txn) => {
                    if let Some(t) = self.state.part.get(&txn) {
                        let vote = t.state != PartState::Aborted;
                        sys.to_shard(ctx, t.coordinator, Msg::Prepared { txn, vote });
                    }
                }
                Effect::AckDecision(txn) => {
                    if let Some(t) = self.state.part.get(&txn) {
                        if t.state != PartState::Prepared {
                            sys.to_shard(ctx, t.coordinator, Msg::DecisionApplied { txn });
                        }
                    }
                }
                Effect::Unlocked => {
                    let parked =
                        std::mem::take(&mut self.lead.as_mut().expect("leaders lead").parked);
                    for (req, command) in parked {
                        self.on_command(ctx, sys.router, req, command);
                    }
                }
            }
        }
    }

    fn send_prepare(&self, ctx: C<'_, '_>, txn: TxnId) {
        if let Some(t) = self.state.coord.get(&txn) {
            let msg = Msg::Prepare {
                txn,
                to: t.to.clone(),
                amount: t.amount,
                coordinator: self.shard,
            };
            ctx.system().to_shard(ctx, t.to_shard, msg);
        }
    }

    fn send_decision(&self, ctx: C<'_, '_>, txn: TxnId) {
        if let Some(t) = self.state.coord.get(&txn) {
            let commit = match t.state {
                CoordState::Committed => true,
                CoordState::Aborted => false,
                CoordState::Started | CoordState::Done => return,
            };
            let msg = Msg::Decision {
                txn,
                commit,
                coordinator: self.shard,
            };
            ctx.system().to_shard(ctx, t.to_shard, msg);
        }
    }

    fn tail(&self) -> Option<&Ledger> {
        self.lead.as_ref().map(|l| &l.tail)
    }

    /// Participant leader: the coordinator asks us to prepare a credit.
    pub fn on_prepare(
        &mut self,
        ctx: C<'_, '_>,
        txn: TxnId,
        to: String,
        amount: i64,
        coordinator: usize,
    ) {
        let Some(tail) = self.tail() else { return };
        match tail.part.get(&txn).map(|t| t.state) {
            Some(state) => {
                // Asked again: repeat our vote once it is committed.
                if self.state.part.contains_key(&txn) {
                    let vote = state != PartState::Aborted;
                    ctx.system()
                        .to_shard(ctx, coordinator, Msg::Prepared { txn, vote });
                }
            }
            None => {
                let events = if tail.is_open(&to) {
                    vec![Event::TxnPrepared {
                        txn,
                        to,
                        amount,
                        coordinator,
                    }]
                } else {
                    // No such account here: vote no, durably.
                    vec![Event::TxnRefused { txn, coordinator }]
                };
                self.append_events(ctx, events);
            }
        }
    }

    /// Coordinator leader: the participant voted (prepared, or refused).
    pub fn on_prepared(&mut self, ctx: C<'_, '_>, txn: TxnId, vote: bool) {
        let Some(tail) = self.tail() else { return };
        if tail
            .coord
            .get(&txn)
            .is_some_and(|t| t.state == CoordState::Started)
        {
            let events = vec![Event::TxnDecided {
                txn,
                commit: vote,
                refused: !vote,
            }];
            self.append_events(ctx, events);
        }
    }

    /// Participant leader: the coordinator's decision.
    pub fn on_decision(&mut self, ctx: C<'_, '_>, txn: TxnId, commit: bool, coordinator: usize) {
        let Some(tail) = self.tail() else { return };
        match tail.part.get(&txn).map(|t| t.state) {
            Some(PartState::Prepared) => {
                let events = vec![Event::TxnApplied {
                    txn,
                    commit,
                    coordinator,
                }];
                self.append_events(ctx, events);
            }
            Some(_) => {
                if let Some(t) = self.state.part.get(&txn) {
                    if t.state != PartState::Prepared {
                        ctx.system()
                            .to_shard(ctx, t.coordinator, Msg::DecisionApplied { txn });
                    }
                }
            }
            None if !commit => {
                // The abort overtook the prepare: remember it, so a late prepare is refused.
                let events = vec![Event::TxnApplied {
                    txn,
                    commit: false,
                    coordinator,
                }];
                self.append_events(ctx, events);
            }
            None => {}
        }
    }

    /// Coordinator leader: the participant applied the decision.
    pub fn on_decision_applied(&mut self, ctx: C<'_, '_>, txn: TxnId) {
        let Some(tail) = self.tail() else { return };
        if tail
            .coord
            .get(&txn)
            .is_some_and(|t| matches!(t.state, CoordState::Committed | CoordState::Aborted))
        {
            self.append_events(ctx, vec![Event::TxnDone { txn }]);
        }
    }

    /// Leader: drive unfinished transfers (re-send, or abort after `txn_timeout_ms`).
    pub fn on_txn_tick(&mut self, ctx: C<'_, '_>) {
        if !self.is_leader() {
            return;
        }
        let sys = ctx.system();
        let now = ctx.now_ns();
        let unfinished: Vec<(TxnId, CoordState)> = self
            .state
            .coord
            .iter()
            .filter(|(_, t)| t.state != CoordState::Done)
            .map(|(&id, t)| (id, t.state))
            .collect();
        for (txn, state) in unfinished {
            let seen = *self
                .lead
                .as_mut()
                .expect("leaders lead")
                .txn_seen
                .entry(txn)
                .or_insert(now);
            let tail_state = self.tail().and_then(|t| t.coord.get(&txn)).map(|t| t.state);
            match state {
                CoordState::Started if tail_state == Some(CoordState::Started) => {
                    if now.saturating_sub(seen) >= sys.p.txn_timeout_ms * 1_000_000 {
                        ctx.probe("transfer_aborted_on_timeout");
                        let events = vec![Event::TxnDecided {
                            txn,
                            commit: false,
                            refused: false,
                        }];
                        self.append_events(ctx, events);
                    } else {
                        self.send_prepare(ctx, txn);
                    }
                }
                CoordState::Committed | CoordState::Aborted => self.send_decision(ctx, txn),
                _ => {}
            }
        }
        ctx.set_timer(Timer::TxnTick, sys.p.txn_retry_ms);
    }

    /// The projection asks for committed entries from `from`.
    pub fn on_fetch(&self, ctx: C<'_, '_>, requester: usize, from: u64) {
        let snapshot = (from <= self.snapshot.last_index && self.snapshot.last_index > 0)
            .then(|| Box::new(self.snapshot.clone()));
        let start = from.max(self.snapshot.last_index + 1);
        let batch = ctx.system().p.batch_max;
        let entries: Vec<LogEntry> = (start..=self.commit)
            .take(batch as usize)
            .filter_map(|i| self.entry(i).cloned())
            .collect();
        ctx.send(
            requester,
            Msg::Events {
                shard: self.shard,
                from,
                entries,
                snapshot,
                leader: self.leader,
            },
        );
    }
}

/// The decision context of a node of `shard`.
fn decider<'r>(ctx: &'r mut Ctx<'_, EsCluster>, shard: usize) -> Decider<'r> {
    let clock_ms = ctx.local_clock_ms();
    let shards = ctx.system().shards.len();
    Decider {
        clock_ms,
        shard,
        shards,
        rng: ctx.rng(),
    }
}
