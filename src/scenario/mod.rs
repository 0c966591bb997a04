//! Scenario files: what a researcher writes to describe one experiment.
//!
//! A scenario (`scenarios/*.toml`) names the system under test, the planted bugs to switch
//! on, the topology, the client workload, the network and fault settings, the phases, the
//! checks to run and the outcome it expects. Every table rejects unknown keys, every knob
//! has a documented default, units are last in names (`latency_ms_max`), and a knob may be
//! a `[min, max]` range sampled per seed (see [`knob`]). `faultline list knobs` prints the
//! whole reference; `scenarios/README.md` explains it with examples.
//!
//! Loading is the only I/O here: [`Scenario::load`] reads and validates a file and every
//! problem is reported with file, line and column; [`Scenario::resolve`] is a pure
//! function from the scenario and a seed to concrete [`Params`].

pub mod load;
mod schema;
mod validate;

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::knob::{self, knob_section};
pub use crate::net::{NetworkParams, NetworkSection};
pub use schema::{section_of, Catalog, Section, SectionError, SystemSchema};

knob_section! {
    /// `[topology]`: how many processes of each kind.
    TopologySection => TopologyParams at "topology" {
        /// Server replicas of the system under test (per shard, for sharded systems).
        replicas: u64 = 3, swarm [3, 5], valid [1, 9];
        /// Client processes issuing the workload.
        clients: u64 = 3, swarm [1, 8], valid [1, 64];
    }
}

knob_section! {
    /// `[workload]`: the operations clients issue during the chaos phase.
    WorkloadSection => WorkloadParams at "workload" {
        /// Think time between two operations of one client, lower bound (ms).
        op_interval_ms_min: u64 = 20, swarm [1, 50], valid [1, 600_000];
        /// Think time between two operations of one client, upper bound (ms).
        op_interval_ms_max: u64 = 100, swarm [50, 400], valid [1, 600_000];
        /// Keys (or accounts) the operations spread over.
        keys: u64 = 3, swarm [1, 8], valid [1, 10_000];
        /// Share of operations that read.
        read_probability: f64 = 0.4, swarm [0.1, 0.8], valid [0.0, 1.0];
        /// Share of operations that append (key-value) or withdraw (bank); the rest write/deposit.
        append_probability: f64 = 0.3, swarm [0.0, 0.5], valid [0.0, 1.0];
        /// A client re-sends an unanswered request after this long (ms).
        request_timeout_ms: u64 = 100, swarm [30, 300], valid [1, 600_000];
        /// A client gives up on an operation after this long; its outcome is then unknown (ms).
        op_timeout_ms: u64 = 1000, swarm [300, 3000], valid [1, 3_600_000];
    }
}

knob_section! {
    /// `[phases]`: chaos first, then heal.
    PhasesSection => PhasesParams at "phases" {
        /// Length of the chaos phase: workload and faults (ms of simulated time).
        chaos_ms: u64 = 3000, swarm [1000, 8000], valid [0, 3_600_000];
        /// Upper bound of the heal phase: faults off, workload stopped, the world must settle (ms).
        heal_ms: u64 = 3000, swarm [2000, 5000], valid [0, 3_600_000];
    }
}

knob_section! {
    /// `[faults.partition]`: network partitions of generated shapes.
    PartitionSection => PartitionParams at "faults.partition" {
        /// Mean time between partitions (ms, exponential); 0 disables partitions.
        interval_ms_mean: u64 = 0, swarm [300, 3000], valid [0, 3_600_000];
        /// Shortest partition (ms).
        duration_ms_min: u64 = 100, swarm [50, 500], valid [1, 3_600_000];
        /// Longest partition (ms).
        duration_ms_max: u64 = 1000, swarm [500, 3000], valid [1, 3_600_000];
    }
}

