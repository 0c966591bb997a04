//! faultline — a deterministic simulation testbed for data consistency between services.
//!
//! One seed drives a whole simulated world. The flow of one seed is a chain of pure
//! functions, and the modules follow it:
//!
//! ```text
//! scenario.toml ──scenario──▶ Scenario ──plan(seed)──▶ Plan ──sim──▶ Trace + History
//!               ──check──▶ Verdicts ──report──▶ artifacts
//! ```
//!
//! * [`scenario`] loads and validates scenario files;
//! * [`plan`] turns a scenario and a seed into an explicit, serializable plan;
//! * [`sim`] runs a plan in a fresh madsim runtime over [`net`] and [`disk`], driving one
//!   of the [`systems`], and records the trace and the client [`history`];
//! * [`check`] judges the result (linearizability, convergence, invariants);
//! * [`runner`] is the per-seed pipeline and the pool that runs many seeds;
//! * [`report`] writes what a person reads; [`shrink`] makes a failing plan minimal;
//!   [`cli`] is the command line on top.
//!
//! Underneath them all: [`guard`] (the per-thread allocation meter and the stop flag),
//! [`input`] (reading users' files safely), [`rng`] (the seed's named random streams),
//! [`knob`] (scenario settings that are fixed or sampled per seed) and [`catalog`] (typed
//! bugs, checks and workloads with names). A module only imports modules listed before it
//! here, in this order: `guard`, `input`, `rng`, `knob`, `catalog`, `history`, `check`,
//! `net`, `disk`, `scenario`, `plan`, `sim`, `systems`, `runner`, `report`, `shrink`, `cli`.

#![warn(missing_docs)]

#[cfg(not(madsim))]
compile_error!(
    "faultline must be built with `--cfg madsim` (set in .cargo/config.toml). \
     A RUSTFLAGS environment variable replaces the config's flags: unset it."
);

// Sweeps create and destroy a thread per seed, thousands of times a second; mimalloc
// keeps per-thread heaps cheap to set up and reclaim (about 14% more seeds per second
// than the system allocator here, measured with `cargo bench --bench sim`). The meter
// around it gives each seed its memory figure (see `guard`). A crate with its own
// allocator turns the `allocator` feature off and installs `guard::Metered` around its own.
#[cfg(feature = "allocator")]
#[global_allocator]
static ALLOCATOR: guard::Metered<mimalloc::MiMalloc> = guard::Metered(mimalloc::MiMalloc);

/// The Rust snippets of the README and the reference pages, compiled as doctests so that
/// they stay true (`docs_are_all_compiled` in `tests/docs.rs` checks every page is here).
#[cfg(doctest)]
mod docs {
    #[doc = include_str!("../README.md")]
    struct Readme;
    #[doc = include_str!("../docs/adding-a-system.md")]
    struct AddingASystem;
    #[doc = include_str!("../docs/architecture.md")]
    struct Architecture;
    #[doc = include_str!("../docs/checker.md")]
    struct Checker;
    #[doc = include_str!("../docs/checks.md")]
    struct Checks;
    #[doc = include_str!("../docs/cli.md")]
    struct Cli;
    #[doc = include_str!("../docs/isolation.md")]
    struct Isolation;
    #[doc = include_str!("../docs/testing-your-own-system.md")]
    struct OwnSystem;
    #[doc = include_str!("../docs/hard-bugs.md")]
    struct HardBugs;
    #[doc = include_str!("../docs/performance.md")]
    struct Performance;
    #[doc = include_str!("../docs/reports.md")]
    struct Reports;
    #[doc = include_str!("../docs/scale.md")]
    struct Scale;
    #[doc = include_str!("../docs/scenarios.md")]
    struct Scenarios;
    #[doc = include_str!("../docs/shrinking.md")]
    struct Shrinking;
    #[doc = include_str!("../docs/systems.md")]
    struct Systems;
}

pub mod catalog;
pub mod check;
pub mod cli;
pub mod disk;
pub mod guard;
pub mod history;
pub mod input;
pub mod knob;
pub mod net;
pub mod plan;
pub mod report;
pub mod rng;
pub mod runner;
pub mod scenario;
pub mod shrink;
pub mod sim;
pub mod systems;
