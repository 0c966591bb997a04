//! A hostile user's front door: every reproduction of the hardening review ends with its
//! documented exit code and a clear message. Resource limits end as `limit` verdicts
//! (never `crash`), signals stop a sweep within a second with honest partial reports, each
//! run writes a folder of its own, and odd files are named for what they are.

// The signal tests measure how soon a real process reacts, on the wall clock.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn faultline() -> Command {
    Command::new(env!("CARGO_BIN_EXE_faultline"))
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("faultline-hard-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn write(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, body).unwrap();
    path
}

fn run(dir: &Path, scenario: &Path, extra: &[&str]) -> Output {
    faultline()
        .arg("run")
        .arg(scenario)
        .args(["--quiet", "--out"])
        .arg(dir.join("reports"))
        .args(extra)
        .output()
        .unwrap()
}

fn summary(dir: &Path) -> serde_json::Value {
    let path = dir.join("reports").join("latest").join("summary.json");
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// A seed over a limit of its envelope stops with the verdict `limit`: inconclusive (exit
/// 2), naming the limit — never a crash or a safety finding.
#[test]
fn limits_end_seeds_as_inconclusive_limit_verdicts() {
    let dir = scratch("limits");
    // Slow links and many clients: far more than 100 messages in flight at once.
    let in_flight = write(
        &dir,
        "in_flight.toml",
        "system = \"kv_register\"\n[topology]\nclients = 32\n[workload]\nop_interval_ms_min = 5\nop_interval_ms_max = 10\n[network]\nlatency_ms_min = 500\nlatency_ms_max = 900\n[limits]\nmessages_in_flight_max = 100\n",
    );
    // A long run whose trace outgrows 16 MB.
    let memory = write(
        &dir,
        "memory.toml",
        "system = \"es_cluster\"\n[phases]\nchaos_ms = 300000\n[limits]\nmemory_mb_max = 16\n",
    );
    for (scenario, knob) in [
        (&in_flight, "limits.messages_in_flight_max"),
        (&memory, "limits.memory_mb_max"),
    ] {
        let out = run(&dir, scenario, &["--seeds", "2"]);
        let stdout = text(&out.stdout);
        assert_eq!(out.status.code(), Some(2), "{stdout}{}", text(&out.stderr));
        assert!(stdout.contains("reached a resource limit"), "{stdout}");
        assert!(stdout.contains(&format!("`{knob}`")), "{stdout}");
        assert!(!stdout.contains("panicked"), "{stdout}");
        let s = summary(&dir);
        let verdicts = &s["scenarios"][0]["verdicts"];
        assert_eq!(verdicts["limit"], 2, "{s}");
        assert!(verdicts.get("crash").is_none(), "{s}");
        // The replay stops at the same event, with the same verdict.
        let replay = faultline()
            .arg("replay")
            .arg(scenario)
            .args(["--seed", "0", "--out"])
            .arg(dir.join("reports"))
            .output()
            .unwrap();
        let replayed = text(&replay.stdout);
        assert_eq!(replay.status.code(), Some(2), "{replayed}");
        assert!(replayed.contains("LIMIT"), "{replayed}");
        assert!(replayed.contains(knob), "{replayed}");
    }
}

/// Start a sweep, wait until it is busy, send `signal`, and return how long it took to
/// exit after the signal, and its output.
fn interrupt(mut child: Child, busy_for: Duration, signal: i32) -> (Duration, Output) {
    std::thread::sleep(busy_for);
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(child.id() as i32, signal) };
    let sent = Instant::now();
    let deadline = sent + Duration::from_secs(20);
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        assert!(Instant::now() < deadline, "the sweep ignored the signal");
        std::thread::sleep(Duration::from_millis(20));
    }
    let waited = sent.elapsed();
    (waited, child.wait_with_output().unwrap())
}

