//! The fronts: what tools run for every networked command, and the plain lookups scripts run.
//! Each answers with one round trip to the agent and is chosen before any command-line parser
//! is built, so that it costs little more than that round trip. Both binaries serve them: the
//! small `credd` (src/main.rs), which hands every other command to `credd-full`, and
//! `credd-full` itself (src/full.rs), whose parser also reaches them with options (`--socket`).

pub mod cargo_plugin;
pub mod docker_credential;
pub mod git_credential;
pub mod keyring;
pub mod lookup;

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use credd::client::{Client, ClientError};
use credd_protocol::ErrorKind;

/// Serves the request when this process runs as one of the fronts (by its program name, its
/// first argument, or a plain lookup) and returns the exit code; None for any other command line.
pub fn dispatch() -> Option<ExitCode> {
    if cargo_plugin::requested() {
        return Some(cargo_plugin::run());
    }
    if let Some(args) = keyring::requested() {
        return Some(keyring::run(&socket_from_env(), &args));
    }
    if let Some(args) = git_credential::requested() {
        return Some(git_credential::run(&socket_from_env(), &args));
    }
    if let Some(args) = docker_credential::requested() {
        return Some(docker_credential::run(&socket_from_env(), &args));
    }
    let plain = lookup::plain(std::env::args_os().skip(1))?;
    Some(exit_with(lookup::run(&socket_from_env(), plain)))
}

/// The socket of a front chosen before parsing: `CREDD_SOCKET`, else the default.
fn socket_from_env() -> PathBuf {
    std::env::var_os("CREDD_SOCKET")
        .filter(|socket| !socket.is_empty())
        .map_or_else(credd::paths::default_socket, PathBuf::from)
}

/// The arguments of a front chosen by name: the rest of argv when this process runs as
/// `program` (a link to credd), or after `credd SUBCOMMAND`; None otherwise.
fn front_args(program: &str, subcommand: &str) -> Option<Vec<OsString>> {
    let mut args = std::env::args_os();
    let run_as = args.next()?;
    if Path::new(&run_as).file_name() == Some(OsStr::new(program)) {
        return Some(args.collect());
    }
    let mut args = args.peekable();
    args.next_if(|arg| arg == subcommand)?;
    Some(args.collect())
}

/// The exit code of a command's outcome: 0, or its error printed and 3 for a locked agent, 4
/// for a missing entry, 1 for anything else.
pub fn exit_with(result: anyhow::Result<()>) -> ExitCode {
    let Err(error) = result else {
        return ExitCode::SUCCESS;
    };
    print_error(&error);
    let kind = error
        .chain()
        .find_map(|e| e.downcast_ref::<ClientError>())
        .and_then(ClientError::kind);
    match kind {
        Some(ErrorKind::Locked) => ExitCode::from(3),
        Some(ErrorKind::NotFound) => ExitCode::from(4),
        _ => ExitCode::FAILURE,
    }
}

/// Prints `credd: ERROR` on stderr in one write, so that the lines of tools that run several
/// credd processes at once (uv runs one `keyring` per index) do not interleave.
pub fn print_error(error: &anyhow::Error) {
    use std::io::Write;
    let line = format!("credd: {error:#}\n");
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

/// Connects to the agent, starting it when it is not running.
pub fn connect(socket: &Path) -> anyhow::Result<Client> {
    Ok(Client::connect_or_start(socket)?)
}
