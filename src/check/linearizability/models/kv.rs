//! A key-value store of strings with get, put and append, partitioned by key.

use super::require_key;
use crate::check::linearizability::Model;
use crate::history::{Func, Operation, Value};
use std::hash::{Hash, Hasher};

/// A string with its polynomial hash, so that states built by appending are hashed in
/// O(1): `hash(s + t) = hash(s) * BASE^len(t) + hash(t)` (wrapping). Equality always
/// compares the text too, so a hash collision costs time, never correctness.
#[derive(Debug, Clone)]
pub struct KvText {
    text: String,
    hash: u64,
    /// `BASE^len(text)`.
    pow: u64,
}

const BASE: u64 = 0x100_0000_01b3;

impl KvText {
    /// The text with its hash.
    pub fn new(text: String) -> KvText {
        let (mut hash, mut pow) = (0u64, 1u64);
        for b in text.bytes() {
            hash = hash.wrapping_mul(BASE).wrapping_add(b as u64 + 1);
            pow = pow.wrapping_mul(BASE);
        }
        KvText { text, hash, pow }
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    fn append(&self, tail: &KvText) -> KvText {
        let mut text = String::with_capacity(self.text.len() + tail.text.len());
        text.push_str(&self.text);
        text.push_str(&tail.text);
        KvText {
            text,
            hash: self.hash.wrapping_mul(tail.pow).wrapping_add(tail.hash),
            pow: self.pow.wrapping_mul(tail.pow),
        }
    }
}

impl PartialEq for KvText {
    fn eq(&self, other: &KvText) -> bool {
        self.hash == other.hash && self.text == other.text
    }
}

impl Eq for KvText {}

impl Hash for KvText {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
        state.write_usize(self.text.len());
    }
}

/// Most bytes [`Kv`] scans to find appends of unknown outcome that no get saw.
const UNOBSERVED_SCAN_BYTES_MAX: usize = 1 << 26;

/// A key-value operation as the [`Kv`] model sees it (for the operation's own key).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum KvOp {
    /// A get that returned this string; `None` when its result is unknown.
    Get(Option<KvText>),
    /// Replace the value.
    Put(KvText),
    /// Append to the value.
    Append(KvText),
}

/// A key-value store: `get` returns the key's string (`""` if never written; a `nil`
/// output is read as `""` too, as many clients report a missing key that way), `put`
/// replaces it, `append` concatenates. Keys are independent, so the model partitions by
/// key and its state is one key's string.
#[derive(Debug, Clone, Copy, Default)]
pub struct Kv;

impl Model for Kv {
    type State = KvText;
    type Op = KvOp;

    fn name(&self) -> &str {
        "kv"
    }

    fn init(&self) -> KvText {
        KvText::new(String::new())
    }

    fn prepare(&self, op: &Operation) -> Result<KvOp, String> {
        require_key("kv", op)?;
        let text = |what: &str| match &op.input {
            Value::Str(s) => Ok(KvText::new(s.clone())),
            other => Err(format!("{what}'s input is a string, not {other}")),
        };
        match op.f {
            Func::Get => match op.known_output() {
                None => Ok(KvOp::Get(None)),
                Some(Value::Str(s)) => Ok(KvOp::Get(Some(KvText::new(s.clone())))),
                Some(Value::Nil) => Ok(KvOp::Get(Some(KvText::new(String::new())))),
                Some(other) => Err(format!("a get returns a string, not {other}")),
            },
            Func::Put => text("a put").map(KvOp::Put),
            Func::Append => text("an append").map(KvOp::Append),
            f => Err(format!("the kv model accepts get, put and append, not {f}")),
        }
    }

    fn partition_key<'a>(&self, op: &'a Operation) -> Option<&'a str> {
        op.key.as_deref()
    }

    fn step(&self, state: &KvText, op: &KvOp) -> Option<KvText> {
        match op {
            KvOp::Get(None) => Some(state.clone()),
            KvOp::Get(Some(v)) => (state == v).then(|| state.clone()),
            KvOp::Put(v) => Some(v.clone()),
            KvOp::Append(v) => Some(state.append(v)),
        }
    }

    fn is_read_only(&self, op: &KvOp) -> bool {
        matches!(op, KvOp::Get(_))
    }

    fn unobservable_unknowns(&self, unknown: &[&KvOp], completed: &[&KvOp]) -> Vec<bool> {
        // What gets returned: an append's text that is in none of them was never seen.
        let seen: Vec<&str> = (completed.iter())
            .filter_map(|o| match o {
                KvOp::Get(Some(v)) => Some(v.as_str()),
                _ => None,
            })
            .collect();
        let seen_bytes: usize = seen.iter().map(|t| t.len()).sum();
        // Substring searches cost up to unknown × seen bytes: past a bound, keep them all
        // (the search stays exact, only slower).
        if unknown.len().saturating_mul(seen_bytes) > UNOBSERVED_SCAN_BYTES_MAX {
            return vec![false; unknown.len()];
        }
        (unknown.iter())
            .map(|op| match op {
                KvOp::Append(t) => !seen.iter().any(|v| v.contains(t.as_str())),
                _ => false,
            })
            .collect()
    }

    fn can_become_possible<'a>(
        &self,
        state: &KvText,
        op: &KvOp,
        mut later: impl Iterator<Item = &'a KvOp>,
    ) -> bool {
        // Appends only extend the value, so a get of `v` stays possible only while the
        // value is a prefix of `v`, or if a put of a prefix of `v` may still come.
        match op {
            KvOp::Get(Some(v)) => {
                v.text.starts_with(state.as_str())
                    || later.any(|o| matches!(o, KvOp::Put(p) if v.text.starts_with(p.as_str())))
            }
            _ => true,
        }
    }

    fn describe_state(&self, state: &KvText) -> String {
        format!("{:?}", state.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appended_hashes_match_direct_ones() {
        let a = KvText::new("x 1 y".into());
        let b = KvText::new("x 22 y".into());
        let ab = a.append(&b);
        assert_eq!(ab, KvText::new("x 1 yx 22 y".into()));
        assert_eq!(ab.hash, KvText::new("x 1 yx 22 y".into()).hash);
        assert_ne!(ab, b.append(&a));
    }
}
