//! Cargo's own files: `$CARGO_HOME/config.toml`, which `credd setup cargo` edits to make Cargo ask
//! credd, and `$CARGO_HOME/credentials.toml`, whose plaintext tokens `credd import cargo` moves into
//! credd.
//!
//! One part per job: `find` (where the files are), `config` (editing and reading `config.toml`),
//! `credentials` (reading and removing the tokens of `credentials.toml`) and `diff` (showing a
//! change); their items are re-exported here. Everything but `find` is a pure function from file
//! text to file text, so that the editing is tested without touching a file. Edits go through
//! `toml_edit`, which keeps the file's comments, order and formatting.
//!
//! Tokens are wrapped into [`credd_protocol::Secret`] as soon as they are read, and errors describe a broken file
//! by line and column only: a parser message could quote the text around the error, which may be a
//! token.

mod config;
mod credentials;
mod diff;
mod find;

pub use config::{
    Edit, GlobalSetup, RegistrySetup, add_global_provider, index_env_var, index_for,
    registry_indexes, set_registry_provider, uses_credd, valid_registry_name,
};
pub use credentials::{
    Credentials, FoundToken, SkipReason, Skipped, TokenKey, read_credentials, remove_tokens,
};
pub use diff::unified_diff;
pub use find::{cargo_home, config_path, credentials_path, ignored_beside};

pub use crate::toml_file::FileError;

/// The name Cargo runs credd by, as written in Cargo's config.
pub const PROVIDER: &str = "credd";
/// Cargo's built-in provider that reads `credentials.toml`.
pub const CARGO_TOKEN: &str = "cargo:token";
/// The name of the entry that holds the crates.io token.
pub const CRATES_IO: &str = "crates-io";
/// crates.io's sparse index URL, the one people write and credd stores crates.io's token under.
pub const CRATES_IO_INDEX: &str = "sparse+https://index.crates.io/";
/// crates.io's git index URL, which Cargo names crates.io by in its credential requests, though
/// it reads the sparse index.
pub const CRATES_IO_GIT_INDEX: &str = "https://github.com/rust-lang/crates.io-index";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syntax_errors_name_the_place_and_never_the_text() {
        let err = add_global_provider("[registry]\ntoken = \"hunter2\n").unwrap_err();
        assert!(
            matches!(err, FileError::Syntax { at: Some((2, _)) }),
            "{err:?}"
        );
        assert!(!err.to_string().contains("hunter2"));
        assert!(!format!("{err:?}").contains("hunter2"));
        let err = read_credentials("[registry]\ntoken = \"hunter2\"\nhunter3\n").unwrap_err();
        assert!(
            matches!(err, FileError::Syntax { at: Some((3, _)) }),
            "{err:?}"
        );
        assert!(!err.to_string().contains("hunter"));
        assert!(!format!("{err:?}").contains("hunter"));
    }
}
