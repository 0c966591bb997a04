//! Shrinking keeps the failure and removes the rest: for a planted bug of each system, the
//! shrunk plan is smaller, still fails the same way after being written as `plan.json` and
//! read back, and the binary's `shrink` → `replay --plan` round trip reproduces it.

use std::path::{Path, PathBuf};
use std::process::Command;

use faultline::runner::on_fresh_thread;
use faultline::scenario::{discover, Expect, Scenario};
use faultline::shrink::{shrink, Target};
use faultline::systems::{self, ExecOptions, REGISTRY};

/// Every shipped planted-bug scenario, with the first seed (of 100) that catches it.
fn planted_bugs() -> Vec<(Scenario, u64)> {
    let files = discover(&[PathBuf::from("scenarios")]).unwrap();
    let mut out = Vec::new();
    for f in files {
        let scenario = Scenario::load(&f, &REGISTRY).unwrap();
        if scenario.file.expect == Expect::Pass {
            continue;
        }
        let system = systems::find(scenario.system.name()).unwrap();
        let seed = (0..100)
            .find(|&seed| {
                let plan = system.plan(&scenario, seed);
                on_fresh_thread(seed, move || {
                    Target::of(&system.run(&*plan, &ExecOptions::default())).is_some()
                })
                .unwrap()
            })
            .unwrap_or_else(|| panic!("{}: no failing seed in 100", scenario.name));
        out.push((scenario, seed));
    }
    assert!(out.len() >= 20, "found {} planted bugs", out.len());
    out
}

/// For every planted bug: shrink finishes within the default 60 s limit, the plan is no
/// bigger (and for most, much smaller), and it fails the same way after being written as
/// `plan.json` and read back.
#[test]
fn every_planted_bug_shrinks_and_still_fails_the_same_way() {
    println!("| scenario (seed) | fault episodes | client operations | messages | runs |");
    println!("|---|---:|---:|---:|---:|");
    let mut smaller = 0;
    let bugs = planted_bugs();
    for (scenario, seed) in &bugs {
        let seed = *seed;
        let system = systems::find(scenario.system.name()).unwrap();
        // The default time limit of `faultline shrink`, as a bound (not a benchmark).
        #[allow(clippy::disallowed_methods, clippy::disallowed_types)]
        let started = std::time::Instant::now();
        let limit = std::time::Duration::from_secs(60);
        let shrunk = shrink(system, system.plan(scenario, seed), &|| {
            started.elapsed() >= limit
        })
        .unwrap_or_else(|e| panic!("{}: {e}", scenario.name));
        let (b, a) = (&shrunk.before, &shrunk.after);
        println!(
            "| `{}` ({seed}) | {} → {} | {} → {} | {} → {} | {} |",
            scenario.name,
            b.faults,
            a.faults,
            b.operations,
            a.operations,
            b.messages,
            a.messages,
            shrunk.runs
        );
        assert!(!shrunk.timed_out, "{}: over 60 s", scenario.name);
        assert!(
            a.faults <= b.faults && a.operations <= b.operations,
            "{}",
            scenario.name
        );
        if a.operations < b.operations {
            smaller += 1;
        }
        let json = shrunk.plan.to_json_pretty().unwrap();
        let back = system.plan_from_json(&json).unwrap();
        let exec =
            on_fresh_thread(seed, move || system.run(&*back, &ExecOptions::default())).unwrap();
        assert_eq!(
            Target::of(&exec).as_ref(),
            Some(&shrunk.target),
            "{}: the shrunk plan read back fails differently",
            scenario.name
        );
    }
    assert!(
        smaller * 4 >= bugs.len() * 3,
        "only {smaller} of {} shrank",
        bugs.len()
    );
}

/// A pinned plan does not depend on how plans are drawn: the same seed drawn under a
/// change that consumes the workload's random numbers differently (here: a third key to
/// draw from) gives another plan, while the pinned plan still replays to the same failure.
#[test]
fn a_pinned_plan_survives_a_change_in_random_draws() {
    let file = Path::new("scenarios/kv_register/bug_no_dedup.toml");
    let scenario = Scenario::load(file, &REGISTRY).unwrap();
    let system = systems::find("kv_register").unwrap();
    let shrunk = shrink(system, system.plan(&scenario, 0), &|| false).unwrap();
    let pinned = shrunk.plan.to_json_pretty().unwrap();

    let text = std::fs::read_to_string(file).unwrap();
    assert!(text.contains("keys = 2"));
    let changed = Scenario::parse(file, &text.replace("keys = 2", "keys = 3"), &REGISTRY)
        .unwrap_or_else(|e| panic!("{e}"));
    let redrawn = system.plan(&changed, 0).to_json_pretty().unwrap();
    assert_ne!(
        redrawn,
        system.plan(&scenario, 0).to_json_pretty().unwrap(),
        "the change draws another plan for the same seed"
    );
    let back = system.plan_from_json(&pinned).unwrap();
    let exec = on_fresh_thread(0, move || system.run(&*back, &ExecOptions::default())).unwrap();
    assert_eq!(Target::of(&exec), Some(shrunk.target));
}

#[test]
fn a_passing_seed_has_nothing_to_shrink() {
    let scenario = Scenario::load(
        Path::new("scenarios/kv_register/all_faults.toml"),
        &REGISTRY,
    )
    .unwrap();
    let system = systems::find("kv_register").unwrap();
    let err = shrink(system, system.plan(&scenario, 0), &|| false)
        .err()
        .expect("a passing seed is refused");
    assert!(err.contains("nothing to shrink"), "{err}");
}

#[test]
fn the_binary_shrinks_and_replays_the_pinned_plan() {
    let dir = std::env::temp_dir().join(format!("faultline-shrink-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (file, seed) = ("scenarios/kv_register/bug_no_dedup.toml", 0);
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["shrink", file, "--seed", &seed.to_string(), "--out"])
        .arg(&dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let replay = stdout
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("faultline replay ") && l.contains("--plan"))
        .unwrap_or_else(|| panic!("no replay line:\n{stdout}"));
    let args: Vec<&str> = replay.split_whitespace().skip(1).collect();
    let again = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(&args)
        .arg("--out")
        .arg(&dir)
        .output()
        .unwrap();
    let again_out = String::from_utf8_lossy(&again.stdout);
    assert_eq!(again.status.code(), Some(1), "{again_out}");
    assert!(again_out.contains("not linearizable"), "{again_out}");
    let _ = std::fs::remove_dir_all(&dir);
}
