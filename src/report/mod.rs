//! Reports: what a person (or CI) reads after a run.
//!
//! * [`Tally`] folds a scenario's seed results into counts per verdict, the seeds that
//!   failed, when a planted bug was first caught, and the coverage probes reached;
//!   [`exit_code`] turns the tallies into the process exit code.
//! * [`write_seed_artifacts`] writes one seed's directory: `plan.json`, `trace.jsonl`,
//!   `history.jsonl`, `verdicts.json`, `timeline.html`, `timeline.svg` and `REPLAY`.
//! * [`write_summary`] and [`write_junit`] write the sweep's `summary.json` and JUnit XML.
//!
//! Everything here is I/O at the edge, on plain data the simulation already returned.

pub mod timeline;

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::check::{CheckOutcome, Verdict};
pub mod exit_code;
use crate::plan::AnyPlan;
use crate::runner::SeedResult;
use crate::scenario::{Expect, Scenario};
use crate::systems::Execution;

/// A seed that did not pass.
#[derive(Debug, Clone, Serialize)]
pub struct FailingSeed {
    /// The seed.
    pub seed: u64,
    /// Its verdict.
    pub verdict: Verdict,
    /// The first failing check (none for a crash).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub check: Option<String>,
    /// What went wrong.
    pub message: String,
    /// The command that replays it.
    pub replay: String,
}

/// The seeds of one scenario, folded.
#[derive(Debug, Clone, Serialize)]
pub struct Tally {
    /// Scenario name.
    pub name: String,
    /// Scenario file.
    pub path: String,
    /// Expected outcome.
    pub expect: Expect,
    /// Expected failing check.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expect_check: Option<String>,
    /// Seeds finished.
    pub seeds: u64,
    /// Seeds per verdict.
    pub verdicts: BTreeMap<Verdict, u64>,
    /// Failing seeds, by seed (at most [`FAILING_KEPT_MAX`]).
    pub failing: Vec<FailingSeed>,
    /// Seeds that found what the scenario expects (violation or liveness failure).
    pub caught: u64,
    /// The lowest seed that found it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_caught: Option<u64>,
    /// Seeds whose determinism re-run disagreed.
    pub nondeterministic: Vec<u64>,
    /// Seeds re-run for determinism.
    pub determinism_checked: u64,
    /// Seeds that failed inside faultline itself.
    pub harness_errors: Vec<(u64, String)>,
    /// For each probe: how many seeds reached it.
    pub probes: BTreeMap<String, u64>,
    /// Messages sent, over all seeds.
    pub messages: u64,
    /// Trace events, over all seeds.
    pub events: u64,
    /// Client operations, over all seeds.
    pub operations: u64,
    /// First seed of the run (for "after how many seeds").
    pub seed_start: u64,
}

/// How many failing seeds a tally remembers in detail.
pub const FAILING_KEPT_MAX: usize = 1000;

/// What a scenario's sweep amounts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Met its expectation.
    Ok,
    /// A correct scenario found a safety violation (or a crash).
    Violation,
    /// A correct scenario did not settle after heal.
    Liveness,
    /// Only inconclusive checks.
    Inconclusive,
    /// The expected finding was never made.
    Missed,
    /// A determinism re-run disagreed, or faultline failed.
    Broken,
}

impl Tally {
    /// An empty tally for `scenario`.
    pub fn new(scenario: &Scenario, seed_start: u64) -> Self {
        Tally {
            name: scenario.name.clone(),
            path: scenario.path.display().to_string(),
            expect: scenario.file.expect,
            expect_check: scenario.file.expect_check.clone(),
            seeds: 0,
            verdicts: BTreeMap::new(),
            failing: Vec::new(),
            caught: 0,
            first_caught: None,
            nondeterministic: Vec::new(),
            determinism_checked: 0,
            harness_errors: Vec::new(),
            probes: BTreeMap::new(),
            messages: 0,
            events: 0,
            operations: 0,
            seed_start,
        }
    }

