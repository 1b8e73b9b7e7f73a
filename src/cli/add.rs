//! `credd add`: store a credential.

use std::path::Path;

use anyhow::{Context, Result, bail};
use credd_protocol::{Entry, ErrorKind, Operation, PutResult};

use credd::urlmatch::RegistryUrl;

use super::{connect, date, input};

/// Options of `credd add`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A unique name for the credential, e.g. the registry's name
    name: String,
    /// The registry or index URL it serves (sparse+/registry+ prefixes are kept)
    #[arg(long)]
    url: String,
    /// The login name, for registries that use one
    #[arg(long)]
    username: Option<String>,
    /// When the secret stops working, as YYYY-MM-DD (UTC)
    #[arg(long, value_name = "DATE", value_parser = date::parse_date)]
    expires: Option<u64>,
    /// A note for yourself
    #[arg(long)]
    note: Option<String>,
    /// Read the secret as one line from stdin instead of asking on the terminal
    #[arg(long)]
    secret_stdin: bool,
    /// Replace an existing credential of the same name
    #[arg(long)]
    replace: bool,
    /// A publish credential (e.g. a token scoped to publishing): handed out only for publish,
    /// yank and owner changes, and only after you type the credd passphrase on a terminal. The
    /// registry's other credential (without --publish) then serves reads
    #[arg(long)]
    publish: bool,
}

/// Stores the credential through the agent (which must be unlocked).
pub fn run(socket: &Path, args: Args) -> Result<()> {
    // Before asking for the secret: the agent takes any service string (keyring-style tools
    // store names that are no URL), but a URL typed here must be one.
    RegistryUrl::parse(&args.url).context("--url")?;
    // Ask first: the agent drops a connection that waits on a person.
    let secret = input::secret(
        args.secret_stdin,
        &format!("Secret for {}: ", args.name),
        "secret",
    )?;
    let mut client = connect(socket)?;
    let entry = Entry {
        name: args.name.clone(),
        url: args.url,
        username: args.username,
        secret,
        expires: args.expires,
        note: args.note,
        publish: args.publish,
        source: None,
    };
    let put: PutResult = match client.call(Operation::Put {
        entry,
        replace: args.replace,
    }) {
        Err(error) if error.kind() == Some(ErrorKind::Exists) => bail!(
            "an entry named {:?} exists already: add --replace to replace it, or choose \
             another name",
            args.name
        ),
        other => other.with_context(|| format!("cannot store {:?}", args.name))?,
    };
    let verb = if put.replaced { "replaced" } else { "added" };
    let what = if args.publish {
        " (a publish credential: step-up required)"
    } else {
        ""
    };
    eprintln!("credd: {verb} {}{what}", args.name);
    Ok(())
}
