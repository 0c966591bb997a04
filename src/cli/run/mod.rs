//! `faultline run <scenario|dir>... --seeds N`: the sweep.
//!
//! Loads every scenario first (an invalid one stops the run before any seed, exit 254),
//! then runs `N` seeds of each on a bounded pool of fresh threads, showing progress,
//! and prints a summary: counts per verdict, which planted bugs were caught and after how
//! many seeds, coverage probes, determinism re-checks, seeds per second, and one
//! pasteable replay line per failure.
//!
//! Each run writes into a folder of its own, `reports/<run-id>/` (with `reports/latest`
//! pointing at it): `summary.json`, written as `running` when the sweep starts and
//! replaced when it ends, and the artifacts of the seeds asked for. Ctrl-C or SIGTERM
//! stops the sweep within a second: running seeds are cut short and not counted,
//! scenarios that did not run all their seeds are reported as `not_run` or `incomplete`
//! (JUnit `<skipped>`), and the exit code is never a pass.

mod jobs;
mod table;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::ValueEnum;

use super::progress::Progress;
use super::BadInput;
use crate::check::Verdict;
use crate::guard;
use crate::report::{self, RunDir, ScenarioSummary, Status, Summary, Tally};
use crate::runner::{self, SeedJob, SeedResult};
use crate::scenario::{self, Scenario};
use crate::sim::TraceLevel;
use crate::systems::ExecOptions;

/// Which seeds get their artifacts written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Artifacts {
    /// None (replay a seed to get them).
    None,
    /// Seeds that did not pass (up to `--artifacts-max` per scenario).
    Failing,
    /// Every seed (slow: full traces).
    All,
}

/// Arguments of `faultline run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Scenario files or directories (every `*.toml` below a directory).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Seeds per scenario.
    #[arg(long, default_value_t = 100)]
    pub seeds: u64,
    /// First seed.
    #[arg(long, default_value_t = 0)]
    pub seed_start: u64,
    /// Seeds run at once (default: the number of cores).
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Run every seed twice and compare traces.
    #[arg(long)]
    pub check_determinism: bool,
    /// Otherwise, re-run one seed in this many for determinism (0: never).
    #[arg(long, default_value_t = 50)]
    pub determinism_every: u64,
    /// Report root: each run writes into `<out>/<run-id>/`, and `<out>/latest` points at
    /// the newest.
    #[arg(long, default_value = "reports")]
    pub out: PathBuf,
    /// Also write JUnit XML here.
    #[arg(long)]
    pub junit: Option<PathBuf>,
    /// Which seeds get their artifacts written under `<out>/<run-id>/<scenario>/<seed>/`.
    #[arg(long, value_enum, default_value_t = Artifacts::None)]
    pub artifacts: Artifacts,
    /// With `--artifacts failing`: at most this many seeds per scenario.
    #[arg(long, default_value_t = 5)]
    pub artifacts_max: usize,
    /// Print no progress.
    #[arg(long, short)]
    pub quiet: bool,
}

/// Run the sweep and return the exit code.
pub fn run(args: &RunArgs) -> anyhow::Result<u8> {
    let scenarios = load_scenarios(args)?;
    let rechecks = args.check_determinism || args.determinism_every > 0;
    let jobs = jobs::choose(args.jobs, &scenarios, args.seeds, rechecks)?;
    install_stop_handler();
    let run = start_reports(args, &scenarios, jobs)?;
    let pinned = scenarios.iter().filter(|s| s.file.pinned.is_some()).count();
    if pinned > 0 {
        println!("replaying {pinned} pinned plan(s) first (the regression corpus)");
    }
    println!(
        "faultline run: {} scenario(s) × {} seeds (seeds {}..={}), {} jobs, reports in {}/",
        scenarios.len() - pinned,
        args.seeds,
        args.seed_start,
        args.seed_start + args.seeds - 1,
        jobs,
        run.path.display()
    );
    let mut sweep = sweep(args, &scenarios, jobs, &run);
    if args.artifacts == Artifacts::Failing && !guard::stop_requested() {
        write_failing_artifacts(
            args,
            &scenarios,
            &sweep.tallies,
            &run,
            &mut sweep.write_errors,
        );
    }
    let code = report::exit_code(&sweep.tallies);
    table::print_summary(&scenarios, &sweep, &run);
    write_reports(args, &scenarios, &sweep, jobs, Some(code), &run)?;
    for e in &sweep.write_errors {
        eprintln!("warning: could not write artifacts: {e}");
    }
    println!("summary: {}", run.path.join("summary.json").display());
    println!("result: {} (exit {code})", describe_exit(code));
    Ok(code)
}

