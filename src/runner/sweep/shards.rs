//! The shards of one sweep (`faultline run … --shard K/N` on many machines), read back
//! for `faultline merge`, and how two manifests differ as sweeps (a resume must be the
//! same sweep; shards of one sweep differ only in their index).
//!
//! Shards of different sweeps are refused, saying which: another faultline binary, other
//! scenario files (by content hash), another seed range or shard count, a shard given
//! twice or missing, a seed that two shards both ran, or a shard whose summary says it
//! finished while its journal does not hold exactly its finished seeds.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::input::BadInput;
use crate::runner::journal::{self, Manifest, SeedRecord};

/// The shards of one sweep, read and checked.
#[derive(Debug)]
pub struct Shards {
    /// The sweep's manifest, as one run (shard 1/1).
    pub manifest: Manifest,
    /// Every shard's finished seeds.
    pub records: Vec<SeedRecord>,
    /// The shards' own wall time, summed (s).
    pub wall_s: f64,
    /// What a person should know: shards interrupted before they finished.
    pub notes: Vec<String>,
}

/// How two manifests differ as sweeps (`None`: the same sweep). With `shards`, the shard
/// index may differ (shards of one sweep); otherwise it must match too (a resume).
pub fn difference(a: &Manifest, b: &Manifest, shards: bool) -> Option<String> {
    if a.binary_hash != b.binary_hash || a.version != b.version {
        return Some(format!(
            "another faultline build (version {} build {} against {} build {})",
            a.version, a.binary_hash, b.version, b.binary_hash
        ));
    }
    if (a.seed_start, a.seeds) != (b.seed_start, b.seeds) {
        return Some(format!(
            "another seed range ({} seeds from {} against {} from {})",
            a.seeds, a.seed_start, b.seeds, b.seed_start
        ));
    }
    if a.shard.1 != b.shard.1 || (!shards && a.shard.0 != b.shard.0) {
        return Some(format!(
            "another shard ({}/{} against {}/{})",
            a.shard.0, a.shard.1, b.shard.0, b.shard.1
        ));
    }
    if (a.determinism_every, a.check_determinism, a.time_budget_s)
        != (b.determinism_every, b.check_determinism, b.time_budget_s)
    {
        return Some("other determinism re-check or time-budget settings".into());
    }
    if a.search != b.search {
        let said = |s: &journal::Search| {
            let points = if s.fault_points { "on" } else { "off" };
            format!(
                "--guided-share {} --branch-share {} --fault-points {points}",
                s.guided_share, s.branch_share
            )
        };
        return Some(format!(
            "other search settings ({} against {})",
            said(&a.search),
            said(&b.search)
        ));
    }
    scenario_difference(a, b)
}

fn scenario_difference(a: &Manifest, b: &Manifest) -> Option<String> {
    if a.scenarios.len() != b.scenarios.len() {
        return Some(format!(
            "{} scenarios against {}",
            a.scenarios.len(),
            b.scenarios.len()
        ));
    }
    let (x, y) = a.scenarios.iter().zip(&b.scenarios).find(|(x, y)| x != y)?;
    Some(if x.name != y.name {
        format!("scenario `{}` where the other has `{}`", x.name, y.name)
    } else {
        format!(
            "scenario `{}` has other content ({} hash {} against {} hash {})",
            x.name, x.path, x.file_hash, y.path, y.file_hash
        )
    })
}

/// A shard's run folder from a folder or a `summary.json` path.
fn run_folder(path: &Path) -> PathBuf {
    if path.file_name().is_some_and(|n| n == "summary.json") {
        path.parent()
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
    } else {
        path.to_path_buf()
    }
}

/// Read every shard (a run folder or its `summary.json`) and check they are the N shards of one sweep, each once.
pub fn read(paths: &[PathBuf]) -> Result<Shards, BadInput> {
    let mut by_index: BTreeMap<u64, (PathBuf, Manifest)> = BTreeMap::new();
    for path in paths {
        let dir = run_folder(path);
        let m = journal::read_manifest(&dir).map_err(BadInput)?;
        if let Some((first_dir, first)) = by_index.values().next() {
            if let Some(why) = difference(first, &m, true) {
                return Err(BadInput(format!(
                    "{} and {} are not shards of one sweep: {why}",
                    first_dir.display(),
                    dir.display()
                )));
            }
        }
        if let Some((other, _)) = by_index.get(&m.shard.0) {
            return Err(BadInput(format!(
                "shard {}/{} is given twice: {} and {}",
                m.shard.0,
                m.shard.1,
                other.display(),
                dir.display()
            )));
        }
        by_index.insert(m.shard.0, (dir, m));
    }
    let (_, (_, first)) =
        (by_index.iter().next()).ok_or_else(|| BadInput("no shards given".into()))?;
    let count = first.shard.1;
    let missing: Vec<String> = (1..=count)
        .filter(|k| !by_index.contains_key(k))
        .map(|k| format!("{k}/{count}"))
        .collect();
    if !missing.is_empty() {
        return Err(BadInput(format!("missing shard(s) {}", missing.join(", "))));
    }
    let mut whole = first.clone();
    whole.shard = (1, 1);
    let mut shards = Shards {
        manifest: whole,
        records: Vec::new(),
        wall_s: 0.0,
        notes: Vec::new(),
    };
    records_of(&by_index, &mut shards)?;
    Ok(shards)
}

