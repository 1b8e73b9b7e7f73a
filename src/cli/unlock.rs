//! `credd unlock`: decrypt the vault into the agent.

use std::path::Path;

use anyhow::{Context, Result, bail};
use credd::client::KDF_TIMEOUT;
use credd::store::vault::DEFAULT_KDF;
use credd_protocol::{Done, LockState, Operation, StatusResult};

use super::{connect, init, input};

/// Options of `credd unlock`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Read the passphrase as one line from stdin instead of asking on the terminal
    #[arg(long)]
    passphrase_stdin: bool,
}

/// Unlocks, or offers to create a vault on a terminal when there is none.
pub fn run(socket: &Path, args: Args) -> Result<()> {
    let mut client = connect(socket)?;
    let status: StatusResult = client.call(Operation::Status)?;
    if status.state == LockState::Unlocked {
        eprintln!("credd: already unlocked");
        return Ok(());
    }
    if !status.vault {
        if args.passphrase_stdin || !credd::tty::has_tty() {
            bail!("there is no vault yet: create one with 'credd init'");
        }
        if !input::confirm("There is no credd vault yet. Create one now?")? {
            bail!("no vault created: run 'credd init' when you want one");
        }
        let passphrase = input::new_passphrase(false)?;
        return init::create(&mut client, passphrase, DEFAULT_KDF);
    }
    let passphrase = input::secret(args.passphrase_stdin, "credd passphrase: ", "passphrase")?;
    client
        .call_within::<Done>(Operation::Unlock { passphrase }, KDF_TIMEOUT)
        .context("cannot unlock")?;
    eprintln!("credd: unlocked");
    Ok(())
}