knob_section! {
    /// `[faults.crash]`: process crashes (all memory lost, unsynced disk writes lost) and restarts.
    CrashSection => CrashParams at "faults.crash" {
        /// Mean time between crashes (ms, exponential); 0 disables crashes.
        interval_ms_mean: u64 = 0, swarm [300, 3000], valid [0, 3_600_000];
        /// Shortest time a crashed process stays down (ms).
        restart_delay_ms_min: u64 = 50, swarm [10, 200], valid [0, 3_600_000];
        /// Longest time a crashed process stays down (ms).
        restart_delay_ms_max: u64 = 500, swarm [200, 2000], valid [0, 3_600_000];
        /// At most this many processes are crashed or paused at once.
        max_down: u64 = 1, swarm [1, 2], valid [1, 9];
    }
}

knob_section! {
    /// `[faults.pause]`: a process stops running (like SIGSTOP or a long GC) and resumes.
    PauseSection => PauseParams at "faults.pause" {
        /// Mean time between pauses (ms, exponential); 0 disables pauses.
        interval_ms_mean: u64 = 0, swarm [500, 5000], valid [0, 3_600_000];
        /// Shortest pause (ms).
        duration_ms_min: u64 = 50, swarm [20, 200], valid [1, 3_600_000];
        /// Longest pause (ms).
        duration_ms_max: u64 = 500, swarm [200, 2000], valid [1, 3_600_000];
    }
}

knob_section! {
    /// `[faults.clog]`: a link holds every message, then delivers them all late.
    ClogSection => ClogParams at "faults.clog" {
        /// Mean time between clogs (ms, exponential); 0 disables clogging.
        interval_ms_mean: u64 = 0, swarm [300, 3000], valid [0, 3_600_000];
        /// Shortest clog (ms).
        duration_ms_min: u64 = 50, swarm [20, 200], valid [1, 3_600_000];
        /// Longest clog (ms).
        duration_ms_max: u64 = 500, swarm [200, 2000], valid [1, 3_600_000];
    }
}

knob_section! {
    /// `[faults.disk]`: what a crash does to writes that were not yet fsynced.
    DiskSection => DiskParams at "faults.disk" {
        /// Probability that, at a crash, some unsynced writes reached the platter anyway
        /// (a prefix of them, in order). Otherwise all unsynced writes are lost.
        unsynced_survive_probability: f64 = 0.0, swarm [0.0, 0.5], valid [0.0, 1.0];
        /// Probability that the last surviving unsynced write is torn (half written, so
        /// its checksum fails on recovery).
        torn_write_probability: f64 = 0.0, swarm [0.0, 0.5], valid [0.0, 1.0];
    }
}

knob_section! {
    /// `[faults.clock]`: per-process clock skew, for logic that reads clocks.
    ClockSection => ClockParams at "faults.clock" {
        /// Each process's clock is off by a fixed amount drawn from [-max, max] (ms).
        skew_ms_max: u64 = 0, swarm [0, 500], valid [0, 3_600_000];
    }
}

knob_section! {
    /// `[limits]`: the resource envelope of one seed. A seed that reaches a limit is
    /// stopped and ends with the verdict `limit` (inconclusive, exit code 2), naming the
    /// limit, the process and the simulated time; it is never reported as a finding. The
    /// defaults fit many seeds in parallel on a small machine and are far above what the
    /// shipped scenarios use; the loader rejects settings whose expected load cannot fit.
    LimitsSection => LimitsParams at "limits" {
        /// Memory one seed may use: its processes' state, queues, disks, trace and
        /// history (MB, counted by faultline's allocator on the seed's thread).
        memory_mb_max: u64 = 256, swarm [256, 256], valid [16, 16_384];
        /// Simulated events one seed may handle: messages delivered and timers fired.
        events_max: u64 = 500_000, swarm [500_000, 500_000], valid [1_000, 500_000_000];
        /// Messages in flight at once: sent and not yet delivered or dropped.
        messages_in_flight_max: u64 = 200_000, swarm [200_000, 200_000], valid [100, 50_000_000];
        /// Operations in one seed's history (client operations and recorded reads).
        history_ops_max: u64 = 200_000, swarm [200_000, 200_000], valid [10, 50_000_000];
    }
}

