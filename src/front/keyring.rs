//! `keyring`: the command line of Python's keyring (`get`, `set`, `del`), answered by the agent,
//! for uv and pip (`--keyring-provider subprocess`), which run it for every index they log in to.
//! credd is this command when it runs under the name `keyring` (a symlink to credd on PATH) and as
//! `credd keyring ARGS…`. Both are dispatched before clap parses anything: the arguments are
//! keyring's own ([`credd::keyring_cli`]), and the process should cost little more than its one
//! round trip to the agent.
//!
//! As with the Python command, a miss exits 1 with nothing on stdout, a usage error exits 2.
//! Every other failure exits 1 with credd's message on stderr; a locked agent is unlocked as for
//! the Cargo provider ([`credd::on_demand`]). When no agent runs, one is started, as for Cargo:
//! an agent started on demand unlocks itself from the OS keychain when its key is remembered
//! there (or with the keyring store), and otherwise the command fails at once with credd's
//! "locked" message (or asks on the terminal, when there is one); uv and pip then go on without
//! credentials, as for a miss.
//!
//! Run by `uv publish`, `get` asks for the service's publish credential, with the step-up on the
//! terminal ([`credd::step_up`]); without a terminal it fails at once naming what to do.

use std::ffi::OsString;
use std::io::{IsTerminal, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use credd::keyring_cli::{self, Action, Invocation, Parsed};
use credd::on_demand::with_unlocked_agent;
use credd::step_up;
use credd_protocol::{Done, ErrorKind, Front, GetResult, Lookup, Operation, Secret, SetResult};
use zeroize::Zeroizing;

/// The program name, and the `credd` subcommand, that select this command.
pub const NAME: &str = "keyring";

/// The username an entry without one answers to (the convention of Python package indexes for
/// a token), printed by `--mode creds` when the query named no username; credd's Python backend
/// answers the same (`_credential` in integrations/python/credd_keyring.py).
const TOKEN_USERNAME: &str = "__token__";

/// How long `set` waits for the password on stdin.
const STDIN_WAIT: Duration = Duration::from_secs(10);

/// How long `set` waits for the password to be typed on the terminal.
const TYPING_WAIT: Duration = Duration::from_secs(120);

/// The note of an entry `set` adds.
const NOTE: &str = "stored by keyring set";

/// keyring's arguments, when this process runs as `keyring` or as `credd keyring`.
pub fn requested() -> Option<Vec<OsString>> {
    super::front_args(NAME, NAME)
}

/// Carries out one keyring command line and returns its exit code.
pub fn run(socket: &Path, args: &[OsString]) -> ExitCode {
    let invocation = match keyring_cli::parse(args) {
        Ok(Parsed::Run(invocation)) => invocation,
        Ok(Parsed::Help) => {
            print!("{}", keyring_cli::HELP);
            return ExitCode::SUCCESS;
        }
        Err(error) => {
            eprintln!("{}keyring: error: {error}", keyring_cli::USAGE);
            return ExitCode::from(2);
        }
    };
    match carry_out(socket, &invocation) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failed::Miss) => ExitCode::FAILURE,
        Err(Failed::Error(error)) => {
            super::print_error(&error);
            ExitCode::FAILURE
        }
    }
}

/// How a command failed: a miss is silent, as in the Python command.
enum Failed {
    Miss,
    Error(anyhow::Error),
}

impl From<anyhow::Error> for Failed {
    fn from(error: anyhow::Error) -> Self {
        Self::Error(error)
    }
}

fn carry_out(socket: &Path, invocation: &Invocation) -> Result<(), Failed> {
    match invocation.action {
        Action::Get => get(socket, invocation),
        Action::Set => Ok(set(socket, invocation)?),
        Action::Del => Ok(del(socket, invocation)?),
    }
}

/// The entry for the service (and username), printed as the Python command prints it. Run by
/// `uv publish`, it asks for the service's publish credential, with the step-up on the terminal.
fn get(socket: &Path, invocation: &Invocation) -> Result<(), Failed> {
    let lookup = Lookup::url(&invocation.service).username(invocation.username.clone());
    let found = match publishing_parent() {
        Some(command) => {
            let what = format!("{command} to {}", invocation.service);
            let lookup = lookup.for_publish();
            step_up::get_unlocked(socket, &lookup, Front::Keyring, &command, &what)
        }
        None => with_unlocked_agent(socket, |client| {
            client.call::<GetResult>(Operation::get_for(lookup.clone(), Front::Keyring, "get"))
        })
        .map_err(step_up::StepUpError::Unlock),
    };
    let entry = match found {
        Ok(found) => found.entry,
        Err(error) if error.kind() == Some(ErrorKind::NotFound) => return Err(Failed::Miss),
        Err(error) => return Err(Failed::Error(error.into())),
    };
    // The username asked for, as keyring's get_credential answers; else the entry's own.
    let username = invocation
        .username
        .as_deref()
        .or(entry.username.as_deref())
        .unwrap_or(TOKEN_USERNAME);
    let out = keyring_cli::render(
        invocation.mode,
        invocation.format,
        username,
        entry.secret.expose(),
    );
    write_stdout(&out).map_err(Failed::Error)
}