fn spawn_sweep(dir: &Path, paths: &[&Path], extra: &[&str]) -> Child {
    faultline()
        .arg("run")
        .args(paths)
        .args(["--quiet", "--out"])
        .arg(dir.join("reports"))
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// SIGTERM in the middle of a long seed: acted on within a second, the seed is not
/// counted, and every scenario that did not run all its seeds says so.
#[test]
fn a_signal_stops_a_sweep_within_a_second_with_honest_reports() {
    let dir = scratch("signal");
    // One seed of an hour of simulated time, busy: about ten seconds of work before it
    // reaches its memory limit, so stopping within the bound below can only mean the
    // signal was honoured inside the seed.
    let long = write(
        &dir,
        "long.toml",
        "name = \"long\"\nsystem = \"kv_register\"\n[topology]\nclients = 32\n[workload]\nop_interval_ms_min = 100\nop_interval_ms_max = 300\n[phases]\nchaos_ms = 3600000\n[limits]\nevents_max = 50000000\nhistory_ops_max = 1000000\nmemory_mb_max = 1024\n",
    );
    let bug = Path::new("scenarios/kv_register/bug_no_dedup.toml");
    let child = spawn_sweep(&dir, &[&long, bug], &["--seeds", "3", "--jobs", "1"]);
    let (waited, out) = interrupt(child, Duration::from_millis(1500), libc::SIGTERM);
    let stdout = text(&out.stdout);
    // "Within a second", with room for a loaded machine.
    assert!(
        waited < Duration::from_secs(3),
        "took {waited:?} to stop:\n{stdout}"
    );
    assert_eq!(
        out.status.code(),
        Some(130),
        "{stdout}{}",
        text(&out.stderr)
    );
    assert!(stdout.contains("NOT RUN"), "{stdout}");
    let s = summary(&dir);
    assert_eq!(s["status"], "interrupted", "{s}");
    assert_eq!(s["complete"], false);
    for scenario in s["scenarios"].as_array().unwrap() {
        assert_eq!(scenario["outcome"], "not_run", "{scenario}");
        assert_eq!(scenario["seeds"], 0, "{scenario}");
    }
    assert!(s["seeds_cut_short"].as_u64().unwrap() >= 1, "{s}");
}

/// Ctrl-C between seeds: the planted-bug scenario that was never reached is skipped in
/// JUnit and `not_run` in the summary, and the exit code is not a pass.
#[test]
fn an_interrupted_sweep_never_reports_what_did_not_run_as_passed() {
    let dir = scratch("ctrlc");
    let junit = dir.join("junit.xml");
    let correct = Path::new("scenarios/kv_register/all_faults.toml");
    let bug = Path::new("scenarios/kv_register/bug_no_fsync.toml");
    let child = faultline()
        .arg("run")
        .args([correct, bug])
        .args(["--seeds", "1000000", "--jobs", "2", "--quiet", "--out"])
        .arg(dir.join("reports"))
        .arg("--junit")
        .arg(&junit)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (waited, out) = interrupt(child, Duration::from_millis(1500), libc::SIGINT);
    let stdout = text(&out.stdout);
    assert!(waited < Duration::from_secs(3), "took {waited:?}");
    assert_eq!(out.status.code(), Some(130), "{stdout}");
    assert!(stdout.contains("INCOMPLETE"), "{stdout}");
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains("<skipped message=\"not run: the sweep was interrupted"),
        "{xml}"
    );
    assert!(xml.contains("<skipped message=\"incomplete:"), "{xml}");
    assert!(!xml.contains("did not finish"), "{xml}");
    let s = summary(&dir);
    let outcomes: Vec<&str> = s["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["incomplete", "not_run"], "{s}");
}

/// A run killed outright leaves a `running` summary and a JUnit error, not the previous
/// run's pass; each run has its own folder; a replay says when it replaces a folder.
#[test]
fn nothing_stale_passes_for_current() {
    let dir = scratch("stale");
    let junit = dir.join("junit.xml");
    let scenario = Path::new("scenarios/kv_register/all_faults.toml");
    let out = faultline()
        .arg("run")
        .arg(scenario)
        .args(["--seeds", "5", "--quiet", "--out"])
        .arg(dir.join("reports"))
        .arg("--junit")
        .arg(&junit)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let first = std::fs::read_link(dir.join("reports/latest")).unwrap();
    assert!(std::fs::read_to_string(&junit)
        .unwrap()
        .contains("failures=\"0\""));

    let mut child = faultline()
        .arg("run")
        .arg(scenario)
        .args(["--seeds", "1000000", "--quiet", "--out"])
        .arg(dir.join("reports"))
        .arg("--junit")
        .arg(&junit)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    child.kill().unwrap();
    child.wait().unwrap();
    let second = std::fs::read_link(dir.join("reports/latest")).unwrap();
    assert_ne!(
        first, second,
        "the killed run shares a folder with the first"
    );
    assert_eq!(summary(&dir)["status"], "running");
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains("errors=\"1\"") && xml.contains("did not finish"),
        "{xml}"
    );
    assert!(dir
        .join("reports")
        .join(&first)
        .join("summary.json")
        .is_file());

    for round in 0..2 {
        let replay = faultline()
            .args([
                "replay",
                "scenarios/kv_register/all_faults.toml",
                "--seed",
                "3",
                "--out",
            ])
            .arg(dir.join("reports"))
            .output()
            .unwrap();
        let stdout = text(&replay.stdout);
        assert_eq!(replay.status.code(), Some(0), "{stdout}");
        assert_eq!(stdout.contains("replacing "), round == 1, "{stdout}");
    }
}

