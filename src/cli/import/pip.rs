//! `credd import pip`: the passwords in pip's index URLs (`https://user:pass@host/simple/`) and
//! the `.netrc` logins of index hosts.

use std::ops::Range;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use credd::pip::files::{self, ConfigFiles, IndexUrl, Machine, Netrc, UrlAuth};
use credd::urlmatch::{RegistryUrl, without_userinfo};
use credd_protocol::Entry;
use zeroize::Zeroizing;

use super::{Adapter, Candidate, ToolFile};

/// The variables pip reads index URLs from, and whether they hold several.
const INDEX_VARS: [&str; 2] = ["PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL"];

/// pip's files, as `credd import pip` reads them.
pub(super) struct Pip {
    /// The user's own configuration files, which credd may rewrite, in pip's order.
    configs: Vec<PathBuf>,
    /// The system-wide configuration files: read for their index URLs only.
    global: Vec<PathBuf>,
    /// The `.netrc` pip's requests reads, if there is a home to find it in.
    netrc: Option<PathBuf>,
}

/// Where a password sits in one of pip's files.
#[derive(Clone, PartialEq, Eq)]
pub(super) enum PipKey {
    /// In an index URL of a configuration file: the bytes to cut so that the URL keeps its
    /// username (`:PASSWORD`).
    Password(Range<usize>),
    /// The `.netrc` entries of this machine.
    Machine(String),
}

impl Pip {
    /// Finds pip's configuration files and `.netrc`.
    pub(super) fn locate() -> Self {
        let var = |name: &str| std::env::var(name).ok();
        let exists = |path: &Path| path.exists();
        let ConfigFiles { global, own } = files::config_files(var, exists);
        Self {
            configs: own,
            global,
            netrc: files::netrc_path(var, exists),
        }
    }

    fn is_netrc(&self, path: &Path) -> bool {
        self.netrc.as_deref() == Some(path)
    }
}

impl Adapter for Pip {
    type Key = PipKey;
    const COMMAND: &'static str = "credd import pip";
    const NOUN: &'static str = "password";
    const PLURAL: &'static str = "passwords";

    fn paths(&self) -> Vec<PathBuf> {
        let mut paths: Vec<PathBuf> = Vec::new();
        // Once each (VIRTUAL_ENV may be ~/.config/pip): a file is read and rewritten once.
        for path in self.configs.iter().chain(&self.netrc) {
            if !paths.contains(path) {
                paths.push(path.clone());
            }
        }
        paths
    }

    fn candidates(&self, files: &[ToolFile]) -> Result<Vec<Candidate<PipKey>>> {
        let mut candidates = Vec::new();
        // Every index URL pip uses, without userinfo: the hosts whose .netrc logins pip sends.
        let mut index_urls: Vec<String> = Vec::new();
        // The last file pip reads first: its value of a setting wins over an earlier file's, and
        // the first candidate of a name is the one imported.
        for (index, file) in files.iter().enumerate().rev() {
            if self.is_netrc(&file.path) {
                continue;
            }
            let urls = files::index_urls(&file.text)
                .with_context(|| format!("cannot read {}", file.shown))?;
            for url in &urls {
                let auth = files::split_auth(&url.url);
                index_urls.push(auth.bare.clone());
                candidates.extend(url_candidate(index, file, url, auth));
            }
        }
        index_urls.extend(global_index_urls(&self.global));
        index_urls.extend(env_index_urls());
        let Some((index, file)) = files
            .iter()
            .enumerate()
            .find(|(_, f)| self.is_netrc(&f.path))
        else {
            return Ok(candidates);
        };
        let netrc =
            files::read_netrc(&file.text).with_context(|| format!("cannot read {}", file.shown))?;
        candidates.extend(netrc_candidates(index, file, &netrc, &index_urls));
        Ok(candidates)
    }

