//! `credd setup`: configure a tool to ask credd for its credentials.
//!
//! Each tool's setup works out what to write, checks what it can, then writes its files through
//! [`write_file`], the one way `credd setup` writes: atomically, with the file's mode, creating
//! the directory first. No agent is needed.

mod cargo;
mod docker;
mod git;
mod link;
mod pip;
mod poetry;
mod python;
mod python_keyring;
mod systemd;
mod uv;

use std::io::ErrorKind;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// Options of `credd setup`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    target: SetupTarget,
}

/// The tools `credd setup` configures.
#[derive(Debug, clap::Subcommand)]
enum SetupTarget {
    /// Make Cargo ask credd for registry tokens, in $CARGO_HOME/config.toml.
    ///
    /// Adds credd to `[registry] global-credential-providers`, after `cargo:token` (Cargo asks
    /// later entries first, so credd comes first and credentials.toml is the fallback); or, with
    /// --registry, sets that one registry's `credential-provider`. Comments and formatting are
    /// kept, and a second run changes nothing.
    Cargo(cargo::Args),
    /// Make docker ask credd, through `docker-credential-credd`, a link to credd.
    ///
    /// Links docker-credential-credd in --bin-dir (default ~/.local/bin) to this installation's
    /// `credd` and sets `credsStore` (or with --registry, `credHelpers` for those registries) to
    /// credd in $DOCKER_CONFIG/config.json (default ~/.docker/config.json), keeping the rest of
    /// the file.
    Docker(docker::Args),
    /// Make git (and Cargo's git fetches) ask credd, in your global git config.
    ///
    /// Adds this installation's `credd` as a `credential.helper` (after any helper already
    /// there), or with --url only for that URL (`credential.URL.helper`; with a port, also the
    /// key without it, the one libgit2 reads). git's own config writer makes the change, so the
    /// rest of the file is kept; a second run changes nothing.
    Git(git::Args),
    /// Make Poetry ask credd, through a `poetry` wrapper and a Python keyring backend.
    ///
    /// Writes credd_keyring.py into credd's data directory and a `poetry` script into --bin-dir
    /// (default ~/.local/bin) that runs the real poetry further down PATH with that backend.
    /// Put the directory first on PATH. An existing `poetry` that is not the wrapper is kept.
    Poetry(poetry::Args),
    /// Make pip ask credd, through a `keyring` command that is credd itself.
    ///
    /// Links `keyring` in --bin-dir (default ~/.local/bin) to this installation's `credd` and
    /// sets `keyring-provider = subprocess` in `[global]` of the user's pip.conf, keeping the rest
    /// of the file. Put the directory first on PATH. An existing `keyring` that is not a link to
    /// credd (the Python keyring, say) is kept, and nothing is written.
    Pip(python::Args),
    /// Make uv ask credd, through a `keyring` command that is credd itself.
    ///
    /// Links `keyring` in --bin-dir (default ~/.local/bin) to this installation's `credd` and
    /// sets `keyring-provider = "subprocess"` in the user's uv.toml, keeping the rest of the
    /// file. uv asks only for an index whose URL has a username or that says
    /// `authenticate = "always"`.
    Uv(python::Args),
    /// Make credd the default backend of Python's keyring package, for the programs that load
    /// it in-process: pip with --keyring-provider import, twine, Poetry without the wrapper.
    ///
    /// Writes credd_keyring.py into credd's data directory and sets `default-keyring` and
    /// `keyring-path` in `[backend]` of keyring's config file,
    /// $XDG_CONFIG_HOME/python_keyring/keyringrc.cfg, keeping the rest of the file.
    /// PYTHON_KEYRING_BACKEND, where set, wins over it.
    PythonKeyring(python_keyring::Args),
    /// Install systemd user units that start the agent on the first connection, sandboxed.
    ///
    /// Writes credd.socket and credd.service into $XDG_CONFIG_HOME/systemd/user/, naming this
    /// installation's `credd-full` (the agent) and the vault's directory, and prints the
    /// systemctl line that enables them.
    Systemd,
}

/// Runs `credd setup TOOL`; no agent is needed.
pub fn run(socket: &Path, args: Args) -> Result<()> {
    match args.target {
        SetupTarget::Cargo(args) => cargo::run(args),
        SetupTarget::Docker(args) => docker::run(args),
        SetupTarget::Git(args) => git::run(args),
        SetupTarget::Poetry(args) => poetry::run(args),
        SetupTarget::Pip(args) => python::run(args, &pip::Pip),
        SetupTarget::Uv(args) => python::run(args, &uv::Uv),
        SetupTarget::PythonKeyring(args) => python_keyring::run(args),
        SetupTarget::Systemd => systemd::run(socket),
    }
}

