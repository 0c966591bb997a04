//! The timeline of real seeds: what the page and the overview must show.
//!
//! Each test runs a seed through the library, exactly as `faultline replay` does, renders
//! it, and checks the output's content: lanes, operation bars, highlights, escaping,
//! structure, determinism.

use std::path::Path;
use std::sync::Arc;

use faultline::check::Verdict;
use faultline::history::{Status, Value};
use faultline::plan::AnyPlan;
use faultline::report::timeline::{render_html, render_svg, MESSAGES_SHOWN_MAX};
use faultline::runner::{self, SeedJob};
use faultline::scenario::Scenario;
use faultline::sim::trace::Event;
use faultline::systems::Execution;

const ALL_FAULTS: &str = "scenarios/kv_register/all_faults.toml";
const NO_DEDUP: &str = "scenarios/kv_register/bug_no_dedup.toml";
const NO_FSYNC: &str = "scenarios/kv_register/bug_no_fsync.toml";

/// Run one seed at full trace level and keep its plan and execution.
fn run(path: &str, seed: u64) -> (Scenario, Box<dyn AnyPlan>, Execution) {
    let scenario = Arc::new(
        Scenario::load(Path::new(path), &faultline::systems::REGISTRY).expect("scenario loads"),
    );
    let job = SeedJob {
        scenario: scenario.clone(),
        scenario_index: 0,
        seed: faultline::plan::SeedId::Plain(seed),
        check_determinism: false,
        keep: true,
        options: runner::full_options(),
    };
    let result = runner::on_fresh_thread(seed, move || runner::run_seed(&job))
        .expect("the seed runs without a harness failure");
    let (plan, exec) = result.kept.expect("the job keeps its execution");
    ((*scenario).clone(), plan, exec)
}

fn count(haystack: &str, needle: &str) -> usize {
    haystack.matches(needle).count()
}

/// Opening and closing tags of `tag` (an opening tag is `<tag` then a space or `>`).
fn tag_balance(text: &str, tag: &str) -> (usize, usize) {
    let open = count(text, &format!("<{tag} ")) + count(text, &format!("<{tag}>"));
    let close = count(text, &format!("</{tag}>"));
    (open, close)
}

/// The values of every `attr="..."` in `text`.
fn attribute_values<'a>(text: &'a str, attr: &str) -> Vec<&'a str> {
    let key = format!("{attr}=\"");
    text.match_indices(&key)
        .map(|(at, _)| {
            let rest = &text[at + key.len()..];
            &rest[..rest.find('"').unwrap_or(rest.len())]
        })
        .collect()
}

/// HTML escaping as the page does it.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn status_class(status: Status) -> &'static str {
    match status {
        Status::Ok => "ok",
        Status::Fail => "fail",
        Status::Info => "info",
    }
}

