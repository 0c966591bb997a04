//! Simulator benchmark: `cargo bench --bench sim`.
//!
//! Measures, in one run and on this machine:
//!
//! 1. **seed start** — a fresh thread, a madsim runtime and 5 nodes: bare madsim versus
//!    faultline's full seed setup (plan, world, 5 booted processes, phases, checks);
//! 2. **message rate** — 5 processes passing tokens around a ring for a fixed stretch of
//!    simulated time: bare madsim `Endpoint` messages versus faultline's network layer
//!    (rule pipeline, trace, per-link stats), with the same latency range and the same
//!    number of tokens in flight;
//! 3. **sweep rate** — seeds per second (plan, simulate, check) of the example scenario
//!    that uses every fault kind (`scenarios/kv_register/all_faults.toml`), with 1 and 2
//!    jobs, and of every correct `es_cluster` scenario with 2 jobs, with the simulated
//!    messages per second they sustain.
//!
//! Every figure is the median of several repetitions. Nothing here asserts on time: this
//! is a benchmark, not a test.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
#[allow(clippy::disallowed_types)]
use std::time::Instant;

use faultline::check::linearizability::Budget;
use faultline::check::CheckOutcome;
use faultline::plan::{Plan, Role};
use faultline::runner::{self, on_fresh_thread, SeedJob};
use faultline::scenario::Scenario;
use faultline::sim::{self, Ctx, Message, Process, SimOutput, System, TraceLevel, View};
use faultline::systems::ExecOptions;
use madsim::net::Endpoint;
use madsim::runtime::{Handle, Runtime};

const NODES: usize = 5;
const TOKENS_PER_NODE: usize = 20;
const RING_SIM_MS: u64 = 20_000;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

#[allow(clippy::disallowed_methods, clippy::disallowed_types)]
fn timed<T>(f: impl FnOnce() -> T) -> (f64, T) {
    let start = Instant::now();
    let out = f();
    (start.elapsed().as_secs_f64(), out)
}

// ---------------------------------------------------------------------------------------
// Bare madsim.

fn addr(i: usize) -> SocketAddr {
    format!("10.0.0.{}:1", i + 1).parse().unwrap()
}

/// Tokens around a ring of madsim endpoints for `RING_SIM_MS`; returns messages received.
fn bare_madsim_ring(seed: u64) -> u64 {
    let rt = Runtime::with_seed_and_config(seed, madsim::Config::default());
    let received = Arc::new(AtomicU64::new(0));
    let counter = received.clone();
    rt.block_on(async move {
        let handle = Handle::current();
        for i in 0..NODES {
            let node = handle.create_node().ip(addr(i).ip()).build();
            let counter = counter.clone();
            node.spawn(async move {
                let ep = Endpoint::bind(addr(i)).await.unwrap();
                // Let every node bind before the first token flies.
                madsim::time::sleep(std::time::Duration::from_millis(10)).await;
                let next = addr((i + 1) % NODES);
                for t in 0..TOKENS_PER_NODE {
                    ep.send_to_raw(next, 0, Box::new(t)).await.unwrap();
                }
                loop {
                    let (msg, _) = ep.recv_from_raw(0).await.unwrap();
                    counter.fetch_add(1, Ordering::Relaxed);
                    ep.send_to_raw(next, 0, msg).await.unwrap();
                }
            });
        }
        madsim::time::sleep(std::time::Duration::from_millis(RING_SIM_MS)).await;
    });
    received.load(Ordering::Relaxed)
}

/// A fresh runtime with 5 nodes, nothing run: madsim's own seed start.
fn bare_madsim_start(seed: u64) {
    let rt = Runtime::with_seed_and_config(seed, madsim::Config::default());
    rt.block_on(async {
        let handle = Handle::current();
        for i in 0..NODES {
            handle.create_node().ip(addr(i).ip()).build();
        }
    });
}

// ---------------------------------------------------------------------------------------
// The same ring on faultline's network layer.

#[path = "../tests/common/planned.rs"]
#[macro_use]
mod planned;

#[derive(Debug, Clone)]
struct Token;

impl Message for Token {
    fn label(&self) -> &'static str {
        "token"
    }
}

struct Ring {
    servers: Vec<usize>,
}

planned_like_kv_register!(Ring);

struct RingProc;

impl System for Ring {
    type Msg = Token;
    type Timer = ();
    type Record = ();
    type Proc = RingProc;
    type Final = ();
    type Observation = ();

    const ABOUT: &'static str = "a token passed around a ring of servers";

    fn check(_: &Plan<Self>, _: &SimOutput<(), ()>, _: Self::Check, _: &Budget) -> CheckOutcome {
        unreachable!("the ring benchmark simulates only: it runs no checks")
    }

    fn new(plan: &Plan<Self>) -> Self {
        Ring {
            servers: plan.head.nodes_with(Role::Server),
        }
    }

    fn boot(&self, ctx: &mut Ctx<'_, Self>) -> RingProc {
        if let Some(next) = self.next(ctx.node()) {
            for _ in 0..TOKENS_PER_NODE {
                ctx.send(next, Token);
            }
        }
        RingProc
    }

    fn settled(&self, _view: &View<'_, Self>) -> bool {
        true
    }

    fn finish(&self, _view: &View<'_, Self>) {}
}

impl Ring {
    fn next(&self, node: usize) -> Option<usize> {
        let i = self.servers.iter().position(|&s| s == node)?;
        Some(self.servers[(i + 1) % self.servers.len()])
    }
}

impl Process<Ring> for RingProc {
    fn on_message(&mut self, ctx: &mut Ctx<'_, Ring>, _from: usize, msg: Token) {
        let next = ctx
            .system()
            .next(ctx.node())
            .expect("only servers get tokens");
        ctx.send(next, msg);
    }

