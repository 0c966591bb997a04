//! Exit codes of the `faultline` binary, as documented in `docs/cli.md`.
//!
//! They follow the verdicts: the worst finding decides. CI scripts may rely on them.

/// Every seed passed (and every expected finding was found).
pub const PASS: u8 = 0;
/// A safety violation or a node panic was found (or a planted bug went uncaught).
pub const SAFETY: u8 = 1;
/// Nothing failed, but some checks were inconclusive (a checker ran out of budget).
pub const INCONCLUSIVE: u8 = 2;
/// A liveness or convergence failure: the world did not settle after the faults healed.
pub const LIVENESS: u8 = 3;
/// The run was interrupted (Ctrl-C) before it finished and found no failure.
pub const INTERRUPTED: u8 = 130;
/// Bad arguments, or an invalid scenario or history file.
pub const BAD_INPUT: u8 = 254;
/// An internal error of faultline itself (including a determinism failure).
pub const INTERNAL: u8 = 255;
