//! Which seeds a run runs: the seed range of each scenario, cut into a shard (`--shard
//! K/N`), minus what a resumed run already finished, in the order they start.
//!
//! **Shards** stripe each scenario's seeds: seed `seed_start + i` belongs to shard
//! `i mod N + 1`. Striping balances the shards (expensive seeds are not clustered) and
//! gives every shard some seeds of every scenario, and the union of the N shards is
//! exactly the unsharded run. A pinned plan (one seed, offset 0) runs in shard 1. The
//! shard index may come from the environment that runs the shards: `--shard env/N` reads
//! `FAULTLINE_SHARD_INDEX`, else `JOB_COMPLETION_INDEX` (a Kubernetes Indexed Job's),
//! both 0-based.

use std::collections::BTreeSet;

use crate::input::BadInput;

/// One shard of N (1-based `index`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// Which one, 1..=count.
    pub index: u64,
    /// How many.
    pub count: u64,
}

impl Shard {
    /// The whole run.
    pub const ALL: Shard = Shard { index: 1, count: 1 };

    /// Parse `K/N` (1-based) or `env/N` (index from the environment, 0-based there).
    pub fn parse(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Shard, BadInput> {
        let bad = |why: String| BadInput(format!("--shard {text}: {why}"));
        let (k, n) = text
            .split_once('/')
            .ok_or_else(|| bad("expected K/N (e.g. 2/8) or env/N".into()))?;
        let count: u64 = n
            .trim()
            .parse()
            .map_err(|_| bad(format!("N must be a whole number, not `{n}`")))?;
        if count == 0 {
            return Err(bad("N must be at least 1".into()));
        }
        let index = if k.trim() == "env" {
            let (var, value) = ["FAULTLINE_SHARD_INDEX", "JOB_COMPLETION_INDEX"]
                .iter()
                .find_map(|v| env(v).map(|value| (*v, value)))
                .ok_or_else(|| {
                    bad("neither FAULTLINE_SHARD_INDEX nor JOB_COMPLETION_INDEX is set".into())
                })?;
            let i: u64 = value.trim().parse().map_err(|_| {
                bad(format!(
                    "{var}={value:?} is not a whole number (0-based index)"
                ))
            })?;
            i + 1
        } else {
            k.trim()
                .parse()
                .map_err(|_| bad(format!("K must be a whole number or `env`, not `{k}`")))?
        };
        if !(1..=count).contains(&index) {
            return Err(bad(format!(
                "shard {index} of {count}: K counts from 1 to N (an index from the environment from 0 to N-1)"
            )));
        }
        Ok(Shard { index, count })
    }

    /// The shard a run manifest records.
    pub fn of(m: &crate::runner::journal::Manifest) -> Shard {
        Shard {
            index: m.shard.0,
            count: m.shard.1,
        }
    }

    /// Whether seed offset `i` (from the scenario's first seed) is in this shard.
    pub fn holds(&self, i: u64) -> bool {
        i % self.count == self.index - 1
    }

    /// How many of `seeds` seed offsets are in this shard.
    pub fn share(&self, seeds: u64) -> u64 {
        let first = self.index - 1;
        if seeds <= first {
            0
        } else {
            (seeds - first).div_ceil(self.count)
        }
    }
}

/// The seeds of one scenario this run runs: its range, its shard's share of it.
#[derive(Debug, Clone, Copy)]
pub struct Range {
    /// First seed of the whole range.
    pub start: u64,
    /// Seeds in the whole range (all shards).
    pub count: u64,
}

impl Range {
    /// Each scenario's seed range as a run manifest records it.
    pub fn all_of(m: &crate::runner::journal::Manifest) -> Vec<Range> {
        (m.scenarios.iter())
            .map(|e| Range {
                start: e.seed_start,
                count: e.seeds,
            })
            .collect()
    }
}

/// Parse a duration: `90s`, `10m`, `2h`, or whole seconds.
pub fn parse_duration_s(text: &str) -> Result<u64, BadInput> {
    let t = text.trim();
    let (number, unit) = match t.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((at, _)) => t.split_at(at),
        None => (t, "s"),
    };
    let n: u64 = number.parse().map_err(|_| {
        BadInput(format!(
            "--time-budget {text}: expected a whole number with s, m or h (e.g. 10m)"
        ))
    })?;
    let per = match unit.trim() {
        "s" => 1,
        "m" | "min" => 60,
        "h" => 3600,
        other => {
            return Err(BadInput(format!(
                "--time-budget {text}: unknown unit `{other}` (use s, m or h)"
            )))
        }
    };
    match n.checked_mul(per) {
        Some(0) | None => Err(BadInput(format!(
            "--time-budget {text}: must be at least 1 s and fit in 64 bits"
        ))),
        Some(s) => Ok(s),
    }
}

