//! The page: a header that says what happened, a toolbar, and the lanes.
//!
//! The page is a grid inside one scrolling box: a sticky lane-name column on the left, a
//! sticky time axis on top, and the plot. The plot has three layers, bottom to top:
//!
//! 1. `#bg` and `#gridlines` in pixels (lane stripes; gridlines drawn by the script);
//! 2. `#world`, in milliseconds, scaled by one `transform` on zoom: phases, bands,
//!    operation bars, message lines;
//! 3. `#overlay`, in pixels: text and markers, whose `x` the script sets from `data-t`.
//!
//! Positions written here are those of the initial zoom ([`INITIAL_WIDTH`] pixels for the
//! whole run), so the page is already right before the script runs; the script then fits
//! the run to the window.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::{self, Write as _};

use super::model::{
    drop_reason, hold_reason, shape_name, status_name, ClogSpan, Fate, Mark, Message, Model,
    NodeSpan, OpBar, PartitionSpan, NET_ROW_H, ROW_H,
};
use super::{esc, ms_text, num, op_label, partition_name, value_text, MESSAGES_SHOWN_MAX};
use crate::check::Verdict;
use crate::history::{Operation, Status, Value};
use crate::plan::{AnyPlan, Role, SeedId};
use crate::scenario::Scenario;
use crate::systems::Execution;

/// Width of the lane-name column (px).
const LABEL_W: f64 = 120.0;
/// Height of the time axis (px).
const AXIS_H: f64 = 38.0;
/// Space left of time 0 inside the plot (px).
const PAD: f64 = 12.0;
/// Space right of the end inside the plot (px): room for a marker's label at the end.
const PAD_RIGHT: f64 = 70.0;
/// Space between the start of a bar and its label (px).
const LABEL_DX: f64 = 3.0;
/// Width of the whole run at the initial zoom (px).
const INITIAL_WIDTH: f64 = 1400.0;
/// Characters of a message's content shown in its tooltip; a catch-up message can carry
/// kilobytes, which would bloat the page, and `trace.jsonl` has the whole text.
const MESSAGE_TEXT_MAX: usize = 1200;
/// How many operations of one check the header lists as jump buttons.
const JUMPS_PER_CHECK_MAX: usize = 40;
/// Colours of message labels, by label index (wraps around).
const MESSAGE_COLOURS: [&str; 8] = [
    "#2563eb", "#0d9488", "#9333ea", "#db2777", "#65a30d", "#c2410c", "#0891b2", "#4f46e5",
];

const CSS: &str = include_str!("page.css");
const JS: &str = include_str!("page.js");

/// A `String` written with `w!`: formatting into a `String` cannot fail.
struct Out(String);

impl Out {
    /// Append formatted text.
    fn w(&mut self, args: fmt::Arguments<'_>) {
        // `fmt::Write for String` never returns an error.
        let _ = self.0.write_fmt(args);
    }
    /// Append `s` as it is.
    fn s(&mut self, s: &str) {
        self.0.push_str(s);
    }
}

macro_rules! w {
    ($out:expr, $($arg:tt)*) => { $out.w(format_args!($($arg)*)) };
}

/// The page's top: what ran, how it ended, what happened on the way.
#[path = "summary.rs"]
mod summary;

/// Everything the writers need at hand.
struct Ctx<'a> {
    plan: &'a dyn AnyPlan,
    exec: &'a Execution,
    model: &'a Model,
    /// Pixels per millisecond at the initial zoom.
    k: f64,
}

impl Ctx<'_> {
    /// A process's name: from the plan, else its lane's (a client the plan does not name).
    fn name(&self, node: usize) -> String {
        match (self.plan.head().nodes.get(node), self.model.lane_of(node)) {
            (Some(n), _) => n.name.clone(),
            (None, Some(lane)) => lane.name.clone(),
            (None, None) => format!("#{node}"),
        }
    }

    /// A branched run's branch time (ms): its parent's run before it, its own after.
    fn branch_ms(&self) -> Option<f64> {
        match self.plan.head().id() {
            SeedId::Branched { at_ms, .. } => Some(at_ms as f64),
            SeedId::Plain(_) | SeedId::Guided { .. } => None,
        }
    }

    /// Overlay x of time `t` at the initial zoom.
    fn x(&self, t: f64) -> String {
        num(PAD + t * self.k)
    }
}

