//! Knossos's multi-register and mutex models, on histories written in Knossos's EDN: each
//! valid history is accepted, each invalid one refused with the operation that cannot take
//! effect, and malformed operations are refused at their place — through the library and
//! through `faultline check --model`.

use std::process::Command;

use faultline::check::linearizability::{check_history, Budget, ModelKind, Verdict};
use faultline::history::edn;

fn verdict(model: ModelKind, text: &str) -> Verdict {
    let history = edn::parse(text, "h.edn").unwrap_or_else(|e| panic!("{e}"));
    check_history(&history, model, &Budget::default())
        .unwrap_or_else(|e| panic!("{e}"))
        .verdict
}

/// Two processes; process 1 reads `x` as 1 while process 0's write of 1 is in flight.
const MULTI_VALID: &str = r#"
{:process 0, :type :invoke, :f :txn, :value [[:write :x 1] [:write :y 2]]}
{:process 1, :type :invoke, :f :txn, :value [[:read :x nil] [:read :y nil]]}
{:process 0, :type :ok, :f :txn, :value [[:write :x 1] [:write :y 2]]}
{:process 1, :type :ok, :f :txn, :value [[:read :x 1] [:read :y 2]]}
{:process 0, :type :invoke, :f :txn, :value [[:read :y nil] [:write :y 3] [:read :y nil]]}
{:process 0, :type :ok, :f :txn, :value [[:read :y 2] [:write :y 3] [:read :y 3]]}
"#;

/// A torn read: process 1 sees the transaction's write of `x` but not its write of `y`.
const MULTI_TORN: &str = r#"
{:process 0, :type :invoke, :f :txn, :value [[:write :x 1] [:write :y 1]]}
{:process 0, :type :ok, :f :txn, :value [[:write :x 1] [:write :y 1]]}
{:process 0, :type :invoke, :f :txn, :value [[:write :x 2] [:write :y 2]]}
{:process 1, :type :invoke, :f :txn, :value [[:read :x nil] [:read :y nil]]}
{:process 0, :type :ok, :f :txn, :value [[:write :x 2] [:write :y 2]]}
{:process 1, :type :ok, :f :txn, :value [[:read :x 2] [:read :y 1]]}
"#;

/// A stale read: after a write of 2 completed, a later transaction reads the 1 before it.
const MULTI_STALE: &str = r#"
{:process 0, :type :invoke, :f :txn, :value [[:write :x 1]]}
{:process 0, :type :ok, :f :txn, :value [[:write :x 1]]}
{:process 0, :type :invoke, :f :txn, :value [[:write :x 2]]}
{:process 0, :type :ok, :f :txn, :value [[:write :x 2]]}
{:process 1, :type :invoke, :f :txn, :value [[:read :x nil]]}
{:process 1, :type :ok, :f :txn, :value [[:read :x 1]]}
"#;

/// A write that never returned (`:info`) may take effect later: the read of 5 is fine.
const MULTI_INFO: &str = r#"
{:process 0, :type :invoke, :f :txn, :value [[:write :x 5]]}
{:process 0, :type :info, :f :txn, :value [[:write :x 5]]}
{:process 1, :type :invoke, :f :txn, :value [[:read :x nil]]}
{:process 1, :type :ok, :f :txn, :value [[:read :x 5]]}
"#;

#[test]
fn multi_register_accepts_atomic_transactions_and_refuses_torn_and_stale_reads() {
    assert_eq!(
        verdict(ModelKind::MultiRegister, MULTI_VALID),
        Verdict::Valid
    );
    assert_eq!(
        verdict(ModelKind::MultiRegister, MULTI_INFO),
        Verdict::Valid
    );
    for (name, text) in [("torn", MULTI_TORN), ("stale", MULTI_STALE)] {
        match verdict(ModelKind::MultiRegister, text) {
            Verdict::Invalid(why) => assert!(
                why.message.contains("read"),
                "{name}: the explanation names the read: {}",
                why.message
            ),
            other => panic!("{name}: {other:?}"),
        }
    }
}

/// Two processes take turns; process 1's acquire waits until process 0's release.
const MUTEX_VALID: &str = r#"
{:process 0, :type :invoke, :f :acquire, :value nil}
{:process 0, :type :ok, :f :acquire, :value nil}
{:process 1, :type :invoke, :f :acquire, :value nil}
{:process 0, :type :invoke, :f :release, :value nil}
{:process 0, :type :ok, :f :release, :value nil}
{:process 1, :type :ok, :f :acquire, :value nil}
{:process 1, :type :invoke, :f :release, :value nil}
{:process 1, :type :info, :f :release, :value nil}
"#;

/// Both processes hold the lock at once.
const MUTEX_DOUBLE: &str = r#"
{:process 0, :type :invoke, :f :acquire, :value nil}
{:process 0, :type :ok, :f :acquire, :value nil}
{:process 1, :type :invoke, :f :acquire, :value nil}
{:process 1, :type :ok, :f :acquire, :value nil}
"#;

/// A release of a lock nobody holds.
const MUTEX_FREE_RELEASE: &str = r#"
{:process 0, :type :invoke, :f :release, :value nil}
{:process 0, :type :ok, :f :release, :value nil}
"#;

#[test]
fn mutex_accepts_turns_and_refuses_two_holders_or_a_release_of_a_free_lock() {
    assert_eq!(verdict(ModelKind::Mutex, MUTEX_VALID), Verdict::Valid);
    for (name, text) in [
        ("double", MUTEX_DOUBLE),
        ("free release", MUTEX_FREE_RELEASE),
    ] {
        assert!(
            matches!(verdict(ModelKind::Mutex, text), Verdict::Invalid(_)),
            "{name}"
        );
    }
}

#[test]
fn operations_a_model_does_not_take_are_refused_with_the_reason() {
    let history = edn::parse(
        "{:process 0, :type :invoke, :f :txn, :value [[:append :x 1]]}\n\
         {:process 0, :type :ok, :f :txn, :value [[:append :x 1]]}\n",
        "h.edn",
    )
    .unwrap();
    let err = check_history(&history, ModelKind::MultiRegister, &Budget::default())
        .expect_err("an append is not a multi-register micro-operation");
    assert!(
        err.to_string().contains("[:read k v] or [:write k v]"),
        "{err}"
    );
    let history = edn::parse(MULTI_VALID, "h.edn").unwrap();
    let err = check_history(&history, ModelKind::Mutex, &Budget::default())
        .expect_err("a txn is not a mutex operation");
    assert!(err.to_string().contains("acquire and release"), "{err}");
}

#[test]
fn the_binary_checks_knossos_histories_with_either_model() {
    let dir = std::env::temp_dir().join(format!("faultline-knossos-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cases = [
        ("multi-register", "valid.edn", MULTI_VALID, 0),
        ("multi-register", "torn.edn", MULTI_TORN, 1),
        ("mutex", "turns.edn", MUTEX_VALID, 0),
        ("mutex", "double.edn", MUTEX_DOUBLE, 1),
    ];
    for (model, name, text, code) in cases {
        let file = dir.join(name);
        std::fs::write(&file, text).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
            .args(["check", "--model", model])
            .arg(&file)
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(code),
            "{model} {name}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}
