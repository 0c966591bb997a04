//! The id of one run of a scenario: a plain seed, a guided run that mutates a seed's
//! plan ([`crate::plan::guided`]), or a branched run that replays a seed up to a moment and
//! draws everything after it anew ([`crate::plan::branch`]).
//!
//! Every id a sweep prints replays, shrinks and pins alone, so an id has one text form,
//! printed and parsed the same way everywhere (replay lines, `--seed`, pinned scenario
//! files, the sweep report):
//!
//! | run | text | meaning |
//! |---|---|---|
//! | plain seed | `4242` | the plan drawn from seed 4242 |
//! | guided run | `41.g9999` | seed 41's plan, mutated as the run at sweep position 9999 |
//! | branched run | `41.b9999@1530` | seed 41's run up to 1,530 ms, then new draws as the run at position 9999 |
//!
//! Journals, `summary.json` and pinned scenario files store the same text form (a plain
//! seed as a number). Inside a plan, an id is also one `u64` ([`SeedId::raw`]): the
//! number the run's random streams are derived from, which `plan.json` stores and
//! [`crate::plan::Head::id`] decodes. Plain seeds are below 2^63 and guided and branched
//! runs set the top bit, so they never collide; a plain seed of 2^63 or more is refused
//! ([`SeedIdError::TooLarge`]). A branched run's raw form also sets bit 31 (so guided
//! positions stay below 2^31); its branch time is not in the raw number but in the plan
//! (`branch_ms`), which is why [`crate::plan::Head::id`] and not [`SeedId::from_raw`]
//! gives a plan's whole id. Everywhere between — the sweep's jobs and results, tallies,
//! triage, the guide, replay and shrink — a run is a `SeedId`, never a bare number.

use std::fmt;
use std::str::FromStr;

/// The bit that marks a guided (or branched) run's raw id.
const GUIDED_BIT: u64 = 1 << 63;
/// The bit of a guided raw id's position field that marks a branched run.
const BRANCH_BIT: u64 = 1 << 31;
/// Largest plain seed: below the guided bit.
pub const SEED_MAX: u64 = GUIDED_BIT - 1;
/// Largest parent seed a guided or branched id can name.
pub const PARENT_MAX: u64 = (1 << 31) - 1;
/// Largest sweep position a guided or branched id can name.
pub const INDEX_MAX: u64 = BRANCH_BIT - 1;
/// Latest branch time a branched id can name (ms): about 49 days of simulated time.
pub const BRANCH_MS_MAX: u64 = u32::MAX as u64;

/// One run's id: see the module documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SeedId {
    /// The plan drawn from this seed (below 2^63).
    Plain(u64),
    /// A mutant of a plain seed's plan.
    Guided {
        /// The plain seed whose plan is mutated (at most [`PARENT_MAX`]).
        parent: u64,
        /// The run's position in its sweep (at most [`INDEX_MAX`]); also what the
        /// mutation draws from.
        index: u64,
    },
    /// A plain seed's run replayed up to `at_ms`, with every random draw after it from
    /// the branch's own streams.
    Branched {
        /// The plain seed whose run is replayed (at most [`PARENT_MAX`]).
        parent: u64,
        /// The run's position in its sweep (at most [`INDEX_MAX`]); also what the draws
        /// after the branch time derive from.
        index: u64,
        /// The branch time (ms of simulated time, at most [`BRANCH_MS_MAX`]).
        at_ms: u64,
    },
}

/// Why a text or number is not a run's id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SeedIdError {
    /// Not a number, `<seed>.g<position>` nor `<seed>.b<position>@<ms>`.
    #[error(
        "`{0}` is not a seed: write a number (`4242`), a guided run's id (`41.g9999`) or a \
         branched run's id (`41.b9999@1530`)"
    )]
    Syntax(String),
    /// A plain seed at or above 2^63.
    #[error("seed {0} is too large: seeds go up to {SEED_MAX} (2^63 - 1){1}")]
    TooLarge(u64, String),
    /// A guided or branched run naming a parent, position or time out of range.
    #[error(
        "`{0}`: a guided or branched run names a seed up to {PARENT_MAX}, a position up to \
         {INDEX_MAX} and a time up to {BRANCH_MS_MAX} ms"
    )]
    Range(String),
}

impl SeedId {
    /// The guided run at sweep position `index` that mutates seed `parent`'s plan
    /// (`None` when either is too large to encode).
    pub fn guided(parent: u64, index: u64) -> Option<SeedId> {
        (parent <= PARENT_MAX && index <= INDEX_MAX).then_some(SeedId::Guided { parent, index })
    }

