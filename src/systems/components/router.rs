//! The router: the clients' one connection to a replicated service.
//!
//! Clients talk to the router; the router finds each group's leader, forwards commands,
//! follows "not the leader, try that one" redirects, and re-sends a command that got no
//! answer to the next replica, so a client keeps one connection while leadership moves
//! (the reverse proxy of the event-sourcing pattern). It gives up on a command after the
//! client's own operation timeout. A command is identified by its [`ReqId`], kept across
//! every re-send, so replicas can deduplicate.
//!
//! A client sends one request at a time, numbering them in order, so a request older than
//! the newest the router has seen from its client is stale — a copy the network delivered
//! late (a replayed packet), its client long since answered or gone on. The router drops it:
//! forwarded, the replicas would ignore it (their sessions have moved past it) and the
//! router would wait for an answer that never comes.
//!
//! A system that routes implements [`RouterHost`]: its groups of replicas, which group a
//! command goes to, which commands any replica may answer, and its message types.

use std::collections::BTreeMap;
use std::fmt::Debug;

use crate::sim::{Ctx, System};
use crate::systems::components::clients::ReqId;

/// Coverage probes the router can reach.
pub const PROBES: &[&str] = &[
    "router_redirected",
    "router_retry",
    "router_stale_request_dropped",
];

/// A replica's answer to a forwarded command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply<R> {
    /// Done, with this result.
    Done(R),
    /// Not the leader; maybe this one is.
    NotLeader(Option<usize>),
}

/// What a system provides to route commands.
pub trait RouterHost: System {
    /// What the router forwards.
    type Command: Clone + Debug + Send;
    /// What replicas answer.
    type Outcome: Clone + Debug + Send;

    /// The replicas of each group.
    fn groups(&self) -> &[Vec<usize>];
    /// The group a command goes to.
    fn group_of(&self, command: &Self::Command) -> usize;
    /// Whether any replica may answer `command` (not only the leader).
    fn any_replica_answers(&self, command: &Self::Command) -> bool;
    /// Whether an answer shows that its sender leads its group (`command`: the command
    /// answered, if the router still waits for it).
    fn answer_shows_leader(&self, command: Option<&Self::Command>) -> bool;
    /// Re-send an unanswered command after this long (ms).
    fn retry_ms(&self) -> u64;
    /// Give up on a command after this long (ms).
    fn give_up_ms(&self) -> u64;
    /// The router's tick timer.
    fn tick_timer() -> Self::Timer;
    /// The message forwarding `command` to a replica.
    fn forward(req: ReqId, command: Self::Command) -> Self::Msg;
    /// The message answering a client.
    fn answer(seq: u64, outcome: Self::Outcome) -> Self::Msg;
}

/// A command the router is waiting on.
#[derive(Debug, Clone)]
pub struct Forwarded<C> {
    command: C,
    group: usize,
    target: usize,
    sent_ns: u64,
    started_ns: u64,
    /// Redirects followed since the last send of the tick: past one per replica, the
    /// replicas disagree about who leads (an election under way), and the router waits
    /// for its tick rather than bouncing the command between them.
    redirects: usize,
}

/// The router's state.
#[derive(Debug)]
pub struct Router<H: RouterHost> {
    /// Known leader per group.
    pub leaders: Vec<Option<usize>>,
    /// Commands waiting for an answer.
    pub inflight: BTreeMap<ReqId, Forwarded<H::Command>>,
    /// The newest request number seen from each client.
    newest: BTreeMap<usize, u64>,
}

type C<'c, 'a, H> = &'c mut Ctx<'a, H>;

impl<H: RouterHost> Router<H> {
    /// A router that knows no leader yet; starts its tick.
    pub fn boot(ctx: C<'_, '_, H>) -> Self {
        let host = ctx.system();
        ctx.set_timer(H::tick_timer(), host.retry_ms());
        Router {
            leaders: vec![None; host.groups().len()],
            inflight: BTreeMap::new(),
            newest: BTreeMap::new(),
        }
    }

    fn target(&self, ctx: C<'_, '_, H>, group: usize, command: &H::Command) -> usize {
        let replicas = &ctx.system().groups()[group];
        if ctx.system().any_replica_answers(command) {
            return replicas[ctx.rng().index(replicas.len())];
        }
        self.leaders[group].unwrap_or(replicas[0])
    }

    fn group_of_node(host: &H, node: usize) -> Option<usize> {
        host.groups().iter().position(|g| g.contains(&node))
    }

