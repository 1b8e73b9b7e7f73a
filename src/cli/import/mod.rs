//! `credd import`: move a tool's plaintext credentials into credd.

mod cargo;
mod poetry;

use std::path::Path;

use anyhow::Result;

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
