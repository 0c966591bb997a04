//! The checker agrees with a brute-force checker on random small histories, for every
//! built-in model; its explanations are consistent; it is deterministic.
//!
//! The brute-force checker below shares nothing with faultline's: it has its own model
//! semantics (straight from the documentation of `history::Func`), applies them to one
//! whole-history state (no partitioning), and tries every order of the operations that
//! respects real time — an operation may go next iff no pending `ok` operation returned
//! before it was called — with `info` operations free to go at any point or never, and
//! `fail` operations dropped.

use faultline::check::linearizability::{
    check_history, check_with_model, Budget, CasRegister, ModelKind, NondeterministicModel,
    PowerSet, Verdict,
};
use faultline::history::{Func, History, Operation, Status, Value};
use proptest::prelude::*;
use std::collections::BTreeMap;

// ---------------------------------------------------------------------------------------
// The reference semantics.

/// The whole store: one slot per key (`None` = the key-less register).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct Store {
    registers: BTreeMap<Option<String>, Option<i64>>,
    strings: BTreeMap<String, String>,
    /// Open accounts and their balances (an account is absent until opened).
    balances: BTreeMap<String, i64>,
    /// Multi-register: each written key's value.
    multi: BTreeMap<String, i64>,
    /// Mutex: the locks held (by key; `None` = the key-less lock).
    held: BTreeMap<Option<String>, bool>,
}

/// Apply `op` with its recorded output (any output when `info`). `None` if impossible.
fn apply(model: ModelKind, store: &Store, op: &Operation) -> Option<Store> {
    let mut s = store.clone();
    let known = op.status != Status::Info;
    match model {
        ModelKind::Register | ModelKind::CasRegister => {
            let slot = s.registers.entry(op.key.clone()).or_insert(None);
            match op.f {
                Func::Read => {
                    if known {
                        let seen = match op.output {
                            Value::Nil => None,
                            Value::Int(v) => Some(v),
                            _ => return None,
                        };
                        if *slot != seen {
                            return None;
                        }
                    }
                }
                Func::Write => match op.input {
                    Value::Int(v) => *slot = Some(v),
                    _ => return None,
                },
                Func::Cas if model == ModelKind::CasRegister => {
                    let Value::List(items) = &op.input else {
                        return None;
                    };
                    let expected = match items.first() {
                        Some(Value::Int(e)) => Some(*e),
                        Some(Value::Nil) => None,
                        _ => return None,
                    };
                    let Some(Value::Int(new)) = items.get(1) else {
                        return None;
                    };
                    let matches = *slot == expected;
                    match (known, &op.output) {
                        (false, _) => {
                            if matches {
                                *slot = Some(*new)
                            }
                        }
                        (true, Value::Bool(true)) if matches => *slot = Some(*new),
                        (true, Value::Bool(false)) if !matches => {}
                        _ => return None,
                    }
                }
                _ => return None,
            }
        }
        ModelKind::Kv => {
            let key = op.key.clone()?;
            let slot = s.strings.entry(key).or_default();
            match (op.f, &op.input) {
                (Func::Get, _) => {
                    if known {
                        let seen = match &op.output {
                            Value::Str(v) => v.clone(),
                            Value::Nil => String::new(),
                            _ => return None,
                        };
                        if *slot != seen {
                            return None;
                        }
                    }
                }
                (Func::Put, Value::Str(v)) => *slot = v.clone(),
                (Func::Append, Value::Str(v)) => slot.push_str(v),
                _ => return None,
            }
        }
        ModelKind::Bank => {
            let key = op.key.clone()?;
            // The reference semantics, spelled out case by case: an account exists only
            // once opened; every operation reports whether it took effect.
            let open = s.balances.contains_key(&key);
            let balance = s.balances.get(&key).copied();
            let reported = |expected: Value| !known || op.output == expected;
            match (op.f, &op.input) {
                (Func::Open, _) => {
                    if !reported(Value::Bool(!open)) {
                        return None;
                    }
                    s.balances.entry(key).or_insert(0);
                }
                (Func::Read, _) => {
                    if !reported(balance.map_or(Value::Nil, Value::Int)) {
                        return None;
                    }
                }
                (Func::Deposit, Value::Int(a)) if *a >= 0 => {
                    if !reported(Value::Bool(open)) {
                        return None;
                    }
                    if let Some(b) = balance {
                        s.balances.insert(key, b.checked_add(*a)?);
                    }
                }
                (Func::Withdraw, Value::Int(a)) if *a >= 0 => {
                    let applies = balance.is_some_and(|b| b >= *a);
                    if !reported(Value::Bool(applies)) {
                        return None;
                    }
                    if applies {
                        s.balances.insert(key, balance.unwrap_or(0) - a);
                    }
                }
                _ => return None,
            }
        }
        ModelKind::MultiRegister => {
            // Knossos's semantics: micro-operations in order; a read of nil is unknown.
            let txn = if known { &op.output } else { &op.input };
            let (Func::Txn, Value::List(micros)) = (op.f, txn) else {
                return None;
            };
            for m in micros {
                let Value::List(parts) = m else { return None };
                match parts.as_slice() {
                    [Value::Str(f), Value::Str(k), v] if f == "read" => match v {
                        Value::Nil => {}
                        Value::Int(x) if s.multi.get(k) == Some(x) => {}
                        _ => return None,
                    },
                    [Value::Str(f), Value::Str(k), Value::Int(x)] if f == "write" => {
                        s.multi.insert(k.clone(), *x);
                    }
                    _ => return None,
                }
            }
        }
        ModelKind::Mutex => {
            let held = s.held.entry(op.key.clone()).or_insert(false);
            match (op.f, *held) {
                (Func::Acquire, false) => *held = true,
                (Func::Release, true) => *held = false,
                _ => return None,
            }
        }
    }
    Some(s)
}

