//! History formats: JSON lines and EDN round-trip exactly; Jepsen semantics of EDN
//! events; malformed files are refused with the right line and column; no input makes a
//! reader panic.

use faultline::history::{self, edn, jepsen_log, jsonl, Format, Func, History, Operation};
use faultline::history::{ParseError, Status, Value};
use proptest::prelude::*;

fn value(depth: u32) -> BoxedStrategy<Value> {
    let leaf = prop_oneof![
        Just(Value::Nil),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::Int),
        // Any text: quotes, backslashes, control characters, non-ASCII.
        ".{0,12}".prop_map(Value::Str),
    ];
    if depth == 0 {
        leaf.boxed()
    } else {
        prop_oneof![
            3 => leaf,
            1 => prop::collection::vec(value(depth - 1), 0..4).prop_map(Value::List),
        ]
        .boxed()
    }
}

fn func() -> impl Strategy<Value = Func> {
    prop::sample::select(Func::ALL.to_vec())
}

fn status() -> impl Strategy<Value = Status> {
    prop::sample::select(vec![Status::Ok, Status::Fail, Status::Info])
}

/// Any operation at all: JSON lines must carry every field exactly.
fn any_op() -> impl Strategy<Value = Operation> {
    (
        any::<u64>(),
        any::<u64>(),
        prop::option::of(any::<u64>()),
        status(),
        func(),
        prop::option::of(".{0,8}"),
        value(2),
        value(2),
    )
        .prop_map(
            |(client, call, ret, status, f, key, input, output)| Operation {
                client,
                call,
                ret,
                status,
                f,
                key,
                input,
                output,
            },
        )
}

/// A history Jepsen's format can express: each client runs one operation at a time, an
/// `info` operation is its client's last, and operations are in invocation order.
fn jepsen_history() -> impl Strategy<Value = History> {
    let op = (
        1u64..50,
        0u64..30,
        status(),
        func(),
        prop::option::of("[a-z]{1,3}"),
        value(1),
        value(1),
        any::<bool>(),
    );
    prop::collection::vec(prop::collection::vec(op, 1..5), 1..4).prop_map(|clients| {
        let mut ops = Vec::new();
        for (client, steps) in clients.into_iter().enumerate() {
            let mut t = client as u64;
            let last = steps.len() - 1;
            for (i, (gap, len, status, f, key, input, output, b)) in steps.into_iter().enumerate() {
                let status = if status == Status::Info && i != last {
                    Status::Ok
                } else {
                    status
                };
                let call = t + gap;
                let ret = call + len;
                t = ret + 1;
                let output = match (status, f) {
                    (Status::Info, _) => Value::Nil,
                    (Status::Ok, Func::Cas | Func::Withdraw | Func::Deposit | Func::Open) => {
                        Value::Bool(b)
                    }
                    _ => output,
                };
                ops.push(Operation {
                    client: client as u64,
                    call,
                    ret: (status != Status::Info).then_some(ret),
                    status,
                    f,
                    key,
                    input,
                    output,
                });
            }
        }
        // Invocation order (stable: equal call times keep their order).
        ops.sort_by_key(|op| op.call);
        History { ops }
    })
}

