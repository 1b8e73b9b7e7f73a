//! Crash-safe file writes: a crash or power loss leaves either the old file or the new one,
//! never a torn mix of both.
//!
//! The new content goes into a temporary file beside the target (same directory, so the same
//! file system), which is flushed to disk and then renamed over the target; the directory is
//! flushed last so that the rename itself is durable.

use std::fs::{self, File, OpenOptions, Permissions};
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::sys::{self, Errno};

/// Replaces `path` with `bytes` so that a crash leaves the old or the new file, never a torn one:
/// temp file in the same dir (`O_EXCL`, created with `mode`), write, fsync, rename, fsync the dir.
///
/// The new file gets exactly `mode` (the umask does not apply). When `path` is a symbolic link,
/// the file it points to is replaced and the link is kept. On failure the temporary file is
/// removed and `path` is unchanged, except when only the final directory flush fails: then the
/// new content is in place but may not survive a power loss yet.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    let target = resolve_symlinks(path)?;
    let temp = TempFile::create(&target, mode)?;
    temp.fill(bytes)?;
    fs::rename(&temp.path, &target)?;
    let dir = temp.disarm();
    sync_dir(&dir)
}

/// Like [`write_atomic`], but creates `path` only if nothing exists there yet (not even a broken
/// link or a damaged file): fails with [`io::ErrorKind::AlreadyExists`] and leaves it untouched
/// otherwise, even when another process creates it at the same moment.
pub fn create_atomic(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    let temp = TempFile::create(path, mode)?;
    temp.fill(bytes)?;
    match fs::hard_link(&temp.path, path) {
        // The temporary name is dropped (and so removed) below; the content stays under `path`.
        Ok(()) => {}
        Err(e) if links_unsupported(&e) => {
            // A file system without hard links: check, then rename (a small race is unavoidable).
            if fs::symlink_metadata(path).is_ok() {
                return Err(io::Error::from(io::ErrorKind::AlreadyExists));
            }
            fs::rename(&temp.path, path)?;
        }
        Err(e) => return Err(e),
    }
    let dir = temp.dir.clone();
    drop(temp);
    sync_dir(&dir)
}

/// Removes the temporary files that writes of `target` interrupted by a crash or `kill -9` left
/// in its directory, and returns their paths. Only the names [`TempFile`] gives (`.NAME.PID.N.tmp`)
/// are touched; call it only while no other process writes `target`. When `target` is a
/// symbolic link, they are looked for beside the file it points to, where [`write_atomic`] puts
/// them.
pub fn remove_leftovers(target: &Path) -> io::Result<Vec<PathBuf>> {
    let target = resolve_symlinks(target)?;
    let Some(name) = target.file_name() else {
        return Ok(Vec::new());
    };
    let dir = crate::private_dir::parent_of(&target);
    let prefix = format!(".{}.", temp_stem(name));
    let mut removed = Vec::new();
    let entries = match fs::read_dir(dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(removed),
        other => other?,
    };
    for entry in entries {
        let entry = entry?;
        let file_name = entry.file_name();
        let is_leftover = file_name
            .to_str()
            .and_then(|n| n.strip_prefix(&prefix))
            .and_then(|rest| rest.strip_suffix(".tmp"))
            .and_then(|rest| rest.split_once('.'))
            .is_some_and(|(pid, n)| all_digits(pid) && all_digits(n));
        if is_leftover && entry.file_type()?.is_file() {
            fs::remove_file(entry.path())?;
            removed.push(entry.path());
        }
    }
    if !removed.is_empty() {
        sync_dir(dir)?;
    }
    Ok(removed)
}

/// The part of a temporary name taken from the target's name: kept well under NAME_MAX.
fn temp_stem(name: &std::ffi::OsStr) -> String {
    String::from_utf8_lossy(&name.as_bytes()[..name.len().min(64)]).into_owned()
}

fn all_digits(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())
}

/// Opens the lock file `path` for writing, creating it with mode 0600 (`O_CLOEXEC` as every open
/// of std). A symbolic link there is refused, never followed (`O_NOFOLLOW`): someone who can
/// plant one must not make credd create or lock a file of their choice.
fn open_lock_file(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .custom_flags(sys::O_NOFOLLOW)
        .open(path)
        .map_err(|e| match Errno::from_io_error(&e) {
            Some(Errno::LOOP) => io::Error::new(
                e.kind(),
                "it is a symbolic link, which credd does not follow: remove it",
            ),
            _ => e,
        })
}

