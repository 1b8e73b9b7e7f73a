//! The agent's listening socket: a private directory, one agent per socket, no stale files; or
//! the socket systemd passes.

use std::fs::{self, File};
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::private_dir::{self, PrivateDirError, WhenOpen};
use interprocess::ConnectWaitMode;
use interprocess::local_socket::tokio::Listener;
use interprocess::local_socket::{ConnectOptions, GenericFilePath, ListenerOptions, ToFsName};
use interprocess::os::unix::local_socket::ListenerOptionsExt;
use interprocess::os::unix::uds_local_socket;

/// Why the agent cannot listen.
#[derive(Debug, thiserror::Error)]
pub enum SocketError {
    /// The socket's directory is not private to this user.
    #[error(transparent)]
    UnsafeDir(#[from] PrivateDirError),
    /// Another agent holds this socket.
    #[error(
        "another credd agent is already listening on {0}: use it, or stop it with 'credd stop'"
    )]
    AlreadyRunning(PathBuf),
    /// Something that is not a credd agent, such as systemd's `credd.socket`, listens there.
    #[error(
        "something already listens on {0}, probably systemd's credd.socket: use the agent it \
         starts, or run 'systemctl --user stop credd.socket' first"
    )]
    Taken(PathBuf),
    /// A filesystem or socket call failed.
    #[error("cannot listen on {path}: {source}")]
    Io {
        /// The socket path.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
}

/// The bound socket and the lock that makes this agent its only owner.
pub struct BoundSocket {
    /// Accepts connections.
    pub listener: Listener,
    /// Held for the agent's lifetime; the OS releases it if the agent dies. `None` for a socket
    /// systemd passed: systemd owns that one.
    _lock: Option<File>,
}

/// Creates the private directory, takes the per-socket lock, replaces a stale socket file left
/// by a dead agent and listens with mode 0600 (set before bind, so there is no umask race).
pub fn bind(path: &Path) -> Result<BoundSocket, SocketError> {
    let io_err = |source| SocketError::Io {
        path: path.into(),
        source,
    };
    private_dir::ensure(private_dir::parent_of(path), WhenOpen::Refuse)?;
    let lock = take_lock(path)?;
    // We hold the lock, so no other agent of ours listens here; but systemd may.
    if someone_listens(path) {
        return Err(SocketError::Taken(path.into()));
    }
    match fs::remove_file(path) {
        Ok(()) => tracing::info!(path = %path.display(), "replaced a stale socket file"),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err(e)),
    }
    let name = path.to_fs_name::<GenericFilePath>().map_err(io_err)?;
    let listener = ListenerOptions::new()
        .name(name)
        .mode(0o600)
        .create_tokio()
        .map_err(io_err)?;
    Ok(BoundSocket {
        listener,
        _lock: Some(lock),
    })
}

/// True when a listener answers on `path`, so that it is not a stale file of a dead agent.
fn someone_listens(path: &Path) -> bool {
    let Ok(name) = path.to_fs_name::<GenericFilePath>() else {
        return false;
    };
    ConnectOptions::new()
        .name(name)
        .wait_mode(ConnectWaitMode::Timeout(Duration::from_secs(1)))
        .connect_sync()
        .is_ok()
}

/// Serves on the listening socket systemd passed (socket activation) instead of binding one:
/// no lock file, and the socket file stays when the agent exits. Warns when the socket is not
/// `expected` (where clients look), or when other users could reach it (the peer uid check
/// still turns them away).
pub fn adopt(listener: UnixListener, expected: &Path) -> Result<BoundSocket, SocketError> {
    let path = listener
        .local_addr()
        .ok()
        .and_then(|addr| addr.as_pathname().map(Path::to_path_buf));
    match &path {
        Some(path) => warn_if_misplaced(path, expected),
        None => tracing::warn!(
            "systemd passed a socket without a path, which has no permission check: use \
             ListenStream=PATH in credd.socket"
        ),
    }
    let io_err = |source| SocketError::Io {
        path: path.clone().unwrap_or_else(|| expected.into()),
        source,
    };
    let listener =
        uds_local_socket::tokio::Listener::try_from(OwnedFd::from(listener)).map_err(io_err)?;
    Ok(BoundSocket {
        listener: listener.into(),
        _lock: None,
    })
}

fn warn_if_misplaced(path: &Path, expected: &Path) {
    if path != expected {
        tracing::warn!(
            "systemd passed the socket {}, but clients look for {}: make ListenStream= in \
             credd.socket and the clients' socket (CREDD_SOCKET or --socket) agree",
            path.display(),
            expected.display()
        );
    }
    let dir = path.parent().unwrap_or(Path::new("/"));
    match private_dir::problem(dir) {
        Ok(None) => {}
        Ok(Some(reason)) => tracing::warn!(
            "the socket directory {}: {reason}; set DirectoryMode=0700 in credd.socket",
            dir.display()
        ),
        Err(error) => tracing::warn!(
            "cannot check the socket directory {}: {error}",
            dir.display()
        ),
    }
    match fs::metadata(path) {
        Ok(meta) if meta.permissions().mode() & 0o077 != 0 => tracing::warn!(
            "the socket {} has mode {:o}: other users can connect (the agent refuses them); set \
             SocketMode=0600 in credd.socket",
            path.display(),
            meta.permissions().mode() & 0o777
        ),
        Ok(_) => {}
        Err(error) => tracing::warn!("cannot check the socket {}: {error}", path.display()),
    }
}

/// Takes an exclusive lock on `<socket>.lock`; a second agent fails here instead of stealing the
/// socket from the first.
fn take_lock(socket: &Path) -> Result<File, SocketError> {
    let lock_path = crate::paths::socket_lock_file(socket);
    match crate::atomic::try_lock_file(&lock_path) {
        Ok(Some(file)) => Ok(file),
        Ok(None) => Err(SocketError::AlreadyRunning(socket.into())),
        Err(source) => Err(SocketError::Io {
            path: lock_path,
            source,
        }),
    }
}

/// Removes the socket and the lock files beside it, as an agent that bound them exits (while it
/// still holds the socket's lock).
pub fn remove_files(socket: &Path) {
    let files = [
        socket.to_path_buf(),
        crate::paths::prompt_lock_file(socket),
        crate::paths::socket_lock_file(socket),
    ];
    for path in files {
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(error) if error.kind() == io::ErrorKind::NotFound => {}
            Err(error) => tracing::warn!(path = %path.display(), %error, "cannot remove"),
        }
    }
}