/// The (scenario, seed) pairs to run, in start order: scenario after scenario, or — with
/// a time budget — round-robin (seed i of every scenario before seed i + 1), so a budget
/// that runs out leaves every scenario with a prefix of its seeds. `done` are skipped.
/// Lazy: a sweep of millions of seeds holds none of them up front.
pub fn order<'a>(
    ranges: &'a [Range],
    shard: Shard,
    round_robin: bool,
    done: &'a BTreeSet<(usize, u64)>,
) -> Box<dyn Iterator<Item = (usize, u64)> + Send + 'a> {
    let mine = move |index: usize, i: u64| {
        let seed = ranges[index].start + i;
        (shard.holds(i) && !done.contains(&(index, seed))).then_some((index, seed))
    };
    if round_robin {
        let longest = ranges.iter().map(|r| r.count).max().unwrap_or(0);
        Box::new((0..longest).flat_map(move |i| {
            (0..ranges.len())
                .filter(move |&s| i < ranges[s].count)
                .filter_map(move |s| mine(s, i))
        }))
    } else {
        Box::new(
            (0..ranges.len())
                .flat_map(move |s| (0..ranges[s].count).filter_map(move |i| mine(s, i))),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_stripe_the_seeds_and_together_are_the_whole_run() {
        let ranges = [
            Range {
                start: 10,
                count: 7,
            },
            Range { start: 0, count: 1 },
        ];
        let none = BTreeSet::new();
        let mut union: Vec<(usize, u64)> = (1..=3)
            .flat_map(|k| {
                order(&ranges, Shard { index: k, count: 3 }, false, &none).collect::<Vec<_>>()
            })
            .collect();
        union.sort_unstable();
        let mut whole: Vec<_> = order(&ranges, Shard::ALL, false, &none).collect();
        whole.sort_unstable();
        assert_eq!(union, whole);
        let second: Vec<_> = order(&ranges, Shard { index: 2, count: 3 }, false, &none).collect();
        assert_eq!(second, vec![(0, 11), (0, 14)]);
        assert_eq!(Shard { index: 2, count: 3 }.share(7), 2);
        assert_eq!(Shard { index: 2, count: 3 }.share(1), 0);
    }

    #[test]
    fn a_budget_runs_round_robin_and_resume_skips_what_is_done() {
        let ranges = [Range { start: 0, count: 2 }, Range { start: 5, count: 3 }];
        let done = BTreeSet::from([(1, 5)]);
        assert_eq!(
            order(&ranges, Shard::ALL, true, &done).collect::<Vec<_>>(),
            vec![(0, 0), (0, 1), (1, 6), (1, 7)]
        );
    }

    #[test]
    fn shard_and_budget_arguments_are_checked() {
        let env = |v: &str| (v == "JOB_COMPLETION_INDEX").then(|| "2".to_string());
        assert_eq!(
            Shard::parse("env/4", &env).unwrap(),
            Shard { index: 3, count: 4 }
        );
        assert_eq!(
            Shard::parse("4/4", &|_| None).unwrap(),
            Shard { index: 4, count: 4 }
        );
        for bad in ["0/4", "5/4", "x/4", "1/0", "3", "env/2"] {
            assert!(Shard::parse(bad, &env).is_err(), "{bad}");
        }
        assert_eq!(parse_duration_s("10m").unwrap(), 600);
        assert_eq!(parse_duration_s("45").unwrap(), 45);
        assert!(parse_duration_s("10 parsecs").is_err());
        assert!(parse_duration_s("0s").is_err());
    }
}
