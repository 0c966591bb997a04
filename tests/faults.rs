//! Every fault kind observably happens, with the semantics the docs promise.
//!
//! A small probe system (defined here, through the public `System` API) has every server
//! ping every other every few milliseconds and append a numbered record to its disk on
//! each tick, fsyncing only every other one. The tests run it under one fault kind at a
//! time and read the trace: duplicates are delivered twice, partitions drop cross-side
//! traffic only while active, clogs hold messages until they open, pauses deliver nothing
//! until resume, a crash loses exactly the unsynced records, torn writes are seen on
//! recovery, and clocks are skewed as planned.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use faultline::check::linearizability::Budget;
use faultline::check::CheckOutcome;
use faultline::disk::Slot;
use faultline::net::{DropReason, HoldReason};
use faultline::plan::{FaultAction, Plan, Role};
use faultline::runner::on_fresh_thread;
use faultline::scenario::Scenario;
use faultline::sim::{self, Ctx, Event, Message, Process, SimOutput, System, TraceLevel, View};
use faultline::systems::REGISTRY;

#[path = "common/planned.rs"]
#[macro_use]
mod planned;

const TICK_MS: u64 = 5;
const LOG: &str = "log";

#[derive(Debug, Clone)]
struct Ping;

impl Message for Ping {
    fn label(&self) -> &'static str {
        "ping"
    }
}

struct Probe {
    servers: Vec<usize>,
}

planned_like_kv_register!(Probe);

#[derive(Debug)]
struct ProbeProc {
    server: bool,
    written: u64,
}

impl System for Probe {
    type Msg = Ping;
    type Timer = ();
    type Record = u64;
    type Proc = ProbeProc;
    type Final = ();
    type Observation = ();

    const ABOUT: &'static str =
        "a probe of the fault machinery: it notes what each process recovers";

    fn check(_: &Plan<Self>, _: &SimOutput<(), ()>, _: Self::Check, _: &Budget) -> CheckOutcome {
        unreachable!("these tests simulate only: they run no checks")
    }

    fn new(plan: &Plan<Self>) -> Self {
        Probe {
            servers: plan.head.nodes_with(Role::Server),
        }
    }

    fn boot(&self, ctx: &mut Ctx<'_, Self>) -> ProbeProc {
        let server = self.servers.contains(&ctx.node());
        let mut written = 0;
        if server {
            let slots = ctx.disk().read(LOG).to_vec();
            let whole: Vec<u64> = slots.iter().filter_map(|s| s.ok().copied()).collect();
            let torn = slots.iter().filter(|s| matches!(s, Slot::Torn)).count();
            ctx.note("recovered_len", whole.len() as i64);
            ctx.note("recovered_torn", torn as i64);
            written = whole.last().copied().unwrap_or(0);
            ctx.note(
                "skew_ms",
                ctx.local_clock_ms() - (ctx.now_ns() / 1_000_000) as i64,
            );
            ctx.set_timer((), TICK_MS);
        }
        ProbeProc { server, written }
    }

    fn settled(&self, _view: &View<'_, Self>) -> bool {
        true
    }

