//! Appending, replicating, committing and applying entries.

use crate::plan::Site;

use super::{
    config, entry_record, Applied, Entry, Host, LogEntry, Msg, Observation, Raft, StateMachine,
    Timer, C, LOG,
};

/// How much longer a slow group commit (a fault point) waits before its fsync (ms).
pub const SLOW_FSYNC_MS: u64 = 50;

/// The fields of an AppendEntries (Raft's RPC), with the lease it asks for.
#[derive(Debug, Clone)]
pub struct Append<M: StateMachine> {
    /// The leader's term.
    pub term: u64,
    /// Index of the entry before `entries`.
    pub prev_index: u64,
    /// Its term.
    pub prev_term: u64,
    /// Entries (none: a heartbeat).
    pub entries: Vec<Entry<M>>,
    /// The leader's commit index.
    pub commit: u64,
    /// The lease end asked for (leader's clock, ns; 0 without leases).
    pub lease_ns: i64,
}

impl<H: Host> Raft<H> {
    /// Leader: append an entry to the own log (durable at the next flush); returns its
    /// index.
    pub fn append(&mut self, ctx: C<'_, '_, H>, payload: <H::Sm as StateMachine>::Payload) -> u64 {
        assert!(self.is_leader(), "only a leader appends to its log");
        assert!(
            self.last_term() <= self.term,
            "no entry of the log is from a later term than the leader's"
        );
        let entry = LogEntry {
            index: self.last_index() + 1,
            term: self.term,
            payload,
        };
        ctx.disk().append(LOG, entry_record::<H>(entry.clone()));
        if let Some(lead) = &mut self.lead {
            H::apply(ctx, self.group, &mut lead.tail, &entry);
        }
        self.log.push(entry);
        if !self.flush_pending {
            self.flush_pending = true;
            let mut wait_ms = config(ctx).flush_interval_ms;
            if ctx.at_fault_point(&Site::SlowFsync) {
                wait_ms += SLOW_FSYNC_MS;
            }
            ctx.set_timer(H::raft_timer(Timer::Flush), wait_ms);
        }
        self.last_index()
    }

    /// Leader: group commit — fsync the log, then ship it.
    pub fn flush(&mut self, ctx: C<'_, '_, H>) {
        self.flush_pending = false;
        if !self.is_leader() {
            return;
        }
        if !config(ctx).bugs.no_fsync {
            ctx.disk().sync(LOG);
        }
        self.synced = self.last_index();
        for peer in self.peers.clone() {
            self.replicate(ctx, peer);
        }
        self.advance_commit(ctx);
    }

    /// Leader: heartbeat — re-send to every peer. A leader that appends no no-op on
    /// election (`noop_on_election` off) appends it here, at its first heartbeat, unless a
    /// command of its term came first.
    pub fn on_heartbeat(&mut self, ctx: C<'_, '_, H>) {
        if !self.is_leader() {
            return;
        }
        if !config(ctx).noop_on_election && self.last_term() < self.term {
            self.append(ctx, H::Sm::noop());
            self.flush(ctx);
        }
        for peer in self.peers.clone() {
            self.replicate(ctx, peer);
        }
        ctx.set_timer(H::raft_timer(Timer::Heartbeat), config(ctx).heartbeat_ms);
    }

    pub(super) fn replicate(&mut self, ctx: C<'_, '_, H>, peer: usize) {
        let Some(lead) = &self.lead else { return };
        let next = lead.next[&peer].max(1);
        if next <= self.snapshot.last_index {
            let msg = Msg::InstallSnapshot {
                term: self.term,
                snapshot: Box::new(self.snapshot.clone()),
            };
            return self.send(ctx, peer, msg);
        }
        let prev_index = next - 1;
        let prev_term = self
            .term_at(prev_index)
            .expect("the leader knows every entry after its snapshot");
        let batch = if ctx.at_fault_point(&Site::OneEntryPerAppend) {
            1
        } else {
            config(ctx).batch_max as usize
        };
        let entries: Vec<Entry<H::Sm>> = (next..=self.last_index())
            .take(batch)
            .map(|i| self.entry(i).expect("in log").clone())
            .collect();
        let msg = Msg::Append(Append {
            term: self.term,
            prev_index,
            prev_term,
            entries,
            commit: self.commit,
            lease_ns: self.lease_request_ns(ctx),
        });
        self.send(ctx, peer, msg);
    }

