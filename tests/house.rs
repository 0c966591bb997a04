//! The house rules, checked: imports follow the layer order `src/lib.rs` states, functions
//! stay under 70 lines and files under 1,000, and a system is named only in its own folder
//! and the registry (`src/systems/mod.rs`), so adding one touches nothing else.
//!
//! These read the source as text (no parser): an import is any `crate::<module>` outside a
//! comment and outside a file's `#[cfg(test)]` tests; a function runs from its `fn` line to
//! the first closing brace at its own indentation. Both rules hold for `rustfmt`-formatted
//! code, which `.ci/run` requires.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

/// The longest function, in lines (signature and closing brace included).
const FN_LINES_MAX: usize = 70;
/// The longest file, in lines.
const FILE_LINES_MAX: usize = 1_000;
/// Functions longer than [`FN_LINES_MAX`] today, each with the length it may not exceed:
/// the list only shrinks (split one when you touch it, then delete its line).
const FNS_OVER: &[(&str, &str, usize)] = &[
    ("benches/check.rs", "generate_register", 81),
    ("benches/sim.rs", "main", 119),
    ("src/check/linearizability/search.rs", "new", 170),
    ("src/check/linearizability/search.rs", "run", 75),
    ("src/check/linearizability/search.rs", "enter", 84),
    ("src/history/events.rs", "push", 94),
    ("src/history/jepsen_log.rs", "parse", 102),
];
/// Files longer than [`FILE_LINES_MAX`] today, each with the length it may not exceed:
/// the list only shrinks (split a file when you touch it, then delete its line).
const FILES_OVER: &[(&str, usize)] = &[
    ("src/check/linearizability/search.rs", 1_090),
    ("src/report/timeline/html.rs", 1_096),
    ("src/report/timeline/model.rs", 1_084),
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn relative(path: &Path) -> String {
    path.strip_prefix(root())
        .unwrap()
        .to_string_lossy()
        .replace('\\', "/")
}

/// The layer order as `src/lib.rs` states it: "in this order: `a`, `b`, …".
fn layer_order() -> Vec<String> {
    let lib = fs::read_to_string(root().join("src/lib.rs")).unwrap();
    let start = lib
        .find("in this order:")
        .expect("src/lib.rs states the order");
    let mut text = String::new();
    for line in lib[start..].lines() {
        let line = line.trim_start_matches("//!").trim();
        text.push_str(line);
        text.push(' ');
        if line.ends_with('.') {
            break;
        }
    }
    text.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

/// The code of a file, without comments and without its `#[cfg(test)]` module.
fn code_lines(text: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        let t = line.trim_start();
        if t == "#[cfg(test)]" && lines.get(i + 1).is_some_and(|n| n.starts_with("mod tests")) {
            break;
        }
        if t.starts_with("//") {
            continue;
        }
        out.push((i + 1, *line));
    }
    out
}

/// The modules a line names as `crate::<module>`, `use crate::{a, b::c}` included.
fn named_modules(line: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = line;
    while let Some(at) = rest.find("crate::") {
        let after = &rest[at + 7..];
        if let Some(group) = after.strip_prefix('{') {
            out.extend(top_level_names(group));
        }
        let end = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(after.len());
        if end > 0 {
            out.push(&after[..end]);
        }
        rest = &after[end..];
    }
    out
}

/// The first path segment of each item of a `{…}` group, up to its closing brace.
fn top_level_names(group: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut item_start = Some(0);
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => break,
            '}' => depth -= 1,
            ',' if depth == 0 => item_start = Some(i + 1),
            _ => {}
        }
        if let Some(start) = item_start {
            let item = group[start..].trim_start();
            let end = item
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(item.len());
            if end > 0 {
                out.push(&item[..end]);
            }
            item_start = None;
        }
    }
    out
}