/// The shape of a network partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PartitionShape {
    /// One process cut off from all others.
    Isolate,
    /// A random minority cut off from the majority.
    Split,
    /// Processes on a ring, each seeing only its neighbours (overlapping majorities).
    Ring,
    /// Two halves that only one bridge process sees both of.
    Bridge,
    /// Asymmetric: one side's messages reach the other, but not back.
    OneWay,
}

impl PartitionShape {
    /// Every shape, in the default order.
    pub const ALL: [PartitionShape; 5] = [
        PartitionShape::Isolate,
        PartitionShape::Split,
        PartitionShape::Ring,
        PartitionShape::Bridge,
        PartitionShape::OneWay,
    ];
}

/// `[faults]`: the fault schedule of the chaos phase.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FaultsSection {
    /// Partitions.
    #[serde(default)]
    pub partition: PartitionSection,
    /// Partition shapes to draw from (default: all of them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition_shapes: Option<Vec<PartitionShape>>,
    /// Crashes and restarts.
    #[serde(default)]
    pub crash: CrashSection,
    /// Pauses.
    #[serde(default)]
    pub pause: PauseSection,
    /// Clogged links.
    #[serde(default)]
    pub clog: ClogSection,
    /// Disk behaviour at a crash.
    #[serde(default)]
    pub disk: DiskSection,
    /// Clock skew.
    #[serde(default)]
    pub clock: ClockSection,
    /// Aimed faults.
    #[serde(default)]
    pub aimed: AimedSection,
}

/// The outcome a scenario expects from a sweep.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Expect {
    /// Every seed passes (a correct system).
    #[default]
    Pass,
    /// Some seed finds a safety violation (a planted bug must be caught).
    Violation,
    /// Some seed finds a liveness/convergence failure.
    Liveness,
}

/// A scenario file as written, apart from the system's own section (`[kv_register]`,
/// `[es_cluster]`, …), which only the system reads ([`SystemSchema::load_section`]).
///
/// Nested tables reject unknown keys through serde; unknown top-level keys are found by
/// the validator, which knows the system's section name (serde cannot: it is a value).
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ScenarioFile {
    /// Name used in reports (default: the file name without `.toml`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// What the scenario is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The system under test (`faultline list systems`).
    pub system: String,
    /// Planted bugs to switch on (`faultline list bugs`).
    #[serde(default)]
    pub bugs: Vec<String>,
    /// Checks to run (default: every check the system supports).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checks: Option<Vec<String>>,
    /// The expected outcome of a sweep (default `pass`).
    #[serde(default)]
    pub expect: Expect,
    /// With `expect = "violation"`/`"liveness"`: the check expected to fail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect_check: Option<String>,
    /// Sample every unset knob per seed from its swarm range.
    #[serde(default)]
    pub swarm: bool,
    /// The workload kind (default: the system's first; `faultline list workloads`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload_kind: Option<String>,
    /// Topology.
    #[serde(default)]
    pub topology: TopologySection,
    /// Workload.
    #[serde(default)]
    pub workload: WorkloadSection,
    /// Phases.
    #[serde(default)]
    pub phases: PhasesSection,
    /// Network.
    #[serde(default)]
    pub network: NetworkSection,
    /// Faults.
    #[serde(default)]
    pub faults: FaultsSection,
    /// The resource envelope of one seed.
    #[serde(default)]
    pub limits: LimitsSection,
    /// A pinned plan: the scenario runs this one explicit plan instead of seeds (what
    /// `faultline shrink` writes; `scenarios/regressions/` holds them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pinned: Option<PinnedSection>,
}

knob_section! {
    /// `[faults.aimed]`: faults aimed at the process that has just reached an event the
    /// system names — a leader that has just been elected, extended its lease, or holds
    /// an entry of an earlier term on a majority (see `plan::aims`).
    AimedSection => AimedParams at "faults.aimed" {
        /// Share of seeds that get one or two aimed faults (a crash, restarted after a
        /// `faults.crash` delay, or an isolation from the other servers for a
        /// `faults.partition` duration); 0 for none.
        share: f64 = 0.0, swarm [0.0, 0.0], valid [0.0, 1.0];
    }
}

