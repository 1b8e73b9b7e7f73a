//! pip's files: the configuration files (`pip.conf`) whose index URLs may hold a password and
//! whose `[global]` section `credd setup pip` edits, and the `.netrc` that requests (inside pip)
//! reads logins from.
//!
//! One part per job: `find` (where the files are, in pip's order, and which one setup edits),
//! `config` (reading `pip.conf` the way Python's `configparser` does, with the byte position of
//! every index URL, and setting a `[global]` option line by line),
//! `url` (a URL's userinfo, split the way pip splits it) and `netrc` (reading `.netrc` the way
//! Python's `netrc` module does, and removing machines from it). Secrets become
//! [`credd_protocol::Secret`] as soon as they are read, and errors name lines, never the text on
//! them: that may be a password.

mod config;
mod find;
mod netrc;
mod url;

pub use config::{
    ConfigError, Edit, IndexUrl, KEYRING_PROVIDER, KeyNames, SUBPROCESS, index_urls, is_index_key,
    set_global, set_option,
};
pub use find::{ConfigFiles, LocateError, UserFile, config_files, netrc_path, user_file};
pub use netrc::{Machine, Netrc, NetrcError, read_netrc, remove_machines};
pub use url::{UrlAuth, hostname, split_auth};

/// Python's `str.isspace()`, which `configparser` strips and `str.split()` splits on: Unicode
/// white space and the four ASCII separators U+001C to U+001F.
fn is_python_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}
