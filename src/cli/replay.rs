//! `faultline replay <scenario> --seed N`: run one seed again, identically, and write
//! everything about it under `reports/replays/<scenario>/<seed>/` (replacing what an
//! earlier replay of the same seed left there, and saying so).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;

use super::BadInput;
use crate::plan::SeedId;
use crate::report;
use crate::runner::{self, SeedJob};
use crate::scenario::Scenario;
use crate::systems::Execution;

/// Arguments of `faultline replay`.
#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// The scenario file.
    pub scenario: PathBuf,
    /// The seed to replay, or a guided or branched run's id (`41.g9999`,
    /// `41.b9999@1530`), as a sweep's replay line prints it (a pinned scenario replays its one plan without it).
    #[arg(long)]
    pub seed: Option<SeedId>,
    /// Replay this explicit plan (a `plan.json`, e.g. what `faultline shrink` wrote)
    /// instead of drawing the seed's plan from the scenario.
    #[arg(long, conflicts_with_all = ["seed", "check_determinism"])]
    pub plan: Option<PathBuf>,
    /// Report root: the seed's artifacts go to `<out>/replays/<scenario>/<seed>/`.
    #[arg(long, default_value = "reports")]
    pub out: PathBuf,
    /// Run the seed twice and compare the traces.
    #[arg(long)]
    pub check_determinism: bool,
}

/// The seed's verdict, its panic or limit, and each check's result.
fn print_outcome(name: &str, seed: SeedId, exec: &Execution) {
    println!(
        "{} seed {}: {}",
        name,
        seed,
        format!("{:?}", exec.verdict).to_uppercase()
    );
    if let SeedId::Branched { parent, at_ms, .. } = seed {
        println!("  a branch: seed {parent}'s run up to {at_ms} ms, its own draws after it");
    }
    if let Some(panic) = &exec.panic {
        println!(
            "  panic in {} at {:.3} ms: {}",
            panic.name,
            panic.t_ns as f64 / 1e6,
            panic.message
        );
    }
    if let Some(hit) = &exec.limit {
        println!("  {hit}");
    }
    for check in &exec.checks {
        println!(
            "  {:16} {:9} {}",
            check.check,
            format!("{:?}", check.verdict).to_lowercase(),
            check.message
        );
    }
}

/// The largest plan file faultline reads.
const PLAN_BYTES_MAX: u64 = 256 << 20;

/// Replay an explicit plan file: its artifacts go to `replays/<scenario>/<seed>-plan/`.
fn run_plan(args: &ReplayArgs, scenario: &Scenario, file: &Path) -> anyhow::Result<u8> {
    let text = crate::input::read_text(file, PLAN_BYTES_MAX)
        .map_err(|e| BadInput(format!("{}: {e}", file.display())))?;
    let system = crate::systems::find(scenario.system.name())
        .with_context(|| format!("system `{}` is not registered", scenario.system.name()))?;
    let plan = system
        .plan_from_json(&text)
        .map_err(|e| BadInput(runner::pinned::plan_file_error(file, &text, &e)))?;
    let seed = plan.head().id();
    let exec = runner::run_plan(system, plan.clone_box(), runner::full_options()).map_err(|e| {
        anyhow::anyhow!("replay of {} failed inside faultline: {e}", file.display())
    })?;
    let dir = report::under(
        &args.out,
        &["replays", &scenario.name, &format!("{seed}-plan")],
    )
    .with_context(|| format!("writing artifacts under {}", args.out.display()))?;
    if std::fs::symlink_metadata(&dir).is_ok() {
        std::fs::remove_dir_all(&dir)?;
    }
    let written = report::write_seed_artifacts(&dir, scenario, &*plan, &exec)
        .with_context(|| format!("writing artifacts under {}", dir.display()))?;
    print_outcome(&scenario.name, seed, &exec);
    println!(
        "  plan: {} ({} operations, {} fault actions)",
        file.display(),
        plan.operations(),
        plan.head().faults.len()
    );
    println!("  artifacts: {}/ ({})", dir.display(), written.join(", "));
    Ok(crate::runner::seed_exit_code(exec.verdict))
}

/// The seed to replay: `--seed`, or a pinned scenario's own (whose plan must read).
fn seed_to_replay(
    args: &ReplayArgs,
    scenario: &Scenario,
    seed: Option<SeedId>,
) -> anyhow::Result<SeedId> {
    let seed = runner::pinned::seed_to_run(scenario, &args.scenario, seed, "replay")
        .map_err(|e| BadInput(format!("{e} (or replay a plan file with --plan)")))?;
    if runner::pinned::pinned_seed(scenario).is_some() {
        runner::pinned::plan_of(scenario, seed).map_err(|e| BadInput(e.to_string()))?;
    }
    Ok(seed)
}

/// Replay and return the seed's exit code.
pub fn run(args: &ReplayArgs) -> anyhow::Result<u8> {
    let scenario = Arc::new(Scenario::load(&args.scenario, &crate::systems::REGISTRY)?);
    super::writable_dir(&args.out, "--out")?;
    let seed = match (&args.plan, args.seed) {
        (Some(file), _) => return run_plan(args, &scenario, file),
        (None, seed) => seed_to_replay(args, &scenario, seed)?,
    };
    let job = SeedJob {
        scenario: scenario.clone(),
        scenario_index: 0,
        seed,
        check_determinism: args.check_determinism,
        keep: true,
        options: runner::full_options(),
    };
    let result = runner::on_fresh_thread(seed.raw(), move || runner::run_seed(&job))
        .map_err(|e| anyhow::anyhow!("replay of seed {seed} failed inside faultline: {e}"))?;
    let (plan, exec) = result.kept.as_ref().context("replay keeps its execution")?;
    let dir = report::under(&args.out, &["replays"])
        .and_then(|replays| report::seed_dir(&replays, &scenario.name, seed))
        .with_context(|| format!("writing artifacts under {}", args.out.display()))?;
    if std::fs::symlink_metadata(&dir).is_ok() {
        println!(
            "replacing {}/ (left by an earlier replay of this seed)",
            dir.display()
        );
        std::fs::remove_dir_all(&dir)
            .with_context(|| format!("removing the earlier {}", dir.display()))?;
    }
    let written = report::write_seed_artifacts(&dir, &scenario, &**plan, exec)
        .with_context(|| format!("writing artifacts under {}", dir.display()))?;

    print_outcome(&scenario.name, seed, exec);
    let sent: u64 = exec.links.values().map(|l| l.sent).sum();
    println!(
        "  {} client operations, {} messages, {} trace events, ended at {:.1} ms ({}), trace hash {:016x}",
        exec.history.ops.len(),
        sent,
        exec.trace.len(),
        exec.end_ns as f64 / 1e6,
        if exec.settled { "settled" } else { "not settled" },
        exec.trace.hash()
    );
    if let Some(d) = &result.determinism {
        if d.identical {
            println!("  determinism: second run identical");
        } else {
            println!("  determinism: second run DIVERGED");
            if let Some((i, a, b)) = &d.divergence {
                println!(
                    "    first difference at event {i}:\n      run 1: {}\n      run 2: {}",
                    a.as_ref()
                        .map_or("(end of trace)".into(), |v| v.to_string()),
                    b.as_ref()
                        .map_or("(end of trace)".into(), |v| v.to_string())
                );
            }
            return Ok(crate::runner::exit_code::INTERNAL);
        }
    }
    println!("  artifacts: {}/ ({})", dir.display(), written.join(", "));
    Ok(crate::runner::seed_exit_code(exec.verdict))
}
