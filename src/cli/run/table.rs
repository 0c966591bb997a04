//! The sweep's summary on the terminal: the table of scenarios, coverage, determinism
//! re-checks, throughput and replay lines.

use std::path::Path;

use crate::check::Verdict;
use crate::report::RunDir;
use crate::runner::sweep::Sweep;
use crate::runner::{commands, FailureGroup, Outcome, Tally};

/// The widest line the summary prints (a replay line's command may be wider: it is never
/// cut, only its comment is).
const COLUMNS_MAX: usize = 120;

/// Everything a person reads at the end of a sweep: the table, the determinism re-checks,
/// throughput and one replay line per kind of failure, each line at most
/// [`COLUMNS_MAX`] columns; coverage too with `--coverage` (the sweep report has it
/// always).
pub(super) fn print_summary(sweep: &Sweep, run: &RunDir, show_coverage: bool) {
    let tallies = &sweep.tallies;
    print_table(tallies);
    if show_coverage {
        print_coverage(tallies);
    }
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
            format!(" (interrupted: {} cut short, not counted)", sweep.cut_short)
        }
    );
    print_replays(tallies, run);
}

/// One row per scenario: seeds that passed, failed (a violation, a crash or a liveness
/// failure) or were inconclusive (a checker's budget or a resource limit), and what the
/// scenario's seeds amount to; the report and `summary.json` have each verdict's count
/// and what the other failures of planted-bug scenarios were.
fn print_table(tallies: &[Tally]) {
    let width = tallies
        .iter()
        .map(|t| t.name.chars().count())
        .max()
        .unwrap_or(8)
        .clamp(8, crate::scenario::NAME_CHARS_MAX);
    println!();
    println!(
        "{:width$}  {:9} {:>6} {:>6} {:>6}  result",
        "scenario", "expect", "pass", "fail", "inconc"
    );
    for t in tallies {
        let n = |v: Verdict| t.verdicts.get(&v).copied().unwrap_or(0);
        let fail = n(Verdict::Violation) + n(Verdict::Crash) + n(Verdict::Liveness);
        let row = format!(
            "{:width$}  {:9} {:>6} {:>6} {:>6}  ",
            t.name,
            format!("{:?}", t.expect).to_lowercase(),
            n(Verdict::Pass),
            fail,
            n(Verdict::Unknown) + n(Verdict::Limit),
        );
        let room = COLUMNS_MAX.saturating_sub(row.chars().count()).max(24);
        println!("{row}{}", truncate(&result_text(t), room));
    }
    if tallies
        .iter()
        .any(|t| t.expect != crate::scenario::Expect::Pass && t.failed_otherwise > 0)
    {
        println!(
            "(+N other: seeds of a planted-bug scenario that failed another way than its bug;"
        );
        println!(" they do not fail the run; the report and summary.json say how)");
    }
}

fn result_text(t: &Tally) -> String {
    match t.outcome() {
        Outcome::Ok if t.seeds_asked == 0 => "no seeds in this shard".into(),
        Outcome::Ok if t.pinned => match t.expect {
            crate::scenario::Expect::Pass => "pinned plan: passes (its bug stays fixed)".into(),
            _ => "pinned plan: still fails the same way".into(),
        },
        Outcome::Missed if t.pinned => {
            "FAILED: the pinned plan no longer fails the same way".into()
        }
        Outcome::Ok => match (t.expect, t.first_caught) {
            (crate::scenario::Expect::Pass, _) => "ok".to_string(),
            (_, Some(seed)) => format!(
                "caught at seed {} in {} of {}{}",
                seed,
                t.caught,
                t.seeds,
                otherwise(t)
            ),
            (_, None) => "not caught".to_string(),
        },
        Outcome::NotRun => "NOT RUN (interrupted before it started)".into(),
        Outcome::Incomplete => format!(
            "INCOMPLETE: {} of {} seeds{}",
            t.seeds,
            t.seeds_asked,
            if t.expect == crate::scenario::Expect::Pass {
                ", all passed"
            } else {
                ", bug not caught yet"
            }
        ),
        Outcome::Violation => format!("FAILED: safety violation{}", by_check(t)),
        Outcome::Liveness => format!("FAILED: did not converge{}", by_check(t)),
        Outcome::Inconclusive => {
            let limited = t.verdicts.get(&Verdict::Limit).copied().unwrap_or(0);
            if limited > 0 {
                format!("inconclusive: {limited} seed(s) reached a resource limit")
            } else {
                "inconclusive".into()
            }
        }
        Outcome::Missed => format!(
            "FAILED: expected {:?} never found{}",
            t.expect,
            otherwise(t)
        ),
        Outcome::Broken => "FAILED: nondeterministic or internal error".into(),
    }
}

/// ` (+922 other)`: a planted-bug scenario's seeds that failed some other way than its
/// bug — apart from the catches, and not failing the sweep.
fn otherwise(t: &Tally) -> String {
    if t.failed_otherwise == 0 {
        return String::new();
    }
    format!(" (+{} other)", t.failed_otherwise)
}

/// ` (queue 920, crash 2)`: failing seeds by what failed.
fn by_check(t: &Tally) -> String {
    if t.failed_otherwise_by.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = (t.failed_otherwise_by.iter())
        .map(|(what, n)| format!("{what} {n}"))
        .collect();
    format!(" ({})", parts.join(", "))
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
            println!("internal error in {} seed {}: {e}", t.name, *seed);
        }
    }
}

/// Replay lines: every kind of unexpected failure first (see [`crate::runner::triage`]),
/// each represented by its lowest seed, then, for each planted-bug scenario, the kind its
/// first catch belongs to; at most [`REPLAYS_MAX`] in all. The report and `summary.json`
/// list every kind.
fn print_replays(tallies: &[Tally], run: &RunDir) {
    let mut unexpected = Vec::new();
    let mut catches = Vec::new();
    let mut kinds = 0usize;
    for t in tallies {
        let groups = t.triage.groups();
        kinds += groups.len();
        unexpected.extend(
            (groups.iter())
                .filter(|g| !g.expected)
                .map(|g| group_line(Path::new(&t.path), g)),
        );
        let first = groups
            .iter()
            .filter(|g| g.expected)
            .min_by_key(|g| g.first_seed.position());
        catches.extend(first.map(|g| group_line(Path::new(&t.path), g)));
    }
    let lines: Vec<String> = unexpected.into_iter().chain(catches).collect();
    if lines.is_empty() {
        return;
    }
    println!("\nreplay (unexpected failures, then each planted bug's first catch):");
    for line in lines.iter().take(REPLAYS_MAX) {
        println!("{line}");
    }
    let shown = lines.len().min(REPLAYS_MAX);
    if kinds > shown {
        println!(
            "  … {} more kinds of failure, each with its replay line, in {}",
            kinds - shown,
            run.path.join("index.html").display()
        );
    }
}

/// Replay lines printed at most.
const REPLAYS_MAX: usize = 40;

/// Two lines: `faultline replay … --seed N`, whole, to paste; under it, as a shell
/// comment cut to the width, `# [planted bug caught: ]Verdict (check) in K seeds: message`.
fn group_line(path: &Path, g: &FailureGroup) -> String {
    let comment = format!(
        "      # {}{:?}{} in {} seed{}: {}",
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
        g.message
    );
    format!(
        "  {}\n{}",
        commands::replay_command(path, g.first_seed),
        truncate(&comment, COLUMNS_MAX)
    )
}

/// `s` in at most `n` characters, an ellipsis marking a cut.
fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!(
            "{}…",
            s.chars().take(n.saturating_sub(1)).collect::<String>()
        )
    }
}
