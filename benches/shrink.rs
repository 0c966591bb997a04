//! Delta debugging against one-at-a-time removal (proptest's way of shrinking a
//! collection), on every planted-bug scenario's first failing seed: candidate runs and
//! what is left (fault episodes, client operations, messages). One candidate at a time,
//! so the runs are what each strategy asks for.
//!
//!   cargo bench --bench shrink

use std::path::PathBuf;

use faultline::runner::on_fresh_thread;
use faultline::scenario::{discover, Expect, Scenario};
use faultline::shrink::{shrink_with, Strategy, Target};
use faultline::systems::{self, ExecOptions, REGISTRY};

fn main() {
    println!("| scenario (seed) | ddmin runs | ddmin: faults, operations, messages | one-at-a-time runs | one-at-a-time: faults, operations, messages |");
    println!("|---|---:|---|---:|---|");
    let (mut runs_d, mut runs_o, mut ops_d, mut ops_o) = (0u64, 0u64, 0u64, 0u64);
    for file in discover(&[PathBuf::from("scenarios")]).unwrap() {
        let scenario = Scenario::load(&file, &REGISTRY).unwrap();
        if scenario.file.expect == Expect::Pass || scenario.file.pinned.is_some() {
            continue;
        }
        let system = systems::find(scenario.system.name()).unwrap();
        let Some(seed) = (0..100).find(|&seed| {
            let plan = system.plan(&scenario, seed);
            on_fresh_thread(seed, move || {
                Target::of(&system.run(&*plan, &ExecOptions::default())).is_some()
            })
            .unwrap()
        }) else {
            continue;
        };
        let run = |strategy| {
            shrink_with(system, system.plan(&scenario, seed), 1, strategy, &|_| {
                false
            })
            .unwrap()
        };
        let (d, o) = (run(Strategy::Ddmin), run(Strategy::OneAtATime));
        let size =
            |s: &faultline::shrink::Size| format!("{}, {}, {}", s.faults, s.operations, s.messages);
        println!(
            "| `{}` ({seed}) | {} | {} | {} | {} |",
            scenario.name,
            d.runs,
            size(&d.after),
            o.runs,
            size(&o.after)
        );
        runs_d += u64::from(d.runs);
        runs_o += u64::from(o.runs);
        ops_d += d.after.operations as u64;
        ops_o += o.after.operations as u64;
    }
    println!("| total | {runs_d} | {ops_d} operations | {runs_o} | {ops_o} operations |");
}