/// `uv publish` when the process that ran this command is uv publishing, else None: uv sets
/// nothing that says so, and runs this command directly, so its command line tells: its
/// subcommand is `publish`. Only which credential is asked for depends on it; the agent still
/// wants the step-up.
fn publishing_parent() -> Option<String> {
    let parent = std::os::unix::process::parent_id();
    let cmdline = std::fs::read(format!("/proc/{parent}/cmdline")).ok()?;
    let mut args = cmdline.split(|&b| b == 0);
    let program = Path::new(std::ffi::OsStr::from_bytes(args.next()?)).file_name()?;
    (program == "uv" && uv_subcommand(args) == Some(b"publish")).then(|| "uv publish".to_owned())
}

/// uv's global options whose value is the next argument.
const UV_VALUE_OPTIONS: &[&[u8]] = &[
    b"--directory",
    b"--project",
    b"--config-file",
    b"--cache-dir",
    b"--color",
    b"--python-preference",
    b"--allow-insecure-host",
];

/// The subcommand in uv's arguments (after the program): the first that is neither an option
/// nor a global option's value. `uv run x publish` is not publishing.
fn uv_subcommand<'a>(mut args: impl Iterator<Item = &'a [u8]>) -> Option<&'a [u8]> {
    while let Some(arg) = args.next() {
        if UV_VALUE_OPTIONS.contains(&arg) {
            args.next();
        } else if !arg.starts_with(b"-") {
            return Some(arg);
        }
    }
    None
}

/// Stores the password read from stdin (or typed on the terminal) for the service and username.
fn set(socket: &Path, invocation: &Invocation) -> Result<()> {
    let username = invocation.username.as_deref().unwrap_or_default();
    let password = read_password(&invocation.service, username)?;
    let _: SetResult = with_unlocked_agent(socket, |client| {
        client.call(Operation::Set {
            url: invocation.service.clone(),
            username: (!username.is_empty()).then(|| username.to_owned()),
            secret: password.clone(),
            note: Some(NOTE.into()),
            expires: None,
        })
    })?;
    Ok(())
}

/// Removes the entry that `get` with the same arguments prints.
fn del(socket: &Path, invocation: &Invocation) -> Result<()> {
    let lookup = Lookup::url(&invocation.service).username(invocation.username.clone());
    let _: Done = with_unlocked_agent(socket, |client| {
        client.call(Operation::Delete {
            lookup: lookup.clone(),
        })
    })?;
    Ok(())
}

/// keyring's `input_password`: all of stdin less one final newline when stdin is not a
/// terminal; when it is one, or nothing was piped in, asked on the terminal.
fn read_password(service: &str, username: &str) -> Result<Secret> {
    if !std::io::stdin().is_terminal() {
        let piped = read_stdin()?;
        let password = keyring_cli::piped_password(&piped);
        if !password.is_empty() {
            let text =
                std::str::from_utf8(password).context("the password on stdin is not UTF-8")?;
            return Ok(Secret::new(text));
        }
    }
    if !credd::tty::has_tty() {
        bail!(
            "no password on stdin and no terminal to ask on: pipe it in, as in 'keyring set SERVICE USERNAME < FILE'"
        );
    }
    let prompt = format!("Password for '{username}' in '{service}': ");
    let typed = credd::tty::read_hidden_within(&prompt, TYPING_WAIT)
        .context("cannot read the password from the terminal")?;
    // getpass drops the newline alone.
    Ok(Secret::new(typed.strip_suffix('\n').unwrap_or(&typed)))
}

/// All of stdin, at most one byte more than a secret may have, within [`STDIN_WAIT`].
fn read_stdin() -> Result<Zeroizing<Vec<u8>>> {
    use credd::stdin::{StdinError, stdin_within};
    stdin_within(credd_protocol::MAX_SECRET_LEN + 1, STDIN_WAIT, |_| false).map_err(|e| match e {
        StdinError::TimedOut(_) => {
            anyhow::anyhow!(
                "no end of the password on stdin within {STDIN_WAIT:?}: close stdin after it"
            )
        }
        StdinError::TooLong(_) => anyhow::anyhow!(
            "the password on stdin is longer than credd's limit of {} bytes",
            credd_protocol::MAX_SECRET_LEN
        ),
        StdinError::Io(e) => anyhow::Error::new(e).context("cannot read the password from stdin"),
    })
}

/// Writes `bytes` to stdout in one write.
fn write_stdout(bytes: &[u8]) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(bytes)?;
    stdout.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subcommand(line: &str) -> Option<String> {
        let args = line.split(' ').map(str::as_bytes);
        uv_subcommand(args).map(|a| String::from_utf8(a.to_vec()).unwrap())
    }

    #[test]
    fn the_uv_subcommand_is_the_first_word_past_the_global_options() {
        assert_eq!(subcommand("publish dist/*").as_deref(), Some("publish"));
        assert_eq!(
            subcommand("--directory publish -q --project=p --cache-dir /c publish").as_deref(),
            Some("publish")
        );
        assert_eq!(subcommand("run twine publish").as_deref(), Some("run"));
        assert_eq!(
            subcommand("--project publish pip install x").as_deref(),
            Some("pip")
        );
        assert_eq!(subcommand("--offline").as_deref(), None);
    }
}
