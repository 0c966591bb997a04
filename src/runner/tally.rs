//! Tallies: a scenario's seed results folded into counts, findings and an outcome, and
//! the exit code of a sweep.

use std::collections::{BTreeMap, BTreeSet};
use std::hash::{Hash, Hasher};
use std::path::Path;

use serde::Serialize;

use super::commands::replay_command;
use super::exit_code::{self as codes};
use super::journal::{ScenarioEntry, SeedRecord};
use super::triage::{signature, FailingSeed, Triage};
use crate::check::{CheckOutcome, Verdict};
use crate::plan::SeedId;

use crate::runner::SeedResult;
use crate::scenario::{Expect, Scenario};

/// A set serialized as its size.
fn count<S: serde::Serializer>(set: &BTreeSet<u64>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(set.len() as u64)
}

/// The seeds of one scenario, folded.
#[derive(Debug, Clone, Serialize)]
pub struct Tally {
    /// Scenario name.
    pub name: String,
    /// Scenario file.
    pub path: String,
    /// The system it runs.
    pub system: String,
    /// Expected outcome.
    pub expect: Expect,
    /// Expected failing check.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expect_check: Option<String>,
    /// A pinned plan's failure signature: a failure is only caught when its message has it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expect_signature: Option<String>,
    /// Whether the scenario is a pinned plan (one run of an explicit plan).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub pinned: bool,
    /// Seeds the sweep was asked to run.
    pub seeds_asked: u64,
    /// Seeds finished (fewer than asked after an interrupt).
    pub seeds: u64,
    /// Seeds per verdict.
    pub verdicts: BTreeMap<Verdict, u64>,
    /// Failing seeds, by seed (at most [`FAILING_KEPT_MAX`]).
    pub failing: Vec<FailingSeed>,
    /// Every failing seed, grouped by the kind of its failure.
    pub triage: Triage,
    /// Seeds that found what the scenario expects (violation or liveness failure).
    pub caught: u64,
    /// Failing seeds that are not [`Tally::caught`]: in a correct scenario every failing
    /// seed (each fails the sweep); in a planted-bug scenario those that failed some other
    /// way than the expected finding (they do not fail the sweep), counted apart so that
    /// no count reads as a contradiction of the result.
    pub failed_otherwise: u64,
    /// [`Tally::failed_otherwise`] by the check (or `crash`, `limit`) that failed first.
    pub failed_otherwise_by: BTreeMap<String, u64>,
    /// Coverage-guided scheduling: the distinct combinations of probes the runs reached,
    /// by digest (a merge folds the shards' seeds and counts them again); reported as
    /// their number.
    #[serde(rename = "probe_combinations", serialize_with = "count")]
    combinations: BTreeSet<u64>,
    /// Coverage-guided scheduling: runs that mutated an interesting earlier seed.
    pub guided_runs: u64,
    /// Of those, runs that branched an earlier seed's run at a rare moment.
    pub branched_runs: u64,
    /// The lowest seed that found it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_caught: Option<SeedId>,
    /// Seeds whose determinism re-run disagreed.
    pub nondeterministic: Vec<SeedId>,
    /// Seeds re-run for determinism.
    pub determinism_checked: u64,
    /// Seeds that failed inside faultline itself.
    pub harness_errors: Vec<(SeedId, String)>,
    /// For each probe: how many seeds reached it.
    pub probes: BTreeMap<String, u64>,
    /// Messages sent, over all seeds.
    pub messages: u64,
    /// Trace events, over all seeds.
    pub events: u64,
    /// Client operations, over all seeds.
    pub operations: u64,
    /// The most handler calls one seed made (against `limits.events_max`).
    pub events_per_seed_max: u64,
    /// The most memory one seed's simulation held at once, in MB (against
    /// `limits.memory_mb_max`).
    pub memory_mb_per_seed_max: f64,
    /// First seed of the run (for "after how many seeds").
    pub seed_start: u64,
    /// Wall time its seeds took on their threads, summed (s): seeds per core-second.
    pub run_s: f64,
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
    /// The sweep was interrupted before any seed of the scenario finished.
    NotRun,
    /// The sweep was interrupted part-way through the scenario's seeds, before they found
    /// anything (for a planted bug: before it was caught).
    Incomplete,
}

