//! Reports: what a person (or CI) reads after a run.
//!
//! * [`Tally`] folds a scenario's seed results into counts per verdict, the seeds that
//!   failed, when a planted bug was first caught, and the coverage probes reached;
//!   [`exit_code()`] turns the tallies into the process exit code ([`tally`]).
//! * [`write_seed_artifacts`] writes one seed's directory: `plan.json`, `trace.jsonl`,
//!   `history.jsonl`, `verdicts.json`, `timeline.html`, `timeline.svg` and `REPLAY`; every
//!   path below a report root is made by [`under`], which refuses to leave it
//!   ([`artifacts`]).
//! * [`RunDir`], [`write_summary`] and [`write_junit`]: each sweep's own folder, its
//!   `summary.json` and JUnit XML ([`sweep`]); [`write_index`] its `index.html`, the sweep
//!   report a person opens ([`index`]).
//!
//! Everything here is I/O at the edge, on plain data the simulation already returned.

pub mod artifacts;
pub mod exit_code;
pub mod index;
pub mod journal;
pub mod sweep;
pub mod tally;
pub mod timeline;
pub mod triage;

use std::path::Path;

pub use artifacts::{seed_dir, under, write_seed_artifacts};
pub use sweep::{
    prune_runs, write_index, write_junit, write_junit_running, write_summary, RunDir,
    ScenarioSummary, Status, Summary,
};
pub use tally::{exit_code, seed_exit_code, Outcome, Tally, FAILING_KEPT_MAX};
pub use triage::{FailingSeed, FailureGroup, Triage};

/// `path`, quoted for a POSIX shell when it needs to be.
pub fn shell_quote(path: &Path) -> String {
    let path = path.display().to_string();
    if path
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-+=:,".contains(c))
    {
        path
    } else {
        format!("'{}'", path.replace('\'', r"'\''"))
    }
}

/// A relative URL of plain path parts, each percent-encoded where a browser needs it.
pub fn url_of(parts: &[&str]) -> String {
    let mut url = String::new();
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            url.push('/');
        }
        for b in part.bytes() {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                url.push(b as char);
            } else {
                url.push_str(&format!("%{b:02X}"));
            }
        }
    }
    url
}

/// How the commands faultline prints start: `faultline` until [`set_program`] says
/// otherwise (the binary sets the path it was run as, so a printed line pastes as is).
static PROGRAM: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Set how printed commands start (once; later calls are ignored).
pub fn set_program(program: String) {
    let _ = PROGRAM.set(program);
}

/// How printed commands start: `faultline`, or the path of the binary that prints them.
pub fn program() -> &'static str {
    PROGRAM.get().map_or("faultline", String::as_str)
}

/// The command that replays one seed.
pub fn replay_command(scenario: &Path, seed: u64) -> String {
    format!(
        "{} replay {} --seed {}",
        program(),
        shell_quote(scenario),
        crate::plan::SeedId::from_raw(seed)
    )
}

/// The command that replays an explicit plan file of `scenario`.
pub fn replay_plan_command(scenario: &Path, plan: &Path) -> String {
    format!(
        "{} replay {} --plan {}",
        program(),
        shell_quote(scenario),
        shell_quote(plan)
    )
}
