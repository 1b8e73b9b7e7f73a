//! pip's configuration files (`pip.conf`), read the way pip reads them: Python's
//! `configparser.RawConfigParser` with pip's key names. One line model serves both of credd's
//! uses: the index URLs with the byte position of each, so that `credd import pip` cuts a
//! password out and nothing else of the file changes; and setting one option of `[global]` for
//! `credd setup pip` by editing lines, so that comments, order and every other byte stay.
//!
//! The rules of `RawConfigParser` (strict): `key = value` or `key: value` (at the first `=` or
//! `:`); lines starting with `#` or `;` are comments (no comments after a value); a line indented
//! deeper than its key's line continues the value, blank and comment lines in between included;
//! lines end at `\n`, `\r\n` or `\r`; a repeated section (but `[DEFAULT]`) or a key repeated in
//! its section makes the file unreadable. Errors name a line, never its text: it may hold a
//! password.

use std::collections::HashSet;
use std::ops::Range;

use zeroize::Zeroizing;

use super::is_python_space;

/// The option that chooses how pip asks a keyring.
pub const KEYRING_PROVIDER: &str = "keyring-provider";
/// The provider that makes pip run the `keyring` command it finds on PATH.
pub const SUBPROCESS: &str = "subprocess";
/// The section whose options apply to every pip command.
const GLOBAL: &str = "global";

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

/// One line of a file.
struct Line<'a> {
    /// Where it starts in the file's text, in bytes.
    start: usize,
    /// Its text, without its end.
    text: &'a str,
    /// Its end: `\n`, `\r\n`, `\r`, or nothing on a last line without one.
    end: &'a str,
}

/// One setting of a file: its section, its key as pip names it and as configparser does, and the
/// lines it spans.
struct Setting {
    section: String,
    key: String,
    /// The key's name in lower case, as configparser folds it.
    name: String,
    /// The index of the key's line.
    line: usize,
    /// Where the delimiter (`=` or `:`) is in the key's line, in bytes.
    delimiter: usize,
    /// The indexes of the deeper-indented lines that continue its value.
    continuation: Vec<usize>,
}

/// A configuration file as `configparser` reads it.
struct Ini<'a> {
    lines: Vec<Line<'a>>,
    /// The section names with the index of their header line, in file order.
    sections: Vec<(String, usize)>,
    /// The settings, in file order.
    settings: Vec<Setting>,
}

impl<'a> Ini<'a> {
    /// Reads `text`, failing where `configparser` would.
    fn parse(text: &'a str) -> Result<Self, ConfigError> {
        let lines: Vec<Line> = lines(text).collect();
        let mut sections = Vec::new();
        let mut settings: Vec<Setting> = Vec::new();
        let mut seen_sections = HashSet::new();
        let mut seen_keys = HashSet::new();
        let mut current: Option<String> = None;
        // Whether the last setting's value goes on (no section header since).
        let mut open = false;
        let mut indent_level = 0;
        for (index, line) in lines.iter().enumerate() {
            let number = index + 1;
            let value = line.text.trim_matches(is_python_space);
            if value.is_empty() || value.starts_with(['#', ';']) {
                continue;
            }
            let indent = line
                .text
                .chars()
                .take_while(|&c| is_python_space(c))
                .count();
            if open && indent > indent_level {
                settings
                    .last_mut()
                    .expect("an open setting")
                    .continuation
                    .push(index);
                continue;
            }
            indent_level = indent;
            if let Some(name) = section_header(value) {
                // configparser merges a repeated [DEFAULT] and refuses any other repeated section.
                if name != "DEFAULT" && !seen_sections.insert(name.to_owned()) {
                    return Err(ConfigError::DuplicateSection(number));
                }
                sections.push((name.to_owned(), index));
                current = Some(name.to_owned());
                open = false;
                continue;
            }
            let Some(section) = &current else {
                return Err(ConfigError::NoSection(number));
            };
            let Some(delimiter) = line.text.find(['=', ':']) else {
                return Err(ConfigError::NotASetting(number));
            };
            let name = line.text[..delimiter].trim_matches(is_python_space);
            if name.is_empty() {
                return Err(ConfigError::NotASetting(number));
            }
            // configparser refuses a name repeated as it folds names (lower case only);
            // `index_url` after `index-url` is another name to it, which pip reads as the same
            // setting, the later one winning.
            if !seen_keys.insert((section.clone(), name.to_lowercase())) {
                return Err(ConfigError::DuplicateKey(number));
            }
            let (key, name) = (pip_key(name), name.to_lowercase());
            settings.push(Setting {
                section: section.clone(),
                key,
                name,
                line: index,
                delimiter,
                continuation: Vec::new(),
            });
            open = true;
        }
        Ok(Self {
            lines,
            sections,
            settings,
        })
    }

