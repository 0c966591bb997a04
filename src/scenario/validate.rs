//! Parsing and validation of scenario files, with every problem located.
//!
//! Two passes: serde (with `deny_unknown_fields`) catches syntax errors, unknown keys and
//! wrong types, and the TOML parser gives their position. The semantic pass then checks
//! ranges, names (systems, bugs, checks) and contradictions; it reports each problem
//! against a dotted key path, which is located in the source with `toml_edit`'s spans.

use std::path::Path;

use super::knob::Knob;
use super::{Expect, Problem, Scenario, ScenarioError, ScenarioFile};
use crate::systems::SystemKind;

pub(super) fn parse_and_validate(path: &Path, text: &str) -> Result<Scenario, ScenarioError> {
    let display = path.display().to_string();
    let file: ScenarioFile = toml::from_str(text).map_err(|e| ScenarioError::Invalid {
        problems: vec![locate(
            &display,
            text,
            e.span(),
            e.message().trim_end().to_string(),
        )],
    })?;

    let mut problems: Vec<(String, String)> = Vec::new();
    let checked = check(&file, &mut problems);
    if !problems.is_empty() {
        let spans = Spans::new(text);
        return Err(ScenarioError::Invalid {
            problems: problems
                .into_iter()
                .map(|(key, message)| locate(&display, text, spans.find(&key), message))
                .collect(),
        });
    }
    let (system, checks) = checked.expect("no problems means the system resolved");
    let name = match &file.name {
        Some(name) => name.clone(),
        None => path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "scenario".into()),
    };
    Ok(Scenario {
        path: path.to_path_buf(),
        name,
        file,
        system,
        checks,
    })
}

/// Semantic checks. Returns the system and the checks to run when the system is known.
fn check(
    file: &ScenarioFile,
    problems: &mut Vec<(String, String)>,
) -> Option<(SystemKind, Vec<String>)> {
    let mut problem = |key: &str, message: String| problems.push((key.to_string(), message));

    if let Some(name) = &file.name {
        let ok = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !ok {
            problem(
                "name",
                format!("name `{name}` is used as a directory name: use letters, digits, `-`, `_` and `.` only"),
            );
        }
    }

    // Knob ranges.
    let mut knob_problems = Vec::new();
    file.topology.check(&mut knob_problems);
    file.workload.check(&mut knob_problems);
    file.phases.check(&mut knob_problems);
    file.network.check(&mut knob_problems);
    file.faults.partition.check(&mut knob_problems);
    file.faults.crash.check(&mut knob_problems);
    file.faults.pause.check(&mut knob_problems);
    file.faults.clog.check(&mut knob_problems);
    file.faults.disk.check(&mut knob_problems);
    file.faults.clock.check(&mut knob_problems);
    for (key, message) in knob_problems {
        problem(&key, message);
    }

    // Bounds that contradict each other.
    let pairs = [
        (
            "network.latency_ms_min",
            &file.network.latency_ms_min,
            "network.latency_ms_max",
            &file.network.latency_ms_max,
        ),
        (
            "workload.op_interval_ms_min",
            &file.workload.op_interval_ms_min,
            "workload.op_interval_ms_max",
            &file.workload.op_interval_ms_max,
        ),
        (
            "faults.partition.duration_ms_min",
            &file.faults.partition.duration_ms_min,
            "faults.partition.duration_ms_max",
            &file.faults.partition.duration_ms_max,
        ),
        (
            "faults.crash.restart_delay_ms_min",
            &file.faults.crash.restart_delay_ms_min,
            "faults.crash.restart_delay_ms_max",
            &file.faults.crash.restart_delay_ms_max,
        ),
        (
            "faults.pause.duration_ms_min",
            &file.faults.pause.duration_ms_min,
            "faults.pause.duration_ms_max",
            &file.faults.pause.duration_ms_max,
        ),
        (
            "faults.clog.duration_ms_min",
            &file.faults.clog.duration_ms_min,
            "faults.clog.duration_ms_max",
            &file.faults.clog.duration_ms_max,
        ),
    ];
    for (lo_key, lo, hi_key, hi) in pairs {
        if let (Some(lo), Some(hi)) = (lo, hi) {
            if lo.min() > hi.max() {
                problem(
                    hi_key,
                    format!(
                        "contradictory settings: `{hi_key}` ({}) is below `{lo_key}` ({})",
                        hi.max(),
                        lo.min()
                    ),
                );
            }
        }
    }
    let share = |k: &Option<Knob<f64>>| k.map_or(0.0, |k| k.min());
    if share(&file.workload.read_probability) + share(&file.workload.append_probability) > 1.0 {
        problem(
            "workload.append_probability",
            "contradictory settings: `workload.read_probability` + `workload.append_probability` exceed 1 (they are shares of all operations)".into(),
        );
    }
    if let Some(shapes) = &file.faults.partition_shapes {
        if shapes.is_empty() {
            problem(
                "faults.partition_shapes",
                "no partition shapes listed: name at least one of isolate, split, ring, bridge, one_way, or leave the key out for all".into(),
            );
        }
    }

    // Names from the catalogue.
    let Some(system) = SystemKind::from_name(&file.system) else {
        problem(
            "system",
            format!(
                "unknown system `{}`: expected one of {}",
                file.system,
                list(SystemKind::ALL.iter().map(|s| s.info().name))
            ),
        );
        return None;
    };
    let info = system.info();
    for (i, bug) in file.bugs.iter().enumerate() {
        if !info.bugs.iter().any(|b| b.name == bug) {
            problem(
                &format!("bugs[{i}]"),
                format!(
                    "unknown bug `{bug}` for system `{}`: expected one of {}",
                    info.name,
                    list(info.bugs.iter().map(|b| b.name))
                ),
            );
        } else if file.bugs[..i].contains(bug) {
            problem(
                &format!("bugs[{i}]"),
                format!("bug `{bug}` is listed twice"),
            );
        }
    }
    let checks: Vec<String> = match &file.checks {
        None => info.checks.iter().map(|c| c.name.to_string()).collect(),
        Some(listed) => {
            if listed.is_empty() {
                problem(
                    "checks",
                    format!(
                        "no checks listed: name at least one of {}, or leave the key out for all",
                        list(info.checks.iter().map(|c| c.name))
                    ),
                );
            }
            for (i, check) in listed.iter().enumerate() {
                if !info.checks.iter().any(|c| c.name == check) {
                    problem(
                        &format!("checks[{i}]"),
                        format!(
                            "unknown check `{check}` for system `{}`: expected one of {}",
                            info.name,
                            list(info.checks.iter().map(|c| c.name))
                        ),
                    );
                } else if listed[..i].contains(check) {
                    problem(
                        &format!("checks[{i}]"),
                        format!("check `{check}` is listed twice"),
                    );
                }
            }
            // Catalogue order, so reports read the same whatever the file's order.
            info.checks
                .iter()
                .filter(|c| listed.iter().any(|l| l == c.name))
                .map(|c| c.name.to_string())
                .collect()
        }
    };
    if let Some(expected) = &file.expect_check {
        if file.expect == Expect::Pass {
            problem(
                "expect_check",
                "contradictory settings: `expect_check` names the check expected to fail, but `expect` is \"pass\"; set expect = \"violation\" or \"liveness\"".into(),
            );
        } else if !checks.contains(expected) {
            problem(
                "expect_check",
                format!(
                    "`expect_check` = \"{expected}\" is not among the checks this scenario runs: {}",
                    list(checks.iter().map(String::as_str))
                ),
            );
        }
    }
    if let Some(kind) = file.workload_kind {
        if !info.workloads.contains(&kind) {
            problem(
                "workload_kind",
                format!(
                    "system `{}` does not run the {kind:?} workload: expected one of {}",
                    info.name,
                    list(
                        info.workloads
                            .iter()
                            .map(|w| format!("{w:?}").to_lowercase())
                    )
                ),
            );
        }
    }
    if checks.iter().any(|c| c == "convergence") {
        if let Some(Knob::Fixed(0)) = file.phases.heal_ms {
            problem(
                "phases.heal_ms",
                "contradictory settings: the `convergence` check needs a heal phase, but `phases.heal_ms` is 0".into(),
            );
        }
    }
    let mut system_problems = Vec::new();
    system.check_file(file, &mut system_problems);
    for (key, message) in system_problems {
        problem(&key, message);
    }
    Some((system, checks))
}

