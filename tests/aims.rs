//! Aimed faults (`[faults.aimed]`): each strikes the process that reached its event, at
//! the simulated instant it did, is undone as drawn, replays byte for byte (from the seed
//! and from its `plan.json`), and a plan file aiming at an event the system does not
//! report is refused.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

const NS_PER_MS: u64 = 1_000_000;
/// Partition ids of aimed isolations start here (`plan::aims::PARTITION_ID_BASE`).
const AIMED_PARTITION_BASE: u64 = 1 << 30;

fn faultline(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(args)
        .output()
        .unwrap()
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("faultline-aims-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// es_cluster-bank-3 with every seed aimed.
fn aimed_scenario(dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string("scenarios/es_cluster/bank_3_replicas.toml").unwrap();
    let text = text.replace("name = \"es_cluster-bank-3\"", "name = \"bank-3-aimed\"");
    let path = dir.join("bank_3_aimed.toml");
    std::fs::write(&path, format!("{text}\n[faults.aimed]\nshare = 1.0\n")).unwrap();
    path
}

fn replay(scenario: &Path, seed: u64, out: &Path) -> PathBuf {
    let o = faultline(&[
        "replay",
        scenario.to_str().unwrap(),
        "--seed",
        &seed.to_string(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.code().is_some_and(|c| c <= 1), "{o:?}");
    out.join("replays/bank-3-aimed").join(seed.to_string())
}

fn lines(path: &Path) -> Vec<Value> {
    (std::fs::read_to_string(path).unwrap().lines())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// A fault the schedule did not plan: an aimed strike or its undoing.
fn unplanned<'a>(plan: &Value, trace: &'a [Value]) -> Vec<&'a Value> {
    let planned: Vec<(u64, &Value)> = (plan["faults"].as_array().unwrap().iter())
        .map(|f| (f["at_ms"].as_u64().unwrap(), &f["action"]))
        .collect();
    (trace.iter())
        .filter(|e| e["ev"] == "fault")
        .filter(|e| {
            let t_ms = e["t_ns"].as_u64().unwrap() / NS_PER_MS;
            !planned
                .iter()
                .any(|&(at, a)| at == t_ms && *a == e["fault"])
        })
        .collect()
}

/// The process that last noted itself leader at or before `t_ns`, and when.
fn leader_at(trace: &[Value], t_ns: u64) -> Option<(u64, u64)> {
    (trace.iter())
        .filter(|e| e["ev"] == "note" && e["label"] == "leader")
        .map(|e| (e["node"].as_u64().unwrap(), e["t_ns"].as_u64().unwrap()))
        .rfind(|&(_, t)| t <= t_ns)
}

#[test]
fn an_aimed_fault_strikes_the_leader_that_reached_its_event_and_is_undone() {
    let dir = scratch("strike");
    let scenario = aimed_scenario(&dir);
    let (mut crashes, mut isolations) = (0, 0);
    for seed in 0..16 {
        let run = replay(&scenario, seed, &dir.join("r"));
        let plan: Value =
            serde_json::from_str(&std::fs::read_to_string(run.join("plan.json")).unwrap()).unwrap();
        let aims = plan["aims"].as_array().cloned().unwrap_or_default();
        assert!(!aims.is_empty(), "seed {seed}: share 1.0 aims every seed");
        let trace = lines(&run.join("trace.jsonl"));
        let extra = unplanned(&plan, &trace);
        let strikes: Vec<&&Value> = (extra.iter())
            .filter(|e| e["fault"]["action"] == "crash" || e["fault"]["action"] == "partition")
            .collect();
        assert!(
            strikes.len() <= aims.len(),
            "seed {seed}: more strikes than aims"
        );
        for strike in strikes {
            let t_ns = strike["t_ns"].as_u64().unwrap();
            let f = &strike["fault"];
            let node = match f["action"].as_str().unwrap() {
                "crash" => f["node"].as_u64().unwrap(),
                _ => {
                    assert!(f["id"].as_u64().unwrap() >= AIMED_PARTITION_BASE, "{f}");
                    assert_eq!(f["shape"], "isolate");
                    // Cut off from the other servers, both ways, and from no one else.
                    let blocked = f["blocked"].as_array().unwrap();
                    assert_eq!(blocked.len(), 4, "two other servers, both ways: {f}");
                    blocked[0][0].as_u64().unwrap()
                }
            };
            // Every target is a leader's event: the struck process is the leader, struck
            // at the instant it reached the event, inside an aim's window.
            let (leader, _) = leader_at(&trace, t_ns).expect("a leader before the strike");
            assert_eq!(
                leader, node,
                "seed {seed}: struck {node}, leader is {leader}: {strike}"
            );
            assert!(
                aims.iter()
                    .any(|a| a["from_ms"].as_u64().unwrap() * NS_PER_MS <= t_ns),
                "seed {seed}: a strike before any aim was armed"
            );
            // Undone as drawn: the restart or heal follows, by the aim's delay, unless the
            // chaos phase ended first (the heal phase undoes everything then).
            let chaos_ns = plan["params"]["phases"]["chaos_ms"].as_u64().unwrap() * NS_PER_MS;
            let undo = extra.iter().find(|e| {
                e["t_ns"].as_u64().unwrap() > t_ns
                    && match f["action"].as_str().unwrap() {
                        "crash" => {
                            e["fault"] == serde_json::json!({"action": "restart", "node": node})
                        }
                        _ => e["fault"] == serde_json::json!({"action": "heal", "id": f["id"]}),
                    }
            });
            let delays: Vec<u64> = (aims.iter())
                .filter_map(|a| a["restart_ms"].as_u64().or(a["heal_ms"].as_u64()))
                .collect();
            match undo {
                Some(u) => {
                    let after_ms = (u["t_ns"].as_u64().unwrap() - t_ns) / NS_PER_MS;
                    assert!(
                        delays.iter().any(|&d| d == after_ms || d + 1 == after_ms),
                        "{after_ms} ms not in {delays:?}"
                    );
                }
                None => assert!(
                    f["action"] == "crash"
                        || delays.iter().any(|&d| t_ns + d * NS_PER_MS >= chaos_ns),
                    "seed {seed}: an isolation never healed before the heal phase: {strike}"
                ),
            }
            match f["action"].as_str().unwrap() {
                "crash" => crashes += 1,
                _ => {
                    isolations += 1;
                    // The timeline names an aimed isolation as such, not by its raw id.
                    let page = std::fs::read_to_string(run.join("timeline.html")).unwrap();
                    let k = f["id"].as_u64().unwrap() - AIMED_PARTITION_BASE + 1;
                    assert!(
                        page.contains(&format!("partition aimed #{k} · isolate")),
                        "seed {seed}"
                    );
                    assert!(
                        !page.contains("#1073741"),
                        "seed {seed}: a raw aimed partition id"
                    );
                }
            }
        }
    }
    assert!(
        crashes > 0 && isolations > 0,
        "{crashes} aimed crashes, {isolations} isolations in 16 seeds"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_aimed_run_replays_byte_for_byte_from_its_seed_and_its_plan() {
    let dir = scratch("replay");
    let scenario = aimed_scenario(&dir);
    let first = replay(&scenario, 3, &dir.join("a"));
    let again = replay(&scenario, 3, &dir.join("b"));
    let trace = std::fs::read(first.join("trace.jsonl")).unwrap();
    assert_eq!(trace, std::fs::read(again.join("trace.jsonl")).unwrap());
    let plan = first.join("plan.json");
    let o = faultline(&[
        "replay",
        scenario.to_str().unwrap(),
        "--plan",
        plan.to_str().unwrap(),
        "--out",
        dir.join("c").to_str().unwrap(),
    ]);
    assert!(o.status.code().is_some_and(|c| c <= 1), "{o:?}");
    let from_plan = std::fs::read(dir.join("c/replays/bank-3-aimed/3-plan/trace.jsonl")).unwrap();
    assert_eq!(trace, from_plan, "the plan's aims replay as the seed's did");
    // An aim at an event the system does not report is refused at its place.
    let text = std::fs::read_to_string(&plan).unwrap();
    let bad = dir.join("bad.json");
    let mut v: Value = serde_json::from_str(&text).unwrap();
    v["aims"][0]["probe"] = "no_such_event".into();
    std::fs::write(&bad, serde_json::to_string_pretty(&v).unwrap()).unwrap();
    let o = faultline(&[
        "replay",
        scenario.to_str().unwrap(),
        "--plan",
        bad.to_str().unwrap(),
        "--out",
        dir.join("d").to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(254), "{err}");
    assert!(
        err.contains("`no_such_event` is not an event this system offers aims at"),
        "{err}"
    );
    assert!(err.contains(&format!("{}:", bad.display())), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A failing aimed run shrinks (its aims kept inside the shortened chaos phase), and the
/// pinned scenario it writes replays the same failure.
#[test]
fn a_failing_aimed_run_shrinks_and_its_pin_replays() {
    let dir = scratch("shrink");
    let text =
        std::fs::read_to_string("scenarios/es_cluster/bug_no_election_restriction.toml").unwrap();
    let scenario = dir.join("aimed_bug.toml");
    std::fs::write(&scenario, format!("{text}\n[faults.aimed]\nshare = 1.0\n")).unwrap();
    let s = scenario.to_str().unwrap();
    let out = dir.join("r");
    let failing = (0..20u64)
        .find(|seed| {
            let o = faultline(&[
                "replay",
                s,
                "--seed",
                &seed.to_string(),
                "--out",
                out.to_str().unwrap(),
            ]);
            o.status.code() == Some(1)
        })
        .expect("the planted bug is caught in 20 aimed seeds");
    let pinned = dir.join("pinned.toml");
    let o = faultline(&[
        "shrink",
        s,
        "--seed",
        &failing.to_string(),
        "--time-limit-s",
        "30",
        "--reports",
        out.to_str().unwrap(),
        "--out",
        pinned.to_str().unwrap(),
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let body = std::fs::read_to_string(&pinned).unwrap();
    assert!(body.contains("\"aims\""), "the pinned plan keeps its aims");
    let o = faultline(&[
        "run",
        pinned.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "-q",
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "the pin fails as expected: {}",
        String::from_utf8_lossy(&o.stdout)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
