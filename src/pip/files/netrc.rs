//! `.netrc`, read the way Python's `netrc` module reads it for requests (and so for pip), and
//! rewritten without the machines whose passwords credd took over.

use std::ops::Range;

use credd_protocol::Secret;
use zeroize::Zeroizing;

/// A `.netrc` Python's `netrc` module refuses, and where (1-based line). Never the text: it may be
/// a password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NetrcError {
    /// A word where `machine`, `default` or `macdef` belongs.
    #[error("line {0} has a word where `machine`, `default` or `macdef` belongs")]
    BadTopLevel(usize),
    /// A word inside an entry other than `login`, `user`, `account` or `password`.
    #[error("line {0} has a word other than `login`, `account` or `password` in an entry")]
    BadFollower(usize),
    /// `machine` or `macdef` without a name.
    #[error("line {0} has a `machine` or `macdef` without a name")]
    NoName(usize),
    /// A `macdef` the file ends in, without the empty line that ends it.
    #[error("line {0}: the macdef there needs an empty line after it")]
    OpenMacro(usize),
    /// Taking the entries out would change how the rest of the file reads.
    #[error(
        "taking the entries out would change how the rest of the file reads; it was left as it \
         is: remove them by hand"
    )]
    RemovalChangesTheRest,
}

/// One `machine` (or `default`) entry. No `Debug`: it holds a password.
pub struct Machine {
    /// The host name (`default` for the `default` entry, as Python keys it).
    pub name: String,
    /// `login` (or `user`); empty when absent.
    pub login: String,
    /// `account`; empty when absent.
    pub account: String,
    /// `password`; empty when absent.
    pub password: Secret,
    /// Its bytes in the file, from `machine` to its last value.
    span: Range<usize>,
}

/// What a `.netrc` holds.
pub struct Netrc {
    /// The entries in file order, repeated names included (the last one counts).
    pub machines: Vec<Machine>,
}

impl Netrc {
    /// The entry requests uses for `host` (the last `machine host`), not counting `default`.
    pub fn machine(&self, host: &str) -> Option<&Machine> {
        (host != "default")
            .then(|| self.machines.iter().rev().find(|m| m.name == host))
            .flatten()
    }

    /// The `default` entry, which serves every host without a machine of its own.
    pub fn default_entry(&self) -> Option<&Machine> {
        self.machines.iter().rev().find(|m| m.name == "default")
    }
}

/// Reads `.netrc` text by the rules of Python 3.11's `netrc` module: words separated by space,
/// tab or line ends, `"…"` quoting and `\` escapes; `machine NAME` or `default` followed by
/// `login`/`user`, `account` and `password` values; `macdef NAME` followed by lines up to an
/// empty one; a word `#` skips the rest of its line.
pub fn read_netrc(text: &str) -> Result<Netrc, NetrcError> {
    let mut lexer = Lexer::new(text);
    let mut machines = Vec::new();
    while let Some(word) = lexer.top_level()? {
        let start = word.span.start;
        let name = match word.text.as_str() {
            "machine" => Some(lexer.word()).filter(|w| !w.text.is_empty()),
            "default" => Some(word),
            "macdef" => {
                if lexer.word().text.is_empty() {
                    return Err(NetrcError::NoName(lexer.line));
                }
                lexer.skip_macro()?;
                continue;
            }
            _ => return Err(NetrcError::BadTopLevel(lexer.line)),
        };
        let name = name.ok_or(NetrcError::NoName(lexer.line))?;
        machines.push(lexer.entry(start, name)?);
    }
    Ok(Netrc { machines })
}

