//! The sweep engine: many seeds of many scenarios, journaled, resumable, sharded, within a
//! time budget, with coverage-guided runs and determinism re-checks.
//!
//! The command line (`faultline run`, `faultline merge`) parses arguments and prints; this
//! is the engine underneath it, on plain data:
//!
//! * a [`SweepSpec`] says what to run — seeds per scenario, the shard, the budget, the
//!   re-check rate, the guided share, the trace level — and [`manifest`] records it with
//!   the scenarios' content hashes in the run's folder, so a resume or a merge can tell
//!   the same sweep from another;
//! * [`run`] runs the seeds not yet done on the pool ([`super::run_pool`]) in the order
//!   [`slice::order`] gives, each planned by the [`Guide`] (a plain seed, or a guided run
//!   mutating an interesting earlier one), appends every finished seed to the journal as
//!   it finishes ([`super::journal`]), and folds it into its scenario's [`Tally`];
//! * [`shards`] reads the journals of the shards of one sweep and refuses shards of
//!   different ones, and [`Sweep::merged`] folds them as one run over all the seeds.
//!
//! Every step is independent of `--jobs` and of the order seeds finish in: a tally is an
//! order-free fold of seed records, and the guide decides each position from runs far
//! enough behind it (see [`guide`]).

pub mod guide;
pub mod jobs;
pub mod shards;
pub mod slice;

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;

use super::journal::{self, Journal, JournalRead, Manifest, ScenarioEntry, SeedRecord};
use super::{SeedJob, SeedResult, Tally};
use crate::check::Verdict;
use crate::guard;
use crate::plan::SeedId;
use crate::scenario::{Expect, Scenario};
use crate::sim::TraceLevel;
use crate::systems::ExecOptions;
pub use guide::Guide;
pub use slice::{Range, Shard};

/// What a sweep runs.
#[derive(Debug, Clone)]
pub struct SweepSpec {
    /// Seeds per scenario (a pinned plan runs its one seed).
    pub seeds: u64,
    /// The first seed.
    pub seed_start: u64,
    /// Run every seed twice and compare traces.
    pub check_determinism: bool,
    /// Otherwise, re-run one seed in this many (0: never).
    pub determinism_every: u64,
    /// The share of positions after the warm-up that run guided mutants.
    pub guided_share: f64,
    /// The share of guided positions whose parent has a branch point that branch it.
    pub branch_share: f64,
    /// How much of each trace to keep.
    pub level: TraceLevel,
    /// Keep each seed's plan and execution in its result (to write its artifacts).
    pub keep: bool,
    /// Plan every seed without its fault points.
    pub without_fault_points: bool,
    /// This machine's shard of the sweep.
    pub shard: Shard,
    /// Run seeds round-robin until this many seconds are spent.
    pub time_budget_s: Option<u64>,
}

/// What the seeds so far found, kept apart as the result reads them.
#[derive(Debug, Default, Clone, Copy)]
pub struct Counts {
    /// Seeds of planted-bug scenarios that caught their bug.
    pub caught: u64,
    /// Failing seeds that fail the sweep (of correct scenarios).
    pub failing: u64,
    /// Seeds of planted-bug scenarios that failed some other way (they do not fail it).
    pub otherwise: u64,
}

impl fmt::Display for Counts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} bug catches", self.caught)?;
        if self.otherwise > 0 {
            write!(f, ", {} other failures of bug scenarios", self.otherwise)?;
        }
        if self.failing > 0 {
            write!(f, ", {} FAILING", self.failing)?;
        }
        Ok(())
    }
}

/// What a sweep produced (or a merge of shards, or a sweep not yet started).
#[derive(Debug)]
pub struct Sweep {
    /// One tally per scenario, in the manifest's order.
    pub tallies: Vec<Tally>,
    /// Seeds that finished and are counted.
    pub finished: u64,
    /// Seeds an interrupt stopped half-way (not counted).
    pub cut_short: u64,
    /// Wall time (s): the sweep's own, or a merge's shards' own, summed.
    pub wall_s: f64,
    /// What could not be written (journal lines, artifacts): warnings, not failures.
    pub write_errors: Vec<String>,
    /// A merge of shards.
    pub merged: bool,
    /// What the seeds found, as the progress line shows it.
    pub counts: Counts,
    /// Per scenario: probe combinations reached, guided runs made, corpus size.
    pub coverage: Vec<(usize, u64, usize)>,
}

impl Sweep {
    /// Nothing run yet: an empty tally per scenario for this shard's seeds.
    pub fn new(m: &Manifest) -> Sweep {
        let shard = Shard::of(m);
        Sweep {
            tallies: (m.scenarios.iter())
                .map(|e| Tally::from_entry(e, shard.share(e.seeds)))
                .collect(),
            finished: 0,
            cut_short: 0,
            wall_s: 0.0,
            write_errors: Vec::new(),
            merged: false,
            counts: Counts::default(),
            coverage: Vec::new(),
        }
    }

