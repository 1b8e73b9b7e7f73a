//! `credd get`: print a credential's secret ([`crate::front::lookup::get`]).

use std::path::Path;

use anyhow::Result;

use crate::front::lookup::{self, Get};

/// Options of `credd get`.
#[derive(Debug, clap::Args)]
#[command(group = clap::ArgGroup::new("which").required(true))]
pub struct Args {
    /// The credential's name
    #[arg(group = "which")]
    name: Option<String>,
    /// A registry URL: the credential serving it with the longest path
    #[arg(long, group = "which")]
    url: Option<String>,
    /// With --url: only the credential of this user (when several users share an index)
    #[arg(long, requires = "url", conflicts_with = "name")]
    username: Option<String>,
    /// With --url: the registry's publish credential (else its one credential). A publish
    /// credential, by name or URL, is printed only after you type the credd passphrase on the
    /// terminal
    #[arg(long, requires = "url")]
    publish: bool,
    /// Print the whole entry as JSON (secret included)
    #[arg(long)]
    json: bool,
}

/// Prints the secret alone on stdout, or the entry as JSON.
pub fn run(socket: &Path, args: Args) -> Result<()> {
    let get = Get {
        name: args.name,
        url: args.url,
        username: args.username,
        publish: args.publish,
        json: args.json,
    };
    lookup::get(socket, get)
}
