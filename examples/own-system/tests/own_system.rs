//! The inventory system through its own binary, as its tutorial uses it
//! (`docs/testing-your-own-system.md`): listed beside the built-in systems, the correct
//! scenario passing 2,000 seeds, the planted bug caught, its seed replayed
//! byte-identically, shrunk, and the pinned plan still failing the same way.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn inventory(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_inventory"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("the inventory binary runs")
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn the_catalogue_lists_the_system_beside_the_built_in_ones() {
    let out = inventory(&["list", "systems"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let listing = String::from_utf8_lossy(&out.stdout);
    let names: Vec<&str> = listing.lines().filter_map(|l| l.split_whitespace().next()).collect();
    assert_eq!(names, ["kv_register", "es_cluster", "saga", "outbox", "kafka", "inventory"]);
    let bugs = inventory(&["list", "bugs"]);
    let bugs = String::from_utf8_lossy(&bugs.stdout);
    assert!(
        bugs.lines().any(|l| l.starts_with("inventory") && l.contains("reserve-twice-on-retry")),
        "{bugs}"
    );
}

#[test]
fn the_correct_scenario_passes_two_thousand_seeds() {
    let out_dir = scratch("correct");
    let out = inventory(&[
        "run",
        "scenarios/inventory.toml",
        "--seeds",
        "2000",
        "--jobs",
        "2",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("result: PASS"), "{}", text(&out));
}

/// The replay line the sweep printed for the first seed that caught the bug.
fn caught_replay_line(out_dir: &Path) -> String {
    let out = inventory(&[
        "run",
        "scenarios/inventory-bug-reserve-twice.toml",
        "--seeds",
        "200",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(0), "the bug is expected and caught: {all}");
    let line = all.lines().find(|l| l.contains(" replay ")).unwrap_or_else(|| panic!("{all}"));
    line.trim().trim_start_matches("replay:").trim().to_string()
}

fn seed_of(replay_line: &str) -> String {
    let words: Vec<&str> = replay_line.split_whitespace().collect();
    let at = words.iter().position(|w| *w == "--seed").expect("--seed");
    words[at + 1].to_string()
}

#[test]
fn the_planted_bug_is_caught_replayed_identically_shrunk_and_pinned() {
    let dir = scratch("bug");
    let line = caught_replay_line(&dir.join("sweep"));
    let seed = seed_of(&line);
    let scenario = "scenarios/inventory-bug-reserve-twice.toml";
    let mut traces = Vec::new();
    for copy in ["a", "b"] {
        let out_dir = dir.join(copy);
        let o = out_dir.to_str().unwrap();
        let out = inventory(&["replay", scenario, "--seed", &seed, "--out", o]);
        assert_eq!(out.status.code(), Some(1), "a violation: {}", text(&out));
        assert!(text(&out).contains("each_request_once"), "{}", text(&out));
        let seed_dir = out_dir.join("replays/inventory-bug-reserve-twice").join(&seed);
        traces
            .push(std::fs::read(seed_dir.join("trace.jsonl")).expect("the replay wrote its trace"));
    }
    assert!(!traces[0].is_empty());
    assert_eq!(traces[0], traces[1], "two replays of seed {seed} differ");

    let pinned = dir.join("pinned.toml");
    let p = pinned.to_str().unwrap();
    let r = dir.join("shrunk");
    let out = inventory(&[
        "shrink",
        scenario,
        "--seed",
        &seed,
        "--out",
        p,
        "--reports",
        r.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "the shrunk plan still fails: {}", text(&out));
    let pinned_text = std::fs::read_to_string(&pinned).expect("shrink wrote the pinned scenario");
    assert!(pinned_text.contains("[pinned]"), "{pinned_text}");
    let out = inventory(&["run", p, "--out", r.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "the pinned plan still fails the same way: {}",
        text(&out)
    );
}