    /// The setting of `key` (as pip names it) in `[section]`: the last, which pip uses.
    fn get(&self, section: &str, key: &str) -> Option<&Setting> {
        self.get_by(section, key, KeyNames::Pip)
    }

    /// The last setting of `key` in `[section]`, keys named as `names` says.
    fn get_by(&self, section: &str, key: &str, names: KeyNames) -> Option<&Setting> {
        self.settings
            .iter()
            .rev()
            .find(|s| s.section == section && s.is(key, names))
    }

    /// The settings pip uses: each but one that a later line of its section sets again.
    fn used(&self) -> impl Iterator<Item = &Setting> {
        self.settings
            .iter()
            .filter(|s| std::ptr::eq(*s, self.get(&s.section, &s.key).expect("it is there")))
    }

    /// The pieces of `setting`'s value, one a line: the line's index, where the piece starts in
    /// the file, in bytes, and its text.
    fn value_pieces<'s>(
        &'s self,
        setting: &'s Setting,
    ) -> impl Iterator<Item = (usize, usize, &'a str)> + 's {
        let first = &self.lines[setting.line];
        let after = setting.delimiter + 1;
        let rest = setting.continuation.iter().map(|&index| {
            let line = &self.lines[index];
            (index, line.start, line.text)
        });
        std::iter::once((setting.line, first.start + after, &first.text[after..])).chain(rest)
    }
}

/// The index URLs of the configuration file `text`, in file order, in any section (`[DEFAULT]`
/// included); fails as `configparser` would on a file pip cannot read.
pub fn index_urls(text: &str) -> Result<Vec<IndexUrl>, ConfigError> {
    let ini = Ini::parse(text)?;
    let mut urls = Vec::new();
    for setting in ini.used().filter(|s| is_index_key(&s.key)) {
        for (index, start, value) in ini.value_pieces(setting) {
            for (offset, word) in words(value) {
                urls.push(IndexUrl {
                    section: setting.section.clone(),
                    key: setting.key.clone(),
                    line: index + 1,
                    url: Zeroizing::new(word.to_owned()),
                    span: start + offset..start + offset + word.len(),
                });
            }
        }
    }
    Ok(urls)
}

/// Whether the file sets `[global] key` (`key` as pip names it).
pub(super) fn has_global(text: &str, key: &str) -> Result<bool, ConfigError> {
    Ok(Ini::parse(text)?.get(GLOBAL, key).is_some())
}

/// The result of setting an option.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edit {
    /// The new text (the old text when nothing had to change).
    pub text: String,
    /// Whether `text` differs from the old text.
    pub changed: bool,
    /// The other sections of the file that set the same option: for their pip commands
    /// (`[install]` for `pip install`) that value wins over `[global]`'s.
    pub overridden_in: Vec<String>,
}

/// How the program that reads a file names its keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyNames {
    /// As pip does: lower case, `_` as `-`, a leading `--` dropped (`index_url` is `index-url`).
    Pip,
    /// As `configparser` alone does (the keyring package): lower case only.
    ConfigParser,
}

impl Setting {
    /// True when this setting is `key` to a program that names keys as `names` says.
    fn is(&self, key: &str, names: KeyNames) -> bool {
        match names {
            KeyNames::Pip => self.key == key,
            KeyNames::ConfigParser => self.name == key.to_lowercase(),
        }
    }
}

