//! Charts of one seed over simulated time, embedded in `timeline.html`.
//!
//! The lanes show *what* happened; these show *how the system behaved* while it did:
//!
//! * **Latency**: each client operation as a dot at its call time, at the height of its
//!   latency, one series per operation kind and outcome (ok, fail); operations that never
//!   returned sit on the top edge as triangles, since their latency is unbounded.
//! * **Throughput**: operations completed per [`BUCKET_MS`] of simulated time, ok and
//!   failed.
//! * **The system's gauges** ([`crate::sim::System::gauges`]): whatever the system
//!   reports (projection lag, outbox backlog, replication lag…), one chart each. A new
//!   system gets its charts by reporting gauges; nothing here names a system.
//!
//! Every chart has the run's faults behind it as bands — partitions red, crashes grey,
//! pauses amber, clogs orange — and the start of the heal phase as a dashed line, so a
//! latency spike or a growing lag can be read against the fault that caused it. They are
//! drawn with plotters' SVG backend, text included, with no font files (see [`super`]).

use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;

use super::model::{ms, Model};
use crate::history::{Func, Status};
use crate::systems::Execution;

/// Width and height of one chart (px).
const SIZE: (u32, u32) = (1100, 230);
/// Room right of the plot for its legend (px): the legend never covers the data.
const LEGEND_W: u32 = 190;
/// Throughput window (ms).
pub const BUCKET_MS: f64 = 100.0;

const PART: RGBColor = RGBColor(220, 38, 38);
const DOWN: RGBColor = RGBColor(100, 116, 139);
const PAUSE: RGBColor = RGBColor(245, 158, 11);
const CLOG: RGBColor = RGBColor(234, 88, 12);
const OK: RGBColor = RGBColor(47, 138, 59);
const FAIL: RGBColor = RGBColor(194, 65, 58);
const INFO: RGBColor = RGBColor(183, 121, 31);
const LINE: RGBColor = RGBColor(61, 111, 182);
/// Colours that tell operation kinds apart (ok dots use them; failures are red).
const KINDS: [RGBColor; 6] = [
    RGBColor(47, 138, 59),
    RGBColor(61, 111, 182),
    RGBColor(124, 58, 237),
    RGBColor(13, 148, 136),
    RGBColor(190, 24, 93),
    RGBColor(120, 113, 108),
];

type Fallible = Result<(), Box<dyn std::error::Error>>;
type Chart<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// One chart: what it shows and its SVG.
pub struct Drawn {
    /// Title.
    pub title: String,
    /// The picture.
    pub svg: String,
}

/// What every chart of a run shares: the time axis, the fault bands, the heal line.
struct Frame {
    end_ms: f64,
    bands: Vec<Band>,
    heal_ms: Option<f64>,
}

/// A fault interval drawn behind every chart.
#[derive(Clone, Copy)]
struct Band {
    t0: f64,
    t1: f64,
    colour: RGBColor,
    alpha: f64,
}

impl Frame {
    fn of(model: &Model) -> Frame {
        let mut bands: Vec<Band> = Vec::new();
        let band = |t0, t1, colour, alpha| Band {
            t0,
            t1,
            colour,
            alpha,
        };
        bands.extend(
            model
                .partitions
                .iter()
                .map(|p| band(p.t0, p.t1, PART, 0.10)),
        );
        bands.extend(model.clogs.iter().map(|c| band(c.t0, c.t1, CLOG, 0.08)));
        bands.extend(model.downs.iter().map(|d| band(d.t0, d.t1, DOWN, 0.14)));
        bands.extend(model.pauses.iter().map(|p| band(p.t0, p.t1, PAUSE, 0.12)));
        let heal_ms = (model.phases.iter()).find(|p| p.0 == "heal").map(|p| p.1);
        Frame {
            end_ms: model.end_ms.max(1.0),
            bands,
            heal_ms,
        }
    }