#[test]
fn no_import_runs_upward() {
    let order = layer_order();
    assert!(
        order.len() >= 15,
        "the order read from src/lib.rs: {order:?}"
    );
    let rank: BTreeMap<&str, usize> = order
        .iter()
        .enumerate()
        .map(|(i, m)| (m.as_str(), i))
        .collect();
    let mut files = Vec::new();
    rust_files(&root().join("src"), &mut files);
    let mut upward = Vec::new();
    for path in &files {
        let rel = relative(path);
        let module = rel
            .trim_start_matches("src/")
            .split(['/', '.'])
            .next()
            .unwrap()
            .to_string();
        let Some(&own) = rank.get(module.as_str()) else {
            assert!(
                module == "lib" || module == "main",
                "{rel}: module `{module}` is not in the order src/lib.rs states"
            );
            continue;
        };
        let text = fs::read_to_string(path).unwrap();
        for (n, line) in code_lines(&text) {
            for named in named_modules(line) {
                if rank.get(named).is_some_and(|&r| r > own) {
                    upward.push(format!("{rel}:{n}: `{module}` imports `{named}`"));
                }
            }
        }
    }
    assert!(
        upward.is_empty(),
        "imports that run upward against the order of src/lib.rs:\n{}",
        upward.join("\n")
    );
}

#[test]
fn the_layer_check_sees_imports() {
    assert_eq!(named_modules("use crate::sim::{Ctx, View};"), ["sim"]);
    assert_eq!(
        named_modules("use crate::{check, plan::{Plan, Spec}, sim};"),
        ["check", "plan", "sim"]
    );
    assert_eq!(
        named_modules("let x = crate::report::program() + crate::rng::x;"),
        ["report", "rng"]
    );
    let text = "use crate::a;\n// crate::b\n#[cfg(test)]\nmod tests {\n use crate::c;\n}\n";
    let seen: Vec<&str> = code_lines(text).iter().map(|(_, l)| *l).collect();
    assert_eq!(seen, ["use crate::a;"]);
}

/// Functions of a file longer than [`FN_LINES_MAX`]: (name, first line, lines).
fn long_functions(text: &str) -> Vec<(String, usize, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let t = line.trim_start();
        let indent = line.len() - t.len();
        let Some(name) = fn_name(t) else { continue };
        // A declaration without a body ends in `;` before any `{`.
        let Some(open) =
            (i..lines.len()).find(|&j| lines[j].contains('{') || lines[j].ends_with(';'))
        else {
            continue;
        };
        if !lines[open].contains('{') || lines[open].trim_end().ends_with("};") {
            continue;
        }
        if lines[open].trim_end().ends_with('}') {
            continue; // a one-line body
        }
        let close = (open + 1..lines.len()).find(|&j| {
            let l = lines[j];
            l.len() - l.trim_start().len() == indent && l.trim_start().starts_with('}')
        });
        if let Some(close) = close {
            let length = close - i + 1;
            if length > FN_LINES_MAX {
                out.push((name, i + 1, length));
            }
        }
    }
    out
}

/// The name of the function a trimmed line declares, if it declares one.
fn fn_name(t: &str) -> Option<String> {
    let mut rest = t;
    for prefix in [
        "pub(crate) ",
        "pub(super) ",
        "pub ",
        "const ",
        "async ",
        "unsafe ",
    ] {
        rest = rest.strip_prefix(prefix).unwrap_or(rest);
    }
    let rest = rest.strip_prefix("fn ")?;
    let end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))?;
    Some(rest[..end].to_string())
}

#[test]
fn functions_fit_a_screen() {
    let mut files = Vec::new();
    rust_files(&root().join("src"), &mut files);
    rust_files(&root().join("benches"), &mut files);
    let mut long = Vec::new();
    let mut listed_seen = Vec::new();
    for path in &files {
        let rel = relative(path);
        let text = fs::read_to_string(path).unwrap();
        for (name, line, length) in long_functions(&text) {
            let listed = FNS_OVER
                .iter()
                .find(|(file, f, _)| *file == rel && *f == name);
            match listed {
                Some(&(_, _, max)) if length <= max => listed_seen.push((rel.clone(), name)),
                Some(&(_, _, max)) => long.push(format!(
                    "{rel}:{line}: fn {name} is {length} lines (listed at {max}: it may only shrink)"
                )),
                None => long.push(format!("{rel}:{line}: fn {name} is {length} lines")),
            }
        }
    }
    for (file, name, _) in FNS_OVER {
        if !listed_seen.iter().any(|(f, n)| f == file && n == name) {
            long.push(format!(
                "{file}: fn {name} is within {FN_LINES_MAX} lines now: delete its line from FNS_OVER"
            ));
        }
    }
    assert!(
        long.is_empty(),
        "functions over {FN_LINES_MAX} lines (split them into steps with names):\n{}",
        long.join("\n")
    );
}

