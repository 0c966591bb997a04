//! `timeline.svg`: the whole run on one static picture, drawn with plotters.
//!
//! The same lanes and vertical layout as the page, the time axis squeezed to a fixed
//! width: enough to see at a glance where the faults were, which operations failed or
//! never returned, and where the checks point. Text goes through plotters' SVG backend,
//! which writes `<text>` elements (escaped) and needs no font files; see the module
//! documentation of [`super`] for why that holds without a font feature.

use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::model::{ms, Model, OpBar, NET_ROW_H, ROW_H};
use super::shorten;
use crate::check::Verdict;
use crate::history::Status;
use crate::plan::AnyPlan;
use crate::scenario::Scenario;
use crate::systems::Execution;

/// Width of the picture (px).
const WIDTH: u32 = 1600;
/// Height of the title block (px).
const HEAD: u32 = 58;
/// Width of the lane-name column (px).
const LABEL_W: u32 = 110;
/// Height of the time axis (px).
const X_AXIS: u32 = 36;
/// Height of the legend row (px).
const LEGEND: u32 = 30;

const OK: RGBColor = RGBColor(134, 217, 147);
const OK_EDGE: RGBColor = RGBColor(47, 138, 59);
const FAIL: RGBColor = RGBColor(248, 180, 174);
const FAIL_EDGE: RGBColor = RGBColor(194, 65, 58);
const INFO: RGBColor = RGBColor(253, 230, 138);
const INFO_EDGE: RGBColor = RGBColor(183, 121, 31);
const FLAG: RGBColor = RGBColor(124, 58, 237);
const PART: RGBColor = RGBColor(220, 38, 38);
const CLOG: RGBColor = RGBColor(234, 88, 12);
const DOWN: RGBColor = RGBColor(100, 116, 139);
const PAUSE: RGBColor = RGBColor(245, 158, 11);
const PANIC: RGBColor = RGBColor(159, 18, 57);
const INK: RGBColor = RGBColor(15, 23, 42);
const MUTED: RGBColor = RGBColor(100, 116, 139);
const STRIPE: RGBColor = RGBColor(248, 250, 252);

type Fallible = Result<(), Box<dyn std::error::Error>>;

/// Render the overview.
pub fn render(scenario: &Scenario, plan: &dyn AnyPlan, exec: &Execution, model: &Model) -> String {
    let height = HEAD + model.height.ceil() as u32 + X_AXIS + LEGEND + 8;
    let mut buf = String::new();
    let drawn = {
        let root = SVGBackend::with_string(&mut buf, (WIDTH, height)).into_drawing_area();
        draw(&root, scenario, plan, exec, model).and_then(|()| Ok(root.present()?))
    };
    match drawn {
        Ok(()) => buf,
        // Drawing into a string does not fail in practice; if it ever does, say so in a
        // picture rather than leaving a truncated file.
        Err(e) => format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"600\" height=\"40\"><text x=\"10\" y=\"24\">timeline overview failed: {}</text></svg>\n",
            super::esc(&e.to_string())
        ),
    }
}

/// Colour of a verdict in the title.
fn verdict_colour(v: Verdict) -> RGBColor {
    match v {
        Verdict::Pass => RGBColor(22, 163, 74),
        Verdict::Unknown | Verdict::Limit => RGBColor(100, 116, 139),
        Verdict::Liveness => CLOG,
        Verdict::Violation => PART,
        Verdict::Crash => PANIC,
    }
}

/// A verdict as the title shows it.
fn verdict_text(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "PASS",
        Verdict::Unknown => "UNKNOWN",
        Verdict::Limit => "LIMIT",
        Verdict::Liveness => "LIVENESS",
        Verdict::Violation => "VIOLATION",
        Verdict::Crash => "CRASH",
    }
}

