//! The agent: holds decrypted credentials in memory and answers lookups over a local socket.
//!
//! Modeled on mini-redis: a [`listener::Listener`] accepts, a [`connection::Handler`] per
//! connection answers, a semaphore caps connections, and shutdown is a broadcast plus a drop
//! guard. Everything the handlers share lives in [`state::State`].

mod audit;
mod connection;
mod listener;
mod socket;
mod state;
pub mod systemd;
mod timer;

use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use sd_notify::NotifyState;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{Notify, Semaphore, broadcast, mpsc};

use crate::config::{Config, ConfigError};
use crate::store::Stores;
use crate::store::owner::{self, OwnerError};
pub use socket::SocketError;

/// Where the agent listens and what it reads.
#[derive(Debug)]
pub struct AgentOptions {
    /// The socket to listen on; with `activated`, where clients look for the agent.
    pub socket: PathBuf,
    /// The vault file.
    pub vault: PathBuf,
    /// The config file; `None` means the defaults.
    pub config: Option<PathBuf>,
    /// The listening socket systemd passed ([`systemd::take_listener`]), served instead of
    /// binding `socket`.
    pub activated: Option<UnixListener>,
    /// The pipe of the client that started this agent ([`crate::ready`]): told once the agent
    /// serves.
    pub ready: Option<std::fs::File>,
    /// Keep entries in memory only, unlocked from the start, and never touch the vault or the OS
    /// keychain (`credd ci`): `vault` then only names the private directory the agent locks.
    pub memory: bool,
}

