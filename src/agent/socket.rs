//! The agent's listening socket: a private directory, one agent per socket, no stale files.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use interprocess::local_socket::tokio::Listener;
use interprocess::local_socket::{GenericFilePath, ListenerOptions, ToFsName};
use interprocess::os::unix::local_socket::ListenerOptionsExt;

/// Why the agent cannot listen.
#[derive(Debug, thiserror::Error)]
pub enum SocketError {
    /// The socket's directory is not private to this user.
    #[error("refusing to use socket directory {dir}: {reason}; remove it or run 'chmod 700' on it")]
    UnsafeDir {
        /// The directory.
        dir: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// Another agent holds this socket.
    #[error(
        "another credd agent is already listening on {0}: use it, or stop it with 'credd stop'"
    )]
    AlreadyRunning(PathBuf),
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
    /// Held for the agent's lifetime; the OS releases it if the agent dies.
    _lock: File,
}

/// Creates the private directory, takes the per-socket lock, replaces a stale socket file left
/// by a dead agent and listens with mode 0600 (set before bind, so there is no umask race).
pub fn bind(path: &Path) -> Result<BoundSocket, SocketError> {
    let io_err = |source| SocketError::Io {
        path: path.into(),
        source,
    };
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    ensure_private_dir(dir)?;
    let lock = take_lock(path)?;
    // We hold the lock, so any socket file here belongs to a dead agent.
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
        _lock: lock,
    })
}

/// Takes an exclusive lock on `<socket>.lock`; a second agent fails here instead of stealing the
/// socket from the first.
fn take_lock(socket: &Path) -> Result<File, SocketError> {
    let mut lock_path = socket.as_os_str().to_owned();
    lock_path.push(".lock");
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(&lock_path)
        .map_err(|source| SocketError::Io {
            path: lock_path.clone().into(),
            source,
        })?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(fs::TryLockError::WouldBlock) => Err(SocketError::AlreadyRunning(socket.into())),
        Err(fs::TryLockError::Error(source)) => Err(SocketError::Io {
            path: lock_path.into(),
            source,
        }),
    }
}

/// Creates `dir` with mode 0700, or checks that an existing one is ours and closed to others.
pub fn ensure_private_dir(dir: &Path) -> Result<(), SocketError> {
    let unsafe_dir = |reason: String| SocketError::UnsafeDir {
        dir: dir.into(),
        reason,
    };
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).map_err(|source| SocketError::Io {
            path: parent.into(),
            source,
        })?;
    }
    match DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => return Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(source) => {
            return Err(SocketError::Io {
                path: dir.into(),
                source,
            });
        }
    }
    let meta = fs::symlink_metadata(dir).map_err(|source| SocketError::Io {
        path: dir.into(),
        source,
    })?;
    if !meta.is_dir() {
        return Err(unsafe_dir("it is not a directory".into()));
    }
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    if meta.uid() != euid {
        return Err(unsafe_dir(format!(
            "it is owned by uid {}, not {euid}",
            meta.uid()
        )));
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(unsafe_dir(format!("its mode {mode:o} lets other users in")));
    }
    Ok(())
}