fn list<S: AsRef<str>>(items: impl Iterator<Item = S>) -> String {
    items
        .map(|s| format!("`{}`", s.as_ref()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Key paths to byte spans, from a span-keeping parse of the same text.
struct Spans {
    doc: Option<toml_edit::ImDocument<String>>,
}

impl Spans {
    fn new(text: &str) -> Self {
        Spans {
            doc: toml_edit::ImDocument::parse(text.to_string()).ok(),
        }
    }

    /// The span of the value at `path` (`a.b`, `a[2]`), or of the nearest enclosing key
    /// or table that exists.
    fn find(&self, path: &str) -> Option<std::ops::Range<usize>> {
        let doc = self.doc.as_ref()?;
        let mut table: &dyn toml_edit::TableLike = doc.as_table();
        let mut best = None;
        let segments: Vec<&str> = path.split('.').collect();
        for (depth, segment) in segments.iter().enumerate() {
            let (key, index) = match segment.split_once('[') {
                Some((key, rest)) => (key, rest.trim_end_matches(']').parse::<usize>().ok()),
                None => (*segment, None),
            };
            let Some(item) = table.get(key) else {
                return best;
            };
            best = item
                .span()
                .or_else(|| table.key(key).and_then(|k| k.span()))
                .or(best);
            if let Some(i) = index {
                if let Some(value) = item.as_array().and_then(|a| a.get(i)) {
                    best = value.span().or(best);
                }
                return best;
            }
            if depth + 1 < segments.len() {
                match item.as_table_like() {
                    Some(inner) => table = inner,
                    None => return best,
                }
            }
        }
        best
    }
}

fn locate(
    path: &str,
    text: &str,
    span: Option<std::ops::Range<usize>>,
    message: String,
) -> Problem {
    let span = span.unwrap_or(0..0);
    let start = span.start.min(text.len());
    let before = &text[..start];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = text[line_start..start].chars().count() + 1;
    let line_text = text[line_start..].lines().next().unwrap_or("").to_string();
    let width = text[start..span.end.min(text.len()).max(start)]
        .lines()
        .next()
        .map_or(1, |s| s.chars().count());
    Problem {
        path: path.to_string(),
        line,
        column,
        message,
        snippet: (!line_text.is_empty()).then_some((line_text, width)),
    }
}