/// Draw the whole overview on `root`: title block, lanes, legend.
fn draw(
    root: &DrawingArea<SVGBackend<'_>, Shift>,
    scenario: &Scenario,
    plan: &dyn AnyPlan,
    exec: &Execution,
    m: &Model,
) -> Fallible {
    root.fill(&WHITE)?;
    let (head, rest) = root.split_vertically(HEAD);
    let (chart_area, legend_area) = rest.split_vertically(m.height.ceil() as u32 + X_AXIS);
    title(&head, scenario, plan, exec)?;

    let mut chart = ChartBuilder::on(&chart_area)
        .margin_right(24)
        .x_label_area_size(X_AXIS)
        .y_label_area_size(LABEL_W)
        .build_cartesian_2d(0f64..m.end_ms, m.height..0f64)?;
    backdrop(&mut chart, m)?;
    lane_names(root, &chart, m)?;

    // A bar never thinner than about a pixel, so short operations stay visible.
    let px = m.end_ms / f64::from(WIDTH - LABEL_W - 24);
    network_faults(&mut chart, m, px)?;
    node_spans(&mut chart, m, px)?;
    operations(&mut chart, exec, m, px)?;
    panics(root, &mut chart, m)?;
    legend(&legend_area)
}

/// The chart the lanes are drawn in: x in ms, y in px down from the top of the lanes.
type Chart<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// `(t0, t1)`, widened to at least `px` ms so that a short span stays visible.
fn visible(t0: f64, t1: f64, px: f64) -> (f64, f64) {
    (t0, t1.max(t0 + px))
}

/// The title block: scenario, seed and verdict; then the checks (or the panic) in one
/// line.
fn title(
    head: &DrawingArea<SVGBackend<'_>, Shift>,
    scenario: &Scenario,
    plan: &dyn AnyPlan,
    exec: &Execution,
) -> Fallible {
    let title = format!("{} · seed {}", scenario.name, plan.head().id());
    let title_font = ("sans-serif", 20).into_font().style(FontStyle::Bold);
    let title_style = title_font.color(&INK);
    head.draw(&Text::new(title.clone(), (16, 10), title_style.clone()))?;
    // The naive font module overestimates widths by about a fifth for this font; good
    // enough to place the verdict after the title.
    let (tw, _) = head.estimate_text_size(&title, &title_style)?;
    head.draw(&Text::new(
        verdict_text(exec.verdict),
        (16 + (f64::from(tw) * 0.85) as i32 + 14, 10),
        title_font.color(&verdict_colour(exec.verdict)),
    ))?;
    let line = match &exec.panic {
        Some(p) => format!(
            "panic in {} at {:.3} ms: {}",
            p.name,
            ms(p.t_ns),
            shorten(&p.message, 230)
        ),
        None => exec
            .checks
            .iter()
            .map(|c| format!("{}: {}", c.check, verdict_text(c.verdict).to_lowercase()))
            .collect::<Vec<_>>()
            .join(" · "),
    };
    head.draw(&Text::new(
        line,
        (16, 36),
        ("sans-serif", 14).into_font().color(&MUTED),
    ))?;
    Ok(())
}

/// What lies under the bars: lane stripes and phases, then the time grid and axis, then
/// the lines between lanes.
fn backdrop(chart: &mut Chart<'_, '_>, m: &Model) -> Fallible {
    let end = m.end_ms;
    chart.draw_series(m.lanes.iter().enumerate().map(|(i, l)| {
        let fill = if i % 2 == 1 { STRIPE } else { WHITE };
        Rectangle::new([(0.0, l.y), (end, l.y + l.h)], fill.filled())
    }))?;
    chart.draw_series(m.phases.iter().map(|&(name, t0, t1)| {
        let colour = if name == "chaos" {
            RGBColor(255, 237, 213).mix(0.45)
        } else {
            RGBColor(220, 252, 231).mix(0.5)
        };
        Rectangle::new([(t0, 0.0), (t1, m.height)], colour.filled())
    }))?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(0)
        .x_labels(16)
        .x_label_formatter(&|x| format!("{x:.0}"))
        .x_desc("simulated time (ms)")
        .light_line_style(RGBColor(241, 245, 249))
        .bold_line_style(RGBColor(226, 232, 240))
        .axis_style(MUTED)
        .label_style(("sans-serif", 12).into_font().color(&MUTED))
        .draw()?;
    chart.draw_series(
        m.lanes
            .iter()
            .skip(1)
            .map(|l| PathElement::new(vec![(0.0, l.y), (end, l.y)], RGBColor(226, 232, 240))),
    )?;
    Ok(())
}

