//! Determinism, proven on bytes: the same seed writes the same `trace.jsonl` in two
//! separate processes, with one job or two, for 200 seeds of the scenario that uses every
//! fault kind (guided and branched runs included). One of the two sweeps also re-runs every seed in-process on a fresh thread
//! and compares trace hashes (`--check-determinism`).

use std::path::{Path, PathBuf};
use std::process::Command;

const SCENARIO: &str = "scenarios/kv_register/all_faults.toml";
const NAME: &str = "kv_register-all-faults";
const SEEDS: u64 = 200;

fn sweep(out: &Path, jobs: &str, extra: &[&str]) {
    let _ = std::fs::remove_dir_all(out);
    let output = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args([
            "run",
            SCENARIO,
            "--seeds",
            &SEEDS.to_string(),
            "--jobs",
            jobs,
        ])
        .args(["--artifacts", "all", "--quiet", "--out"])
        .arg(out)
        .args(extra)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "sweep with --jobs {jobs} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    if extra.contains(&"--check-determinism") {
        assert!(
            stdout.contains(&format!(
                "determinism: {SEEDS} seed(s) re-run, all traces identical"
            )),
            "{stdout}"
        );
    }
}

#[test]
fn same_seed_same_trace_bytes_across_processes_and_job_counts() {
    let root: PathBuf =
        std::env::temp_dir().join(format!("faultline-determinism-{}", std::process::id()));
    let (one, two) = (root.join("jobs1"), root.join("jobs2"));
    sweep(&one, "1", &["--check-determinism"]);
    sweep(&two, "2", &[]);
    let mut distinct = std::collections::BTreeSet::new();
    // Past the warm-up, guided runs are named by their ids: the same ones with either job
    // count (their parents come from runs folded in seed order, not finishing order).
    let runs = |root: &Path| -> std::collections::BTreeSet<String> {
        std::fs::read_dir(root.join("latest").join(NAME))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    };
    let (ids, ids_two) = (runs(&one), runs(&two));
    assert_eq!(ids, ids_two, "the same runs with one job and with two");
    assert_eq!(ids.len(), SEEDS as usize);
    assert!(
        ids.iter().any(|id| id.contains(".g")),
        "guided runs ran (their folders are named by their ids, `41.g9999`)"
    );
    assert!(
        ids.iter().any(|id| id.contains(".b") && id.contains('@')),
        "branched runs ran (`41.b9999@1530`): {ids:?}"
    );
    for seed in ids {
        for file in ["trace.jsonl", "history.jsonl", "plan.json"] {
            let path = |root: &Path| root.join("latest").join(NAME).join(&seed).join(file);
            let a = std::fs::read(path(&one)).unwrap();
            let b = std::fs::read(path(&two)).unwrap();
            assert!(
                a == b,
                "seed {seed}: {file} differs between the two processes"
            );
            if file == "trace.jsonl" {
                assert!(a.len() > 1000, "seed {seed}: trace suspiciously short");
                distinct.insert(a);
            }
        }
    }
    // Different seeds really are different runs.
    assert_eq!(distinct.len(), SEEDS as usize);
    let _ = std::fs::remove_dir_all(&root);
}
