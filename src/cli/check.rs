//! `faultline check <history or folder>... --model <model>`: check recorded histories.
//!
//! One file gets the full report below. Several files, or a folder (every file in it,
//! by name, hidden ones skipped), are checked in one process, `--jobs` at a time: one line
//! per history in the order given, then a total; `--json` prints one JSON object per
//! history per line. The exit code is the worst verdict (bad input, then invalid, then
//! unknown, then valid); a history that cannot be read is reported on its line and does
//! not stop the others.
//!
//! Reads a history file (JSON lines, Jepsen EDN or Jepsen log, detected from its content
//! unless `--format` says), checks it for linearizability against a built-in model — or,
//! with `--model queue`, for Jepsen's Kafka anomalies ([`crate::check::queue`]) — and
//! prints the verdict — with, for a violation, the longest linearizable prefix found and
//! the operations that cannot follow it. The exit code follows the verdict: 0 valid,
//! 1 invalid, 2 unknown (a budget ran out), 254 bad input (unknown model or format,
//! unreadable or malformed file, an operation the model does not accept).

use super::{exit_code, BadInput};
use crate::catalog::Named;
use crate::check::isolation;
use crate::check::linearizability::{check_history, Budget, ModelKind, Report, Verdict};
use crate::check::queue;
use crate::history::{self, Format, History};
use serde::Serialize;
use std::path::PathBuf;
use std::time::Duration;

/// The largest history file faultline reads.
pub const HISTORY_BYTES_MAX: u64 = 1 << 30;

/// Arguments of `faultline check`.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// History files (JSON lines, Jepsen EDN or Jepsen log; detected from their content),
    /// or folders of them.
    #[arg(required = true)]
    pub history: Vec<PathBuf>,
    /// Histories checked at once when there are several (default: the number of cores).
    #[arg(long)]
    pub jobs: Option<usize>,
    /// The sequential model to check against: register, cas-register, kv, bank,
    /// multi-register or mutex; or
    /// `queue` for a history of sends and polls (Jepsen's Kafka anomalies); or
    /// `list-append` for transactions of appends and list reads, `rw-register` for
    /// transactions of register writes and reads (Elle's isolation anomalies, see
    /// `--consistency-model`). Default: the
    /// one a history written by faultline names in its sidecar (`<stem>.meta.json`).
    #[arg(long)]
    pub model: Option<String>,
    /// With `--model queue`: anomalies that do not fail the check (comma-separated,
    /// e.g. `duplicate,unseen`), replacing the default `G0,int-send-skip` (what Kafka's
    /// transactions make normal); `none` allows nothing.
    #[arg(long, value_delimiter = ',')]
    pub allow: Vec<String>,
    /// With `--model queue`: infer no write-write edges from log order (Jepsen's
    /// `:ww-deps false`), so only cycles of reads are G1c. Default: what the history's
    /// sidecar says, else infer them.
    #[arg(long)]
    pub no_ww_deps: bool,
    /// With `--model list-append` or `rw-register`: the consistency model the history
    /// must satisfy:
    /// read-uncommitted, read-committed, repeatable-read, snapshot-isolation,
    /// serializable, strong-session-snapshot-isolation, strong-session-serializable,
    /// strong-snapshot-isolation or strict-serializable (also strong-serializable).
    #[arg(long, default_value = "strict-serializable")]
    pub consistency_model: String,
    /// Give up with an inconclusive verdict after this many milliseconds.
    #[arg(long)]
    pub budget_ms: Option<u64>,
    /// Give up with an inconclusive verdict after this many search steps (deterministic).
    #[arg(long)]
    pub max_steps: Option<u64>,
    /// Give up with an inconclusive verdict when the search would hold more than this many
    /// MiB (deterministic). Default: three quarters of the memory available (the
    /// machine's, or the cgroup's if smaller), shared by the histories checked at once.
    #[arg(long)]
    pub memory_mb_max: Option<u64>,
    /// The history's format: auto, jsonl, edn or jepsen-log.
    #[arg(long, default_value = "auto")]
    pub format: String,
    /// Print the report as one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// What `--json` prints.
#[derive(Serialize)]
struct JsonReport<'a> {
    file: &'a str,
    model: ModelKind,
    operations: usize,
    #[serde(flatten)]
    report: &'a Report,
}

/// One history checked: its exit code, the full report, and its one-line and JSON forms.
struct Checked {
    code: u8,
    detail: String,
    line: String,
    json: serde_json::Value,
}

