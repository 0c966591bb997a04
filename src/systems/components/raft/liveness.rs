//! Raft's liveness condition on its settings: `broadcast time ≪ election timeout spread`.
//!
//! A follower whose election timer fires first becomes a candidate and asks the others
//! for votes; it wins if its requests and the replies — a round trip, plus the fsync a
//! vote waits for — arrive before another follower's timer fires and splits the vote.
//! Timeouts are drawn uniformly from `[election_timeout_ms_min, election_timeout_ms_max]`
//! each round, so a spread of a few round trips makes a split vote an unlucky round, not
//! the rule; a spread of 2 ms between five replicas 40 ms apart splits every round, and
//! the cluster never elects a leader again — a liveness failure of the settings, not of
//! the protocol.
//!
//! So the spread must be at least [`spread_needed_ms`]: two vote round trips at the
//! network's slowest, each with the group-commit fsync. Settings a scenario leaves to be
//! sampled (swarm testing) or to their defaults are widened to it for each seed
//! ([`fit_spread`]); bounds a scenario sets explicitly are checked at load
//! ([`spread_problem`]) and refused with the reason.

/// The least election-timeout spread (ms) Raft needs over a network whose one-way
/// latency is at most `latency_ms_max`, with `flush_interval_ms` of group commit before a
/// vote is durable.
pub fn spread_needed_ms(latency_ms_max: u64, flush_interval_ms: u64) -> u64 {
    2 * (2 * latency_ms_max + flush_interval_ms)
}

/// Largest election timeout (ms): the knobs' valid range.
const TIMEOUT_MS_MAX: u64 = 600_000;

/// Widen a seed's timeouts to `needed` ms of spread, moving only a bound the scenario did
/// not set (`explicit`: whether the lower and upper bound were set): the upper bound up
/// when it is free, else the lower bound down (not below `heartbeat_ms` + 1). Bounds set
/// both are left as they are (checked at load).
pub fn fit_spread(
    min: &mut u64,
    max: &mut u64,
    explicit: (bool, bool),
    needed: u64,
    heartbeat_ms: u64,
) {
    if max.saturating_sub(*min) >= needed {
        return;
    }
    match explicit {
        (_, false) => *max = min.saturating_add(needed).min(TIMEOUT_MS_MAX),
        (false, true) => *min = max.saturating_sub(needed).max(heartbeat_ms + 1).min(*max),
        (true, true) => {}
    }
}

/// [`fit_spread`] for one seed of a scenario: its network (`generic`), its fsync, its
/// heartbeat, and which bounds the scenario set (`Some` in its section).
pub fn fit_seed<T>(
    (min, max): (&mut u64, &mut u64),
    (set_min, set_max): (&Option<T>, &Option<T>),
    generic: &crate::scenario::Params,
    flush_interval_ms: u64,
    heartbeat_ms: u64,
) {
    let needed = spread_needed_ms(generic.network.latency_ms_max, flush_interval_ms);
    fit_spread(
        min,
        max,
        (set_min.is_some(), set_max.is_some()),
        needed,
        heartbeat_ms,
    );
}

/// The problem, if any, with a section's election timeouts at load: only when both bounds
/// are set (a free bound is fitted per seed), at their closest over the seeds a scenario
/// draws, against the slowest network (`worst`) and fsync it draws.
pub fn section_problem(
    system: &str,
    (min, max): (
        &Option<crate::knob::Knob<u64>>,
        &Option<crate::knob::Knob<u64>>,
    ),
    flush_interval_ms_max: u64,
    worst: &crate::scenario::load::Worst,
) -> Option<(String, String)> {
    let (Some(min), Some(max)) = (min, max) else {
        return None;
    };
    spread_problem(
        system,
        (min.max(), max.min()),
        worst.latency_ms_max,
        flush_interval_ms_max,
    )
}

/// The problem, if any, with explicit election-timeout bounds: `lo` and `hi` are the
/// closest the two bounds can come (`lo` the largest lower bound, `hi` the smallest upper
/// one, over the seeds the scenario draws), `latency_ms_max` and `flush_interval_ms` the
/// slowest network and fsync. Returns (the key to report at, the message).
pub fn spread_problem(
    system: &str,
    (lo, hi): (u64, u64),
    latency_ms_max: u64,
    flush_interval_ms: u64,
) -> Option<(String, String)> {
    let needed = spread_needed_ms(latency_ms_max, flush_interval_ms);
    let spread = hi.saturating_sub(lo);
    (spread < needed).then(|| {
        (
            format!("{system}.election_timeout_ms_max"),
            format!(
                "the election timeout's spread can be as small as {spread} ms ({lo} to {hi}), below the {needed} ms Raft needs \
                 to elect a leader on this network: two vote round trips (2 × (2 × `network.latency_ms_max` {latency_ms_max} ms \
                 + `{system}.flush_interval_ms` {flush_interval_ms} ms)); candidates would keep splitting the vote. \
                 Widen the bounds, or leave one out to have it fitted per seed"
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_free_bound_moves_and_explicit_pairs_do_not() {
        let needed = spread_needed_ms(40, 5);
        assert_eq!(needed, 170);
        let (mut lo, mut hi) = (199, 201);
        fit_spread(&mut lo, &mut hi, (false, false), needed, 40);
        assert_eq!((lo, hi), (199, 369));
        let (mut lo, mut hi) = (199, 201);
        fit_spread(&mut lo, &mut hi, (false, true), needed, 40);
        assert_eq!((lo, hi), (41, 201));
        let (mut lo, mut hi) = (199, 201);
        fit_spread(&mut lo, &mut hi, (true, true), needed, 40);
        assert_eq!((lo, hi), (199, 201));
        let (mut lo, mut hi) = (150, 300);
        fit_spread(
            &mut lo,
            &mut hi,
            (false, false),
            spread_needed_ms(10, 1),
            40,
        );
        assert_eq!((lo, hi), (150, 300), "wide enough: untouched");
    }

    #[test]
    fn narrow_explicit_bounds_are_refused_with_the_reason() {
        let (key, message) = spread_problem("es_cluster", (199, 201), 40, 5).expect("too narrow");
        assert_eq!(key, "es_cluster.election_timeout_ms_max");
        assert!(
            message.contains("as small as 2 ms") && message.contains("170 ms"),
            "{message}"
        );
        assert!(spread_problem("es_cluster", (150, 300), 10, 1).is_none());
    }
}
