//! Choosing a reader: by name, or by looking at the content.

use super::{edn, jepsen_log, jsonl, History, ParseError};
use serde::Serialize;
use std::fmt;
use std::str::FromStr;

/// A history file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// JSON lines with Porcupine's field names ([`jsonl`]).
    Jsonl,
    /// Jepsen-style EDN events ([`edn`]).
    Edn,
    /// Old Jepsen log lines ([`jepsen_log`]).
    JepsenLog,
}

impl Format {
    /// Every format, for messages.
    pub const ALL: [Format; 3] = [Format::Jsonl, Format::Edn, Format::JepsenLog];

    /// The format's name (`jsonl`, `edn`, `jepsen-log`).
    pub fn name(self) -> &'static str {
        match self {
            Format::Jsonl => "jsonl",
            Format::Edn => "edn",
            Format::JepsenLog => "jepsen-log",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Format, String> {
        Format::ALL
            .into_iter()
            .find(|f| f.name() == s)
            .ok_or_else(|| {
                format!("unknown history format `{s}`; expected jsonl, edn or jepsen-log")
            })
    }
}

/// Lines looked at to find a Jepsen log line.
const SNIFF_LINES: usize = 200;

/// Guess the format of `text`:
///
/// * a first non-blank character `{` followed by `"` is JSON lines;
/// * `{` followed by anything else, `[`, `(`, `;` or `#` is EDN;
/// * otherwise, a `jepsen.util - ` line among the first lines makes a Jepsen log.
///
/// `None` when nothing fits (including an empty text).
pub fn detect_format(text: &str) -> Option<Format> {
    let trimmed = text.trim_start_matches(|c: char| c.is_whitespace() || c == ',');
    let mut chars = trimmed.chars();
    match chars.next() {
        Some('{') => {
            let next = chars.as_str().trim_start().chars().next();
            if next == Some('"') {
                Some(Format::Jsonl)
            } else {
                Some(Format::Edn)
            }
        }
        Some('[' | '(' | ';' | '#') => Some(Format::Edn),
        Some(_) => text
            .lines()
            .take(SNIFF_LINES)
            .any(|l| l.contains(jepsen_log::MARKER))
            .then_some(Format::JepsenLog),
        None => None,
    }
}

/// Read a history in `format`, or in the detected format when `format` is `None`. A blank
/// text is an empty history in any format. `path` only names the file in errors.
pub fn parse(text: &str, path: &str, format: Option<Format>) -> Result<History, ParseError> {
    let format = match format {
        Some(f) => f,
        None => match detect_format(text) {
            Some(f) => f,
            None if text.trim().is_empty() => return Ok(History::default()),
            None => {
                // Point at the first non-blank character.
                let (line, column) = first_content(text);
                return Err(ParseError::new(
                    path,
                    line,
                    column,
                    "cannot tell the history format: expected JSON lines \
                     ({\"ClientId\":...}), Jepsen EDN ({:type :invoke, ...} or a vector of \
                     such maps) or Jepsen log lines (INFO  jepsen.util - 0 :invoke :read nil)",
                ));
            }
        },
    };
    match format {
        Format::Jsonl => jsonl::parse(text, path),
        Format::Edn => edn::parse(text, path),
        Format::JepsenLog => jepsen_log::parse(text, path),
    }
}

fn first_content(text: &str) -> (usize, usize) {
    for (n, line) in text.lines().enumerate() {
        if let Some((col, _)) = line.chars().enumerate().find(|(_, c)| !c.is_whitespace()) {
            return (n + 1, col + 1);
        }
    }
    (1, 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_formats() {
        assert_eq!(detect_format("\n {\"ClientId\":1}"), Some(Format::Jsonl));
        assert_eq!(detect_format("{:process 0}"), Some(Format::Edn));
        assert_eq!(detect_format("; c\n[{:a 1}]"), Some(Format::Edn));
        assert_eq!(
            detect_format("INFO  jepsen.util - 0\t:invoke\t:read\tnil"),
            Some(Format::JepsenLog)
        );
        assert_eq!(detect_format("hello"), None);
        assert_eq!(detect_format("  "), None);
        let e = parse("\n  hello", "x", None).unwrap_err();
        assert_eq!((e.line, e.column), (2, 3));
        assert_eq!(parse(" \n", "x", None).unwrap(), History::default());
    }
}
