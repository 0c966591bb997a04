//! A sweep's reports: its run folder, `summary.json`, `index.html` and JUnit XML.
//!
//! Every `faultline run` writes into a folder of its own, `<root>/<run-id>/`, and points
//! `<root>/latest` at it, so nothing an earlier run left behind can pass for the current
//! run's result. The folder's `summary.json` is written when the sweep starts (status
//! `running`, every scenario `not_run`) and replaced when it ends; a JUnit file asked for
//! with `--junit` starts as a single error ("did not finish"). So a run that is killed
//! outright leaves reports that say so, never the previous run's pass.
//!
//! Scenarios that did not run all their seeds are honest about it: `not_run` or
//! `incomplete` in `summary.json`, `<skipped>` in JUnit, and the exit code is 130 at best.

use std::fs;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::artifacts::under;
use crate::runner::commands::replay_command;
use crate::runner::{Outcome, Tally};

/// Where a sweep writes: `<root>/<id>/`.
#[derive(Debug, Clone)]
pub struct RunDir {
    /// `run-YYYYMMDD-HHMMSS`, with `-2`, `-3`, … when that second is taken.
    pub id: String,
    /// The folder.
    pub path: PathBuf,
}

/// How many same-second run folders get a numbered name before giving up.
const SAME_SECOND_MAX: u32 = 1000;

impl RunDir {
    /// Create a new run folder under `root`, named after `unix_s` (UTC), and point
    /// `<root>/latest` at it.
    pub fn create(root: &Path, unix_s: u64) -> io::Result<RunDir> {
        fs::create_dir_all(root)?;
        let stamp = utc_stamp(unix_s);
        // Past every run of this second still there: a name whose folder was pruned is
        // not taken again, or the newest run would sort as the oldest of its second.
        let first = same_second_runs(root, &stamp)?.map_or(1, |n| n + 1);
        for n in first..=SAME_SECOND_MAX {
            let id = if n == 1 {
                format!("run-{stamp}")
            } else {
                format!("run-{stamp}-{n}")
            };
            let path = under(root, &[&id])?;
            match fs::create_dir(&path) {
                Ok(()) => {
                    point_latest(root, &id)?;
                    return Ok(RunDir { id, path });
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
        Err(io::Error::other(format!(
            "{SAME_SECOND_MAX} runs already started this second under {}",
            root.display()
        )))
    }
}

/// The highest same-second number among `root`'s run folders of `stamp` (`run-<stamp>` is
/// 1, `run-<stamp>-2` is 2), if there are any.
fn same_second_runs(root: &Path, stamp: &str) -> io::Result<Option<u32>> {
    let base = format!("run-{stamp}");
    let mut highest = None;
    for entry in fs::read_dir(root)? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        let n = if name == base {
            Some(1)
        } else {
            (name.strip_prefix(&base))
                .and_then(|rest| rest.strip_prefix('-'))
                .and_then(|n| n.parse::<u32>().ok())
        };
        highest = highest.max(n);
    }
    Ok(highest)
}

/// Remove all but the newest `keep` run folders under `root` (`run-YYYYMMDD-HHMMSS`, with
/// their manifest: only folders a run made), never the one `<root>/latest` points to;
/// returns the names removed. Each 1,000-seed run keeps the artifacts of its failures,
/// so without pruning a report root only grows.
pub fn prune_runs(root: &Path, keep: usize) -> io::Result<Vec<String>> {
    let latest = fs::read_link(root.join("latest")).ok();
    let mut runs: Vec<(String, u32)> = Vec::new();
    for entry in fs::read_dir(root)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let is_run = name.starts_with("run-")
            && entry.file_type()?.is_dir()
            && entry
                .path()
                .join(crate::runner::journal::MANIFEST)
                .is_file();
        if is_run {
            // Same-second runs are `-2`, `-3`, …: order them after their first.
            let same_second = (name.len() > "run-YYYYMMDD-HHMMSS".len())
                .then(|| name.rsplit('-').next().and_then(|n| n.parse().ok()))
                .flatten()
                .unwrap_or(1);
            runs.push((name, same_second));
        }
    }
    runs.sort_by(|a, b| (&a.0[..a.0.len().min(19)], a.1).cmp(&(&b.0[..b.0.len().min(19)], b.1)));
    let old = runs.len().saturating_sub(keep);
    let mut removed = Vec::new();
    for (name, _) in runs.into_iter().take(old) {
        if latest.as_deref() == Some(Path::new(&name)) {
            continue;
        }
        fs::remove_dir_all(root.join(&name))?;
        removed.push(name);
    }
    Ok(removed)
}

/// Make `<root>/latest` a symbolic link to `id`, replacing the old one atomically.
#[cfg(unix)]
fn point_latest(root: &Path, id: &str) -> io::Result<()> {
    let latest = root.join("latest");
    if latest.exists() && !latest.is_symlink() {
        return Err(io::Error::other(format!(
            "{} exists and is not the link faultline keeps there: move it away",
            latest.display()
        )));
    }
    let staging = root.join(format!(".latest-{}", std::process::id()));
    let _ = fs::remove_file(&staging);
    std::os::unix::fs::symlink(id, &staging)?;
    fs::rename(&staging, &latest)
}

/// Elsewhere: a text file naming the latest run.
#[cfg(not(unix))]
fn point_latest(root: &Path, id: &str) -> io::Result<()> {
    fs::write(root.join("latest.txt"), format!("{id}\n"))
}

/// `YYYYMMDD-HHMMSS` of a Unix time, in UTC.
pub fn utc_stamp(unix_s: u64) -> String {
    let days = (unix_s / 86_400) as i64;
    let secs = unix_s % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}{month:02}{day:02}-{:02}{:02}{:02}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Where a sweep stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Seeds are running (or the process was killed before it could say otherwise).
    Running,
    /// Every seed ran.
    Finished,
    /// Ctrl-C or SIGTERM stopped it; what finished is reported.
    Interrupted,
}

