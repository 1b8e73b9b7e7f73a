//! Reading the TOML files of other tools (Cargo's, Poetry's) without ever quoting them: those
//! files hold tokens, so errors name a position, never the text around it.

use std::fmt;

use toml_edit::DocumentMut;

/// Why a tool's TOML file cannot be read or edited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileError {
    /// The file is not valid TOML; where, when the parser knows.
    Syntax {
        /// 1-based line and column of the error.
        at: Option<(usize, usize)>,
    },
    /// The file is TOML, but a key credd needs has an unexpected type.
    Shape(String),
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Syntax {
                at: Some((line, column)),
            } => write!(
                f,
                "not valid TOML at line {line}, column {column}: fix it there"
            ),
            Self::Syntax { at: None } => f.write_str("not valid TOML"),
            Self::Shape(what) => f.write_str(what),
        }
    }
}

impl std::error::Error for FileError {}

/// Parses `text`, describing a syntax error by its place only (never by the text around it).
pub fn parse(text: &str) -> Result<DocumentMut, FileError> {
    text.parse::<DocumentMut>()
        .map_err(|error| FileError::Syntax {
            at: error.span().map(|span| line_column(text, span.start)),
        })
}

/// The 1-based line and column (in characters) of byte `offset` in `text`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

/// A [`FileError::Shape`] saying `what`.
pub fn shape(what: impl Into<String>) -> FileError {
    FileError::Shape(what.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_column_counts_characters() {
        assert_eq!(line_column("ab\ncé\nx", 6), (2, 3));
        assert_eq!(line_column("", 0), (1, 1));
    }
}
