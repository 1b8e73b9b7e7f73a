//! pip's configuration file, `pip.conf`: which one `credd setup pip` edits, and setting one
//! option of its `[global]` section by editing lines, so that comments, order and every other
//! byte stay as they were.
//!
//! pip reads the file with Python's `configparser.RawConfigParser` (strict, `=` or `:` between
//! name and value, full-line `#` and `;` comments, values continued on more indented lines,
//! option names lower-cased with `_` read as `-`); the reader here follows those rules, and
//! refuses what pip itself would refuse to load. Errors name a line, never its text: the file
//! may hold an index URL with a password in it.

use std::fmt;
use std::path::{Path, PathBuf};

/// The option that chooses how pip asks a keyring.
pub const KEYRING_PROVIDER: &str = "keyring-provider";
/// The provider that makes pip run the `keyring` command it finds on PATH.
pub const SUBPROCESS: &str = "subprocess";
/// The section whose options apply to every pip command.
pub const GLOBAL: &str = "global";

/// Why pip could not load a `pip.conf`, so credd does not edit it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong there.
    pub what: &'static str,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "pip cannot read line {}: {}; fix it there",
            self.line, self.what
        )
    }
}

impl std::error::Error for ParseError {}

/// One option of the file: its section and normalised name, and the lines it spans.
#[derive(Debug)]
struct OptionLine {
    section: String,
    name: String,
    /// The line with the name (index into the file's lines).
    line: usize,
    /// The more indented lines that continue its value.
    continuation: Vec<usize>,
}

/// The parts of a `pip.conf` the editor needs.
#[derive(Debug, Default)]
struct Parsed {
    /// Section names with the index of their header line, in file order.
    sections: Vec<(String, usize)>,
    options: Vec<OptionLine>,
}

/// The file's lines, each with its line break (the last may have none).
fn lines(text: &str) -> Vec<&str> {
    text.split_inclusive('\n').collect()
}

/// A line without its line break.
fn content(line: &str) -> &str {
    line.strip_suffix('\n')
        .map_or(line, |l| l.strip_suffix('\r').unwrap_or(l))
}

/// An option name as pip compares it: lower case, `_` as `-`, without a leading `--`.
fn normalize(name: &str) -> String {
    let name = name.to_lowercase().replace('_', "-");
    name.strip_prefix("--").map(str::to_owned).unwrap_or(name)
}

/// The section name of a header line (`value` is the stripped line), as configparser's
/// `\[(?P<header>.+)\]` finds it.
fn header(value: &str) -> Option<&str> {
    let rest = value.strip_prefix('[')?;
    let end = rest.rfind(']').filter(|&end| end > 0)?;
    Some(&rest[..end])
}

