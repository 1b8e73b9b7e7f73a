//! `credd setup`: configure a tool to ask credd for its credentials.
//!
//! Each tool's setup works out what to write, checks what it can, then writes its files through
//! [`write_file`], the one way `credd setup` writes: atomically, with the file's mode, creating
//! the directory first. No agent is needed.

mod cargo;
mod poetry;
mod systemd;

use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::Path;

use anyhow::{Context, Result};

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

/// The mode of a directory whose permissions are left to the umask, as `mkdir -p` leaves them.
const UMASK_DIR_MODE: u32 = 0o777;

/// Writes `text` to `path` atomically with `mode`, first creating its directory and any missing
/// parent with `dir_mode` (less the umask).
fn write_file(path: &Path, text: &str, mode: u32, dir_mode: u32) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(dir_mode)
            .create(dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
    }
    credd::atomic::write_atomic(path, text.as_bytes(), mode)
        .with_context(|| format!("cannot write {}", path.display()))
}

/// True when `path` is a file someone may execute.
fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}
