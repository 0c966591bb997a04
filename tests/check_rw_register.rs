//! The read-write register isolation checker (Elle's `rw-register`) on hand-written
//! histories in Elle's form, one per anomaly it can infer: each is found, named,
//! explained, and rules out exactly the consistency models that forbid it — the weaker
//! ones still accept the history. Malformed histories are refused (exit 254) through
//! `faultline check --model rw-register`.

use std::process::Command;

use faultline::catalog::Named;
use faultline::check::isolation::{check_rw_register, Anomaly, Model, Report, Verdict};

#[path = "common/isolation.rs"]
mod isolation;

fn report(model: Model, text: &str) -> Report {
    isolation::report(check_rw_register, model, text)
}

fn verdict(model: &str, text: &str) -> Verdict {
    isolation::verdict(check_rw_register, model, text)
}

fn anomalies(text: &str) -> Vec<Anomaly> {
    isolation::anomalies(check_rw_register, text)
}

fn splits(text: &str, weaker: &str, stronger: &str) {
    isolation::splits(check_rw_register, text, weaker, stronger)
}

/// Three transactions one after the other, each reading what the one before wrote.
const SERIAL: &str = r#"
{:process 0, :type :invoke, :f :txn, :value [[:w :x 1]]}
{:process 0, :type :ok, :f :txn, :value [[:w :x 1]]}
{:process 1, :type :invoke, :f :txn, :value [[:r :x nil] [:w :y 1]]}
{:process 1, :type :ok, :f :txn, :value [[:r :x 1] [:w :y 1]]}
{:process 0, :type :invoke, :f :txn, :value [[:r :y nil] [:r :x nil] [:w :x 2] [:r :x nil]]}
{:process 0, :type :ok, :f :txn, :value [[:r :y 1] [:r :x 1] [:w :x 2] [:r :x 2]]}
"#;

/// A read of a write whose transaction failed.
const G1A: &str = r#"
{:process 0, :type :invoke, :f :txn, :value [[:w :x 1]]}
{:process 0, :type :fail, :f :txn, :value [[:w :x 1]]}
{:process 1, :type :invoke, :f :txn, :value [[:r :x nil]]}
{:process 1, :type :ok, :f :txn, :value [[:r :x 1]]}
"#;

/// A read of a transaction's first write to x, which it overwrote before committing.
const G1B: &str = r#"
{:process 0, :type :invoke, :f :txn, :value [[:w :x 1] [:w :x 2]]}
{:process 1, :type :invoke, :f :txn, :value [[:r :x nil]]}
{:process 1, :type :ok, :f :txn, :value [[:r :x 1]]}
{:process 0, :type :ok, :f :txn, :value [[:w :x 1] [:w :x 2]]}
"#;

/// Each of two concurrent transactions read the other's write.
const G1C: &str = r#"
{:process 0, :type :invoke, :f :txn, :value [[:w :x 1] [:r :y nil]]}
{:process 1, :type :invoke, :f :txn, :value [[:w :y 1] [:r :x nil]]}
{:process 0, :type :ok, :f :txn, :value [[:w :x 1] [:r :y 1]]}
{:process 1, :type :ok, :f :txn, :value [[:w :y 1] [:r :x 1]]}
"#;

/// Read skew: process 1 sees the writer's y but x's initial state.
const G_SINGLE: &str = r#"
{:process 0, :type :invoke, :f :txn, :value [[:w :x 1] [:w :y 1]]}
{:process 1, :type :invoke, :f :txn, :value [[:r :x nil] [:r :y nil]]}
{:process 0, :type :ok, :f :txn, :value [[:w :x 1] [:w :y 1]]}
{:process 1, :type :ok, :f :txn, :value [[:r :x nil] [:r :y 1]]}
"#;

/// Write skew: each read both keys in their initial state and wrote a different one.
const WRITE_SKEW: &str = r#"
{:process 0, :type :invoke, :f :txn, :value [[:r :x nil] [:r :y nil] [:w :x 1]]}
{:process 1, :type :invoke, :f :txn, :value [[:r :x nil] [:r :y nil] [:w :y 1]]}
{:process 0, :type :ok, :f :txn, :value [[:r :x nil] [:r :y nil] [:w :x 1]]}
{:process 1, :type :ok, :f :txn, :value [[:r :x nil] [:r :y nil] [:w :y 1]]}
"#;

/// A stale read: process 1 begins after the write completed, and reads x's initial state.
const STALE: &str = r#"
{:process 0, :type :invoke, :f :txn, :value [[:w :x 1]]}
{:process 0, :type :ok, :f :txn, :value [[:w :x 1]]}
{:process 1, :type :invoke, :f :txn, :value [[:r :x nil]]}
{:process 1, :type :ok, :f :txn, :value [[:r :x nil]]}
"#;

