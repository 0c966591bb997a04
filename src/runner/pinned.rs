//! The plan a scenario runs for a seed: drawn from the seed, or — for a pinned scenario
//! (`[pinned]`, see [`crate::scenario::PinnedSection`]) — the one plan written in the file.
//!
//! A pinned plan is read by its system ([`crate::systems::SystemUnderTest::plan_from_json`])
//! and checked against the file around it: the same system, the same planted bugs, the
//! seed the file says. Problems are located in the scenario file: a JSON error inside the
//! `plan` string is reported at its line in the file, not in the string.

use crate::plan::file::PlanFileError;
use crate::plan::AnyPlan;
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
pub fn plan_of(scenario: &Scenario, seed: u64) -> Result<Box<dyn AnyPlan>, PinnedError> {
    let system = super::system_of(scenario);
    let Some(pinned) = &scenario.file.pinned else {
        // A guided run's id names its parent seed: plan it, then mutate it the same way.
        return Ok(match crate::plan::guided::parent(seed) {
            Some(parent) => system.plan(scenario, parent).mutated(seed),
            None => system.plan(scenario, seed),
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
        let (line, column) = place();
        match &e {
            PlanFileError::Json(j) if j.line() > 0 => {
                let column = if j.line() == 1 {
                    column + j.column()
                } else {
                    j.column()
                };
                error((line + j.line() - 1, column), e.to_string())
            }
            _ => error((line, column), e.to_string()),
        }
    })?;
    let head = plan.head();
    let mismatch = if head.seed != pinned.seed {
        Some(format!(
            "its seed is {} but `pinned.seed` says {}",
            head.seed, pinned.seed
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
pub fn pinned_seed(scenario: &Scenario) -> Option<u64> {
    scenario.file.pinned.as_ref().map(|p| p.seed)
}

/// The file's text again, for locating (a pinned plan is read once per run).
fn scenario_text(scenario: &Scenario) -> String {
    std::fs::read_to_string(&scenario.path).unwrap_or_default()
}

/// Where the `plan` string's first character is in the file (1-based line and the
/// column before it), found by its first line; (1, 0) when it cannot be found.
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
            Some(q) if after[q.len()..].trim().is_empty() => (i + 2, 0),
            _ => (i + 1, line.find(first).unwrap_or(0)),
        };
    }
    (1, 0)
}

#[cfg(test)]
mod tests {
    use super::plan_place;

    #[test]
    fn the_plan_string_is_found_in_its_table() {
        let text = "plan = 1\n[pinned]\nseed = 3\nplan = '''\n{\n  \"a\": 1\n}\n'''\n";
        assert_eq!(plan_place(text, "{\n  \"a\": 1\n}\n"), (5, 0));
        let inline = "[pinned]\nplan = '{\"a\": 1}'\n";
        assert_eq!(plan_place(inline, "{\"a\": 1}"), (2, 8));
        assert_eq!(plan_place("[other]\nplan = 'x'\n", "x"), (1, 0));
    }
}
