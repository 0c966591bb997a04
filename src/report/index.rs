//! The sweep report: `reports/<run>/index.html`, the page a person opens after a sweep.
//!
//! `summary.json` says everything a program needs; this page says it to a person, offline
//! and in one file (no script, no external resource, so it opens from a CI artifact):
//!
//! * a **header** with the result in words, the exit code, how many seeds ran and how fast,
//!   and the determinism re-check ("120 seeds re-run, all traces identical", or which
//!   diverged);
//! * one **row per scenario**: what it expects (pass, or the check its planted bug should
//!   fail), seeds run of seeds asked, seeds per verdict, seeds until the first failure
//!   (for a planted bug: until it was caught), seeds per second of one core, and its
//!   outcome, coloured;
//! * the **failures**, grouped by kind as the terminal prints them: each group's verdict,
//!   check, how many seeds share it, the representative seed's message, its replay line,
//!   and a link to its `timeline.html` when the sweep wrote one;
//! * **coverage**: per scenario, a bar per probe (the share of seeds whose run reached that
//!   risky window) and, called out, the probes its system has that no seed reached — a
//!   scenario whose faults never open a window cannot find the bugs hiding in it.
//!
//! The page is rendered from plain data ([`IndexData`]); whether a seed's timeline exists
//! is asked of the caller, so rendering does no I/O.

use std::fmt::Write as _;

use super::sweep::{Status, Summary};
use super::timeline::esc;
use crate::check::Verdict;
use crate::plan::SeedId;
use crate::runner::{Outcome, Tally};
use crate::scenario::Expect;

/// What the page needs besides the summary.
pub struct IndexData<'a> {
    /// The summary, as written to `summary.json`.
    pub summary: &'a Summary<'a>,
    /// For a scenario's tally: every probe its system can reach.
    pub probes_of: &'a dyn Fn(&Tally) -> Vec<&'static str>,
    /// The link (relative to the page) to a seed's timeline, when the sweep wrote one.
    pub timeline_of: &'a dyn Fn(&Tally, SeedId) -> Option<String>,
}

/// Render the sweep report.
pub fn render(data: &IndexData<'_>) -> String {
    let s = data.summary;
    let mut page = String::with_capacity(16 * 1024);
    page.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n");
    let _ = writeln!(
        page,
        "<title>faultline {} — {}</title>\n<style>{CSS}</style></head><body>",
        esc(s.run_id),
        headline(s)
    );
    header(&mut page, s);
    scenario_table(&mut page, s);
    failures(&mut page, data);
    coverage(&mut page, data);
    page.push_str("</body></html>\n");
    page
}

