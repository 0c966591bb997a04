//! The front door, fuzzed: every shipped scenario and every history fixture, mutated the
//! way hostile or careless input is (bytes flipped, spans cut or repeated, lines swapped,
//! tokens spliced in — huge and negative numbers, unbalanced brackets, stray keys), must
//! come back as a verdict or a located error. Never a panic, never an unbounded message,
//! never a run that does not end.
//!
//! Three layers, cheapest first: thousands of in-process parses of scenarios and
//! histories (and checks of the histories that parse, under a step budget); a few dozen
//! in-process seeds of mutated scenarios that still validate; and a handful of runs of the
//! real binary, which must exit with a documented code. Each run draws fresh cases;
//! `FAULTLINE_FUZZ_SCALE=20 cargo test --release --test fuzz` fuzzes twenty times longer.

// The binary runs are bounded on the wall clock.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use faultline::check::linearizability::{check_history, Budget, ModelKind};
use faultline::check::queue;
use faultline::history;
use faultline::runner::{self, SeedJob};
use faultline::scenario::{discover, Scenario, ScenarioError};
use faultline::systems::{ExecOptions, REGISTRY};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

/// Tokens a mutation splices in: TOML, EDN and JSON syntax, and values at and beyond the
/// edges of every knob's range.
const TOKENS: &[&str] = &[
    "=",
    "[",
    "]",
    "[[",
    "]]",
    "{",
    "}",
    "\"",
    "'",
    ",",
    ".",
    "#",
    "\n",
    " = ",
    "0",
    "-1",
    "1e308",
    "nan",
    "inf",
    "-0",
    "18446744073709551616",
    "18446744073709551615",
    "18446744073710",
    "99999999",
    "9223372036854775807",
    "3600000",
    "1.5",
    "true",
    "\"\"",
    "\"..\"",
    "[]",
    "{}",
    ":type",
    ":ok",
    ":fail",
    ":info",
    ":invoke",
    ":process",
    ":value",
    ":f",
    "nil",
    "\"type\"",
    "\"process\":",
    "\"value\":",
    "null",
    "x = 1",
    "[limits]",
    "[network]",
    "seeds = 0",
    "replicas = 999",
    "clients = 100000",
    "\u{0}",
    "\u{feff}",
    "é",
];

/// One way to damage a text.
#[derive(Debug, Clone)]
enum Mutation {
    FlipByte { at: usize, bit: u8 },
    Cut { at: usize, len: usize },
    Repeat { at: usize, len: usize, times: usize },
    Splice { at: usize, token: usize },
    SwapLines { a: usize, b: usize },
    Truncate { at: usize },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let at = any::<usize>();
    prop_oneof![
        (at, 0u8..8).prop_map(|(at, bit)| Mutation::FlipByte { at, bit }),
        (at, 1usize..200).prop_map(|(at, len)| Mutation::Cut { at, len }),
        (at, 1usize..80, 2usize..50).prop_map(|(at, len, times)| Mutation::Repeat {
            at,
            len,
            times
        }),
        (at, 0..TOKENS.len()).prop_map(|(at, token)| Mutation::Splice { at, token }),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::SwapLines { a, b }),
        at.prop_map(|at| Mutation::Truncate { at }),
    ]
}

/// Apply `m` to `bytes` (positions taken modulo the length, so every draw applies).
fn apply(bytes: &mut Vec<u8>, m: &Mutation) {
    let len = bytes.len().max(1);
    match *m {
        Mutation::FlipByte { at, bit } => {
            if let Some(b) = bytes.get_mut(at % len) {
                *b ^= 1 << bit;
            }
        }
        Mutation::Cut { at, len: n } => {
            let at = (at % len).min(bytes.len());
            let end = (at + n).min(bytes.len());
            bytes.drain(at..end);
        }
        Mutation::Repeat { at, len: n, times } => {
            let at = (at % len).min(bytes.len());
            let span = bytes[at..(at + n).min(bytes.len())].to_vec();
            for _ in 0..times {
                bytes.splice(at..at, span.iter().copied());
            }
        }
        Mutation::Splice { at, token } => {
            let at = (at % len).min(bytes.len());
            bytes.splice(at..at, TOKENS[token].bytes());
        }
        Mutation::SwapLines { a, b } => {
            let text = String::from_utf8_lossy(bytes).into_owned();
            let mut lines: Vec<&str> = text.split('\n').collect();
            let n = lines.len();
            lines.swap(a % n, b % n);
            *bytes = lines.join("\n").into_bytes();
        }
        Mutation::Truncate { at } => bytes.truncate(at % len),
    }
}

