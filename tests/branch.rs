//! Branched runs (`<seed>.b<position>@<ms>`): a branch is its parent's run, byte for byte,
//! up to its branch time, and its own after it; it replays byte-identically from its id
//! and from its `plan.json`; and a failing branch shrinks to a pinned scenario that fails
//! the same way when run as a sweep runs it.

use std::path::Path;
use std::sync::Arc;

use faultline::plan::{AnyPlan, FaultAction, SeedId};
use faultline::runner::{full_options, on_fresh_thread, run_seed, Outcome, SeedJob, Tally};
use faultline::scenario::Scenario;
use faultline::shrink::{pinned, shrink, Target};
use faultline::systems::{self, ExecOptions, Execution, REGISTRY};

const NS_PER_MS: u64 = 1_000_000;

fn load(path: &str) -> Arc<Scenario> {
    Arc::new(Scenario::load(Path::new(path), &REGISTRY).unwrap_or_else(|e| panic!("{e}")))
}

/// Run one id as a sweep does, keeping the plan and the full trace.
fn run(
    scenario: &Arc<Scenario>,
    seed: SeedId,
    options: ExecOptions,
) -> (Box<dyn AnyPlan>, Execution) {
    let job = SeedJob {
        scenario: scenario.clone(),
        scenario_index: 0,
        seed,
        check_determinism: false,
        keep: true,
        options,
    };
    let result = on_fresh_thread(seed.raw(), move || run_seed(&job)).expect("the seed ran");
    result.kept.expect("kept")
}