    /// Follower: entries (or a heartbeat) from a leader.
    pub fn on_append(&mut self, ctx: C<'_, '_, H>, from: usize, append: Append<H::Sm>) {
        let Append {
            term,
            prev_index,
            prev_term,
            entries,
            commit,
            lease_ns,
        } = append;
        if term < self.term {
            return self.reject_append(ctx, from, 0, 0);
        }
        assert!(
            !(self.is_leader() && term == self.term),
            "two leaders in term {term}: {} and {from} (election safety violated)",
            ctx.node()
        );
        self.follow(ctx, term, Some(from));
        let promised = self.promise(lease_ns);
        if let Some(hint) = self.mismatch(ctx, prev_index, prev_term) {
            return self.reject_append(ctx, from, hint, promised);
        }
        let count = entries.len() as u64;
        let cut = config(ctx).bugs.truncate_on_stale_append && self.cut_after(ctx, prev_index);
        if (self.merge(ctx, entries) || cut) && !config(ctx).bugs.no_fsync {
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
        let reply = Msg::AppendReply {
            term: self.term,
            success: true,
            match_index: matched,
            hint: 0,
            lease_ns: promised,
        };
        self.send(ctx, from, reply);
    }

    /// The planted bug `truncate_on_stale_append`: delete every entry after `prev_index`
    /// before merging, as if the message were the latest word of the leader. A delayed or
    /// duplicated AppendEntries then removes entries this follower already acknowledged
    /// (which the leader may have committed counting them). Returns whether any went.
    fn cut_after(&mut self, ctx: C<'_, '_, H>, prev_index: u64) -> bool {
        if prev_index >= self.last_index() || prev_index < self.snapshot.last_index {
            return false;
        }
        ctx.probe("follower_cut_matching_entries");
        let keep = (prev_index - self.snapshot.last_index) as usize;
        self.log.truncate(keep);
        ctx.disk().truncate(LOG, keep);
        true
    }

    /// Log matching at `prev_index`: `None` when it holds, else where the leader should
    /// resume (skipping back over a whole conflicting term at once).
    fn mismatch(&self, ctx: C<'_, '_, H>, prev_index: u64, prev_term: u64) -> Option<u64> {
        if prev_index > self.last_index() {
            ctx.probe("follower_log_gap");
            return Some(self.last_index() + 1);
        }
        if prev_index >= self.snapshot.last_index && self.term_at(prev_index) != Some(prev_term) {
            let bad = self.term_at(prev_index);
            if bad.is_some_and(|t| t > prev_term) {
                // A waypoint (Figure 8's third replica): the leader offers an entry of an
                // earlier term where this replica holds one of a later term, uncommitted.
                ctx.probe("follower_holds_later_term_entry");
            }
            let mut hint = prev_index;
            while hint > self.commit + 1
                && hint > self.snapshot.last_index + 1
                && self.term_at(hint - 1) == bad
            {
                hint -= 1;
            }
            return Some(hint);
        }
        None
    }

    /// Follower: add the leader's entries, truncating a conflicting suffix first (never a
    /// committed entry). Returns whether the log changed.
    fn merge(&mut self, ctx: C<'_, '_, H>, entries: Vec<Entry<H::Sm>>) -> bool {
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
                if self.term_at(entry.index).is_some_and(|t| t > entry.term) {
                    ctx.probe("follower_holds_later_term_entry");
                }
                let keep = (entry.index - self.snapshot.last_index - 1) as usize;
                self.log.truncate(keep);
                ctx.disk().truncate(LOG, keep);
            }
            assert_eq!(
                entry.index,
                self.last_index() + 1,
                "entries are appended without gaps"
            );
            ctx.disk().append(LOG, entry_record::<H>(entry.clone()));
            self.log.push(entry);
            changed = true;
        }
        changed
    }

    /// Refuse an AppendEntries, telling the leader our term and where to resume.
    pub(super) fn reject_append(&self, ctx: C<'_, '_, H>, leader: usize, hint: u64, lease_ns: i64) {
        let reply = Msg::AppendReply {
            term: self.term,
            success: false,
            match_index: 0,
            hint,
            lease_ns,
        };
        self.send(ctx, leader, reply);
    }

    /// Leader: a follower answered.
    pub fn on_append_reply(
        &mut self,
        ctx: C<'_, '_, H>,
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
        assert!(
            !success || match_index <= last,
            "{from} acknowledged up to {match_index}, past the leader's last entry {last}"
        );
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
    fn advance_commit(&mut self, ctx: C<'_, '_, H>) {
        let Some(lead) = &self.lead else { return };
        // The planted bug `commit_old_term` counts replicas for entries of any term.
        let any_term = config(ctx).bugs.commit_old_term;
        let holders = |n: u64| {
            lead.matched.values().filter(|&&m| m >= n).count() + usize::from(self.synced >= n)
        };
        let mut n = self.last_index();
        while n > self.commit {
            let term = self.term_at(n);
            if term == Some(self.term) {
                if holders(n) >= self.majority() {
                    break;
                }
            } else if term.is_some_and(|t| t < self.term) {
                // A waypoint (Figure 8's window): an entry of an earlier term on a majority,
                // not yet committed, under a leader of a later term.
                let on_majority = holders(n) >= self.majority();
                if on_majority {
                    ctx.probe("old_term_entry_on_majority");
                }
                if !any_term {
                    // Entries of earlier terms never commit by counting (Figure 8).
                    n = self.commit;
                    break;
                } else if on_majority {
                    break;
                }
            }
            n -= 1;
        }
        if n > self.commit {
            assert!(
                n <= self.last_index(),
                "a leader commits only entries of its own log"
            );
            if self.term_at(n) != Some(self.term) {
                ctx.probe("leader_committed_earlier_term_entry");
            }
            self.commit = n;
            self.apply_committed(ctx);
        }
    }

    /// Apply committed entries, handing each to the service. Then snapshot if due.
    pub(super) fn apply_committed(&mut self, ctx: C<'_, '_, H>) {
        assert!(
            self.commit <= self.last_index(),
            "replica {} knows index {} committed but its log ends at {}",
            ctx.node(),
            self.commit,
            self.last_index()
        );
        // Bounded: each step applies one entry, up to the commit index.
        while self.state.applied() < self.commit {
            let index = self.state.applied() + 1;
            let Some(entry) = self.entry(index).cloned() else {
                panic!("replica {} lacks committed entry {index}", ctx.node());
            };
            assert_eq!(
                entry.index, index,
                "the log holds entry {index} at its place"
            );
            let effects = H::apply(ctx, self.group, &mut self.state, &entry);
            assert_eq!(
                self.state.applied(),
                index,
                "applying entry {index} advances the state to it"
            );
            ctx.observe(H::raft_observation(Observation::Applied {
                group: self.group,
                index,
                term: entry.term,
                hash: super::entry_hash(&entry),
                chain: self.state.chain(),
            }));
            H::on_applied(ctx, self, Applied { entry, effects });
        }
        let every = if ctx.at_fault_point(&Site::EagerSnapshot) {
            1
        } else {
            config(ctx).snapshot_every
        };
        if every > 0 && self.state.applied() >= self.snapshot.last_index + every {
            self.take_snapshot(ctx);
        }
    }
}
