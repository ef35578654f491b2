//! Errors in input files, reported all at once as `path:line:col: message` (ripgrep's style),
//! so a user fixes a file in one pass. Any input error makes the program exit with code 2.

use std::fmt;
use std::path::{Path, PathBuf};

/// One problem at one place in one input file.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct InputError {
    pub path: PathBuf,
    pub line: usize,
    pub col: usize,
    pub message: String,
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.path.display(), self.message)
        } else {
            write!(f, "{}:{}:{}: {}", self.path.display(), self.line, self.col, self.message)
        }
    }
}

/// Every problem found in a set of input files.
#[derive(Clone, Debug, Default, PartialEq, Eq, thiserror::Error)]
pub struct InputErrors(pub Vec<InputError>);

/// Problems printed at most: past this the rest are counted, so a file with a mistake on
/// every line still gives a screen one can read.
pub const MAX_PRINTED_ERRORS: usize = 100;

impl fmt::Display for InputErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().take(MAX_PRINTED_ERRORS).enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        if self.0.len() > MAX_PRINTED_ERRORS {
            write!(f, "\n… and {} more problems", self.0.len() - MAX_PRINTED_ERRORS)?;
        }
        Ok(())
    }
}

/// Collects errors for one file, turning byte offsets into line and column. The same
/// message at the same place is kept once.
pub struct ErrorSink<'a> {
    pub path: &'a Path,
    text: &'a str,
    /// Byte offset of each line's start, built at the first error.
    line_starts: Vec<usize>,
    seen: std::collections::HashSet<InputError>,
    pub errors: Vec<InputError>,
    /// Problems past [`MAX_PRINTED_ERRORS`], counted only (a file with a mistake on each of a
    /// million lines is still answered at once).
    suppressed: usize,
}

impl<'a> ErrorSink<'a> {
    pub fn new(path: &'a Path, text: &'a str) -> Self {
        ErrorSink { path, text, line_starts: Vec::new(), seen: Default::default(), errors: Vec::new(), suppressed: 0 }
    }

    /// Record a problem at a byte span (`0..0` when the place is the whole file).
    pub fn at(&mut self, span: std::ops::Range<usize>, message: impl Into<String>) {
        // One entry is kept for the count of the rest.
        if self.is_full() {
            self.suppressed += 1;
            return;
        }
        if self.line_starts.is_empty() {
            self.line_starts = std::iter::once(0).chain(self.text.match_indices('\n').map(|(i, _)| i + 1)).collect();
        }
        let offset = floor_char_boundary(self.text, span.start.min(self.text.len()));
        let line = self.line_starts.partition_point(|&s| s <= offset);
        let start = self.line_starts[line - 1];
        let col = self.text[start..offset].chars().count() + 1;
        let e = InputError { path: self.path.to_path_buf(), line, col, message: message.into() };
        if self.seen.insert(e.clone()) {
            self.errors.push(e);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    /// Whether further problems are only counted (callers may skip work that only refines
    /// messages, such as suggesting a key).
    pub fn is_full(&self) -> bool {
        self.errors.len() + 1 >= MAX_PRINTED_ERRORS
    }

    pub fn finish(mut self) -> Result<(), InputErrors> {
        // In file order, as a reader goes down the file (a stable sort keeps the order of
        // problems found at one place).
        self.errors.sort_by_key(|e| (e.line, e.col));
        if self.suppressed > 0 {
            let message = format!("… and {} more problems in this file", self.suppressed);
            self.errors.push(InputError { path: self.path.to_path_buf(), line: 0, col: 0, message });
        }
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(InputErrors(self.errors))
        }
    }
}

fn floor_char_boundary(text: &str, mut offset: usize) -> usize {
    while offset > 0 && !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = floor_char_boundary(text, offset.min(text.len()));
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    (line, text[start..offset].chars().count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_become_lines_and_columns() {
        let text = "a = 1\nbb = 2\n";
        assert_eq!(line_col(text, 0), (1, 1));
        assert_eq!(line_col(text, 6), (2, 1));
        assert_eq!(line_col(text, 8), (2, 3));
    }

    #[test]
    fn problems_found_out_of_order_are_reported_in_file_order() {
        let text = "a = 1\nb = 2\nc = 3\n";
        let mut sink = ErrorSink::new(Path::new("f.toml"), text);
        sink.at(12..13, "third");
        sink.at(0..1, "first");
        sink.at(6..7, "second");
        sink.at(0..1, "first again");
        let lines: Vec<String> = sink.finish().unwrap_err().0.iter().map(|e| format!("{}:{} {}", e.line, e.col, e.message)).collect();
        assert_eq!(lines, ["1:1 first", "1:1 first again", "2:1 second", "3:1 third"]);
    }
}