/// Quadratic output, long names and long lines: errors stay short and say what is allowed.
#[test]
fn error_output_is_bounded() {
    let dir = scratch("bounded");
    let many = format!(
        "system = \"kv_register\"\nbugs = [{}]\n",
        vec!["\"no-fsync\""; 10_000].join(", ")
    );
    let long_name = format!(
        "name = \"{}\"\nsystem = \"kv_register\"\n",
        "n".repeat(65_536)
    );
    let long_line = format!(
        "system = \"kv_register\"\n[topology]\nreplicas = [{}1, 20]\n",
        " ".repeat(10_000)
    );
    for (file, body, fragment) in [
        ("many.toml", many.as_str(), "more problem(s) in this file"),
        (
            "long_name.toml",
            long_name.as_str(),
            "has 65536 characters: a name has 1 to 64",
        ),
        ("long_line.toml", long_line.as_str(), "out of range"),
    ] {
        let path = write(&dir, file, body);
        let out = run(&dir, &path, &["--seeds", "1"]);
        let stderr = text(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(254),
            "{file}: {}",
            &stderr[..stderr.len().min(2000)]
        );
        assert!(
            stderr.contains(fragment),
            "{file}: {}",
            &stderr[..stderr.len().min(2000)]
        );
        assert!(
            stderr.len() < 8_000,
            "{file}: {} bytes of errors",
            stderr.len()
        );
        let replay = faultline()
            .arg("replay")
            .arg(&path)
            .args(["--seed", "1"])
            .output()
            .unwrap();
        assert_eq!(replay.status.code(), Some(254), "{file}");
    }
}

/// `--jobs 0` is refused; an absurd `--jobs` is capped with a warning.
#[test]
fn jobs_are_checked() {
    let dir = scratch("jobs");
    let scenario = Path::new("scenarios/kv_register/bug_no_dedup.toml");
    let zero = run(&dir, scenario, &["--seeds", "2", "--jobs", "0"]);
    assert_eq!(zero.status.code(), Some(254));
    assert!(text(&zero.stderr).contains("--jobs must be at least 1"));
    let huge = run(&dir, scenario, &["--seeds", "2", "--jobs", "100000"]);
    assert_eq!(huge.status.code(), Some(0), "{}", text(&huge.stderr));
    assert!(text(&huge.stderr).contains("--jobs 100000 is more than 4 per core"));
}

