//! `credd ci`: a memory-only agent for one CI job.
//!
//! The entries (static secrets and sources) arrive as one JSON document on stdin, on a file
//! descriptor or in a file removed once read, never in argv or the environment. The agent runs inside this process, unlocked,
//! with nothing on disk but its socket, in a private directory of its own; the job runs as a
//! child with `CREDD_SOCKET` naming that socket (a path, not a secret), so every credd front in
//! it (Cargo's provider, the keyring command and backend, `credd get`, the git and docker
//! helpers) reaches this agent. SIGTERM and SIGINT go on to the job's process group; when the
//! job ends the agent wipes everything and stops, and `credd ci` exits with the job's exit code.

use std::ffi::OsString;
use std::io::Read;
use std::os::fd::{AsFd, FromRawFd, OwnedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use credd::agent::{AgentOptions, run as run_agent};
use credd::client::Client;
use credd_protocol::{Done, Entry, Operation, PutResult};
use serde::Deserialize;
use zeroize::Zeroizing;

/// The largest entries document read.
const MAX_DOCUMENT: u64 = 16 * 1024 * 1024;
/// How long the agent may take to listen.
const START_LIMIT: Duration = Duration::from_secs(10);

/// Options of `credd ci`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Read the entries from this open file descriptor (e.g. 3, with `3<FILE` in the shell)
    /// instead of stdin, leaving stdin to the job
    #[arg(long, value_name = "N", conflicts_with = "entries_file")]
    entries_fd: Option<i32>,
    /// Read the entries from this file instead of stdin (e.g. a CI file variable), leaving stdin
    /// to the job
    #[arg(long, value_name = "PATH")]
    entries_file: Option<PathBuf>,
    /// Remove the --entries-file once read, before the job starts, so the job cannot read it
    #[arg(long, requires = "entries_file")]
    remove_file: bool,
    /// Remove this variable from the job's environment (e.g. the CI variable naming the entries
    /// file); may be repeated. It cleans the job's environment only, not that of the shell
    /// that runs `credd ci`: see the README's recipes
    #[arg(long = "unset", value_name = "VAR")]
    unset: Vec<OsString>,
    /// The job: a program and its arguments, run without a shell
    #[arg(trailing_var_arg = true, required = true, num_args = 1.., value_name = "COMMAND")]
    command: Vec<OsString>,
}

/// The entries document: `{"entries": [ENTRY, …]}`, each ENTRY as `put` takes it.
#[derive(Deserialize)]
struct Document {
    entries: Vec<Entry>,
}