    /// The shards of one sweep as one run: their records folded in, their own wall time.
    pub fn merged(m: &Manifest, records: &[SeedRecord], shards_wall_s: f64) -> Sweep {
        let mut sweep = Sweep::new(m);
        // Seeds per second are the shards' own: the merge itself runs no seed.
        sweep.wall_s = shards_wall_s;
        sweep.merged = true;
        for r in records {
            sweep.tallies[r.scenario].add_record(r);
            sweep.finished += 1;
        }
        sweep
    }

    /// Whether every scenario ran every seed asked of it.
    pub fn complete(&self) -> bool {
        self.tallies.iter().all(|t| t.seeds >= t.seeds_asked)
    }
}

/// What this sweep is, for its folder (resume and merge check it).
pub fn manifest(spec: &SweepSpec, scenarios: &[Arc<Scenario>]) -> Manifest {
    let entries = scenarios
        .iter()
        .map(|s| {
            let (seed_start, seeds) = seed_range(spec, s);
            let bytes = std::fs::read(&s.path).unwrap_or_default();
            ScenarioEntry {
                name: s.name.clone(),
                path: s.path.display().to_string(),
                system: s.system.name().to_string(),
                file_hash: format!("{:016x}", journal::fnv1a(&bytes)),
                expect: s.file.expect,
                expect_check: s.file.expect_check.clone(),
                expect_signature: (s.file.pinned.as_ref()).and_then(|p| p.signature.clone()),
                pinned: s.file.pinned.is_some(),
                seed_start,
                seeds,
            }
        })
        .collect();
    Manifest {
        version: env!("CARGO_PKG_VERSION").to_string(),
        binary_hash: journal::build_id(),
        shard: (spec.shard.index, spec.shard.count),
        seeds: spec.seeds,
        seed_start: spec.seed_start,
        determinism_every: spec.determinism_every,
        check_determinism: spec.check_determinism,
        time_budget_s: spec.time_budget_s,
        search: journal::Search {
            // A shard does not see the other shards' runs: no guided runs there.
            guided_share: if spec.shard.count > 1 {
                0.0
            } else {
                spec.guided_share
            },
            branch_share: spec.branch_share,
            fault_points: !spec.without_fault_points,
        },
        scenarios: entries,
    }
}

/// The seeds a scenario runs: the spec's range, or a pinned plan's one seed.
fn seed_range(spec: &SweepSpec, scenario: &Scenario) -> (u64, u64) {
    match super::pinned::pinned_seed(scenario) {
        Some(seed) => (seed.raw(), 1),
        None => (spec.seed_start, spec.seeds),
    }
}

/// Where a sweep runs: its scenarios (in the manifest's order), its manifest, how many
/// seeds at once, and the journal finished seeds are appended to.
pub struct Bench<'a> {
    /// The scenarios.
    pub scenarios: &'a [Arc<Scenario>],
    /// The manifest.
    pub manifest: &'a Manifest,
    /// Seeds run at once.
    pub jobs: usize,
    /// The run's journal, open for appending.
    pub journal: &'a mut Journal,
}

/// Run the seeds not yet done (`done`: what a resumed run already finished) on the pool,
/// journaling and folding each as it finishes; `on_seed` sees every finished seed after
/// it is folded (the command line's progress line and `--artifacts all`).
pub fn run(
    spec: &SweepSpec,
    bench: Bench<'_>,
    done: JournalRead,
    on_seed: &mut dyn FnMut(&SeedResult, &mut Sweep),
) -> Sweep {
    let m = bench.manifest;
    let mut sweep = Sweep::new(m);
    let done = done.records;
    let done_set: BTreeSet<(usize, u64)> = (done.iter())
        .map(|r| (r.scenario, r.seed.position()))
        .collect();
    let ranges = Range::all_of(m);
    let guide = resumed_guide(m, &ranges, &done, &mut sweep);
    let todo = seed_jobs(spec, bench.scenarios, m, &ranges, &done_set, &guide);
    // Wall time is a report figure and the budget's clock, measured outside every simulation.
    #[allow(clippy::disallowed_methods, clippy::disallowed_types)]
    let started = std::time::Instant::now();
    let budget = m.time_budget_s.map(std::time::Duration::from_secs);
    let in_budget = move |_: &SeedJob| budget.is_none_or(|b| started.elapsed() < b);
    let journal = bench.journal;
    super::run_pool(
        todo.take_while(in_budget),
        bench.jobs,
        guard::stop_flag(),
        |result: SeedResult| {
            fold_seed(&mut sweep, &guide, journal, &result);
            on_seed(&result, &mut sweep);
        },
    );
    sweep.wall_s = started.elapsed().as_secs_f64();
    sweep.coverage = guide.coverage();
    if budget.is_some() && !guard::stop_requested() {
        // The budget decided how many seeds to ask for: what ran is the sweep.
        for t in &mut sweep.tallies {
            t.seeds_asked = t.seeds;
        }
    }
    sweep
}