/// The summary of a sweep (`summary.json`).
#[derive(Debug, Serialize)]
pub struct Summary<'a> {
    /// Where the sweep stands.
    pub status: Status,
    /// The run folder's name.
    pub run_id: &'a str,
    /// The shard of a sweep run on many machines (`K/N`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shard: Option<String>,
    /// The time budget (seconds): seeds ran round-robin until it was spent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_budget_s: Option<u64>,
    /// Seeds asked per scenario.
    pub seeds_per_scenario: u64,
    /// First seed.
    pub seed_start: u64,
    /// Threads.
    pub jobs: usize,
    /// Whether every seed ran.
    pub complete: bool,
    /// Seeds that finished and are counted.
    pub seeds_finished: u64,
    /// Seeds an interrupt stopped half-way (not counted anywhere).
    pub seeds_cut_short: u64,
    /// Wall-clock seconds.
    pub wall_s: f64,
    /// Seeds per second.
    pub seeds_per_s: f64,
    /// Exit code (absent while running).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<u8>,
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
    write_new(path, |out| {
        serde_json::to_writer_pretty(&mut *out, summary).map_err(io::Error::other)?;
        out.write_all(b"\n")
    })
}

/// Write the sweep report page (`index.html`, see [`super::index`]).
pub fn write_index(path: &Path, data: &super::index::IndexData<'_>) -> io::Result<()> {
    let page = super::index::render(data);
    write_new(path, |out| out.write_all(page.as_bytes()))
}

/// Write a file through a temporary beside it, then rename: a reader never sees half.
fn write_new(
    path: &Path,
    fill: impl FnOnce(&mut BufWriter<fs::File>) -> io::Result<()>,
) -> io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir)?;
    }
    let mut staging = path.as_os_str().to_owned();
    staging.push(format!(".partial-{}", std::process::id()));
    let staging = PathBuf::from(staging);
    let mut out = BufWriter::new(fs::File::create(&staging)?);
    fill(&mut out)?;
    out.flush()?;
    drop(out);
    fs::rename(&staging, path)
}