/// Run the check and return the exit code.
pub fn run(args: &CheckArgs) -> anyhow::Result<u8> {
    check_arguments(args)?;
    crate::guard::release_freed_memory();
    let files = expand(&args.history)?;
    let single = args.history.len() == 1 && files.len() == 1 && args.history[0] == files[0];
    if single {
        let checked = check_file(args, &files[0], 1)?;
        if args.json {
            println!("{}", serde_json::to_string_pretty(&checked.json)?);
        } else {
            print!("{}", checked.detail);
        }
        return Ok(checked.code);
    }
    batch(args, &files)
}

/// The arguments every history is checked with (checked once, before any file).
fn check_arguments(args: &CheckArgs) -> anyhow::Result<()> {
    if let Some(name) =
        (args.allow.iter()).find(|n| !queue::ANOMALIES.contains(&n.as_str()) && *n != "none")
    {
        let known = queue::ANOMALIES.join(", ");
        return Err(BadInput(format!(
            "--allow: unknown anomaly `{name}`: expected none or one of {known}"
        ))
        .into());
    }
    let consistency = &args.consistency_model;
    if isolation::Model::parse(consistency).is_none() {
        let known: Vec<&str> = isolation::MODELS.iter().map(|m| m.name()).collect();
        return Err(BadInput(format!(
            "--consistency-model: unknown model `{consistency}`: expected one of {}",
            known.join(", ")
        ))
        .into());
    }
    match args.model.as_deref() {
        Some("queue") | Some("list-append") | Some("rw-register") | None => {}
        Some(model) => {
            model
                .parse::<ModelKind>()
                .map_err(|e| BadInput(format!("--model: {e}, or queue")))?;
        }
    }
    format_of(args)?;
    if args.memory_mb_max == Some(0) {
        return Err(BadInput("--memory-mb-max must be at least 1".into()).into());
    }
    if args.jobs == Some(0) {
        return Err(BadInput("--jobs must be at least 1".into()).into());
    }
    Ok(())
}

fn format_of(args: &CheckArgs) -> anyhow::Result<Option<Format>> {
    Ok(match args.format.as_str() {
        "auto" => None,
        name => Some(
            name.parse::<Format>()
                .map_err(|e| BadInput(format!("--format: {e} (or auto)")))?,
        ),
    })
}

/// Most files one `check` reads from folders.
const FOLDER_FILES_MAX: usize = 1_000_000;

/// Files and folders to the files to check: a folder's files by name, hidden ones skipped,
/// subfolders at any depth. Each file and folder is visited once, however many symbolic
/// links lead to it (a link to a parent folder is not followed again).
fn expand(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    use std::os::unix::fs::MetadataExt;
    let mut seen: std::collections::BTreeSet<(u64, u64)> = Default::default();
    let mut out = Vec::new();
    for path in paths {
        if !path.is_dir() {
            out.push(path.clone());
            continue;
        }
        // Depth first, in name order: a stack of folders still to read.
        let mut stack = vec![path.clone()];
        while let Some(dir) = stack.pop() {
            let meta = std::fs::metadata(&dir)
                .map_err(|e| BadInput(format!("cannot read folder {}: {e}", dir.display())))?;
            if !seen.insert((meta.dev(), meta.ino())) {
                continue;
            }
            let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir)
                .map_err(|e| BadInput(format!("cannot read folder {}: {e}", dir.display())))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    // Hidden files, and the sidecars of histories (which name their model).
                    !p.file_name().is_some_and(|n| {
                        let n = n.to_string_lossy();
                        n.starts_with('.') || n.ends_with(".meta.json")
                    })
                })
                .collect();
            entries.sort();
            let mut subfolders = Vec::new();
            for entry in entries {
                if entry.is_dir() {
                    subfolders.push(entry);
                    continue;
                }
                let file = std::fs::metadata(&entry).map(|m| (m.dev(), m.ino()));
                if file.map_or(true, |id| seen.insert(id)) {
                    out.push(entry);
                }
                if out.len() > FOLDER_FILES_MAX {
                    return Err(BadInput(format!(
                        "{}: more than {FOLDER_FILES_MAX} files to check; give fewer folders",
                        path.display()
                    ))
                    .into());
                }
            }
            stack.extend(subfolders.into_iter().rev());
        }
    }
    Ok(out)
}