    fn remove(text: &str, keys: &[PipKey]) -> Result<Zeroizing<String>> {
        let machines: Vec<String> = keys
            .iter()
            .filter_map(|k| match k {
                PipKey::Machine(name) => Some(name.clone()),
                PipKey::Password(_) => None,
            })
            .collect();
        // A file holds one kind of key: pip.conf passwords, or .netrc machines.
        // With a `default` entry the machines stay (netrc_candidates said why).
        let mut out = if machines.is_empty() || default_takes_over(&files::read_netrc(text)?) {
            Zeroizing::new(text.to_owned())
        } else {
            files::remove_machines(text, &machines)?
        };
        let mut cuts: Vec<&Range<usize>> = keys
            .iter()
            .filter_map(|k| match k {
                PipKey::Password(cut) => Some(cut),
                PipKey::Machine(_) => None,
            })
            .collect();
        // From the end, so that the earlier positions stay right.
        cuts.sort_by_key(|c| std::cmp::Reverse(c.start));
        for cut in cuts {
            out.replace_range(cut.clone(), "");
        }
        Ok(out)
    }

    fn next_step(&self) -> Option<String> {
        Some(
            "run 'credd setup pip' (and 'credd setup uv') so that pip and uv ask credd for \
             these passwords; uv asks only for index URLs that name their username"
                .to_owned(),
        )
    }
}

/// The candidate of one index URL of a configuration file, if it has a password credd can
/// hold; says why about the others.
fn url_candidate(
    index: usize,
    file: &ToolFile,
    url: &IndexUrl,
    auth: UrlAuth,
) -> Option<Candidate<PipKey>> {
    let UrlAuth {
        bare,
        username,
        password,
        cut,
    } = auth;
    let (password, cut) = (password?, cut?);
    let label = format!(
        "[{}] {} (line {} of {})",
        url.section, url.key, url.line, file.shown
    );
    let why = if password.is_empty() {
        Some("its password is empty".to_owned())
    } else if files::hostname(&bare).is_none() {
        // As pip reads it (`https:///x` is a URL with the host `x` for the `url` crate).
        Some(format!(
            "{} is not a URL credd can serve: it has no host",
            without_userinfo(&bare)
        ))
    } else {
        RegistryUrl::parse(&bare).err().map(|e| {
            format!(
                "{} is not a URL credd can serve: {e}",
                without_userinfo(&bare)
            )
        })
    };
    if let Some(why) = why {
        eprintln!(
            "credd: warning: skipped {label}: {why}; it stays in {}",
            file.shown
        );
        return None;
    }
    let start = url.span.start;
    Some(Candidate {
        file: index,
        key: PipKey::Password(start + cut.start..start + cut.end),
        label,
        entry: Entry {
            name: entry_name(&bare, username.as_deref()),
            url: bare,
            username,
            secret: password,
            expires: None,
            note: Some("imported from pip's configuration".to_owned()),
            publish: false,
            source: None,
        },
    })
}

/// The candidates of `.netrc` (file `index`): the login of each machine that is the host of
/// one of `index_urls`, once per URL; says why about index hosts it has no password for.
fn netrc_candidates(
    index: usize,
    file: &ToolFile,
    netrc: &Netrc,
    index_urls: &[String],
) -> Vec<Candidate<PipKey>> {
    let mut candidates: Vec<Candidate<PipKey>> = Vec::new();
    let mut seen: Vec<&str> = Vec::new();
    // Index hosts without a machine of their own, which the `default` entry serves.
    let mut defaulted: Vec<String> = Vec::new();
    for url in index_urls {
        if seen.contains(&url.as_str()) || RegistryUrl::parse(url).is_err() {
            continue;
        }
        seen.push(url);
        let Some(host) = files::hostname(url) else {
            continue;
        };
        let Some(machine) = netrc.machine(&host) else {
            if !defaulted.contains(&host) {
                defaulted.push(host);
            }
            continue;
        };
        let label = format!("machine {host} (in {})", file.shown);
        if machine.password.is_empty() {
            eprintln!("credd: skipped {label}: it has no password");
            continue;
        }
        let username = netrc_username(machine);
        candidates.push(Candidate {
            file: index,
            key: PipKey::Machine(machine.name.clone()),
            label,
            entry: Entry {
                name: entry_name(url, username.as_deref()),
                url: url.clone(),
                username,
                secret: machine.password.clone(),
                expires: None,
                note: Some("imported from .netrc".to_owned()),
                publish: false,
                source: None,
            },
        });
    }
    if default_takes_over(netrc) && !candidates.is_empty() {
        let hosts: Vec<&str> = candidates.iter().map(|c| c.label.as_str()).collect();
        eprintln!(
            "credd: --remove leaves {} in {}: without a machine of its own a host gets the \
             `default` entry's login, which pip sends before it asks credd",
            hosts.join(", "),
            file.shown
        );
    }
    if !defaulted.is_empty() && default_takes_over(netrc) {
        eprintln!(
            "credd: the `default` entry of {} serves {} too; credd does not import it, as it \
             serves every host",
            file.shown,
            defaulted.join(", ")
        );
    }
    candidates
}

