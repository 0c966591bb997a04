//! The queue checker's anomalies, each on a history that has it and one that does not.

use super::*;
use crate::history::{Func, Operation, Status, Value};

fn op(client: u64, call: u64, f: Func, status: Status, output: Value) -> Operation {
    Operation {
        client,
        call,
        ret: (status != Status::Info).then_some(call + 1),
        status,
        f,
        key: None,
        input: Value::Nil,
        output,
    }
}

fn l(items: Vec<Value>) -> Value {
    Value::List(items)
}

fn send(client: u64, call: u64, k: i64, o: i64, v: i64) -> Operation {
    let m = l(vec![
        Value::Str("send".into()),
        Value::Int(k),
        l(vec![Value::Int(o), Value::Int(v)]),
    ]);
    op(client, call, Func::Send, Status::Ok, l(vec![m]))
}

fn poll(client: u64, call: u64, k: i64, records: &[(i64, i64)]) -> Operation {
    let recs = records
        .iter()
        .map(|&(o, v)| l(vec![Value::Int(o), Value::Int(v)]))
        .collect();
    let m = l(vec![
        Value::Str("poll".into()),
        Value::Map(vec![(Value::Int(k), l(recs))]),
    ]);
    op(client, call, Func::Poll, Status::Ok, l(vec![m]))
}

fn names(ops: Vec<Operation>) -> Vec<&'static str> {
    check(&History::new(ops))
        .unwrap()
        .anomalies
        .keys()
        .copied()
        .collect()
}

#[test]
fn a_clean_history_has_none() {
    let ops = vec![
        send(0, 1, 5, 0, 10),
        send(0, 2, 5, 1, 11),
        poll(1, 3, 5, &[(0, 10), (1, 11)]),
    ];
    assert!(names(ops).is_empty());
}

#[test]
fn each_anomaly_is_named() {
    assert_eq!(
        names(vec![
            send(0, 1, 5, 0, 10),
            send(0, 2, 5, 1, 11),
            poll(1, 3, 5, &[(1, 11)])
        ]),
        ["lost-write"]
    );
    assert_eq!(names(vec![send(0, 1, 5, 0, 10)]), ["unseen"]);
    assert_eq!(
        names(vec![
            send(0, 1, 5, 0, 10),
            send(0, 2, 5, 1, 10),
            poll(1, 3, 5, &[(0, 10), (1, 10)])
        ]),
        ["duplicate"]
    );
    assert_eq!(
        names(vec![
            send(0, 1, 5, 1, 10),
            send(0, 2, 5, 0, 11),
            poll(1, 3, 5, &[(0, 11), (1, 10)])
        ]),
        ["nonmonotonic-send"]
    );
    assert_eq!(
        names(vec![poll(1, 1, 5, &[(0, 10)]), poll(1, 2, 5, &[(0, 10)])]),
        ["nonmonotonic-poll"]
    );
    assert_eq!(
        names(vec![poll(1, 1, 5, &[(1, 11), (0, 10)])]),
        ["int-nonmonotonic-poll"]
    );
    assert_eq!(
        names(vec![
            poll(2, 1, 5, &[(0, 10), (1, 11), (2, 12)]),
            poll(1, 2, 5, &[(0, 10), (2, 12)])
        ]),
        ["int-poll-skip"]
    );
    assert_eq!(
        names(vec![
            poll(2, 1, 5, &[(0, 10), (1, 11), (2, 12)]),
            poll(1, 2, 5, &[(0, 10)]),
            poll(1, 3, 5, &[(2, 12)])
        ]),
        ["poll-skip"]
    );
    assert_eq!(
        names(vec![poll(1, 1, 5, &[(0, 10)]), poll(2, 2, 5, &[(0, 99)])]),
        ["inconsistent-offsets"]
    );
}

#[test]
fn an_assignment_starts_positions_over() {
    let assign = op(1, 2, Func::Assign, Status::Ok, Value::Nil);
    assert!(names(vec![
        poll(1, 1, 5, &[(0, 10)]),
        assign,
        poll(1, 3, 5, &[(0, 10)])
    ])
    .is_empty());
}