/// The model `file` is checked against, and the anomalies allowed: `--model` and
/// `--allow`, or what the file's sidecar says (see [`crate::check::fit`]).
fn model_of(args: &CheckArgs, file: &std::path::Path) -> anyhow::Result<(String, Vec<String>)> {
    use crate::check::fit::{meta_path, Fit, HistoryMeta};
    if let Some(model) = &args.model {
        return Ok((model.clone(), allowed(&args.allow)));
    }
    let sidecar = meta_path(file);
    let Ok(text) = crate::input::read_text(&sidecar, 1 << 20) else {
        return Err(BadInput(format!(
            "{}: no --model given, and no {} beside it naming one: give --model (register, cas-register, kv, bank, multi-register, mutex, queue, list-append or rw-register)",
            file.display(),
            sidecar.display()
        ))
        .into());
    };
    let meta: HistoryMeta = serde_json::from_str(&text).map_err(|e| {
        BadInput(format!(
            "{}: not a history's sidecar: {e}",
            sidecar.display()
        ))
    })?;
    match meta.fit {
        Fit::Linearizability { model } => Ok((model.name().to_string(), args.allow.clone())),
        Fit::Queue { allow, .. } if args.allow.is_empty() => Ok(("queue".into(), allow)),
        Fit::Queue { .. } => Ok(("queue".into(), allowed(&args.allow))),
        Fit::Replay { checks } => Err(BadInput(format!(
            "{}: no checker reads this history on its own: it holds the operations of {} seed {}, which its checks ({}) judge against the whole run; replay it instead: {}",
            file.display(),
            meta.scenario,
            meta.seed,
            checks.join(", "),
            meta.replay
        ))
        .into()),
    }
}

/// Whether the history's sidecar, if any, asks for write-write edges (yes without one).
fn sidecar_ww_deps(file: &std::path::Path) -> bool {
    use crate::check::fit::{meta_path, Fit, HistoryMeta};
    let text = crate::input::read_text(&meta_path(file), 1 << 20).ok();
    let meta = text.and_then(|t| serde_json::from_str::<HistoryMeta>(&t).ok());
    !matches!(meta.map(|m| m.fit), Some(Fit::Queue { ww_deps: false, .. }))
}

/// The anomalies `--allow` names: the queue checker's defaults when it names none, nothing
/// for `none`.
fn allowed(given: &[String]) -> Vec<String> {
    match given {
        [] => queue::ALLOWED_BY_DEFAULT
            .iter()
            .map(|s| s.to_string())
            .collect(),
        _ => given.iter().filter(|n| *n != "none").cloned().collect(),
    }
}

/// Check one history file.
fn check_file(args: &CheckArgs, file: &std::path::Path, at_once: usize) -> anyhow::Result<Checked> {
    let (model, allow) = model_of(args, file)?;
    if model == "queue" {
        return check_queue(args, file, &allow);
    }
    if model == "list-append" || model == "rw-register" {
        return check_isolation(args, file, &model);
    }
    let model: ModelKind = model
        .parse()
        .map_err(|e| BadInput(format!("--model: {e}, or queue")))?;
    let (path, history) = read(file, format_of(args)?)?;
    let budget = Budget {
        max_steps: args.max_steps,
        wall: args.budget_ms.map(Duration::from_millis),
        memory_bytes_max: Some(memory_mb_max(args, at_once).saturating_mul(1 << 20)),
        // What the process holds already (the program, the histories read), this
        // history's share of it, counts against the budget too.
        memory_held_bytes: resident_bytes() / at_once.max(1) as u64,
        memory_knob: if args.memory_mb_max.is_some() {
            "`--memory-mb-max`"
        } else {
            "¾ of the memory available; raise or lower it with `--memory-mb-max`"
        },
    };
    let report =
        check_history(&history, model, &budget).map_err(|e| BadInput(format!("{path}: {e}")))?;
    let detail = render(&path, model, &history, &report);
    let mut line = detail.lines().next().unwrap_or_default().to_string();
    if let Verdict::Invalid(e) = &report.verdict {
        line.push_str(&format!(": {}", one_line(&e.message, 200)));
    }
    let json = serde_json::to_value(JsonReport {
        file: &path,
        model,
        operations: history.ops.len(),
        report: &report,
    })?;
    let code = match report.verdict {
        Verdict::Valid => exit_code::PASS,
        Verdict::Invalid(_) => exit_code::SAFETY,
        Verdict::Unknown(_) => exit_code::INCONCLUSIVE,
    };
    Ok(Checked {
        code,
        detail,
        line,
        json,
    })
}

/// Least memory budget a check gets by default (MiB).
const MEMORY_MB_MIN: u64 = 64;

/// The memory budget of one history: `--memory-mb-max`, or three quarters of what is
/// available, shared by the histories checked at once.
fn memory_mb_max(args: &CheckArgs, at_once: usize) -> u64 {
    if let Some(mb) = args.memory_mb_max {
        return mb;
    }
    let at_once = at_once.max(1) as u64;
    let available = crate::runner::sweep::jobs::available_memory_mb().unwrap_or(4096);
    (available / 4 * 3 / at_once).max(MEMORY_MB_MIN)
}

