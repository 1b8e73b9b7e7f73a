//! `credd import`: move a tool's plaintext credentials into credd.
//!
//! One flow for every tool ([`import`]): read the tool's file, store each credential as a new
//! entry (one rule says what counts as already imported), optionally remove the imported ones
//! from the file, and say what became of each. A tool brings only what differs, as an
//! [`Adapter`]: where its file is, how to read it with the URL each credential serves, and how to
//! remove credentials from it.

mod cargo;
mod docker;
mod git;
mod pip;
mod poetry;

use std::io::ErrorKind as IoErrorKind;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use credd::client::Client;
use credd::urlmatch::{RegistryUrl, without_userinfo};
use credd_protocol::{Entry, ErrorKind, GetResult, ListResult, Lookup, Operation, PutResult};
use zeroize::Zeroizing;

use crate::cli::connect;

/// Options of `credd import`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    source: ImportSource,
}

/// The tools `credd import` reads.
#[derive(Debug, clap::Subcommand)]
enum ImportSource {
    /// Store the tokens of $CARGO_HOME/credentials.toml in credd.
    ///
    /// `[registry] token` becomes the entry `crates-io`, each `[registries.NAME] token` the entry
    /// NAME, serving the index URL from `[registries.NAME] index` in Cargo's config (or
    /// CARGO_REGISTRIES_NAME_INDEX). Existing entries are never replaced. Tokens are never
    /// printed.
    Cargo(RemoveArg),
    /// Store the credentials of Poetry's auth.toml in credd.
    ///
    /// Each `[http-basic.NAME]` (username and password) and `[pypi-token] NAME` becomes the entry
    /// NAME, serving the URL of `[repositories.NAME]` in Poetry's config.toml (or
    /// POETRY_REPOSITORIES_NAME_URL), else of the source NAME in the current project's
    /// pyproject.toml. Existing entries are never replaced. Secrets are never printed.
    Poetry(RemoveArg),
    /// Store the passwords of pip's index URLs and of their hosts' `.netrc` logins in credd.
    ///
    /// Each `index-url` or `extra-index-url` of the user's pip.conf files ($PIP_CONFIG_FILE, else
    /// ~/.pip/pip.conf and $XDG_CONFIG_HOME/pip/pip.conf; and $VIRTUAL_ENV/pip.conf) written as
    /// `https://USER:PASSWORD@HOST/PATH` becomes the entry USER@HOST/PATH serving
    /// https://HOST/PATH; so does each `.netrc` machine ($NETRC, else ~/.netrc) that is the host
    /// of such an index URL (or of PIP_INDEX_URL, PIP_EXTRA_INDEX_URL). With --remove the URLs
    /// keep their username and lose their password, and those machines leave .netrc. Existing
    /// entries are never replaced. Passwords are never printed.
    Pip(RemoveArg),
    /// Store the passwords git's `store` helper keeps in ~/.git-credentials and
    /// $XDG_CONFIG_HOME/git/credentials in credd.
    ///
    /// Each line `https://USER:PASSWORD@HOST[:PORT][/PATH]` becomes the entry
    /// USER@HOST[:PORT][/PATH] serving https://HOST[:PORT]/[PATH], noted as imported from git
    /// (so that git's `erase` may remove it once the server rejects it). With --remove the
    /// imported lines leave the file. Existing entries are never replaced. Passwords are never
    /// printed.
    Git(RemoveArg),
    /// Store the credentials of docker's config.json `auths` in credd.
    ///
    /// Each registry's `auth` (base64 of USER:PASSWORD) becomes the entry USER@REGISTRY serving
    /// REGISTRY as docker names it; an `identitytoken` the same with username `<token>`. With
    /// --remove they leave config.json (each registry keeps its `{}`, as docker does with a
    /// helper). Existing entries are never replaced. Secrets are never printed.
    Docker(RemoveArg),
}

/// The option every `credd import TOOL` has.
#[derive(Debug, clap::Args)]
struct RemoveArg {
    /// Once every credential is stored, delete the imported ones from the tool's file (the rest
    /// of the file is kept)
    #[arg(long)]
    remove: bool,
}

/// Runs `credd import TOOL`.
pub fn run(socket: &Path, args: Args) -> Result<()> {
    match args.source {
        ImportSource::Cargo(args) => import(socket, cargo::Cargo::locate()?, args.remove),
        ImportSource::Poetry(args) => import(socket, poetry::Poetry::locate()?, args.remove),
        ImportSource::Pip(args) => import(socket, pip::Pip::locate(), args.remove),
        ImportSource::Git(args) => import(socket, git::Git::locate()?, args.remove),
        ImportSource::Docker(args) => import(socket, docker::Docker::locate()?, args.remove),
    }
}

