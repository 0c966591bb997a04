//! The top of the timeline page: what ran (scenario, seed, planted bugs, how to replay
//! it), how it ended (the panic, the checks, each with jumps to the operations it names)
//! and what happened on the way (counts of operations, messages, faults; probes reached).

use std::collections::BTreeMap;

use super::super::model::ms;
use super::super::{esc, ms_text, op_label};
use super::{Ctx, Out, JUMPS_PER_CHECK_MAX};
use crate::check::Verdict;
use crate::runner::commands::replay_command;
use crate::scenario::Scenario;

/// The header: what ran (scenario, seed, planted bugs, how to replay it), how it ended
/// (the panic, the checks) and what happened on the way (counts, probes).
pub(super) fn header(o: &mut Out, c: &Ctx<'_>, scenario: &Scenario) {
    let verdict = Verdict::name(c.exec.verdict);
    o.s("<header>\n");
    w!(
        o,
        "<h1><span class=\"scn\">{}</span> <span class=\"seed\">seed {}</span> <span class=\"verdict v-{verdict}\">{}</span></h1>\n",
        esc(&scenario.name),
        c.plan.head().id(),
        verdict.to_uppercase()
    );
    if let Some(d) = &scenario.file.description {
        w!(o, "<p class=\"desc\">{}</p>\n", esc(d));
    }
    if !c.plan.bug_names().is_empty() {
        w!(
            o,
            "<p class=\"desc\">planted bugs: <b>{}</b></p>\n",
            esc(&c.plan.bug_names().join(", "))
        );
    }
    w!(
        o,
        "<p class=\"replay\">replay: <code title=\"click to select\">{}</code></p>\n",
        esc(&replay_command(&scenario.path, c.plan.head().id()))
    );
    panic_box(o, c);
    checks_table(o, c);
    stats(o, c);
    probes(o, c);
    o.s("</header>\n");
}

/// The panic that stopped the run, if there was one, with a button that shows its mark.
fn panic_box(o: &mut Out, c: &Ctx<'_>) {
    let Some(p) = &c.exec.panic else {
        return;
    };
    let index = c
        .model
        .panics
        .iter()
        .position(|x| x.node == p.node && x.t == ms(p.t_ns));
    w!(
        o,
        "<div class=\"panic\"><b>panic in {} at {}</b>{}<pre>{}</pre></div>\n",
        esc(&p.name),
        ms_text(ms(p.t_ns)),
        index.map_or(String::new(), |i| format!(
            " <button class=\"jump\" data-jump=\"panic-mark-{i}\">show</button>"
        )),
        esc(&p.message)
    );
}

/// One row per check: its verdict and message and, for a failing check, buttons that
/// jump to the operations it names.
fn checks_table(o: &mut Out, c: &Ctx<'_>) {
    let exec = c.exec;
    o.s("<table class=\"checks\">\n");
    if exec.checks.is_empty() {
        o.s(if exec.panic.is_some() {
            "<tr><td colspan=\"3\" class=\"muted\">no checks ran: the run stopped at the panic</td></tr>\n"
        } else {
            "<tr><td colspan=\"3\" class=\"muted\">no checks ran</td></tr>\n"
        });
    }
    for check in &exec.checks {
        let v = Verdict::name(check.verdict);
        w!(
            o,
            "<tr><th>{}</th><td><span class=\"verdict small v-{v}\">{v}</span></td><td>{}",
            esc(&check.check),
            if check.verdict == Verdict::Pass {
                esc(&check.message)
            } else {
                super::super::link_ops(&check.message, "", c.exec.history.ops.len())
            }
        );
        if check.verdict != Verdict::Pass && !check.ops.is_empty() {
            check_jumps(o, c, &check.ops);
        }
        o.s("</td></tr>\n");
    }
    o.s("</table>\n");
}

/// Jump buttons to the operations a failing check names, in history order; past
/// [`JUMPS_PER_CHECK_MAX`], only how many more there are.
fn check_jumps(o: &mut Out, c: &Ctx<'_>, ops: &[usize]) {
    o.s("<div class=\"jumps\">");
    let mut listed: Vec<usize> = ops.to_vec();
    listed.sort_unstable();
    listed.dedup();
    for &op in listed.iter().take(JUMPS_PER_CHECK_MAX) {
        let Some(operation) = c.exec.history.ops.get(op) else {
            continue;
        };
        w!(
            o,
            "<button class=\"jump\" data-jump=\"op-{op}\">#{op} {} · {}</button>",
            esc(&c.name(usize::try_from(operation.client).unwrap_or(usize::MAX))),
            esc(&op_label(operation))
        );
    }
    if listed.len() > JUMPS_PER_CHECK_MAX {
        w!(
            o,
            "<span class=\"muted\"> and {} more</span>",
            listed.len() - JUMPS_PER_CHECK_MAX
        );
    }
    o.s("</div>");
}

/// A breakdown of a count by kind: `loss 3 · partition 12`.
fn breakdown(map: &BTreeMap<&'static str, u64>) -> String {
    map.iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect::<Vec<_>>()
        .join(" · ")
}

/// The counts: operations, messages, drops, held messages, faults, and the run itself.
fn stats(o: &mut Out, c: &Ctx<'_>) {
    let n = &c.model.counts;
    o.s("<dl class=\"stats\">\n");
    w!(
        o,
        "<div><dt>operations</dt><dd><b>{}</b> <span class=\"muted\">{}</span></dd></div>\n",
        c.exec.history.ops.len(),
        esc(&breakdown(&n.ops))
    );
    w!(
        o,
        "<div><dt>messages</dt><dd><b>{}</b> sent · {} delivered · {} duplicated{}</dd></div>\n",
        n.sent,
        n.delivered,
        n.duplicates,
        if n.in_flight > 0 {
            format!(" · {} in flight at the end", n.in_flight)
        } else {
            String::new()
        }
    );
    w!(
        o,
        "<div><dt>drops</dt><dd><b>{}</b> <span class=\"muted\">{}</span></dd></div>\n",
        n.drops.values().sum::<u64>(),
        esc(&breakdown(&n.drops))
    );
    w!(
        o,
        "<div><dt>held</dt><dd><b>{}</b> <span class=\"muted\">{}</span></dd></div>\n",
        n.held.values().sum::<u64>(),
        esc(&breakdown(&n.held))
    );
    w!(
        o,
        "<div><dt>faults</dt><dd>{}</dd></div>\n",
        if n.faults.is_empty() {
            "none".to_string()
        } else {
            esc(&breakdown(&n.faults))
        }
    );
    w!(
        o,
        "<div><dt>run</dt><dd>{} · {} · {} events · {} fsyncs</dd></div>\n",
        ms_text(ms(c.exec.end_ns)),
        match c.model.settled {
            Some(true) => "settled",
            Some(false) => "not settled",
            None => "no end event",
        },
        n.events,
        n.syncs
    );
    o.s("</dl>\n");
}

/// The probes the run reached, with how many times each.
fn probes(o: &mut Out, c: &Ctx<'_>) {
    if c.exec.probes.is_empty() {
        o.s("<p class=\"probes\"><span class=\"muted\">probes reached: none</span></p>\n");
        return;
    }
    o.s("<p class=\"probes\">probes reached: ");
    for (name, count) in &c.exec.probes {
        w!(
            o,
            "<span class=\"probe\">{} <b>×{count}</b></span> ",
            esc(name)
        );
    }
    o.s("</p>\n");
}
