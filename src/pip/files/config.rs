//! pip's configuration files (`pip.conf`), read the way pip reads them: Python's
//! `configparser.RawConfigParser` with pip's key names, keeping the byte position of every index
//! URL so that its password can be cut out and nothing else of the file changes.

use std::collections::HashSet;
use std::ops::Range;

use zeroize::Zeroizing;

use super::is_python_space;

/// The keys whose values are index URLs: `index-url` (and its alias `pypi-url`), and
/// `extra-index-url`, which holds several, split at white space.
const INDEX_KEYS: [&str; 3] = ["index-url", "pypi-url", "extra-index-url"];

/// A configuration file pip refuses to read, and where (1-based line). Never the line's text: it
/// may hold a password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A setting before the first `[section]`.
    #[error("line {0} comes before any [section]: put it under [global]")]
    NoSection(usize),
    /// A line that is neither a `[section]`, `key = value`, `key: value` nor a comment.
    #[error("line {0} is neither a [section] nor `key = value`: fix it there")]
    NotASetting(usize),
    /// A section that appears twice.
    #[error("line {0} repeats a [section] of the file: merge the two")]
    DuplicateSection(usize),
    /// A key that appears twice in one section.
    #[error("line {0} repeats a key of its section: keep one of the two")]
    DuplicateKey(usize),
}

/// One index URL of a configuration file. Its text may hold a password: it is wiped on drop and
/// has no `Debug`.
pub struct IndexUrl {
    /// The section it is in (`global`, `install`, …).
    pub section: String,
    /// The key it is the value of, as pip names it (`index-url`, `extra-index-url`, …).
    pub key: String,
    /// Its 1-based line.
    pub line: usize,
    /// The URL as written.
    pub url: Zeroizing<String>,
    /// Where it is in the file's text, in bytes.
    pub span: Range<usize>,
}

/// True when pip reads the key `key` (as pip names it) as one or more index URLs.
pub fn is_index_key(key: &str) -> bool {
    INDEX_KEYS.contains(&key)
}

/// The key of a configuration file as pip names it: lowercase, `-` for `_`, no leading `--`.
fn pip_key(key: &str) -> String {
    let key = key.to_lowercase().replace('_', "-");
    key.strip_prefix("--").map_or(key.clone(), str::to_owned)
}

/// The index URLs of the configuration file `text`, in file order, in any section (`[DEFAULT]`
/// included); fails as `configparser` would on a file pip cannot read.
///
/// The rules of `RawConfigParser`: `key = value` or `key: value` (at the first `=` or `:`);
/// lines starting with `#` or `;` are comments (no comments after a value); a line indented
/// deeper than its key's line continues the value, blank and comment lines in between
/// included; lines end at `\n`, `\r\n` or `\r`.
pub fn index_urls(text: &str) -> Result<Vec<IndexUrl>, ConfigError> {
    let mut parser = Parser::default();
    for (number, (start, line)) in lines(text).enumerate() {
        parser.line(number + 1, start, line)?;
    }
    Ok(parser.urls)
}

/// The state of a reading, line after line.
#[derive(Default)]
struct Parser {
    /// The current section.
    section: Option<String>,
    /// The key whose value the next deeper-indented line continues, when it is an index key.
    key: Option<String>,
    /// Whether a key is open at all (continuation lines of other keys are skipped).
    open: bool,
    /// The indentation (in characters) of the key's line.
    indent: usize,
    /// The sections seen, to refuse a repeated one.
    sections: HashSet<String>,
    /// The (section, key) pairs seen, to refuse a repeated key.
    keys: HashSet<(String, String)>,
    /// What was found.
    urls: Vec<IndexUrl>,
}

impl Parser {
    /// Reads line `number`, which starts at byte `start` of the file.
    fn line(&mut self, number: usize, start: usize, line: &str) -> Result<(), ConfigError> {
        let value = line.trim_matches(is_python_space);
        if value.is_empty() || value.starts_with(['#', ';']) {
            return Ok(());
        }
        let indent = line.chars().take_while(|&c| is_python_space(c)).count();
        let value_start = start + (line.len() - line.trim_start_matches(is_python_space).len());
        if self.section.is_some() && self.open && indent > self.indent {
            self.add_urls(number, value_start, value);
            return Ok(());
        }
        self.indent = indent;
        if let Some(name) = section_header(value) {
            // configparser merges a repeated [DEFAULT] and refuses any other repeated section.
            if name != "DEFAULT" && !self.sections.insert(name.to_owned()) {
                return Err(ConfigError::DuplicateSection(number));
            }
            self.section = Some(name.to_owned());
            (self.key, self.open) = (None, false);
            return Ok(());
        }
        let Some(section) = self.section.clone() else {
            return Err(ConfigError::NoSection(number));
        };
        let Some(delimiter) = value.find(['=', ':']) else {
            return Err(ConfigError::NotASetting(number));
        };
        let name = value[..delimiter].trim_end_matches(is_python_space);
        if name.is_empty() {
            return Err(ConfigError::NotASetting(number));
        }
        let key = pip_key(name);
        if !self.keys.insert((section, key.clone())) {
            return Err(ConfigError::DuplicateKey(number));
        }
        self.open = true;
        self.key = is_index_key(&key).then_some(key);
        let rest = &value[delimiter + 1..];
        self.add_urls(number, value_start + delimiter + 1, rest);
        Ok(())
    }