    /// The bands, then the heal phase's start as a dashed line.
    fn backdrop(&self, chart: &mut Chart<'_, '_>, top: f64) -> Fallible {
        chart.draw_series(self.bands.iter().map(|b| {
            let t1 = b.t1.max(b.t0 + self.end_ms / 1000.0);
            Rectangle::new([(b.t0, 0.0), (t1, top)], b.colour.mix(b.alpha).filled())
        }))?;
        if let Some(t) = self.heal_ms {
            let dash = top / 40.0;
            chart.draw_series((0..20).map(|i| {
                let y = 2.0 * i as f64 * dash;
                PathElement::new([(t, y), (t, y + dash)], DOWN.stroke_width(1))
            }))?;
        }
        Ok(())
    }
}

/// Every chart of a run: latency, throughput, then each gauge the system reported.
pub fn render(exec: &Execution, model: &Model) -> Vec<Drawn> {
    let frame = Frame::of(model);
    let counts = completions(exec, model);
    let mut charts = vec![
        draw(
            &frame,
            "Latency of client operations (ms)",
            latency_max(exec),
            |c, k| latency(c, k, exec),
        ),
        draw(
            &frame,
            &format!("Throughput (operations completed per {BUCKET_MS} ms)"),
            counts.iter().map(|c| c.0.max(c.1)).fold(1.0, f64::max),
            |c, k| throughput(c, k, &counts),
        ),
    ];
    for (name, points) in &exec.series {
        let top = points.iter().map(|p| p.1).fold(1.0, f64::max);
        charts.push(draw(&frame, name, top, |c, k| gauge(c, k, name, points)));
    }
    charts
}

/// Draw one chart with y from 0 to a little above `top`.
fn draw(
    frame: &Frame,
    title: &str,
    top: f64,
    body: impl FnOnce(&mut Chart<'_, '_>, &mut Vec<Key>) -> Fallible,
) -> Drawn {
    let mut svg = String::new();
    let drawn = (|| -> Fallible {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE)?;
        let y_max = (top * 1.12).max(1.0);
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 15))
            .margin(8)
            .margin_right(LEGEND_W)
            .x_label_area_size(34)
            .y_label_area_size(56)
            .build_cartesian_2d(0f64..frame.end_ms, 0f64..y_max)?;
        chart
            .configure_mesh()
            .x_desc("simulated time (ms)")
            .light_line_style(RGBColor(241, 245, 249))
            .label_style(("sans-serif", 11))
            .draw()?;
        frame.backdrop(&mut chart, y_max)?;
        let mut keys = Vec::new();
        body(&mut chart, &mut keys)?;
        legend(&root, &keys)?;
        root.present()?;
        Ok(())
    })();
    if let Err(e) = drawn {
        svg = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"600\" height=\"30\"><text x=\"8\" y=\"20\">chart failed: {}</text></svg>",
            super::esc(&e.to_string())
        );
    }
    Drawn {
        title: title.to_string(),
        svg,
    }
}

/// How a series shows in the legend.
enum Mark {
    Dot,
    Triangle,
    Line,
}

/// One line of a chart's legend.
struct Key {
    label: String,
    colour: RGBColor,
    mark: Mark,
}

/// The legend in the right margin, beside the plot: never over the data.
fn legend(root: &DrawingArea<SVGBackend<'_>, Shift>, keys: &[Key]) -> Fallible {
    let x = (SIZE.0 - LEGEND_W) as i32 + 12;
    for (i, key) in keys.iter().enumerate() {
        let y = 44 + 15 * i as i32;
        match key.mark {
            Mark::Dot => root.draw(&Circle::new((x + 6, y), 3, key.colour.mix(0.8).filled()))?,
            Mark::Triangle => {
                root.draw(&TriangleMarker::new((x + 6, y), 4, key.colour.filled()))?
            }
            Mark::Line => root.draw(&PathElement::new(
                [(x, y), (x + 14, y)],
                key.colour.stroke_width(2),
            ))?,
        }
        root.draw(&Text::new(
            key.label.clone(),
            (x + 20, y - 6),
            ("sans-serif", 11).into_font().color(&RGBColor(51, 65, 85)),
        ))?;
    }
    Ok(())
}

