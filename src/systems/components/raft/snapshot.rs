//! Snapshots: compacting the log, and catching up a follower that is too far behind.

use super::{
    config, entry_record, Entry, Host, Msg, Observation, Raft, Record, Snapshot, StateMachine, C,
    LOG, SNAPSHOT,
};

impl<H: Host> Raft<H> {
    pub(super) fn take_snapshot(&mut self, ctx: C<'_, '_, H>) {
        let index = self.state.applied();
        assert!(
            index <= self.commit && index > self.snapshot.last_index,
            "a snapshot covers committed entries only, beyond the previous one"
        );
        let last_term = self.term_at(index).expect("applied entries are known");
        let keep: Vec<Entry<H::Sm>> = self
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
    fn persist_snapshot(&mut self, ctx: C<'_, '_, H>, keep: Vec<Entry<H::Sm>>) {
        let fsync = !config(ctx).bugs.no_fsync;
        let mut disk = ctx.disk();
        disk.replace(
            SNAPSHOT,
            vec![H::raft_record(Record::Snapshot(self.snapshot.clone()))],
        );
        if fsync {
            disk.sync(SNAPSHOT);
        }
        // The snapshot is durable first; only then may the log prefix go.
        disk.replace(LOG, keep.iter().cloned().map(entry_record::<H>).collect());
        if fsync {
            disk.sync(LOG);
        }
        self.log = keep;
    }

    /// Follower: a snapshot from the leader.
    pub fn on_install_snapshot(
        &mut self,
        ctx: C<'_, '_, H>,
        from: usize,
        term: u64,
        snapshot: Snapshot<H::Sm>,
    ) {
        if term < self.term {
            let reply = Msg::SnapshotReply {
                term: self.term,
                match_index: 0,
            };
            return self.send(ctx, from, reply);
        }
        self.follow(ctx, term, Some(from));
        let index = snapshot.last_index;
        if index < self.commit {
            ctx.probe("stale_snapshot_received");
        }
        // The planted bug `stale_snapshot_install` installs whatever arrives, rolling the
        // state (and the log, when the snapshot is older than our own) back.
        if index > self.commit || (config(ctx).bugs.stale_snapshot_install && index < self.commit) {
            ctx.probe("snapshot_installed");
            let keep: Vec<Entry<H::Sm>> = if self.term_at(index) == Some(snapshot.last_term) {
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
            ctx.observe(H::raft_observation(Observation::SnapshotInstalled {
                group: self.group,
                index,
                chain: self.state.chain(),
            }));
            H::on_snapshot_installed(ctx, self, index);
        }
        let reply = Msg::SnapshotReply {
            term: self.term,
            match_index: index.max(self.commit),
        };
        self.send(ctx, from, reply);
    }

    /// Leader: a follower installed a snapshot.
    pub fn on_snapshot_reply(
        &mut self,
        ctx: C<'_, '_, H>,
        from: usize,
        term: u64,
        match_index: u64,
    ) {
        self.on_append_reply(
            ctx,
            from,
            term,
            match_index > 0,
            match_index,
            match_index + 1,
        );
    }
}
