//! `credd --cargo-plugin`: Cargo's credential-provider protocol on stdin and stdout, served by
//! [`credd::cargo::provider`]. Cargo runs a provider as exactly `PROGRAM --cargo-plugin` (the
//! words of the provider's config entry arrive inside the protocol, not as arguments), so it is
//! dispatched before the command line is parsed: no clap work on the path Cargo takes for every
//! networked command.

use std::process::ExitCode;

/// The flag Cargo passes.
pub const FLAG: &str = "--cargo-plugin";

/// True when Cargo started this process as its credential provider.
pub fn requested() -> bool {
    std::env::args_os().nth(1).is_some_and(|arg| arg == FLAG)
}

/// Serves Cargo until it closes stdin.
pub fn run() -> ExitCode {
    credd::cargo::provider::run()
}