/// Sets `[global] key = value` in a pip configuration file, as [`set_option`] does.
pub fn set_global(text: &str, key: &str, value: &str) -> Result<Edit, ConfigError> {
    set_option(text, GLOBAL, key, value, KeyNames::Pip)
}

/// Sets `[section] key = value` in a file that Python's `configparser` reads (pip's, and the
/// keyring package's `keyringrc.cfg`): an existing line for `key` gets the new value after its
/// own name and delimiter (its continuation lines go); else the line is added after the
/// section's last option; else the section is added at the end. Everything else is kept byte
/// for byte, and text that already says so is returned unchanged. Which line is `key` depends on
/// how the reading program names keys (`names`).
pub fn set_option(
    text: &str,
    section: &str,
    key: &str,
    value: &str,
    names: KeyNames,
) -> Result<Edit, ConfigError> {
    let ini = Ini::parse(text)?;
    let overridden_in = ini
        .settings
        .iter()
        .filter(|s| s.section != section && s.is(key, names))
        .map(|s| s.section.clone())
        .collect();
    let newline = ini
        .lines
        .first()
        .map_or("\n", |l| if l.end.is_empty() { "\n" } else { l.end });
    let mut out: Vec<String> = ini.lines.iter().map(|l| [l.text, l.end].concat()).collect();
    if let Some(setting) = ini.get_by(section, key, names) {
        let line = &ini.lines[setting.line];
        let after = &line.text[setting.delimiter + 1..];
        let old = after.trim_matches(is_python_space);
        if old == value && setting.continuation.is_empty() {
            return Ok(Edit {
                text: text.to_owned(),
                changed: false,
                overridden_in,
            });
        }
        let space = match old {
            "" => " ",
            _ => &after[..after.len() - after.trim_start_matches(is_python_space).len()],
        };
        let name = &line.text[..=setting.delimiter];
        out[setting.line] = format!("{name}{space}{value}{}", line.end);
        for &index in setting.continuation.iter().rev() {
            out.remove(index);
        }
    } else if let Some(&(_, header)) = ini.sections.iter().find(|(s, _)| s == section) {
        let last = ini
            .settings
            .iter()
            .filter(|s| s.section == section)
            .map(|s| s.continuation.last().copied().unwrap_or(s.line))
            .max()
            .unwrap_or(header);
        if ini.lines[last].end.is_empty() {
            out[last].push_str(newline);
        }
        out.insert(last + 1, format!("{key} = {value}{newline}"));
    } else {
        let mut tail = String::new();
        if let Some(last) = ini.lines.last() {
            if last.end.is_empty() {
                tail.push_str(newline);
            }
            tail.push_str(newline);
        }
        tail.push_str(&format!("[{section}]{newline}{key} = {value}{newline}"));
        out.push(tail);
    }
    Ok(Edit {
        text: out.concat(),
        changed: true,
        overridden_in,
    })
}

/// The name of a `[section]` line (already trimmed), as `configparser`'s greedy `\[(.+)\]`
/// reads it: up to the last `]`, whatever follows.
fn section_header(value: &str) -> Option<&str> {
    let inner = value.strip_prefix('[')?;
    let close = inner.rfind(']')?;
    (close > 0).then(|| &inner[..close])
}

