//! The projection: a read model that follows the committed event log of every shard.
//!
//! The projection service pulls committed entries from one replica per shard (the
//! leader, a follower, or any, as `projection_source` says), folds their events into a
//! query view, and reconnects to another replica when one stops answering. It resumes
//! exactly where it stopped (the `projection-skips` bug resumes one event off). A
//! replica far enough ahead sends its snapshot instead of the compacted entries. Every
//! folded entry is observed, so the checks can see order, gaps and double applies, and
//! the lag behind the commit.

use std::collections::BTreeMap;

use super::ledger::{Event, Ledger, LogEntry, Payload, TxnId};
use super::{EsCluster, EsObs, Msg, ProjectionSource, Replica, Snapshot, Timer};
use crate::sim::Ctx;

/// The projection's query view of one shard: balances and values, folded from events.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProjectionView {
    /// Balances.
    pub balances: BTreeMap<String, i64>,
    /// Key-value pairs.
    pub kv: BTreeMap<String, String>,
    txn_debits: BTreeMap<TxnId, (String, i64)>,
    txn_credits: BTreeMap<TxnId, (String, i64)>,
}

impl ProjectionView {
    /// The view of a replica's state (when the projection adopts a snapshot).
    pub fn of(ledger: &Ledger) -> Self {
        ProjectionView {
            balances: ledger
                .balances
                .iter()
                .map(|(k, v)| (k.clone(), v.value))
                .collect(),
            kv: ledger
                .kv
                .iter()
                .map(|(k, v)| (k.clone(), v.value.clone()))
                .collect(),
            txn_debits: ledger
                .coord
                .iter()
                .map(|(&id, t)| (id, (t.from.clone(), t.amount)))
                .collect(),
            txn_credits: ledger
                .part
                .iter()
                .map(|(&id, t)| (id, (t.to.clone(), t.amount)))
                .collect(),
        }
    }

    /// Fold one entry's events. (Undecided command entries — the `replicate-commands`
    /// bug — carry no events a read model could fold.)
    pub fn apply(&mut self, entry: &LogEntry) {
        let Payload::Events { events, .. } = &entry.payload else {
            return;
        };
        for event in events {
            match event {
                Event::Put { key, value, .. } => {
                    self.kv.insert(key.clone(), value.clone());
                }
                Event::Opened { account, .. } => {
                    self.balances.entry(account.clone()).or_insert(0);
                }
                Event::Appended { key, value, .. } => {
                    self.kv.entry(key.clone()).or_default().push_str(value)
                }
                Event::Deposited {
                    account, amount, ..
                } => *self.balances.entry(account.clone()).or_default() += amount,
                Event::Withdrew {
                    account, amount, ..
                } => *self.balances.entry(account.clone()).or_default() -= amount,
                Event::Transferred {
                    from, to, amount, ..
                } => {
                    *self.balances.entry(from.clone()).or_default() -= amount;
                    *self.balances.entry(to.clone()).or_default() += amount;
                }
                Event::TxnStarted {
                    txn, from, amount, ..
                } => {
                    self.txn_debits.insert(*txn, (from.clone(), *amount));
                }
                Event::TxnDecided {
                    txn, commit: true, ..
                } => {
                    if let Some((from, amount)) = self.txn_debits.remove(txn) {
                        *self.balances.entry(from).or_default() -= amount;
                    }
                }
                Event::TxnPrepared {
                    txn, to, amount, ..
                } => {
                    self.txn_credits.insert(*txn, (to.clone(), *amount));
                }
                Event::TxnApplied {
                    txn, commit: true, ..
                } => {
                    if let Some((to, amount)) = self.txn_credits.remove(txn) {
                        *self.balances.entry(to).or_default() += amount;
                    }
                }
                _ => {}
            }
        }
    }

    /// The query view without transfer bookkeeping, for comparison.
    pub fn visible(&self) -> (BTreeMap<String, i64>, BTreeMap<String, String>) {
        let balances = self
            .balances
            .iter()
            .filter(|(_, &v)| v != 0)
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        (balances, self.kv.clone())
    }
}

/// The projection's feed from one shard.
#[derive(Debug, Clone)]
pub struct Feed {
    /// Next entry index to apply.
    pub next: u64,
    /// Replica it pulls from.
    pub source: usize,
    /// When the outstanding fetch was sent.
    pub waiting_since: Option<u64>,
    /// The view.
    pub view: ProjectionView,
}

/// The projection service.
#[derive(Debug)]
pub struct Projection {
    /// One feed per shard.
    pub feeds: Vec<Feed>,
    incarnation: u32,
}

impl Projection {
    /// Boot: start polling; each shard's feed starts at a random replica.
    pub fn boot(ctx: &mut Ctx<'_, EsCluster>, sys: &EsCluster) -> Self {
        ctx.set_timer(Timer::Poll, sys.p.projection_poll_ms);
        let feeds = (0..sys.shards.len())
            .map(|s| Feed {
                next: 1,
                source: sys.shards[s][ctx.rng().index(sys.shards[s].len())],
                waiting_since: None,
                view: ProjectionView::default(),
            })
            .collect();
        Projection {
            feeds,
            incarnation: ctx.incarnation(),
        }
    }

