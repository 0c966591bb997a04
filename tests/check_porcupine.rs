//! faultline agrees with Porcupine's expected verdicts on Porcupine's own test histories
//! (Jepsen etcd register logs and key-value EDN histories; see
//! `tests/fixtures/porcupine/README.md`).

use faultline::check::linearizability::{check_history, Budget, ModelKind, Verdict};
use faultline::history::{self, Format};
use std::path::PathBuf;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/porcupine")
}

struct Case {
    file: String,
    expected: Option<bool>,
    operations: usize,
}

fn cases() -> Vec<Case> {
    let tsv = std::fs::read_to_string(fixtures().join("expected.tsv")).expect("expected.tsv");
    tsv.lines()
        .skip(1)
        .map(|line| {
            let cols: Vec<&str> = line.split('\t').collect();
            Case {
                file: cols[0].to_string(),
                expected: match cols[1] {
                    "true" => Some(true),
                    "false" => Some(false),
                    _ => None,
                },
                operations: cols[3].parse().expect("operations column"),
            }
        })
        .collect()
}

fn model_for(file: &str) -> ModelKind {
    if file.starts_with("jepsen/") {
        ModelKind::CasRegister
    } else {
        ModelKind::Kv
    }
}

#[test]
fn every_expected_verdict_is_reproduced() {
    let cases = cases();
    assert_eq!(cases.len(), 109, "103 etcd logs and 6 kv histories");
    let mut mismatches = Vec::new();
    for case in &cases {
        let path = fixtures().join(&case.file);
        let text = std::fs::read_to_string(&path).expect("fixture");
        let history = history::parse(&text, &case.file, None).expect("fixture parses");
        assert_eq!(
            history.ops.len(),
            case.operations,
            "{}: operation count",
            case.file
        );
        let report = check_history(&history, model_for(&case.file), &Budget::default())
            .expect("the model accepts the fixture");
        let valid = match report.verdict {
            Verdict::Valid => true,
            Verdict::Invalid(_) => false,
            Verdict::Unknown(r) => panic!("{}: unknown without a budget: {r}", case.file),
        };
        match case.expected {
            Some(expected) if expected != valid => mismatches.push(case.file.clone()),
            Some(_) => {}
            // The empty etcd_095: nothing to contradict.
            None => {
                assert!(valid, "{}: an empty history is linearizable", case.file);
                assert!(history.ops.is_empty());
            }
        }
    }
    assert!(mismatches.is_empty(), "verdicts differ on {mismatches:?}");
}

#[test]
fn formats_are_detected() {
    for case in cases() {
        if case.operations == 0 {
            continue;
        }
        let text = std::fs::read_to_string(fixtures().join(&case.file)).expect("fixture");
        let expected = if case.file.starts_with("jepsen/") {
            Format::JepsenLog
        } else {
            Format::Edn
        };
        assert_eq!(
            history::detect_format(&text),
            Some(expected),
            "{}",
            case.file
        );
    }
}