    /// The branched run at sweep position `index` that replays seed `parent`'s run up to
    /// `at_ms` (`None` when any is too large to encode).
    pub fn branched(parent: u64, index: u64, at_ms: u64) -> Option<SeedId> {
        (parent <= PARENT_MAX && index <= INDEX_MAX && at_ms <= BRANCH_MS_MAX).then_some(
            SeedId::Branched {
                parent,
                index,
                at_ms,
            },
        )
    }

    /// The plain seed `seed`, refused at or above 2^63.
    pub fn plain(seed: u64) -> Result<SeedId, SeedIdError> {
        if seed > SEED_MAX {
            let hint = match SeedId::from_raw(seed) {
                SeedId::Guided { parent, index } => {
                    format!("; {seed} is the numeric form of guided run `{parent}.g{index}`")
                }
                SeedId::Branched { parent, index, .. } => {
                    format!("; {seed} is the numeric form of a branched run of seed {parent} at position {index}")
                }
                SeedId::Plain(_) => String::new(),
            };
            return Err(SeedIdError::TooLarge(seed, hint));
        }
        Ok(SeedId::Plain(seed))
    }

    /// The number the run's streams derive from (and journals store).
    pub fn raw(self) -> u64 {
        match self {
            SeedId::Plain(seed) => seed,
            SeedId::Guided { parent, index } => GUIDED_BIT | (parent << 32) | index,
            SeedId::Branched { parent, index, .. } => {
                GUIDED_BIT | (parent << 32) | BRANCH_BIT | index
            }
        }
    }

    /// The id a raw number stands for: the inverse of [`SeedId::raw`], except that a
    /// branched run's time is not in its raw form: it comes back as 0 (see
    /// [`SeedId::at`]).
    pub fn from_raw(raw: u64) -> SeedId {
        if raw & GUIDED_BIT == 0 {
            return SeedId::Plain(raw);
        }
        let parent = (raw & !GUIDED_BIT) >> 32;
        let index = raw & INDEX_MAX;
        if raw & BRANCH_BIT == 0 {
            SeedId::Guided { parent, index }
        } else {
            SeedId::Branched {
                parent,
                index,
                at_ms: 0,
            }
        }
    }

    /// The same id with its branch time set to `at_ms` when it is a branched run's.
    pub fn at(self, at_ms: u64) -> SeedId {
        match self {
            SeedId::Branched { parent, index, .. } => SeedId::Branched {
                parent,
                index,
                at_ms,
            },
            other => other,
        }
    }

    /// The plain seed whose plan this run starts from.
    pub fn base(self) -> u64 {
        match self {
            SeedId::Plain(seed) => seed,
            SeedId::Guided { parent, .. } | SeedId::Branched { parent, .. } => parent,
        }
    }

    /// The run's place in its sweep: a seed's own number, a guided run's position.
    /// Sweeps order and count runs by it.
    pub fn position(self) -> u64 {
        match self {
            SeedId::Plain(seed) => seed,
            SeedId::Guided { index, .. } | SeedId::Branched { index, .. } => index,
        }
    }

    /// Whether it is a plain seed.
    pub fn is_plain(self) -> bool {
        matches!(self, SeedId::Plain(_))
    }
}

impl fmt::Display for SeedId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SeedId::Plain(seed) => write!(f, "{seed}"),
            SeedId::Guided { parent, index } => write!(f, "{parent}.g{index}"),
            SeedId::Branched {
                parent,
                index,
                at_ms,
            } => write!(f, "{parent}.b{index}@{at_ms}"),
        }
    }
}

impl FromStr for SeedId {
    type Err = SeedIdError;

    fn from_str(text: &str) -> Result<SeedId, SeedIdError> {
        let syntax = || SeedIdError::Syntax(text.to_string());
        let number = |s: &str| -> Result<u64, SeedIdError> {
            if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                return Err(syntax());
            }
            s.parse().map_err(|_| SeedIdError::Range(text.to_string()))
        };
        if let Some((parent, rest)) = text.split_once(".b") {
            let (index, at_ms) = rest.split_once('@').ok_or_else(syntax)?;
            let (parent, index, at_ms) = (number(parent)?, number(index)?, number(at_ms)?);
            return SeedId::branched(parent, index, at_ms)
                .ok_or_else(|| SeedIdError::Range(text.to_string()));
        }
        match text.split_once(".g") {
            None => match number(text) {
                Ok(seed) => SeedId::plain(seed),
                Err(SeedIdError::Range(_)) => Err(SeedIdError::TooLarge(u64::MAX, String::new())),
                Err(e) => Err(e),
            },
            Some((parent, index)) => {
                let (parent, index) = (number(parent)?, number(index)?);
                SeedId::guided(parent, index).ok_or_else(|| SeedIdError::Range(text.to_string()))
            }
        }
    }
}