/// A micro-operation `[f k v]`.
fn micro(f: &str, k: i64, v: Value) -> Value {
    l(vec![Value::Str(f.into()), Value::Int(k), v])
}

/// A sent value with its offset.
fn at(o: i64, v: i64) -> Value {
    l(vec![Value::Int(o), Value::Int(v)])
}

/// A poll micro-operation of one key.
fn polled(k: i64, records: &[(i64, i64)]) -> Value {
    let recs = records.iter().map(|&(o, v)| at(o, v)).collect();
    l(vec![
        Value::Str("poll".into()),
        Value::Map(vec![(Value::Int(k), l(recs))]),
    ])
}

/// A transaction: its micro-operations as the completion (`ok`) or the invocation wrote
/// them.
fn txn(client: u64, call: u64, status: Status, micros: Vec<Value>) -> Operation {
    let mut o = op(client, call, Func::Txn, status, Value::Nil);
    if status == Status::Ok {
        o.output = l(micros);
    } else {
        o.input = l(micros);
    }
    o
}

fn report(ops: Vec<Operation>) -> Report {
    check(&History::new(ops)).unwrap()
}

fn forbidden(r: &Report) -> Vec<&'static str> {
    let allowed: Vec<String> = ALLOWED_BY_DEFAULT.iter().map(|s| s.to_string()).collect();
    r.forbidden(&allowed).map(|(name, _)| name).collect()
}

#[test]
fn committed_transactions_that_see_each_other_in_order_are_clean() {
    let r = report(vec![
        txn(
            0,
            1,
            Status::Ok,
            vec![micro("send", 1, at(0, 10)), micro("send", 2, at(0, 20))],
        ),
        txn(
            1,
            3,
            Status::Ok,
            vec![polled(1, &[(0, 10)]), micro("send", 1, at(1, 11))],
        ),
        txn(
            2,
            5,
            Status::Ok,
            vec![polled(1, &[(0, 10), (1, 11)]), polled(2, &[(0, 20)])],
        ),
    ]);
    assert!(r.anomalies.is_empty(), "{}", r.summary());
}

#[test]
fn an_aborted_transactions_value_polled_is_g1a() {
    let aborted = txn(0, 1, Status::Fail, vec![micro("send", 1, Value::Int(10))]);
    let r = report(vec![
        aborted.clone(),
        txn(1, 3, Status::Ok, vec![polled(1, &[(0, 10)])]),
    ]);
    assert_eq!(forbidden(&r), ["G1a"]);
    assert_eq!(r.anomalies["G1a"].1[0].ops, [0, 1]);
    // The same value sent by an operation of unknown outcome may have committed.
    let mut unknown = aborted;
    unknown.status = Status::Info;
    unknown.ret = None;
    let r = report(vec![
        unknown,
        txn(1, 3, Status::Ok, vec![polled(1, &[(0, 10)])]),
    ]);
    assert!(r.anomalies.is_empty(), "{}", r.summary());
}

#[test]
fn a_transaction_polling_its_own_send_is_a_precommitted_read() {
    let r = report(vec![txn(
        0,
        1,
        Status::Ok,
        vec![micro("send", 1, at(0, 10)), polled(1, &[(0, 10)])],
    )]);
    assert_eq!(forbidden(&r), ["precommitted-read"]);
}

#[test]
fn sends_of_one_transaction_skipping_or_reversed() {
    let skip = report(vec![
        txn(
            0,
            1,
            Status::Ok,
            vec![micro("send", 1, at(0, 10)), micro("send", 1, at(2, 12))],
        ),
        txn(1, 2, Status::Ok, vec![micro("send", 1, at(1, 11))]),
        txn(
            2,
            5,
            Status::Ok,
            vec![polled(1, &[(0, 10), (1, 11), (2, 12)])],
        ),
    ]);
    // T1's send between T0's two makes a write cycle too: both normal in Kafka.
    assert_eq!(
        skip.anomalies.keys().copied().collect::<Vec<_>>(),
        ["G0", "int-send-skip"]
    );
    assert!(
        forbidden(&skip).is_empty(),
        "int-send-skip and G0 are allowed by default"
    );
    let back = report(vec![
        txn(
            0,
            1,
            Status::Ok,
            vec![micro("send", 1, at(1, 10)), micro("send", 1, at(0, 11))],
        ),
        txn(2, 5, Status::Ok, vec![polled(1, &[(0, 11), (1, 10)])]),
    ]);
    // Within one operation it is the internal anomaly only (as Jepsen reports it).
    assert_eq!(forbidden(&back), ["int-nonmonotonic-send"]);
}