impl AimedParams {
    /// No aimed faults: the plan's settings read as they did before they existed.
    pub fn is_off(&self) -> bool {
        self.share == 0.0
    }
}

/// `[pinned]`: one explicit plan, replayed exactly as written.
///
/// The plan is `plan.json` text (as `faultline replay` writes it): every process, client
/// operation, fault and setting of the run, so it does not depend on how plans are drawn
/// from seeds and keeps reproducing after code changes that move random draws. A pinned
/// scenario runs once per sweep, with the expectation of its top-level `expect` and
/// `expect_check`; with `signature` set, a failure only counts as caught when its message
/// has that triage signature (the same violation, not just the same check).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PinnedSection {
    /// The plan's seed or run id (must match the plan's own `seed`): a number, or a
    /// guided or branched run's id as text (`"41.g9999"`, `"41.b9999@1530"`).
    pub seed: crate::rng::SeedId,
    /// What it caught, in a sentence (shown in reports).
    pub caught: String,
    /// The scenario file it was shrunk from (for people; never read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// The triage signature its failure must keep (see `runner::triage`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    /// The plan, as the JSON of `plan.json`.
    pub plan: String,
}

/// Fault settings of one seed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultParams {
    /// Partitions.
    pub partition: PartitionParams,
    /// Allowed partition shapes.
    pub partition_shapes: Vec<PartitionShape>,
    /// Crashes.
    pub crash: CrashParams,
    /// Pauses.
    pub pause: PauseParams,
    /// Clogs.
    pub clog: ClogParams,
    /// Disk.
    pub disk: DiskParams,
    /// Clocks.
    pub clock: ClockParams,
    /// Aimed faults.
    #[serde(default, skip_serializing_if = "AimedParams::is_off")]
    pub aimed: AimedParams,
}

/// Every generic setting of one seed, concrete: knobs resolved, swarm sampled, defaults
/// applied. (The system resolves its own section; the plan holds both.)
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Params {
    /// Topology.
    pub topology: TopologyParams,
    /// Workload.
    pub workload: WorkloadParams,
    /// Phases.
    pub phases: PhasesParams,
    /// Network.
    pub network: NetworkParams,
    /// Faults.
    pub faults: FaultParams,
    /// The resource envelope.
    pub limits: LimitsParams,
}

impl Params {
    /// Problems with values outside their knobs' valid ranges (settings read back from a
    /// plan file): (dotted path, message).
    pub fn check_values(&self) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        self.topology.check_values(&mut problems);
        self.workload.check_values(&mut problems);
        self.phases.check_values(&mut problems);
        self.network.check_values(&mut problems);
        let f = &self.faults;
        f.partition.check_values(&mut problems);
        f.crash.check_values(&mut problems);
        f.pause.check_values(&mut problems);
        f.clog.check_values(&mut problems);
        f.disk.check_values(&mut problems);
        f.clock.check_values(&mut problems);
        f.aimed.check_values(&mut problems);
        self.limits.check_values(&mut problems);
        self.check_contradictions(&mut problems);
        problems
    }

    /// Bounds that contradict each other (a scenario file's are refused at load; a plan
    /// file's values are checked here, since it names them directly).
    fn check_contradictions(&self, problems: &mut Vec<(String, String)>) {
        let f = &self.faults;
        let pairs = [
            (
                "network.latency_ms",
                self.network.latency_ms_min,
                self.network.latency_ms_max,
            ),
            (
                "workload.op_interval_ms",
                self.workload.op_interval_ms_min,
                self.workload.op_interval_ms_max,
            ),
            (
                "faults.partition.duration_ms",
                f.partition.duration_ms_min,
                f.partition.duration_ms_max,
            ),
            (
                "faults.crash.restart_delay_ms",
                f.crash.restart_delay_ms_min,
                f.crash.restart_delay_ms_max,
            ),
            (
                "faults.pause.duration_ms",
                f.pause.duration_ms_min,
                f.pause.duration_ms_max,
            ),
            (
                "faults.clog.duration_ms",
                f.clog.duration_ms_min,
                f.clog.duration_ms_max,
            ),
        ];
        for (stem, lo, hi) in pairs {
            if lo > hi {
                problems.push((
                    format!("{stem}_min"),
                    format!("contradictory settings: `{stem}_min` = {lo} is more than `{stem}_max` = {hi}"),
                ));
            }
        }
        // A drawn plan caps the append share at 1 − read; allow that subtraction's rounding.
        if self.workload.read_probability + self.workload.append_probability > 1.0 + 1e-9 {
            problems.push((
                "workload.append_probability".into(),
                "contradictory settings: `workload.read_probability` + `workload.append_probability` exceed 1".into(),
            ));
        }
        if f.partition_shapes.is_empty() {
            problems.push((
                "faults.partition_shapes".into(),
                "no partition shapes listed: name at least one".into(),
            ));
        }
    }
}