/// Reads `lines` as configparser does, failing where pip would fail to load the file.
fn parse(lines: &[&str]) -> Result<Parsed, ParseError> {
    let mut parsed = Parsed::default();
    let mut current: Option<String> = None;
    let mut open_option: Option<usize> = None;
    let mut indent_level = 0;
    for (index, line) in lines.iter().enumerate() {
        let error = |what| ParseError {
            line: index + 1,
            what,
        };
        let value = content(line).trim();
        if value.is_empty() || value.starts_with('#') || value.starts_with(';') {
            continue;
        }
        let indent = content(line)
            .chars()
            .take_while(|c| c.is_whitespace())
            .count();
        if let Some(option) = open_option
            && indent > indent_level
        {
            parsed.options[option].continuation.push(index);
            continue;
        }
        indent_level = indent;
        if let Some(name) = header(value) {
            if parsed.sections.iter().any(|(s, _)| s == name) {
                return Err(error("a second section of the same name"));
            }
            parsed.sections.push((name.to_owned(), index));
            current = Some(name.to_owned());
            open_option = None;
            continue;
        }
        let Some(section) = &current else {
            return Err(error("an option before the first [section] header"));
        };
        let name = value
            .find(['=', ':'])
            .map(|end| value[..end].trim_end())
            .ok_or_else(|| error("neither a [section] header nor `name = value`"))?;
        if name.is_empty() {
            return Err(error("a value without a name"));
        }
        let name = normalize(name);
        if parsed
            .options
            .iter()
            .any(|o| &o.section == section && o.name == name)
        {
            return Err(error("an option set twice in one section"));
        }
        open_option = Some(parsed.options.len());
        parsed.options.push(OptionLine {
            section: section.clone(),
            name,
            line: index,
            continuation: Vec::new(),
        });
    }
    Ok(parsed)
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

/// Whether the file sets `[global] key` (`key` as pip normalises it).
pub fn has_global(text: &str, key: &str) -> Result<bool, ParseError> {
    let parsed = parse(&lines(text))?;
    Ok(parsed
        .options
        .iter()
        .any(|o| o.section == GLOBAL && o.name == key))
}

/// Sets `[global] key = value`: an existing line for `key` gets the new value after its own
/// name and `=` (its continuation lines go); else the line is added after the section's last
/// option; else a `[global]` section is added at the end. Everything else is kept byte for byte,
/// and text that already says so is returned unchanged.
pub fn set_global(text: &str, key: &str, value: &str) -> Result<Edit, ParseError> {
    let lines = lines(text);
    let parsed = parse(&lines)?;
    let overridden_in = parsed
        .options
        .iter()
        .filter(|o| o.section != GLOBAL && o.name == key)
        .map(|o| o.section.clone())
        .collect();
    let newline = if lines.first().is_some_and(|l| l.ends_with("\r\n")) {
        "\r\n"
    } else {
        "\n"
    };
    let existing = parsed
        .options
        .iter()
        .find(|o| o.section == GLOBAL && o.name == key);
    let mut out: Vec<String> = lines.iter().map(|l| (*l).to_owned()).collect();
    if let Some(option) = existing {
        let line = content(lines[option.line]);
        let delimiter = line
            .find(['=', ':'])
            .expect("an option line has a delimiter");
        let after = &line[delimiter + 1..];
        let space = match after.trim() {
            "" => " ",
            _ => &after[..after.len() - after.trim_start().len()],
        };
        if after.trim() == value && option.continuation.is_empty() {
            return Ok(Edit {
                text: text.to_owned(),
                changed: false,
                overridden_in,
            });
        }
        let ending = &lines[option.line][line.len()..];
        out[option.line] = format!("{}{space}{value}{ending}", &line[..=delimiter]);
        for &index in option.continuation.iter().rev() {
            out.remove(index);
        }
    } else if let Some(&(_, header_line)) = parsed.sections.iter().find(|(s, _)| s == GLOBAL) {
        let last = parsed
            .options
            .iter()
            .filter(|o| o.section == GLOBAL)
            .map(|o| o.continuation.last().copied().unwrap_or(o.line))
            .max()
            .unwrap_or(header_line);
        if !out[last].ends_with('\n') {
            out[last].push_str(newline);
        }
        out.insert(last + 1, format!("{key} = {value}{newline}"));
    } else {
        let mut tail = String::new();
        if !text.is_empty() {
            if !text.ends_with('\n') {
                tail.push_str(newline);
            }
            tail.push_str(newline);
        }
        tail.push_str(&format!("[{GLOBAL}]{newline}{key} = {value}{newline}"));
        out.push(tail);
    }
    Ok(Edit {
        text: out.concat(),
        changed: true,
        overridden_in,
    })
}

/// The `pip.conf` that `pip config --user set global.KEY` would write, and so the one pip reads
/// the user's setting from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// `$PIP_CONFIG_FILE`, an existing file: pip then reads no user file at all.
    EnvFile(PathBuf),
    /// `$XDG_CONFIG_HOME/pip/pip.conf` (else `~/.config/pip/pip.conf`): pip's user file, which
    /// wins over the legacy one.
    User(PathBuf),
    /// `~/.pip/pip.conf`, the legacy user file, when it sets the key and the new one does not.
    Legacy(PathBuf),
}

impl Location {
    /// The file.
    pub fn path(&self) -> &Path {
        match self {
            Self::EnvFile(path) | Self::User(path) | Self::Legacy(path) => path,
        }
    }
}

/// Where the user's config files are, as pip finds them.
#[derive(Debug, Clone)]
pub struct Candidates {
    /// `$PIP_CONFIG_FILE`, when set and not empty.
    pub env_file: Option<PathBuf>,
    /// `$XDG_CONFIG_HOME/pip/pip.conf`, else `~/.config/pip/pip.conf`.
    pub user: PathBuf,
    /// `~/.pip/pip.conf`.
    pub legacy: PathBuf,
}