#[test]
fn a_write_cycle_is_g0_and_allowed_by_default() {
    // T0 writes key 1 before T1, T1 writes key 2 before T0.
    let r = report(vec![
        txn(
            0,
            1,
            Status::Ok,
            vec![micro("send", 1, at(0, 10)), micro("send", 2, at(1, 21))],
        ),
        txn(
            1,
            2,
            Status::Ok,
            vec![micro("send", 1, at(1, 11)), micro("send", 2, at(0, 20))],
        ),
        txn(
            2,
            5,
            Status::Ok,
            vec![
                polled(1, &[(0, 10), (1, 11)]),
                polled(2, &[(0, 20), (1, 21)]),
            ],
        ),
    ]);
    assert_eq!(r.anomalies.keys().copied().collect::<Vec<_>>(), ["G0"]);
    assert!(forbidden(&r).is_empty());
    let cycle = &r.anomalies["G0"].1[0].cycle;
    assert_eq!(cycle.len(), 2);
    assert!(cycle.iter().all(|e| e.kind == "ww"));
    assert_eq!(
        (cycle[0].from, cycle[0].to, cycle[1].from, cycle[1].to),
        (0, 1, 1, 0)
    );
    assert!(cycle[0]
        .why
        .contains("sent 10 to key 1 (offset 0) just before operation 1 sent 11"));
    assert!(cycle[1]
        .why
        .contains("sent 20 to key 2 (offset 0) just before operation 0 sent 21"));
}

#[test]
fn a_cycle_through_a_read_is_g1c() {
    // T0 writes key 1 before T1 does (ww), and polls T1's write to key 2 (wr).
    let r = report(vec![
        txn(
            0,
            1,
            Status::Ok,
            vec![micro("send", 1, at(0, 10)), polled(2, &[(0, 20)])],
        ),
        txn(
            1,
            2,
            Status::Info,
            vec![
                micro("send", 1, Value::Int(11)),
                micro("send", 2, Value::Int(20)),
            ],
        ),
        txn(2, 5, Status::Ok, vec![polled(1, &[(0, 10), (1, 11)])]),
    ]);
    assert_eq!(forbidden(&r), ["G1c"]);
    let found = &r.anomalies["G1c"].1[0];
    assert_eq!(found.ops, [1, 0]);
    let kinds: Vec<&str> = found.cycle.iter().map(|e| e.kind).collect();
    assert_eq!(kinds, ["wr", "ww"]);
    assert!(found.cycle[0]
        .why
        .contains("operation 0 polled 20 from key 2 (offset 0), sent by operation 1"));
    assert!(found.cycle[1]
        .why
        .contains("operation 0 sent 10 to key 1 (offset 0) just before operation 1 sent 11"));
}

#[test]
fn reads_of_each_other_form_a_g1c_of_two_wr_edges() {
    let r = report(vec![
        txn(
            0,
            1,
            Status::Ok,
            vec![micro("send", 1, at(0, 10)), polled(2, &[(0, 20)])],
        ),
        txn(
            1,
            2,
            Status::Ok,
            vec![micro("send", 2, at(0, 20)), polled(1, &[(0, 10)])],
        ),
    ]);
    // Each read its peer's uncommitted send, so neither can have committed first.
    assert_eq!(forbidden(&r), ["G1c"]);
    assert!(r.anomalies["G1c"].1[0].cycle.iter().all(|e| e.kind == "wr"));
}