#[test]
fn the_length_check_measures_functions() {
    let body: String = (0..80).map(|i| format!("    let x{i} = {i};\n")).collect();
    let text = format!("/// A doc.\npub fn long() {{\n{body}}}\n\nfn short() {{\n    f();\n}}\n");
    assert_eq!(long_functions(&text), [("long".to_string(), 2, 82)]);
    let decl = "pub trait T {\n    fn a(&self);\n    fn b(&self) -> u64 {\n        1\n    }\n}\n";
    assert!(long_functions(decl).is_empty());
}

#[test]
fn files_fit_one_idea() {
    let mut files = Vec::new();
    rust_files(&root().join("src"), &mut files);
    let over: BTreeMap<&str, usize> = FILES_OVER.iter().copied().collect();
    let mut problems = Vec::new();
    for path in &files {
        let rel = relative(path);
        let lines = fs::read_to_string(path).unwrap().lines().count();
        let max = over.get(rel.as_str()).copied().unwrap_or(FILE_LINES_MAX);
        if lines > max {
            problems.push(format!("{rel}: {lines} lines (at most {max})"));
        }
    }
    for (listed, _) in FILES_OVER {
        let lines = fs::read_to_string(root().join(listed)).map_or(0, |t| t.lines().count());
        if lines <= FILE_LINES_MAX {
            problems.push(format!(
                "{listed}: {lines} lines now: delete its line from FILES_OVER"
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "files over their length (split them by idea):\n{}",
        problems.join("\n")
    );
}

/// The systems: the folders under `src/systems/` other than `components`.
fn system_names() -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(root().join("src/systems"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .filter(|n| n != "components")
        .collect();
    names.sort();
    names
}

/// Whether a line of code names module `name` (`name::…`, `mod name`, `use …name…`).
fn names_module(line: &str, name: &str) -> bool {
    let bytes = line.as_bytes();
    line.match_indices(name).any(|(at, _)| {
        let before = at.checked_sub(1).map(|i| bytes[i]);
        let after = &line[at + name.len()..];
        let word_start = !before.is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_');
        let listed = line.trim_start().starts_with("use ")
            && (after.starts_with(',') || after.starts_with('}') || after.starts_with(';'));
        let path = after.starts_with("::") || listed || line.trim_start().starts_with("pub mod ");
        let quoted = before == Some(b'"') || before == Some(b'`');
        word_start && path && !quoted
    })
}

#[test]
fn a_system_is_named_only_in_its_folder_and_the_registry() {
    let mut files = Vec::new();
    rust_files(&root().join("src"), &mut files);
    let names = system_names();
    assert!(names.len() >= 4, "the systems are found: {names:?}");
    let mut problems = Vec::new();
    for path in &files {
        let rel = relative(path);
        if rel == "src/systems/mod.rs" {
            continue; // the registry
        }
        let text = fs::read_to_string(path).unwrap();
        for (line_no, line) in code_lines(&text) {
            for name in &names {
                let own = rel.starts_with(&format!("src/systems/{name}/"));
                if !own && names_module(line, name) {
                    problems.push(format!("{rel}:{line_no}: names system `{name}`: {line}"));
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        "a system reaches the rest of faultline only through the registry; these files name one:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_system_name_check_sees_paths() {
    assert!(names_module("use crate::systems::saga::Saga;", "saga"));
    assert!(names_module("    let x = saga::Bug::NoSagaLog;", "saga"));
    assert!(names_module("pub mod saga;", "saga"));
    assert!(names_module("use crate::systems::{outbox, saga};", "saga"));
    assert!(!names_module("let group = \"the saga log\";", "saga"));
    assert!(!names_module("let s = \"saga::x\";", "saga"));
    assert!(!names_module("use crate::systems::sagas::X;", "saga"));
    assert!(!names_module("fn saga_atomicity() {}", "saga"));
}