/// Whether some order of `ops` (indices into `h`) explains the history.
fn brute_force(model: ModelKind, h: &History) -> bool {
    let ops: Vec<&Operation> = h.ops.iter().filter(|o| o.status != Status::Fail).collect();
    fn go(model: ModelKind, ops: &[&Operation], done: &mut Vec<bool>, store: &Store) -> bool {
        let all_ok_done = ops
            .iter()
            .zip(done.iter())
            .all(|(o, d)| *d || o.status == Status::Info);
        if all_ok_done {
            return true;
        }
        for i in 0..ops.len() {
            if done[i] {
                continue;
            }
            // Real time: no pending ok operation returned before this one was called.
            let blocked = (0..ops.len()).any(|j| {
                j != i
                    && !done[j]
                    && ops[j].status == Status::Ok
                    && ops[j].ret.is_some_and(|r| r < ops[i].call)
            });
            if blocked {
                continue;
            }
            if let Some(next) = apply(model, store, ops[i]) {
                done[i] = true;
                let found = go(model, ops, done, &next);
                done[i] = false;
                if found {
                    return true;
                }
            }
        }
        false
    }
    let mut done = vec![false; ops.len()];
    go(model, &ops, &mut done, &Store::default())
}

// ---------------------------------------------------------------------------------------
// Random histories.

/// Raw material for one operation.
#[derive(Debug, Clone)]
struct Raw {
    client: u64,
    call: u64,
    duration: u64,
    status: u8,
    f: u8,
    key: u8,
    a: i64,
    b: i64,
    /// Where in its interval the operation takes effect, in percent.
    point: u64,
}

fn raw() -> impl Strategy<Value = Raw> {
    (
        0u64..3,
        0u64..16,
        0u64..8,
        0u8..100,
        any::<u8>(),
        0u8..3,
        0i64..3,
        0i64..3,
        0u64..=100,
    )
        .prop_map(
            |(client, call, duration, status, f, key, a, b, point)| Raw {
                client,
                call,
                duration,
                status,
                f,
                key,
                a,
                b,
                point,
            },
        )
}

const TOKENS: [&str; 3] = ["a", "b", "c"];