    /// Whether a result is the finding this scenario expects.
    pub fn catches(&self, verdict: Verdict, checks: &[CheckOutcome]) -> bool {
        let named = |wanted: Verdict| {
            checks.iter().any(|c| {
                c.verdict == wanted && self.expect_check.as_ref().is_none_or(|e| *e == c.check)
            })
        };
        match self.expect {
            Expect::Pass => false,
            Expect::Violation => {
                named(Verdict::Violation)
                    || (verdict == Verdict::Crash && self.expect_check.is_none())
            }
            Expect::Liveness => named(Verdict::Liveness),
        }
    }

    /// Fold in one seed.
    pub fn add(&mut self, r: &SeedResult) {
        self.seeds += 1;
        *self.verdicts.entry(r.verdict).or_insert(0) += 1;
        self.messages += r.messages;
        self.events += r.events as u64;
        self.operations += r.operations as u64;
        for probe in r.probes.keys() {
            *self.probes.entry(probe.to_string()).or_insert(0) += 1;
        }
        if r.determinism.is_some() {
            self.determinism_checked += 1;
        }
        if r.nondeterministic() {
            self.nondeterministic.push(r.seed);
            self.nondeterministic.sort_unstable();
        }
        if let Some(e) = &r.harness_error {
            self.harness_errors.push((r.seed, e.clone()));
            self.harness_errors.sort();
        }
        if self.catches(r.verdict, &r.checks) {
            self.caught += 1;
            self.first_caught = Some(self.first_caught.map_or(r.seed, |s| s.min(r.seed)));
        }
        if r.verdict != Verdict::Pass {
            // The expected check, when this seed caught what the scenario expects;
            // otherwise the first check with the seed's verdict.
            let expected = self
                .expect_check
                .as_ref()
                .filter(|_| self.catches(r.verdict, &r.checks));
            let first = expected
                .and_then(|e| {
                    r.checks
                        .iter()
                        .find(|c| &c.check == e && c.verdict != Verdict::Pass)
                })
                .or_else(|| r.checks.iter().find(|c| c.verdict == r.verdict));
            let message = match (&r.panic, &r.harness_error, first) {
                (Some(p), _, _) => format!("{} panicked: {}", p.name, p.message),
                (_, Some(e), _) => format!("faultline failed: {e}"),
                (_, _, Some(c)) => c.message.clone(),
                _ => String::new(),
            };
            let at = self.failing.partition_point(|f| f.seed < r.seed);
            self.failing.insert(
                at,
                FailingSeed {
                    seed: r.seed,
                    verdict: r.verdict,
                    check: first.map(|c| c.check.clone()),
                    message,
                    replay: replay_command(Path::new(&self.path), r.seed),
                },
            );
            self.failing.truncate(FAILING_KEPT_MAX);
        }
    }

    /// The scenario's outcome (`complete`: the sweep ran every seed it was asked to).
    pub fn outcome(&self, complete: bool) -> Outcome {
        let count = |v: Verdict| self.verdicts.get(&v).copied().unwrap_or(0);
        if !self.nondeterministic.is_empty() || !self.harness_errors.is_empty() {
            return Outcome::Broken;
        }
        match self.expect {
            Expect::Pass => {
                if count(Verdict::Violation) + count(Verdict::Crash) > 0 {
                    Outcome::Violation
                } else if count(Verdict::Liveness) > 0 {
                    Outcome::Liveness
                } else if count(Verdict::Unknown) > 0 {
                    Outcome::Inconclusive
                } else {
                    Outcome::Ok
                }
            }
            Expect::Violation | Expect::Liveness => {
                if self.caught > 0 || !complete {
                    Outcome::Ok
                } else {
                    Outcome::Missed
                }
            }
        }
    }

    /// Seeds run until the first catch ("after N seeds"), when seeds start at `seed_start`.
    pub fn seeds_until_caught(&self) -> Option<u64> {
        self.first_caught.map(|s| s - self.seed_start + 1)
    }
}