/// Tries once to take the exclusive lock on the lock file `path` ([`open_lock_file`]):
/// `Ok(None)` when another process holds it. A lock on a file that was removed or replaced
/// meanwhile does not count (the path must still name the locked file), so a holder may remove
/// its lock file as it exits without letting two processes hold "the" lock.
pub fn try_lock_file(path: &Path) -> io::Result<Option<File>> {
    use std::os::unix::fs::MetadataExt;
    for _ in 0..8 {
        let file = open_lock_file(path)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => return Ok(None),
            Err(fs::TryLockError::Error(e)) => return Err(e),
        }
        let held = file.metadata()?;
        match fs::symlink_metadata(path) {
            Ok(now) if now.dev() == held.dev() && now.ino() == held.ino() => return Ok(Some(file)),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::other(
        "the lock file is removed or replaced as fast as it is locked",
    ))
}

/// A private scratch copy of a file, for a tool that edits a file in place (git's config
/// writer): a new file beside the original, never one already there, with mode 0600 whatever
/// the umask, since what it copies may hold secrets. Removed when dropped.
pub struct Scratch(TempFile);

impl Scratch {
    /// A scratch copy of `bytes` beside `original`.
    pub fn beside(original: &Path, bytes: &[u8]) -> io::Result<Self> {
        let temp = TempFile::create(original, 0o600)?;
        temp.fill(bytes)?;
        Ok(Self(temp))
    }

    /// Where the copy is.
    pub fn path(&self) -> &Path {
        &self.0.path
    }
}

/// A temporary file beside the target; removed on drop unless disarmed.
struct TempFile {
    dir: PathBuf,
    path: PathBuf,
    file: Option<File>,
    armed: bool,
}