/// A history built from `raws`: each operation takes effect at a random point of its
/// interval (an `info` one maybe never, maybe later), outputs are what the reference
/// semantics give in that order — so the history is linearizable — and then, when
/// `mutation` says so, one output is changed, which usually makes it not linearizable.
fn build(model: ModelKind, raws: &[Raw], mutation: Option<(usize, i64)>) -> History {
    let mut ops: Vec<Operation> = raws
        .iter()
        .map(|r| {
            let status = match r.status {
                0..=69 => Status::Ok,
                70..=84 => Status::Info,
                _ => Status::Fail,
            };
            let key = match (model, r.key) {
                (ModelKind::MultiRegister, _) => None,
                (ModelKind::Register | ModelKind::CasRegister | ModelKind::Mutex, 2) => None,
                (_, k) => Some(format!("k{}", k % 2)),
            };
            let (f, input) = match model {
                ModelKind::Register => match r.f % 2 {
                    0 => (Func::Read, Value::Nil),
                    _ => (Func::Write, Value::Int(r.a)),
                },
                ModelKind::CasRegister => match r.f % 3 {
                    0 => (Func::Read, Value::Nil),
                    1 => (Func::Write, Value::Int(r.a)),
                    _ => (
                        Func::Cas,
                        Value::List(vec![Value::Int(r.a), Value::Int(r.b)]),
                    ),
                },
                ModelKind::Kv => match r.f % 3 {
                    0 => (Func::Get, Value::Nil),
                    1 => (Func::Put, Value::Str(TOKENS[r.a as usize].into())),
                    _ => (Func::Append, Value::Str(TOKENS[r.a as usize].into())),
                },
                ModelKind::Bank => match r.f % 4 {
                    0 => (Func::Read, Value::Nil),
                    1 => (Func::Deposit, Value::Int(r.a)),
                    2 => (Func::Withdraw, Value::Int(r.a)),
                    _ => (Func::Open, Value::Nil),
                },
                ModelKind::MultiRegister => (Func::Txn, multi_txn(r)),
                // Acquire or release is decided at the operation's effect point, below.
                ModelKind::Mutex => (Func::Acquire, Value::Nil),
            };
            Operation {
                client: r.client,
                call: r.call,
                ret: match status {
                    Status::Info => None,
                    _ => Some(r.call + r.duration),
                },
                status,
                f,
                key,
                input,
                output: Value::Nil,
            }
        })
        .collect();
    // Effect points (scaled by 100 to stay in integers); info operations beyond 100%
    // never take effect.
    let mut points: Vec<(u64, usize)> = Vec::new();
    for (i, (r, op)) in raws.iter().zip(&ops).enumerate() {
        match op.status {
            Status::Ok => points.push((op.call * 100 + r.point * r.duration, i)),
            Status::Info if r.point <= 60 => points.push((op.call * 100 + r.point * 20, i)),
            _ => {}
        }
    }
    points.sort_unstable();
    let mut store = Store::default();
    for (_, i) in points {
        // A lock is taken when free and given back when held: linearizable by construction.
        if model == ModelKind::Mutex {
            let held = store.held.get(&ops[i].key).copied().unwrap_or(false);
            ops[i].f = if held { Func::Release } else { Func::Acquire };
        }
        // Compute the output the reference would give, with the op marked as known.
        let op = &ops[i];
        let output = expected_output(model, &store, op);
        let mut with_output = op.clone();
        if op.status == Status::Ok {
            with_output.output = output;
        }
        let probe = Operation {
            status: Status::Ok,
            ..with_output.clone()
        };
        if let Some(next) = apply(model, &store, &probe) {
            store = next;
        }
        ops[i] = with_output;
    }
    for (r, op) in raws.iter().zip(ops.iter_mut()) {
        if op.status == Status::Fail {
            op.output = Value::Int(r.b);
        }
    }
    if let Some((which, value)) = mutation {
        // Only outputs that the models look at: reads, gets, CASes and withdrawals.
        let oks: Vec<usize> = (0..ops.len())
            .filter(|&i| {
                ops[i].status == Status::Ok
                    && matches!(
                        ops[i].f,
                        Func::Read
                            | Func::Get
                            | Func::Cas
                            | Func::Withdraw
                            | Func::Deposit
                            | Func::Open
                            | Func::Txn
                            | Func::Acquire
                            | Func::Release
                    )
            })
            .collect();
        if !oks.is_empty() {
            let op = &mut ops[oks[which % oks.len()]];
            // A mutex operation has no output: the mutation turns it into the other one.
            op.f = match op.f {
                Func::Acquire => Func::Release,
                Func::Release => Func::Acquire,
                f => f,
            };
            op.output = match (op.f, &op.output) {
                (Func::Txn, Value::List(micros)) => Value::List(with_first_read(micros, value)),
                (Func::Cas | Func::Withdraw | Func::Deposit | Func::Open, Value::Bool(b)) => {
                    Value::Bool(!b)
                }
                (Func::Read, _) if value == 0 => Value::Nil,
                (Func::Read, _) => Value::Int(value),
                (Func::Get, Value::Str(s)) => {
                    Value::Str(format!("{s}{}", TOKENS[value as usize % 3]))
                }
                (_, other) => other.clone(),
            };
        }
    }
    History { ops }
}