/// `text` without every entry named one of `names` (never `default`): whole lines when an entry
/// has its lines to itself, else just its words; everything else is kept byte for byte. Refused
/// when what is left would not read as the other entries did.
pub fn remove_machines(text: &str, names: &[String]) -> Result<Zeroizing<String>, NetrcError> {
    let netrc = read_netrc(text)?;
    let removed = |m: &Machine| m.name != "default" && names.contains(&m.name);
    let mut spans: Vec<Range<usize>> = netrc
        .machines
        .iter()
        .filter(|m| removed(m))
        .map(|m| whole_lines(text, m.span.clone()))
        .collect();
    spans.sort_by_key(|s| std::cmp::Reverse(s.start));
    let mut out = Zeroizing::new(text.to_owned());
    for span in spans {
        out.replace_range(span, "");
    }
    let kept: Vec<&Machine> = netrc.machines.iter().filter(|m| !removed(m)).collect();
    check_reads_as(&out, &kept)?;
    Ok(out)
}

/// Refuses `out` unless it reads as exactly the entries `kept`, in order.
fn check_reads_as(out: &str, kept: &[&Machine]) -> Result<(), NetrcError> {
    let left = read_netrc(out).map_err(|_| NetrcError::RemovalChangesTheRest)?;
    let same = |a: &Machine, b: &Machine| {
        (&a.name, &a.login, &a.account) == (&b.name, &b.login, &b.account)
            && a.password.expose() == b.password.expose()
    };
    match left.machines.len() == kept.len()
        && left.machines.iter().zip(kept).all(|(l, k)| same(l, k))
    {
        true => Ok(()),
        false => Err(NetrcError::RemovalChangesTheRest),
    }
}

/// `span` widened to its whole lines (end of line included) when only spaces and tabs share them,
/// or a comment after it (inside an entry a word starting with `#` ends the line's words, so the
/// comment belongs to the entry; left alone it would be read as top-level words).
fn whole_lines(text: &str, span: Range<usize>) -> Range<usize> {
    let blank = |s: &str| s.chars().all(|c| c == ' ' || c == '\t');
    let line_start = text[..span.start].rfind(['\n', '\r']).map_or(0, |i| i + 1);
    let after = &text[span.end..];
    let line_end = after.find(['\n', '\r']).unwrap_or(after.len());
    let rest = &after[..line_end];
    let blank_or_comment = blank(rest) || rest.trim_start_matches([' ', '\t']).starts_with('#');
    if !blank(&text[line_start..span.start]) || !blank_or_comment {
        return span;
    }
    let end_len = if after[line_end..].starts_with("\r\n") {
        2
    } else {
        usize::from(line_end < after.len())
    };
    line_start..span.end + line_end + end_len
}

/// A word of the file and where it is.
struct Word {
    text: Zeroizing<String>,
    span: Range<usize>,
}

/// Python's `_netrclex`, on the original text: line ends are read as Python's text files read
/// them (`\r\n` and `\r` as `\n`), and every word keeps its byte span.
struct Lexer<'a> {
    text: &'a str,
    at: usize,
    /// The 1-based line of `at`.
    line: usize,
    pushed: Option<Word>,
}

impl<'a> Lexer<'a> {
    fn new(text: &'a str) -> Self {
        Self {
            text,
            at: 0,
            line: 1,
            pushed: None,
        }
    }

    /// The next character, with line ends read as `\n`.
    fn char(&mut self) -> Option<char> {
        let c = self.text[self.at..].chars().next()?;
        self.at += c.len_utf8();
        if c == '\r' {
            if self.text[self.at..].starts_with('\n') {
                self.at += 1;
            }
            self.line += 1;
            return Some('\n');
        }
        if c == '\n' {
            self.line += 1;
        }
        Some(c)
    }

    /// The next word; an empty one at the end of the text.
    fn word(&mut self) -> Word {
        if let Some(word) = self.pushed.take() {
            return word;
        }
        let mut text = Zeroizing::new(String::new());
        let mut start = self.at;
        while let Some(c) = self.char() {
            if matches!(c, '\n' | '\t' | ' ') {
                start = self.at;
                continue;
            }
            let quoted = c == '"';
            if !quoted {
                self.push_escaped(&mut text, c);
            }
            while let Some(c) = self.char() {
                match c {
                    '"' if quoted => break,
                    '\n' | '\t' | ' ' if !quoted => return self.finish(text, start, true),
                    c => self.push_escaped(&mut text, c),
                }
            }
            return self.finish(text, start, false);
        }
        Word {
            text,
            span: self.at..self.at,
        }
    }

