//! `credd setup python-keyring`: credd as the default backend of Python's `keyring` package, for
//! every program that loads it in-process (pip's `--keyring-provider import`, twine, Poetry run
//! without credd's wrapper). keyring reads `[backend] default-keyring` and `keyring-path` from
//! its config file before it looks at the installed backends; `PYTHON_KEYRING_BACKEND` wins.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use credd::cargo::config_files::unified_diff;
use credd::pip::files::{KeyNames, set_option};

/// The backend class, as keyring's `default-keyring` names it.
const BACKEND: &str = "credd_keyring.CreddKeyring";
/// The section of keyring's config file that chooses the backend.
const SECTION: &str = "backend";

/// Options of `credd setup python-keyring`.
#[derive(Debug, clap::Args)]
pub(super) struct Args {
    /// Print the change to keyring's config file as a diff and write nothing
    #[arg(long)]
    dry_run: bool,
}

/// Writes the backend module, then points keyring's config file at it.
pub(super) fn run(args: Args) -> Result<()> {
    let module_dir = super::keyring_module_dir()?;
    let config = config_file()?;
    let (before, mode) = super::read_optional(&config)?;
    let after = configured(&before, &module_dir)
        .with_context(|| format!("cannot edit {}", config.display()))?;
    let shown = config.display().to_string();
    if args.dry_run {
        print!("{}", unified_diff(&shown, &before, &after));
        eprintln!("credd: dry run: nothing was written");
        return Ok(());
    }
    let module = super::write_keyring_module(&module_dir)?;
    eprintln!(
        "credd: wrote {} (credd's keyring backend)",
        module.display()
    );
    if after == before {
        eprintln!("credd: {shown} already selects credd: nothing to change");
    } else {
        super::write_file(&config, &after, mode, super::UMASK_DIR_MODE)?;
        eprintln!("credd: {shown}: [{SECTION}] default-keyring = {BACKEND}");
    }
    warn_env();
    eprintln!(
        "Python programs that use keyring (pip --keyring-provider import, twine, Poetry) now ask \
         credd; store an index's password with 'credd add NAME --url INDEX_URL --username USER'"
    );
    Ok(())
}

/// `text` with `[backend]` selecting credd's backend from `module_dir`.
fn configured(text: &str, module_dir: &Path) -> Result<String> {
    let module_dir = module_dir
        .to_str()
        .context("credd's data directory is not UTF-8, which keyring's config cannot name")?;
    // keyring reads its file with configparser alone: keys match as configparser folds them.
    let names = KeyNames::ConfigParser;
    let text = set_option(text, SECTION, "default-keyring", BACKEND, names)?.text;
    Ok(set_option(&text, SECTION, "keyring-path", module_dir, names)?.text)
}

/// keyring's config file on Linux: `keyringrc.cfg` in `$XDG_CONFIG_HOME/python_keyring`, where
/// keyring takes any non-empty `XDG_CONFIG_HOME` (keyring.util.platform_), else
/// `~/.config/python_keyring`.
fn config_file() -> Result<PathBuf> {
    let root = match std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        Some(root) => PathBuf::from(root),
        None => super::home()?.join(".config"),
    };
    Ok(root.join("python_keyring").join("keyringrc.cfg"))
}

/// Warns when `PYTHON_KEYRING_BACKEND` names another backend: it wins over the config file.
fn warn_env() {
    if let Some(value) = std::env::var_os("PYTHON_KEYRING_BACKEND")
        && value != BACKEND
    {
        eprintln!(
            "credd: warning: PYTHON_KEYRING_BACKEND is set to {:?} in this shell, and it wins \
             over keyring's config file: unset it, or set it to {BACKEND}",
            value.to_string_lossy()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backend_section_is_set_and_the_rest_kept() {
        let dir = Path::new("/home/u/.local/share/credd/python");
        let before = "# mine\n[other]\nx = 1\n";
        let after = configured(before, dir).unwrap();
        assert_eq!(
            after,
            "# mine\n[other]\nx = 1\n\n[backend]\ndefault-keyring = credd_keyring.CreddKeyring\n\
             keyring-path = /home/u/.local/share/credd/python\n"
        );
        assert_eq!(
            configured(&after, dir).unwrap(),
            after,
            "a second run changes nothing"
        );
        let replaced = configured(
            "[backend]\ndefault-keyring = keyring.backends.fail.Keyring\n",
            dir,
        )
        .unwrap();
        assert!(replaced.starts_with("[backend]\ndefault-keyring = credd_keyring.CreddKeyring\n"));
    }
}
