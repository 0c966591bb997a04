//! The `faultline` binary: parse the command line, run it, map the outcome to an exit code.

fn main() -> std::process::ExitCode {
    // Behave like a Unix tool when whoever reads our output goes away (`| head`): end
    // quietly on SIGPIPE instead of panicking on the failed write.
    // SAFETY: called before any thread exists; SIG_DFL is a valid disposition.
    #[cfg(unix)]
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    std::process::ExitCode::from(faultline::cli::main())
}
