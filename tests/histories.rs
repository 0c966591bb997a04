//! Every history file a run writes is checkable on its own: `faultline check <file>`,
//! without `--model`, reads the model from the file's sidecar and gives the replay's own
//! verdict for that check; a history no checker reads on its own gets a sentence naming
//! the checks that need the replay.

use std::path::{Path, PathBuf};
use std::process::Command;

fn faultline(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Replays of failing and passing seeds of every system's scenarios.
const CASES: &[(&str, &[&str])] = &[
    ("scenarios/kv_register/all_faults.toml", &["0", "1"]),
    ("scenarios/kv_register/bug_follower_reads.toml", &["0", "1"]),
    ("scenarios/es_cluster/bank_3_replicas.toml", &["0"]),
    ("scenarios/es_cluster/bug_follower_reads.toml", &["4", "5"]),
    ("scenarios/es_cluster/kv_3_replicas.toml", &["1"]),
    ("scenarios/saga/order.toml", &["0"]),
    ("scenarios/saga/order_2pc.toml", &["0"]),
    ("scenarios/outbox/polling.toml", &["0", "1", "3"]),
    ("scenarios/outbox/bug_non_idempotent_consumer.toml", &["0"]),
];

#[test]
fn every_written_history_checks_with_the_replays_verdict() {
    let out = std::env::temp_dir().join(format!("faultline-histories-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let (mut agreed, mut replay_only) = (0, 0);
    for (scenario, seeds) in CASES {
        for seed in *seeds {
            let (code, stdout, stderr) = faultline(&[
                "replay",
                scenario,
                "--seed",
                seed,
                "--out",
                out.to_str().unwrap(),
            ]);
            assert!(
                code == 0 || code == 1,
                "{scenario} {seed}: {stdout}{stderr}"
            );
            let dir = artifacts_dir(&stdout);
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                let name = path.file_name().unwrap().to_string_lossy().into_owned();
                if !name.ends_with(".meta.json") {
                    continue;
                }
                let meta: serde_json::Value =
                    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
                let stem = name.trim_end_matches(".meta.json");
                for ext in ["jsonl", "edn"] {
                    let file = dir.join(format!("{stem}.{ext}"));
                    assert!(file.exists(), "{}", file.display());
                    let (code, stdout, stderr) = faultline(&["check", file.to_str().unwrap()]);
                    if meta["checker"] == "replay" {
                        assert_eq!(code, 254, "{}: {stdout}{stderr}", file.display());
                        assert!(
                            stderr.contains("no checker reads this history on its own"),
                            "{stderr}"
                        );
                        assert!(stderr.contains("replay"), "{stderr}");
                        replay_only += 1;
                        continue;
                    }
                    let want = meta["check"][1].as_str().expect("the check's verdict");
                    let expected = match want {
                        "pass" => 0,
                        "violation" => 1,
                        other => panic!("{}: verdict {other}", file.display()),
                    };
                    assert_eq!(
                        code,
                        expected,
                        "{} (replay: {want}): {stdout}{stderr}",
                        file.display()
                    );
                    agreed += 1;
                }
            }
        }
    }
    assert!(
        agreed >= 20 && replay_only >= 4,
        "{agreed} agreed, {replay_only} replay-only"
    );
}

/// The artifacts folder a replay printed.
fn artifacts_dir(stdout: &str) -> PathBuf {
    let line = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("artifacts: "))
        .unwrap_or_else(|| panic!("no artifacts line: {stdout}"));
    let path = line.trim_start().trim_start_matches("artifacts: ");
    let path = path.split(" (").next().unwrap().trim_end_matches('/');
    Path::new(path).to_path_buf()
}

/// Without `--model` and without a sidecar, `check` says what to give.
#[test]
fn a_history_without_a_sidecar_needs_a_model() {
    let (code, _, stderr) = faultline(&["check", "tests/fixtures/porcupine/kv/c01-ok.txt"]);
    assert_eq!(code, 254);
    assert!(stderr.contains("give --model"), "{stderr}");
}
