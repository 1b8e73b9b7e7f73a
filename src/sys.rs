//! The operating-system calls credd makes, all in this one module. credd supports Linux, where
//! it is built and tested; a port to another system is this module's work (and that of
//! `store::keychain`, for the keychains offered there). The rest of credd uses std, including
//! its Unix API (file modes, Unix sockets, `pre_exec`).
//!
//! The calls go through `rustix`, which makes them safe to call; `libc` only for `close_range`,
//! which rustix lacks, and its fallback over descriptors that may not be open, for the standard
//! descriptors' check and SIGPIPE at start, and for glibc's malloc tunables.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd, RawFd};
use std::time::Duration;

use rustix::event::{PollFd, PollFlags, Timespec};
use rustix::fs::FileType;
use rustix::io::FdFlags;
use rustix::process::{DumpableBehavior, Resource, Rlimit};

/// An error number, to tell `io::Error`s apart by (`Errno::from_io_error`) or to make one.
pub use rustix::io::Errno;

/// `O_NOFOLLOW`, for `OpenOptionsExt::custom_flags`: opening a symbolic link fails with
/// [`Errno::LOOP`] instead of following it.
pub const O_NOFOLLOW: i32 = rustix::fs::OFlags::NOFOLLOW.bits() as i32;

/// The real user id of this process.
pub fn current_uid() -> u32 {
    rustix::process::getuid().as_raw()
}

/// The effective user id of this process: the one file ownership and `SO_PEERCRED` report.
pub fn current_euid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// Process hardening, applied first thing in every credd process: the agent holds every secret,
/// and a client may hold a passphrase or a token (a `credd unlock` waiting at its prompt, the
/// Cargo provider handing a token over).
///
/// Forbids core dumps and ptrace/`/proc/PID/mem` access by other non-root processes of the same
/// user. `mlockall` is deliberately not used: under the default memlock limit it stops tokio
/// from spawning its worker threads. Failures are logged where a log is set up (the agent), and
/// are no reason to refuse to work.
pub fn harden_process() {
    let no_core = Rlimit {
        current: Some(0),
        maximum: Some(0),
    };
    if let Err(error) = rustix::process::setrlimit(Resource::Core, no_core) {
        tracing::warn!(error = %io::Error::from(error), "cannot disable core dumps");
    }
    if let Err(error) = rustix::process::set_dumpable_behavior(DumpableBehavior::NotDumpable) {
        tracing::warn!(error = %io::Error::from(error), "cannot mark the process non-dumpable");
    }
}

/// What Rust's runtime does before `main` that the small binary, which starts without it
/// (src/main.rs), must still do: opens `/dev/null` on each standard descriptor that is closed
/// (else the first file or socket opened would take its number, and what is printed would go
/// there), and ignores SIGPIPE (a write to a closed pipe then fails instead of killing the
/// process; a command run with `exec` starts with it reset, as std does).
pub fn start_without_runtime() {
    for fd in 0..=2 {
        // SAFETY: F_GETFD reads a descriptor's flags and touches nothing; a closed one is EBADF.
        let closed = unsafe { libc::fcntl(fd, libc::F_GETFD) } == -1
            && io::Error::last_os_error().raw_os_error() == Some(libc::EBADF);
        if !closed {
            continue;
        }
        // The lowest free number is the closed one: they are checked in order. Not
        // close-on-exec, as std opens it: a program this one execs keeps it.
        // SAFETY: open reads a NUL-terminated path and returns a new descriptor or -1.
        let null = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR) };
        if null != fd {
            // As std does: better no process than one that prints into another file.
            std::process::abort();
        }
    }
    // SAFETY: setting a signal's disposition to ignore runs no code of ours in a handler.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
}

/// Tunes glibc's malloc for the agent, whose large blocks (the vault's plaintext and JSON, the
/// entry list as it grows) live only while a store task or an unlock runs. The wiping allocator
/// writes over every block it frees, so a freed page stays resident until malloc gives it back:
/// - at most two arenas: by default every thread that meets contention gets its own arena (up to
///   eight per core), and each keeps the pages a store task freed there;
/// - every block of [`MMAP_THRESHOLD`] or more in a mapping of its own, unmapped when freed.
///   Left alone, glibc raises that threshold to the largest block freed so far, so after the
///   first vault write the later copies come from the heap and their pages stay.
pub fn tune_malloc() {
    #[cfg(target_env = "gnu")]
    // SAFETY: mallopt only sets tunables of the allocator.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
    }
}

/// glibc's own starting threshold, kept fixed (see [`tune_malloc`]).
#[cfg(target_env = "gnu")]
const MMAP_THRESHOLD: i32 = 128 * 1024;

