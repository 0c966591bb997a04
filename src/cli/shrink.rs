//! `faultline shrink <scenario> --seed N`: make a failing seed's plan minimal (see
//! [`crate::shrink`]) and pin it. Writes under `reports/shrunk/<scenario>/<seed>/` the
//! shrunk run's timeline, trace, history, verdicts and `plan.json`, and the **pinned
//! scenario** `pinned.toml` (or `--out FILE`): a scenario file that replays the minimal
//! plan exactly (`faultline replay pinned.toml`, or as part of any `faultline run`).
//! `--save` also adds it to the regression corpus, `scenarios/regressions/`.

use std::cell::Cell;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;

use super::BadInput;
use crate::plan::SeedId;
use crate::report;
use crate::runner;
use crate::scenario::Scenario;
use crate::shrink::{self, pinned, Size};
use crate::systems::Execution;

/// Arguments of `faultline shrink`.
#[derive(Debug, clap::Args)]
pub struct ShrinkArgs {
    /// The scenario file (or a pinned scenario, to shrink its plan further).
    pub scenario: PathBuf,
    /// The failing seed, or a guided or branched run's id (`41.g9999`,
    /// `41.b9999@1530`), as a sweep's replay line
    /// prints it (a pinned scenario's own seed when omitted).
    #[arg(long)]
    pub seed: Option<SeedId>,
    /// Stop trying candidates after this many seconds and keep the smallest found.
    #[arg(long, default_value_t = 60)]
    pub time_limit_s: u64,
    /// Candidates run at once (default: the number of cores). The result is the same
    /// for any value.
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Write the pinned scenario here (default: `pinned.toml` beside the shrunk run's
    /// reports).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Also add the pinned scenario to this regression folder, which every
    /// `faultline run` of the scenario directory replays first.
    #[arg(long, num_args = 0..=1, default_missing_value = "scenarios/regressions")]
    pub save: Option<PathBuf>,
    /// Report root: the shrunk run's artifacts go to `<reports>/shrunk/<scenario>/<seed>/`.
    #[arg(long, default_value = "reports")]
    pub reports: PathBuf,
}

/// Shrink, pin, and return 0: the shrink succeeded (the shrunk plan still fails, which is
/// what was asked). A seed that does not fail is bad input (254).
pub fn run(args: &ShrinkArgs) -> anyhow::Result<u8> {
    let scenario = Scenario::load(&args.scenario, &crate::systems::REGISTRY)?;
    let system = runner::system_of(&scenario);
    let seed = runner::pinned::seed_to_run(&scenario, &args.scenario, args.seed, "shrink")
        .map_err(BadInput)?;
    let plan = runner::pinned::plan_of(&scenario, seed).map_err(|e| BadInput(e.to_string()))?;
    check_outputs(args)?;
    let jobs = candidate_jobs(args.jobs)?;
    println!(
        "shrinking {} seed {} (time limit {} s, {jobs} candidates at once)…",
        scenario.name, seed, args.time_limit_s
    );
    // The time limit is the one wall-clock input: it decides when to stop trying, never
    // what a candidate does.
    #[allow(clippy::disallowed_methods, clippy::disallowed_types)]
    let started = std::time::Instant::now();
    let limit = Duration::from_secs(args.time_limit_s);
    // Progress on a terminal: the candidate count, at most a few times a second.
    let tty = std::io::stderr().is_terminal();
    let shown_ms = Cell::new(0u128);
    let out_of_time = |runs: u32| {
        let ms = started.elapsed().as_millis();
        if tty && ms >= shown_ms.get() + 250 {
            shown_ms.set(ms);
            eprint!("\r  {runs} candidate runs, {:.1} s", ms as f64 / 1e3);
        }
        started.elapsed() >= limit || INTERRUPTED.load(Ordering::SeqCst)
    };
    install_stop_handler();
    let shrunk = shrink::shrink(system, plan, jobs, &out_of_time);
    if tty && shown_ms.get() > 0 {
        eprintln!();
    }
    let interrupted = INTERRUPTED.load(Ordering::SeqCst);
    // The candidates are over: the shrunk plan's own run, and writing it, run whole.
    crate::guard::clear_stop();
    let shrunk = shrunk.map_err(|e| BadInput(format!("{}: {e}", args.scenario.display())))?;
    write_shrunk(
        args,
        &scenario,
        system,
        seed,
        &shrunk,
        started.elapsed(),
        interrupted,
    )
}

/// Where the results go, checked before the shrink rather than after it.
fn check_outputs(args: &ShrinkArgs) -> anyhow::Result<()> {
    super::writable_dir(&args.reports, "--reports")?;
    if let Some(out) = &args.out {
        super::writable_file(out, "--out")?;
    }
    if let Some(save) = &args.save {
        super::writable_dir(save, "--save")?;
    }
    Ok(())
}

/// How many candidates run at once: `--jobs`, capped at a few per core.
fn candidate_jobs(jobs: Option<usize>) -> anyhow::Result<usize> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let jobs = match jobs {
        Some(0) => return Err(BadInput("--jobs must be at least 1".into()).into()),
        // Each candidate runs on a thread of its own: more than a few per core only add
        // threads (and, by the thousand, exhaust the process's).
        Some(jobs) if jobs > crate::runner::sweep::jobs::JOBS_PER_CORE_MAX * cores => {
            let cap = crate::runner::sweep::jobs::JOBS_PER_CORE_MAX * cores;
            eprintln!("warning: --jobs {jobs} is more than {} per core ({cores} core(s) here): running {cap} candidates at once", crate::runner::sweep::jobs::JOBS_PER_CORE_MAX);
            cap
        }
        Some(jobs) => jobs,
        None => cores,
    };
    Ok(jobs)
}

