//! Reading and editing the TOML files of other tools (Cargo's, Poetry's) that hold tokens: errors
//! name a position, never the text around it, and removing credentials keeps the comments above
//! the removed tables.

use std::fmt;
use std::path::Path;

use toml_edit::{DocumentMut, Item, Table, TableLike};
use zeroize::Zeroizing;

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

/// The comments above the headers of the tables removed from a document, by the table's
/// position, for [`remove_keeping_comments`] to carry to the next table.
#[derive(Debug, Default)]
pub struct RemovedComments(Vec<(isize, String)>);

impl RemovedComments {
    /// Removes `parent[key]`; when that is a table with a header, the comment above the header is
    /// kept (it usually describes what follows, not only the removed table).
    pub fn remove(&mut self, parent: &mut dyn TableLike, key: &str) -> Option<Item> {
        let removed = parent.remove(key)?;
        if let Item::Table(table) = &removed
            && let Some(position) = table.position()
            && let Some(prefix) = table.decor().prefix().and_then(|p| p.as_str())
            && prefix.contains('#')
        {
            self.0.push((position, prefix.to_owned()));
        }
        Some(removed)
    }
}

/// `text` with what `remove` takes out of its document: the comments above removed tables'
/// headers move to the next table, everything else is kept as it was, a file left with nothing
/// but whitespace becomes empty, and the blank line a removed first table leaves is dropped. The
/// one removal of credentials from a tool's file: the result is zeroized when dropped.
pub fn remove_keeping_comments(
    text: &str,
    remove: impl FnOnce(&mut DocumentMut, &mut RemovedComments),
) -> Result<Zeroizing<String>, FileError> {
    let mut doc = parse(text)?;
    let mut comments = RemovedComments::default();
    remove(&mut doc, &mut comments);
    // Last first, so that comments carried to the same place keep their order.
    comments
        .0
        .sort_by_key(|(position, _)| std::cmp::Reverse(*position));
    for (position, comment) in comments.0 {
        carry_comment(&mut doc, position, &comment);
    }
    let mut out = Zeroizing::new(doc.to_string());
    if out.trim().is_empty() {
        out.clear();
    } else if out.starts_with('\n') && !text.starts_with('\n') {
        // A removed first table leaves the blank line that separated it from the next one.
        let blank = out.len() - out.trim_start_matches('\n').len();
        out.drain(..blank);
    }
    Ok(out)
}

/// Puts `comment` (the prefix of a removed table's header at `position`) above the next table's
/// header, or at the end of the file when no table follows.
fn carry_comment(doc: &mut DocumentMut, position: isize, comment: &str) {
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

/// A file's text; empty when it does not exist.
pub fn read_optional(path: &Path) -> std::io::Result<String> {
    match std::fs::read_to_string(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        other => other,
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
