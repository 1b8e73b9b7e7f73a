//! Editing the TOML files of other tools (Cargo's, Poetry's) that hold tokens: errors name a
//! position, never the text around it, and removing a table keeps the comments above it.

use std::fmt;

use toml_edit::{DocumentMut, Item, Table};

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

/// Keeps the comment above a removed table's header, for [`carry_comment`].
pub fn keep_comment(table: &Table, comments: &mut Vec<(isize, String)>) {
    if let Some(position) = table.position()
        && let Some(prefix) = table.decor().prefix().and_then(|p| p.as_str())
        && prefix.contains('#')
    {
        comments.push((position, prefix.to_owned()));
    }
}

/// Puts `comment` (the prefix of a removed table's header at `position`) above the next table's
/// header, or at the end of the file when no table follows.
pub fn carry_comment(doc: &mut DocumentMut, position: isize, comment: &str) {
    let mut next = None;
    visit_tables(doc.as_table_mut(), &mut |table| {
        if let Some(p) = table.position()
            && p > position
            && !table.is_implicit()
            && next.is_none_or(|n| p < n)
        {
            next = Some(p);
        }
    });
    let Some(next) = next else {
        let trailing = doc.trailing().as_str().unwrap_or("").to_owned();
        doc.set_trailing(format!("{comment}{trailing}"));
        return;
    };
    visit_tables(doc.as_table_mut(), &mut |table| {
        if table.position() == Some(next) && !table.is_implicit() {
            let old = table
                .decor()
                .prefix()
                .and_then(|p| p.as_str())
                .unwrap_or("")
                .to_owned();
            table.decor_mut().set_prefix(format!("{comment}{old}"));
        }
    });
}

/// Calls `f` on every table below `table` (headers, implicit and dotted tables, arrays of tables).
fn visit_tables(table: &mut Table, f: &mut dyn FnMut(&mut Table)) {
    for (_, item) in table.iter_mut() {
        match item {
            Item::Table(child) => {
                f(child);
                visit_tables(child, f);
            }
            Item::ArrayOfTables(array) => {
                for child in array.iter_mut() {
                    f(child);
                    visit_tables(child, f);
                }
            }
            _ => {}
        }
    }
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