/// A loaded, validated scenario.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Where it was loaded from.
    pub path: PathBuf,
    /// Its name (from the file, or the file stem).
    pub name: String,
    /// The file's content, parsed (the generic part).
    pub file: ScenarioFile,
    /// The system it runs.
    pub system: &'static dyn SystemSchema,
    /// The system's own section, as the system parsed and validated it.
    pub section: Section,
    /// The checks it runs, in catalogue order.
    pub checks: Vec<String>,
    /// The workload it runs (the file's `workload_kind`, or the system's first).
    pub workload: &'static str,
}

/// A scenario file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The file could not be read.
    #[error("{path}: cannot read scenario: {message}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        message: String,
    },
    /// The file is not a valid scenario: one entry per problem, the first
    /// [`PROBLEMS_SHOWN_MAX`] in file order, and how many more there are.
    #[error("{}{}", .problems.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("\nerror: "),
        if *.more > 0 { format!("\n… and {} more problem(s) in this file", .more) } else { String::new() })]
    Invalid {
        /// What is wrong, where (at most [`PROBLEMS_SHOWN_MAX`]).
        problems: Vec<Problem>,
        /// Problems found beyond those.
        more: usize,
    },
    /// A path given on the command line is neither a scenario file nor a directory.
    #[error("{path}: {message}")]
    Path {
        /// The path.
        path: String,
        /// What is wrong.
        message: String,
    },
}

/// One problem in a scenario file, located.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file.
    pub path: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// What is wrong and what is allowed.
    pub message: String,
    /// The offending source line and the width of the underline, for display.
    pub snippet: Option<(String, usize)>,
}

/// At most this many problems of one file are reported (the count of the rest follows).
pub const PROBLEMS_SHOWN_MAX: usize = 20;
/// A message longer than this many characters is cut (it may quote the file).
const MESSAGE_CHARS_MAX: usize = 1000;
/// Characters of the source line shown on each side of the column.
const SNIPPET_SIDE_CHARS: usize = 40;

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.path,
            self.line,
            self.column,
            clip(&self.message, MESSAGE_CHARS_MAX)
        )?;
        if let Some((text, width)) = &self.snippet {
            let (shown, caret, width) = window(text, self.column, *width);
            let gutter = self.line.to_string().len();
            write!(
                f,
                "\n{:gutter$} |\n{} | {}\n{:gutter$} | {}{}",
                "",
                self.line,
                shown,
                "",
                " ".repeat(caret),
                "^".repeat(width.max(1)),
            )?;
        }
        Ok(())
    }
}

/// `s` cut to `n` characters, with `…` when cut.
fn clip(s: &str, n: usize) -> std::borrow::Cow<'_, str> {
    match s.char_indices().nth(n) {
        Some((at, _)) => format!("{}…", &s[..at]).into(),
        None => s.into(),
    }
}