/// True when `.netrc` has a `default` entry with a password: a host whose machine is removed
/// would get its login.
fn default_takes_over(netrc: &Netrc) -> bool {
    netrc
        .default_entry()
        .is_some_and(|d| !d.password.is_empty())
}

/// The username requests sends for a machine: its login, else its account.
fn netrc_username(machine: &Machine) -> Option<String> {
    [&machine.login, &machine.account]
        .into_iter()
        .find(|u| !u.is_empty())
        .cloned()
}

/// The index URLs of the system-wide configuration files, for their `.netrc` logins; warns
/// about passwords in them, which are not the user's to remove.
fn global_index_urls(paths: &[PathBuf]) -> Vec<String> {
    let mut urls = Vec::new();
    for path in paths {
        let shown = path.display();
        let text = match std::fs::read(path) {
            Ok(bytes) => Zeroizing::new(bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => {
                eprintln!("credd: warning: cannot read {shown} ({e}): its index URLs are left out");
                continue;
            }
        };
        let found = std::str::from_utf8(&text)
            .ok()
            .map(files::index_urls)
            .and_then(Result::ok);
        let Some(found) = found else {
            eprintln!("credd: warning: cannot read {shown}: its index URLs are left out");
            continue;
        };
        for url in found {
            let auth = files::split_auth(&url.url);
            if auth.password.is_some() {
                eprintln!(
                    "credd: warning: [{}] {} (line {} of {shown}) holds a password for {}: that \
                     file is the system's, credd leaves it alone; move the password by hand",
                    url.section, url.key, url.line, auth.bare
                );
            }
            urls.push(auth.bare);
        }
    }
    urls
}

/// The index URLs of PIP_INDEX_URL and PIP_EXTRA_INDEX_URL, for their `.netrc` logins; warns
/// about passwords in them, which credd cannot take out of the environment.
fn env_index_urls() -> Vec<String> {
    let mut urls = Vec::new();
    for var in INDEX_VARS {
        let Some(value) = std::env::var(var).ok().map(Zeroizing::new) else {
            continue;
        };
        for url in value.split_whitespace() {
            let auth = files::split_auth(url);
            if auth.password.is_some() {
                eprintln!(
                    "credd: warning: {var} holds a password for {}: credd cannot take it out of \
                     the environment; store it with 'credd add' and drop it from {var}",
                    auth.bare
                );
            }
            urls.push(auth.bare);
        }
    }
    urls
}

/// The entry name for `url` (without userinfo) and `username`: `USER@HOST/PATH`, without the
/// scheme and the trailing slash, cut to what the agent takes.
fn entry_name(url: &str, username: Option<&str>) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let rest = rest.trim_end_matches('/');
    super::within_name_limit(match username {
        Some(user) => format!("{user}@{rest}"),
        None => rest.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_names_are_user_host_and_path() {
        assert_eq!(
            entry_name("https://pypi.example:8443/simple/", Some("al")),
            "al@pypi.example:8443/simple"
        );
        assert_eq!(entry_name("http://h/", None), "h");
        assert_eq!(
            entry_name(&format!("https://hh/{}", "é".repeat(200)), None).len(),
            255
        );
    }

    #[test]
    fn removing_cuts_passwords_and_netrc_machines() {
        let text = "[global]\nindex-url = https://u:pw@h/simple/\n";
        let out = Pip::remove(text, &[PipKey::Password(30..33)]).unwrap();
        assert_eq!(out.as_str(), "[global]\nindex-url = https://u@h/simple/\n");
        let netrc = "machine h login u password p\nmachine o password q\n";
        let out = Pip::remove(netrc, &[PipKey::Machine("h".to_owned())]).unwrap();
        assert_eq!(out.as_str(), "machine o password q\n");
    }
}