/// Gives the free pages of the heap back to the kernel (glibc keeps them otherwise): called
/// after store work, which frees a copy of every entry at once. The pages were wiped when their
/// blocks were freed.
pub fn release_free_memory() {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim only returns unused memory of the allocator to the system.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Raises the soft limit on open descriptors to the hard one, for the agent: the default soft
/// limit (1024) is smaller than its connection cap plus the busy repliers. A failure is logged.
pub fn raise_open_files_limit() {
    // `None` is "unlimited".
    let limit = rustix::process::getrlimit(Resource::Nofile);
    let below =
        |soft: Option<u64>, hard: Option<u64>| soft.unwrap_or(u64::MAX) < hard.unwrap_or(u64::MAX);
    if !below(limit.current, limit.maximum) {
        return;
    }
    let raised = Rlimit {
        current: limit.maximum,
        maximum: limit.maximum,
    };
    if let Err(error) = rustix::process::setrlimit(Resource::Nofile, raised) {
        tracing::warn!(error = %io::Error::from(error), "cannot raise the open files limit");
    }
}

/// A new pipe, both ends close-on-exec: (read end, write end).
pub fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    Ok(rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?)
}

/// True when `fd` is readable (or at its end) within `timeout`; false on timeout or error. A
/// signal that interrupts the wait (a resume after Ctrl-Z) does not end it.
pub fn readable_within(fd: BorrowedFd<'_>, timeout: Duration) -> bool {
    let deadline = std::time::Instant::now().checked_add(timeout);
    loop {
        let left = deadline.map(|d| d.saturating_duration_since(std::time::Instant::now()));
        // A timeout too long for a timespec is no timeout.
        let limit = left.and_then(|left| Timespec::try_from(left).ok());
        match poll_readable(fd, limit.as_ref()) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other.unwrap_or(false),
        }
    }
}

/// Polls `fd` for reading for at most `timeout` (`None`: no limit): true when it is readable.
fn poll_readable(fd: BorrowedFd<'_>, timeout: Option<&Timespec>) -> io::Result<bool> {
    let mut fds = [PollFd::new(&fd, PollFlags::IN)];
    Ok(rustix::event::poll(&mut fds, timeout)? > 0)
}

/// A pidfd for the process `pid`: it stays bound to that process, even once another takes its
/// pid, and [`has_exited`] tells when it ends.
pub fn pidfd_open(pid: u32) -> io::Result<OwnedFd> {
    let pid = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
        .ok_or_else(|| io::Error::from(Errno::INVAL))?;
    Ok(rustix::process::pidfd_open(
        pid,
        rustix::process::PidfdFlags::empty(),
    )?)
}

/// True once the process of `pidfd` has exited, a zombie included (its children then have a new
/// parent); also when the poll fails, so that a failure never passes for a live process.
pub fn has_exited(pidfd: BorrowedFd<'_>) -> bool {
    poll_readable(pidfd, Some(&Timespec::default())).unwrap_or(true)
}

/// True when `fd` is a pipe.
fn is_pipe(fd: BorrowedFd<'_>) -> bool {
    rustix::fs::fstat(fd).is_ok_and(|stat| FileType::from_raw_mode(stat.st_mode) == FileType::Fifo)
}

/// Marks `fd` close-on-exec, so that no program this process starts inherits it.
fn set_close_on_exec(fd: BorrowedFd<'_>) -> io::Result<()> {
    Ok(rustix::io::fcntl_setfd(fd, FdFlags::CLOEXEC)?)
}

/// The device and inode number of this process's stderr.
pub fn stderr_device_and_inode() -> Option<(u64, u64)> {
    device_and_inode(io::stderr().as_fd())
}

/// The device and inode number of the file open on `fd`.
fn device_and_inode(fd: BorrowedFd<'_>) -> Option<(u64, u64)> {
    let stat = rustix::fs::fstat(fd).ok()?;
    Some((stat.st_dev, stat.st_ino))
}

/// True when this process's stderr is `/dev/null`, where nothing written can be read.
pub fn stderr_is_dev_null() -> bool {
    is_dev_null(io::stderr().as_fd())
}

/// True when `fd` is open on `/dev/null`: the same device and inode.
fn is_dev_null(fd: BorrowedFd<'_>) -> bool {
    use std::os::unix::fs::MetadataExt as _;
    let null = std::fs::metadata("/dev/null")
        .ok()
        .map(|null| (null.dev(), null.ino()));
    null.is_some_and(|null| device_and_inode(fd) == Some(null))
}

/// True for a socket in the listening state (`SO_ACCEPTCONN`).
pub fn accepts_connections(fd: BorrowedFd<'_>) -> io::Result<bool> {
    Ok(rustix::net::sockopt::socket_acceptconn(fd)?)
}