/// Runs the job under a memory-only agent and returns its exit code.
pub fn run(args: Args) -> ExitCode {
    match run_job(args) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("credd ci: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run_job(args: Args) -> Result<ExitCode> {
    // Before the agent raises it for itself: the job gets the limit it would have had.
    let open_files = rustix::process::getrlimit(rustix::process::Resource::Nofile);
    let entries = read_entries(&args)?;
    let dir = private_dir()?;
    let socket = dir.join("credd.sock");
    let agent = start_agent(&dir, &socket)?;
    let outcome = put_all(&socket, entries).and_then(|()| run_child(&args, &socket, open_files));
    stop_agent(&socket, agent);
    let _ = std::fs::remove_dir_all(&dir);
    outcome
}

/// The entries from the descriptor or file the arguments name, else stdin; errors name a
/// position, never a value.
fn read_entries(args: &Args) -> Result<Vec<Entry>> {
    let mut text = Zeroizing::new(Vec::with_capacity(64 * 1024));
    let (file, what) = entries_input(args)?;
    let read = std::fs::File::from(file)
        .take(MAX_DOCUMENT + 1)
        .read_to_end(&mut text)
        .with_context(|| format!("cannot read the entries from {what}"));
    if let (Some(path), true) = (&args.entries_file, args.remove_file) {
        std::fs::remove_file(path)
            .with_context(|| format!("cannot remove {} (--remove-file)", path.display()))?;
    }
    read?;
    if text.len() as u64 > MAX_DOCUMENT {
        bail!("the entries document is larger than {MAX_DOCUMENT} bytes");
    }
    let document: Document = serde_json::from_slice(&text).map_err(|e| {
        anyhow::anyhow!(
            "the entries are not a JSON document {{\"entries\": [ENTRY, …]}} (line {}, column \
             {}): see 'credd ci --help'",
            e.line(),
            e.column()
        )
    })?;
    Ok(document.entries)
}

/// The open input holding the entries document, and how errors name it.
fn entries_input(args: &Args) -> Result<(OwnedFd, String)> {
    if let Some(path) = &args.entries_file {
        let file = std::fs::File::open(path)
            .with_context(|| format!("cannot open the entries file {}", path.display()))?;
        return Ok((file.into(), path.display().to_string()));
    }
    Ok(match args.entries_fd {
        Some(fd) if fd < 3 => {
            bail!("--entries-fd must be 3 or higher: 0, 1 and 2 are stdin, stdout and stderr")
        }
        // SAFETY: the descriptor is handed to us to read and nothing else in this process uses
        // it; owning it closes it before the job starts.
        Some(fd) => (
            unsafe { OwnedFd::from_raw_fd(fd) },
            format!("descriptor {fd}"),
        ),
        // A descriptor of its own: std's stdin buffer would keep a copy nothing wipes.
        None => (
            std::io::stdin()
                .as_fd()
                .try_clone_to_owned()
                .context("cannot read stdin")?,
            "stdin".to_owned(),
        ),
    })
}

/// A new directory closed to others, for the socket: under `XDG_RUNTIME_DIR`, else `TMPDIR`,
/// else `/tmp`, with a random name and made by this process (an existing one is never taken
/// over, nor later removed).
fn private_dir() -> Result<PathBuf> {
    use std::os::unix::fs::DirBuilderExt;
    let base = ["XDG_RUNTIME_DIR", "TMPDIR"]
        .into_iter()
        .find_map(|name| std::env::var_os(name).filter(|v| !v.is_empty()))
        .map_or_else(|| PathBuf::from("/tmp"), PathBuf::from);
    let mut random = [0u8; 12];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut random))
        .context("cannot read /dev/urandom for the socket directory's name")?;
    let name: String = random.iter().map(|b| format!("{b:02x}")).collect();
    let dir = base.join(format!("credd-ci-{name}"));
    // mkdir fails on anything already there, a link included.
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&dir)
        .with_context(|| format!("cannot make the private directory {}", dir.display()))?;
    Ok(dir)
}

