//! `credd list`: the stored credentials, without secrets.

use std::path::Path;

use super::{connect, date};
use anyhow::Result;

/// Options of `credd list`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print the entries as a JSON array
    #[arg(long)]
    json: bool,
}

/// Prints one line per credential: name, URL, username, expiry (under a header on stderr).
pub fn run(socket: &Path, args: Args) -> Result<()> {
    let entries = connect(socket)?.list_all()?;
    if args.json {
        println!("{}", serde_json::to_string(&entries)?);
        return Ok(());
    }
    if entries.is_empty() {
        eprintln!("credd: no credentials stored; add one with 'credd add NAME --url URL'");
    } else {
        // The header goes to stderr: people see it, `credd list | cut -f1` does not.
        eprintln!("NAME\tURL\tUSERNAME\tEXPIRES");
    }
    for entry in entries {
        let expires = entry
            .expires
            .map(date::format_date)
            .unwrap_or_else(|| "-".into());
        let username = entry.username.as_deref().unwrap_or("-");
        println!("{}\t{}\t{username}\t{expires}", entry.name, entry.url);
    }
    Ok(())
}
