//! What the reports say, checked on real runs: the sweep report's content, each system's
//! gauges (and that sampling them changes nothing), findings in the run's own terms, the
//! Jepsen EDN export checking the same as the history it came from, and every probe a run
//! reaches being one its system lists.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use faultline::check::linearizability::{check_history, Budget, ModelKind, Verdict as Lin};
use faultline::check::Verdict;
use faultline::history::edn;
use faultline::plan::AnyPlan;
use faultline::runner::{self, SeedJob, SeedResult};
use faultline::scenario::Scenario;
use faultline::sim::TraceLevel;
use faultline::systems::{ExecOptions, Execution};

fn scenario(path: &str) -> Arc<Scenario> {
    Arc::new(Scenario::load(Path::new(path), &faultline::systems::REGISTRY).expect("loads"))
}

fn run(path: &str, seed: u64, level: TraceLevel) -> SeedResult {
    let job = SeedJob {
        scenario: scenario(path),
        scenario_index: 0,
        seed: faultline::plan::SeedId::Plain(seed),
        check_determinism: false,
        keep: true,
        options: ExecOptions {
            level,
            ..ExecOptions::default()
        },
    };
    runner::on_fresh_thread(seed, move || runner::run_seed(&job)).expect("runs")
}

fn kept(result: SeedResult) -> (Box<dyn AnyPlan>, Execution) {
    result.kept.expect("kept")
}

#[test]
fn every_system_reports_gauges_and_sampling_them_changes_nothing() {
    let cases = [
        ("scenarios/kv_register/all_faults.toml", "replication lag"),
        (
            "scenarios/es_cluster/bank_3_replicas.toml",
            "projection lag",
        ),
        ("scenarios/saga/order.toml", "saga log"),
        ("scenarios/outbox/polling.toml", "outbox backlog"),
    ];
    for (path, gauge) in cases {
        let full = run(path, 3, TraceLevel::Full);
        let fates = run(path, 3, TraceLevel::Fates);
        // Gauges are read between handlers, only in replays: the run is the same.
        assert_eq!(full.trace_hash, fates.trace_hash, "{path}");
        let (plan, exec) = kept(full);
        let (_, without) = kept(fates);
        assert!(without.series.is_empty(), "{path}: sweeps sample nothing");
        let (name, points) = (exec.series.iter())
            .find(|(name, _)| name.starts_with(gauge))
            .unwrap_or_else(|| panic!("{path}: no `{gauge}` gauge in {:?}", exec.series.keys()));
        let end_ms = exec.end_ns / 1_000_000;
        let expected = end_ms / faultline::sim::GAUGE_EVERY_MS;
        assert!(
            points.len() as u64 >= expected / 2,
            "{path}: {name} has {} samples over {end_ms} ms",
            points.len()
        );
        assert!(
            points.windows(2).all(|w| w[0].0 < w[1].0),
            "{path}: in time order"
        );
        assert!(
            points.iter().all(|p| p.1 >= 0.0 && p.1.is_finite()),
            "{path}"
        );
        let _ = plan;
    }
}

#[test]
fn a_linearizability_finding_names_processes_and_milliseconds() {
    let (plan, exec) = kept(run(
        "scenarios/es_cluster/bug_follower_reads.toml",
        4,
        TraceLevel::Full,
    ));
    let check = (exec.checks.iter())
        .find(|c| c.check == "linearizability")
        .expect("checked");
    assert_eq!(check.verdict, Verdict::Violation);
    assert!(!check.message.contains("client "), "{}", check.message);
    assert!(check.message.contains(" ms)"), "{}", check.message);
    let names = plan.head().names();
    for &i in &check.ops {
        let op = &exec.history.ops[i];
        if check.message.contains(&format!("#{i} ")) {
            let name = &names[op.client as usize];
            assert!(
                check.message.contains(&format!("#{i} {name} ")),
                "#{i} is {name}'s: {}",
                check.message
            );
        }
    }
}

/// A history written as Jepsen EDN and read back checks the same, failing or not.
#[test]
fn the_edn_export_checks_the_same_as_the_history() {
    let cases = [
        ("scenarios/kv_register/bug_follower_reads.toml", 0..6),
        ("scenarios/es_cluster/bug_stale_leader.toml", 3..6),
        ("scenarios/es_cluster/kv_3_replicas.toml", 0..3),
    ];
    let mut invalid = 0;
    for (path, seeds) in cases {
        for seed in seeds {
            let (_, exec) = kept(run(path, seed, TraceLevel::Fates));
            let text = edn::to_string(&edn::with_retired_processes(&exec.history))
                .unwrap_or_else(|e| panic!("{path} seed {seed}: {e}"));
            let back = edn::parse(&text, "history.edn").expect("reads back");
            assert_eq!(back.ops.len(), exec.history.ops.len());
            let budget = Budget::default();
            let a = check_history(&exec.history, ModelKind::Kv, &budget).unwrap();
            let b = check_history(&back, ModelKind::Kv, &budget).unwrap();
            let valid = |v: &Lin| matches!(v, Lin::Valid);
            assert_eq!(valid(&a.verdict), valid(&b.verdict), "{path} seed {seed}");
            invalid += usize::from(!valid(&a.verdict));
        }
    }
    assert!(
        invalid >= 2,
        "the cases include failing histories ({invalid})"
    );
}

