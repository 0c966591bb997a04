//! Parsing and validation of scenario files, with every problem located.
//!
//! Two passes: serde (with `deny_unknown_fields` in every table) catches syntax errors,
//! unknown keys and wrong types, and the TOML parser gives their position. The semantic
//! pass then checks ranges, names (systems, bugs, checks, workloads), contradictions and
//! unknown top-level keys, and hands the system's own section to the system; each problem
//! is reported against a dotted key path, which is located in the source with
//! `toml_edit`'s spans.

use std::path::Path;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

use super::schema::{Catalog, Section, SectionError, SystemSchema};
use super::Problem;
use super::{Expect, Scenario, ScenarioError, ScenarioFile, PROBLEMS_SHOWN_MAX};
use crate::catalog::CheckKind;
use crate::knob::Knob;

/// Where a problem is: a dotted key path to look up, or a span serde already knows.
enum Place {
    Key(String),
    Span(Option<std::ops::Range<usize>>),
}

type Problems = Vec<(Place, String)>;

fn at(problems: &mut Problems, key: &str, message: String) {
    problems.push((Place::Key(key.to_string()), message));
}

/// What the system part of a file resolved to.
struct SystemPart {
    system: &'static dyn SystemSchema,
    section: Section,
    checks: Vec<String>,
    workload: &'static str,
}

/// Parse the file's generic part. serde stops at the first problem; so that a file's
/// problems are reported together, a problem on a one-line `key = value` is recorded and
/// that line blanked (its length kept, so every position stays), and the rest parsed
/// again — up to [`PROBLEMS_SHOWN_MAX`] problems. Returns the file parsed from the text
/// with those lines blanked, and that text, or the problems when it never parses.
fn parse_generic(text: &str, problems: &mut Problems) -> Option<(ScenarioFile, String)> {
    let mut current = text.to_string();
    for _ in 0..PROBLEMS_SHOWN_MAX {
        match toml::from_str::<ScenarioFile>(&current) {
            Ok(file) => return Some((file, current)),
            Err(e) => {
                problems.push((Place::Span(e.span()), e.message().trim_end().to_string()));
                current = blank_key_line(&current, e.span()?.start)?;
            }
        }
    }
    None
}

/// `text` with the line holding byte `at` made blank, when that line is a whole
/// `key = value` (a value that does not go on past the line, not a table header).
fn blank_key_line(text: &str, at: usize) -> Option<String> {
    let start = text[..at.min(text.len())].rfind('\n').map_or(0, |i| i + 1);
    let end = text[start..].find('\n').map_or(text.len(), |i| start + i);
    let line = &text[start..end];
    let (key, value) = line.split_once('=')?;
    let value = value.trim();
    let whole = !key.trim_start().starts_with('[')
        && !value.starts_with("\"\"\"")
        && !value.starts_with("'''")
        && (!value.starts_with('[') || value.ends_with(']'))
        && (!value.starts_with('{') || value.ends_with('}'));
    // As many spaces as the line has bytes: every later position stays where it was.
    whole.then(|| {
        format!(
            "{}{}{}",
            &text[..start],
            " ".repeat(line.len()),
            &text[end..]
        )
    })
}

pub(super) fn parse_and_validate(
    path: &Path,
    text: &str,
    catalog: &dyn Catalog,
) -> Result<Scenario, ScenarioError> {
    let display = path.display().to_string();
    let mut problems: Problems = Vec::new();
    let spans = Spans::new(text);
    let Some((file, parsed_text)) = parse_generic(text, &mut problems) else {
        return Err(located(&display, text, &spans, problems));
    };
    let text_for_sections = parsed_text.as_str();
    check_generic(&file, &mut problems);
    let part = check_system(&file, text_for_sections, catalog, &mut problems);
    check_top_level_keys(&file, &spans, catalog, &mut problems);
    if let (Some(part), true) = (&part, problems.is_empty()) {
        let worst = super::load::Worst::of(&file);
        let system = part.system.load(&part.section, file.swarm, &worst);
        for (key, message) in super::load::check(&file, &worst, &system) {
            at(&mut problems, &key, message);
        }
    }
    let part = match part {
        Some(part) if problems.is_empty() => part,
        _ => return Err(located(&display, text, &spans, problems)),
    };
    let name = match &file.name {
        Some(name) => name.clone(),
        None => default_name(path, &display, text)?,
    };
    Ok(Scenario {
        path: path.to_path_buf(),
        name,
        file,
        system: part.system,
        section: part.section,
        checks: part.checks,
        workload: part.workload,
    })
}

