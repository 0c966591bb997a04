//! The command line as users meet it: exit codes, located errors, replay lines.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn faultline() -> Command {
    Command::new(env!("CARGO_BIN_EXE_faultline"))
}

/// A fresh scratch directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("faultline-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn run_scenario(dir: &Path, name: &str, body: &str) -> Output {
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, body).unwrap();
    faultline()
        .args([
            "run",
            path.to_str().unwrap(),
            "--seeds",
            "1",
            "--quiet",
            "--out",
        ])
        .arg(dir.join("reports"))
        .output()
        .unwrap()
}

/// (file name, content, expected "line:column", fragments the message must contain)
const BAD: &[(&str, &str, &str, &[&str])] = &[
    (
        "syntax",
        "system = \"kv_register\"\n[topology\nreplicas = 3\n",
        "2:",
        &["invalid table header"],
    ),
    (
        "missing_system",
        "[topology]\nreplicas = 3\n",
        "1:1",
        &["missing field `system`"],
    ),
    (
        "unknown_key",
        "system = \"kv_register\"\n[network]\nlatency_ms = 5\n",
        "3:1",
        &[
            "unknown field `latency_ms`",
            "`latency_ms_min`",
            "`loss_probability`",
        ],
    ),
    (
        "wrong_type",
        "system = \"kv_register\"\n[topology]\nreplicas = \"three\"\n",
        "3:12",
        &["a non-negative integer or a [min, max] range"],
    ),
    (
        "negative",
        "system = \"kv_register\"\n[topology]\nreplicas = -1\n",
        "3:12",
        &["non-negative"],
    ),
    (
        "out_of_range",
        "system = \"kv_register\"\n[network]\nloss_probability = 1.5\n",
        "3:20",
        &["out of range", "0 to 1"],
    ),
    (
        "empty_range",
        "system = \"kv_register\"\n[phases]\nchaos_ms = [500, 100]\n",
        "3:12",
        &["empty range", "min <= max"],
    ),
    (
        "unknown_system",
        "system = \"raft\"\n",
        "1:10",
        &["unknown system `raft`", "`kv_register`"],
    ),
    (
        "unknown_bug",
        "system = \"kv_register\"\nbugs = [\"no-fsync\", \"no-fsnyc\"]\n",
        "2:21",
        &["unknown bug `no-fsnyc`", "`no-dedup`", "`follower-reads`"],
    ),
    (
        "unknown_check",
        "system = \"kv_register\"\nchecks = [\"linearisability\"]\n",
        "2:11",
        &["unknown check `linearisability`", "`linearizability`"],
    ),
    (
        "unknown_expect",
        "system = \"kv_register\"\nexpect = \"fail\"\n",
        "2:10",
        &["unknown variant `fail`", "`pass`", "`violation`"],
    ),
    (
        "expect_check_with_pass",
        "system = \"kv_register\"\nexpect_check = \"durability\"\n",
        "2:16",
        &["contradictory settings", "expect"],
    ),
    (
        "latency_contradiction",
        "system = \"kv_register\"\n[network]\nlatency_ms_min = 20\nlatency_ms_max = 5\n",
        "4:18",
        &["contradictory settings", "latency_ms_max", "latency_ms_min"],
    ),
    (
        "shares_over_one",
        "system = \"kv_register\"\n[workload]\nread_probability = 0.7\nappend_probability = 0.6\n",
        "4:22",
        &["exceed 1"],
    ),
    (
        "unknown_top_level_key",
        "system = \"kv_register\"\nseeds = 5\n",
        "2:1",
        &["unknown field `seeds`", "`topology`", "[kv_register]"],
    ),
    (
        "foreign_section",
        "system = \"kv_register\"\n[es_cluster]\nshards = 2\n",
        "2:2",
        &["[es_cluster] section in a scenario of system `kv_register`"],
    ),
    (
        "system_section_type",
        "system = \"es_cluster\"\n[es_cluster]\nshards = \"two\"\n",
        "3:10",
        &["a non-negative integer or a [min, max] range"],
    ),
    (
        "unknown_workload",
        "system = \"kv_register\"\nworkload_kind = \"bank\"\n",
        "2:17",
        &["does not run the `bank` workload", "`kv`"],
    ),
    (
        "unknown_shape",
        "system = \"kv_register\"\n[faults]\npartition_shapes = [\"isolate\", \"triangle\"]\n",
        "3:",
        &["unknown variant `triangle`", "`one_way`"],
    ),
    (
        "name_dot_dot",
        "name = \"..\"\nsystem = \"kv_register\"\n",
        "1:8",
        &["scenario name `..`", "not starting with `.`"],
    ),
    (
        "name_dot",
        "name = \".\"\nsystem = \"kv_register\"\n",
        "1:8",
        &["scenario name `.`"],
    ),
    (
        "name_slash",
        "name = \"a/../../b\"\nsystem = \"kv_register\"\n",
        "1:8",
        &["used as a directory name", "letters, digits"],
    ),
    (
        "max_down_above_replicas",
        "system = \"kv_register\"\n[topology]\nreplicas = 3\n[faults.crash]\ninterval_ms_mean = 100\nmax_down = 5\n",
        "6:12",
        &["`faults.crash.max_down` = 5 is more than the 3 replicas", "at most 3"],
    ),
    (
        "client_ops_do_not_fit",
        "system = \"kv_register\"\n[topology]\nclients = 64\n[workload]\nop_interval_ms_min = 1\nop_interval_ms_max = 1\nrequest_timeout_ms = 1\nop_timeout_ms = 1\n[phases]\nchaos_ms = 3600000\n",
        "5:22",
        &[
            "does not fit a seed's envelope",
            "230,400,000 client operations",
            "`limits.history_ops_max` = 200,000",
            "raise `workload.op_interval_ms_min`",
        ],
    ),
    (
        "heartbeats_do_not_fit",
        "system = \"es_cluster\"\n[topology]\nreplicas = 9\n[es_cluster]\nshards = 4\nheartbeat_ms = 1\n[phases]\nchaos_ms = 10000\n",
        "6:16",
        &[
            "does not fit a seed's envelope",
            "Raft heartbeats (4 group(s) of 9 replicas)",
            "`limits.events_max` = 500,000",
            "lengthen the busiest period (`es_cluster.heartbeat_ms`)",
        ],
    ),
];