#[test]
fn every_process_has_a_lane_and_every_operation_a_bar() {
    let (scenario, plan, exec) = run(ALL_FAULTS, 1);
    let html = render_html(&scenario, &*plan, &exec);

    // One named lane per process, plus the network lane.
    for node in &plan.head().nodes {
        assert_eq!(
            count(&html, &format!("data-lane=\"{}\"", node.name)),
            1,
            "lane of {}",
            node.name
        );
    }
    assert_eq!(
        count(&html, "class=\"lane-name "),
        plan.head().nodes.len() + 1
    );
    assert_eq!(count(&html, "data-lane=\"network\""), 1);

    // One bar per history operation, with its status as a class.
    assert!(!exec.history.ops.is_empty());
    assert_eq!(count(&html, "<rect id=\"op-"), exec.history.ops.len());
    for (i, op) in exec.history.ops.iter().enumerate() {
        let bar = format!("id=\"op-{i}\" class=\"op {}", status_class(op.status));
        assert_eq!(count(&html, &bar), 1, "bar of op {i}: {bar}");
    }

    // Faults: a band per partition and per crash that the trace records.
    let faults = |name: &str| {
        exec.trace
            .events()
            .filter(|e| match &e.event {
                Event::Fault { fault } => serde_json::to_value(fault)
                    .ok()
                    .and_then(|v| v.get("action").and_then(|a| a.as_str()).map(|a| a == name))
                    .unwrap_or(false),
                _ => false,
            })
            .count()
    };
    assert!(faults("partition") > 0 && faults("crash") > 0 && faults("pause") > 0);
    assert_eq!(count(&html, "<rect class=\"part\""), faults("partition"));
    assert_eq!(count(&html, "<rect class=\"down\""), faults("crash"));
    assert_eq!(count(&html, "<rect class=\"pause\""), faults("pause"));
    assert_eq!(count(&html, "<rect class=\"clog\""), faults("clog"));

    // Every message and duplicate copy is a line, or a stub when dropped at the sender.
    let sent = exec
        .trace
        .events()
        .filter(|e| matches!(e.event, Event::Send { .. } | Event::Duplicate { .. }))
        .count();
    assert_eq!(
        count(&html, "<line class=\"m ") + count(&html, "<use href=\"#m-stub-"),
        sent
    );
    assert_eq!(
        html.contains("id=\"plot\" class=\"dense\""),
        sent > MESSAGES_SHOWN_MAX
    );

    // The header: verdict, checks, replay command, probes.
    assert!(html.contains("<title>kv_register-all-faults · seed 1 · "));
    for check in &exec.checks {
        assert!(html.contains(&format!("<th>{}</th>", check.check)));
    }
    assert!(html.contains("faultline replay scenarios/kv_register/all_faults.toml --seed 1"));
    for probe in exec.probes.keys() {
        assert!(html.contains(probe), "probe {probe}");
    }
}

#[test]
fn operations_named_by_a_failing_check_are_highlighted_and_listed() {
    let (scenario, plan, exec) = run(NO_DEDUP, 0);
    let failing: Vec<_> = exec
        .checks
        .iter()
        .filter(|c| c.verdict == Verdict::Violation && !c.ops.is_empty())
        .collect();
    assert!(
        failing.iter().any(|c| c.check == "durability"),
        "the durability check fails with operations: {:?}",
        exec.checks
    );
    let html = render_html(&scenario, &*plan, &exec);
    let mut flagged: Vec<usize> = failing.iter().flat_map(|c| c.ops.clone()).collect();
    flagged.sort_unstable();
    flagged.dedup();
    for &op in &flagged {
        let status = status_class(exec.history.ops[op].status);
        assert!(
            html.contains(&format!("id=\"op-{op}\" class=\"op {status} hl\"")),
            "op {op} highlighted"
        );
        assert!(
            html.contains(&format!("data-jump=\"op-{op}\"")),
            "jump to op {op}"
        );
    }
    assert_eq!(count(&html, " hl\""), flagged.len());
    assert!(html.contains("id=\"next-flag\""));
    assert!(html.contains("class=\"verdict v-violation\""));
}

#[test]
fn a_panic_and_unknown_outcomes_are_drawn() {
    let (scenario, plan, exec) = run(NO_FSYNC, 1);
    let panic = exec.panic.as_ref().expect("bug_no_fsync seed 1 panics");
    let html = render_html(&scenario, &*plan, &exec);
    assert!(html.contains("id=\"panic-mark-0\""));
    assert!(html.contains("class=\"panic-line\""));
    // The message is quoted Rust debug output: it must appear escaped, never raw.
    assert!(panic.message.contains('"'));
    let escaped = escape(&panic.message);
    assert!(html.contains(&escaped), "escaped panic message");
    assert!(!html.contains(&panic.message));

    let unknown = exec
        .history
        .ops
        .iter()
        .filter(|o| o.status == Status::Info)
        .count();
    assert!(unknown > 0, "some operation never returned");
    assert_eq!(count(&html, "class=\"op info"), unknown);
    assert!(html.contains("never returned: unknown outcome"));

    let svg = render_svg(&scenario, &*plan, &exec);
    assert!(svg.contains("panic"));
}

