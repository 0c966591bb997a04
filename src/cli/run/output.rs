//! What a sweep writes besides its journal: `summary.json` (as `running` when it starts,
//! replaced when it ends), the sweep report `index.html`, JUnit XML, and the artifacts of
//! the seeds `--artifacts` asks for (written as they finish with `all`, otherwise replayed
//! with a full trace after the sweep).

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;

use super::{Artifacts, RunArgs, Switch};
use crate::check::Verdict;
use crate::plan::SeedId;
use crate::report::{self, RunDir, ScenarioSummary, Status, Summary};
use crate::runner::journal::Manifest;
use crate::runner::sweep::Sweep;
use crate::runner::{self, SeedJob, SeedResult, Tally};
use crate::scenario::Scenario;
use crate::systems::ExecOptions;

/// With `--artifacts all`: write a seed's artifacts as it finishes.
pub(super) fn keep_artifacts(
    result: &SeedResult,
    scenarios: &[Arc<Scenario>],
    run: &RunDir,
    errors: &mut Vec<String>,
) {
    if let Some((plan, exec)) = &result.kept {
        let scenario = &scenarios[result.scenario_index];
        let written = report::seed_dir(&run.path, &scenario.name, result.seed)
            .and_then(|dir| report::write_seed_artifacts(&dir, scenario, &**plan, exec));
        if let Err(e) = written {
            errors.push(format!("{}: {e}", scenario.name));
        }
    }
}

/// `summary.json`, and JUnit XML when asked; `code` is `None` while the sweep runs.
pub(super) fn write_reports(
    m: &Manifest,
    junit: Option<&Path>,
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
        shard: (m.shard.1 > 1).then(|| format!("{}/{}", m.shard.0, m.shard.1)),
        time_budget_s: m.time_budget_s,
        seeds_per_scenario: m.seeds,
        seed_start: m.seed_start,
        jobs,
        complete: sweep.complete(),
        seeds_finished: sweep.finished,
        seeds_cut_short: sweep.cut_short,
        wall_s: sweep.wall_s,
        seeds_per_s: sweep.finished as f64 / sweep.wall_s.max(1e-9),
        exit_code: code,
        scenarios: (sweep.tallies.iter())
            .map(|tally| ScenarioSummary {
                tally,
                outcome: tally.outcome(),
                replay: first_replay(tally),
            })
            .collect(),
    };
    let summary_path = run.path.join("summary.json");
    report::write_summary(&summary_path, &summary)
        .with_context(|| format!("writing {}", summary_path.display()))?;
    write_index(&summary, run)?;
    if let (Some(junit), Some(_)) = (junit, code) {
        report::write_junit(junit, &sweep.tallies, sweep.wall_s)
            .with_context(|| format!("writing {}", junit.display()))?;
    }
    Ok(())
}

/// The sweep report page, beside `summary.json`.
pub(super) fn write_index(summary: &Summary<'_>, run: &RunDir) -> anyhow::Result<()> {
    let probes_of =
        |t: &Tally| (crate::systems::find(&t.system)).map_or_else(Vec::new, |s| s.probes());
    let timeline_of = |t: &Tally, seed: SeedId| {
        let seed = seed.to_string();
        let file = report::under(&run.path, &[&t.name, &seed, "timeline.html"]).ok()?;
        file.is_file()
            .then(|| report::url_of(&[&t.name, &seed, "timeline.html"]))
    };
    let data = report::index::IndexData {
        summary,
        probes_of: &probes_of,
        timeline_of: &timeline_of,
    };
    let path = run.path.join("index.html");
    report::write_index(&path, &data).with_context(|| format!("writing {}", path.display()))
}

/// The replay line worth printing for a scenario: its first unexpected failure, or the
/// seed that first caught its planted bug.
pub(super) fn first_replay(tally: &Tally) -> Option<String> {
    let seed = match tally.expect {
        crate::scenario::Expect::Pass => tally.failing.first().map(|f| f.seed),
        _ => tally.first_caught,
    }?;
    Some(runner::commands::replay_command(
        Path::new(&tally.path),
        seed,
    ))
}

/// After the sweep: the artifacts `--artifacts` asks for, each seed replayed with a full
/// trace (one failure kind's representative by default, so the report can link it).
pub(super) fn write_failing_artifacts(
    args: &RunArgs,
    scenarios: &[Arc<Scenario>],
    tallies: &[Tally],
    run: &RunDir,
    errors: &mut Vec<String>,
) {
    for (scenario, tally) in scenarios.iter().zip(tallies) {
        let mut seeds: Vec<SeedId> = if args.artifacts == Artifacts::Failing {
            tally.failing.iter().map(|f| f.seed).collect()
        } else {
            // A seed stopped at a resource limit is not replayed with a full trace
            // (which holds more): its replay line says how to look at it.
            (tally.triage.groups().iter())
                .filter(|g| g.verdict != Verdict::Limit)
                .map(|g| g.first_seed)
                .collect()
        };
        seeds.sort_unstable();
        for seed in seeds.into_iter().take(args.artifacts_max) {
            if let Err(e) = write_seed(scenario, seed, run, args.fault_points == Switch::Off) {
                errors.push(format!("{} seed {seed}: {e}", scenario.name));
            }
        }
    }
}

/// Replay one seed with a full trace and write its artifacts.
pub(super) fn write_seed(
    scenario: &Arc<Scenario>,
    seed: SeedId,
    run: &RunDir,
    without_fault_points: bool,
) -> Result<(), String> {
    let job = SeedJob {
        scenario: scenario.clone(),
        scenario_index: 0,
        seed,
        check_determinism: false,
        keep: true,
        options: ExecOptions {
            without_fault_points,
            ..runner::full_options()
        },
    };
    let result = runner::on_fresh_thread(seed.raw(), move || runner::run_seed(&job))?;
    let Some((plan, exec)) = &result.kept else {
        return Ok(());
    };
    report::seed_dir(&run.path, &scenario.name, seed)
        .and_then(|dir| report::write_seed_artifacts(&dir, scenario, &**plan, exec))
        .map(|_| ())
        .map_err(|e| e.to_string())
}