/// Every probe a run reaches is one its system lists (so the sweep report's "never
/// reached" is right), for every shipped scenario.
#[test]
fn every_probe_reached_is_in_its_systems_list() {
    let out = std::env::temp_dir().join(format!("faultline-probes-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let status = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args([
            "run",
            "scenarios",
            "--seeds",
            "6",
            "--quiet",
            "--artifacts",
            "none",
            "--out",
        ])
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.code().is_some_and(|c| c <= 1), "{status}");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("latest/summary.json")).unwrap())
            .unwrap();
    let mut checked = 0;
    for s in summary["scenarios"].as_array().unwrap() {
        let system = faultline::systems::find(s["system"].as_str().unwrap()).expect("system");
        let listed = system.probes();
        for probe in s["probes"].as_object().unwrap().keys() {
            assert!(
                listed.contains(&probe.as_str()),
                "{}: probe `{probe}` is not in {}'s list",
                s["name"],
                s["system"]
            );
            checked += 1;
        }
    }
    assert!(checked > 50, "{checked}");
    let index = std::fs::read_to_string(out.join("latest/index.html")).unwrap();
    assert!(index.contains("<table id=\"scenarios\">"));
    assert!(index.contains("Never reached"));
    assert_eq!(
        index.matches("<tr class=").count(),
        summary["scenarios"].as_array().unwrap().len()
    );
    let _ = std::fs::remove_dir_all(&out);
}

/// Every probe named in the systems' code is in some system's list (the runs above reach
/// most of them; this catches the rare ones).
#[test]
fn every_probe_in_the_code_is_listed() {
    let mut listed: Vec<&str> = Vec::new();
    for system in faultline::systems::SYSTEMS {
        listed.extend(system.probes());
    }
    let mut files = vec![std::path::PathBuf::from("src/systems")];
    let mut named = 0;
    while let Some(path) = files.pop() {
        if path.is_dir() {
            files.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for opener in ["probe(\"", "probes.push(\""] {
            for (at, _) in text.match_indices(opener) {
                let rest = &text[at + opener.len()..];
                let name = &rest[..rest.find('"').unwrap()];
                assert!(
                    listed.contains(&name),
                    "{}: probe `{name}` is in no system's list",
                    path.display()
                );
                named += 1;
            }
        }
    }
    assert!(named > 40, "{named}");
}

/// Causality on the timeline: a crash's lost writes are exactly the unsynced writes the
/// trace says it lost, each placed at its write and tied to its operation; a client's
/// first request for an operation serves that operation.
#[test]
fn lost_writes_and_served_operations_are_traced_back() {
    use faultline::report::timeline::Model;
    use faultline::sim::trace::Event;
    let (plan, exec) = kept(run(
        "scenarios/kv_register/bug_no_fsync.toml",
        2,
        TraceLevel::Full,
    ));
    let model = Model::build(&*plan, &exec);
    let lost_in_trace: u64 = (exec.trace.events())
        .map(|e| match e.event {
            Event::DiskLoss { lost, .. } => lost,
            _ => 0,
        })
        .sum();
    assert!(lost_in_trace > 0, "the seed loses unsynced writes");
    assert_eq!(model.lost_writes.len() as u64, lost_in_trace);
    for w in &model.lost_writes {
        assert!(w.t <= w.crash_t, "written before the crash that lost it");
    }
    assert!(model.lost_writes.iter().any(|w| w.serves.is_some()));

    let request = model.labels.iter().position(|l| *l == "request").unwrap();
    let clients = plan.head().nodes_with(faultline::plan::Role::Client);
    let mut served = 0;
    for m in model
        .messages
        .iter()
        .filter(|m| m.label == request && clients.contains(&m.from))
    {
        if let Some(op) = m.serves {
            assert_eq!(
                exec.history.ops[op].client as usize, m.from,
                "a client's own op"
            );
            assert!(exec.history.ops[op].call as f64 / 1e6 <= m.t0);
            served += 1;
        }
    }
    assert!(served > 10, "{served}");
}
