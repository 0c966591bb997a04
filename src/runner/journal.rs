//! The seed journal: every finished seed of a sweep, one JSON line each, appended to
//! `<run>/seeds.jsonl` the moment it finishes, beside a manifest (`<run>/run.json`) that
//! says exactly what the sweep is — the binary, each scenario file's hash, the seed range
//! and the shard.
//!
//! A tally is a fold of seed records ([`super::Tally::add_record`]) that does not depend on
//! their order, so the journal is enough to rebuild a sweep's whole report:
//! - **resume**: `faultline run … --resume` reads the journal of the interrupted run, skips
//!   the seeds it holds and runs the rest, ending with the report an uninterrupted run gives;
//! - **merge**: `faultline merge` folds the journals of the shards of a sweep run on many
//!   machines into the report of one run over all their seeds.
//!
//! A line cut short by a kill (the last one) is ignored: that seed simply runs again.

use std::fs;
use std::io::{self, BufRead, Read, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::check::{CheckOutcome, Verdict};
use crate::plan::SeedId;
use crate::runner::SeedResult;
use crate::scenario::Expect;

/// The journal's file name in a run folder.
pub const JOURNAL: &str = "seeds.jsonl";
/// The manifest's file name in a run folder.
pub const MANIFEST: &str = "run.json";

/// What a tally needs of one finished seed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeedRecord {
    /// The scenario's position in the manifest.
    pub scenario: usize,
    /// The seed.
    pub seed: SeedId,
    /// Its verdict.
    pub verdict: Verdict,
    /// Per-check outcomes (without the highlighted operations).
    pub checks: Vec<CheckOutcome>,
    /// A process panic: (process name, message).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub panic: Option<(String, String)>,
    /// A failure inside faultline itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub harness_error: Option<String>,
    /// The resource limit reached, as the report words it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<String>,
    /// Messages sent.
    pub messages: u64,
    /// Trace events.
    pub events: u64,
    /// Client operations.
    pub operations: u64,
    /// Handler calls.
    pub handler_calls: u64,
    /// Peak memory of the simulation (bytes).
    pub memory_peak_bytes: u64,
    /// Probes reached.
    pub probes: Vec<String>,
    /// When each of `probes` was first reached (ms, rounded up, in the same order): where
    /// a branch of the run would start. Empty in journals written before branching existed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub probes_first_ms: Vec<u64>,
    /// The determinism re-run, if one was made: whether it was identical.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identical: Option<bool>,
    /// Wall time the seed took on its thread (µs; re-runs included): a report figure,
    /// never an input to anything a seed decides.
    #[serde(default)]
    pub run_us: u64,
}

impl SeedRecord {
    /// The record of a finished seed.
    pub fn of(r: &SeedResult) -> SeedRecord {
        SeedRecord {
            scenario: r.scenario_index,
            seed: r.seed,
            verdict: r.verdict,
            checks: (r.checks.iter())
                .map(|c| CheckOutcome {
                    ops: Vec::new(),
                    ..c.clone()
                })
                .collect(),
            panic: (r.panic.as_ref()).map(|p| (p.name.clone(), p.message.clone())),
            harness_error: r.harness_error.clone(),
            limit: r.limit.as_ref().map(ToString::to_string),
            messages: r.messages,
            events: r.events as u64,
            operations: r.operations as u64,
            handler_calls: r.handler_calls,
            memory_peak_bytes: r.memory_peak_bytes,
            probes: r.probes.keys().map(|p| p.to_string()).collect(),
            probes_first_ms: (r.probes.keys())
                .map(|p| {
                    r.probes_first_ns
                        .get(p)
                        .map_or(0, |ns| ns.div_ceil(1_000_000))
                })
                .collect(),
            identical: r.determinism.as_ref().map(|d| d.identical),
            run_us: r.run_us,
        }
    }
}

/// One scenario of a sweep, as the manifest records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScenarioEntry {
    /// Its name.
    pub name: String,
    /// Its file, as given.
    pub path: String,
    /// The system it runs (for the sweep report's list of probes never reached).
    #[serde(default)]
    pub system: String,
    /// FNV-1a hash of the file's bytes (hex): the same name with other content is another
    /// scenario.
    pub file_hash: String,
    /// What it expects.
    pub expect: Expect,
    /// The check expected to fail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect_check: Option<String>,
    /// A pinned plan's failure signature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect_signature: Option<String>,
    /// Whether it is a pinned plan.
    #[serde(default)]
    pub pinned: bool,
    /// Its first seed.
    pub seed_start: u64,
    /// How many seeds the whole sweep (all shards) runs of it.
    pub seeds: u64,
}

