//! Running under systemd: the listening socket it passes (socket activation), the READY and
//! STOPPING notifications of `Type=notify`, and the idle exit that leaves the socket to systemd
//! until the next client.

use std::io;
use std::os::fd::{AsFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;
use std::sync::atomic::Ordering;
use std::time::Duration;

use sd_notify::NotifyState;
use tokio::time::Instant;

use super::listener::Listener;
use super::state::State;

/// The socket systemd passed cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ActivationError {
    /// More than one socket was passed.
    #[error(
        "systemd passed {0} sockets but credd takes one: give credd.socket a single ListenStream="
    )]
    Count(usize),
    /// The passed descriptor is not a listening Unix socket.
    #[error(
        "the socket systemd passed is not a listening Unix stream socket ({0}): use \
         ListenStream=PATH in credd.socket"
    )]
    NotAListener(String),
    /// LISTEN_FDS or LISTEN_PID is malformed.
    #[error("cannot read the sockets systemd passed: {0}")]
    Environment(io::Error),
}

/// Takes the listening socket that systemd passed to this process (`LISTEN_PID` names it,
/// `LISTEN_FDS` counts from fd 3) and removes those variables; `None` when there is none.
///
/// # Safety
///
/// No other thread may run yet: this changes the environment.
pub unsafe fn take_listener() -> Result<Option<UnixListener>, ActivationError> {
    // SAFETY: forwarded to our caller.
    let fds: Vec<RawFd> = unsafe { sd_notify::listen_fds_with_names_and_unset_env() }
        .map_err(ActivationError::Environment)?
        .map(|(fd, _name)| fd)
        .collect();
    match fds[..] {
        [] => Ok(None),
        [fd] => {
            // SAFETY: by the activation protocol this fd is open and handed to this process
            // alone (LISTEN_PID matched); nothing else in the process owns it.
            let owned = unsafe { OwnedFd::from_raw_fd(fd) };
            listener_from(owned).map(Some)
        }
        _ => Err(ActivationError::Count(fds.len())),
    }
}

fn listener_from(fd: OwnedFd) -> Result<UnixListener, ActivationError> {
    let not_a_listener = |e: io::Error| ActivationError::NotAListener(e.to_string());
    if !crate::sys::accepts_connections(fd.as_fd()).map_err(not_a_listener)? {
        return Err(ActivationError::NotAListener("it does not listen".into()));
    }
    let listener = UnixListener::from(fd);
    // Fails unless it is an AF_UNIX socket.
    listener.local_addr().map_err(not_a_listener)?;
    Ok(listener)
}

/// Tells systemd the agent's state, when systemd asked for it (`NOTIFY_SOCKET`, `Type=notify`);
/// does nothing otherwise, nor when the variable was inherited from the process systemd started
/// (`SYSTEMD_EXEC_PID` names another), such as a client that started this agent.
pub(super) fn notify(state: NotifyState<'_>) {
    let started_us =
        std::env::var("SYSTEMD_EXEC_PID").map_or(true, |pid| pid == std::process::id().to_string());
    if !started_us {
        return;
    }
    if let Err(error) = sd_notify::notify(&[state]) {
        tracing::warn!("cannot notify systemd: {error}");
    }
}

/// Resolves once the agent has been locked, with no connection open or accepted, for `after`;
/// never when `after` is `None`. Checked once a second.
pub(super) async fn idle_exit(
    after: Option<Duration>,
    state: &State,
    listener: &Listener,
    capacity: usize,
) {
    let Some(after) = after else {
        return std::future::pending().await;
    };
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut quiet_since = Instant::now();
    let mut accepted = listener.accepted.load(Ordering::Relaxed);
    loop {
        tick.tick().await;
        let now_accepted = listener.accepted.load(Ordering::Relaxed);
        let busy = now_accepted != accepted
            || listener.limit.available_permits() < capacity
            || state.is_unlocked();
        accepted = now_accepted;
        if busy {
            quiet_since = Instant::now();
        } else if quiet_since.elapsed() >= after {
            return;
        }
    }
}
