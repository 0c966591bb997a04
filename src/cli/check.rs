//! `faultline check <history> --model <model>`: check a recorded history.
//!
//! Reads a history file (JSON lines, Jepsen EDN or Jepsen log, detected from its content
//! unless `--format` says), checks it for linearizability against a built-in model — or,
//! with `--model queue`, for Jepsen's Kafka anomalies ([`crate::check::queue`]) — and
//! prints the verdict — with, for a violation, the longest linearizable prefix found and
//! the operations that cannot follow it. The exit code follows the verdict: 0 valid,
//! 1 invalid, 2 unknown (a budget ran out), 254 bad input (unknown model or format,
//! unreadable or malformed file, an operation the model does not accept).

use super::{exit_code, BadInput};
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
    /// The history file (JSON lines, Jepsen EDN or Jepsen log; detected from its content).
    pub history: PathBuf,
    /// The sequential model to check against: register, cas-register, kv or bank; or
    /// `queue` for a history of sends and polls (Jepsen's Kafka anomalies).
    #[arg(long)]
    pub model: String,
    /// With `--model queue`: anomalies that do not fail the check (comma-separated,
    /// e.g. `duplicate,unseen`).
    #[arg(long, value_delimiter = ',')]
    pub allow: Vec<String>,
    /// Give up with an inconclusive verdict after this many milliseconds.
    #[arg(long)]
    pub budget_ms: Option<u64>,
    /// Give up with an inconclusive verdict after this many search steps (deterministic).
    #[arg(long)]
    pub max_steps: Option<u64>,
    /// Give up with an inconclusive verdict when the search holds this many MiB
    /// (deterministic).
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

/// Run the check and return the exit code.
pub fn run(args: &CheckArgs) -> anyhow::Result<u8> {
    if args.model == "queue" {
        return run_queue(args);
    }
    let model: ModelKind = args
        .model
        .parse()
        .map_err(|e| BadInput(format!("--model: {e}, or queue")))?;
    let format = match args.format.as_str() {
        "auto" => None,
        name => Some(
            name.parse::<Format>()
                .map_err(|e| BadInput(format!("--format: {e} (or auto)")))?,
        ),
    };
    let (path, history) = read(args, format)?;
    let budget = Budget {
        max_steps: args.max_steps,
        wall: args.budget_ms.map(Duration::from_millis),
        memory_bytes_max: args.memory_mb_max.map(|mb| mb.saturating_mul(1 << 20)),
    };
    let report =
        check_history(&history, model, &budget).map_err(|e| BadInput(format!("{path}: {e}")))?;
    if args.json {
        let out = JsonReport {
            file: &path,
            model,
            operations: history.ops.len(),
            report: &report,
        };
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        print!("{}", render(&path, model, &history, &report));
    }
    Ok(match report.verdict {
        Verdict::Valid => exit_code::PASS,
        Verdict::Invalid(_) => exit_code::SAFETY,
        Verdict::Unknown(_) => exit_code::INCONCLUSIVE,
    })
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

/// The history file named by `args`.
fn read(args: &CheckArgs, format: Option<Format>) -> anyhow::Result<(String, History)> {
    let path = args.history.display().to_string();
    let text = crate::input::read_text(&args.history, HISTORY_BYTES_MAX).map_err(|e| match e {
        crate::input::InputError::NotUtf8 { .. } => BadInput(format!("{path}:{e}")),
        other => BadInput(format!("cannot read history file {path}: {other}")),
    })?;
    let history = history::parse(&text, &path, format)?;
    Ok((path, history))
}

/// `--model queue`: Jepsen's Kafka anomalies, each with its count and examples.
fn run_queue(args: &CheckArgs) -> anyhow::Result<u8> {
    for name in &args.allow {
        if !queue::ANOMALIES.contains(&name.as_str()) {
            let known = queue::ANOMALIES.join(", ");
            return Err(BadInput(format!(
                "--allow: unknown anomaly `{name}`: expected one of {known}"
            ))
            .into());
        }
    }
    let format = match args.format.as_str() {
        "auto" => None,
        name => Some(
            name.parse::<Format>()
                .map_err(|e| BadInput(format!("--format: {e} (or auto)")))?,
        ),
    };
    let (path, history) = read(args, format)?;
    let report = queue::check(&history).map_err(|e| BadInput(format!("{path}: {e}")))?;
    let failed = report.forbidden(&args.allow).next().is_some();
    if args.json {
        #[derive(Serialize)]
        struct Json<'a> {
            file: &'a str,
            model: &'static str,
            valid: bool,
            #[serde(flatten)]
            report: &'a queue::Report,
        }
        let out = Json {
            file: &path,
            model: "queue",
            valid: !failed,
            report: &report,
        };
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        let verdict = if failed { "INVALID" } else { "valid" };
        println!(
            "{path}: {verdict}: queue anomalies: {} ({} send{}, {} record{} polled, {} key{})",
            report.summary(),
            report.sends,
            plural(report.sends),
            report.polled,
            plural(report.polled),
            report.keys,
            plural(report.keys)
        );
        for (count, examples) in report.anomalies.values() {
            for e in examples {
                println!("  {}: {} (operations {:?})", e.anomaly, e.detail, e.ops);
            }
            if *count > examples.len() {
                println!("  … and {} more", count - examples.len());
            }
        }
    }
    Ok(if failed {
        exit_code::SAFETY
    } else {
        exit_code::PASS
    })
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}