#[test]
fn bad_scenarios_exit_254_with_file_line_and_column() {
    let dir = scratch("bad");
    for (name, body, at, fragments) in BAD {
        let out = run_scenario(&dir, name, body);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(254), "{name}: {stderr}");
        let located = format!("{name}.toml:{at}");
        assert!(
            stderr.contains(&located),
            "{name}: expected `{located}` in:\n{stderr}"
        );
        for fragment in *fragments {
            assert!(
                stderr.contains(fragment),
                "{name}: expected `{fragment}` in:\n{stderr}"
            );
        }
        assert!(!stderr.contains("panicked"), "{name} panicked:\n{stderr}");
    }
}

#[test]
fn every_problem_of_a_file_is_reported() {
    let dir = scratch("many");
    let out = run_scenario(
        &dir,
        "many",
        "system = \"kv_register\"\nbugs = [\"x\"]\n[network]\nloss_probability = 2.0\n",
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(254));
    assert!(
        stderr.contains("many.toml:2:9: unknown bug `x`"),
        "{stderr}"
    );
    assert!(stderr.contains("many.toml:4:20:"), "{stderr}");
}

#[test]
fn bad_arguments_exit_254() {
    let cases: &[&[&str]] = &[
        &["run", "no/such/scenario.toml"],
        &["run", "scenarios", "--seeds", "0"],
        &["run", "scenarios", "--seeds", "many"],
        &["run", "scenarios", "--frobnicate"],
        &["replay", "scenarios/kv_register/all_faults.toml"],
        &["bogus-subcommand"],
    ];
    for args in cases {
        let out = faultline().args(*args).output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(254),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
    let help = faultline().arg("--help").output().unwrap();
    assert_eq!(help.status.code(), Some(0));
}

#[test]
fn shipped_scenarios_all_load() {
    let out = faultline()
        .args(["list", "scenarios", "scenarios"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).lines().count() >= 4);
}

/// Many failing seeds print one replay line per kind of failure: as many lines as
/// `summary.json` has groups, fewer than the failing seeds, and the groups account for
/// every failing seed.
fn assert_triaged(dir: &Path, stdout: &str) {
    let summary: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("reports/latest/summary.json")).unwrap(),
    )
    .unwrap();
    let scenario = &summary["scenarios"][0];
    let groups = scenario["triage"]["groups"].as_array().unwrap();
    let grouped: u64 = groups.iter().map(|g| g["seeds"].as_u64().unwrap()).sum();
    let failing = 60 - scenario["verdicts"]["pass"].as_u64().unwrap_or(0);
    assert_eq!(grouped, failing, "every failing seed is in a group");
    assert!(
        groups.len() * 5 < failing as usize,
        "{} groups for {failing} failing seeds: the triage does not group",
        groups.len()
    );
    let lines = stdout
        .lines()
        .filter(|l| l.contains("faultline replay "))
        .count();
    assert_eq!(lines, groups.len(), "one replay line per group:\n{stdout}");
}

