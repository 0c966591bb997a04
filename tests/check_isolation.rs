//! The list-append isolation checker on hand-written histories in Elle's form, one per
//! anomaly: each is found, named, explained, and rules out exactly the consistency
//! models that forbid it — the weaker ones still accept the history. Malformed histories
//! are refused (exit 254) through `faultline check --model list-append`.

use std::process::Command;

use faultline::catalog::Named;
use faultline::check::isolation::{check_list_append, Anomaly, Model, Report, Verdict};
use faultline::history::edn;

#[path = "common/isolation.rs"]
mod isolation;

fn report(model: Model, text: &str) -> Report {
    isolation::report(check_list_append, model, text)
}

fn verdict(model: &str, text: &str) -> Verdict {
    isolation::verdict(check_list_append, model, text)
}

fn anomalies(text: &str) -> Vec<Anomaly> {
    isolation::anomalies(check_list_append, text)
}

fn splits(text: &str, weaker: &str, stronger: &str) {
    isolation::splits(check_list_append, text, weaker, stronger)
}

/// Three transactions one after the other, each reading what the one before wrote.
const SERIAL: &str = r#"
{:process 0, :type :invoke, :f :txn, :value [[:append :x 1]]}
{:process 0, :type :ok, :f :txn, :value [[:append :x 1]]}
{:process 1, :type :invoke, :f :txn, :value [[:r :x nil] [:append :y 1]]}
{:process 1, :type :ok, :f :txn, :value [[:r :x [1]] [:append :y 1]]}
{:process 0, :type :invoke, :f :txn, :value [[:r :y nil] [:append :x 2] [:r :x nil]]}
{:process 0, :type :ok, :f :txn, :value [[:r :y [1]] [:append :x 2] [:r :x [1 2]]]}
"#;

/// Two concurrent writers whose appends land in opposite orders on x and y.
const G0: &str = r#"
{:process 0, :type :invoke, :f :txn, :value [[:append :x 1] [:append :y 2]]}
{:process 1, :type :invoke, :f :txn, :value [[:append :x 2] [:append :y 1]]}
{:process 0, :type :ok, :f :txn, :value [[:append :x 1] [:append :y 2]]}
{:process 1, :type :ok, :f :txn, :value [[:append :x 2] [:append :y 1]]}
{:process 2, :type :invoke, :f :txn, :value [[:r :x nil] [:r :y nil]]}
{:process 2, :type :ok, :f :txn, :value [[:r :x [1 2]] [:r :y [1 2]]]}
"#;

/// A read of an append whose transaction failed.
const G1A: &str = r#"
{:process 0, :type :invoke, :f :txn, :value [[:append :x 1]]}
{:process 0, :type :fail, :f :txn, :value [[:append :x 1]]}
{:process 1, :type :invoke, :f :txn, :value [[:r :x nil]]}
{:process 1, :type :ok, :f :txn, :value [[:r :x [1]]]}
"#;

/// A read of a transaction's first append to x, which it followed with a second.
const G1B: &str = r#"
{:process 0, :type :invoke, :f :txn, :value [[:append :x 1] [:append :x 2]]}
{:process 1, :type :invoke, :f :txn, :value [[:r :x nil]]}
{:process 1, :type :ok, :f :txn, :value [[:r :x [1]]]}
{:process 0, :type :ok, :f :txn, :value [[:append :x 1] [:append :x 2]]}
"#;

/// Each of two concurrent transactions read the other's append.
const G1C: &str = r#"
{:process 0, :type :invoke, :f :txn, :value [[:append :x 1] [:r :y nil]]}
{:process 1, :type :invoke, :f :txn, :value [[:append :y 1] [:r :x nil]]}
{:process 0, :type :ok, :f :txn, :value [[:append :x 1] [:r :y [1]]]}
{:process 1, :type :ok, :f :txn, :value [[:append :y 1] [:r :x [1]]]}
"#;