/// The calls a forked child makes before exec, to detach from its parent: each is
/// async-signal-safe, as `CommandExt::pre_exec` requires.
pub mod before_exec {
    use std::io;
    use std::os::fd::{BorrowedFd, RawFd};

    use rustix::io::FdFlags;

    /// Starts a session of its own (`setsid`): no controlling terminal, and no signal sent to
    /// the parent's process group or session reaches it.
    pub fn new_session() -> io::Result<()> {
        rustix::process::setsid()?;
        Ok(())
    }

    /// Marks every descriptor above stderr close-on-exec, so pipes and jobserver fds a parent
    /// leaked to us do not reach the program (std's own exec-error pipe keeps working).
    pub fn close_inherited_fds() {
        // SAFETY: only flags descriptors of this process; close_range and fcntl are
        // async-signal-safe and take any number, open or not (rustix would need an open one).
        unsafe {
            #[cfg(target_env = "gnu")]
            if libc::close_range(
                3,
                libc::c_uint::MAX,
                libc::CLOSE_RANGE_CLOEXEC as libc::c_int,
            ) == 0
            {
                return;
            }
            for fd in 3..1024 {
                libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
            }
        }
    }

    /// Lets `fd` survive the exec (clears its close-on-exec flag).
    ///
    /// # Safety
    /// `fd` must be open in this process for the call.
    pub unsafe fn keep_across_exec(fd: RawFd) -> io::Result<()> {
        // SAFETY: open for the call, the caller's guarantee.
        let fd = unsafe { BorrowedFd::borrow_raw(fd) };
        Ok(rustix::io::fcntl_setfd(fd, FdFlags::empty())?)
    }
}

/// Turns terminal echo off on a terminal (keeping the newline's echo) until dropped, as
/// `readpassphrase(3)` does: a signal that ends the process puts echo back first; one that stops
/// it (Ctrl-Z) puts echo back for the shell, and the resume turns it off again, since the shell
/// gives a resumed job its own settings back, with echo. One prompt at a time per process.
pub struct EchoOff<'fd> {
    tty: BorrowedFd<'fd>,
    saved: libc::termios,
    previous: Vec<(libc::c_int, libc::sigaction)>,
}

/// The signals a prompt handles: those that end its process, those that stop it, and the resume.
const PROMPT_SIGNALS: [libc::c_int; 8] = [
    libc::SIGINT,
    libc::SIGTERM,
    libc::SIGHUP,
    libc::SIGQUIT,
    libc::SIGTSTP,
    libc::SIGTTIN,
    libc::SIGTTOU,
    libc::SIGCONT,
];

/// The prompt's terminal for the signal handler: [`NO_PROMPT`], [`CLAIMED`] while a prompt sets
/// up, then its descriptor. Its settings before and during the prompt are written while it is
/// claimed, before the descriptor is published.
static PROMPT_TTY: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(NO_PROMPT);
const NO_PROMPT: i32 = -1;
const CLAIMED: i32 = -2;
static PROMPT_MODES: PromptModes = PromptModes(std::cell::UnsafeCell::new(None));

struct PromptModes(std::cell::UnsafeCell<Option<(libc::termios, libc::termios)>>);
// SAFETY: written only by the `EchoOff::new` that claimed PROMPT_TTY, while no descriptor is
// published (so no handler reads it); read by the handler only after the descriptor is
// published (Release/Acquire).
unsafe impl Sync for PromptModes {}

impl<'fd> EchoOff<'fd> {
    /// Turns echo off on `tty`, which must be a terminal.
    pub fn new(tty: BorrowedFd<'fd>) -> io::Result<Self> {
        use std::os::fd::AsRawFd;
        use std::sync::atomic::Ordering;
        let fd = tty.as_raw_fd();
        let mut saved = std::mem::MaybeUninit::<libc::termios>::uninit();
        // SAFETY: tcgetattr fills the termios it is given, or fails.
        if unsafe { libc::tcgetattr(fd, saved.as_mut_ptr()) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: filled by the successful tcgetattr above.
        let saved = unsafe { saved.assume_init() };
        let mut hidden = saved;
        hidden.c_lflag &= !libc::ECHO;
        hidden.c_lflag |= libc::ECHONL;
        PROMPT_TTY
            .compare_exchange(NO_PROMPT, CLAIMED, Ordering::Acquire, Ordering::Relaxed)
            .map_err(|_| io::Error::other("another prompt is showing"))?;
        // SAFETY: claimed and not published: no one else writes or reads the modes.
        unsafe { *PROMPT_MODES.0.get() = Some((saved, hidden)) };
        PROMPT_TTY.store(fd, Ordering::Release);
        let mut echo_off = Self {
            tty,
            saved,
            previous: Vec::new(),
        };
        for signal in PROMPT_SIGNALS {
            let previous = install(signal, on_prompt_signal)?;
            echo_off.previous.push((signal, previous));
            // A signal this process ignores (as a shell's background job ignores SIGINT) stays
            // ignored.
            if previous.sa_sigaction == libc::SIG_IGN {
                // SAFETY: puts back the disposition just read.
                unsafe { libc::sigaction(signal, &previous, std::ptr::null_mut()) };
            }
        }
        set_modes(fd, &hidden)?;
        Ok(echo_off)
    }
}

impl Drop for EchoOff<'_> {
    fn drop(&mut self) {
        use std::os::fd::AsRawFd;
        for (signal, previous) in self.previous.drain(..).rev() {
            // SAFETY: puts back the disposition saved when the prompt began.
            unsafe { libc::sigaction(signal, &previous, std::ptr::null_mut()) };
        }
        PROMPT_TTY.store(NO_PROMPT, std::sync::atomic::Ordering::Release);
        let _ = set_modes(self.tty.as_raw_fd(), &self.saved);
    }
}

