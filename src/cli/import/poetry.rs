//! `credd import poetry`: the credentials of Poetry's auth.toml.

use std::path::PathBuf;

use anyhow::{Context, Result};
use credd::poetry::files::{self, AuthKey, RepositoryUrls, SkipReason};
use credd::urlmatch::without_userinfo;
use credd_protocol::Entry;
use zeroize::Zeroizing;

use super::{Adapter, Candidate, ToolFile};

/// Poetry's files, as `credd import poetry` reads them.
pub(super) struct Poetry {
    /// Poetry's config directory, which holds auth.toml and config.toml.
    config_dir: PathBuf,
    /// auth.toml.
    auth: PathBuf,
}

impl Poetry {
    /// Finds Poetry's config directory.
    pub(super) fn locate() -> Result<Self> {
        let config_dir = files::config_dir(|v| std::env::var(v).ok())
            .context("cannot find Poetry's config directory: set POETRY_CONFIG_DIR (or HOME)")?;
        Ok(Self {
            auth: config_dir.join("auth.toml"),
            config_dir,
        })
    }
}

impl Adapter for Poetry {
    type Key = AuthKey;
    const COMMAND: &'static str = "credd import poetry";
    const NOUN: &'static str = "credential";
    const PLURAL: &'static str = "credentials";

    fn paths(&self) -> Vec<PathBuf> {
        vec![self.auth.clone()]
    }

    fn candidates(&self, files: &[ToolFile]) -> Result<Vec<Candidate<AuthKey>>> {
        let Some(ToolFile { text, shown, .. }) = files.first() else {
            return Ok(Vec::new());
        };
        let found = files::read_auth(text).with_context(|| format!("cannot read {shown}"))?;
        for skipped in &found.skipped {
            let why = match skipped.reason {
                SkipReason::NoPassword => "has no password (Poetry keeps it in a keyring)",
                SkipReason::NotAString => "is not a string",
                SkipReason::Empty => "is empty",
            };
            eprintln!("credd: skipped {}: it {why}", skipped.key.setting());
        }
        let cwd = std::env::current_dir().context("cannot read the current directory")?;
        let urls = RepositoryUrls::read(&cwd, Some(&self.config_dir), std::env::vars())?;
        let mut candidates = Vec::new();
        for credential in found.credentials {
            let name = credential.key.name().to_owned();
            let setting = credential.key.setting();
            let Some(url) = urls.credential_url(&name) else {
                eprintln!(
                    "credd: warning: skipped {setting}: no URL for {name}; give it one with \
                     'poetry config repositories.{name} URL', or run the import in the project \
                     whose pyproject.toml names it as a source; it stays in {shown}"
                );
                continue;
            };
            candidates.push(Candidate {
                file: 0,
                key: credential.key,
                label: setting,
                entry: Entry {
                    name,
                    // A repository URL may carry userinfo, which an entry's URL may not.
                    url: without_userinfo(url),
                    username: credential.username,
                    secret: credential.secret,
                    expires: None,
                    note: Some("imported from Poetry's auth.toml".to_owned()),
                    publish: false,
                    source: None,
                },
            });
        }
        Ok(candidates)
    }

    fn remove(text: &str, keys: &[AuthKey]) -> Result<Zeroizing<String>> {
        Ok(files::remove_credentials(text, keys)?)
    }

    fn next_step(&self) -> Option<String> {
        Some(
            "run 'credd setup poetry' so that Poetry asks credd (or run Poetry as 'credd exec -- \
             poetry …' where its keyring is disabled)"
                .to_owned(),
        )
    }
}
