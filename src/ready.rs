//! The readiness pipe between a client that starts an agent and that agent: the agent writes
//! `ready` once it listens, or why it could not start, so a cold start takes exactly as long as
//! the agent needs (no polling of the socket), and its error reaches the person who ran the
//! command instead of `/dev/null`.
//!
//! The client keeps the read end and passes the write end's number in [`READY_FD_VAR`]. The
//! agent takes it before its runtime starts and removes the variable, so nothing it starts
//! inherits either.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

/// Names the descriptor the agent reports on.
pub const READY_FD_VAR: &str = "CREDD_READY_FD";

/// What the agent writes once it serves.
const READY: &[u8] = b"ready\n";

/// What to do when the agent said nothing.
const SEE_WHY: &str = "run 'credd daemon' in a terminal to see why";

/// The longest report read: an error message.
const MAX_REPORT: usize = 4096;

/// A new pipe, both ends close-on-exec: (read end, write end).
pub fn pipe() -> io::Result<(File, OwnedFd)> {
    let (read_end, write_end) = crate::sys::pipe()?;
    Ok((File::from(read_end), write_end))
}

/// Waits up to `timeout` for the agent's report on `read_end`: `Ok` once it says it serves,
/// else what it said (or that it said nothing) as the error.
pub fn wait(mut read_end: File, timeout: Duration) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    let mut report = Vec::with_capacity(MAX_REPORT);
    let mut chunk = [0u8; 512];
    while !report.ends_with(b"\n") && report.len() < MAX_REPORT {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || !crate::sys::readable_within(read_end.as_fd(), left) {
            return Err(format!(
                "it did not report ready within {timeout:?}; {SEE_WHY}"
            ));
        }
        match read_end.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => report.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("cannot read its report: {e}")),
        }
    }
    if report == READY {
        return Ok(());
    }
    let said = String::from_utf8_lossy(&report);
    match said.trim() {
        "" => Err(format!("it exited without saying why; {SEE_WHY}")),
        said => Err(said.to_owned()),
    }
}

/// The agent's end of the pipe, when a client started it with one; the variable is removed.
///
/// # Safety
/// Call before any other thread runs (it changes the environment).
pub unsafe fn take_from_env() -> Option<File> {
    let value = std::env::var_os(READY_FD_VAR)?;
    // SAFETY: the caller guarantees no other thread reads the environment meanwhile.
    unsafe { std::env::remove_var(READY_FD_VAR) };
    let fd: RawFd = value.to_str()?.parse().ok()?;
    // Only a pipe we were given: never write into some other descriptor by mistake.
    // SAFETY: the descriptor was passed to us alone, and no other thread runs yet to open one.
    unsafe { crate::sys::take_inherited_pipe(fd) }.map(File::from)
}

/// Tells the client the agent serves.
pub fn report_ready(mut write_end: File) {
    let _ = write_end.write_all(READY);
}

/// Tells the client why the agent could not start.
pub fn report_failure(mut write_end: File, error: &dyn std::fmt::Display) {
    let _ = writeln!(write_end, "{error}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_failure_silence_and_timeout_are_told_apart() {
        let (read, write) = pipe().unwrap();
        report_ready(File::from(write));
        assert_eq!(wait(read, Duration::from_secs(1)), Ok(()));

        let (read, write) = pipe().unwrap();
        report_failure(File::from(write), &"the vault is in use");
        assert_eq!(
            wait(read, Duration::from_secs(1)),
            Err("the vault is in use".into())
        );

        let (read, write) = pipe().unwrap();
        drop(write);
        let err = wait(read, Duration::from_secs(1)).unwrap_err();
        assert!(
            err.starts_with("it exited without saying why; run"),
            "{err}"
        );

        let (read, _write) = pipe().unwrap();
        let err = wait(read, Duration::from_millis(50)).unwrap_err();
        assert!(err.contains("did not report ready"), "{err}");
    }
}
