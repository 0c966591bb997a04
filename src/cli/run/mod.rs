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
//!
//! Every finished seed is appended to the run's journal as it finishes
//! ([`crate::runner::journal`]), so `--resume` continues an interrupted run and
//! `faultline merge` joins the shards (`--shard K/N`, see `slice.rs`) of a sweep run on many
//! machines. `--time-budget` runs seeds round-robin until the budget is spent.

pub mod merge;
mod output;
mod table;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use clap::ValueEnum;

use super::progress::Progress;
use super::BadInput;
use crate::guard;
use crate::plan::SeedId;
use crate::report::{self, RunDir};
use crate::runner::journal::{self, Journal, JournalRead, Manifest};
use crate::runner::sweep::{self, guide, jobs, slice, Bench, Shard, Sweep, SweepSpec};
use crate::runner::{self, Tally};
use crate::scenario::{self, Scenario};
use crate::sim::TraceLevel;
use output::{keep_artifacts, write_failing_artifacts, write_reports};

/// Which seeds get their artifacts written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Artifacts {
    /// None (replay a seed to get them).
    None,
    /// One seed per kind of failure: the seed each replay line names, whose timeline the
    /// sweep report links (up to `--artifacts-max` per scenario).
    Representatives,
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
    /// Seeds per scenario (default: 100; with `--time-budget`, as many as the budget
    /// allows).
    #[arg(long)]
    pub seeds: Option<u64>,
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
    #[arg(long, value_enum, default_value_t = Artifacts::Representatives)]
    pub artifacts: Artifacts,
    /// With `--artifacts failing` or `representatives`: at most this many seeds per scenario.
    #[arg(long, default_value_t = 5)]
    pub artifacts_max: usize,
    /// Print no progress.
    #[arg(long, short)]
    pub quiet: bool,
    /// Keep this many run folders under `--out` (the newest; 0: keep every one). A new
    /// run removes the oldest beyond it.
    #[arg(long, default_value_t = KEEP_RUNS_DEFAULT)]
    pub keep_runs: usize,
    /// Also print coverage: per scenario, how many seeds reached each probe, and what
    /// coverage-guided scheduling did (the sweep report shows them either way).
    #[arg(long)]
    pub coverage: bool,
    /// Run only shard K of N (1-based): every N-th seed of every scenario, from the K-th.
    /// `env/N` takes the index from FAULTLINE_SHARD_INDEX or JOB_COMPLETION_INDEX (0-based).
    /// `faultline merge` joins the shards' reports.
    #[arg(long)]
    pub shard: Option<String>,
    /// Run seeds round-robin across the scenarios until this much time is spent (`10m`,
    /// `90s`, `2h`), at most `--seeds` per scenario; the report covers what ran.
    #[arg(long)]
    pub time_budget: Option<String>,
    /// Continue the interrupted run in `<out>/latest` (the same command, the same `--out`):
    /// its finished seeds are kept, the rest run.
    #[arg(long)]
    pub resume: bool,
    /// Coverage-guided scheduling: the share of the positions after the first 100 seeds
    /// of a scenario that run a mutant of an interesting earlier seed (0: none; a sharded
    /// sweep runs none).
    #[arg(long, default_value_t = guide::SHARE_DEFAULT)]
    pub guided_share: f64,
    /// Branching: the share of guided positions whose parent reached a rare probe that run
    /// a *branch* of it — the parent's run replayed up to the moment it first reached its
    /// rarest probe, everything after drawn anew (id `<seed>.b<position>@<ms>`); the rest
    /// run mutants (0: no branches).
    #[arg(long, default_value_t = guide::BRANCH_SHARE_DEFAULT)]
    pub branch_share: f64,
    /// `off` plans every seed without its fault points (to measure what they add); replay
    /// a seed of such a run from its `plan.json` (`faultline replay --plan`).
    #[arg(long, value_enum, default_value_t = Switch::On)]
    pub fault_points: Switch,
}

/// Run folders kept under the report root by default.
pub const KEEP_RUNS_DEFAULT: usize = 10;

/// Seeds per scenario when `--seeds` is not given.
pub const SEEDS_DEFAULT: u64 = 100;
/// Seeds per scenario a time budget runs at most when `--seeds` is not given: more than any
/// budget spends.
pub const SEEDS_UNDER_BUDGET: u64 = 1_000_000_000_000;

