//! Shrinking keeps the failure and removes the rest: for a planted bug of each system, the
//! shrunk plan is smaller, still fails the same way after being written as `plan.json` and
//! read back, and the binary's `shrink` → `replay --plan` round trip reproduces it.

use std::path::Path;
use std::process::Command;

use faultline::runner::on_fresh_thread;
use faultline::scenario::Scenario;
use faultline::shrink::{shrink, Target};
use faultline::systems::{self, ExecOptions, REGISTRY};

/// (scenario, a failing seed): one planted bug per system.
const BUGS: &[(&str, u64)] = &[
    ("scenarios/kv_register/bug_no_dedup.toml", 0),
    ("scenarios/es_cluster/bug_no_fsync.toml", 3),
    ("scenarios/saga/bug_no_saga_log.toml", 0),
    ("scenarios/outbox/bug_mark_before_ack.toml", 27),
];

#[test]
fn shrunk_plans_are_smaller_and_fail_the_same_way_after_a_round_trip() {
    for &(file, seed) in BUGS {
        let scenario = Scenario::load(Path::new(file), &REGISTRY).unwrap();
        let system = systems::find(scenario.system.name()).unwrap();
        let shrunk = shrink(system, system.plan(&scenario, seed), &|| false)
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        println!(
            "{file} seed {seed}: faults {} → {}, operations {} → {}, messages {} → {} in {} runs",
            shrunk.before.faults,
            shrunk.after.faults,
            shrunk.before.operations,
            shrunk.after.operations,
            shrunk.before.messages,
            shrunk.after.messages,
            shrunk.runs
        );
        assert!(!shrunk.timed_out);
        assert!(
            shrunk.after.operations < shrunk.before.operations
                && shrunk.after.faults <= shrunk.before.faults,
            "{file}: nothing removed"
        );
        let json = shrunk.plan.to_json_pretty().unwrap();
        let back = system.plan_from_json(&json).unwrap();
        let exec =
            on_fresh_thread(seed, move || system.run(&*back, &ExecOptions::default())).unwrap();
        assert_eq!(
            Target::of(&exec).as_ref(),
            Some(&shrunk.target),
            "{file}: the shrunk plan read back fails differently"
        );
    }
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
    let (file, seed) = BUGS[0];
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
