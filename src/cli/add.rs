//! `credd add`: store a credential.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use credd_protocol::{Entry, Operation, PutResult};

use credd::urlmatch::RegistryUrl;

use super::{connect, date, input};

mod source;

/// Options of `credd add`.
#[derive(Debug, clap::Args)]
#[command(group = clap::ArgGroup::new("source").args(["gcp_key_file", "aws_codeartifact", "token_command"]))]
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
    // Boxed: the source options would make every command's arguments as large.
    #[command(flatten)]
    source: Box<SourceArgs>,
}

/// The options that make a source entry, whose tokens the agent mints.
#[derive(Debug, clap::Args)]
struct SourceArgs {
    /// Mint Google OAuth access tokens (username oauth2accesstoken) from this credentials file:
    /// a service-account key, a gcloud user login or a workload identity federation file. It is
    /// read once and kept encrypted; delete it afterwards, or give --remove-file
    #[arg(long, value_name = "FILE")]
    gcp_key_file: Option<PathBuf>,
    /// Delete the --gcp-key-file once it is stored
    #[arg(long, requires = "gcp_key_file")]
    remove_file: bool,
    /// An OAuth scope for --gcp-key-file instead of cloud-platform; may be repeated
    #[arg(long = "gcp-scope", value_name = "SCOPE", requires = "gcp_key_file")]
    gcp_scopes: Vec<String>,
    /// Mint AWS CodeArtifact tokens (username aws) for this domain, with an access key pair
    /// asked for on the terminal (or read from stdin, one per line, with --secret-stdin)
    #[arg(long, value_name = "DOMAIN", requires_all = ["owner", "region"])]
    aws_codeartifact: Option<String>,
    /// The AWS account id that owns the CodeArtifact domain
    #[arg(long, value_name = "ACCOUNT", requires = "aws_codeartifact")]
    owner: Option<String>,
    /// The CodeArtifact domain's AWS region, e.g. eu-west-1
    #[arg(long, requires = "aws_codeartifact")]
    region: Option<String>,
    /// The CodeArtifact token's lifetime in seconds (900 to 43200; 0: the session's)
    #[arg(long, value_name = "SECONDS", requires = "aws_codeartifact")]
    duration: Option<u32>,
    /// The CodeArtifact endpoint, when not https://codeartifact.REGION.amazonaws.com
    #[arg(long, value_name = "URL", requires = "aws_codeartifact")]
    endpoint: Option<String>,
    /// Also ask for an AWS session token (temporary credentials)
    #[arg(long, requires = "aws_codeartifact")]
    session_token: bool,
    /// Mint tokens by running this command line, split into words as a shell would but with no
    /// expansions (only quotes and backslashes count), without a shell. Its stdout is the token,
    /// or JSON {"token", "expires" | "expires_in", "username"}
    #[arg(long, value_name = "COMMAND LINE")]
    token_command: Option<String>,
    /// A variable for --token-command, on top of its clean environment; may be repeated. Not
    /// for secrets: the command line and its variables show in 'credd list --json'
    #[arg(
        long = "token-env",
        value_name = "NAME=VALUE",
        requires = "token_command"
    )]
    token_env: Vec<String>,
    /// Seconds --token-command may run (at most the agent's mint-timeout)
    #[arg(long, value_name = "SECONDS", requires = "token_command")]
    token_timeout: Option<u32>,
}

/// Stores the credential through the agent (which must be unlocked).
pub fn run(socket: &Path, args: Args) -> Result<()> {
    // Before asking for the secret: the agent takes any service string (keyring-style tools
    // store names that are no URL), but a URL typed here must be one.
    RegistryUrl::parse(&args.url).context("--url")?;
    // Ask first: the agent drops a connection that waits on a person.
    let (source, secret) = match source::from_args(&args.source, args.secret_stdin)? {
        Some((source, material)) => (Some(source), material),
        None => {
            let prompt = format!("Secret for {}: ", args.name);
            (None, input::secret(args.secret_stdin, &prompt, "secret")?)
        }
    };
    let kind = source.as_ref().map(|s| s.kind());
    let mut client = connect(socket)?;
    let entry = Entry {
        name: args.name.clone(),
        url: args.url,
        username: args.username,
        secret,
        expires: args.expires,
        note: args.note,
        publish: args.publish,
        source,
    };
    // The agent says which entry is in the way: the same name, or another holding the pair.
    let put: PutResult = client
        .call(Operation::Put {
            entry,
            replace: args.replace,
        })
        .with_context(|| format!("cannot store {:?}", args.name))?;
    let verb = if put.replaced { "replaced" } else { "added" };
    let what = if args.publish {
        " (a publish credential: step-up required)"
    } else {
        ""
    };
    let kind = kind.map_or(String::new(), |k| {
        format!(" (tokens minted from a {k} source)")
    });
    eprintln!("credd: {verb} {}{what}{kind}", args.name);
    if let Some(file) = &args.source.gcp_key_file {
        source::after_storing_key_file(file, args.source.remove_file)?;
    }
    Ok(())
}