/// The problems in file order: the first [`PROBLEMS_SHOWN_MAX`] located (with line and
/// column), the rest counted. Only those shown are located, so a file with ten thousand
/// problems costs no more than one with twenty.
fn located(display: &str, text: &str, spans: &Spans, problems: Problems) -> ScenarioError {
    let mut placed: Vec<(Option<std::ops::Range<usize>>, String)> = problems
        .into_iter()
        .map(|(place, message)| {
            let span = match place {
                Place::Key(key) => spans.find(&key),
                Place::Span(span) => span,
            };
            (span, message)
        })
        .collect();
    placed.sort_by_key(|(span, _)| span.as_ref().map_or(0, |s| s.start));
    let more = placed.len().saturating_sub(PROBLEMS_SHOWN_MAX);
    let problems = placed
        .into_iter()
        .take(PROBLEMS_SHOWN_MAX)
        .map(|(span, message)| locate(display, text, span, message))
        .collect();
    ScenarioError::Invalid { problems, more }
}

/// The name of a scenario file without `name`: its file name without `.toml`, which
/// must then be a valid name.
fn default_name(path: &Path, display: &str, text: &str) -> Result<String, ScenarioError> {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    match super::check_name(&stem) {
        Ok(()) => Ok(stem),
        Err(message) => Err(ScenarioError::Invalid {
            problems: vec![locate(
                display,
                text,
                None,
                format!("{message}; the file has no `name`, so its file name is used: add `name = \"...\"`"),
            )],
            more: 0,
        }),
    }
}

/// Checks of the generic part: the name, knob ranges, contradictions between knobs.
fn check_generic(file: &ScenarioFile, problems: &mut Problems) {
    if let Some(name) = &file.name {
        if let Err(message) = super::check_name(name) {
            at(problems, "name", message);
        }
    }
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
    file.faults.aimed.check(&mut knob_problems);
    file.limits.check(&mut knob_problems);
    for (key, message) in knob_problems {
        at(problems, &key, message);
    }
    check_contradictions(file, problems);
    check_pinned(file, problems);
}

/// A pinned plan's own fields (the plan itself is read by its system, before any seed).
fn check_pinned(file: &ScenarioFile, problems: &mut Problems) {
    let Some(pinned) = &file.pinned else { return };
    if pinned.plan.trim().is_empty() {
        at(
            problems,
            "pinned.plan",
            "an empty plan: `plan` holds the JSON of a plan.json".into(),
        );
    }
    if pinned.caught.trim().is_empty() {
        at(
            problems,
            "pinned.caught",
            "say what the pinned plan caught (a sentence for the reports)".into(),
        );
    }
    if file.swarm {
        at(
            problems,
            "swarm",
            "a pinned plan has its settings fixed: `swarm` does not apply".into(),
        );
    }
}

