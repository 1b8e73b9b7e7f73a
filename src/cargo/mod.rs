//! Cargo's side of credd: the credential provider and the editing of Cargo's own files.
//!
//! This adapter speaks Cargo's formats and protocol and reaches credentials only through the
//! agent's protocol; it never touches the vault.

pub mod config_files;
pub mod provider;