fn mutated(seed: &str, mutations: &[Mutation]) -> String {
    let mut bytes = seed.as_bytes().to_vec();
    for m in mutations {
        apply(&mut bytes, m);
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

fn shipped_scenarios() -> Vec<(PathBuf, String)> {
    let files = discover(&[PathBuf::from("scenarios")]).expect("scenarios/ exists");
    assert!(files.len() >= 15, "expected the shipped catalogue");
    files
        .into_iter()
        .map(|f| {
            let text = std::fs::read_to_string(&f).unwrap();
            (f, text)
        })
        .collect()
}

/// Small history fixtures of every format the checker reads (the large ones only make the
/// cases slow without reaching new parser states).
fn history_fixtures() -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    for dir in [
        "tests/fixtures/queue",
        "tests/fixtures/porcupine/kv",
        "tests/fixtures/porcupine/jepsen",
    ] {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        for f in files {
            let text = std::fs::read_to_string(&f).unwrap();
            if text.len() <= 64 * 1024 {
                out.push((f, text));
            }
        }
    }
    assert!(
        out.len() >= 8,
        "expected history fixtures, found {}",
        out.len()
    );
    out
}

/// `cases`, times `FAULTLINE_FUZZ_SCALE` (default 1) for longer local fuzzing.
fn runner(cases: u32) -> TestRunner {
    let scale: u32 = std::env::var("FAULTLINE_FUZZ_SCALE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    TestRunner::new(Config {
        cases: cases.saturating_mul(scale.max(1)),
        failure_persistence: None,
        ..Config::default()
    })
}

/// A scenario error is bounded and, when the text is at fault, located.
fn assert_good_error(err: &ScenarioError, text: &str) {
    let message = err.to_string();
    assert!(
        message.len() <= 64 * 1024,
        "an error of {} bytes for a {}-byte file",
        message.len(),
        text.len()
    );
    if let ScenarioError::Invalid { problems, .. } = err {
        assert!(
            !problems.is_empty(),
            "an invalid scenario names its problems"
        );
        for p in problems {
            assert!(p.line >= 1 && p.column >= 1, "unlocated problem: {message}");
        }
    }
}

/// Mutated scenarios parse to a scenario or a located, bounded error. Those that still
/// validate must plan every seed.
#[test]
fn mutated_scenarios_parse_or_fail_with_located_errors() {
    let corpus = shipped_scenarios();
    let strategy = (
        0..corpus.len(),
        prop::collection::vec(mutation(), 1..6),
        any::<u64>(),
    );
    let (accepted, rejected) = (Cell::new(0u32), Cell::new(0u32));
    runner(20_000)
        .run(&strategy, |(pick, mutations, seed)| {
            let (path, seed_text) = &corpus[pick];
            let text = mutated(seed_text, &mutations);
            match Scenario::parse(path, &text, &REGISTRY) {
                Ok(scenario) => {
                    accepted.set(accepted.get() + 1);
                    let _params = scenario.resolve(seed);
                    let load = scenario.estimated_load();
                    prop_assert!(load.events.is_finite() && load.events >= 0.0);
                }
                Err(err) => {
                    rejected.set(rejected.get() + 1);
                    assert_good_error(&err, &text);
                }
            }
            Ok(())
        })
        .unwrap();
    let (accepted, rejected) = (accepted.get(), rejected.get());
    println!("{accepted} mutated scenarios accepted, {rejected} rejected with located errors");
    assert!(
        accepted > 100 && rejected > 100,
        "the mutations reach both sides"
    );
}