/// The result in a few words.
fn headline(s: &Summary<'_>) -> &'static str {
    match (s.status, s.exit_code) {
        (Status::Running, _) => "running",
        (_, Some(0)) => "passed",
        (Status::Interrupted, _) => "interrupted",
        (_, Some(_)) => "failed",
        (_, None) => "running",
    }
}

fn header(page: &mut String, s: &Summary<'_>) {
    let verdict = headline(s);
    let _ = writeln!(
        page,
        "<header class=\"{verdict}\"><h1>faultline sweep <code>{}</code>: <span id=\"result\">{verdict}</span>{}</h1>",
        esc(s.run_id),
        s.exit_code
            .map(|c| format!(" <small>(exit {c})</small>"))
            .unwrap_or_default()
    );
    let _ = writeln!(
        page,
        "<p>{} seed(s) of {} scenario(s) in {:.1} s on {} thread(s): {:.0} seeds/s{}{}{}</p>",
        s.seeds_finished,
        s.scenarios.len(),
        s.wall_s,
        s.jobs,
        s.seeds_per_s,
        s.shard
            .as_ref()
            .map(|k| format!(", shard {}", esc(k)))
            .unwrap_or_default(),
        if s.complete {
            String::new()
        } else {
            format!(
                ". <b>Not every seed ran</b>: {} stopped half-way and are not counted",
                s.seeds_cut_short
            )
        },
        s.time_budget_s
            .map(|b| format!(", time budget {b} s"))
            .unwrap_or_default(),
    );
    let _ = writeln!(
        page,
        "<p id=\"determinism\">{}</p></header>",
        determinism(s)
    );
}

/// The determinism re-check in one sentence.
fn determinism(s: &Summary<'_>) -> String {
    let rechecked: u64 = s
        .scenarios
        .iter()
        .map(|e| e.tally.determinism_checked)
        .sum();
    let diverged: Vec<String> = (s.scenarios.iter())
        .flat_map(|e| {
            (e.tally.nondeterministic.iter())
                .map(move |&seed| format!("{} seed {}", e.tally.name, seed))
        })
        .collect();
    match (rechecked, diverged.is_empty()) {
        (0, _) => "Determinism: no seed was re-run (<code>--determinism-every N</code> re-runs every N-th seed and compares the traces).".into(),
        (n, true) => format!("Determinism: {n} seed(s) re-run, every trace identical to its first run."),
        (n, false) => format!(
            "<b class=\"bad\">Determinism: {} of {n} re-run seed(s) diverged</b>: {}",
            diverged.len(),
            esc(&diverged.join(", "))
        ),
    }
}

fn scenario_table(page: &mut String, s: &Summary<'_>) {
    page.push_str("<h2>Scenarios</h2>\n<table id=\"scenarios\"><thead><tr><th>scenario</th><th>expects</th><th>seeds</th>");
    for v in VERDICTS {
        let short = match v {
            Verdict::Violation => "viol",
            Verdict::Liveness => "live",
            Verdict::Unknown => "unkn",
            other => Verdict::name(other),
        };
        let _ = write!(
            page,
            "<th class=\"n\" title=\"seeds with verdict {}\">{short}</th>",
            Verdict::name(v)
        );
    }
    page.push_str("<th title=\"seeds run until the first failure (a planted bug: until it was caught)\">first failure</th><th class=\"n\" title=\"seeds per second of one core\">seeds/s/core</th><th>outcome</th></tr></thead><tbody>\n");
    for e in &s.scenarios {
        scenario_row(page, e.tally, e.outcome);
    }
    page.push_str("</tbody></table>\n");
}

const VERDICTS: [Verdict; 6] = [
    Verdict::Pass,
    Verdict::Violation,
    Verdict::Crash,
    Verdict::Liveness,
    Verdict::Unknown,
    Verdict::Limit,
];

fn scenario_row(page: &mut String, t: &Tally, outcome: Outcome) {
    let _ = write!(
        page,
        "<tr class=\"{}\"><td title=\"{}\"><a href=\"#{}\">{}</a></td><td>{}</td><td class=\"n\">{}{}</td>",
        outcome_class(outcome),
        esc(&t.path),
        anchor(&t.name),
        esc(&t.name),
        expectation(t),
        t.seeds,
        if t.seeds < t.seeds_asked {
            format!(" of {}", t.seeds_asked)
        } else {
            String::new()
        }
    );
    for v in VERDICTS {
        let n = t.verdicts.get(&v).copied().unwrap_or(0);
        let class = if n > 0 && v != Verdict::Pass {
            " bad"
        } else {
            ""
        };
        let _ = write!(page, "<td class=\"n{class}\">{n}</td>");
    }
    let _ = writeln!(
        page,
        "<td>{}</td><td class=\"n\">{}</td><td class=\"outcome\">{}</td></tr>",
        first_failure(t),
        t.seeds_per_core_s()
            .map(|r| format!("{r:.0}"))
            .unwrap_or_else(|| "–".into()),
        outcome_text(t, outcome)
    );
}

fn expectation(t: &Tally) -> String {
    match (t.expect, &t.expect_check) {
        (Expect::Pass, _) => "pass".into(),
        (e, Some(check)) => format!("{} in <code>{}</code>", expect_name(e), esc(check)),
        (e, None) => expect_name(e).into(),
    }
}

fn expect_name(e: Expect) -> &'static str {
    match e {
        Expect::Pass => "pass",
        Expect::Violation => "violation",
        Expect::Liveness => "liveness failure",
    }
}

