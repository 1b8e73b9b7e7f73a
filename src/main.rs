//! The `credd` binary.

mod cli;

/// Wipes every freed heap block, so secrets leave no copies in freed memory.
#[global_allocator]
static ALLOCATOR: credd::wipe_alloc::WipingAllocator = credd::wipe_alloc::WipingAllocator;

fn main() -> std::process::ExitCode {
    // Before anything is read: a client may hold a passphrase or a token, as the agent does.
    credd::sys::harden_process();
    if cli::cargo_plugin::requested() {
        return cli::cargo_plugin::run();
    }
    if let Some(args) = cli::keyring::requested() {
        return cli::keyring::run(&cli::keyring::socket_from_env(), &args);
    }
    if let Some(args) = cli::git_credential::requested() {
        return cli::git_credential::run(&cli::keyring::socket_from_env(), &args);
    }
    if let Some(args) = cli::docker_credential::requested() {
        return cli::docker_credential::run(&cli::keyring::socket_from_env(), &args);
    }
    cli::main()
}
