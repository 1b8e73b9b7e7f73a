//! `credd`, the front door: the small binary that tools run for every networked command. It
//! serves the fronts ([`front`]) itself and replaces itself with `credd-full`, installed beside
//! it, for every other command: a tool's helper then loads a small binary without the agent, the
//! command-line parser and the stores (half the start-up of one binary with everything; see
//! docs/BENCHMARKS.md).

// Rust's runtime set-up is skipped where std does not need it to read the arguments (see
// `no_runtime`); a test build keeps libtest's `main`.
#![cfg_attr(all(target_os = "linux", target_env = "gnu", not(test)), no_main)]

mod front;

use std::process::ExitCode;

/// Wipes every freed heap block, so secrets leave no copies in freed memory.
#[global_allocator]
static ALLOCATOR: credd::wipe_alloc::WipingAllocator = credd::wipe_alloc::WipingAllocator;

/// The entry point on Linux with glibc, where std reads the arguments without its runtime.
///
/// Rust's runtime set-up before `main` cost a spawned front about 90 µs here (docs/BENCHMARKS.md,
/// seventh round), a tenth of its spawn: the main thread's stack bounds read from
/// `/proc/self/maps` (by glibc's `pthread_getattr_np`) and a signal stack mapped for its
/// stack-overflow message (a stack overflow still ends the process, by SIGSEGV, without that
/// message; and a panic's message names the thread `<unnamed>`, not `main`). What else it does
/// is kept: `sys::start_without_runtime`, a panic's exit code 101, and stdout flushed at exit
/// (`std::process::exit`).
#[cfg(all(target_os = "linux", target_env = "gnu", not(test)))]
mod no_runtime {
    use std::process::ExitCode;

    #[unsafe(no_mangle)]
    extern "C" fn main(
        _argc: std::ffi::c_int,
        _argv: *const *const std::ffi::c_char,
    ) -> std::ffi::c_int {
        credd::sys::start_without_runtime();
        let code = std::panic::catch_unwind(super::run).unwrap_or(ExitCode::from(101));
        std::process::exit(exit_status(code))
    }

    /// The number an exit code was made of: `ExitCode` has no stable accessor, but compares
    /// equal.
    fn exit_status(code: ExitCode) -> i32 {
        (0..=u8::MAX)
            .find(|&n| ExitCode::from(n) == code)
            .map_or(1, i32::from)
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu", not(test))))]
fn main() -> ExitCode {
    run()
}

/// Serves a front, `--version`, or hands the command line to `credd-full`.
fn run() -> ExitCode {
    // Before anything is read: a front may hold a passphrase or a token.
    credd::sys::harden_process();
    if let Some(code) = front::dispatch() {
        return code;
    }
    if is_version_request() {
        // What the full binary's parser prints, without starting it for scripts that check.
        println!("{} {}", credd::paths::FRONT_DOOR, env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    run_full()
}

/// `credd --version` or `credd -V`, alone.
fn is_version_request() -> bool {
    let mut args = std::env::args_os().skip(1);
    args.next()
        .is_some_and(|arg| arg == "--version" || arg == "-V")
        && args.next().is_none()
}

/// Replaces this process with `credd-full` and the same arguments, environment and
/// descriptors. The process stays the same one, as systemd's main process, socket activation's
/// `LISTEN_PID` and the agent's audit of its caller expect; argv[0] is kept, so the parser's
/// messages name the command the user typed.
fn run_full() -> ExitCode {
    use std::os::unix::process::CommandExt;
    let full = match credd::paths::installed_binary(credd::paths::FULL_BINARY) {
        Ok(full) => full,
        Err(error) => {
            eprintln!("credd: {error}");
            return ExitCode::FAILURE;
        }
    };
    if is_this_binary(&full) {
        // A `credd-full` that is this front door (a link or a copy) would exec itself forever.
        eprintln!(
            "credd: {} is this small credd again, not the full one: install both binaries anew \
             (`cargo install --path .`)",
            full.display()
        );
        return ExitCode::FAILURE;
    }
    let mut args = std::env::args_os();
    let mut command = std::process::Command::new(&full);
    if let Some(run_as) = args.next() {
        command.arg0(run_as);
    }
    let error = command.args(args).exec();
    eprintln!("credd: cannot run {}: {error}", full.display());
    ExitCode::FAILURE
}

/// True when `path` is the file this process runs.
fn is_this_binary(path: &std::path::Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let id = |path: &std::path::Path| std::fs::metadata(path).map(|m| (m.dev(), m.ino())).ok();
    id(path).is_some_and(|file| Some(file) == id(std::path::Path::new("/proc/self/exe")))
}