/// Read skew: process 1 sees the writer's y but not its x.
const G_SINGLE: &str = r#"
{:process 0, :type :invoke, :f :txn, :value [[:append :x 1] [:append :y 1]]}
{:process 1, :type :invoke, :f :txn, :value [[:r :x nil] [:r :y nil]]}
{:process 0, :type :ok, :f :txn, :value [[:append :x 1] [:append :y 1]]}
{:process 1, :type :ok, :f :txn, :value [[:r :x []] [:r :y [1]]]}
{:process 2, :type :invoke, :f :txn, :value [[:r :x nil]]}
{:process 2, :type :ok, :f :txn, :value [[:r :x [1]]]}
"#;

/// Write skew: each read both keys empty and appended to a different one.
const WRITE_SKEW: &str = r#"
{:process 0, :type :invoke, :f :txn, :value [[:r :x nil] [:r :y nil] [:append :x 1]]}
{:process 1, :type :invoke, :f :txn, :value [[:r :x nil] [:r :y nil] [:append :y 1]]}
{:process 0, :type :ok, :f :txn, :value [[:r :x []] [:r :y []] [:append :x 1]]}
{:process 1, :type :ok, :f :txn, :value [[:r :x []] [:r :y []] [:append :y 1]]}
{:process 2, :type :invoke, :f :txn, :value [[:r :x nil] [:r :y nil]]}
{:process 2, :type :ok, :f :txn, :value [[:r :x [1]] [:r :y [1]]]}
"#;

/// A stale read: process 1 begins after the append completed, and reads x empty.
const STALE: &str = r#"
{:process 0, :type :invoke, :f :txn, :value [[:append :x 1]]}
{:process 0, :type :ok, :f :txn, :value [[:append :x 1]]}
{:process 1, :type :invoke, :f :txn, :value [[:r :x nil]]}
{:process 1, :type :ok, :f :txn, :value [[:r :x []]]}
{:process 2, :type :invoke, :f :txn, :value [[:r :x nil]]}
{:process 2, :type :ok, :f :txn, :value [[:r :x [1]]]}
"#;

/// A process that does not read its own earlier append (concurrent with nobody else).
const OWN_STALE: &str = r#"
{:process 0, :type :invoke, :f :txn, :value [[:append :x 1]]}
{:process 0, :type :ok, :f :txn, :value [[:append :x 1]]}
{:process 0, :type :invoke, :f :txn, :value [[:r :x nil]]}
{:process 0, :type :ok, :f :txn, :value [[:r :x []]]}
{:process 2, :type :invoke, :f :txn, :value [[:r :x nil]]}
{:process 2, :type :ok, :f :txn, :value [[:r :x [1]]]}
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
        assert!(r.anomalies.is_empty());
    }
    let r = report(Model::StrictSerializable, SERIAL);
    assert_eq!((r.txns, r.graph_nodes), (3, 3));
}

#[test]
fn a_write_cycle_is_g0_and_breaks_even_read_uncommitted() {
    assert_eq!(anomalies(G0)[0], Anomaly::G0);
    assert_eq!(verdict("read-uncommitted", G0), Verdict::Invalid);
    let r = report(Model::ReadUncommitted, G0);
    let text = &r.anomalies[0].detail;
    assert!(
        text.contains("-ww->") && text.contains("right after"),
        "{text}"
    );
}

#[test]
fn aborted_intermediate_and_circular_reads_are_g1_and_break_read_committed() {
    assert_eq!(anomalies(G1A), vec![Anomaly::G1a]);
    splits(G1A, "read-uncommitted", "read-committed");
    assert!(anomalies(G1B).contains(&Anomaly::G1b));
    splits(G1B, "read-uncommitted", "read-committed");
    assert!(anomalies(G1C).contains(&Anomaly::G1c));
    splits(G1C, "read-uncommitted", "read-committed");
    let r = report(Model::ReadCommitted, G1C);
    let cycle = &r
        .anomalies
        .iter()
        .find(|f| f.anomaly == Anomaly::G1c)
        .unwrap()
        .detail;
    assert_eq!(cycle.matches("-wr->").count(), 2, "{cycle}");
}

