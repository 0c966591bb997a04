//! Guided runs: a seed's plan mutated to explore around it.
//!
//! Coverage-guided scheduling (`faultline run`, see `crate::runner::sweep::guide`) keeps the
//! seeds whose runs reached rare probes or a new combination of probes, and spends a share
//! of the sweep on *mutants* of them: the parent's plan with its fault schedule moved, an
//! episode dropped, its fault points' windows and its client operations jittered, and new
//! network, disk and process streams. A mutant is named by one 64-bit id that says its
//! parent and its place in the sweep ([`super::SeedId::Guided`]): `faultline replay --seed <id>` plans the
//! parent and applies the same mutation, so a guided run replays (and shrinks) like any
//! seed, and its `plan.json` holds the mutated plan as data.
//!
//! Mutation is one level deep (a parent is always a plain seed), so an id is enough to
//! rebuild it; the mutation draws only from the id's `guided` stream.

use super::faults::episodes;
use super::{FaultAction, FaultPoint, TimedAction};
use crate::rng::{streams, SubStream};

/// How far the whole fault schedule may move (ms, either way).
pub const SHIFT_MS_MAX: u64 = 300;
/// How far a fault point's window or a client operation may move (ms, either way).
pub const JITTER_MS_MAX: u64 = 100;
/// Chance that one fault episode is dropped.
pub const DROP_EPISODE_CHANCE: f64 = 0.3;

/// Move a time by `delta` ms, `None` when it leaves `[0, chaos_ms)`.
fn moved(at_ms: u64, delta: i64, chaos_ms: u64) -> Option<u64> {
    let t = at_ms as i64 + delta;
    (t >= 0 && (t as u64) < chaos_ms).then_some(t as u64)
}

/// A signed draw in `[-max, max]`.
fn jitter(rng: &mut SubStream, max: u64) -> i64 {
    rng.range_u64(0, 2 * max) as i64 - max as i64
}

/// The fault schedule moved by one shift as a whole (so its limits — one partition at a
/// time, processes down at once — still hold), dropping the episodes that leave the chaos
/// phase, and sometimes one more.
pub fn mutate_faults(
    faults: &[TimedAction],
    chaos_ms: u64,
    rng: &mut SubStream,
) -> Vec<TimedAction> {
    let shift = jitter(rng, SHIFT_MS_MAX);
    let groups = episodes(faults);
    let dropped =
        (!groups.is_empty() && rng.chance(DROP_EPISODE_CHANCE)).then(|| rng.index(groups.len()));
    let mut kept: Vec<(usize, TimedAction)> = Vec::new();
    for (g, episode) in groups.iter().enumerate() {
        if Some(g) == dropped {
            continue;
        }
        let times: Option<Vec<u64>> = (episode.iter())
            .map(|&i| moved(faults[i].at_ms, shift, chaos_ms))
            .collect();
        if let Some(times) = times {
            for (&i, at_ms) in episode.iter().zip(times) {
                // A clog says when it ends (`until_ms`, its unclog's time): it moves too.
                let action = match faults[i].action.clone() {
                    FaultAction::Clog { from, to, until_ms } => FaultAction::Clog {
                        from,
                        to,
                        until_ms: moved(until_ms, shift, chaos_ms + 1).unwrap_or(chaos_ms),
                    },
                    action => action,
                };
                kept.push((i, TimedAction { at_ms, action }));
            }
        }
    }
    // The original order, which is time order with ties as admitted.
    kept.sort_by_key(|(i, _)| *i);
    kept.into_iter().map(|(_, t)| t).collect()
}

/// Fault points with their windows moved one by one (kept inside the chaos phase).
pub fn mutate_points(points: &[FaultPoint], chaos_ms: u64, rng: &mut SubStream) -> Vec<FaultPoint> {
    (points.iter())
        .filter_map(|p| {
            let delta = jitter(rng, JITTER_MS_MAX);
            let from_ms = moved(p.from_ms, delta, chaos_ms)?;
            let until_ms = (p.until_ms as i64 + delta).clamp(from_ms as i64 + 1, chaos_ms as i64);
            Some(FaultPoint {
                from_ms,
                until_ms: until_ms as u64,
                ..p.clone()
            })
        })
        .collect()
}

/// A client operation's start moved (kept inside the chaos phase).
pub fn mutate_time(at_ms: u64, chaos_ms: u64, rng: &mut SubStream) -> u64 {
    let delta = jitter(rng, JITTER_MS_MAX);
    moved(at_ms, delta, chaos_ms).unwrap_or(at_ms)
}

/// The mutation stream of a guided run.
pub fn stream(id: u64) -> SubStream {
    SubStream::new(id, streams::GUIDED)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mutated_schedule_keeps_each_start_with_its_end_inside_the_chaos_phase() {
        let faults = vec![
            TimedAction {
                at_ms: 100,
                action: FaultAction::Crash { node: 0 },
            },
            TimedAction {
                at_ms: 200,
                action: FaultAction::Pause { node: 1 },
            },
            TimedAction {
                at_ms: 400,
                action: FaultAction::Restart { node: 0 },
            },
            TimedAction {
                at_ms: 2900,
                action: FaultAction::Resume { node: 1 },
            },
        ];
        for seed in 0..200 {
            let mut rng = stream(seed);
            let out = mutate_faults(&faults, 3000, &mut rng);
            assert!(out.iter().all(|t| t.at_ms < 3000));
            assert_eq!(out.len() % 2, 0, "episodes stay whole: {out:?}");
            assert!(out.windows(2).all(|w| w[0].at_ms <= w[1].at_ms), "{out:?}");
            assert_eq!(episodes(&out).iter().filter(|e| e.len() != 2).count(), 0);
        }
    }
}