/// Why the agent could not run.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The config file is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The socket cannot be used.
    #[error(transparent)]
    Socket(#[from] SocketError),
    /// Installing a signal handler failed.
    #[error("cannot install signal handlers: {0}")]
    Signals(std::io::Error),
    /// Another agent owns the vault, or its lock cannot be taken.
    #[error(transparent)]
    Owner(#[from] OwnerError),
    /// The vault's directory cannot be made private.
    #[error(transparent)]
    VaultDir(#[from] crate::private_dir::PrivateDirError),
}

/// How many clients over the connection cap are told `busy` at once; beyond that they are
/// dropped. Each costs a descriptor until its client hangs up (a second at most), so a burst of
/// a few thousand clients is told `busy` within the raised descriptor limit.
const BUSY_REPLIERS: usize = 4096;

/// How long a memory agent stays unlocked, used or not: longer than any CI job runs.
const MEMORY_UNLOCK_SECS: u64 = 7 * 24 * 60 * 60;

/// `config` as an agent runs with it, at start and after a reload: a memory agent (`credd ci`)
/// stays unlocked for the whole job whatever the file says, since nothing could unlock it again.
fn as_run(mut config: Config, memory: bool) -> Config {
    if memory {
        config.idle_timeout = MEMORY_UNLOCK_SECS;
        config.max_unlock = MEMORY_UNLOCK_SECS;
    }
    config
}

/// The runtime the agent runs on: one thread for the socket. A lookup is microseconds of work
/// under a lock, so a second worker buys nothing but a hand-over between threads on every
/// connection (futex wake-ups and a second epoll wait, measured in docs/BENCHMARKS.md); what
/// can take long (the KDF, vault and keychain writes, mints, team reads) runs on the blocking
/// pool, off this thread.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

/// Runs the agent until SIGTERM, SIGINT, a `stop` request or, when socket-activated, the idle
/// exit; then wipes every secret, removes the socket (unless systemd owns it) and returns. A
/// memory agent leaves SIGTERM and SIGINT to `credd ci`, which passes them to the job and stops
/// the agent once the job is done.
pub async fn run(options: AgentOptions) -> Result<(), AgentError> {
    crate::sys::harden_process();
    // Every connection, served or told `busy`, holds a descriptor.
    crate::sys::raise_open_files_limit();
    crate::sys::tune_malloc();
    let config = as_run(Config::load(options.config.as_deref())?, options.memory);
    let stores = Stores::new(options.vault.clone());
    // Before the socket: a second agent on this vault must leave the first one's socket alone.
    crate::private_dir::ensure(
        crate::private_dir::parent_of(&options.vault),
        crate::private_dir::WhenOpen::Tighten,
    )?;
    let _owner = owner::take(&options.vault, &options.socket, &stores.files())?;
    let state = Arc::new(state::State::new(stores, config.clone()));
    // Handlers first: a signal arriving once clients can connect must not kill us by default
    // action and leave a stale socket behind.
    let mut terminate = signal(SignalKind::terminate()).map_err(AgentError::Signals)?;
    let mut interrupt = signal(SignalKind::interrupt()).map_err(AgentError::Signals)?;
    spawn_signal_tasks(&state, &options)?;
    let activated = options.activated.is_some();
    let bound = match options.activated {
        Some(inherited) => socket::adopt(inherited, &options.socket)?,
        None => socket::bind(&options.socket)?,
    };
    let idle_exit = config.idle_exit_after().filter(|_| activated);
    let (notify_shutdown, _) = broadcast::channel(1);
    let (shutdown_complete, mut all_done) = mpsc::channel::<()>(1);
    let stop = Arc::new(Notify::new());
    tokio::spawn(timer::auto_lock(state.clone(), notify_shutdown.subscribe()));
    tokio::spawn(state.clone().refresh_teams(notify_shutdown.subscribe()));
    if options.memory {
        state.unlock_memory();
    } else {
        tokio::spawn(state.clone().start());
    }

    let listener = listener::Listener {
        listener: bound.listener,
        state: state.clone(),
        limit: Arc::new(Semaphore::new(config.max_connections)),
        busy_limit: Arc::new(Semaphore::new(BUSY_REPLIERS)),
        notify_shutdown,
        shutdown_complete,
        stop: stop.clone(),
        accepted: AtomicU64::new(0),
    };
    tracing::info!(socket = %options.socket.display(), vault = %options.vault.display(), pid = std::process::id(), activated, "agent listening");
    systemd::notify(NotifyState::Ready);
    if let Some(pipe) = options.ready {
        crate::ready::report_ready(pipe);
    }
    tokio::select! {
        _ = listener.run() => {}
        _ = terminate.recv(), if !options.memory => tracing::info!("SIGTERM: shutting down"),
        _ = interrupt.recv(), if !options.memory => tracing::info!("SIGINT: shutting down"),
        _ = stop.notified() => tracing::info!("stop requested: shutting down"),
        _ = systemd::idle_exit(idle_exit, &state, &listener, config.max_connections) => {
            tracing::info!("idle-exit: locked and unused, exiting; systemd starts the agent again on the next connection");
        }
    }
    systemd::notify(NotifyState::Stopping);
    state.lock();
    if !activated {
        socket::remove_files(&options.socket);
    }
    drop(listener);
    // Handlers finish their current request; an unlock finishing late is wiped below.
    let _ = tokio::time::timeout(Duration::from_secs(5), all_done.recv()).await;
    state.lock();
    tracing::info!("secrets wiped, agent stopped");
    Ok(())
}

/// SIGUSR1 locks; SIGHUP reloads the config (a bad config is logged and the old one kept).
fn spawn_signal_tasks(state: &Arc<state::State>, options: &AgentOptions) -> Result<(), AgentError> {
    let mut usr1 = signal(SignalKind::user_defined1()).map_err(AgentError::Signals)?;
    let mut hup = signal(SignalKind::hangup()).map_err(AgentError::Signals)?;
    let for_usr1 = state.clone();
    tokio::spawn(async move {
        while usr1.recv().await.is_some() {
            if for_usr1.lock() {
                tracing::info!("SIGUSR1: locked, secrets wiped");
            }
        }
    });
    let for_hup = state.clone();
    let (config_path, memory) = (options.config.clone(), options.memory);
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            match Config::load(config_path.as_deref()) {
                Ok(config) => {
                    let config = as_run(config, memory);
                    tracing::info!(?config, "SIGHUP: config reloaded");
                    for_hup.set_config(config);
                }
                Err(error) => tracing::error!(%error, "SIGHUP: keeping the old config"),
            }
        }
    });
    Ok(())
}