/// Run the shrunk plan once more with a full trace, write its artifacts and the pinned
/// scenario, and say what was found; 0, or 130 after an interrupt.
fn write_shrunk(
    args: &ShrinkArgs,
    scenario: &Scenario,
    system: &'static dyn crate::systems::SystemUnderTest,
    seed: SeedId,
    shrunk: &shrink::Shrunk,
    elapsed: Duration,
    interrupted: bool,
) -> anyhow::Result<u8> {
    let exec = runner::run_plan(system, shrunk.plan.clone_box(), runner::full_options())
        .map_err(|e| anyhow::anyhow!("running the shrunk plan failed inside faultline: {e}"))?;
    let dir = report::under(&args.reports, &["shrunk"])
        .and_then(|root| report::seed_dir(&root, &scenario.name, seed))
        .with_context(|| format!("writing under {}", args.reports.display()))?;
    if std::fs::symlink_metadata(&dir).is_ok() {
        println!("replacing {}/ (left by an earlier shrink)", dir.display());
        std::fs::remove_dir_all(&dir)?;
    }
    let written = report::write_seed_artifacts(&dir, scenario, &*shrunk.plan, &exec)
        .with_context(|| format!("writing {}", dir.display()))?;
    let file = write_pinned(args, scenario, shrunk, &exec, &dir)?;
    let replay = format!(
        "{} replay {}",
        crate::runner::commands::program(),
        crate::runner::commands::shell_quote(&file)
    );
    std::fs::write(dir.join("REPLAY"), format!("{replay}\n"))?;
    print_summary(shrunk, elapsed, interrupted);
    println!(
        "  still fails: {:?} {}",
        exec.verdict,
        describe(&shrunk.target)
    );
    println!("  artifacts: {}/ ({})", dir.display(), written.join(", "));
    println!("  pinned scenario: {}", file.display());
    println!("replay:\n  {replay}");
    if interrupted {
        println!("interrupted: the smallest plan found before the interrupt is written (smaller, not minimal)");
        return Ok(crate::runner::exit_code::INTERRUPTED);
    }
    Ok(crate::runner::exit_code::PASS)
}

/// Set by Ctrl-C or SIGTERM during the shrink.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// The first Ctrl-C or SIGTERM ends the shrink with the smallest plan found so far (the
/// candidates running stop within a second); a second one quits at once.
fn install_stop_handler() {
    let _ = ctrlc::set_handler(|| {
        if INTERRUPTED.swap(true, Ordering::SeqCst) {
            std::process::exit(i32::from(crate::runner::exit_code::INTERRUPTED));
        }
        crate::guard::request_stop();
        eprintln!("\ninterrupted: keeping the smallest plan found so far (again to quit now)");
    });
}

/// Write the pinned scenario (and, with `--save`, its copy in the regression folder),
/// then read it back as any run would: a file that does not reproduce is faultline's bug.
fn write_pinned(
    args: &ShrinkArgs,
    scenario: &Scenario,
    shrunk: &shrink::Shrunk,
    exec: &Execution,
    dir: &Path,
) -> anyhow::Result<PathBuf> {
    let message = shrink::Target::failure(exec).map_or(String::new(), |f| f.2);
    let caught = pinned::caught(scenario, &shrunk.target, &message);
    let command = format!(
        "faultline shrink {} --seed {}",
        crate::runner::commands::shell_quote(&scenario.path),
        shrunk.plan.head().id()
    );
    let text = pinned::render(scenario, shrunk, &caught, &command)
        .map_err(|e| anyhow::anyhow!("writing the pinned plan: {e}"))?;
    let file = args.out.clone().unwrap_or_else(|| dir.join("pinned.toml"));
    let mut written = vec![file.clone()];
    if let Some(folder) = &args.save {
        let name = pinned::pinned_name(scenario, shrunk.plan.head().id());
        written.push(folder.join(format!("{name}.toml")));
    }
    for path in &written {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        if path.exists() && path != &file {
            println!("replacing {} (an earlier pin of this seed)", path.display());
        }
        std::fs::write(path, &text).with_context(|| format!("writing {}", path.display()))?;
        let back = Scenario::load(path, &crate::systems::REGISTRY)
            .with_context(|| format!("reading back {}", path.display()))?;
        let plan = runner::pinned::plan_of(&back, shrunk.plan.head().id())
            .with_context(|| format!("reading back {}", path.display()))?;
        anyhow::ensure!(
            plan.to_json_pretty()? == shrunk.plan.to_json_pretty()?,
            "{} does not read back as the shrunk plan",
            path.display()
        );
    }
    if let Some(saved) = written.get(1) {
        println!("  saved to the regression corpus: {}", saved.display());
    }
    Ok(file)
}

fn describe(target: &shrink::Target) -> String {
    match &target.check {
        Some(check) => format!("({check}): {}", target.signature),
        None => target.signature.clone(),
    }
}

fn print_summary(shrunk: &shrink::Shrunk, took: Duration, interrupted: bool) {
    let row = |what: &str, f: fn(&Size) -> u64| {
        println!(
            "  {what:18} {:>8} → {:<8}",
            f(&shrunk.before),
            f(&shrunk.after)
        );
    };
    println!(
        "{} candidate runs in {:.1} s{}",
        shrunk.runs,
        took.as_secs_f64(),
        if interrupted {
            " (interrupted: the result is smaller, not minimal)"
        } else if shrunk.timed_out {
            " (time limit reached: the result is smaller, not minimal)"
        } else {
            ""
        }
    );
    row("fault episodes", |s| s.faults as u64);
    row("client operations", |s| s.operations as u64);
    row("messages", |s| s.messages);
    row("processes", |s| s.processes as u64);
    row("simulated ms", |s| s.sim_ms);
}