/// Mutated histories parse or fail with a located error; those that parse are checked by
/// every model (and the queue checker) to a verdict or a clean refusal, within a budget.
#[test]
fn mutated_histories_parse_and_check_without_panics() {
    let corpus = history_fixtures();
    let strategy = (0..corpus.len(), prop::collection::vec(mutation(), 1..5));
    let budget = Budget {
        max_steps: Some(200_000),
        wall: Some(Duration::from_secs(2)),
        memory_bytes_max: Some(256 << 20),
        ..Budget::default()
    };
    let models = [
        ModelKind::Register,
        ModelKind::CasRegister,
        ModelKind::Kv,
        ModelKind::Bank,
    ];
    let (parsed, refused) = (Cell::new(0u32), Cell::new(0u32));
    runner(20_000)
        .run(&strategy, |(pick, mutations)| {
            let (path, seed_text) = &corpus[pick];
            let text = mutated(seed_text, &mutations);
            let name = path.display().to_string();
            match history::parse(&text, &name, None) {
                Ok(history) => {
                    parsed.set(parsed.get() + 1);
                    for model in models {
                        let _ = check_history(&history, model, &budget);
                    }
                    let _ = queue::check(&history);
                }
                Err(err) => {
                    refused.set(refused.get() + 1);
                    prop_assert!(err.line >= 1 && err.column >= 1, "unlocated: {err}");
                    prop_assert!(err.to_string().len() <= 64 * 1024);
                }
            }
            Ok(())
        })
        .unwrap();
    let (parsed, refused) = (parsed.get(), refused.get());
    println!("{parsed} mutated histories parsed and checked, {refused} refused");
    assert!(
        parsed > 100 && refused > 100,
        "the mutations reach both sides"
    );
}

/// Mutated scenarios that still validate run a seed to a verdict inside their envelope: a
/// panic of the harness (not of a simulated process) fails this test.
#[test]
fn mutated_scenarios_that_validate_run_to_a_verdict() {
    let corpus = shipped_scenarios();
    let strategy = (
        0..corpus.len(),
        prop::collection::vec(mutation(), 1..4),
        0u64..1000,
    );
    let ran = Cell::new(0u32);
    runner(1500)
        .run(&strategy, |(pick, mutations, seed)| {
            let (path, seed_text) = &corpus[pick];
            let text = mutated(seed_text, &mutations);
            let Ok(scenario) = Scenario::parse(path, &text, &REGISTRY) else {
                return Ok(());
            };
            // A pinned plan is read before any seed runs (exit 254 when it is broken).
            if scenario.file.pinned.is_some()
                && runner::pinned::plan_of(&scenario, faultline::plan::SeedId::Plain(seed)).is_err()
            {
                return Ok(());
            }
            if ran.get() >= 150 {
                return Ok(());
            }
            ran.set(ran.get() + 1);
            let job = SeedJob {
                scenario: Arc::new(scenario),
                scenario_index: 0,
                seed: faultline::plan::SeedId::Plain(seed),
                check_determinism: false,
                keep: false,
                options: ExecOptions::default(),
            };
            let result = runner::on_fresh_thread(seed, move || runner::run_seed(&job));
            let result =
                result.map_err(|e| TestCaseError::fail(format!("the harness failed: {e}")))?;
            prop_assert!(result.harness_error.is_none(), "{:?}", result.harness_error);
            // A world with no client operations may be settled from its first instant
            // (e.g. a chaos phase cut to 1 ms): nothing to run is not a failure to run.
            prop_assert!(
                result.handler_calls > 0 || result.operations == 0,
                "the seed of a mutation of {} did not run:\n{text}",
                path.display()
            );
            Ok(())
        })
        .unwrap();
    let ran = ran.get();
    println!("{ran} mutated scenarios ran a seed");
    assert!(ran >= 60, "only {ran} mutated scenarios validated");
}

fn exit_of(dir: &Path, scenario: &Path) -> (i32, Duration) {
    let start = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .arg("run")
        .arg(scenario)
        .args(["--seeds", "1", "--quiet", "--out"])
        .arg(dir.join("reports"))
        .output()
        .unwrap();
    let code = out.status.code().unwrap_or(-1);
    if code == 254 {
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(&scenario.display().to_string()),
            "a bad-input message names the file: {stderr}"
        );
    }
    (code, start.elapsed())
}

