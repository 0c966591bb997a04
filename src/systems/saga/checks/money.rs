//! Conservation: stock and money neither appear nor vanish — every database's balances
//! and stock equal the start plus the effects of the steps in effect.

use std::collections::{BTreeMap, BTreeSet};

use crate::check::{CheckOutcome, Verdict};
use crate::history::{Func, History, Value};
use crate::plan::Plan;
use crate::systems::components::db::Db;
use crate::systems::saga::flow::Service;
use crate::systems::saga::participant::Row;
use crate::systems::saga::{Protocol, Saga, SagaId, SagaObs};

use super::atomicity::in_effect;
use super::{Out, SagaFinal};

fn int(db: &Db<Row>, table: &str, key: &str, initial: i64) -> i64 {
    match db.get(table, key) {
        Some(Row::Int(v)) => *v,
        _ => initial,
    }
}

/// Orders by saga: (customer, item, qty), from the history.
fn orders(history: &History) -> BTreeMap<SagaId, (String, String, i64)> {
    let mut orders = BTreeMap::new();
    for op in &history.ops {
        if let (Func::System("order"), Some(key), Value::List(args)) = (op.f, &op.key, &op.input) {
            if let (Some(id), [Value::Str(c), Value::Str(i), Value::Int(q)]) =
                (SagaId::parse(key), args.as_slice())
            {
                orders.insert(id, (c.clone(), i.clone(), *q));
            }
        }
    }
    orders
}

/// Sagas (or 2PC transactions) whose change at `service` is in effect.
fn changed_at(
    plan: &Plan<Saga>,
    out: &Out,
    finals: &SagaFinal,
    step: u8,
    service: Service,
) -> BTreeSet<SagaId> {
    if plan.params.protocol == Protocol::Saga {
        return in_effect(finals)
            .into_iter()
            .filter(|&(_, s)| s == step)
            .map(|(id, _)| id)
            .collect();
    }
    out.observations
        .iter()
        .filter_map(|o| match o.obs {
            SagaObs::Resolved {
                service: s,
                txn,
                commit: true,
            } if s == service => Some(txn),
            _ => None,
        })
        .collect()
}

pub(super) fn conservation(
    check: &str,
    plan: &Plan<Saga>,
    out: &Out,
    finals: &SagaFinal,
) -> CheckOutcome {
    let (Some(Some(stock)), Some(Some(pay))) = (
        finals.dbs.get(&Service::Stock),
        finals.dbs.get(&Service::Payment),
    ) else {
        return CheckOutcome::pass(
            check,
            "nothing to conserve in this flow (or a service was down at the end)",
        );
    };
    let p = &plan.params;
    let orders = orders(&out.history);
    let keys = plan.head.params.workload.keys;
    let reserved = changed_at(plan, out, finals, 0, Service::Stock);
    for k in 0..keys {
        let item = format!("item{k}");
        let taken = p.initial_stock as i64 - int(stock, "stock", &item, p.initial_stock as i64);
        let owed: i64 = reserved
            .iter()
            .filter_map(|id| orders.get(id))
            .filter(|o| o.1 == item)
            .map(|o| o.2)
            .sum();
        if taken != owed {
            let message = format!(
                "{item}: {taken} units left the stock, but the orders in effect took {owed}"
            );
            return CheckOutcome::fail(check, Verdict::Violation, message, vec![]);
        }
    }
    let balances: i64 = (0..keys)
        .map(|k| {
            int(
                pay,
                "balance",
                &format!("cust{k}"),
                p.initial_balance as i64,
            )
        })
        .sum();
    let merchant = int(pay, "merchant", "m", 0);
    let charged = changed_at(plan, out, finals, 1, Service::Payment);
    let owed: i64 = charged
        .iter()
        .filter_map(|id| orders.get(id))
        .map(|o| o.2 * p.price as i64)
        .sum();
    let total = keys as i64 * p.initial_balance as i64;
    if balances + merchant != total || merchant != owed {
        let message = format!(
            "money: customers hold {balances} and the merchant {merchant} (sum {}, expected {total}); the charges in effect amount to {owed}",
            balances + merchant
        );
        return CheckOutcome::fail(check, Verdict::Violation, message, vec![]);
    }
    CheckOutcome::pass(
        check,
        format!(
            "stock and money conserved: {} orders charged {owed} in all",
            charged.len()
        ),
    )
}
