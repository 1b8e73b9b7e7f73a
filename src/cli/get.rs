//! `credd get`: print a credential's secret.

use std::io::Write;
use std::path::Path;

use anyhow::Result;
use credd_protocol::{GetResult, Lookup, Operation};
use zeroize::Zeroizing;

use super::connect;

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
    /// Print the whole entry as JSON (secret included)
    #[arg(long)]
    json: bool,
}

/// Prints the secret alone on stdout, or the entry as JSON.
pub fn run(socket: &Path, args: Args) -> Result<()> {
    let lookup = match (args.name, args.url) {
        (Some(name), _) => Lookup::name(name),
        (None, url) => Lookup {
            url,
            username: args.username,
            ..Lookup::default()
        },
    };
    let found: GetResult = connect(socket)?.call(Operation::Get { lookup })?;
    if args.json {
        let mut line = Zeroizing::new(Vec::with_capacity(credd_protocol::MAX_FRAME_LEN));
        serde_json::to_writer(&mut *line, &found.entry)?;
        return print_secret(&line);
    }
    print_secret(found.entry.secret.expose().as_bytes())
}

/// Writes `bytes` and a newline to stdout in one write, from a buffer wiped afterwards.
pub fn print_secret(bytes: &[u8]) -> Result<()> {
    let mut line = Zeroizing::new(Vec::with_capacity(bytes.len() + 1));
    line.extend_from_slice(bytes);
    line.push(b'\n');
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(&line)?;
    stdout.flush()?;
    Ok(())
}