    /// A client's request.
    pub fn on_request(&mut self, ctx: C<'_, '_, H>, req: ReqId, command: H::Command) {
        if self.inflight.contains_key(&req) {
            return; // The client re-sent; we are already on it.
        }
        let newest = self.newest.entry(req.client).or_insert(req.seq);
        if req.seq < *newest {
            ctx.probe("router_stale_request_dropped");
            return;
        }
        *newest = req.seq;
        let group = ctx.system().group_of(&command);
        let target = self.target(ctx, group, &command);
        ctx.send(target, H::forward(req, command.clone()));
        let now = ctx.now_ns();
        let forwarded = Forwarded {
            command,
            group,
            target,
            sent_ns: now,
            started_ns: now,
            redirects: 0,
        };
        self.inflight.insert(req, forwarded);
    }

    /// A replica's answer.
    pub fn on_reply(
        &mut self,
        ctx: C<'_, '_, H>,
        from: usize,
        req: ReqId,
        reply: Reply<H::Outcome>,
    ) {
        match reply {
            Reply::Done(outcome) => self.on_done(ctx, from, req, outcome),
            Reply::NotLeader(hint) => self.on_not_leader(ctx, from, req, hint),
        }
    }

    fn on_done(&mut self, ctx: C<'_, '_, H>, from: usize, req: ReqId, outcome: H::Outcome) {
        let host = ctx.system();
        if let Some(group) = Self::group_of_node(host, from) {
            if host.answer_shows_leader(self.inflight.get(&req).map(|f| &f.command)) {
                self.leaders[group] = Some(from);
            }
        }
        if self.inflight.remove(&req).is_some() {
            ctx.send(req.client, H::answer(req.seq, outcome));
        }
    }

    fn on_not_leader(&mut self, ctx: C<'_, '_, H>, from: usize, req: ReqId, hint: Option<usize>) {
        let Some(f) = self.inflight.get(&req) else {
            return;
        };
        // Only the replica the command was last sent to redirects it: a duplicated or late
        // answer of an earlier one must not fork a second copy of the command (each copy
        // would fork again on the next duplicate, growing without bound).
        if from != f.target {
            return;
        }
        let group = f.group;
        let replicas = &ctx.system().groups()[group];
        if f.redirects >= replicas.len() {
            return; // The tick re-sends it.
        }
        let next = match hint.filter(|h| replicas.contains(h) && *h != from) {
            Some(h) => h,
            None => {
                replicas
                    [(replicas.iter().position(|&n| n == from).unwrap_or(0) + 1) % replicas.len()]
            }
        };
        self.leaders[group] = Some(next);
        ctx.probe("router_redirected");
        ctx.send(next, H::forward(req, f.command.clone()));
        let now = ctx.now_ns();
        if let Some(f) = self.inflight.get_mut(&req) {
            f.target = next;
            f.sent_ns = now;
            f.redirects += 1;
        }
    }

    /// The tick: give up on old commands, re-send unanswered ones to the next replica.
    pub fn on_tick(&mut self, ctx: C<'_, '_, H>) {
        let host = ctx.system();
        let now = ctx.now_ns();
        let retry_ns = host.retry_ms() * 1_000_000;
        let give_up_ns = host.give_up_ms() * 1_000_000;
        self.inflight
            .retain(|_, f| now.saturating_sub(f.started_ns) < give_up_ns);
        let due: Vec<ReqId> = self
            .inflight
            .iter()
            .filter(|(_, f)| now.saturating_sub(f.sent_ns) >= retry_ns)
            .map(|(&r, _)| r)
            .collect();
        for req in due {
            let f = self
                .inflight
                .get(&req)
                .expect("due keys are present")
                .clone();
            let replicas = &host.groups()[f.group];
            // No answer: the target may be down or cut off. Try the next replica.
            let pos = replicas.iter().position(|&n| n == f.target).unwrap_or(0);
            let next = if host.any_replica_answers(&f.command) {
                replicas[ctx.rng().index(replicas.len())]
            } else {
                replicas[(pos + 1) % replicas.len()]
            };
            self.leaders[f.group] = None;
            ctx.probe("router_retry");
            ctx.send(next, H::forward(req, f.command));
            if let Some(f) = self.inflight.get_mut(&req) {
                f.target = next;
                f.sent_ns = now;
                f.redirects = 0;
            }
        }
        ctx.set_timer(H::tick_timer(), host.retry_ms());
    }

    /// Whether it waits for no answer.
    pub fn idle(&self) -> bool {
        self.inflight.is_empty()
    }
}
