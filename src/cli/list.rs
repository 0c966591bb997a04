//! `faultline list`: the catalogue — systems, planted bugs, checks, knobs, scenarios.

use std::path::PathBuf;

use clap::ValueEnum;

use crate::scenario::{self, Scenario};
use crate::systems::SystemKind;

/// What to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum What {
    /// Systems under test.
    Systems,
    /// Planted bugs, per system.
    Bugs,
    /// Checks, per system.
    Checks,
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
            for s in SystemKind::ALL {
                let info = s.info();
                println!("{:14} {}", info.name, info.about);
            }
        }
        What::Bugs => {
            for s in SystemKind::ALL {
                let info = s.info();
                for bug in info.bugs {
                    println!("{:14} {:22} {}", info.name, bug.name, bug.about);
                }
            }
        }
        What::Checks => {
            for s in SystemKind::ALL {
                let info = s.info();
                for check in info.checks {
                    println!(
                        "{:14} {:18} {:9} {}",
                        info.name,
                        check.name,
                        format!("{:?}", check.kind).to_lowercase(),
                        check.about
                    );
                }
            }
        }
        What::Knobs => {
            if args.markdown {
                print!("{}", knobs_markdown());
                return Ok(super::exit_code::PASS);
            }
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
        What::Scenarios => {
            let paths = if args.paths.is_empty() {
                vec![PathBuf::from("scenarios")]
            } else {
                args.paths.clone()
            };
            for file in scenario::discover(&paths)? {
                let s = Scenario::load(&file)?;
                println!(
                    "{:32} {:12} expect {:9} bugs [{}]  {}",
                    s.name,
                    s.system.info().name,
                    format!("{:?}", s.file.expect).to_lowercase(),
                    s.file.bugs.join(", "),
                    file.display()
                );
            }
        }
    }
    Ok(super::exit_code::PASS)
}

fn all_knobs() -> Vec<scenario::knob::KnobDoc> {
    let mut docs = scenario::knob_docs();
    for s in SystemKind::ALL {
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
