//! `credd setup`: configure a tool to ask credd for its credentials.

mod cargo;
mod poetry;
mod systemd;

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
    /// Make Poetry ask credd, through a `poetry` wrapper and a Python keyring backend.
    ///
    /// Writes credd_keyring.py into credd's data directory and a `poetry` script into --bin-dir
    /// (default ~/.local/bin) that runs the real poetry further down PATH with that backend.
    /// Put the directory first on PATH. An existing `poetry` that is not the wrapper is kept.
    Poetry(poetry::Args),
    /// Install systemd user units that start the agent on the first connection, sandboxed.
    ///
    /// Writes credd.socket and credd.service into $XDG_CONFIG_HOME/systemd/user/, naming this
    /// credd binary and the vault's directory, and prints the systemctl line that enables them.
    Systemd,
}

/// Runs `credd setup TOOL`; no agent is needed.
pub fn run(socket: &Path, args: Args) -> Result<()> {
    match args.target {
        SetupTarget::Cargo(args) => cargo::run(args),
        SetupTarget::Poetry(args) => poetry::run(args),
        SetupTarget::Systemd => systemd::run(socket),
    }
}