/// Ctrl-C and SIGTERM stop the sweep (seeds stop within a second); a second one quits.
fn install_stop_handler() {
    let _ = ctrlc::set_handler(|| {
        if guard::stop_requested() {
            // Second signal: the user means it.
            std::process::exit(i32::from(report::exit_code::INTERRUPTED));
        }
        guard::request_stop();
        eprintln!("\ninterrupted: stopping the running seeds, then reporting (again to quit now)");
    });
}

/// The run's folder, with a `running` summary (and JUnit error) in place before any seed.
fn start_reports(
    args: &RunArgs,
    scenarios: &[Arc<Scenario>],
    jobs: usize,
) -> anyhow::Result<RunDir> {
    // The run folder is named after the wall-clock time: a label at the edge, never an
    // input to any simulation.
    #[allow(clippy::disallowed_methods, clippy::disallowed_types)]
    let unix_s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let run = RunDir::create(&args.out, unix_s)
        .with_context(|| format!("creating a run folder under {}", args.out.display()))?;
    if let Some(junit) = &args.junit {
        report::write_junit_running(junit, &run.id)
            .with_context(|| format!("writing {}", junit.display()))?;
    }
    let sweep = Sweep {
        tallies: tallies(args, scenarios),
        finished: 0,
        cut_short: 0,
        wall_s: 0.0,
        write_errors: Vec::new(),
    };
    write_reports(args, scenarios, &sweep, jobs, None, &run)?;
    Ok(run)
}

fn tallies(args: &RunArgs, scenarios: &[Arc<Scenario>]) -> Vec<Tally> {
    scenarios
        .iter()
        .map(|s| {
            let (start, count) = seed_range(args, s);
            Tally::new(s, start, count)
        })
        .collect()
}

/// The seeds a scenario runs: `--seeds` from `--seed-start`, or a pinned plan's one seed.
fn seed_range(args: &RunArgs, scenario: &Scenario) -> (u64, u64) {
    match runner::pinned::pinned_seed(scenario) {
        Some(seed) => (seed, 1),
        None => (args.seed_start, args.seeds),
    }
}

/// Check the arguments and load every scenario (an invalid one stops the run).
fn load_scenarios(args: &RunArgs) -> anyhow::Result<Vec<Arc<Scenario>>> {
    if args.seeds == 0 {
        return Err(BadInput("--seeds must be at least 1".into()).into());
    }
    if args.seed_start.checked_add(args.seeds).is_none() {
        return Err(BadInput("--seed-start + --seeds overflows a 64-bit seed".into()).into());
    }
    let files = scenario::discover(&args.paths)?;
    let mut scenarios = Vec::new();
    for file in &files {
        let scenario = Scenario::load(file, &crate::systems::REGISTRY)?;
        if scenario.file.pinned.is_some() {
            // Read the pinned plan now: a broken one stops the run before any seed.
            runner::pinned::plan_of(&scenario, 0).map_err(|e| BadInput(e.to_string()))?;
        }
        scenarios.push(Arc::new(scenario));
    }
    // Pinned plans (the regression corpus) run first: they are few, and a regression
    // is the first thing to know.
    scenarios.sort_by_key(|s| s.file.pinned.is_none());
    check_unique_names(&scenarios)?;
    Ok(scenarios)
}