    /// Adds `c` to `text`, or the character after it when `c` is a backslash.
    fn push_escaped(&mut self, text: &mut String, c: char) {
        let c = if c == '\\' { self.char() } else { Some(c) };
        text.extend(c);
    }

    /// The word `text` from `start` to here, less the space that ended it (`spaced`).
    fn finish(&self, text: Zeroizing<String>, start: usize, spaced: bool) -> Word {
        let mut end = self.at;
        if spaced {
            end -= if self.text[..end].ends_with("\r\n") {
                2
            } else {
                1
            };
        }
        Word {
            text,
            span: start..end,
        }
    }

    /// Skips the rest of the current line, its end included.
    fn skip_line(&mut self) {
        while let Some(c) = self.char() {
            if c == '\n' {
                break;
            }
        }
    }

    /// The next top-level word, comments skipped; `None` at the end (or at an empty word, as
    /// Python stops there).
    fn top_level(&mut self) -> Result<Option<Word>, NetrcError> {
        loop {
            let line = self.line;
            let word = self.word();
            if word.text.is_empty() {
                return Ok(None);
            }
            if word.text.starts_with('#') {
                if self.line == line && word.text.len() == 1 {
                    self.skip_line();
                }
                continue;
            }
            return Ok(Some(word));
        }
    }

    /// The rest of the entry that starts at byte `start` and is named by `name`.
    fn entry(&mut self, start: usize, name: Word) -> Result<Machine, NetrcError> {
        let mut end = name.span.end;
        let (mut login, mut account) =
            (Zeroizing::new(String::new()), Zeroizing::new(String::new()));
        let mut password = Zeroizing::new(String::new());
        loop {
            let line = self.line;
            let word = self.word();
            if word.text.starts_with('#') {
                if self.line == line {
                    self.skip_line();
                }
                continue;
            }
            let slot = match word.text.as_str() {
                "" | "machine" | "default" | "macdef" => {
                    self.pushed = Some(word);
                    break;
                }
                "login" | "user" => &mut login,
                "account" => &mut account,
                "password" => &mut password,
                _ => return Err(NetrcError::BadFollower(self.line)),
            };
            let value = self.word();
            end = end.max(value.span.end);
            *slot = value.text;
        }
        Ok(Machine {
            name: name.text.to_string(),
            login: login.to_string(),
            account: account.to_string(),
            password: Secret::new(&password),
            span: start..end,
        })
    }

