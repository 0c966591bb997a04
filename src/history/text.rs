//! Small text helpers shared by the readers and writers.

use std::fmt;

/// Write `s` as a double-quoted string that both EDN and JSON read back unchanged:
/// `"`, `\` and control characters are escaped, everything else is written as is.
pub(crate) fn write_quoted(out: &mut dyn fmt::Write, s: &str) -> fmt::Result {
    out.write_char('"')?;
    for c in s.chars() {
        match c {
            '"' => out.write_str("\\\"")?,
            '\\' => out.write_str("\\\\")?,
            '\n' => out.write_str("\\n")?,
            '\t' => out.write_str("\\t")?,
            '\r' => out.write_str("\\r")?,
            c if (c as u32) < 0x20 || c == '\u{7f}' => write!(out, "\\u{:04x}", c as u32)?,
            c => out.write_char(c)?,
        }
    }
    out.write_char('"')
}

/// The 1-based column of byte offset `byte` in `line`, counting characters (not bytes),
/// so that editors and the error agree on where the problem is.
pub(crate) fn column_of(line: &str, byte: usize) -> usize {
    let byte = byte.min(line.len());
    // `byte` may fall inside a multi-byte character when it comes from a byte-level
    // scanner; count the characters that start before it.
    line.char_indices().take_while(|(i, _)| *i < byte).count() + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_escapes_what_must_be_escaped() {
        let mut s = String::new();
        write_quoted(&mut s, "a\"b\\c\nd\u{1}é").unwrap();
        assert_eq!(s, "\"a\\\"b\\\\c\\nd\\u0001é\"");
    }

    #[test]
    fn columns_count_characters() {
        assert_eq!(column_of("abc", 0), 1);
        assert_eq!(column_of("éa", 2), 2);
        assert_eq!(column_of("éa", 1), 2);
        assert_eq!(column_of("ab", 10), 3);
    }
}
