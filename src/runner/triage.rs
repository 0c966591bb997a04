//! Failure triage: a sweep with hundreds of failing seeds usually has a handful of distinct
//! bugs behind them. Failing seeds are grouped by a *signature* — their verdict, the
//! check that failed, and the first sentence of its message with every number masked (so
//! `c12 panicked at 431.2 ms: term 7 < 9` and `c3 panicked at 12.0 ms: term 2 < 4` are one
//! group, while a different assertion or check is another). Each group keeps its count and
//! its lowest seed, whose replay line represents it; the table prints one line per group.
//!
//! Groups do not depend on the order in which seeds finish: counts add up, and the
//! representative is the lowest seed. Past [`GROUPS_MAX`] distinct signatures, further
//! ones are counted together as "other kinds".

use std::collections::BTreeMap;

use serde::Serialize;

use crate::check::Verdict;
use crate::plan::SeedId;

/// A seed that did not pass.
#[derive(Debug, Clone, Serialize)]
pub struct FailingSeed {
    /// The seed.
    pub seed: SeedId,
    /// Its verdict.
    pub verdict: Verdict,
    /// The first failing check (none for a crash).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub check: Option<String>,
    /// What went wrong.
    pub message: String,
    /// The command that replays it.
    pub replay: String,
}

/// Distinct failure groups a scenario keeps.
pub const GROUPS_MAX: usize = 200;

/// The longest signature message kept (characters).
const SIGNATURE_CHARS_MAX: usize = 120;

/// Failing seeds with the same signature.
#[derive(Debug, Clone, Serialize)]
pub struct FailureGroup {
    /// The verdict of the group's seeds.
    pub verdict: Verdict,
    /// The failing check (none for a crash).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub check: Option<String>,
    /// The masked first sentence of the message.
    pub signature: String,
    /// How many failing seeds have it.
    pub seeds: u64,
    /// The lowest of them: the group's representative.
    pub first_seed: SeedId,
    /// The representative's whole message.
    pub message: String,
    /// The command that replays the representative.
    pub replay: String,
    /// Whether it is the finding the scenario expects (its planted bug caught).
    pub expected: bool,
}

/// The failure groups of one scenario (in `summary.json`: `groups`, most seeds first, and
/// `other_kinds_seeds`).
#[derive(Debug, Clone, Default)]
pub struct Triage {
    /// Groups by their key (verdict, check, signature).
    groups: BTreeMap<String, FailureGroup>,
    /// Failing seeds past [`GROUPS_MAX`] distinct signatures.
    pub other_kinds_seeds: u64,
}

impl Triage {
    /// Count a failing seed in its group; `expected`: whether it is the scenario's
    /// expected finding.
    pub fn add(&mut self, f: &FailingSeed, expected: bool) {
        let signature = signature(&f.message);
        let key = format!(
            "{:?}\u{1f}{}\u{1f}{signature}",
            f.verdict,
            f.check.as_deref().unwrap_or("")
        );
        if let Some(g) = self.groups.get_mut(&key) {
            g.seeds += 1;
            if f.seed < g.first_seed {
                g.first_seed = f.seed;
                g.message.clone_from(&f.message);
                g.replay.clone_from(&f.replay);
            }
            return;
        }
        if self.groups.len() >= GROUPS_MAX {
            self.other_kinds_seeds += 1;
            return;
        }
        self.groups.insert(
            key,
            FailureGroup {
                verdict: f.verdict,
                check: f.check.clone(),
                signature,
                seeds: 1,
                first_seed: f.seed,
                message: f.message.clone(),
                replay: f.replay.clone(),
                expected,
            },
        );
    }

    /// The groups, most seeds first (then lowest seed first).
    pub fn groups(&self) -> Vec<&FailureGroup> {
        let mut groups: Vec<&FailureGroup> = self.groups.values().collect();
        groups.sort_by(|a, b| b.seeds.cmp(&a.seeds).then(a.first_seed.cmp(&b.first_seed)));
        groups
    }

    /// How many groups there are.
    pub fn len(&self) -> usize {
        self.groups.len()
    }

    /// Whether no seed failed.
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty() && self.other_kinds_seeds == 0
    }
}

impl Serialize for Triage {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = serializer.serialize_struct("Triage", 2)?;
        st.serialize_field("groups", &self.groups())?;
        st.serialize_field("other_kinds_seeds", &self.other_kinds_seeds)?;
        st.end()
    }
}

