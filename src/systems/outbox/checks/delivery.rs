//! What the relay published and the consumers applied: every committed event published
//! once it committed and none that did not (`published_committed`), one aggregate's events
//! in order (`aggregate_order`), and each event's effect applied once (`exactly_once`).

use std::collections::{BTreeMap, BTreeSet};

use crate::check::CheckOutcome;
use crate::systems::outbox::{Change, Event, OutboxObs};

use super::{event_ops, fail, Out, OutboxFinal};

/// Committed events by id, with their commit time (ns).
type CommittedEvents = BTreeMap<u64, (Event, u64)>;
/// The broker's committed records: (partition, offset) → event id.
type Published = BTreeMap<(u32, u64), u64>;

/// Committed events, and the broker's committed records in (partition, offset) order —
/// those a read-committed consumer can see (none of an aborted or open transaction).
fn committed_and_published(out: &Out) -> (CommittedEvents, Published) {
    let invisible = out.finals.as_ref().map(|f| &f.invisible);
    let visible = |p: u32, o: u64| match invisible.and_then(|i| i.get(&p)) {
        Some((lso, aborted)) => o < *lso && !aborted.iter().any(|&(a, b)| a <= o && o <= b),
        None => true,
    };
    let mut committed = BTreeMap::new();
    let mut published = BTreeMap::new();
    for o in &out.observations {
        match &o.obs {
            OutboxObs::Committed(e) => {
                committed.insert(e.id, (e.clone(), o.t_ns));
            }
            OutboxObs::Appended {
                partition,
                offset,
                records,
                ..
            } => {
                for (i, &id) in records.iter().enumerate() {
                    let at = offset + i as u64;
                    if visible(*partition, at) {
                        published.insert((*partition, at), id);
                    }
                }
            }
            _ => {}
        }
    }
    (committed, published)
}

pub(super) fn published_committed(check: &str, out: &Out, finals: &OutboxFinal) -> CheckOutcome {
    let (committed, published) = committed_and_published(out);
    let in_broker: BTreeSet<u64> = published.values().copied().collect();
    if let Some(&phantom) = in_broker.iter().find(|id| !committed.contains_key(id)) {
        return fail(
            check,
            format!("event {phantom} is in the broker, but no transaction producing it committed: a phantom event"),
            event_ops(&out.history, phantom, None),
        );
    }
    let lost: Vec<u64> = committed
        .keys()
        .copied()
        .filter(|id| !in_broker.contains(id))
        .collect();
    if let (Some(&id), true) = (lost.first(), finals.drained) {
        let (e, _) = &committed[&id];
        return fail(
            check,
            format!(
                "{} committed event(s) never reached the broker though the service records them as published, e.g. {id} ({} of order {} v{})",
                lost.len(),
                e.change.name(),
                e.order,
                e.version
            ),
            event_ops(&out.history, id, Some(&e.order)),
        );
    }
    CheckOutcome::pass(
        check,
        format!(
            "{} events committed, {} in the broker ({} records with duplicates), no phantom",
            committed.len(),
            in_broker.len(),
            published.len()
        ),
    )
}

pub(super) fn aggregate_order(check: &str, out: &Out) -> CheckOutcome {
    let (committed, published) = committed_and_published(out);
    let mut seen: BTreeSet<u64> = BTreeSet::new();
    let mut version: BTreeMap<&str, u32> = BTreeMap::new();
    for (&(partition, offset), id) in &published {
        if !seen.insert(*id) {
            continue; // A duplicate record of an event already placed.
        }
        let Some((e, _)) = committed.get(id) else {
            continue;
        };
        let at = version.entry(&e.order).or_insert(0);
        if e.version != *at + 1 {
            return fail(
                check,
                format!("order {}: version {} at partition {partition} offset {offset} follows version {}", e.order, e.version, at),
                event_ops(&out.history, *id, Some(&e.order)),
            );
        }
        *at = e.version;
    }
    CheckOutcome::pass(
        check,
        format!(
            "{} orders, each one's events in version order without gaps",
            version.len()
        ),
    )
}

pub(super) fn exactly_once(check: &str, out: &Out, finals: &OutboxFinal) -> CheckOutcome {
    let mut applied: BTreeMap<(&str, u64), u32> = BTreeMap::new();
    for o in &out.observations {
        if let OutboxObs::Applied {
            group,
            event,
            fresh: true,
        } = o.obs
        {
            let n = applied.entry((group, event)).or_insert(0);
            *n += 1;
            if *n > 1 {
                return fail(
                    check,
                    format!("group {group} applied event {event} twice"),
                    vec![],
                );
            }
        }
    }
    let (committed, published) = committed_and_published(out);
    for group in ["loyalty", "shipping"] {
        let skipped = published.iter().find(|(&(p, offset), id)| {
            let committed_offset = finals
                .offsets
                .get(&(group.to_string(), p))
                .copied()
                .unwrap_or(0);
            offset < committed_offset && !applied.contains_key(&(group, **id))
        });
        if let Some((&(p, offset), id)) = skipped {
            return fail(
                check,
                format!("group {group} committed its offset past event {id} (partition {p} offset {offset}) without applying it"),
                event_ops(&out.history, *id, None),
            );
        }
    }
    if let Some(points) = &finals.points {
        if let Some(problem) = points_problem(points, &committed, &published, &finals.offsets) {
            return fail(check, problem, vec![]);
        }
    }
    let redelivered = (out.observations.iter())
        .filter(|o| matches!(o.obs, OutboxObs::Applied { fresh: false, .. }))
        .count();
    CheckOutcome::pass(
        check,
        format!(
            "{} effects applied, each event at most once per group ({redelivered} redeliveries ignored)",
            applied.len()
        ),
    )
}

/// Loyalty points must be the sum of the effects of the events the group has consumed.
fn points_problem(
    points: &BTreeMap<String, i64>,
    committed: &CommittedEvents,
    published: &Published,
    offsets: &BTreeMap<(String, u32), u64>,
) -> Option<String> {
    let mut expected: BTreeMap<String, i64> = BTreeMap::new();
    let mut counted = BTreeSet::new();
    for (&(p, offset), id) in published {
        let consumed = offsets
            .get(&("loyalty".to_string(), p))
            .copied()
            .unwrap_or(0);
        if offset >= consumed || !counted.insert(*id) {
            continue;
        }
        let Some((e, _)) = committed.get(id) else {
            continue;
        };
        let delta = match e.change {
            Change::Pay => e.amount,
            Change::Cancel if e.refund => -e.amount,
            _ => 0,
        };
        *expected.entry(e.customer.clone()).or_insert(0) += delta;
    }
    let actual: BTreeMap<String, i64> = points
        .iter()
        .filter(|(_, &v)| v != 0)
        .map(|(k, v)| (k.clone(), *v))
        .collect();
    expected.retain(|_, v| *v != 0);
    (actual != expected).then(|| {
        format!("loyalty points {actual:?} differ from the consumed events' effects {expected:?}")
    })
}