impl RunArgs {
    /// Seeds per scenario: `--seeds`, else [`SEEDS_DEFAULT`], or with a time budget
    /// [`SEEDS_UNDER_BUDGET`] (the budget decides).
    pub fn seeds(&self) -> u64 {
        match (self.seeds, &self.time_budget) {
            (Some(n), _) => n,
            (None, Some(_)) => SEEDS_UNDER_BUDGET,
            (None, None) => SEEDS_DEFAULT,
        }
    }
}

/// On or off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Switch {
    /// On.
    On,
    /// Off.
    Off,
}

/// Run the sweep and return the exit code.
pub fn run(args: &RunArgs) -> anyhow::Result<u8> {
    let scenarios = load_scenarios(args)?;
    super::writable_dir(&args.out, "--out")?;
    if let Some(junit) = &args.junit {
        super::writable_file(junit, "--junit")?;
    }
    let shard = match &args.shard {
        Some(text) => Shard::parse(text, &|v| std::env::var(v).ok())?,
        None => Shard::ALL,
    };
    let budget_s = (args.time_budget.as_deref())
        .map(slice::parse_duration_s)
        .transpose()?;
    let spec = spec_of(args, shard, budget_s);
    let manifest = sweep::manifest(&spec, &scenarios);
    let rechecks = args.check_determinism || args.determinism_every > 0;
    let jobs = jobs::choose(args.jobs, &scenarios, args.seeds(), rechecks)?;
    install_stop_handler();
    let (run, done) = if args.resume {
        resume(args, &manifest)?
    } else {
        (
            start_reports(args, &manifest, jobs)?,
            JournalRead::default(),
        )
    };
    print_header(args, &manifest, jobs, &run, &done);
    let mut sweep = run_sweep(args, &spec, (&scenarios, &manifest, jobs), &run, done)?;
    if matches!(
        args.artifacts,
        Artifacts::Failing | Artifacts::Representatives
    ) && !guard::stop_requested()
    {
        write_failing_artifacts(
            args,
            &scenarios,
            &sweep.tallies,
            &run,
            &mut sweep.write_errors,
        );
    }
    finish(
        &manifest,
        args.junit.as_deref(),
        (&sweep, args.coverage),
        jobs,
        &run,
    )
}

/// The end of a sweep (or of a merge): the table, the final reports, the exit code.
fn finish(
    manifest: &Manifest,
    junit: Option<&Path>,
    (sweep, show_coverage): (&Sweep, bool),
    jobs: usize,
    run: &RunDir,
) -> anyhow::Result<u8> {
    let code = runner::exit_code(&sweep.tallies);
    table::print_summary(sweep, run, show_coverage);
    write_reports(manifest, junit, sweep, jobs, Some(code), run)?;
    for e in &sweep.write_errors {
        eprintln!("warning: could not write artifacts: {e}");
    }
    println!("report: {}", run.path.join("index.html").display());
    println!("summary: {}", run.path.join("summary.json").display());
    println!("result: {} (exit {code})", describe_exit(code));
    Ok(code)
}

fn print_header(args: &RunArgs, m: &Manifest, jobs: usize, run: &RunDir, done: &JournalRead) {
    let pinned = m.scenarios.iter().filter(|s| s.pinned).count();
    if pinned > 0 {
        println!("replaying {pinned} pinned plan(s) first (the regression corpus)");
    }
    let seeds = if args.seeds.is_none() && m.time_budget_s.is_some() {
        format!("seeds from {} while the budget lasts", args.seed_start)
    } else {
        format!(
            "{} seeds (seeds {}..={})",
            args.seeds(),
            args.seed_start,
            args.seed_start + args.seeds() - 1
        )
    };
    println!(
        "faultline run: {} scenario(s) × {seeds}{}{}, {} jobs, reports in {}/",
        m.scenarios.len() - pinned,
        if m.shard.1 > 1 {
            format!(", shard {}/{}", m.shard.0, m.shard.1)
        } else {
            String::new()
        },
        m.time_budget_s
            .map(|s| format!(", time budget {s} s"))
            .unwrap_or_default(),
        jobs,
        run.path.display()
    );
    if !done.records.is_empty() {
        println!(
            "resuming: {} seed(s) already finished are kept",
            done.records.len()
        );
    }
    if let Some(line) = done.torn_line {
        println!("resuming: line {line} of the journal was cut short by the interruption; that seed runs again");
    }
}

