//! The hostile probe's findings, one regression test each: numbers at the edges of pinned
//! plans and seeds, journals that are damaged rather than interrupted, folders deep or
//! looping, bad output paths, and interrupted shrinks. Each input ends with its documented
//! exit code and a message that names the file, line and column where it can — never a
//! panic (101), an abort (134) or an internal error (255), never a misreport.

// The Ctrl-C test measures how soon a real process reacts, on the wall clock.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const PINNED: &str = "scenarios/regressions/saga-bug-no-saga-log-seed0.toml";

fn faultline() -> Command {
    Command::new(env!("CARGO_BIN_EXE_faultline"))
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("faultline-hostile-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn code(out: &Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

/// The pinned plan of [`PINNED`] as JSON, and the file's text around it.
fn pinned_plan() -> (String, serde_json::Value, String) {
    let file = std::fs::read_to_string(PINNED).unwrap();
    let start = file.find("plan = '''\n").unwrap() + "plan = '''\n".len();
    let end = start + file[start..].find("\n'''").unwrap();
    let plan = serde_json::from_str(&file[start..end]).unwrap();
    (file[..start].to_string(), plan, file[end..].to_string())
}

/// [`PINNED`] with its plan edited by `edit`, written to `dir/name.toml`.
fn pinned_variant(dir: &Path, name: &str, edit: impl Fn(&mut serde_json::Value)) -> PathBuf {
    let (head, mut plan, tail) = pinned_plan();
    edit(&mut plan);
    let path = dir.join(format!("{name}.toml"));
    let body = format!(
        "{head}{}{tail}",
        serde_json::to_string_pretty(&plan).unwrap()
    );
    std::fs::write(&path, body).unwrap();
    path
}

/// The 1-based line and column of the first line of `path` containing `needle` at or
/// after line `from`, at the needle's value (after `": "`).
fn place_of(path: &Path, needle: &str, from: usize) -> (usize, usize) {
    let body = std::fs::read_to_string(path).unwrap();
    for (i, line) in body.lines().enumerate().skip(from.saturating_sub(1)) {
        if let Some(at) = line.find(needle) {
            let value = at + needle.find(": ").map_or(0, |i| i + 2);
            return (i + 1, line[..value].chars().count() + 1);
        }
    }
    panic!("{needle} not in {}", path.display());
}

fn line_of(path: &Path, needle: &str) -> usize {
    place_of(path, needle, 1).0
}

/// A pinned plan that makes no sense is refused by `replay` and `run` alike: exit 254, at
/// the file, line and column of the value at fault (1-based), saying what is wrong.
#[test]
fn pinned_plans_that_make_no_sense_are_refused_at_the_value() {
    let dir = scratch("pinned");
    let fault = |at_ms: u64, action: serde_json::Value| serde_json::json!({ "at_ms": at_ms, "action": action });
    type Edit = Box<dyn Fn(&mut serde_json::Value)>;
    let cases: Vec<(&str, Edit, &str, &str)> = vec![
        // D1: a client operation so late that its time in ns overflows.
        (
            "huge-op",
            Box::new(|p| p["workload"][0]["at_ms"] = 18_446_744_073_710u64.into()),
            "\"at_ms\": 18446744073710",
            "at or after the end of the chaos phase",
        ),
        // D2: a fault so late that its time in ns overflows.
        (
            "huge-fault",
            Box::new(move |p| {
                let f = fault(
                    18_446_744_073_709_551,
                    serde_json::json!({"action": "crash", "node": 1}),
                );
                p["faults"].as_array_mut().unwrap().push(f);
            }),
            "\"at_ms\": 18446744073709551",
            "after the chaos phase ends",
        ),
        // D13: far past the run's end (it used to simulate until the events limit).
        (
            "late-fault",
            Box::new(move |p| {
                let f = fault(
                    99_999_999,
                    serde_json::json!({"action": "crash", "node": 1}),
                );
                p["faults"].as_array_mut().unwrap().push(f);
            }),
            "\"at_ms\": 99999999",
            "after the chaos phase ends",
        ),
        (
            "heal-unknown",
            Box::new(move |p| {
                let f = fault(700, serde_json::json!({"action": "heal", "id": 9}));
                p["faults"].as_array_mut().unwrap().push(f);
            }),
            "\"id\": 9",
            "heal of partition #9, which is not in force",
        ),
        (
            "out-of-order",
            Box::new(move |p| {
                let f = fault(680, serde_json::json!({"action": "crash", "node": 1}));
                let g = fault(600, serde_json::json!({"action": "restart", "node": 1}));
                p["faults"].as_array_mut().unwrap().extend([f, g]);
            }),
            "\"at_ms\": 600",
            "faults are listed in time order",
        ),
        (
            "restart-running",
            Box::new(move |p| {
                let f = fault(700, serde_json::json!({"action": "restart", "node": 1}));
                p["faults"].as_array_mut().unwrap().push(f);
            }),
            "\"node\": 1",
            "restart of `payment`, which is running",
        ),
        (
            "self-link",
            Box::new(|p| {
                let blocked = p["faults"][0]["action"]["blocked"].as_array_mut().unwrap();
                blocked.push(serde_json::json!([2, 2]));
            }),
            "",
            "a link from `shipping` to itself",
        ),
        (
            "op-after-end",
            Box::new(|p| {
                let mut op = p["workload"][0].clone();
                op["at_ms"] = 900.into();
                p["workload"].as_array_mut().unwrap().push(op);
            }),
            "\"at_ms\": 900",
            "clients start operations only during chaos",
        ),
        (
            "ops-out-of-order",
            Box::new(|p| {
                let mut op = p["workload"][0].clone();
                op["at_ms"] = 100.into();
                p["workload"].as_array_mut().unwrap().push(op);
            }),
            "\"at_ms\": 100",
            "a client's operations are listed in time order",
        ),
    ];
    for (name, edit, needle, says) in cases {
        let path = pinned_variant(&dir, name, edit);
        let body = std::fs::read_to_string(&path).unwrap();
        let plan_line = line_of(&path, "\"faults\"");
        let (line, column) = if needle.is_empty() {
            // The last `[2, 2]` pair: its opening bracket.
            let lines: Vec<&str> = body.lines().collect();
            let i = (0..lines.len() - 2)
                .rev()
                .find(|&i| {
                    lines[i].trim() == "["
                        && lines[i + 1].trim() == "2,"
                        && lines[i + 2].trim() == "2"
                })
                .unwrap();
            (i + 1, lines[i].find('[').unwrap() + 1)
        } else if needle.contains("at_ms\": 9") || name == "huge-op" || name == "ops-out-of-order" {
            place_of(&path, needle, 1)
        } else {
            place_of(&path, needle, plan_line)
        };
        for verb in ["replay", "run"] {
            let out = faultline()
                .arg(verb)
                .arg(&path)
                .args(["--out"])
                .arg(dir.join("reports"))
                .output()
                .unwrap();
            let err = text(&out.stderr);
            assert_eq!(code(&out), 254, "{name} {verb}: {err}{}", text(&out.stdout));
            let at = format!("{}:{line}:{column}: ", path.display());
            assert!(err.contains(&at), "{name} {verb}: want {at} in {err}");
            assert!(err.contains(says), "{name} {verb}: want `{says}` in {err}");
        }
    }
}

/// D2 again, through `replay --plan`: a plan file's bad value is 254 at its place.
#[test]
fn a_plan_file_with_a_fault_past_the_end_is_refused_at_its_place() {
    let dir = scratch("plan-file");
    let (_, mut plan, _) = pinned_plan();
    let f = serde_json::json!({"at_ms": 18_446_744_073_709_551u64, "action": {"action": "crash", "node": 1}});
    plan["faults"].as_array_mut().unwrap().push(f);
    let file = dir.join("plan.json");
    std::fs::write(&file, serde_json::to_string_pretty(&plan).unwrap()).unwrap();
    let (line, column) = place_of(&file, "\"at_ms\": 18446744073709551", 1);
    let out = faultline()
        .args(["replay", "scenarios/saga/bug_no_saga_log.toml", "--plan"])
        .arg(&file)
        .arg("--out")
        .arg(dir.join("reports"))
        .output()
        .unwrap();
    let err = text(&out.stderr);
    assert_eq!(code(&out), 254, "{err}");
    assert!(
        err.contains(&format!("{}:{line}:{column}: ", file.display())),
        "{err}"
    );
}

/// D14: every location faultline prints has a 1-based column, also where a problem is about
/// a whole value (the plan string as a whole).
#[test]
fn columns_are_one_based() {
    let dir = scratch("columns");
    let path = pinned_variant(&dir, "wrong-seed", |p| p["seed"] = 7.into());
    let out = faultline().arg("replay").arg(&path).output().unwrap();
    let err = text(&out.stderr);
    assert_eq!(code(&out), 254, "{err}");
    let line = line_of(&path, "plan = '''") + 1;
    assert!(
        err.contains(&format!("{}:{line}:1: ", path.display())),
        "{err}"
    );
}

/// D3: plain seeds stop below 2^63, where guided runs' ids live; the run refuses a range
/// that reaches them up front, and an id printed as a guided run replays, shrinks and pins.
#[test]
fn seeds_above_two_to_the_63_are_refused_and_guided_ids_pin() {
    let dir = scratch("seeds");
    let out = faultline()
        .args([
            "run",
            "scenarios/es_cluster/swarm.toml",
            "--seed-start",
            "9223372036854775807",
            "--seeds",
            "3",
            "--out",
        ])
        .arg(dir.join("reports"))
        .output()
        .unwrap();
    let err = text(&out.stderr);
    assert_eq!(code(&out), 254, "{err}");
    assert!(
        err.contains("too large") && err.contains("guided run `0.g1`"),
        "{err}"
    );
    assert!(!dir.join("reports").exists(), "nothing was started");
    // The old numeric form of a guided id is refused with its new form.
    let out = faultline()
        .args([
            "replay",
            "scenarios/es_cluster/swarm.toml",
            "--seed",
            "9223373892280657077",
        ])
        .output()
        .unwrap();
    assert_eq!(code(&out), 254);
    assert!(
        text(&out.stderr).contains("`432.g9397`"),
        "{}",
        text(&out.stderr)
    );
    // A guided run of a planted bug: shrunk, pinned (its id as text), pinned file replays.
    let pinned = dir.join("pinned.toml");
    let out = faultline()
        .args([
            "shrink",
            "scenarios/es_cluster/bug_no_election_restriction.toml",
            "--seed",
            "2.g100",
            "--time-limit-s",
            "30",
            "--reports",
        ])
        .arg(dir.join("reports"))
        .arg("--out")
        .arg(&pinned)
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}{}", text(&out.stdout), text(&out.stderr));
    let body = std::fs::read_to_string(&pinned).unwrap();
    assert!(body.contains("\nseed = \"2.g100\"\n"), "{body}");
    let out = faultline()
        .arg("replay")
        .arg(&pinned)
        .arg("--out")
        .arg(dir.join("reports"))
        .output()
        .unwrap();
    assert_eq!(code(&out), 1, "{}{}", text(&out.stdout), text(&out.stderr));
    assert!(
        text(&out.stdout).contains("seed 2.g100: "),
        "{}",
        text(&out.stdout)
    );
}

/// D11: shrinking a pinned scenario with another `--seed` is refused, not ignored.
#[test]
fn shrink_of_a_pinned_scenario_with_another_seed_is_refused() {
    let out = faultline()
        .args(["shrink", PINNED, "--seed", "5"])
        .output()
        .unwrap();
    let err = text(&out.stderr);
    assert_eq!(code(&out), 254, "{err}");
    assert!(
        err.contains("pins the plan of seed 0: shrink it without --seed"),
        "{err}"
    );
}