    /// Skips a macro's lines, up to and including the first empty one.
    fn skip_macro(&mut self) -> Result<(), NetrcError> {
        loop {
            if self.at >= self.text.len() {
                return Err(NetrcError::OpenMacro(self.line));
            }
            let line_start = self.at;
            self.skip_line();
            let line = &self.text[line_start..self.at];
            if matches!(line, "\n" | "\r\n" | "\r") {
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(text: &str) -> Vec<(String, String, String, String)> {
        read_netrc(text)
            .unwrap()
            .machines
            .iter()
            .map(|m| {
                let p = m.password.expose().to_owned();
                (m.name.clone(), m.login.clone(), m.account.clone(), p)
            })
            .collect()
    }

    fn entry(n: &str, l: &str, a: &str, p: &str) -> (String, String, String, String) {
        (n.into(), l.into(), a.into(), p.into())
    }

    #[test]
    fn machines_default_quotes_escapes_comments_and_macros() {
        let text = "# my logins\nmachine a.example login al password \"p w\\\"x\"\n\
                    macdef init\ncd /\nmachine fake password no\n\n\
                    machine b user bo account acc password p\\ q # note machine c\r\n\
                    default login anonymous password me@\n";
        assert_eq!(
            summary(text),
            vec![
                entry("a.example", "al", "", "p w\"x"),
                entry("b", "bo", "acc", "p q"),
                entry("default", "anonymous", "", "me@"),
            ]
        );
    }

    #[test]
    fn pythons_quirks_are_kept() {
        // A comment after a blank line is not skipped, so its words are read (Python 3.11).
        let err = |t: &str| read_netrc(t).err();
        assert_eq!(
            err("machine a password b\n\n# comment here\n"),
            Some(NetrcError::BadFollower(3))
        );
        assert_eq!(err("\n\n# top comment\n"), Some(NetrcError::BadTopLevel(3)));
        assert_eq!(
            summary("machine a password b # trailing words\nmachine c password d\n").len(),
            2
        );
        // A macro whose name line has a space after it ends at once.
        assert_eq!(
            summary("macdef m \nmachine z password y\n"),
            vec![entry("z", "", "", "y")]
        );
        assert_eq!(
            summary("machine \"q h\" login \"\" password x\n"),
            vec![entry("q h", "", "", "x")]
        );
    }

    #[test]
    fn the_last_entry_of_a_name_counts_and_default_is_not_a_host() {
        let netrc =
            read_netrc("machine h password 1\nmachine h password 2\ndefault password 3\n").unwrap();
        assert_eq!(netrc.machine("h").unwrap().password.expose(), "2");
        assert!(netrc.machine("default").is_none());
        assert_eq!(netrc.default_entry().unwrap().password.expose(), "3");
    }

    #[test]
    fn broken_files_are_refused_by_line_without_their_words() {
        let err = |t: &str| read_netrc(t).err().unwrap();
        assert_eq!(err("login x\n"), NetrcError::BadTopLevel(1));
        assert_eq!(
            err("machine h\n  secretword s3cret\n"),
            NetrcError::BadFollower(2)
        );
        assert_eq!(err("machine"), NetrcError::NoName(1));
        assert_eq!(err("macdef m\nline\n"), NetrcError::OpenMacro(3));
        assert!(!err("machine h s3cret x").to_string().contains("s3cret"));
    }

    #[test]
    fn removing_keeps_everything_else_byte_for_byte() {
        let text = "# logins\nmachine a login u password pa\n\
                    machine b\n    login v\n    password pb\n\
                    machine c login w password pc # trailing\r\n\
                    machine a password old\n\
                    machine d login x password pd machine b password inline\n";
        let names = ["a".to_owned(), "b".to_owned()];
        let out = remove_machines(text, &names).unwrap();
        assert_eq!(
            out.as_str(),
            "# logins\nmachine c login w password pc # trailing\r\nmachine d login x password pd \n"
        );
        assert_eq!(summary(&out).len(), 2);
        assert_eq!(remove_machines(text, &[]).unwrap().as_str(), text);
    }

    /// A comment on an entry's line goes with it: left at the top level, its words would not
    /// read (Python refuses the file, and requests then drops every login in it).
    #[test]
    fn an_entrys_comment_goes_with_it() {
        let text = "machine a login u password pw #work index
machine b login g password q
";
        let out = remove_machines(text, &["a".to_owned()]).unwrap();
        assert_eq!(out.as_str(), "machine b login g password q\n");
        assert_eq!(summary(&out), [entry("b", "g", "", "q")]);
    }

    /// A rewrite is kept only when it reads as the entries left: one that does not parse, or
    /// reads other values, is refused.
    #[test]
    fn a_rewrite_must_read_as_the_entries_left() {
        let before = read_netrc("machine a password p\nmachine b login g password q\n").unwrap();
        let kept = [&before.machines[1]];
        assert_eq!(
            check_reads_as("machine b login g password q\n", &kept),
            Ok(())
        );
        for wrong in [
            " #work index\nmachine b login g password q\n",
            "machine b login g password z\n",
            "machine b login g password q\nmachine c password r\n",
            "",
        ] {
            assert_eq!(
                check_reads_as(wrong, &kept),
                Err(NetrcError::RemovalChangesTheRest),
                "{wrong:?}"
            );
        }
    }
}