/// Lost update: both read x = 1 and wrote over it; a later reader saw one of them.
const LOST_UPDATE: &str = r#"
{:process 0, :type :invoke, :f :txn, :value [[:w :x 1]]}
{:process 0, :type :ok, :f :txn, :value [[:w :x 1]]}
{:process 1, :type :invoke, :f :txn, :value [[:r :x nil] [:w :x 2]]}
{:process 2, :type :invoke, :f :txn, :value [[:r :x nil] [:w :x 3]]}
{:process 1, :type :ok, :f :txn, :value [[:r :x 1] [:w :x 2]]}
{:process 2, :type :ok, :f :txn, :value [[:r :x 1] [:w :x 3]]}
"#;

#[test]
fn a_serial_history_is_valid_under_every_model() {
    for &model in faultline::check::isolation::MODELS {
        let r = report(model, SERIAL);
        assert_eq!(
            r.verdict,
            Verdict::Valid,
            "{}: {:?}",
            model.name(),
            r.anomalies
        );
    }
    let r = report(Model::StrictSerializable, SERIAL);
    assert_eq!((r.txns, r.graph_nodes), (3, 3));
}

#[test]
fn aborted_and_intermediate_reads_are_found_without_a_graph() {
    assert_eq!(anomalies(G1A), [Anomaly::G1a]);
    splits(G1A, "read-uncommitted", "read-committed");
    assert_eq!(anomalies(G1B), [Anomaly::G1b]);
    splits(G1B, "read-uncommitted", "read-committed");
    let detail = &report(Model::ReadCommitted, G1B).anomalies[0].detail;
    assert!(
        detail.contains("read x = 1") && detail.contains("overwrote"),
        "{detail}"
    );
}

#[test]
fn a_cycle_of_reads_is_g1c() {
    assert_eq!(anomalies(G1C), [Anomaly::G1c]);
    splits(G1C, "read-uncommitted", "read-committed");
    let detail = &report(Model::ReadCommitted, G1C).anomalies[0].detail;
    assert!(
        detail.contains("-wr->") && detail.contains("read y = T1's 1"),
        "{detail}"
    );
}

#[test]
fn read_skew_is_g_single_from_the_initial_state() {
    assert!(
        anomalies(G_SINGLE).contains(&Anomaly::GSingle),
        "{:?}",
        anomalies(G_SINGLE)
    );
    splits(G_SINGLE, "read-committed", "snapshot-isolation");
    let detail = &report(Model::SnapshotIsolation, G_SINGLE).anomalies[0].detail;
    assert!(
        detail.contains("T1 -rw-> T0: T1 read x = nil (the initial state)"),
        "{detail}"
    );
    assert!(
        detail.contains("T0 -wr-> T1: T1 read y = T0's 1"),
        "{detail}"
    );
}

#[test]
fn write_skew_is_g2_item_allowed_by_snapshot_isolation() {
    assert_eq!(anomalies(WRITE_SKEW), [Anomaly::G2Item]);
    splits(WRITE_SKEW, "snapshot-isolation", "serializable");
}

#[test]
fn a_stale_read_needs_real_time_to_be_wrong() {
    assert_eq!(verdict("serializable", STALE), Verdict::Valid);
    assert_eq!(verdict("strict-serializable", STALE), Verdict::Invalid);
    let r = report(Model::StrictSerializable, STALE);
    assert!(
        r.anomalies
            .iter()
            .any(|f| f.anomaly.name().ends_with("realtime")),
        "{:?}",
        r.anomalies
    );
}

#[test]
fn a_lost_update_is_a_write_cycle_through_the_versions_it_read() {
    // T1 and T2 both read T0's 1 and wrote over it: each wrote a version after 1, and each
    // read 1 before the other's version — a cycle of two rw edges, with ww from T0.
    let r = report(Model::Serializable, LOST_UPDATE);
    assert_eq!(r.verdict, Verdict::Invalid, "{:?}", r.anomalies);
    assert_eq!(verdict("read-committed", LOST_UPDATE), Verdict::Valid);
    let found = anomalies(LOST_UPDATE);
    assert!(found.contains(&Anomaly::G2Item), "{found:?}");
}

