//! Every shipped scenario meets its expectation on a bounded number of seeds: correct
//! systems pass every seed, and every planted bug is caught by the check it names.
//! (CI's smoke sweep runs more seeds of the same through the binary.)

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use faultline::runner::{run_pool, SeedJob};
use faultline::runner::{Outcome, Tally};
use faultline::scenario::{discover, Expect, Scenario};
use faultline::systems::ExecOptions;

const SEEDS: u64 = 80;

#[path = "common/search_found.rs"]
mod search_found;
use search_found::FOUND_BY_SEARCH;

#[test]
fn every_shipped_scenario_meets_its_expectation() {
    let files = discover(&[PathBuf::from("scenarios")]).expect("scenarios/ exists");
    assert!(
        files.len() >= 15,
        "expected the shipped catalogue, found {} files",
        files.len()
    );
    let scenarios: Vec<Arc<Scenario>> = files
        .iter()
        .map(|f| {
            Arc::new(
                Scenario::load(f, &faultline::systems::REGISTRY).unwrap_or_else(|e| panic!("{e}")),
            )
        })
        // Pinned plans (scenarios/regressions/) run one plan, not seeds: tests/shrink.rs.
        .filter(|s| s.file.pinned.is_none())
        .collect();
    let jobs = scenarios.iter().enumerate().flat_map(|(index, scenario)| {
        (0..SEEDS).map(move |seed| SeedJob {
            scenario: scenario.clone(),
            scenario_index: index,
            seed: faultline::plan::SeedId::Plain(seed),
            check_determinism: seed % 20 == 0,
            keep: false,
            options: ExecOptions::default(),
        })
    });
    let mut tallies: Vec<Tally> = scenarios.iter().map(|s| Tally::new(s, 0, SEEDS)).collect();
    let never = AtomicBool::new(false);
    let finished = run_pool(jobs, 2, &never, |r| tallies[r.scenario_index].add(&r));
    assert_eq!(finished as u64, SEEDS * scenarios.len() as u64);

    let mut failures = Vec::new();
    for (t, s) in tallies.iter().zip(&scenarios) {
        assert!(
            t.nondeterministic.is_empty(),
            "{}: nondeterministic seeds {:?}",
            t.name,
            t.nondeterministic
        );
        assert!(
            t.harness_errors.is_empty(),
            "{}: internal errors {:?}",
            t.name,
            t.harness_errors
        );
        if t.outcome() != Outcome::Ok && !FOUND_BY_SEARCH.contains(&t.name.as_str()) {
            let first = t
                .failing
                .first()
                .map(|f| format!("seed {} {:?}: {}", f.seed, f.verdict, f.message));
            failures.push(format!(
                "{} ({:?}): {:?} {}",
                t.name,
                s.file.expect,
                t.outcome(),
                first.unwrap_or_default()
            ));
        }
        if s.file.expect != Expect::Pass && !FOUND_BY_SEARCH.contains(&t.name.as_str()) {
            assert!(t.caught > 0, "{}: planted bug never caught", t.name);
        }
        assert_estimate_fits(s, t);
    }
    assert!(
        failures.is_empty(),
        "scenarios that missed their expectation:\n{}",
        failures.join("\n")
    );
}

/// The loader's load estimate (which rejects scenarios that cannot fit a seed's
/// envelope) must be the right order of magnitude: never far below what seeds really
/// do, never so far above that reasonable scenarios would be refused.
fn assert_estimate_fits(s: &Scenario, t: &Tally) {
    let estimated = s.estimated_load().events;
    let measured = t.events_per_seed_max as f64;
    println!(
        "{:45} estimated {estimated:>9.0} measured {measured:>9.0}",
        t.name
    );
    assert!(
        measured <= 2.0 * estimated && estimated <= 20.0 * measured,
        "{}: estimated {estimated:.0} events per seed, measured up to {measured:.0}",
        t.name
    );
}