/// The trace as `trace.jsonl` lines.
fn trace_lines(exec: &Execution) -> Vec<String> {
    let mut bytes = Vec::new();
    exec.trace.write_jsonl(&mut bytes).expect("in memory");
    String::from_utf8(bytes)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

/// A trace line's time (ns).
fn t_ns(line: &str) -> u64 {
    let value: serde_json::Value = serde_json::from_str(line).unwrap();
    value["t_ns"]
        .as_u64()
        .expect("every trace event has its time")
}

#[test]
fn a_branch_is_its_parent_up_to_the_branch_time_and_its_own_after_it() {
    let scenario = load("scenarios/es_cluster/bank_3_replicas.toml");
    let parent_id = SeedId::Plain(6);
    let (parent_plan, parent) = run(&scenario, parent_id, full_options());
    // Branch where the parent first reached a leader change (a rare moment in a real
    // sweep; any probe's time will do here), rounded up to the millisecond as a sweep does.
    let first_ns = parent.probes_first_ns["leader_change"];
    let at_ms = first_ns.div_ceil(NS_PER_MS);
    assert!(
        at_ms > 100 && at_ms < 2_900,
        "a branch time inside the chaos phase: {at_ms}"
    );
    let id = SeedId::branched(6, 5_000, at_ms).expect("encodable");
    assert_eq!(id.to_string(), format!("6.b5000@{at_ms}"));
    assert_eq!(id.to_string().parse::<SeedId>(), Ok(id));
    let (plan, branch) = run(&scenario, id, full_options());
    assert_eq!(plan.head().id(), id);
    assert_eq!(plan.head().branch_ms, Some(at_ms));

    // The plan: the parent's episodes that start before the branch, unchanged.
    let before = |p: &dyn AnyPlan| -> Vec<faultline::plan::TimedAction> {
        (p.head().faults.iter())
            .filter(|t| t.at_ms < at_ms)
            .cloned()
            .collect()
    };
    let starts = |p: &dyn AnyPlan| -> usize {
        (p.head().faults.iter())
            .filter(|t| t.at_ms < at_ms)
            .filter(|t| {
                !matches!(
                    t.action,
                    FaultAction::Restart { .. }
                        | FaultAction::Resume { .. }
                        | FaultAction::Heal { .. }
                        | FaultAction::Unclog { .. }
                )
            })
            .count()
    };
    assert_eq!(before(&*plan), before(&*parent_plan));
    assert_eq!(starts(&*plan), starts(&*parent_plan));
    assert_eq!(plan.operation_times(), parent_plan.operation_times());

    // The trace: every event before the branch time is the parent's, byte for byte, and
    // the two runs part after it.
    let (a, b) = (trace_lines(&parent), trace_lines(&branch));
    let prefix = |lines: &[String]| -> Vec<String> {
        lines
            .iter()
            .filter(|l| t_ns(l) < at_ms * NS_PER_MS)
            .cloned()
            .collect()
    };
    let (pa, pb) = (prefix(&a), prefix(&b));
    assert!(pa.len() > 200, "a real prefix: {} events", pa.len());
    assert_eq!(pa, pb, "the prefix differs");
    let parted = (a.iter().zip(&b))
        .position(|(x, y)| x != y)
        .expect("the runs part");
    assert!(
        t_ns(&b[parted]) >= at_ms * NS_PER_MS,
        "they part at {} ns",
        t_ns(&b[parted])
    );
    assert!(parent.probes_first_ns["leader_change"] == branch.probes_first_ns["leader_change"]);

    // Replayed from its id, and from its plan.json: the same bytes.
    let (_, again) = run(&scenario, id, full_options());
    assert_eq!(trace_lines(&again), b);
    let system = systems::find("es_cluster").unwrap();
    let json = plan.to_json_pretty().unwrap();
    assert!(
        json.contains(&format!("\"branch_ms\": {at_ms}")),
        "plan.json says the branch time"
    );
    let back = system.plan_from_json(&json).expect("reads back");
    assert_eq!(back.to_json_pretty().unwrap(), json, "plan.json round trip");
    let from_json = faultline::runner::run_plan(system, back, full_options()).unwrap();
    assert_eq!(trace_lines(&from_json), b);
}

#[test]
fn a_plan_file_with_a_branch_time_and_no_branched_id_is_refused() {
    let scenario = load("scenarios/es_cluster/bank_3_replicas.toml");
    let system = systems::find("es_cluster").unwrap();
    let plain = system.plan(&scenario, 6).to_json_pretty().unwrap();
    let with_time = plain.replace("\"madsim_seed\"", "\"branch_ms\": 700,\n  \"madsim_seed\"");
    let err = system.plan_from_json(&with_time).expect_err("refused");
    assert!(err.to_string().contains("branch_ms"), "{err}");
    let branched = system
        .plan(&scenario, 6)
        .branched(SeedId::branched(6, 9, 700).unwrap());
    let json = branched.to_json_pretty().unwrap();
    let without = json.replace(",\n  \"branch_ms\": 700", "");
    assert_ne!(without, json);
    let err = system.plan_from_json(&without).expect_err("refused");
    assert!(err.to_string().contains("needs its branch time"), "{err}");
}

#[test]
fn a_failing_branch_shrinks_to_a_pinned_scenario_that_fails_the_same_way() {
    let scenario = load("scenarios/kv_register/bug_no_dedup.toml");
    let system = systems::find("kv_register").unwrap();
    // The first failing branch of seed 0 at 200 ms, among 100 positions.
    let (id, plan) = (0..100)
        .filter_map(|k| SeedId::branched(0, k, 200))
        .find_map(|id| {
            let plan = system.plan(&scenario, 0).branched(id);
            let copy = plan.clone_box();
            let fails = on_fresh_thread(id.raw(), move || {
                Target::of(&system.run(&*copy, &ExecOptions::default())).is_some()
            })
            .unwrap();
            fails.then_some((id, plan))
        })
        .expect("a failing branch among 100");
    let shrunk = shrink(system, plan, 1, &|_| false).unwrap();
    assert!(shrunk.after.operations <= shrunk.before.operations);
    assert_eq!(shrunk.plan.head().id(), id, "the shrunk plan keeps its id");
    let caught = pinned::caught(&scenario, &shrunk.target, "(message)");
    let text = pinned::render(&scenario, &shrunk, &caught, "faultline shrink (test)").unwrap();
    assert!(text.contains(&format!("seed = \"{id}\"")), "{text}");
    let dir = std::env::temp_dir().join(format!("faultline-branch-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("pinned.toml");
    std::fs::write(&file, text).unwrap();

    // Run as a sweep runs a pinned scenario: its one id, re-checked for determinism.
    let pinned_scenario =
        Arc::new(Scenario::load(&file, &REGISTRY).unwrap_or_else(|e| panic!("{e}")));
    let pinned_id = pinned_scenario.file.pinned.as_ref().unwrap().seed;
    assert_eq!(pinned_id, id);
    let mut tally = Tally::new(&pinned_scenario, id.raw(), 1);
    let job = SeedJob {
        scenario: pinned_scenario,
        scenario_index: 0,
        seed: id,
        check_determinism: true,
        keep: false,
        options: ExecOptions::default(),
    };
    tally.add(&on_fresh_thread(id.raw(), move || run_seed(&job)).unwrap());
    assert_eq!(
        (tally.outcome(), tally.caught, tally.determinism_checked),
        (Outcome::Ok, 1, 1),
        "{:?}",
        tally.failing
    );
    assert!(tally.nondeterministic.is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn replay_runs_a_branch_from_its_id_and_says_what_it_is() {
    let out = std::env::temp_dir().join(format!("faultline-branch-cli-{}", std::process::id()));
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args([
            "replay",
            "scenarios/kv_register/all_faults.toml",
            "--seed",
            "3.b77@900",
            "--out",
        ])
        .arg(&out)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("kv_register-all-faults seed 3.b77@900: PASS"),
        "{stdout}"
    );
    assert!(
        stdout.contains("a branch: seed 3's run up to 900 ms"),
        "{stdout}"
    );
    // Its artifacts are under its id, and its plan says the branch time.
    let plan = out.join("replays/kv_register-all-faults/3.b77@900/plan.json");
    let plan = std::fs::read_to_string(&plan).unwrap_or_else(|e| panic!("{}: {e}", plan.display()));
    assert!(plan.contains("\"branch_ms\": 900"), "{plan}");
    let _ = std::fs::remove_dir_all(&out);
}
