//! Where credd keeps its socket, config and data, following the XDG base directories.

use std::env;
use std::path::{Path, PathBuf};

/// The file name of the small binary that tools run (the fronts, in src/front/): it hands every
/// other command to [`FULL_BINARY`].
pub const FRONT_DOOR: &str = "credd";

/// The file name of the binary with every command and the agent, installed beside
/// [`FRONT_DOOR`].
pub const FULL_BINARY: &str = "credd-full";

/// The binary `name` of this installation: beside the running one (its real path, links
/// resolved), where `cargo build` and `cargo install` put both. The error of a missing one names
/// its path and the fix.
pub fn installed_binary(name: &str) -> std::io::Result<PathBuf> {
    use std::io::{Error, ErrorKind};
    let this = env::current_exe().map_err(|e| {
        Error::new(
            e.kind(),
            format!("cannot read this binary's path from /proc/self/exe: {e}"),
        )
    })?;
    let path = this.with_file_name(name);
    if path.is_file() {
        return Ok(path);
    }
    Err(Error::new(
        ErrorKind::NotFound,
        format!(
            "{} is missing: credd's two binaries, {FRONT_DOOR} and {FULL_BINARY}, work side by \
             side (`cargo build` builds both, `cargo install --path .` installs both)",
            path.display()
        ),
    ))
}

/// The agent's socket: `$XDG_RUNTIME_DIR/credd/credd.sock`; without `XDG_RUNTIME_DIR`, the same
/// under `/run/user/$UID` when that is this user's private runtime directory (as systemd-logind
/// makes it: ssh sessions and cron jobs then meet the desktop's agent, and no other user can
/// create it first); else `${TMPDIR:-/tmp}/credd-$UID/credd.sock`. (`--socket` and
/// `CREDD_SOCKET` are applied by the CLI.)
pub fn default_socket() -> PathBuf {
    let runtime = non_empty_env("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .or_else(|| private_run_user_dir(Path::new("/run/user")));
    if let Some(runtime) = runtime {
        return runtime.join("credd").join("credd.sock");
    }
    let tmp = non_empty_env("TMPDIR").unwrap_or_else(|| "/tmp".into());
    PathBuf::from(tmp)
        .join(format!("credd-{}", crate::sys::current_uid()))
        .join("credd.sock")
}

/// `BASE/$UID` when it is a directory of this user closed to everyone else.
fn private_run_user_dir(base: &Path) -> Option<PathBuf> {
    let dir = base.join(crate::sys::current_uid().to_string());
    matches!(crate::private_dir::problem(&dir), Ok(None)).then_some(dir)
}

/// `<socket>.lock`: held by the agent that listens on `socket`.
pub fn socket_lock_file(socket: &Path) -> PathBuf {
    beside(socket, ".lock")
}

/// `<socket>.prompt`: held by the Cargo provider that asks for the passphrase, so that parallel
/// cargos ask once.
pub fn prompt_lock_file(socket: &Path) -> PathBuf {
    beside(socket, ".prompt")
}

fn beside(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// `$XDG_CONFIG_HOME/credd/config.toml`, else `~/.config/credd/config.toml`.
pub fn config_file() -> Option<PathBuf> {
    config_home().map(|dir| dir.join("credd").join("config.toml"))
}

/// `$XDG_CONFIG_HOME`, else `~/.config`: where the user's config files go.
pub fn config_home() -> Option<PathBuf> {
    base_dir("XDG_CONFIG_HOME", ".config")
}

/// `$XDG_DATA_HOME/credd`, else `~/.local/share/credd`.
pub fn data_dir() -> Option<PathBuf> {
    base_dir("XDG_DATA_HOME", ".local/share").map(|dir| dir.join("credd"))
}

/// The vault file, `vault` in [`data_dir`]: the agent opens it, and clients look beside it for
/// the agent that owns it.
pub fn vault_file() -> Option<PathBuf> {
    data_dir().map(|dir| dir.join("vault"))
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};

    #[test]
    fn a_run_user_dir_is_used_only_when_private() {
        let base = tempfile::tempdir().unwrap();
        assert_eq!(private_run_user_dir(base.path()), None, "missing");
        let dir = base.path().join(crate::sys::current_uid().to_string());
        std::fs::DirBuilder::new().mode(0o700).create(&dir).unwrap();
        assert_eq!(private_run_user_dir(base.path()), Some(dir.clone()));
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(private_run_user_dir(base.path()), None, "open to others");
    }
}
