//! Poetry's own files: `auth.toml` (plaintext credentials, which `credd import poetry` moves into
//! credd), `config.toml` and a project's `poetry.toml` (repository URLs), and the project's
//! `pyproject.toml` (its package sources).
//!
//! One part per job: `find` (where the files are), `auth` (reading and removing the credentials
//! of `auth.toml`) and `repositories` (how a repository's name becomes a URL, and the project's
//! sources); their items are re-exported here. Apart from finding and reading the files,
//! everything is a pure function from file text, edited through `toml_edit` so that comments,
//! order and formatting are kept. Secrets are wrapped into [`credd_protocol::Secret`] as soon as they are read, and a broken file is described by line and
//! column only: a parser message could quote the text around the error, which may be a password.

mod auth;
mod find;
mod repositories;

pub use auth::{
    AuthFile, AuthKey, FoundCredential, SkipReason, Skipped, read_auth, remove_credentials,
};
pub use find::{config_dir, find_pyproject};
pub use repositories::{
    ReadError, RepositoryUrls, Source, project_sources, repository_env_var, repository_urls,
};

pub use crate::toml_file::{FileError, read_optional};
