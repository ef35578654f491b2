//! Errors in input files, reported all at once as `path:line:col: message` (ripgrep's style),
//! so a user fixes a file in one pass. Any input error makes the program exit with code 2.

use std::fmt;
use std::path::{Path, PathBuf};

/// One problem at one place in one input file.
#[derive(Clone, Debug, PartialEq, Eq)]
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

impl fmt::Display for InputErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

/// Collects errors for one file, turning byte offsets into line and column.
pub struct ErrorSink<'a> {
    pub path: &'a Path,
    text: &'a str,
    pub errors: Vec<InputError>,
}

impl<'a> ErrorSink<'a> {
    pub fn new(path: &'a Path, text: &'a str) -> Self {
        ErrorSink { path, text, errors: Vec::new() }
    }

    /// Record a problem at a byte span (`0..0` when the place is the whole file).
    pub fn at(&mut self, span: std::ops::Range<usize>, message: impl Into<String>) {
        let (line, col) = line_col(self.text, span.start);
        self.errors.push(InputError { path: self.path.to_path_buf(), line, col, message: message.into() });
    }

    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    pub fn finish(self) -> Result<(), InputErrors> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(InputErrors(self.errors))
        }
    }
}

/// 1-based line and column of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before.rfind('\n').map(|i| offset - i).unwrap_or(offset + 1);
    (line, col)
}

/// Turn a TOML parse error (syntax, unknown field, wrong type) into an input error.
pub fn from_toml(path: &Path, text: &str, err: &toml::de::Error) -> InputError {
    let (line, col) = err.span().map(|s| line_col(text, s.start)).unwrap_or((0, 0));
    let message = err.message().trim().replace('\n', " ");
    InputError { path: path.to_path_buf(), line, col, message }
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
}