/// A planted-bug scenario whose `expect` line is removed is a failing correct-system
/// scenario: exit 1, and each printed replay line reproduces the same failure.
#[test]
fn planted_bug_without_expect_fails_and_replays_identically() {
    let dir = scratch("replay");
    let original = std::fs::read_to_string("scenarios/kv_register/bug_no_dedup.toml").unwrap();
    let stripped: String = original
        .lines()
        .filter(|l| !l.starts_with("expect"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_ne!(stripped, original, "the scenario has an expect line");
    let path = dir.join("no_dedup_unexpected.toml");
    std::fs::write(&path, stripped).unwrap();

    let out = faultline()
        .args([
            "run",
            path.to_str().unwrap(),
            "--seeds",
            "60",
            "--quiet",
            "--out",
        ])
        .arg(dir.join("reports"))
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    assert_triaged(&dir, &stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    // Each kind of failure: its replay command, whole, then a comment line under it.
    let lines: Vec<&str> = stdout.lines().map(str::trim).collect();
    let replays: Vec<(&str, &str)> = (0..lines.len().saturating_sub(1))
        .filter(|&i| lines[i].contains("faultline replay "))
        .map(|i| (lines[i], lines[i + 1].trim_start_matches("# ")))
        .collect();
    assert!(!replays.is_empty(), "no replay lines in:\n{stdout}");

    for &(command, comment) in replays.iter().take(3) {
        // Pasted into a shell in the folder the run was started from, as printed.
        let replay = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("{command} --out {}", dir.join("replays").display()))
            .output()
            .unwrap();
        let line = command;
        let replay_out = text(&replay.stdout);
        assert_eq!(replay.status.code(), Some(1), "{line}:\n{replay_out}");
        // The comment is `Verdict (check) in K seeds: message`; the replay prints the same
        // check and message.
        let (verdict_check, message) = comment.split_once(": ").unwrap();
        let check = verdict_check
            .split_once('(')
            .and_then(|(_, c)| c.split_once(')'))
            .map(|(c, _)| c)
            .unwrap();
        let message = message.trim_end_matches('…');
        assert!(
            replay_out
                .lines()
                .any(|l| l.trim_start().starts_with(check) && l.contains(message)),
            "replay of `{command}` did not reproduce `{check}: {message}`:\n{replay_out}"
        );
    }
}

#[test]
fn replay_writes_its_artifacts_identically_twice() {
    let dir = scratch("artifacts");
    let mut traces = Vec::new();
    for round in ["a", "b"] {
        let out_dir = dir.join(round);
        let out = faultline()
            .args([
                "replay",
                "scenarios/kv_register/all_faults.toml",
                "--seed",
                "7",
                "--out",
            ])
            .arg(&out_dir)
            .output()
            .unwrap();
        assert_ne!(out.status.code(), Some(254), "{}", text(&out.stderr));
        let seed_dir = out_dir
            .join("replays")
            .join("kv_register-all-faults")
            .join("7");
        for file in [
            "plan.json",
            "trace.jsonl",
            "history.jsonl",
            "verdicts.json",
            "timeline.html",
            "REPLAY",
        ] {
            assert!(seed_dir.join(file).is_file(), "missing {file}");
        }
        let replay = std::fs::read_to_string(seed_dir.join("REPLAY")).unwrap();
        assert!(
            replay
                .trim()
                .ends_with("faultline replay scenarios/kv_register/all_faults.toml --seed 7"),
            "{replay}"
        );
        traces.push(std::fs::read(seed_dir.join("trace.jsonl")).unwrap());
    }
    assert!(traces[0].len() > 10_000);
    assert!(traces[0] == traces[1], "two replays wrote different traces");
}

#[test]
fn scenario_reference_lists_every_knob_as_the_code_defines_it() {
    let out = faultline()
        .args(["list", "knobs", "--markdown"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let table = text(&out.stdout);
    assert!(table.lines().count() > 40);
    let reference = std::fs::read_to_string("scenarios/README.md").unwrap();
    assert!(
        reference.contains(&table),
        "scenarios/README.md is out of date: paste the output of `faultline list knobs --markdown`"
    );
}

/// The history a replay writes is checkable as it is, and the checker agrees with the
/// verdict the run reported.
#[test]
fn replayed_history_checks_with_faultline_check() {
    let dir = scratch("history");
    for (scenario, name, seed, model, expected) in [
        (
            "scenarios/es_cluster/bank_3_replicas.toml",
            "es_cluster-bank-3",
            9,
            "bank",
            0,
        ),
        (
            "scenarios/kv_register/bug_follower_reads.toml",
            "kv_register-bug-follower-reads",
            0,
            "kv",
            1,
        ),
    ] {
        let out = faultline()
            .args(["replay", scenario, "--seed", &seed.to_string(), "--out"])
            .arg(&dir)
            .output()
            .unwrap();
        assert_ne!(out.status.code(), Some(254), "{}", text(&out.stderr));
        let history = dir
            .join("replays")
            .join(name)
            .join(seed.to_string())
            .join("history.jsonl");
        let check = faultline()
            .args(["check", history.to_str().unwrap(), "--model", model])
            .output()
            .unwrap();
        assert_eq!(
            check.status.code(),
            Some(expected),
            "{}{}",
            text(&check.stdout),
            text(&check.stderr)
        );
    }
}
