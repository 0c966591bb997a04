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
            "crossed-latency",
            Box::new(|p| {
                p["params"]["network"]["latency_ms_min"] = 5000.into();
            }),
            "\"latency_ms_min\": 5000",
            "`network.latency_ms_min` = 5000 is more than `network.latency_ms_max`",
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
        } else if needle.contains("at_ms\": 9")
            || name == "huge-op"
            || name == "ops-out-of-order"
            || name == "crossed-latency"
        {
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

/// A sweep of `seeds` seeds of kv_register-all-faults in `out`, sharded `k/n`; its run
/// folder.
fn sharded_run(out: &Path, seeds: &str, shard: &str) -> PathBuf {
    let o = faultline()
        .args([
            "run",
            "scenarios/kv_register/all_faults.toml",
            "--seeds",
            seeds,
            "--quiet",
            "--shard",
            shard,
            "--out",
        ])
        .arg(out)
        .output()
        .unwrap();
    assert_eq!(code(&o), 0, "{}{}", text(&o.stdout), text(&o.stderr));
    std::fs::canonicalize(out.join("latest")).unwrap()
}

/// A copy of run folder `from` at `to`, with its journal replaced by `journal`.
fn with_journal(from: &Path, to: &Path, journal: &[u8]) -> PathBuf {
    let _ = std::fs::remove_dir_all(to);
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::copy(&path, to.join(path.file_name().unwrap())).unwrap();
        }
    }
    std::fs::write(to.join("seeds.jsonl"), journal).unwrap();
    to.to_path_buf()
}

