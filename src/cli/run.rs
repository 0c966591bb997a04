//! `faultline run <scenario|dir>... --seeds N`: the sweep.
//!
//! Loads every scenario first (an invalid one stops the run before any seed, exit 254),
//! then runs `N` seeds of each on a bounded pool of fresh threads, showing progress,
//! and prints a summary: counts per verdict, which planted bugs were caught and after how
//! many seeds, coverage probes, determinism re-checks, seeds per second, and one
//! pasteable replay line per failure. `reports/summary.json` (and JUnit XML with
//! `--junit`) hold the same. Ctrl-C stops starting seeds; what finished is reported.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::Context;
use clap::ValueEnum;

use super::progress::Progress;
use super::BadInput;
use crate::check::Verdict;
use crate::report::{self, Outcome, ScenarioSummary, Summary, Tally};
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
    /// Output directory.
    #[arg(long, default_value = "reports")]
    pub out: PathBuf,
    /// Also write JUnit XML here.
    #[arg(long)]
    pub junit: Option<PathBuf>,
    /// Which seeds get their artifacts written under `<out>/<scenario>/<seed>/`.
    #[arg(long, value_enum, default_value_t = Artifacts::None)]
    pub artifacts: Artifacts,
    /// With `--artifacts failing`: at most this many seeds per scenario.
    #[arg(long, default_value_t = 5)]
    pub artifacts_max: usize,
    /// Print no progress.
    #[arg(long, short)]
    pub quiet: bool,
}

/// Set by Ctrl-C.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Run the sweep and return the exit code.
pub fn run(args: &RunArgs) -> anyhow::Result<u8> {
    let scenarios = load_scenarios(args)?;
    let jobs = args.jobs.unwrap_or_else(default_jobs).max(1);
    let _ = ctrlc::set_handler(|| {
        if INTERRUPTED.swap(true, Ordering::SeqCst) {
            // Second Ctrl-C: the user means it.
            std::process::exit(i32::from(crate::report::exit_code::INTERRUPTED));
        }
        eprintln!(
            "\ninterrupted: finishing running seeds, then reporting (Ctrl-C again to quit now)"
        );
    });
    println!(
        "faultline run: {} scenario(s) × {} seeds (seeds {}..={}), {} jobs",
        scenarios.len(),
        args.seeds,
        args.seed_start,
        args.seed_start + args.seeds - 1,
        jobs
    );
    let mut sweep = sweep(args, &scenarios, jobs);
    if args.artifacts == Artifacts::Failing {
        write_failing_artifacts(args, &scenarios, &sweep.tallies, &mut sweep.write_errors);
    }
    let code = report::exit_code(&sweep.tallies, sweep.complete);
    print_summary(&scenarios, &sweep, args);
    write_reports(args, &scenarios, &sweep, jobs, code)?;
    for e in &sweep.write_errors {
        eprintln!("warning: could not write artifacts: {e}");
    }
    println!("summary: {}", args.out.join("summary.json").display());
    println!("result: {} (exit {code})", describe_exit(code));
    Ok(code)
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
        scenarios.push(Arc::new(Scenario::load(file, &crate::systems::REGISTRY)?));
    }
    check_unique_names(&scenarios)?;
    Ok(scenarios)
}

/// What a sweep produced.
struct Sweep {
    tallies: Vec<Tally>,
    finished: usize,
    complete: bool,
    wall_s: f64,
    write_errors: Vec<String>,
}

