//! The engine: one seed's pipeline, a pool of fresh threads that runs many, and the sweep
//! built on them (the command line only parses and prints, like nextest's runner and
//! its CLI).
//!
//! One seed is one straight flow ([`run_seed`]): the scenario's system plans the seed,
//! then simulates the plan and runs its checks ([`crate::systems::SystemUnderTest`]),
//! and the result is folded into plain data ([`SeedResult`]); the caller writes
//! artifacts from it. A panic anywhere in it becomes a `crash` verdict of that seed,
//! never a crash of the runner. [`run_plan`] is the same flow for a plan already made
//! (replay, shrink, a determinism re-run).
//!
//! Every seed runs on a thread of its own, spawned for it and named
//! `faultline-seed-<seed>`: madsim makes std's hasher keys deterministic per thread, and
//! a fresh thread guarantees nothing leaks from one seed into the next. At most `jobs`
//! seeds run at once ([`run_pool`]).
//!
//! Determinism is checked, not assumed: a selected seed runs twice, on two fresh threads,
//! and the trace hashes must match; on a mismatch the first differing trace event of both
//! runs is reported.
//!
//! Around them: [`sweep`] (many seeds of many scenarios: shards, resume, time budget,
//! guided runs), [`journal`] (each finished seed appended to the run's folder, and the
//! manifest that says which sweep it is), [`tally`] and [`triage`] (a scenario's seeds
//! folded into counts, failure kinds and the exit code, [`exit_code()`]), [`pinned`]
//! (scenarios that pin one plan) and [`commands`] (the pasteable lines faultline prints).

pub mod commands;
pub mod exit_code;
pub mod journal;
pub mod pinned;
pub mod sweep;
pub mod tally;
pub mod triage;

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};

use serde::Serialize;

use crate::check::{CheckOutcome, Verdict};
use crate::plan::{AnyPlan, SeedId};
use crate::scenario::Scenario;
use crate::sim::{self, trace, LimitHit, NodePanic, TraceLevel, SEED_THREAD_PREFIX};
use crate::systems::{self, ExecOptions, Execution, SystemUnderTest};
pub use tally::{exit_code, seed_exit_code, Outcome, Tally, FAILING_KEPT_MAX};
pub use triage::{FailingSeed, FailureGroup, Triage};

/// One seed to run.
#[derive(Debug, Clone)]
pub struct SeedJob {
    /// The scenario.
    pub scenario: Arc<Scenario>,
    /// Its position in the run (for aggregation).
    pub scenario_index: usize,
    /// The run: a plain seed or a guided run.
    pub seed: SeedId,
    /// Run it twice and compare traces.
    pub check_determinism: bool,
    /// Keep the plan and the full execution (trace, history) in the result.
    pub keep: bool,
    /// Execution options.
    pub options: ExecOptions,
}

/// The outcome of a determinism re-run.
#[derive(Debug, Clone, Serialize)]
pub struct Determinism {
    /// Whether both runs produced the same trace.
    pub identical: bool,
    /// The first differing event: index, first run's event, second run's event.
    pub divergence: Option<(usize, Option<serde_json::Value>, Option<serde_json::Value>)>,
}

/// What one seed produced, small enough to collect by the thousand.
#[derive(Debug)]
pub struct SeedResult {
    /// Scenario position.
    pub scenario_index: usize,
    /// The run.
    pub seed: SeedId,
    /// Verdict (worst check, or crash).
    pub verdict: Verdict,
    /// Per-check outcomes.
    pub checks: Vec<CheckOutcome>,
    /// A panic inside a process (or in faultline itself, when `harness` is set).
    pub panic: Option<NodePanic>,
    /// Set when the panic came from faultline's own code rather than a process.
    pub harness_error: Option<String>,
    /// Hash of the trace.
    pub trace_hash: u64,
    /// Trace events.
    pub events: usize,
    /// Messages sent.
    pub messages: u64,
    /// Client operations.
    pub operations: usize,
    /// Probes reached, with counts.
    pub probes: BTreeMap<&'static str, u64>,
    /// When each probe was first reached (ns).
    pub probes_first_ns: BTreeMap<&'static str, u64>,
    /// The limit of the resource envelope that stopped the seed (verdict `limit`).
    pub limit: Option<LimitHit>,
    /// A stop request cut the seed short: it is not to be counted.
    pub interrupted: bool,
    /// Handler calls the simulation made.
    pub handler_calls: u64,
    /// The most memory the simulation held at once (bytes).
    pub memory_peak_bytes: u64,
    /// Determinism re-run, if one was made.
    pub determinism: Option<Determinism>,
    /// The plan and the execution, when kept.
    pub kept: Option<(Box<dyn AnyPlan>, Execution)>,
    /// Wall time on the seed's thread (µs), set by [`run_pool`]: a report figure only.
    pub run_us: u64,
}

