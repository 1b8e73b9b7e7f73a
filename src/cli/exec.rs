//! `credd exec -- poetry ARGS…`: Poetry's credential variables from credd, for places where
//! Poetry's keyring is disabled.
//!
//! This is the one command that puts secrets into an environment, because Poetry without a
//! keyring reads them nowhere else. They go straight into the command's environment by `execve`:
//! no shell, no quoting, nothing on a command line, and credd's own process is replaced. For
//! `poetry publish` the repository's publish credential is asked for (`credd add --publish`),
//! with the step-up on the terminal, before the command runs.

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::Path;

use anyhow::{Context, Result, bail};
use credd::client::{Client, ClientError};
use credd::poetry::args::PoetryArgs;
use credd::poetry::env::{self, Credential};
use credd::poetry::files::{self, RepositoryUrls};
use credd::poetry::{PYPI, TOKEN_USERNAME};
use credd::step_up;
use credd::urlmatch::without_userinfo;
use credd_protocol::{
    Entry, ErrorKind, Front, GetResult, LockState, Lookup, Operation, StatusResult,
};

use super::connect;

/// Options of `credd exec`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The command and its arguments, e.g. `-- poetry install`
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "COMMAND"
    )]
    command: Vec<OsString>,
}

/// Sets the variables and replaces this process with the command; returns only on failure.
pub fn run(socket: &Path, args: Args) -> Result<()> {
    let (program, rest) = args.command.split_first().context("give a command")?;
    let is_poetry = Path::new(program)
        .file_name()
        .is_some_and(|n| n == "poetry");
    let poetry = if is_poetry {
        PoetryArgs::parse(rest)
    } else {
        PoetryArgs::default()
    };
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let plan = env::plan(credentials(socket, &poetry, &poetry.project_dir(&cwd))?);
    for warning in &plan.warnings {
        eprintln!("credd: warning: {warning}");
    }
    let mut command = std::process::Command::new(program);
    command.args(rest);
    for var in &plan.vars {
        if std::env::var_os(&var.name).is_some() {
            eprintln!(
                "credd: warning: {} was set already: credd's value replaces it",
                var.name
            );
        }
        command.env(&var.name, var.value.expose());
    }
    let error = command.exec();
    Err(error).with_context(|| format!("cannot run {}", program.to_string_lossy()))
}

/// The credentials for the project's sources and, for `publish`, its repository.
fn credentials(
    socket: &Path,
    poetry: &PoetryArgs,
    project_dir: &Path,
) -> Result<Vec<(String, Credential)>> {
    let mut client = unlocked(socket)?;
    let mut wanted = Vec::new();
    match files::find_pyproject(project_dir) {
        Some(pyproject) => wanted.extend(sources(&mut client, &pyproject)?),
        None => eprintln!(
            "credd: warning: no pyproject.toml in {} or its parents: no source credentials set",
            project_dir.display()
        ),
    }
    if let Some(name) = &poetry.publish_to {
        wanted.extend(repository(&mut client, name, project_dir)?);
    }
    Ok(wanted)
}

/// A connection to an unlocked agent: on a terminal a locked agent is unlocked first (by
/// `credd unlock`, which asks for the passphrase); without one, a locked agent is an error.
fn unlocked(socket: &Path) -> Result<Client> {
    let mut client = connect(socket)?;
    let status: StatusResult = client.call(Operation::Status)?;
    if status.state == LockState::Unlocked {
        return Ok(client);
    }
    if !credd::tty::has_tty() {
        return Err(ClientError::Agent(credd_protocol::ErrorReply::locked()).into());
    }
    let exe = credd::paths::installed_binary(credd::paths::FULL_BINARY)
        .context("cannot find this credd binary")?;
    let unlocked = std::process::Command::new(exe)
        .arg("unlock")
        .arg("--socket")
        .arg(socket)
        .status()
        .context("cannot run 'credd unlock'")?;
    if !unlocked.success() {
        bail!("credd is still locked: the command was not run");
    }
    // The unlock waited on a person: this connection may have been closed meanwhile.
    client.reconnect()?;
    Ok(client)
}

