//! `credd token`: print the token for a registry URL ([`crate::front::lookup::token`]).

use std::path::Path;

use anyhow::Result;

/// Options of `credd token`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The registry's index URL
    #[arg(env = "CARGO_REGISTRY_INDEX_URL", value_name = "URL")]
    url: String,
}

/// Prints the secret of the entry serving the URL, alone on one line.
pub fn run(socket: &Path, args: Args) -> Result<()> {
    crate::front::lookup::token(socket, &args.url)
}
