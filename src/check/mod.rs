//! Checkers: they judge a finished run, on plain data, after the simulation returned.
//!
//! Each check returns a [`CheckOutcome`]: pass, a safety violation, a liveness failure
//! (the world did not settle after the faults healed), or unknown (the checker ran out of
//! budget). A seed's [`Verdict`] is the worst of its checks, a panic inside a process
//! counting as a crash finding.
//!
//! * [`linearizability`] — the client history against a sequential model;
//! * [`queue`] — a history of sends and polls against Jepsen's Kafka anomalies;
//! * [`isolation`] — a history of list-append transactions against Adya's anomalies and
//!   a consistency model (Elle's class of checker);
//! * system-specific checks (durability of acknowledged writes, convergence of replicas,
//!   conservation of money, …) live with their systems and report through the same type.

pub mod cycle;
pub mod fit;
pub mod isolation;
pub mod linearizability;
pub mod queue;

use serde::{Deserialize, Serialize};

/// The verdict of a check, or of a whole seed (the worst of its checks).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Everything held.
    Pass,
    /// A checker ran out of budget; nothing failed.
    Unknown,
    /// The run reached a limit of its resource envelope and was stopped before its checks
    /// could run: inconclusive, like `Unknown`.
    Limit,
    /// The world did not settle, or did not converge, after the faults healed.
    Liveness,
    /// A safety property was violated.
    Violation,
    /// A process panicked: an invariant asserted inside the system failed.
    Crash,
}

impl Verdict {
    /// Its name, as `summary.json` and the reports write it (`violation`).
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Unknown => "unknown",
            Verdict::Limit => "limit",
            Verdict::Liveness => "liveness",
            Verdict::Violation => "violation",
            Verdict::Crash => "crash",
        }
    }

    /// Whether this is a safety finding (violation or crash).
    pub fn is_safety(self) -> bool {
        matches!(self, Verdict::Violation | Verdict::Crash)
    }
}

/// What one check found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckOutcome {
    /// The check's name (`linearizability`, `durability`, …).
    pub check: String,
    /// Its verdict.
    pub verdict: Verdict,
    /// A sentence for people: what held, or what went wrong.
    pub message: String,
    /// History operations involved (indices), for highlighting.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ops: Vec<usize>,
}

impl CheckOutcome {
    /// A passing check.
    pub fn pass(check: &str, message: impl Into<String>) -> Self {
        CheckOutcome {
            check: check.to_string(),
            verdict: Verdict::Pass,
            message: message.into(),
            ops: Vec::new(),
        }
    }

    /// The liveness failure of a run that did not settle within its heal phase, as every
    /// system's convergence check words it: not `state` ("converged", "settled") `heal_ms`
    /// after the faults healed, what had not (`unsettled`), then `detail` as it is.
    pub fn not_settled(
        check: &str,
        state: &str,
        heal_ms: u64,
        unsettled: &[String],
        detail: &str,
    ) -> Self {
        let message = format!(
            "not {state} {heal_ms} ms after the faults healed: {}{detail}",
            unsettled.join("; ")
        );
        CheckOutcome::fail(check, Verdict::Liveness, message, Vec::new())
    }

    /// A failing (or inconclusive) check.
    pub fn fail(
        check: &str,
        verdict: Verdict,
        message: impl Into<String>,
        ops: Vec<usize>,
    ) -> Self {
        CheckOutcome {
            check: check.to_string(),
            verdict,
            message: message.into(),
            ops,
        }
    }
}

/// The worst verdict among outcomes (`Pass` when there are none).
pub fn worst<'a>(outcomes: impl IntoIterator<Item = &'a CheckOutcome>) -> Verdict {
    outcomes
        .into_iter()
        .map(|o| o.verdict)
        .max()
        .unwrap_or(Verdict::Pass)
}

/// The checker names an operation `#i <op>` with the history's own client numbers and
/// times (it also reads files, where that is all there is); in a simulated run each such
/// mention of the operations in `ops` becomes `#i <op named>`: process names, times in ms.
fn in_run_terms(
    message: &str,
    history: &crate::history::History,
    ops: &[usize],
    names: &[String],
) -> String {
    let mut message = message.to_string();
    for &i in ops {
        if let Some(op) = history.ops.get(i) {
            message = message.replace(&format!("#{i} {op}"), &format!("#{i} {}", op.named(names)));
        }
    }
    message
}

/// Run the linearizability checker on a run's history and phrase the result as an
/// outcome of the check called `check`, naming processes by `names` (the plan's process
/// names, indexed like the history's clients) and times in simulated milliseconds.
pub fn linearizability_outcome(
    check: &str,
    history: &crate::history::History,
    model: linearizability::ModelKind,
    budget: &linearizability::Budget,
    names: &[String],
) -> CheckOutcome {
    use linearizability::Verdict as Lin;
    match linearizability::check_history(history, model, budget) {
        Err(e) => CheckOutcome::fail(
            check,
            Verdict::Crash,
            format!("the history does not fit the {model:?} model: {e}"),
            vec![],
        ),
        Ok(report) => match report.verdict {
            Lin::Valid => CheckOutcome::pass(
                check,
                format!(
                    "{} operations over {} keys are linearizable",
                    history.ops.len(),
                    report.partitions
                ),
            ),
            Lin::Invalid(explanation) => {
                let mut ops = explanation.stuck.clone();
                ops.extend(explanation.prefix.iter().rev().take(8));
                let message = in_run_terms(&explanation.message, history, &ops, names);
                CheckOutcome::fail(check, Verdict::Violation, message, ops)
            }
            Lin::Unknown(reason) => CheckOutcome::fail(
                check,
                Verdict::Unknown,
                format!("inconclusive: {reason}"),
                vec![],
            ),
        },
    }
}
