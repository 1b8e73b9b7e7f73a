//! Where credd keeps its socket, config and data, following the XDG base directories.

use std::env;
use std::path::PathBuf;

/// The agent's socket: `$XDG_RUNTIME_DIR/credd/credd.sock`, else
/// `${TMPDIR:-/tmp}/credd-$UID/credd.sock`. (`--socket` and `CREDD_SOCKET` are applied by the CLI.)
pub fn default_socket() -> PathBuf {
    if let Some(runtime) = non_empty_env("XDG_RUNTIME_DIR") {
        return PathBuf::from(runtime).join("credd").join("credd.sock");
    }
    let tmp = non_empty_env("TMPDIR").unwrap_or_else(|| "/tmp".into());
    PathBuf::from(tmp)
        .join(format!("credd-{}", current_uid()))
        .join("credd.sock")
}

/// `$XDG_CONFIG_HOME/credd/config.toml`, else `~/.config/credd/config.toml`.
pub fn config_file() -> Option<PathBuf> {
    base_dir("XDG_CONFIG_HOME", ".config").map(|dir| dir.join("credd").join("config.toml"))
}

/// `$XDG_DATA_HOME/credd`, else `~/.local/share/credd`.
pub fn data_dir() -> Option<PathBuf> {
    base_dir("XDG_DATA_HOME", ".local/share").map(|dir| dir.join("credd"))
}

/// The real user id of this process.
pub fn current_uid() -> u32 {
    // SAFETY: getuid has no preconditions and cannot fail.
    unsafe { libc::getuid() }
}

/// An XDG base directory; relative values are ignored, as the XDG spec says.
fn base_dir(var: &str, fallback_under_home: &str) -> Option<PathBuf> {
    non_empty_env(var)
        .map(PathBuf::from)
        .filter(|dir| dir.is_absolute())
        .or_else(|| non_empty_env("HOME").map(|home| PathBuf::from(home).join(fallback_under_home)))
}

fn non_empty_env(var: &str) -> Option<String> {
    env::var(var).ok().filter(|v| !v.is_empty())
}
