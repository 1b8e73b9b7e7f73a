//! credd: a credential agent for private-registry tokens.
//!
//! The agent ([`agent`]) holds decrypted credentials in memory and answers over a local socket in
//! the protocol of the `credd-protocol` crate; [`client`] is how every command and tool adapter
//! talks to it; [`store`] keeps the credentials encrypted at rest.

pub mod agent;
pub mod atomic;
pub mod cargo;
pub mod client;
pub mod config;
#[cfg(any(test, fuzzing))]
#[doc(hidden)]
pub mod fuzzing;
pub mod paths;
pub mod poetry;
pub mod store;
pub mod toml_file;
pub mod tty;
pub mod urlmatch;
pub mod wipe_alloc;
