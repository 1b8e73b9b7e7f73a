//! `credd unlock`: decrypt the vault into the agent, or load the keyring store's secrets.

use std::path::Path;

use anyhow::{Context, Result, bail};
use credd::client::{Client, KDF_TIMEOUT};
use credd::store::keychain;
use credd::store::vault::DEFAULT_KDF;
use credd_protocol::{Done, LockState, Operation, RememberResult, Secret, StatusResult, StoreKind};

use super::{connect, init, input};

/// Options of `credd unlock`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Read the passphrase as one line from stdin instead of asking on the terminal
    #[arg(long)]
    passphrase_stdin: bool,
    /// Also keep the vault's key in the OS keychain, so that later unlocks (and an agent started
    /// at login) need no passphrase while the keychain is available; 'credd forget' removes it
    #[arg(long)]
    remember: bool,
}

/// Unlocks (without a passphrase when the keychain allows), or offers to create a vault on a
/// terminal when there is none.
pub fn run(socket: &Path, args: Args) -> Result<()> {
    let mut client = connect(socket)?;
    let status: StatusResult = client.call(Operation::Status)?;
    if status.store == Some(StoreKind::Keyring) {
        return unlock_keyring(&mut client, &status, &args);
    }
    if status.state == LockState::Unlocked {
        eprintln!("credd: already unlocked");
        return remember_if_asked(&mut client, &args, None);
    }
    if !status.vault {
        if args.passphrase_stdin || !credd::tty::has_tty() {
            bail!("there is no vault yet: create one with 'credd init'");
        }
        if !input::confirm("There is no credd vault yet. Create one now?")? {
            bail!("no vault created: run 'credd init' when you want one");
        }
        let passphrase = input::new_passphrase(false)?;
        let to_remember = args.remember.then(|| passphrase.clone());
        client.reconnect()?;
        init::create(&mut client, passphrase, DEFAULT_KDF)?;
        return remember_if_asked(&mut client, &args, to_remember);
    }
    if let Some(keychain) = status.remembered.filter(|_| !args.remember) {
        match client.call_within::<Done>(Operation::UnlockKeychain, KDF_TIMEOUT) {
            Ok(Done {}) => {
                eprintln!(
                    "credd: unlocked with the vault key remembered in {}",
                    keychain::name(keychain)
                );
                return Ok(());
            }
            Err(error) => eprintln!("credd: {error}; asking for the passphrase instead"),
        }
    }
    let passphrase = input::secret(args.passphrase_stdin, "credd passphrase: ", "passphrase")?;
    let to_remember = args.remember.then(|| passphrase.clone());
    // The prompt waited on a person: the agent may have closed this connection meanwhile.
    client.reconnect()?;
    client
        .call_within::<Done>(Operation::Unlock { passphrase }, KDF_TIMEOUT)
        .context("cannot unlock")?;
    eprintln!("credd: unlocked");
    remember_if_asked(&mut client, &args, to_remember)
}

/// The keyring store: the keychain guards the secrets, so there is no passphrase to ask.
fn unlock_keyring(client: &mut Client, status: &StatusResult, args: &Args) -> Result<()> {
    if args.remember {
        bail!("the keyring store has no passphrase to remember: 'credd unlock' never asks for one");
    }
    if status.state == LockState::Unlocked {
        eprintln!("credd: already unlocked");
        return Ok(());
    }
    if !status.vault {
        bail!("there is no keyring store yet: create one with 'credd init --store keyring'");
    }
    client
        .call_within::<Done>(Operation::UnlockKeychain, KDF_TIMEOUT)
        .context("cannot unlock")?;
    eprintln!("credd: unlocked from the OS keychain");
    Ok(())
}

/// With `--remember`, stores the unlocked vault's key in the OS keychain and says where. The
/// agent wants the `passphrase` for it; asked for when this command has not read it already.
fn remember_if_asked(client: &mut Client, args: &Args, passphrase: Option<Secret>) -> Result<()> {
    if !args.remember {
        return Ok(());
    }
    let passphrase = match passphrase {
        Some(passphrase) => passphrase,
        None => {
            let prompt = "credd passphrase, to remember the vault key: ";
            let typed = input::secret(args.passphrase_stdin, prompt, "passphrase")?;
            client.reconnect()?;
            typed
        }
    };
    let remembered: RememberResult = client
        .call_within(Operation::Remember { passphrase }, KDF_TIMEOUT)
        .context("unlocked, but cannot remember the vault key")?;
    let place = keychain::name(remembered.keychain);
    if remembered.survives_reboot {
        eprintln!(
            "credd: remembered the vault key in {place}: 'credd unlock' will not ask for the \
             passphrase while it is available; 'credd forget' removes it"
        );
    } else {
        eprintln!(
            "credd: no Secret Service, so the vault key is remembered in {place}, for this login \
             session only (a reboot empties it); 'credd forget' removes it"
        );
    }
    Ok(())
}
