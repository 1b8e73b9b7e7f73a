//! `credd remove`: delete a credential.

use std::path::Path;

use anyhow::Result;
use credd_protocol::{Done, Lookup, Operation};

use super::connect;

/// Options of `credd remove`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The credential's name
    name: String,
}

/// Deletes the credential from the vault through the agent.
pub fn run(socket: &Path, args: Args) -> Result<()> {
    connect(socket)?.call::<Done>(Operation::Delete {
        lookup: Lookup::name(&args.name),
    })?;
    eprintln!("credd: removed {}", args.name);
    Ok(())
}