/// The exit code of a sweep: the worst scenario outcome decides.
pub fn exit_code(tallies: &[Tally], complete: bool) -> u8 {
    let outcomes: Vec<Outcome> = tallies.iter().map(|t| t.outcome(complete)).collect();
    let any = |o: Outcome| outcomes.contains(&o);
    if any(Outcome::Broken) {
        exit_code::INTERNAL
    } else if any(Outcome::Violation) || any(Outcome::Missed) {
        exit_code::SAFETY
    } else if any(Outcome::Liveness) {
        exit_code::LIVENESS
    } else if any(Outcome::Inconclusive) {
        exit_code::INCONCLUSIVE
    } else if !complete {
        exit_code::INTERRUPTED
    } else {
        exit_code::PASS
    }
}

/// The exit code of a single seed (replay).
pub fn seed_exit_code(verdict: Verdict) -> u8 {
    match verdict {
        Verdict::Pass => exit_code::PASS,
        Verdict::Violation | Verdict::Crash => exit_code::SAFETY,
        Verdict::Liveness => exit_code::LIVENESS,
        Verdict::Unknown => exit_code::INCONCLUSIVE,
    }
}

/// The command that replays one seed.
pub fn replay_command(scenario: &Path, seed: u64) -> String {
    let path = scenario.display().to_string();
    let quoted = if path
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-+=:,".contains(c))
    {
        path
    } else {
        format!("'{}'", path.replace('\'', r"'\''"))
    };
    format!("faultline replay {quoted} --seed {seed}")
}

/// The artifact directory of one seed.
pub fn seed_dir(root: &Path, scenario: &str, seed: u64) -> PathBuf {
    root.join(scenario).join(seed.to_string())
}

/// The verdicts file of one seed.
#[derive(Debug, Serialize)]
struct Verdicts<'a> {
    scenario: &'a str,
    seed: u64,
    verdict: Verdict,
    checks: &'a [CheckOutcome],
    #[serde(skip_serializing_if = "Option::is_none")]
    panic: Option<&'a crate::sim::NodePanic>,
    settled: bool,
    end_ms: u64,
    trace_hash: String,
    probes: &'a BTreeMap<&'static str, u64>,
    network: Vec<LinkLine>,
}

#[derive(Debug, Serialize)]
struct LinkLine {
    from: String,
    to: String,
    #[serde(flatten)]
    stats: crate::net::LinkStats,
}

/// Write one seed's artifacts under `root/<scenario>/<seed>/` and return the directory.
pub fn write_seed_artifacts(
    root: &Path,
    scenario: &Scenario,
    plan: &dyn AnyPlan,
    exec: &Execution,
) -> io::Result<PathBuf> {
    let dir = seed_dir(root, &scenario.name, plan.head().seed);
    fs::create_dir_all(&dir)?;
    write_with(&dir.join("plan.json"), |out| {
        out.write_all(plan.to_json_pretty().map_err(io::Error::other)?.as_bytes())?;
        out.write_all(b"\n")
    })?;
    write_with(&dir.join("trace.jsonl"), |out| exec.trace.write_jsonl(out))?;
    // Porcupine's field names, as `faultline check` (and peers' checkers) read them.
    write_with(&dir.join("history.jsonl"), |out| {
        crate::history::jsonl::write(&exec.history, out)
    })?;
    let verdicts = verdicts(scenario, plan, exec);
    write_with(&dir.join("verdicts.json"), |out| {
        serde_json::to_writer_pretty(&mut *out, &verdicts).map_err(io::Error::other)?;
        out.write_all(b"\n")
    })?;
    fs::write(
        dir.join("timeline.html"),
        timeline::render_html(scenario, plan, exec),
    )?;
    fs::write(
        dir.join("timeline.svg"),
        timeline::render_svg(scenario, plan, exec),
    )?;
    fs::write(
        dir.join("REPLAY"),
        format!("{}\n", replay_command(&scenario.path, plan.head().seed)),
    )?;
    Ok(dir)
}

/// Create `path` and fill it through a buffered writer.
fn write_with(
    path: &Path,
    fill: impl FnOnce(&mut BufWriter<fs::File>) -> io::Result<()>,
) -> io::Result<()> {
    let mut out = BufWriter::new(fs::File::create(path)?);
    fill(&mut out)?;
    out.flush()
}