    /// A message for the projection: only events are.
    pub fn on_message(&mut self, ctx: &mut Ctx<'_, EsCluster>, from: usize, msg: Msg) {
        let Msg::Events {
            shard,
            from: start,
            entries,
            snapshot,
            leader,
        } = msg
        else {
            panic!("projection got {msg:?} from {from}");
        };
        let sys = ctx.system();
        self.on_events(
            ctx,
            sys,
            from,
            shard,
            start,
            entries,
            snapshot.map(|s| *s),
            leader,
        );
    }

    fn pick_source(
        ctx: &mut Ctx<'_, EsCluster>,
        sys: &EsCluster,
        shard: usize,
        current: usize,
    ) -> usize {
        let replicas = &sys.shards[shard];
        let others: Vec<usize> = replicas.iter().copied().filter(|&n| n != current).collect();
        if others.is_empty() {
            current
        } else {
            others[ctx.rng().index(others.len())]
        }
    }

    /// Poll timer: fetch for every shard, moving a feed whose fetch went unanswered to
    /// another replica.
    pub fn on_poll(&mut self, ctx: &mut Ctx<'_, EsCluster>, sys: &EsCluster) {
        let now = ctx.now_ns();
        let timeout_ns = 3 * sys.p.projection_poll_ms * 1_000_000;
        for shard in 0..self.feeds.len() {
            if let Some(since) = self.feeds[shard].waiting_since {
                if now.saturating_sub(since) < timeout_ns {
                    continue;
                }
                // No answer: reconnect to another replica.
                ctx.probe("projection_reconnected");
                let current = self.feeds[shard].source;
                self.feeds[shard].source = Self::pick_source(ctx, sys, shard, current);
                if sys.bugs.projection_skips {
                    // The planted bug: resume from a wrong position.
                    let feed = &mut self.feeds[shard];
                    feed.next = if ctx.rng().chance(0.5) {
                        feed.next + 1
                    } else {
                        feed.next.saturating_sub(1).max(1)
                    };
                }
            }
            let feed = &mut self.feeds[shard];
            feed.waiting_since = Some(now);
            ctx.send(feed.source, Msg::Fetch { from: feed.next });
        }
        ctx.set_timer(Timer::Poll, sys.p.projection_poll_ms);
    }

    #[allow(clippy::too_many_arguments)]
    fn on_events(
        &mut self,
        ctx: &mut Ctx<'_, EsCluster>,
        sys: &EsCluster,
        from: usize,
        shard: usize,
        start: u64,
        entries: Vec<LogEntry>,
        snapshot: Option<Snapshot>,
        leader: Option<usize>,
    ) {
        let incarnation = self.incarnation;
        let feed = &mut self.feeds[shard];
        if start != feed.next || feed.source != from {
            return; // An answer to an older fetch.
        }
        feed.waiting_since = None;
        if let Some(s) = snapshot {
            if s.last_index >= feed.next {
                feed.view = ProjectionView::of(&s.state);
                feed.next = s.last_index + 1;
                ctx.observe(EsObs::ProjectedSnapshot {
                    shard,
                    index: s.last_index,
                    incarnation,
                });
            }
        }
        for entry in &entries {
            if !sys.bugs.projection_skips {
                if entry.index < feed.next {
                    continue;
                }
                if entry.index > feed.next {
                    break; // A gap: fetch again from `next`.
                }
            }
            feed.view.apply(entry);
            feed.next = entry.index + 1;
            ctx.observe(EsObs::Projected {
                shard,
                index: entry.index,
                incarnation,
            });
        }
        // Keep reading from the kind of replica the settings ask for.
        let switch_to = match sys.p.projection_source {
            ProjectionSource::Leader => {
                leader.filter(|l| *l != from && sys.shards[shard].contains(l))
            }
            ProjectionSource::Follower if leader == Some(from) => {
                Some(Self::pick_source(ctx, sys, shard, from))
            }
            ProjectionSource::Follower | ProjectionSource::Any => None,
        };
        if let Some(source) = switch_to {
            self.feeds[shard].source = source;
        }
    }
}

/// A replica serves the projection: committed entries from `from` (or its snapshot, when
/// `from` is compacted), and who it thinks leads.
pub fn serve_fetch(r: &Replica, ctx: &mut Ctx<'_, EsCluster>, requester: usize, from: u64) {
    let snapshot = (from <= r.snapshot.last_index && r.snapshot.last_index > 0)
        .then(|| Box::new(r.snapshot.clone()));
    let start = from.max(r.snapshot.last_index + 1);
    let batch = ctx.system().p.batch_max;
    let entries: Vec<LogEntry> = (start..=r.commit)
        .take(batch as usize)
        .filter_map(|i| r.entry(i).cloned())
        .collect();
    ctx.send(
        requester,
        Msg::Events {
            shard: r.group,
            from,
            entries,
            snapshot,
            leader: r.leader,
        },
    );
}
