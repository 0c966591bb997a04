//! The ledger's own tests: deciding, applying, replay and transfers.

use super::*;
use crate::rng::SubStream;

fn decider(rng: &mut SubStream) -> Decider<'_> {
    Decider {
        rng,
        clock_ms: 0,
        shard: super::super::shard_of("a", 2),
        shards: 2,
    }
}

#[test]
fn test_accounts_sit_on_different_shards() {
    // The transfer tests below rely on "a" and "b" living on different shards.
    assert_ne!(
        super::super::shard_of("a", 2),
        super::super::shard_of("b", 2)
    );
}

fn entry(index: u64, payload: Payload) -> LogEntry {
    LogEntry {
        index,
        term: 1,
        payload,
    }
}

fn commit(ledger: &mut Ledger, req: ReqId, cmd: Command, rng: &mut SubStream) -> Vec<Effect> {
    let Decision::Append(payload) = ledger.decide(req, &cmd, &mut decider(rng)) else {
        panic!("expected an append");
    };
    let index = ledger.applied + 1;
    ledger.apply(&entry(index, payload), &mut decider(rng))
}

fn open(l: &mut Ledger, req: ReqId, account: &str, rng: &mut SubStream) {
    let effects = commit(
        l,
        req,
        Command::Open {
            account: account.into(),
        },
        rng,
    );
    assert_eq!(
        effects,
        vec![Effect::Reply(req, OpResult::Value(Value::Bool(true)))]
    );
}

#[test]
fn accounts_exist_only_once_opened() {
    let mut rng = SubStream::new(4, "t");
    let mut l = Ledger::default();
    let r = |seq| ReqId { client: 2, seq };
    let refused = |b| vec![Effect::Reply(r(b), OpResult::Value(Value::Bool(false)))];
    let deposit = Command::Deposit {
        account: "a".into(),
        amount: 5,
    };
    assert_eq!(commit(&mut l, r(1), deposit.clone(), &mut rng), refused(1));
    assert_eq!(
        l.read(&Command::Read {
            account: "a".into()
        }),
        OpResult::Value(Value::Nil)
    );
    open(&mut l, r(2), "a", &mut rng);
    let again = commit(
        &mut l,
        r(3),
        Command::Open {
            account: "a".into(),
        },
        &mut rng,
    );
    assert_eq!(again, refused(3), "opening an open account reports false");
    commit(&mut l, r(4), deposit, &mut rng);
    assert_eq!(
        l.read(&Command::Read {
            account: "a".into()
        }),
        OpResult::Value(Value::Int(5))
    );
}

#[test]
fn withdrawals_never_overdraw_and_retries_apply_once() {
    let mut rng = SubStream::new(1, "t");
    let mut l = Ledger::default();
    let r = |seq| ReqId { client: 9, seq };
    open(&mut l, r(1), "a", &mut rng);
    commit(
        &mut l,
        r(2),
        Command::Deposit {
            account: "a".into(),
            amount: 30,
        },
        &mut rng,
    );
    let e = commit(
        &mut l,
        r(3),
        Command::Withdraw {
            account: "a".into(),
            amount: 50,
        },
        &mut rng,
    );
    assert_eq!(
        e,
        vec![Effect::Reply(r(3), OpResult::Value(Value::Bool(false)))]
    );
    assert_eq!(l.balance("a"), 30);
    // The same request decided again (a retry) is answered, not re-applied.
    assert_eq!(
        l.decide(
            r(3),
            &Command::Withdraw {
                account: "a".into(),
                amount: 50
            },
            &mut decider(&mut rng)
        ),
        Decision::Reply(OpResult::Value(Value::Bool(false)))
    );
    // A duplicate entry that made it into the log is skipped at apply time.
    let dup = Payload::Events {
        req: Some(r(2)),
        events: vec![Event::Deposited {
            account: "a".into(),
            amount: 30,
            meta: Meta { id: 0, at_ms: 0 },
        }],
        reply: Some(OpResult::Value(Value::Bool(true))),
    };
    let index = l.applied + 1;
    l.apply(&entry(index, dup), &mut decider(&mut rng));
    assert_eq!(l.balance("a"), 30);
}

#[test]
fn cross_shard_transfer_locks_until_decided() {
    let mut rng = SubStream::new(2, "t");
    let mut l = Ledger::default();
    let r = |seq| ReqId { client: 1, seq };
    open(&mut l, r(1), "a", &mut rng);
    commit(
        &mut l,
        r(2),
        Command::Deposit {
            account: "a".into(),
            amount: 100,
        },
        &mut rng,
    );
    let effects = commit(
        &mut l,
        r(3),
        Command::Transfer {
            from: "a".into(),
            to: "b".into(),
            amount: 60,
        },
        &mut rng,
    );
    let Some(Effect::SendPrepare(txn)) = effects.first().cloned() else {
        panic!("{effects:?}");
    };
    assert!(l.locked("a"));
    assert_eq!(
        l.decide(
            r(4),
            &Command::Read {
                account: "a".into()
            },
            &mut decider(&mut rng)
        ),
        Decision::Park
    );
    let index = l.applied + 1;
    let decided = Payload::Events {
        req: None,
        events: vec![Event::TxnDecided {
            txn,
            commit: true,
            refused: false,
        }],
        reply: None,
    };
    let effects = l.apply(&entry(index, decided), &mut decider(&mut rng));
    let applied = OpResult::Transfer {
        withdrew: Some(true),
        deposited: Some(true),
    };
    assert!(effects.contains(&Effect::Reply(r(3), applied)));
    assert!(!l.locked("a"));
    assert_eq!(l.balance("a"), 40);
}

#[test]
fn abort_before_prepare_refuses_the_late_prepare() {
    let mut rng = SubStream::new(3, "t");
    let mut l = Ledger::default();
    let applied = |l: &mut Ledger, events: Vec<Event>, rng: &mut SubStream| {
        let index = l.applied + 1;
        l.apply(
            &entry(
                index,
                Payload::Events {
                    req: None,
                    events,
                    reply: None,
                },
            ),
            &mut decider(rng),
        )
    };
    applied(
        &mut l,
        vec![Event::TxnApplied {
            txn: 7,
            commit: false,
            coordinator: 1,
        }],
        &mut rng,
    );
    let effects = applied(
        &mut l,
        vec![Event::TxnPrepared {
            txn: 7,
            to: "b".into(),
            amount: 5,
            coordinator: 1,
        }],
        &mut rng,
    );
    assert!(effects.is_empty());
    assert!(!l.locked("b"));
}
