//! `credd import`: move a tool's plaintext credentials into credd.

mod cargo;
mod poetry;

use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use zeroize::Zeroizing;

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
    Cargo(cargo::Args),
    /// Store the credentials of Poetry's auth.toml in credd.
    ///
    /// Each `[http-basic.NAME]` (username and password) and `[pypi-token] NAME` becomes the entry
    /// NAME, serving the URL of `[repositories.NAME]` in Poetry's config.toml (or
    /// POETRY_REPOSITORIES_NAME_URL), else of the source NAME in the current project's
    /// pyproject.toml. Existing entries are never replaced. Secrets are never printed.
    Poetry(poetry::Args),
}

/// Runs `credd import TOOL`.
pub fn run(socket: &Path, args: Args) -> Result<()> {
    match args.source {
        ImportSource::Cargo(args) => cargo::run(socket, args),
        ImportSource::Poetry(args) => poetry::run(socket, args),
    }
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

/// Rewrites the tool's credentials file with `remove` applied, provided it still holds exactly
/// `original` (what was imported from); keeps the file's mode. Returns whether it changed.
fn remove_from_file(
    path: &Path,
    original: &[u8],
    remove: impl FnOnce(&str) -> Result<Zeroizing<String>, credd::toml_file::FileError>,
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