/// The interrupted run in `<out>/latest`, if it is this same sweep, and its finished seeds.
fn resume(args: &RunArgs, ours: &Manifest) -> anyhow::Result<(RunDir, JournalRead)> {
    let latest = args.out.join("latest");
    let path = std::fs::canonicalize(&latest).map_err(|_| {
        BadInput(format!(
            "--resume: no earlier run in {} to continue (start it without --resume)",
            latest.display()
        ))
    })?;
    let theirs = journal::read_manifest(&path).map_err(|e| BadInput(format!("--resume: {e}")))?;
    if let Some(why) = sweep::shards::difference(&theirs, ours, false) {
        return Err(BadInput(format!(
            "--resume: {} is another sweep: {why}; run the same command as before",
            path.display()
        ))
        .into());
    }
    // A journal that cannot be read (a folder in its place, a link loop) is bad input to a
    // resume, like a damaged one.
    let done =
        journal::read_journal(&path, ours).map_err(|e| BadInput(format!("--resume: {e}")))?;
    let id = path
        .file_name()
        .map_or_else(|| "run".into(), |n| n.to_string_lossy().into_owned());
    if let Some(junit) = &args.junit {
        report::write_junit_running(junit, &id)
            .with_context(|| format!("writing {}", junit.display()))?;
    }
    Ok((RunDir { id, path }, done))
}

/// Ctrl-C and SIGTERM stop the sweep (seeds stop within a second); a second one quits.
fn install_stop_handler() {
    let _ = ctrlc::set_handler(|| {
        if guard::stop_requested() {
            // Second signal: the user means it.
            std::process::exit(i32::from(runner::exit_code::INTERRUPTED));
        }
        guard::request_stop();
        eprintln!("\ninterrupted: stopping the running seeds, then reporting (again to quit now)");
    });
}

/// A new run folder under `root` (and `root/latest` pointing at it), with its manifest.
fn new_run_folder(root: &Path, manifest: &Manifest) -> anyhow::Result<RunDir> {
    // The run folder is named after the wall-clock time: a label at the edge, never an
    // input to any simulation.
    #[allow(clippy::disallowed_methods, clippy::disallowed_types)]
    let unix_s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let run = RunDir::create(root, unix_s)
        .with_context(|| format!("creating a run folder under {}", root.display()))?;
    journal::write_manifest(&run.path, manifest)
        .with_context(|| format!("writing {}", run.path.join(journal::MANIFEST).display()))?;
    Ok(run)
}

/// The run's folder, with its manifest, an empty journal and a `running` summary (and
/// JUnit error) in place before any seed.
fn start_reports(args: &RunArgs, manifest: &Manifest, jobs: usize) -> anyhow::Result<RunDir> {
    let run = new_run_folder(&args.out, manifest)?;
    if args.keep_runs > 0 {
        let removed = report::prune_runs(&args.out, args.keep_runs)
            .with_context(|| format!("removing old run folders under {}", args.out.display()))?;
        if !removed.is_empty() {
            println!(
                "removed {} older run folder(s) under {} (keeping the newest {}: --keep-runs)",
                removed.len(),
                args.out.display(),
                args.keep_runs
            );
        }
    }
    if let Some(junit) = &args.junit {
        report::write_junit_running(junit, &run.id)
            .with_context(|| format!("writing {}", junit.display()))?;
    }
    let sweep = Sweep::new(manifest);
    write_reports(manifest, None, &sweep, jobs, None, &run)?;
    Ok(run)
}