/// The lane names, in the label area left of the chart, right-aligned.
fn lane_names(
    root: &DrawingArea<SVGBackend<'_>, Shift>,
    chart: &Chart<'_, '_>,
    m: &Model,
) -> Fallible {
    let name_style = ("sans-serif", 14)
        .into_font()
        .style(FontStyle::Bold)
        .color(&INK)
        .pos(Pos::new(HPos::Right, VPos::Center));
    for lane in &m.lanes {
        let (x, y) = chart.backend_coord(&(0.0, lane.y + lane.h / 2.0));
        root.draw(&Text::new(
            lane.name.clone(),
            (x - 10, y),
            name_style.clone(),
        ))?;
    }
    Ok(())
}

/// The network lane: partitions and clogs on their rows, with strips on the lanes of the
/// processes they touch.
fn network_faults(chart: &mut Chart<'_, '_>, m: &Model, px: f64) -> Fallible {
    let net = &m.lanes[0];
    for p in &m.partitions {
        let (t0, t1) = visible(p.t0, p.t1, px);
        let y = net.row_y(p.row, NET_ROW_H);
        chart.draw_series([
            Rectangle::new([(t0, y), (t1, y + NET_ROW_H)], PART.mix(0.3).filled()),
            Rectangle::new([(t0, y), (t1, y + NET_ROW_H)], PART.stroke_width(1)),
        ])?;
        for node in p.nodes() {
            if let Some(l) = m.lane_of(node) {
                chart.draw_series([Rectangle::new(
                    [(t0, l.y + 1.0), (t1, l.y + 5.0)],
                    PART.mix(0.75).filled(),
                )])?;
            }
        }
    }
    for c in &m.clogs {
        let (t0, t1) = visible(c.t0, c.t1, px);
        let y = net.row_y(c.row, NET_ROW_H);
        chart.draw_series([
            Rectangle::new([(t0, y), (t1, y + NET_ROW_H)], CLOG.mix(0.3).filled()),
            Rectangle::new([(t0, y), (t1, y + NET_ROW_H)], CLOG.stroke_width(1)),
        ])?;
        for node in [c.from, c.to] {
            if let Some(l) = m.lane_of(node) {
                chart.draw_series([Rectangle::new(
                    [(t0, l.y + 6.0), (t1, l.y + 10.0)],
                    CLOG.mix(0.7).filled(),
                )])?;
            }
        }
    }
    Ok(())
}

/// Down and paused processes: a band across the process's lane.
fn node_spans(chart: &mut Chart<'_, '_>, m: &Model, px: f64) -> Fallible {
    for (spans, colour) in [(&m.downs, DOWN), (&m.pauses, PAUSE)] {
        for s in spans {
            if let Some(l) = m.lane_of(s.node) {
                let (t0, t1) = visible(s.t0, s.t1, px);
                let corners = [(t0, l.y + 7.0), (t1, l.y + l.h - 7.0)];
                chart.draw_series([
                    Rectangle::new(corners, colour.mix(0.45).filled()),
                    Rectangle::new(corners, colour.stroke_width(1)),
                ])?;
            }
        }
    }
    Ok(())
}

