//! `faultline merge <run folders or summary.json files>... [--out DIR]`: join the shards of
//! a sweep run on many machines (`faultline run … --shard K/N`) into the report of one run
//! over all their seeds — the same verdicts, seeds to first failure, coverage counts and
//! exit code, since a tally is an order-free fold of the shards' seed journals.
//!
//! It refuses (exit 254), saying which, shards of different sweeps: another faultline
//! binary, other scenario files (by content hash), another seed range or shard count, a
//! shard given twice or missing, or a seed that two shards both ran.

use std::path::PathBuf;

use crate::runner::sweep::{shards, Sweep};

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

/// Merge and return the exit code a single run over all the seeds would give.
pub fn run(args: &MergeArgs) -> anyhow::Result<u8> {
    let shards = shards::read(&args.shards)?;
    for note in &shards.notes {
        println!("note: {note}");
    }
    crate::cli::writable_dir(&args.out, "--out")?;
    if let Some(junit) = &args.junit {
        crate::cli::writable_file(junit, "--junit")?;
    }
    let manifest = &shards.manifest;
    let sweep = Sweep::merged(manifest, &shards.records, shards.wall_s);
    let run = super::new_run_folder(&args.out, manifest)?;
    println!(
        "faultline merge: {} shard(s), {} seeds of {} scenario(s), report in {}/",
        args.shards.len(),
        shards.records.len(),
        manifest.scenarios.len(),
        run.path.display()
    );
    super::finish(manifest, args.junit.as_deref(), (&sweep, false), 0, &run)
}