/// What `op` returns in `store` under the reference semantics (for building histories).
fn expected_output(model: ModelKind, store: &Store, op: &Operation) -> Value {
    match (model, op.f) {
        (ModelKind::Register | ModelKind::CasRegister, Func::Read) => {
            match store.registers.get(&op.key).copied().flatten() {
                Some(v) => Value::Int(v),
                None => Value::Nil,
            }
        }
        (ModelKind::CasRegister, Func::Cas) => {
            let current = store.registers.get(&op.key).copied().flatten();
            match &op.input {
                Value::List(items) => Value::Bool(items.first() == Some(&opt_int(current))),
                _ => Value::Nil,
            }
        }
        (ModelKind::Kv, Func::Get) => Value::Str(
            op.key
                .as_ref()
                .and_then(|k| store.strings.get(k))
                .cloned()
                .unwrap_or_default(),
        ),
        (ModelKind::Bank, f) => {
            let balance = op.key.as_ref().and_then(|k| store.balances.get(k)).copied();
            match f {
                Func::Read => balance.map_or(Value::Nil, Value::Int),
                Func::Open | Func::Deposit => Value::Bool(balance.is_some() != (f == Func::Open)),
                Func::Withdraw => {
                    Value::Bool(matches!((balance, &op.input), (Some(b), Value::Int(a)) if b >= *a))
                }
                _ => Value::Nil,
            }
        }
        (ModelKind::MultiRegister, Func::Txn) => {
            let Value::List(micros) = &op.input else {
                return Value::Nil;
            };
            // Reads see the store and the transaction's own earlier writes.
            let mut now = store.multi.clone();
            let filled = micros.iter().map(|m| match m {
                Value::List(parts) => match parts.as_slice() {
                    [Value::Str(f), Value::Str(k), _] if f == "read" => {
                        let seen = now.get(k).copied();
                        Value::List(vec![
                            Value::Str(f.clone()),
                            Value::Str(k.clone()),
                            opt_int(seen),
                        ])
                    }
                    [Value::Str(_), Value::Str(k), Value::Int(x)] => {
                        now.insert(k.clone(), *x);
                        m.clone()
                    }
                    _ => m.clone(),
                },
                other => other.clone(),
            });
            Value::List(filled.collect())
        }
        _ => Value::Nil,
    }
}