    fn finish(&self, _view: &View<'_, Self>) {}
}

impl Process<Probe> for ProbeProc {
    fn on_message(&mut self, _ctx: &mut Ctx<'_, Probe>, _from: usize, _msg: Ping) {}

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Probe>, _timer: ()) {
        assert!(self.server);
        self.written += 1;
        ctx.disk().append(LOG, self.written);
        ctx.note("wrote", self.written as i64);
        if self.written % 2 == 0 {
            ctx.disk().sync(LOG);
            ctx.note("synced", self.written as i64);
        }
        let servers = ctx.system().servers.clone();
        for to in servers {
            if to != ctx.node() {
                ctx.send(to, Ping);
            }
        }
        ctx.set_timer((), TICK_MS);
    }
}

/// Run the probe system under a scenario's faults (one seed, fresh thread).
fn run(faults: &str, seed: u64) -> (Plan<Probe>, SimOutput<(), ()>) {
    let text = format!(
        "system = \"kv_register\"\n[topology]\nreplicas = 4\nclients = 1\n[phases]\nchaos_ms = 1500\nheal_ms = 100\n{faults}"
    );
    let scenario =
        Scenario::parse(Path::new("probe.toml"), &text, &REGISTRY).expect("valid scenario");
    let plan = Plan::new(&scenario, seed);
    let for_thread = plan.clone();
    let out = on_fresh_thread(seed, move || {
        sim::simulate::<Probe>(&for_thread, TraceLevel::Fates)
    })
    .expect("probe run does not panic");
    assert!(out.panic.is_none(), "{:?}", out.panic);
    (plan, out)
}

/// Index the trace: send events by id, and delivery / drop times by id.
struct Fates {
    sends: BTreeMap<u64, (u64, usize, usize, u64, Option<HoldReason>)>,
    delivered: BTreeMap<u64, u64>,
    dropped: BTreeMap<u64, (u64, DropReason)>,
}

fn fates(out: &SimOutput<(), ()>) -> Fates {
    let mut f = Fates {
        sends: BTreeMap::new(),
        delivered: BTreeMap::new(),
        dropped: BTreeMap::new(),
    };
    for e in out.trace.events() {
        match &e.event {
            Event::Send {
                id,
                from,
                to,
                arrive_ns,
                held,
                ..
            } => {
                f.sends.insert(*id, (e.t_ns, *from, *to, *arrive_ns, *held));
            }
            Event::Duplicate {
                id,
                copy,
                arrive_ns,
            } => {
                let (_, from, to, _, _) = f.sends[id];
                f.sends.insert(*copy, (e.t_ns, from, to, *arrive_ns, None));
            }
            Event::Deliver { id, .. } => {
                assert!(
                    f.delivered.insert(*id, e.t_ns).is_none(),
                    "message {id} delivered twice"
                );
            }
            Event::Drop { id, reason } => {
                f.dropped.insert(*id, (e.t_ns, *reason));
            }
            _ => {}
        }
    }
    f
}

#[test]
fn duplicates_are_delivered_twice() {
    let (_, out) = run("[network]\nduplicate_probability = 0.2\n", 1);
    let f = fates(&out);
    let mut both = 0;
    for e in out.trace.events() {
        if let Event::Duplicate { id, copy, .. } = e.event {
            if f.delivered.contains_key(&id) && f.delivered.contains_key(&copy) {
                both += 1;
            }
        }
    }
    assert!(
        both > 50,
        "only {both} duplicated messages reached their receiver twice"
    );
}

#[test]
fn loss_and_reordering_happen() {
    let (_, out) = run(
        "[network]\nloss_probability = 0.1\nreorder_probability = 0.2\nreorder_delay_ms_max = 40\n",
        2,
    );
    let f = fates(&out);
    let lost = f
        .dropped
        .values()
        .filter(|(_, r)| *r == DropReason::Loss)
        .count();
    assert!(lost > 100, "only {lost} messages lost");
    // Reordered: on one link, a message sent later is delivered earlier.
    let mut by_link: BTreeMap<(usize, usize), Vec<(u64, u64)>> = BTreeMap::new();
    for (id, &(sent, from, to, _, _)) in &f.sends {
        if let Some(&at) = f.delivered.get(id) {
            by_link.entry((from, to)).or_default().push((sent, at));
        }
    }
    let overtaken = by_link
        .values()
        .flat_map(|v| v.windows(2).filter(|w| w[1].0 > w[0].0 && w[1].1 < w[0].1))
        .count();
    assert!(overtaken > 10, "only {overtaken} overtakings");
    assert!(f.sends.values().any(|s| s.4 == Some(HoldReason::Reorder)));
}

#[test]
fn partitions_drop_cross_side_traffic_only_while_active() {
    let (plan, out) = run(
        "[faults.partition]\ninterval_ms_mean = 150\nduration_ms_min = 50\nduration_ms_max = 200\n",
        3,
    );
    // Partition windows from the trace: (start, end, cut links).
    let mut open: BTreeMap<u32, (u64, BTreeSet<(usize, usize)>)> = BTreeMap::new();
    let mut windows = Vec::new();
    for e in out.trace.events() {
        if let Event::Fault { fault } = &e.event {
            match fault {
                FaultAction::Partition { id, blocked, .. } => {
                    open.insert(*id, (e.t_ns, blocked.iter().copied().collect()));
                }
                FaultAction::Heal { id } => {
                    let (start, cut) = open.remove(id).expect("heal of an open partition");
                    windows.push((start, e.t_ns, cut));
                }
                _ => {}
            }
        }
    }
    assert!(windows.len() >= 3, "{} partitions", windows.len());
    let shapes: BTreeSet<String> = plan
        .head
        .faults
        .iter()
        .filter_map(|f| match &f.action {
            FaultAction::Partition { shape, .. } => Some(format!("{shape:?}")),
            _ => None,
        })
        .collect();
    assert!(shapes.len() >= 3, "shapes {shapes:?}");
    let cut_at = |t: u64, link: (usize, usize)| {
        windows
            .iter()
            .any(|(s, e, cut)| *s <= t && t < *e && cut.contains(&link))
    };
    let f = fates(&out);
    let mut cross = 0;
    for (id, &(sent, from, to, _, _)) in &f.sends {
        let dropped = f.dropped.get(id);
        if cut_at(sent, (from, to)) {
            cross += 1;
            assert_eq!(
                dropped.map(|d| d.1),
                Some(DropReason::Partition),
                "message {id} crossed a cut link at {sent}"
            );
        }
        if let Some(&(at, DropReason::Partition)) = dropped {
            assert!(
                cut_at(at, (from, to)),
                "message {id} dropped by a partition at {at} that was not active"
            );
        }
        if let Some(&at) = f.delivered.get(id) {
            assert!(
                !cut_at(at, (from, to)),
                "message {id} delivered across a cut link at {at}"
            );
        }
    }
    assert!(
        cross > 20,
        "only {cross} messages tried to cross a partition"
    );
    let delivered_in_windows = f
        .sends
        .iter()
        .filter(|(id, s)| {
            f.delivered.contains_key(id)
                && windows
                    .iter()
                    .any(|(st, en, cut)| *st <= s.0 && s.0 < *en && !cut.contains(&(s.1, s.2)))
        })
        .count();
    assert!(
        delivered_in_windows > 20,
        "same-side traffic must flow during partitions"
    );
}

#[test]
fn clogged_links_deliver_late_not_never() {
    let (_, out) = run(
        "[faults.clog]\ninterval_ms_mean = 100\nduration_ms_min = 50\nduration_ms_max = 150\n",
        4,
    );
    let mut clogs = Vec::new();
    for e in out.trace.events() {
        if let Event::Fault {
            fault: FaultAction::Clog { from, to, until_ms },
        } = &e.event
        {
            clogs.push((e.t_ns, until_ms * 1_000_000, *from, *to));
        }
    }
    assert!(!clogs.is_empty());
    let f = fates(&out);
    let mut held = 0;
    for (id, &(sent, from, to, arrive, why)) in &f.sends {
        let clog = clogs
            .iter()
            .find(|c| c.2 == from && c.3 == to && c.0 <= sent && sent < c.1);
        if let Some(&(_, until, _, _)) = clog {
            held += 1;
            assert!(
                arrive > until,
                "message {id} on a clogged link arrives before it opens"
            );
            assert_eq!(why, Some(HoldReason::Clog));
            if let Some(&at) = f.delivered.get(id) {
                assert!(at > until);
            }
        }
    }
    assert!(held > 0, "no message was held by a clog");
}

#[test]
fn paused_process_handles_nothing_until_resumed() {
    let (_, out) = run(
        "[faults.pause]\ninterval_ms_mean = 200\nduration_ms_min = 50\nduration_ms_max = 150\n[faults.crash]\nmax_down = 1\n",
        5,
    );
    let mut pauses = Vec::new();
    let mut paused_at = BTreeMap::new();
    for e in out.trace.events() {
        match &e.event {
            Event::Fault {
                fault: FaultAction::Pause { node },
            } => {
                paused_at.insert(*node, e.t_ns);
            }
            Event::Fault {
                fault: FaultAction::Resume { node },
            } => {
                pauses.push((*node, paused_at.remove(node).unwrap(), e.t_ns));
            }
            _ => {}
        }
    }
    assert!(!pauses.is_empty());
    let f = fates(&out);
    for (id, &at) in &f.delivered {
        let to = f.sends[id].2;
        assert!(
            !pauses.iter().any(|&(n, s, e)| n == to && s < at && at < e),
            "message {id} handled by paused process {to} at {at}"
        );
    }
    // Messages that arrived during a pause are handled after the resume, not lost.
    let caught_up = f
        .sends
        .iter()
        .filter(|(id, s)| {
            pauses
                .iter()
                .any(|&(n, st, en)| n == s.2 && st < s.3 && s.3 < en)
                && f.delivered
                    .get(id)
                    .is_some_and(|&at| pauses.iter().any(|&(_, _, en)| at >= en))
        })
        .count();
    assert!(caught_up > 0);
}

#[test]
fn crash_loses_unsynced_writes_and_keeps_synced_ones() {
    let (_, out) = run(
        "[faults.crash]\ninterval_ms_mean = 150\nrestart_delay_ms_min = 20\nrestart_delay_ms_max = 100\n",
        6,
    );
    // Per node: the last record written and the last synced before each crash, and what
    // the following boot recovered.
    let mut last_synced: BTreeMap<usize, i64> = BTreeMap::new();
    let mut last_written: BTreeMap<usize, i64> = BTreeMap::new();
    let mut expect: BTreeMap<usize, (i64, i64)> = BTreeMap::new();
    let mut checked = 0;
    let mut lost_some = 0;
    for e in out.trace.events() {
        match &e.event {
            Event::Note {
                node,
                label: "wrote",
                value,
            } => {
                last_written.insert(*node, *value);
            }
            Event::Note {
                node,
                label: "synced",
                value,
            } => {
                last_synced.insert(*node, *value);
            }
            Event::Fault {
                fault: FaultAction::Crash { node },
            } => {
                expect.insert(
                    *node,
                    (
                        last_synced.get(node).copied().unwrap_or(0),
                        last_written.get(node).copied().unwrap_or(0),
                    ),
                );
            }
            Event::DiskLoss {
                lost, kept, torn, ..
            } => {
                assert_eq!(
                    (*kept, *torn),
                    (0, false),
                    "by default nothing unsynced survives"
                );
                lost_some += u64::from(*lost > 0);
            }
            Event::Note {
                node,
                label: "recovered_len",
                value,
            } => {
                if let Some((synced, written)) = expect.remove(node) {
                    assert_eq!(
                        *value, synced,
                        "node {node} recovered {value} records, {synced} were synced"
                    );
                    assert!(*value <= written);
                    last_written.insert(*node, *value);
                    last_synced.insert(*node, *value);
                    checked += 1;
                }
            }
            _ => {}
        }
    }
    assert!(checked >= 3, "only {checked} crash/recovery cycles");
    assert!(lost_some > 0, "no crash caught an unsynced write");
}

#[test]
fn torn_writes_are_seen_on_recovery() {
    let (_, out) = run(
        "[faults.crash]\ninterval_ms_mean = 150\nrestart_delay_ms_min = 20\nrestart_delay_ms_max = 100\n[faults.disk]\nunsynced_survive_probability = 1.0\ntorn_write_probability = 1.0\n",
        7,
    );
    let torn_losses = out
        .trace
        .events()
        .filter(|e| matches!(e.event, Event::DiskLoss { torn: true, .. }))
        .count();
    let torn_recovered = out
        .trace
        .events()
        .filter(
            |e| matches!(e.event, Event::Note { label: "recovered_torn", value, .. } if value > 0),
        )
        .count();
    assert!(torn_losses > 0);
    assert!(
        torn_recovered > 0,
        "a torn record must be visible to recovery"
    );
}

#[test]
fn clocks_are_skewed_as_planned() {
    let (plan, out) = run("[faults.clock]\nskew_ms_max = 200\n", 8);
    let mut seen = BTreeMap::new();
    for e in out.trace.events() {
        if let Event::Note {
            node,
            label: "skew_ms",
            value,
        } = e.event
        {
            seen.insert(node, value);
        }
    }
    assert_eq!(seen.len(), 4);
    for (node, skew) in &seen {
        assert!(
            (plan.head.clock_skew_ms[*node] - skew).abs() <= 1,
            "node {node}"
        );
        assert!(skew.abs() <= 200);
    }
    let distinct: BTreeSet<_> = seen.values().collect();
    assert!(distinct.len() > 1, "skews should differ between processes");
}

/// Two servers answering each other at zero latency: simulated time barely moves, so
/// only the handler budget ends the run, as a finding rather than a hang.
struct PingPong;

planned_like_kv_register!(PingPong);

#[derive(Debug)]
struct PingPongProc;

impl System for PingPong {
    type Msg = Ping;
    type Timer = ();
    type Record = ();
    type Proc = PingPongProc;
    type Final = ();
    type Observation = ();

