//! `credd init`: create a new vault.

use std::path::Path;

use anyhow::{Context, Result};
use credd::client::KDF_TIMEOUT;
use credd::store::vault::DEFAULT_KDF;
use credd_protocol::{Done, KdfParams, Operation};

use super::{connect, input};

/// Options of `credd init`.
#[derive(Debug, clap::Args)]
pub struct Args {
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

/// Creates the vault through the agent and leaves it unlocked.
pub fn run(socket: &Path, args: Args) -> Result<()> {
    let mut client = connect(socket)?;
    let passphrase = input::new_passphrase(args.passphrase_stdin)?;
    let kdf = KdfParams {
        memory_kib: args.kdf_memory,
        passes: args.kdf_passes,
        lanes: args.kdf_lanes,
    };
    create(&mut client, passphrase, kdf)
}

/// Sends `init` and reports the new vault.
pub fn create(
    client: &mut credd::client::Client,
    passphrase: credd_protocol::Secret,
    kdf: KdfParams,
) -> Result<()> {
    client
        .call_within::<Done>(
            Operation::Init {
                passphrase,
                kdf: Some(kdf),
            },
            KDF_TIMEOUT,
        )
        .context("cannot create the vault")?;
    eprintln!("credd: created a new vault; credd is unlocked");
    Ok(())
}