/// A multi-register transaction of one or two micro-operations on keys `x` and `y`, its
/// reads not yet known (`nil`).
fn multi_txn(r: &Raw) -> Value {
    let key = |k: u8| Value::Str(if k % 2 == 0 { "x" } else { "y" }.into());
    let read = |k: u8| Value::List(vec![Value::Str("read".into()), key(k), Value::Nil]);
    let write =
        |k: u8, v: i64| Value::List(vec![Value::Str("write".into()), key(k), Value::Int(v)]);
    Value::List(match r.f % 4 {
        0 => vec![read(r.key)],
        1 => vec![write(r.key, r.a)],
        2 => vec![read(r.key), write(r.key + 1, r.b)],
        _ => vec![write(r.key, r.a), read(r.key + 1)],
    })
}

/// The transaction with its first read's value replaced (unchanged if it has no read).
fn with_first_read(micros: &[Value], value: i64) -> Vec<Value> {
    let mut out = micros.to_vec();
    let first_read = out.iter_mut().find(
        |m| matches!(m, Value::List(p) if matches!(p.first(), Some(Value::Str(f)) if f == "read")),
    );
    if let Some(Value::List(parts)) = first_read {
        parts[2] = Value::Int(value);
    }
    out
}

fn opt_int(v: Option<i64>) -> Value {
    v.map_or(Value::Nil, Value::Int)
}

fn model_of(i: u8) -> ModelKind {
    ModelKind::ALL[i as usize % ModelKind::ALL.len()]
}

/// Checks that an explanation is a real linearizable prefix followed by operations that
/// cannot go next.
fn check_explanation(
    model: ModelKind,
    h: &History,
    prefix: &[usize],
    stuck: &[usize],
    key: &Option<String>,
) {
    let in_partition = |op: &Operation| match model {
        ModelKind::MultiRegister => true,
        ModelKind::Register
        | ModelKind::CasRegister
        | ModelKind::Kv
        | ModelKind::Bank
        | ModelKind::Mutex => op.key == *key,
    };
    let mut store = Store::default();
    let mut placed = vec![false; h.ops.len()];
    for &i in prefix {
        let op = &h.ops[i];
        assert!(
            in_partition(op),
            "prefix op #{i} is in the explained partition"
        );
        assert_ne!(
            op.status,
            Status::Fail,
            "failed operations are never linearized"
        );
        // Real time: every ok op of the partition that returned before this call is placed.
        for (j, other) in h.ops.iter().enumerate() {
            if j != i && in_partition(other) && other.status == Status::Ok && other.precedes(op) {
                assert!(
                    placed[j],
                    "#{j} precedes #{i} in real time but is not before it"
                );
            }
        }
        store = apply(model, &store, op).unwrap_or_else(|| panic!("prefix op #{i} is legal"));
        placed[i] = true;
    }
    assert!(
        !stuck.is_empty(),
        "an explanation names the stuck operations"
    );
    for &i in stuck {
        assert!(!placed[i], "stuck op #{i} is not in the prefix");
        assert!(in_partition(&h.ops[i]));
        assert!(
            apply(model, &store, &h.ops[i]).is_none(),
            "stuck op #{i} really cannot take effect after the prefix"
        );
    }
}

/// Cases per property: `PROPTEST_CASES` if set, else 4096.
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4096)
}

fn verdict_is_valid(v: &Verdict) -> bool {
    match v {
        Verdict::Valid => true,
        Verdict::Invalid(_) => false,
        Verdict::Unknown(r) => panic!("unknown without a budget: {r}"),
    }
}

