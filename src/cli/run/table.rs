//! The sweep's summary on the terminal: the table of scenarios, coverage, determinism
//! re-checks, throughput and replay lines.

use std::path::Path;

use super::Sweep;
use crate::check::Verdict;
use crate::report::{self, FailureGroup, Outcome, RunDir, Tally};

/// Everything a person reads at the end of a sweep.
pub(super) fn print_summary(sweep: &Sweep, run: &RunDir) {
    let tallies = &sweep.tallies;
    print_table(tallies);
    print_coverage(tallies);
    print_determinism(tallies);
    let messages: u64 = tallies.iter().map(|t| t.messages).sum();
    let (finished, wall_s) = (sweep.finished, sweep.wall_s);
    println!(
        "{finished} seeds in {wall_s:.2} s{}: {:.0} seeds/s, {:.2} M messages/s{}",
        if sweep.merged {
            " of the shards' own time, summed"
        } else {
            ""
        },
        finished as f64 / wall_s.max(1e-9),
        messages as f64 / wall_s.max(1e-9) / 1e6,
        if sweep.complete() {
            String::new()
        } else {
            format!(
                " (interrupted: {} seed(s) stopped half-way are not counted)",
                sweep.cut_short
            )
        }
    );
    print_replays(tallies, run);
}

/// One row per scenario: verdict counts and what the sweep amounts to.
fn print_table(tallies: &[Tally]) {
    let width = tallies
        .iter()
        .map(|t| t.name.chars().count())
        .max()
        .unwrap_or(8)
        .clamp(8, crate::scenario::NAME_CHARS_MAX);
    println!();
    println!(
        "{:width$}  {:9} {:>6} {:>6} {:>6} {:>6} {:>6} {:>6} {:>6}  result",
        "scenario", "expect", "seeds", "pass", "viol", "crash", "live", "unkn", "limit"
    );
    for t in tallies {
        let n = |v: Verdict| t.verdicts.get(&v).copied().unwrap_or(0);
        println!(
            "{:width$}  {:9} {:>6} {:>6} {:>6} {:>6} {:>6} {:>6} {:>6}  {}",
            t.name,
            format!("{:?}", t.expect).to_lowercase(),
            t.seeds,
            n(Verdict::Pass),
            n(Verdict::Violation),
            n(Verdict::Crash),
            n(Verdict::Liveness),
            n(Verdict::Unknown),
            n(Verdict::Limit),
            result_text(t),
        );
    }
}

fn result_text(t: &Tally) -> String {
    match t.outcome() {
        Outcome::Ok if t.seeds_asked == 0 => "no seeds in this shard".into(),
        Outcome::Ok if t.pinned => match t.expect {
            crate::scenario::Expect::Pass => {
                "pinned plan: passes (the bug it caught stays fixed)".into()
            }
            _ => "pinned plan: still fails the same way".into(),
        },
        Outcome::Missed if t.pinned => {
            "FAILED: the pinned plan no longer fails the same way (fixed? then expect = \"pass\")"
                .into()
        }
        Outcome::Ok => match (t.expect, t.first_caught) {
            (crate::scenario::Expect::Pass, _) => "ok".to_string(),
            (_, Some(seed)) => format!(
                "caught at seed {} (after {} seed(s)), in {} of {}",
                crate::plan::SeedId::from_raw(seed),
                t.seeds_until_caught().unwrap_or(0),
                t.caught,
                t.seeds
            ),
            (_, None) => "not caught".to_string(),
        },
        Outcome::NotRun => "NOT RUN (interrupted before it started)".into(),
        Outcome::Incomplete => format!(
            "INCOMPLETE: {} of {} seeds before the interrupt{}",
            t.seeds,
            t.seeds_asked,
            if t.expect == crate::scenario::Expect::Pass {
                ", all passed"
            } else {
                ", planted bug not caught yet"
            }
        ),
        Outcome::Violation => "FAILED: safety violation".into(),
        Outcome::Liveness => "FAILED: did not converge".into(),
        Outcome::Inconclusive => {
            let limited = t.verdicts.get(&Verdict::Limit).copied().unwrap_or(0);
            if limited > 0 {
                format!("inconclusive: {limited} seed(s) reached a resource limit")
            } else {
                "inconclusive".into()
            }
        }
        Outcome::Missed => format!("FAILED: expected {:?} never found", t.expect),
        Outcome::Broken => "FAILED: nondeterministic or internal error".into(),
    }
}

fn print_coverage(tallies: &[Tally]) {
    println!("\ncoverage (seeds that reached each probe):");
    for t in tallies {
        let probes: Vec<String> = t.probes.iter().map(|(p, n)| format!("{p} {n}")).collect();
        println!(
            "  {}: {}",
            t.name,
            if probes.is_empty() {
                "none".into()
            } else {
                probes.join(", ")
            }
        );
    }
}

fn print_determinism(tallies: &[Tally]) {
    let rechecked: u64 = tallies.iter().map(|t| t.determinism_checked).sum();
    let diverged: Vec<String> = tallies
        .iter()
        .flat_map(|t| {
            t.nondeterministic
                .iter()
                .map(move |s| format!("{} seed {s}", t.name))
        })
        .collect();
    if diverged.is_empty() {
        println!("\ndeterminism: {rechecked} seed(s) re-run, all traces identical");
    } else {
        println!(
            "\ndeterminism: {} of {rechecked} re-run seed(s) DIVERGED: {}",
            diverged.len(),
            diverged.join(", ")
        );
    }
    for t in tallies {
        for (seed, e) in &t.harness_errors {
            println!(
                "internal error in {} seed {}: {e}",
                t.name,
                crate::plan::SeedId::from_raw(*seed)
            );
        }
    }
}

/// Replay lines: one per distinct kind of failure (see [`crate::report::triage`]), its
/// lowest seed representing it, with how many seeds share it.
fn print_replays(tallies: &[Tally], run: &RunDir) {
    let mut lines = Vec::new();
    for t in tallies {
        for g in t.triage.groups() {
            lines.push(group_line(Path::new(&t.path), g));
        }
        if t.triage.other_kinds_seeds > 0 {
            lines.push(format!(
                "  # {}: {} more failing seed(s) of other kinds (past {} kinds)",
                t.name,
                t.triage.other_kinds_seeds,
                crate::report::triage::GROUPS_MAX
            ));
        }
    }
    const LINES_MAX: usize = 20;
    if !lines.is_empty() {
        println!("\nreplay (one line per kind of failure):");
        for line in lines.iter().take(LINES_MAX) {
            println!("{line}");
        }
        if lines.len() > LINES_MAX {
            println!(
                "  … and {} more kinds (with their replay lines) in {}",
                lines.len() - LINES_MAX,
                run.path.join("summary.json").display()
            );
        }
    }
}

/// `faultline replay … --seed N   # [planted bug caught: ]Verdict (check) in K seeds: message`
fn group_line(path: &Path, g: &FailureGroup) -> String {
    format!(
        "  {}   # {}{:?}{} in {} seed{}: {}",
        report::replay_command(path, g.first_seed),
        if g.expected {
            "planted bug caught: "
        } else {
            ""
        },
        g.verdict,
        g.check
            .as_ref()
            .map(|c| format!(" ({c})"))
            .unwrap_or_default(),
        g.seeds,
        if g.seeds == 1 { "" } else { "s" },
        truncate(&g.message, 160)
    )
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n).collect::<String>())
    }
}