#[test]
fn text_from_the_run_is_escaped() {
    let (scenario, plan, mut exec) = run(NO_DEDUP, 0);
    let hostile = "<script>alert(\"x\" & 'y')</script>";
    exec.history.ops[0].input = Value::Str(hostile.into());
    let end = exec.end_ns;
    exec.trace.push(
        end,
        Event::Panic {
            node: 0,
            message: hostile.into(),
        },
    );
    exec.trace.push(
        end,
        Event::Note {
            node: 1,
            label: "<term>",
            value: 3,
        },
    );

    let html = render_html(&scenario, &*plan, &exec);
    assert_eq!(count(&html, "<script"), 1, "only the page's own script");
    assert!(html.contains("&lt;script&gt;alert(\\&quot;x\\&quot; &amp; &#39;y&#39;)"));
    assert!(html.contains("&lt;term&gt; = 3"));
    // Message contents (Rust debug text with quotes) are escaped too.
    assert!(html.contains("key: &quot;k"));
    for value in attribute_values(&html, "data-tip") {
        assert!(!value.contains('<') && !value.contains('>'), "{value}");
    }

    let svg = render_svg(&scenario, &*plan, &exec);
    assert!(!svg.contains("<script"));
}

#[test]
fn the_page_is_well_formed_and_self_contained() {
    let (scenario, plan, exec) = run(ALL_FAULTS, 1);
    let html = render_html(&scenario, &*plan, &exec);
    assert!(html.starts_with("<!doctype html>"));
    for tag in [
        "html", "head", "body", "svg", "g", "script", "style", "table", "header", "nav",
    ] {
        let (open, close) = tag_balance(&html, tag);
        assert!(open > 0, "<{tag}> present");
        assert_eq!(open, close, "<{tag}> balanced");
    }
    // Offline: nothing is fetched.
    for external in ["src=\"http", "href=\"http", "@import", "url(http"] {
        assert!(!html.contains(external), "{external}");
    }
    // Three SVGs make the chart: the axis, the lane names, the plot; then one per chart
    // below it: latency, throughput and the system's gauge (kv_register: replication lag).
    assert_eq!(count(&html, "<svg "), 3 + 3);
    assert_eq!(count(&html, "<figure class=\"chart\""), 3);
    assert!(html.contains("data-title=\"replication lag of the slowest backup (entries)\""));

    let svg = render_svg(&scenario, &*plan, &exec);
    assert!(svg.starts_with("<svg"));
    assert_eq!(tag_balance(&svg, "svg"), (1, 1));
    assert_eq!(count(&svg, "<text"), count(&svg, "</text>"));
    for node in &plan.head().nodes {
        assert!(
            svg.contains(&format!("\n{}\n</text>", node.name)),
            "overview lane {}",
            node.name
        );
    }
    assert!(svg.contains("simulated time (ms)"));
}

#[test]
fn the_same_execution_renders_to_the_same_bytes() {
    let (scenario, plan, exec) = run(NO_DEDUP, 0);
    let html = render_html(&scenario, &*plan, &exec);
    let svg = render_svg(&scenario, &*plan, &exec);
    assert_eq!(html, render_html(&scenario, &*plan, &exec));
    assert_eq!(svg, render_svg(&scenario, &*plan, &exec));

    // And a second run of the seed, on its own thread, renders identically too.
    let (scenario2, plan2, exec2) = run(NO_DEDUP, 0);
    assert!(html == render_html(&scenario2, &*plan2, &exec2));
    assert!(svg == render_svg(&scenario2, &*plan2, &exec2));
}

