//! Reports: what a person (or CI) reads after a run.
//!
//! * [`write_seed_artifacts`] writes one seed's directory: `plan.json`, `trace.jsonl`,
//!   `history.jsonl`, `verdicts.json`, `timeline.html`, `timeline.svg` and `REPLAY`; every
//!   path below a report root is made by [`under`], which refuses to leave it
//!   ([`artifacts`]).
//! * [`RunDir`], [`write_summary`] and [`write_junit`]: each sweep's own folder, its
//!   `summary.json` and JUnit XML ([`sweep`]); [`write_index`] its `index.html`, the sweep
//!   report a person opens ([`index`]).
//! * [`timeline`]: one seed's run drawn as a page a person explores.
//!
//! What they show comes from the runner: a sweep's tallies, triage and exit code
//! ([`crate::runner::tally`]), its journal ([`crate::runner::journal`]) and the commands
//! it prints ([`crate::runner::commands`]). Everything here is I/O at the edge, on plain
//! data the simulation already returned.

pub mod artifacts;
pub mod index;
pub mod sweep;
pub mod timeline;

pub use artifacts::{seed_dir, under, write_seed_artifacts};
pub use sweep::{
    prune_runs, write_index, write_junit, write_junit_running, write_summary, RunDir,
    ScenarioSummary, Status, Summary,
};

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
