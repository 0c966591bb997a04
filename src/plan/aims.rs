//! Aimed faults: a fault that strikes the process that has just reached a named event.
//!
//! The fault schedule ([`super::faults`]) is drawn before the run, so it picks its victims
//! blind: it crashes *a* replica, rarely *the leader that has just committed*. Many deep
//! bugs need exactly that — the leader gone at the one moment its followers hold an
//! unusual state (an entry of an earlier term on a majority but uncommitted, a lease just
//! extended). An aim names such a moment by a coverage probe (a *waypoint* the component
//! reports, e.g. Raft's `old_term_entry_on_majority`) and what to do to the process that
//! reaches it first inside the aim's window: crash it (restarted `restart_ms` later) or
//! cut it off from the other servers (healed `heal_ms` later). Each aim fires at most once.
//!
//! A share of seeds (`[faults.aimed] share`) get one or two aims, at events the system offers
//! ([`super::Spec::aim_targets`]). They are drawn from their own stream (`aims`), so a
//! seed without aims plans and runs exactly as before aims existed, and they are data in
//! the plan: `plan.json` replays them, and the run's trace shows each aimed fault as the
//! crash or partition it was, at the moment it struck.

use serde::{Deserialize, Serialize};

use super::sane::Problem;
use crate::rng::{streams, SubStream};

/// Most aims one seed gets.
pub const AIMS_MAX: usize = 2;
/// Partition ids of aimed isolations start here (drawn partitions count up from 0).
pub const PARTITION_ID_BASE: u32 = 1 << 30;

/// What an aim does to the process that reaches its event.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "act", rename_all = "snake_case")]
pub enum AimAct {
    /// Crash it at once (unsynced writes at risk, as any crash), restart it this much later.
    Crash {
        /// Down time (ms).
        restart_ms: u64,
    },
    /// Cut it off from every other server, both ways (clients still reach it), and heal
    /// this much later.
    Isolate {
        /// Time cut off (ms).
        heal_ms: u64,
    },
}

/// One aimed fault.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Aim {
    /// The event: a coverage probe the system reports on the process it happens on.
    pub probe: String,
    /// What happens to that process.
    #[serde(flatten)]
    pub act: AimAct,
    /// The aim is armed from here (ms)…
    pub from_ms: u64,
    /// …until here (ms, exclusive); at most the end of the chaos phase.
    pub until_ms: u64,
}

impl Aim {
    /// Whether the aim is armed at `now_ns`.
    pub fn armed(&self, now_ns: u64) -> bool {
        const NS_PER_MS: u64 = 1_000_000;
        (self.from_ms * NS_PER_MS..self.until_ms * NS_PER_MS).contains(&now_ns)
    }
}

/// How long an aimed fault lasts: the scenario's own ranges for crashes and partitions.
#[derive(Debug, Clone, Copy)]
pub struct Durations {
    /// Restart delay range (ms).
    pub restart_ms: (u64, u64),
    /// Partition duration range (ms).
    pub partition_ms: (u64, u64),
}

/// The aims of one seed: one or two for a `share` of seeds, none for the rest, each armed
/// from a time drawn in the chaos phase to its end, drawn from the `aims` stream.
pub fn draw(
    targets: &[&str],
    (share, durations): (f64, Durations),
    chaos_ms: u64,
    seed: u64,
) -> Vec<Aim> {
    if targets.is_empty() || chaos_ms < 2 || share <= 0.0 {
        return Vec::new();
    }
    let mut rng = SubStream::new(seed, streams::AIMS);
    if !rng.chance(share) {
        return Vec::new();
    }
    let count = 1 + rng.index(AIMS_MAX);
    let mut aims: Vec<Aim> = (0..count)
        .map(|_| {
            let probe = targets[rng.index(targets.len())].to_string();
            let act = if rng.chance(0.5) {
                let (lo, hi) = durations.restart_ms;
                AimAct::Crash {
                    restart_ms: rng.range_u64(lo, hi.max(lo)),
                }
            } else {
                let (lo, hi) = durations.partition_ms;
                AimAct::Isolate {
                    heal_ms: rng.range_u64(lo, hi.max(lo)),
                }
            };
            Aim {
                probe,
                act,
                from_ms: rng.range_u64(0, chaos_ms - 1),
                until_ms: chaos_ms,
            }
        })
        .collect();
    aims.sort_by(|a, b| (a.from_ms, &a.probe).cmp(&(b.from_ms, &b.probe)));
    aims
}