fn verdicts<'a>(scenario: &'a Scenario, plan: &dyn AnyPlan, exec: &'a Execution) -> Verdicts<'a> {
    let name = |i: usize| {
        plan.head()
            .nodes
            .get(i)
            .map_or_else(|| i.to_string(), |n| n.name.clone())
    };
    Verdicts {
        scenario: &scenario.name,
        seed: plan.head().seed,
        verdict: exec.verdict,
        checks: &exec.checks,
        panic: exec.panic.as_ref(),
        settled: exec.settled,
        end_ms: exec.end_ns / 1_000_000,
        trace_hash: format!("{:016x}", exec.trace.hash()),
        probes: &exec.probes,
        network: exec
            .links
            .iter()
            .map(|(&(from, to), stats)| LinkLine {
                from: name(from),
                to: name(to),
                stats: *stats,
            })
            .collect(),
    }
}

/// The summary of a sweep (`summary.json`).
#[derive(Debug, Serialize)]
pub struct Summary<'a> {
    /// Seeds asked per scenario.
    pub seeds_per_scenario: u64,
    /// First seed.
    pub seed_start: u64,
    /// Threads.
    pub jobs: usize,
    /// Whether every seed ran (false after Ctrl-C).
    pub complete: bool,
    /// Wall-clock seconds.
    pub wall_s: f64,
    /// Seeds per second.
    pub seeds_per_s: f64,
    /// Exit code.
    pub exit_code: u8,
    /// Per scenario.
    pub scenarios: Vec<ScenarioSummary<'a>>,
}

/// One scenario in `summary.json`.
#[derive(Debug, Serialize)]
pub struct ScenarioSummary<'a> {
    /// The tally.
    #[serde(flatten)]
    pub tally: &'a Tally,
    /// Its outcome.
    pub outcome: Outcome,
    /// Replay command of the first failing (or catching) seed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replay: Option<String>,
}

/// Write `summary.json`.
pub fn write_summary(path: &Path, summary: &Summary<'_>) -> io::Result<()> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
    }
    let mut out = BufWriter::new(fs::File::create(path)?);
    serde_json::to_writer_pretty(&mut out, summary).map_err(io::Error::other)?;
    out.write_all(b"\n")?;
    out.flush()
}

/// Write JUnit XML: one test case per scenario, failing when its outcome is not ok.
pub fn write_junit(path: &Path, tallies: &[Tally], complete: bool, wall_s: f64) -> io::Result<()> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
    }
    let failures = tallies
        .iter()
        .filter(|t| t.outcome(complete) != Outcome::Ok)
        .count();
    let mut xml = String::new();
    xml.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    xml.push_str(&format!(
        "<testsuites name=\"faultline\" tests=\"{}\" failures=\"{failures}\" time=\"{wall_s:.3}\">\n",
        tallies.len()
    ));
    xml.push_str(&format!(
        "  <testsuite name=\"faultline\" tests=\"{}\" failures=\"{failures}\" time=\"{wall_s:.3}\">\n",
        tallies.len()
    ));
    for t in tallies {
        xml.push_str(&format!(
            "    <testcase classname=\"faultline.{}\" name=\"{} ({} seeds)\">\n",
            escape(&t.name),
            escape(&t.name),
            t.seeds
        ));
        let outcome = t.outcome(complete);
        if outcome != Outcome::Ok {
            let mut body = String::new();
            for f in t.failing.iter().take(20) {
                body.push_str(&format!(
                    "seed {}: {:?}: {}\n  {}\n",
                    f.seed,
                    f.verdict,
                    f.message,
                    replay_command(Path::new(&t.path), f.seed)
                ));
            }
            if outcome == Outcome::Missed {
                body.push_str(&format!(
                    "expected a {:?} finding in {} seeds; none was found\n",
                    t.expect, t.seeds
                ));
            }
            xml.push_str(&format!(
                "      <failure message=\"{:?}\">{}</failure>\n",
                outcome,
                escape(&body)
            ));
        }
        xml.push_str("    </testcase>\n");
    }
    xml.push_str("  </testsuite>\n</testsuites>\n");
    fs::write(path, xml)
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