impl SeedResult {
    /// Whether a determinism re-run disagreed.
    pub fn nondeterministic(&self) -> bool {
        self.determinism.as_ref().is_some_and(|d| !d.identical)
    }
}

/// The system a scenario runs.
pub fn system_of(scenario: &Scenario) -> &'static dyn SystemUnderTest {
    systems::find(scenario.system.name())
        .unwrap_or_else(|| panic!("system `{}` is not registered", scenario.system.name()))
}

/// Run one seed on the current thread (which must be fresh: see [`crate::sim`]):
/// plan → simulate → check, then fold the result.
pub fn run_seed(job: &SeedJob) -> SeedResult {
    let system = system_of(&job.scenario);
    // The plan's memory counts against the seed's envelope too (a plan holds every client
    // operation up front); both runs are told how much it holds.
    let window = crate::guard::MemoryWindow::open();
    // A pinned plan was read once before the sweep; an error here is faultline's own.
    let mut plan = pinned::plan_of(&job.scenario, job.seed).unwrap_or_else(|e| panic!("{e}"));
    if job.options.without_fault_points {
        plan.head_mut().fault_points.clear();
    }
    let options = ExecOptions {
        plan_bytes: window.used_bytes(),
        ..job.options.clone()
    };
    let exec = system.run(&*plan, &options);
    let trace_hash = exec.trace.hash();
    let mut interrupted = exec.interrupted;
    let determinism = if job.check_determinism && !interrupted {
        let again = run_plan(system, plan.clone_box(), options.clone());
        // A stop request cuts the second run at another point: no comparison then.
        interrupted |= again.as_ref().is_ok_and(|second| second.interrupted);
        (!interrupted).then(|| compare(&exec.trace, trace_hash, again))
    } else {
        None
    };
    let messages = exec.links.values().map(|l| l.sent).sum();
    SeedResult {
        scenario_index: job.scenario_index,
        seed: job.seed,
        verdict: exec.verdict,
        checks: exec.checks.clone(),
        panic: exec.panic.clone(),
        harness_error: None,
        trace_hash,
        events: exec.trace.len(),
        messages,
        operations: exec.history.ops.len(),
        probes: exec.probes.clone(),
        probes_first_ns: exec.probes_first_ns.clone(),
        limit: exec.limit.clone(),
        interrupted,
        handler_calls: exec.handler_calls,
        memory_peak_bytes: exec.memory_peak_bytes,
        determinism,
        kept: job.keep.then_some((plan, exec)),
        run_us: 0,
    }
}

/// The determinism verdict of a second run of the seed whose trace is `first`.
fn compare(first: &sim::Trace, first_hash: u64, again: Result<Execution, String>) -> Determinism {
    match again {
        Ok(second) => {
            let identical = second.trace.hash() == first_hash;
            Determinism {
                identical,
                divergence: if identical {
                    None
                } else {
                    trace::first_divergence(first, &second.trace)
                },
            }
        }
        Err(message) => Determinism {
            identical: false,
            divergence: Some((0, None, Some(serde_json::Value::String(message)))),
        },
    }
}