/// Whether the aims of a plan read from a file make sense: events the system reports,
/// windows inside the chaos phase; a problem names the value's path (`aims[1].probe`).
pub fn check(aims: &[Aim], targets: &[&str], chaos_ms: u64) -> Result<(), Problem> {
    for (i, aim) in aims.iter().enumerate() {
        let at = |field: &str, message: String| Problem {
            path: format!("aims[{i}].{field}"),
            message,
        };
        if !targets.contains(&aim.probe.as_str()) {
            return Err(at(
                "probe",
                format!(
                    "`{}` is not an event this system offers aims at (one of: {})",
                    aim.probe,
                    targets.join(", ")
                ),
            ));
        }
        if aim.from_ms >= aim.until_ms || aim.until_ms > chaos_ms {
            return Err(at(
                "until_ms",
                format!(
                    "an aim armed {}–{} ms: a window inside the chaos phase (0–{chaos_ms} ms) is needed",
                    aim.from_ms, aim.until_ms
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TARGETS: &[&str] = &["leader_elected", "lease_extended"];
    const DURATIONS: Durations = Durations {
        restart_ms: (20, 200),
        partition_ms: (100, 1000),
    };

    #[test]
    fn about_half_the_seeds_get_aims_inside_the_chaos_phase() {
        let with = (0..400u64)
            .filter(|&seed| {
                let aims = draw(TARGETS, (0.5, DURATIONS), 3000, seed);
                for a in &aims {
                    assert!(a.from_ms < a.until_ms && a.until_ms == 3000, "{a:?}");
                    assert!(TARGETS.contains(&a.probe.as_str()), "{a:?}");
                    match a.act {
                        AimAct::Crash { restart_ms } => assert!((20..=200).contains(&restart_ms)),
                        AimAct::Isolate { heal_ms } => assert!((100..=1000).contains(&heal_ms)),
                    }
                }
                assert!(aims.len() <= AIMS_MAX);
                check(&aims, TARGETS, 3000).unwrap();
                !aims.is_empty()
            })
            .count();
        assert!((150..250).contains(&with), "{with} of 400 seeds have aims");
        assert!(draw(&[], (0.5, DURATIONS), 3000, 1).is_empty());
        assert!(draw(TARGETS, (0.0, DURATIONS), 3000, 1).is_empty());
        assert_eq!(
            draw(TARGETS, (0.5, DURATIONS), 3000, 7),
            draw(TARGETS, (0.5, DURATIONS), 3000, 7)
        );
    }

    #[test]
    fn aims_at_unknown_events_or_outside_chaos_are_refused() {
        let aim = |probe: &str, from_ms, until_ms| Aim {
            probe: probe.into(),
            act: AimAct::Crash { restart_ms: 50 },
            from_ms,
            until_ms,
        };
        let err = check(&[aim("nope", 0, 10)], TARGETS, 3000).unwrap_err();
        assert_eq!(err.path, "aims[0].probe");
        assert!(
            err.message.contains("leader_elected, lease_extended"),
            "{}",
            err.message
        );
        let ok = aim("leader_elected", 0, 10);
        let err = check(&[ok.clone(), aim("leader_elected", 5, 4000)], TARGETS, 3000).unwrap_err();
        assert_eq!(err.path, "aims[1].until_ms");
        assert!(check(&[aim("leader_elected", 9, 9)], TARGETS, 3000).is_err());
        assert!(check(&[ok], TARGETS, 3000).is_ok());
    }
}