impl Candidates {
    /// The candidates of this process's environment; `None` without a home directory.
    pub fn from_env() -> Option<Self> {
        let home = std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .map(PathBuf::from)?;
        // pip (platformdirs) takes any non-blank XDG_CONFIG_HOME, relative or not.
        let config = std::env::var_os("XDG_CONFIG_HOME")
            .filter(|d| !d.to_string_lossy().trim().is_empty())
            .map_or_else(|| home.join(".config"), PathBuf::from);
        Some(Self {
            env_file: std::env::var_os("PIP_CONFIG_FILE")
                .filter(|f| !f.is_empty())
                .map(PathBuf::from),
            user: config.join("pip/pip.conf"),
            legacy: home.join(".pip/pip.conf"),
        })
    }

    /// Picks the file as pip's `config --user set` does: an existing `$PIP_CONFIG_FILE`; else the
    /// user file, unless only the legacy one already sets `key`. `read` gives a file's text
    /// (empty when it does not exist).
    pub fn locate(
        &self,
        key: &str,
        read: impl Fn(&Path) -> std::io::Result<String>,
    ) -> Result<Location, LocateError> {
        if let Some(file) = &self.env_file
            && file.exists()
        {
            if file == Path::new("/dev/null") {
                return Err(LocateError::NoConfig);
            }
            return Ok(Location::EnvFile(file.clone()));
        }
        let sets_key = |path: &Path| -> Result<bool, LocateError> {
            let text = read(path).map_err(|e| LocateError::Read {
                path: path.to_owned(),
                kind: e.kind(),
            })?;
            has_global(&text, key).map_err(|error| LocateError::Parse {
                path: path.to_owned(),
                error,
            })
        };
        if !sets_key(&self.user)? && sets_key(&self.legacy)? {
            return Ok(Location::Legacy(self.legacy.clone()));
        }
        Ok(Location::User(self.user.clone()))
    }
}

/// Why no `pip.conf` could be chosen.
#[derive(Debug, thiserror::Error)]
pub enum LocateError {
    /// `PIP_CONFIG_FILE=/dev/null`: pip reads no config file at all.
    #[error(
        "PIP_CONFIG_FILE is /dev/null, so pip reads no config file: unset it, or set \
         PIP_KEYRING_PROVIDER=subprocess instead"
    )]
    NoConfig,
    /// A candidate could not be read.
    #[error("cannot read {}: {kind}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        kind: std::io::ErrorKind,
    },
    /// A candidate is not a file pip can load.
    #[error("{}: {error}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// Where and why.
        error: ParseError,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn what_pip_cannot_load_is_refused_by_line() {
        let cases = [
            ("index-url = x\n", 1),
            ("[global]\nindex-url\n", 2),
            ("[global]\n[global]\n", 2),
            ("[global]\na = 1\nA = 2\n", 3),
            ("[global]\n= secret\n", 2),
        ];
        for (text, line) in cases {
            let err = set_global(text, KEYRING_PROVIDER, SUBPROCESS).unwrap_err();
            assert_eq!(err.line, line, "{text:?}");
            assert!(!err.to_string().contains("secret"));
        }
    }

    #[test]
    fn the_legacy_file_is_edited_only_when_it_alone_sets_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let candidates = Candidates {
            env_file: None,
            user: dir.path().join("new"),
            legacy: dir.path().join("legacy"),
        };
        let read = |p: &Path| crate::toml_file::read_optional(p);
        let locate = || candidates.locate(KEYRING_PROVIDER, read).unwrap();
        assert_eq!(locate(), Location::User(candidates.user.clone()));
        std::fs::write(&candidates.legacy, "[global]\nkeyring_provider = import\n").unwrap();
        assert_eq!(locate(), Location::Legacy(candidates.legacy.clone()));
        std::fs::write(&candidates.user, "[global]\nkeyring-provider = auto\n").unwrap();
        assert_eq!(locate(), Location::User(candidates.user.clone()));
        let with_env = Candidates {
            env_file: Some(candidates.legacy.clone()),
            ..candidates.clone()
        };
        assert_eq!(
            with_env.locate(KEYRING_PROVIDER, read).unwrap(),
            Location::EnvFile(candidates.legacy.clone())
        );
    }
}
