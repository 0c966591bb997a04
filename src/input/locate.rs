//! Where a value is in a JSON text: the position of `faults[3].at_ms` in a plan file, so
//! that a problem found after parsing (a fault out of time order, an operation after the
//! run's end) is reported at the line and column of the value, as a parse error would be.
//!
//! serde_json keeps no spans, so this is a small scanner of its own: it walks the text
//! once, bounded in depth, and never fails loudly — text that is not JSON, or a path that
//! is not in it, gives `None`, and the caller falls back to a coarser place.

/// One step of a path: an object's key or an array's index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// A key of an object.
    Key(String),
    /// An index into an array.
    Index(usize),
}

/// Deepest nesting the scanner follows (plans are a few levels deep).
const DEPTH_MAX: usize = 64;

/// Parse `faults[3].at_ms` (keys separated by dots, indices in brackets) into steps.
pub fn parse_path(path: &str) -> Option<Vec<Step>> {
    let mut steps = Vec::new();
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let (key, mut rest) = part.split_once('[').map_or((part, ""), |(k, r)| (k, r));
        if !key.is_empty() {
            steps.push(Step::Key(key.to_string()));
        }
        while !rest.is_empty() {
            let (index, after) = rest.split_once(']')?;
            steps.push(Step::Index(index.parse().ok()?));
            rest = after.strip_prefix('[').unwrap_or(after);
            if !after.is_empty() && !after.starts_with('[') {
                return None;
            }
        }
    }
    Some(steps)
}

/// The byte offset where the value at `path` starts in `json`.
pub fn locate(json: &str, path: &[Step]) -> Option<usize> {
    let mut s = Scanner {
        b: json.as_bytes(),
        i: 0,
    };
    s.find(path, 0)
}

/// 1-based line and column (in characters) of byte `offset` in `text`.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut end = offset.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let before = &text[..end];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

struct Scanner<'a> {
    b: &'a [u8],
    i: usize,
}

impl Scanner<'_> {
    fn ws(&mut self) {
        while self.i < self.b.len() && self.b[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    /// Find `path` in the value starting here.
    fn find(&mut self, path: &[Step], depth: usize) -> Option<usize> {
        self.ws();
        let Some(step) = path.first() else {
            return (self.i < self.b.len()).then_some(self.i);
        };
        if depth >= DEPTH_MAX {
            return None;
        }
        match (self.b.get(self.i)?, step) {
            (b'{', Step::Key(want)) => {
                self.i += 1;
                for _ in 0..self.b.len() {
                    self.ws();
                    if self.b.get(self.i)? == &b'}' {
                        return None;
                    }
                    let key = self.string()?;
                    self.ws();
                    if self.b.get(self.i)? != &b':' {
                        return None;
                    }
                    self.i += 1;
                    if key == *want {
                        return self.find(&path[1..], depth + 1);
                    }
                    self.skip(depth + 1)?;
                    self.comma()?;
                }
                None
            }
            (b'[', Step::Index(want)) => {
                self.i += 1;
                for index in 0..self.b.len() {
                    self.ws();
                    if self.b.get(self.i)? == &b']' {
                        return None;
                    }
                    if index == *want {
                        return self.find(&path[1..], depth + 1);
                    }
                    self.skip(depth + 1)?;
                    self.comma()?;
                }
                None
            }
            _ => None,
        }
    }

    /// After a member: a comma, or the closing bracket left for the caller.
    fn comma(&mut self) -> Option<()> {
        self.ws();
        match self.b.get(self.i)? {
            b',' => {
                self.i += 1;
                Some(())
            }
            b'}' | b']' => Some(()),
            _ => None,
        }
    }

    /// A string's content (escapes kept as written: keys here are plain).
    fn string(&mut self) -> Option<String> {
        if self.b.get(self.i)? != &b'"' {
            return None;
        }
        let start = self.i + 1;
        self.i += 1;
        while *self.b.get(self.i)? != b'"' {
            self.i += if self.b[self.i] == b'\\' { 2 } else { 1 };
        }
        self.i += 1;
        std::str::from_utf8(&self.b[start..self.i - 1])
            .ok()
            .map(str::to_string)
    }

    /// Skip one value.
    fn skip(&mut self, depth: usize) -> Option<()> {
        self.ws();
        if depth >= DEPTH_MAX {
            return None;
        }
        match self.b.get(self.i)? {
            b'"' => self.string().map(|_| ()),
            open @ (b'{' | b'[') => {
                let close = if *open == b'{' { b'}' } else { b']' };
                self.i += 1;
                for _ in 0..self.b.len() {
                    self.ws();
                    if self.b.get(self.i)? == &close {
                        self.i += 1;
                        return Some(());
                    }
                    if close == b'}' {
                        self.string()?;
                        self.ws();
                        if self.b.get(self.i)? != &b':' {
                            return None;
                        }
                        self.i += 1;
                    }
                    self.skip(depth + 1)?;
                    self.comma()?;
                }
                None
            }
            _ => {
                let start = self.i;
                while self.i < self.b.len() && !b",}] \t\r\n".contains(&self.b[self.i]) {
                    self.i += 1;
                }
                (self.i > start).then_some(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLAN: &str = "{\n  \"seed\": 3,\n  \"faults\": [\n    {\"at_ms\": 5, \"action\": \"crash\"},\n    {\n      \"at_ms\": 70,\n      \"blocked\": [[0, 1], [1, 0]]\n    }\n  ],\n  \"name\": \"é{[\"\n}";

    fn at(path: &str) -> Option<(usize, usize)> {
        locate(PLAN, &parse_path(path)?).map(|o| line_col(PLAN, o))
    }

    #[test]
    fn values_are_found_at_their_line_and_column() {
        assert_eq!(at("seed"), Some((2, 11)));
        assert_eq!(at("faults"), Some((3, 13)));
        assert_eq!(at("faults[0]"), Some((4, 5)));
        assert_eq!(at("faults[0].action"), Some((4, 28)));
        assert_eq!(at("faults[1].at_ms"), Some((6, 16)));
        assert_eq!(at("faults[1].blocked[1][0]"), Some((7, 28)));
        assert_eq!(at("name"), Some((10, 11)));
        assert_eq!(at(""), Some((1, 1)));
    }

    #[test]
    fn missing_paths_and_broken_text_give_none() {
        assert_eq!(at("faults[2]"), None);
        assert_eq!(at("faults[0].nope"), None);
        assert_eq!(at("seed.x"), None);
        assert_eq!(locate("{\"a\": [1, 2", &parse_path("a[5]").unwrap()), None);
        assert_eq!(locate("", &parse_path("a").unwrap()), None);
        assert_eq!(
            locate("{\"a\": \"unterminated", &parse_path("b").unwrap()),
            None
        );
        let deep = "[".repeat(10_000);
        assert_eq!(locate(&deep, &vec![Step::Index(0); 200]), None);
    }

    #[test]
    fn paths_parse() {
        assert_eq!(
            parse_path("faults[3].blocked[0][1]"),
            Some(vec![
                Step::Key("faults".into()),
                Step::Index(3),
                Step::Key("blocked".into()),
                Step::Index(0),
                Step::Index(1)
            ])
        );
        assert_eq!(parse_path("a[x]"), None);
        assert_eq!(parse_path("a[1]b"), None);
    }
}