/// Latency by kind and outcome; unreturned operations on the top edge.
fn latency(chart: &mut Chart<'_, '_>, keys: &mut Vec<Key>, exec: &Execution) -> Fallible {
    let top = latency_max(exec) * 1.08;
    let kinds = kinds(exec);
    for (k, f) in kinds.iter().enumerate() {
        for (status, colour) in [(Status::Ok, KINDS[k % KINDS.len()]), (Status::Fail, FAIL)] {
            let dots: Vec<(f64, f64)> = (exec.history.ops.iter())
                .filter(|op| op.f == *f && op.status == status)
                .filter_map(|op| op.ret.map(|r| (ms(op.call), ms(r.saturating_sub(op.call)))))
                .collect();
            if dots.is_empty() {
                continue;
            }
            let style = colour.mix(0.8).filled();
            chart.draw_series(dots.iter().map(|&p| Circle::new(p, 2, style)))?;
            keys.push(Key {
                label: format!(
                    "{} {}",
                    f.name(),
                    if status == Status::Ok { "ok" } else { "fail" }
                ),
                colour,
                mark: Mark::Dot,
            });
        }
    }
    let unknown: Vec<f64> = (exec.history.ops.iter())
        .filter(|op| op.ret.is_none())
        .map(|op| ms(op.call))
        .collect();
    if !unknown.is_empty() {
        let style = INFO.filled();
        chart.draw_series(
            unknown
                .iter()
                .map(|&t| TriangleMarker::new((t, top), 4, style)),
        )?;
        keys.push(Key {
            label: "never returned (unknown)".into(),
            colour: INFO,
            mark: Mark::Triangle,
        });
    }
    Ok(())
}

/// Operation kinds in the history, in first-seen order.
fn kinds(exec: &Execution) -> Vec<Func> {
    let mut kinds: Vec<Func> = Vec::new();
    for op in &exec.history.ops {
        if !kinds.contains(&op.f) && kinds.len() < 32 {
            kinds.push(op.f);
        }
    }
    kinds
}

fn latency_max(exec: &Execution) -> f64 {
    (exec.history.ops.iter())
        .filter_map(|op| op.ret.map(|r| ms(r.saturating_sub(op.call))))
        .fold(1.0, f64::max)
}

/// Completed operations per bucket: (ok, failed).
fn completions(exec: &Execution, model: &Model) -> Vec<(f64, f64)> {
    let buckets = ((model.end_ms / BUCKET_MS).ceil() as usize).clamp(1, 100_000);
    let mut counts = vec![(0.0, 0.0); buckets];
    for op in &exec.history.ops {
        let Some(ret) = op.ret else { continue };
        let i = ((ms(ret) / BUCKET_MS) as usize).min(buckets - 1);
        match op.status {
            Status::Ok => counts[i].0 += 1.0,
            _ => counts[i].1 += 1.0,
        }
    }
    counts
}

fn throughput(chart: &mut Chart<'_, '_>, keys: &mut Vec<Key>, counts: &[(f64, f64)]) -> Fallible {
    let at = |i: usize| (i as f64 + 0.5) * BUCKET_MS;
    let ok: Vec<(f64, f64)> = counts
        .iter()
        .enumerate()
        .map(|(i, c)| (at(i), c.0))
        .collect();
    let failed: Vec<(f64, f64)> = counts
        .iter()
        .enumerate()
        .map(|(i, c)| (at(i), c.1))
        .collect();
    chart.draw_series(LineSeries::new(ok, OK.stroke_width(2)))?;
    chart.draw_series(LineSeries::new(failed, FAIL.stroke_width(2)))?;
    keys.push(Key {
        label: "ok".into(),
        colour: OK,
        mark: Mark::Line,
    });
    keys.push(Key {
        label: "failed".into(),
        colour: FAIL,
        mark: Mark::Line,
    });
    Ok(())
}

/// A system gauge as a step line.
fn gauge(
    chart: &mut Chart<'_, '_>,
    keys: &mut Vec<Key>,
    name: &str,
    points: &[(u64, f64)],
) -> Fallible {
    let mut steps = Vec::with_capacity(points.len() * 2);
    for (i, &(t, v)) in points.iter().enumerate() {
        if i > 0 {
            steps.push((ms(t), steps.last().map_or(v, |p: &(f64, f64)| p.1)));
        }
        steps.push((ms(t), v));
    }
    chart.draw_series(LineSeries::new(steps, LINE.stroke_width(2)))?;
    keys.push(Key {
        label: name.split(" (").next().unwrap_or(name).to_string(),
        colour: LINE,
        mark: Mark::Line,
    });
    Ok(())
}