/// Starts the agent on a thread of its own and waits until it listens.
fn start_agent(dir: &Path, socket: &Path) -> Result<std::thread::JoinHandle<Result<()>>> {
    let options = AgentOptions {
        socket: socket.into(),
        // Never written: a memory agent only locks files beside it.
        vault: dir.join("vault"),
        config: credd::paths::config_file(),
        activated: None,
        ready: None,
        memory: true,
    };
    let agent = std::thread::spawn(move || {
        let runtime = credd::agent::runtime().context("cannot start the async runtime")?;
        let result = runtime.block_on(run_agent(options));
        runtime.shutdown_timeout(Duration::from_secs(1));
        Ok(result?)
    });
    let started = Instant::now();
    while Client::connect(socket).is_err() {
        if agent.is_finished() {
            let result = agent
                .join()
                .map_err(|_| anyhow::anyhow!("the agent panicked"))?;
            result.context("the agent did not start")?;
            bail!("the agent stopped before it listened");
        }
        if started.elapsed() > START_LIMIT {
            bail!("the agent did not listen within {START_LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(agent)
}

/// Stores every entry in the agent, with the checks of `put`.
fn put_all(socket: &Path, entries: Vec<Entry>) -> Result<()> {
    let mut client = Client::connect(socket)?;
    for entry in entries {
        let name = entry.name.clone();
        let _: PutResult = client
            .call(Operation::Put {
                entry,
                replace: false,
            })
            .with_context(|| format!("the entry {name:?} is refused"))?;
    }
    Ok(())
}

/// Runs the job with the agent's socket in its environment, in a process group of its own to
/// which SIGTERM and SIGINT sent to `credd ci` are passed on (a CI runner cancelling the job
/// signals only it); its exit code, or 128 + the signal that killed it, as shells report it.
/// The job gets back the open-files limit `credd ci` started with; core dumps stay off for it
/// (the agent set the hard limit to 0, which only root could raise again).
fn run_child(args: &Args, socket: &Path, open_files: rustix::process::Rlimit) -> Result<ExitCode> {
    let (program, rest) = args.command.split_first().context("no command given")?;
    let mut command = Command::new(program);
    command
        .args(rest)
        .env("CREDD_SOCKET", socket)
        .process_group(0);
    // SAFETY: setrlimit is a single system call, safe between fork and exec.
    unsafe {
        command.pre_exec(move || {
            let _ = rustix::process::setrlimit(rustix::process::Resource::Nofile, open_files);
            Ok(())
        });
    }
    for name in &args.unset {
        command.env_remove(name);
    }
    if args.entries_fd.is_none() && args.entries_file.is_none() {
        // Stdin carried the entries; the job must not read on from it.
        command.stdin(Stdio::null());
    }
    // Listening before the job starts: a signal in between is passed on too.
    let signals = Signals::listen()?;
    let mut child = command
        .spawn()
        .with_context(|| format!("cannot run {}", Path::new(program).display()))?;
    signals.forward_to(child.id());
    let status = child.wait().context("cannot wait for the job")?;
    let code = status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(1);
    Ok(ExitCode::from(u8::try_from(code).unwrap_or(1)))
}

/// SIGTERM and SIGINT, caught for passing on to the job (the agent in this process leaves them
/// alone).
struct Signals {
    runtime: tokio::runtime::Runtime,
    terminate: tokio::signal::unix::Signal,
    interrupt: tokio::signal::unix::Signal,
}

impl Signals {
    fn listen() -> Result<Signals> {
        use tokio::signal::unix::{SignalKind, signal};
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
            .context("cannot start the signal runtime")?;
        let _entered = runtime.enter();
        let fail = "cannot catch SIGTERM and SIGINT";
        Ok(Signals {
            terminate: signal(SignalKind::terminate()).context(fail)?,
            interrupt: signal(SignalKind::interrupt()).context(fail)?,
            runtime,
        })
    }

    /// Passes every signal caught from now on to the process group `job`, on a thread that
    /// ends with the process.
    fn forward_to(mut self, job: u32) {
        use rustix::process::{Pid, Signal, kill_process_group};
        let Some(group) = i32::try_from(job).ok().and_then(Pid::from_raw) else {
            return;
        };
        std::thread::spawn(move || {
            self.runtime.block_on(async {
                loop {
                    let signal = tokio::select! {
                        Some(()) = self.terminate.recv() => Signal::TERM,
                        Some(()) = self.interrupt.recv() => Signal::INT,
                        else => break,
                    };
                    // The group is gone once the job and its children exited: nothing to do.
                    let _ = kill_process_group(group, signal);
                }
            });
        });
    }
}

/// Stops the agent (it wipes everything) and waits for its thread.
fn stop_agent(socket: &Path, agent: std::thread::JoinHandle<Result<()>>) {
    let stopped = Client::connect(socket).and_then(|mut c| c.call::<Done>(Operation::Stop));
    if let Err(error) = stopped {
        eprintln!("credd ci: cannot stop the agent: {error}");
        return;
    }
    match agent.join() {
        Ok(Ok(())) => {}
        Ok(Err(error)) => eprintln!("credd ci: the agent failed: {error:#}"),
        Err(_) => eprintln!("credd ci: the agent panicked"),
    }
}