#[test]
fn read_skew_is_g_single_and_breaks_snapshot_isolation_not_read_committed() {
    assert_eq!(anomalies(G_SINGLE)[0], Anomaly::GSingle);
    splits(G_SINGLE, "read-committed", "snapshot-isolation");
    splits(G_SINGLE, "read-committed", "repeatable-read");
    let r = report(Model::SnapshotIsolation, G_SINGLE);
    let cycle = &r.anomalies[0].detail;
    assert!(
        cycle.contains("-rw->") && cycle.contains("read x empty"),
        "{cycle}"
    );
    assert!(
        cycle.contains("-wr->") && cycle.contains("read y ending in"),
        "{cycle}"
    );
}

#[test]
fn write_skew_is_g2_item_allowed_by_snapshot_isolation_only() {
    assert_eq!(anomalies(WRITE_SKEW)[0], Anomaly::G2Item);
    splits(WRITE_SKEW, "snapshot-isolation", "serializable");
    assert_eq!(verdict("repeatable-read", WRITE_SKEW), Verdict::Invalid);
    let r = report(Model::Serializable, WRITE_SKEW);
    assert_eq!(r.anomalies[0].detail.matches("-rw->").count(), 2);
    assert_eq!(r.not.first(), Some(&"repeatable-read"));
}

#[test]
fn a_stale_read_breaks_strict_serializability_only() {
    assert_eq!(anomalies(STALE), vec![Anomaly::GSingleRealtime]);
    splits(STALE, "serializable", "strict-serializable");
    splits(STALE, "snapshot-isolation", "strong-snapshot-isolation");
    assert_eq!(
        verdict("strong-session-serializable", STALE),
        Verdict::Valid
    );
    let r = report(Model::StrictSerializable, STALE);
    assert!(r.anomalies[0].detail.contains("-realtime->"));
}

#[test]
fn not_reading_ones_own_write_breaks_strong_session_models() {
    assert!(anomalies(OWN_STALE).contains(&Anomaly::GSingleProcess));
    splits(OWN_STALE, "serializable", "strong-session-serializable");
    splits(
        OWN_STALE,
        "snapshot-isolation",
        "strong-session-snapshot-isolation",
    );
}

#[test]
fn internal_duplicate_garbage_and_incompatible_reads_are_found() {
    let internal = r#"
{:process 0, :type :invoke, :f :txn, :value [[:append :x 1]]}
{:process 0, :type :ok, :f :txn, :value [[:append :x 1]]}
{:process 1, :type :invoke, :f :txn, :value [[:r :x nil] [:append :x 2] [:r :x nil]]}
{:process 1, :type :ok, :f :txn, :value [[:r :x [1]] [:append :x 2] [:r :x [1]]]}
"#;
    assert!(anomalies(internal).contains(&Anomaly::Internal));
    splits(internal, "read-committed", "snapshot-isolation");
    let duplicate = r#"
{:process 0, :type :invoke, :f :txn, :value [[:append :x 1]]}
{:process 0, :type :ok, :f :txn, :value [[:append :x 1]]}
{:process 1, :type :invoke, :f :txn, :value [[:r :x nil]]}
{:process 1, :type :ok, :f :txn, :value [[:r :x [1 1]]]}
"#;
    assert!(anomalies(duplicate).contains(&Anomaly::DuplicateElements));
    assert_eq!(verdict("read-uncommitted", duplicate), Verdict::Invalid);
    let garbage = r#"
{:process 1, :type :invoke, :f :txn, :value [[:r :x nil]]}
{:process 1, :type :ok, :f :txn, :value [[:r :x [9]]]}
"#;
    assert_eq!(anomalies(garbage), vec![Anomaly::GarbageRead]);
    let incompatible = r#"
{:process 0, :type :invoke, :f :txn, :value [[:append :x 1]]}
{:process 1, :type :invoke, :f :txn, :value [[:append :x 2]]}
{:process 0, :type :ok, :f :txn, :value [[:append :x 1]]}
{:process 1, :type :ok, :f :txn, :value [[:append :x 2]]}
{:process 2, :type :invoke, :f :txn, :value [[:r :x nil]]}
{:process 3, :type :invoke, :f :txn, :value [[:r :x nil]]}
{:process 2, :type :ok, :f :txn, :value [[:r :x [1 2]]]}
{:process 3, :type :ok, :f :txn, :value [[:r :x [2 1]]]}
"#;
    assert!(anomalies(incompatible).contains(&Anomaly::IncompatibleOrder));
    splits(incompatible, "read-uncommitted", "read-committed");
}