impl TempFile {
    /// Creates a new, empty temporary file with exactly `mode` in `target`'s directory.
    fn create(target: &Path, mode: u32) -> io::Result<Self> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let name = target.file_name().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} does not name a file", target.display()),
            )
        })?;
        let dir = crate::private_dir::parent_of(target).to_path_buf();
        let stem = temp_stem(name);
        let pid = std::process::id();
        let mut attempts = 0;
        loop {
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let path = dir.join(format!(".{stem}.{pid}.{n}.tmp"));
            let opened = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(mode)
                .open(&path);
            match opened {
                Ok(file) => {
                    let temp = Self {
                        dir,
                        path,
                        file: Some(file),
                        armed: true,
                    };
                    // Exactly `mode`, whatever the umask removed.
                    temp.file()?.set_permissions(Permissions::from_mode(mode))?;
                    return Ok(temp);
                }
                // A leftover of a crashed process that had our pid: pick the next name.
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempts < 100 => {
                    attempts += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn file(&self) -> io::Result<&File> {
        self.file
            .as_ref()
            .ok_or_else(|| io::Error::other("the temporary file is closed"))
    }

    /// Writes `bytes`, flushes them to disk and closes the file.
    fn fill(&self, bytes: &[u8]) -> io::Result<()> {
        let mut file = self.file()?;
        file.write_all(bytes)?;
        file.sync_all()
    }

    /// Keeps the file (it has been renamed); returns its directory.
    fn disarm(mut self) -> PathBuf {
        self.armed = false;
        std::mem::take(&mut self.dir)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        self.file = None;
        if self.armed {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Follows symbolic links at the last component of `path`, so that the file they point to is
/// replaced rather than the link. A dangling link yields its (missing) target.
fn resolve_symlinks(path: &Path) -> io::Result<PathBuf> {
    let mut current = path.to_path_buf();
    for _ in 0..40 {
        match fs::symlink_metadata(&current) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let target = fs::read_link(&current)?;
                current = match current.parent() {
                    Some(parent) if target.is_relative() => parent.join(target),
                    _ => target,
                };
            }
            Ok(_) => return Ok(current),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(current),
            Err(e) => return Err(e),
        }
    }
    Err(Errno::LOOP.into())
}

/// True when a hard-link failure means the file system has no hard links.
fn links_unsupported(error: &io::Error) -> bool {
    matches!(
        Errno::from_io_error(error),
        Some(Errno::PERM | Errno::OPNOTSUPP | Errno::NOSYS)
    )
}

/// Flushes `dir`'s entries (the rename) to disk; file systems that cannot do so are accepted.
fn sync_dir(dir: &Path) -> io::Result<()> {
    match File::open(dir).and_then(|d| d.sync_all()) {
        Err(e)
            if matches!(
                Errno::from_io_error(&e),
                Some(Errno::INVAL | Errno::OPNOTSUPP)
            ) =>
        {
            Ok(())
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    fn mode_of(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn leftovers_of_a_linked_target_are_found_beside_the_file_it_points_to() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("real")).unwrap();
        let link = dir.path().join("vault");
        std::os::unix::fs::symlink("real/vault", &link).unwrap();
        write_atomic(&link, b"v1", 0o600).unwrap();
        let leftover = dir.path().join("real/.vault.4242.7.tmp");
        fs::write(&leftover, b"old").unwrap();
        assert_eq!(
            remove_leftovers(&link).unwrap(),
            std::slice::from_ref(&leftover)
        );
        assert!(!leftover.exists());
        assert_eq!(fs::read(&link).unwrap(), b"v1");
    }

    #[test]
    fn a_scratch_copy_is_new_private_and_removed_when_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let original = dir.path().join(".gitconfig");
        fs::write(&original, b"[http]\n").unwrap();
        let copy = Scratch::beside(&original, b"[http]\n\textraHeader = secret\n").unwrap();
        assert_eq!(mode_of(copy.path()), 0o600);
        assert_eq!(
            fs::read(copy.path()).unwrap(),
            b"[http]\n\textraHeader = secret\n"
        );
        assert_eq!(copy.path().parent(), Some(dir.path()));
        let path = copy.path().to_owned();
        drop(copy);
        assert!(!path.exists());
        assert_eq!(names(dir.path()), [".gitconfig"]);
    }

    #[test]
    fn writes_a_new_file_with_the_mode_and_no_leftovers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("credentials.toml");
        write_atomic(&path, b"hello", 0o600).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"hello");
        assert_eq!(mode_of(&path), 0o600);
        assert_eq!(names(dir.path()), ["credentials.toml"]);
    }

    #[test]
    fn replaces_existing_content_and_sets_the_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        fs::write(&path, b"old content that is longer").unwrap();
        fs::set_permissions(&path, Permissions::from_mode(0o644)).unwrap();
        write_atomic(&path, b"new", 0o640).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"new");
        assert_eq!(mode_of(&path), 0o640);
        assert_eq!(names(dir.path()), ["f"]);
    }

    #[test]
    fn failed_rename_removes_the_temp_file_and_keeps_the_target() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target");
        fs::create_dir(&target).unwrap();
        fs::write(target.join("inside"), b"keep").unwrap();
        assert!(write_atomic(&target, b"new", 0o600).is_err());
        assert!(target.is_dir());
        assert_eq!(fs::read(target.join("inside")).unwrap(), b"keep");
        assert_eq!(names(dir.path()), ["target"]);
    }

    #[test]
    fn missing_directory_is_an_error_and_creates_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing").join("f");
        let err = write_atomic(&path, b"x", 0o600).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert!(names(dir.path()).is_empty());
    }

    #[test]
    fn writes_through_a_symlink_and_keeps_it() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real");
        let link = dir.path().join("link");
        fs::write(&real, b"old").unwrap();
        std::os::unix::fs::symlink("real", &link).unwrap();
        write_atomic(&link, b"new", 0o600).unwrap();
        assert!(
            fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(fs::read(&real).unwrap(), b"new");
        assert_eq!(names(dir.path()), ["link", "real"]);
    }

    #[test]
    fn create_atomic_refuses_an_existing_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vault");
        create_atomic(&path, b"first", 0o600).unwrap();
        assert_eq!(mode_of(&path), 0o600);
        let err = create_atomic(&path, b"second", 0o600).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(fs::read(&path).unwrap(), b"first");
        assert_eq!(names(dir.path()), ["vault"]);
    }

    #[test]
    fn a_lock_is_exclusive_and_a_removed_lock_file_is_not_held() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.lock");
        let first = try_lock_file(&path).unwrap().expect("free");
        assert!(try_lock_file(&path).unwrap().is_none(), "held twice");
        // The holder removes its file as it exits: the next one locks a new file.
        fs::remove_file(&path).unwrap();
        let second = try_lock_file(&path).unwrap().expect("a new file is free");
        drop(first);
        assert!(
            try_lock_file(&path).unwrap().is_none(),
            "the new file is held"
        );
        drop(second);
        assert_eq!(mode_of(&path), 0o600);
    }

    #[test]
    fn a_path_without_a_file_name_is_rejected() {
        let err = write_atomic(Path::new("/"), b"x", 0o600).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }
}
