//! `credd setup`: configure a tool to ask credd for its credentials.

mod cargo;

use std::path::Path;

use anyhow::Result;

/// Options of `credd setup`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    target: SetupTarget,
}

/// The tools `credd setup` configures.
#[derive(Debug, clap::Subcommand)]
enum SetupTarget {
    /// Make Cargo ask credd for registry tokens, in $CARGO_HOME/config.toml.
    ///
    /// Adds credd to `[registry] global-credential-providers`, after `cargo:token` (Cargo asks
    /// later entries first, so credd comes first and credentials.toml is the fallback); or, with
    /// --registry, sets that one registry's `credential-provider`. Comments and formatting are
    /// kept, and a second run changes nothing.
    Cargo(cargo::Args),
}

/// Runs `credd setup TOOL`; no agent is needed.
pub fn run(_socket: &Path, args: Args) -> Result<()> {
    match args.target {
        SetupTarget::Cargo(args) => cargo::run(args),
    }
}
