//! Writing a shrunk plan as a **pinned scenario**: a scenario file whose `[pinned]` table
//! holds the explicit plan (see [`crate::scenario::PinnedSection`]). It names its system,
//! planted bugs and checks like any scenario, expects the failure the shrink kept (its
//! verdict, check and triage signature), and says in its header comment what it caught and
//! how much smaller it is than the run it came from.
//!
//! `faultline run` replays a pinned scenario once, before the seeds of the others, and
//! `scenarios/regressions/` is where `faultline shrink --save` keeps them: a corpus of
//! failures that every sweep of the scenario directory re-checks.

use std::fmt::Write as _;

use super::{Shrunk, Size, Target};
use crate::check::Verdict;
use crate::plan::SeedId;
use crate::scenario::Scenario;

/// The longest scenario name (as the loader allows).
const NAME_CHARS_MAX: usize = 64;
/// The longest message quoted in `caught`.
const CAUGHT_CHARS_MAX: usize = 300;

/// The name of the pinned scenario of `seed` of `scenario`.
pub fn pinned_name(scenario: &Scenario, seed: SeedId) -> String {
    if scenario.file.pinned.is_some() {
        return scenario.name.clone();
    }
    // A name is also a directory name: a branched id's `@` is spelled `-at`.
    let suffix = format!("-seed{}", seed.to_string().replace('@', "-at"));
    let keep = NAME_CHARS_MAX.saturating_sub(suffix.len());
    let stem: String = scenario.name.chars().take(keep).collect();
    format!("{stem}{suffix}")
}

/// What the failure is, in a sentence: the planted bugs, the check and its message.
pub fn caught(scenario: &Scenario, target: &Target, message: &str) -> String {
    let bugs = if scenario.file.bugs.is_empty() {
        String::new()
    } else {
        format!("planted bug {}: ", scenario.file.bugs.join(", "))
    };
    let what = match (&target.check, target.verdict) {
        (Some(check), v) => format!("{check} {}", format!("{v:?}").to_lowercase()),
        (None, _) => "crash".to_string(),
    };
    let message: String = message.chars().take(CAUGHT_CHARS_MAX).collect();
    format!("{bugs}{what}: {message}")
}

/// A TOML value written inline (strings quoted and escaped).
fn value(v: impl Into<toml::Value>) -> String {
    v.into().to_string()
}

/// The pinned scenario file's text.
pub fn render(
    scenario: &Scenario,
    shrunk: &Shrunk,
    caught: &str,
    command: &str,
) -> Result<String, String> {
    let plan = shrunk.plan.to_json_pretty().map_err(|e| e.to_string())?;
    let seed = shrunk.plan.head().id();
    let mut out = header(scenario, shrunk, caught, command);
    let t = &shrunk.target;
    let (expect, expect_check) = match t.verdict {
        Verdict::Liveness => ("liveness", t.check.clone()),
        _ => ("violation", t.check.clone()),
    };
    let mut line = |key: &str, v: String| {
        let _ = writeln!(out, "{key} = {v}");
    };
    line("name", value(pinned_name(scenario, seed)));
    if let Some(d) = &scenario.file.description {
        line("description", value(d.as_str()));
    }
    line("system", value(scenario.system.name()));
    line("bugs", value(scenario.file.bugs.clone()));
    line("checks", value(scenario.checks.clone()));
    line("workload_kind", value(scenario.workload));
    line("expect", value(expect));
    if let Some(check) = expect_check {
        line("expect_check", value(check));
    }
    out.push_str("\n[pinned]\n");
    let mut line = |key: &str, v: String| {
        let _ = writeln!(out, "{key} = {v}");
    };
    // A plain seed as a number, a guided or branched run's id as its text (`41.g9999`,
    // `41.b9999@1530`): TOML integers stop at 2^63 - 1, where their raw forms begin.
    line(
        "seed",
        match seed {
            SeedId::Plain(s) => value(s as i64),
            id => value(id.to_string()),
        },
    );
    line("from", value(scenario.path.display().to_string()));
    line("caught", value(caught));
    line("signature", value(t.signature.as_str()));
    // The plan verbatim in a literal string when it can be (it cannot hold `'''`).
    if plan.contains("'''") {
        line("plan", value(plan));
    } else {
        let _ = writeln!(out, "plan = '''\n{plan}\n'''");
    }
    Ok(out)
}

/// The header comment: where it came from, what it caught, before → after, how to use it.
fn header(scenario: &Scenario, shrunk: &Shrunk, caught: &str, command: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# A pinned plan: seed {} of {}, shrunk by\n#   {command}\n#",
        shrunk.plan.head().id(),
        scenario.path.display()
    );
    let _ = writeln!(out, "# What it caught: {}\n#", one_line(caught));
    let row = |out: &mut String, what: &str, f: fn(&Size) -> u64| {
        let _ = writeln!(
            out,
            "#   {what:18} {:>8} → {}",
            f(&shrunk.before),
            f(&shrunk.after)
        );
    };
    row(&mut out, "fault episodes", |s| s.faults as u64);
    row(&mut out, "client operations", |s| s.operations as u64);
    row(&mut out, "messages", |s| s.messages);
    row(&mut out, "processes", |s| s.processes as u64);
    row(&mut out, "simulated ms", |s| s.sim_ms);
    out.push_str(
        "#\n\
         # `faultline run` replays the plan below exactly, whatever the seed would draw today,\n\
         # and expects the same failure (verdict, check and the signature of its message).\n\
         # Once the bug it caught is fixed for good, set `expect = \"pass\"` (and remove\n\
         # `expect_check` and `pinned.signature`): the plan then guards the fix.\n\n",
    );
    out
}

/// `s` on one line (a comment must not break out of itself).
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}