/// Render the page.
pub fn render(scenario: &Scenario, plan: &dyn AnyPlan, exec: &Execution, model: &Model) -> String {
    let ctx = Ctx {
        plan,
        exec,
        model,
        k: INITIAL_WIDTH / model.end_ms,
    };
    let mut o = Out(String::with_capacity(
        64 * 1024 + 300 * model.messages.len(),
    ));
    let verdict = Verdict::name(exec.verdict);
    o.s("<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    o.s("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    w!(
        o,
        "<title>{} · seed {} · {} — faultline timeline</title>\n",
        esc(&scenario.name),
        plan.head().id(),
        verdict.to_uppercase()
    );
    o.s("<style>\n");
    o.s(CSS);
    // One rule per message label: the filter toggles a class on the plot, CSS hides.
    for (i, colour) in (0..model.labels.len()).map(|i| (i, MESSAGE_COLOURS[i % 8])) {
        w!(
            o,
            "#plot.hide-l{i} .ml{i}{{display:none}}\n.ml{i}{{stroke:{colour};color:{colour}}}\n"
        );
    }
    o.s("</style>\n</head>\n<body>\n");
    summary::header(&mut o, &ctx, scenario);
    toolbar(&mut o, &ctx);
    chart(&mut o, &ctx);
    charts(&mut o, &ctx);
    o.s("<div id=\"tip\" role=\"tooltip\" hidden></div>\n");
    w!(
        o,
        "<script>\nconst TIMELINE = {{end: {}, linesMax: {MESSAGES_SHOWN_MAX}, pad: {}, padRight: {}, labelW: {}, k0: {}}};\n",
        num(model.end_ms),
        num(PAD),
        num(PAD_RIGHT),
        num(LABEL_W),
        ctx.k
    );
    o.s(JS);
    o.s("</script>\n</body>\n</html>\n");
    o.0
}

/// The toolbar: zoom, jumps to highlighted operations, message and fsync filters, legend.
fn toolbar(o: &mut Out, c: &Ctx<'_>) {
    let m = c.model;
    o.s("<nav id=\"toolbar\">\n");
    o.s("<span class=\"group\"><button id=\"zoom-out\" title=\"zoom out (-)\">−</button><button id=\"zoom-in\" title=\"zoom in (+)\">+</button><button id=\"zoom-fit\" title=\"fit the run (0)\">fit</button><span id=\"zoom-level\" class=\"muted\"></span></span>\n");
    let flagged = m.ops.iter().filter(|b| !b.flagged_by.is_empty()).count();
    if flagged > 0 {
        w!(
            o,
            "<span class=\"group\"><button id=\"next-flag\" title=\"next highlighted operation (n)\">next highlighted ▸</button> <span class=\"muted\">{flagged} highlighted</span></span>\n"
        );
        o.s("<span id=\"opening-view\" class=\"group muted\" hidden>opened on the first highlighted operation: <b>fit</b> (or 0) shows the whole run</span>\n");
    }
    w!(
        o,
        "<span class=\"group\"><label><input type=\"checkbox\" id=\"show-msgs\" checked> messages ({})</label>",
        m.messages.len()
    );
    for (i, label) in m.labels.iter().enumerate() {
        let count = m.messages.iter().filter(|x| x.label == i).count();
        w!(
            o,
            " <label class=\"lf ml{i}\"><input type=\"checkbox\" class=\"label-filter\" data-label=\"{i}\" checked><i></i>{} <span class=\"muted\">{count}</span></label>",
            esc(label)
        );
    }
    o.s("</span>\n");
    w!(
        o,
        "<span class=\"group\"><label><input type=\"checkbox\" id=\"show-syncs\"> fsyncs ({})</label></span>\n",
        m.syncs.len()
    );
    o.s("<span class=\"group legend\"><i class=\"sw ok\"></i>ok <i class=\"sw fail\"></i>fail <i class=\"sw info\"></i>unknown <i class=\"sw flag\"></i>highlighted <i class=\"sw down\"></i>down <i class=\"sw pause\"></i>paused <i class=\"sw part\"></i>partition <i class=\"sw clog\"></i>clog</span>\n");
    o.s("<span class=\"group muted hint\">zoom: ctrl+wheel, + − 0 · n: next highlighted · m: messages · click pins a tooltip</span>\n");
    o.s("</nav>\n");
}

/// The lanes: the plot, with the lane names on its left and the time axis on top, in one
/// grid inside the scrolling box.
fn chart(o: &mut Out, c: &Ctx<'_>) {
    let width = num(PAD + INITIAL_WIDTH + PAD_RIGHT);
    w!(
        o,
        "<div id=\"scroller\"><div id=\"grid\" style=\"grid-template-columns:{}px max-content;grid-template-rows:{}px auto\">\n",
        num(LABEL_W),
        num(AXIS_H)
    );
    o.s("<div id=\"corner\">time (ms)</div>\n");
    axis(o, c, &width);
    lane_names(o, c);
    plot(o, c, &width);
    o.s("</div></div>\n");
}

/// The charts below the lanes ([`super::charts`]), each a plotters SVG inline.
fn charts(o: &mut Out, c: &Ctx<'_>) {
    o.s("<section id=\"charts\"><h2>Over time <small>faults behind: partitions red, crashes grey, pauses amber, clogs orange; dashed: heal begins</small></h2>\n");
    for chart in super::charts::render(c.exec, c.model) {
        w!(
            o,
            "<figure class=\"chart\" data-title=\"{}\">{}</figure>\n",
            esc(&chart.title),
            chart.svg
        );
    }
    o.s("</section>\n");
}

/// The time axis: its tick labels are drawn by the script; the phase names are placed
/// here.
fn axis(o: &mut Out, c: &Ctx<'_>, width: &str) {
    w!(
        o,
        "<svg id=\"axis\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{}\"><g id=\"ticks\"></g>",
        num(AXIS_H)
    );
    for &(name, t0, t1) in &c.model.phases {
        label(
            o,
            c,
            &format!("phase-name {name}"),
            (t0, t1 - t0),
            13.0,
            name,
        );
    }
    // A branched run: where its parent's run ends and its own draws begin.
    if let Some(t) = c.branch_ms() {
        let room = (c.model.end_ms - t).max(0.0);
        label(o, c, "phase-name branch", (t, room), 13.0, "branch");
    }
    o.s("</svg>\n");
}

/// The lane-name column: each lane's name and role.
fn lane_names(o: &mut Out, c: &Ctx<'_>) {
    w!(
        o,
        "<svg id=\"labels\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\">",
        num(LABEL_W),
        num(c.model.height)
    );
    for (i, lane) in c.model.lanes.iter().enumerate() {
        let mid = lane.y + lane.h / 2.0;
        w!(
            o,
            "<g class=\"lane-name {}{}\" data-lane=\"{}\"><rect x=\"0\" y=\"{}\" width=\"{}\" height=\"{}\"/><text x=\"10\" y=\"{}\">{}</text><text class=\"role\" x=\"{}\" y=\"{}\">{}</text></g>",
            lane.role,
            if i % 2 == 1 { " odd" } else { "" },
            esc(&lane.name),
            num(lane.y),
            num(LABEL_W),
            num(lane.h),
            num(mid + 4.5),
            esc(&lane.name),
            num(LABEL_W - 8.0),
            num(mid + 4.0),
            lane.role
        );
    }
    o.s("</svg>\n");
}

/// The plot, in its three layers (see the module documentation): the lane stripes and
/// gridlines, the world, the overlay.
fn plot(o: &mut Out, c: &Ctx<'_>, width: &str) {
    let m = c.model;
    // Past this many messages the page opens on their density (the script decides as
    // the view changes; this is the state before it runs).
    let msgs_class = if m.messages.len() <= MESSAGES_SHOWN_MAX {
        ""
    } else {
        "dense"
    };
    w!(
        o,
        "<svg id=\"plot\" class=\"{}\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{}\">\n",
        msgs_class,
        num(m.height)
    );
    defs(o);
    o.s("<g id=\"bg\">");
    for (i, lane) in m.lanes.iter().enumerate() {
        w!(
            o,
            "<rect class=\"lane-bg {}{}\" x=\"0\" y=\"{}\" width=\"100%\" height=\"{}\"/>",
            lane.role,
            if i % 2 == 1 { " odd" } else { "" },
            num(lane.y),
            num(lane.h)
        );
    }
    o.s("</g>\n<g id=\"gridlines\"></g>\n");
    // What is drawn in the world brings its labels and markers, which must not stretch:
    // they are gathered here and written into the overlay, on top of everything.
    let mut labels = Out(String::new());
    let mut marks = Out(String::new());
    world(o, &mut labels, &mut marks, c);
    overlay(o, c, &labels, &marks);
    o.s("</svg>\n");
}

/// The world, in milliseconds and scaled on zoom, bottom to top: phases, bands, fsync
/// ticks, message lines, operation bars, panic lines. Their labels go to `labels`, the
/// marks of dropped messages to `marks`.
fn world(o: &mut Out, labels: &mut Out, marks: &mut Out, c: &Ctx<'_>) {
    let m = c.model;
    w!(
        o,
        "<g id=\"world\" transform=\"translate({} 0) scale({} 1)\">\n",
        num(PAD),
        c.k
    );
    for &(name, t0, t1) in &m.phases {
        w!(
            o,
            "<rect class=\"phase {name}\" x=\"{}\" y=\"0\" width=\"{}\" height=\"{}\"/>",
            num(t0),
            num(t1 - t0),
            num(m.height)
        );
    }
    o.s("\n");
    bands(o, labels, c);
    sync_ticks(o, c);
    messages(o, marks, c);
    op_bars(o, labels, c);
    for (i, p) in m.panics.iter().enumerate() {
        w!(
            o,
            "<line id=\"panic-{i}\" class=\"panic-line\" x1=\"{t}\" x2=\"{t}\" y1=\"0\" y2=\"{}\"/>",
            num(m.height),
            t = num(p.t)
        );
    }
    if let Some(t) = c.branch_ms() {
        w!(
            o,
            "<line id=\"branch-line\" class=\"branch-line\" x1=\"{t}\" x2=\"{t}\" y1=\"0\" y2=\"{}\"/>",
            num(m.height),
            t = num(t)
        );
    }
    o.s("</g>\n");
}

/// The message lines in chunks of [`CHUNK_MESSAGES`] by send time, each `<g>` saying the
/// time it spans, so the page shows only the chunks in view; and, for a zoomed-out view
/// of many messages, their density ([`density`]).
fn messages(o: &mut Out, marks: &mut Out, c: &Ctx<'_>) {
    o.s("<g id=\"msgs\">\n");
    for chunk in c.model.messages.chunks(CHUNK_MESSAGES) {
        let t0 = chunk.iter().map(|m| m.t0).fold(f64::INFINITY, f64::min);
        let t1 = chunk.iter().map(|m| m.t1).fold(0.0, f64::max);
        w!(
            o,
            "<g class=\"mb\" data-t0=\"{}\" data-t1=\"{}\" data-n=\"{}\">\n",
            num(t0),
            num(t1),
            chunk.len()
        );
        for msg in chunk {
            message(o, marks, c, msg);
        }
        o.s("</g>\n");
    }
    o.s("</g>\n");
    density(o, c);
}

/// Messages per receiving lane and time bin, as cells whose opacity grows with the count:
/// what the page draws instead of lines when more than `TIMELINE.linesMax` messages are
/// in view (lines by the ten thousand are slow to draw and impossible to read).
fn density(o: &mut Out, c: &Ctx<'_>) {
    let m = c.model;
    let bins = DENSITY_BINS;
    let width = m.end_ms / bins as f64;
    let mut counts: BTreeMap<(usize, usize), u32> = BTreeMap::new();
    for msg in &m.messages {
        let Some(&lane) = m.node_lane.get(&msg.to) else {
            continue;
        };
        let bin = ((msg.t1 / width) as usize).min(bins - 1);
        *counts.entry((lane, bin)).or_insert(0) += 1;
    }
    let busiest = counts.values().copied().max().unwrap_or(1).max(1) as f64;
    o.s("<g id=\"msg-density\">\n");
    for (&(lane, bin), &n) in &counts {
        let l = &m.lanes[lane];
        w!(
            o,
            "<rect class=\"md\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill-opacity=\"{:.2}\" data-tip=\"{n} message(s) arrived at {} in {}–{} ms\"/>",
            num(bin as f64 * width),
            num(l.y + 2.0),
            num(width),
            num(l.h - 4.0),
            0.08 + 0.6 * (f64::from(n) / busiest).sqrt(),
            esc(&l.name),
            num(bin as f64 * width),
            num((bin + 1) as f64 * width)
        );
    }
    o.s("</g>\n");
}

/// Messages per `<g>` chunk of the message layer.
const CHUNK_MESSAGES: usize = 250;
/// Time bins of the message-density layer.
const DENSITY_BINS: usize = 300;

/// The bands: partitions and clogs, down and paused processes, and a column over the
/// lane of each highlighted operation.
fn bands(o: &mut Out, labels: &mut Out, c: &Ctx<'_>) {
    let m = c.model;
    o.s("<g id=\"bands\">\n");
    for p in &m.partitions {
        partition(o, labels, c, p);
    }
    for clog in &m.clogs {
        clog_band(o, labels, c, clog);
    }
    for d in &m.downs {
        node_span(o, labels, c, d, "down");
    }
    for p in &m.pauses {
        node_span(o, labels, c, p, "pause");
    }
    // A soft column over the lane of each highlighted operation, under everything else
    // on the lane: findable at any zoom.
    for bar in m.ops.iter().filter(|b| !b.flagged_by.is_empty()) {
        let lane = &m.lanes[bar.lane];
        w!(
            o,
            "<rect class=\"flag-col\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\"/>",
            num(bar.t0),
            num(lane.y + 1.0),
            num(bar.t1 - bar.t0),
            num(lane.h - 2.0)
        );
    }
    o.s("</g>\n");
}

/// fsyncs: a short tick at the bottom of the process's lane (hidden unless asked for).
fn sync_ticks(o: &mut Out, c: &Ctx<'_>) {
    o.s("<g id=\"syncs\">");
    for s in &c.model.syncs {
        if let Some(lane) = c.model.lane_of(s.node) {
            w!(
                o,
                "<line x1=\"{t}\" x2=\"{t}\" y1=\"{}\" y2=\"{}\" data-tip=\"{}\"/>",
                num(lane.y + lane.h - 9.0),
                num(lane.y + lane.h - 2.0),
                esc(&format!(
                    "{}: {}\nat {}",
                    c.name(s.node),
                    s.text,
                    ms_text(s.t)
                )),
                t = num(s.t)
            );
        }
    }
    o.s("</g>\n");
}

/// The operation bars, their labels going to `labels`.
fn op_bars(o: &mut Out, labels: &mut Out, c: &Ctx<'_>) {
    let m = c.model;
    o.s("<g id=\"ops\">\n");
    // Highlighted operations last, so their outline is on top.
    let order = m
        .ops
        .iter()
        .filter(|b| b.flagged_by.is_empty())
        .chain(m.ops.iter().filter(|b| !b.flagged_by.is_empty()));
    for bar in order {
        op_bar(o, labels, c, bar);
    }
    o.s("</g>\n");
}

/// One operation bar, coloured by status (outlined if highlighted), with its tooltip;
/// its label goes to `labels`.
fn op_bar(o: &mut Out, labels: &mut Out, c: &Ctx<'_>, bar: &OpBar) {
    let Some(op) = c.exec.history.ops.get(bar.index) else {
        return;
    };
    let lane = &c.model.lanes[bar.lane];
    let y = lane.row_y(bar.row, ROW_H);
    let status = status_name(op.status);
    let flagged = !bar.flagged_by.is_empty();
    w!(
        o,
        "<rect id=\"op-{}\" class=\"op {status}{}\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" data-tip=\"{}\"/>\n",
        bar.index,
        if flagged { " hl" } else { "" },
        num(bar.t0),
        num(y),
        num(bar.t1 - bar.t0),
        num(ROW_H),
        esc(&op_tip(c, bar, op))
    );
    let text = op_label(op);
    label(
        labels,
        c,
        &format!("op-lbl {status}"),
        (bar.t0, bar.t1 - bar.t0),
        y + ROW_H / 2.0 + 4.0,
        &text,
    );
}

/// The overlay, in pixels: the labels gathered from the world, the markers (restarts,
/// notes, panics), the panic labels, then the marks of dropped messages.
fn overlay(o: &mut Out, c: &Ctx<'_>, labels: &Out, marks: &Out) {
    o.s("<g id=\"overlay\">\n");
    o.s(&labels.0);
    marks_of(o, c, &c.model.boots, "boot", "m-boot");
    marks_of(o, c, &c.model.notes, "note", "m-note");
    marks_of(o, c, &c.model.panics, "panic", "m-panic");
    lost_writes(o, c);
    for p in &c.model.panics {
        if let Some(lane) = c.model.lane_of(p.node) {
            w!(
                o,
                "<text class=\"lbl panic-lbl\" x=\"{}\" y=\"{}\" data-t=\"{}\" data-dx=\"10\">panic</text>",
                num(PAD + p.t * c.k + 10.0),
                num(lane.y + 12.0),
                num(p.t)
            );
        }
    }
    o.s("<g id=\"msgmarks\">");
    o.s(&marks.0);
    o.s("</g>\n</g>\n");
}

/// Each unsynced write a crash lost: a hollow square on its process's lane at the time it
/// was written, saying which file, which crash, and the operation it served.
fn lost_writes(o: &mut Out, c: &Ctx<'_>) {
    for w in &c.model.lost_writes {
        let Some(lane) = c.model.lane_of(w.node) else {
            continue;
        };
        let serves = (w.serves)
            .and_then(|i| c.exec.history.ops.get(i).map(|op| (i, op)))
            .map(|(i, op)| {
                format!(
                    "\nit served operation #{i} ({} {})",
                    c.name(op.client as usize),
                    op_label(op)
                )
            })
            .unwrap_or_default();
        let tip = format!(
            "write to {} of {} at {}, not fsynced\nlost in the crash at {}{serves}",
            w.file,
            c.name(w.node),
            ms_text(w.t),
            ms_text(w.crash_t)
        );
        let op = w
            .serves
            .map(|i| format!(" data-op=\"{i}\""))
            .unwrap_or_default();
        w!(
            o,
            "<use href=\"#m-lost\" class=\"mk lost-write\" x=\"{}\" y=\"{}\" data-t=\"{}\"{op} data-tip=\"{}\"/>",
            c.x(w.t),
            num(lane.wire() - 9.0),
            num(w.t),
            esc(&tip)
        );
    }
}

/// A label at the start of a bar or band, shown by the script only when it fits in the
/// bar's width (`data-w`, ms) at the current zoom; `data-n` is its length in characters.
fn label(out: &mut Out, c: &Ctx<'_>, class: &str, (t, width): (f64, f64), y: f64, text: &str) {
    w!(
        out,
        "<text class=\"lbl {class}\" x=\"{}\" y=\"{}\" data-t=\"{}\" data-w=\"{}\" data-n=\"{}\" data-dx=\"{LABEL_DX}\">{}</text>",
        num(PAD + t * c.k + LABEL_DX),
        num(y),
        num(t),
        num(width),
        text.chars().count(),
        esc(text)
    );
}

/// Patterns, gradients and marker symbols the plot refers to.
fn defs(o: &mut Out) {
    o.s(concat!(
        "<defs>",
        "<pattern id=\"hatch-down\" class=\"zp\" patternUnits=\"userSpaceOnUse\" width=\"6\" height=\"6\" patternTransform=\"rotate(45)\">",
        "<rect width=\"6\" height=\"6\" fill=\"#e2e8f0\"/><rect width=\"3\" height=\"6\" fill=\"#64748b\"/></pattern>",
        "<pattern id=\"hatch-pause\" class=\"zp\" patternUnits=\"userSpaceOnUse\" width=\"6\" height=\"6\" patternTransform=\"rotate(45)\">",
        "<rect width=\"6\" height=\"6\" fill=\"#fef3c7\"/><rect width=\"2\" height=\"6\" fill=\"#f59e0b\"/></pattern>",
        "<linearGradient id=\"fade-info\" x1=\"0\" x2=\"1\" y1=\"0\" y2=\"0\">",
        "<stop offset=\"0\" stop-color=\"#fbbf24\" stop-opacity=\"0.95\"/><stop offset=\"0.6\" stop-color=\"#fde68a\" stop-opacity=\"0.45\"/>",
        "<stop offset=\"1\" stop-color=\"#fef3c7\" stop-opacity=\"0.08\"/></linearGradient>",
        "<g id=\"m-x\"><path d=\"M-4,-4L4,4M-4,4L4,-4\"/></g>",
        "<g id=\"m-stub-up\"><path d=\"M0,0L0,-11\"/><path d=\"M-3,-14L3,-8M-3,-8L3,-14\"/></g>",
        "<g id=\"m-stub-down\"><path d=\"M0,0L0,11\"/><path d=\"M-3,8L3,14M-3,14L3,8\"/></g>",
        "<g id=\"m-boot\"><path d=\"M0,-6L6,0L0,6Z\"/></g>",
        "<g id=\"m-note\"><path d=\"M0,-5L5,0L0,5L-5,0Z\"/></g>",
        "<g id=\"m-panic\"><circle r=\"8\"/><path d=\"M0,-4.5L0,1.2M0,3.2L0,4.6\"/></g>",
        "<g id=\"m-lost\"><rect x=\"-3.5\" y=\"-3.5\" width=\"7\" height=\"7\"/><path d=\"M-3.5,3.5L3.5,-3.5\"/></g>",
        "</defs>\n"
    ));
}

/// The first `max` characters of `text`, saying how much was left out.
fn clip(text: &str, max: usize) -> String {
    let n = text.chars().count();
    if n <= max {
        return text.to_string();
    }
    let kept: String = text.chars().take(max).collect();
    format!("{kept}… ({} more characters in trace.jsonl)", n - max)
}

/// The tooltip of an operation.
fn op_tip(c: &Ctx<'_>, bar: &OpBar, op: &Operation) -> String {
    let (index, t0, t1, flags) = (bar.index, bar.t0, bar.t1, &bar.flagged_by);
    let client = c.name(usize::try_from(op.client).unwrap_or(usize::MAX));
    let mut tip = format!("op #{index} · {client} · {}", status_name(op.status));
    if !flags.is_empty() {
        tip.push_str(&format!(" · named by {}", flags.join(", ")));
    }
    tip.push('\n');
    tip.push_str(op.f.name());
    if let Some(key) = &op.key {
        tip.push(' ');
        tip.push_str(key);
    }
    if op.input != Value::Nil {
        tip.push(' ');
        tip.push_str(&value_text(&op.input));
    }
    match op.status {
        Status::Ok if op.output == Value::Nil => tip.push_str("\n→ ok"),
        Status::Ok => tip.push_str(&format!("\n→ {}", value_text(&op.output))),
        Status::Fail => tip.push_str(&format!(
            "\n→ {} (failed: it did not take effect)",
            value_text(&op.output)
        )),
        Status::Info => {}
    }
    match op.ret {
        Some(_) => tip.push_str(&format!(
            "\ninvoked {} · returned {} · took {}",
            ms_text(t0),
            ms_text(t1),
            ms_text(t1 - t0)
        )),
        None => tip.push_str(&format!(
            "\ninvoked {} · never returned: unknown outcome, it may take effect at any time after its call",
            ms_text(t0)
        )),
    }
    if bar.messages > 0 {
        tip.push_str(&format!(
            "\n{} message(s) serve it (lit up while hovered)",
            bar.messages
        ));
    }
    if bar.lost_writes > 0 {
        tip.push_str(&format!(
            "\n{} of its writes were not fsynced and a crash lost them",
            bar.lost_writes
        ));
    }
    tip
}

/// A partition: its band, labelled with its shape (and sides), its cut links in the tooltip.
fn partition(o: &mut Out, labels: &mut Out, c: &Ctx<'_>, p: &PartitionSpan) {
    let healed = if p.open {
        "not healed before the end".to_string()
    } else {
        format!("healed at {}", ms_text(p.t1))
    };
    let sides = partition_sides(c, p);
    let mut tip = format!(
        "partition {} · {}\nfrom {} · {healed} · lasted {}",
        partition_name(p.id),
        shape_name(p.shape),
        ms_text(p.t0),
        ms_text(p.t1 - p.t0)
    );
    if !sides.is_empty() {
        tip.push_str(&format!("\nsides: {sides}"));
    }
    tip.push_str(&format!("\ncut links: {}", cut_links(c, &p.blocked)));
    let text = if sides.is_empty() {
        format!("{} {}", shape_name(p.shape), partition_name(p.id))
    } else {
        format!("{} {}", shape_name(p.shape), sides)
    };
    let band = LinkBand {
        kind: "part",
        span: (p.t0, p.t1),
        row: p.row,
        strip: (1.0, 5.0),
        tip,
        text,
    };
    band.draw(o, labels, c, p.nodes());
}

/// `r0 | r1 r2`: groups of processes that still reach each other (both ways), when the
/// partition splits them into more than one; empty otherwise (a ring or a bridge keeps
/// everyone connected through someone).
fn partition_sides(c: &Ctx<'_>, p: &PartitionSpan) -> String {
    let blocked: BTreeSet<(usize, usize)> = p.blocked.iter().copied().collect();
    let mut nodes: BTreeSet<usize> = p.nodes();
    nodes.extend(c.plan.head().nodes_with(Role::Server));
    nodes.extend(c.plan.head().nodes_with(Role::Infra));
    let nodes: Vec<usize> = nodes.into_iter().collect();
    // Union-find over a handful of processes.
    let mut parent: Vec<usize> = (0..nodes.len()).collect();
    /// The representative of `i`'s group.
    fn root(parent: &[usize], mut i: usize) -> usize {
        for _ in 0..parent.len() {
            if parent[i] == i {
                break;
            }
            i = parent[i];
        }
        i
    }
    for a in 0..nodes.len() {
        for b in a + 1..nodes.len() {
            let (x, y) = (nodes[a], nodes[b]);
            if !blocked.contains(&(x, y)) && !blocked.contains(&(y, x)) {
                let (ra, rb) = (root(&parent, a), root(&parent, b));
                if ra != rb {
                    parent[rb.max(ra)] = rb.min(ra);
                }
            }
        }
    }
    let mut groups: BTreeMap<usize, Vec<String>> = Default::default();
    for (i, &node) in nodes.iter().enumerate() {
        groups
            .entry(root(&parent, i))
            .or_default()
            .push(c.name(node));
    }
    if groups.len() < 2 {
        return String::new();
    }
    groups
        .values()
        .map(|g| g.join(" "))
        .collect::<Vec<_>>()
        .join(" | ")
}

/// `r0 ↔ r1, r2 → r0`: cut links, a pair cut both ways written once.
fn cut_links(c: &Ctx<'_>, blocked: &[(usize, usize)]) -> String {
    let set: BTreeSet<(usize, usize)> = blocked.iter().copied().collect();
    set.iter()
        .filter_map(|&(a, b)| {
            if set.contains(&(b, a)) {
                (a < b).then(|| format!("{} ↔ {}", c.name(a), c.name(b)))
            } else {
                Some(format!("{} → {}", c.name(a), c.name(b)))
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// A clogged link: its band, and strips on the lanes of both ends.
fn clog_band(o: &mut Out, labels: &mut Out, c: &Ctx<'_>, clog: &ClogSpan) {
    let text = format!("clog {} → {}", c.name(clog.from), c.name(clog.to));
    let tip = format!(
        "{text}\nmessages on the link held from {} until {} (planned until {} ms) · {}",
        ms_text(clog.t0),
        ms_text(clog.t1),
        clog.until_ms,
        ms_text(clog.t1 - clog.t0)
    );
    let band = LinkBand {
        kind: "clog",
        span: (clog.t0, clog.t1),
        row: clog.row,
        strip: (6.0, 4.0),
        tip,
        text,
    };
    band.draw(o, labels, c, [clog.from, clog.to]);
}

/// A network fault (partition or clog): a labelled band on a row of the network lane,
/// and a thin strip on the lane of every process it touches, all with one tooltip.
struct LinkBand {
    /// CSS class stem: `part` or `clog`.
    kind: &'static str,
    /// Start and end (ms).
    span: (f64, f64),
    /// Row on the network lane.
    row: usize,
    /// Offset from the lane's top and height of the strips (px).
    strip: (f64, f64),
    tip: String,
    text: String,
}

impl LinkBand {
    /// Write the band and the strips to `o`, the label to `labels`.
    fn draw(
        &self,
        o: &mut Out,
        labels: &mut Out,
        c: &Ctx<'_>,
        nodes: impl IntoIterator<Item = usize>,
    ) {
        let kind = self.kind;
        let (t0, t1) = self.span;
        let y = c.model.lanes[0].row_y(self.row, NET_ROW_H);
        let tip = esc(&self.tip);
        w!(
            o,
            "<rect class=\"{kind}\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" data-tip=\"{tip}\"/>",
            num(t0),
            num(y),
            num(t1 - t0),
            num(NET_ROW_H)
        );
        for node in nodes {
            if let Some(lane) = c.model.lane_of(node) {
                w!(
                    o,
                    "<rect class=\"{kind}-strip\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" data-tip=\"{tip}\"/>",
                    num(t0),
                    num(lane.y + self.strip.0),
                    num(t1 - t0),
                    num(self.strip.1)
                );
            }
        }
        label(
            labels,
            c,
            &format!("band-lbl {kind}-lbl"),
            (t0, t1 - t0),
            y + NET_ROW_H - 3.5,
            &self.text,
        );
    }
}

/// A down (`kind` `down`) or paused (`pause`) process: a band across its lane; a down
/// band's tooltip says what the crash did to unsynced writes.
fn node_span(o: &mut Out, labels: &mut Out, c: &Ctx<'_>, s: &NodeSpan, kind: &str) {
    let Some(lane) = c.model.lane_of(s.node) else {
        return;
    };
    let name = c.name(s.node);
    let mut tip = if kind == "down" {
        let mut tip = format!("{name} down (crashed)\ncrashed at {}", ms_text(s.t0));
        match (s.open, s.incarnation) {
            (true, _) => tip.push_str(" · still down at the end of the run"),
            (false, Some(inc)) => tip.push_str(&format!(
                " · booted again at {} (incarnation {inc}) · down {}",
                ms_text(s.t1),
                ms_text(s.t1 - s.t0)
            )),
            (false, None) => tip.push_str(&format!(" · up at {}", ms_text(s.t1))),
        }
        tip
    } else {
        let mut tip = format!("{name} paused\npaused at {}", ms_text(s.t0));
        if s.open {
            tip.push_str(" · still paused at the end of the run");
        } else {
            tip.push_str(&format!(
                " · resumed at {} · {}",
                ms_text(s.t1),
                ms_text(s.t1 - s.t0)
            ));
        }
        tip
    };
    let mut lost = 0;
    for &(file, l, kept, torn) in &s.losses {
        lost += l;
        tip.push_str(&format!(
            "\ncrash lost {l} unsynced write(s) of {file}, {kept} survived{}",
            if torn { ", the last one torn" } else { "" }
        ));
    }
    w!(
        o,
        "<rect class=\"{kind}\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" data-tip=\"{}\"/>",
        num(s.t0),
        num(lane.y + 7.0),
        num(s.t1 - s.t0),
        num(lane.h - 14.0),
        esc(&tip)
    );
    let text = match (kind, lost) {
        ("down", 0) => "down".to_string(),
        ("down", n) => format!("down · lost {n}"),
        _ => "paused".to_string(),
    };
    label(
        labels,
        c,
        &format!("band-lbl {kind}-lbl"),
        (s.t0, s.t1 - s.t0),
        lane.y + lane.h / 2.0 + 4.0,
        &text,
    );
}

/// A message: a line from the sender's lane at the send to the receiver's lane where it
/// ended, with a cross (in `marks`) where a dropped one ended. A message dropped at the
/// sender had no flight: it is only a stub with a cross, in `marks` too.
fn message(o: &mut Out, marks: &mut Out, c: &Ctx<'_>, msg: &Message) {
    let m = c.model;
    let (Some(from), Some(to)) = (m.lane_of(msg.from), m.lane_of(msg.to)) else {
        return;
    };
    let tip = esc(&message_tip(c, msg));
    let class = message_class(msg);
    if msg.dropped_at_send() {
        // No flight to draw: a stub pointing at the receiver, with a cross.
        let up = to.wire() < from.wire();
        w!(
            marks,
            "<use href=\"#m-stub-{}\" class=\"{class}\" x=\"{}\" y=\"{}\" data-t=\"{}\" data-tip=\"{tip}\"/>",
            if up { "up" } else { "down" },
            c.x(msg.t0),
            num(from.wire()),
            num(msg.t0)
        );
        return;
    }
    let serves = msg
        .serves
        .map(|op| format!(" data-op=\"{op}\""))
        .unwrap_or_default();
    w!(
        o,
        "<line class=\"{class}\" x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\"{serves} data-tip=\"{tip}\"/>\n",
        num(msg.t0),
        num(from.wire()),
        num(msg.t1),
        num(to.wire())
    );
    if matches!(msg.fate, Fate::Dropped(..)) {
        w!(
            marks,
            "<use href=\"#m-x\" class=\"{class}\" x=\"{}\" y=\"{}\" data-t=\"{}\" data-tip=\"{tip}\"/>",
            c.x(msg.t1),
            num(to.wire()),
            num(msg.t1)
        );
    }
}

/// The tooltip of a message: what it is and between whom, what became of it and when,
/// and its content (clipped) when the trace has it.
fn message_tip(c: &Ctx<'_>, msg: &Message) -> String {
    let label = c.model.labels.get(msg.label).copied().unwrap_or("?");
    let mut tip = format!(
        "{label} #{} · {} → {}",
        msg.id,
        c.name(msg.from),
        c.name(msg.to)
    );
    if let Some(orig) = msg.copy_of {
        tip.push_str(&format!(" · duplicate of #{orig}"));
    }
    tip.push_str(&format!("\nsent {}", ms_text(msg.t0)));
    match msg.fate {
        Fate::Delivered => tip.push_str(&format!(
            " · delivered {} · after {}",
            ms_text(msg.t1),
            ms_text(msg.t1 - msg.t0)
        )),
        Fate::Dropped(reason, at) => {
            if msg.dropped_at_send() {
                tip.push_str(&format!(" · dropped at once ({})", drop_reason(reason)));
            } else {
                tip.push_str(&format!(
                    " · arrived {} · dropped at {} ({})",
                    ms_text(msg.arrive),
                    ms_text(at),
                    drop_reason(reason)
                ));
            }
        }
        Fate::InFlight => tip.push_str(&format!(
            " · still in flight at the end (due {})",
            ms_text(msg.arrive)
        )),
    }
    if let Some(h) = msg.held {
        tip.push_str(&format!(" · held back ({})", hold_reason(h)));
    }
    if let Some(op) = msg
        .serves
        .and_then(|i| c.exec.history.ops.get(i).map(|op| (i, op)))
    {
        tip.push_str(&format!(
            "\nserves operation #{} ({} {})",
            op.0,
            c.name(op.1.client as usize),
            op_label(op.1)
        ));
    }
    if let Some(text) = &msg.text {
        tip.push('\n');
        tip.push_str(&clip(text, MESSAGE_TEXT_MAX));
    }
    tip
}

/// The CSS classes of a message: its label (for colour and filter), then how it went
/// (copy, held back, dropped, still in flight at the end).
fn message_class(msg: &Message) -> String {
    let mut class = format!("m ml{}", msg.label);
    if msg.copy_of.is_some() {
        class.push_str(" dup");
    }
    if msg.held.is_some() {
        class.push_str(" held");
    }
    match msg.fate {
        Fate::Dropped(..) => class.push_str(" dropped"),
        Fate::InFlight => class.push_str(" lost"),
        Fate::Delivered => {}
    }
    class
}

/// Point markers (restarts, notes or panics) on their processes' lanes, drawn with
/// `symbol`; a panic's marker gets an id for the header's button.
fn marks_of(o: &mut Out, c: &Ctx<'_>, marks: &[Mark], class: &str, symbol: &str) {
    for (i, mark) in marks.iter().enumerate() {
        let Some(lane) = c.model.lane_of(mark.node) else {
            continue;
        };
        let title = match class {
            "panic" => "panic in",
            "boot" => "restart of",
            _ => "note from",
        };
        let tip = format!(
            "{title} {} at {}\n{}",
            c.name(mark.node),
            ms_text(mark.t),
            mark.text
        );
        let id = if class == "panic" {
            format!(" id=\"panic-mark-{i}\"")
        } else {
            String::new()
        };
        w!(
            o,
            "<use{id} href=\"#{symbol}\" class=\"mk {class}\" x=\"{}\" y=\"{}\" data-t=\"{}\" data-tip=\"{}\"/>",
            c.x(mark.t),
            num(lane.wire()),
            num(mark.t),
            esc(&tip)
        );
    }
}
