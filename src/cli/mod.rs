//! The command line: `run`, `replay`, `check`, `list`.
//!
//! Parsing and process-level concerns (logging, exit codes, Ctrl-C) live here; every
//! subcommand is a thin layer over the library.

pub mod check;
pub mod exit_code;

use clap::{Parser, Subcommand};

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
    /// Check whether a recorded history is linearizable.
    Check(check::CheckArgs),
}

/// An error that means the user's input was wrong (exit code 254), not faultline.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BadInput(pub String);

/// Parse the command line, run it and return the process exit code.
pub fn main() -> u8 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                    exit_code::PASS
                }
                _ => exit_code::BAD_INPUT,
            };
        }
    };
    let result = match &cli.command {
        Command::Check(args) => check::run(args),
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
        e.is::<BadInput>() || e.is::<crate::history::ParseError>()
    });
    if bad_input {
        exit_code::BAD_INPUT
    } else {
        exit_code::INTERNAL
    }
}
