//! `faultline shrink <scenario> --seed N`: make a failing seed's plan minimal (see
//! [`crate::shrink`]) and write the result under `reports/shrunk/<scenario>/<seed>/`:
//! its `plan.json` (which `faultline replay <scenario> --plan FILE` replays exactly), and
//! the shrunk run's timeline, trace, history and verdicts.

use std::cell::Cell;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;

use super::BadInput;
use crate::report;
use crate::runner;
use crate::scenario::Scenario;
use crate::shrink::{self, Size};

/// Arguments of `faultline shrink`.
#[derive(Debug, clap::Args)]
pub struct ShrinkArgs {
    /// The scenario file.
    pub scenario: PathBuf,
    /// The failing seed.
    #[arg(long)]
    pub seed: u64,
    /// Stop trying candidates after this many seconds and keep the smallest found.
    #[arg(long, default_value_t = 60)]
    pub time_limit_s: u64,
    /// Report root: the result goes to `<out>/shrunk/<scenario>/<seed>/`.
    #[arg(long, default_value = "reports")]
    pub out: PathBuf,
}

/// Shrink and return the shrunk seed's exit code.
pub fn run(args: &ShrinkArgs) -> anyhow::Result<u8> {
    let scenario = Scenario::load(&args.scenario, &crate::systems::REGISTRY)?;
    let system = crate::systems::find(scenario.system.name())
        .with_context(|| format!("system `{}` is not registered", scenario.system.name()))?;
    let plan = system.plan(&scenario, args.seed);
    println!(
        "shrinking {} seed {} (time limit {} s)…",
        scenario.name, args.seed, args.time_limit_s
    );
    // The time limit is the one wall-clock input: it decides when to stop trying, never
    // what a candidate does.
    #[allow(clippy::disallowed_methods, clippy::disallowed_types)]
    let started = std::time::Instant::now();
    let limit = Duration::from_secs(args.time_limit_s);
    // Progress on a terminal: the candidate count, at most a few times a second.
    let tty = std::io::stderr().is_terminal();
    let (runs, shown_ms) = (Cell::new(0u32), Cell::new(0u128));
    let out_of_time = || {
        runs.set(runs.get() + 1);
        let ms = started.elapsed().as_millis();
        if tty && ms >= shown_ms.get() + 250 {
            shown_ms.set(ms);
            eprint!(
                "\r  {} candidate runs, {:.1} s",
                runs.get(),
                ms as f64 / 1e3
            );
        }
        started.elapsed() >= limit
    };
    let shrunk = shrink::shrink(system, plan, &out_of_time);
    if tty && shown_ms.get() > 0 {
        eprintln!();
    }
    let shrunk = shrunk.map_err(|e| BadInput(format!("{}: {e}", args.scenario.display())))?;
    let seed = args.seed;
    let exec = {
        let plan = shrunk.plan.clone_box();
        runner::on_fresh_thread(seed, move || system.run(&*plan, &runner::full_options()))
            .map_err(|e| anyhow::anyhow!("running the shrunk plan failed inside faultline: {e}"))?
    };
    let dir = report::under(&args.out, &["shrunk"])
        .and_then(|root| report::seed_dir(&root, &scenario.name, seed))
        .with_context(|| format!("writing under {}", args.out.display()))?;
    if std::fs::symlink_metadata(&dir).is_ok() {
        println!("replacing {}/ (left by an earlier shrink)", dir.display());
        std::fs::remove_dir_all(&dir)?;
    }
    report::write_seed_artifacts(&dir, &scenario, &*shrunk.plan, &exec)
        .with_context(|| format!("writing {}", dir.display()))?;
    let replay = report::replay_plan_command(&scenario.path, &dir.join("plan.json"));
    std::fs::write(dir.join("REPLAY"), format!("{replay}\n"))?;
    print_summary(&shrunk, started.elapsed());
    println!(
        "  still fails: {:?} {}",
        exec.verdict,
        describe(&shrunk.target)
    );
    println!("  artifacts: {}/", dir.display());
    println!("replay:\n  {replay}");
    Ok(report::seed_exit_code(exec.verdict))
}

fn describe(target: &shrink::Target) -> String {
    match &target.check {
        Some(check) => format!("({check}): {}", target.signature),
        None => target.signature.clone(),
    }
}

fn print_summary(shrunk: &shrink::Shrunk, took: Duration) {
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
        if shrunk.timed_out {
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
