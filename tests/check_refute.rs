//! Up-front refutations: a read that no operation invoked before it returned could
//! explain is refuted before any search — instantly, where the search would try every
//! order of the indeterminate operations first — and only then.

use faultline::check::linearizability::{check_history, Budget, ModelKind, Verdict};
use faultline::history::{Func, History, Operation, Status, Value};

fn op(
    client: u64,
    call: u64,
    ret: Option<u64>,
    f: Func,
    input: i64,
    output: Option<i64>,
) -> Operation {
    Operation {
        client,
        call,
        ret,
        status: if ret.is_some() {
            Status::Ok
        } else {
            Status::Info
        },
        f,
        key: None,
        input: if f == Func::Write {
            Value::Int(input)
        } else {
            Value::Nil
        },
        output: output.map_or(Value::Nil, Value::Int),
    }
}

fn check(ops: Vec<Operation>) -> faultline::check::linearizability::Report {
    check_history(&History { ops }, ModelKind::CasRegister, &Budget::default()).unwrap()
}

/// The shape: 10 clients, 5% of the writes indeterminate, unique values, and one
/// read late in the history of a value no operation ever writes.
fn long_history(n: u64, late_read: i64) -> Vec<Operation> {
    let mut ops: Vec<Operation> = (0..n)
        .map(|i| {
            let ret = (i % 20 != 7).then_some(10 * i + 25); // overlapping, 5% never return
            op(i % 10, 10 * i, ret, Func::Write, i as i64, None)
        })
        .collect();
    ops.push(op(
        3,
        10 * n,
        Some(10 * n + 5),
        Func::Read,
        0,
        Some(late_read),
    ));
    ops
}

#[test]
fn a_read_of_a_value_never_written_is_refuted_without_search() {
    let report = check(long_history(1000, 987_654));
    let Verdict::Invalid(e) = &report.verdict else {
        panic!("{:?}", report.verdict)
    };
    assert_eq!(report.steps, 0, "refuted before any search step");
    assert_eq!(e.stuck, vec![1000]);
    assert!(
        e.message.contains("found before any search"),
        "{}",
        e.message
    );
}

#[test]
fn a_read_that_returned_before_its_value_was_written_is_refuted() {
    let ops = vec![
        op(0, 0, Some(10), Func::Read, 0, Some(5)),
        op(1, 11, Some(20), Func::Write, 5, None),
    ];
    let report = check(ops);
    assert!(
        matches!(report.verdict, Verdict::Invalid(_)),
        "{:?}",
        report.verdict
    );
    assert_eq!(report.steps, 0);
}

#[test]
fn a_read_that_a_concurrent_or_indeterminate_write_explains_is_not_refuted() {
    // The write overlaps the read: linearizable.
    let ops = vec![
        op(0, 0, Some(10), Func::Read, 0, Some(5)),
        op(1, 10, Some(20), Func::Write, 5, None),
    ];
    assert_eq!(check(ops).verdict, Verdict::Valid);
    // A late read of a value an indeterminate write may have written: the search decides.
    let report = check(long_history(200, 7));
    assert_eq!(report.verdict, Verdict::Valid, "{:?}", report.verdict);
    assert!(report.steps > 0);
}
