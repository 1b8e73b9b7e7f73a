//! Passwordless unlock of the vault: its derived key (never the passphrase) as an item of the OS
//! keychain (service `credd`, account `vault-key:<vault path>`), and a marker file beside the
//! vault naming that keychain, so that credd only asks a keychain it used.
//!
//! The keychain calls and the marker are separate steps, so that a keychain call the agent gave
//! up on never changes the marker when it completes late.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use credd_protocol::KeychainKind;
use zeroize::Zeroizing;

use super::StoreError;
use super::keychain::{self, Keychain};
use super::vault::{KEY_LEN, VaultKey, ensure_private_dir};
use super::wipe_stack::with_wiped_stack;
use crate::atomic::write_atomic;

/// A vault key read from a keychain.
pub type RawKey = Box<Zeroizing<[u8; KEY_LEN]>>;

/// Where a vault's key is remembered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remembered {
    marker: PathBuf,
    account: String,
}

impl Remembered {
    /// For the vault at `vault`: the marker is `<vault>.remembered`.
    pub fn for_vault(vault: &Path) -> Self {
        let mut marker = vault.as_os_str().to_owned();
        marker.push(".remembered");
        Self {
            marker: PathBuf::from(marker),
            account: format!("vault-key:{}", vault.display()),
        }
    }

    /// The marker file, `<vault>.remembered`.
    pub fn marker(&self) -> &Path {
        &self.marker
    }

    /// The keychain the marker names, if a key is remembered. Reads one small file.
    pub fn recorded(&self) -> Option<KeychainKind> {
        let text = fs::read_to_string(&self.marker).ok()?;
        serde_json::from_str::<KeychainKind>(text.trim())
            .ok()
            .filter(|kind| *kind != KeychainKind::Unknown)
    }

    /// Stores `key` in `kind` (the marker is the caller's to write: only once this returned in
    /// time). Blocks.
    pub fn store(&self, kind: KeychainKind, key: &VaultKey) -> Result<(), StoreError> {
        let label = format!("credd vault key ({})", self.account_path());
        // The D-Bus session's encryption leaves copies of the key in dead stack frames.
        with_wiped_stack(|| Keychain::open(kind)?.set(&self.account, &label, key.raw()))?;
        Ok(())
    }

    /// The key remembered in `kind`; `None` when it is gone (removed, or a reboot emptied the
    /// kernel keyring). Boxed, so that handing it on through the async code moves a pointer, not
    /// copies of the key. Blocks.
    pub fn load(&self, kind: KeychainKind) -> Result<Option<RawKey>, StoreError> {
        let read = with_wiped_stack(|| Keychain::open(kind)?.get(&self.account))?;
        let Some(bytes) = read else {
            return Ok(None);
        };
        if bytes.len() != KEY_LEN {
            return Err(StoreError::NotRemembered(format!(
                "the item {} holds for the vault key is not a credd key: unlock with the \
                 passphrase; 'credd unlock --remember' replaces it",
                keychain::name(kind)
            )));
        }
        let mut key = Box::new(Zeroizing::new([0u8; KEY_LEN]));
        key.copy_from_slice(&bytes);
        Ok(Some(key))
    }

    /// Deletes the key from `kind`; false when it held none. Blocks.
    pub fn forget(&self, kind: KeychainKind) -> Result<bool, StoreError> {
        Ok(Keychain::open(kind)?.delete(&self.account)?)
    }

    /// Writes the marker: the key is in `kind`.
    pub fn record(&self, kind: KeychainKind) -> Result<(), StoreError> {
        let text = serde_json::to_string(&kind).expect("a keychain kind serializes");
        ensure_private_dir(&self.marker)?;
        write_atomic(&self.marker, text.as_bytes(), 0o600)
            .map_err(|source| self.io_error("cannot write", source))
    }

    /// Removes the marker: no key is remembered.
    pub fn clear(&self) -> Result<(), StoreError> {
        match fs::remove_file(&self.marker) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(self.io_error("cannot remove", e)),
            _ => Ok(()),
        }
    }

    fn account_path(&self) -> &str {
        self.account.trim_start_matches("vault-key:")
    }

    fn io_error(&self, what: &str, source: io::Error) -> StoreError {
        StoreError::Io {
            context: format!("{what} {}", self.marker.display()),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_marker_names_the_keychain_beside_the_vault() {
        let dir = tempfile::tempdir().unwrap();
        let vault = dir.path().join("vault");
        let remembered = Remembered::for_vault(&vault);
        assert_eq!(remembered.recorded(), None);
        remembered.record(KeychainKind::KernelKeyutils).unwrap();
        assert_eq!(
            fs::read_to_string(dir.path().join("vault.remembered")).unwrap(),
            "\"kernel-keyutils\""
        );
        assert_eq!(remembered.recorded(), Some(KeychainKind::KernelKeyutils));
        assert_eq!(remembered.account, format!("vault-key:{}", vault.display()));
        remembered.clear().unwrap();
        remembered.clear().unwrap();
        assert_eq!(remembered.recorded(), None);
    }
}