proptest! {
    // Small histories check in microseconds: many cases are cheap. PROPTEST_CASES raises
    // the count for a longer hunt.
    // Failures are reported with their minimal input; no regression file is written.
    #![proptest_config(ProptestConfig {
        cases: cases(),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn agrees_with_brute_force(
        m in 0u8..6,
        raws in prop::collection::vec(raw(), 1..9),
        mutate in any::<bool>(),
        which in any::<usize>(),
        value in 0i64..3,
    ) {
        let model = model_of(m);
        let h = build(model, &raws, mutate.then_some((which, value)));
        let expected = brute_force(model, &h);
        if !mutate {
            prop_assert!(expected, "an unmutated history is linearizable by construction");
        }
        let report = check_history(&h, model, &Budget::default()).expect("model accepts");
        prop_assert_eq!(verdict_is_valid(&report.verdict), expected, "history: {:#?}", h);
        if let Verdict::Invalid(e) = &report.verdict {
            check_explanation(model, &h, &e.prefix, &e.stuck, &e.key);
        }
    }

    #[test]
    fn agrees_with_brute_force_when_many_outcomes_are_unknown(
        m in 0u8..6,
        raws in prop::collection::vec(raw(), 1..9),
        unknown in prop::collection::vec(any::<bool>(), 9),
        mutate in any::<bool>(),
        which in any::<usize>(),
        value in 0i64..3,
    ) {
        // About half the operations time out (status 70..=84 is `info`).
        let raws: Vec<Raw> = raws
            .into_iter()
            .zip(unknown)
            .map(|(r, u)| Raw { status: if u { 75 } else { r.status % 70 }, ..r })
            .collect();
        let model = model_of(m);
        let h = build(model, &raws, mutate.then_some((which, value)));
        let expected = brute_force(model, &h);
        let report = check_history(&h, model, &Budget::default()).expect("model accepts");
        prop_assert_eq!(verdict_is_valid(&report.verdict), expected, "history: {:#?}", h);
        if let Verdict::Invalid(e) = &report.verdict {
            check_explanation(model, &h, &e.prefix, &e.stuck, &e.key);
        }
    }

    #[test]
    fn verdict_and_explanation_are_deterministic(
        m in 0u8..6,
        raws in prop::collection::vec(raw(), 1..10),
        which in any::<usize>(),
        value in 0i64..3,
    ) {
        let model = model_of(m);
        let h = build(model, &raws, Some((which, value)));
        let a = check_history(&h, model, &Budget::default()).expect("model accepts");
        let b = check_history(&h.clone(), model, &Budget::default()).expect("model accepts");
        prop_assert_eq!(&a, &b);
        // Serialized as the simulator writes it, too.
        prop_assert_eq!(serde_json::to_string(&a).ok(), serde_json::to_string(&b).ok());
    }

    #[test]
    fn step_budget_is_deterministic_and_sound(
        m in 0u8..6,
        raws in prop::collection::vec(raw(), 1..10),
        which in any::<usize>(),
        value in 0i64..3,
        max_steps in 0u64..40,
    ) {
        let model = model_of(m);
        let h = build(model, &raws, Some((which, value)));
        let budget = Budget { max_steps: Some(max_steps), ..Budget::default() };
        let a = check_history(&h, model, &budget).expect("model accepts");
        let b = check_history(&h, model, &budget).expect("model accepts");
        prop_assert_eq!(&a, &b);
        let full = check_history(&h, model, &Budget::default()).expect("model accepts");
        match (&a.verdict, &full.verdict) {
            (Verdict::Unknown(_), _) => {}
            (x, y) => prop_assert_eq!(verdict_is_valid(x), verdict_is_valid(y)),
        }
    }

    #[test]
    fn powerset_of_a_deterministic_model_agrees(
        raws in prop::collection::vec(raw(), 1..8),
        mutate in any::<bool>(),
        which in any::<usize>(),
        value in 0i64..3,
    ) {
        let h = build(ModelKind::CasRegister, &raws, mutate.then_some((which, value)));
        let direct = check_with_model(&h, &CasRegister, &Budget::default()).expect("accepts");
        let wrapped = check_with_model(&h, &PowerSet(AsNondeterministic), &Budget::default())
            .expect("accepts");
        prop_assert_eq!(verdict_is_valid(&direct.verdict), verdict_is_valid(&wrapped.verdict));
    }
}

/// The cas-register, written as a non-deterministic model (one successor or none).
struct AsNondeterministic;

impl NondeterministicModel for AsNondeterministic {
    type State = Option<i64>;
    /// f, key, input, output (`None` when unknown).
    type Op = (Func, Option<String>, Value, Option<Value>);

    fn name(&self) -> &str {
        "cas-register-as-nondeterministic"
    }

