//! `docs/testing-your-own-system.md`, followed verbatim.
//!
//! * A block after `<!-- file: PATH -->` is the whole of this crate's file `PATH`.
//! * The blocks after `<!-- from: PATH -->`, in order and joined by a blank line, are the
//!   whole of `PATH`: the page shows every line of the code the crate builds.
//! * Every line of a `sh` block ending in `# exits N` is run, in order, in a scratch copy of
//!   the crate's scenarios (its regression corpus left out, so the page's shrink makes
//!   it), with `cargo run --release --` standing for the binary cargo built for this test;
//!   it must exit `N`. Each line of an `<!-- output -->` block after it must be in what the
//!   command printed (spaces between words aside).
//! * At the end, the pinned plan the page's shrink saved is byte for byte the one the
//!   crate ships.

use std::path::{Path, PathBuf};
use std::process::Command;

const PAGE: &str = include_str!("../../../docs/testing-your-own-system.md");
const CRATE: &str = env!("CARGO_MANIFEST_DIR");

/// A fenced block and the marker before it.
struct Block {
    marker: Option<String>,
    lang: String,
    body: String,
    line: usize,
}

fn blocks(page: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut marker = None;
    let mut lines = page.lines().enumerate();
    while let Some((i, line)) = lines.next() {
        if let Some(m) = line.strip_prefix("<!-- ").and_then(|l| l.strip_suffix(" -->")) {
            marker = Some(m.to_string());
        } else if let Some(lang) = line.strip_prefix("```") {
            let body: Vec<&str> =
                lines.by_ref().map(|(_, l)| l).take_while(|l| *l != "```").collect();
            let lang = lang.to_string();
            out.push(Block { marker: marker.take(), lang, body: body.join("\n"), line: i + 1 });
        } else if !line.trim().is_empty() {
            marker = None;
        }
    }
    out
}

fn file(path: &str) -> String {
    let text = std::fs::read_to_string(Path::new(CRATE).join(path)).unwrap();
    text.trim_end().to_string()
}

#[test]
fn the_page_shows_the_crate_s_files_whole() {
    let all = blocks(PAGE);
    let mut pieces: Vec<(String, Vec<&str>)> = Vec::new();
    for b in &all {
        match b.marker.as_deref().and_then(|m| m.split_once(": ")) {
            Some(("file", path)) => {
                assert_eq!(b.body, file(path), "page line {}: not the crate's {path}", b.line)
            }
            Some(("from", path)) => match pieces.iter_mut().find(|(p, _)| p == path) {
                Some((_, list)) => list.push(&b.body),
                None => pieces.push((path.to_string(), vec![&b.body])),
            },
            _ => {}
        }
    }
    assert!(pieces.iter().any(|(p, _)| p == "src/lib.rs"));
    for (path, list) in pieces {
        assert_eq!(list.join("\n\n"), file(&path), "the page's pieces of {path} are not the file");
    }
    let files = all.iter().filter(|b| b.marker.as_deref().is_some_and(|m| m.starts_with("file: ")));
    assert_eq!(files.count(), 5, "Cargo.toml, .cargo/config.toml, src/main.rs, two scenarios");
}

fn words(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A scratch folder with the crate's scenarios (not its corpus) and the binary at
/// `target/release/inventory`, where `cargo run --release` puts it in a crate of its own.
fn scratch() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("tutorial");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("scenarios")).unwrap();
    std::fs::create_dir_all(dir.join("target/release")).unwrap();
    for f in ["inventory.toml", "inventory-bug-reserve-twice.toml"] {
        std::fs::copy(Path::new(CRATE).join("scenarios").join(f), dir.join("scenarios").join(f))
            .unwrap();
    }
    std::fs::copy(env!("CARGO_BIN_EXE_inventory"), dir.join("target/release/inventory")).unwrap();
    dir
}

#[test]
fn every_command_on_the_page_runs_as_it_says() {
    let dir = scratch();
    let mut last: Option<(String, String)> = None;
    let mut ran = 0;
    for b in blocks(PAGE) {
        if b.marker.as_deref() == Some("output") {
            let (command, printed) = last.as_ref().expect("an output block follows a command");
            for line in b.body.lines() {
                assert!(
                    words(printed).contains(&words(line)),
                    "`{command}` did not print\n{line}\nit printed\n{printed}"
                );
            }
            continue;
        }
        if b.lang != "sh" {
            continue;
        }
        for line in b.body.lines() {
            let Some((command, exits)) = line.split_once("# exits ") else { continue };
            let command = command.trim();
            let args =
                command.strip_prefix("cargo run --release -- ").expect("a run of the binary");
            let out = Command::new(dir.join("target/release/inventory"))
                .args(args.split_whitespace())
                .current_dir(&dir)
                .output()
                .unwrap();
            let printed = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            let want: i32 = exits.trim().parse().expect("`# exits N`");
            assert_eq!(
                out.status.code(),
                Some(want),
                "`{command}` (page line {}):\n{printed}",
                b.line
            );
            last = Some((command.to_string(), printed));
            ran += 1;
        }
    }
    assert_eq!(ran, 6, "the page's commands");
    let pinned = "scenarios/regressions/inventory-bug-reserve-twice-seed0.toml";
    let made = std::fs::read(dir.join(pinned)).expect("the page's shrink saved its plan");
    assert_eq!(made, std::fs::read(Path::new(CRATE).join(pinned)).unwrap(), "{pinned} differs");
}
