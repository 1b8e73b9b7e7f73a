//! Poetry: where its files are and what they say, the names of its credential variables, the
//! `poetry` wrapper and the keyring backend it loads.
//!
//! Everything here is a pure function of file text, arguments or the environment: the commands
//! in `src/cli/` talk to the agent, so that nothing Poetry-specific ever touches the vault.

pub mod args;
pub mod env;
pub mod files;
pub mod wrapper;

/// The username Poetry sends with a token (PyPI's convention); an entry without a username is a
/// token and answers to it.
pub const TOKEN_USERNAME: &str = "__token__";
/// Where Poetry uploads to PyPI (the repository `pypi`).
pub const PYPI_UPLOAD_URL: &str = "https://upload.pypi.org/legacy/";
/// The repository name `poetry publish` uses without `-r`.
pub const PYPI: &str = "pypi";