/// The real binary, on mutated files: a documented exit code, in bounded time.
#[test]
fn the_binary_answers_mutated_scenarios_with_documented_exit_codes() {
    let corpus = shipped_scenarios();
    let dir = std::env::temp_dir().join(format!("faultline-fuzz-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let strategy = (0..corpus.len(), prop::collection::vec(mutation(), 1..4));
    let case = Cell::new(0u32);
    runner(60)
        .run(&strategy, |(pick, mutations)| {
            case.set(case.get() + 1);
            let text = mutated(&corpus[pick].1, &mutations);
            let file = dir.join(format!("case{}.toml", case.get()));
            std::fs::write(&file, &text).unwrap();
            let (code, took) = exit_of(&dir, &file);
            prop_assert!(
                [0, 1, 2, 3, 254].contains(&code),
                "exit {code} for {}",
                file.display()
            );
            prop_assert!(took < Duration::from_secs(120), "took {took:?}");
            Ok(())
        })
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

/// Numbers a pinned plan's values are replaced with: edges of `u64` and of simulated time
/// (the product with 10^6 ns overflows), far past the run's end, and small ones that put
/// faults and operations out of order or onto processes that cannot take them.
const PLAN_NUMBERS: &[&str] = &[
    "0",
    "1",
    "2",
    "5",
    "99999999",
    "18446744073710",
    "18446744073709551",
    "18446744073709551615",
    "9223372036854775807",
];

/// Every pinned scenario's plan, its numbers replaced one to four at a time and its
/// entries swapped: refused with an error at a 1-based line and column, or run to a
/// verdict that is the system's, never an arithmetic overflow in faultline's own code.
#[test]
fn mutated_pinned_plans_are_refused_at_a_place_or_run() {
    let corpus: Vec<(PathBuf, String)> = (shipped_scenarios().into_iter())
        .filter(|(_, text)| text.contains("[pinned]"))
        .collect();
    assert!(!corpus.is_empty(), "the regression corpus has pinned plans");
    let strategy = (
        0..corpus.len(),
        prop::collection::vec((any::<usize>(), 0..PLAN_NUMBERS.len()), 1..5),
        any::<Option<(usize, usize)>>(),
    );
    let (refused, ran) = (Cell::new(0u32), Cell::new(0u32));
    runner(300)
        .run(&strategy, |(pick, numbers, swap)| {
            let (path, text) = &corpus[pick];
            let text = renumbered(text, &numbers, swap);
            let scenario = match Scenario::parse(path, &text, &REGISTRY) {
                Ok(s) => s,
                Err(e) => {
                    assert_good_error(&e, &text);
                    return Ok(());
                }
            };
            let seed = runner::pinned::pinned_seed(&scenario).unwrap();
            if let Err(e) = runner::pinned::plan_of(&scenario, seed) {
                prop_assert!(e.line >= 1 && e.column >= 1, "{e}");
                refused.set(refused.get() + 1);
                return Ok(());
            }
            ran.set(ran.get() + 1);
            let job = SeedJob {
                scenario: Arc::new(scenario),
                scenario_index: 0,
                seed,
                check_determinism: false,
                keep: false,
                options: ExecOptions::default(),
            };
            let result = runner::on_fresh_thread(seed.raw(), move || runner::run_seed(&job))
                .map_err(|e| TestCaseError::fail(format!("the harness failed: {e}")))?;
            prop_assert!(result.harness_error.is_none(), "{:?}", result.harness_error);
            if let Some(p) = &result.panic {
                prop_assert!(
                    !p.message.contains("overflow"),
                    "{}: {}\n{text}",
                    p.name,
                    p.message
                );
            }
            Ok(())
        })
        .unwrap();
    println!(
        "{} mutated pinned plans refused, {} ran",
        refused.get(),
        ran.get()
    );
    assert!(refused.get() > 0 && ran.get() > 0);
}

/// `text` with the `k`-th numbers of its plan (counted from the `[pinned]` table)
/// replaced, and two lines of its fault list swapped.
fn renumbered(text: &str, numbers: &[(usize, usize)], swap: Option<(usize, usize)>) -> String {
    let start = text.find("[pinned]").unwrap_or(0);
    let (head, plan) = text.split_at(start);
    let mut spans: Vec<(usize, usize)> = Vec::new();
    let b = plan.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_digit()
            && (i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_'))
        {
            let s = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            spans.push((s, i));
        }
        i += 1;
    }
    let mut out = plan.to_string();
    let mut chosen: Vec<(usize, &str)> = (numbers.iter())
        .filter(|_| !spans.is_empty())
        .map(|&(k, n)| (k % spans.len(), PLAN_NUMBERS[n]))
        .collect();
    chosen.sort_by_key(|c| std::cmp::Reverse(c.0));
    chosen.dedup_by_key(|c| c.0);
    for (k, number) in chosen {
        let (s, e) = spans[k];
        out.replace_range(s..e, number);
    }
    if let Some((a, b)) = swap {
        let mut lines: Vec<&str> = out.lines().collect();
        let faults: Vec<usize> = (0..lines.len())
            .filter(|&i| lines[i].contains("\"at_ms\""))
            .collect();
        if faults.len() >= 2 {
            let (x, y) = (faults[a % faults.len()], faults[b % faults.len()]);
            lines.swap(x, y);
        }
        out = lines.join("\n");
    }
    format!("{head}{out}")
}

/// A sweep's journal, damaged the ways a disk, a kill or a careless edit damages it
/// (bytes flipped, lines cut, repeated or swapped, numbers replaced by huge ones), reads
/// back as records of the sweep, a torn last line, or a refusal at a 1-based line and
/// column: never a panic, never a record the sweep did not run.
#[test]
fn damaged_journals_are_read_or_refused_at_a_place() {
    use faultline::runner::journal::{self, JournalError};
    let dir = std::env::temp_dir().join(format!("faultline-fuzz-journal-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args([
            "run",
            "scenarios/kv_register/all_faults.toml",
            "--seeds",
            "12",
            "--quiet",
            "--out",
        ])
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let run = std::fs::canonicalize(dir.join("latest")).unwrap();
    let manifest = journal::read_manifest(&run).unwrap();
    let original = std::fs::read_to_string(run.join(journal::JOURNAL)).unwrap();
    let strategy = (
        prop::collection::vec(mutation(), 0..4),
        prop::collection::vec((any::<usize>(), 0..PLAN_NUMBERS.len()), 0..3),
    );
    let (read, refused) = (Cell::new(0u32), Cell::new(0u32));
    runner(400)
        .run(&strategy, |(mutations, numbers)| {
            let text = mutated(
                &renumbered(&format!("[pinned]{original}"), &numbers, None)[8..],
                &mutations,
            );
            std::fs::write(run.join(journal::JOURNAL), &text).unwrap();
            match journal::read_journal(&run, &manifest) {
                Ok(j) => {
                    read.set(read.get() + 1);
                    for r in &j.records {
                        let e = &manifest.scenarios[r.scenario];
                        prop_assert!(
                            r.seed.raw() >= e.seed_start && r.seed.raw() < e.seed_start + e.seeds,
                            "{r:?}"
                        );
                    }
                }
                Err(JournalError::Damaged { line, column, .. }) => {
                    refused.set(refused.get() + 1);
                    prop_assert!(line >= 1 && column >= 1);
                }
                Err(e) => prop_assert!(false, "{e}"),
            }
            Ok(())
        })
        .unwrap();
    println!(
        "{} damaged journals read, {} refused",
        read.get(),
        refused.get()
    );
    assert!(read.get() > 0 && refused.get() > 0);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Folder trees of random depth and shape, with links back up and across, checked as one
/// folder: every history file counted exactly once.
#[test]
fn random_folder_trees_are_walked_once_per_file() {
    let history = std::fs::read_to_string("tests/fixtures/porcupine/kv/c01-ok.txt").unwrap();
    let strategy = prop::collection::vec((0usize..40, 0u8..4), 1..60);
    let case = Cell::new(0u32);
    runner(12)
        .run(&strategy, |steps| {
            case.set(case.get() + 1);
            let root = std::env::temp_dir().join(format!(
                "faultline-fuzz-tree-{}-{}",
                std::process::id(),
                case.get()
            ));
            let _ = std::fs::remove_dir_all(&root);
            std::fs::create_dir_all(&root).unwrap();
            let mut folders = vec![root.clone()];
            let mut files = 0;
            for (n, (pick, kind)) in steps.into_iter().enumerate() {
                let at = folders[pick % folders.len()].clone();
                match kind {
                    0 | 1 => {
                        let sub = at.join(format!("d{n}"));
                        std::fs::create_dir(&sub).unwrap();
                        folders.push(sub);
                    }
                    2 => {
                        std::fs::write(at.join(format!("h{n}.txt")), &history).unwrap();
                        files += 1;
                    }
                    _ => {
                        let target = folders[(pick / 7) % folders.len()].clone();
                        std::os::unix::fs::symlink(&target, at.join(format!("link{n}"))).unwrap();
                    }
                }
            }
            let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
                .arg("check")
                .arg(&root)
                .args(["--model", "kv"])
                .output()
                .unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout);
            let last = stdout.lines().last().unwrap_or_default().to_string();
            let _ = std::fs::remove_dir_all(&root);
            if files == 0 {
                prop_assert!(
                    last.contains("0 histories") || out.status.code() == Some(254),
                    "{last}"
                );
            } else {
                prop_assert!(
                    last.starts_with(&format!("{files} histor")),
                    "{files} files: {last}"
                );
            }
            Ok(())
        })
        .unwrap();
}
