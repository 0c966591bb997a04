//! Shrinking keeps the failure and removes the rest: for every planted bug, the shrunk plan
//! is smaller and, written as a pinned scenario and run as `faultline run` runs it, fails
//! the same way; the binary's `shrink --save` → `run` → `replay` round trip reproduces it;
//! and every pinned plan of the shipped regression corpus still catches what it caught.

use std::path::{Path, PathBuf};
use std::process::Command;

use faultline::runner::{on_fresh_thread, run_seed, SeedJob};
use faultline::runner::{Outcome, Tally};
use faultline::scenario::{discover, Expect, Scenario};
use faultline::shrink::{pinned, shrink, Shrunk, Target};
use faultline::systems::{self, ExecOptions, REGISTRY};

#[path = "common/search_found.rs"]
mod search_found;
use search_found::FOUND_BY_SEARCH;

/// Run a pinned scenario as `faultline run` does (one job, folded into a tally).
fn run_pinned(file: &Path) -> Tally {
    let scenario = Scenario::load(file, &REGISTRY).unwrap_or_else(|e| panic!("{e}"));
    let seed = scenario
        .file
        .pinned
        .as_ref()
        .expect("a pinned scenario")
        .seed
        .raw();
    let scenario = std::sync::Arc::new(scenario);
    let mut tally = Tally::new(&scenario, seed, 1);
    let job = SeedJob {
        scenario,
        scenario_index: 0,
        seed: faultline::plan::SeedId::Plain(seed),
        check_determinism: true,
        keep: false,
        options: ExecOptions::default(),
    };
    tally.add(&on_fresh_thread(seed, move || run_seed(&job)).unwrap());
    tally
}

/// Write `shrunk` as a pinned scenario file under `dir` and return its path.
fn write_pinned(dir: &Path, scenario: &Scenario, shrunk: &Shrunk) -> PathBuf {
    let caught = pinned::caught(scenario, &shrunk.target, "(message)");
    let text = pinned::render(scenario, shrunk, &caught, "faultline shrink (test)").unwrap();
    let file = dir.join(format!("{}.toml", scenario.name));
    std::fs::write(&file, text).unwrap();
    file
}

