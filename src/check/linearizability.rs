//! Linearizability checking (placeholder until the checker lands).

use crate::history::History;

/// Models.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelKind {
    /// Register.
    Register,
    /// CAS register.
    CasRegister,
    /// Key-value.
    Kv,
    /// Bank.
    Bank,
}

/// Budget.
#[derive(Debug, Clone, Default)]
pub struct Budget {
    /// Steps.
    pub max_steps: Option<u64>,
    /// Wall time.
    pub wall: Option<std::time::Duration>,
}

/// Verdict.
#[derive(Debug, Clone, serde::Serialize)]
pub enum Verdict {
    /// Valid.
    Valid,
    /// Invalid.
    Invalid(Explanation),
    /// Unknown.
    Unknown(String),
}

/// Explanation.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Explanation {
    /// Key.
    pub key: Option<String>,
    /// Prefix.
    pub prefix: Vec<usize>,
    /// Stuck.
    pub stuck: Vec<usize>,
    /// Message.
    pub message: String,
}

/// Report.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Report {
    /// Verdict.
    pub verdict: Verdict,
    /// Partitions.
    pub partitions: usize,
    /// Steps.
    pub steps: u64,
}

/// Model error.
#[derive(Debug, thiserror::Error)]
#[error("model error")]
pub struct ModelError;

/// Check.
pub fn check_history(_h: &History, _m: ModelKind, _b: &Budget) -> Result<Report, ModelError> {
    Ok(Report {
        verdict: Verdict::Unknown("checker not built".into()),
        partitions: 0,
        steps: 0,
    })
}