/// Seeds until the first failure: for a planted bug, until it was caught.
fn first_failure(t: &Tally) -> String {
    let first = match t.expect {
        Expect::Pass => t.failing.first().map(|f| f.seed),
        _ => t.first_caught,
    };
    match first {
        // A guided run's id counts by its place in the sweep.
        Some(seed) => format!(
            "after {} (seed {})",
            seed.position().saturating_sub(t.seed_start) + 1,
            seed
        ),
        None if t.expect == Expect::Pass => "none".into(),
        None => "<b class=\"bad\">not caught</b>".into(),
    }
}

fn outcome_class(o: Outcome) -> &'static str {
    match o {
        Outcome::Ok => "ok",
        Outcome::NotRun | Outcome::Incomplete | Outcome::Inconclusive => "grey",
        _ => "failed",
    }
}

fn outcome_text(t: &Tally, o: Outcome) -> String {
    match o {
        Outcome::Ok if t.expect == Expect::Pass => "ok".into(),
        Outcome::Ok if t.failed_otherwise > 0 => format!(
            "caught in {} of {}; {} failed otherwise ({}), which does not fail the run",
            t.caught,
            t.seeds,
            t.failed_otherwise,
            otherwise_by(t)
        ),
        Outcome::Ok => format!("caught in {} of {}", t.caught, t.seeds),
        Outcome::Violation => format!("FAILED: safety violation ({})", otherwise_by(t)),
        Outcome::Liveness => format!("FAILED: did not converge ({})", otherwise_by(t)),
        Outcome::Inconclusive => "inconclusive".into(),
        Outcome::Missed => "FAILED: planted bug not caught".into(),
        Outcome::Broken => "FAILED: nondeterminism or internal error".into(),
        Outcome::NotRun => "not run (interrupted)".into(),
        Outcome::Incomplete => "incomplete (interrupted)".into(),
    }
}