/// What a sweep produced.
struct Sweep {
    tallies: Vec<Tally>,
    /// Seeds that finished and are counted.
    finished: u64,
    /// Seeds an interrupt stopped half-way (not counted).
    cut_short: u64,
    wall_s: f64,
    write_errors: Vec<String>,
}

impl Sweep {
    fn complete(&self) -> bool {
        self.tallies.iter().all(|t| t.seeds >= t.seeds_asked)
    }
}

/// The seeds of every scenario, in order.
fn seed_jobs<'a>(
    args: &'a RunArgs,
    scenarios: &'a [Arc<Scenario>],
) -> impl Iterator<Item = SeedJob> + Send + 'a {
    let level = if args.artifacts == Artifacts::All {
        TraceLevel::Full
    } else {
        TraceLevel::Fates
    };
    let options = ExecOptions {
        level,
        ..ExecOptions::default()
    };
    scenarios
        .iter()
        .enumerate()
        .flat_map(move |(index, scenario)| {
            let options = options.clone();
            let (start, count) = seed_range(args, scenario);
            let pinned = count == 1 && scenario.file.pinned.is_some();
            (start..start + count).map(move |seed| SeedJob {
                scenario: scenario.clone(),
                scenario_index: index,
                seed,
                // A pinned plan is one run: always re-checked.
                check_determinism: pinned
                    || args.check_determinism
                    || (args.determinism_every > 0 && seed % args.determinism_every == 0),
                keep: args.artifacts == Artifacts::All,
                options: options.clone(),
            })
        })
}

/// Run every seed of every scenario on the pool, folding results as they come.
fn sweep(args: &RunArgs, scenarios: &[Arc<Scenario>], jobs: usize, run: &RunDir) -> Sweep {
    let total = scenarios.iter().map(|s| seed_range(args, s).1).sum();
    let mut sweep = Sweep {
        tallies: tallies(args, scenarios),
        finished: 0,
        cut_short: 0,
        wall_s: 0.0,
        write_errors: Vec::new(),
    };
    let mut progress = Progress::new(total, args.quiet, std::io::stderr().is_terminal());
    let mut failing_seen = 0u64;
    // The sweep's wall time is a report figure, measured outside every simulation.
    #[allow(clippy::disallowed_methods, clippy::disallowed_types)]
    let started = std::time::Instant::now();
    let stop = guard::stop_flag();
    runner::run_pool(
        seed_jobs(args, scenarios),
        jobs,
        stop,
        |result: SeedResult| {
            progress.tick(failing_seen);
            if result.interrupted {
                // Stopped half-way by the interrupt: neither a pass nor a finding.
                sweep.cut_short += 1;
                return;
            }
            sweep.finished += 1;
            let tally = &mut sweep.tallies[result.scenario_index];
            tally.add(&result);
            if result.verdict != Verdict::Pass && !tally.catches(result.verdict, &result.checks) {
                failing_seen += 1;
            }
            if let Some((plan, exec)) = &result.kept {
                let scenario = &scenarios[result.scenario_index];
                let written = report::seed_dir(&run.path, &scenario.name, result.seed)
                    .and_then(|dir| report::write_seed_artifacts(&dir, scenario, &**plan, exec));
                if let Err(e) = written {
                    sweep.write_errors.push(format!("{}: {e}", scenario.name));
                }
            }
        },
    );
    sweep.wall_s = started.elapsed().as_secs_f64();
    progress.finish();
    sweep
}

