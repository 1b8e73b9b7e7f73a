//! `credd import git`: the credentials git's `store` helper keeps in plaintext, one URL a line
//! (`https://USER:PASSWORD@HOST[:PORT][/PATH]`, percent-encoded), in ~/.git-credentials and
//! $XDG_CONFIG_HOME/git/credentials (git's order: it answers from the first that matches).

use std::ops::Range;
use std::path::PathBuf;

use anyhow::Result;
use credd::git::credential::IMPORTED_NOTE;
use credd_protocol::{Entry, Secret};
use percent_encoding::percent_decode_str;
use zeroize::Zeroizing;

use super::{Adapter, Candidate, ToolFile};

/// git-credential-store's files, as `credd import git` reads them.
pub(super) struct Git {
    paths: Vec<PathBuf>,
}

impl Git {
    /// ~/.git-credentials, then the XDG one, as git-credential-store reads them.
    pub(super) fn locate() -> Result<Self> {
        let home = std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .map(PathBuf::from)
            .ok_or_else(|| anyhow::anyhow!("cannot find your home directory: set HOME"))?;
        let xdg = std::env::var_os("XDG_CONFIG_HOME")
            .filter(|d| !d.is_empty())
            .map_or_else(|| home.join(".config"), PathBuf::from);
        Ok(Self {
            paths: vec![home.join(".git-credentials"), xdg.join("git/credentials")],
        })
    }
}

impl Adapter for Git {
    /// The bytes of the line, its newline included.
    type Key = Range<usize>;
    const COMMAND: &'static str = "credd import git";
    const NOUN: &'static str = "password";
    const PLURAL: &'static str = "passwords";

    fn paths(&self) -> Vec<PathBuf> {
        self.paths.clone()
    }

    fn candidates(&self, files: &[ToolFile]) -> Result<Vec<Candidate<Range<usize>>>> {
        let mut candidates = Vec::new();
        for (index, file) in files.iter().enumerate() {
            let mut start = 0;
            for (number, line) in file.text.split_inclusive('\n').enumerate() {
                let range = start..start + line.len();
                start = range.end;
                let text = line.trim_end_matches(['\n', '\r']);
                if text.trim().is_empty() {
                    continue;
                }
                match entry_of(text) {
                    Some(entry) => candidates.push(Candidate {
                        file: index,
                        key: range,
                        label: entry.name.clone(),
                        entry,
                    }),
                    None => eprintln!(
                        "credd: warning: skipped line {} of {}: not a URL with a username and a \
                         password; it stays there",
                        number + 1,
                        file.shown
                    ),
                }
            }
        }
        Ok(candidates)
    }

    fn remove(text: &str, keys: &[Range<usize>]) -> Result<Zeroizing<String>> {
        let mut out = Zeroizing::new(text.to_owned());
        let mut cuts: Vec<&Range<usize>> = keys.iter().collect();
        // From the end, so that the earlier positions stay right.
        cuts.sort_by_key(|c| std::cmp::Reverse(c.start));
        for cut in cuts {
            out.replace_range(cut.clone(), "");
        }
        Ok(out)
    }

    fn next_step(&self) -> Option<String> {
        Some(
            "'credd setup git' makes git ask credd; drop the `store` helper from git's config \
             (git config --global --unset-all credential.helper store), or git writes the \
             passwords it uses to ~/.git-credentials again"
                .to_owned(),
        )
    }
}

/// The entry of one line, split and decoded as git's `credential_from_url` does it (the host
/// too: git writes a port's colon as `%3a`); None for a line without a username and a password.
fn entry_of(line: &str) -> Option<Entry> {
    let (protocol, rest) = line.trim().split_once("://")?;
    let slash = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = (&rest[..slash], &rest[slash..]);
    let (userinfo, host) = authority.split_once('@')?;
    let (username, password) = userinfo.split_once(':')?;
    let username = decode(username)?;
    let password = Secret::new(&decode(password)?);
    let host = decode(host)?;
    let path = decode(path.trim_matches('/'))?;
    if protocol.is_empty() || username.is_empty() || host.is_empty() {
        return None;
    }
    let (username, host, path) = (username.to_string(), host.as_str(), path.as_str());
    let at_path = if path.is_empty() {
        String::new()
    } else {
        format!("/{path}")
    };
    Some(Entry {
        name: super::within_name_limit(format!("{username}@{host}{at_path}")),
        url: format!("{protocol}://{host}/{path}"),
        username: Some(username),
        secret: password,
        expires: None,
        note: Some(IMPORTED_NOTE.to_owned()),
        publish: false,
        source: None,
    })
}

/// `%XX` decoded; None when that is not UTF-8.
fn decode(text: &str) -> Option<Zeroizing<String>> {
    let decoded = percent_decode_str(text).decode_utf8().ok()?;
    Some(Zeroizing::new(decoded.into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_becomes_an_entry_for_the_url_without_its_userinfo() {
        let entry = entry_of("https://a%40corp:p%3Aw%2F@git.corp%3a8443").unwrap();
        assert_eq!(entry.url, "https://git.corp:8443/");
        assert_eq!(entry.username.as_deref(), Some("a@corp"));
        assert_eq!(entry.secret.expose(), "p:w/");
        assert_eq!(entry.name, "a@corp@git.corp:8443");
        assert_eq!(entry.note.as_deref(), Some(IMPORTED_NOTE));
        let entry = entry_of("http://ci:t@h/org/repo.git").unwrap();
        assert_eq!(entry.url, "http://h/org/repo.git");
        assert_eq!(entry.name, "ci@h/org/repo.git");
        assert!(entry_of("https://h/").is_none());
        assert!(entry_of("https://user@h/").is_none());
        assert!(entry_of("not a url").is_none());
        // A name the agent takes, however long the path.
        let long = entry_of(&format!("https://ci:t@h/{}", "r".repeat(300))).unwrap();
        assert_eq!(long.name.len(), credd_protocol::MAX_NAME_LEN);
        assert!(long.name.starts_with("ci@h/rrr"));
    }

    #[test]
    fn remove_drops_whole_lines_and_keeps_the_others() {
        let text = "https://a:1@h\nhttps://b:2@h\nhttps://c:3@h\n";
        let out = Git::remove(text, &[0..14, 28..42]).unwrap();
        assert_eq!(out.as_str(), "https://b:2@h\n");
    }
}