/// The part of a source line around 1-based `column` worth showing, where the caret
/// goes in it (0-based), and the underline's width: long lines are cut to a window.
fn window(line: &str, column: usize, width: usize) -> (String, usize, usize) {
    let chars: Vec<char> = line.chars().collect();
    let at = column.saturating_sub(1).min(chars.len());
    let from = at.saturating_sub(SNIPPET_SIDE_CHARS);
    let to = (at + SNIPPET_SIDE_CHARS).min(chars.len());
    let mut shown: String = chars[from..to].iter().collect();
    let mut caret = at - from;
    if from > 0 {
        shown.insert(0, '…');
        caret += 1;
    }
    if to < chars.len() {
        shown.push('…');
    }
    (shown, caret, width.min(to.saturating_sub(at)).max(1))
}

impl Scenario {
    /// Read, parse and validate a scenario file against the systems in `catalog`.
    pub fn load(path: &Path, catalog: &dyn Catalog) -> Result<Scenario, ScenarioError> {
        let display = path.display().to_string();
        let text = crate::input::read_text(path, SCENARIO_BYTES_MAX).map_err(|e| match e {
            crate::input::InputError::NotUtf8 { line, column, byte } => ScenarioError::Invalid {
                problems: vec![Problem {
                    path: display.clone(),
                    line,
                    column,
                    message: format!(
                        "not UTF-8 text (byte 0x{byte:02x}): a scenario file is UTF-8 TOML"
                    ),
                    snippet: None,
                }],
                more: 0,
            },
            other => ScenarioError::Read {
                path: display.clone(),
                message: other.to_string(),
            },
        })?;
        Self::parse(path, &text, catalog)
    }

    /// Parse and validate scenario text (`path` is used for naming and messages only).
    pub fn parse(
        path: &Path,
        text: &str,
        catalog: &dyn Catalog,
    ) -> Result<Scenario, ScenarioError> {
        validate::parse_and_validate(path, text, catalog)
    }

    /// The estimated load of the scenario's busiest seed (see [`load`]).
    pub fn estimated_load(&self) -> load::Estimate {
        let worst = load::Worst::of(&self.file);
        load::estimate(
            &worst,
            &self.system.load(&self.section, self.file.swarm, &worst),
        )
    }

    /// The generic settings of one seed (pure: same scenario and seed, same params).
    pub fn resolve(&self, seed: u64) -> Params {
        let f = &self.file;
        let swarm = f.swarm;
        let mut network = f.network.resolve(swarm, seed);
        order(&mut network.latency_ms_min, &mut network.latency_ms_max);
        let mut workload = f.workload.resolve(swarm, seed);
        order(
            &mut workload.op_interval_ms_min,
            &mut workload.op_interval_ms_max,
        );
        if workload.read_probability + workload.append_probability > 1.0 {
            // Two sampled shares can overshoot; keep the read share and cap the other.
            workload.append_probability = 1.0 - workload.read_probability;
        }
        let mut faults = FaultParams {
            partition: f.faults.partition.resolve(swarm, seed),
            partition_shapes: f
                .faults
                .partition_shapes
                .clone()
                .unwrap_or_else(|| PartitionShape::ALL.to_vec()),
            crash: f.faults.crash.resolve(swarm, seed),
            pause: f.faults.pause.resolve(swarm, seed),
            clog: f.faults.clog.resolve(swarm, seed),
            disk: f.faults.disk.resolve(swarm, seed),
            clock: f.faults.clock.resolve(swarm, seed),
            aimed: f.faults.aimed.resolve(swarm, seed),
        };
        order(
            &mut faults.partition.duration_ms_min,
            &mut faults.partition.duration_ms_max,
        );
        order(
            &mut faults.crash.restart_delay_ms_min,
            &mut faults.crash.restart_delay_ms_max,
        );
        order(
            &mut faults.pause.duration_ms_min,
            &mut faults.pause.duration_ms_max,
        );
        order(
            &mut faults.clog.duration_ms_min,
            &mut faults.clog.duration_ms_max,
        );
        Params {
            topology: f.topology.resolve(swarm, seed),
            workload,
            phases: f.phases.resolve(swarm, seed),
            network,
            faults,
            limits: f.limits.resolve(swarm, seed),
        }
    }
}

