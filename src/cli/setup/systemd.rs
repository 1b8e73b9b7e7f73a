//! `credd setup systemd`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use credd::paths;

/// The units as shipped in systemd/; the service is rewritten for this installation.
const SOCKET_UNIT: &str = include_str!("../../../systemd/credd.socket");
const SERVICE_UNIT: &str = include_str!("../../../systemd/credd.service");
/// The lines of [`SERVICE_UNIT`] that name the binary and the vault's directory.
const EXEC_START: &str = "ExecStart=/usr/bin/credd-full daemon\n";
const READ_WRITE_PATHS: &str = "ReadWritePaths=%h/.local/share/credd\n";

/// The command that starts socket activation, printed for the user to run.
const ENABLE: &str = "systemctl --user enable --now credd.socket";

/// Writes credd.socket and credd.service into the user's systemd unit directory; no agent is
/// needed.
pub(super) fn run(socket: &Path) -> Result<()> {
    let binary = credd::paths::installed_binary(credd::paths::FULL_BINARY)
        .context("cannot find the path of this credd binary")?;
    let data_dir =
        paths::data_dir().context("cannot find a data directory: set XDG_DATA_HOME or HOME")?;
    let unit_dir = unit_dir()?;
    let service = service_unit(&binary, &data_dir)?;
    // ReadWritePaths= fails the service unless the directory exists.
    credd::private_dir::ensure(&data_dir, credd::private_dir::WhenOpen::Tighten)?;
    for (name, text) in [("credd.socket", SOCKET_UNIT), ("credd.service", &service)] {
        let path = unit_dir.join(name);
        super::write_file(&path, text, 0o644, super::UMASK_DIR_MODE)?;
        eprintln!("credd: wrote {}", path.display());
    }
    let unit_socket = unit_socket();
    warn_if_socket_differs(&unit_socket, socket);
    warn_if_agent_runs([&unit_socket, socket]);
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

/// Says so, and why, when this shell's clients would look for the agent elsewhere than
/// credd.socket listens.
fn warn_if_socket_differs(unit_socket: &Path, socket: &Path) {
    let runtime = std::env::var_os("XDG_RUNTIME_DIR").filter(|v| !v.is_empty());
    if unit_socket == socket {
        return;
    }
    let why = if std::env::var_os("CREDD_SOCKET").is_some_and(|v| !v.is_empty()) {
        "CREDD_SOCKET names it: unset CREDD_SOCKET"
    } else if runtime.is_none() {
        "this shell has no XDG_RUNTIME_DIR and /run/user/$UID is not yours: log in through \
         systemd (pam_systemd) so that both exist"
    } else {
        "--socket names it: leave --socket out"
    };
    eprintln!(
        "credd: warning: credd.socket will listen on {}, but clients here look for {} ({why})",
        unit_socket.display(),
        socket.display()
    );
}

/// Where credd.socket listens: `%t/credd/credd.sock`, `%t` being the user manager's runtime
/// directory, which is this shell's `XDG_RUNTIME_DIR` when it has one, else `/run/user/$UID`.
fn unit_socket() -> PathBuf {
    match std::env::var_os("XDG_RUNTIME_DIR").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(format!("/run/user/{}", credd::sys::current_uid())),
    }
    .join("credd")
    .join("credd.sock")
}

/// Says so when an agent answers already: one started by hand holds the vault, and the agent
/// systemd starts would refuse to run beside it.
fn warn_if_agent_runs(sockets: [&Path; 2]) {
    let Some(mut client) = sockets
        .into_iter()
        .find_map(|socket| credd::client::Client::connect(socket).ok())
    else {
        return;
    };
    let socket = client.socket().to_path_buf();
    if let Ok(status) =
        client.call::<credd_protocol::StatusResult>(credd_protocol::Operation::Status)
    {
        eprintln!(
            "credd: warning: an agent runs already (pid {} on {}): if you started it by hand, \
             stop it with 'credd stop' before you enable credd.socket",
            status.pid,
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
