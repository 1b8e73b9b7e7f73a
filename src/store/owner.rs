//! One agent per vault: the agent holds an exclusive lock on `<vault>.lock` for its whole life
//! and records there where it listens, so a second agent (a desktop shell and an ssh shell
//! reaching different sockets) refuses to start instead of overwriting the first one's writes,
//! and clients that find no agent on their own socket can find the owner.
//!
//! The OS drops the lock when the agent dies, even by `kill -9`, so a crash never leaves the
//! vault locked.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::atomic;

/// The longest owner record a client reads; a real one is a path and a pid.
const MAX_RECORD_LEN: u64 = 8 * 1024;

/// Why the vault cannot be owned.
#[derive(Debug, thiserror::Error)]
pub enum OwnerError {
    /// Another agent owns the vault.
    #[error(
        "the vault {vault} is in use by another credd agent{at}: use that agent \
         (CREDD_SOCKET or --socket), or stop it with 'credd stop' before starting another",
        vault = .vault.display(),
        at = .record.as_ref().map(OwnerRecord::describe).unwrap_or_default()
    )]
    Owned {
        /// The vault.
        vault: PathBuf,
        /// What the owner recorded, when readable.
        record: Option<OwnerRecord>,
    },
    /// The lock file cannot be used.
    #[error("cannot lock the vault {}: {source}", .path.display())]
    Io {
        /// The lock file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
}

/// What the owning agent writes into the lock file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnerRecord {
    /// Where the owner listens.
    pub socket: PathBuf,
    /// The owner's process id.
    pub pid: u32,
}

impl OwnerRecord {
    fn describe(&self) -> String {
        format!(" (pid {}) listening on {}", self.pid, self.socket.display())
    }
}

/// The held lock; dropping it (or the agent's death) releases the vault.
#[derive(Debug)]
pub struct VaultOwner {
    _file: File,
}

/// `<vault>.lock`.
pub fn lock_path(vault: &Path) -> PathBuf {
    let mut path = vault.as_os_str().to_owned();
    path.push(".lock");
    PathBuf::from(path)
}

/// Takes the vault for this agent, recording `socket` as where it listens, then removes the
/// temporary files that writers killed mid-write left beside each of `files` (they may hold
/// secrets the user removed since, under an old passphrase): only the owner writes there, so
/// none of them is in use.
pub fn take(vault: &Path, socket: &Path, files: &[&Path]) -> Result<VaultOwner, OwnerError> {
    let path = lock_path(vault);
    let io_err = |source| OwnerError::Io {
        path: path.clone(),
        source,
    };
    let Some(mut file) = atomic::try_lock_file(&path).map_err(io_err)? else {
        return Err(OwnerError::Owned {
            vault: vault.into(),
            record: read_record(&path),
        });
    };
    let record = OwnerRecord {
        socket: std::path::absolute(socket).map_err(io_err)?,
        pid: std::process::id(),
    };
    let text = serde_json::to_vec(&record).map_err(|e| io_err(io::Error::other(e)))?;
    file.set_len(0).map_err(io_err)?;
    file.write_all(&text).map_err(io_err)?;
    for target in files {
        match atomic::remove_leftovers(target) {
            Ok(removed) => {
                for leftover in removed {
                    tracing::info!(path = %leftover.display(), "removed a temporary file an interrupted write left behind");
                }
            }
            Err(error) => {
                tracing::warn!(path = %target.display(), %error, "cannot clean up temporary files")
            }
        }
    }
    Ok(VaultOwner { _file: file })
}

/// Where the agent that owns `vault` said it listens, if one wrote a readable record. Does not
/// prove the agent still runs: connect to find out (the client's checks apply to that socket
/// as to any other).
pub fn recorded_socket(vault: &Path) -> Option<PathBuf> {
    read_record(&lock_path(vault)).map(|record| record.socket)
}

fn read_record(path: &Path) -> Option<OwnerRecord> {
    use std::io::Read;
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(crate::sys::O_NOFOLLOW)
        .open(path)
        .ok()?;
    let mut text = Vec::new();
    file.take(MAX_RECORD_LEN).read_to_end(&mut text).ok()?;
    serde_json::from_slice(&text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn a_second_owner_is_refused_with_where_the_first_listens() {
        let dir = tempfile::tempdir().unwrap();
        let vault = dir.path().join("vault");
        let first = take(&vault, Path::new("/run/a/credd.sock"), &[]).unwrap();
        let err = take(&vault, Path::new("/tmp/b/credd.sock"), &[]).unwrap_err();
        let message = err.to_string();
        assert!(message.contains("/run/a/credd.sock"), "{message}");
        assert!(
            message.contains(&format!("pid {}", std::process::id())),
            "{message}"
        );
        assert_eq!(
            recorded_socket(&vault),
            Some(PathBuf::from("/run/a/credd.sock"))
        );
        drop(first);
        take(&vault, Path::new("/tmp/b/credd.sock"), &[]).unwrap();
        assert_eq!(
            recorded_socket(&vault),
            Some(PathBuf::from("/tmp/b/credd.sock"))
        );
    }

    #[test]
    fn taking_the_vault_removes_leftover_temp_files_of_its_files_only() {
        let dir = tempfile::tempdir().unwrap();
        let vault = dir.path().join("vault");
        let leftovers = [".vault.4242.0.tmp", ".vault.1.17.tmp"];
        let kept = [
            ".other.12.0.tmp",
            "vault",
            ".vault.x.0.tmp",
            "credd_keyring.py",
        ];
        for name in leftovers.iter().chain(&kept) {
            fs::write(dir.path().join(name), b"old secret").unwrap();
        }
        let _owner = take(&vault, Path::new("/s"), &[&vault]).unwrap();
        for name in leftovers {
            assert!(!dir.path().join(name).exists(), "{name} survived");
        }
        for name in kept {
            assert!(dir.path().join(name).exists(), "{name} was removed");
        }
    }

    #[test]
    fn a_symlink_at_the_lock_path_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let vault = dir.path().join("vault");
        let target = dir.path().join("elsewhere");
        fs::write(&target, b"keep").unwrap();
        std::os::unix::fs::symlink(&target, lock_path(&vault)).unwrap();
        assert!(matches!(
            take(&vault, Path::new("/s"), &[]),
            Err(OwnerError::Io { .. })
        ));
        assert_eq!(fs::read(&target).unwrap(), b"keep");
    }
}
