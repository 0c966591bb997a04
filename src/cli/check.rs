//! `faultline check <history> --model <model>`: check a recorded history.

use std::path::PathBuf;

/// Arguments of `faultline check`.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// The history file (JSON lines or EDN; detected from its content).
    pub history: PathBuf,
    /// The sequential model to check against.
    #[arg(long)]
    pub model: String,
    /// Give up with an inconclusive verdict after this many milliseconds.
    #[arg(long)]
    pub budget_ms: Option<u64>,
}

/// Run the check and return the exit code.
pub fn run(_args: &CheckArgs) -> anyhow::Result<u8> {
    anyhow::bail!("faultline check is being built")
}
