//! What `credd setup pip` and `credd setup uv` share: a `keyring` command in the bin directory
//! that is a symbolic link to this credd binary (credd answers as the keyring CLI when run by
//! that name), and one setting in the tool's own config file.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use credd::cargo::config_files::unified_diff;

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

/// What is at `BIN/keyring`, and so what setup does there.
#[derive(Debug, PartialEq, Eq)]
enum Link {
    /// Nothing: create the link.
    Missing,
    /// Already a link to this credd.
    Ours,
    /// A link to another credd binary (an older install, or one since removed): point it here.
    OtherCredd(PathBuf),
}

/// Sets up `tool`: refuses a foreign `keyring` before writing anything, then links `keyring`
/// and writes the config file (or, with --dry-run, prints both changes).
pub(super) fn run(args: Args, tool: &dyn Tool) -> Result<()> {
    let bin_dir = super::bin_dir(args.bin_dir)?;
    let credd = std::env::current_exe().context("cannot find this credd binary")?;
    let link_path = bin_dir.join(KEYRING);
    let link = inspect(&link_path, &credd, tool.name())?;
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

/// Looks at what is at `path`: only nothing, or a link to a credd binary, may be (re)placed.
fn inspect(path: &Path, credd: &Path, tool: &str) -> Result<Link> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Link::Missing),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    if meta.file_type().is_symlink() {
        let target = std::fs::read_link(path)
            .with_context(|| format!("cannot read the link {}", path.display()))?;
        let resolved = path.parent().unwrap_or(Path::new("/")).join(&target);
        let canonical = std::fs::canonicalize(&resolved).ok();
        if canonical.is_some() && canonical == std::fs::canonicalize(credd).ok() {
            return Ok(Link::Ours);
        }
        let named_credd = |p: &Path| p.file_name() == Some("credd".as_ref());
        if named_credd(&resolved) || canonical.as_deref().is_some_and(named_credd) {
            return Ok(Link::OtherCredd(target));
        }
    }
    Err(super::refuse_foreign(
        path,
        "a link to credd",
        "the Python keyring command",
        &format!("credd setup {tool}"),
    ))
}

/// Creates or re-points the link; a re-pointed link is replaced in one rename, so `keyring`
/// never goes missing.
fn make_link(path: &Path, credd: &Path, link: &Link) -> Result<()> {
    let dir = path.parent().context("the link has no directory")?;
    let create = |at: &Path| {
        std::os::unix::fs::symlink(credd, at)
            .with_context(|| format!("cannot create the link {}", at.display()))
    };
    match link {
        Link::Ours => Ok(()),
        Link::Missing => {
            std::fs::DirBuilder::new()
                .recursive(true)
                .create(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            create(path)
        }
        Link::OtherCredd(_) => {
            let temp = dir.join(format!(".{KEYRING}.credd-{}", std::process::id()));
            let _ = std::fs::remove_file(&temp);
            create(&temp)?;
            std::fs::rename(&temp, path).with_context(|| {
                let _ = std::fs::remove_file(&temp);
                format!("cannot replace {}", path.display())
            })
        }
    }
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
