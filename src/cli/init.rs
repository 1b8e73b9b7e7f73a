//! `credd init`: create a new store, the vault or the keyring store.

use std::path::Path;

use anyhow::{Context, Result};
use credd::client::{Client, KDF_TIMEOUT};
use credd::store::vault::DEFAULT_KDF;
use credd_protocol::{Done, KdfParams, Operation, Secret, StatusResult, StoreKind};

use super::{connect, input};

/// Options of `credd init`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where to keep the secrets: `vault` (credd's encrypted file) or `keyring` (the OS
    /// keychain); recorded in the config [default: the config's `store`, else vault]
    #[arg(long, value_enum)]
    store: Option<StoreArg>,
    /// Read the new passphrase as one line from stdin instead of asking twice on the terminal
    #[arg(long)]
    passphrase_stdin: bool,
    /// Argon2id memory cost in KiB. Lower values make a weaker vault: meant for tests
    #[arg(long, value_name = "KIB", default_value_t = DEFAULT_KDF.memory_kib)]
    kdf_memory: u32,
    /// Argon2id passes. Lower values make a weaker vault: meant for tests
    #[arg(long, value_name = "N", default_value_t = DEFAULT_KDF.passes)]
    kdf_passes: u32,
    /// Argon2id lanes
    #[arg(long, value_name = "N", default_value_t = DEFAULT_KDF.lanes)]
    kdf_lanes: u32,
}

/// The stores `--store` offers.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum StoreArg {
    Vault,
    Keyring,
}

/// Creates the store through the agent, leaves it unlocked, and records the choice in the config.
pub fn run(socket: &Path, args: Args) -> Result<()> {
    let mut client = connect(socket)?;
    let configured = client
        .call::<StatusResult>(Operation::Status)?
        .store
        .unwrap_or_default();
    let store = match args.store {
        Some(StoreArg::Vault) => StoreKind::Vault,
        Some(StoreArg::Keyring) => StoreKind::Keyring,
        None => configured,
    };
    if store == StoreKind::Keyring {
        create_keyring(&mut client)?;
    } else {
        let passphrase = input::new_passphrase(args.passphrase_stdin)?;
        client.reconnect()?;
        let kdf = KdfParams {
            memory_kib: args.kdf_memory,
            passes: args.kdf_passes,
            lanes: args.kdf_lanes,
        };
        create(&mut client, passphrase, kdf)?;
    }
    if store != configured {
        record_choice(store)?;
    }
    Ok(())
}

/// Writes `store = "…"` into the config, so that the next agent opens the store just created.
fn record_choice(store: StoreKind) -> Result<()> {
    let path = credd::paths::config_file()
        .context("the store was created, but there is no config file to record it in: set XDG_CONFIG_HOME or HOME")?;
    credd::config::record_store(&path, store).with_context(|| {
        format!("the store was created, but cannot be recorded in {}: add `store = \"{}\"` there yourself", path.display(), format!("{store:?}").to_lowercase())
    })?;
    eprintln!("credd: recorded the store in {}", path.display());
    Ok(())
}

/// Sends `init` for a vault and reports it.
pub fn create(client: &mut Client, passphrase: Secret, kdf: KdfParams) -> Result<()> {
    client
        .call_within::<Done>(
            Operation::Init {
                passphrase: Some(passphrase),
                kdf: Some(kdf),
                store: Some(StoreKind::Vault),
            },
            KDF_TIMEOUT,
        )
        .context("cannot create the vault")?;
    eprintln!("credd: created a new vault; credd is unlocked");
    Ok(())
}

/// Sends `init` for the keyring store and reports it.
fn create_keyring(client: &mut Client) -> Result<()> {
    client
        .call_within::<Done>(
            Operation::Init {
                passphrase: None,
                kdf: None,
                store: Some(StoreKind::Keyring),
            },
            KDF_TIMEOUT,
        )
        .context("cannot create the keyring store")?;
    eprintln!("credd: created the keyring store (secrets in the OS keychain); credd is unlocked");
    Ok(())
}
