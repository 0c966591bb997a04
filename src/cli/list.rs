//! `faultline list`: the catalogue — systems, planted bugs, checks, knobs, scenarios.

use std::path::PathBuf;

use clap::ValueEnum;

use crate::knob::KnobDoc;
use crate::scenario::{self, Scenario};
use crate::systems::{self, REGISTRY};

/// What to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum What {
    /// Systems under test.
    Systems,
    /// Planted bugs, per system.
    Bugs,
    /// Checks, per system.
    Checks,
    /// Workloads, per system (the first is the default).
    Workloads,
    /// Every scenario knob with its default, swarm range and allowed values.
    Knobs,
    /// Scenario files under the given paths (default `scenarios/`).
    Scenarios,
}

/// Arguments of `faultline list`.
#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// What to list.
    #[arg(value_enum, default_value_t = What::Systems)]
    pub what: What,
    /// For `scenarios`: files or directories.
    pub paths: Vec<PathBuf>,
    /// For `knobs`: print a Markdown table (the one in `scenarios/README.md`).
    #[arg(long)]
    pub markdown: bool,
}

/// Print the listing.
pub fn run(args: &ListArgs) -> anyhow::Result<u8> {
    let row = |cells: &[&str]| cells.iter().map(|c| c.to_string()).collect::<Vec<_>>();
    match args.what {
        What::Systems => print_rows(
            systems::all()
                .map(|s| row(&[s.name(), s.about()]))
                .collect(),
        ),
        What::Bugs => print_rows(
            systems::all()
                .flat_map(|s| s.bugs().into_iter().map(move |b| (s.name(), b)))
                .map(|(system, b)| row(&[system, b.name, b.about]))
                .collect(),
        ),
        What::Checks => print_rows(
            systems::all()
                .flat_map(|s| s.checks().into_iter().map(move |c| (s.name(), c)))
                .map(|(system, c)| {
                    let kind = c
                        .kind
                        .map_or(String::new(), |k| format!("{k:?}").to_lowercase());
                    row(&[system, c.name, &kind, c.about])
                })
                .collect(),
        ),
        What::Workloads => print_rows(
            systems::all()
                .flat_map(|s| s.workloads().into_iter().map(move |w| (s.name(), w)))
                .map(|(system, w)| row(&[system, w.name, w.about]))
                .collect(),
        ),
        What::Knobs if args.markdown => print!("{}", knobs_markdown()),
        What::Knobs => print_knobs(),
        What::Scenarios => print_scenarios(&args.paths)?,
    }
    Ok(super::exit_code::PASS)
}

/// Rows as columns as wide as their widest cell (the last column as it is).
fn print_rows(rows: Vec<Vec<String>>) {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            (rows
                .iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count()))
            .max()
            .unwrap_or(0)
        })
        .collect();
    for r in rows {
        let mut line = String::new();
        for (c, cell) in r.iter().enumerate() {
            if c + 1 == r.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:w$}  ", w = widths[c]));
            }
        }
        println!("{line}");
    }
}

fn print_knobs() {
    println!(
        "{:40} {:>9} {:>16} {:>22}  meaning",
        "knob", "default", "swarm range", "allowed"
    );
    for d in all_knobs() {
        println!(
            "{:40} {:>9} {:>16} {:>22}  {}",
            d.path,
            d.default,
            d.swarm,
            d.valid,
            one_line(d.doc)
        );
    }
}

fn print_scenarios(paths: &[PathBuf]) -> anyhow::Result<()> {
    let paths = if paths.is_empty() {
        vec![PathBuf::from("scenarios")]
    } else {
        paths.to_vec()
    };
    for file in scenario::discover(&paths)? {
        let s = Scenario::load(&file, &REGISTRY)?;
        println!(
            "{:32} {:12} expect {:9} bugs [{}]  {}",
            s.name,
            s.system.name(),
            format!("{:?}", s.file.expect).to_lowercase(),
            s.file.bugs.join(", "),
            file.display()
        );
    }
    Ok(())
}

fn all_knobs() -> Vec<KnobDoc> {
    let mut docs = scenario::knob_docs();
    for s in systems::all() {
        docs.extend(s.knob_docs());
    }
    docs
}

fn one_line(doc: &str) -> String {
    doc.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The knob reference as a Markdown table.
pub fn knobs_markdown() -> String {
    let mut out = String::from(
        "| knob | default | swarm range | allowed | meaning |\n|---|---|---|---|---|\n",
    );
    for d in all_knobs() {
        out.push_str(&format!(
            "| `{}` | {} | {} | {} | {} |\n",
            d.path,
            d.default,
            d.swarm,
            d.valid,
            one_line(d.doc).replace('|', "\\|")
        ));
    }
    out
}