/// Check the arguments and load every scenario (an invalid one stops the run).
fn load_scenarios(args: &RunArgs) -> anyhow::Result<Vec<Arc<Scenario>>> {
    if args.seeds() == 0 {
        return Err(BadInput("--seeds must be at least 1".into()).into());
    }
    if !(0.0..=1.0).contains(&args.guided_share) {
        return Err(BadInput("--guided-share must be between 0 and 1".into()).into());
    }
    if !(0.0..=1.0).contains(&args.branch_share) {
        return Err(BadInput("--branch-share must be between 0 and 1".into()).into());
    }
    // Plain seeds stay below 2^63, where ids of guided runs live (see `SeedId`).
    let last = args.seed_start.checked_add(args.seeds() - 1);
    if let Some(e) = [Some(args.seed_start), last]
        .into_iter()
        .find_map(|s| match s {
            Some(s) => SeedId::plain(s).err().map(|e| e.to_string()),
            None => Some(format!(
                "--seed-start + --seeds is above {}",
                crate::rng::seed_id::SEED_MAX
            )),
        })
    {
        return Err(BadInput(format!(
            "{e} (--seed-start {} --seeds {})",
            args.seed_start,
            args.seeds()
        ))
        .into());
    }
    let files = scenario::discover(&args.paths)?;
    let mut scenarios = Vec::new();
    for file in &files {
        let scenario = Scenario::load(file, &crate::systems::REGISTRY)?;
        if scenario.file.pinned.is_some() {
            // Read the pinned plan now: a broken one stops the run before any seed.
            runner::pinned::plan_of(&scenario, SeedId::Plain(0))
                .map_err(|e| BadInput(e.to_string()))?;
        }
        scenarios.push(Arc::new(scenario));
    }
    // Pinned plans (the regression corpus) run first: they are few, and a regression
    // is the first thing to know.
    scenarios.sort_by_key(|s| s.file.pinned.is_none());
    check_unique_names(&scenarios)?;
    Ok(scenarios)
}

/// What `faultline run`'s arguments ask the engine to run.
fn spec_of(args: &RunArgs, shard: Shard, time_budget_s: Option<u64>) -> SweepSpec {
    SweepSpec {
        seeds: args.seeds(),
        seed_start: args.seed_start,
        check_determinism: args.check_determinism,
        determinism_every: args.determinism_every,
        guided_share: args.guided_share,
        branch_share: args.branch_share,
        level: if args.artifacts == Artifacts::All {
            TraceLevel::Full
        } else {
            TraceLevel::Fates
        },
        keep: args.artifacts == Artifacts::All,
        without_fault_points: args.fault_points == Switch::Off,
        shard,
        time_budget_s,
    }
}

/// Run the sweep on the engine, with a progress line, writing each kept seed's artifacts
/// as it finishes (`--artifacts all`).
fn run_sweep(
    args: &RunArgs,
    spec: &SweepSpec,
    (scenarios, manifest, jobs): (&[Arc<Scenario>], &Manifest, usize),
    run: &RunDir,
    done: JournalRead,
) -> anyhow::Result<Sweep> {
    let total = sweep::seeds_to_run(manifest, &done);
    let mut journal = Journal::open(&run.path, done.whole_bytes)
        .with_context(|| format!("opening {}", run.path.join(journal::JOURNAL).display()))?;
    let mut progress = Progress::new(total, args.quiet, std::io::stderr().is_terminal());
    let bench = Bench {
        scenarios,
        manifest,
        jobs,
        journal: &mut journal,
    };
    let sweep = sweep::run(spec, bench, done, &mut |result, sweep| {
        progress.tick(&sweep.counts);
        if !result.interrupted {
            keep_artifacts(result, scenarios, run, &mut sweep.write_errors);
        }
    });
    progress.finish();
    if args.coverage {
        print_coverage(&sweep.coverage, &sweep.tallies);
    }
    Ok(sweep)
}

/// How many probe combinations each scenario's runs reached, and what guidance did.
fn print_coverage(coverage: &[(usize, u64, usize)], tallies: &[Tally]) {
    println!("coverage (probe combinations reached; guided runs, from a corpus of):");
    for (&(combinations, guided, corpus), t) in coverage.iter().zip(tallies) {
        if !t.pinned {
            let branched = t.branched_runs;
            println!(
                "  {}: {combinations} combination(s); {guided} guided run(s), {branched} of them \
                 branched, from {corpus} seed(s)",
                t.name
            );
        }
    }
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

fn describe_exit(code: u8) -> &'static str {
    use crate::runner::exit_code::*;
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