proptest! {
    // Failures are reported with their minimal input; no regression file is written.
    #![proptest_config(ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn jsonl_round_trips_exactly(ops in prop::collection::vec(any_op(), 0..12)) {
        let h = History { ops };
        let text = jsonl::to_string(&h);
        let back = jsonl::parse(&text, "h.jsonl").map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&back, &h);
        // And the detector recognises it.
        if !h.ops.is_empty() {
            prop_assert_eq!(history::detect_format(&text), Some(Format::Jsonl));
        }
    }

    #[test]
    fn edn_round_trips_exactly(h in jepsen_history()) {
        let text = edn::to_string(&h).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let back = edn::parse(&text, "h.edn").map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        prop_assert_eq!(&back, &h, "{}", text);
        prop_assert_eq!(history::detect_format(&text), Some(Format::Edn));
    }

    #[test]
    fn readers_never_panic(text in "\\PC{0,200}") {
        for format in [None, Some(Format::Jsonl), Some(Format::Edn), Some(Format::JepsenLog)] {
            if let Err(e) = history::parse(&text, "x", format) {
                prop_assert!(e.line >= 1 && e.column >= 1);
            }
        }
    }

    #[test]
    fn truncated_files_are_refused_cleanly(h in jepsen_history(), cut in any::<prop::sample::Index>()) {
        let Ok(edn_text) = edn::to_string(&h) else { return Ok(()); };
        for text in [edn_text, jsonl::to_string(&h)] {
            let at = cut.index(text.len() + 1);
            if let Some(prefix) = text.get(..at) {
                if let Err(e) = history::parse(prefix, "x", None) {
                    prop_assert!(e.line >= 1 && e.column >= 1);
                }
            }
        }
    }
}

fn parse_err(text: &str, format: Option<Format>) -> ParseError {
    match history::parse(text, "bad.txt", format) {
        Ok(h) => panic!("expected an error, parsed {h:?}"),
        Err(e) => e,
    }
}

#[test]
fn edn_follows_jepsen_semantics() {
    let text = r#"
; a Jepsen history, as one vector, commas as whitespace
[{:process 0, :type :invoke, :f :write, :value 1}
 {:process :nemesis, :type :info, :f :start-partition, :value {:n1 [:n2]}}
 {:process 1, :type :invoke, :f :cas, :key :r, :value [1 2]}
 {:process 0, :type :ok, :f :write, :value 1}
 {:process 1, :type :ok, :f :cas, :key :r, :value [1 2]}
 {:process 2, :type :invoke, :f :read, :value nil}
 {:process 2, :type :info, :f :read, :value nil, :error :timeout}
 {:process 3, :type :invoke, :f :write, :value 3}
 {:process 3, :type :fail, :f :write, :value 3}
 {:process 4, :type :invoke, :f :write, :value 4}]
"#;
    let h = history::parse(text, "h.edn", None).expect("parses");
    assert_eq!(h.ops.len(), 5);
    let w = &h.ops[0];
    // No :time: event indices (the nemesis event counts).
    assert_eq!(
        (w.client, w.call, w.ret, w.status),
        (0, 0, Some(3), Status::Ok)
    );
    let cas = &h.ops[1];
    assert_eq!(cas.key.as_deref(), Some("r"));
    assert_eq!(cas.output, Value::Bool(true), "an :ok cas took effect");
    assert_eq!((h.ops[2].status, h.ops[2].ret), (Status::Info, None));
    assert_eq!((h.ops[3].status, h.ops[3].ret), (Status::Fail, Some(8)));
    // Never completed: info.
    assert_eq!((h.ops[4].status, h.ops[4].ret), (Status::Info, None));
}

#[test]
fn edn_errors_point_at_the_problem() {
    let e = parse_err(
        "{:process 0, :type :invoke, :f :read, :value nil}\n\
         {:process 0, :type :ok, :f :read, :value 1}\n\
         {:process 1, :type :invoke, :f :frob, :value nil}\n",
        None,
    );
    assert_eq!((e.path.as_str(), e.line, e.column), ("bad.txt", 3, 32));
    assert!(
        e.message.contains(":read"),
        "says what is allowed: {}",
        e.message
    );

    let e = parse_err("{:process 0, :f :read}\n", Some(Format::Edn));
    assert_eq!((e.line, e.column), (1, 1));
    assert!(e.message.contains(":type"));

    let e = parse_err(
        "[{:process 0, :type :invoke, :f :read, :value \"abc}]",
        None,
    );
    assert_eq!((e.line, e.column), (1, 47));
    assert!(e.message.contains("never closed"));

    let e = parse_err("{:process 0, :type :ok, :f :read, :value 1}", None);
    assert_eq!((e.line, e.column), (1, 1));
    assert!(e.message.contains("never invoked"));

    let e = parse_err(
        "{:process 0, :type :invoke, :f :read, :time 5}\n{:process 0, :type :ok, :f :read}",
        None,
    );
    assert_eq!((e.line, e.column), (2, 1));
    assert!(e.message.contains(":time"));

    let e = parse_err("{:process 0, :type :invoke, :f :read, :value 1.5}", None);
    assert_eq!((e.line, e.column), (1, 46));

    let e = parse_err("{:process 0 :type}", None);
    assert!(e.message.contains("even number"));
}