/// Bounds that contradict each other.
fn check_contradictions(file: &ScenarioFile, problems: &mut Problems) {
    let f = &file.faults;
    let pairs = [
        (
            "network.latency_ms",
            &file.network.latency_ms_min,
            &file.network.latency_ms_max,
        ),
        (
            "workload.op_interval_ms",
            &file.workload.op_interval_ms_min,
            &file.workload.op_interval_ms_max,
        ),
        (
            "faults.partition.duration_ms",
            &f.partition.duration_ms_min,
            &f.partition.duration_ms_max,
        ),
        (
            "faults.crash.restart_delay_ms",
            &f.crash.restart_delay_ms_min,
            &f.crash.restart_delay_ms_max,
        ),
        (
            "faults.pause.duration_ms",
            &f.pause.duration_ms_min,
            &f.pause.duration_ms_max,
        ),
        (
            "faults.clog.duration_ms",
            &f.clog.duration_ms_min,
            &f.clog.duration_ms_max,
        ),
    ];
    for (stem, lo, hi) in pairs {
        if let Some((key, message)) = crate::knob::crossed_bounds(stem, lo, hi) {
            at(problems, &key, message);
        }
    }
    if let Some(max_down) = &f.crash.max_down {
        let replicas = file.topology.corner(file.swarm, true).replicas;
        if max_down.min() > replicas {
            at(
                problems,
                "faults.crash.max_down",
                format!(
                    "contradictory settings: `faults.crash.max_down` = {} is more than the {replicas} replicas (`topology.replicas`): at most {replicas}",
                    max_down.min()
                ),
            );
        }
    }
    let share = |k: &Option<Knob<f64>>| k.map_or(0.0, |k| k.min());
    if share(&file.workload.read_probability) + share(&file.workload.append_probability) > 1.0 {
        at(
            problems,
            "workload.append_probability",
            "contradictory settings: `workload.read_probability` + `workload.append_probability` exceed 1 (they are shares of all operations)".into(),
        );
    }
    if let Some(shapes) = &file.faults.partition_shapes {
        if shapes.is_empty() {
            at(
                problems,
                "faults.partition_shapes",
                "no partition shapes listed: name at least one of isolate, split, ring, bridge, one_way, or leave the key out for all".into(),
            );
        }
    }
}

/// The system and its names: bugs, checks, the expected check, the workload, and the
/// system's own section. `None` when the system is unknown.
fn check_system(
    file: &ScenarioFile,
    text: &str,
    catalog: &dyn Catalog,
    problems: &mut Problems,
) -> Option<SystemPart> {
    let Some(system) = catalog.find(&file.system) else {
        at(
            problems,
            "system",
            format!(
                "unknown system `{}`: expected one of {}",
                file.system,
                list(catalog.systems().iter().map(|s| s.name()))
            ),
        );
        return None;
    };
    let bugs: Vec<&str> = system.bugs().iter().map(|b| b.name).collect();
    check_names(problems, "bugs", "bug", system.name(), &file.bugs, &bugs);
    let checks = check_checks(file, system, problems);
    let workload = check_workload(file, system, problems);
    let section = match system.load_section(text) {
        Ok(section) => Some(section),
        Err(SectionError::Parse(e)) => {
            problems.push((Place::Span(e.span()), e.message().trim_end().to_string()));
            None
        }
        Err(SectionError::Problems(list)) => {
            for (key, message) in list {
                at(problems, &key, message);
            }
            None
        }
    };
    Some(SystemPart {
        system,
        section: section?,
        checks,
        workload: workload?,
    })
}

/// Each of `given` must be one of `allowed`, and listed once.
fn check_names(
    problems: &mut Problems,
    key: &str,
    what: &str,
    system: &str,
    given: &[String],
    allowed: &[&str],
) {
    let mut seen = std::collections::BTreeSet::new();
    for (i, name) in given.iter().enumerate() {
        let first = seen.insert(name.as_str());
        if !allowed.contains(&name.as_str()) {
            at(
                problems,
                &format!("{key}[{i}]"),
                format!(
                    "unknown {what} `{name}` for system `{system}`: expected one of {}",
                    list(allowed.iter())
                ),
            );
        } else if !first {
            at(
                problems,
                &format!("{key}[{i}]"),
                format!("{what} `{name}` is listed twice"),
            );
        }
    }
}

