//! Leader leases: reads a leader may answer from its own state, without a log entry.
//!
//! A leader that answers a read from its applied state must be sure no other leader can
//! have committed a write meanwhile. It cannot know that from messages alone (the
//! `stale-leader` bug is what happens when it assumes it), so it borrows time:
//!
//! * Every AppendEntries asks for a lease: `lease_ns`, the leader's clock now plus
//!   `promise_ms`. A follower that accepts it **promises to vote for no one,
//!   itself included, until its own clock reads `lease_ns`**, and echoes the value in its
//!   answer. The promise lives in memory; a restarted replica keeps the same silence for
//!   `promise_ms` plus the skew margin after it boots, which covers any promise it gave
//!   before the crash. A replica whose election timer fires during a promise stands as
//!   soon as the promise ends.
//! * The leader's lease ends at the latest `lease_ns` that a majority (itself counted)
//!   has promised: a new leader needs the vote of one of them, so none can exist before
//!   that moment on *their* clocks.
//! * Clocks differ (`[faults.clock]`: each process is off true time by up to
//!   `skew_ms_max`, so two clocks by up to twice that). The promise ends by the
//!   followers' clocks and the lease is checked on the leader's, so the leader stops
//!   `clock_skew_ms_max` early: it serves while `own clock < lease end − margin`. The
//!   planted bug `lease_ignores_skew` forgets the margin; a follower whose clock runs
//!   ahead then votes for a new leader while the old one still answers reads.
//! * A new leader serves nothing before its term's first entry is applied: until then its
//!   state may lack entries an earlier leader committed.
//!
//! Timers are durations and are not skewed; only the timestamps a message carries from
//! one clock to another are, which is why the promise is a clock reading and not a timer.

use super::{config, Host, Raft, StateMachine, C};

const NS_PER_MS: i64 = 1_000_000;

/// The silence a replica keeps after it boots (its clock, ns): it may have promised a
/// lease before it crashed, to a leader whose clock is up to the margin behind its own.
pub(super) fn after_boot<H: Host>(ctx: C<'_, '_, H>) -> i64 {
    match config(ctx).lease {
        Some(lease) => {
            let quiet_ms = lease.promise_ms + lease.clock_skew_ms_max;
            ctx.local_clock_ns() + quiet_ms as i64 * NS_PER_MS
        }
        None => 0,
    }
}

impl<H: Host> Raft<H> {
    /// Leader: the lease end an AppendEntries sent now asks for (0 without leases).
    pub(super) fn lease_request_ns(&self, ctx: C<'_, '_, H>) -> i64 {
        let c = config(ctx);
        match c.lease {
            Some(lease) => ctx.local_clock_ns() + lease.promise_ms as i64 * NS_PER_MS,
            None => 0,
        }
    }

    /// Follower: promise no vote until the own clock reads `lease_ns`; returns the value to
    /// echo.
    pub(super) fn promise(&mut self, lease_ns: i64) -> i64 {
        self.vote_after_ns = self.vote_after_ns.max(lease_ns);
        lease_ns
    }

    /// How long (ns) a promise still forbids voting; `None` when it does not.
    pub(super) fn vote_wait_ns(&self, ctx: C<'_, '_, H>) -> Option<u64> {
        config(ctx).lease?;
        let now = ctx.local_clock_ns();
        (now < self.vote_after_ns).then(|| (self.vote_after_ns - now) as u64)
    }

    /// Leader: a follower of this term echoed the lease end it promised.
    pub(super) fn note_lease(&mut self, ctx: C<'_, '_, H>, from: usize, term: u64, lease_ns: i64) {
        if term != self.term || lease_ns <= 0 {
            return;
        }
        if let Some(lead) = &mut self.lead {
            let promised = lead.lease_promised.entry(from).or_insert(0);
            *promised = (*promised).max(lease_ns);
            ctx.probe("lease_extended");
        }
    }

    /// Leader: whether its lease holds now, so it may answer a read from its own state.
    ///
    /// A lease that holds although no majority refreshed it for half its length (the
    /// leader has been cut off from its group for several heartbeats) reports the waypoint
    /// `lease_read_unrefreshed`: the window in which a new leader may be elected while
    /// this one still answers reads, which the search branches from.
    pub fn lease_holds(&self, ctx: C<'_, '_, H>) -> bool {
        let c = config(ctx);
        let (Some(lease), Some(lead)) = (c.lease, &self.lead) else {
            return false;
        };
        if !self.is_leader() || self.state.applied() < lead.term_start {
            return false;
        }
        // The latest lease end a majority promised: the leader counts itself, so the
        // (majority - 1)-th latest of its peers' promises.
        let mut promised: Vec<i64> = lead.lease_promised.values().copied().collect();
        promised.sort_unstable_by(|a, b| b.cmp(a));
        let needed = self.majority() - 1;
        let end = if needed == 0 {
            i64::MAX
        } else {
            match promised.get(needed - 1) {
                Some(&end) => end,
                None => return false,
            }
        };
        let margin_ms = if c.bugs.lease_ignores_skew {
            0 // The planted bug: the promises end by other clocks than this one.
        } else {
            lease.clock_skew_ms_max as i64
        };
        let now = ctx.local_clock_ns();
        let holds = now < end.saturating_sub(margin_ms * NS_PER_MS);
        if holds && end - now < lease.promise_ms as i64 * NS_PER_MS / 2 {
            ctx.probe("lease_read_unrefreshed");
        }
        holds
    }
}
