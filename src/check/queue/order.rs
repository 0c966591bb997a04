//! The passes over each key's log that need no transactions: inconsistent offsets,
//! duplicates, lost and unseen writes, skips and going backwards.

use std::collections::{BTreeMap, BTreeSet};

use super::read::{Micro, Step};
use super::Report;
use crate::history::Value;

/// Each key's log: offset → (value, the first operation that saw it there).
pub(super) type Logs = BTreeMap<Value, BTreeMap<i64, (Value, usize)>>;

/// Each key's log, offset → value, from everything seen; reports inconsistent offsets
/// and duplicates on the way.
pub(super) fn logs(steps: &[Step], report: &mut Report) -> Logs {
    let mut logs: Logs = BTreeMap::new();
    let mut seen = |key: &Value, offset: i64, value: &Value, op: usize, report: &mut Report| {
        let log = logs.entry(key.clone()).or_default();
        match log.get(&offset) {
            Some((v, first)) if v != value => report.add(
                "inconsistent-offsets",
                format!("key {key} offset {offset} holds {v} (operation {first}) and {value} (operation {op})"),
                vec![*first, op],
            ),
            Some(_) => {}
            None => {
                log.insert(offset, (value.clone(), op));
            }
        }
    };
    for s in steps.iter().filter(|s| s.ok()) {
        for m in &s.micros {
            match m {
                Micro::Send {
                    key,
                    value,
                    offset: Some(o),
                } => seen(key, *o, value, s.op, report),
                Micro::Send { .. } => {}
                Micro::Poll { key, records } => {
                    report.polled += records.len();
                    for (o, v) in records {
                        seen(key, *o, v, s.op, report);
                    }
                }
            }
        }
    }
    for (key, log) in &logs {
        let mut at: BTreeMap<&Value, Vec<(i64, usize)>> = BTreeMap::new();
        for (o, (v, op)) in log {
            at.entry(v).or_default().push((*o, *op));
        }
        for (v, places) in at.into_iter().filter(|(_, p)| p.len() > 1) {
            let offsets: Vec<i64> = places.iter().map(|p| p.0).collect();
            report.add(
                "duplicate",
                format!("key {key}: value {v} at offsets {offsets:?}"),
                places.iter().map(|p| p.1).collect(),
            );
        }
    }
    logs
}

/// Lost and unseen writes, and sends whose offsets go backwards.
pub(super) fn sends(steps: &[Step], logs: &Logs, report: &mut Report) {
    // What polls saw: per key, the values and the highest offset.
    let mut polled: BTreeMap<&Value, (BTreeSet<&Value>, i64)> = BTreeMap::new();
    for s in steps.iter().filter(|s| s.ok()) {
        for m in &s.micros {
            if let Micro::Poll { key, records } = m {
                let entry = polled.entry(key).or_insert((BTreeSet::new(), i64::MIN));
                for (o, v) in records {
                    entry.0.insert(v);
                    entry.1 = entry.1.max(*o);
                }
            }
        }
    }
    // Per (process, key): the offset of its last send and the operation that sent it.
    // Sends within one operation are the transactional pass's (`int-nonmonotonic-send`).
    let mut last_send: BTreeMap<(u64, &Value), (i64, usize)> = BTreeMap::new();
    for s in steps.iter().filter(|s| s.ok()) {
        for m in &s.micros {
            let Micro::Send {
                key,
                value,
                offset: Some(o),
            } = m
            else {
                continue;
            };
            report.sends += 1;
            if let Some((prev, op)) = last_send.insert((s.process, key), (*o, s.op)) {
                if *o <= prev && op != s.op {
                    report.add(
                        "nonmonotonic-send",
                        format!(
                            "process {} sent to key {key} at offset {o} after offset {prev}",
                            s.process
                        ),
                        vec![s.op],
                    );
                }
            }
            let (values, highest) = polled
                .get(key)
                .map_or((None, i64::MIN), |(vs, h)| (Some(vs), *h));
            if values.is_some_and(|vs| vs.contains(value)) {
                continue;
            }
            let later = logs
                .get(key)
                .and_then(|l| o.checked_add(1).and_then(|next| l.range(next..).next()))
                .is_some()
                && highest > *o;
            if later {
                report.add("lost-write", format!("key {key}: {value} acknowledged at offset {o}, never polled, though offset {highest} was"), vec![s.op]);
            } else {
                report.add(
                    "unseen",
                    format!("key {key}: {value} acknowledged at offset {o}, not polled yet"),
                    vec![s.op],
                );
            }
        }
    }
}

/// Skips and going backwards, within one poll and between a process's polls of a key
/// (until it is assigned keys anew).
pub(super) fn polls(steps: &[Step], logs: &Logs, report: &mut Report) {
    let mut last: BTreeMap<(u64, &Value), (i64, usize)> = BTreeMap::new();
    // Offsets strictly between a and b (none when they are adjacent, equal or reversed,
    // and no overflow at the ends of the offset range).
    let holds_between = |key: &Value, a: i64, b: i64| {
        let from = a.checked_add(1).filter(|&from| from < b)?;
        logs.get(key)
            .and_then(|l| l.range(from..b).next())
            .map(|(o, _)| *o)
    };
    for s in steps {
        if s.reset || !s.ok() {
            // A new assignment, or a poll whose outcome is unknown (a crashed client).
            last.retain(|(p, _), _| *p != s.process);
            continue;
        }
        for m in &s.micros {
            let Micro::Poll { key, records } = m else {
                continue;
            };
            for (i, &(o, _)) in records.iter().enumerate() {
                let internal = i > 0;
                let prev = if internal {
                    Some((records[i - 1].0, s.op))
                } else {
                    last.get(&(s.process, key)).copied()
                };
                let Some((p, prev_op)) = prev else { continue };
                let (back, skip) = if internal {
                    ("int-nonmonotonic-poll", "int-poll-skip")
                } else {
                    ("nonmonotonic-poll", "poll-skip")
                };
                if o <= p {
                    report.add(
                        back,
                        format!(
                            "process {} polled key {key} at offset {o} after {p}",
                            s.process
                        ),
                        vec![prev_op, s.op],
                    );
                } else if let Some(missed) = holds_between(key, p, o) {
                    report.add(skip, format!("process {} polled key {key} at offset {o} after {p}, skipping offset {missed}", s.process), vec![prev_op, s.op]);
                }
            }
            if let Some(&(o, _)) = records.last() {
                last.insert((s.process, key), (o, s.op));
            }
        }
    }
}
