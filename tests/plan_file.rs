//! A plan written as `plan.json` reads back as the same plan and runs to the same trace —
//! for every shipped scenario — and a damaged plan file is refused with a reason.

use std::path::PathBuf;

use faultline::runner::on_fresh_thread;
use faultline::scenario::{discover, Scenario};
use faultline::systems::{self, ExecOptions, REGISTRY};

const SEEDS: u64 = 3;

fn scenarios() -> Vec<Scenario> {
    discover(&[PathBuf::from("scenarios")])
        .unwrap()
        .iter()
        .map(|f| Scenario::load(f, &REGISTRY).unwrap())
        .collect()
}

#[test]
fn every_plan_reads_back_as_itself_and_runs_to_the_same_trace() {
    let mut compared = 0;
    for scenario in scenarios() {
        let system = systems::find(scenario.system.name()).unwrap();
        for seed in 0..SEEDS {
            let plan = system.plan(&scenario, seed);
            let json = plan.to_json_pretty().unwrap();
            let back = system
                .plan_from_json(&json)
                .unwrap_or_else(|e| panic!("{} seed {seed}: {e}", scenario.name));
            let again = back.to_json_pretty().unwrap();
            if let Some((a, b)) = json.lines().zip(again.lines()).find(|(a, b)| a != b) {
                panic!("{} seed {seed}: `{a}` read back as `{b}`", scenario.name);
            }
            assert_eq!(again.len(), json.len(), "{} seed {seed}", scenario.name);
            let run = |p: Box<dyn faultline::plan::AnyPlan>| {
                on_fresh_thread(seed, move || {
                    let exec = system.run(&*p, &ExecOptions::default());
                    (exec.trace.hash(), exec.verdict)
                })
                .unwrap()
            };
            assert_eq!(run(plan), run(back), "{} seed {seed}", scenario.name);
            compared += 1;
        }
    }
    assert!(compared >= 15 * SEEDS, "compared {compared} plans");
}

#[test]
fn damaged_plan_files_are_refused_with_a_reason() {
    let scenario = scenarios()
        .into_iter()
        .find(|s| s.system.name() == "kv_register")
        .unwrap();
    let kv = systems::find("kv_register").unwrap();
    let saga = systems::find("saga").unwrap();
    let json = kv.plan(&scenario, 1).to_json_pretty().unwrap();
    let refused = |system: &dyn systems::SystemUnderTest, text: &str, fragment: &str| {
        let err = system
            .plan_from_json(text)
            .err()
            .unwrap_or_else(|| panic!("accepted: {fragment}"))
            .to_string();
        assert!(err.contains(fragment), "`{err}` does not say `{fragment}`");
    };
    refused(saga, &json, "a plan of system `kv_register`, not `saga`");
    refused(kv, &json[..json.len() / 2], "line");
    refused(
        kv,
        &json.replacen("\"seed\"", "\"seeds\"", 1),
        "unknown field",
    );
    let client = json.replacen("\"client\": 0", "\"client\": 99", 1);
    assert_ne!(client, json, "the plan has an operation of client 0");
    refused(kv, &client, "an operation of client 99");
    let bug = json.replacen("\"bugs\": []", "\"bugs\": [\"no-such-bug\"]", 1);
    assert_ne!(bug, json, "the plan has no planted bug");
    refused(kv, &bug, "unknown planted bug `no-such-bug`");
}

/// Every plan a sweep can run — drawn from a seed, or a guided mutant of one — passes the
/// checks a plan file gets (faults in order inside the chaos phase, each on a world where it
/// can act; operations in time order inside the chaos phase; settings in range), so those
/// checks refuse only plans no sweep would make.
#[test]
fn drawn_and_guided_plans_pass_the_plan_file_checks() {
    use faultline::plan::SeedId;
    let mut checked = 0;
    for scenario in scenarios() {
        if scenario.file.pinned.is_some() {
            continue;
        }
        let system = systems::find(scenario.system.name()).unwrap();
        for seed in 0..60 {
            let plan = system.plan(&scenario, seed);
            let guided = SeedId::guided(seed, 1000 + seed).unwrap().raw();
            for p in [plan.clone_box(), plan.mutated(guided)] {
                let json = p.to_json_pretty().unwrap();
                if let Err(e) = system.plan_from_json(&json) {
                    panic!("{} seed {seed}: {e}", scenario.name);
                }
                checked += 1;
            }
        }
    }
    assert!(checked > 1000, "{checked}");
}