/// D4: a damaged journal is refused (254, at its file, line and column), not taken for an
/// interrupted run; a killed shard's torn last line stays "interrupted", and says so. D8:
/// a merge reports the shards' own seeds per second.
#[test]
fn merge_refuses_damaged_journals_and_reports_the_shards_time() {
    let dir = scratch("merge");
    let one = sharded_run(&dir.join("s1"), "20", "1/2");
    let two = sharded_run(&dir.join("s2"), "20", "2/2");
    let merge = |shard: &Path| {
        faultline()
            .arg("merge")
            .arg(shard)
            .arg(&two)
            .arg("--out")
            .arg(dir.join("merged"))
            .output()
            .unwrap()
    };
    let good = merge(&one);
    assert_eq!(code(&good), 0, "{}", text(&good.stderr));
    let out = text(&good.stdout);
    assert!(out.contains("of the shards' own time, summed"), "{out}");
    assert!(!out.contains("0.00 s:"), "{out}");
    let journal = std::fs::read(one.join("seeds.jsonl")).unwrap();
    let lines: Vec<&[u8]> = journal
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    let join = |ls: &[Vec<u8>]| -> Vec<u8> {
        ls.iter()
            .flat_map(|l| l.iter().copied().chain([b'\n']))
            .collect()
    };
    let edit = |i: usize, from: &str, to: &str| -> Vec<u8> {
        let mut ls: Vec<Vec<u8>> = lines.iter().map(|l| l.to_vec()).collect();
        ls[i] = String::from_utf8(ls[i].clone())
            .unwrap()
            .replacen(from, to, 1)
            .into_bytes();
        join(&ls)
    };
    let all: Vec<Vec<u8>> = lines.iter().map(|l| l.to_vec()).collect();
    let first_seed = {
        let l = String::from_utf8(all[0].clone()).unwrap();
        let v: serde_json::Value = serde_json::from_str(&l).unwrap();
        format!("\"seed\":{}", v["seed"])
    };
    let mut nul = all.clone();
    nul[1].insert(5, 0);
    let mut not_utf8 = all.clone();
    not_utf8[2].splice(3..3, [0xff, 0xfe]);
    let mut dropped = all.clone();
    dropped.remove(3);
    let mut truncated = join(&all);
    truncated.truncate(truncated.len() - 30);
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("wrong-type", edit(0, &first_seed, "\"seed\":\"x\""), ":1:"),
        (
            "above-u64",
            edit(0, &first_seed, "\"seed\":18446744073709551616"),
            ":1:",
        ),
        ("huge-float", edit(0, &first_seed, "\"seed\":1e308"), ":1:"),
        ("negative", edit(0, &first_seed, "\"seed\":-5"), ":1:"),
        (
            "verdict",
            edit(0, "\"verdict\":\"pass\"", "\"verdict\":\"great\""),
            ":1:",
        ),
        ("nul", join(&nul), ":2:6:"),
        ("not-utf8", join(&not_utf8), ":3:4:"),
        (
            "out-of-range",
            [
                join(&all),
                edit(0, &first_seed, "\"seed\":600")
                    .split(|&b| b == b'\n')
                    .next()
                    .unwrap()
                    .to_vec(),
                b"\n".to_vec(),
            ]
            .concat(),
            ":11:1:",
        ),
        (
            "twice",
            [join(&all), all[0].clone(), b"\n".to_vec()].concat(),
            ":11:1:",
        ),
        ("dropped", join(&dropped), "holds 9"),
        ("truncated", truncated, "line 10 cut short"),
    ];
    for (name, bytes, at) in cases {
        let shard = with_journal(&one, &dir.join(name), &bytes);
        let o = merge(&shard);
        let err = text(&o.stderr);
        assert_eq!(code(&o), 254, "{name}: {err}{}", text(&o.stdout));
        assert!(
            err.contains("a damaged journal") && err.contains(at),
            "{name}: want {at} in {err}"
        );
    }
    // A killed shard (its summary never said it finished) with a torn last line.
    let mut torn = join(&all);
    torn.truncate(torn.len() - 30);
    let killed = with_journal(&one, &dir.join("killed"), &torn);
    let summary = std::fs::read_to_string(killed.join("summary.json")).unwrap();
    std::fs::write(
        killed.join("summary.json"),
        summary.replace("\"finished\"", "\"running\""),
    )
    .unwrap();
    let o = merge(&killed);
    assert_eq!(code(&o), 130, "{}{}", text(&o.stdout), text(&o.stderr));
    let out = text(&o.stdout);
    assert!(
        out.contains("was interrupted before it finished") && out.contains("line 10 was cut short"),
        "{out}"
    );
    assert!(out.contains("INCOMPLETE: 19 of 20"), "{out}");
    // A shard whose summary is gone or damaged: its status and its own time would be
    // guesses (the merge once counted it as interrupted, and its seeds at no time).
    for (name, summary) in [("no-summary", None), ("bad-summary", Some("{\"sta"))] {
        let shard = with_journal(&one, &dir.join(name), &join(&all));
        match summary {
            None => std::fs::remove_file(shard.join("summary.json")).unwrap(),
            Some(body) => std::fs::write(shard.join("summary.json"), body).unwrap(),
        }
        let o = merge(&shard);
        let err = text(&o.stderr);
        assert_eq!(code(&o), 254, "{name}: {err}{}", text(&o.stdout));
        assert!(
            err.contains("summary.json: a damaged shard"),
            "{name}: {err}"
        );
    }
    // A journal that is a symbolic-link loop: bad input too.
    let looped = with_journal(&one, &dir.join("loop"), b"");
    std::fs::remove_file(looped.join("seeds.jsonl")).unwrap();
    std::os::unix::fs::symlink(looped.join("seeds.jsonl"), looped.join("seeds.jsonl")).unwrap();
    assert_eq!(code(&merge(&looped)), 254);
}

