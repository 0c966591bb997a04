//! `faultline list`: the catalogue — systems, planted bugs, checks, knobs, scenarios.

use std::path::PathBuf;

use clap::ValueEnum;

use crate::knob::KnobDoc;
use crate::scenario::{self, Scenario};
use crate::systems::{REGISTRY, SYSTEMS};

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
    match args.what {
        What::Systems => {
            for s in SYSTEMS {
                println!("{:14} {}", s.name(), s.about());
            }
        }
        What::Bugs => {
            for s in SYSTEMS {
                for bug in s.bugs() {
                    println!("{:14} {:22} {}", s.name(), bug.name, bug.about);
                }
            }
        }
        What::Checks => {
            for s in SYSTEMS {
                for check in s.checks() {
                    let kind = check.kind.map_or(String::new(), |k| format!("{k:?}"));
                    println!(
                        "{:14} {:18} {:9} {}",
                        s.name(),
                        check.name,
                        kind.to_lowercase(),
                        check.about
                    );
                }
            }
        }
        What::Workloads => {
            for s in SYSTEMS {
                for w in s.workloads() {
                    println!("{:14} {:10} {}", s.name(), w.name, w.about);
                }
            }
        }
        What::Knobs if args.markdown => print!("{}", knobs_markdown()),
        What::Knobs => print_knobs(),
        What::Scenarios => print_scenarios(&args.paths)?,
    }
    Ok(super::exit_code::PASS)
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
    for s in SYSTEMS {
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