/// A credential of a tool's file that can be imported.
struct Candidate<K> {
    /// The file it is in: an index into the files the adapter was given.
    file: usize,
    /// Where it sits in the file, to remove it from there.
    key: K,
    /// How the tool names it: the entry's name, or the setting (`http-basic.NAME`).
    label: String,
    /// The entry it becomes, serving the URL the tool sends it to.
    entry: Entry,
}

/// A tool's file as read for an import: a credential's [`Candidate::file`] indexes these.
struct ToolFile {
    /// Where it is.
    path: PathBuf,
    /// Its path, for messages.
    shown: String,
    /// Its text, which holds secrets.
    text: Zeroizing<String>,
}

/// What one tool brings to `credd import`.
trait Adapter {
    /// Where a credential sits in the tool's file.
    type Key: Clone + PartialEq;
    /// The command that imports from this tool, for messages.
    const COMMAND: &'static str;
    /// What one credential of the file is called ("token", "credential").
    const NOUN: &'static str;
    /// The same in the plural.
    const PLURAL: &'static str;

    /// The files that may hold plaintext credentials, in the order the tool reads them; the
    /// ones that do not exist are left out of [`Adapter::candidates`].
    fn paths(&self) -> Vec<PathBuf>;
    /// The credentials of `files` that can be imported, each with the URL it serves; says why
    /// about the others.
    fn candidates(&self, files: &[ToolFile]) -> Result<Vec<Candidate<Self::Key>>>;
    /// `text` (of one of the files) without the credentials at `keys`, everything else kept.
    fn remove(text: &str, keys: &[Self::Key]) -> Result<Zeroizing<String>>;
    /// What to do next once something was imported, if anything.
    fn next_step(&self) -> Option<String>;
}

/// What became of one imported credential.
enum Outcome {
    /// Stored now.
    Added,
    /// credd already holds this very credential, serving that URL.
    AlreadyThere,
    /// credd has an entry of that name holding something else, or serving another URL.
    Conflict(String),
}

/// Moves the credentials of `tool`'s files into credd; with `remove`, out of the files.
fn import<A: Adapter>(socket: &Path, tool: A, remove: bool) -> Result<()> {
    let paths = tool.paths();
    let files = read_files(&paths)?;
    if files.is_empty() {
        let shown: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        eprintln!(
            "credd: there is no {}: nothing to import",
            shown.join(" nor ")
        );
        return Ok(());
    }
    let candidates = tool.candidates(&files)?;
    let groups = one_per_name(&candidates, &files);
    if groups.is_empty() {
        eprintln!("credd: nothing imported");
        return Ok(());
    }

    let mut client = connect(socket)?;
    // Fails with the agent's own message (e.g. locked) before anything is stored; one entry is
    // enough to ask.
    let _: ListResult = client.call(Operation::List {
        after: None,
        limit: Some(1),
    })?;
    let mut imported: Vec<&Candidate<A::Key>> = Vec::new();
    let mut conflicts = 0;
    for group in &groups {
        let candidate = group[0];
        let shown = &files[candidate.file].shown;
        // A URL may carry a password in its userinfo: never shown.
        let url = without_userinfo(&candidate.entry.url);
        let (label, name) = (&candidate.label, &candidate.entry.name);
        let outcome = store(&mut client, &candidate.entry, A::NOUN)
            .with_context(|| format!("cannot store {label}; nothing was removed from {shown}"))?;
        match outcome {
            Outcome::Added if label == name => eprintln!("credd: imported {name} ({url})"),
            Outcome::Added => eprintln!("credd: imported {label} as {name} ({url})"),
            Outcome::AlreadyThere => eprintln!("credd: {label} ({url}) was already in credd"),
            Outcome::Conflict(why) => {
                conflicts += 1;
                eprintln!("credd: warning: skipped {label}: {why}; it stays in {shown}");
                continue;
            }
        }
        imported.extend(group);
    }

    let plural = A::PLURAL;
    if imported.is_empty() {
        eprintln!("credd: nothing imported");
    } else if remove {
        remove_imported::<A>(&files, &candidates, &imported)?;
    } else {
        let shown = files_of(&files, &imported);
        eprintln!(
            "credd: the {plural} are still in {shown}: once credd serves them, delete them there \
             with '{} --remove'",
            A::COMMAND
        );
    }
    if conflicts > 0 {
        let shown = files_of(&files, &candidates.iter().collect::<Vec<_>>());
        eprintln!(
            "credd: {conflicts} of the {plural} not imported: compare with 'credd get NAME', \
             then 'credd remove NAME' and import again, or delete them from {shown} by hand"
        );
    }
    if !imported.is_empty()
        && let Some(next) = tool.next_step()
    {
        eprintln!("next: {next}");
    }
    Ok(())
}