/// D9, D10: `--resume` refuses a journal seed outside the sweep, and cuts a torn last line
/// off before appending, so no seed is lost and every line reads back.
#[test]
fn resume_cuts_a_torn_line_and_refuses_seeds_outside_the_sweep() {
    let dir = scratch("resume");
    let args = |extra: &[&str]| {
        let mut c = faultline();
        c.args([
            "run",
            "scenarios/kv_register/all_faults.toml",
            "--seeds",
            "20",
            "--quiet",
            "--out",
        ])
        .arg(dir.join("reports"))
        .args(extra);
        c.output().unwrap()
    };
    assert_eq!(code(&args(&[])), 0);
    let run = std::fs::canonicalize(dir.join("reports/latest")).unwrap();
    let journal = run.join("seeds.jsonl");
    let bytes = std::fs::read(&journal).unwrap();
    std::fs::write(&journal, &bytes[..bytes.len() - 40]).unwrap();
    let o = args(&["--resume"]);
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    assert!(
        text(&o.stdout).contains("line 20 of the journal was cut short"),
        "{}",
        text(&o.stdout)
    );
    let lines: Vec<String> = std::fs::read_to_string(&journal)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(lines.len(), 20, "every seed journaled once");
    for l in &lines {
        serde_json::from_str::<serde_json::Value>(l).unwrap();
    }
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["seeds_finished"], 20);
    let mut outside = lines[0].replacen("\"seed\":", "\"seed\":5", 1);
    outside.push('\n');
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&journal)
        .unwrap();
    std::io::Write::write_all(&mut f, outside.as_bytes()).unwrap();
    let o = args(&["--resume"]);
    assert_eq!(code(&o), 254, "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("seeds.jsonl:21:1: a damaged journal"),
        "{}",
        text(&o.stderr)
    );
}

/// D5: output paths that cannot be written are bad input (254), found before the work.
#[test]
fn bad_output_paths_are_refused_before_the_work() {
    let dir = scratch("outputs");
    let bug = "scenarios/kv_register/bug_no_fsync.toml";
    let cases: Vec<Vec<String>> = vec![
        vec![
            "shrink".into(),
            bug.into(),
            "--seed".into(),
            "0".into(),
            "--out".into(),
            "/proc/faultline/p.toml".into(),
        ],
        vec![
            "shrink".into(),
            bug.into(),
            "--seed".into(),
            "0".into(),
            "--out".into(),
            dir.display().to_string(),
        ],
        vec![
            "shrink".into(),
            bug.into(),
            "--seed".into(),
            "0".into(),
            "--save".into(),
            "/etc/hostname".into(),
        ],
        vec![
            "run".into(),
            bug.into(),
            "--seeds".into(),
            "2".into(),
            "--junit".into(),
            "/proc/faultline/j.xml".into(),
        ],
        vec![
            "run".into(),
            bug.into(),
            "--seeds".into(),
            "2".into(),
            "--out".into(),
            "/proc/faultline".into(),
        ],
        vec![
            "replay".into(),
            bug.into(),
            "--seed".into(),
            "1".into(),
            "--out".into(),
            "/proc/faultline".into(),
        ],
    ];
    for args in cases {
        let o = faultline().args(&args).output().unwrap();
        assert_eq!(code(&o), 254, "{args:?}: {}", text(&o.stderr));
        assert!(
            !text(&o.stdout).contains("candidate runs"),
            "{args:?}: refused before shrinking"
        );
    }
    let one = sharded_run(&dir.join("s"), "4", "1/1");
    let o = faultline()
        .arg("merge")
        .arg(&one)
        .args(["--out", "/proc/faultline"])
        .output()
        .unwrap();
    assert_eq!(code(&o), 254, "{}", text(&o.stderr));
}

/// D6: `check` on a folder goes to any depth and visits each file once, however many
/// symbolic links lead to it (a link to a parent folder is not walked again).
#[test]
fn check_walks_deep_folders_and_each_file_once() {
    let dir = scratch("folders");
    let history = std::fs::read_to_string("tests/fixtures/porcupine/kv/c01-ok.txt")
        .or_else(|_| {
            let first = std::fs::read_dir("tests/fixtures/porcupine/kv")
                .unwrap()
                .next()
                .unwrap()
                .unwrap()
                .path();
            std::fs::read_to_string(first)
        })
        .unwrap();
    let mut deep = dir.join("root");
    for i in 0..12 {
        deep = deep.join(format!("level{i}"));
    }
    std::fs::create_dir_all(&deep).unwrap();
    std::fs::write(deep.join("deep.txt"), &history).unwrap();
    std::fs::write(dir.join("root/top.txt"), &history).unwrap();
    std::os::unix::fs::symlink("..", dir.join("root/level0/up")).unwrap();
    std::os::unix::fs::symlink(dir.join("root/top.txt"), dir.join("root/level0/again.txt"))
        .unwrap();
    let o = faultline()
        .arg("check")
        .arg(dir.join("root"))
        .args(["--model", "kv"])
        .output()
        .unwrap();
    let out = text(&o.stdout);
    assert!(out.contains("deep.txt"), "twelve levels down: {out}");
    assert!(out.contains("2 histories"), "each file once: {out}");
}

