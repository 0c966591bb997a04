//! Terms, votes and leadership.

use std::collections::{BTreeMap, BTreeSet};

use crate::plan::Site;

use super::{config, Host, Leadership, Msg, Raft, Record, Role, StateMachine, Timer, C, META};

impl<H: Host> Raft<H> {
    /// Make term and vote durable (before anything that depends on them leaves).
    fn persist_meta(&self, ctx: C<'_, '_, H>) {
        let fsync = !config(ctx).bugs.no_fsync;
        let mut disk = ctx.disk();
        disk.replace(
            META,
            vec![H::raft_record(Record::Meta {
                term: self.term,
                voted_for: self.voted_for,
            })],
        );
        if fsync {
            disk.sync(META);
        }
    }

    pub(super) fn reset_election_timer(&self, ctx: C<'_, '_, H>) {
        let c = config(ctx);
        let (lo, hi) = if ctx.at_fault_point(&Site::EarlyElectionTimer) {
            // A fault point: the timer fires early (Raft's safety may not depend on it).
            (c.heartbeat_ms, c.election_timeout_ms_min)
        } else {
            (c.election_timeout_ms_min, c.election_timeout_ms_max)
        };
        let after = ctx.rng().range_u64(lo * 1_000_000, hi * 1_000_000);
        ctx.set_timer_ns(H::raft_timer(Timer::Election), after);
    }

    /// Adopt a newer term (or a leader of this term) and follow.
    pub(super) fn follow(&mut self, ctx: C<'_, '_, H>, term: u64, leader: Option<usize>) {
        assert!(
            term >= self.term,
            "replica {} asked to follow term {term} in term {}: terms never go back",
            ctx.node(),
            self.term
        );
        assert_ne!(
            leader,
            Some(ctx.node()),
            "a replica follows another, not itself"
        );
        if term > self.term {
            self.term = term;
            self.voted_for = None;
            self.persist_meta(ctx);
        }
        if self.role == Role::Leader {
            ctx.note("stepped_down", self.term as i64);
            ctx.cancel_timer(H::raft_timer(Timer::Heartbeat));
            H::on_step_down(ctx);
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

    /// The election timer fired: stand for election.
    pub fn on_election_timeout(&mut self, ctx: C<'_, '_, H>) {
        if self.is_leader() {
            return;
        }
        if let Some(wait_ns) = self.vote_wait_ns(ctx) {
            // A lease promised to a leader forbids voting, for itself too: stand later.
            ctx.probe("election_deferred_by_lease");
            ctx.set_timer_ns(H::raft_timer(Timer::Election), wait_ns.max(1));
            return;
        }
        assert!(
            !matches!(self.role, Role::Leader),
            "a leader never stands for election"
        );
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
            let msg = Msg::RequestVote {
                term: self.term,
                last_index: self.last_index(),
                last_term: self.last_term(),
            };
            self.send(ctx, peer, msg);
        }
    }

    /// A candidate asks for our vote.
    pub fn on_request_vote(
        &mut self,
        ctx: C<'_, '_, H>,
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
        if !up_to_date && term == self.term {
            ctx.probe("vote_for_stale_log_requested");
        }
        // The planted bug `no_election_restriction` skips the comparison of logs.
        let fresh_enough = up_to_date || config(ctx).bugs.no_election_restriction;
        let granted = term == self.term
            && self.voted_for.is_none_or(|v| v == from)
            && fresh_enough
            && !self.is_leader()
            && self.vote_wait_ns(ctx).is_none();
        if granted {
            assert!(
                self.voted_for.is_none_or(|v| v == from),
                "one vote per term: {} already voted for {:?} in term {term}",
                ctx.node(),
                self.voted_for
            );
            self.voted_for = Some(from);
            // Durable before the answer leaves: a crash must not let us vote again.
            self.persist_meta(ctx);
            self.reset_election_timer(ctx);
        }
        let reply = Msg::Vote {
            term: self.term,
            granted,
        };
        self.send(ctx, from, reply);
    }

    /// A vote came back.
    pub fn on_vote(&mut self, ctx: C<'_, '_, H>, from: usize, term: u64, granted: bool) {
        if term > self.term {
            self.follow(ctx, term, None);
            return;
        }
        let majority = self.majority();
        let cluster = self.peers.len() + 1;
        if let Role::Candidate(votes) = &mut self.role {
            if term == self.term && granted {
                votes.insert(from);
                assert!(
                    votes.len() <= cluster,
                    "more votes than replicas in the group"
                );
                if votes.len() >= majority {
                    self.become_leader(ctx);
                }
            }
        }
    }

    /// The tail state: the applied state plus every later entry in the log, which a new
    /// leader decides commands against.
    fn tail_state(&self, ctx: C<'_, '_, H>) -> H::Sm {
        let mut tail = self.state.clone();
        for index in tail.applied() + 1..=self.last_index() {
            let entry = self.entry(index).expect("log covers the tail").clone();
            H::apply(ctx, self.group, &mut tail, &entry);
        }
        assert_eq!(
            tail.applied(),
            self.last_index(),
            "the leader's tail state covers its whole log"
        );
        tail
    }

    fn become_leader(&mut self, ctx: C<'_, '_, H>) {
        assert_eq!(
            self.voted_for,
            Some(ctx.node()),
            "a leader voted for itself in its term {}",
            self.term
        );
        assert!(
            matches!(&self.role, Role::Candidate(votes) if votes.len() >= self.majority()),
            "{} leads term {} without a majority of votes ({:?})",
            ctx.node(),
            self.term,
            self.role
        );
        assert!(
            self.commit <= self.last_index(),
            "a new leader holds every entry it knows committed"
        );
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
            group = self.group,
            term = self.term,
            last = self.last_index(),
            commit = self.commit,
            "became leader"
        );
        ctx.cancel_timer(H::raft_timer(Timer::Election));
        let tail = self.tail_state(ctx);
        let next = self.last_index() + 1;
        let lease_promised = self.peers.iter().map(|&p| (p, 0)).collect();
        self.lead = Some(Leadership {
            next: self.peers.iter().map(|&p| (p, next)).collect(),
            matched: self
                .peers
                .iter()
                .map(|&p| (p, 0))
                .collect::<BTreeMap<_, _>>(),
            tail,
            service: H::Lead::default(),
            term_start: next,
            lease_promised,
        });
        // A no-op of our own term: it commits the entries of earlier terms (Figure 8). The
        // variant without one on election ships the earlier entries alone first and appends
        // its no-op at the first heartbeat if no command came (`Config::noop_on_election`).
        if config(ctx).noop_on_election {
            self.append(ctx, H::Sm::noop());
        }
        self.flush(ctx);
        ctx.set_timer(H::raft_timer(Timer::Heartbeat), config(ctx).heartbeat_ms);
        H::on_lead(ctx, self);
    }
}
