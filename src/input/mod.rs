//! Reading the files users give faultline: scenarios and histories.
//!
//! A path on the command line can be anything: a directory, a FIFO that never ends, a
//! device such as `/dev/zero`, a symbolic link loop, a file of gigabytes, or text that is
//! not UTF-8. [`read_text`] reads only regular files, at most a stated number of bytes,
//! and says precisely what is wrong otherwise — each case in its own words, and invalid
//! UTF-8 with its line and column — so that bad input ends as a clear message (exit code
//! 254), never as a hang, an allocation of the machine's memory, or a misleading "no such
//! file".
//!
//! This module is a leaf: it imports nothing from faultline.

use std::fmt;
use std::io::Read;
use std::path::Path;

/// An error that means the user's input was wrong (exit code 254), not faultline: a bad
/// argument, a file that is not what it should be, shards of different sweeps.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BadInput(pub String);

/// Why a file could not be read as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputError {
    /// The path cannot be opened or inspected (missing, no permission, a link loop…).
    Io(String),
    /// It exists but is not a regular file.
    NotAFile(&'static str),
    /// It is larger than allowed.
    TooLarge {
        /// The limit, in bytes.
        max_bytes: u64,
    },
    /// It is not UTF-8 text.
    NotUtf8 {
        /// 1-based line of the first bad byte.
        line: usize,
        /// 1-based column (in characters) of the first bad byte.
        column: usize,
        /// The bad byte.
        byte: u8,
    },
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InputError::Io(e) => f.write_str(e),
            InputError::NotAFile(kind) => write!(f, "it is {kind}, not a regular file"),
            InputError::TooLarge { max_bytes } => write!(
                f,
                "it is larger than {} MB, the most faultline reads",
                max_bytes >> 20
            ),
            InputError::NotUtf8 { line, column, byte } => write!(
                f,
                "{line}:{column}: not UTF-8 text (byte 0x{byte:02x}); the file must be UTF-8"
            ),
        }
    }
}

impl std::error::Error for InputError {}

/// What a non-regular file is, in words.
fn kind_of(meta: &std::fs::Metadata) -> &'static str {
    let t = meta.file_type();
    if t.is_dir() {
        return "a directory";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if t.is_char_device() || t.is_block_device() {
            return "a device";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    "not a regular file"
}

/// The text of the regular file at `path`, at most `max_bytes` long.
pub fn read_text(path: &Path, max_bytes: u64) -> Result<String, InputError> {
    // `metadata` follows links, so a link loop or a dangling link reports its own error.
    let meta = std::fs::metadata(path).map_err(|e| InputError::Io(describe_io(&e)))?;
    if !meta.is_file() {
        return Err(InputError::NotAFile(kind_of(&meta)));
    }
    if meta.len() > max_bytes {
        return Err(InputError::TooLarge { max_bytes });
    }
    let file = std::fs::File::open(path).map_err(|e| InputError::Io(describe_io(&e)))?;
    let mut bytes = Vec::new();
    // The file may grow between the size check and the read: read one byte past the
    // limit at most, to tell.
    file.take(max_bytes + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| InputError::Io(describe_io(&e)))?;
    if bytes.len() as u64 > max_bytes {
        return Err(InputError::TooLarge { max_bytes });
    }
    String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let bytes = e.as_bytes();
        let good = std::str::from_utf8(&bytes[..at]).unwrap_or_default();
        let line = good.matches('\n').count() + 1;
        let column = good.rsplit('\n').next().unwrap_or("").chars().count() + 1;
        InputError::NotUtf8 {
            line,
            column,
            byte: bytes[at],
        }
    })
}

/// An I/O error in words, without the OS's error number.
pub fn describe_io(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => {
            let text = e.to_string();
            match text.split_once(" (os error") {
                Some((words, _)) => words.to_lowercase(),
                None => text,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> std::path::PathBuf {
        let dir =
            std::env::temp_dir().join(format!("faultline-input-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn says_what_is_wrong_in_each_case() {
        let dir = scratch("cases");
        let missing = read_text(&dir.join("missing"), 100).unwrap_err();
        assert_eq!(missing.to_string(), "no such file or directory");
        assert_eq!(
            read_text(&dir, 100).unwrap_err(),
            InputError::NotAFile("a directory")
        );
        #[cfg(unix)]
        {
            assert_eq!(
                read_text(Path::new("/dev/zero"), 100).unwrap_err(),
                InputError::NotAFile("a device")
            );
            let a = dir.join("a");
            std::os::unix::fs::symlink(dir.join("b"), &a).unwrap();
            std::os::unix::fs::symlink(&a, dir.join("b")).unwrap();
            let looped = read_text(&a, 100).unwrap_err().to_string();
            assert!(looped.contains("symbolic links"), "{looped}");
        }
        let big = dir.join("big");
        std::fs::write(&big, vec![b'x'; 101]).unwrap();
        assert_eq!(
            read_text(&big, 100).unwrap_err(),
            InputError::TooLarge { max_bytes: 100 }
        );
        let bad = dir.join("bad");
        std::fs::write(&bad, b"ok\nab\xffc").unwrap();
        assert_eq!(
            read_text(&bad, 100).unwrap_err(),
            InputError::NotUtf8 {
                line: 2,
                column: 3,
                byte: 0xff
            }
        );
        assert_eq!(read_text(&big, 200).unwrap().len(), 101);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

pub mod locate;
