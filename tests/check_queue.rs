//! The queue checker through the command line: Jepsen-style EDN histories that each show
//! one of Kafka test's anomalies — transactional ones too — are named as such (exit 1), a
//! clean one passes (exit 0), allowed anomalies pass (`G0` and `int-send-skip` unless
//! `--allow` says otherwise), and the same history written as JSON lines reads the same.

use std::path::Path;
use std::process::Command;

use faultline::check::queue;
use faultline::history::{self, Format};

fn check(path: &Path, extra: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .arg("check")
        .arg(path)
        .args(["--model", "queue"])
        .args(extra)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn every_anomaly_is_named_from_a_jepsen_history() {
    for &anomaly in queue::ANOMALIES {
        let path = Path::new("tests/fixtures/queue").join(format!("{anomaly}.edn"));
        let allowed = queue::ALLOWED_BY_DEFAULT.contains(&anomaly);
        if allowed {
            let (code, stdout) = check(&path, &[]);
            assert_eq!(code, Some(0), "{anomaly} is allowed by default: {stdout}");
            assert!(
                stdout.contains(&format!("anomalies: {anomaly} 1")),
                "{stdout}"
            );
        }
        let (code, stdout) = check(&path, &["--allow", "none"]);
        assert_eq!(code, Some(1), "{anomaly}: {stdout}");
        assert!(
            stdout.contains(&format!("queue anomalies: {anomaly} 1")),
            "{anomaly}: {stdout}"
        );
    }
    let (code, stdout) = check(Path::new("tests/fixtures/queue/clean.edn"), &[]);
    assert_eq!(code, Some(0), "{stdout}");
    assert!(stdout.contains("anomalies: none"), "{stdout}");
}

#[test]
fn allowed_anomalies_pass_and_unknown_ones_are_refused() {
    let unseen = Path::new("tests/fixtures/queue/unseen.edn");
    assert_eq!(check(unseen, &["--allow", "unseen,duplicate"]).0, Some(0));
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .arg("check")
        .arg(unseen)
        .args(["--model", "queue", "--allow", "unsen"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(254));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown anomaly `unsen`"));
}

#[test]
fn json_lines_carry_queue_histories_too() {
    let text = std::fs::read_to_string("tests/fixtures/queue/poll-skip.edn").unwrap();
    let edn = history::parse(&text, "poll-skip.edn", Some(Format::Edn)).unwrap();
    let mut lines = Vec::new();
    history::jsonl::write(&edn, &mut lines).unwrap();
    let jsonl = history::parse(
        &String::from_utf8(lines).unwrap(),
        "poll-skip.jsonl",
        Some(Format::Jsonl),
    )
    .unwrap();
    assert_eq!(
        jsonl, edn,
        "a poll's map survives JSON (integer keys as object keys)"
    );
    let report = queue::check(&jsonl).unwrap();
    assert_eq!(
        report.anomalies.keys().copied().collect::<Vec<_>>(),
        ["poll-skip"]
    );
}
