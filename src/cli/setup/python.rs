//! What `credd setup pip` and `credd setup uv` share: a `keyring` command in the bin directory
//! that is a symbolic link to this credd binary (credd answers as the keyring CLI when run by
//! that name), and one setting in the tool's own config file.

use std::path::{Path, PathBuf};

use anyhow::Result;
use credd::cargo::config_files::unified_diff;

use super::link::{Link, inspect, make_link};

/// The command pip and uv run to ask a keyring.
const KEYRING: &str = "keyring";

/// Options of `credd setup pip` and `credd setup uv`.
#[derive(Debug, clap::Args)]
pub(super) struct Args {
    /// Where to link `keyring` to credd; put it first on PATH [default: ~/.local/bin]
    #[arg(long, value_name = "DIR")]
    bin_dir: Option<PathBuf>,
    /// Print the changes (the link, and the config file as a diff) and write nothing
    #[arg(long)]
    dry_run: bool,
}

/// The change a tool's setup makes to its config file.
pub(super) struct FileChange {
    /// The file.
    pub path: PathBuf,
    /// Its text now (empty when it does not exist).
    pub before: String,
    /// Its text after the change.
    pub after: String,
    /// The mode to write it with.
    pub mode: u32,
    /// The setting, as the messages show it.
    pub setting: String,
}

/// One Python tool that asks a keyring.
pub(super) trait Tool {
    /// The tool's name, as in `credd setup NAME`.
    fn name(&self) -> &'static str;
    /// Works out the change to its config file, warning of what would override it.
    fn change(&self) -> Result<FileChange>;
    /// Says what the tool needs, besides the setting, to ask credd at all.
    fn advise(&self);
}

/// Sets up `tool`: refuses a foreign `keyring` before writing anything, then links `keyring`
/// and writes the config file (or, with --dry-run, prints both changes).
pub(super) fn run(args: Args, tool: &dyn Tool) -> Result<()> {
    let bin_dir = super::bin_dir(args.bin_dir)?;
    let credd = super::front_door()?;
    let link_path = bin_dir.join(KEYRING);
    let link = inspect(
        &link_path,
        &credd,
        "the Python keyring command",
        &format!("credd setup {}", tool.name()),
    )?;
    let change = tool.change()?;
    let shown = change.path.display().to_string();
    let changed = change.before != change.after;
    if args.dry_run {
        match &link {
            Link::Ours => eprintln!("credd: {} already links to credd", link_path.display()),
            _ => println!("link {} -> {}", link_path.display(), credd.display()),
        }
        print!("{}", unified_diff(&shown, &change.before, &change.after));
        eprintln!("credd: dry run: nothing was written");
        return Ok(());
    }
    make_link(&link_path, &credd, &link)?;
    match link {
        Link::Ours => eprintln!("credd: {} already links to credd", link_path.display()),
        Link::Missing => eprintln!(
            "credd: linked {} to {}",
            link_path.display(),
            credd.display()
        ),
        Link::OtherCredd(old) => eprintln!(
            "credd: linked {} to {} (it pointed to {})",
            link_path.display(),
            credd.display(),
            old.display()
        ),
    }
    if changed {
        super::write_file(
            &change.path,
            &change.after,
            change.mode,
            super::UMASK_DIR_MODE,
        )?;
        eprintln!("credd: {shown}: set {}", change.setting);
    } else {
        eprintln!(
            "credd: {shown} already has {}: nothing to change",
            change.setting
        );
    }
    tool.advise();
    advise_path(&bin_dir);
    Ok(())
}

/// Says what to do with PATH: `bin_dir` must come before any other `keyring`.
fn advise_path(bin_dir: &Path) {
    let standing = super::path_standing(bin_dir, KEYRING);
    if standing.first {
        eprintln!(
            "{} is on PATH before any other keyring: nothing else to do",
            bin_dir.display()
        );
        return;
    }
    if let Some(other) = standing.other {
        eprintln!(
            "credd: {} comes first on PATH now, and the tools run the first keyring they find",
            other.display()
        );
    }
    super::advise_path_first(bin_dir);
}