/// What a sweep is: enough to refuse resuming or merging something else.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// faultline's version.
    pub version: String,
    /// The build's identity (hex; [`build_id`]): shards of one sweep come from one build.
    /// (The name is the field's since run folders had it; it is no longer a hash of the
    /// executable's bytes.)
    pub binary_hash: String,
    /// The shard: (K, N), 1-based; (1, 1) for an unsharded run.
    pub shard: (u64, u64),
    /// Seeds per scenario.
    pub seeds: u64,
    /// First seed.
    pub seed_start: u64,
    /// Re-run one seed in this many for determinism (every seed with `check_determinism`).
    pub determinism_every: u64,
    /// Every seed re-run for determinism.
    pub check_determinism: bool,
    /// With a time budget (seconds): seeds run round-robin until it is spent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_budget_s: Option<u64>,
    /// How the sweep searched: the same seeds under other settings run other plans.
    pub search: Search,
    /// The scenarios, in run order.
    pub scenarios: Vec<ScenarioEntry>,
}

/// A sweep's search settings, which decide what its positions run beside the seeds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Search {
    /// The share of positions after the warm-up that run guided mutants (`--guided-share`;
    /// a sharded sweep runs none, and records 0).
    pub guided_share: f64,
    /// The share of guided positions whose parent has a branch point that run a branch of
    /// it (`--branch-share`; 0 in manifests written before branching existed).
    #[serde(default)]
    pub branch_share: f64,
    /// Seeds are planned with their fault points (`--fault-points`).
    pub fault_points: bool,
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// FNV-1a, 64 bits: a stable content hash (the same on every machine and version).
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h = FNV_OFFSET;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The build's identity: a hash of the crate's sources, lock file, profile, target,
/// compiler flags and compiler version, computed once by `build.rs` — a run names its
/// binary without reading the executable's tens of megabytes.
///
/// A program with systems of its own ([`crate::cli::main_with`]) is more than faultline's
/// sources: its identity adds a hash of its executable, read once per process (tens of
/// milliseconds), so `merge` and `--resume` refuse shards of another build of it.
pub fn build_id() -> String {
    let own = env!("FAULTLINE_BUILD_ID");
    if !crate::systems::has_installed() {
        return own.to_string();
    }
    static PROGRAM: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let program = PROGRAM.get_or_init(|| {
        let bytes = std::env::current_exe().and_then(fs::read);
        bytes.map_or_else(|_| "unreadable".into(), |b| format!("{:016x}", fnv1a(&b)))
    });
    format!("{own}+{program}")
}

/// Write the manifest of a run folder.
pub fn write_manifest(dir: &Path, m: &Manifest) -> io::Result<()> {
    let text = serde_json::to_string_pretty(m).map_err(io::Error::other)?;
    fs::write(dir.join(MANIFEST), format!("{text}\n"))
}

/// Read the manifest of a run folder.
pub fn read_manifest(dir: &Path) -> Result<Manifest, String> {
    let path = dir.join(MANIFEST);
    let text = fs::read_to_string(&path).map_err(|e| {
        format!(
            "{}: {e}: not the run folder of a faultline run (it has no readable run.json)",
            path.display()
        )
    })?;
    serde_json::from_str(&text).map_err(|e| {
        format!(
            "{}: {e}: not a run manifest this faultline reads (damaged, or written by another version)",
            path.display()
        )
    })
}

/// Appends records to a run's journal, flushed per seed (a killed process keeps them).
pub struct Journal {
    out: fs::File,
}

impl Journal {
    /// Open (or create) the journal of a run folder for appending after its first
    /// `keep_bytes` bytes ([`JournalRead::whole_bytes`]): a line a kill cut short is cut
    /// off, so the next record starts a line of its own.
    pub fn open(dir: &Path, keep_bytes: u64) -> io::Result<Journal> {
        let out = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join(JOURNAL))?;
        if out.metadata()?.len() != keep_bytes {
            out.set_len(keep_bytes)?;
        }
        Ok(Journal { out })
    }

    /// Append one seed (one `write` of a whole line).
    pub fn append(&mut self, record: &SeedRecord) -> io::Result<()> {
        let mut line = serde_json::to_vec(record).map_err(io::Error::other)?;
        line.push(b'\n');
        self.out.write_all(&line)
    }
}

