//! `credd setup poetry`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use credd::poetry::wrapper;

/// Options of `credd setup poetry`.
#[derive(Debug, clap::Args)]
pub(super) struct Args {
    /// Where to write the `poetry` wrapper; put it first on PATH [default: ~/.local/bin]
    #[arg(long, value_name = "DIR")]
    bin_dir: Option<PathBuf>,
}

/// Writes the keyring backend beside credd's data and the wrapper into the bin directory.
pub(super) fn run(args: Args) -> Result<()> {
    let bin_dir = super::bin_dir(args.bin_dir)?;
    let module_dir = super::keyring_module_dir()?;
    let credd = super::front_door()?;
    let script_path = bin_dir.join("poetry");
    refuse_foreign(&script_path)?;

    let module_path = super::write_keyring_module(&module_dir)?;
    let script = wrapper::script(&credd, &module_dir);
    super::write_file(&script_path, &script, 0o755, 0o755)?;

    eprintln!(
        "credd: wrote {} (credd's keyring backend) and {} (runs the real poetry with it)",
        module_path.display(),
        script_path.display()
    );
    advise_path(&bin_dir);
    Ok(())
}

/// Refuses to replace a `poetry` that is not credd's wrapper: in ~/.local/bin that is usually
/// the real Poetry, which the official installer puts there (often as a symbolic link into its
/// virtual environment, which may be gone: the wrapper must not be written through it).
fn refuse_foreign(path: &Path) -> Result<()> {
    if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
        return Err(super::refuse_foreign(
            path,
            "credd's wrapper",
            "a link to Poetry",
            "credd setup poetry",
        ));
    }
    match std::fs::read(path) {
        Ok(text) if wrapper::is_wrapper(&text) => Ok(()),
        Ok(_) => Err(super::refuse_foreign(
            path,
            "credd's wrapper",
            "Poetry itself",
            "credd setup poetry",
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// Says what to do with PATH: put `bin_dir` before every other `poetry`.
fn advise_path(bin_dir: &Path) {
    let standing = super::path_standing(bin_dir, "poetry");
    match standing.other {
        None => eprintln!(
            "credd: warning: no poetry on PATH besides the wrapper: install Poetry, or set \
             CREDD_POETRY to its path"
        ),
        Some(_) if standing.first => {
            eprintln!(
                "{} is on PATH before Poetry: nothing else to do",
                bin_dir.display()
            );
            return;
        }
        Some(_) => {}
    }
    super::advise_path_first(bin_dir);
}