/// Every shipped planted-bug scenario, with the first seed (of 100) that catches it.
fn planted_bugs() -> Vec<(Scenario, u64)> {
    let files = discover(&[PathBuf::from("scenarios")]).unwrap();
    let mut out = Vec::new();
    for f in files {
        let scenario = Scenario::load(&f, &REGISTRY).unwrap();
        if scenario.file.expect == Expect::Pass
            || scenario.file.pinned.is_some()
            || FOUND_BY_SEARCH.contains(&scenario.name.as_str())
        {
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
/// bigger (and for most, much smaller), and written as a pinned scenario it fails the same
/// way when run as a sweep runs it.
#[test]
fn every_planted_bug_shrinks_and_still_fails_the_same_way() {
    println!("| scenario (seed) | fault episodes | client operations | messages | processes | runs | s |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    let dir = std::env::temp_dir().join(format!("faultline-pinned-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut smaller = 0;
    let bugs = planted_bugs();
    for (scenario, seed) in &bugs {
        let seed = *seed;
        let system = systems::find(scenario.system.name()).unwrap();
        // The default time limit of `faultline shrink`, as a bound (not a benchmark).
        #[allow(clippy::disallowed_methods, clippy::disallowed_types)]
        let started = std::time::Instant::now();
        let limit = std::time::Duration::from_secs(60);
        let shrunk = shrink(system, system.plan(scenario, seed), 2, &|_| {
            started.elapsed() >= limit
        })
        .unwrap_or_else(|e| panic!("{}: {e}", scenario.name));
        let (b, a) = (&shrunk.before, &shrunk.after);
        println!(
            "| `{}` ({seed}) | {} → {} | {} → {} | {} → {} | {} → {} | {} | {:.2} |",
            scenario.name,
            b.faults,
            a.faults,
            b.operations,
            a.operations,
            b.messages,
            a.messages,
            b.processes,
            a.processes,
            shrunk.runs,
            started.elapsed().as_secs_f64()
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
        let tally = run_pinned(&write_pinned(&dir, scenario, &shrunk));
        assert_eq!(
            (tally.outcome(), tally.caught, tally.determinism_checked),
            (Outcome::Ok, 1, 1),
            "{}: the pinned scenario does not fail the same way: {:?}",
            scenario.name,
            tally.failing
        );
        assert!(tally.nondeterministic.is_empty(), "{}", scenario.name);
    }
    let _ = std::fs::remove_dir_all(&dir);
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
    let shrunk = shrink(system, system.plan(&scenario, 0), 1, &|_| false).unwrap();
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
    let exec = faultline::runner::run_plan(system, back, ExecOptions::default()).unwrap();
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
    let err = shrink(system, system.plan(&scenario, 0), 2, &|_| false)
        .err()
        .expect("a passing seed is refused");
    assert!(err.contains("nothing to shrink"), "{err}");
}

fn faultline(args: &[&str], dir: &Path) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `shrink --save` pins the plan in a regression folder; `run` replays it first and passes
/// while it fails the same way; `replay` reproduces it; a pinned plan that no longer fails
/// the same way fails the run; a broken plan is refused with its line in the file.
#[test]
fn the_binary_pins_a_plan_that_run_replays_first() {
    let dir = std::env::temp_dir().join(format!("faultline-shrink-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let here = std::env::current_dir().unwrap();
    let source = here.join("scenarios/kv_register/bug_no_dedup.toml");
    let (code, out, err) = faultline(
        &[
            "shrink",
            source.to_str().unwrap(),
            "--seed",
            "0",
            "--save",
            "regressions",
        ],
        &dir,
    );
    assert_eq!(code, Some(0), "a successful shrink exits 0: {out}{err}");
    let pinned = dir.join("regressions/kv_register-bug-no-dedup-seed0.toml");
    let text = std::fs::read_to_string(&pinned).unwrap();
    assert!(
        text.contains("# What it caught: planted bug no-dedup: linearizability violation"),
        "{text}"
    );
    assert!(out.contains("saved to the regression corpus"), "{out}");
    let replay = out.lines().last().unwrap().trim();
    // A printed command starts with the binary that printed it, so it runs when pasted.
    let program = env!("CARGO_BIN_EXE_faultline");
    assert!(
        replay.starts_with(&format!("{program} replay ")) && replay.ends_with("pinned.toml"),
        "{out}"
    );

    let (code, out, _) = faultline(&["replay", pinned.to_str().unwrap()], &dir);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("not linearizable"), "{out}");

    let scenario = here.join("scenarios/kv_register/all_faults.toml");
    let run = [
        "run",
        scenario.to_str().unwrap(),
        "regressions",
        "--seeds",
        "3",
        "-q",
    ];
    run_replays_the_pin_first_and_judges_it(&dir, &run, &pinned, &text);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The run over the regression folder: the pin first and passing; a changed signature
/// fails it; a broken plan is refused at its line.
fn run_replays_the_pin_first_and_judges_it(dir: &Path, run: &[&str], pinned: &Path, text: &str) {
    let (code, out, err) = faultline(run, dir);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("replaying 1 pinned plan(s) first"), "{out}");
    let summary: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("reports/latest/summary.json")).unwrap(),
    )
    .unwrap();
    let first = &summary["scenarios"][0];
    assert_eq!(first["name"], "kv_register-bug-no-dedup-seed0", "{summary}");
    assert_eq!(
        (first["pinned"].as_bool(), first["outcome"].as_str()),
        (Some(true), Some("ok"))
    );
    assert!(
        out.contains("pinned plan: still fails the same way"),
        "{out}"
    );

    // Another signature: the plan no longer fails "the same way".
    let at = text.find("signature = ").unwrap();
    let end = at + text[at..].find('\n').unwrap();
    let other = format!(
        "{}signature = 'something else'{}",
        &text[..at],
        &text[end..]
    );
    std::fs::write(pinned, other).unwrap();
    let (code, out, _) = faultline(run, dir);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("no longer fails the same way"), "{out}");

    // A broken plan: refused before any seed, at its line in the file.
    let line = text
        .lines()
        .position(|l| l.contains("\"madsim_seed\""))
        .unwrap()
        + 1;
    std::fs::write(pinned, text.replace("\"madsim_seed\":", "\"madsim_seed\" ")).unwrap();
    let (code, out, err) = faultline(run, dir);
    assert_eq!(code, Some(254), "{out}{err}");
    let place = format!("kv_register-bug-no-dedup-seed0.toml:{line}:");
    assert!(err.contains(&place), "wanted {place} in: {err}");
}

/// Every pinned plan shipped in `scenarios/regressions/` says what it caught and still
/// catches it, exactly as `faultline run scenarios` replays it first — or, pinned after a
/// fix with `expect = "pass"`, says what it guards and passes.
#[test]
fn the_shipped_regression_corpus_still_fails_as_pinned() {
    let files = discover(&[PathBuf::from("scenarios/regressions")]).unwrap();
    assert!(
        files.len() >= 4,
        "a pinned plan per system, found {}",
        files.len()
    );
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let guard = text.contains("\nexpect = \"pass\"\n");
        let says = if guard {
            "# What it guards: "
        } else {
            "# What it caught: "
        };
        assert!(text.contains(says), "{}: wants {says}", file.display());
        let tally = run_pinned(&file);
        assert!(tally.pinned);
        assert_eq!(
            (tally.outcome(), tally.caught),
            (Outcome::Ok, u64::from(!guard)),
            "{}: {:?}",
            file.display(),
            tally.failing
        );
    }
}
