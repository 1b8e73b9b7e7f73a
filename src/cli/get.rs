//! `credd get`: print a credential's secret.

use std::io::Write;
use std::path::Path;

use anyhow::Result;
use credd::step_up;
use credd_protocol::{Front, GetResult, Lookup};
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
    /// With --url: the registry's publish credential (else its one credential). A publish
    /// credential, by name or URL, is printed only after you type the credd passphrase on the
    /// terminal
    #[arg(long, requires = "url")]
    publish: bool,
    /// Print the whole entry as JSON (secret included)
    #[arg(long)]
    json: bool,
}

impl Args {
    /// `credd get NAME`, without options.
    pub fn by_name(name: String) -> Self {
        Self {
            name: Some(name),
            url: None,
            username: None,
            publish: false,
            json: false,
        }
    }
}

/// Prints the secret alone on stdout, or the entry as JSON.
pub fn run(socket: &Path, args: Args) -> Result<()> {
    let what = match (&args.name, &args.url) {
        (Some(name), _) => format!("credd get {name}"),
        (None, Some(url)) if args.publish => format!("credd get --publish --url {url}"),
        (None, url) => format!("credd get --url {}", url.as_deref().unwrap_or_default()),
    };
    let lookup = match (args.name, args.url) {
        (Some(name), _) => Lookup::name(name),
        (None, url) => Lookup {
            url,
            username: args.username,
            publish: args.publish,
            ..Lookup::default()
        },
    };
    let operation = if args.publish { "publish" } else { "get" };
    let found: GetResult =
        match step_up::get(&mut connect(socket)?, &lookup, Front::Cli, operation, &what) {
            Ok(found) => found,
            // Kept a ClientError, for the exit code of a locked agent or a missing entry.
            Err(step_up::StepUpError::Client(error)) => return Err(error.into()),
            Err(other) => return Err(other.into()),
        };
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
