//! `credd import`: move a tool's plaintext credentials into credd.

mod cargo;

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
}

/// Runs `credd import TOOL`.
pub fn run(socket: &Path, args: Args) -> Result<()> {
    match args.source {
        ImportSource::Cargo(args) => cargo::run(socket, args),
    }
}
