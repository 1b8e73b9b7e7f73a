//! `credd setup systemd`.

use std::fs::DirBuilder;
use std::io::ErrorKind;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use credd::paths;

/// The units as shipped in systemd/; the service is rewritten for this installation.
const SOCKET_UNIT: &str = include_str!("../../../systemd/credd.socket");
const SERVICE_UNIT: &str = include_str!("../../../systemd/credd.service");
/// The lines of [`SERVICE_UNIT`] that name the binary and the vault's directory.
const EXEC_START: &str = "ExecStart=/usr/bin/credd daemon\n";
const READ_WRITE_PATHS: &str = "ReadWritePaths=%h/.local/share/credd\n";

/// The command that starts socket activation, printed for the user to run.
const ENABLE: &str = "systemctl --user enable --now credd.socket";

/// Writes credd.socket and credd.service into the user's systemd unit directory; no agent is
/// needed.
pub(super) fn run(socket: &Path) -> Result<()> {
    let binary = std::env::current_exe().context("cannot find the path of this credd binary")?;
    let data_dir =
        paths::data_dir().context("cannot find a data directory: set XDG_DATA_HOME or HOME")?;
    let unit_dir = unit_dir()?;
    let service = service_unit(&binary, &data_dir)?;
    // ReadWritePaths= fails the service unless the directory exists.
    create_private_dir(&data_dir)?;
    std::fs::create_dir_all(&unit_dir)
        .with_context(|| format!("cannot create {}", unit_dir.display()))?;
    for (name, text) in [("credd.socket", SOCKET_UNIT), ("credd.service", &service)] {
        let path = unit_dir.join(name);
        credd::atomic::write_atomic(&path, text.as_bytes(), 0o644)
            .with_context(|| format!("cannot write {}", path.display()))?;
        eprintln!("credd: wrote {}", path.display());
    }
    warn_if_socket_differs(socket);
    eprintln!(
        "credd: the agent ({}) will keep its vault in {}; to start it on the first connection, run:",
        binary.display(),
        data_dir.display()
    );
    println!("{ENABLE}");
    Ok(())
}

/// `$XDG_CONFIG_HOME/systemd/user`: the parent of credd's own config directory holds it.
fn unit_dir() -> Result<PathBuf> {
    let config_home = paths::config_file()
        .as_deref()
        .and_then(|file| file.parent()?.parent())
        .map(Path::to_path_buf)
        .context("cannot find the config directory: set XDG_CONFIG_HOME or HOME")?;
    Ok(config_home.join("systemd").join("user"))
}

/// The service unit naming `binary` and `data_dir`. The XDG variables that placed them are
/// pinned too, so that the agent uses the vault and config this shell's credd would.
fn service_unit(binary: &Path, data_dir: &Path) -> Result<String> {
    let mut environment = String::new();
    for var in ["XDG_DATA_HOME", "XDG_CONFIG_HOME"] {
        if let Some(value) = std::env::var_os(var).filter(|v| Path::new(v).is_absolute()) {
            environment.push_str(&format!(
                "Environment={var}={}\n",
                unit_path(value.as_ref())?
            ));
        }
    }
    let exec_start = format!("ExecStart={} daemon\n{environment}", unit_path(binary)?);
    let read_write = format!("ReadWritePaths={}\n", unit_path(data_dir)?);
    Ok(SERVICE_UNIT
        .replacen(EXEC_START, &exec_start, 1)
        .replacen(READ_WRITE_PATHS, &read_write, 1))
}

/// `path` as a unit file value: `%` escaped, and refused when systemd would split or expand it.
fn unit_path(path: &Path) -> Result<String> {
    let Some(text) = path.to_str() else {
        bail!(
            "{} is not UTF-8: systemd units cannot name it",
            path.display()
        );
    };
    if let Some(bad) = text
        .chars()
        .find(|c| c.is_whitespace() || c.is_control() || "\"'\\$".contains(*c))
    {
        bail!(
            "{text} contains {bad:?}, which a systemd unit cannot hold as is: move it to a path \
             without spaces, quotes, backslashes or '$'"
        );
    }
    Ok(text.replace('%', "%%"))
}

fn create_private_dir(dir: &Path) -> Result<()> {
    let context = || format!("cannot create {}", dir.display());
    if let Some(parent) = dir.parent() {
        std::fs::create_dir_all(parent).with_context(context)?;
    }
    match DirBuilder::new().mode(0o700).create(dir) {
        Err(e) if e.kind() != ErrorKind::AlreadyExists => Err(e).with_context(context),
        _ => Ok(()),
    }
}

/// credd.socket listens on `$XDG_RUNTIME_DIR/credd/credd.sock` of the user manager: says so
/// when this shell's clients would look elsewhere.
fn warn_if_socket_differs(socket: &Path) {
    let runtime = std::env::var_os("XDG_RUNTIME_DIR").filter(|v| !v.is_empty());
    let unit_socket = runtime.map(|dir| Path::new(&dir).join("credd").join("credd.sock"));
    if unit_socket.as_deref() != Some(socket) {
        eprintln!(
            "credd: warning: credd.socket listens on $XDG_RUNTIME_DIR/credd/credd.sock of the \
             systemd user manager, but clients here look for {}: unset CREDD_SOCKET, or log in \
             through systemd so that XDG_RUNTIME_DIR is set",
            socket.display()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_service_names_the_binary_and_the_data_dir() {
        let spaced = service_unit(Path::new("/opt/my credd/credd"), Path::new("/d"));
        assert!(spaced.is_err(), "a space was accepted");
        let unit = service_unit(
            Path::new("/opt/100%/credd"),
            Path::new("/home/u/data/credd"),
        )
        .unwrap();
        assert!(
            unit.contains("\nExecStart=/opt/100%%/credd daemon\n"),
            "{unit}"
        );
        assert!(
            unit.contains("\nReadWritePaths=/home/u/data/credd\n"),
            "{unit}"
        );
        assert!(
            !unit.contains("/usr/bin/credd") && !unit.contains("%h"),
            "{unit}"
        );
    }
}
