//! `credd refresh`: mint a new token for a source entry now, or read a team's entries now.

use std::path::Path;

use anyhow::{Context, Result};
use credd_protocol::{Operation, RefreshResult};

use super::status::count;
use super::{connect, date};

/// Options of `credd refresh`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The source entry, or a team (or one of its entries)
    name: String,
}

/// Asks the agent for a new token and says until when it lasts; never prints the token.
pub fn run(socket: &Path, args: Args) -> Result<()> {
    let refreshed: RefreshResult = connect(socket)?
        .call(Operation::Refresh {
            name: args.name.clone(),
        })
        .with_context(|| format!("cannot refresh {:?}", args.name))?;
    match refreshed.entries {
        Some(entries) => eprintln!(
            "credd: read {} of team {}; without the server they are served until {}",
            count(entries, "entry", "entries"),
            args.name,
            date::format_time(refreshed.token_expires)
        ),
        None => eprintln!(
            "credd: minted a new token for {}, valid until {}",
            args.name,
            date::format_time(refreshed.token_expires)
        ),
    }
    Ok(())
}
