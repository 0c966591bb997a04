//! `faultline merge <run folders or summary.json files>... [--out DIR]`: join the shards of
//! a sweep run on many machines (`faultline run … --shard K/N`) into the report of one run
//! over all their seeds — the same verdicts, seeds to first failure, coverage counts and
//! exit code, since a tally is an order-free fold of the shards' seed journals.
//!
//! It refuses (exit 254), saying which, shards of different sweeps: another faultline
//! binary, other scenario files (by content hash), another seed range or shard count, a
//! shard given twice or missing, or a seed that two shards both ran.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;

use super::{BadInput, Sweep};
use crate::report::journal::{self, Manifest, SeedRecord};

/// Arguments of `faultline merge`.
#[derive(Debug, clap::Args)]
pub struct MergeArgs {
    /// The shards' run folders (or their `summary.json` files).
    #[arg(required = true)]
    pub shards: Vec<PathBuf>,
    /// Report root: the merged report goes to `<out>/<run-id>/` (and `<out>/latest`).
    #[arg(long, default_value = "reports")]
    pub out: PathBuf,
    /// Also write JUnit XML here.
    #[arg(long)]
    pub junit: Option<PathBuf>,
}

/// How two manifests differ as sweeps (`None`: the same sweep). With `shards`, the shard
/// index may differ (shards of one sweep); otherwise it must match too (a resume).
pub fn difference(a: &Manifest, b: &Manifest, shards: bool) -> Option<String> {
    if a.binary_hash != b.binary_hash || a.version != b.version {
        return Some(format!(
            "another faultline binary (version {} hash {} against {} hash {})",
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

/// Read every shard and check they are the N shards of one sweep, each once.
fn read_shards(args: &MergeArgs) -> anyhow::Result<(Manifest, Vec<SeedRecord>)> {
    let mut by_index: BTreeMap<u64, (PathBuf, Manifest)> = BTreeMap::new();
    for path in &args.shards {
        let dir = run_folder(path);
        let m = journal::read_manifest(&dir).map_err(|e| {
            BadInput(format!(
                "{e}: not the run folder of a faultline run (it has no run.json)"
            ))
        })?;
        if let Some((first_dir, first)) = by_index.values().next() {
            if let Some(why) = difference(first, &m, true) {
                return Err(BadInput(format!(
                    "{} and {} are not shards of one sweep: {why}",
                    first_dir.display(),
                    dir.display()
                ))
                .into());
            }
        }
        if let Some((other, _)) = by_index.get(&m.shard.0) {
            return Err(BadInput(format!(
                "shard {}/{} is given twice: {} and {}",
                m.shard.0,
                m.shard.1,
                other.display(),
                dir.display()
            ))
            .into());
        }
        by_index.insert(m.shard.0, (dir, m));
    }
    let (_, (_, first)) = by_index.iter().next().context("no shards given")?;
    let count = first.shard.1;
    let missing: Vec<String> = (1..=count)
        .filter(|k| !by_index.contains_key(k))
        .map(|k| format!("{k}/{count}"))
        .collect();
    if !missing.is_empty() {
        return Err(BadInput(format!("missing shard(s) {}", missing.join(", "))).into());
    }
    let mut whole = first.clone();
    whole.shard = (1, 1);
    let records = records_of(&by_index)?;
    Ok((whole, records))
}

/// Every shard's journal, checking each seed belongs to its shard and ran once.
fn records_of(shards: &BTreeMap<u64, (PathBuf, Manifest)>) -> anyhow::Result<Vec<SeedRecord>> {
    let mut seen: BTreeMap<(usize, u64), u64> = BTreeMap::new();
    let mut out = Vec::new();
    for (&k, (dir, m)) in shards {
        let records = journal::read_journal(dir)
            .with_context(|| format!("reading {}", dir.join(journal::JOURNAL).display()))?;
        for r in records {
            let entry = m.scenarios.get(r.scenario).ok_or_else(|| {
                BadInput(format!(
                    "{}: a seed of scenario #{} of {}",
                    dir.display(),
                    r.scenario,
                    m.scenarios.len()
                ))
            })?;
            let offset = r.seed.wrapping_sub(entry.seed_start);
            if offset >= entry.seeds || offset % m.shard.1 != k - 1 {
                return Err(BadInput(format!(
                    "{}: seed {} of `{}` is not in shard {k}/{}",
                    dir.display(),
                    crate::plan::SeedId::from_raw(r.seed),
                    entry.name,
                    m.shard.1
                ))
                .into());
            }
            if let Some(other) = seen.insert((r.scenario, r.seed), k) {
                return Err(BadInput(format!(
                    "overlapping shards: seed {} of `{}` ran in shards {other} and {k}",
                    crate::plan::SeedId::from_raw(r.seed),
                    entry.name
                ))
                .into());
            }
            out.push(r);
        }
    }
    Ok(out)
}

/// Merge and return the exit code a single run over all the seeds would give.
pub fn run(args: &MergeArgs) -> anyhow::Result<u8> {
    let (manifest, records) = read_shards(args)?;
    let mut sweep = Sweep::new(&manifest);
    for r in &records {
        sweep.tallies[r.scenario].add_record(r);
        sweep.finished += 1;
    }
    let run = super::new_run_folder(&args.out, &manifest)?;
    println!(
        "faultline merge: {} shard(s), {} seeds of {} scenario(s), report in {}/",
        args.shards.len(),
        records.len(),
        manifest.scenarios.len(),
        run.path.display()
    );
    super::finish(&manifest, args.junit.as_deref(), &sweep, 0, &run)
}
