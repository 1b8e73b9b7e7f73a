//! uv: its user-level settings file and setting uv's keyring provider in it.
//!
//! Like [`crate::pip`], everything here is a pure function of file text or the environment:
//! `credd setup uv` (in `src/cli/setup/`) reads and writes the file.

pub mod config;