/// `summary.json`, and JUnit XML when asked; `code` is `None` while the sweep runs.
fn write_reports(
    args: &RunArgs,
    scenarios: &[Arc<Scenario>],
    sweep: &Sweep,
    jobs: usize,
    code: Option<u8>,
    run: &RunDir,
) -> anyhow::Result<()> {
    let status = match code {
        None => Status::Running,
        Some(_) if sweep.complete() => Status::Finished,
        Some(_) => Status::Interrupted,
    };
    let summary = Summary {
        status,
        run_id: &run.id,
        seeds_per_scenario: args.seeds,
        seed_start: args.seed_start,
        jobs,
        complete: sweep.complete(),
        seeds_finished: sweep.finished,
        seeds_cut_short: sweep.cut_short,
        wall_s: sweep.wall_s,
        seeds_per_s: sweep.finished as f64 / sweep.wall_s.max(1e-9),
        exit_code: code,
        scenarios: sweep
            .tallies
            .iter()
            .zip(scenarios)
            .map(|(tally, scenario)| ScenarioSummary {
                tally,
                outcome: tally.outcome(),
                replay: first_replay(tally, scenario),
            })
            .collect(),
    };
    let summary_path = run.path.join("summary.json");
    report::write_summary(&summary_path, &summary)
        .with_context(|| format!("writing {}", summary_path.display()))?;
    if let (Some(junit), Some(_)) = (&args.junit, code) {
        report::write_junit(junit, &sweep.tallies, sweep.wall_s)
            .with_context(|| format!("writing {}", junit.display()))?;
    }
    Ok(())
}

fn check_unique_names(scenarios: &[Arc<Scenario>]) -> anyhow::Result<()> {
    for (i, a) in scenarios.iter().enumerate() {
        if let Some(b) = scenarios[..i].iter().find(|b| b.name == a.name) {
            return Err(BadInput(format!(
                "two scenarios are named `{}` ({} and {}): reports would collide; set `name` in one of them",
                a.name,
                b.path.display(),
                a.path.display()
            ))
            .into());
        }
    }
    Ok(())
}

/// The replay line worth printing for a scenario: its first unexpected failure, or the
/// seed that first caught its planted bug.
fn first_replay(tally: &Tally, scenario: &Scenario) -> Option<String> {
    let seed = match tally.expect {
        crate::scenario::Expect::Pass => tally.failing.first().map(|f| f.seed),
        _ => tally.first_caught,
    }?;
    Some(report::replay_command(&scenario.path, seed))
}

fn write_failing_artifacts(
    args: &RunArgs,
    scenarios: &[Arc<Scenario>],
    tallies: &[Tally],
    run: &RunDir,
    errors: &mut Vec<String>,
) {
    for (scenario, tally) in scenarios.iter().zip(tallies) {
        for failing in tally.failing.iter().take(args.artifacts_max) {
            let job = SeedJob {
                scenario: scenario.clone(),
                scenario_index: 0,
                seed: failing.seed,
                check_determinism: false,
                keep: true,
                options: runner::full_options(),
            };
            let seed = failing.seed;
            match runner::on_fresh_thread(seed, move || runner::run_seed(&job)) {
                Ok(result) => {
                    if let Some((plan, exec)) = &result.kept {
                        let written =
                            report::seed_dir(&run.path, &scenario.name, seed).and_then(|dir| {
                                report::write_seed_artifacts(&dir, scenario, &**plan, exec)
                            });
                        if let Err(e) = written {
                            errors.push(format!("{} seed {seed}: {e}", scenario.name));
                        }
                    }
                }
                Err(e) => errors.push(format!("{} seed {seed}: {e}", scenario.name)),
            }
        }
    }
}

fn describe_exit(code: u8) -> &'static str {
    use crate::report::exit_code::*;
    match code {
        PASS => "PASS",
        SAFETY => "FAIL: safety violation, crash, or planted bug not caught",
        INCONCLUSIVE => "INCONCLUSIVE",
        LIVENESS => "FAIL: liveness",
        INTERRUPTED => "INTERRUPTED",
        INTERNAL => "FAIL: nondeterminism or internal error",
        _ => "?",
    }
}
