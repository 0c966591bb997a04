//! The plan a scenario runs for a seed: drawn from the seed, or — for a pinned scenario
//! (`[pinned]`, see [`crate::scenario::PinnedSection`]) — the one plan written in the file.
//!
//! A pinned plan is read by its system ([`crate::systems::SystemUnderTest::plan_from_json`])
//! and checked against the file around it: the same system, the same planted bugs, the
//! seed the file says. Problems are located in the scenario file: a JSON error inside the
//! `plan` string is reported at its line in the file, not in the string.

use crate::plan::file::PlanFileError;
use crate::plan::{AnyPlan, SeedId};
use crate::scenario::Scenario;

/// Why a pinned scenario's plan cannot be run.
#[derive(Debug, thiserror::Error)]
#[error("{path}:{line}:{column}: the pinned plan: {message}")]
pub struct PinnedError {
    /// The scenario file.
    pub path: String,
    /// 1-based line in the file.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

/// The plan `scenario` runs for `seed`. A pinned scenario runs its pinned plan whatever
/// the seed (its one seed is [`pinned_seed`]).
pub fn plan_of(scenario: &Scenario, seed: SeedId) -> Result<Box<dyn AnyPlan>, PinnedError> {
    let system = super::system_of(scenario);
    let Some(pinned) = &scenario.file.pinned else {
        // A guided or branched run's id names its parent seed: plan it, then mutate or
        // branch it the same way.
        return Ok(match seed {
            SeedId::Guided { parent, .. } => system.plan(scenario, parent).mutated(seed.raw()),
            SeedId::Branched { parent, .. } => system.plan(scenario, parent).branched(seed),
            SeedId::Plain(seed) => system.plan(scenario, seed),
        });
    };
    // The file is read again only to place an error: a good plan costs no I/O (a pinned
    // scenario's seed is planned on its seed thread).
    let place = || plan_place(&scenario_text(scenario), &pinned.plan);
    let error = |(line, column): (usize, usize), message: String| PinnedError {
        path: scenario.path.display().to_string(),
        line,
        column,
        message,
    };
    let plan = system.plan_from_json(&pinned.plan).map_err(|e| {
        let start = place();
        let inside = match &e {
            PlanFileError::Json(j) if j.line() > 0 => Some((j.line(), j.column().max(1))),
            PlanFileError::At { path, .. } => locate_in(&pinned.plan, path),
            _ => None,
        };
        error(inside.map_or(start, |at| in_file(start, at)), e.to_string())
    })?;
    let head = plan.head();
    let mismatch = if head.id() != pinned.seed {
        Some(format!(
            "its seed is {} but `pinned.seed` says {}",
            head.id(),
            pinned.seed
        ))
    } else if plan.bug_names() != scenario.file.bugs {
        Some(format!(
            "its planted bugs {:?} differ from the file's `bugs` {:?}",
            plan.bug_names(),
            scenario.file.bugs
        ))
    } else {
        None
    };
    match mismatch {
        Some(message) => Err(error(place(), message)),
        None => Ok(plan),
    }
}

/// The seed a pinned scenario runs (`None`: not pinned, it runs a range of seeds).
pub fn pinned_seed(scenario: &Scenario) -> Option<SeedId> {
    scenario.file.pinned.as_ref().map(|p| p.seed)
}

/// The seed `verb` (`replay`, `shrink`) runs: the one asked for, or a pinned scenario's
/// own. A pinned scenario asked for another seed is refused (its plan is its seed's), as
/// is an unpinned scenario asked for none.
pub fn seed_to_run(
    scenario: &Scenario,
    path: &std::path::Path,
    asked: Option<SeedId>,
    verb: &str,
) -> Result<SeedId, String> {
    match (asked, pinned_seed(scenario)) {
        (Some(seed), Some(p)) if seed != p => Err(format!(
            "{} pins the plan of seed {p}: {verb} it without --seed (or with --seed {p})",
            path.display(),
        )),
        (Some(seed), _) | (None, Some(seed)) => Ok(seed),
        (None, None) => Err(format!("--seed is required to {verb} {}", path.display())),
    }
}

/// The file's text again, for locating (a pinned plan is read once per run).
fn scenario_text(scenario: &Scenario) -> String {
    std::fs::read_to_string(&scenario.path).unwrap_or_default()
}

/// A plan file's error as `file:line:column: message`, at the value it is about.
pub fn plan_file_error(file: &std::path::Path, text: &str, e: &PlanFileError) -> String {
    let (line, column) = match e {
        PlanFileError::Json(j) if j.line() > 0 => (j.line(), j.column().max(1)),
        PlanFileError::At { path, .. } => locate_in(text, path).unwrap_or((1, 1)),
        _ => (1, 1),
    };
    format!("{}:{line}:{column}: {e}", file.display())
}

/// Where the value at `path` (`faults[3].at_ms`) is in the plan's JSON: 1-based line and
/// column.
pub fn locate_in(json: &str, path: &str) -> Option<(usize, usize)> {
    use crate::input::locate;
    let offset = locate::locate(json, &locate::parse_path(path)?)?;
    Some(locate::line_col(json, offset))
}

/// A place inside the plan string (1-based line and column there) as a place in the file,
/// given where the string's first character is in the file. Exact for a plan written as a
/// literal string, as `faultline shrink` writes it.
fn in_file((line, column): (usize, usize), (in_line, in_column): (usize, usize)) -> (usize, usize) {
    if in_line == 1 {
        (line, column + in_column - 1)
    } else {
        (line + in_line - 1, in_column)
    }
}

/// Where the `plan` string's first character is in the file (1-based line and column),
/// found by its first line; (1, 1) when it cannot be found.
fn plan_place(text: &str, plan: &str) -> (usize, usize) {
    let first = plan.lines().next().unwrap_or("").trim();
    let mut in_pinned = false;
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.starts_with('[') {
            in_pinned = trimmed.starts_with("[pinned]");
            continue;
        }
        if !(in_pinned && trimmed.starts_with("plan") && trimmed.contains('=')) {
            continue;
        }
        // A multi-line string starting right after its quotes begins on the next line.
        let after = line.split_once('=').map_or("", |(_, v)| v.trim());
        let opener = ["'''", "\"\"\""].iter().find(|q| after.starts_with(**q));
        return match opener {
            Some(q) if after[q.len()..].trim().is_empty() => (i + 2, 1),
            _ => (
                i + 1,
                line.find(first)
                    .map_or(1, |b| line[..b].chars().count() + 1),
            ),
        };
    }
    (1, 1)
}

#[cfg(test)]
mod tests {
    use super::plan_place;

    #[test]
    fn the_plan_string_is_found_in_its_table() {
        let text = "plan = 1\n[pinned]\nseed = 3\nplan = '''\n{\n  \"a\": 1\n}\n'''\n";
        assert_eq!(plan_place(text, "{\n  \"a\": 1\n}\n"), (5, 1));
        let inline = "[pinned]\nplan = '{\"a\": 1}'\n";
        assert_eq!(plan_place(inline, "{\"a\": 1}"), (2, 9));
        assert_eq!(plan_place("[other]\nplan = 'x'\n", "x"), (1, 1));
    }
}