/// The names a script declares (`function f`, `const x`, `let y`, `class C`), per block
/// scope, with the line of each: strings, template literals, comments and regular
/// expression literals are skipped, so their braces do not count. A `for (…)` header's
/// declarations belong to the loop's block.
fn declarations_per_scope(js: &str) -> Vec<Vec<(String, usize)>> {
    let b = js.as_bytes();
    let (mut i, mut line) = (0, 1);
    let mut stack: Vec<Vec<(String, usize)>> = vec![Vec::new()];
    let mut done = Vec::new();
    let mut pending_for: Vec<(String, usize)> = Vec::new();
    let mut in_for_header: Option<usize> = None; // paren depth of an open `for (`
    let mut parens = 0usize;
    let mut for_body_next = false;
    let mut prev_sig = b'{'; // last significant byte, to tell a regex from a division
    let mut prev_word = String::new();
    let is_ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c == b'$';
    while i < b.len() {
        let c = b[i];
        match c {
            b'\n' => {
                line += 1;
                i += 1;
                continue;
            }
            b' ' | b'\t' | b'\r' => {
                i += 1;
                continue;
            }
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i + 1 < b.len() && !(b[i] == b'*' && b[i + 1] == b'/') {
                    line += usize::from(b[i] == b'\n');
                    i += 1;
                }
                i += 2;
                continue;
            }
            b'"' | b'\'' | b'`' => {
                i += 1;
                while i < b.len() && b[i] != c {
                    line += usize::from(b[i] == b'\n');
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
                prev_sig = b'"';
                continue;
            }
            b'/' if b"(,=:[!&|?{};".contains(&prev_sig) || prev_word == "return" => {
                i += 1;
                while i < b.len() && b[i] != b'/' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
                prev_sig = b'"';
                continue;
            }
            _ => {}
        }
        if for_body_next && c != b'{' {
            // A loop body without braces: its header's names end with it.
            pending_for.clear();
        }
        for_body_next = false;
        if is_ident(c) {
            let start = i;
            while i < b.len() && is_ident(b[i]) {
                i += 1;
            }
            let word = &js[start..i];
            if ["function", "const", "let", "class"].contains(&prev_word.as_str())
                && !word.chars().next().unwrap().is_ascii_digit()
            {
                let decl = (word.to_string(), line);
                if in_for_header.is_some() {
                    pending_for.push(decl);
                } else {
                    stack.last_mut().unwrap().push(decl);
                }
            }
            if word == "for" {
                in_for_header = Some(parens);
            }
            prev_word = word.to_string();
            prev_sig = b'a';
            continue;
        }
        match c {
            b'(' => parens += 1,
            b')' => {
                parens = parens.saturating_sub(1);
                if in_for_header == Some(parens) {
                    in_for_header = None;
                    for_body_next = true;
                }
            }
            b'{' => stack.push(std::mem::take(&mut pending_for)),
            b'}' if stack.len() > 1 => done.push(stack.pop().unwrap()),
            _ => {}
        }
        prev_word.clear();
        prev_sig = c;
        i += 1;
    }
    done.extend(stack);
    done
}

/// Names declared twice in one scope: in a browser's sloppy or strict function scope the
/// later `function f` silently replaces the earlier one (the timeline's overlay once
/// stopped moving on zoom that way).
fn duplicate_declarations(js: &str) -> Vec<String> {
    let mut found = Vec::new();
    for scope in declarations_per_scope(js) {
        let mut seen: std::collections::BTreeMap<&str, usize> = Default::default();
        for (name, line) in &scope {
            if let Some(first) = seen.insert(name, *line) {
                found.push(format!(
                    "`{name}` declared on line {first} and again on line {line}"
                ));
            }
        }
    }
    found
}