/// A message's first sentence (up to `. `, or a printed structure's ` {`), numbers masked
/// as `N` and quoted text as `"…"`, bounded in length.
pub fn signature(message: &str) -> String {
    let first = message.split(". ").next().unwrap_or(message);
    let first = first.split(" {").next().unwrap_or(first);
    // A panic's source location is where the code is, not what went wrong.
    let first = first.split(" (at ").next().unwrap_or(first);
    let mut out = String::new();
    let mut in_number = false;
    let mut in_quote = false;
    for c in first.chars() {
        if c == '"' {
            in_quote = !in_quote;
            if in_quote {
                out.push_str("\"…\"");
            }
            continue;
        }
        if in_quote {
            continue;
        }
        if c.is_ascii_digit() {
            if !in_number {
                out.push('N');
            }
            in_number = true;
            continue;
        }
        // `1.5` and `1,000` are one number.
        if in_number && (c == '.' || c == ',') {
            continue;
        }
        in_number = false;
        if out.chars().count() >= SIGNATURE_CHARS_MAX {
            out.push('…');
            break;
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failing(seed: u64, check: &str, message: &str) -> FailingSeed {
        FailingSeed {
            seed: SeedId::Plain(seed),
            verdict: Verdict::Violation,
            check: Some(check.to_string()),
            message: message.to_string(),
            replay: format!("faultline replay x.toml --seed {seed}"),
        }
    }

    #[test]
    fn numbers_are_masked_and_only_the_first_sentence_counts() {
        assert_eq!(
            signature("c12 panicked at 431.25 ms: term 7 < 9. The leader was r2"),
            "cN panicked at N ms: term N < N"
        );
        assert_eq!(
            signature("r1 panicked: entry 0 overwritten: Entry { key: \"k1\", append: true }"),
            signature("r2 panicked: entry 7 overwritten: Entry { key: \"k0\", append: false }"),
        );
        assert_eq!(
            signature("key \"k1\": not linearizable. The longest prefix has 12 operations"),
            signature("key \"k0\": not linearizable. The longest prefix has 3 operations")
        );
        assert_eq!(
            signature("r1 panicked: log matching violated (at src/raft/replication.rs:163)"),
            "rN panicked: log matching violated",
            "a panic's source location is not part of what went wrong"
        );
    }

    #[test]
    fn four_hundred_failures_of_three_kinds_make_three_groups_in_any_order() {
        let mut seeds: Vec<FailingSeed> = (0..400)
            .map(|i| match i % 3 {
                0 => failing(
                    i,
                    "linearizability",
                    &format!("key \"k{i}\": not linearizable. x"),
                ),
                1 => failing(
                    i,
                    "conservation",
                    &format!("total {} != {}", 1000 + i, 1000),
                ),
                _ => failing(i, "linearizability", "a different message entirely"),
            })
            .collect();
        let mut forward = Triage::default();
        seeds.iter().for_each(|f| forward.add(f, true));
        seeds.reverse();
        let mut backward = Triage::default();
        seeds.iter().for_each(|f| backward.add(f, true));
        assert_eq!(forward.len(), 3);
        let summary = |t: &Triage| {
            t.groups()
                .iter()
                .map(|g| (g.seeds, g.first_seed, g.replay.clone()))
                .collect::<Vec<_>>()
        };
        assert_eq!(summary(&forward), summary(&backward));
        assert_eq!(
            summary(&forward)
                .iter()
                .map(|s| (s.0, s.1.raw()))
                .collect::<Vec<_>>(),
            vec![(134, 0), (133, 1), (133, 2)]
        );
    }

    #[test]
    fn distinct_kinds_past_the_cap_are_counted_together() {
        // Letters, not digits: digits would be masked into one signature.
        let word = |mut i: u64| {
            let mut w = String::new();
            loop {
                w.push(char::from(b'a' + (i % 26) as u8));
                i /= 26;
                if i == 0 {
                    return w;
                }
            }
        };
        let mut t = Triage::default();
        for i in 0..(GROUPS_MAX as u64 + 5) {
            t.add(
                &failing(i, "linearizability", &format!("kind {}", word(i))),
                false,
            );
        }
        assert_eq!(t.len(), GROUPS_MAX);
        assert_eq!(t.other_kinds_seeds, 5);
    }
}
