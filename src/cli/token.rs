//! `credd token`: print the token for a registry URL, for tools that only run a command.

use std::path::Path;

use anyhow::{Context, Result};
use credd_protocol::{GetResult, Lookup, Operation};

use super::{connect, get::print_secret};

/// Options of `credd token`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The registry's index URL
    #[arg(env = "CARGO_REGISTRY_INDEX_URL", value_name = "URL")]
    url: String,
}

impl Args {
    /// `credd token URL`.
    pub fn for_url(url: String) -> Self {
        Self { url }
    }
}

/// Prints the secret of the entry serving the URL, alone on one line (the
/// `cargo:token-from-stdout` contract).
pub fn run(socket: &Path, args: Args) -> Result<()> {
    let found: GetResult = connect(socket)?
        .call(Operation::get(Lookup::url(&args.url)))
        .with_context(|| format!("no token for {}", args.url))?;
    print_secret(found.entry.secret.expose().as_bytes())
}