/// JUnit XML for a sweep that has started and not yet ended: one error, so a run killed
/// before it could report never leaves an earlier run's pass in place.
pub fn write_junit_running(path: &Path, run_id: &str) -> io::Result<()> {
    let xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <testsuites name=\"faultline\" tests=\"1\" errors=\"1\">\n\
         \x20 <testsuite name=\"faultline\" tests=\"1\" errors=\"1\">\n\
         \x20   <testcase classname=\"faultline\" name=\"sweep {}\">\n\
         \x20     <error message=\"the sweep did not finish\">faultline run {} started and has not reported: it is still running, or it was killed.</error>\n\
         \x20   </testcase>\n\
         \x20 </testsuite>\n\
         </testsuites>\n",
        escape(run_id),
        escape(run_id)
    );
    write_new(path, |out| out.write_all(xml.as_bytes()))
}

/// Write JUnit XML: one test case per scenario — failing when its outcome is a failure,
/// skipped when the sweep was interrupted before it finished.
pub fn write_junit(path: &Path, tallies: &[Tally], wall_s: f64) -> io::Result<()> {
    let count = |f: fn(Outcome) -> bool| tallies.iter().filter(|t| f(t.outcome())).count();
    let skipped = count(|o| matches!(o, Outcome::NotRun | Outcome::Incomplete));
    let failures = count(|o| !matches!(o, Outcome::Ok | Outcome::NotRun | Outcome::Incomplete));
    let mut xml = String::new();
    xml.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let attrs = format!(
        "tests=\"{}\" failures=\"{failures}\" skipped=\"{skipped}\" time=\"{wall_s:.3}\"",
        tallies.len()
    );
    xml.push_str(&format!("<testsuites name=\"faultline\" {attrs}>\n"));
    xml.push_str(&format!("  <testsuite name=\"faultline\" {attrs}>\n"));
    for t in tallies {
        xml.push_str(&format!(
            "    <testcase classname=\"faultline.{}\" name=\"{} ({} of {} seeds)\">\n",
            escape(&t.name),
            escape(&t.name),
            t.seeds,
            t.seeds_asked
        ));
        xml.push_str(&junit_body(t));
        xml.push_str("    </testcase>\n");
    }
    xml.push_str("  </testsuite>\n</testsuites>\n");
    write_new(path, |out| out.write_all(xml.as_bytes()))
}

/// The element inside a scenario's test case: nothing, `<skipped>` or `<failure>`.
fn junit_body(t: &Tally) -> String {
    let outcome = t.outcome();
    match outcome {
        Outcome::Ok => String::new(),
        Outcome::NotRun => {
            "      <skipped message=\"not run: the sweep was interrupted before this scenario\"/>\n"
                .to_string()
        }
        Outcome::Incomplete => format!(
            "      <skipped message=\"incomplete: {} of {} seeds ran before the sweep was interrupted, and found nothing{}\"/>\n",
            t.seeds,
            t.seeds_asked,
            if t.expect == crate::scenario::Expect::Pass {
                ""
            } else {
                " (the planted bug was not caught yet)"
            }
        ),
        _ => {
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
            format!(
                "      <failure message=\"{:?}\">{}</failure>\n",
                outcome,
                escape(&body)
            )
        }
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_are_utc_calendar_times() {
        assert_eq!(utc_stamp(0), "19700101-000000");
        assert_eq!(utc_stamp(951_782_400), "20000229-000000");
        assert_eq!(utc_stamp(1_796_305_425), "20261203-134345");
    }

    #[test]
    fn run_folders_are_new_and_latest_follows() {
        let root = std::env::temp_dir().join(format!("faultline-rundir-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        let a = RunDir::create(&root, 1_796_305_425).unwrap();
        let b = RunDir::create(&root, 1_796_305_425).unwrap();
        assert_eq!(a.id, "run-20261203-134345");
        assert_eq!(b.id, "run-20261203-134345-2");
        #[cfg(unix)]
        assert_eq!(
            fs::read_link(root.join("latest")).unwrap(),
            Path::new(&b.id)
        );
        // The first of the second removed (pruned): the next run does not take its name.
        fs::remove_dir_all(&a.path).unwrap();
        let c = RunDir::create(&root, 1_796_305_425).unwrap();
        assert_eq!(c.id, "run-20261203-134345-3");
        let _ = fs::remove_dir_all(&root);
    }
}
