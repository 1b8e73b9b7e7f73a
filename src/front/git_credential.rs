//! `git-credential-credd` (and `credd git-credential`): git's credential helper, answered by the
//! agent ([`credd::git::credential`] reads and writes git's format). git runs it as
//! `git credential-credd [--store-new] get|store|erase` once `credential.helper` names `credd`;
//! libgit2, Cargo's default git, runs the same command line through `sh -c`, for `get` only.
//!
//! `get` answers the entry serving the repository, found by the agent's one rule, first under
//! `protocol://host/path`, then under `host[:port]`; a miss prints nothing, so git goes on to
//! its next helper or asks. `store` saves what git confirmed only with `--store-new`. `erase`
//! removes the rejected credential only when credd took it from git, and says so otherwise.
//! Nothing is ever prompted on stdout; a locked agent is unlocked as for the Cargo provider
//! ([`credd::on_demand`]), else this fails at once with credd's message on stderr.

use std::ffi::OsString;
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use credd::client::{Client, ClientError};
use credd::git::credential::{self as git, Request, Services};
use credd::on_demand::with_unlocked_agent;
use credd::urlmatch::without_userinfo;
use credd_protocol::{Done, Entry, ErrorKind, Front, GetResult, Lookup, Operation, SetResult};

/// The `credd` subcommand.
pub const NAME: &str = "git-credential";

/// The program name git runs for `credential.helper = credd`.
pub const PROGRAM: &str = "git-credential-credd";

/// The option that lets `store` add and update entries.
pub const STORE_NEW: &str = "--store-new";

/// How long git may take to write its request.
const STDIN_WAIT: Duration = Duration::from_secs(10);

/// The most bytes of a request: a secret and room for the rest.
const REQUEST_LIMIT: usize = credd_protocol::MAX_SECRET_LEN + 16 * 1024;

/// The helper's arguments, when this process runs as `git-credential-credd` or as
/// `credd git-credential`.
pub fn requested() -> Option<Vec<OsString>> {
    super::front_args(PROGRAM, NAME)
}

/// What git asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Get,
    Store,
    Erase,
}

/// Answers one request of git's and returns the exit code: 0 for an answer, a miss, an ignored
/// `store` or an unknown operation (git ignores those); 1 with credd's message on stderr when
/// the agent could not answer; 2 for a usage error.
pub fn run(socket: &Path, args: &[OsString]) -> ExitCode {
    let mut store_new = false;
    let mut action = None;
    for arg in args {
        match arg.to_str() {
            Some(STORE_NEW) => store_new = true,
            Some("get") => action = Some(Action::Get),
            Some("store") => action = Some(Action::Store),
            Some("erase") => action = Some(Action::Erase),
            Some(option) if option.starts_with('-') => {
                eprintln!(
                    "credd: git-credential: unknown option {option}: the only option is \
                     {STORE_NEW}; usage: {PROGRAM} [{STORE_NEW}] get|store|erase"
                );
                return ExitCode::from(2);
            }
            // git's rule: a helper ignores operations it does not know.
            _ => return ExitCode::SUCCESS,
        }
    }
    let Some(action) = action else {
        eprintln!("credd: usage: {PROGRAM} [{STORE_NEW}] get|store|erase (git runs it)");
        return ExitCode::from(2);
    };
    if action == Action::Store && !store_new {
        // What git confirmed is saved only when the user asked for it.
        return ExitCode::SUCCESS;
    }
    match carry_out(socket, action) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            super::print_error(&error);
            ExitCode::FAILURE
        }
    }
}

fn carry_out(socket: &Path, action: Action) -> Result<()> {
    let input = super::stdin::stdin_within(REQUEST_LIMIT, STDIN_WAIT, git::is_complete)
        .context("cannot read git's request")?;
    let request = git::parse(&input)?;
    drop(input);
    // No protocol or host (libgit2 for an IP address): nothing to match, as for a miss.
    let Some(services) = request.services() else {
        return Ok(());
    };
    match action {
        Action::Get => get(socket, &request, &services),
        Action::Store => store(socket, &request, &services),
        Action::Erase => erase(socket, &request, &services),
    }
}