/// Where credd keeps its Python keyring backend: `python/` in credd's data directory.
fn keyring_module_dir() -> Result<PathBuf> {
    Ok(credd::paths::data_dir()
        .context("cannot find credd's data directory: set XDG_DATA_HOME or HOME")?
        .join("python"))
}

/// Writes credd's Python keyring backend (`credd_keyring.py`) into `module_dir`, the same file
/// for every tool that loads it; returns its path.
fn write_keyring_module(module_dir: &Path) -> Result<PathBuf> {
    let module_path = module_dir.join(credd::poetry::wrapper::MODULE_FILE);
    write_file(
        &module_path,
        credd::poetry::wrapper::KEYRING_MODULE,
        0o644,
        0o700,
    )?;
    Ok(module_path)
}

/// The mode of a directory whose permissions are left to the umask, as `mkdir -p` leaves them.
const UMASK_DIR_MODE: u32 = 0o777;

/// A new config file of a tool gets the mode the tool itself would give it.
const NEW_FILE_MODE: u32 = 0o644;

/// Writes `text` to `path` atomically with `mode`, first creating its directory and any missing
/// parent with `dir_mode` (less the umask).
fn write_file(path: &Path, text: &str, mode: u32, dir_mode: u32) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(dir_mode)
            .create(dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
    }
    credd::atomic::write_atomic(path, text.as_bytes(), mode)
        .with_context(|| format!("cannot write {}", path.display()))
}

/// True when `path` is a file someone may execute.
fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// A file's text and mode, or an empty text and [`NEW_FILE_MODE`] when it does not exist.
fn read_optional(path: &Path) -> Result<(String, u32)> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let mode = std::fs::metadata(path)
                .with_context(|| format!("cannot read {}", path.display()))?
                .permissions()
                .mode()
                & 0o7777;
            Ok((text, mode))
        }
        Err(e) if e.kind() == ErrorKind::NotFound => Ok((String::new(), NEW_FILE_MODE)),
        Err(e) if e.kind() == ErrorKind::InvalidData => {
            bail!("{} is not UTF-8 text: fix it by hand", path.display())
        }
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// The `credd` the tools are pointed at: this installation's front door (setup itself runs in
/// `credd-full`, beside it).
fn front_door() -> Result<PathBuf> {
    credd::paths::installed_binary(credd::paths::FRONT_DOOR)
        .context("cannot find this credd binary")
}

/// `--bin-dir`, made absolute, or ~/.local/bin.
fn bin_dir(arg: Option<PathBuf>) -> Result<PathBuf> {
    match arg {
        Some(dir) => std::path::absolute(dir).context("cannot resolve --bin-dir"),
        None => home().map(|home| home.join(".local/bin")),
    }
}

fn home() -> Result<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .context("cannot find your home directory: set HOME, or give --bin-dir DIR")
}

/// The refusal to replace `path`, a file credd did not make there: `probably` says what it
/// likely is, and `command` is the setup to run again with another directory.
fn refuse_foreign(path: &Path, ours: &str, probably: &str, command: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "{} exists and is not {ours} (it is probably {probably}): leave it, and give another \
         directory with '{command} --bin-dir DIR', e.g. ~/.local/share/credd/bin",
        path.display()
    )
}

/// Where `bin_dir` stands on PATH against the other executables named like the one setup put
/// there.
struct PathStanding {
    /// Whether `bin_dir` is on PATH before every other one (or there is no other).
    first: bool,
    /// The first other executable of that name on PATH.
    other: Option<PathBuf>,
}

/// Finds where `bin_dir` stands on PATH for the command `name`.
fn path_standing(bin_dir: &Path, name: &str) -> PathStanding {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
    let ours = dirs.iter().position(|d| d == bin_dir);
    let other = dirs
        .iter()
        .position(|d| d != bin_dir && is_executable(&d.join(name)));
    PathStanding {
        first: ours.is_some_and(|ours| other.is_none_or(|other| ours < other)),
        other: other.map(|i| dirs[i].join(name)),
    }
}

/// Tells the user to put `bin_dir` first on PATH, and how.
fn advise_path_first(bin_dir: &Path) {
    eprintln!(
        "next: put {dir} first on PATH, e.g. add this line to ~/.profile and open a new shell:\n  \
         export PATH=\"{dir}:$PATH\"",
        dir = bin_dir.display()
    );
}
