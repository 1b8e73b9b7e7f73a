//! The `credd` command line: one module per command.

mod add;
mod allow;
mod ci;
mod daemon;
mod date;
mod exec;
mod forget;
mod get;
mod import;
mod init;
mod input;
mod list;
mod lock;
mod log;
mod passwd;
mod refresh;
mod remove;
mod setup;
mod status;
mod stop;
mod team;
mod token;
mod unlock;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

use crate::front::{self, connect};

const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  error
  2  usage error
  3  credd is locked: run 'credd unlock'
  4  no such entry";

/// credd: an agent that keeps private-registry tokens encrypted at rest and serves them to Cargo
/// and Poetry from memory.
#[derive(Debug, Parser)]
#[command(name = "credd", version, after_help = EXIT_CODES)]
pub struct Cli {
    /// The agent's socket [default: $XDG_RUNTIME_DIR/credd/credd.sock, else
    /// /run/user/$UID/credd/credd.sock when that directory is yours and private, else
    /// ${TMPDIR:-/tmp}/credd-$UID/credd.sock]
    #[arg(long, global = true, env = "CREDD_SOCKET", value_name = "PATH")]
    socket: Option<PathBuf>,
    /// Speak Cargo's credential-provider protocol on stdin and stdout: what Cargo runs once
    /// 'credd setup cargo' made credd its provider
    #[arg(long, exclusive = true)]
    cargo_plugin: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create a new vault, or with --store keyring a store in the OS keychain (refuses to
    /// overwrite either), and unlock it.
    Init(init::Args),
    /// Decrypt the vault into the agent (offers to create a vault when there is none).
    Unlock(unlock::Args),
    /// Wipe every secret from the agent's memory.
    Lock,
    /// Remove the vault key that 'credd unlock --remember' keeps in the OS keychain.
    Forget,
    /// Show whether the agent is locked, and when it will lock itself.
    Status(status::Args),
    /// Store a credential; the secret is read from the terminal or stdin, never from arguments.
    Add(add::Args),
    /// Print a credential's secret (alone, for scripts), by name or by registry URL.
    Get(get::Args),
    /// List the stored credentials (never their secrets).
    List(list::Args),
    /// Let the next request for a publish credential through without a terminal, once, after
    /// you type the credd passphrase here.
    Allow(allow::Args),
    /// Show the recent lookups: who asked (process and parents), for which entry, what for, and
    /// the outcome; '?' marks callers that are not a known tool of their front.
    Log(log::Args),
    /// Delete a credential.
    Remove(remove::Args),
    /// Mint a new token for a source entry now (credd refreshes ahead of expiry by itself), or
    /// read a team's entries from its server now.
    Refresh(refresh::Args),
    /// Teams: registry credentials read from a team's OpenBao server ([[team]] in config.toml).
    #[command(subcommand)]
    Team(team::Command),
    /// Change the vault's passphrase.
    Passwd(passwd::Args),
    /// Run the agent in the foreground, logging to stderr, or to journald under systemd (level
    /// from CREDD_LOG, e.g. debug).
    Daemon,
    /// Wipe every secret and stop the agent.
    Stop,
    /// Configure a tool to use credd: Cargo, Poetry, or systemd to start the agent on demand.
    Setup(setup::Args),
    /// Move a tool's plaintext credentials (credentials.toml, auth.toml) into credd.
    Import(import::Args),
    /// Print the token for a registry URL, for `cargo:token-from-stdout credd token`.
    Token(token::Args),
    /// Run a command (Poetry) with the credentials of its project's sources in Poetry's
    /// environment variables, for places where Poetry's keyring is disabled.
    ///
    /// `credd exec -- poetry ARGS…` sets POETRY_HTTP_BASIC_<SOURCE>_USERNAME/_PASSWORD for each
    /// source of the project's pyproject.toml that a credd entry serves, and for
    /// `poetry publish -r NAME` that repository's credentials (POETRY_PYPI_TOKEN_<NAME> for a
    /// token). The command is run directly, without a shell.
    Exec(exec::Args),
    /// The command line of Python's keyring (get, set, del), answered by the agent, for uv and
    /// pip (`--keyring-provider subprocess`).
    ///
    /// `credd keyring get SERVICE USERNAME` prints the password; `--mode creds` the username and
    /// the password; `--output json` one JSON object; `set` stores the password from stdin; `del`
    /// removes it. A miss exits 1 with nothing printed, a usage error 2. credd is this command
    /// when it runs as `keyring`: put a symlink named `keyring` to credd on PATH for uv and pip.
    #[command(disable_help_flag = true)]
    Keyring(KeyringArgs),
    /// git's credential helper (get, store, erase), answered by the agent, for git and for
    /// Cargo's git fetches (libgit2 or the git command).
    ///
    /// git runs it as `git credential-credd [--store-new] get|store|erase` once `credd setup git`
    /// set `credential.helper`; credd is this command when it runs as `git-credential-credd`
    /// (the symlink `credd setup git` makes). `get` prints the username and password of the entry
    /// serving `protocol://host/path`, else `host[:port]`, and nothing for a miss. `store` saves
    /// what git confirmed only with --store-new; `erase` removes a rejected password only from an
    /// entry credd took from git (stored or imported), and names any other.
    #[command(name = "git-credential")]
    GitCredential(PassedArgs),
    /// docker's credential helper (get, store, erase, list, version), answered by the agent.
    ///
    /// docker runs `docker-credential-credd ACTION` once `credd setup docker` named credd in
    /// config.json (and linked docker-credential-credd to credd). `get` prints the entry serving
    /// the server URL on stdin as docker's JSON; `store` keeps what `docker login` sends; `erase`
    /// removes the entry stored under that URL; `list` shows the entries docker stored or credd
    /// imported from docker. Errors go to stdout with exit 1, as docker expects.
    #[command(name = "docker-credential")]
    DockerCredential(PassedArgs),
    /// Run one CI job under a memory-only agent: `credd ci [--entries-fd N] -- COMMAND ARGS…`.
    ///
    /// Reads `{"entries": [ENTRY, …]}` (each ENTRY as in the protocol's `put`: static secrets and
    /// sources) from stdin or descriptor N, never from arguments or the environment; keeps
    /// nothing on disk; runs COMMAND (without a shell) with CREDD_SOCKET naming its agent, so
    /// every credd front in the job is served from memory; then wipes everything, stops, and
    /// exits with COMMAND's exit code. `--unset VAR` removes the CI variable that held the
    /// document from the job's environment. The global --socket is not used.
    Ci(ci::Args),
}

/// The arguments of a command that parses its own: git's or docker's helper protocol.
#[derive(Debug, clap::Args)]
struct PassedArgs {
    /// The options and the operation, as the tool passes them
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, num_args = 0..)]
    args: Vec<std::ffi::OsString>,
}