/// The checks to run, in catalogue order, and what depends on them.
fn check_checks(
    file: &ScenarioFile,
    system: &dyn SystemSchema,
    problems: &mut Problems,
) -> Vec<String> {
    let catalogue = system.checks();
    let names: Vec<&str> = catalogue.iter().map(|c| c.name).collect();
    let checks: Vec<String> = match &file.checks {
        None => names.iter().map(|c| c.to_string()).collect(),
        Some(listed) => {
            if listed.is_empty() {
                at(
                    problems,
                    "checks",
                    format!(
                        "no checks listed: name at least one of {}, or leave the key out for all",
                        list(names.iter())
                    ),
                );
            }
            check_names(problems, "checks", "check", system.name(), listed, &names);
            // Catalogue order, so reports read the same whatever the file's order.
            names
                .iter()
                .filter(|c| listed.iter().any(|l| l == *c))
                .map(|c| c.to_string())
                .collect()
        }
    };
    if let Some(expected) = &file.expect_check {
        if file.expect == Expect::Pass {
            at(
                problems,
                "expect_check",
                "contradictory settings: `expect_check` names the check expected to fail, but `expect` is \"pass\"; set expect = \"violation\" or \"liveness\"".into(),
            );
        } else if !checks.contains(expected) {
            at(
                problems,
                "expect_check",
                format!(
                    "`expect_check` = \"{expected}\" is not among the checks this scenario runs: {}",
                    list(checks.iter())
                ),
            );
        }
    }
    let liveness = catalogue
        .iter()
        .find(|c| c.kind == Some(CheckKind::Liveness) && checks.iter().any(|n| n == c.name));
    if let (Some(check), Some(Knob::Fixed(0))) = (liveness, file.phases.heal_ms) {
        at(
            problems,
            "phases.heal_ms",
            format!(
                "contradictory settings: the `{}` check needs a heal phase, but `phases.heal_ms` is 0",
                check.name
            ),
        );
    }
    checks
}

/// The workload the scenario runs.
fn check_workload(
    file: &ScenarioFile,
    system: &dyn SystemSchema,
    problems: &mut Problems,
) -> Option<&'static str> {
    let workloads = system.workloads();
    let Some(kind) = &file.workload_kind else {
        return workloads.first().map(|w| w.name);
    };
    let found = workloads.iter().find(|w| w.name == kind).map(|w| w.name);
    if found.is_none() {
        at(
            problems,
            "workload_kind",
            format!(
                "system `{}` does not run the `{kind}` workload: expected one of {}",
                system.name(),
                list(workloads.iter().map(|w| w.name))
            ),
        );
    }
    found
}

/// Top-level keys must be generic fields or the system's own section.
fn check_top_level_keys(
    file: &ScenarioFile,
    spans: &Spans,
    catalog: &dyn Catalog,
    problems: &mut Problems,
) {
    let generic = struct_fields::<ScenarioFile>();
    for key in spans.top_level_keys() {
        if generic.contains(&key.as_str()) || key == file.system {
            continue;
        }
        let message = if catalog.find(&key).is_some() {
            format!(
                "a [{key}] section in a scenario of system `{}`: it only applies to system `{key}`",
                file.system
            )
        } else {
            format!(
                "unknown field `{key}`, expected one of {}, or a [{}] section",
                list(generic.iter()),
                file.system
            )
        };
        problems.push((Place::Span(spans.key(&key)), message));
    }
}

/// The field names of a serde struct, as its derived `Deserialize` declares them.
fn struct_fields<'de, T: Deserialize<'de>>() -> &'static [&'static str] {
    struct Fields(Option<&'static [&'static str]>);
    #[derive(Debug)]
    struct Stop;
    impl std::fmt::Display for Stop {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("stop")
        }
    }
    impl std::error::Error for Stop {}
    impl de::Error for Stop {
        fn custom<M: std::fmt::Display>(_: M) -> Self {
            Stop
        }
    }
    impl<'de> Deserializer<'de> for &mut Fields {
        type Error = Stop;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Stop> {
            Err(Stop)
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Stop> {
            self.0 = Some(fields);
            Err(Stop)
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
            byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map enum
            identifier ignored_any
        }
    }
    let mut fields = Fields(None);
    let _ = T::deserialize(&mut fields);
    fields.0.unwrap_or(&[])
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

    /// The span of a top-level key itself (not its value).
    fn key(&self, key: &str) -> Option<std::ops::Range<usize>> {
        self.doc.as_ref()?.as_table().key(key)?.span()
    }

    /// The document's top-level keys, in file order.
    fn top_level_keys(&self) -> Vec<String> {
        self.doc
            .as_ref()
            .map(|doc| doc.as_table().iter().map(|(k, _)| k.to_string()).collect())
            .unwrap_or_default()
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
