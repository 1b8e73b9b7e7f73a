//! `credd passwd`: change the vault's passphrase.

use std::path::Path;

use anyhow::{Context, Result};
use credd::client::KDF_TIMEOUT;
use credd_protocol::{Done, Operation};

use super::{connect, input};

/// Options of `credd passwd`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Read the current and the new passphrase as two lines from stdin
    #[arg(long)]
    passphrase_stdin: bool,
}

/// Re-encrypts the vault under a new passphrase.
pub fn run(socket: &Path, args: Args) -> Result<()> {
    // Ask first: the agent drops a connection that waits on a person.
    let old = input::secret(
        args.passphrase_stdin,
        "Current passphrase: ",
        "current passphrase",
    )?;
    let new = input::new_passphrase(args.passphrase_stdin)?;
    let mut client = connect(socket)?;
    client
        .call_within::<Done>(Operation::Passwd { old, new }, KDF_TIMEOUT)
        .context("cannot change the passphrase")?;
    eprintln!("credd: passphrase changed");
    Ok(())
}