/// Prints the username and password of the entry serving the request; nothing for a miss.
fn get(socket: &Path, request: &Request, services: &Services) -> Result<()> {
    let Some(entry) = with_unlocked_agent(socket, |client| find(client, request, services))? else {
        return Ok(());
    };
    let username = request
        .username
        .as_deref()
        .or(entry.username.as_deref())
        .unwrap_or(git::TOKEN_USERNAME);
    let out = git::answer(username, &entry.secret, entry.expires)
        .with_context(|| format!("cannot answer git with entry {}", entry.name))?;
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(&out)?;
    stdout.flush()?;
    Ok(())
}

/// Saves the credential git confirmed (`--store-new`): nothing when credd served it; replaces
/// the secret of an entry credd took from git; leaves an entry added by hand as it is.
fn store(socket: &Path, request: &Request, services: &Services) -> Result<()> {
    let Some(password) = &request.password else {
        return Ok(());
    };
    with_unlocked_agent(socket, |client| {
        let (url, username, note) = match find(client, request, services)? {
            Some(entry) if entry.secret.expose() == password.expose() => return Ok(()),
            Some(entry) if git::from_git(entry.note.as_deref()) => {
                (entry.url, entry.username, None)
            }
            Some(entry) => {
                eprintln!(
                    "credd: git used another password than credd's entry {} for {}: credd keeps \
                     its entry as it is, since it was not stored from git ('credd add {} --url \
                     URL --replace' changes it)",
                    entry.name,
                    without_userinfo(&services.url),
                    entry.name
                );
                return Ok(());
            }
            None => (
                services.url.clone(),
                request.username.clone(),
                Some(git::STORED_NOTE.to_owned()),
            ),
        };
        let _: SetResult = client.call(Operation::Set {
            url,
            username,
            secret: password.clone(),
            note,
        })?;
        Ok(())
    })?;
    Ok(())
}

/// Removes the entry holding the password the server rejected, when credd took it from git;
/// says why not otherwise.
fn erase(socket: &Path, request: &Request, services: &Services) -> Result<()> {
    let Some(password) = &request.password else {
        return Ok(());
    };
    let entry = with_unlocked_agent(socket, |client| find(client, request, services))?;
    // Only credd's own answer was rejected: another helper's password is none of credd's business.
    let Some(entry) = entry.filter(|e| e.secret.expose() == password.expose()) else {
        return Ok(());
    };
    let name = &entry.name;
    let url = without_userinfo(&entry.url);
    if !git::from_git(entry.note.as_deref()) {
        eprintln!(
            "credd: the server rejected the password of credd's entry {name} ({url}); credd \
             keeps it, since it was not stored from git: change it with 'credd add {name} --url \
             URL --replace', or 'credd remove {name}'"
        );
        return Ok(());
    }
    let _: Done = with_unlocked_agent(socket, |client| {
        client.call(Operation::Delete {
            lookup: Lookup::name(name.as_str()),
        })
    })
    .with_context(|| format!("cannot remove entry {name}"))?;
    eprintln!("credd: removed {name} ({url}): the server rejected it");
    Ok(())
}

/// The entry serving the request: by the URL rules under `protocol://host/path`, else by the
/// host rule under `host[:port]` when the entry fits git's request (same protocol; a path only
/// when git sent none).
fn find(
    client: &mut Client,
    request: &Request,
    services: &Services,
) -> Result<Option<Entry>, ClientError> {
    let by_url = Lookup::url(&services.url).username(request.username.clone());
    if let Some(entry) =
        found(client.call::<GetResult>(Operation::get_for(by_url, Front::Git, "get")))?
    {
        return Ok(Some(entry));
    }
    let by_host = Lookup::url(&services.host).username(request.username.clone());
    let entry = found(client.call::<GetResult>(Operation::get_for(by_host, Front::Git, "get")))?;
    Ok(entry.filter(|e| request.host_rule_fits(services, &e.url)))
}

/// The entry of a `get`, None for a miss.
fn found(result: Result<GetResult, ClientError>) -> Result<Option<Entry>, ClientError> {
    match result {
        Ok(found) => Ok(Some(found.entry)),
        Err(error) if error.kind() == Some(ErrorKind::NotFound) => Ok(None),
        Err(error) => Err(error),
    }
}