    const ABOUT: &'static str = "two servers answering each other at zero latency";

    fn check(_: &Plan<Self>, _: &SimOutput<(), ()>, _: Self::Check, _: &Budget) -> CheckOutcome {
        unreachable!("these tests simulate only: they run no checks")
    }

    fn new(_plan: &Plan<Self>) -> Self {
        PingPong
    }

    fn boot(&self, ctx: &mut Ctx<'_, Self>) -> PingPongProc {
        if ctx.node() == 0 {
            ctx.send(1, Ping);
        }
        PingPongProc
    }

    fn settled(&self, _view: &View<'_, Self>) -> bool {
        false
    }

    fn finish(&self, _view: &View<'_, Self>) {}
}

impl Process<PingPong> for PingPongProc {
    fn on_message(&mut self, ctx: &mut Ctx<'_, PingPong>, from: usize, msg: Ping) {
        ctx.send(from, msg);
    }

    fn on_timer(&mut self, _ctx: &mut Ctx<'_, PingPong>, _timer: ()) {}
}

#[test]
fn a_livelock_ends_at_the_event_limit_not_as_a_finding() {
    let text = "system = \"kv_register\"\n[topology]\nreplicas = 2\nclients = 1\n[network]\nlatency_ms_min = 0\nlatency_ms_max = 0\n";
    let scenario =
        Scenario::parse(Path::new("livelock.toml"), text, &REGISTRY).expect("valid scenario");
    let plan = Plan::new(&scenario, 1);
    let limits = sim::Limits {
        events_max: 100_000,
        ..sim::Limits::of(&plan.head.params.limits)
    };
    let out = on_fresh_thread(1, move || {
        sim::simulate_with::<PingPong>(&plan, TraceLevel::Fates, limits)
    })
    .expect("the run ends");
    assert!(
        out.panic.is_none(),
        "a runaway is not a crash: {:?}",
        out.panic
    );
    let hit = out.limit.expect("the run stops at its event limit");
    assert_eq!(hit.limit, sim::Limit::Events);
    assert_eq!(hit.value, 100_001);
    assert!(
        hit.to_string().contains("`limits.events_max` = 100000"),
        "{hit}"
    );
    assert!(
        hit.t_ns < 1_000_000_000,
        "simulated time barely moved: {} ns",
        hit.t_ns
    );
    assert!(out.finals.is_none());
}
