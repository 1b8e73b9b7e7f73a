//! `credd-full`: every credd command and the agent, run by the front door (`credd`, src/main.rs)
//! for all but the fronts, and by clients that start the agent. Run directly, it answers the
//! same command lines as `credd`.

mod cli;
mod front;

/// Wipes every freed heap block, so secrets leave no copies in freed memory.
#[global_allocator]
static ALLOCATOR: credd::wipe_alloc::WipingAllocator = credd::wipe_alloc::WipingAllocator;

fn main() -> std::process::ExitCode {
    // Before anything is read: a client may hold a passphrase or a token, as the agent does.
    credd::sys::harden_process();
    front::dispatch().unwrap_or_else(cli::main)
}
