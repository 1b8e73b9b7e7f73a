//! `credd import cargo`: the tokens of Cargo's credentials.toml.

use std::path::PathBuf;

use anyhow::{Context, Result};
use credd::cargo::config_files::{self, SkipReason, TokenKey};
use credd_protocol::Entry;
use zeroize::Zeroizing;

use super::{Adapter, Candidate, ToolFile};

/// Cargo's files, as `credd import cargo` reads them.
pub(super) struct Cargo {
    /// `credentials.toml` (or the legacy `credentials`).
    credentials: PathBuf,
    /// `config.toml` (or the legacy `config`), which names the registries' indexes.
    config: PathBuf,
}

impl Cargo {
    /// Finds Cargo's home and the files in it.
    pub(super) fn locate() -> Result<Self> {
        let home = config_files::cargo_home()
            .context("cannot find Cargo's home: set CARGO_HOME (or HOME for ~/.cargo)")?;
        let credentials = config_files::credentials_path(&home);
        if let Some(ignored) = config_files::ignored_beside(&credentials) {
            eprintln!(
                "credd: warning: Cargo reads {} and ignores {}: importing from the former only",
                credentials.display(),
                ignored.display()
            );
        }
        Ok(Self {
            credentials,
            config: config_files::config_path(&home),
        })
    }

    fn read_config(&self) -> Result<String> {
        credd::toml_file::read_optional(&self.config)
            .with_context(|| format!("cannot read {}", self.config.display()))
    }
}

impl Adapter for Cargo {
    type Key = TokenKey;
    const COMMAND: &'static str = "credd import cargo";
    const NOUN: &'static str = "token";
    const PLURAL: &'static str = "tokens";

    fn paths(&self) -> Vec<PathBuf> {
        vec![self.credentials.clone()]
    }

    fn candidates(&self, files: &[ToolFile]) -> Result<Vec<Candidate<TokenKey>>> {
        let Some(ToolFile { text, shown, .. }) = files.first() else {
            return Ok(Vec::new());
        };
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
            return Ok(Vec::new());
        }
        let config = self.read_config()?;
        let indexes = config_files::registry_indexes(&config)
            .with_context(|| format!("cannot read {}", self.config.display()))?;
        let mut candidates = Vec::new();
        for token in found.tokens {
            let name = token.key.name().to_owned();
            let Some(url) =
                config_files::index_for(&token.key, &indexes, |var| std::env::var(var).ok())
            else {
                eprintln!(
                    "credd: warning: skipped {name}: no index URL for it, neither `index` in \
                     [registries.{name}] of {} nor {}; add one there and run 'credd import \
                     cargo' again; its token stays in {shown}",
                    self.config.display(),
                    config_files::index_env_var(&name),
                );
                continue;
            };
            candidates.push(Candidate {
                file: 0,
                key: token.key,
                label: name.clone(),
                entry: Entry {
                    name,
                    // Matching ignores user info, and a password there must not be shown.
                    url: credd::urlmatch::without_userinfo(&url),
                    username: None,
                    secret: token.token,
                    expires: None,
                    note: Some("imported from Cargo's credentials.toml".to_owned()),
                    publish: false,
                    source: None,
                },
            });
        }
        Ok(candidates)
    }

    fn remove(text: &str, keys: &[TokenKey]) -> Result<Zeroizing<String>> {
        Ok(config_files::remove_tokens(text, keys)?)
    }

    fn next_step(&self) -> Option<String> {
        // A config that cannot be read now was read a moment ago: say nothing rather than guess.
        let config = self.read_config().ok()?;
        let uses_credd = config_files::uses_credd(&config).unwrap_or(true);
        (!uses_credd)
            .then(|| "run 'credd setup cargo' so that Cargo asks credd for these tokens".to_owned())
    }
}
