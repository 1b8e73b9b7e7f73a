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
use credd_protocol::{
    Done, Entry, ErrorKind, Front, GetFirstResult, GetResult, Lookup, Operation, SetResult,
};

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
    let input = credd::stdin::stdin_within(REQUEST_LIMIT, STDIN_WAIT, git::is_complete)
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
            expires: request.password_expiry,
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
/// when git sent none). Both in one `get-first`.
fn find(
    client: &mut Client,
    request: &Request,
    services: &Services,
) -> Result<Option<Entry>, ClientError> {
    let [by_url, by_host] = [&services.url, &services.host]
        .map(|service| Lookup::url(service).username(request.username.clone()));
    // The host rule among the entries of git's protocol only: one of another scheme on the host
    // would be refused below and hide one that fits.
    let lookups = [by_url, by_host.scheme(request.protocol.clone())];
    let both = Operation::get_first_for(lookups.to_vec(), Front::Git, "get");
    let answer = match client.call::<GetFirstResult>(both) {
        Err(error) if error.kind() == Some(ErrorKind::UnsupportedOperation) => {
            one_at_a_time(client, lookups)?
        }
        result => found(result.map(|first| (first.lookup, first.found.entry)))?,
    };
    let by_url_rules = |lookup: u32| lookup == 0;
    Ok(answer
        .filter(|(lookup, entry)| {
            by_url_rules(*lookup) || request.host_rule_fits(services, &entry.url)
        })
        .map(|(_, entry)| entry))
}

/// What `get-first` answers, asked one `get` per lookup: of an agent from before `get-first`,
/// still running after an upgrade.
fn one_at_a_time(
    client: &mut Client,
    lookups: [Lookup; 2],
) -> Result<Option<(u32, Entry)>, ClientError> {
    for (index, lookup) in (0..).zip(lookups) {
        let got = client.call::<GetResult>(Operation::get_for(lookup, Front::Git, "get"));
        if let Some(answer) = found(got.map(|got| (index, got.entry)))? {
            return Ok(Some(answer));
        }
    }
    Ok(None)
}

/// The answer of a lookup, None for a miss.
fn found<T>(result: Result<T, ClientError>) -> Result<Option<T>, ClientError> {
    match result {
        Ok(answer) => Ok(Some(answer)),
        Err(error) if error.kind() == Some(ErrorKind::NotFound) => Ok(None),
        Err(error) => Err(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader};
    use std::os::unix::net::UnixListener;

    /// An agent from before `get-first` on `listener`: it refuses `get-first`, misses every
    /// `get` but one for `h.test`; returns the operations it was asked, once the client hangs up.
    fn agent_before_get_first(listener: UnixListener) -> std::thread::JoinHandle<Vec<String>> {
        std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut writer = stream.try_clone().unwrap();
            let mut asked = Vec::new();
            for line in BufReader::new(stream).lines() {
                let request: serde_json::Value = serde_json::from_str(&line.unwrap()).unwrap();
                let op = request["op"].as_str().unwrap().to_owned();
                let mut reply = match (op.as_str(), request["url"].as_str()) {
                    ("get", Some("h.test")) => serde_json::json!({"ok": {"entry":
                        {"name": "h", "url": "h.test", "username": "me", "secret": "pw"}}}),
                    ("get", _) => serde_json::json!({"error": {"kind": "not-found",
                        "message": "no entry serves it"}}),
                    _ => serde_json::json!({"error": {"kind": "unsupported-operation",
                        "message": "unknown operation"}}),
                };
                reply["id"] = request["id"].clone();
                writeln!(writer, "{reply}").unwrap();
                asked.push(format!(
                    "{op} {}",
                    request["url"].as_str().unwrap_or_default()
                ));
            }
            asked
        })
    }

    #[test]
    fn an_agent_from_before_get_first_is_asked_one_get_at_a_time() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        let socket = dir.path().join("credd.sock");
        let agent = agent_before_get_first(UnixListener::bind(&socket).unwrap());
        let request = git::parse(b"protocol=https\nhost=h.test\n\n").unwrap();
        let services = request.services().unwrap();
        let mut client = Client::connect(&socket).unwrap();
        let entry = find(&mut client, &request, &services).unwrap().unwrap();
        assert_eq!(entry.name, "h");
        drop(client);
        let asked = agent.join().unwrap();
        assert_eq!(asked, ["get-first ", "get https://h.test/", "get h.test"]);
    }
}
