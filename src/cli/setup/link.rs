//! A command in the bin directory that is a symbolic link to this credd binary (credd answers as
//! that command when run by its name): `keyring` for pip and uv, `docker-credential-credd` for
//! docker. Only nothing, or a link to some credd, is ever replaced.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// What is at the link's place, and so what setup does there.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Link {
    /// Nothing: create the link.
    Missing,
    /// Already a link to this credd.
    Ours,
    /// A link to another credd binary (an older install, or one since removed): point it here.
    OtherCredd(PathBuf),
}

/// Looks at what is at `path`: only nothing, or a link to a credd binary, may be (re)placed.
/// `probably` says what a foreign file there likely is, `command` the setup to run again.
pub(super) fn inspect(path: &Path, credd: &Path, probably: &str, command: &str) -> Result<Link> {
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
        probably,
        command,
    ))
}

/// Creates or re-points the link; a re-pointed link is replaced in one rename, so the command
/// never goes missing.
pub(super) fn make_link(path: &Path, credd: &Path, link: &Link) -> Result<()> {
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
            let name = path.file_name().context("the link has no file name")?;
            let temp = dir.join(format!(
                ".{}.credd-{}",
                name.to_string_lossy(),
                std::process::id()
            ));
            let _ = std::fs::remove_file(&temp);
            create(&temp)?;
            std::fs::rename(&temp, path).with_context(|| {
                let _ = std::fs::remove_file(&temp);
                format!("cannot replace {}", path.display())
            })
        }
    }
}