/// A journal as read: its records, and whether its last line was cut short.
#[derive(Debug, Default)]
pub struct JournalRead {
    /// Every whole record, in file order.
    pub records: Vec<SeedRecord>,
    /// The last line was cut short (a kill during its write): its line number. That seed
    /// did not finish as far as the journal knows, and runs again.
    pub torn_line: Option<usize>,
    /// Bytes of whole lines: where a resumed run appends (a torn line is cut off first).
    pub whole_bytes: u64,
}

/// Why a journal cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// It could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: io::Error,
    },
    /// A whole line that is not a record of this sweep: the journal is damaged, and a
    /// damaged journal is refused rather than guessed at.
    #[error("{path}:{line}:{column}: a damaged journal: {message}")]
    Damaged {
        /// The file.
        path: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong.
        message: String,
    },
}

/// The longest journal line read (a record is a few hundred bytes; checks' messages are
/// bounded).
const LINE_BYTES_MAX: usize = 1 << 20;

/// Read a run's journal and check every record belongs to the sweep `m` describes: its
/// scenario exists, its seed is one this shard runs, and no seed is there twice. A last
/// line without its newline is a write a kill cut short ([`JournalRead::torn_line`]); any
/// other line that is not a record is damage (`JournalError::Damaged`, at its line and
/// column). A missing journal reads as empty.
pub fn read_journal(dir: &Path, m: &Manifest) -> Result<JournalRead, JournalError> {
    let path = dir.join(JOURNAL);
    let name = path.display().to_string();
    let io_error = |source| JournalError::Io {
        path: name.clone(),
        source,
    };
    let file = match fs::File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(JournalRead::default()),
        Err(e) => return Err(io_error(e)),
    };
    let mut reader = io::BufReader::new(file);
    let mut out = JournalRead::default();
    let mut seen = std::collections::BTreeSet::new();
    let mut line = Vec::new();
    for number in 1.. {
        line.clear();
        let n = Read::take(&mut reader, LINE_BYTES_MAX as u64 + 1)
            .read_until(b'\n', &mut line)
            .map_err(io_error)?;
        if n == 0 {
            break;
        }
        let damaged = |column: usize, message: String| JournalError::Damaged {
            path: name.clone(),
            line: number,
            column,
            message,
        };
        if line.last() != Some(&b'\n') {
            if line.len() > LINE_BYTES_MAX {
                return Err(damaged(
                    1,
                    format!("a line longer than {LINE_BYTES_MAX} bytes"),
                ));
            }
            out.torn_line = Some(number);
            break;
        }
        let record = parse_line(&line[..line.len() - 1]).map_err(|(c, m)| damaged(c, m))?;
        check_record(&record, m).map_err(|m| damaged(1, m))?;
        let position = record.seed.position();
        if !seen.insert((record.scenario, position)) {
            return Err(damaged(
                1,
                format!(
                    "seed {} of scenario #{} is there twice",
                    record.seed, record.scenario
                ),
            ));
        }
        out.whole_bytes += n as u64;
        out.records.push(record);
    }
    Ok(out)
}

/// One whole line as a record, or (1-based column, why not).
fn parse_line(bytes: &[u8]) -> Result<SeedRecord, (usize, String)> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let column = String::from_utf8_lossy(&bytes[..e.valid_up_to()])
            .chars()
            .count()
            + 1;
        (column, "not UTF-8 text".to_string())
    })?;
    if let Some(at) = text.find('\0') {
        return Err((text[..at].chars().count() + 1, "a NUL byte".into()));
    }
    serde_json::from_str::<SeedRecord>(text).map_err(|e| {
        let message = e.to_string();
        let message = message
            .split(" at line ")
            .next()
            .unwrap_or(&message)
            .to_string();
        (e.column().max(1), format!("not a seed record: {message}"))
    })
}

/// Whether `r` is a seed this shard of the sweep runs.
fn check_record(r: &SeedRecord, m: &Manifest) -> Result<(), String> {
    let entry = m.scenarios.get(r.scenario).ok_or_else(|| {
        format!(
            "a seed of scenario #{}, but the run has {} scenario(s)",
            r.scenario,
            m.scenarios.len()
        )
    })?;
    let id = r.seed;
    let (k, n) = m.shard;
    let ours = if entry.pinned {
        r.seed.raw() == entry.seed_start
    } else {
        let offset = id.position().wrapping_sub(entry.seed_start);
        offset < entry.seeds && offset % n.max(1) == k.saturating_sub(1)
    };
    if ours {
        Ok(())
    } else {
        Err(format!(
            "seed {id} of `{}` is not one this run runs ({} seed(s) from {}{})",
            entry.name,
            entry.seeds,
            entry.seed_start,
            if n > 1 {
                format!(", shard {k}/{n}")
            } else {
                String::new()
            }
        ))
    }
}