/// Operations by status. Those a failing check names get a violet column over their
/// lane first (under every bar), then a heavy violet outline, drawn last: visible even
/// when the bar is a pixel wide.
fn operations(chart: &mut Chart<'_, '_>, exec: &Execution, m: &Model, px: f64) -> Fallible {
    let flagged = || m.ops.iter().filter(|b| !b.flagged_by.is_empty());
    chart.draw_series(flagged().map(|bar| {
        let lane = &m.lanes[bar.lane];
        let (c0, c1) = visible(bar.t0, bar.t1.max(bar.t0 + 3.0 * px), px);
        Rectangle::new(
            [(c0, lane.y + 1.0), (c1, lane.y + lane.h - 1.0)],
            FLAG.mix(0.18).filled(),
        )
    }))?;
    let corners = |bar: &OpBar| {
        let y = m.lanes[bar.lane].row_y(bar.row, ROW_H);
        let (t0, t1) = visible(bar.t0, bar.t1, px);
        [(t0, y), (t1, y + ROW_H)]
    };
    for bar in &m.ops {
        let Some(op) = exec.history.ops.get(bar.index) else {
            continue;
        };
        let (fill, edge) = match op.status {
            Status::Ok => (OK.filled(), OK_EDGE),
            Status::Fail => (FAIL.filled(), FAIL_EDGE),
            Status::Info => (INFO.mix(0.55).filled(), INFO_EDGE),
        };
        chart.draw_series([
            Rectangle::new(corners(bar), fill),
            Rectangle::new(corners(bar), edge.stroke_width(1)),
        ])?;
    }
    chart.draw_series(flagged().map(|bar| Rectangle::new(corners(bar), FLAG.stroke_width(3))))?;
    Ok(())
}

/// Panics: a line across every lane, and a cross and a label on the process's lane.
fn panics(
    root: &DrawingArea<SVGBackend<'_>, Shift>,
    chart: &mut Chart<'_, '_>,
    m: &Model,
) -> Fallible {
    for p in &m.panics {
        chart.draw_series([PathElement::new(
            vec![(p.t, 0.0), (p.t, m.height)],
            PANIC.stroke_width(2),
        )])?;
        if let Some(l) = m.lane_of(p.node) {
            let mid = l.y + l.h / 2.0;
            chart.draw_series([Cross::new((p.t, mid), 7, PANIC.stroke_width(3))])?;
            let (x, y) = chart.backend_coord(&(p.t, mid));
            root.draw(&Text::new(
                "panic",
                (x + 10, y - 14),
                ("sans-serif", 13)
                    .into_font()
                    .style(FontStyle::Bold)
                    .color(&PANIC),
            ))?;
        }
    }
    Ok(())
}

/// The legend row: a swatch and a name for each kind of bar and band.
fn legend(legend: &DrawingArea<SVGBackend<'_>, Shift>) -> Fallible {
    let items: [(&str, RGBColor, RGBColor); 8] = [
        ("ok", OK, OK_EDGE),
        ("fail", FAIL, FAIL_EDGE),
        ("unknown (never returned)", INFO, INFO_EDGE),
        ("named by a failing check", WHITE, FLAG),
        ("down", DOWN.mix(0.45).to_rgba().rgb_colour(), DOWN),
        ("paused", PAUSE.mix(0.45).to_rgba().rgb_colour(), PAUSE),
        ("partition", PART.mix(0.3).to_rgba().rgb_colour(), PART),
        ("clog", CLOG.mix(0.3).to_rgba().rgb_colour(), CLOG),
    ];
    let label_font = ("sans-serif", 13).into_font().color(&INK);
    let mut x = LABEL_W as i32;
    for (name, fill, edge) in items {
        legend.draw(&Rectangle::new([(x, 8), (x + 18, 20)], fill.filled()))?;
        legend.draw(&Rectangle::new(
            [(x, 8), (x + 18, 20)],
            edge.stroke_width(2),
        ))?;
        legend.draw(&Text::new(name, (x + 24, 7), label_font.clone()))?;
        let (w, _) = legend.estimate_text_size(name, &label_font)?;
        x += 24 + w as i32 + 22;
    }
    Ok(())
}

/// Blend a translucent colour over white, for legend swatches.
trait OverWhite {
    /// The opaque colour this one looks like over white.
    fn rgb_colour(&self) -> RGBColor;
}

impl OverWhite for RGBAColor {
    fn rgb_colour(&self) -> RGBColor {
        let RGBAColor(r, g, b, a) = *self;
        let mix = |c: u8| (f64::from(c) * a + 255.0 * (1.0 - a)).round() as u8;
        RGBColor(mix(r), mix(g), mix(b))
    }
}