#[test]
fn jsonl_errors_point_at_the_problem() {
    let good = r#"{"ClientId":0,"Input":{"f":"read","value":null},"Call":0,"Output":{"status":"ok","value":1},"Return":1}"#;
    let bad_status = good.replace("\"ok\"", "\"maybe\"");
    let e = parse_err(&format!("{good}\n\n{bad_status}\n"), None);
    assert_eq!((e.line, e.column), (3, 77));
    assert!(e.message.contains("ok"), "{}", e.message);

    let e = parse_err(&format!("{good}\n{}", &good[..40]), None);
    assert_eq!((e.line, e.column), (2, 41));

    let e = parse_err(&good.replace("\"Call\":0", "\"Call\":-3"), None);
    assert_eq!((e.line, e.column), (1, 56));
}

#[test]
fn jepsen_log_errors_point_at_the_problem() {
    let e = parse_err(
        "INFO  jepsen.util - 0\t:invoke\t:read\tnil\nINFO  jepsen.util - 0\t:okay\t:read\t3\n",
        None,
    );
    assert_eq!((e.line, e.column), (2, 23));
    assert!(e.message.contains(":invoke, :ok, :fail or :info"));
}

#[test]
fn unknown_formats_are_refused() {
    let e = parse_err("\n\n   hello world\n", None);
    assert_eq!((e.line, e.column), (3, 4));
    assert!(e.message.contains("cannot tell the history format"));
    // An empty file is an empty history.
    assert_eq!(
        history::parse("", "e", None).expect("empty"),
        History::default()
    );
}

#[test]
fn edn_writer_refuses_what_jepsen_cannot_say() {
    let op = Operation {
        client: 0,
        call: 0,
        ret: None,
        status: Status::Ok,
        f: Func::Read,
        key: None,
        input: Value::Nil,
        output: Value::Int(1),
    };
    let e = edn::to_string(&History {
        ops: vec![op.clone()],
    })
    .expect_err("no return time");
    assert_eq!(e.index, 0);
    let overlapping = vec![
        Operation {
            ret: Some(10),
            ..op.clone()
        },
        Operation {
            call: 5,
            ret: Some(12),
            ..op
        },
    ];
    let e = edn::to_string(&History { ops: overlapping }).expect_err("overlap");
    assert_eq!(e.index, 1);
}

#[test]
fn the_etcd_corpus_reads_as_documented() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/porcupine/jepsen/etcd_000.log"
    );
    let text = std::fs::read_to_string(path).expect("fixture");
    let h = jepsen_log::parse(&text, "etcd_000.log").expect("parses");
    assert_eq!(h.ops.len(), 85);
    // `:fail :cas` executed and failed its comparison; `:info` is indeterminate.
    let fail_cas = text
        .lines()
        .filter(|l| l.contains(":fail") && l.contains(":cas"))
        .count();
    let cas_false = h
        .ops
        .iter()
        .filter(|o| o.f == Func::Cas && o.status == Status::Ok && o.output == Value::Bool(false))
        .count();
    assert_eq!(fail_cas, cas_false);
    let infos = text.lines().filter(|l| l.contains(":info")).count();
    assert!(h.ops.iter().filter(|o| o.status == Status::Info).count() >= infos);
    assert!(h.ops.iter().all(|o| o.status != Status::Fail));
}
