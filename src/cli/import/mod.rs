//! `credd import`: move a tool's plaintext credentials into credd.
//!
//! One flow for every tool ([`import`]): read the tool's file, store each credential as a new
//! entry (one rule says what counts as already imported), optionally remove the imported ones
//! from the file, and say what became of each. A tool brings only what differs, as an
//! [`Adapter`]: where its file is, how to read it with the URL each credential serves, and how to
//! remove credentials from it.

mod cargo;
mod poetry;

use std::io::ErrorKind as IoErrorKind;
use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use credd::client::Client;
use credd::toml_file::FileError;
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
    }
}

/// A credential of a tool's file that can be imported.
struct Candidate<K> {
    /// Where it sits in the file, to remove it from there.
    key: K,
    /// How the tool names it: the entry's name, or the setting (`http-basic.NAME`).
    label: String,
    /// The entry it becomes, serving the URL the tool sends it to.
    entry: Entry,
}

/// What one tool brings to `credd import`.
trait Adapter {
    /// Where a credential sits in the tool's file.
    type Key: Clone;
    /// The command that imports from this tool, for messages.
    const COMMAND: &'static str;
    /// What one credential of the file is called ("token", "credential").
    const NOUN: &'static str;
    /// The same in the plural.
    const PLURAL: &'static str;

    /// The file holding the plaintext credentials.
    fn path(&self) -> &Path;
    /// The credentials of `text` that can be imported, each with the URL it serves; says why
    /// about the others (`shown` names the file).
    fn candidates(&self, text: &str, shown: &str) -> Result<Vec<Candidate<Self::Key>>>;
    /// `text` without the credentials at `keys`, by [`credd::toml_file::remove_keeping_comments`].
    fn remove(text: &str, keys: &[Self::Key]) -> Result<Zeroizing<String>, FileError>;
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

/// Moves the credentials of `tool`'s file into credd; with `remove`, out of the file.
fn import<A: Adapter>(socket: &Path, tool: A, remove: bool) -> Result<()> {
    let path = tool.path().to_owned();
    let shown = path.display().to_string();
    let original = match std::fs::read(&path) {
        Ok(bytes) => Zeroizing::new(bytes),
        Err(e) if e.kind() == IoErrorKind::NotFound => {
            eprintln!("credd: there is no {shown}: nothing to import");
            return Ok(());
        }
        Err(e) => return Err(e).with_context(|| format!("cannot read {shown}")),
    };
    let text = std::str::from_utf8(&original)
        .map_err(|_| anyhow!("{shown} is not UTF-8 text: fix it by hand"))?;
    let candidates = one_per_name(tool.candidates(text, &shown)?, &shown);
    if candidates.is_empty() {
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
    for candidate in &candidates {
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
        imported.push(candidate);
    }

    let plural = A::PLURAL;
    if imported.is_empty() {
        eprintln!("credd: nothing imported");
    } else if remove {
        let keys: Vec<A::Key> = imported.iter().map(|c| c.key.clone()).collect();
        if remove_from_file(&path, &original, |text| A::remove(text, &keys))? {
            let labels: Vec<&str> = imported.iter().map(|c| c.label.as_str()).collect();
            eprintln!(
                "credd: removed the {plural} of {} from {shown}",
                labels.join(", ")
            );
        }
    } else {
        eprintln!(
            "credd: the {plural} are still in {shown}: once credd serves them, delete them there \
             with '{} --remove'",
            A::COMMAND
        );
    }
    if conflicts > 0 {
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

/// The candidates, the first one of each entry name only: credd keeps one credential per name.
fn one_per_name<K>(candidates: Vec<Candidate<K>>, shown: &str) -> Vec<Candidate<K>> {
    let mut kept: Vec<Candidate<K>> = Vec::new();
    for candidate in candidates {
        let name = &candidate.entry.name;
        match kept.iter().find(|k| &k.entry.name == name) {
            Some(first) => eprintln!(
                "credd: warning: skipped {}: credd keeps one credential per name and imports {} \
                 for {name}; it stays in {shown}",
                candidate.label, first.label
            ),
            None => kept.push(candidate),
        }
    }
    kept
}

/// Stores `entry` as a new entry; an existing entry of that name is never replaced. The one rule
/// of what is already imported: the entry of that name holds the same username and secret, and
/// serves the same URL.
fn store(client: &mut Client, entry: &Entry, noun: &str) -> Result<Outcome> {
    let name = &entry.name;
    match client.call::<PutResult>(Operation::Put {
        entry: entry.clone(),
        replace: false,
    }) {
        Ok(_) => return Ok(Outcome::Added),
        Err(e) if e.kind() == Some(ErrorKind::Exists) => {}
        Err(e) => return Err(e.into()),
    }
    let existing: GetResult = client.call(Operation::Get {
        lookup: Lookup::name(name.as_str()),
    })?;
    let existing = existing.entry;
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

/// True when two URLs name the same registry the way credd matches them (text equality when
/// one does not parse).
fn same_url(a: &str, b: &str) -> bool {
    match (RegistryUrl::parse(a), RegistryUrl::parse(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// Rewrites the tool's credentials file with `remove` applied, provided it still holds exactly
/// `original` (what was imported from); keeps the file's mode. Returns whether it changed.
fn remove_from_file(
    path: &Path,
    original: &[u8],
    remove: impl FnOnce(&str) -> Result<Zeroizing<String>, FileError>,
) -> Result<bool> {
    use std::os::unix::fs::PermissionsExt;
    let shown = path.display();
    let now = Zeroizing::new(std::fs::read(path).with_context(|| format!("cannot read {shown}"))?);
    if now.as_slice() != original {
        bail!("{shown} changed while importing: nothing was removed from it; run the import again");
    }
    let text = std::str::from_utf8(original)
        .map_err(|_| anyhow!("{shown} is not UTF-8 text: fix it by hand"))?;
    let new_text = remove(text).with_context(|| format!("cannot edit {shown}"))?;
    if new_text.as_bytes() == original {
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
