//! Process hardening applied when the agent starts.

/// Forbids core dumps and ptrace/`/proc/PID/mem` access by other non-root processes of the same
/// user. `mlockall` is deliberately not used: under the default memlock limit it stops tokio
/// from spawning its worker threads.
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
            tracing::warn!(error = %std::io::Error::last_os_error(), "cannot mark the agent non-dumpable");
        }
    }
}