/// A register history that is linearizable but hard to search: many clients, long
/// overlapping operations, a third of the writes with unknown outcomes.
fn hard_register_history(ops: usize) -> String {
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x >> 11) as f64 / (1u64 << 53) as f64
    };
    let procs = 24;
    let mut free_at = vec![0.0f64; procs];
    // (start, end, linearization point, process, write?, value, outcome unknown?)
    type Planned = (f64, f64, f64, usize, bool, Option<usize>, bool);
    let mut list: Vec<Planned> = Vec::new();
    for i in 0..ops {
        let p = (next() * procs as f64) as usize;
        let start = free_at[p] + next() * 2.0;
        let took = next() * 10.0;
        let write = next() < 0.5;
        let info = write && next() < 0.3;
        list.push((
            start,
            start + took,
            start + next() * took,
            p,
            write,
            Some(i + 1),
            info,
        ));
        free_at[p] = start + took;
    }
    let mut order: Vec<usize> = (0..ops).collect();
    order.sort_by(|&a, &b| list[a].2.total_cmp(&list[b].2));
    let mut current = None;
    for i in order {
        if list[i].4 {
            current = list[i].5;
        } else {
            list[i].5 = current;
        }
    }
    let mut events: Vec<(f64, bool, usize)> = Vec::new();
    for (i, o) in list.iter().enumerate() {
        events.push((o.0, false, i));
        events.push((o.1, true, i));
    }
    events.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut process: Vec<usize> = (0..procs).collect();
    let mut fresh = procs;
    let mut out = String::new();
    for (_, done, i) in events {
        let (_, _, _, p, write, value, info) = list[i];
        let f = if write { "write" } else { "read" };
        let v = value.map_or("nil".to_string(), |v| v.to_string());
        let q = process[p];
        if !done {
            let shown = if write { v.as_str() } else { "nil" };
            out.push_str(&format!(
                "{{:process {q}, :type :invoke, :f :{f}, :value {shown}}}\n"
            ));
        } else if info {
            out.push_str(&format!(
                "{{:process {q}, :type :info, :f :{f}, :value {v}}}\n"
            ));
            process[p] = fresh;
            fresh += 1;
        } else {
            out.push_str(&format!(
                "{{:process {q}, :type :ok, :f :{f}, :value {v}}}\n"
            ));
        }
    }
    out
}

/// The largest resident set a child process had (KiB), from `wait4`.
// The child is reaped by `wait4`, which clippy does not know.
#[allow(clippy::zombie_processes)]
fn run_measured(cmd: &mut Command) -> (i32, String, u64) {
    let child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to fill.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for our own child, writing into the two locals.
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(waited, pid);
    let mut stdout = String::new();
    std::io::Read::read_to_string(&mut child.stdout.unwrap(), &mut stdout).unwrap();
    (libc::WEXITSTATUS(status), stdout, usage.ru_maxrss as u64)
}

/// D7: `check` has a memory budget by default, and under a budget a history too hard for
/// it ends `unknown` (exit 2), naming the flag, with the process's resident peak within
/// 10% of the budget.
#[test]
fn check_stops_at_its_memory_budget() {
    let dir = scratch("memory");
    let file = dir.join("hard.edn");
    std::fs::write(&file, hard_register_history(20_000)).unwrap();
    for mb in [100u64, 300] {
        let (status, out, peak_kb) = run_measured(faultline().arg("check").arg(&file).args([
            "--model",
            "register",
            "--memory-mb-max",
            &mb.to_string(),
        ]));
        assert_eq!(status, 2, "{out}");
        assert!(
            out.contains(&format!(
                "the memory budget ({mb} MB, `--memory-mb-max`) ran out"
            )),
            "{out}"
        );
        assert!(
            peak_kb <= mb * 1024 * 11 / 10,
            "resident peak {peak_kb} KiB for a budget of {mb} MB"
        );
    }
    // No flag: a budget fitted to the machine, named in the answer if it runs out.
    let help = faultline().args(["check", "--help"]).output().unwrap();
    assert!(text(&help.stdout).contains("three quarters of the memory available"));
}

