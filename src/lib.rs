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
//!
//! # Testing a system of your own
//!
//! A crate depending on faultline describes its system and runs faultline's command line
//! over it with [`cli::main_with`] (tutorial: `docs/testing-your-own-system.md`; a whole
//! example: the crate `examples/own-system`). What a system author uses:
//!
//! * [`plan::Spec`] and [`sim::System`] (the two traits; `System`'s documentation has a
//!   whole system as its example), [`sim::Process`], [`sim::Message`], [`sim::Ctx`] (what
//!   a handler can do), [`sim::View`] and [`sim::SimOutput`] (what `settled`, `finish`
//!   and the checks see);
//! * [`catalog::catalogue!`] and [`knob::knob_section!`] (its bugs, checks, workloads and
//!   scenario section), [`plan::NodeSpec`], [`plan::Draw`], [`plan::workload::ops_of`];
//! * [`check::CheckOutcome`], [`check::linearizability_outcome`] and the checkers under
//!   [`check`]; [`history`] (what clients record);
//! * the components under [`systems::components`] (clients, workloads, the Raft log, the
//!   router, the broker, a service's database);
//! * [`systems::Plugin`] and [`cli::main_with`].
//!
//! The rest — the runner, the reports, shrinking, the command line's parts — is public
//! for faultline's own binary, tests and benchmarks, and may change without notice.

#![warn(missing_docs)]

#[cfg(not(madsim))]
compile_error!(
    "faultline must be built with `--cfg madsim`: put `[build] rustflags = [\"--cfg\", \"madsim\"]` \
     (and the same `rustdocflags`) in .cargo/config.toml of the crate or workspace being \
     built (docs/testing-your-own-system.md). A RUSTFLAGS environment variable replaces \
     the config's flags: unset it."
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
