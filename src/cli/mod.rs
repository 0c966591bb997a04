//! The command line: `run`, `replay`, `check`, `list`.
//!
//! Parsing and process-level concerns (logging, exit codes, Ctrl-C) live here; every
//! subcommand is a thin layer over the library.

pub mod check;
pub mod list;
mod progress;
pub mod replay;
pub mod run;
pub mod shrink;

use std::path::Path;

use clap::{Parser, Subcommand};

pub use crate::runner::exit_code;

/// faultline — deterministic simulation testing of data consistency between services.
#[derive(Debug, Parser)]
#[command(name = "faultline", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run many seeds of one or more scenarios and report.
    Run(run::RunArgs),
    /// Re-run one seed identically and write its trace, history and timeline.
    Replay(replay::ReplayArgs),
    /// Make a failing seed's plan minimal: fewer faults, operations and less time.
    Shrink(shrink::ShrinkArgs),
    /// Join the reports of the shards of a sweep (`run --shard K/N`) into one.
    Merge(run::merge::MergeArgs),
    /// Check whether a recorded history is linearizable.
    Check(check::CheckArgs),
    /// List systems, planted bugs, checks, scenario knobs or scenarios.
    List(list::ListArgs),
}

pub use crate::input::BadInput;

/// Check, before any work, that `dir` (given as `flag`) is a folder faultline can write
/// into: created if missing, then a file made and removed in it. A bad output path is bad
/// input (254), found up front rather than after a sweep or a shrink.
pub(crate) fn writable_dir(dir: &Path, flag: &str) -> Result<(), BadInput> {
    let bad = |why: String| BadInput(format!("{flag} {}: {why}", dir.display()));
    if dir.exists() && !dir.is_dir() {
        return Err(bad("not a folder".into()));
    }
    std::fs::create_dir_all(dir).map_err(|e| bad(crate::input::describe_io(&e)))?;
    let probe = dir.join(format!(".faultline-write-test-{}", std::process::id()));
    std::fs::write(&probe, b"").map_err(|e| {
        bad(format!(
            "cannot write there: {}",
            crate::input::describe_io(&e)
        ))
    })?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

/// Check, before any work, that the file `path` (given as `flag`) can be written: not a
/// folder, its folder writable, and the file itself writable if it exists (it is opened
/// for appending and left as it was).
pub(crate) fn writable_file(path: &Path, flag: &str) -> Result<(), BadInput> {
    let bad = |why: String| BadInput(format!("{flag} {}: {why}", path.display()));
    if path.is_dir() {
        return Err(bad("is a folder, not a file".into()));
    }
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    writable_dir(parent, flag)
        .map_err(|_| bad(format!("cannot write into {}", parent.display())))?;
    if path.exists() {
        std::fs::OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(|e| {
                bad(format!(
                    "cannot write it: {}",
                    crate::input::describe_io(&e)
                ))
            })?;
    }
    Ok(())
}

/// Parse the command line, run it and return the process exit code.
pub fn main() -> u8 {
    main_with(&[])
}

/// [`main`] over the built-in systems and `systems`: a program's whole `main` when it
/// tests systems of its own (`docs/testing-your-own-system.md`):
///
/// ```no_run
/// # use faultline::systems::SystemUnderTest;
/// # static MINE: &[&dyn SystemUnderTest] = &[];
/// fn main() -> std::process::ExitCode {
///     // MINE: e.g. `&[&faultline::systems::Plugin::<Inventory>::NEW]`
///     std::process::ExitCode::from(faultline::cli::main_with(MINE))
/// }
/// ```
///
/// Every subcommand — `run`, `replay`, `shrink`, `check`, `merge`, `list` and the reports —
/// then knows them by name, as scenario files do. The commands it prints name this
/// program.
pub fn main_with(systems: &[&'static dyn crate::systems::SystemUnderTest]) -> u8 {
    if let Err(e) = crate::systems::install(systems) {
        eprintln!("error: {e}");
        return exit_code::INTERNAL;
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return match e.kind() {
                clap::error::ErrorKind::DisplayHelp
                | clap::error::ErrorKind::DisplayVersion
                | clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
                    exit_code::PASS
                }
                _ => exit_code::BAD_INPUT,
            };
        }
    };
    init_logging();
    crate::runner::commands::set_program(invocation());
    let result = match &cli.command {
        Command::Run(args) => run::run(args),
        Command::Replay(args) => replay::run(args),
        Command::Shrink(args) => shrink::run(args),
        Command::Merge(args) => run::merge::run(args),
        Command::Check(args) => check::run(args),
        Command::List(args) => list::run(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            exit_code_for_error(&err)
        }
    }
}

/// Bad input (254) when any error in the chain is one of the input error types, else 255.
pub fn exit_code_for_error(err: &anyhow::Error) -> u8 {
    let bad_input = err.chain().any(|e| {
        e.is::<BadInput>()
            || e.is::<crate::history::ParseError>()
            || e.is::<crate::scenario::ScenarioError>()
    });
    if bad_input {
        exit_code::BAD_INPUT
    } else {
        exit_code::INTERNAL
    }
}

/// How to run this binary again from here, for the commands faultline prints: `faultline`
/// when that name on the PATH is this binary, else its path relative to the working
/// folder (`target/release/faultline`), else its absolute path — so a printed line pasted
/// into the same shell runs, installed or not.
fn invocation() -> String {
    let Ok(exe) = std::env::current_exe().and_then(|e| e.canonicalize()) else {
        return "faultline".into();
    };
    let Some(name) = exe.file_name().map(|n| n.to_string_lossy().into_owned()) else {
        return "faultline".into();
    };
    let on_path = std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|dir| {
            dir.join(&name)
                .canonicalize()
                .is_ok_and(|found| found == exe)
        })
    });
    if on_path {
        return crate::runner::commands::shell_quote(Path::new(&name));
    }
    let cwd = std::env::current_dir().and_then(|d| d.canonicalize());
    let shown = match cwd.as_ref().ok().and_then(|cwd| exe.strip_prefix(cwd).ok()) {
        Some(rel) if rel.components().count() == 1 => Path::new(".").join(rel),
        Some(rel) => rel.to_path_buf(),
        None => exe.clone(),
    };
    crate::runner::commands::shell_quote(&shown)
}

/// `RUST_LOG=debug` shows the processes' logs, stamped with simulated time and the
/// process. The process name comes from madsim's `node{name=...}` span, which is
/// error-level: unless `RUST_LOG` says otherwise about madsim, madsim is kept at `error`
/// so its spans name the process while its own debug output stays out of the way
/// (`RUST_LOG=debug,madsim=debug` shows it). Without `RUST_LOG` nothing is installed,
/// so sweeps pay nothing for logging.
fn init_logging() {
    let Ok(mut directives) = std::env::var("RUST_LOG") else {
        return;
    };
    if !directives.contains("madsim") {
        directives.push_str(",madsim=error");
    }
    let Ok(filter) = tracing_subscriber::EnvFilter::try_new(&directives) else {
        eprintln!("warning: RUST_LOG={directives:?} is not a valid filter; logging stays off");
        return;
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_timer(SimTime)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .try_init();
}

/// Log timestamps in simulated milliseconds.
struct SimTime;

impl tracing_subscriber::fmt::time::FormatTime for SimTime {
    fn format_time(&self, w: &mut tracing_subscriber::fmt::format::Writer<'_>) -> std::fmt::Result {
        match madsim::time::TimeHandle::try_current() {
            Some(time) => write!(w, "{:>10.3}ms", time.elapsed().as_secs_f64() * 1e3),
            None => write!(w, "{:>12}", "-"),
        }
    }
}
