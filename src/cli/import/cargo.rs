//! `credd import cargo`.

use std::io::ErrorKind as IoErrorKind;
use std::path::Path;

use anyhow::{Context, Result, anyhow};
use credd::cargo::config_files::{self, FoundToken, SkipReason, TokenKey};
use credd::client::{Client, ClientError};
use credd_protocol::{Entry, ErrorKind, GetResult, Operation, PutResult};
use zeroize::Zeroizing;

use super::Outcome;
use crate::cli::connect;

/// Options of `credd import cargo`.
#[derive(Debug, clap::Args)]
pub(super) struct Args {
    /// Once every token is stored, delete the imported tokens from credentials.toml (the rest of
    /// the file is kept)
    #[arg(long)]
    remove: bool,
}

/// Moves the tokens of credentials.toml into credd; with `--remove`, out of the file.
pub(super) fn run(socket: &Path, args: Args) -> Result<()> {
    let home = config_files::cargo_home()
        .context("cannot find Cargo's home: set CARGO_HOME (or HOME for ~/.cargo)")?;
    let path = config_files::credentials_path(&home);
    let shown = path.display().to_string();
    if let Some(ignored) = config_files::ignored_beside(&path) {
        eprintln!(
            "credd: warning: Cargo reads {shown} and ignores {}: importing from the former only",
            ignored.display()
        );
    }
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
    let found =
        config_files::read_credentials(text).with_context(|| format!("cannot read {shown}"))?;
    for skipped in &found.skipped {
        let why = match skipped.reason {
            SkipReason::SecretKey => {
                "holds an asymmetric token (secret-key), which credd does not handle"
            }
            SkipReason::NotAString => "has a `token` that is not a string",
            SkipReason::Empty => "has an empty `token`",
        };
        eprintln!(
            "credd: warning: skipped {}: {} {why}; it stays in {shown}",
            skipped.key.name(),
            skipped.key.table(),
        );
    }
    if found.tokens.is_empty() {
        eprintln!("credd: no token to import in {shown}");
        return Ok(());
    }

    let config_path = config_files::config_path(&home);
    let config = match std::fs::read_to_string(&config_path) {
        Ok(text) => text,
        Err(e) if e.kind() == IoErrorKind::NotFound => String::new(),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", config_path.display())),
    };
    let indexes = config_files::registry_indexes(&config)
        .with_context(|| format!("cannot read {}", config_path.display()))?;
    let mut to_store: Vec<(&FoundToken, String)> = Vec::new();
    for token in &found.tokens {
        let name = token.key.name();
        match config_files::index_for(&token.key, &indexes, |var| std::env::var(var).ok()) {
            Some(url) => to_store.push((token, url)),
            None => eprintln!(
                "credd: warning: skipped {name}: no index URL for it, neither `index` in \
                 [registries.{name}] of {} nor {}; add one there and run 'credd import cargo' \
                 again; its token stays in {shown}",
                config_path.display(),
                config_files::index_env_var(name),
            ),
        }
    }
    if to_store.is_empty() {
        eprintln!("credd: nothing imported");
        return Ok(());
    }

    let mut client = connect(socket)?;
    // Fails with the agent's own message (e.g. locked) before anything is stored.
    client.list_all()?;
    let mut imported: Vec<TokenKey> = Vec::new();
    let mut conflicts = 0;
    for (token, url) in &to_store {
        let name = token.key.name();
        let outcome = store(&mut client, token, url)
            .with_context(|| format!("cannot store {name}; nothing was removed from {shown}"))?;
        match outcome {
            Outcome::Added => eprintln!("credd: imported {name} ({url})"),
            Outcome::AlreadyThere => eprintln!("credd: {name} ({url}) was already in credd"),
            Outcome::Conflict(why) => {
                conflicts += 1;
                eprintln!("credd: warning: skipped {name}: {why}; its token stays in {shown}");
                continue;
            }
        }
        imported.push(token.key.clone());
    }

    if imported.is_empty() {
        eprintln!("credd: nothing imported");
    } else if args.remove {
        if super::remove_from_file(&path, &original, |text| {
            config_files::remove_tokens(text, &imported)
        })? {
            let names: Vec<&str> = imported.iter().map(TokenKey::name).collect();
            eprintln!(
                "credd: removed the token of {} from {shown}",
                names.join(", ")
            );
        }
    } else {
        eprintln!(
            "credd: the tokens are still in {shown}: once credd serves them, delete them there \
             with 'credd import cargo --remove'"
        );
    }
    if conflicts > 0 {
        eprintln!(
            "credd: {conflicts} token(s) not imported: compare with 'credd get NAME', then \
             'credd remove NAME' and import again, or delete the token from {shown} by hand"
        );
    }
    if !imported.is_empty() && !config_files::uses_credd(&config).unwrap_or(true) {
        eprintln!("next: run 'credd setup cargo' so that Cargo asks credd for these tokens");
    }
    Ok(())
}

/// Stores one token as a new entry; an existing entry of that name is never replaced.
fn store(client: &mut Client, token: &FoundToken, url: &str) -> Result<Outcome> {
    let name = token.key.name();
    let entry = Entry {
        name: name.to_owned(),
        url: url.to_owned(),
        username: None,
        secret: token.token.clone(),
        expires: None,
        note: Some("imported from Cargo's credentials.toml".to_owned()),
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
    if existing.entry.secret.expose() != token.token.expose() {
        return Ok(Outcome::Conflict(format!(
            "credd already has an entry named {name} with another token"
        )));
    }
    let served = match client.call::<GetResult>(Operation::Get {
        name: None,
        url: Some(url.to_owned()),
    }) {
        Ok(served) => Some(served.entry),
        Err(ClientError::Agent(e)) if e.kind == ErrorKind::NotFound => None,
        Err(e) => return Err(e.into()),
    };
    if served.is_some_and(|s| s.secret.expose() == token.token.expose()) {
        Ok(Outcome::AlreadyThere)
    } else {
        Ok(Outcome::Conflict(format!(
            "credd's entry {name} holds this token but serves {}, not {url}",
            existing.entry.url
        )))
    }
}