/// D12: Ctrl-C during a shrink writes the smallest plan found so far (exit 130), and that
/// pinned plan still fails.
#[test]
fn an_interrupted_shrink_keeps_the_smallest_plan_found() {
    let dir = scratch("shrink-int");
    let long = dir.join("long.toml");
    // A long run of a planted bug: its shrink takes several seconds (about 9 s here).
    let text_ = std::fs::read_to_string("scenarios/es_cluster/bug_follower_reads.toml").unwrap();
    let edited = text_
        .replacen("chaos_ms = 2000", "chaos_ms = 60000", 1)
        .replace(
            "name = \"es_cluster-bug-follower-reads\"",
            "name = \"long\"",
        );
    assert_ne!(edited, text_);
    std::fs::write(&long, edited).unwrap();
    let pinned = dir.join("pinned.toml");
    let child = faultline()
        .arg("shrink")
        .arg(&long)
        .args(["--seed", "1", "--time-limit-s", "120", "--reports"])
        .arg(dir.join("reports"))
        .arg("--out")
        .arg(&pinned)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_secs(2));
    // SAFETY: signals our own child.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    let started = std::time::Instant::now();
    let out = child.wait_with_output().unwrap();
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    let stdout = text(&out.stdout);
    assert_eq!(code(&out), 130, "{stdout}");
    assert!(
        stdout.contains("interrupted: the result is smaller, not minimal"),
        "{stdout}"
    );
    let replay = faultline()
        .arg("replay")
        .arg(&pinned)
        .arg("--out")
        .arg(dir.join("reports"))
        .output()
        .unwrap();
    assert_eq!(
        code(&replay),
        1,
        "the pinned plan still fails: {}",
        text(&replay.stdout)
    );
}

/// The fresh hostile pass: `shrink --jobs` past a few per core is capped (a thread per
/// candidate by the hundred thousand aborted the process), a journal that is a folder is
/// bad input to `--resume`, and a zero memory budget is refused.
#[test]
fn huge_job_counts_unreadable_journals_and_zero_budgets_are_handled() {
    let dir = scratch("pass");
    let o = faultline()
        .args([
            "shrink",
            "scenarios/kv_register/bug_no_fsync.toml",
            "--seed",
            "0",
            "--jobs",
            "100000",
            "--reports",
        ])
        .arg(dir.join("reports"))
        .output()
        .unwrap();
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("per core"), "{}", text(&o.stderr));
    let run = |extra: &[&str]| {
        faultline()
            .args([
                "run",
                "scenarios/kv_register/all_faults.toml",
                "--seeds",
                "4",
                "--quiet",
                "--out",
            ])
            .arg(dir.join("runs"))
            .args(extra)
            .output()
            .unwrap()
    };
    assert_eq!(code(&run(&[])), 0);
    let latest = std::fs::canonicalize(dir.join("runs/latest")).unwrap();
    std::fs::remove_file(latest.join("seeds.jsonl")).unwrap();
    std::fs::create_dir(latest.join("seeds.jsonl")).unwrap();
    let o = run(&["--resume"]);
    assert_eq!(code(&o), 254, "{}", text(&o.stderr));
    let o = faultline()
        .args([
            "check",
            "tests/fixtures/porcupine/kv/c01-ok.txt",
            "--model",
            "kv",
            "--memory-mb-max",
            "0",
        ])
        .output()
        .unwrap();
    assert_eq!(code(&o), 254, "{}", text(&o.stderr));
}