#[test]
fn reads_its_own_writes_or_is_internally_inconsistent() {
    let h = r#"
{:process 0, :type :invoke, :f :txn, :value [[:w :x 1] [:r :x nil]]}
{:process 0, :type :ok, :f :txn, :value [[:w :x 1] [:r :x 2]]}
{:process 1, :type :invoke, :f :txn, :value [[:w :x 2]]}
{:process 1, :type :ok, :f :txn, :value [[:w :x 2]]}
"#;
    assert!(
        anomalies(h).contains(&Anomaly::Internal),
        "{:?}",
        anomalies(h)
    );
    let detail = &report(Model::ReadUncommitted, h).anomalies[0].detail;
    assert!(
        detail.contains("read x = 2 after it wrote x = 1"),
        "{detail}"
    );
    let garbage = r#"
{:process 0, :type :invoke, :f :txn, :value [[:r :x nil]]}
{:process 0, :type :ok, :f :txn, :value [[:r :x 9]]}
"#;
    assert_eq!(anomalies(garbage), [Anomaly::GarbageRead]);
}

#[test]
fn a_transaction_of_unknown_outcome_is_in_the_graph_once_read_from() {
    let h = r#"
{:process 0, :type :invoke, :f :txn, :value [[:w :x 1] [:w :y 1]]}
{:process 0, :type :info, :f :txn, :value [[:w :x 1] [:w :y 1]]}
{:process 1, :type :invoke, :f :txn, :value [[:r :x nil] [:r :y nil]]}
{:process 1, :type :ok, :f :txn, :value [[:r :x nil] [:r :y 1]]}
{:process 2, :type :invoke, :f :txn, :value [[:w :z 1]]}
{:process 2, :type :info, :f :txn, :value [[:w :z 1]]}
"#;
    let r = report(Model::SnapshotIsolation, h);
    assert_eq!((r.txns, r.graph_nodes), (3, 2), "the unread one stays out");
    assert_eq!(
        r.verdict,
        Verdict::Invalid,
        "read skew through the indeterminate writer"
    );
}

fn cli(text: &str, extra: &[&str]) -> (i32, String) {
    let dir = std::env::temp_dir().join(format!("faultline-rw-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(format!("h{}.edn", text.len()));
    std::fs::write(&file, text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["check", "--model", "rw-register"])
        .args(extra)
        .arg(&file)
        .output()
        .unwrap();
    let printed =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), printed)
}

#[test]
fn the_cli_exits_with_the_verdict_and_refuses_malformed_histories() {
    assert_eq!(cli(SERIAL, &[]).0, 0);
    let (code, printed) = cli(WRITE_SKEW, &["--consistency-model", "serializable"]);
    assert_eq!(code, 1, "{printed}");
    assert!(printed.contains("G2-item"), "{printed}");
    assert_eq!(
        cli(WRITE_SKEW, &["--consistency-model", "snapshot-isolation"]).0,
        0
    );
    let twice = r#"
{:process 0, :type :invoke, :f :txn, :value [[:w :x 1]]}
{:process 0, :type :ok, :f :txn, :value [[:w :x 1]]}
{:process 1, :type :invoke, :f :txn, :value [[:w :x 1]]}
{:process 1, :type :ok, :f :txn, :value [[:w :x 1]]}
"#;
    let (code, printed) = cli(twice, &[]);
    assert_eq!(code, 254, "{printed}");
    assert!(
        printed.contains("every value written once per key"),
        "{printed}"
    );
    let nil_write = "{:process 0, :type :invoke, :f :txn, :value [[:w :x nil]]}\n";
    let (code, printed) = cli(nil_write, &[]);
    assert_eq!(code, 254, "{printed}");
    assert!(printed.contains("a write of nil"), "{printed}");
    let append = "{:process 0, :type :invoke, :f :txn, :value [[:append :x 1]]}\n";
    assert_eq!(cli(append, &[]).0, 254);
}

#[path = "common/txn_gen.rs"]
mod txn_gen;

#[test]
fn generated_register_histories_are_valid_until_a_stale_read_is_planted() {
    for seed in 0..20 {
        let mut txns = txn_gen::rw_rotating(300, 4, 8, seed);
        let text = txn_gen::edn_rw(&txns);
        let r = report(Model::StrictSerializable, &text);
        assert_eq!(r.verdict, Verdict::Valid, "seed {seed}: {:?}", r.anomalies);
        // A read of a key's initial state after a write to it completed.
        assert!(
            txn_gen::plant_stale_read(&mut txns),
            "seed {seed}: nothing to plant"
        );
        let text = txn_gen::edn_rw(&txns);
        let r = report(Model::StrictSerializable, &text);
        assert_eq!(
            r.verdict,
            Verdict::Invalid,
            "seed {seed}: the stale read is found"
        );
        let stale = r
            .anomalies
            .iter()
            .find(|f| f.detail.contains("nil (the initial state)"));
        assert!(stale.is_some(), "seed {seed}: {:?}", r.anomalies);
    }
}
