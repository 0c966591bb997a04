//! The timeline of one seed: `timeline.html` to explore, `timeline.svg` to glance at.
//!
//! A trace of a few thousand events is unreadable as text but easy to read as a picture
//! in the style of Jepsen's `timeline.html` and Porcupine's visualisation: time runs left
//! to right, each process has a lane, and what matters is drawn where it happened.
//!
//! * **Lanes.** A `network` lane on top for partitions (labelled with their shape; the
//!   cut links in the tooltip) and clogged links; then one lane per process, named as in
//!   the plan: servers, infrastructure, clients. The chaos and heal phases shade the
//!   background.
//! * **Processes.** A crash is a hatched band until the process has booted again (the
//!   tooltip says what the crash did to unsynced writes); a pause is a band until it
//!   resumes; a partition marks every lane it cuts with a red strip, a clog the lanes of
//!   both ends with an orange one. A panic is a red marker with its message, and a red
//!   line across all lanes, since it stops the run. Notes and restarts are small markers.
//! * **Operations.** Each history operation is a bar on its client's lane from invocation
//!   to return, green when ok, red when it failed, and fading out to the end of the run
//!   when its outcome is unknown (it may take effect at any time after its call).
//!   Operations named by a failing check are outlined in violet and listed in the
//!   header, where a click jumps to them.
//! * **Messages.** A line from the sender's lane at the send to the receiver's lane at the
//!   delivery; a dropped message ends in a cross (a message dropped at the sender is a
//!   short stub with a cross), a duplicate copy is dashed, a message held back by
//!   reordering or a clog is dotted. They can be filtered by label and hidden. When more
//!   than [`MESSAGES_SHOWN_MAX`] are in view, their density per lane replaces the lines
//!   (zoom in and the lines come back), so a run of 10,000+ messages stays responsive.
//! * **Charts** below the lanes: latency, throughput and the system's gauges over time,
//!   with the faults behind them (`charts`).
//!
//! A failing seed's page opens on the window around its first highlighted operation;
//! `fit` (or `0`) shows the whole run.
//!
//! # Using the page
//!
//! Open `reports/replays/<scenario>/<seed>/timeline.html` in any browser; it needs no network.
//! Zoom with the toolbar, with ctrl+wheel (around the pointer) or with `+`, `-` and `0`
//! (fit); scroll sideways. Hover anything for its details, click to pin the tooltip (to
//! copy from it), `Esc` to let go. The header's operation buttons and `n` jump to the
//! highlighted operations. `m` shows or hides messages. A view can be linked:
//! `timeline.html#t=300-450` opens on that window (ms), `timeline.html#op=12` on one
//! operation.
//!
//! # How the page stays fast
//!
//! Everything is plain SVG written here, once; the page's script only reacts to the
//! zoom. Geometry that may stretch (bars, bands, message lines) lives in one group
//! drawn in milliseconds and scaled horizontally by a single `transform`, with
//! `vector-effect: non-scaling-stroke` so outlines keep their width; what must not stretch
//! (markers and text) sits in an overlay whose `x` the script recomputes on zoom from
//! each element's `data-t`. Tooltips come from one delegated listener reading `data-tip`,
//! and filters toggle one class on the `<svg>` (CSS does the hiding), so no handler is
//! attached per element. The axis and gridlines are redrawn for the zoom level.
//!
//! # The static overview
//!
//! `timeline.svg` ([`render_svg`]) is drawn with `plotters` and its SVG backend. Without
//! a font feature (`ttf`, `ab_glyph`), plotters falls back to a naive font module whose
//! text metrics are rough estimates — enough for an SVG, where the viewer lays the text
//! out anyway: the backend writes `<text>` elements and escapes their content. So the
//! overview uses plotters for everything, axis labels and lane names included, and adds
//! no font or system dependency.
//!
//! # Determinism
//!
//! The same execution renders to the same bytes: the model is built in trace order with
//! `Vec`s and `BTreeMap`s, numbers are formatted with fixed precision, and nothing reads
//! the clock.

mod charts;
mod html;
mod model;
mod overview;

use crate::history::{Operation, Value};
use crate::plan::AnyPlan;
use crate::scenario::Scenario;
use crate::systems::Execution;

pub use model::{Fate, Model};

/// Above this many messages in view (copies included), the page draws their density
/// instead of one line each.
pub const MESSAGES_SHOWN_MAX: usize = 2000;

/// Render the timeline page: one self-contained HTML file, no external resources.
pub fn render_html(scenario: &Scenario, plan: &dyn AnyPlan, exec: &Execution) -> String {
    let model = Model::build(plan, exec);
    html::render(scenario, plan, exec, &model)
}

/// Render the static overview (`timeline.svg`): lanes, operations by status, down
/// intervals, pauses, partitions and clogs, panics. No messages, no interaction.
pub fn render_svg(scenario: &Scenario, plan: &dyn AnyPlan, exec: &Execution) -> String {
    let model = Model::build(plan, exec);
    overview::render(scenario, plan, exec, &model)
}

