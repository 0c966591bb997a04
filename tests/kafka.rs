//! The kafka system's history is Jepsen's: a replayed seed's `queue.edn` reads back as
//! `:txn` operations of `[:send k [offset v]]` and `[:poll {k [[offset v] ...]}]`
//! micro-operations, committed (`:ok`), aborted (`:fail`, with the sends it tried) or
//! unknown; `faultline check` on it (by its sidecar: no write-write edges, Kafka's model)
//! agrees with the run — valid for the correct scenario, G1a for a read-committed fetch
//! that ignores the last stable offset. Subscribed clients (one consumer group committing
//! its offsets in its transactions) record their assignments and consume every record
//! once; offsets that take effect before their transaction commits skip input. With
//! transaction version 1, a partition that does not verify a transaction before it opens
//! there lets a late produce hang its last stable offset; the same seed with verification
//! does not; nor does a coordinator that re-applies an old decision.

use std::path::{Path, PathBuf};
use std::process::Command;

use faultline::history::{self, Format, Func, Status, Value};

fn faultline() -> Command {
    Command::new(env!("CARGO_BIN_EXE_faultline"))
}

fn replay(scenario: &str, name: &str, seed: u64, dir: &Path) -> PathBuf {
    let out = faultline()
        .args(["replay", scenario, "--seed", &seed.to_string(), "--out"])
        .arg(dir)
        .output()
        .unwrap();
    assert_ne!(
        out.status.code(),
        Some(254),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    dir.join("replays")
        .join(name)
        .join(seed.to_string())
        .join("queue.edn")
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("faultline-kafka-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `[:send k [offset v]]` (offset known) or `[:send k v]`.
fn is_send(m: &Value, acknowledged: bool) -> bool {
    let Value::List(parts) = m else { return false };
    match parts.as_slice() {
        [Value::Str(f), Value::Int(_), Value::List(pair)] if f == "send" => {
            acknowledged && matches!(pair.as_slice(), [Value::Int(_), Value::Int(_)])
        }
        [Value::Str(f), Value::Int(_), Value::Int(_)] if f == "send" => !acknowledged,
        _ => false,
    }
}

/// `[:poll {k [[offset v] ...]}]`.
fn is_poll(m: &Value) -> bool {
    let Value::List(parts) = m else { return false };
    match parts.as_slice() {
        [Value::Str(f), Value::Map(by_key)] if f == "poll" => by_key.iter().all(|(k, rs)| {
            matches!(k, Value::Int(_))
                && matches!(rs, Value::List(rs) if rs.iter().all(|r| matches!(r, Value::List(p) if matches!(p.as_slice(), [Value::Int(_), Value::Int(_)]))))
        }),
        _ => false,
    }
}

#[test]
fn a_replayed_history_is_jepsens_and_checks_as_the_run_did() {
    let dir = scratch("correct");
    let edn = replay("scenarios/kafka/txn.toml", "kafka-txn", 3, &dir);
    let text = std::fs::read_to_string(&edn).unwrap();
    assert!(
        text.contains("[:send ") && text.contains("[:poll"),
        "micro-operations are keywords"
    );
    let h = history::parse(&text, "queue.edn", Some(Format::Edn)).unwrap();
    // Transactions, then the final read: an `:assign` of every key and one `:poll`.
    let n = h.ops.len();
    assert_eq!((h.ops[n - 2].f, h.ops[n - 1].f), (Func::Assign, Func::Poll));
    assert_eq!(h.ops[n - 1].status, Status::Ok, "the final read completed");
    assert!(h.ops[..n - 2].iter().all(|op| op.f == Func::Txn));
    let final_read = format!("{:?}", h.ops[n - 1].output);
    let (mut ok, mut failed) = (0, 0);
    for op in &h.ops[..n - 2] {
        let value = if op.status == Status::Ok {
            &op.output
        } else {
            &op.input
        };
        let Value::List(micros) = value else {
            panic!("a txn's value is a list: {op:?}")
        };
        match op.status {
            Status::Ok => {
                ok += 1;
                assert!(
                    micros.iter().all(|m| is_send(m, true) || is_poll(m)),
                    "{op:?}"
                );
                for m in micros.iter().filter(|m| is_send(m, true)) {
                    let Value::List(parts) = m else {
                        unreachable!()
                    };
                    let Value::List(pair) = &parts[2] else {
                        unreachable!()
                    };
                    let (Value::Int(o), Value::Int(v)) = (&pair[0], &pair[1]) else {
                        unreachable!()
                    };
                    let seen = format!("List([Int({o}), Int({v})])");
                    assert!(final_read.contains(&seen), "the final read saw {o} {v}");
                }
            }
            Status::Fail => {
                failed += 1;
                assert_eq!(op.output, op.input, "a failed txn carries what it tried");
            }
            Status::Info => {}
        }
    }
    assert!(ok > 10 && failed > 0, "{ok} committed, {failed} aborted");
    let check = faultline().arg("check").arg(&edn).output().unwrap();
    let stdout = String::from_utf8_lossy(&check.stdout);
    assert_eq!(check.status.code(), Some(0), "{stdout}");
    let meta = std::fs::read_to_string(edn.with_file_name("queue.meta.json")).unwrap();
    assert!(meta.contains("\"ww_deps\": false"), "{meta}");
}

#[test]
fn a_fetch_ignoring_the_last_stable_offset_shows_aborted_reads() {
    let dir = scratch("bug");
    let edn = replay(
        "scenarios/kafka/bug_fetch_ignores_lso.toml",
        "kafka-bug-fetch-ignores-lso",
        1,
        &dir,
    );
    let check = faultline().arg("check").arg(&edn).output().unwrap();
    let stdout = String::from_utf8_lossy(&check.stdout);
    assert_eq!(check.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("G1a: operation"), "{stdout}");
}

/// The `consumed_once` verdict of a replayed seed: (verdict, message).
fn consumed_once(scenario: &str, name: &str, seed: u64) -> (String, String) {
    let dir = scratch(&format!("{name}-{seed}"));
    let edn = replay(scenario, name, seed, &dir);
    let verdicts = std::fs::read_to_string(edn.with_file_name("verdicts.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&verdicts).unwrap();
    let checks = v["checks"].as_array().unwrap();
    let c = (checks.iter())
        .find(|c| c["check"] == "consumed_once")
        .expect("the kafka system runs consumed_once");
    let text = std::fs::read_to_string(&edn).unwrap();
    assert!(
        text.contains(":f :assign"),
        "a subscribed client's history records its assignments"
    );
    (
        c["verdict"].as_str().unwrap().to_string(),
        c["message"].as_str().unwrap().to_string(),
    )
}

#[test]
fn offsets_committed_in_transactions_consume_every_record_once() {
    let (verdict, message) =
        consumed_once("scenarios/kafka/subscribe.toml", "kafka-txn-subscribe", 2);
    assert_eq!(verdict, "pass", "{message}");
    let checked: u64 = message.split(' ').next().unwrap().parse().unwrap();
    assert!(checked > 5, "the group consumed records: {message}");
}

#[test]
fn offsets_applied_before_their_transaction_commits_skip_input() {
    let (verdict, message) = consumed_once(
        "scenarios/kafka/bug_txn_offsets_applied_early.toml",
        "kafka-bug-txn-offsets-applied-early",
        6,
    );
    assert_eq!(verdict, "violation", "{message}");
    assert!(
        message.contains("no committed transaction consumed"),
        "{message}"
    );
}

/// Each check's verdict of a replayed seed.
fn verdicts(scenario: &Path, name: &str, seed: u64) -> Vec<(String, String)> {
    let dir = scratch(&format!("{name}-{seed}"));
    let edn = replay(scenario.to_str().unwrap(), name, seed, &dir);
    let verdicts = std::fs::read_to_string(edn.with_file_name("verdicts.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&verdicts).unwrap();
    (v["checks"].as_array().unwrap().iter())
        .map(|c| {
            let verdict = c["verdict"].as_str().unwrap().to_string();
            (c["check"].as_str().unwrap().to_string(), verdict)
        })
        .collect()
}

#[test]
fn without_partition_verification_a_late_produce_hangs_the_last_stable_offset() {
    let bug = Path::new("scenarios/kafka/bug_no_partition_verification.toml");
    let name = "kafka-bug-no-partition-verification";
    let found = verdicts(bug, name, 2);
    let lso = |v: &[(String, String)]| {
        let (_, verdict) = v.iter().find(|(c, _)| c == "lso_progress").unwrap();
        verdict.clone()
    };
    assert_eq!(lso(&found), "liveness", "{found:?}");
    // The same scenario and seed with the partitions verifying: nothing hangs.
    let text = std::fs::read_to_string(bug).unwrap();
    assert!(
        text.contains("transaction_version = 1"),
        "a version 1 scenario"
    );
    let correct = text
        .replace("bugs = [\"no-partition-verification\"]\n", "")
        .replace(
            "expect = \"liveness\"\nexpect_check = \"lso_progress\"\n",
            "expect = \"pass\"\n",
        )
        .replace(name, "kafka-txn-v1-verified");
    assert!(!correct.contains("bugs ="), "the bug is off");
    let dir = scratch("verified");
    let file = dir.join("verified.toml");
    std::fs::write(&file, correct).unwrap();
    let fixed = verdicts(&file, "kafka-txn-v1-verified", 2);
    assert_eq!(lso(&fixed), "pass", "{fixed:?}");
}

/// A coordinator leader that applies its log from far back (after a restart) passes
/// decisions completed long ago. With transaction version 1 the producer's next
/// transaction has the same producer id and epoch, and a marker round started for such an
/// old commit once completed the *next* transaction — an abort — as committed, without
/// its markers: its records hung the last stable offset (seed 2539, before rounds started
/// only for decisions still current and completed only their own decision).
#[test]
fn an_old_decision_applied_again_does_not_complete_the_next_transaction() {
    let v1 = Path::new("scenarios/kafka/txn_v1.toml");
    let found = verdicts(v1, "kafka-txn-v1", 2539);
    let (_, lso) = found.iter().find(|(c, _)| c == "lso_progress").unwrap();
    assert_eq!(lso, "pass", "{found:?}");
}