/// Run every seed of every scenario on the pool, folding results as they come.
fn sweep(args: &RunArgs, scenarios: &[Arc<Scenario>], jobs: usize) -> Sweep {
    let total = scenarios.len() as u64 * args.seeds;
    let level = if args.artifacts == Artifacts::All {
        TraceLevel::Full
    } else {
        TraceLevel::Fates
    };
    let options = ExecOptions {
        level,
        ..ExecOptions::default()
    };
    let seed_jobs = scenarios.iter().enumerate().flat_map(|(index, scenario)| {
        let options = options.clone();
        (args.seed_start..args.seed_start + args.seeds).map(move |seed| SeedJob {
            scenario: scenario.clone(),
            scenario_index: index,
            seed,
            check_determinism: args.check_determinism
                || (args.determinism_every > 0 && seed % args.determinism_every == 0),
            keep: args.artifacts == Artifacts::All,
            options: options.clone(),
        })
    });
    let mut tallies: Vec<Tally> = scenarios
        .iter()
        .map(|s| Tally::new(s, args.seed_start))
        .collect();
    let mut progress = Progress::new(total, args.quiet, std::io::stderr().is_terminal());
    let mut failing_seen = 0u64;
    let mut write_errors = Vec::new();
    // The sweep's wall time is a report figure, measured outside every simulation.
    #[allow(clippy::disallowed_methods, clippy::disallowed_types)]
    let started = std::time::Instant::now();
    let finished = runner::run_pool(seed_jobs, jobs, &INTERRUPTED, |result: SeedResult| {
        let tally = &mut tallies[result.scenario_index];
        tally.add(&result);
        if result.verdict != Verdict::Pass && !tally.catches(result.verdict, &result.checks) {
            failing_seen += 1;
        }
        if let Some((plan, exec)) = &result.kept {
            let scenario = &scenarios[result.scenario_index];
            if let Err(e) = report::write_seed_artifacts(&args.out, scenario, &**plan, exec) {
                write_errors.push(format!("{}: {e}", scenario.name));
            }
        }
        progress.tick(failing_seen);
    });
    let wall_s = started.elapsed().as_secs_f64();
    progress.finish();
    Sweep {
        tallies,
        finished,
        complete: finished as u64 == total && !INTERRUPTED.load(Ordering::SeqCst),
        wall_s,
        write_errors,
    }
}

/// `summary.json`, and JUnit XML when asked.
fn write_reports(
    args: &RunArgs,
    scenarios: &[Arc<Scenario>],
    sweep: &Sweep,
    jobs: usize,
    code: u8,
) -> anyhow::Result<()> {
    let summary = Summary {
        seeds_per_scenario: args.seeds,
        seed_start: args.seed_start,
        jobs,
        complete: sweep.complete,
        wall_s: sweep.wall_s,
        seeds_per_s: sweep.finished as f64 / sweep.wall_s.max(1e-9),
        exit_code: code,
        scenarios: sweep
            .tallies
            .iter()
            .zip(scenarios)
            .map(|(tally, scenario)| ScenarioSummary {
                tally,
                outcome: tally.outcome(sweep.complete),
                replay: first_replay(tally, scenario),
            })
            .collect(),
    };
    let summary_path = args.out.join("summary.json");
    report::write_summary(&summary_path, &summary)
        .with_context(|| format!("writing {}", summary_path.display()))?;
    if let Some(junit) = &args.junit {
        report::write_junit(junit, &sweep.tallies, sweep.complete, sweep.wall_s)
            .with_context(|| format!("writing {}", junit.display()))?;
    }
    Ok(())
}

fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
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
                        if let Err(e) =
                            report::write_seed_artifacts(&args.out, scenario, &**plan, exec)
                        {
                            errors.push(format!("{} seed {seed}: {e}", scenario.name));
                        }
                    }
                }
                Err(e) => errors.push(format!("{} seed {seed}: {e}", scenario.name)),
            }
        }
    }
}

fn print_summary(scenarios: &[Arc<Scenario>], sweep: &Sweep, args: &RunArgs) {
    let tallies = &sweep.tallies;
    print_table(tallies, sweep.complete);
    print_coverage(tallies);
    print_determinism(tallies);
    let messages: u64 = tallies.iter().map(|t| t.messages).sum();
    let (finished, wall_s) = (sweep.finished, sweep.wall_s);
    println!(
        "{finished} seeds in {wall_s:.2} s: {:.0} seeds/s, {:.2} M messages/s{}",
        finished as f64 / wall_s.max(1e-9),
        messages as f64 / wall_s.max(1e-9) / 1e6,
        if sweep.complete { "" } else { " (interrupted)" }
    );
    print_replays(scenarios, tallies, args);
}