/// The arguments of `credd keyring`: keyring's own, parsed by [`credd::keyring_cli`].
#[derive(Debug, clap::Args)]
struct KeyringArgs {
    /// keyring's options and operation, as for Python's `keyring` (`--help` lists them)
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, num_args = 0..)]
    args: Vec<std::ffi::OsString>,
}

/// Runs the command line and returns the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let socket = cli
        .socket
        .clone()
        .unwrap_or_else(credd::paths::default_socket);
    let Some(command) = cli.command else {
        if cli.cargo_plugin {
            // Reached only when the flag was not first (the fronts take that case first).
            return front::cargo_plugin::run();
        }
        eprint!("{}", Cli::command().render_help());
        return ExitCode::from(2);
    };
    run(&socket, command)
}

/// Carries out one command and returns the process exit code.
fn run(socket: &std::path::Path, command: Command) -> ExitCode {
    let socket = socket.to_path_buf();
    let result = match command {
        Command::Init(args) => init::run(&socket, args),
        Command::Unlock(args) => unlock::run(&socket, args),
        Command::Lock => lock::run(&socket),
        Command::Forget => forget::run(&socket),
        Command::Status(args) => status::run(&socket, args),
        Command::Add(args) => add::run(&socket, args),
        Command::Get(args) => get::run(&socket, args),
        Command::List(args) => list::run(&socket, args),
        Command::Allow(args) => allow::run(&socket, args),
        Command::Log(args) => log::run(&socket, args),
        Command::Remove(args) => remove::run(&socket, args),
        Command::Passwd(args) => passwd::run(&socket, args),
        Command::Daemon => daemon::run(&socket),
        Command::Stop => stop::run(&socket),
        Command::Setup(args) => setup::run(&socket, args),
        Command::Import(args) => import::run(&socket, args),
        Command::Token(args) => token::run(&socket, args),
        Command::Exec(args) => exec::run(&socket, args),
        // keyring's exit codes are its own (1 for a miss, 2 for a usage error).
        Command::Keyring(keyring) => return front::keyring::run(&socket, &keyring.args),
        Command::GitCredential(passed) => {
            return front::git_credential::run(&socket, &passed.args);
        }
        Command::DockerCredential(passed) => {
            return front::docker_credential::run(&socket, &passed.args);
        }
        Command::Refresh(args) => refresh::run(&socket, args),
        Command::Team(command) => team::run(&socket, command),
        Command::Ci(args) => return ci::run(args),
    };
    front::exit_with(result)
}
