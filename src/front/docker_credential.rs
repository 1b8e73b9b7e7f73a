//! `docker-credential-credd` (and `credd docker-credential`): docker's credential helper,
//! answered by the agent ([`credd::docker::credential`] holds the protocol). docker runs it when
//! `credsStore` or `credHelpers` in its config.json names `credd`, finding it on PATH.
//!
//! `get` answers the entry serving the server URL by the agent's one rule; `store` keeps what
//! `docker login` sends (one entry per server URL: another user's entry docker stored there is
//! replaced); `erase` (`docker logout`) removes the entry stored under that very URL; `list`
//! shows only the entries docker stored or credd imported from docker, since `docker build`
//! sends every listed registry's credentials to the daemon. Errors go to stdout with exit 1, in
//! docker's words for a miss.

use std::ffi::OsString;
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use credd::client::{Client, ClientError};
use credd::docker::credential::{self as docker, Credentials};
use credd::on_demand::{UnlockError, with_unlocked_agent};
use credd_protocol::{Done, ErrorKind, Front, GetResult, Lookup, Operation, SetResult};

/// The `credd` subcommand.
pub const NAME: &str = "docker-credential";

/// The program name docker runs for `"credsStore": "credd"`.
pub const PROGRAM: &str = "docker-credential-credd";

/// How long docker may take to write its request.
const STDIN_WAIT: Duration = Duration::from_secs(10);

/// The most bytes of a request: a secret and room for the rest.
const REQUEST_LIMIT: usize = credd_protocol::MAX_SECRET_LEN * 2 + 16 * 1024;

/// The helper's arguments, when this process runs as `docker-credential-credd` or as
/// `credd docker-credential`.
pub fn requested() -> Option<Vec<OsString>> {
    super::front_args(PROGRAM, NAME)
}

/// Why an action failed: a message for docker's stdout.
enum Failed {
    /// docker's own words (a miss, a missing field).
    Docker(&'static str),
    /// credd's message.
    Error(anyhow::Error),
}

impl From<anyhow::Error> for Failed {
    fn from(error: anyhow::Error) -> Self {
        Self::Error(error)
    }
}

impl From<UnlockError> for Failed {
    fn from(error: UnlockError) -> Self {
        match error.kind() {
            Some(ErrorKind::NotFound) => Self::Docker(docker::NOT_FOUND),
            _ => Self::Error(error.into()),
        }
    }
}

/// Carries out `ACTION` and returns docker's exit code: 0, or 1 with the error on stdout.
pub fn run(socket: &Path, args: &[OsString]) -> ExitCode {
    let [action] = args else {
        println!("Usage: {PROGRAM} <store|get|erase|list|version>");
        return ExitCode::FAILURE;
    };
    let outcome = match action.to_str() {
        Some("get") => get(socket),
        Some("store") => store(socket),
        Some("erase") => erase(socket),
        Some("list") => list(socket),
        Some("version") => {
            println!("{PROGRAM} (credd) {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        _ => {
            println!("Unknown credential action `{}`", action.to_string_lossy());
            return ExitCode::FAILURE;
        }
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failed::Docker(message)) => {
            println!("{message}");
            ExitCode::FAILURE
        }
        Err(Failed::Error(error)) => {
            println!("credd: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// The whole of stdin.
fn read_request() -> Result<zeroize::Zeroizing<Vec<u8>>> {
    credd::stdin::stdin_within(REQUEST_LIMIT, STDIN_WAIT, |_| false)
        .context("cannot read docker's request")
}

/// The server URL on stdin, trimmed.
fn read_server_url() -> Result<String, Failed> {
    let input = read_request()?;
    let text = std::str::from_utf8(&input).context("the server URL on stdin is not UTF-8")?;
    let url = text.trim();
    if url.is_empty() {
        return Err(Failed::Docker(docker::MISSING_URL));
    }
    Ok(url.to_owned())
}

fn get(socket: &Path) -> Result<(), Failed> {
    let server_url = read_server_url()?;
    let found = with_unlocked_agent(socket, |client| {
        client.call::<GetResult>(Operation::get_for(
            Lookup::url(&server_url),
            Front::Docker,
            "get",
        ))
    })?;
    let entry = found.entry;
    let username = entry.username.as_deref().unwrap_or_default();
    let out = docker::get_answer(&server_url, username, &entry.secret);
    write_stdout(out.as_bytes())
}

fn store(socket: &Path) -> Result<(), Failed> {
    let input = read_request()?;
    let creds: Credentials = serde_json::from_slice(&input)
        .map_err(|_| anyhow::anyhow!("docker's request is not the JSON of a credential"))?;
    drop(input);
    if creds.server_url.trim().is_empty() {
        return Err(Failed::Docker(docker::MISSING_URL));
    }
    if creds.username.is_empty() {
        return Err(Failed::Docker(docker::MISSING_USERNAME));
    }
    with_unlocked_agent(socket, |client| {
        drop_other_users(client, &creds)?;
        let _: SetResult = client.call(Operation::Set {
            url: creds.server_url.clone(),
            username: Some(creds.username.clone()),
            secret: creds.secret.clone(),
            note: Some(docker::STORED_NOTE.to_owned()),
            expires: None,
        })?;
        Ok(())
    })?;
    Ok(())
}

/// docker keeps one credential per server URL: a `docker login` as another user replaces the
/// entry an earlier login stored there (never one added by hand), so that lookups of the URL
/// stay unambiguous.
fn drop_other_users(client: &mut Client, creds: &Credentials) -> Result<(), ClientError> {
    let exact = Lookup {
        exact: true,
        ..Lookup::url(&creds.server_url)
    };
    match client.call::<GetResult>(Operation::get_for(exact.clone(), Front::Docker, "get")) {
        Ok(found)
            if docker::from_docker(found.entry.note.as_deref())
                && found.entry.username.as_deref() != Some(creds.username.as_str()) =>
        {
            let _: Done = client.call(Operation::Delete {
                lookup: Lookup::name(found.entry.name),
            })?;
            Ok(())
        }
        Ok(_) => Ok(()),
        Err(error)
            if matches!(
                error.kind(),
                Some(ErrorKind::NotFound | ErrorKind::Ambiguous)
            ) =>
        {
            Ok(())
        }
        Err(error) => Err(error),
    }
}

fn erase(socket: &Path) -> Result<(), Failed> {
    let server_url = read_server_url()?;
    let _: Done = with_unlocked_agent(socket, |client| {
        client.call(Operation::Delete {
            lookup: Lookup {
                exact: true,
                ..Lookup::url(&server_url)
            },
        })
    })?;
    Ok(())
}

fn list(socket: &Path) -> Result<(), Failed> {
    let entries = with_unlocked_agent(socket, Client::list_all)?;
    let accounts = entries
        .into_iter()
        .filter(|e| docker::from_docker(e.note.as_deref()))
        .map(|e| (e.url, e.username.unwrap_or_default()))
        .collect();
    write_stdout(docker::list_answer(accounts).as_bytes())
}

fn write_stdout(bytes: &[u8]) -> Result<(), Failed> {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(bytes)
        .and_then(|()| stdout.flush())
        .context("cannot write to stdout")?;
    Ok(())
}
