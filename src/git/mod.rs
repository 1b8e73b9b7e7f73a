//! git: what credd knows of git's credential-helper protocol.

pub mod credential;