/// The files of `paths` that exist, read; fails on one that cannot be read or is not UTF-8.
fn read_files(paths: &[PathBuf]) -> Result<Vec<ToolFile>> {
    let mut files = Vec::new();
    for path in paths {
        let shown = path.display().to_string();
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == IoErrorKind::NotFound => continue,
            Err(e) => return Err(e).with_context(|| format!("cannot read {shown}")),
        };
        let text = match String::from_utf8(bytes) {
            Ok(text) => Zeroizing::new(text),
            Err(e) => {
                drop(Zeroizing::new(e.into_bytes()));
                bail!("{shown} is not UTF-8 text: fix it by hand");
            }
        };
        files.push(ToolFile {
            path: path.clone(),
            shown,
            text,
        });
    }
    Ok(files)
}

/// The paths of the files `candidates` are in, for messages (`a`, or `a and b`).
fn files_of<K>(files: &[ToolFile], candidates: &[&Candidate<K>]) -> String {
    let mut shown: Vec<&str> = Vec::new();
    for candidate in candidates {
        let file = files[candidate.file].shown.as_str();
        if !shown.contains(&file) {
            shown.push(file);
        }
    }
    shown.join(" and ")
}

/// The candidates grouped by entry name, in order: credd keeps one credential per name. A later
/// candidate holding the very same entry (the same credential written twice) joins the first
/// one's group and is removed with it; one holding another credential is skipped.
fn one_per_name<'a, K>(
    candidates: &'a [Candidate<K>],
    files: &[ToolFile],
) -> Vec<Vec<&'a Candidate<K>>> {
    let mut groups: Vec<Vec<&Candidate<K>>> = Vec::new();
    for candidate in candidates {
        let name = &candidate.entry.name;
        match groups.iter_mut().find(|g| &g[0].entry.name == name) {
            Some(group) if same_entry(&group[0].entry, &candidate.entry) => group.push(candidate),
            Some(group) => eprintln!(
                "credd: warning: skipped {}: credd keeps one credential per name and imports {} \
                 for {name}; it stays in {}",
                candidate.label, group[0].label, files[candidate.file].shown
            ),
            None => groups.push(vec![candidate]),
        }
    }
    groups
}

/// True when two entries hold the same credential for the same URL.
fn same_entry(a: &Entry, b: &Entry) -> bool {
    a.url == b.url && a.username == b.username && a.secret.expose() == b.secret.expose()
}

/// Removes the `imported` credentials from their files, one rewrite per file; a place that some
/// credential not imported shares (one `.netrc` login serving two URLs) is kept.
fn remove_imported<A: Adapter>(
    files: &[ToolFile],
    candidates: &[Candidate<A::Key>],
    imported: &[&Candidate<A::Key>],
) -> Result<()> {
    let is_imported = |c: &Candidate<A::Key>| imported.iter().any(|i| std::ptr::eq(*i, c));
    for (index, file) in files.iter().enumerate() {
        let held_back = |c: &&Candidate<A::Key>| {
            candidates
                .iter()
                .any(|o| !is_imported(o) && o.file == index && o.key == c.key)
        };
        let here: Vec<&Candidate<A::Key>> = imported
            .iter()
            .copied()
            .filter(|c| c.file == index)
            .filter(|c| !held_back(c))
            .collect();
        if here.is_empty() {
            continue;
        }
        let mut keys: Vec<A::Key> = Vec::new();
        let mut labels: Vec<&str> = Vec::new();
        for candidate in &here {
            if !keys.contains(&candidate.key) {
                keys.push(candidate.key.clone());
            }
            if !labels.contains(&candidate.label.as_str()) {
                labels.push(&candidate.label);
            }
        }
        if remove_from_file(file, |text| A::remove(text, &keys))? {
            eprintln!(
                "credd: removed the {} of {} from {}",
                A::PLURAL,
                labels.join(", "),
                file.shown
            );
        }
    }
    Ok(())
}

/// Stores `entry` as a new entry; an existing entry is never replaced. The one rule of what is
/// already imported: an entry serving the same URL for the same username (whatever its name,
/// since several entries for one URL and user would make lookups ambiguous), or the entry of
/// that name, holds the same secret (and, for the latter, username and URL).
/// `name` cut to the longest entry name the agent takes, at a character boundary.
fn within_name_limit(mut name: String) -> String {
    let mut end = name.len().min(credd_protocol::MAX_NAME_LEN);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    name.truncate(end);
    name
}

