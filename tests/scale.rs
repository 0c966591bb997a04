//! Sweeps at scale: shards merged give the single run's report; mismatched shards are
//! refused; a sweep killed with SIGKILL and resumed reports what an uninterrupted one
//! does; a time budget runs round-robin, reports what ran, and alone runs until it is
//! spent; old run folders are pruned and the terminal fits 120 columns; and the shipped CI and
//! Kubernetes recipes are valid and their shell steps really run.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_faultline");

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("faultline-scale-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn faultline(args: &[&str], dir: &Path) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A summary without what differs between runs of the same seeds (timings, ids, jobs).
fn summary_of(run: &Path) -> serde_json::Value {
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("summary.json")).unwrap()).unwrap();
    for k in ["wall_s", "seeds_per_s", "run_id", "jobs"] {
        v.as_object_mut().unwrap().remove(k);
    }
    for s in v["scenarios"].as_array_mut().unwrap() {
        s.as_object_mut().unwrap().remove("run_s");
    }
    v
}

fn scenarios() -> Vec<String> {
    let root = std::env::current_dir().unwrap();
    ["scenarios/kv_register", "scenarios/saga/order.toml"]
        .iter()
        .map(|p| root.join(p).display().to_string())
        .collect()
}

fn run_args<'a>(scenarios: &'a [String], extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["run"];
    args.extend(scenarios.iter().map(String::as_str));
    args.extend(["--seeds", "30", "--jobs", "2", "-q"]);
    args.extend(extra);
    args
}

