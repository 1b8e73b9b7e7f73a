//! The one rule for a directory that holds credd's socket: a directory, owned by this user, closed
//! to group and others. The agent applies it before it listens and every client before it
//! connects, so a directory another local user created first is refused on both sides.

use std::fs;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

/// Why `dir` is not private to this user, if it is not: not a directory (a symbolic link
/// counts as not one), someone else's, or open to group or others.
pub fn problem(dir: &Path) -> io::Result<Option<String>> {
    let meta = fs::symlink_metadata(dir)?;
    if !meta.is_dir() {
        return Ok(Some("it is not a directory".into()));
    }
    let euid = crate::sys::current_euid();
    if meta.uid() != euid {
        return Ok(Some(format!(
            "it is owned by uid {}, not by you (uid {euid})",
            meta.uid()
        )));
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Ok(Some(format!("its mode {mode:o} lets other users in")));
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
        assert!(problem(&open).unwrap().unwrap().contains("mode 755"));

        let link = root.path().join("link");
        std::os::unix::fs::symlink(&private, &link).unwrap();
        assert!(problem(&link).unwrap().unwrap().contains("not a directory"));
    }

    #[test]
    fn a_directory_of_another_user_is_named_as_such() {
        let root = tempfile::tempdir().unwrap();
        let theirs = root.path().join("theirs");
        fs::DirBuilder::new().mode(0o700).create(&theirs).unwrap();
        let other = crate::sys::current_euid().wrapping_add(1);
        // The suite runs as root, which may give a directory away.
        std::os::unix::fs::chown(&theirs, Some(other), None).unwrap();
        let reason = problem(&theirs).unwrap().unwrap();
        assert!(
            reason.contains(&format!("owned by uid {other}")),
            "{reason}"
        );
    }
}