    fn init(&self) -> Vec<Option<i64>> {
        vec![None]
    }

    fn prepare(&self, op: &Operation) -> Result<Self::Op, String> {
        Ok((
            op.f,
            op.key.clone(),
            op.input.clone(),
            op.known_output().cloned(),
        ))
    }

    fn partition_key<'a>(&self, op: &'a Operation) -> Option<&'a str> {
        op.key.as_deref()
    }

    fn step(&self, state: &Option<i64>, op: &Self::Op) -> Vec<Option<i64>> {
        let (f, key, input, output) = op.clone();
        let operation = Operation {
            client: 0,
            call: 0,
            ret: None,
            status: if output.is_some() {
                Status::Ok
            } else {
                Status::Info
            },
            f,
            key: key.clone(),
            input,
            output: output.unwrap_or(Value::Nil),
        };
        let store = Store {
            registers: [(key.clone(), *state)].into_iter().collect(),
            ..Store::default()
        };
        apply(ModelKind::CasRegister, &store, &operation)
            .and_then(|s| s.registers.get(&key).copied())
            .into_iter()
            .collect()
    }
}

/// A counter whose `write` (here: increment) adds 1 or 2, nobody knows which: a truly
/// non-deterministic model. Reads return the counter.
struct SloppyCounter;

impl NondeterministicModel for SloppyCounter {
    type State = i64;
    type Op = (Func, Option<i64>);

    fn name(&self) -> &str {
        "sloppy-counter"
    }

    fn init(&self) -> Vec<i64> {
        vec![0]
    }

    fn prepare(&self, op: &Operation) -> Result<(Func, Option<i64>), String> {
        match (op.f, op.known_output()) {
            (Func::Write, _) => Ok((Func::Write, None)),
            (Func::Read, None) => Ok((Func::Read, None)),
            (Func::Read, Some(Value::Int(v))) => Ok((Func::Read, Some(*v))),
            _ => Err("the sloppy counter accepts write (increment) and read".into()),
        }
    }

    fn step(&self, state: &i64, op: &(Func, Option<i64>)) -> Vec<i64> {
        match op {
            (Func::Write, _) => vec![state + 1, state + 2],
            (_, Some(v)) if v == state => vec![*state],
            (_, Some(_)) => vec![],
            (_, None) => vec![*state],
        }
    }
}

fn op(client: u64, call: u64, ret: u64, f: Func, output: Value) -> Operation {
    Operation {
        client,
        call,
        ret: Some(ret),
        status: Status::Ok,
        f,
        key: None,
        input: Value::Nil,
        output,
    }
}

#[test]
fn nondeterministic_models_track_every_possible_state() {
    let m = PowerSet(SloppyCounter);
    let check = |ops: Vec<Operation>| {
        let report = check_with_model(&History { ops }, &m, &Budget::default()).expect("accepts");
        verdict_is_valid(&report.verdict)
    };
    // Two increments: 2, 3 or 4.
    for (seen, valid) in [(1, false), (2, true), (3, true), (4, true), (5, false)] {
        let ops = vec![
            op(0, 0, 1, Func::Write, Value::Nil),
            op(0, 2, 3, Func::Write, Value::Nil),
            op(1, 4, 5, Func::Read, Value::Int(seen)),
        ];
        assert_eq!(check(ops), valid, "reading {seen} after two increments");
    }
    // A read of 3 then a read of 2: the counter never decreases.
    let ops = vec![
        op(0, 0, 1, Func::Write, Value::Nil),
        op(0, 2, 3, Func::Write, Value::Nil),
        op(1, 4, 5, Func::Read, Value::Int(3)),
        op(1, 6, 7, Func::Read, Value::Int(2)),
    ];
    assert!(!check(ops));
}