    fn on_timer(&mut self, _ctx: &mut Ctx<'_, Ring>, _timer: ()) {}
}

fn ring_plan(chaos_ms: u64) -> Plan<Ring> {
    // madsim's default latency range is 1–10 ms; use the same.
    let text = format!(
        "system = \"kv_register\"\nchecks = [\"linearizability\"]\n[topology]\nreplicas = {NODES}\nclients = 1\n[phases]\nchaos_ms = {chaos_ms}\nheal_ms = 0\n[network]\nlatency_ms_min = 1\nlatency_ms_max = 10\n"
    );
    let scenario =
        Scenario::parse(Path::new("ring.toml"), &text, &faultline::systems::REGISTRY).unwrap();
    Plan::new(&scenario, 1)
}

/// The ring on faultline; returns messages delivered.
fn faultline_ring(plan: &Plan<Ring>) -> u64 {
    let out = sim::simulate::<Ring>(plan, TraceLevel::Fates);
    out.links.values().map(|l| l.delivered).sum()
}

// ---------------------------------------------------------------------------------------

fn main() {
    let reps = 7;
    println!(
        "faultline simulator benchmark ({} cores)",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );

    // 1. Seed start.
    let starts = 1000;
    let bare_start: Vec<f64> = (0..reps)
        .map(|r| {
            timed(|| {
                for s in 0..starts {
                    on_fresh_thread(s, move || bare_madsim_start(s + r)).unwrap();
                }
            })
            .0 / starts as f64
        })
        .collect();
    let empty = Arc::new(ring_plan(0));
    let ours_start: Vec<f64> = (0..reps)
        .map(|_| {
            timed(|| {
                for s in 0..starts {
                    let plan = empty.clone();
                    on_fresh_thread(s, move || {
                        let mut plan = (*plan).clone();
                        plan.head.seed = s;
                        sim::simulate::<Ring>(&plan, TraceLevel::Fates)
                    })
                    .unwrap();
                }
            })
            .0 / starts as f64
        })
        .collect();
    let (b, o) = (median(bare_start), median(ours_start));
    println!("\nseed start, fresh thread + runtime + {NODES} nodes (median of {reps} × {starts}):");
    println!("  bare madsim        {:8.3} ms", b * 1e3);
    println!(
        "  faultline          {:8.3} ms   ({:.2}× bare; includes world setup, boots, phases)",
        o * 1e3,
        o / b
    );

    // 2. Message rate.
    let plan = Arc::new(ring_plan(RING_SIM_MS));
    let mut bare_rates = Vec::new();
    let mut ours_rates = Vec::new();
    for r in 0..reps {
        let (t, n) = timed(|| on_fresh_thread(r, move || bare_madsim_ring(r)).unwrap());
        bare_rates.push(n as f64 / t);
        let plan = plan.clone();
        let (t, n) = timed(|| on_fresh_thread(r, move || faultline_ring(&plan)).unwrap());
        ours_rates.push(n as f64 / t);
    }
    let (b, o) = (median(bare_rates), median(ours_rates));
    println!(
        "\nmessage rate, {NODES}-node ring, {} tokens in flight, 1 core (median of {reps}):",
        NODES * TOKENS_PER_NODE
    );
    println!("  bare madsim Endpoint   {:6.3} M messages/s", b / 1e6);
    println!(
        "  faultline net layer    {:6.3} M messages/s   ({:.2}× bare)",
        o / 1e6,
        o / b
    );

    // 3. Sweep rates.
    println!(
        "\nsweep rate: plan + simulate + check, fresh thread per seed (median of 5 repetitions):"
    );
    println!(
        "  {:42} {:>4} {:>6} {:>9} {:>12}",
        "scenario", "jobs", "seeds", "seeds/s", "M msgs/s"
    );
    // Every correct shipped scenario on 2 jobs (the example also on 1); a command-line
    // word keeps only the scenarios whose path contains it (`cargo bench --bench sim -- saga`).
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let mut runs: Vec<(String, usize, u64)> =
        vec![("scenarios/kv_register/all_faults.toml".into(), 1, 400)];
    for file in faultline::scenario::discover(&[PathBuf::from("scenarios")]).unwrap() {
        let s = Scenario::load(&file, &faultline::systems::REGISTRY).unwrap();
        if s.file.expect == faultline::scenario::Expect::Pass {
            runs.push((file.display().to_string(), 2, 300));
        }
    }
    runs.retain(|(path, _, _)| filter.as_ref().is_none_or(|f| path.contains(f.as_str())));
    for (path, jobs, seeds) in runs {
        let scenario =
            Arc::new(Scenario::load(Path::new(&path), &faultline::systems::REGISTRY).unwrap());
        let mut rates = Vec::new();
        let mut msg_rates = Vec::new();
        for r in 0..5u64 {
            let jobs_iter = (0..seeds).map(|s| SeedJob {
                scenario: scenario.clone(),
                scenario_index: 0,
                seed: faultline::plan::SeedId::Plain(r * seeds + s),
                check_determinism: false,
                keep: false,
                options: ExecOptions::default(),
            });
            let mut messages = 0u64;
            let never = AtomicBool::new(false);
            let (t, _) =
                timed(|| runner::run_pool(jobs_iter, jobs, &never, |res| messages += res.messages));
            rates.push(seeds as f64 / t);
            msg_rates.push(messages as f64 / t);
        }
        println!(
            "  {:42} {:>4} {:>6} {:>9.0} {:>12.3}",
            scenario.name,
            jobs,
            seeds,
            median(rates),
            median(msg_rates) / 1e6
        );
    }
}