/// The process's resident memory now (0 when it cannot be read).
fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = (statm.split_whitespace().nth(1))
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    // SAFETY: sysconf only reads a configuration value.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    pages.saturating_mul(u64::try_from(page).unwrap_or(4096))
}

/// `text` on one line, cut to `n` characters.
fn one_line(text: &str, n: usize) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match flat.char_indices().nth(n) {
        Some((at, _)) => format!("{}…", &flat[..at]),
        None => flat,
    }
}

/// The human-readable report.
fn render(path: &str, model: ModelKind, history: &History, report: &Report) -> String {
    let stats = format!(
        "{} model, {} operation{}, {} partition{}, {} search step{}",
        model,
        history.ops.len(),
        plural(history.ops.len()),
        report.partitions,
        plural(report.partitions),
        report.steps,
        plural(report.steps as usize),
    );
    match &report.verdict {
        Verdict::Valid => format!("{path}: valid: linearizable ({stats})\n"),
        Verdict::Unknown(reason) => {
            format!("{path}: unknown: {reason} before a verdict ({stats})\n")
        }
        Verdict::Invalid(e) => {
            let mut out = format!("{path}: INVALID: not linearizable ({stats})\n");
            out.push_str(&format!("  {}\n", e.message));
            out.push_str(&format!(
                "  longest linearizable prefix ({} operation{}):\n",
                e.prefix.len(),
                plural(e.prefix.len())
            ));
            // The prefix's end is what leads to the violation; a long start is abridged.
            let skipped = e.prefix.len().saturating_sub(OPS_SHOWN_MAX);
            if skipped > 0 {
                out.push_str(&format!(
                    "    … {skipped} earlier operation{} (all of them with --json)\n",
                    plural(skipped)
                ));
            }
            push_ops(&mut out, history, &e.prefix[skipped..]);
            out.push_str("  cannot take effect next:\n");
            push_ops(
                &mut out,
                history,
                &e.stuck[..e.stuck.len().min(OPS_SHOWN_MAX)],
            );
            if e.stuck.len() > OPS_SHOWN_MAX {
                out.push_str(&format!(
                    "    … and {} more (all of them with --json)\n",
                    e.stuck.len() - OPS_SHOWN_MAX
                ));
            }
            out
        }
    }
}

/// Operations listed per part of a report (the rest are counted).
const OPS_SHOWN_MAX: usize = 20;

/// One line per operation.
fn push_ops(out: &mut String, history: &History, ops: &[usize]) {
    for &i in ops {
        if let Some(op) = history.ops.get(i) {
            out.push_str(&format!("    #{i} {op}\n"));
        }
    }
}

/// A history file, parsed.
fn read(file: &std::path::Path, format: Option<Format>) -> anyhow::Result<(String, History)> {
    let path = file.display().to_string();
    let text = crate::input::read_text(file, HISTORY_BYTES_MAX).map_err(|e| match e {
        crate::input::InputError::NotUtf8 { .. } => BadInput(format!("{path}:{e}")),
        other => BadInput(format!("cannot read history file {path}: {other}")),
    })?;
    let history = history::parse(&text, &path, format)?;
    Ok((path, history))
}

/// `--model list-append` or `rw-register`: Elle's isolation anomalies against
/// `--consistency-model`.
fn check_isolation(
    args: &CheckArgs,
    file: &std::path::Path,
    kind: &str,
) -> anyhow::Result<Checked> {
    let (path, history) = read(file, format_of(args)?)?;
    let model = isolation::Model::parse(&args.consistency_model).expect("checked up front");
    let budget = args.max_steps.unwrap_or(isolation::BUDGET_DEFAULT);
    let check = match kind {
        "rw-register" => isolation::check_rw_register,
        _ => isolation::check_list_append,
    };
    let report = check(&history, model, budget).map_err(|e| BadInput(format!("{path}: {e}")))?;
    let detail = isolation::render(&path, &report);
    let line = detail.lines().next().unwrap_or_default().to_string();
    #[derive(Serialize)]
    struct Json<'a> {
        file: &'a str,
        model: &'a str,
        #[serde(flatten)]
        report: &'a isolation::Report,
    }
    let json = serde_json::to_value(Json {
        file: &path,
        model: kind,
        report: &report,
    })?;
    let code = match report.verdict {
        isolation::Verdict::Valid => 0,
        isolation::Verdict::Invalid => 1,
        isolation::Verdict::Unknown => 2,
    };
    Ok(Checked {
        code,
        detail,
        line,
        json,
    })
}