/// Sets the terminal `fd`'s modes now.
fn set_modes(fd: RawFd, modes: &libc::termios) -> io::Result<()> {
    // SAFETY: a valid termios; tcsetattr only reads it.
    match unsafe { libc::tcsetattr(fd, libc::TCSANOW, modes) } {
        0 => Ok(()),
        _ => Err(io::Error::last_os_error()),
    }
}

/// Installs `handler` for `signal` (no SA_RESTART: a resume wakes a waiting poll, which then
/// polls again) and returns the disposition it replaces.
fn install(
    signal: libc::c_int,
    handler: extern "C" fn(libc::c_int),
) -> io::Result<libc::sigaction> {
    // SAFETY: zeroed sigaction structs are valid (empty mask, no flags); the handler only makes
    // async-signal-safe calls.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = handler as libc::sighandler_t;
        let mut previous: libc::sigaction = std::mem::zeroed();
        if libc::sigaction(signal, &action, &mut previous) != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(previous)
    }
}

/// The prompt's signal handler. Only async-signal-safe calls: tcsetattr, sigaction,
/// pthread_sigmask, raise.
extern "C" fn on_prompt_signal(signal: libc::c_int) {
    let fd = PROMPT_TTY.load(std::sync::atomic::Ordering::Acquire);
    if fd < 0 {
        return;
    }
    // SAFETY: published, so written and not changing (see PromptModes).
    let Some((saved, hidden)) = (unsafe { &*PROMPT_MODES.0.get() }) else {
        return;
    };
    // SAFETY: valid termios structs; the default dispositions are plain values.
    unsafe {
        if signal == libc::SIGCONT {
            // Resumed (a SIGSTOP, which no handler sees, included): the shell gave the terminal
            // its own modes back.
            libc::tcsetattr(fd, libc::TCSANOW, hidden);
            return;
        }
        libc::tcsetattr(fd, libc::TCSANOW, saved);
        // The default action, with echo back, taken here and now (the signal is unblocked
        // first): the process ends, or stops until SIGCONT, or, in an orphaned process group,
        // the kernel discards the stop. Only a stop comes back, and the prompt goes on hidden.
        libc::signal(signal, libc::SIG_DFL);
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, signal);
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
        libc::raise(signal);
        let _ = install(signal, on_prompt_signal);
        libc::tcsetattr(fd, libc::TCSANOW, hidden);
    }
}

/// The descriptor number `fd` as a pipe this process owns, if it is an open pipe; marked
/// close-on-exec again.
///
/// # Safety
/// No one else in this process may own or use `fd`: it was handed to this process alone, and
/// the caller takes it before anything else could open a descriptor of that number.
pub unsafe fn take_inherited_pipe(fd: RawFd) -> Option<OwnedFd> {
    if fd <= 2 {
        return None;
    }
    // An unopened number is checked too: fstat fails on it (EBADF) and nothing else is done.
    // SAFETY: the caller guarantees nobody else owns `fd`; it is only borrowed for the check.
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    if !is_pipe(borrowed) {
        return None;
    }
    // SAFETY: an open pipe that nobody else owns (the caller's guarantee).
    let owned = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    // Close-on-exec again, so that nothing this process starts keeps the other end waiting.
    let _ = set_close_on_exec(owned.as_fd());
    Some(owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_dev_null_is_dev_null() {
        let null = std::fs::File::open("/dev/null").unwrap();
        assert!(is_dev_null(null.as_fd()));
        let file = tempfile::tempfile().unwrap();
        assert!(!is_dev_null(file.as_fd()));
        let zero = std::fs::File::open("/dev/zero").unwrap();
        assert!(!is_dev_null(zero.as_fd()));
    }
}
