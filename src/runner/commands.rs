//! The commands faultline prints: one pasteable line per failure (`replay --seed`,
//! `replay --plan`), beginning with the path the binary was run as so that a line works
//! pasted into the same shell with nothing installed, and quoting paths for a POSIX shell.

use std::path::Path;

/// `path`, quoted for a POSIX shell when it needs to be.
pub fn shell_quote(path: &Path) -> String {
    let path = path.display().to_string();
    if path
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-+=:,".contains(c))
    {
        path
    } else {
        format!("'{}'", path.replace('\'', r"'\''"))
    }
}

/// How the commands faultline prints start: `faultline` until [`set_program`] says
/// otherwise (the binary sets the path it was run as, so a printed line pastes as is).
static PROGRAM: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Set how printed commands start (once; later calls are ignored).
pub fn set_program(program: String) {
    let _ = PROGRAM.set(program);
}

/// How printed commands start: `faultline`, or the path of the binary that prints them.
pub fn program() -> &'static str {
    PROGRAM.get().map_or("faultline", String::as_str)
}

/// The command that replays one seed.
pub fn replay_command(scenario: &Path, seed: crate::plan::SeedId) -> String {
    format!(
        "{} replay {} --seed {}",
        program(),
        shell_quote(scenario),
        seed
    )
}

/// The command that replays an explicit plan file of `scenario`.
pub fn replay_plan_command(scenario: &Path, plan: &Path) -> String {
    format!(
        "{} replay {} --plan {}",
        program(),
        shell_quote(scenario),
        shell_quote(plan)
    )
}
