//! `credd team login`: give the agent its login to a team's OpenBao server.

use std::path::Path;

use anyhow::{Context, Result};
use credd_protocol::{Entry, Operation, PutResult, RefreshResult, Source};

use super::status::count;
use super::{connect, date, input};
use credd::team::LOGIN_PREFIX;

/// `credd team` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Store the agent's login to the team's server (encrypted like every secret), then read
    /// the team's entries
    Login(LoginArgs),
}

/// Options of `credd team login`.
#[derive(Debug, clap::Args)]
#[command(group = clap::ArgGroup::new("how").required(true).args(["token_stdin", "approle", "jwt_role"]))]
pub struct LoginArgs {
    /// The team, as named by a [[team]] table in config.toml
    team: String,
    /// Read an OpenBao token as one line from stdin
    #[arg(long)]
    token_stdin: bool,
    /// Log in with this AppRole role id; the secret id is read from stdin (--secret-id-stdin)
    #[arg(long, value_name = "ROLE_ID", requires = "secret_id_stdin")]
    approle: Option<String>,
    /// Read the AppRole secret id as one line from stdin
    #[arg(long, requires = "approle")]
    secret_id_stdin: bool,
    /// Log in with the server's JWT/OIDC auth (auth/jwt) as this role; the JWT (a CI job's OIDC
    /// token) is read from stdin (--jwt-stdin)
    #[arg(long, value_name = "ROLE", requires = "jwt_stdin")]
    jwt_role: Option<String>,
    /// Read the JWT as one line from stdin
    #[arg(long, requires = "jwt_role")]
    jwt_stdin: bool,
}

/// Runs a `credd team` subcommand.
pub fn run(socket: &Path, command: Command) -> Result<()> {
    match command {
        Command::Login(args) => login(socket, args),
    }
}

fn login(socket: &Path, args: LoginArgs) -> Result<()> {
    let what = match (&args.approle, &args.jwt_role) {
        (Some(_), _) => "AppRole secret id",
        (_, Some(_)) => "JWT",
        _ => "OpenBao token",
    };
    let secret = input::stdin_line(what)?;
    let entry = Entry {
        name: format!("{LOGIN_PREFIX}{}", args.team),
        url: format!("team-login:{}", args.team),
        username: None,
        secret,
        expires: None,
        note: None,
        publish: false,
        source: Some(Source::TeamLogin {
            team: args.team.clone(),
            role_id: args.approle,
            jwt_role: args.jwt_role,
        }),
    };
    let mut client = connect(socket)?;
    let _: PutResult = client
        .call(Operation::Put {
            entry,
            replace: true,
        })
        .context("cannot store the login")?;
    let read: RefreshResult = client
        .call(Operation::Refresh {
            name: args.team.clone(),
        })
        .with_context(|| {
            format!(
                "the login is stored, but reading team {:?} failed (see 'credd status')",
                args.team
            )
        })?;
    eprintln!(
        "credd: logged in to team {}: {}, served offline until {} if the server is away",
        args.team,
        count(read.entries.unwrap_or_default(), "entry", "entries"),
        date::format_time(read.token_expires)
    );
    Ok(())
}
