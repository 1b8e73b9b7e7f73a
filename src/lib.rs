//! credd: a credential agent for private-registry tokens.
//!
//! The agent ([`agent`]) holds decrypted credentials in memory and answers over a local socket in
//! the protocol of the `credd-protocol` crate; [`client`] is how every command and tool adapter
//! talks to it; [`store`] keeps the credentials encrypted at rest. credd supports Linux; the calls
//! it makes to the operating system are all in [`sys`].

#[cfg(not(target_os = "linux"))]
compile_error!(
    "credd supports Linux only: its system calls (the `sys` module) and its keychains (the \
     Secret Service, the kernel keyring) are written and tested for Linux; a port starts there"
);

pub mod agent;
pub mod atomic;
pub mod cargo;
pub mod client;
pub mod config;
pub mod docker;
#[cfg(any(test, fuzzing))]
#[doc(hidden)]
pub mod fuzzing;
pub mod git;
pub mod http;
pub mod keyring_cli;
pub mod mint;
pub mod on_demand;
pub mod paths;
pub mod pip;
pub mod poetry;
pub mod private_dir;
pub mod ready;
pub mod stdin;
pub mod step_up;
pub mod store;
pub mod sys;
pub mod team;
pub mod toml_file;
pub mod tty;
pub mod urlmatch;
pub mod uv;
pub mod wipe_alloc;
