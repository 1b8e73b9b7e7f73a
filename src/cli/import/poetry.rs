//! `credd import poetry`.

use std::collections::BTreeMap;
use std::io::ErrorKind as IoErrorKind;
use std::path::Path;

use anyhow::{Context, Result, anyhow};
use credd::client::Client;
use credd::poetry::files::{self, AuthKey, FoundCredential, RepositoryUrls, SkipReason};
use credd_protocol::{Entry, ErrorKind, GetResult, Operation, PutResult};
use zeroize::Zeroizing;

use super::Outcome;
use crate::cli::connect;

/// Options of `credd import poetry`.
#[derive(Debug, clap::Args)]
pub(super) struct Args {
    /// Once every credential is stored, delete the imported ones from auth.toml (the rest of the
    /// file is kept)
    #[arg(long)]
    remove: bool,
}

/// Moves the credentials of auth.toml into credd; with `--remove`, out of the file.
pub(super) fn run(socket: &Path, args: Args) -> Result<()> {
    let dir = files::config_dir(|v| std::env::var(v).ok())
        .context("cannot find Poetry's config directory: set POETRY_CONFIG_DIR (or HOME)")?;
    let path = dir.join("auth.toml");
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
    let found = files::read_auth(text).with_context(|| format!("cannot read {shown}"))?;
    for skipped in &found.skipped {
        let why = match skipped.reason {
            SkipReason::NoPassword => "has no password (Poetry keeps it in a keyring)",
            SkipReason::NotAString => "is not a string",
            SkipReason::Empty => "is empty",
        };
        eprintln!("credd: skipped {}: it {why}", skipped.key.setting());
    }

    let urls = KnownUrls::read(&dir)?;
    let to_store = with_urls(&found.credentials, &urls, &shown);
    if to_store.is_empty() {
        eprintln!("credd: nothing imported");
        return Ok(());
    }

    let mut client = connect(socket)?;
    // Fails with the agent's own message (e.g. locked) before anything is stored.
    client.list_all()?;
    let mut imported = Vec::new();
    let mut conflicts = 0;
    for (credential, url) in &to_store {
        let setting = credential.key.setting();
        let outcome = store(&mut client, credential, url)
            .with_context(|| format!("cannot store {setting}; nothing was removed from {shown}"))?;
        match outcome {
            Outcome::Added => eprintln!(
                "credd: imported {setting} as {} ({url})",
                credential.key.name()
            ),
            Outcome::AlreadyThere => eprintln!("credd: {setting} ({url}) was already in credd"),
            Outcome::Conflict(why) => {
                conflicts += 1;
                eprintln!("credd: warning: skipped {setting}: {why}; it stays in {shown}");
                continue;
            }
        }
        imported.push(credential.key.clone());
    }

    if imported.is_empty() {
        eprintln!("credd: nothing imported");
    } else if args.remove {
        if super::remove_from_file(&path, &original, |text| {
            files::remove_credentials(text, &imported)
        })? {
            let names: Vec<String> = imported.iter().map(AuthKey::setting).collect();
            eprintln!("credd: removed {} from {shown}", names.join(", "));
        }
    } else {
        eprintln!(
            "credd: the credentials are still in {shown}: once credd serves them, delete them \
             there with 'credd import poetry --remove'"
        );
    }
    if conflicts > 0 {
        eprintln!(
            "credd: {conflicts} credential(s) not imported: compare with 'credd list', then \
             'credd remove NAME' and import again, or delete them from {shown} by hand"
        );
    }
    if !imported.is_empty() {
        eprintln!(
            "next: run 'credd setup poetry' so that Poetry asks credd (or run Poetry as \
             'credd exec -- poetry …' where its keyring is disabled)"
        );
    }
    Ok(())
}

/// The URLs a credential of auth.toml can serve.
struct KnownUrls {
    /// Poetry's repositories: its environment variables and config.toml.
    repositories: RepositoryUrls,
    /// The sources of the project in the current directory, by name.
    sources: BTreeMap<String, String>,
}