    /// Adds the white-space separated words of `value`, which starts at byte `start` of the
    /// file, as URLs of the open key, if it is an index key.
    fn add_urls(&mut self, number: usize, start: usize, value: &str) {
        let (Some(section), Some(key)) = (&self.section, &self.key) else {
            return;
        };
        for (offset, word) in words(value) {
            self.urls.push(IndexUrl {
                section: section.clone(),
                key: key.clone(),
                line: number,
                url: Zeroizing::new(word.to_owned()),
                span: start + offset..start + offset + word.len(),
            });
        }
    }
}

/// The name of a `[section]` line (already trimmed), as `configparser`'s greedy `\[(.+)\]`
/// reads it: up to the last `]`, whatever follows.
fn section_header(value: &str) -> Option<&str> {
    let inner = value.strip_prefix('[')?;
    let close = inner.rfind(']')?;
    (close > 0).then(|| &inner[..close])
}

/// The lines of `text` with the byte offset of each, without their ends (`\n`, `\r\n`, `\r`), as
/// Python's text files split them.
fn lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let mut rest = 0;
    std::iter::from_fn(move || {
        if rest >= text.len() {
            return None;
        }
        let start = rest;
        let tail = &text[start..];
        let (len, end_len) = match tail.find(['\n', '\r']) {
            Some(i) if tail[i..].starts_with("\r\n") => (i, 2),
            Some(i) => (i, 1),
            None => (tail.len(), 0),
        };
        rest = start + len + end_len;
        Some((start, &tail[..len]))
    })
}

/// The words of `value` split at white space as Python's `str.split()` does, with the byte
/// offset of each.
fn words(value: &str) -> impl Iterator<Item = (usize, &str)> {
    value
        .split(is_python_space)
        .filter(|w| !w.is_empty())
        .map(move |w| (w.as_ptr() as usize - value.as_ptr() as usize, w))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (section, key, line, url) of each index URL, each URL checked against its span.
    fn read(text: &str) -> Vec<(String, String, usize, String)> {
        index_urls(text)
            .unwrap()
            .into_iter()
            .map(|u| {
                assert_eq!(&text[u.span.clone()], u.url.as_str());
                (u.section, u.key, u.line, u.url.to_string())
            })
            .collect()
    }

    fn found(section: &str, key: &str, line: usize, url: &str) -> (String, String, usize, String) {
        (section.into(), key.into(), line, url.into())
    }

    #[test]
    fn keys_in_any_section_with_either_delimiter_and_pips_names() {
        let text = "[global]\nindex-url = https://u:p@a/simple/\ntimeout=5\n\
                    [install]\r\nEXTRA_INDEX_URL: https://b/ https://c/\n[x]\n--pypi-url=https://d/\n";
        assert_eq!(
            read(text),
            vec![
                found("global", "index-url", 2, "https://u:p@a/simple/"),
                found("install", "extra-index-url", 5, "https://b/"),
                found("install", "extra-index-url", 5, "https://c/"),
                found("x", "pypi-url", 7, "https://d/"),
            ]
        );
    }

    #[test]
    fn continuation_lines_blank_lines_and_comments_inside_a_value() {
        let text = "[global]\nextra-index-url =\n    https://a/\n\n  # not a url\n\thttps://b/ https://c/\n\
                    index-url = https://d/ # trailing text is part of the value\n";
        let urls: Vec<String> = read(text).into_iter().map(|f| f.3).collect();
        assert_eq!(
            urls,
            [
                "https://a/",
                "https://b/",
                "https://c/",
                "https://d/",
                "#",
                "trailing",
                "text",
                "is",
                "part",
                "of",
                "the",
                "value"
            ]
        );
    }

    #[test]
    fn only_a_deeper_line_continues_and_other_keys_values_are_skipped() {
        let text =
            "  [global]\n  timeout = 5\n      https://not-a-url-key/\n  index-url = https://a/\n";
        assert_eq!(
            read(text),
            vec![found("global", "index-url", 4, "https://a/")]
        );
    }

    #[test]
    fn a_section_header_is_read_up_to_its_last_bracket() {
        assert_eq!(section_header("[global] junk"), Some("global"));
        assert_eq!(section_header("[a]b]"), Some("a]b"));
        assert_eq!(section_header("[]"), None);
        let text = "[global] ; comment\nindex-url = https://a/\n";
        assert_eq!(
            read(text),
            vec![found("global", "index-url", 2, "https://a/")]
        );
    }

    #[test]
    fn broken_files_are_refused_by_line() {
        let err = |t: &str| index_urls(t).err().unwrap();
        assert_eq!(
            err("index-url = https://u:p@a/\n"),
            ConfigError::NoSection(1)
        );
        assert_eq!(err("[global]\nno delimiter\n"), ConfigError::NotASetting(2));
        assert_eq!(err("[global]\n= x\n"), ConfigError::NotASetting(2));
        assert_eq!(err("[a]\n[b]\n[a]\n"), ConfigError::DuplicateSection(3));
        assert_eq!(
            err("[a]\nindex-url=x\nindex_url=y\n"),
            ConfigError::DuplicateKey(3)
        );
        assert!(!err("[a]\nmy secret\n").to_string().contains("secret"));
        assert!(index_urls("[DEFAULT]\n[DEFAULT]\n").is_ok());
    }
}
