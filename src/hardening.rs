//! Process hardening, applied first thing in every credd process: the agent holds every secret,
//! and a client may hold a passphrase or a token (a `credd unlock` waiting at its prompt, the
//! Cargo provider handing a token over).

/// Forbids core dumps and ptrace/`/proc/PID/mem` access by other non-root processes of the same
/// user. `mlockall` is deliberately not used: under the default memlock limit it stops tokio
/// from spawning its worker threads. Failures are logged where a log is set up (the agent), and
/// are no reason to refuse to work.
pub fn harden_process() {
    // SAFETY: plain syscalls on this process with valid arguments; failures are only logged.
    unsafe {
        let no_core = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::setrlimit(libc::RLIMIT_CORE, &no_core) != 0 {
            tracing::warn!(error = %std::io::Error::last_os_error(), "cannot disable core dumps");
        }
        #[cfg(any(target_os = "linux", target_os = "android"))]
        if libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) != 0 {
            tracing::warn!(error = %std::io::Error::last_os_error(), "cannot mark the process non-dumpable");
        }
    }
}
