//! `credd forget`: remove the vault key that `credd unlock --remember` stored.

use std::path::Path;

use anyhow::{Context, Result};
use credd::client::KDF_TIMEOUT;
use credd_protocol::{ForgetResult, Operation};

use super::connect;

/// Removes the remembered vault key from the OS keychain; the next unlock asks the passphrase.
pub fn run(socket: &Path) -> Result<()> {
    let forgot: ForgetResult = connect(socket)?
        .call_within(Operation::Forget, KDF_TIMEOUT)
        .context("cannot forget the vault key")?;
    if forgot.removed {
        eprintln!("credd: forgot the remembered vault key; 'credd unlock' asks for the passphrase");
    } else {
        eprintln!("credd: no vault key was remembered");
    }
    Ok(())
}
