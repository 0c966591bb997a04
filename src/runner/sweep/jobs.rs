//! How many seeds run at once: `--jobs`, checked and fitted to the machine.
//!
//! Each seed is bounded by its scenario's `limits.memory_mb_max` (twice that while a
//! determinism re-check holds the first run and makes the second), so a sweep's worst case
//! is that times the seeds running at once. More jobs than a few per core only add
//! threads to switch between, and more than the memory the machine has available could
//! let the worst case exhaust it: in both cases the sweep runs fewer at once and says so.

use std::sync::Arc;

use crate::input::BadInput;
use crate::scenario::Scenario;

/// At most this many seeds per core run at once.
pub const JOBS_PER_CORE_MAX: usize = 4;

/// The number of seeds to run at once, from `--jobs` (default: one per core).
pub fn choose(
    asked: Option<usize>,
    scenarios: &[Arc<Scenario>],
    seeds: u64,
    rechecks: bool,
) -> anyhow::Result<usize> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut jobs = asked.unwrap_or(cores);
    if jobs == 0 {
        return Err(BadInput(format!(
            "--jobs must be at least 1 (it is how many seeds run at once; default: one per core, {cores} here)"
        ))
        .into());
    }
    let cap = JOBS_PER_CORE_MAX * cores;
    if jobs > cap {
        eprintln!(
            "warning: --jobs {jobs} is more than {JOBS_PER_CORE_MAX} per core ({cores} core(s) here): running {cap} seeds at once"
        );
        jobs = cap;
    }
    let per_seed_mb = scenarios
        .iter()
        .map(|s| s.file.limits.corner(s.file.swarm, true).memory_mb_max)
        .max()
        .unwrap_or(1)
        .max(1)
        * if rechecks { 2 } else { 1 };
    if let Some(available_mb) = available_memory_mb() {
        let fit = usize::try_from(available_mb / per_seed_mb)
            .unwrap_or(usize::MAX)
            .max(1);
        if jobs > fit {
            eprintln!(
                "warning: {jobs} seeds at once × up to {per_seed_mb} MB each (`limits.memory_mb_max`{}) is more than the {available_mb} MB available: running {fit} at once (lower `limits.memory_mb_max` to run more)",
                if rechecks { ", twice for determinism re-checks" } else { "" }
            );
            jobs = fit;
        }
    }
    let total = (scenarios.len() as u64).saturating_mul(seeds);
    Ok(jobs
        .min(usize::try_from(total).unwrap_or(usize::MAX))
        .max(1))
}

/// Memory this process may still use (MB): the kernel's estimate of available memory,
/// or the cgroup's remaining allowance when that is lower. `None` where unknown.
pub(crate) fn available_memory_mb() -> Option<u64> {
    let meminfo = read_small("/proc/meminfo")?;
    let available_kb: u64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemAvailable:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    let mut mb = available_kb / 1024;
    let cgroup = |name: &str| -> Option<u64> {
        read_small(&format!("/sys/fs/cgroup/{name}"))?
            .trim()
            .parse()
            .ok()
    };
    if let (Some(max), Some(current)) = (cgroup("memory.max"), cgroup("memory.current")) {
        mb = mb.min(max.saturating_sub(current) >> 20);
    }
    // An address-space limit (`ulimit -v`) caps what the process may allocate at all.
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one `rlimit` into the struct it is given.
    if unsafe { libc::getrlimit(libc::RLIMIT_AS, &mut limit) } == 0
        && limit.rlim_cur != libc::RLIM_INFINITY
    {
        mb = mb.min(limit.rlim_cur >> 20);
    }
    Some(mb)
}

/// A small system file's text (at most 64 KB read).
fn read_small(path: &str) -> Option<String> {
    use std::io::Read;
    let mut text = String::new();
    std::fs::File::open(path)
        .ok()?
        .take(64 << 10)
        .read_to_string(&mut text)
        .ok()?;
    Some(text)
}
