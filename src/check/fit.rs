//! Which checker can read a history file on its own, and how a file says so.
//!
//! A replay writes its client history (`history.jsonl`, `history.edn`), and some systems
//! a second one (the outbox's sends and polls, `queue.jsonl`). Each file gets a sidecar,
//! `<stem>.meta.json` beside it, naming the checker that reads it — the linearizability
//! checker with a model, or the queue checker with the scenario's allowed anomalies — and
//! the verdict the replay's own check gave, so `faultline check <file>` needs no `--model`
//! and answers as the replay did. A history no checker reads on its own (a saga's orders,
//! judged against the services' databases and the saga log) says which checks need the
//! whole replay instead.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::linearizability::ModelKind;
use super::Verdict;

/// The checker that reads a history file on its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "checker", rename_all = "kebab-case")]
pub enum Fit {
    /// Linearizability against this model (`faultline check --model <model>`).
    Linearizability {
        /// The model.
        model: ModelKind,
    },
    /// Jepsen's queue anomalies, these allowed (`faultline check --model queue`).
    Queue {
        /// Anomalies that do not fail the check.
        allow: Vec<String>,
        /// Whether write-write edges are inferred from log offsets (Jepsen's `:ww-deps`;
        /// absent in older sidecars: yes).
        #[serde(default = "yes", skip_serializing_if = "is_true")]
        ww_deps: bool,
    },
    /// No checker reads it on its own: these checks judge the whole run.
    Replay {
        /// The checks that need the replay.
        checks: Vec<String>,
    },
}

fn yes() -> bool {
    true
}

fn is_true(b: &bool) -> bool {
    *b
}

impl Fit {
    /// The `--model` it stands for (`None`: no model reads it).
    pub fn model(&self) -> Option<String> {
        match self {
            Fit::Linearizability { model } => Some(model.name().to_string()),
            Fit::Queue { .. } => Some("queue".into()),
            Fit::Replay { .. } => None,
        }
    }
}

/// One history file a replay writes: which operations of the client history it holds,
/// which checker reads it, and which of the run's checks that checker reproduces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryFile {
    /// The file's stem (`history`, `queue`).
    pub name: &'static str,
    /// The operations it holds (indices into the client history); `None`: all of them.
    pub ops: Option<Vec<usize>>,
    /// The checker that reads it.
    pub fit: Fit,
    /// The run's check whose verdict it reproduces (`linearizability`, `queue`).
    pub check: Option<&'static str>,
    /// Its processes are numbered as Jepsen numbers them — a client's operation that
    /// overlaps its previous one, or follows one of unknown outcome, continues on a fresh
    /// process (`history::edn::with_retired_processes`) — because its checker reads them
    /// so (the queue checker orders each process's operations).
    pub jepsen_processes: bool,
}

impl HistoryFile {
    /// The whole client history as `history.*`.
    pub fn whole(fit: Fit, check: Option<&'static str>) -> HistoryFile {
        HistoryFile {
            name: "history",
            ops: None,
            fit,
            check,
            jepsen_processes: false,
        }
    }
}

/// A history file's sidecar, `<stem>.meta.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryMeta {
    /// The scenario.
    pub scenario: String,
    /// The seed or run id (`41.g9999`).
    pub seed: String,
    /// The checker that reads it.
    #[serde(flatten)]
    pub fit: Fit,
    /// The run's check it reproduces, and that check's verdict in the replay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check: Option<(String, Verdict)>,
    /// The command that replays the whole run.
    pub replay: String,
}

/// The sidecar of history file `file`: `<stem>.meta.json` beside it.
pub fn meta_path(file: &Path) -> PathBuf {
    let stem = file
        .file_stem()
        .map_or_else(|| "history".into(), |s| s.to_string_lossy().into_owned());
    file.with_file_name(format!("{stem}.meta.json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sidecars_sit_beside_their_files_and_round_trip() {
        assert_eq!(
            meta_path(Path::new("r/7/history.jsonl")),
            Path::new("r/7/history.meta.json")
        );
        assert_eq!(
            meta_path(Path::new("r/7/queue.edn")),
            Path::new("r/7/queue.meta.json")
        );
        for fit in [
            Fit::Linearizability {
                model: ModelKind::Bank,
            },
            Fit::Queue {
                allow: vec!["duplicate".into()],
                ww_deps: true,
            },
            Fit::Queue {
                allow: vec![],
                ww_deps: false,
            },
            Fit::Replay {
                checks: vec!["saga_atomicity".into()],
            },
        ] {
            let meta = HistoryMeta {
                scenario: "s".into(),
                seed: "41.g9".into(),
                fit: fit.clone(),
                check: Some(("queue".into(), Verdict::Violation)),
                replay: "faultline replay s.toml --seed 41.g9".into(),
            };
            let text = serde_json::to_string(&meta).unwrap();
            assert_eq!(serde_json::from_str::<HistoryMeta>(&text).unwrap(), meta);
        }
        assert_eq!(
            Fit::Queue {
                allow: vec![],
                ww_deps: true
            }
            .model()
            .as_deref(),
            Some("queue")
        );
        assert_eq!(Fit::Replay { checks: vec![] }.model(), None);
    }
}
