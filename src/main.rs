//! The `faultline` binary: parse the command line, run it, map the outcome to an exit code.

fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(faultline::cli::main())
}