#[test]
fn an_unknown_append_that_someone_read_counts_as_committed() {
    let info = r#"
{:process 0, :type :invoke, :f :txn, :value [[:append :x 1]]}
{:process 0, :type :info, :f :txn, :value [[:append :x 1]]}
{:process 1, :type :invoke, :f :txn, :value [[:r :x nil]]}
{:process 1, :type :ok, :f :txn, :value [[:r :x [1]]]}
"#;
    let r = report(Model::StrictSerializable, info);
    assert_eq!(r.verdict, Verdict::Valid, "{:?}", r.anomalies);
    assert_eq!(r.graph_nodes, 2);
}

fn faultline_check(file: &std::path::Path, extra: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["check", "--model", "list-append"])
        .args(extra)
        .arg(file)
        .output()
        .expect("run faultline");
    let text = |b: Vec<u8>| String::from_utf8(b).expect("utf-8");
    (
        out.status.code().unwrap_or(-1),
        text(out.stdout),
        text(out.stderr),
    )
}

#[test]
fn the_cli_answers_by_exit_code_and_refuses_malformed_histories() {
    let dir = std::env::temp_dir().join(format!("faultline-isolation-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let write = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let skew = write("skew.edn", WRITE_SKEW);
    let (code, out, _) = faultline_check(&skew, &["--consistency-model", "snapshot-isolation"]);
    assert_eq!(code, 0, "{out}");
    let (code, out, _) = faultline_check(&skew, &[]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("INVALID under strict-serializable") && out.contains("G2-item"),
        "{out}"
    );
    let (code, out, _) = faultline_check(&skew, &["--json"]);
    let json: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!((code, json["verdict"].as_str()), (1, Some("invalid")));
    assert_eq!(json["anomalies"][0]["anomaly"], "G2-item");
    let (code, _, err) = faultline_check(&skew, &["--consistency-model", "linearizable"]);
    assert_eq!(code, 254);
    assert!(
        err.contains("--consistency-model") && err.contains("serializable"),
        "{err}"
    );
    let bad = write(
        "bad.edn",
        "{:process 0, :type :invoke, :f :txn, :value [[:write :x 1]]}\n{:process 0, :type :ok, :f :txn, :value [[:write :x 1]]}\n",
    );
    let (code, _, err) = faultline_check(&bad, &[]);
    assert_eq!(code, 254);
    assert!(
        err.contains("[:append k v]") && err.contains("operation 0"),
        "{err}"
    );
    let twice = write(
        "twice.edn",
        "{:process 0, :type :invoke, :f :txn, :value [[:append :x 1]]}\n{:process 0, :type :ok, :f :txn, :value [[:append :x 1]]}\n{:process 0, :type :invoke, :f :txn, :value [[:append :x 1]]}\n{:process 0, :type :ok, :f :txn, :value [[:append :x 1]]}\n",
    );
    let (code, _, err) = faultline_check(&twice, &[]);
    assert_eq!(code, 254);
    assert!(err.contains("appended once per key"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

#[path = "common/txn_gen.rs"]
mod txn_gen;

fn generated(text: &str, model: Model) -> Report {
    let history = edn::parse(text, "gen.edn").unwrap_or_else(|e| panic!("{e}"));
    check_list_append(&history, model, 10_000_000).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn generated_serial_histories_are_valid_and_planted_anomalies_are_found() {
    let (mut stale, mut aborted) = (0, 0);
    for seed in 0..40 {
        let txns = txn_gen::serial(150, 4, seed);
        let r = generated(&txn_gen::edn(&txns), Model::StrictSerializable);
        assert_eq!(r.verdict, Verdict::Valid, "seed {seed}: {:?}", r.anomalies);
        let mut planted = txns.clone();
        if txn_gen::plant_stale_read(&mut planted) {
            stale += 1;
            let text = txn_gen::edn(&planted);
            let r = generated(&text, Model::StrictSerializable);
            assert_eq!(r.verdict, Verdict::Invalid, "seed {seed}: a stale read");
            assert!(
                r.anomalies.iter().any(|f| f.detail.contains("-rw->")),
                "seed {seed}"
            );
            // What else the shortened read breaks depends on where it ends (an
            // intermediate element is G1b too); real time is what it always breaks.
            assert_eq!(
                generated(&text, Model::Serializable).verdict == Verdict::Valid,
                r.anomalies
                    .iter()
                    .all(|f| !Model::Serializable.forbids(f.anomaly))
            );
        }
        let mut planted = txns.clone();
        if txn_gen::plant_aborted_read(&mut planted) {
            aborted += 1;
            let text = txn_gen::edn(&planted);
            let r = generated(&text, Model::ReadCommitted);
            assert_eq!(r.verdict, Verdict::Invalid, "seed {seed}: an aborted read");
            assert!(r.anomalies.iter().any(|f| f.anomaly == Anomaly::G1a));
            assert_eq!(
                generated(&text, Model::ReadUncommitted).verdict,
                Verdict::Valid
            );
        }
    }
    assert!(
        stale >= 30 && aborted >= 30,
        "planted {stale} stale and {aborted} aborted reads"
    );
}

#[test]
fn one_huge_component_ends_in_a_verdict_with_its_cycles_explained() {
    let text = txn_gen::edn(&txn_gen::huge_scc(2_000, 8, 11));
    let r = generated(&text, Model::StrictSerializable);
    assert_eq!(r.verdict, Verdict::Invalid);
    assert!(!r.search_exhausted);
    let single = (r.anomalies.iter())
        .find(|f| f.anomaly == Anomaly::GSingle)
        .expect("a G-single among stale prefixes");
    assert_eq!(
        single.detail.matches("-rw->").count(),
        1,
        "{}",
        single.detail
    );
    assert_eq!(single.detail.lines().count(), single.txns.len());
}

#[test]
fn anomalies_are_counted_and_their_examples_capped() {
    // Twenty readers of one failed transaction's append: twenty aborted reads.
    let mut text = String::from(
        "{:process 0, :type :invoke, :f :txn, :value [[:append :x 1]]}\n\
         {:process 0, :type :fail, :f :txn, :value [[:append :x 1]]}\n",
    );
    for p in 1..=20 {
        text.push_str(&format!(
            "{{:process {p}, :type :invoke, :f :txn, :value [[:r :x nil]]}}\n\
             {{:process {p}, :type :ok, :f :txn, :value [[:r :x [1]]]}}\n"
        ));
    }
    let r = report(Model::ReadCommitted, &text);
    assert_eq!(r.counts.get(&Anomaly::G1a), Some(&20));
    let shown = r
        .anomalies
        .iter()
        .filter(|f| f.anomaly == Anomaly::G1a)
        .count();
    assert_eq!(shown, faultline::check::isolation::EXAMPLES_MAX);
    let text_report = faultline::check::isolation::render("h.edn", &r);
    assert!(
        text_report.contains("… 20 G1a in all, 8 shown"),
        "{text_report}"
    );
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["counts"]["G1a"], 20, "{json}");
}