/// The lines of `text`, ending at `\n`, `\r\n` or `\r` as Python's text files split them.
fn lines(text: &str) -> impl Iterator<Item = Line<'_>> {
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
        Some(Line {
            start,
            text: &tail[..len],
            end: &tail[len..len + end_len],
        })
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
    fn broken_files_are_refused_by_line_by_both_readers() {
        let err = |t: &str| index_urls(t).err().unwrap();
        assert_eq!(
            err("index-url = https://u:p@a/\n"),
            ConfigError::NoSection(1)
        );
        assert_eq!(err("[global]\nno delimiter\n"), ConfigError::NotASetting(2));
        assert_eq!(err("[global]\n= secret\n"), ConfigError::NotASetting(2));
        assert_eq!(err("[a]\n[b]\n[a]\n"), ConfigError::DuplicateSection(3));
        // configparser folds names to lower case only: these are two names to it, one setting
        // to pip, which uses the later.
        let urls = index_urls("[a]\nindex-url=https://x/\nindex_url=https://y/\n").unwrap();
        assert_eq!(urls.len(), 1);
        assert_eq!((urls[0].url.as_str(), urls[0].line), ("https://y/", 3));
        let edit = set_global("[global]\nindex-url=x\nindex_url=y\n", "index-url", "z").unwrap();
        assert_eq!(edit.text, "[global]\nindex-url=x\nindex_url=z\n");
        // keyring's file is read by configparser alone: `keyring_path` is not `keyring-path`.
        let keyring = "[backend]\nkeyring_path = /old\n";
        let edit = set_option(
            keyring,
            "backend",
            "keyring-path",
            "/new",
            KeyNames::ConfigParser,
        );
        assert_eq!(
            edit.unwrap().text,
            "[backend]\nkeyring_path = /old\nkeyring-path = /new\n"
        );
        let edit = set_option(
            "[backend]\nKeyring-Path = /old\n",
            "backend",
            "keyring-path",
            "/new",
            KeyNames::ConfigParser,
        );
        assert_eq!(edit.unwrap().text, "[backend]\nKeyring-Path = /new\n");
        assert_eq!(
            err("[global]\na = 1\nA = 2\n"),
            ConfigError::DuplicateKey(3)
        );
        for text in ["[a]\nmy secret\n", "[global]\n= secret\n"] {
            assert!(!err(text).to_string().contains("secret"));
        }
        assert!(index_urls("[DEFAULT]\n[DEFAULT]\n").is_ok());
        assert_eq!(
            set_global("[global]\n[global]\n", KEYRING_PROVIDER, SUBPROCESS),
            Err(ConfigError::DuplicateSection(2))
        );
    }

    fn set(text: &str) -> Edit {
        set_global(text, KEYRING_PROVIDER, SUBPROCESS).unwrap()
    }

    #[test]
    fn an_empty_file_gets_a_global_section() {
        assert_eq!(set("").text, "[global]\nkeyring-provider = subprocess\n");
        assert!(set("").changed);
    }

    #[test]
    fn a_missing_global_section_is_added_at_the_end() {
        let text = "# mine\n[install]\nuser = true";
        assert_eq!(
            set(text).text,
            "# mine\n[install]\nuser = true\n\n[global]\nkeyring-provider = subprocess\n"
        );
    }

    #[test]
    fn the_option_goes_after_the_last_option_of_global() {
        let text = "; top\n[global]\n# index\nindex-url = https://x/simple/\n  \
                    more\n\n# about install\n[install]\nuser=true\n";
        assert_eq!(
            set(text).text,
            "; top\n[global]\n# index\nindex-url = https://x/simple/\n  more\n\
             keyring-provider = subprocess\n\n# about install\n[install]\nuser=true\n"
        );
        assert_eq!(
            set("[global]\r\n").text,
            "[global]\r\nkeyring-provider = subprocess\r\n"
        );
        assert_eq!(
            set("[global]").text,
            "[global]\nkeyring-provider = subprocess\n"
        );
    }

    #[test]
    fn an_existing_value_is_replaced_in_its_own_spelling() {
        let text = "[global]\nKeyring_Provider:import   \ntimeout = 5\n";
        let edit = set(text);
        assert_eq!(
            edit.text,
            "[global]\nKeyring_Provider:subprocess\ntimeout = 5\n"
        );
        let text = "[global]\n  keyring-provider =\n    import\n  # c\n    auto\ntimeout = 5\n";
        assert_eq!(
            set(text).text,
            "[global]\n  keyring-provider = subprocess\n  # c\ntimeout = 5\n"
        );
    }

    #[test]
    fn a_second_run_changes_nothing() {
        for text in ["", "[global]\nkeyring-provider=import\n", "[a]\nb=c"] {
            let once = set(text);
            let twice = set(&once.text);
            assert!(!twice.changed, "{text:?}");
            assert_eq!(twice.text, once.text);
        }
    }

    #[test]
    fn other_sections_setting_it_are_reported() {
        let text = "[install]\nkeyring-provider = import\n[global]\n";
        assert_eq!(set(text).overridden_in, ["install"]);
    }
}