/// Odd files are named for what they are, and invalid UTF-8 has a position.
#[test]
fn odd_files_are_named_for_what_they_are() {
    let dir = scratch("files");
    let fifo = dir.join("fifo.toml");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo(3) with a valid C string.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let (a, b) = (dir.join("a.toml"), dir.join("b.toml"));
    std::os::unix::fs::symlink(&b, &a).unwrap();
    std::os::unix::fs::symlink(&a, &b).unwrap();
    let utf8 = dir.join("latin1.toml");
    std::fs::write(&utf8, b"system = \"kv_register\"\nname = \"caf\xe9\"\n").unwrap();
    let cases: [(&Path, &str); 4] = [
        (&fifo, "a FIFO (named pipe), not a regular file"),
        (&a, "symbolic links"),
        (Path::new("/dev/zero"), "a device, not a regular file"),
        (&utf8, "latin1.toml:2:12: not UTF-8 text (byte 0xe9)"),
    ];
    for (path, fragment) in cases {
        let out = run(&dir, path, &["--seeds", "1"]);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(254), "{path:?}: {stderr}");
        assert!(stderr.contains(fragment), "{path:?}: {stderr}");
        let check = faultline()
            .arg("check")
            .arg(path)
            .args(["--model", "kv"])
            .output()
            .unwrap();
        assert_eq!(check.status.code(), Some(254), "{path:?}");
        assert!(
            text(&check.stderr).contains(fragment.split(": ").last().unwrap()),
            "{path:?}: {}",
            text(&check.stderr)
        );
    }
}

/// Histories: a string process id and overlapping operations of one client are refused
/// in both formats; a long invalid prefix is abridged.
#[test]
fn histories_are_read_strictly_and_reported_briefly() {
    let dir = scratch("histories");
    let string_process = write(
        &dir,
        "string.edn",
        "{:process \"a\", :type :invoke, :f :write, :value 1}\n{:process \"a\", :type :ok, :f :write, :value 1}\n",
    );
    let overlap = write(
        &dir,
        "overlap.jsonl",
        concat!(
            "{\"ClientId\":0,\"Input\":{\"f\":\"write\",\"value\":1},\"Call\":0,\"Output\":{\"status\":\"ok\",\"value\":null},\"Return\":10}\n",
            "{\"ClientId\":0,\"Input\":{\"f\":\"read\",\"value\":null},\"Call\":5,\"Output\":{\"status\":\"ok\",\"value\":1},\"Return\":12}\n"
        ),
    );
    for (path, fragment) in [
        (
            &string_process,
            "string.edn:1:11: a :process must be a non-negative integer",
        ),
        (
            &overlap,
            "overlap.jsonl:2:1: client 0 begins this operation at 5",
        ),
    ] {
        let out = faultline()
            .arg("check")
            .arg(path)
            .args(["--model", "register"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(254), "{}", text(&out.stdout));
        assert!(
            text(&out.stderr).contains(fragment),
            "{}",
            text(&out.stderr)
        );
    }
    // 5,000 sequential writes, then a stale read (of the 18th value written): the search
    // finds the whole prefix and the report abridges it. (A read of a value never written
    // would be refuted before any search, with no prefix to abridge.)
    let mut lines = String::new();
    for i in 0..5000u64 {
        lines.push_str(&format!(
            "{{\"ClientId\":0,\"Input\":{{\"f\":\"write\",\"value\":{i}}},\"Call\":{},\"Output\":{{\"status\":\"ok\",\"value\":null}},\"Return\":{}}}\n",
            2 * i,
            2 * i + 1
        ));
    }
    lines.push_str("{\"ClientId\":1,\"Input\":{\"f\":\"read\",\"value\":null},\"Call\":20000,\"Output\":{\"status\":\"ok\",\"value\":17},\"Return\":20001}\n");
    let long = write(&dir, "long.jsonl", &lines);
    let out = faultline()
        .arg("check")
        .arg(&long)
        .args(["--model", "register"])
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("4980 earlier operations"), "{stdout}");
    assert!(stdout.lines().count() < 40, "{stdout}");
}
