//! The one rule for credd's own directories (the socket's and the vault's): a directory, owned
//! by this user, closed to group and others. The agent applies it before it listens or writes,
//! and every client before it connects, so a directory another local user created first is
//! refused on both sides.

use std::fs::{self, DirBuilder};
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Why a directory cannot be used as a private one.
#[derive(Debug, thiserror::Error)]
pub enum PrivateDirError {
    /// It exists but is not private, and credd will not make it so.
    #[error(
        "refusing to use the directory {}: {reason}; remove it, or run 'chmod 700' on it if it \
         is yours",
        .dir.display()
    )]
    Unsafe {
        /// The directory.
        dir: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// Creating or checking it failed.
    #[error("cannot create or check the directory {}: {source}", .dir.display())]
    Io {
        /// The directory.
        dir: PathBuf,
        /// Why.
        source: io::Error,
    },
}

/// What to do with an existing directory of this user that is open to others.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhenOpen {
    /// Refuse it: where others may create directories (`/tmp`), an open one is a warning sign,
    /// and the person should look before credd uses it.
    Refuse,
    /// Close it (mode 0700): under the user's home, an open directory is an old `mkdir`.
    Tighten,
}

/// Creates `dir` with mode 0700 (its parents as usual), or checks an existing one: it must be a
/// directory of this user; open to others, it is refused or tightened as `when_open` says.
pub fn ensure(dir: &Path, when_open: WhenOpen) -> Result<(), PrivateDirError> {
    let io_err = |source| PrivateDirError::Io {
        dir: dir.into(),
        source,
    };
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).map_err(io_err)?;
    }
    match DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => return Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(io_err(e)),
    }
    match problem(dir).map_err(io_err)? {
        None => Ok(()),
        Some(Problem::OpenMode(_)) if when_open == WhenOpen::Tighten => {
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(io_err)
        }
        Some(problem) => Err(PrivateDirError::Unsafe {
            dir: dir.into(),
            reason: problem.to_string(),
        }),
    }
}

/// The directory `file` is in (`.` for a bare name).
pub fn parent_of(file: &Path) -> &Path {
    match file.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

/// Why a directory is not private to this user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    /// Not a directory; a symbolic link counts as not one.
    #[error("it is not a directory")]
    NotADirectory,
    /// Owned by another user (uid).
    #[error("it is owned by uid {0}, not by you (uid {euid})", euid = crate::sys::current_euid())]
    OwnedBy(u32),
    /// Ours, but open to group or others (the mode bits).
    #[error("its mode {0:o} lets other users in")]
    OpenMode(u32),
}

/// Why `dir` is not private to this user, if it is not.
pub fn problem(dir: &Path) -> io::Result<Option<Problem>> {
    let meta = fs::symlink_metadata(dir)?;
    if !meta.is_dir() {
        return Ok(Some(Problem::NotADirectory));
    }
    if meta.uid() != crate::sys::current_euid() {
        return Ok(Some(Problem::OwnedBy(meta.uid())));
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Ok(Some(Problem::OpenMode(mode)));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::DirBuilderExt;

    #[test]
    fn a_private_directory_passes_and_an_open_one_or_a_link_does_not() {
        let root = tempfile::tempdir().unwrap();
        let private = root.path().join("private");
        fs::DirBuilder::new().mode(0o700).create(&private).unwrap();
        assert_eq!(problem(&private).unwrap(), None);

        let open = root.path().join("open");
        fs::DirBuilder::new().mode(0o700).create(&open).unwrap();
        fs::set_permissions(&open, fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(problem(&open).unwrap(), Some(Problem::OpenMode(0o755)));
        assert!(Problem::OpenMode(0o755).to_string().contains("mode 755"));

        let link = root.path().join("link");
        std::os::unix::fs::symlink(&private, &link).unwrap();
        assert_eq!(problem(&link).unwrap(), Some(Problem::NotADirectory));
    }

    #[test]
    fn ensure_creates_refuses_or_tightens_and_never_takes_another_users_directory() {
        let root = tempfile::tempdir().unwrap();
        let new = root.path().join("a/b/credd");
        ensure(&new, WhenOpen::Refuse).unwrap();
        assert_eq!(
            fs::metadata(&new).unwrap().permissions().mode() & 0o777,
            0o700
        );

        let open = root.path().join("open");
        fs::DirBuilder::new().mode(0o755).create(&open).unwrap();
        fs::set_permissions(&open, fs::Permissions::from_mode(0o755)).unwrap();
        let refused = ensure(&open, WhenOpen::Refuse).unwrap_err().to_string();
        assert!(
            refused.contains("mode 755") && refused.contains("chmod 700"),
            "{refused}"
        );
        ensure(&open, WhenOpen::Tighten).unwrap();
        assert_eq!(
            fs::metadata(&open).unwrap().permissions().mode() & 0o777,
            0o700
        );

        let theirs = root.path().join("theirs");
        fs::DirBuilder::new().mode(0o755).create(&theirs).unwrap();
        std::os::unix::fs::chown(&theirs, Some(crate::sys::current_euid() + 1), None).unwrap();
        for when_open in [WhenOpen::Refuse, WhenOpen::Tighten] {
            let err = ensure(&theirs, when_open).unwrap_err().to_string();
            assert!(err.contains("owned by uid"), "{err}");
        }

        let file = root.path().join("file");
        fs::write(&file, b"").unwrap();
        assert!(ensure(&file, WhenOpen::Tighten).is_err());
    }

    #[test]
    fn a_directory_of_another_user_is_named_as_such() {
        let root = tempfile::tempdir().unwrap();
        let theirs = root.path().join("theirs");
        fs::DirBuilder::new().mode(0o700).create(&theirs).unwrap();
        let other = crate::sys::current_euid().wrapping_add(1);
        // The suite runs as root, which may give a directory away.
        std::os::unix::fs::chown(&theirs, Some(other), None).unwrap();
        let reason = problem(&theirs).unwrap().unwrap().to_string();
        assert!(
            reason.contains(&format!("owned by uid {other}")),
            "{reason}"
        );
    }
}