/// Escape text for HTML/SVG content and attribute values (quoted with `"`).
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Attribute values keep their line breaks (tooltips have several lines).
            '\n' => out.push_str("&#10;"),
            '\r' => {}
            '\t' => out.push(' '),
            c if c.is_control() => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// `text` escaped for HTML, with each operation it names (`#12`, an index below `ops`)
/// made a link to `<base>#op=12`, which opens the timeline on that operation.
pub(crate) fn link_ops(text: &str, base: &str, ops: usize) -> String {
    let mut out = String::with_capacity(text.len() + 64);
    let mut rest = text;
    while let Some(at) = rest.find('#') {
        out.push_str(&esc(&rest[..at]));
        let digits = rest[at + 1..]
            .bytes()
            .take_while(u8::is_ascii_digit)
            .count();
        let number = &rest[at + 1..at + 1 + digits];
        match number.parse::<usize>() {
            Ok(i) if i < ops => out.push_str(&format!(
                "<a class=\"op-link\" href=\"{}#op={i}\">#{i}</a>",
                esc(base)
            )),
            _ => out.push_str(&esc(&rest[at..at + 1 + digits])),
        }
        rest = &rest[at + 1 + digits..];
    }
    out.push_str(&esc(rest));
    out
}

/// A coordinate with at most three decimals (µs in ms units), trailing zeros trimmed.
pub(crate) fn num(x: f64) -> String {
    let s = format!("{:.3}", if x.is_finite() { x } else { 0.0 });
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".into()
    } else {
        s.into()
    }
}

/// A partition's name: `#3` for the schedule's third, `aimed #1` for an aimed fault's
/// isolation (whose ids start at `plan::aims::PARTITION_ID_BASE`).
pub(crate) fn partition_name(id: u32) -> String {
    match id.checked_sub(crate::plan::aims::PARTITION_ID_BASE) {
        Some(k) => format!("aimed #{}", k + 1),
        None => format!("#{id}"),
    }
}

/// A time in ms for people: `1234.567 ms`.
pub(crate) fn ms_text(t: f64) -> String {
    format!("{t:.3} ms")
}

/// A value as JSON (`"0.1;"`, `[1,2]`, `null`).
pub(crate) fn value_text(v: &Value) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| format!("{v:?}"))
}

/// Shorten to `max` characters, keeping both ends (appended values grow at the end).
pub(crate) fn shorten(s: &str, max: usize) -> String {
    let n = s.chars().count();
    if n <= max || max < 5 {
        return s.to_string();
    }
    let head = (max - 1) / 3;
    let tail = max - 1 - head;
    let start: String = s.chars().take(head).collect();
    let end: String = s.chars().skip(n - tail).collect();
    format!("{start}…{end}")
}

/// The compact label of an operation: `append k1 "2.7;"`, `get k0 → "0.1;"`.
pub(crate) fn op_label(op: &Operation) -> String {
    let mut label = op.f.name().to_string();
    if let Some(key) = &op.key {
        label.push(' ');
        label.push_str(&shorten(key, 12));
    }
    if op.input != Value::Nil {
        label.push(' ');
        label.push_str(&shorten(&value_text(&op.input), 18));
    }
    if op.output != Value::Nil {
        label.push_str(" → ");
        label.push_str(&shorten(&value_text(&op.output), 22));
    }
    label
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Func;

    #[test]
    fn escaping_covers_markup_quotes_and_breaks() {
        assert_eq!(
            esc("a<b>&\"c\"\n'd'"),
            "a&lt;b&gt;&amp;&quot;c&quot;&#10;&#39;d&#39;"
        );
    }

    #[test]
    fn operations_named_in_findings_become_links() {
        assert_eq!(
            link_ops("#3 c1 get -> \"<a>\"; #99 and #x", "t.html", 10),
            "<a class=\"op-link\" href=\"t.html#op=3\">#3</a> c1 get -&gt; &quot;&lt;a&gt;&quot;; #99 and #x"
        );
    }

    #[test]
    fn numbers_are_short_and_stable() {
        assert_eq!(num(12.0), "12");
        assert_eq!(num(12.34567), "12.346");
        assert_eq!(num(-0.0001), "0");
        assert_eq!(num(f64::NAN), "0");
    }

    #[test]
    fn long_values_keep_both_ends() {
        assert_eq!(shorten("abcdef", 10), "abcdef");
        let s = shorten("0.1;0.2;0.3;0.4;0.5;0.6;", 10);
        assert_eq!(s.chars().count(), 10);
        assert!(s.starts_with("0.1") && s.ends_with("0.6;"), "{s}");
    }

    #[test]
    fn op_labels_are_compact() {
        let op = Operation {
            client: 3,
            call: 1,
            ret: Some(2),
            status: crate::history::Status::Ok,
            f: Func::Get,
            key: Some("k0".into()),
            input: Value::Nil,
            output: Value::Str("0.1;".into()),
        };
        assert_eq!(op_label(&op), "get k0 → \"0.1;\"");
    }
}