#[test]
fn the_page_script_declares_each_name_once_per_scope() {
    let js = std::fs::read_to_string("src/report/timeline/page.js").unwrap();
    let scopes = declarations_per_scope(&js);
    let names: usize = scopes.iter().map(Vec::len).sum();
    assert!(names > 40, "the scanner found only {names} declarations");
    assert_eq!(duplicate_declarations(&js), Vec::<String>::new());
    // The scanner itself: a duplicate in one scope is found (with its lines), the same name
    // in two scopes is not, and braces in strings, comments and regexes do not open scopes.
    let bad = "(function () {\n  function place(a) {}\n  const s = \"{\"; // {\n  const r = /[{]/;\n  function place(e) {}\n})();";
    assert_eq!(
        duplicate_declarations(bad),
        vec!["`place` declared on line 2 and again on line 5".to_string()]
    );
    let fine = "function a() { const x = 1; }\nfunction b() { const x = 2; for (const i of y) {} for (const i of z) {} }\nfor (const j of y) f(j);\nfor (const j of z) g(j);";
    assert_eq!(duplicate_declarations(fine), Vec::<String>::new());
}

/// The charts' legends sit in the margin right of the plot, never over the data: every
/// legend label is right of every data point.
#[test]
fn chart_legends_never_cover_the_data() {
    let (scenario, plan, exec) = run("scenarios/kv_register/bug_follower_reads.toml", 0);
    let html = render_html(&scenario, &*plan, &exec);
    let charts: Vec<&str> = html.split("<figure class=\"chart\"").skip(1).collect();
    assert!(charts.len() >= 2, "{} charts", charts.len());
    let number = |tag: &str, attr: &str| -> Option<f64> {
        let at = tag.find(&format!(" {attr}=\""))? + attr.len() + 3;
        tag[at..].split('"').next()?.parse().ok()
    };
    for chart in charts {
        let svg = &chart[..chart.find("</figure>").unwrap()];
        let data_right = svg
            .split("<circle")
            .skip(1)
            .filter(|c| c.contains(" r=\"2\""))
            .filter_map(|c| number(c, "cx"))
            .fold(f64::MIN, f64::max);
        let labels: Vec<f64> = svg
            .split("<text")
            .skip(1)
            // Legend labels are the text drawn in the legend's colour.
            .filter(|t| t.contains("fill=\"#334155\""))
            .filter_map(|t| number(t, "x"))
            .collect();
        assert!(
            !labels.is_empty(),
            "a legend in: {}",
            &svg[svg.len().saturating_sub(600)..]
        );
        for x in labels {
            assert!(
                x > data_right + 10.0,
                "a legend label at x {x}, data up to {data_right}"
            );
        }
    }
}

/// A branched run's timeline marks its branch time: a line across the plot and a label on
/// the axis, both at that time; a plain seed's has neither.
#[test]
fn a_branched_run_is_marked_at_its_branch_time() {
    let scenario = Arc::new(
        Scenario::load(Path::new(ALL_FAULTS), &faultline::systems::REGISTRY).expect("loads"),
    );
    let id = faultline::plan::SeedId::branched(3, 9, 700).expect("encodable");
    let job = SeedJob {
        scenario: scenario.clone(),
        scenario_index: 0,
        seed: id,
        check_determinism: false,
        keep: true,
        options: runner::full_options(),
    };
    let result = runner::on_fresh_thread(3, move || runner::run_seed(&job)).expect("runs");
    let (plan, exec) = result.kept.expect("kept");
    let html = render_html(&scenario, &*plan, &exec);
    assert!(
        html.contains(
            "<line id=\"branch-line\" class=\"branch-line\" x1=\"700\" x2=\"700\" y1=\"0\""
        ),
        "the line at 700 ms"
    );
    let label = html
        .find("class=\"lbl phase-name branch\"")
        .expect("the axis label");
    let tag = &html[label..label + html[label..].find('>').unwrap()];
    assert_eq!(attribute_values(tag, "data-t"), ["700"], "{tag}");
    let (_, plan, exec) = run(ALL_FAULTS, 3);
    let plain = render_html(&scenario, &*plan, &exec);
    assert!(!plain.contains("id=\"branch-line\"") && !plain.contains("lbl phase-name branch"));
}
