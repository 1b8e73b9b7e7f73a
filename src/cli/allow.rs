//! `credd allow --once NAME`: let one use of a publish credential through without a terminal.

use std::path::Path;

use anyhow::{Context, Result, bail};
use credd::client::KDF_TIMEOUT;
use credd::step_up;
use credd_protocol::{ALLOW_SECS, Done, Operation};

use super::connect;

/// Options of `credd allow`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The publish credential
    name: String,
    /// Once: the next request for it, within 5 minutes (the only kind of allowance there is)
    #[arg(long, required = true)]
    once: bool,
}

/// Asks for the passphrase on the terminal and tells the agent to let `NAME` through once.
pub fn run(socket: &Path, args: Args) -> Result<()> {
    debug_assert!(args.once);
    if !credd::tty::has_tty() {
        bail!(
            "'credd allow' asks for the credd passphrase on the terminal, and there is none \
             here: run it in a terminal"
        );
    }
    let mut client = connect(socket)?;
    let prompt = format!(
        "credd allow --once {}: enter the credd passphrase to let its next use through within \
         {} minutes: ",
        args.name,
        ALLOW_SECS / 60
    );
    let passphrase = step_up::read_passphrase(&prompt)?;
    client.reconnect()?;
    let _: Done = client
        .call_within(
            Operation::Allow {
                name: args.name.clone(),
                passphrase,
            },
            KDF_TIMEOUT,
        )
        .with_context(|| format!("{:?} was not allowed", args.name))?;
    eprintln!(
        "credd: the next request for {} within {} minutes gets it without a passphrase",
        args.name,
        ALLOW_SECS / 60
    );
    Ok(())
}