impl serde::Serialize for SeedId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            SeedId::Plain(seed) => s.serialize_u64(*seed),
            guided => s.collect_str(guided),
        }
    }
}

impl<'de> serde::Deserialize<'de> for SeedId {
    /// A number (a plain seed) or the text form.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<SeedId, D::Error> {
        #[derive(serde::Deserialize)]
        #[serde(untagged)]
        enum Either {
            Number(u64),
            Text(String),
        }
        match Either::deserialize(d)? {
            Either::Number(n) => SeedId::plain(n).map_err(serde::de::Error::custom),
            Either::Text(t) => t.parse().map_err(serde::de::Error::custom),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_raw_forms_round_trip() {
        for id in [
            SeedId::Plain(0),
            SeedId::Plain(SEED_MAX),
            SeedId::guided(41, 9_999).unwrap(),
            SeedId::guided(PARENT_MAX, INDEX_MAX).unwrap(),
            SeedId::guided(0, 0).unwrap(),
            SeedId::branched(41, 9_999, 1_530).unwrap(),
            SeedId::branched(PARENT_MAX, INDEX_MAX, BRANCH_MS_MAX).unwrap(),
            SeedId::branched(0, 0, 0).unwrap(),
        ] {
            assert_eq!(id.to_string().parse::<SeedId>(), Ok(id));
            let at_ms = match id {
                SeedId::Branched { at_ms, .. } => at_ms,
                _ => 0,
            };
            assert_eq!(SeedId::from_raw(id.raw()).at(at_ms), id);
        }
        let branched = SeedId::branched(41, 9_999, 1_530).unwrap();
        assert_eq!(branched.to_string(), "41.b9999@1530");
        assert_eq!((branched.position(), branched.base()), (9_999, 41));
        assert_ne!(branched.raw(), SeedId::guided(41, 9_999).unwrap().raw());
        assert_eq!(SeedId::guided(41, 9_999).unwrap().to_string(), "41.g9999");
        assert_eq!(SeedId::guided(41, 9_999).unwrap().position(), 9_999);
        assert_eq!(SeedId::guided(41, 9_999).unwrap().base(), 41);
    }

    #[test]
    fn plain_seeds_never_collide_with_guided_ids() {
        let guided = SeedId::guided(3, 7).unwrap();
        let err = SeedId::plain(guided.raw()).unwrap_err();
        assert!(err.to_string().contains("`3.g7`"), "{err}");
        assert!(SeedId::plain(1 << 63).is_err());
        assert!("9223372036854775808".parse::<SeedId>().is_err());
        assert!("18446744073709551616".parse::<SeedId>().is_err());
        assert_eq!("9223372036854775807".parse(), Ok(SeedId::Plain(SEED_MAX)));
    }

    #[test]
    fn malformed_ids_are_refused() {
        for bad in [
            "", "-1", "1e3", "4.g", ".g4", "4.g-1", "4.gx", "4.g4.g4", " 4", "0x10", "4.b5",
            "4.b5@", "4.b@5", ".b5@5", "4.b5@5@5", "4.g5@5", "4.b5@-1", "4.b5@1.5",
        ] {
            assert!(bad.parse::<SeedId>().is_err(), "{bad:?}");
        }
        assert!("2147483648.g0".parse::<SeedId>().is_err());
        assert!("0.g4294967296".parse::<SeedId>().is_err());
        assert!(
            "0.g2147483648".parse::<SeedId>().is_err(),
            "positions stay below 2^31"
        );
        assert!("0.b0@4294967296".parse::<SeedId>().is_err());
    }

    #[test]
    fn serde_reads_numbers_and_text() {
        let ids: Vec<SeedId> = serde_json::from_str(r#"[5, "41.g9", "41.b9@20"]"#).unwrap();
        let branched = SeedId::branched(41, 9, 20).unwrap();
        assert_eq!(
            ids,
            vec![SeedId::Plain(5), SeedId::guided(41, 9).unwrap(), branched]
        );
        assert_eq!(
            serde_json::to_string(&ids).unwrap(),
            r#"[5,"41.g9","41.b9@20"]"#
        );
        assert!(serde_json::from_str::<SeedId>("9223372036854775808").is_err());
    }
}
