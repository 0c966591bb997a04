//! The `inventory` binary: faultline's whole command line, with the inventory system
//! beside the built-in ones.

fn main() -> std::process::ExitCode {
    let mine: &[&dyn faultline::systems::SystemUnderTest] = &[&inventory::SYSTEM];
    std::process::ExitCode::from(faultline::cli::main_with(mine))
}