/// One row per scenario: verdict counts and what the sweep amounts to.
fn print_table(tallies: &[Tally], complete: bool) {
    let width = tallies
        .iter()
        .map(|t| t.name.len())
        .max()
        .unwrap_or(8)
        .max(8);
    println!();
    println!(
        "{:width$}  {:9} {:>6} {:>6} {:>6} {:>6} {:>6} {:>6}  result",
        "scenario", "expect", "seeds", "pass", "viol", "crash", "live", "unkn"
    );
    for t in tallies {
        let n = |v: Verdict| t.verdicts.get(&v).copied().unwrap_or(0);
        println!(
            "{:width$}  {:9} {:>6} {:>6} {:>6} {:>6} {:>6} {:>6}  {}",
            t.name,
            format!("{:?}", t.expect).to_lowercase(),
            t.seeds,
            n(Verdict::Pass),
            n(Verdict::Violation),
            n(Verdict::Crash),
            n(Verdict::Liveness),
            n(Verdict::Unknown),
            result_text(t, complete),
        );
    }
}

fn result_text(t: &Tally, complete: bool) -> String {
    match t.outcome(complete) {
        Outcome::Ok => match (t.expect, t.first_caught) {
            (crate::scenario::Expect::Pass, _) => "ok".to_string(),
            (_, Some(seed)) => format!(
                "caught at seed {seed} (after {} seed(s)), in {} of {}",
                t.seeds_until_caught().unwrap_or(0),
                t.caught,
                t.seeds
            ),
            (_, None) => "not caught yet (interrupted)".to_string(),
        },
        Outcome::Violation => "FAILED: safety violation".into(),
        Outcome::Liveness => "FAILED: did not converge".into(),
        Outcome::Inconclusive => "inconclusive".into(),
        Outcome::Missed => format!("FAILED: expected {:?} never found", t.expect),
        Outcome::Broken => "FAILED: nondeterministic or internal error".into(),
    }
}

fn print_coverage(tallies: &[Tally]) {
    println!("\ncoverage (seeds that reached each probe):");
    for t in tallies {
        let probes: Vec<String> = t.probes.iter().map(|(p, n)| format!("{p} {n}")).collect();
        println!(
            "  {}: {}",
            t.name,
            if probes.is_empty() {
                "none".into()
            } else {
                probes.join(", ")
            }
        );
    }
}

fn print_determinism(tallies: &[Tally]) {
    let rechecked: u64 = tallies.iter().map(|t| t.determinism_checked).sum();
    let diverged: Vec<String> = tallies
        .iter()
        .flat_map(|t| {
            t.nondeterministic
                .iter()
                .map(move |s| format!("{} seed {s}", t.name))
        })
        .collect();
    if diverged.is_empty() {
        println!("\ndeterminism: {rechecked} seed(s) re-run, all traces identical");
    } else {
        println!(
            "\ndeterminism: {} of {rechecked} re-run seed(s) DIVERGED: {}",
            diverged.len(),
            diverged.join(", ")
        );
    }
    for t in tallies {
        for (seed, e) in &t.harness_errors {
            println!("internal error in {} seed {seed}: {e}", t.name);
        }
    }
}

/// Replay lines: every unexpected failure (capped), and the first catch per bug.
fn print_replays(scenarios: &[Arc<Scenario>], tallies: &[Tally], args: &RunArgs) {
    let mut lines = Vec::new();
    for (t, scenario) in tallies.iter().zip(scenarios) {
        if t.expect == crate::scenario::Expect::Pass {
            for f in &t.failing {
                lines.push(format!(
                    "  {}   # {:?}{}: {}",
                    report::replay_command(&scenario.path, f.seed),
                    f.verdict,
                    f.check
                        .as_ref()
                        .map(|c| format!(" ({c})"))
                        .unwrap_or_default(),
                    truncate(&f.message, 160)
                ));
            }
        } else if let Some(seed) = t.first_caught {
            let what = t
                .failing
                .iter()
                .find(|f| f.seed == seed)
                .map(|f| truncate(&f.message, 160))
                .unwrap_or_default();
            lines.push(format!(
                "  {}   # planted bug caught: {what}",
                report::replay_command(&scenario.path, seed)
            ));
        }
    }
    const LINES_MAX: usize = 20;
    if !lines.is_empty() {
        println!("\nreplay:");
        for line in lines.iter().take(LINES_MAX) {
            println!("{line}");
        }
        if lines.len() > LINES_MAX {
            println!(
                "  … and {} more (with their replay lines) in {}",
                lines.len() - LINES_MAX,
                args.out.join("summary.json").display()
            );
        }
    }
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n).collect::<String>())
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