/// `--model queue`: Jepsen's Kafka anomalies, each with its count and examples.
fn check_queue(
    args: &CheckArgs,
    file: &std::path::Path,
    allow: &[String],
) -> anyhow::Result<Checked> {
    let (path, history) = read(file, format_of(args)?)?;
    let options = queue::Options {
        ww_deps: !args.no_ww_deps && sidecar_ww_deps(file),
    };
    let report =
        queue::check_with(&history, options).map_err(|e| BadInput(format!("{path}: {e}")))?;
    let failed = report.forbidden(allow).next().is_some();
    #[derive(Serialize)]
    struct Json<'a> {
        file: &'a str,
        model: &'static str,
        valid: bool,
        #[serde(flatten)]
        report: &'a queue::Report,
    }
    let json = serde_json::to_value(Json {
        file: &path,
        model: "queue",
        valid: !failed,
        report: &report,
    })?;
    let verdict = if failed { "INVALID" } else { "valid" };
    let line = format!(
        "{path}: {verdict}: queue anomalies: {} ({} send{}, {} record{} polled, {} key{})",
        report.summary(),
        report.sends,
        plural(report.sends),
        report.polled,
        plural(report.polled),
        report.keys,
        plural(report.keys)
    );
    let mut detail = format!("{line}\n");
    for (count, examples) in report.anomalies.values() {
        for e in examples {
            detail.push_str(&format!(
                "  {}: {} (operations {:?})\n",
                e.anomaly, e.detail, e.ops
            ));
        }
        if *count > examples.len() {
            detail.push_str(&format!("  … and {} more\n", count - examples.len()));
        }
    }
    let code = if failed {
        exit_code::SAFETY
    } else {
        exit_code::PASS
    };
    Ok(Checked {
        code,
        detail,
        line,
        json,
    })
}

/// How bad an exit code is, for the worst of many: bad input, invalid, unknown, valid.
fn severity(code: u8) -> u8 {
    match code {
        exit_code::PASS => 0,
        exit_code::INCONCLUSIVE => 1,
        exit_code::SAFETY => 2,
        _ => 3,
    }
}

/// Check many histories in this process, `--jobs` at a time; print them in order.
fn batch(args: &CheckArgs, files: &[PathBuf]) -> anyhow::Result<u8> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    // A thread per history at once, never more than a few per core.
    let jobs = (args.jobs.unwrap_or(cores))
        .min(crate::runner::sweep::jobs::JOBS_PER_CORE_MAX * cores)
        .min(files.len().max(1));
    // Wall time is a report figure at the edge.
    #[allow(clippy::disallowed_methods, clippy::disallowed_types)]
    let started = std::time::Instant::now();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<std::sync::Mutex<Option<Checked>>> =
        files.iter().map(|_| std::sync::Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(file) = files.get(i) else { break };
                let checked = check_file(args, file, jobs).unwrap_or_else(|e| failed(file, &e));
                *results[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(checked);
            });
        }
    });
    let checked: Vec<Checked> = (results.into_iter())
        .filter_map(|m| m.into_inner().unwrap_or_else(|e| e.into_inner()))
        .collect();
    for c in &checked {
        if args.json {
            println!("{}", serde_json::to_string(&c.json)?);
        } else {
            println!("{}", c.line);
        }
    }
    let count = |code: u8| checked.iter().filter(|c| c.code == code).count();
    let worst = checked.iter().map(|c| c.code).max_by_key(|&c| severity(c));
    if !args.json {
        println!(
            "{} histories in {:.3} s: {} valid, {} invalid, {} unknown, {} unreadable",
            checked.len(),
            started.elapsed().as_secs_f64(),
            count(exit_code::PASS),
            count(exit_code::SAFETY),
            count(exit_code::INCONCLUSIVE),
            count(exit_code::BAD_INPUT) + count(exit_code::INTERNAL)
        );
    }
    Ok(worst.unwrap_or(exit_code::PASS))
}

/// A history that could not be checked, as its line of a batch.
fn failed(file: &std::path::Path, e: &anyhow::Error) -> Checked {
    let code = super::exit_code_for_error(e);
    let message = format!("{e:#}");
    Checked {
        code,
        detail: format!("{}: error: {message}\n", file.display()),
        line: format!("{}: error: {}", file.display(), one_line(&message, 300)),
        json: serde_json::json!({ "file": file.display().to_string(), "error": message }),
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}