/// Seeds of this sweep still to run, counted before it starts (for a progress line).
pub fn seeds_to_run(m: &Manifest, done: &JournalRead) -> u64 {
    let shard = Shard::of(m);
    let asked = m.scenarios.iter().map(|e| shard.share(e.seeds));
    let finished = (done.records.iter())
        .filter(|r| r.scenario < m.scenarios.len())
        .count() as u64;
    asked
        .fold(0u64, u64::saturating_add)
        .saturating_sub(finished)
}

/// The seed jobs of this run, in start order (see [`slice::order`]), made as the pool
/// takes them.
fn seed_jobs<'a>(
    spec: &'a SweepSpec,
    scenarios: &'a [Arc<Scenario>],
    m: &'a Manifest,
    ranges: &'a [Range],
    done: &'a BTreeSet<(usize, u64)>,
    guide: &'a Guide,
) -> impl Iterator<Item = SeedJob> + Send + 'a {
    let options = ExecOptions {
        level: spec.level,
        without_fault_points: spec.without_fault_points,
        ..ExecOptions::default()
    };
    let order = slice::order(ranges, Shard::of(m), m.time_budget_s.is_some(), done);
    order.map_while(move |(index, seed)| {
        let planned = if m.scenarios[index].pinned {
            // The file's id whole: a branched run's time is not in its raw number.
            super::pinned::pinned_seed(&scenarios[index]).unwrap_or(SeedId::from_raw(seed))
        } else {
            guide.plan_seed(index, seed)?
        };
        Some(SeedJob {
            scenario: scenarios[index].clone(),
            scenario_index: index,
            seed: planned,
            // A pinned plan is one run: always re-checked.
            check_determinism: m.scenarios[index].pinned
                || spec.check_determinism
                || (spec.determinism_every > 0 && seed % spec.determinism_every == 0),
            keep: spec.keep,
            options: options.clone(),
        })
    })
}

/// Fold one finished seed into the sweep: the guide, the journal, its scenario's tally
/// (which also counts probe combinations and guided runs, as a merge of shards does) and
/// the counts the progress line shows.
fn fold_seed(sweep: &mut Sweep, guide: &Guide, journal: &mut Journal, result: &SeedResult) {
    if result.interrupted {
        // Stopped half-way by the interrupt: neither a pass nor a finding.
        sweep.cut_short += 1;
        return;
    }
    let record = SeedRecord::of(result);
    guide.record(result.scenario_index, result.seed, reached(&record));
    if let Err(e) = journal.append(&record) {
        sweep.write_errors.push(format!("journal: {e}"));
    }
    sweep.finished += 1;
    let tally = &mut sweep.tallies[result.scenario_index];
    tally.add_record(&record);
    if result.verdict != Verdict::Pass {
        match (tally.catches(result.verdict, &result.checks), tally.expect) {
            (true, _) => sweep.counts.caught += 1,
            (false, Expect::Pass) => sweep.counts.failing += 1,
            (false, _) => sweep.counts.otherwise += 1,
        }
    }
}

/// The probes a run reached, with when each was first reached (ms; 0 in journals written
/// before branch points were recorded).
fn reached(record: &SeedRecord) -> Vec<(String, u64)> {
    let first_ms = |i: usize| record.probes_first_ms.get(i).copied().unwrap_or(0);
    (record.probes.iter().enumerate())
        .map(|(i, p)| (p.clone(), first_ms(i)))
        .collect()
}

/// The guide of this sweep, with the seeds a resumed sweep already ran folded into it and
/// into the tallies.
fn resumed_guide(m: &Manifest, ranges: &[Range], done: &[SeedRecord], sweep: &mut Sweep) -> Guide {
    let guide = Guide::new(
        m.search.guided_share,
        m.search.branch_share,
        &ranges.iter().map(|r| r.start).collect::<Vec<_>>(),
    );
    let scenario_count = sweep.tallies.len();
    for record in done.iter().filter(|r| r.scenario < scenario_count) {
        sweep.tallies[record.scenario].add_record(record);
        guide.record(record.scenario, record.seed, reached(record));
        sweep.finished += 1;
    }
    guide
}
