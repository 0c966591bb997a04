//! Named random sub-streams derived from the one seed, and the seed's id ([`SeedId`]: the
//! one type every layer passes a run's seed as, printed and parsed one way).
//!
//! Every random decision in a run comes from the run's seed, but not from one shared
//! generator: each component draws from its own *named* ChaCha8 stream. ChaCha has a
//! 64-bit stream parameter next to its 256-bit key, so a sub-stream is simply the
//! generator keyed by the seed with the stream number set to a stable hash of the name.
//! Streams never overlap, and the number of draws one component makes cannot shift what
//! another component sees: adding a node (a new `node/3` stream) leaves the `network`
//! stream untouched, so a fault schedule survives unrelated changes.
//!
//! The names in use are listed in [`streams`]. `tests/golden_rng.rs` pins the first
//! outputs of a fixed seed, so an accidental change of derivation is caught.

pub mod seed_id;

pub use seed_id::{SeedId, SeedIdError};

use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The stream names used by faultline, in one place.
pub mod streams {
    /// Swarm sampling of unset scenario knobs (one stream per knob: `swarm/<knob>`).
    pub const SWARM: &str = "swarm";
    /// The client workload.
    pub const WORKLOAD: &str = "workload";
    /// The fault schedule (one stream per fault kind: `faults/<kind>`).
    pub const FAULTS: &str = "faults";
    /// Per-message fates: loss, latency, duplication, reordering.
    pub const NETWORK: &str = "network";
    /// Disk faults at crash time (which unsynced writes survive, torn writes).
    pub const DISK: &str = "disk";
    /// Per-node clock skew.
    pub const CLOCK: &str = "clock";
    /// The seed handed to madsim's own scheduler randomness.
    pub const MADSIM: &str = "madsim";
    /// Prefix of each node's private stream (`node/<index>`).
    pub const NODE: &str = "node";
    /// Fault points inside components (whether a seed gets any, and which).
    pub const FAULT_POINTS: &str = "fault_points";
    /// Aimed faults (whether a seed gets any, at which events, doing what).
    pub const AIMS: &str = "aims";
    /// How a guided run mutates its parent's plan.
    pub const GUIDED: &str = "guided";
}

/// A ChaCha8 generator for one named component of one seed.
#[derive(Debug, Clone)]
pub struct SubStream {
    rng: ChaCha8Rng,
}

impl SubStream {
    /// The stream called `name` of `seed`.
    pub fn new(seed: u64, name: &str) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(stream_id(name));
        SubStream { rng }
    }

    /// The stream called `<name>/<index>` of `seed`, e.g. `node/3`.
    pub fn indexed(seed: u64, name: &str, index: usize) -> Self {
        Self::new(seed, &format!("{name}/{index}"))
    }

    /// A uniform integer in `[lo, hi]` (inclusive; `lo` when `hi < lo`).
    pub fn range_u64(&mut self, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            lo
        } else {
            self.rng.gen_range(lo..=hi)
        }
    }

    /// A uniform float in `[lo, hi]`.
    pub fn range_f64(&mut self, lo: f64, hi: f64) -> f64 {
        if hi <= lo {
            lo
        } else {
            lo + (hi - lo) * self.unit()
        }
    }

    /// A uniform float in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        // 53 random bits: every representable step of [0, 1) is equally likely.
        (self.rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// True with probability `p` (p <= 0: never, p >= 1: always, without drawing).
    pub fn chance(&mut self, p: f64) -> bool {
        if p <= 0.0 {
            false
        } else if p >= 1.0 {
            true
        } else {
            self.unit() < p
        }
    }

    /// A uniform index below `n` (`n > 0`).
    pub fn index(&mut self, n: usize) -> usize {
        assert!(n > 0, "index() of an empty range");
        self.rng.gen_range(0..n)
    }

    /// An exponentially distributed delay with the given mean (for fault arrivals).
    pub fn exponential(&mut self, mean: f64) -> f64 {
        // Inverse transform; 1 - unit() is in (0, 1], so ln() is finite.
        -mean * (1.0 - self.unit()).ln()
    }

    /// Shuffle a slice in place (Fisher–Yates).
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.rng.gen_range(0..=i);
            items.swap(i, j);
        }
    }
}

impl RngCore for SubStream {
    fn next_u32(&mut self) -> u32 {
        self.rng.next_u32()
    }
    fn next_u64(&mut self) -> u64 {
        self.rng.next_u64()
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        self.rng.fill_bytes(dest)
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand::Error> {
        self.rng.try_fill_bytes(dest)
    }
}

/// The ChaCha stream number of a name: 64-bit FNV-1a of its bytes. Stable forever —
/// changing it changes every seed's run.
pub fn stream_id(name: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in name.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_differ_and_repeat() {
        let a: Vec<u64> = (0..4).map(|_| SubStream::new(7, "a").next_u64()).collect();
        assert!(
            a.windows(2).all(|w| w[0] == w[1]),
            "same stream, same first output"
        );
        let mut x = SubStream::new(7, "network");
        let mut y = SubStream::new(7, "workload");
        assert_ne!(x.next_u64(), y.next_u64());
        let mut z = SubStream::new(8, "network");
        assert_ne!(SubStream::new(7, "network").next_u64(), z.next_u64());
    }

    #[test]
    fn helpers_stay_in_range() {
        let mut s = SubStream::new(1, "t");
        for _ in 0..1000 {
            let v = s.range_u64(3, 9);
            assert!((3..=9).contains(&v));
            let f = s.range_f64(0.25, 0.5);
            assert!((0.25..=0.5).contains(&f));
            assert!(s.index(5) < 5);
            assert!(s.exponential(10.0) >= 0.0);
        }
        assert_eq!(s.range_u64(5, 5), 5);
        assert!(!s.chance(0.0));
        assert!(s.chance(1.0));
    }
}