fn store(client: &mut Client, entry: &Entry, noun: &str) -> Result<Outcome> {
    if let Some(outcome) = same_service(client, entry, noun)? {
        return Ok(outcome);
    }
    let name = &entry.name;
    let refusal = match client.call::<PutResult>(Operation::Put {
        entry: entry.clone(),
        replace: false,
    }) {
        Ok(_) => return Ok(Outcome::Added),
        // An entry the agent will not take (its message says why): the others still go in.
        Err(e) if e.kind() == Some(ErrorKind::BadRequest) => {
            return Ok(Outcome::Conflict(e.to_string()));
        }
        Err(e) if e.kind() == Some(ErrorKind::Exists) => e,
        Err(e) => return Err(e.into()),
    };
    let existing = match client.call::<GetResult>(Operation::get(Lookup::name(name.as_str()))) {
        Ok(existing) => existing.entry,
        // Refused for another entry of the same URL and username: the agent's message says which.
        Err(e) if e.kind() == Some(ErrorKind::NotFound) => {
            return Ok(Outcome::Conflict(refusal.to_string()));
        }
        Err(e) => return Err(e.into()),
    };
    if existing.secret.expose() != entry.secret.expose() || existing.username != entry.username {
        return Ok(Outcome::Conflict(format!(
            "credd already has an entry named {name} with another {noun}"
        )));
    }
    if same_url(&existing.url, &entry.url) {
        Ok(Outcome::AlreadyThere)
    } else {
        Ok(Outcome::Conflict(format!(
            "credd's entry {name} holds this {noun} but serves {}, not {}",
            without_userinfo(&existing.url),
            without_userinfo(&entry.url)
        )))
    }
}

/// What became of `entry` when credd has an entry of another name serving the same URL for the
/// same username; `None` when it has none.
fn same_service(client: &mut Client, entry: &Entry, noun: &str) -> Result<Option<Outcome>> {
    // An empty username asks for entries without one.
    let username = entry.username.clone().unwrap_or_default();
    let lookup = Lookup::url(entry.url.as_str()).username(Some(username));
    let url = without_userinfo(&entry.url);
    let user = entry
        .username
        .as_deref()
        .map_or("without a username".to_owned(), |u| format!("for {u}"));
    let found = match client.call::<GetResult>(Operation::get(lookup)) {
        Ok(found) => found.entry,
        Err(e) if e.kind() == Some(ErrorKind::NotFound) => return Ok(None),
        Err(e) if e.kind() == Some(ErrorKind::Ambiguous) => {
            return Ok(Some(Outcome::Conflict(format!(
                "several credd entries serve {url} {user} already"
            ))));
        }
        Err(e) => return Err(e.into()),
    };
    // The entry of the same name, or one serving a wider URL, is for `store` to judge.
    if found.name == entry.name || !same_url(&found.url, &entry.url) {
        return Ok(None);
    }
    if found.secret.expose() == entry.secret.expose() {
        Ok(Some(Outcome::AlreadyThere))
    } else {
        Ok(Some(Outcome::Conflict(format!(
            "credd's entry {} serves {url} {user} with another {noun}",
            found.name
        ))))
    }
}

/// True when two URLs name the same registry the way credd matches them (text equality when
/// one does not parse).
fn same_url(a: &str, b: &str) -> bool {
    match (RegistryUrl::parse(a), RegistryUrl::parse(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// Rewrites one of the tool's files with `remove` applied, provided it still holds exactly what
/// was imported from it; keeps the file's mode. Returns whether it changed.
fn remove_from_file(
    file: &ToolFile,
    remove: impl FnOnce(&str) -> Result<Zeroizing<String>>,
) -> Result<bool> {
    use std::os::unix::fs::PermissionsExt;
    let (path, shown) = (&file.path, &file.shown);
    let now = Zeroizing::new(std::fs::read(path).with_context(|| format!("cannot read {shown}"))?);
    if now.as_slice() != file.text.as_bytes() {
        bail!("{shown} changed while importing: nothing was removed from it; run the import again");
    }
    let new_text = remove(&file.text).with_context(|| format!("cannot edit {shown}"))?;
    if new_text.as_str() == file.text.as_str() {
        return Ok(false);
    }
    let mode = std::fs::metadata(path)
        .with_context(|| format!("cannot read {shown}"))?
        .permissions()
        .mode()
        & 0o7777;
    credd::atomic::write_atomic(path, new_text.as_bytes(), mode)
        .with_context(|| format!("cannot write {shown}"))?;
    Ok(true)
}