#[test]
fn the_generator_makes_both_kinds_and_they_agree() {
    // A fixed sweep (no timing, no randomness at run time): the random tests above must
    // see linearizable and non-linearizable histories of every model.
    let mut seen = BTreeMap::new();
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = |n: u64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % n
    };
    let models = ModelKind::ALL.len() as u64;
    for round in 0..200 * models {
        let model = ModelKind::ALL[(round % models) as usize];
        let len = 1 + next(7) as usize;
        let raws: Vec<Raw> = (0..len)
            .map(|_| Raw {
                client: next(3),
                call: next(16),
                duration: next(8),
                status: next(100) as u8,
                f: next(256) as u8,
                key: next(3) as u8,
                a: next(3) as i64,
                b: next(3) as i64,
                point: next(101),
            })
            .collect();
        let h = build(model, &raws, Some((next(64) as usize, next(3) as i64)));
        let expected = brute_force(model, &h);
        let report = check_history(&h, model, &Budget::default()).expect("accepts");
        assert_eq!(verdict_is_valid(&report.verdict), expected, "{h:#?}");
        *seen.entry((model.name(), expected)).or_insert(0) += 1;
    }
    for model in ModelKind::ALL {
        for valid in [true, false] {
            let n = seen.get(&(model.name(), valid)).copied().unwrap_or(0);
            assert!(
                n >= 10,
                "{model}: only {n} histories with linearizable = {valid}"
            );
        }
    }
}

#[test]
fn unknown_operations_may_take_effect_late_or_never() {
    let write = |client, call, v, status| Operation {
        client,
        call,
        ret: (status == Status::Ok).then_some(call + 1),
        status,
        f: Func::Write,
        key: None,
        input: Value::Int(v),
        output: Value::Nil,
    };
    let read = |client, call, v: Value| Operation {
        output: v,
        ..op(client, call, call + 1, Func::Read, Value::Nil)
    };
    let valid = |ops: Vec<Operation>| {
        let r = check_history(&History { ops }, ModelKind::Register, &Budget::default());
        verdict_is_valid(&r.expect("accepts").verdict)
    };
    // An info write may take effect long after its call...
    assert!(valid(vec![
        write(0, 0, 1, Status::Info),
        read(1, 10, Value::Nil),
        read(1, 20, Value::Int(1)),
    ]));
    // ...or never...
    assert!(valid(vec![
        write(0, 0, 1, Status::Info),
        read(1, 10, Value::Nil)
    ]));
    // ...but not before its call.
    assert!(!valid(vec![
        read(1, 0, Value::Int(1)),
        write(0, 10, 1, Status::Info)
    ]));
    // A failed write never happened.
    assert!(!valid(vec![
        write(0, 0, 1, Status::Fail),
        read(1, 10, Value::Int(1))
    ]));
}

#[test]
fn identical_unknown_operations_can_each_take_effect() {
    // Two timed-out `write 1`s, called at 0 and 5: the first must explain the read at
    // 1..2, the second the read at 6..7, after an ok `write 2` in between. (The search
    // treats equal unknown operations as interchangeable; it must still use both.)
    let info_write = |client, call| Operation {
        client,
        call,
        ret: None,
        status: Status::Info,
        f: Func::Write,
        key: None,
        input: Value::Int(1),
        output: Value::Nil,
    };
    let read = |client, call| Operation {
        output: Value::Int(1),
        ..op(client, call, call + 1, Func::Read, Value::Nil)
    };
    let write2 = Operation {
        input: Value::Int(2),
        ..op(2, 3, 4, Func::Write, Value::Nil)
    };
    let ops = vec![
        info_write(0, 0),
        read(1, 1),
        write2,
        info_write(3, 5),
        read(1, 6),
    ];
    let h = History { ops };
    assert!(brute_force(ModelKind::Register, &h));
    let report = check_history(&h, ModelKind::Register, &Budget::default()).expect("accepts");
    assert_eq!(report.verdict, Verdict::Valid);
    // Without the second timed-out write, the last read has nothing to explain it.
    let mut fewer = h.clone();
    fewer.ops.remove(3);
    let report = check_history(&fewer, ModelKind::Register, &Budget::default()).expect("ok");
    assert!(matches!(report.verdict, Verdict::Invalid(_)));
}