impl KnownUrls {
    /// Reads Poetry's config.toml in `config_dir`, the environment and the current project.
    fn read(config_dir: &Path) -> Result<Self> {
        let config_path = config_dir.join("config.toml");
        let config = files::read_optional(&config_path)
            .with_context(|| format!("cannot read {}", config_path.display()))?;
        let global = files::repository_urls(&config)
            .with_context(|| format!("cannot read {}", config_path.display()))?;
        let repositories = RepositoryUrls {
            env: files::env_repositories(std::env::vars()),
            local: BTreeMap::new(),
            global,
        };
        let mut sources = BTreeMap::new();
        let cwd = std::env::current_dir().context("cannot read the current directory")?;
        if let Some(pyproject) = files::find_pyproject(&cwd) {
            let text = std::fs::read_to_string(&pyproject)
                .with_context(|| format!("cannot read {}", pyproject.display()))?;
            for source in files::project_sources(&text)
                .with_context(|| format!("cannot read {}", pyproject.display()))?
            {
                sources.entry(source.name).or_insert(source.url);
            }
        }
        Ok(Self {
            repositories,
            sources,
        })
    }

    /// The URL for `name`: the repository's, else the project source's.
    fn url(&self, name: &str) -> Option<&str> {
        self.repositories
            .url(name)
            .or_else(|| self.sources.get(name).map(String::as_str))
    }
}

/// Each credential with the URL it serves; those without one, and a second credential for a
/// name already taken, are skipped with a warning.
fn with_urls<'a>(
    credentials: &'a [FoundCredential],
    urls: &KnownUrls,
    shown: &str,
) -> Vec<(&'a FoundCredential, String)> {
    let mut out: Vec<(&FoundCredential, String)> = Vec::new();
    for credential in credentials {
        let name = credential.key.name();
        let setting = credential.key.setting();
        if let Some((first, _)) = out.iter().find(|(c, _)| c.key.name() == name) {
            eprintln!(
                "credd: warning: skipped {setting}: credd keeps one credential per name and \
                 imports {} for {name}; it stays in {shown}",
                first.key.setting()
            );
            continue;
        }
        match urls.url(name) {
            Some(url) => out.push((credential, url.to_owned())),
            None => eprintln!(
                "credd: warning: skipped {setting}: no URL for {name}; give it one with 'poetry \
                 config repositories.{name} URL', or run the import in the project whose \
                 pyproject.toml names it as a source; it stays in {shown}"
            ),
        }
    }
    out
}

/// Stores one credential as the entry named like its repository; an existing entry is never
/// replaced.
fn store(client: &mut Client, credential: &FoundCredential, url: &str) -> Result<Outcome> {
    let name = credential.key.name();
    let entry = Entry {
        name: name.to_owned(),
        url: url.to_owned(),
        username: credential.username.clone(),
        secret: credential.secret.clone(),
        expires: None,
        note: Some("imported from Poetry's auth.toml".to_owned()),
    };
    match client.call::<PutResult>(Operation::Put {
        entry,
        replace: false,
    }) {
        Ok(_) => return Ok(Outcome::Added),
        Err(e) if e.kind() == Some(ErrorKind::Exists) => {}
        Err(e) => return Err(e.into()),
    }
    let existing: GetResult = client.call(Operation::Get {
        name: Some(name.to_owned()),
        url: None,
    })?;
    let existing = existing.entry;
    if existing.secret.expose() != credential.secret.expose()
        || existing.username != credential.username
    {
        return Ok(Outcome::Conflict(format!(
            "credd already has an entry named {name} with other credentials"
        )));
    }
    let same_url = credd::urlmatch::RegistryUrl::parse(&existing.url)
        .ok()
        .zip(credd::urlmatch::RegistryUrl::parse(url).ok())
        .is_some_and(|(a, b)| a == b);
    if same_url {
        Ok(Outcome::AlreadyThere)
    } else {
        Ok(Outcome::Conflict(format!(
            "credd's entry {name} holds these credentials but serves {}, not {url}",
            existing.url
        )))
    }
}