/// The credentials of the project's sources: the entry serving each source's URL.
fn sources(client: &mut Client, pyproject: &Path) -> Result<Vec<(String, Credential)>> {
    let text = std::fs::read_to_string(pyproject)
        .with_context(|| format!("cannot read {}", pyproject.display()))?;
    let sources = files::project_sources(&text)
        .with_context(|| format!("cannot read {}", pyproject.display()))?;
    let mut found = Vec::new();
    for source in sources {
        match entry_for_url(client, &source.url)? {
            Some(entry) => found.push((
                source.name,
                Credential::HttpBasic {
                    username: entry.username,
                    password: entry.secret,
                },
            )),
            None => {
                let url = without_userinfo(&source.url);
                eprintln!(
                    "credd: warning: no credd entry serves source {} ({url}): add one with 'credd \
                     add {} --url {url} --username USER'",
                    source.name, source.name
                )
            }
        }
    }
    Ok(found)
}

/// The credential for `poetry publish -r NAME`: the publish credential serving the repository's
/// URL (after the step-up on the terminal), else the entry named NAME, or the publish credential
/// beside it. A token (no username, or `__token__`) becomes `POETRY_PYPI_TOKEN_<K>`.
fn repository(
    client: &mut Client,
    name: &str,
    project_dir: &Path,
) -> Result<Option<(String, Credential)>> {
    let urls = repository_urls(project_dir)?;
    let what = format!("credd exec -- poetry publish to {name}");
    let entry = match urls.url(name) {
        Some(url) => stepped_up(client, Lookup::url(url).for_publish(), &what)?,
        None => None,
    };
    let entry = match entry {
        Some(entry) => Some(entry),
        None => match by_name(client, name, &what)? {
            Some(named) if !named.publish => {
                let beside = Lookup::url(&named.url).username(named.username.clone());
                Some(stepped_up(client, beside.for_publish(), &what)?.unwrap_or(named))
            }
            other => other,
        },
    };
    let Some(entry) = entry else {
        let url = urls
            .url(name)
            .map_or_else(|| "URL".to_owned(), without_userinfo);
        eprintln!(
            "credd: warning: no credd entry for repository {name}: add one with 'credd add {name} \
             --url {url}' (a token) or with --username USER"
        );
        return Ok(None);
    };
    let credential = match entry.username.as_deref() {
        None | Some(TOKEN_USERNAME) => Credential::Token(entry.secret),
        Some(_) => Credential::HttpBasic {
            username: entry.username,
            password: entry.secret,
        },
    };
    Ok(Some((name.to_owned(), credential)))
}

/// The entry `lookup` selects, for `poetry publish`: a publish credential after the step-up on
/// the terminal that names `what`; None when no entry serves it.
fn stepped_up(client: &mut Client, lookup: Lookup, what: &str) -> Result<Option<Entry>> {
    match step_up::get(client, &lookup, Front::Cli, "poetry publish", what) {
        Ok(found) => Ok(Some(found.entry)),
        // Only a missing entry falls back to the read credential: any other refusal (a bad
        // request, a memory agent with no passphrase) is the caller's to see.
        Err(e) if e.kind() == Some(ErrorKind::NotFound) => Ok(None),
        // Kept a ClientError, for the exit code of a locked agent.
        Err(step_up::StepUpError::Client(e)) => Err(e.into()),
        Err(e) => Err(e.into()),
    }
}

/// Poetry's repository URLs: its environment variables, the project's poetry.toml and its
/// config.toml.
fn repository_urls(project_dir: &Path) -> Result<RepositoryUrls> {
    let config_dir = files::config_dir(|v| std::env::var(v).ok());
    Ok(RepositoryUrls::read(
        project_dir,
        config_dir.as_deref(),
        std::env::vars(),
    )?)
}

fn entry_for_url(client: &mut Client, url: &str) -> Result<Option<Entry>> {
    get(client, Lookup::url(url))
}

/// The entry named `name` (no entry is named after PyPI), with the step-up a publish credential
/// wants.
fn by_name(client: &mut Client, name: &str, what: &str) -> Result<Option<Entry>> {
    if name == PYPI {
        return Ok(None);
    }
    stepped_up(client, Lookup::name(name), what)
}

fn get(client: &mut Client, lookup: Lookup) -> Result<Option<Entry>> {
    match client.call::<GetResult>(Operation::get(lookup)) {
        Ok(found) => Ok(Some(found.entry)),
        // Only a missing entry falls back to the read credential: any other refusal (a bad
        // request, a memory agent with no passphrase) is the caller's to see.
        Err(e) if e.kind() == Some(ErrorKind::NotFound) => Ok(None),
        Err(e) => Err(e.into()),
    }
}