/// What a shard's `summary.json` says of it (what could be read).
#[derive(Debug, Default)]
struct ShardSummary {
    /// `finished`, `interrupted` or `running` (a killed shard never said otherwise).
    status: Option<String>,
    /// Seeds it finished.
    seeds_finished: Option<u64>,
    /// Its own wall time (s).
    wall_s: f64,
}

/// A shard's summary: written when it starts and rewritten when it ends, so a shard
/// without a readable one is damaged (its status and its own time would be guessed).
fn shard_summary(dir: &Path) -> Result<ShardSummary, BadInput> {
    let path = dir.join("summary.json");
    let damaged = |why: String| {
        BadInput(format!(
            "{}: a damaged shard: {why} (a shard writes its summary when it starts)",
            path.display()
        ))
    };
    let text = std::fs::read_to_string(&path).map_err(|e| damaged(e.to_string()))?;
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| damaged(e.to_string()))?;
    let status = v["status"].as_str().map(str::to_string);
    if status.is_none() {
        return Err(damaged("no `status`".into()));
    }
    Ok(ShardSummary {
        status,
        seeds_finished: v["seeds_finished"].as_u64(),
        wall_s: v["wall_s"].as_f64().unwrap_or(0.0),
    })
}

/// Every shard's journal (each record checked against its shard by
/// [`journal::read_journal`]), checking no seed ran in two shards and that a shard whose
/// summary says it finished has a whole journal of exactly the seeds it finished. Returns
/// the records and the shards' own wall time, summed, into `out`.
fn records_of(
    shards: &BTreeMap<u64, (PathBuf, Manifest)>,
    out: &mut Shards,
) -> Result<(), BadInput> {
    let mut seen: BTreeMap<(usize, u64), u64> = BTreeMap::new();
    for (&k, (dir, m)) in shards {
        // A journal that cannot be read (a symbolic-link loop, a folder in its place) is
        // bad input to a merge, like a damaged one.
        let read = journal::read_journal(dir, m).map_err(|e| BadInput(e.to_string()))?;
        let summary = shard_summary(dir)?;
        out.wall_s += summary.wall_s;
        out.notes
            .extend(complete_or_interrupted(dir, &summary, &read)?);
        for r in read.records {
            let position = r.seed.position();
            if let Some(other) = seen.insert((r.scenario, position), k) {
                return Err(BadInput(format!(
                    "overlapping shards: seed {} of `{}` ran in shards {other} and {k}",
                    r.seed, m.scenarios[r.scenario].name
                )));
            }
            out.records.push(r);
        }
    }
    Ok(())
}

/// A shard that says it finished must have journaled exactly its finished seeds, each on a
/// whole line; an interrupted or killed one may end with a line cut short, and the note
/// returned says so.
fn complete_or_interrupted(
    dir: &Path,
    summary: &ShardSummary,
    read: &journal::JournalRead,
) -> Result<Option<String>, BadInput> {
    let journal = dir.join(journal::JOURNAL);
    match (summary.status.as_deref(), summary.seeds_finished) {
        (Some("finished"), Some(n))
            if read.torn_line.is_some() || read.records.len() as u64 != n =>
        {
            let torn = read
                .torn_line
                .map(|l| format!(", its line {l} cut short"))
                .unwrap_or_default();
            Err(BadInput(format!(
                "{}: a damaged journal: {} says the shard finished {n} seed(s), the journal holds {}{torn}",
                journal.display(),
                dir.join("summary.json").display(),
                read.records.len()
            )))
        }
        (status, _) if status != Some("finished") => {
            let why = read
                .torn_line
                .map(|l| {
                    format!(" (its journal's line {l} was cut short: that seed did not finish)")
                })
                .unwrap_or_default();
            Ok(Some(format!(
                "{} was interrupted before it finished{why}; its finished seeds are merged",
                dir.display()
            )))
        }
        _ => Ok(None),
    }
}
