//! `faultline check`: verdicts become exit codes (0 valid, 1 invalid, 2 unknown), and bad
//! input — unknown model or format, missing or malformed file, an operation the model does
//! not accept — exits 254 with a message saying where and why.

use std::path::PathBuf;
use std::process::{Command, Output};

fn fixture(name: &str) -> String {
    format!(
        "{}/tests/fixtures/porcupine/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// A scratch file under cargo's per-target temporary directory.
fn scratch(name: &str, contents: &str) -> String {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("check_cli");
    std::fs::create_dir_all(&dir).expect("tmp dir");
    let path = dir.join(name);
    std::fs::write(&path, contents).expect("write scratch file");
    path.display().to_string()
}

fn faultline(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(args)
        .output()
        .expect("run faultline")
}

fn code(out: &Output) -> i32 {
    out.status.code().expect("exit code")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn valid_history_exits_0() {
    let out = faultline(&[
        "check",
        &fixture("jepsen/etcd_002.log"),
        "--model",
        "cas-register",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stdout(&out).contains("valid: linearizable"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn invalid_history_exits_1_with_an_explanation() {
    let out = faultline(&["check", &fixture("kv/c10-bad.txt"), "--model", "kv"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("INVALID: not linearizable"), "{text}");
    assert!(text.contains("longest linearizable prefix"), "{text}");
    assert!(text.contains("cannot take effect next"), "{text}");
    assert!(
        text.contains("client 8 get key \"0\""),
        "names the stuck operation: {text}"
    );
}

#[test]
fn exhausted_budget_exits_2() {
    let out = faultline(&[
        "check",
        &fixture("jepsen/etcd_002.log"),
        "--model",
        "cas-register",
        "--max-steps",
        "50",
    ]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(stdout(&out).contains("unknown: the step budget (50 steps) ran out"));
}

#[test]
fn json_report() {
    let out = faultline(&[
        "check",
        &fixture("jepsen/etcd_000.log"),
        "--model",
        "cas-register",
        "--json",
    ]);
    assert_eq!(code(&out), 1);
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("JSON on stdout");
    assert_eq!(v["verdict"]["kind"], "invalid");
    assert_eq!(v["model"], "cas-register");
    assert_eq!(v["operations"], 85);
    assert!(v["verdict"]["prefix"]
        .as_array()
        .is_some_and(|p| !p.is_empty()));
    assert!(v["verdict"]["stuck"]
        .as_array()
        .is_some_and(|s| !s.is_empty()));
}

#[test]
fn explicit_format() {
    let path = fixture("kv/c01-ok.txt");
    let out = faultline(&["check", &path, "--model", "kv", "--format", "edn"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = faultline(&["check", &path, "--model", "kv", "--format", "jsonl"]);
    assert_eq!(code(&out), 254, "EDN read as JSON lines is malformed");
    assert!(
        stderr(&out).contains(&format!("{path}:1:")),
        "{}",
        stderr(&out)
    );
    let out = faultline(&["check", &path, "--model", "kv", "--format", "yaml"]);
    assert_eq!(code(&out), 254);
    assert!(stderr(&out).contains("unknown history format"));
}

#[test]
fn unknown_model_exits_254() {
    let out = faultline(&["check", &fixture("kv/c01-ok.txt"), "--model", "stack"]);
    assert_eq!(code(&out), 254);
    assert!(
        stderr(&out).contains("unknown model `stack`") && stderr(&out).contains("queue"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn missing_file_exits_254() {
    let out = faultline(&["check", "/nonexistent/history.edn", "--model", "kv"]);
    assert_eq!(code(&out), 254);
    assert!(stderr(&out).contains("cannot read history file"));
}

#[test]
fn malformed_edn_exits_254_with_line_and_column() {
    let path = scratch(
        "bad.edn",
        "{:process 0, :type :invoke, :f :put, :key \"a\", :value \"x\"}\n\
         {:process 0, :type :ok, :f :put, :key \"a\" :value \"x\"}\n\
         {:process 0, :type :invoke, :f :get, :key \"a\", :value [nil}\n",
    );
    let out = faultline(&["check", &path, "--model", "kv"]);
    assert_eq!(code(&out), 254);
    assert!(
        stderr(&out).contains(&format!("{path}:3:59: unexpected `}}`")),
        "{}",
        stderr(&out)
    );
}

#[test]
fn malformed_jsonl_exits_254_with_line_and_column() {
    let line = r#"{"ClientId":0,"Input":{"f":"write","value":1},"Call":0,"Output":{"status":"ok","value":null},"Return":2}"#;
    let path = scratch(
        "bad.jsonl",
        &format!("{line}\n{}\n", line.replace("\"write\"", "\"scribble\"")),
    );
    let out = faultline(&["check", &path, "--model", "register"]);
    assert_eq!(code(&out), 254);
    assert!(
        stderr(&out).contains(&format!("{path}:2:28:")),
        "{}",
        stderr(&out)
    );
}

#[test]
fn malformed_jepsen_log_exits_254() {
    let path = scratch(
        "bad.log",
        "INFO  jepsen.util - 0\t:invoke\t:read\n  \nINFO  jepsen.util - x :ok :read 1\n",
    );
    let out = faultline(&["check", &path, "--model", "register"]);
    assert_eq!(code(&out), 254);
    assert!(
        stderr(&out).contains(&format!("{path}:3:21:")),
        "{}",
        stderr(&out)
    );
}

#[test]
fn operation_the_model_refuses_exits_254() {
    // A key-value history checked as a register.
    let out = faultline(&["check", &fixture("kv/c01-ok.txt"), "--model", "register"]);
    assert_eq!(code(&out), 254);
    assert!(
        stderr(&out).contains("is not accepted by the register model"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn empty_history_is_valid() {
    let out = faultline(&[
        "check",
        &fixture("jepsen/etcd_095.log"),
        "--model",
        "cas-register",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}

/// A folder is checked in one process: one line per history in name order, a total, the
/// worst verdict as the exit code; an unreadable history is reported on its line and
/// does not stop the others.
#[test]
fn a_folder_of_histories_gets_one_line_each_and_the_worst_exit_code() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("check_cli_folder");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for (from, to) in [
        ("etcd_000.log", "a_invalid.log"),
        ("etcd_002.log", "b_valid.log"),
    ] {
        std::fs::copy(fixture(&format!("jepsen/{from}")), dir.join(to)).unwrap();
    }
    let folder = dir.display().to_string();
    let out = faultline(&["check", &folder, "--model", "cas-register", "--jobs", "2"]);
    assert_eq!(code(&out), 1, "{}", stdout(&out));
    let lines: Vec<String> = stdout(&out).lines().map(str::to_string).collect();
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert!(
        lines[0].contains("a_invalid.log: INVALID: not linearizable"),
        "{lines:?}"
    );
    assert!(lines[1].contains("b_valid.log: valid"), "{lines:?}");
    assert!(lines[2].starts_with("2 histories in "), "{lines:?}");
    assert!(
        lines[2].contains("1 valid, 1 invalid, 0 unknown, 0 unreadable"),
        "{lines:?}"
    );

    std::fs::write(dir.join("c_broken.edn"), "{:type :invoke, :f").unwrap();
    let out = faultline(&["check", &folder, "--model", "cas-register", "--json"]);
    assert_eq!(code(&out), 254, "{}", stdout(&out));
    let objects: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    assert_eq!(objects.len(), 3);
    assert_eq!(objects[0]["verdict"]["kind"], "invalid");
    assert_eq!(objects[1]["verdict"]["kind"], "valid");
    assert!(objects[2]["error"]
        .as_str()
        .unwrap()
        .contains("c_broken.edn"));
}

/// Porcupine's 103 etcd histories as one command: the verdicts its suite expects.
#[test]
fn the_etcd_folder_checks_to_porcupines_verdicts_in_one_process() {
    let out = faultline(&["check", &fixture("jepsen"), "--model", "cas-register"]);
    assert_eq!(code(&out), 1);
    let total = stdout(&out).lines().last().unwrap().to_string();
    assert!(
        total.starts_with("103 histories in ")
            && total.contains("24 valid, 79 invalid, 0 unknown, 0 unreadable"),
        "{total}"
    );
}