/// The largest scenario file faultline reads (scenarios are a few hundred bytes).
pub const SCENARIO_BYTES_MAX: u64 = 1 << 20;

/// The longest scenario name (in characters).
pub const NAME_CHARS_MAX: usize = 64;

/// Whether `name` can name a scenario: it names a directory in every report, so 1 to
/// [`NAME_CHARS_MAX`] ASCII letters, digits, `-`, `_` and `.`, not starting with `.`
/// (which also rules out `.` and `..`). The error says what is allowed.
pub fn check_name(name: &str) -> Result<(), String> {
    let shown: String = name.chars().take(NAME_CHARS_MAX).collect();
    let shown = if shown.len() < name.len() {
        format!("{shown}…")
    } else {
        shown
    };
    let count = name.chars().count();
    if count == 0 || count > NAME_CHARS_MAX {
        return Err(format!(
            "scenario name `{shown}` has {count} characters: a name has 1 to {NAME_CHARS_MAX}"
        ));
    }
    let plain = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !plain || name.starts_with('.') {
        return Err(format!(
            "scenario name `{shown}` is used as a directory name: use ASCII letters, digits, `-`, `_` and `.` only, not starting with `.`"
        ));
    }
    Ok(())
}

/// Sampled bounds may come out crossed; swap them rather than fail a seed.
pub fn order(lo: &mut u64, hi: &mut u64) {
    if *lo > *hi {
        std::mem::swap(lo, hi);
    }
}

/// Expand command-line paths into scenario files: a file is taken as is, a directory
/// contributes every `*.toml` below it (recursively, sorted, `README`s aside).
pub fn discover(paths: &[PathBuf]) -> Result<Vec<PathBuf>, ScenarioError> {
    let mut found = Vec::new();
    for path in paths {
        let meta = std::fs::metadata(path).map_err(|e| ScenarioError::Path {
            path: path.display().to_string(),
            message: crate::input::describe_io(&e),
        })?;
        if meta.is_dir() {
            let before = found.len();
            walk(path, &mut found, 0)?;
            if found.len() == before {
                return Err(ScenarioError::Path {
                    path: path.display().to_string(),
                    message: "no *.toml scenario files in this directory".into(),
                });
            }
        } else {
            // Whatever it is, loading it says what is wrong with it.
            found.push(path.clone());
        }
    }
    Ok(found)
}

fn walk(dir: &Path, found: &mut Vec<PathBuf>, depth: usize) -> Result<(), ScenarioError> {
    // Scenario trees are shallow; a bound stops symlink loops.
    const DEPTH_MAX: usize = 16;
    if depth > DEPTH_MAX {
        return Err(ScenarioError::Path {
            path: dir.display().to_string(),
            message: format!("directories nested deeper than {DEPTH_MAX} levels"),
        });
    }
    let read_err = |e: std::io::Error| ScenarioError::Read {
        path: dir.display().to_string(),
        message: crate::input::describe_io(&e),
    };
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(read_err)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(read_err)?;
    entries.sort();
    for entry in entries {
        if entry.is_dir() {
            walk(&entry, found, depth + 1)?;
        } else if entry.extension().is_some_and(|e| e == "toml") {
            found.push(entry);
        }
    }
    Ok(())
}

/// The reference of every generic knob (system knobs come from the systems).
pub fn knob_docs() -> Vec<knob::KnobDoc> {
    let mut docs = Vec::new();
    docs.extend(TopologySection::docs());
    docs.extend(WorkloadSection::docs());
    docs.extend(PhasesSection::docs());
    docs.extend(NetworkSection::docs());
    docs.extend(PartitionSection::docs());
    docs.extend(CrashSection::docs());
    docs.extend(PauseSection::docs());
    docs.extend(ClogSection::docs());
    docs.extend(DiskSection::docs());
    docs.extend(ClockSection::docs());
    docs.extend(AimedSection::docs());
    docs.extend(LimitsSection::docs());
    docs
}