#[test]
fn four_shards_merge_to_the_single_run_and_mismatches_are_refused() {
    let dir = temp("shards");
    let s = scenarios();
    let single = faultline(&run_args(&s, &["--out", "single"]), &dir);
    assert_eq!(single.status.code(), Some(0), "{}", text(&single));
    for k in 1..=4 {
        let (shard, out) = (format!("{k}/4"), format!("s{k}"));
        let o = faultline(&run_args(&s, &["--shard", &shard, "--out", &out]), &dir);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    }
    let merged = faultline(
        &[
            "merge",
            "s1/latest",
            "s2/latest",
            "s3/latest",
            "s4/latest/summary.json",
            "--out",
            "merged",
        ],
        &dir,
    );
    assert_eq!(merged.status.code(), Some(0), "{}", text(&merged));
    assert_eq!(
        summary_of(&dir.join("merged/latest")),
        summary_of(&dir.join("single/latest"))
    );
    let missing = faultline(&["merge", "s1/latest", "s2/latest", "s4/latest"], &dir);
    assert_eq!(missing.status.code(), Some(254));
    assert!(
        text(&missing).contains("missing shard(s) 3/4"),
        "{}",
        text(&missing)
    );
    let twice = faultline(&["merge", "s1/latest", "s1/latest", "s2/latest"], &dir);
    assert!(
        text(&twice).contains("shard 1/4 is given twice"),
        "{}",
        text(&twice)
    );
    // A shard of another scenario file: the same name, other content.
    let copy = dir.join("order.toml");
    let original = std::fs::read_to_string(&s[1]).unwrap();
    std::fs::write(&copy, original.replace("chaos_ms = ", "chaos_ms = 1")).unwrap();
    let other = [s[0].clone(), copy.display().to_string()];
    let o = faultline(
        &run_args(&other, &["--shard", "3/4", "--out", "other"]),
        &dir,
    );
    assert!(o.status.code().is_some(), "{}", text(&o));
    let mixed = faultline(
        &[
            "merge",
            "s1/latest",
            "s2/latest",
            "other/latest",
            "s4/latest",
        ],
        &dir,
    );
    assert_eq!(mixed.status.code(), Some(254), "{}", text(&mixed));
    assert!(
        text(&mixed).contains("not shards of one sweep"),
        "{}",
        text(&mixed)
    );
    // A shard of another build: every shard names the build's identity (build.rs), the
    // same for all four; one naming another is refused.
    let manifest = |shard: &str| -> serde_json::Value {
        let text = std::fs::read_to_string(dir.join(shard).join("latest/run.json")).unwrap();
        serde_json::from_str(&text).unwrap()
    };
    let build = manifest("s1")["binary_hash"].as_str().unwrap().to_string();
    assert!(
        build.len() == 16 && build.chars().all(|c| c.is_ascii_hexdigit()),
        "{build}"
    );
    for k in 2..=4 {
        assert_eq!(manifest(&format!("s{k}"))["binary_hash"], build.as_str());
    }
    let foreign = dir.join("foreign");
    let s3 = std::fs::canonicalize(dir.join("s3/latest")).unwrap();
    copy_dir(&s3, &foreign);
    let run_json = foreign.join("run.json");
    let original = std::fs::read_to_string(&run_json).unwrap();
    std::fs::write(&run_json, original.replace(&build, "0123456789abcdef")).unwrap();
    let other_build = faultline(
        &["merge", "s1/latest", "s2/latest", "foreign", "s4/latest"],
        &dir,
    );
    assert_eq!(
        other_build.status.code(),
        Some(254),
        "{}",
        text(&other_build)
    );
    assert!(
        text(&other_build).contains("another faultline build"),
        "{}",
        text(&other_build)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Copy a run folder (files and folders, no links).
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

#[test]
fn a_sweep_killed_halfway_and_resumed_reports_what_an_uninterrupted_one_does() {
    let dir = temp("resume");
    let s = scenarios();
    let args: Vec<&str> = {
        let mut a = run_args(&s, &["--out", "resumed"]);
        let at = a.iter().position(|x| *x == "30").unwrap();
        a[at] = "200";
        a
    };
    let mut child = Command::new(BIN)
        .args(&args)
        .current_dir(&dir)
        .spawn()
        .unwrap();
    let journal = dir.join("resumed/latest/seeds.jsonl");
    // Kill it once some seeds are on disk, well before the 1,000 of the sweep.
    for _ in 0..600 {
        let lines = std::fs::read_to_string(&journal).map_or(0, |t| t.lines().count());
        if lines >= 100 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let kept = std::fs::read_to_string(&journal).unwrap().lines().count();
    assert!((100..1000).contains(&kept), "killed after {kept} seeds");
    let mut resume = args.clone();
    resume.push("--resume");
    let o = faultline(&resume, &dir);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains("already finished are kept"),
        "{}",
        text(&o)
    );
    let mut whole = args.clone();
    let at = whole.iter().position(|x| *x == "resumed").unwrap();
    whole[at] = "whole";
    assert_eq!(faultline(&whole, &dir).status.code(), Some(0));
    assert_eq!(
        summary_of(&dir.join("resumed/latest")),
        summary_of(&dir.join("whole/latest"))
    );
    // Resuming another sweep into that folder is refused.
    let mut other = resume.clone();
    let at = other.iter().position(|x| *x == "200").unwrap();
    other[at] = "201";
    let o = faultline(&other, &dir);
    assert_eq!(o.status.code(), Some(254), "{}", text(&o));
    assert!(text(&o).contains("another seed range"), "{}", text(&o));
    // So is resuming it with other search settings: the same seeds would run other plans.
    for (flag, value, says) in [
        (
            "--guided-share",
            "0.1",
            "--guided-share 0.1 --branch-share 0.5 --fault-points on",
        ),
        ("--branch-share", "0", "--branch-share 0 --fault-points on"),
        ("--fault-points", "off", "--fault-points off"),
    ] {
        let mut other = resume.clone();
        other.extend([flag, value]);
        let o = faultline(&other, &dir);
        assert_eq!(o.status.code(), Some(254), "{}", text(&o));
        assert!(text(&o).contains("other search settings"), "{}", text(&o));
        assert!(text(&o).contains(says), "{}", text(&o));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_time_budget_runs_round_robin_and_reports_what_ran() {
    let dir = temp("budget");
    let s = scenarios();
    let o = faultline(
        &run_args(&s, &["--time-budget", "2s", "--out", "b"])
            .into_iter()
            .map(|a| if a == "30" { "1000000" } else { a })
            .collect::<Vec<_>>(),
        &dir,
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let v = summary_of(&dir.join("b/latest"));
    assert_eq!(v["status"], "finished");
    assert_eq!(v["time_budget_s"], 2);
    let seeds: Vec<u64> = (v["scenarios"].as_array().unwrap().iter())
        .map(|s| s["seeds"].as_u64().unwrap())
        .collect();
    assert!(
        seeds.iter().all(|&n| n > 0),
        "round-robin reaches every scenario: {seeds:?}"
    );
    let (lo, hi) = (seeds.iter().min().unwrap(), seeds.iter().max().unwrap());
    assert!(hi - lo <= 3, "round-robin keeps scenarios level: {seeds:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A time budget without `--seeds` runs until the budget, not the default 100 seeds.
#[test]
fn a_time_budget_without_seeds_runs_until_the_budget() {
    let dir = temp("budget-only");
    let root = std::env::current_dir().unwrap();
    let scenario = root.join("scenarios/kv_register/all_faults.toml");
    let args = [
        "run",
        scenario.to_str().unwrap(),
        "--time-budget",
        "2s",
        "--jobs",
        "2",
        "-q",
        "--out",
        "b",
    ];
    let o = faultline(&args, &dir);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let run = dir.join("b/latest");
    let raw: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("summary.json")).unwrap()).unwrap();
    let seeds = raw["seeds_finished"].as_u64().unwrap();
    assert!(
        seeds > 100,
        "{seeds} seeds: the default --seeds capped the budget"
    );
    assert!(
        raw["wall_s"].as_f64().unwrap() >= 1.5,
        "stopped before the budget: {raw}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A run keeps the newest `--keep-runs` run folders and removes the older ones; `latest`
/// points at the newest. Every line the terminal gets fits 120 columns, failures and
/// their replay lines included.
#[test]
fn old_run_folders_are_pruned_and_the_terminal_fits_120_columns() {
    let dir = temp("prune");
    let root = std::env::current_dir().unwrap();
    let scenario = root.join("scenarios/kv_register/bug_no_dedup.toml");
    let mut ids = Vec::new();
    for _ in 0..4 {
        let args = [
            "run",
            scenario.to_str().unwrap(),
            "--seeds",
            "12",
            "--keep-runs",
            "2",
            "--out",
            "r",
        ];
        let o = faultline(&args, &dir);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        for line in String::from_utf8_lossy(&o.stdout).lines() {
            assert!(
                line.chars().count() <= 120,
                "{} columns: {line}",
                line.chars().count()
            );
        }
        let latest = std::fs::canonicalize(dir.join("r/latest")).unwrap();
        ids.push(latest.file_name().unwrap().to_string_lossy().into_owned());
    }
    let mut kept: Vec<String> = std::fs::read_dir(dir.join("r"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("run-"))
        .collect();
    kept.sort();
    let mut newest = ids[2..].to_vec();
    newest.sort();
    assert_eq!(kept, newest, "runs made: {ids:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

fn yaml(path: &str) -> Vec<serde_yaml::Value> {
    let text = std::fs::read_to_string(path).unwrap();
    serde_yaml::Deserializer::from_str(&text)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .collect()
}

fn step_run<'a>(job: &'a serde_yaml::Value, name: &str) -> &'a str {
    (job["steps"].as_sequence().unwrap().iter())
        .find(|s| s["name"].as_str() == Some(name))
        .and_then(|s| s["run"].as_str())
        .unwrap_or_else(|| panic!("no step `{name}`"))
}

/// The workflow's shard and merge steps, exactly as written, with 3 shards on this machine
/// (fewer seeds), end in the single run's report.
#[test]
fn the_ci_workflow_is_valid_and_its_steps_run_with_three_shards() {
    let wf = yaml(".github/workflows/faultline.yml").remove(0);
    let shard_job = &wf["jobs"]["shard"];
    let matrix: Vec<u64> = (shard_job["strategy"]["matrix"]["shard"]
        .as_sequence()
        .unwrap())
    .iter()
    .map(|v| v.as_u64().unwrap())
    .collect();
    assert_eq!(
        wf["env"]["SHARDS"].as_str().unwrap(),
        matrix.len().to_string()
    );
    assert_eq!(wf["jobs"]["merge"]["needs"].as_str(), Some("shard"));
    let sweep = step_run(shard_job, "sweep one shard");
    let merge = step_run(&wf["jobs"]["merge"], "merge the shards");
    let dir = temp("workflow");
    std::os::unix::fs::symlink(
        std::env::current_dir().unwrap().join("scenarios"),
        dir.join("scenarios"),
    )
    .unwrap();
    std::fs::create_dir_all(dir.join("target/release")).unwrap();
    std::os::unix::fs::symlink(BIN, dir.join("target/release/faultline")).unwrap();
    let sh = |script: &str| {
        Command::new("sh")
            .args(["-c", script])
            .current_dir(&dir)
            .env("SEEDS", "6")
            .env("SHARDS", matrix.len().to_string())
            .output()
            .unwrap()
    };
    for k in &matrix {
        let o = sh(&sweep.replace("${{ matrix.shard }}", &k.to_string()));
        assert!(o.status.success(), "{}", text(&o));
    }
    let merged_run = sh(merge);
    let merged = summary_of(&dir.join("merged/latest"));
    assert_eq!(merged["complete"], true, "{}", text(&merged_run));
    // With only 6 seeds some planted bugs are not caught yet: whatever the single run says
    // over the same seeds, the merge says too, exit code included.
    let single =
        sh("./target/release/faultline run scenarios --seeds \"$SEEDS\" --quiet --out single");
    assert_eq!(
        merged_run.status.code(),
        single.status.code(),
        "{}",
        text(&merged_run)
    );
    assert_eq!(
        merged["scenarios"],
        summary_of(&dir.join("single/latest"))["scenarios"]
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_kubernetes_recipe_is_an_indexed_job_and_a_merge_job_on_one_volume() {
    let docs = yaml("deploy/kubernetes/sweep.yaml");
    assert_eq!(docs.len(), 2);
    let (sweep, merge) = (&docs[0], &docs[1]);
    assert_eq!(sweep["kind"].as_str(), Some("Job"));
    assert_eq!(sweep["spec"]["completionMode"].as_str(), Some("Indexed"));
    let n = sweep["spec"]["completions"].as_u64().unwrap();
    let shard_args = sweep["spec"]["template"]["spec"]["containers"][0]["args"][0]
        .as_str()
        .unwrap();
    assert!(
        shard_args.contains(&format!("--shard env/{n}")),
        "{shard_args}"
    );
    assert!(
        shard_args.contains("/reports/shard-$JOB_COMPLETION_INDEX"),
        "{shard_args}"
    );
    let merge_args = merge["spec"]["template"]["spec"]["containers"][0]["args"][0]
        .as_str()
        .unwrap();
    assert!(
        merge_args.contains("faultline merge /reports/shard-*/latest"),
        "{merge_args}"
    );
    let wait = merge["spec"]["template"]["spec"]["initContainers"][0]["args"][0]
        .as_str()
        .unwrap();
    assert!(
        wait.contains(&format!("-ge {n}")),
        "the merge waits for all {n} shards: {wait}"
    );
    for doc in &docs {
        let claim = &doc["spec"]["template"]["spec"]["volumes"][0]["persistentVolumeClaim"];
        assert_eq!(claim["claimName"].as_str(), Some("faultline-reports"));
    }
}