/// `queue 920, crash 2`: the other failures by what failed.
fn otherwise_by(t: &Tally) -> String {
    (t.failed_otherwise_by.iter())
        .map(|(what, n)| format!("<code>{}</code> {n}", esc(what)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// An element id for a scenario's sections.
fn anchor(name: &str) -> String {
    let id: String = (name.chars())
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    format!("s-{id}")
}

fn failures(page: &mut String, data: &IndexData<'_>) {
    page.push_str("<h2>Failures, by kind</h2>\n");
    let mut any = false;
    for e in &data.summary.scenarios {
        let groups = e.tally.triage.groups();
        if groups.is_empty() {
            continue;
        }
        any = true;
        let _ = writeln!(
            page,
            "<section class=\"failures\" id=\"{}\"><h3>{}</h3>",
            anchor(&e.tally.name),
            esc(&e.tally.name)
        );
        for g in groups {
            let timeline = (data.timeline_of)(e.tally, g.first_seed);
            let link = (timeline.as_ref())
                .map(|href| {
                    format!(
                        " <a class=\"timeline\" href=\"{}\">timeline of seed {}</a>",
                        esc(href),
                        g.first_seed
                    )
                })
                .unwrap_or_default();
            let message = match &timeline {
                Some(href) => super::timeline::link_ops(&g.message, href, usize::MAX),
                None => esc(&g.message),
            };
            let _ = writeln!(
                page,
                "<div class=\"group {}\"><p><b>{}{}</b>{} — {} seed(s), first seed {}{link}</p><p class=\"message\">{}</p><pre class=\"replay\">{}</pre></div>",
                if g.expected { "expected" } else { "unexpected" },
                if g.expected { "planted bug caught: " } else { "" },
                Verdict::name(g.verdict),
                g.check.as_ref().map(|c| format!(" in <code>{}</code>", esc(c))).unwrap_or_default(),
                g.seeds,
                g.first_seed,
                message,
                esc(&g.replay),
            );
        }
        page.push_str("</section>\n");
    }
    if !any {
        page.push_str("<p>No seed failed.</p>\n");
    }
}

fn coverage(page: &mut String, data: &IndexData<'_>) {
    page.push_str("<h2>Coverage: the risky windows each scenario reached</h2>\n<p class=\"note\">A bar is the share of seeds whose run reached that probe. A probe never reached is a window the scenario's faults never opened: no seed could find a bug that hides there.</p>\n");
    for e in &data.summary.scenarios {
        let t = e.tally;
        let _ = writeln!(
            page,
            "<section class=\"coverage\"><h3>{}</h3>",
            esc(&t.name)
        );
        let seeds = t.seeds.max(1) as f64;
        page.push_str("<div class=\"bars\">");
        for (probe, n) in &t.probes {
            let share = *n as f64 / seeds;
            let _ = write!(
                page,
                "<div class=\"bar\" title=\"{n} of {} seeds\"><span class=\"label\">{}</span><span class=\"track\"><span class=\"fill\" style=\"width:{:.1}%\"></span></span><span class=\"n\">{n} ({:.0}%)</span></div>",
                t.seeds,
                esc(probe),
                share * 100.0,
                share * 100.0
            );
        }
        page.push_str("</div>");
        let never: Vec<&str> = ((data.probes_of)(t).into_iter())
            .filter(|p| !t.probes.contains_key(*p))
            .collect();
        if !never.is_empty() && t.seeds > 0 {
            let _ = write!(
                page,
                "<p class=\"never\">Never reached: {}</p>",
                never
                    .iter()
                    .map(|p| format!("<code>{}</code>", esc(p)))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        page.push_str("</section>\n");
    }
}

const CSS: &str = r#"
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0 2em 3em;color:#1d2430;background:#fbfbfd}
header{margin:0 -2em 1em;padding:1em 2em;border-bottom:1px solid #d9dde5;background:#fff}
header.passed h1 #result{color:#1b7f3b}header.failed h1 #result{color:#c62828}
header.interrupted h1 #result,header.running h1 #result{color:#8a6d00}
h1{font-size:20px;margin:.2em 0}h2{font-size:17px;margin:1.6em 0 .5em}h3{font-size:15px;margin:1em 0 .3em}
code,pre{font:12px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
table{border-collapse:collapse;background:#fff;box-shadow:0 0 0 1px #d9dde5}
th,td{padding:4px 7px;border-bottom:1px solid #eceff4;text-align:left;white-space:nowrap}
td.outcome{white-space:normal;min-width:9em}
th{background:#f2f4f8;font-weight:600}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
tr.ok td.outcome{color:#1b7f3b}tr.failed td.outcome{color:#c62828;font-weight:600}tr.grey td.outcome{color:#777}
tr.failed{background:#fff5f5}.bad{color:#c62828}
.group{background:#fff;border-left:4px solid #c62828;padding:.3em .9em;margin:.6em 0;box-shadow:0 0 0 1px #eceff4}
.group.expected{border-left-color:#1b7f3b}.group p{margin:.3em 0}.message{color:#3a4354;white-space:pre-wrap}
pre.replay{background:#f2f4f8;padding:.4em .6em;margin:.3em 0;overflow-x:auto;user-select:all}
.bars{display:grid;gap:2px;max-width:900px}.bar{display:grid;grid-template-columns:22em 1fr 7em;align-items:center;gap:.6em}
.bar .label{font:12px ui-monospace,monospace;overflow:hidden;text-overflow:ellipsis}
.track{background:#eceff4;height:12px;border-radius:2px;overflow:hidden}.fill{display:block;height:100%;background:#3d6fb6}
.bar .n{font-size:12px;color:#555;text-align:right}.never{color:#8a4b00}.never code{background:#fff3e0}.note{color:#555}
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchors_are_plain_ids() {
        assert_eq!(anchor("es_cluster-bug stale/x"), "s-es-cluster-bug-stale-x");
    }
}