impl Tally {
    /// An empty tally for `scenario`, whose sweep runs `seeds_asked` seeds from `seed_start`.
    pub fn new(scenario: &Scenario, seed_start: u64, seeds_asked: u64) -> Self {
        Tally {
            seeds_asked,
            name: scenario.name.clone(),
            path: scenario.path.display().to_string(),
            system: scenario.system.name().to_string(),
            expect: scenario.file.expect,
            expect_check: scenario.file.expect_check.clone(),
            expect_signature: (scenario.file.pinned.as_ref()).and_then(|p| p.signature.clone()),
            pinned: scenario.file.pinned.is_some(),
            seed_start,
            ..Tally::empty()
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

    /// An empty tally for a scenario of a manifest, counting `seeds_asked` seeds.
    pub fn from_entry(e: &ScenarioEntry, seeds_asked: u64) -> Self {
        Tally {
            name: e.name.clone(),
            path: e.path.clone(),
            system: e.system.clone(),
            expect: e.expect,
            expect_check: e.expect_check.clone(),
            expect_signature: e.expect_signature.clone(),
            pinned: e.pinned,
            seeds_asked,
            seed_start: e.seed_start,
            ..Tally::empty()
        }
    }

    fn empty() -> Self {
        Tally {
            name: String::new(),
            path: String::new(),
            system: String::new(),
            expect: Expect::Pass,
            expect_check: None,
            expect_signature: None,
            pinned: false,
            seeds_asked: 0,
            seeds: 0,
            verdicts: BTreeMap::new(),
            failing: Vec::new(),
            triage: Triage::default(),
            caught: 0,
            failed_otherwise: 0,
            failed_otherwise_by: BTreeMap::new(),
            guided_runs: 0,
            branched_runs: 0,
            combinations: BTreeSet::new(),
            first_caught: None,
            nondeterministic: Vec::new(),
            determinism_checked: 0,
            harness_errors: Vec::new(),
            probes: BTreeMap::new(),
            messages: 0,
            events: 0,
            operations: 0,
            events_per_seed_max: 0,
            memory_mb_per_seed_max: 0.0,
            seed_start: 0,
            run_s: 0.0,
        }
    }

    /// Fold in one seed.
    pub fn add(&mut self, r: &SeedResult) {
        self.add_record(&SeedRecord::of(r));
    }

    /// Fold in one seed's record (the result does not depend on the order of records).
    pub fn add_record(&mut self, r: &SeedRecord) {
        self.seeds += 1;
        self.run_s += r.run_us as f64 / 1e6;
        *self.verdicts.entry(r.verdict).or_insert(0) += 1;
        self.messages += r.messages;
        self.events += r.events;
        self.operations += r.operations;
        self.events_per_seed_max = self.events_per_seed_max.max(r.handler_calls);
        self.memory_mb_per_seed_max = self
            .memory_mb_per_seed_max
            .max(r.memory_peak_bytes as f64 / (1 << 20) as f64);
        for probe in &r.probes {
            *self.probes.entry(probe.clone()).or_insert(0) += 1;
        }
        let mut hasher = crate::sim::StableHasher::default();
        r.probes.hash(&mut hasher);
        self.combinations.insert(hasher.finish());
        if !r.seed.is_plain() {
            self.guided_runs += 1;
        }
        if matches!(r.seed, crate::plan::SeedId::Branched { .. }) {
            self.branched_runs += 1;
        }
        if r.identical.is_some() {
            self.determinism_checked += 1;
        }
        if r.identical == Some(false) {
            self.nondeterministic.push(r.seed);
            self.nondeterministic.sort_unstable();
        }
        if let Some(e) = &r.harness_error {
            self.harness_errors.push((r.seed, e.clone()));
            self.harness_errors.sort();
        }
        if r.verdict == Verdict::Pass {
            return;
        }
        let (failing, caught) = self.failing_seed(r);
        if !caught {
            self.failed_otherwise += 1;
            let what = (r.checks.iter())
                .find(|c| c.verdict == r.verdict)
                .map_or_else(|| r.verdict.name().to_string(), |c| c.check.clone());
            *self.failed_otherwise_by.entry(what).or_insert(0) += 1;
        }
        if caught {
            self.caught += 1;
            // Guided runs count by their place in the sweep ([`SeedId::position`]).
            let earlier = |s: SeedId| s.position() < r.seed.position();
            self.first_caught = Some(self.first_caught.filter(|&s| earlier(s)).unwrap_or(r.seed));
        }
        self.triage.add(&failing, caught);
        let at = (self.failing).partition_point(|f| f.seed.position() < r.seed.position());
        self.failing.insert(at, failing);
        self.failing.truncate(FAILING_KEPT_MAX);
    }

    /// A failing seed as the reports show it, and whether it is the expected finding.
    fn failing_seed(&self, r: &SeedRecord) -> (FailingSeed, bool) {
        let catches = self.catches(r.verdict, &r.checks);
        // The expected check, when this seed caught what the scenario expects; otherwise
        // the first check with the seed's verdict.
        let expected = self.expect_check.as_ref().filter(|_| catches);
        let first = expected
            .and_then(|e| {
                r.checks
                    .iter()
                    .find(|c| &c.check == e && c.verdict != Verdict::Pass)
            })
            .or_else(|| r.checks.iter().find(|c| c.verdict == r.verdict));
        let message = match (&r.panic, &r.harness_error, &r.limit, first) {
            (Some((name, message)), ..) => format!("{name} panicked: {message}"),
            (_, Some(e), ..) => format!("faultline failed: {e}"),
            (_, _, Some(hit), _) => hit.clone(),
            (.., Some(c)) => c.message.clone(),
            _ => String::new(),
        };
        // A pinned plan must fail the same way, not merely in the same check.
        let same = (self.expect_signature.as_ref()).is_none_or(|s| *s == signature(&message));
        let failing = FailingSeed {
            seed: r.seed,
            verdict: r.verdict,
            check: first.map(|c| c.check.clone()),
            message,
            replay: replay_command(Path::new(&self.path), r.seed),
        };
        (failing, catches && same)
    }

    /// The scenario's outcome: what its finished seeds amount to, given how many ran.
    pub fn outcome(&self) -> Outcome {
        let count = |v: Verdict| self.verdicts.get(&v).copied().unwrap_or(0);
        let complete = self.seeds >= self.seeds_asked;
        if !self.nondeterministic.is_empty() || !self.harness_errors.is_empty() {
            return Outcome::Broken;
        }
        if self.seeds == 0 && !complete {
            return Outcome::NotRun;
        }
        if self.seeds_asked == 0 {
            return Outcome::Ok; // another shard runs its seeds
        }
        match self.expect {
            Expect::Pass => {
                if count(Verdict::Violation) + count(Verdict::Crash) > 0 {
                    Outcome::Violation
                } else if count(Verdict::Liveness) > 0 {
                    Outcome::Liveness
                } else if count(Verdict::Unknown) + count(Verdict::Limit) > 0 {
                    Outcome::Inconclusive
                } else if !complete {
                    Outcome::Incomplete
                } else {
                    Outcome::Ok
                }
            }
            Expect::Violation | Expect::Liveness => {
                if self.caught > 0 {
                    Outcome::Ok
                } else if !complete {
                    Outcome::Incomplete
                } else {
                    Outcome::Missed
                }
            }
        }
    }

    /// Seeds per second of one core's time (`None` before any seed was timed).
    pub fn seeds_per_core_s(&self) -> Option<f64> {
        (self.run_s > 0.0).then(|| self.seeds as f64 / self.run_s)
    }

    /// Seeds run until the first catch ("after N seeds"), when seeds start at `seed_start`.
    pub fn seeds_until_caught(&self) -> Option<u64> {
        self.first_caught
            .map(|s| (s.position() + 1).saturating_sub(self.seed_start))
    }
}

/// The exit code of a sweep: the worst scenario outcome decides; scenarios that did not
/// run all their seeds make it "interrupted" (130), never a pass.
pub fn exit_code(tallies: &[Tally]) -> u8 {
    let outcomes: Vec<Outcome> = tallies.iter().map(Tally::outcome).collect();
    let any = |o: Outcome| outcomes.contains(&o);
    if any(Outcome::Broken) {
        codes::INTERNAL
    } else if any(Outcome::Violation) || any(Outcome::Missed) {
        codes::SAFETY
    } else if any(Outcome::Liveness) {
        codes::LIVENESS
    } else if any(Outcome::Inconclusive) {
        codes::INCONCLUSIVE
    } else if any(Outcome::NotRun) || any(Outcome::Incomplete) {
        codes::INTERRUPTED
    } else {
        codes::PASS
    }
}

/// The exit code of a single seed (replay).
pub fn seed_exit_code(verdict: Verdict) -> u8 {
    match verdict {
        Verdict::Pass => codes::PASS,
        Verdict::Violation | Verdict::Crash => codes::SAFETY,
        Verdict::Liveness => codes::LIVENESS,
        Verdict::Unknown | Verdict::Limit => codes::INCONCLUSIVE,
    }
}