/// Run a plan of `system` on a fresh seed thread: simulate it and run its checks. The one
/// way every command runs a plan it holds (a sweep's seeds go through [`run_seed`], which
/// plans them first): replay, shrink and its candidates, the determinism re-run. A panic
/// outside the simulated processes (one inside them is a `crash` verdict) is `Err`.
pub fn run_plan(
    system: &'static dyn SystemUnderTest,
    plan: Box<dyn AnyPlan>,
    options: ExecOptions,
) -> Result<Execution, String> {
    let seed = plan.head().seed;
    on_fresh_thread(seed, move || system.run(&*plan, &options))
}

/// Run `f` on a freshly spawned seed thread and wait for it; a panic becomes `Err`.
pub fn on_fresh_thread<T: Send + 'static>(
    seed: u64,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, String> {
    sim::install_panic_hook();
    crate::guard::tune_allocator();
    let handle = std::thread::Builder::new()
        .name(format!("{SEED_THREAD_PREFIX}-{seed}"))
        .spawn(move || catch_unwind(AssertUnwindSafe(f)).map_err(sim::panic_text))
        .map_err(|e| format!("cannot spawn a seed thread: {e}"))?;
    handle.join().map_err(|_| "seed thread died".to_string())?
}

/// A seed whose run failed inside faultline itself.
fn harness_failure(job: &SeedJob, message: String) -> SeedResult {
    SeedResult {
        scenario_index: job.scenario_index,
        seed: job.seed,
        verdict: Verdict::Crash,
        checks: Vec::new(),
        panic: None,
        harness_error: Some(message),
        trace_hash: 0,
        events: 0,
        messages: 0,
        operations: 0,
        probes: BTreeMap::new(),
        probes_first_ns: BTreeMap::new(),
        limit: None,
        interrupted: false,
        handler_calls: 0,
        memory_peak_bytes: 0,
        determinism: None,
        kept: None,
        run_us: 0,
    }
}

/// Run `jobs` on at most `threads` seed threads at once, handing each result to
/// `on_result` (on the calling thread, in completion order). Stops starting new seeds
/// once `interrupt` is set and returns after the running ones finish. Returns how many
/// seeds finished.
///
/// Each of the `threads` slots is a long-lived launcher that takes the next job, runs it
/// on a freshly spawned seed thread and waits for it: the slot is refilled the moment a
/// seed ends, without waiting for the calling thread to wake up and collect the result.
pub fn run_pool<I>(
    jobs: I,
    threads: usize,
    interrupt: &AtomicBool,
    mut on_result: impl FnMut(SeedResult),
) -> usize
where
    I: IntoIterator<Item = SeedJob>,
    I::IntoIter: Send,
{
    sim::install_panic_hook();
    let jobs = Mutex::new(jobs.into_iter());
    let (tx, rx) = mpsc::channel::<SeedResult>();
    let mut finished = 0usize;
    std::thread::scope(|scope| {
        for slot in 0..threads.max(1) {
            let tx = tx.clone();
            let jobs = &jobs;
            let launcher = std::thread::Builder::new()
                .name(format!("faultline-launcher-{slot}"))
                .spawn_scoped(scope, move || {
                    while !interrupt.load(Ordering::Relaxed) {
                        let next = jobs.lock().unwrap_or_else(|e| e.into_inner()).next();
                        let Some(job) = next else { break };
                        let for_seed = job.clone();
                        // Timed outside the simulation, for the report's seeds/s.
                        #[allow(clippy::disallowed_methods, clippy::disallowed_types)]
                        let started = std::time::Instant::now();
                        let mut result =
                            on_fresh_thread(job.seed.raw(), move || run_seed(&for_seed))
                                .unwrap_or_else(|message| harness_failure(&job, message));
                        result.run_us = started.elapsed().as_micros() as u64;
                        if tx.send(result).is_err() {
                            break;
                        }
                    }
                });
            if let Err(e) = launcher {
                // Fewer slots than asked: the others still drain the queue.
                eprintln!("warning: cannot start seed launcher {slot}: {e}");
            }
        }
        drop(tx);
        for result in rx {
            finished += 1;
            on_result(result);
        }
    });
    finished
}

/// Options for a single seed run at full trace level (replays, artifacts).
pub fn full_options() -> ExecOptions {
    ExecOptions {
        level: TraceLevel::Full,
        ..ExecOptions::default()
    }
}
