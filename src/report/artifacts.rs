//! One seed's artifacts: `plan.json`, `trace.jsonl`, `history.jsonl`, `history.edn`
//! (Jepsen's format), `verdicts.json`,
//! `timeline.html`, `timeline.svg` and `REPLAY`, in a directory below a report root.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, BufWriter, Write};
use std::path::{Component, Path, PathBuf};

use serde::Serialize;

use super::timeline;
use crate::check::{CheckOutcome, Verdict};
use crate::plan::{AnyPlan, SeedId};
use crate::runner::commands::replay_command;
use crate::scenario::Scenario;
use crate::systems::Execution;

/// A path under `root` made of `parts`, each of them one plain name: no separator, not
/// `.` or `..`, not empty. Every path faultline writes below a report root is made here,
/// so none can leave it, whatever a scenario is named.
pub fn under(root: &Path, parts: &[&str]) -> io::Result<PathBuf> {
    let mut path = root.to_path_buf();
    for part in parts {
        let mut components = Path::new(part).components();
        let plain = matches!(components.next(), Some(Component::Normal(c)) if c == *part)
            && components.next().is_none()
            && !part.contains(['/', '\\', '\0']);
        if !plain {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "refusing to write outside the report root {}: `{part}` is not a plain file name",
                    root.display()
                ),
            ));
        }
        path.push(part);
    }
    Ok(path)
}

/// The artifact directory of one seed: `<root>/<scenario>/<seed>/`.
pub fn seed_dir(root: &Path, scenario: &str, seed: SeedId) -> io::Result<PathBuf> {
    under(root, &[scenario, &seed.to_string()])
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
    #[serde(skip_serializing_if = "Option::is_none")]
    limit: Option<&'a crate::sim::LimitHit>,
    handler_calls: u64,
    memory_peak_mb: f64,
    network: Vec<LinkLine>,
}

#[derive(Debug, Serialize)]
struct LinkLine {
    from: String,
    to: String,
    #[serde(flatten)]
    stats: crate::net::LinkStats,
}

/// Write one seed's artifacts into `dir` (see [`seed_dir`]), creating it; returns the
/// names of the files written, in the order a person reads them.
pub fn write_seed_artifacts(
    dir: &Path,
    scenario: &Scenario,
    plan: &dyn AnyPlan,
    exec: &Execution,
) -> io::Result<Vec<String>> {
    fs::create_dir_all(dir)?;
    write_with(&dir.join("plan.json"), |out| {
        out.write_all(plan.to_json_pretty().map_err(io::Error::other)?.as_bytes())?;
        out.write_all(b"\n")
    })?;
    write_with(&dir.join("trace.jsonl"), |out| exec.trace.write_jsonl(out))?;
    let histories = write_histories(dir, scenario, plan, exec)?;
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
        format!("{}\n", replay_command(&scenario.path, plan.head().id())),
    )?;
    let mut written: Vec<String> = ["timeline.html", "timeline.svg", "trace.jsonl"]
        .map(String::from)
        .to_vec();
    written.extend(histories);
    written.extend(["plan.json", "verdicts.json", "REPLAY"].map(String::from));
    Ok(written)
}

/// The history files of the seed (see [`crate::check::fit`]): each as JSON lines with
/// Porcupine's field names, as `faultline check` and peers' checkers read them, and as
/// Jepsen's EDN, for peer tools (Knossos, Elle, Jepsen's checkers) — a history EDN cannot
/// express gets a file saying why instead of a silently missing one — and its sidecar
/// naming the checker that reads it and the verdict the run's own check gave.
fn write_histories(
    dir: &Path,
    scenario: &Scenario,
    plan: &dyn AnyPlan,
    exec: &Execution,
) -> io::Result<Vec<String>> {
    use crate::check::fit::{HistoryFile, HistoryMeta};
    use crate::history::{edn, jsonl, History};
    let files = crate::systems::find(scenario.system.name())
        .map(|s| s.history_files(plan, &exec.history))
        .unwrap_or_default();
    let files = if files.is_empty() {
        // A system the registry does not know (a plan file of an older build): the
        // whole history, with no claim about which checker reads it.
        let fit = crate::check::fit::Fit::Replay { checks: Vec::new() };
        vec![HistoryFile::whole(fit, None)]
    } else {
        files
    };
    let mut written = Vec::new();
    for file in files {
        written.extend(["jsonl", "edn", "meta.json"].map(|ext| format!("{}.{ext}", file.name)));
        let part;
        let history = match (&file.ops, file.jepsen_processes) {
            (None, false) => &exec.history,
            (ops, jepsen) => {
                let chosen = match ops {
                    Some(ops) => History::new(
                        ops.iter()
                            .filter_map(|&i| exec.history.ops.get(i).cloned())
                            .collect(),
                    ),
                    None => exec.history.clone(),
                };
                part = if jepsen {
                    edn::with_retired_processes(&chosen)
                } else {
                    chosen
                };
                &part
            }
        };
        write_with(&dir.join(format!("{}.jsonl", file.name)), |out| {
            jsonl::write(history, out)
        })?;
        let text = edn::to_string(&edn::with_retired_processes(history))
            .unwrap_or_else(|e| format!(";; this history cannot be written as Jepsen EDN: {e}\n"));
        fs::write(dir.join(format!("{}.edn", file.name)), text)?;
        let check = file.check.and_then(|name| {
            let outcome = exec.checks.iter().find(|c| c.check == name)?;
            Some((name.to_string(), outcome.verdict))
        });
        let meta = HistoryMeta {
            scenario: scenario.name.clone(),
            seed: plan.head().id().to_string(),
            fit: file.fit,
            check,
            replay: replay_command(&scenario.path, plan.head().id()),
        };
        write_with(&dir.join(format!("{}.meta.json", file.name)), |out| {
            serde_json::to_writer_pretty(&mut *out, &meta).map_err(io::Error::other)?;
            out.write_all(b"\n")
        })?;
    }
    Ok(written)
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
        limit: exec.limit.as_ref(),
        handler_calls: exec.handler_calls,
        memory_peak_mb: (exec.memory_peak_bytes as f64 / (1 << 20) as f64 * 10.0).round() / 10.0,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_never_leave_the_root() {
        let root = Path::new("reports");
        assert_eq!(
            under(root, &["a-b.c", "7"]).unwrap(),
            Path::new("reports/a-b.c/7")
        );
        for bad in ["..", ".", "", "a/b", "/etc", "a\\b", "x\0y"] {
            assert!(under(root, &[bad]).is_err(), "{bad:?} accepted");
        }
    }
}
